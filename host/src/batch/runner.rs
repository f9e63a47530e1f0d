//! The batch loop: reads input lines, dispatches runs under the adaptive
//! in-flight limit, puts finished records back in input order, writes each
//! one, and adds it to the summary as written. Skips lines a resumed
//! `.partial` already holds. On a drain it dispatches nothing new and lets
//! runs in flight finish; on a cancel it drops them and still writes every
//! record that finished (so a cancelled batch may leave gaps, which
//! `--resume` fills). Memory is bounded: dispatch pauses while too many
//! finished records wait for an earlier one.

use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncBufRead, AsyncWrite};

use super::dispatch::{classify, Aimd, RunSignal};
use super::input::{parse_line, read_lines, InputLine};
use super::order::Reorder;
use super::output::RecordWriter;
use super::stop::StopLevel;
use super::view::RecordView;
use super::{baseline, Baseline, BatchControl, BatchError, BatchOptions, Summary};
use crate::config::BaselineSpec;
use crate::models::Totals;
use crate::pipeline::{Pipeline, RunRecord};

/// Finished records that may wait for an earlier one before dispatch
/// pauses: `max(4 × concurrency, 1024)`.
fn reorder_cap(concurrency: usize) -> usize {
    concurrency.saturating_mul(4).max(1024)
}

/// One input line's record, ready to write in its turn.
struct Finished {
    line: u64,
    record: RunRecord,
}

pub(super) async fn run<R, W>(
    pipeline: &Pipeline,
    input: R,
    output: &mut RecordWriter<W>,
    opts: BatchOptions,
    control: BatchControl,
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
    let BatchControl { mut stop, resume } = control;
    let (mut summary, resumed) = match resume {
        Some(mut r) => (r.take_summary(), Some(r)),
        None => (Summary::new(""), None),
    };
    summary.pipeline = pipeline.manifest.name.clone();
    // Kept records' baseline costs count only if this batch measures it too.
    summary.baseline = baseline.map(|(m, _)| Baseline {
        model: m.to_string(),
        totals: summary
            .baseline
            .take()
            .map(|b| b.totals)
            .unwrap_or_default(),
    });

    let concurrency = opts.concurrency.clamp(1, u32::MAX as usize);
    let mut aimd = Aimd::new(concurrency as u32);
    let cap = reorder_cap(concurrency);
    let mut order: Reorder<Finished> = Reorder::default();
    let mut in_flight = FuturesUnordered::new();
    let mut lines = std::pin::pin!(read_lines(input));
    let mut input_done = false;
    let mut draining = stop.level() >= StopLevel::Drain;
    let mut cancelled = stop.level() >= StopLevel::Cancel;
    let mut read_error = None;

    while !cancelled {
        let may_dispatch =
            !input_done && !draining && in_flight.len() < aimd.limit() && order.waiting() <= cap;
        if !may_dispatch && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            level = stop.raised() => {
                draining |= level >= StopLevel::Drain;
                cancelled |= level >= StopLevel::Cancel;
                if draining {
                    tracing::info!(in_flight = in_flight.len(), cancel = cancelled, "batch stopping");
                }
            }
            Some((seq, finished, signal)) = in_flight.next(), if !in_flight.is_empty() => {
                aimd.observe(signal);
                order.finish(seq, finished);
                write_ready(&mut order, output, &mut summary, &mut on_record).await?;
            }
            next = lines.next(), if may_dispatch => match next {
                None => input_done = true,
                Some(Err(e)) => {
                    // Finish what runs, write it, then report.
                    read_error = Some(e);
                    draining = true;
                }
                Some(Ok((n, _))) if resumed.as_ref().is_some_and(|r| r.is_done(n)) => {}
                Some(Ok((n, bytes))) => {
                    let mut line = parse_line(n, &bytes);
                    if let Ok(input) = &mut line.input {
                        input.capture = opts.capture;
                    }
                    let seq = order.issue();
                    if line.input.is_ok() {
                        in_flight.push(run_line(pipeline, baseline, seq, line));
                    } else {
                        let record = unusable(&line);
                        order.finish(seq, Finished { line: n, record });
                        write_ready(&mut order, output, &mut summary, &mut on_record).await?;
                    }
                }
            },
        }
    }
    if cancelled {
        // Runs in flight are dropped (cancelled) here; what finished is kept.
        let unfinished = in_flight.len();
        drop(in_flight);
        tracing::info!(unfinished, "batch cancelled; writing what finished");
        for f in order.drain_finished() {
            write_one(f, output, &mut summary, &mut on_record).await?;
        }
    }
    output.flush().await?;
    if let Some(e) = read_error {
        return Err(e);
    }
    summary.complete = input_done && !cancelled && order.is_settled();
    summary.dispatch = aimd.stats();
    summary.finish(started.elapsed());
    Ok(summary)
}

/// Runs one usable line (and its monolith baseline, if asked).
async fn run_line(
    pipeline: &Pipeline,
    baseline: Option<(&str, &BaselineSpec)>,
    seq: u64,
    line: InputLine,
) -> (u64, Finished, RunSignal) {
    let Ok(input) = &line.input else {
        unreachable!("only usable lines are dispatched")
    };
    let monolith = async {
        match baseline {
            Some((m, spec)) => {
                Some(baseline::monolith_cost(pipeline.hub(), spec, m, &input.input).await)
            }
            None => None::<Totals>,
        }
    };
    let (run, monolith) = tokio::join!(pipeline.run(input.clone()), monolith);
    let signal = classify(&run);
    let mut record = RunRecord::of_outcome(&run).at_line(line.line, line.expect.clone());
    record.baseline = monolith;
    (
        seq,
        Finished {
            line: line.line,
            record,
        },
        signal,
    )
}

fn unusable(line: &InputLine) -> RunRecord {
    let Err(error) = &line.input else {
        unreachable!("only unusable lines get this record")
    };
    RunRecord::unusable(&line.id, line.line, line.expect.clone(), error)
}

/// Writes every record whose turn has come.
async fn write_ready<W: AsyncWrite + Unpin>(
    order: &mut Reorder<Finished>,
    output: &mut RecordWriter<W>,
    summary: &mut Summary,
    on_record: &mut impl FnMut(&RunRecord),
) -> Result<(), BatchError> {
    while let Some(f) = order.pop_ready() {
        write_one(f, output, summary, on_record).await?;
    }
    Ok(())
}

/// Writes one record as a whole line and counts it, from what was written.
async fn write_one<W: AsyncWrite + Unpin>(
    f: Finished,
    output: &mut RecordWriter<W>,
    summary: &mut Summary,
    on_record: &mut impl FnMut(&RunRecord),
) -> Result<(), BatchError> {
    let mut bytes = serde_json::to_vec(&f.record).expect("records serialise");
    let view: RecordView = serde_json::from_slice(&bytes).expect("records read back");
    bytes.push(b'\n');
    output.write(f.line, &bytes).await?;
    summary.add_record(&view);
    on_record(&f.record);
    Ok(())
}
