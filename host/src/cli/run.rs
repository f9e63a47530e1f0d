//! `switchyard run`: wires the manifest, engine, pipeline and batch runner
//! to files, a progress bar, SIGINT/SIGTERM (drain, then cancel after the
//! grace period), the closing summary and the batch's HTML report. Exit
//! codes: 0 when every input line has its record (even if `--summary-json`
//! or `--report` could not be written),
//! 130 when a signal stopped the batch (the `.partial` can be resumed),
//! 1 on any error.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::state::RedisState;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncBufRead, BufReader, BufWriter};

use super::Cli;
use crate::batch::{
    check_target, inspect, render_report, run_batch_with, stop_channel, write_report, BatchControl,
    BatchError, BatchOptions, Existing, InputIndex, OutputPaths, RecordWriter, Start, StopHandle,
    Summary,
};
use crate::graph::Graph;
use crate::models::ModelHub;
use crate::pipeline::{Pipeline, RunRecord};
use crate::recording::{RecordingSink, Target};

/// Exit code of a batch stopped by SIGINT or SIGTERM.
const INTERRUPTED: u8 = 130;

/// Arguments of `switchyard run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline manifest.
    pub manifest: PathBuf,
    /// JSONL input, one `{"id": .., "input": ..}` per line; `-` for stdin.
    #[arg(short, long, default_value = "-", value_name = "FILE")]
    pub input: String,
    /// JSONL output, one record per input line; `-` for stdout. A file is
    /// written as FILE.partial and renamed when the batch completes; an
    /// existing FILE.partial is refused unless --resume or --force is given.
    #[arg(short, long, default_value = "-", value_name = "FILE")]
    pub output: String,
    /// The most runs in flight at once (1 to 100000). Dispatch starts
    /// there, halves after a run fails because an upstream is unavailable,
    /// timed out, throttled or has its circuit open, and climbs back by
    /// one per other run.
    #[arg(short, long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Also send every input straight to this manifest model, as one
    /// monolithic prompt, and report that cost next to the pipeline's.
    #[arg(long, value_name = "MODEL")]
    pub baseline_model: Option<String>,
    /// Also write the summary as JSON to this file. If that write fails
    /// after a complete batch, it is a warning: the records are complete
    /// and the exit code stays 0.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Also write the batch's report to this HTML file: one
    /// self-contained page (it fetches nothing and works offline) with
    /// the pipeline's graph and each node's figures under it
    /// (invocations, failures, p50/p95 latency, model calls, tokens,
    /// cost; a router's branch split, a judge's verdicts, a gated
    /// worker's on-reject decisions), the cost per node as a chart next
    /// to the pipeline's total and, with --baseline-model, the
    /// monolith's, and a table of every node. Written whole when the
    /// batch ends, also when a signal stopped it (then marked
    /// incomplete). If that write fails after a complete batch, it is a
    /// warning and the exit code stays 0. See docs/graph.md.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Continue an interrupted batch: keep every complete record in
    /// FILE.partial (a torn last line is cut), run only the input lines
    /// without one, and finish FILE; the summary counts both. Needs
    /// --output FILE and the same input. With a completed FILE there is
    /// nothing to do; with neither, the batch starts from the first line.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Start over: discard an existing FILE.partial and the records in it.
    #[arg(long)]
    pub force: bool,
    /// On SIGINT or SIGTERM no new input is dispatched and runs in flight
    /// get this many milliseconds to finish before they are cancelled (a
    /// second signal cancels them at once). Finished records are written,
    /// the summary so far is printed, and the exit code is 130.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub grace_ms: u64,
    /// Export every run's trace over OTLP/HTTP to this collector (base
    /// URL, e.g. http://localhost:4318; `/v1/traces` is appended unless
    /// there). Overrides the manifest's [telemetry] endpoint and
    /// OTEL_EXPORTER_OTLP_ENDPOINT; see docs/observability.md.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Also record every run whole to this JSONL file (appended): its
    /// input, each node invocation's task and answer, each model call's
    /// request, attempts and answer, verdicts, and the components'
    /// digests — what `switchyard replay` and `compare` read
    /// (docs/recording.md). Holds message content: treat it as you
    /// treat the data.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Spread the batch over machines: put every input line on this
    /// Redis's queue (`redis://host:port`) for `switchyard worker --queue`
    /// processes to run, wait, and write their records here in input
    /// order — one per input line, whichever worker ran it, and even if a
    /// worker died mid-batch (docs/deploy.md, "Batches on many machines").
    #[arg(long, value_name = "URL", conflicts_with_all = ["resume", "baseline_model", "record"])]
    pub queue: Option<String>,
}

/// `run --queue`: the input onto the queue at `url`, then the records the
/// workers write, collected in input order.
#[allow(clippy::too_many_arguments)]
async fn queued(
    url: &str,
    manifest: &Path,
    pipeline: &Pipeline,
    reader: impl AsyncBufRead + Unpin,
    paths: Option<&OutputPaths>,
    force: bool,
    mut stop: crate::batch::StopSignal,
    bar: &ProgressBar,
) -> Result<crate::batch::Summary, BatchError> {
    let state = RedisState::connect(url).map_err(|e| BatchError::Queue(e.to_string()))?;
    let queue = crate::batch::Queue::new(Arc::new(state), &pipeline.manifest.name);
    let batch = queue.enqueue(reader).await?;
    bar.set_length(batch.lines.len() as u64);
    bar.suspend(|| {
        eprintln!(
            "queued {} input lines as batch {}; run workers anywhere with:\n  switchyard worker --queue {url} {}",
            batch.lines.len(),
            batch.id,
            manifest.display()
        )
    });
    let name = pipeline.manifest.name.clone();
    let progress = |n: u64| bar.set_position(n);
    match paths {
        Some(p) => {
            let mut writer = RecordWriter::create(p, force).await?;
            match queue
                .collect(&batch, &name, &mut writer, &mut stop, progress)
                .await
            {
                Ok(s) if s.complete => writer.finish(p).await.map(|()| s),
                other => other,
            }
        }
        None => {
            let mut writer = RecordWriter::stream(BufWriter::new(tokio::io::stdout()), "stdout");
            queue
                .collect(&batch, &name, &mut writer, &mut stop, progress)
                .await
        }
    }
}

/// Waits (up to 10 s) for the spend this process settles in the shared
/// state to reach it, so what the runs spent is counted before exit; says
/// so when some cannot be (their holds lapse and give their room back).
pub(super) async fn flush_spend(spending: &crate::models::Spending) {
    if !spending.flush(Duration::from_secs(10)).await {
        eprintln!(
            "warning: the shared state cannot be reached: some spend could not be settled there before exit; those calls' reservations lapse instead"
        );
    }
}

/// Loads the manifest, the model hub and every component.
pub async fn load_pipeline(cli: &Cli, manifest: &Path) -> anyhow::Result<Pipeline> {
    Ok(load_shared(cli, manifest).await?.0)
}

/// [`load_pipeline`], with the shared state it counts limits in, if any.
pub(super) async fn load_shared(
    cli: &Cli,
    manifest: &Path,
) -> anyhow::Result<(Pipeline, Option<Arc<RedisState>>)> {
    let mut manifest = crate::config::load(manifest)?;
    if let Some(url) = &cli.state_url {
        manifest.state = manifest.state.with_url(url);
    }
    let hub = ModelHub::from_env(&manifest.models)?;
    let (hub, shared) = crate::state::share(hub, &manifest.state, &manifest.name)?;
    let engine = cli.engine_for(manifest.engine)?;
    let pipeline = Pipeline::load_from(&engine, manifest, &cli.sources())
        .await?
        .bind(hub);
    Ok((pipeline, shared))
}

pub(super) async fn run(cli: &Cli, args: &RunArgs) -> anyhow::Result<ExitCode> {
    // Every output path is checked before anything loads or runs.
    let paths = (args.output != "-").then(|| OutputPaths::new(&args.output));
    let start = match (args.resume, args.force) {
        (true, _) => Start::Resume,
        (false, true) => Start::Force,
        (false, false) => Start::Fresh,
    };
    match &paths {
        Some(p) => p.check(start)?,
        None if args.resume => anyhow::bail!(
            "--resume needs --output FILE: records written to stdout cannot be resumed; run again with --output FILE"
        ),
        None => {}
    }
    if let Some(path) = &args.summary_json {
        check_target("--summary-json", path)?;
    }
    if let Some(path) = &args.report {
        check_target("--report", path)?;
    }

    // Resume checks the records against the input, so it reads it whole.
    let bytes = if args.input != "-" {
        Some(
            tokio::fs::read(&args.input)
                .await
                .with_context(|| format!("cannot read input {} (--input)", args.input))?,
        )
    } else if args.resume {
        let mut all = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut all)
            .await
            .context("cannot read the input from stdin")?;
        Some(all)
    } else {
        None
    };
    let index = bytes.as_deref().map(InputIndex::new);

    let mut resumed = None;
    if let (true, Some(p), Some(index)) = (args.resume, &paths, &index) {
        match inspect(p, index).await? {
            Existing::Nothing => eprintln!(
                "nothing to resume: {} does not exist; starting from the first line",
                p.partial().display()
            ),
            Existing::Complete(n) => {
                eprintln!(
                    "nothing to do: {} is complete, with a record for each of its {n} input lines",
                    p.output().display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            Existing::Partial(r) => {
                let torn = if r.torn_bytes() > 0 {
                    format!(" (a torn last line of {} bytes is cut)", r.torn_bytes())
                } else {
                    String::new()
                };
                eprintln!(
                    "resuming {}: {} records kept{torn}, {} input lines to run",
                    p.partial().display(),
                    r.records(),
                    index.records().saturating_sub(r.records())
                );
                resumed = Some(*r);
            }
        }
    }

    let pipeline = std::sync::Arc::new(load_pipeline(cli, &args.manifest).await?);
    let telemetry = super::telemetry::start(
        args.otlp_endpoint.as_deref(),
        &pipeline.manifest.telemetry,
        Default::default(),
    )?;
    let reader: Box<dyn AsyncBufRead + Unpin + Send + '_> = match &bytes {
        Some(b) => Box::new(&b[..]),
        None => Box::new(BufReader::new(tokio::io::stdin())),
    };
    let bar = progress_bar(index.as_ref().map(InputIndex::records));
    bar.set_position(resumed.as_ref().map_or(0, |r| r.records()));
    let (handle, stop) = stop_channel();
    let signals = watch_signals(handle, Duration::from_millis(args.grace_ms), bar.clone())?;
    let recording = args
        .record
        .as_ref()
        .map(|p| RecordingSink::start(Target::File(p.clone()), 1.0))
        .transpose()?;
    let opts = BatchOptions {
        concurrency: args.concurrency as usize,
        baseline_model: args.baseline_model.clone(),
        capture: recording.is_some(),
    };
    let control = BatchControl {
        stop,
        resume: resumed,
    };
    let mut failed = 0u64;
    let on_record = |rec: &RunRecord| {
        if let Some(r) = &recording {
            r.record(&pipeline, rec, true);
        }
        if let Some(t) = &telemetry {
            t.export_record(pipeline.clone(), rec.clone());
        }
        bar.inc(1);
        if !rec.ok {
            failed += 1;
            bar.set_message(format!("{failed} failed"));
        }
    };
    let outcome = if let Some(url) = &args.queue {
        queued(
            url,
            &args.manifest,
            &pipeline,
            reader,
            paths.as_ref(),
            args.force,
            control.stop,
            &bar,
        )
        .await
    } else {
        match &paths {
            Some(p) => {
                let mut writer = match start {
                    Start::Resume if control.resume.is_some() => {
                        let r = control.resume.as_ref().expect("checked");
                        RecordWriter::append(p, r).await?
                    }
                    _ => RecordWriter::create(p, args.force).await?,
                };
                let summary =
                    run_batch_with(&pipeline, reader, &mut writer, opts, control, on_record).await;
                match summary {
                    Ok(s) if s.complete => writer.finish(p).await.map(|()| s),
                    other => other,
                }
            }
            None => {
                let mut writer =
                    RecordWriter::stream(BufWriter::new(tokio::io::stdout()), "stdout");
                run_batch_with(&pipeline, reader, &mut writer, opts, control, on_record).await
            }
        }
    };
    signals.abort();
    bar.finish_and_clear();
    flush_spend(pipeline.hub().spending()).await;
    if let (Some(r), Some(path)) = (&recording, &args.record) {
        r.finish()?;
        eprintln!("recorded {} runs to {}", r.written(), path.display());
    }
    if let Some(t) = &telemetry {
        t.shutdown(Duration::from_secs(10)).await;
        if t.dropped() > 0 {
            eprintln!(
                "warning: {} trace spans could not be exported ({} were); the records are unaffected",
                t.dropped(),
                t.exported()
            );
        }
    }
    let summary = match outcome {
        Ok(summary) => summary,
        // The other errors say where the records are and what to do.
        Err(e @ BatchError::Read { .. }) => {
            return Err(anyhow::Error::new(e).context(match &paths {
                Some(p) => format!(
                    "batch stopped; the records before the unreadable line are in {}: fix the input, then run the same command with --resume",
                    p.partial().display()
                ),
                None => "batch stopped".to_string(),
            }))
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!("{summary}");
    let records = match &paths {
        Some(p) if summary.complete => p.output().display().to_string(),
        Some(p) => p.partial().display().to_string(),
        None => "stdout".to_string(),
    };
    if let Some(path) = &args.summary_json {
        write_summary(&summary, path, &records);
    }
    if let Some(path) = &args.report {
        let graph = Graph::with_components(
            &pipeline.manifest,
            &crate::pipeline::component_labels(pipeline.nodes()),
        );
        let page = render_report(&summary, graph, index.as_ref().map(InputIndex::records));
        match write_report(path, &page) {
            Ok(()) => eprintln!("report: {}", path.display()),
            Err(e) => eprintln!(
                "warning: {e}; the records are in {records}, and the summary above is complete"
            ),
        }
    }
    if summary.complete {
        return Ok(ExitCode::SUCCESS);
    }
    match &paths {
        Some(_) => eprintln!(
            "\ninterrupted: {records} holds the records of {} input lines, each complete; to finish the batch, run:\n  {}",
            summary.runs,
            resume_command()
        ),
        None => eprintln!(
            "\ninterrupted: the records so far went to stdout; a batch written to stdout cannot be resumed, use --output FILE"
        ),
    }
    Ok(ExitCode::from(INTERRUPTED))
}

/// Writes the summary JSON; a failure is a warning (the records stand).
fn write_summary(summary: &Summary, path: &Path, records: &str) {
    let written = serde_json::to_vec_pretty(summary)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(path, json));
    if let Err(e) = written {
        eprintln!(
            "warning: cannot write the summary to {} (--summary-json): {e}; the records are in {records}, and the summary above is complete",
            path.display()
        );
    }
}

/// On the first SIGINT or SIGTERM: drain. On a second one, or when the
/// grace period is over: cancel.
pub(super) fn watch_signals(
    handle: StopHandle,
    grace: Duration,
    bar: ProgressBar,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    Ok(tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        bar.suspend(|| {
            eprintln!(
                "{name}: stopping; no new input is dispatched, runs in flight get {} ms to finish (send the signal again to cancel them now)",
                grace.as_millis()
            )
        });
        handle.drain();
        let why = tokio::select! {
            _ = int.recv() => "second signal",
            _ = term.recv() => "second signal",
            _ = tokio::time::sleep(grace) => "grace period over",
        };
        bar.suspend(|| eprintln!("{why}: cancelling the runs in flight"));
        handle.cancel();
    }))
}

/// This command line with `--resume` (and without `--force`), quoted for
/// a POSIX shell.
fn resume_command() -> String {
    let mut args: Vec<OsString> = std::env::args_os().filter(|a| a != "--force").collect();
    if !args.iter().any(|a| a == "--resume") {
        args.push("--resume".into());
    }
    args.iter()
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} runs, eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("out.jsonl"), "out.jsonl");
        assert_eq!(shell_quote("--grace-ms=5"), "--grace-ms=5");
        assert_eq!(shell_quote("my file"), "'my file'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
