//! `switchyard test-node`: wires command-line options to
//! [`crate::testnode`] and prints its report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Cli;
use crate::testnode::{self, TestNodeOptions};

/// Arguments of `switchyard test-node`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  switchyard test-node judge.wasm --input '{\"body\": \"hi\"}' --candidate '{\"reply\": \"Hello!\"}'
  switchyard test-node router.wasm --input '{\"body\": \"URGENT: down\"}' --candidates simple,urgent
  switchyard test-node worker.wasm --input '{\"body\": \"hi\"}' --models small --setting model=small --limit cpu-ms=50

Guest logs, stdout and stderr are shown (RUST_LOG=switchyard::guest=debug by default).
Exit status: 0 when the node answered (a reject verdict included), 1 when it failed.")]
pub struct TestNodeArgs {
    /// The component (.wasm).
    pub component: PathBuf,
    /// The task input, JSON.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    pub input: String,
    /// Judges: the candidate output to judge, JSON (default: the input).
    #[arg(long, value_name = "JSON")]
    pub candidate: Option<String>,
    /// Routers: the branch labels to choose from, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LABELS")]
    pub candidates: Vec<String>,
    /// A setting, KEY=VALUE (VALUE is JSON, else a string); repeatable.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// The node's settings as one JSON object (merged before --setting).
    #[arg(long, value_name = "JSON")]
    pub settings_json: Option<String>,
    /// `sim` models to grant, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "small,frontier",
        value_name = "NAMES"
    )]
    pub models: Vec<String>,
    /// A limit, KEY=VALUE as in a manifest's `limits` (cpu-ms, memory-mb,
    /// wall-ms, output-kb, model-calls, log-kb, host-calls, stack-kb).
    #[arg(long = "limit", value_name = "KEY=VALUE")]
    pub limits: Vec<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn json_arg(flag: &str, text: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(text).with_context(|| format!("{flag} is not JSON: {text}"))
}

pub(super) async fn run(cli: &Cli, args: &TestNodeArgs) -> anyhow::Result<ExitCode> {
    let mut settings = match &args.settings_json {
        None => serde_json::Map::new(),
        Some(t) => match json_arg("--settings-json", t)? {
            serde_json::Value::Object(m) => m,
            _ => anyhow::bail!("--settings-json must be a JSON object"),
        },
    };
    for s in &args.settings {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--setting {s}: write KEY=VALUE"))?;
        let v = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.into()));
        settings.insert(k.trim().into(), v);
    }
    let mut limits = Vec::new();
    for l in &args.limits {
        let (k, v) = l
            .split_once('=')
            .with_context(|| format!("--limit {l}: write KEY=VALUE, e.g. cpu-ms=50"))?;
        let v: u64 = v
            .trim()
            .parse()
            .with_context(|| format!("--limit {l}: the value must be a whole number"))?;
        limits.push((k.trim().to_string(), v));
    }
    let opts = TestNodeOptions {
        component: args.component.clone(),
        input: json_arg("--input", &args.input)?,
        candidate: args
            .candidate
            .as_deref()
            .map(|c| json_arg("--candidate", c))
            .transpose()?,
        candidates: args.candidates.clone(),
        settings,
        models: args
            .models
            .iter()
            .filter(|m| !m.is_empty())
            .cloned()
            .collect(),
        limits,
    };
    let report = match testnode::test_node(&cli.engine()?, &opts).await {
        Ok(r) => r,
        // Manifest diagnostics print with their own `error:` headers.
        Err(testnode::TestNodeError::Manifest(e)) => return Err(e.into()),
        Err(e) => return Err(e.into()),
    };
    if args.json {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        eprint!("{report}");
    }
    Ok(if report.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
