//! `switchyard load`: drives a running `switchyard serve` (or any JSON
//! HTTP endpoint) with concurrent keep-alive requests, as fast as it
//! answers or at a fixed rate (`--rate`), and reports throughput and
//! latency.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Cli;
use crate::loadgen::{self, LoadOptions};

/// Arguments of `switchyard load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The URL to POST to, e.g. http://127.0.0.1:8080/v1/runs.
    pub url: String,
    /// JSONL file of inputs (`{"input": ..}` per line), each sent as
    /// `{"input": ..}`; defaults to a short support ticket.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Clients, each with one request in flight.
    #[arg(short, long, default_value_t = 32)]
    pub concurrency: usize,
    /// Requests to measure.
    #[arg(short = 'n', long, default_value_t = 20_000)]
    pub requests: u64,
    /// Unmeasured requests sent first.
    #[arg(long, default_value_t = 1_000)]
    pub warmup: u64,
    /// Send at this many requests per second (warm-up included) instead
    /// of as fast as the server answers: a fixed arrival rate, carried by
    /// the --concurrency clients. Requests that leave late (every client
    /// busy, or the generator waiting for a core) are counted.
    #[arg(long, value_name = "PER_SEC")]
    pub rate: Option<f64>,
    /// Print the report as JSON on stdout instead of text on stderr.
    #[arg(long)]
    pub json: bool,
}

/// The default request: a short support ticket.
pub fn default_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"input": {"subject": "Password reset", "body": "How do I reset my password? The link in the e-mail expired."}}))
        .expect("static JSON")
}

pub(super) async fn run(_cli: &Cli, args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let bodies = match &args.input {
        None => vec![default_body()],
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let bodies: Vec<Vec<u8>> = text
                .lines()
                .filter_map(|l| crate::batch::parse_line(0, l.as_bytes()).input.ok())
                .map(|r| serde_json::to_vec(&serde_json::json!({"input": r.input})).expect("JSON"))
                .collect();
            anyhow::ensure!(
                !bodies.is_empty(),
                "{} has no usable input lines",
                path.display()
            );
            bodies
        }
    };
    let opts = LoadOptions {
        url: args.url.clone(),
        bodies,
        concurrency: args.concurrency,
        requests: args.requests,
        warmup: args.warmup,
        rate: args.rate,
    };
    let report = tokio::task::spawn_blocking(move || loadgen::drive_on_own_thread(&opts))
        .await
        .context("the load generator's thread failed")??;
    if args.json {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        eprintln!(
            "{} requests in {:.2} s: {:.0}/s, p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs; {} answered 422 (a typed run error), {} failed",
            report.requests, report.seconds, report.per_sec, report.p50_us, report.p90_us, report.p99_us, report.max_us, report.unprocessable, report.failed
        );
        if let Some(rate) = report.rate {
            eprintln!(
                "paced at {rate:.0}/s: {} measured requests left more than {} ms late (every client busy, or the generator waiting for a core)",
                report.late,
                loadgen::LATE_AFTER.as_millis()
            );
        }
        if let Some(f) = &report.first_failure {
            eprintln!("first failure: {f}");
        }
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
