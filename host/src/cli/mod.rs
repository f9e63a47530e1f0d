//! The `switchyard` command line: clap definitions and the wiring of each
//! subcommand to library code. Nothing here holds logic of its own.

mod artifact;
mod bench;
mod export;
mod graph;
mod inspect;
mod keys;
mod load;
mod new;
mod replay;
mod run;
mod serve;
mod swap;
mod telemetry;
mod test_node;
mod validate;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ConfigError;
use crate::engine::{CompileCache, EngineOptions, NodeEngine};

/// switchyard: run compound AI pipelines of small sandboxed WebAssembly nodes.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Directory for compiled components (default: $SWITCHYARD_CACHE_DIR,
    /// else ~/.cache/switchyard).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every component afresh and cache nothing.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Directory of components pulled from registries, by digest (default:
    /// $SWITCHYARD_STORE, else ~/.cache/switchyard/components).
    #[arg(long, global = true, value_name = "DIR", env = "SWITCHYARD_STORE")]
    pub store: Option<PathBuf>,
    /// Share rate limits with other replicas through this Redis (or
    /// Valkey): `redis://host:port`. Overrides the manifest's `[state]`.
    #[arg(long, global = true, value_name = "URL", env = "SWITCHYARD_STATE_URL")]
    pub state_url: Option<String>,
    /// Never ask a registry: components by reference come from the store
    /// only (a manifest pinned to digests runs offline once pulled).
    #[arg(long, global = true, env = "SWITCHYARD_OFFLINE")]
    pub offline: bool,
    /// How log lines on stderr are written: `text` for people, `json` for
    /// log pipelines (one object per line, with the run's trace id when
    /// inside a run, and on a guest's own lines the node's span id).
    /// `RUST_LOG` sets the levels.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline over a JSONL file: one output record per input line,
    /// then a per-node summary of latency, calls, tokens and cost on stderr.
    Run(run::RunArgs),
    /// Re-run recorded inputs through a candidate pipeline hermetically:
    /// recorded model calls are answered from the recording, no network;
    /// then compare the candidate with the recording (docs/improve.md).
    Replay(replay::ReplayArgs),
    /// Compare two recordings of the same inputs, per node and for the
    /// whole pipeline: outputs, judges' pass rates, cost, latency, flips.
    Compare(replay::CompareArgs),
    /// Export one node's model calls in recordings as training data: SFT
    /// chat examples of its accepted answers, or preference pairs of a
    /// rejected answer and its accepted retry or escalation (docs/improve.md).
    Export(export::ExportArgs),
    /// Check a manifest and load every component it names, without running.
    Validate(validate::ValidateArgs),
    /// Measure sandbox and pipeline overhead with zero-latency sim models.
    Bench(bench::BenchArgs),
    /// Show what a component is and what it asks for: role, imports,
    /// exports, self-description, schemas, size, and anything beyond the
    /// contract. Exits 2 if it cannot serve as a node.
    Inspect(inspect::InspectArgs),
    /// Serve a pipeline over HTTP: a runs API, an OpenAI-compatible chat
    /// endpoint, health, Prometheus metrics, and hot-swap of single nodes.
    Serve(serve::ServeArgs),
    /// Hot-swap one node of a running `switchyard serve`, with a component
    /// file or an oci:// reference the server pulls and checks.
    Swap(swap::SwapArgs),
    /// Generate an Ed25519 key pair for signing components: NAME.key
    /// (secret) and NAME.pub (what operators list in `[trust] keys`).
    Keygen(artifact::KeygenArgs),
    /// Sign a component with a secret key; the signature is embedded in
    /// the component (wasmsign2 format), so it travels with the bytes.
    Sign(artifact::SignArgs),
    /// Check a component's signature against public keys, offline.
    Verify(artifact::VerifyArgs),
    /// Publish a component to an OCI registry (CNCF Wasm artifact layout)
    /// and print the digest-pinned reference to put in a manifest.
    Push(artifact::PushArgs),
    /// Fetch a component from an OCI registry into the local store,
    /// checking every digest; print the digest-pinned reference.
    Pull(artifact::PullArgs),
    /// Run input lines a `run --queue` put on a Redis queue; start any
    /// number, on any machines.
    Worker(worker::WorkerArgs),
    /// Manage client keys for `serve`: create (printed once), list, revoke;
    /// in a keys file or the Redis replicas share.
    Keys(keys::KeysArgs),
    /// Drive a running `switchyard serve` with concurrent requests and
    /// report throughput and latency.
    Load(load::LoadArgs),
    /// Run one component as a node, on its own, with sim models and
    /// manifest-style limits; print its answer, usage and model calls.
    TestNode(test_node::TestNodeArgs),
    /// Scaffold a node (router, worker or judge) in Rust, Python,
    /// JavaScript or C that builds and passes its smoke test as created.
    New(new::NewArgs),
    /// Draw a pipeline from its manifest: Mermaid, Graphviz DOT or a
    /// standalone SVG, with routers, branches, judges, on-reject paths,
    /// standby nodes, models and components.
    Graph(graph::GraphArgs),
}

impl Cli {
    /// Where components by reference come from: the store (`--store`) and
    /// registries (unless `--offline`).
    fn sources(&self) -> crate::artifact::Sources {
        let sources = crate::artifact::Sources::from_env().offline(self.offline);
        match &self.store {
            Some(dir) => sources.with_store(dir.clone()),
            None => sources,
        }
    }

    fn engine(&self) -> anyhow::Result<NodeEngine> {
        self.engine_for(crate::spec::EngineSpec::default())
    }

    /// The engine a manifest's `[engine]` table asks for.
    fn engine_for(&self, spec: crate::spec::EngineSpec) -> anyhow::Result<NodeEngine> {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(CompileCache::default_dir)
        };
        Ok(NodeEngine::new(EngineOptions {
            cache_dir,
            max_instances: spec.max_instances,
            ..EngineOptions::default()
        })?)
    }
}

/// Entry point of the `switchyard` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // test-node shows what the guest logs; everything else only warnings.
    init_tracing(
        match cli.command {
            Command::TestNode(_) => "warn,switchyard::guest=debug",
            Command::Serve(_) => "warn,switchyard::serve=info",
            _ => "warn",
        },
        cli.log_format,
    );
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The command runs as a task on the runtime's workers, not on this
    // thread: a batch's loop then spawns and joins its runs from a worker
    // (its local queue, no OS-thread wake-up per run) instead of being a
    // third busy thread on the cores the workers use.
    let result = rt.block_on(async move {
        tokio::spawn(async move { dispatch(&cli).await })
            .await
            .unwrap_or_else(|e| {
                Err(anyhow::anyhow!(
                    "the command stopped: {}",
                    crate::engine::join_error_message(e)
                ))
            })
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // Manifest diagnostics carry their own `error:` headers.
            match e.downcast_ref::<ConfigError>() {
                Some(ConfigError::Invalid(_)) => eprintln!("{e}"),
                _ => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs the command `cli` names.
async fn dispatch(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Run(args) => run::run(cli, args).await,
        Command::Replay(args) => replay::replay_cmd(cli, args).await,
        Command::Compare(args) => replay::compare_cmd(args).await,
        Command::Export(args) => export::run(args).await,
        Command::Validate(args) => validate::run(cli, args).await,
        Command::Bench(args) => bench::run(cli, args).await,
        Command::Inspect(args) => inspect::run(cli, args).await,
        Command::Serve(args) => serve::run(cli, args).await,
        Command::Keys(args) => keys::run(cli, args).await,
        Command::Worker(args) => worker::run(cli, args).await,
        Command::Swap(args) => swap::run(cli, args).await,
        Command::Load(args) => load::run(cli, args).await,
        Command::TestNode(args) => test_node::run(cli, args).await,
        Command::New(args) => new::run(cli, args).await,
        Command::Graph(args) => graph::run(cli, args).await,
        Command::Keygen(args) => artifact::keygen(args).await,
        Command::Sign(args) => artifact::sign(args).await,
        Command::Verify(args) => artifact::verify(cli, args).await,
        Command::Push(args) => artifact::push(cli, args).await,
        Command::Pull(args) => artifact::pull(cli, args).await,
    }
}

fn init_tracing(default: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a terminal: a log file or pipe gets plain text
    // (and spans' fields are not wrapped in escape codes per run).
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt.init(),
        // The current span and its parents carry the run's trace id and,
        // on a guest's lines, the node's span id.
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .flatten_event(true)
            .init(),
    }
}
