//! The served pipeline the `guest_returns` and `http` targets drive, built
//! once per process: the scripted router, workers and judge
//! (`tests/fixtures/scripted-node`) on zero-latency `sim` models, with a run
//! budget, an output schema, retries, escalation, a fallback and a
//! streamed worker judged window by window; served behind client keys (a
//! keys file holding one live and one revoked key) and an admin token.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use switchyard::engine::{EngineOptions, NodeEngine};
use switchyard::keys::{FileKeys, KeyStore, NewKey};
use switchyard::models::ModelHub;
use switchyard::pipeline::Pipeline;
use switchyard::serve::clients::{ClientAuth, KeyRing};
use switchyard::serve::{AppState, BodyLimits, LivePipeline, Metrics, QueueLimits};

/// The run deadline of the fuzz pipeline, in ms.
pub const DEADLINE_MS: u64 = 5000;
/// Its run budget, in USD.
pub const BUDGET_USD: f64 = 0.001;
/// Its nodes' output limit, in KiB.
pub const OUTPUT_KB: u64 = 16;
/// Its nodes' model-call limit per invocation.
pub const MODEL_CALLS: usize = 8;

/// The pipeline, its server and the credentials the inputs refer to.
pub struct Fixture {
    /// Drives every run and request (one thread: runs are reproducible).
    pub rt: tokio::runtime::Runtime,
    /// The live pipeline.
    pub live: Arc<LivePipeline>,
    /// The service's routes over it.
    pub router: axum::Router,
    /// The admin token (`$ADMIN` in an HTTP input).
    pub admin: String,
    /// A live client key (`$KEY`).
    pub key: String,
    /// A revoked client key (`$REVOKED`).
    pub revoked: String,
}

/// Where the scripted components are: `$SWITCHYARD_SCRIPTED_DIR`, else
/// where the test suite's build (or `cargo xtask fuzz`) puts them.
pub fn components_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_SCRIPTED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/target/wasm32-wasip2/release/examples")
        })
}

/// The fuzz pipeline's manifest, its components in `components`.
pub fn manifest_text(components: &Path, keys_file: &Path) -> String {
    let c = |name: &str| {
        format!(
            "{:?}",
            components
                .join(format!("{name}.wasm"))
                .display()
                .to_string()
        )
    };
    let (router, worker, judge) = (
        c("scripted_router"),
        c("scripted_worker"),
        c("scripted_judge"),
    );
    format!(
        r#"
[pipeline]
name = "fuzz"
deadline-ms = {DEADLINE_MS}
budget = {{ usd = {BUDGET_USD} }}

[auth]
keys-file = {keys:?}

[models.chat]
provider = "sim"
price = {{ input = 1.0, output = 2.0 }}
sim = {{ seed = 7 }}

[models.embedding]
provider = "sim"
kind = "embedding"
price = {{ input = 0.5, output = 0.5 }}

[defaults.limits]
output-kb = {OUTPUT_KB}
model-calls = {MODEL_CALLS}
log-kb = 4
memory-mb = 32
cpu-ms = 1000
wall-ms = 4000

[nodes.route]
role = "router"
component = {router}
models = ["chat", "embedding"]
branches = {{ whole = "whole", streamed = "streamed" }}

[nodes.whole]
role = "worker"
component = {worker}
models = ["chat", "embedding"]
judges = ["judge"]
output-schema = {{ type = "object", maxProperties = 8 }}
on-reject = {{ retries = 1, escalate = "standby", fallback = {{ fallback = true }} }}

[nodes.standby]
role = "worker"
component = {worker}
models = ["chat"]
judges = ["judge"]

[nodes.streamed]
role = "worker"
component = {worker}
models = ["chat"]
judges = ["judge"]
stream = {{ window = "chars", size = 24, late-reject = "content-filter" }}
on-reject = {{ retries = 1 }}

[nodes.judge]
role = "judge"
component = {judge}
models = ["chat"]
min-score = 0.5

[chat]
input-field = "text"
reply = ["/reply"]
"#,
        keys = keys_file.display().to_string(),
    )
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// The fixture, built on first use. Panics (a broken harness, not a
/// finding) when the scripted components are missing.
pub fn get() -> &'static Fixture {
    FIXTURE.get_or_init(build)
}

fn build() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = std::env::temp_dir().join(format!("switchyard-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let keys_file = dir.join("keys.json");
    let _ = std::fs::remove_file(&keys_file);
    let components = components_dir();
    assert!(
        components.join("scripted_worker.wasm").exists(),
        "the scripted components are not built in {} (cargo xtask fuzz builds them; or set SWITCHYARD_SCRIPTED_DIR)",
        components.display()
    );
    let manifest_path = dir.join("pipeline.toml");
    std::fs::write(&manifest_path, manifest_text(&components, &keys_file))
        .expect("the fuzz manifest is written");
    let (live, router, key, revoked) = rt.block_on(async {
        let keys = FileKeys::new(&keys_file);
        let (k, key) = NewKey {
            name: "fuzz".into(),
            pipelines: vec!["fuzz".into()],
            ..NewKey::default()
        }
        .issue(1)
        .expect("a key");
        keys.add(k).await.expect("the key is stored");
        let (r, revoked) = NewKey {
            name: "gone".into(),
            ..NewKey::default()
        }
        .issue(1)
        .expect("a key");
        keys.add(r).await.expect("the key is stored");
        keys.revoke("gone", 2).await.expect("the key is revoked");

        let manifest = switchyard::config::load(&manifest_path)
            .unwrap_or_else(|e| panic!("the fuzz manifest is invalid: {e}"));
        let engine = NodeEngine::new(EngineOptions {
            cache_dir: None,
            max_instances: 32,
            max_memory_bytes: 64 << 20,
            ..EngineOptions::default()
        })
        .expect("an engine");
        let hub = ModelHub::from_env(&manifest.models).expect("sim models need no keys");
        let pipeline: Pipeline = Pipeline::load(&engine, manifest)
            .await
            .unwrap_or_else(|e| panic!("the fuzz pipeline does not load: {e}"))
            .bind(hub);
        // Swaps by reference never leave the machine: offline, with a
        // scratch store.
        let sources = switchyard::artifact::Sources::from_env()
            .with_store(dir.join("store"))
            .offline(true);
        let live =
            Arc::new(LivePipeline::new(pipeline, Arc::new(Metrics::new())).with_sources(sources));
        let state = Arc::new(
            AppState::new(live.clone(), Some(ADMIN.into()), QueueLimits::default())
                .with_body_limits(BodyLimits::default())
                .with_clients(ClientAuth::Keys(Arc::new(KeyRing::new(Arc::new(keys))))),
        );
        (live, switchyard::serve::router(state), key, revoked)
    });
    Fixture {
        rt,
        live,
        router,
        admin: ADMIN.into(),
        key,
        revoked,
    }
}

/// The admin token of the fuzz server.
const ADMIN: &str = "fuzz-admin-token";
