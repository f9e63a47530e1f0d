//! `switchyard replay` and `switchyard compare`: wiring for the
//! improvement loop's recordings (library code in `recording`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::Cli;
use crate::models::embed::SimEmbeddings;
use crate::models::sim::SimProvider;
use crate::models::{ModelHub, ModelProvider, Unrecorded};
use crate::pipeline::Pipeline;
use crate::recording::{
    book_of, compare, read, replay, Comparison, RecordedRun, RecordingSink, Target,
};
use crate::spec::{ModelKind, ProviderSpec, SimSpec};

/// `switchyard replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Recordings to replay (`run --record` files, or `serve --record`
    /// directories).
    #[arg(required = true, value_name = "RECORDING")]
    pub recordings: Vec<PathBuf>,
    /// The candidate pipeline's manifest (the recorded one, or a changed
    /// copy).
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// Replace a node's component before replaying: NODE=component.wasm
    /// (repeatable). The same checks as a hot-swap apply.
    #[arg(long, value_name = "NODE=WASM")]
    pub swap: Vec<String>,
    /// What a model call the recordings do not have gets: `sim` (a
    /// deterministic simulated answer), `fail` (an `unavailable` error;
    /// no call leaves the process), or `live` (the manifest's model).
    #[arg(long, value_enum, default_value_t = UnrecordedArg::Sim)]
    pub unrecorded: UnrecordedArg,
    /// Write the replay's own recording here (appended), to compare or
    /// replay again.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the comparison as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the comparison as a self-contained HTML report to this
    /// file (no external fetches; opens offline).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Runs replayed at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

/// `--unrecorded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnrecordedArg {
    /// The manifest's model.
    Live,
    /// A deterministic simulated model.
    Sim,
    /// An `unavailable` error.
    Fail,
}

impl From<UnrecordedArg> for Unrecorded {
    fn from(a: UnrecordedArg) -> Self {
        match a {
            UnrecordedArg::Live => Unrecorded::Live,
            UnrecordedArg::Sim => Unrecorded::Sim,
            UnrecordedArg::Fail => Unrecorded::Fail,
        }
    }
}

/// `switchyard compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline recording (file or directory).
    pub baseline: PathBuf,
    /// The candidate recording (file or directory).
    pub candidate: PathBuf,
    /// Also write the comparison as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the comparison as a self-contained HTML report to this
    /// file (no external fetches; opens offline).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

fn read_runs(paths: &[PathBuf]) -> anyhow::Result<Vec<RecordedRun>> {
    let r = read(paths)?;
    for torn in &r.torn {
        eprintln!(
            "warning: {}: its last line is incomplete (a writer was killed mid-line); skipped",
            torn.display()
        );
    }
    anyhow::ensure!(
        !r.runs.is_empty(),
        "no recorded runs in {}",
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(r.runs)
}

fn write_json(path: &PathBuf, value: &impl serde::Serialize) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes the HTML report of `comparison` to `path` whole: into a
/// temporary file beside it, then renamed over it, so a reader never sees
/// half a page and a failed write leaves any earlier report in place.
fn write_html(path: &Path, comparison: &Comparison, title: &str) -> anyhow::Result<()> {
    let page = crate::recording::html(comparison, title);
    crate::batch::write_whole(path, page.as_bytes())
        .with_context(|| format!("cannot write the HTML report {}", path.display()))
}

/// The terminal table on stdout.
fn print_table(comparison: &Comparison) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{comparison}").and_then(|()| out.flush())?;
    Ok(())
}

/// The report's title: the pipeline and what is compared with what.
fn title(runs: &[RecordedRun], what: String) -> String {
    match runs.first() {
        Some(r) => format!("{}: {what}", r.pipeline),
        None => what,
    }
}

fn shown(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn replay_cmd(cli: &Cli, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.html {
        // Say so before replaying, not after.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            anyhow::bail!(
                "cannot write the HTML report {}: no directory {}",
                path.display(),
                dir.display()
            );
        }
    }
    let baseline = read_runs(&args.recordings)?;
    let manifest = crate::config::load(&args.manifest)?;
    let unrecorded = Unrecorded::from(args.unrecorded);
    let mut hub = if unrecorded == Unrecorded::Live {
        ModelHub::from_env(&manifest.models)?
    } else {
        // No keys needed: nothing reaches a real upstream.
        ModelHub::build(&manifest.models, |_| Some("unused".into()))?
    };
    if unrecorded == Unrecorded::Sim {
        // Models that are not `sim` already answer as an instant one.
        for (name, spec) in &manifest.models {
            if !matches!(spec.provider, ProviderSpec::Sim(_)) {
                let sim = SimSpec {
                    seed: 0,
                    ttft: std::time::Duration::ZERO,
                    per_token: std::time::Duration::ZERO,
                    error_rate: 0.0,
                    echo_rate: 0.0,
                    reply: None,
                };
                let provider: Arc<dyn ModelProvider> = if spec.kind == ModelKind::Embedding {
                    Arc::new(SimEmbeddings::new(sim, spec.dimensions))
                } else {
                    Arc::new(SimProvider::new(sim))
                };
                hub.set_provider(name, provider);
            }
        }
    }
    let (book, unreadable) = book_of(&baseline, unrecorded);
    if unreadable > 0 {
        eprintln!(
            "warning: {unreadable} recorded calls could not be read and will count as unrecorded"
        );
    }
    let book = Arc::new(book);
    let engine = cli.engine_for(manifest.engine)?;
    let mut pipeline: Pipeline = Pipeline::load_from(&engine, manifest, &cli.sources())
        .await?
        .bind(hub.with_replay(book.clone()));
    for swap in &args.swap {
        let (node, path) = swap
            .split_once('=')
            .with_context(|| format!("--swap `{swap}`: expected NODE=component.wasm"))?;
        pipeline
            .node(node)
            .with_context(|| format!("--swap: the manifest has no node `{node}`"))?;
        let path = std::path::Path::new(path);
        let bytes = std::fs::read(path)
            .with_context(|| format!("--swap {node}: cannot read {}", path.display()))?;
        let checked = pipeline.check_component(node, &bytes, path).await?;
        pipeline = pipeline.with_component(node, checked)?;
    }
    let pipeline = Arc::new(pipeline);
    let records = replay(&pipeline, &baseline, args.concurrency).await;
    let candidate: Vec<RecordedRun> = records
        .iter()
        .filter_map(|r| RecordedRun::of(&pipeline, r))
        .collect();
    if let Some(out) = &args.output {
        let sink = RecordingSink::start(Target::File(out.clone()), 1.0)?;
        for r in &records {
            sink.record(&pipeline, r, true);
        }
        sink.finish()?;
    }
    let comparison = compare(&baseline, &candidate);
    print_table(&comparison)?;
    eprintln!(
        "\nreplayed {} runs: {} model calls answered from the recording, {} not in it (--unrecorded {})",
        records.len(),
        book.hits(),
        book.misses(),
        match unrecorded {
            Unrecorded::Live => "live",
            Unrecorded::Sim => "sim",
            Unrecorded::Fail => "fail",
        }
    );
    if let Some(path) = &args.json {
        write_json(path, &comparison)?;
    }
    if let Some(path) = &args.html {
        let mut what = format!(
            "{} vs its replay through {}",
            shown(&args.recordings),
            args.manifest.display()
        );
        if !args.swap.is_empty() {
            what.push_str(&format!(" with {}", args.swap.join(", ")));
        }
        write_html(path, &comparison, &title(&baseline, what))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn compare_cmd(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let baseline = read_runs(std::slice::from_ref(&args.baseline))?;
    let candidate = read_runs(std::slice::from_ref(&args.candidate))?;
    let comparison = compare(&baseline, &candidate);
    print_table(&comparison)?;
    if let Some(path) = &args.json {
        write_json(path, &comparison)?;
    }
    if let Some(path) = &args.html {
        let what = format!(
            "{} vs {}",
            args.baseline.display(),
            args.candidate.display()
        );
        write_html(path, &comparison, &title(&baseline, what))?;
    }
    Ok(ExitCode::SUCCESS)
}
