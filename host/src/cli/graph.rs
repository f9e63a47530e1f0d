//! `switchyard graph`: wires a manifest (and, with `--load`, its loaded
//! components) to the library's drawing in [`crate::graph`], and the
//! result to stdout or a file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::Cli;
use crate::config::ConfigError;
use crate::graph::{Format, Graph};
use crate::pipeline::Pipeline;

/// Arguments of `switchyard graph`.
#[derive(Debug, Args)]
#[command(after_help = "\
Drawn: the input and output(s), routers with their branch labels, dependency
edges (fan-out and joins), each node's role, component and granted models,
each worker's judges (dashed, in gate order) and on-reject path (retries,
escalate edge, fallback node), and workers on standby (dashed border).

Examples:
  switchyard graph examples/support-triage/pipeline.toml
  switchyard graph pipeline.toml --format dot | dot -Tpng -o pipeline.png
  switchyard graph pipeline.toml --output pipeline.svg

A manifest that fails to load is reported as `validate` reports it (exit 2).")]
pub struct GraphArgs {
    /// The pipeline manifest to draw. Only the manifest is read: no
    /// component is loaded and no model or API key is needed (see --load).
    pub manifest: PathBuf,
    /// Output format. Default: the one the --output file's extension names
    /// (.mmd or .mermaid, .dot or .gv, .svg), else mermaid.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<GraphFormat>,
    /// Write the graph to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also load every component, as `validate` does, and show each as
    /// `name@version` from its self-description instead of its file name.
    /// The components must be built; still no model or key is needed.
    #[arg(long)]
    pub load: bool,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// A Mermaid `flowchart LR`: paste it in a ```mermaid block of
    /// Markdown (GitHub renders it).
    Mermaid,
    /// Graphviz DOT, for `dot -Tsvg` / `dot -Tpng`.
    Dot,
    /// A standalone SVG image, laid out by switchyard itself (no Graphviz).
    Svg,
}

impl From<GraphFormat> for Format {
    fn from(format: GraphFormat) -> Self {
        match format {
            GraphFormat::Mermaid => Format::Mermaid,
            GraphFormat::Dot => Format::Dot,
            GraphFormat::Svg => Format::Svg,
        }
    }
}

pub(super) async fn run(cli: &Cli, args: &GraphArgs) -> anyhow::Result<ExitCode> {
    let graph = match load_graph(cli, args).await? {
        Ok(graph) => graph,
        Err(refused) => return Ok(report_refused(refused)),
    };
    let text = crate::graph::render(&graph, chosen_format(args));
    match &args.output {
        Some(path) => crate::graph::write_file(path, &text)?,
        None => {
            use tokio::io::AsyncWriteExt;
            let mut stdout = tokio::io::stdout();
            stdout.write_all(text.as_bytes()).await?;
            stdout.flush().await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--format`, else what the `--output` extension names, else Mermaid.
fn chosen_format(args: &GraphArgs) -> Format {
    args.format
        .map(Format::from)
        .or_else(|| args.output.as_deref().and_then(Format::from_extension))
        .unwrap_or(Format::Mermaid)
}

/// The graph of the manifest, with component versions under `--load`; the
/// inner error is a manifest or component that did not load.
async fn load_graph(cli: &Cli, args: &GraphArgs) -> anyhow::Result<Result<Graph, ConfigError>> {
    let manifest = match crate::config::load(&args.manifest) {
        Ok(manifest) => manifest,
        Err(refused) => return Ok(Err(refused)),
    };
    if !args.load {
        return Ok(Ok(Graph::of_manifest(&manifest)));
    }
    // Loading components needs no model hub and no keys.
    let engine = cli.engine_for(manifest.engine)?;
    Ok(
        match Pipeline::load_from(&engine, manifest, &cli.sources()).await {
            Ok(loaded) => Ok(Graph::with_components(
                &loaded.manifest,
                &crate::pipeline::component_labels(loaded.nodes()),
            )),
            Err(refused) => Err(refused),
        },
    )
}

/// Prints a manifest or component that did not load exactly as
/// `validate` does, and gives exit code 2.
fn report_refused(refused: ConfigError) -> ExitCode {
    match &refused {
        // Manifest diagnostics carry their own `error:` headers.
        ConfigError::Invalid(_) => eprintln!("{refused}"),
        ConfigError::Read { .. } => eprintln!("error: {:#}", anyhow::Error::from(refused)),
    }
    ExitCode::from(2)
}
