//! Batch mode: read JSONL tasks, run many at once through a pipeline, and
//! write exactly one output record per input line, in input order, whether
//! the run succeeded, failed, or the line was unusable. A batch adapts its
//! in-flight limit to upstream failures (`dispatch`), can be drained or
//! cancelled from outside (`stop`), and resumed from the `.partial` file an
//! interrupted run left (`resume`, `output`) without losing or duplicating
//! a record.

mod baseline;
mod dispatch;
mod error;
mod input;
mod order;
mod output;
mod queue;
mod report;
mod resume;
mod runner;
mod stop;
mod summary;
mod view;

use tokio::io::{AsyncBufRead, AsyncWrite};

pub use dispatch::{classify, Aimd, DispatchStats, RunSignal};
pub use error::BatchError;
pub use input::{parse_line, read_lines, InputIndex, InputLine};
pub use output::{check_target, write_whole, OutputPaths, RecordWriter, Start};
pub use queue::{record_of, Queue, QueuedBatch, WorkerOptions, WorkerStats};
pub use report::{render as render_report, write as write_report, ReportError};
pub use resume::{inspect, Existing, Resumed};
pub use stop::{stop_channel, StopHandle, StopLevel, StopSignal};
pub use summary::{Accuracy, Baseline, CallStats, NodeStats, Summary};
pub use view::RecordView;

use crate::pipeline::{Pipeline, RunRecord};

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The most runs in flight at once (at least 1), and where the
    /// adaptive limit starts.
    pub concurrency: usize,
    /// Also send every input straight to this model (a manifest model
    /// name) and report what that monolith would have cost.
    pub baseline_model: Option<String>,
    /// Keep each run's content (every invocation's task and answer, every
    /// model call's request and answer) in its record, for a recording.
    pub capture: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            baseline_model: None,
            capture: false,
        }
    }
}

/// What steers a batch from outside: when to stop, and what an earlier
/// run already wrote.
#[derive(Debug, Default)]
pub struct BatchControl {
    /// Drain or cancel requests (see [`stop_channel`]).
    pub stop: StopSignal,
    /// The records a `.partial` already holds: their lines are skipped and
    /// they are counted in the summary.
    pub resume: Option<Resumed>,
}

/// Runs every line of `input` through `pipeline`, writing one record per
/// line to `output` in input order. `on_record` sees each record as it is
/// written (for progress display). Blank lines are skipped. Runs to the
/// end; see [`run_batch_with`] to stop or resume.
pub async fn run_batch<R, W>(
    pipeline: &Pipeline,
    input: R,
    output: W,
    opts: BatchOptions,
    on_record: impl FnMut(&RunRecord),
) -> Result<Summary, BatchError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut output = RecordWriter::stream(output, "the output");
    run_batch_with(
        pipeline,
        input,
        &mut output,
        opts,
        BatchControl::default(),
        on_record,
    )
    .await
}

/// [`run_batch`] with a [`BatchControl`]: skips the lines `control.resume`
/// holds (its records count in the summary), and stops when
/// `control.stop` says so — on a drain after the runs in flight finish, on
/// a cancel at once, writing every record that finished either way. The
/// summary says whether the batch was complete ([`Summary::complete`]).
/// Installs no signal handler. On a write error the batch stops, and a
/// file output ends at its last complete record.
pub async fn run_batch_with<R, W>(
    pipeline: &Pipeline,
    input: R,
    output: &mut RecordWriter<W>,
    opts: BatchOptions,
    control: BatchControl,
    on_record: impl FnMut(&RunRecord),
) -> Result<Summary, BatchError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    runner::run(pipeline, input, output, opts, control, on_record).await
}
