//! Serve mode: the HTTP service around a live pipeline. `api` has the
//! native routes (runs, health, metrics, admin hot-swap), `openai` the
//! OpenAI-compatible chat completions, `live` the swappable pipeline
//! generation, `experiment` shadow and canary experiments on one node
//! (candidate, sampling, shadow runs, statistics, their admin routes),
//! `metrics` the Prometheus registry, `status` the live status page at
//! `GET /`, `stream` the server-sent events of runs that stream, and `watch`
//! the `--watch` file watcher. [`serve`] runs until its shutdown future
//! resolves, then stops accepting and drains the runs in flight.

pub mod api;
pub mod clients;
pub mod conn;
pub mod experiment;
pub mod fleet;
pub mod guard;
pub mod live;
pub mod metrics;
pub mod openai;
pub mod status;
mod stream;
pub mod watch;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};
use axum::Router;
use tokio::net::TcpListener;

pub use conn::ConnLimits;
pub use experiment::{AdminError, ExperimentStatus, Mode as ExperimentMode, Promotion};
pub use guard::BodyLimits;
pub use live::{LivePipeline, Overloaded, SwapReport};

pub use metrics::Metrics;

/// The environment variable holding the admin bearer token.
pub const ADMIN_TOKEN_ENV: &str = "SWITCHYARD_ADMIN_TOKEN";

/// The largest component accepted by `PUT /admin/nodes/{node}`.
pub const MAX_COMPONENT_BYTES: usize = 256 << 20;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The live pipeline.
    pub live: Arc<LivePipeline>,
    /// The admin bearer token; `None` turns the admin API off.
    pub admin_token: Option<String>,
    /// Runs waiting for admission to the instance pool, and how long.
    pub queue: QueueLimits,
    /// Request body deadlines and bounds.
    pub body_limits: BodyLimits,
    /// Who may call `/v1/*`.
    pub clients: clients::ClientAuth,
    /// What `/readyz` checks beyond the loaded components.
    pub readiness: Readiness,
    /// The other replicas swaps reach, when state is shared.
    pub fleet: Option<Arc<fleet::Fleet>>,
    seq: AtomicU64,
}

/// What a replica needs to take traffic: its components are loaded (it
/// only listens once they are), and — when it cannot serve without it —
/// the shared state answers. A replica can serve without Redis when its
/// only shared limits are rate limits (counted locally meanwhile) or its
/// budgets `count-locally`; with client keys in Redis, or spend limits
/// failing closed, it cannot.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// The shared state, if any.
    pub state: Option<Arc<crate::state::RedisState>>,
    /// Whether the replica is useless while it is unreachable.
    pub needs_state: bool,
}

impl Readiness {
    /// What `pipeline`, counting in `state`, needs to be ready.
    pub fn of(
        pipeline: &crate::pipeline::Pipeline,
        state: Option<Arc<crate::state::RedisState>>,
    ) -> Self {
        let m = &pipeline.manifest;
        let keys_there = matches!(m.clients, crate::spec::ClientsSpec::Keys { file: None });
        let spend_limits =
            m.spend_limit.is_some() || m.nodes.values().any(|n| n.spend_limit.is_some());
        let fails_closed = matches!(
            m.state,
            crate::spec::StateSpec::Redis {
                budgets_when_down: crate::spec::BudgetsWhenDown::FailClosed,
                ..
            }
        );
        Self {
            needs_state: state.is_some() && (keys_there || (spend_limits && fails_closed)),
            state,
        }
    }
}

impl AppState {
    /// The id of the next run this server starts: `run-<n>`.
    pub fn next_run_id(&self) -> String {
        format!(
            "run-{}",
            self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
        )
    }
}

/// How much work may wait for the instance pool. Past either limit a
/// request is answered `429` with `Retry-After`, and nothing is spent on
/// it: it never started.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Runs waiting at once.
    pub max_queued: usize,
    /// The longest a run waits.
    pub timeout: std::time::Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            max_queued: 4096,
            timeout: std::time::Duration::from_secs(60),
        }
    }
}

impl AppState {
    /// State for serving `live`.
    pub fn new(live: Arc<LivePipeline>, admin_token: Option<String>, queue: QueueLimits) -> Self {
        Self {
            live,
            admin_token: admin_token.filter(|t| !t.is_empty()),
            queue,
            body_limits: BodyLimits::default(),
            clients: clients::ClientAuth::Open,
            readiness: Readiness::default(),
            fleet: None,
            seq: AtomicU64::new(0),
        }
    }

    /// This state publishing swaps to (and taking them from) `fleet`.
    pub fn with_fleet(mut self, fleet: Option<Arc<fleet::Fleet>>) -> Self {
        self.fleet = fleet;
        self
    }

    /// This state answering `/readyz` by `readiness`.
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// This state letting only `clients` call `/v1/*`.
    pub fn with_clients(mut self, clients: clients::ClientAuth) -> Self {
        self.clients = clients;
        self
    }

    /// This state with `limits` for request bodies.
    pub fn with_body_limits(mut self, limits: BodyLimits) -> Self {
        self.body_limits = limits;
        self
    }
}

/// The service's routes. Admin routes check the token before reading a
/// body; every body is read within its deadline and bound first.
pub fn router(state: Arc<AppState>) -> Router {
    // Layers run outermost-last-added: the token check comes before the
    // body is read.
    let admin = Router::new()
        .route(
            "/admin/nodes/{node}",
            put(api::swap).get(experiment::api::status),
        )
        .route(
            "/admin/nodes/{node}/promote",
            post(experiment::api::promote),
        )
        .route("/admin/nodes/{node}/abort", post(experiment::api::abort))
        .route("/admin/nodes", get(api::nodes))
        .route_layer(from_fn_with_state(state.clone(), guard::read_body))
        .route_layer(from_fn_with_state(state.clone(), guard::admin_auth));
    // The client key is checked before the body is read, too.
    let v1 = Router::new()
        .route("/v1/runs", post(api::runs))
        .route("/v1/pipelines/{name}/runs", post(api::named_runs))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models))
        .route_layer(from_fn_with_state(state.clone(), guard::read_body))
        .route_layer(from_fn_with_state(state.clone(), clients::client_auth));
    let public = Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/", get(status::page))
        .route("/status", get(status::status))
        .route("/status/graph.svg", get(status::graph_svg))
        .route_layer(from_fn_with_state(state.clone(), guard::read_body));
    public
        .merge(v1)
        .merge(admin)
        // The body is already bounded by `read_body`; this only lifts
        // axum's own default so the bounds above are the ones that apply.
        .layer(DefaultBodyLimit::max(
            state
                .body_limits
                .max_bytes
                .max(state.body_limits.max_component_bytes),
        ))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves; then stops
/// accepting connections and returns once every request in flight has
/// been answered. Connections are capped and timed out by `limits`.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::serve(listener, router(state), limits, shutdown).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: no new connections; draining runs in flight");
}
