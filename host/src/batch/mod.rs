//! Batch mode: read JSONL tasks, run many at once through a pipeline, and
//! write exactly one output record per input line, in input order, whether
//! the run succeeded, failed, or the line was unusable.

mod baseline;
mod input;
mod summary;

use std::time::Instant;

use futures::stream::{self, StreamExt};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

pub use input::{parse_line, InputLine};
pub use summary::{Accuracy, Baseline, CallStats, NodeStats, Summary};

use crate::pipeline::{Pipeline, RunRecord};

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Runs in flight at once (at least 1).
    pub concurrency: usize,
    /// Also send every input straight to this model (a manifest model
    /// name) and report what that monolith would have cost.
    pub baseline_model: Option<String>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            baseline_model: None,
        }
    }
}

/// Why a batch stopped early. Records written before it are complete lines.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The baseline model is not in the manifest.
    #[error("baseline model `{0}` is not declared in the manifest; use one of its [models.<name>] names")]
    UnknownBaselineModel(String),
    /// A baseline was asked for, but the manifest says nothing of the
    /// monolith to compare with.
    #[error("--baseline-model needs the monolith's prompt: the manifest has no [baseline] table; add one with `system` (the one prompt a monolithic deployment would send with every input, see docs/manifest.md), or drop --baseline-model")]
    NoBaseline,
    /// Reading the input failed.
    #[error("cannot read input at line {line}: {source}")]
    Read {
        /// The line being read.
        line: u64,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Writing the output failed.
    #[error("cannot write output record for line {line}: {source}")]
    Write {
        /// The record's line.
        line: u64,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Runs every line of `input` through `pipeline`, writing one record per
/// line to `output` in input order. `on_record` sees each record as it is
/// written (for progress display). Blank lines are skipped.
pub async fn run_batch<R, W>(
    pipeline: &Pipeline,
    input: R,
    mut output: W,
    opts: BatchOptions,
    mut on_record: impl FnMut(&RunRecord),
) -> Result<Summary, BatchError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let started = Instant::now();
    let baseline = match &opts.baseline_model {
        None => None,
        Some(m) if pipeline.hub().spec(m).is_none() => {
            return Err(BatchError::UnknownBaselineModel(m.clone()))
        }
        Some(m) => match &pipeline.manifest.baseline {
            Some(spec) => Some((m.as_str(), spec)),
            None => return Err(BatchError::NoBaseline),
        },
    };
    let lines = stream::unfold((input, 0u64), |(mut reader, mut n)| async move {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            n += 1;
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) => return None,
                Ok(_) => {
                    let trimmed = buf.trim_ascii();
                    if trimmed.is_empty() {
                        continue;
                    }
                    return Some((Ok(parse_line(n, trimmed)), (reader, n)));
                }
                Err(source) => {
                    return Some((Err(BatchError::Read { line: n, source }), (reader, n)))
                }
            }
        }
    });
    let results = lines
        .map(|line| async move {
            let line = line?;
            let (run, monolith) = match &line.input {
                Ok(input) => {
                    let monolith = async {
                        match baseline {
                            Some((m, spec)) => Some(
                                baseline::monolith_cost(pipeline.hub(), spec, m, &input.input)
                                    .await,
                            ),
                            None => None,
                        }
                    };
                    let (run, monolith) = tokio::join!(pipeline.run(input.clone()), monolith);
                    (Ok(run), monolith)
                }
                Err(unusable) => (Err(unusable.clone()), None),
            };
            Ok::<_, BatchError>((line, run, monolith))
        })
        .buffered(opts.concurrency.max(1));
    let mut results = std::pin::pin!(results);

    let mut summary = Summary::new(&pipeline.manifest.name);
    if let Some((m, _)) = baseline {
        summary.baseline = Some(Baseline {
            model: m.to_string(),
            totals: Default::default(),
        });
    }
    while let Some(item) = results.next().await {
        let (line, run, monolith) = item?;
        let record = match &run {
            Err(unusable) => {
                summary.add_unusable();
                RunRecord::unusable(&line.id, line.line, line.expect.clone(), unusable)
            }
            Ok(run) => {
                let expected = line
                    .expect
                    .as_ref()
                    .and_then(|e| e.get("route"))
                    .and_then(|r| r.as_str());
                summary.add_run(run, expected);
                RunRecord::of_outcome(run).at_line(line.line, line.expect.clone())
            }
        };
        let mut record = record;
        if let (Some(cost), Some(b)) = (monolith, summary.baseline.as_mut()) {
            b.totals.merge(&cost);
            record.baseline = Some(cost);
        }
        let mut bytes = serde_json::to_vec(&record).expect("records serialise");
        bytes.push(b'\n');
        output
            .write_all(&bytes)
            .await
            .map_err(|source| BatchError::Write {
                line: line.line,
                source,
            })?;
        on_record(&record);
    }
    output
        .flush()
        .await
        .map_err(|source| BatchError::Write { line: 0, source })?;
    summary.finish(started.elapsed());
    Ok(summary)
}
