//! Serve mode: the HTTP service around a live pipeline. `api` has the
//! native routes (runs, health, metrics, admin hot-swap), `openai` the
//! OpenAI-compatible chat completions, `live` the swappable pipeline
//! generation, `metrics` the Prometheus registry and `watch` the
//! `--watch` file watcher. [`serve`] runs until its shutdown future
//! resolves, then stops accepting and drains the runs in flight.

pub mod api;
pub mod live;
pub mod metrics;
pub mod openai;
pub mod watch;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use live::{LivePipeline, SwapReport};
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
    /// Runs allowed in flight at once.
    pub max_in_flight: usize,
    slots: Semaphore,
    seq: AtomicU64,
}

impl AppState {
    /// State for serving `live`.
    pub fn new(live: Arc<LivePipeline>, admin_token: Option<String>, max_in_flight: usize) -> Self {
        Self {
            live,
            admin_token: admin_token.filter(|t| !t.is_empty()),
            max_in_flight,
            slots: Semaphore::new(max_in_flight),
            seq: AtomicU64::new(0),
        }
    }
}

/// The service's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/runs", post(api::runs))
        .route("/v1/pipelines/{name}/runs", post(api::named_runs))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route(
            "/admin/nodes/{node}",
            put(api::swap).layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES)),
        )
        .route("/admin/nodes", get(api::nodes))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves; then stops
/// accepting connections and returns once every request in flight has
/// been answered.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
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
