//! Shared helpers for the integration tests: where the built components
//! are, writing manifests into temporary directories, loading pipelines and
//! running inputs through them.

pub mod browser;
mod otlp;
mod redis;
mod registry;
mod upstream;

use std::path::{Path, PathBuf};

pub use otlp::{AttrValue, OtlpReceiver, ReceivedSpan};
pub use redis::RedisServer;
pub use registry::Registry;
use serde_json::Value;
use switchyard::config::Manifest;
use switchyard::engine::{EngineOptions, NodeEngine};
use switchyard::models::ModelHub;
use switchyard::pipeline::{Pipeline, RunInput, RunOutcome};
pub use upstream::{Fault, SimUpstream};

/// A free port on 127.0.0.1 (bound, then released for a server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until `ready()` holds (a server answering), failing after 20 s
/// with a message naming `what`.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{what} did not answer within 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("SWITCHYARD_ROOT"))
}

/// A first-party plugin component, e.g. `judge_pii`.
pub fn plugin(name: &str) -> PathBuf {
    Path::new(env!("SWITCHYARD_PLUGINS_DIR")).join(format!("{name}.wasm"))
}

/// A test fixture component, e.g. `worker_hostile`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("SWITCHYARD_FIXTURES_DIR")).join(format!("{name}.wasm"))
}

/// A component of the hostile suite, e.g. `memory_bomb`.
pub fn hostile(name: &str) -> PathBuf {
    Path::new(env!("SWITCHYARD_HOSTILE_DIR")).join(format!("{name}.wasm"))
}

/// A first-party plugin in Python, JavaScript or C, built by `build.rs`
/// into `target/plugins/` (e.g. `judge_tone`).
pub fn polyglot(name: &str) -> PathBuf {
    let path = Path::new(env!("SWITCHYARD_POLYGLOT_DIR")).join(format!("{name}.wasm"));
    let error = env!("SWITCHYARD_POLYGLOT_ERROR");
    assert!(
        error.is_empty() && path.exists(),
        "{} was not built: {error}",
        path.display()
    );
    path
}

/// An engine with a private compile cache in `cache` (or none).
pub fn engine(cache: Option<&Path>) -> NodeEngine {
    NodeEngine::new(EngineOptions {
        cache_dir: cache.map(Path::to_path_buf),
        ..EngineOptions::default()
    })
    .expect("engine starts")
}

/// A manifest written to `dir/pipeline.toml` and parsed.
pub fn manifest(dir: &Path, text: &str) -> Result<Manifest, switchyard::config::ConfigError> {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).expect("write manifest");
    switchyard::config::load(&path)
}

/// Loads a pipeline from manifest text (components given as absolute paths).
pub async fn pipeline(dir: &Path, text: &str) -> anyhow::Result<Pipeline> {
    let m = manifest(dir, text)?;
    let hub = ModelHub::from_env(&m.models)?;
    Ok(Pipeline::load(&engine(None), m)
        .await
        .map(|l| l.bind(hub))?)
}

/// Runs one input.
pub async fn run(p: &Pipeline, id: &str, input: Value) -> RunOutcome {
    p.run(RunInput::new(id, input)).await
}

/// TOML string literal for a path.
pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// A one-worker pipeline around the hostile fixture, with `limits` (TOML
/// inline-table body, e.g. `cpu-ms = 50`) and a zero-latency sim model
/// `small` granted.
pub fn hostile_manifest(limits: &str) -> String {
    format!(
        r#"
[pipeline]
name = "hostile"
deadline-ms = 20000

[models.small]
provider = "sim"
price = {{ input = 1.0, output = 2.0 }}

[nodes.w]
role = "worker"
component = {}
models = ["small"]
limits = {{ {limits} }}
"#,
        toml_path(&fixture("worker_hostile"))
    )
}

/// A request captured by [`MockUpstream`].
#[derive(Debug, Clone)]
pub struct Captured {
    /// Request line, e.g. `POST /v1/chat/completions HTTP/1.1`.
    pub request_line: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Value,
}

/// One scripted answer of [`MockUpstream`].
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status and JSON body.
    Json(u16, String),
    /// Status, extra headers and body.
    Headers(u16, Vec<(String, String)>, String),
    /// Wait, then answer.
    Delay(std::time::Duration, Box<Reply>),
    /// Send the status line, headers and half the body, then stall.
    SlowBody(String),
    /// Close the connection without answering.
    Reset,
    /// Promise more body than is sent, then close.
    Truncated(String),
}

/// A successful chat-completions body with this content and usage.
pub fn completion(content: &str, prompt_tokens: u64, completion_tokens: u64) -> Reply {
    Reply::Json(
        200,
        serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                           "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}})
        .to_string(),
    )
}

/// A scripted OpenAI-compatible server on 127.0.0.1: answers each request
/// with the next reply of its script (repeating the last), and records what
/// it received.
pub struct MockUpstream {
    /// Base URL, e.g. `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    /// Requests received.
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<Captured>>>,
}

impl MockUpstream {
    /// Requests received so far.
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Starts the server.
    pub async fn start(script: Vec<Reply>) -> Self {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                let next = next.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut sock).await else {
                        return;
                    };
                    let mut lines = head.lines();
                    let request_line = lines.next().unwrap_or_default().to_string();
                    let headers = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    seen.lock().unwrap().push(Captured {
                        request_line,
                        headers,
                        body,
                    });
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut reply = script[n.min(script.len() - 1)].clone();
                    while let Reply::Delay(d, inner) = reply {
                        tokio::time::sleep(d).await;
                        reply = *inner;
                    }
                    let response = |status: u16,
                                    extra: &[(String, String)],
                                    body: &str,
                                    claimed: usize| {
                        let mut r = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {claimed}\r\nconnection: close\r\n");
                        for (k, v) in extra {
                            r.push_str(&format!("{k}: {v}\r\n"));
                        }
                        r.push_str("\r\n");
                        r.push_str(body);
                        r
                    };
                    match reply {
                        Reply::Json(status, body) => {
                            let _ = sock
                                .write_all(response(status, &[], &body, body.len()).as_bytes())
                                .await;
                        }
                        Reply::Headers(status, extra, body) => {
                            let _ = sock
                                .write_all(response(status, &extra, &body, body.len()).as_bytes())
                                .await;
                        }
                        Reply::SlowBody(body) => {
                            let half = &body[..body.len() / 2];
                            let _ = sock
                                .write_all(response(200, &[], half, body.len()).as_bytes())
                                .await;
                            let _ = sock.flush().await;
                            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                        }
                        Reply::Truncated(body) => {
                            let _ = sock
                                .write_all(
                                    response(200, &[], &body[..body.len() / 2], body.len())
                                        .as_bytes(),
                                )
                                .await;
                        }
                        Reply::Reset | Reply::Delay(..) => {}
                    }
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            requests,
        }
    }
}

/// Reads one HTTP/1.1 request: its head (request line and headers, as
/// text) and its `Content-Length` bytes of body. `None` if the client
/// went away first.
pub async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, len) = loop {
        let k = sock.read(&mut chunk).await.ok().filter(|k| *k > 0)?;
        buf.extend_from_slice(&chunk[..k]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let len = String::from_utf8_lossy(&buf[..i])
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + len {
        let k = sock.read(&mut chunk).await.ok().filter(|k| *k > 0)?;
        buf.extend_from_slice(&chunk[..k]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    Some((head, buf[head_end..].to_vec()))
}

/// A manifest for flow tests: `[pipeline]` (deadline 20 s), a zero-latency
/// sim model `fast`, a sim model `slow` (200 ms to first token, fixed
/// reply), then `body`, in which `{W}` stands for the hostile worker
/// fixture and `{J}` for the scripted judge fixture.
pub fn flow_manifest(body: &str) -> String {
    let header = r#"[pipeline]
name = "flow"
deadline-ms = 20000

[models.fast]
provider = "sim"

[models.slow]
provider = "sim"
sim = { ttft-ms = 200, reply = "slow answer" }
"#;
    format!(
        "{header}\n{}",
        body.replace("{W}", &toml_path(&fixture("worker_hostile")))
            .replace("{J}", &toml_path(&fixture("judge_scripted")))
    )
}

/// Runs JSONL `input` through `p` as `switchyard run` does; returns the
/// parsed output records and the summary.
pub async fn batch(
    p: &Pipeline,
    input: &[u8],
    opts: switchyard::batch::BatchOptions,
) -> (Vec<Value>, switchyard::batch::Summary) {
    let mut out = Vec::new();
    let summary = switchyard::batch::run_batch(p, input, &mut out, opts, |_| {})
        .await
        .expect("batch completes");
    let records = String::from_utf8(out)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON record"))
        .collect();
    (records, summary)
}

/// The first `n` lines of the support-triage example's tickets.
pub fn tickets(n: usize) -> Vec<u8> {
    let all = std::fs::read(root().join("examples/support-triage/tickets.jsonl")).expect("tickets");
    all.split_inclusive(|b| *b == b'\n')
        .take(n)
        .flatten()
        .copied()
        .collect()
}

/// Loads `examples/support-triage/<file>` on `engine`.
pub async fn example(engine: &NodeEngine, file: &str) -> Pipeline {
    let m = switchyard::config::load(&root().join("examples/support-triage").join(file))
        .expect("example manifest");
    let hub = ModelHub::from_env(&m.models).expect("sim models need no keys");
    Pipeline::load(engine, m)
        .await
        .map(|l| l.bind(hub))
        .expect("example loads")
}

/// Invokes one worker node of `p` directly (outside the flow) on `input`.
pub async fn run_node(
    p: &Pipeline,
    node: &switchyard::pipeline::LoadedNode,
    input: Value,
) -> Result<Value, switchyard::engine::NodeError> {
    use switchyard::engine::{NodeCall, NodeOutput, RunScope, TaskInput};
    let task = TaskInput {
        id: "direct".into(),
        input: input.to_string(),
        meta: "{}".into(),
        attempt: 0,
        feedback: Vec::new(),
    };
    let inv = p
        .engine()
        .invoke(
            &node.component,
            node.ctx.clone(),
            RunScope::detached(p.hub().clone()),
            NodeCall::Run { task },
            None,
        )
        .await;
    match inv.result? {
        NodeOutput::Output(text) => {
            Ok(serde_json::from_str(&text).expect("the sandbox checked the JSON"))
        }
        other => panic!("a worker answered {other:?}"),
    }
}

/// A `switchyard serve` running in this process on 127.0.0.1.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The live pipeline it serves.
    pub live: std::sync::Arc<switchyard::serve::LivePipeline>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `pipeline` with admin token `token` (none: admin off).
    pub async fn start(pipeline: Pipeline, token: Option<&str>) -> Self {
        Self::start_with(
            pipeline,
            token,
            switchyard::serve::ConnLimits::default(),
            switchyard::serve::BodyLimits::default(),
        )
        .await
    }

    /// Serves `pipeline` with admin token `token` and these connection and
    /// body limits.
    pub async fn start_with(
        pipeline: Pipeline,
        token: Option<&str>,
        conn: switchyard::serve::ConnLimits,
        body: switchyard::serve::BodyLimits,
    ) -> Self {
        Self::start_full(pipeline, token, conn, body, None, None).await
    }

    /// Serves `pipeline` with admin token `token`, pulling components
    /// swapped in by reference through `sources`.
    pub async fn start_with_sources(
        pipeline: Pipeline,
        token: Option<&str>,
        sources: switchyard::artifact::Sources,
    ) -> Self {
        Self::start_full(
            pipeline,
            token,
            switchyard::serve::ConnLimits::default(),
            switchyard::serve::BodyLimits::default(),
            None,
            Some(sources),
        )
        .await
    }

    /// Starts serving `pipeline`, exporting every run's trace through
    /// `telemetry`.
    pub async fn start_traced(
        pipeline: Pipeline,
        telemetry: switchyard::telemetry::Telemetry,
    ) -> Self {
        Self::start_full(
            pipeline,
            None,
            switchyard::serve::ConnLimits::default(),
            switchyard::serve::BodyLimits::default(),
            Some(telemetry),
            None,
        )
        .await
    }

    async fn start_full(
        pipeline: Pipeline,
        token: Option<&str>,
        conn: switchyard::serve::ConnLimits,
        body: switchyard::serve::BodyLimits,
        telemetry: Option<switchyard::telemetry::Telemetry>,
        sources: Option<switchyard::artifact::Sources>,
    ) -> Self {
        use switchyard::serve::{AppState, LivePipeline, Metrics, QueueLimits};
        let mut live = LivePipeline::new(pipeline, std::sync::Arc::new(Metrics::new()));
        if let Some(s) = sources {
            live = live.with_sources(s);
        }
        if let Some(t) = telemetry {
            live = live.with_telemetry(t);
        }
        let live = std::sync::Arc::new(live);
        let state = std::sync::Arc::new(
            AppState::new(
                live.clone(),
                token.map(String::from),
                QueueLimits::default(),
            )
            .with_body_limits(body),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(switchyard::serve::serve(
            listener,
            state,
            conn,
            async move {
                let _ = rx.await;
            },
        ));
        Self {
            url,
            live,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Starts a graceful shutdown and waits until every request in flight
    /// has been answered and the server has stopped.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }

    /// Starts a graceful shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for the server task (after [`begin_shutdown`](Self::begin_shutdown)).
    pub async fn join(mut self) -> std::io::Result<()> {
        self.task.take().unwrap().await.unwrap()
    }
}

/// The Python interpreter of a virtual environment `target/<name>`, made on
/// first use with `packages` from PyPI unless `import` already works in it.
fn python_venv(name: &str, import: &str, packages: &[&str]) -> PathBuf {
    let venv = root().join("target").join(name);
    let python = venv.join("bin/python");
    let ok = |py: &Path| {
        std::process::Command::new(py)
            .args(["-c", &format!("import {import}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ok(&python) {
        let status = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is needed for the Python-side tests");
        assert!(
            status.success(),
            "python3 -m venv {} failed",
            venv.display()
        );
        let status = std::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages)
            .status()
            .expect("running pip");
        assert!(
            status.success(),
            "pip install {} failed (PyPI must be reachable)",
            packages.join(" ")
        );
        assert!(
            ok(&python),
            "`import {import}` still fails in {}",
            python.display()
        );
    }
    python
}

/// A Python interpreter with the official `openai` and `prometheus-client`
/// packages (the latter for its exposition-format parser), in a virtual
/// environment under `target/` made on first use (pip install from PyPI).
pub fn python_with_openai() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        python_venv(
            "test-venv",
            "openai, prometheus_client",
            &["openai>=1.40,<3", "prometheus-client>=0.20,<1"],
        )
    })
    .clone()
}

/// The `litellm` proxy's command, from a virtual environment under
/// `target/` made (from PyPI) on first use.
pub fn litellm_bin() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        python_venv(
            "test-venv-litellm",
            "litellm.proxy.proxy_server",
            &["litellm[proxy]>=1.70,<2"],
        )
        .with_file_name("litellm")
    })
    .clone()
}

/// The `switchyard` binary of this checkout, built (debug) on first use.
pub fn switchyard_bin() -> PathBuf {
    static ONCE: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut done = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = done.as_ref() {
        return p.clone();
    }
    let mut cargo =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // `--workspace` unifies features as `cargo test --workspace` does, so
    // the dependencies it built are reused (`-p switchyard` alone would
    // rebuild Wasmtime with other features).
    cargo
        .args(["build", "--quiet", "--workspace", "--bins"])
        .current_dir(root());
    // Cargo sets these for the test process; build scripts that watch
    // them (ring's does: `rerun-if-env-changed=CARGO_MANIFEST_DIR`, …)
    // would otherwise see them changed and rebuild half the tree.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || [
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&name.as_ref())
        {
            cargo.env_remove(name.as_ref());
        }
    }
    let status = cargo.status().expect("running cargo build");
    assert!(status.success(), "cargo build --workspace --bins failed");
    // Where cargo put it: `CARGO_TARGET_DIR` when set (relative to the
    // workspace root), else `target/`.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root().join("target"), |d| root().join(d));
    let bin = target.join("debug/switchyard");
    *done = Some(bin.clone());
    bin
}

/// The resident set size of this process, in bytes (Linux).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line");
    kb * 1024
}

/// Captures everything a `tracing` subscriber writes (use it as the
/// subscriber's writer).
#[derive(Clone, Default)]
pub struct LogCapture(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts the `switchyard serve` binary on `manifest` on a free port with
/// `args`; returns the process, its URL, and a thread collecting the rest
/// of its stderr.
pub fn serve_process(
    manifest: &Path,
    args: &[&str],
) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    serve_process_with(manifest, args, None)
}

/// [`serve_process`] with the admin API on, under bearer token `token`.
pub fn serve_process_with(
    manifest: &Path,
    args: &[&str],
    token: Option<&str>,
) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(switchyard_bin());
    match token {
        Some(t) => cmd.env("SWITCHYARD_ADMIN_TOKEN", t),
        None => cmd.env_remove("SWITCHYARD_ADMIN_TOKEN"),
    };
    let mut child = cmd
        .arg("serve")
        .arg(manifest)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(rest) = line
            .split(" on ")
            .nth(1)
            .filter(|_| line.contains("serving"))
        {
            break rest.trim().to_string();
        }
    };
    let rest =
        std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    (child, url, rest)
}

/// The support-triage example's flow (its `[chat]` and `[baseline]`
/// tables, which name files beside it, left out) with components by
/// absolute path, so variants can be written anywhere.
pub fn triage_flow() -> String {
    let text = std::fs::read_to_string(root().join("examples/support-triage/pipeline.toml"))
        .expect("the example")
        .replace(
            "\"../../plugins/",
            &format!("\"{}/plugins/", root().display()),
        );
    text[..text.find("\n[chat]").expect("a [chat] table")].to_string()
}

/// The support-triage flow plus a PII guardrail in redact mode gating
/// nothing (`redactor`) and the tables `extra`, loaded on sim models.
/// Keep the directory while the pipeline is used.
pub async fn triage_with(extra: &str) -> (Pipeline, tempfile::TempDir) {
    let text = format!(
        "{}\n[nodes.redactor]\nrole = \"judge\"\ncomponent = {}\nsettings = {{ mode = \"redact\" }}\n\n{extra}\n",
        triage_flow(),
        toml_path(&plugin("judge_pii"))
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let m = manifest(dir.path(), &text).expect("the variant is valid");
    let hub = ModelHub::from_env(&m.models).expect("sim models need no keys");
    let p = Pipeline::load(&engine(None), m)
        .await
        .expect("the variant loads")
        .bind(hub);
    (p, dir)
}

/// The e-mail addresses in the first `n` support-triage tickets.
pub fn ticket_emails(n: usize) -> std::collections::BTreeSet<String> {
    String::from_utf8(tickets(n))
        .expect("the tickets are UTF-8")
        .split(|c: char| c.is_whitespace() || "\"()<>,;".contains(c))
        .filter(|w| w.contains('@') && w.contains('.'))
        .map(|w| w.trim_end_matches(['.', '?', '!', ':']).to_string())
        .collect()
}

/// The first `n` support-triage tickets run through `p` (8 at a time),
/// each recorded whole as `run --record` would.
pub async fn record_tickets(p: &Pipeline, n: usize) -> Vec<switchyard::recording::RecordedRun> {
    let shared = std::sync::Arc::new(p.clone());
    let mut runs = Vec::new();
    switchyard::batch::run_batch(
        p,
        &tickets(n)[..],
        &mut Vec::new(),
        switchyard::batch::BatchOptions {
            concurrency: 8,
            capture: true,
            ..Default::default()
        },
        |r: &switchyard::pipeline::RunRecord| {
            runs.push(switchyard::recording::RecordedRun::of(&shared, r).expect("captured"))
        },
    )
    .await
    .expect("the batch completes");
    runs
}
