//! `switchyard bench` wiring.
use super::Cli;
use clap::Args;
use std::process::ExitCode;
/// Arguments of `switchyard bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {}
pub(super) async fn run(_cli: &Cli, _args: &BenchArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
