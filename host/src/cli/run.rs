//! `switchyard run`: wires the manifest, engine, pipeline and batch runner
//! to files, a progress bar and the closing summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncBufRead, AsyncWrite, BufReader, BufWriter};

use super::Cli;
use crate::batch::{run_batch, BatchOptions};
use crate::models::ModelHub;
use crate::pipeline::Pipeline;

/// Arguments of `switchyard run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline manifest.
    pub manifest: PathBuf,
    /// JSONL input, one `{"id": .., "input": ..}` per line; `-` for stdin.
    #[arg(short, long, default_value = "-", value_name = "FILE")]
    pub input: String,
    /// JSONL output, one record per input line; `-` for stdout. A file is
    /// written as FILE.partial and renamed when the batch completes.
    #[arg(short, long, default_value = "-", value_name = "FILE")]
    pub output: String,
    /// Runs in flight at once.
    #[arg(short, long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Also send every input straight to this manifest model, as one
    /// monolithic prompt, and report that cost next to the pipeline's.
    #[arg(long, value_name = "MODEL")]
    pub baseline_model: Option<String>,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
}

/// Loads the manifest, the model hub and every component.
pub async fn load_pipeline(cli: &Cli, manifest: &Path) -> anyhow::Result<Pipeline> {
    let manifest = crate::config::load(manifest)?;
    let hub = ModelHub::from_env(&manifest.models)?;
    let engine = cli.engine()?;
    Ok(Pipeline::load(&engine, manifest).await?.bind(hub))
}

pub(super) async fn run(cli: &Cli, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let pipeline = load_pipeline(cli, &args.manifest).await?;
    let (reader, total): (Box<dyn AsyncBufRead + Unpin + Send>, Option<u64>) = if args.input == "-"
    {
        (Box::new(BufReader::new(tokio::io::stdin())), None)
    } else {
        let bytes = tokio::fs::read(&args.input)
            .await
            .with_context(|| format!("cannot read input {}", args.input))?;
        let total = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
            .count() as u64;
        (Box::new(std::io::Cursor::new(bytes)), Some(total))
    };
    let partial = (args.output != "-").then(|| PathBuf::from(format!("{}.partial", args.output)));
    let writer: Box<dyn AsyncWrite + Unpin + Send> = match &partial {
        None => Box::new(tokio::io::stdout()),
        Some(p) => Box::new(
            tokio::fs::File::create(p)
                .await
                .with_context(|| format!("cannot create {}", p.display()))?,
        ),
    };
    let bar = progress_bar(total);
    let opts = BatchOptions {
        concurrency: usize::from(args.concurrency),
        baseline_model: args.baseline_model.clone(),
    };
    let mut failed = 0u64;
    let summary = run_batch(&pipeline, reader, BufWriter::new(writer), opts, |rec| {
        bar.inc(1);
        if !rec.ok {
            failed += 1;
            bar.set_message(format!("{failed} failed"));
        }
    })
    .await;
    bar.finish_and_clear();
    let summary = summary.with_context(|| match &partial {
        Some(p) => format!(
            "batch stopped; records written so far are in {}",
            p.display()
        ),
        None => "batch stopped".to_string(),
    })?;
    if let Some(p) = &partial {
        tokio::fs::rename(p, &args.output)
            .await
            .with_context(|| format!("cannot rename {} to {}", p.display(), args.output))?;
    }
    eprintln!("{summary}");
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_vec_pretty(&summary)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
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
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
