//! The batch loop: reads input lines, dispatches runs under the adaptive
//! in-flight limit, puts finished records back in input order, writes each
//! one, and adds it to the summary as written. Each run is a task of its
//! own on the multi-threaded runtime (so runs use every core) that also
//! encodes its record, leaving this loop only the ordering and the
//! writing; buffered records reach the file within [`RecordWriter`]'s
//! flush interval even when no further record comes. Skips lines a resumed
//! `.partial` already holds. On a drain it dispatches nothing new and lets
//! runs in flight finish; on a cancel it drops them and still writes every
//! record that finished (so a cancelled batch may leave gaps, which
//! `--resume` fills). Memory is bounded: dispatch pauses while too many
//! finished records wait for an earlier one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::StreamExt;
use tokio::io::{AsyncBufRead, AsyncWrite};
use tokio::task::JoinSet;

use super::dispatch::{classify, Aimd, RunSignal};
use super::input::{parse_line, read_lines, InputLine};
use super::order::Reorder;
use super::output::RecordWriter;
use super::stop::StopLevel;
use super::view::RecordView;
use super::{baseline, Baseline, BatchControl, BatchError, BatchOptions, Summary};
use crate::config::BaselineSpec;
use crate::pipeline::{Pipeline, RunRecord};

/// Finished records that may wait for an earlier one before dispatch
/// pauses: `max(4 × concurrency, 1024)`.
fn reorder_cap(concurrency: usize) -> usize {
    concurrency.saturating_mul(4).max(1024)
}

/// One input line's record, encoded, ready to write in its turn.
struct Finished {
    line: u64,
    record: RunRecord,
    /// The record as written: one JSON line.
    bytes: Vec<u8>,
}

impl Finished {
    fn new(line: u64, record: RunRecord) -> Self {
        let mut bytes = serde_json::to_vec(&record).expect("records serialise");
        bytes.push(b'\n');
        Self {
            line,
            record,
            bytes,
        }
    }
}

/// The `[baseline]` a batch measures, shared by its run tasks.
type BaselineOf = Option<Arc<(String, BaselineSpec)>>;

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
            Some(spec) => Some(Arc::new((m.clone(), spec.clone()))),
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
    summary.baseline = baseline.as_ref().map(|b| Baseline {
        model: b.0.clone(),
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
    let mut in_flight = JoinSet::new();
    // The line of each run task, for a task that panics.
    let mut tasks: HashMap<tokio::task::Id, u64> = HashMap::new();
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
        let flush_due = output.flush_due();
        tokio::select! {
            biased;
            level = stop.raised() => {
                draining |= level >= StopLevel::Drain;
                cancelled |= level >= StopLevel::Cancel;
                if draining {
                    tracing::info!(in_flight = in_flight.len(), cancel = cancelled, "batch stopping");
                }
            }
            Some(joined) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                let (seq, finished, signal) = match joined {
                    Ok((id, done)) => {
                        tasks.remove(&id);
                        done
                    }
                    Err(e) => {
                        let line = tasks.get(&e.id()).copied().unwrap_or(0);
                        let message = crate::engine::join_error_message(e);
                        // What was written so far stays: gathered records
                        // reach the file before the batch stops.
                        output.flush().await?;
                        return Err(BatchError::RunPanicked { line, message });
                    }
                };
                aimd.observe(signal);
                order.finish(seq, finished);
                write_ready(&mut order, output, &mut summary, &mut on_record).await?;
            }
            () = sleep_until(flush_due), if flush_due.is_some() => output.flush().await?,
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
                        let handle = in_flight
                            .spawn(run_line(pipeline.clone(), baseline.clone(), seq, line));
                        tasks.insert(handle.id(), n);
                    } else {
                        let record = unusable(&line);
                        order.finish(seq, Finished::new(n, record));
                        write_ready(&mut order, output, &mut summary, &mut on_record).await?;
                    }
                }
            },
        }
    }
    if cancelled {
        // Runs in flight are aborted (cancelled) here; what finished is kept.
        let unfinished = in_flight.len();
        in_flight.abort_all();
        while in_flight.join_next().await.is_some() {}
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

/// Waits until `due`, or forever without one.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}

/// Runs one usable line (and its monolith baseline, if asked) and encodes
/// its record.
async fn run_line(
    pipeline: Pipeline,
    baseline: BaselineOf,
    seq: u64,
    line: InputLine,
) -> (u64, Finished, RunSignal) {
    let Ok(input) = line.input else {
        unreachable!("only usable lines are dispatched")
    };
    // The input is copied only when the monolith baseline reads it beside
    // the run; the outcome is moved into its record, not copied.
    let (run, monolith) = match baseline.as_deref() {
        Some((m, spec)) => {
            let monolith = baseline::monolith_cost(pipeline.hub(), spec, m, &input.input);
            let (run, cost) = tokio::join!(pipeline.run(input.clone()), monolith);
            (run, Some(cost))
        }
        None => (pipeline.run(input).await, None),
    };
    let signal = classify(&run);
    let mut record = RunRecord::from_outcome(run).at_line(line.line, line.expect);
    record.baseline = monolith;
    (seq, Finished::new(line.line, record), signal)
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
    output.write(f.line, &f.bytes).await?;
    // What reading `bytes` back would give, borrowed from the record.
    summary.add_record(&RecordView::of(&f.record));
    on_record(&f.record);
    Ok(())
}
