//! `switchyard bench`: wires a manifest (with sim latencies zeroed) and an
//! optional JSONL input file to the library benchmark.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Cli;
use crate::bench::{self, BenchOptions};
use crate::models::ModelHub;
use crate::pipeline::Pipeline;

/// Arguments of `switchyard bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The pipeline manifest; every model must be `sim` (latency is zeroed).
    pub manifest: PathBuf,
    /// JSONL inputs to cycle through (`{"input": ..}` per line); defaults to
    /// a short support ticket.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Measured iterations per series.
    #[arg(short = 'n', long, default_value_t = 2000)]
    pub iterations: u32,
    /// Runs in flight for the throughput series.
    #[arg(short, long, default_value_t = 32)]
    pub concurrency: usize,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub(super) async fn run(cli: &Cli, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let mut manifest = crate::config::load(&args.manifest)?;
    bench::zero_latency(&mut manifest)?;
    let inputs = match &args.input {
        None => vec![
            serde_json::json!({"subject": "Password reset", "body": "How do I reset my password? The link in the e-mail expired."}),
        ],
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let inputs: Vec<serde_json::Value> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .filter_map(|l| {
                    crate::batch::parse_line(0, l.as_bytes())
                        .input
                        .ok()
                        .map(|r| r.input)
                })
                .collect();
            anyhow::ensure!(
                !inputs.is_empty(),
                "{} has no usable input lines",
                path.display()
            );
            inputs
        }
    };
    let hub = ModelHub::from_manifest(&manifest)?;
    let pipeline = Pipeline::load(&cli.engine()?, manifest, hub).await?;
    let report = bench::run(
        &pipeline,
        &BenchOptions {
            iterations: args.iterations,
            concurrency: args.concurrency,
            inputs,
        },
    )
    .await?;
    eprintln!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
