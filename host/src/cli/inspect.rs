//! `switchyard inspect`: wires a component file or reference to the
//! library inspector.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Cli;

/// Arguments of `switchyard inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The `.wasm` component, or an oci:// reference (pulled into the store).
    pub component: String,
    /// A public key to check its signatures against (repeatable).
    #[arg(long = "key", value_name = "FILE")]
    pub keys: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub(super) async fn run(cli: &Cli, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let keys = args
        .keys
        .iter()
        .map(|k| crate::artifact::signing::public_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    let (bytes, origin) = super::artifact::read_component(cli, &args.component).await?;
    let report =
        crate::inspect::inspect_bytes(&cli.engine()?, &PathBuf::from(origin), bytes, &keys).await?;
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
