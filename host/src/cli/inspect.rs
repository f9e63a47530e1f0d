//! `switchyard inspect`: wires a component path to the library inspector.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Cli;

/// Arguments of `switchyard inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The `.wasm` component.
    pub component: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub(super) async fn run(cli: &Cli, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let report = crate::inspect::inspect(&cli.engine()?, &args.component).await?;
    let mut out = if args.json {
        serde_json::to_string_pretty(&report)?
    } else {
        report.to_string()
    };
    out.push('\n');
    tokio::io::AsyncWriteExt::write_all(&mut tokio::io::stdout(), out.as_bytes()).await?;
    // Exit 2 when the component could not serve as a node at all.
    Ok(if report.load_error.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
