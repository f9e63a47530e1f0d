//! `switchyard serve`: loads a pipeline and serves it over HTTP (native
//! runs API, OpenAI-compatible chat completions, health, metrics, admin
//! hot-swap), optionally watching component files, until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::run::load_shared;
use super::Cli;
use crate::keys::{FileKeys, RedisKeys};
use crate::recording::{RecordingSink, Target};
use crate::serve::clients::{ClientAuth, KeyRing};
use crate::serve::{
    self, AppState, LivePipeline, Metrics, QueueLimits, Readiness, ADMIN_TOKEN_ENV,
};
use crate::state::RedisState;

/// Arguments of `switchyard serve`.
#[derive(Debug, Args)]
#[command(after_help = "\
Routes:
  POST /v1/runs                   {\"input\": <task>, \"id\": \"optional\"} → output, trace, cost, node versions
  POST /v1/pipelines/{name}/runs  the same, naming the pipeline
  POST /v1/chat/completions       OpenAI-compatible; `model` is the pipeline name
  GET  /v1/models                 the pipeline, as a model
  GET  /healthz                   liveness and the serving generation
  GET  /metrics                   Prometheus text format
  GET  /                          the live status page: the graph coloured by each node's health,
                                  latency, rates, cost, budgets, router split, experiments, swaps
  GET  /status                    its JSON (health only without the token, when one is set)
  PUT  /admin/nodes/{node}        hot-swap one node: the body is the component (bearer token)
  GET  /admin/nodes               every node's live component (bearer token)

The admin routes need `Authorization: Bearer $SWITCHYARD_ADMIN_TOKEN`; without that
variable set they are refused (and the status page shows everything to anyone who
can reach the port: keep the default 127.0.0.1 or set a token). The token is checked before a body is read.
Slow or idle clients are timed out and connections capped (see the flags
below and docs/security.md, \"what a hostile client can do\"). SIGINT or SIGTERM stops accepting connections and
drains the runs in flight before exiting.")]
pub struct ServeArgs {
    /// The pipeline manifest.
    pub manifest: PathBuf,
    /// Address to listen on (port 0 picks a free port; the address is
    /// printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Hot-swap a node whenever its component file changes.
    #[arg(long)]
    pub watch: bool,
    /// Quiet period before a changed file is swapped in (--watch).
    #[arg(long, default_value_t = 300, value_name = "MS")]
    pub debounce_ms: u64,
    /// Runs that may wait for room in the instance pool (its size is the
    /// manifest's `[engine] max-instances`); past it requests get 429
    /// with Retry-After, and nothing is spent on them.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub max_queued: usize,
    /// The longest a run waits for room in the instance pool before it is
    /// answered 429 with Retry-After (it never starts). Its run deadline
    /// starts only once it is admitted.
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    pub queue_timeout_ms: u64,
    /// Connections open at once (kept below the open-file limit). At the
    /// cap, the oldest connection with no request being handled is closed
    /// to let a new one in.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub max_connections: usize,
    /// Time a client has to send a request's head; also the longest an
    /// idle keep-alive connection stays open.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub header_timeout_ms: u64,
    /// Time a client has to send a request's whole body (408 past it).
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub body_timeout_ms: u64,
    /// Largest request body of the runs and chat routes (413 past it). The
    /// admin swap route takes components up to 256 MiB, and only after its
    /// token is checked.
    #[arg(long, default_value_t = 2048, value_name = "KB")]
    pub max_body_kb: usize,
    /// Export every run's trace over OTLP/HTTP to this collector (base
    /// URL, e.g. http://localhost:4318; `/v1/traces` is appended unless
    /// there). Overrides the manifest's [telemetry] endpoint and
    /// OTEL_EXPORTER_OTLP_ENDPOINT; see docs/observability.md.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Record runs whole into this directory (created if missing), as
    /// `recording-<unix ms>-<n>.jsonl` files that `switchyard replay` and
    /// `compare` read (docs/recording.md). Holds message content. Lines
    /// are written by one thread off the request path; if it falls
    /// behind, lines are dropped and counted, never waited for.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// With --record: the share of runs recorded, 0 to 1 (decided when a
    /// run starts; unrecorded runs keep no content).
    #[arg(long, default_value_t = 1.0, value_name = "RATIO", value_parser = ratio)]
    pub record_sample: f64,
    /// With --record: start a new file once the current one passes this
    /// size.
    #[arg(long, default_value_t = 65_536, value_name = "KB")]
    pub record_rotate_kb: u64,
}

fn ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{s}` is not a share from 0 to 1 (e.g. 0.1)")),
    }
}

impl ServeArgs {
    /// The connection limits these flags ask for.
    pub fn conn_limits(&self) -> serve::ConnLimits {
        serve::ConnLimits {
            max_connections: self.max_connections.max(1),
            header_timeout: Duration::from_millis(self.header_timeout_ms.max(1)),
        }
        .within_open_file_limit()
    }

    /// The request-body limits these flags ask for.
    pub fn body_limits(&self) -> serve::BodyLimits {
        serve::BodyLimits {
            timeout: Duration::from_millis(self.body_timeout_ms.max(1)),
            max_bytes: self.max_body_kb.saturating_mul(1024),
            ..serve::BodyLimits::default()
        }
    }
}

/// Who may call `/v1/*`, from the manifest's `[auth]`: an undeclared
/// choice is refused, naming both.
fn client_auth(
    manifest: &Path,
    pipeline: &crate::pipeline::Pipeline,
    shared: Option<&Arc<RedisState>>,
) -> anyhow::Result<ClientAuth> {
    use crate::spec::ClientsSpec;
    Ok(match (&pipeline.manifest.clients, shared) {
        (ClientsSpec::Undeclared, _) => anyhow::bail!(
            "{}: the manifest does not say who may call this pipeline when served; add either\n\n  [auth]\n  clients = \"keys\"   # callers send `Authorization: Bearer <key>` (`switchyard keys create NAME`)\n  keys-file = \"keys.json\"   # where keys live without a shared [state]\n\nor\n\n  [auth]\n  clients = \"none\"   # anyone who can reach the port may run it, and spend its budget\n\n(docs/serve.md#client-keys)",
            manifest.display()
        ),
        (ClientsSpec::Open, _) => ClientAuth::Open,
        // A keys file named explicitly wins (e.g. mounted from a Secret);
        // else keys live in the shared Redis.
        (ClientsSpec::Keys { file: Some(f) }, _) => {
            ClientAuth::Keys(Arc::new(KeyRing::new(Arc::new(FileKeys::new(f)))))
        }
        (ClientsSpec::Keys { file: None }, Some(state)) => {
            ClientAuth::Keys(Arc::new(KeyRing::new(Arc::new(RedisKeys::new(state.clone())))))
        }
        (ClientsSpec::Keys { file: None }, None) => anyhow::bail!(
            "{}: `[auth] clients = \"keys\"` needs somewhere to keep keys: add `keys-file = \"keys.json\"` to [auth], or share a [state] (keys then live in its Redis)",
            manifest.display()
        ),
    })
}

pub(super) async fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let (pipeline, shared) = load_shared(cli, &args.manifest).await?;
    let clients = client_auth(&args.manifest, &pipeline, shared.as_ref())?;
    let readiness = Readiness::of(&pipeline, shared);
    let name = pipeline.manifest.name.clone();
    let metrics = Arc::new(Metrics::new());
    let telemetry = super::telemetry::start(
        args.otlp_endpoint.as_deref(),
        &pipeline.manifest.telemetry,
        metrics.otel_dropped_counter(),
    )?;
    let mut live = LivePipeline::new(pipeline, metrics).with_sources(cli.sources());
    if let Some(t) = &telemetry {
        live = live.with_telemetry(t.clone());
    }
    let recording = match &args.record {
        Some(dir) => Some(RecordingSink::start(
            Target::Dir {
                dir: dir.clone(),
                rotate_bytes: args.record_rotate_kb.max(1).saturating_mul(1024),
            },
            args.record_sample,
        )?),
        None => None,
    };
    if let Some(r) = &recording {
        live = live.with_recording(r.clone());
    }
    let live = Arc::new(live);
    let spending = live.current().hub().spending().clone();
    // With shared state, swaps reach every replica.
    let fleet = readiness
        .state
        .clone()
        .map(|state| serve::fleet::Fleet::start(state, &live, &name));
    let token = std::env::var(ADMIN_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty());
    if token.is_none() {
        eprintln!("switchyard: ${ADMIN_TOKEN_ENV} is not set; the admin API (hot-swap) is off");
    }
    let _watcher = if args.watch {
        Some(serve::watch::watch(
            live.clone(),
            Duration::from_millis(args.debounce_ms),
        )?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!("switchyard: serving `{name}` on http://{addr}");
    let state = Arc::new(
        AppState::new(
            live,
            token,
            QueueLimits {
                max_queued: args.max_queued,
                timeout: std::time::Duration::from_millis(args.queue_timeout_ms),
            },
        )
        .with_body_limits(args.body_limits())
        .with_clients(clients)
        .with_readiness(readiness)
        .with_fleet(fleet),
    );
    serve::serve(
        listener,
        state,
        args.conn_limits(),
        serve::shutdown_signal(),
    )
    .await?;
    super::run::flush_spend(&spending).await;
    if let Some(t) = telemetry {
        t.shutdown(Duration::from_secs(5)).await;
    }
    if let (Some(r), Some(dir)) = (recording, &args.record) {
        let finished = tokio::task::spawn_blocking(move || r.finish().map(|()| r)).await?;
        let r = finished?;
        eprintln!(
            "switchyard: recorded {} runs to {}{}",
            r.written(),
            dir.display(),
            if r.dropped() > 0 {
                format!(" ({} dropped: the writer fell behind)", r.dropped())
            } else {
                String::new()
            }
        );
    }
    eprintln!("switchyard: stopped; every run in flight was answered");
    Ok(ExitCode::SUCCESS)
}
