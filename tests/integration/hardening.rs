//! Hardening: everything a node hands back and everything a client sends
//! is untrusted. Each class an attack pass found has a hostile fixture (or
//! a hostile client) here, contained with its typed error, while benign
//! work beside it carries on: schemas a component declares, oversized
//! errors and verdicts, `extra-json` overrides, host work a node causes,
//! waits for an instance slot, forged log lines, pool shares, admin bodies,
//! slow clients, and metric labels.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard::engine::{EngineOptions, NodeCall, NodeEngine, NodeError, RunScope, TaskInput};
use switchyard::models::{ModelError, ModelHub};
use switchyard::pipeline::{Pipeline, RunError};
use switchyard::serve::{BodyLimits, ConnLimits};
use switchyard_tests::{
    completion, engine, fixture, hostile, manifest, pipeline, python_with_openai, rss_bytes, run,
    run_node, toml_path, LogCapture, MockUpstream, Reply, TestServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn task(input: &Value) -> TaskInput {
    TaskInput {
        id: "t".into(),
        input: input.to_string(),
        meta: "{}".into(),
        attempt: 0,
        feedback: Vec::new(),
    }
}

/// A manifest of `[nodes.<name>]` tables appended to a header with a sim
/// model `small` and suite-wide limits.
fn suite(nodes: &str) -> String {
    format!(
        r#"[pipeline]
name = "hardening"
deadline-ms = 30000

[models.small]
provider = "sim"

[defaults.limits]
cpu-ms = 200
memory-mb = 32
output-kb = 64
{nodes}"#
    )
}

fn node(name: &str, role: &str, component: &std::path::Path, extra: &str) -> String {
    format!(
        "\n[nodes.{name}]\nrole = \"{role}\"\ncomponent = {}\n{extra}\n",
        toml_path(component)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_component_declarations_are_bounded_at_load() {
    let cases = [
        (
            "schema_bomb",
            "expands (following its `$ref`s) to more than",
        ),
        ("huge_schema", "one crossing to the host"),
        ("forged_version", "is not a semantic version"),
    ];
    for (name, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let text = suite(&node("x", "worker", &hostile(name), ""));
        let started = Instant::now();
        let err = pipeline(dir.path(), &text).await.expect_err(name);
        let msg = format!("{err:#}");
        assert!(msg.contains("node `x`"), "{name}: {msg}");
        assert!(msg.contains("past a bound"), "{name}: {msg}");
        assert!(msg.contains(needle), "{name}: {msg}");
        assert!(
            !msg.contains("switchyard_runs_total{outcome=\"ok\"} 1000000\n"),
            "{msg}"
        );
        // Refused at once, not after exponential work.
        assert!(started.elapsed() < Duration::from_secs(20), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_returned_values_are_bounded_beside_benign_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = node("benign", "worker", &fixture("worker_hostile"), "");
    for w in ["error_flood", "error_long"] {
        nodes += &node(&w.replace('_', "-"), "worker", &hostile(w), "");
    }
    for j in ["reason_flood", "many_reasons"] {
        nodes += &node(&j.replace('_', "-"), "judge", &hostile(j), "");
    }
    let p = pipeline(dir.path(), &suite(&nodes)).await.unwrap();
    let baseline = rss_bytes();

    let benign = {
        let p = p.clone();
        tokio::spawn(async move {
            let node = p.node("benign").unwrap().clone();
            let mut failures = Vec::new();
            for i in 0..200 {
                if let Err(e) = run_node(&p, &node, json!({"i": i})).await {
                    failures.push(e);
                }
            }
            failures
        })
    };
    // (node, the field the error names, text the message must contain)
    let cases = [
        (
            "error-flood",
            "one crossing to the host",
            "more than 131072 bytes",
        ),
        (
            "error-long",
            "error message",
            "102400 bytes of error message",
        ),
        (
            "reason-flood",
            "one crossing to the host",
            "output limit of 65536 bytes",
        ),
        (
            "many-reasons",
            "reason count",
            "65 reasons, over its output limit of 64 reasons",
        ),
    ];
    for round in 0..3 {
        for (name, field, needle) in cases {
            let n = p.node(name).unwrap();
            let call = if name.starts_with("error") {
                NodeCall::Run {
                    task: task(&json!({"round": round})),
                }
            } else {
                NodeCall::Judge {
                    task: task(&json!({"round": round})),
                    candidate: "{}".into(),
                }
            };
            let inv = p
                .engine()
                .invoke(
                    &n.component,
                    n.ctx.clone(),
                    RunScope::detached(p.hub().clone()),
                    call,
                    None,
                )
                .await;
            let err = inv.result.expect_err(name);
            match &err {
                NodeError::OutputLimit { node, field: f, .. } => {
                    assert_eq!((node.as_str(), f.as_str()), (name, field), "{err}")
                }
                other => panic!("{name}: expected output-limit, got {other}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(needle), "{name}: {msg}");
            // The oversized value was never copied into the error.
            assert!(msg.len() < 512, "{name}: {} bytes", msg.len());
        }
    }
    assert_eq!(benign.await.unwrap(), Vec::<NodeError>::new());
    let grown = rss_bytes().saturating_sub(baseline);
    eprintln!(
        "RSS grew by {} KiB over 12 hostile returns and 200 benign runs",
        grown >> 10
    );
    assert!(grown < 96 << 20, "RSS grew by {} MiB", grown >> 20);
}

/// A pipeline whose nodes call the OpenAI-compatible `upstream`, each with
/// its own `extra` setting.
async fn remote(dir: &std::path::Path, base_url: &str, extras: &[(&str, &str)]) -> Pipeline {
    let mut text = format!(
        r#"[pipeline]
name = "extra"

[models.remote]
provider = "openai"
upstream = "cheap-model"
base-url = "{base_url}"
price = {{ input = 1.0, output = 2.0 }}
retries = 0
"#
    );
    for (name, extra) in extras {
        text += &node(
            name,
            "worker",
            &fixture("worker_hostile"),
            &format!("models = [\"remote\"]\nsettings = {{ do = \"model\", model = \"remote\", extra = {extra} }}"),
        );
    }
    let m = manifest(dir, &text).unwrap();
    let hub = ModelHub::from_env(&m.models).unwrap();
    Pipeline::load(&engine(None), m)
        .await
        .map(|l| l.bind(hub))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_extra_json_cannot_override_what_the_host_decides() {
    let upstream = MockUpstream::start(vec![completion("fine", 10, 2)]).await;
    let dir = tempfile::tempdir().unwrap();
    let refused = [
        ("model", r#"{ model = "frontier" }"#),
        ("max_tokens", "{ max_tokens = 100000 }"),
        (
            "max_completion_tokens",
            "{ max_completion_tokens = 100000 }",
        ),
        ("n", "{ n = 32 }"),
        ("stream", "{ stream = true }"),
        (
            "stream_options",
            "{ stream_options = { include_usage = false } }",
        ),
        ("messages", r#"{ messages = [] }"#),
        ("tools", "{ tools = [] }"),
        ("logprobs", "{ logprobs = true }"),
        (
            "response_format",
            r#"{ response_format = { type = "json_object" } }"#,
        ),
    ];
    let mut extras: Vec<(String, &str)> = refused
        .iter()
        .map(|(k, e)| (format!("refuse-{}", k.replace('_', "-")), *e))
        .collect();
    extras.push((
        "allowed".into(),
        r#"{ top_p = 0.5, seed = 7, stop = ["\n\n"] }"#,
    ));
    let named: Vec<(&str, &str)> = extras.iter().map(|(n, e)| (n.as_str(), *e)).collect();
    let p = remote(dir.path(), &upstream.base_url, &named).await;

    for (key, _) in refused {
        let name = format!("refuse-{}", key.replace('_', "-"));
        let n = p.node(&name).unwrap();
        let err = run_node(&p, n, json!({})).await.expect_err(key);
        match &err {
            NodeError::Model {
                error: ModelError::InvalidRequest(m),
                ..
            } => assert!(m.contains(&format!("`{key}` is not allowed")), "{m}"),
            other => panic!("{key}: expected invalid-request, got {other}"),
        }
    }
    assert_eq!(
        upstream.count(),
        0,
        "a refused request reached the upstream"
    );

    // Allowed sampling parameters go through; the host's fields stay the
    // host's, and the body always carries the output cap it reserved.
    let ok = run_node(&p, p.node("allowed").unwrap(), json!({}))
        .await
        .unwrap();
    assert_eq!(ok["content"], "fine");
    let reqs = upstream.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1);
    let body = &reqs[0].body;
    assert_eq!(body["model"], "cheap-model");
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(body["top_p"], 0.5);
    assert_eq!(body["seed"], 7);
    for absent in ["n", "stream", "max_completion_tokens"] {
        assert!(body.get(absent).is_none(), "{absent} in {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_an_unusable_2xx_is_billed_at_the_reserved_worst_case() {
    // A 200 whose body is not a completion (for example an SSE stream the
    // host did not ask for): the upstream may bill it, so must we.
    let upstream = MockUpstream::start(vec![Reply::Json(
        200,
        "data: {\"choices\":[]}\n\ndata: [DONE]\n".into(),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let p = remote(dir.path(), &upstream.base_url, &[("w", "{}")]).await;
    let o = run(&p, "r", json!({"do": "model"})).await;
    assert!(o.result.is_err());
    assert_eq!(upstream.count(), 1);
    assert_eq!(o.ledger.len(), 1, "{:?}", o.ledger);
    let e = &o.ledger[0];
    assert_eq!(e.outcome, "unavailable");
    assert_eq!(e.output_tokens, 1024, "the reserved output cap");
    assert!(e.input_tokens > 0 && e.estimated, "{e:?}");
    let want = p
        .hub()
        .spec("remote")
        .unwrap()
        .price
        .cost(e.input_tokens, 1024);
    assert_eq!(e.cost, want);
    assert!(e.cost_pusd > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_host_work_is_charged_to_the_node_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let text = suite(&node(
        "x",
        "worker",
        &hostile("host_work"),
        "limits = { cpu-ms = 50, output-kb = 65536, memory-mb = 128, host-calls = 100000 }",
    ));
    let p = pipeline(dir.path(), &text).await.unwrap();
    let n = p.node("x").unwrap();
    let inv = p
        .engine()
        .invoke(
            &n.component,
            n.ctx.clone(),
            RunScope::detached(p.hub().clone()),
            NodeCall::Run {
                task: task(&json!({})),
            },
            None,
        )
        .await;
    let err = inv.result.expect_err("host-work");
    assert!(
        matches!(err, NodeError::CpuLimit { limit_ms: 50, .. }),
        "{err}"
    );
    // Each call copies 32 MiB (several ms of host time). Charged one tick
    // per call, as before, it would have made about fifty calls.
    assert!(
        inv.usage.host_calls < 25,
        "{} host calls were made before the CPU limit stopped it",
        inv.usage.host_calls
    );
    assert!(inv.usage.cpu_ticks >= 50, "{:?}", inv.usage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_waiting_for_an_instance_slot_is_a_typed_busy_error_within_the_wall_limit() {
    let engine = NodeEngine::new(EngineOptions {
        cache_dir: None,
        max_instances: 2,
        ..EngineOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[pipeline]
name = "busy"

[models.slow]
provider = "sim"
sim = {{ ttft-ms = 60000 }}
{}{}"#,
        node("hog", "worker", &hostile("marker_a"), "models = [\"slow\"]"),
        node(
            "benign",
            "worker",
            &fixture("worker_hostile"),
            "limits = { wall-ms = 300 }"
        )
    );
    let m = manifest(dir.path(), &text).unwrap();
    let hub = ModelHub::from_env(&m.models).unwrap();
    let p = Pipeline::load(&engine, m)
        .await
        .map(|l| l.bind(hub))
        .unwrap();
    let hogs: Vec<_> = (0..2)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move {
                let n = p.node("hog").unwrap().clone();
                run_node(&p, &n, json!({"hog": i})).await
            })
        })
        .collect();
    // Wait until both hogs hold their slot (they sleep on the model, using
    // no CPU).
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.pool_free_slots() > 0 {
        assert!(Instant::now() < deadline, "the hogs never took the pool");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let err = run_node(&p, p.node("benign").unwrap(), json!({}))
        .await
        .expect_err("no slot");
    let waited = started.elapsed();
    match &err {
        NodeError::Busy {
            node,
            waited_ms,
            pool,
        } => {
            assert_eq!(node, "benign");
            assert!(*waited_ms >= 290, "{err}");
            assert!(pool.contains("(2 slots)"), "{err}");
        }
        other => panic!("expected busy, got {other}"),
    }
    assert_eq!(err.kind(), "busy");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    for h in hogs {
        h.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_a_component_needing_more_than_its_pool_share_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let instances: String = (0..9)
        .map(|i| format!("(core instance $i{i} (instantiate $m))\n"))
        .collect();
    let wat = format!("(component\n(core module $m (memory 1))\n{instances})");
    let path = dir.path().join("nine-memories.wasm");
    std::fs::write(&path, wat).unwrap();
    let err = pipeline(dir.path(), &suite(&node("wide", "worker", &path, "")))
        .await
        .expect_err("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("node `wide`"), "{msg}");
    assert!(
        msg.contains("more of the engine's instance pool than one instance may take"),
        "{msg}"
    );
    assert!(msg.contains("9 Wasm linear memories"), "{msg}");
    assert!(msg.contains("split the component"), "the hint: {msg}");
}

// A current-thread runtime: the guest runs inline on this thread, so the
// thread-local subscriber sees its output.
#[tokio::test]
async fn hardening_guest_log_lines_cannot_forge_host_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        &suite(&node("x", "worker", &hostile("log_forge"), "")),
    )
    .await
    .unwrap();
    let captured = LogCapture::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let o = run(&p, "forge", json!({})).await;
    drop(guard);
    assert!(o.result.is_ok(), "{:?}", o.result);
    let text = captured.text();
    for line in text.lines() {
        assert!(!line.starts_with("ERROR"), "a forged line: {line}");
        assert!(!line.contains('\r') && !line.contains('\u{1b}'), "{line:?}");
    }
    let warn = text
        .lines()
        .find(|l| l.contains("benign"))
        .unwrap_or_else(|| panic!("no guest line in:\n{text}"));
    assert!(warn.contains("node=\"x\""), "{warn}");
    assert!(
        warn.contains(r"benign\nERROR switchyard: forged host line\r\u{1b}[2K"),
        "{warn}"
    );
    assert!(
        text.contains(r"out\rERROR switchyard: forged stdout line"),
        "{text}"
    );
}

/// Sends `head` on a fresh connection and reads until the server answers
/// or closes; the status line.
async fn raw_status(addr: &str, head: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the server answered without waiting for the body");
    let text = String::from_utf8_lossy(&buf);
    text.lines().next().unwrap_or_default().to_string()
}

async fn benign_pipeline(dir: &std::path::Path) -> Pipeline {
    pipeline(
        dir,
        &suite(&node("w", "worker", &fixture("worker_hostile"), "")),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_serve_admin_routes_refuse_before_reading_a_body() {
    let dir = tempfile::tempdir().unwrap();
    let put = |auth: &str, len: u64| {
        format!("PUT /admin/nodes/w HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {len}\r\n\r\n")
    };
    // Admin off: refused, whatever the body claims to be.
    let off = TestServer::start(benign_pipeline(dir.path()).await, None).await;
    let addr = off.url.trim_start_matches("http://").to_string();
    let baseline = rss_bytes();
    for _ in 0..8 {
        let status = raw_status(&addr, &put("", 1 << 30)).await;
        assert!(status.contains(" 403 "), "{status}");
    }
    let status = raw_status(&addr, &put("Authorization: Bearer guess\r\n", 1 << 30)).await;
    assert!(status.contains(" 403 "), "{status}");
    off.stop().await.unwrap();

    let on = TestServer::start(benign_pipeline(dir.path()).await, Some("s3cret")).await;
    let addr = on.url.trim_start_matches("http://").to_string();
    for auth in ["", "Authorization: Bearer wrong\r\n"] {
        let status = raw_status(&addr, &put(auth, 1 << 30)).await;
        assert!(status.contains(" 401 "), "{status}");
    }
    // Authorised, but declaring more than a component may be: 413 unread.
    let status = raw_status(&addr, &put("Authorization: Bearer s3cret\r\n", 1 << 30)).await;
    assert!(status.contains(" 413 "), "{status}");
    // A runs body over its bound is refused unread too.
    let status = raw_status(
        &addr,
        "POST /v1/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n",
    )
    .await;
    assert!(status.contains(" 413 "), "{status}");
    let grown = rss_bytes().saturating_sub(baseline);
    assert!(grown < 64 << 20, "RSS grew by {} MiB", grown >> 20);
    on.stop().await.unwrap();
}

/// Fetches `/healthz` on a new connection; its latency.
async fn healthz(url: &str) -> Duration {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let r = client
        .get(format!("{url}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("/healthz answered");
    assert_eq!(r.status(), 200);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_serve_slow_clients_cannot_starve_healthz_or_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        benign_pipeline(dir.path()).await,
        None,
        ConnLimits {
            max_connections: 64,
            header_timeout: Duration::from_secs(2),
        },
        BodyLimits {
            timeout: Duration::from_secs(2),
            ..BodyLimits::default()
        },
    )
    .await;
    let addr = server.url.trim_start_matches("http://").to_string();
    let baseline = rss_bytes();
    // 200 slow clients, more than the server takes: half never finish
    // their headers, half never finish their body.
    let mut held = Vec::new();
    for i in 0..200 {
        let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
            continue;
        };
        let head = if i % 2 == 0 {
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_string()
        } else {
            "POST /v1/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"input\":"
                .to_string()
        };
        let _ = s.write_all(head.as_bytes()).await;
        held.push(s);
    }
    let mut worst = Duration::ZERO;
    // No pooled connection: each request is a new client, as a health
    // checker would be.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for i in 0..40 {
        worst = worst.max(healthz(&server.url).await);
        if i % 4 == 0 {
            let r = client
                .post(format!("{}/v1/runs", server.url))
                .json(&json!({"input": {"i": i}}))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .expect("a run answered");
            assert_eq!(r.status(), 200);
        }
    }
    eprintln!(
        "/healthz beside {} slow connections: worst {:?}",
        held.len(),
        worst
    );
    assert!(
        worst < Duration::from_millis(500),
        "worst /healthz {worst:?}"
    );
    let grown = rss_bytes().saturating_sub(baseline);
    assert!(grown < 64 << 20, "RSS grew by {} MiB", grown >> 20);
    drop(held);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_serve_an_expensive_component_schema_never_stalls_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        &suite(&node(
            "slow",
            "worker",
            &hostile("slow_schema"),
            "limits = { output-kb = 1024 }",
        )),
    )
    .await
    .unwrap();
    let server = TestServer::start(p, None).await;
    let client = reqwest::Client::new();
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let (client, url) = (client.clone(), server.url.clone());
            tokio::spawn(async move {
                client
                    .post(format!("{url}/v1/runs"))
                    .json(&json!({"input": {"i": i}}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        worst = worst.max(healthz(&server.url).await);
    }
    for r in runs {
        let status = r.await.unwrap().unwrap();
        // Refused by its own schema, or past the validation budget.
        assert!(matches!(status, 422 | 502), "status {status}");
    }
    eprintln!("/healthz beside expensive schema checks: worst {worst:?}");
    assert!(
        worst < Duration::from_millis(500),
        "worst /healthz {worst:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_serve_metrics_cannot_be_forged_and_parse_with_the_official_parser() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(benign_pipeline(dir.path()).await, Some("tok")).await;
    let client = reqwest::Client::new();
    // A component whose version would forge a sample is refused.
    let bytes = std::fs::read(hostile("forged_version")).unwrap();
    let r = client
        .put(format!("{}/admin/nodes/w", server.url))
        .bearer_auth("tok")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("not a semantic version"), "{msg}");
    // Hostile strings that do reach labels (an unknown node named in a
    // swap is not one; a run's error kind and node are) stay escaped.
    for i in 0..3 {
        let r = client
            .post(format!("{}/v1/runs", server.url))
            .json(&json!({"input": {"i": i}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let text = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parsed = parse_metrics(&text);
    let forged = parsed
        .iter()
        .any(|s| s["name"] == "switchyard_runs_total" && s["value"].as_f64() == Some(1e6));
    assert!(!forged, "{text}");
    assert!(
        parsed
            .iter()
            .any(|s| s["name"] == "switchyard_runs_total" && s["value"].as_f64() == Some(3.0)),
        "{text}"
    );
    server.stop().await.unwrap();
}

/// Parses exposition text with the official Python client's OpenMetrics
/// parser; every sample as `{"name", "labels", "value"}`.
fn parse_metrics(text: &str) -> Vec<Value> {
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new(python_with_openai())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the official parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_an_oversized_error_never_reaches_the_run_record() {
    // The record of a run (batch output, served answer) carries the typed
    // `output-limit` error, never the node's oversized message.
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        &suite(&node("x", "worker", &hostile("error_long"), "")),
    )
    .await
    .unwrap();
    let o = run(&p, "r", json!({})).await;
    match &o.result {
        Err(RunError::Node {
            error: NodeError::OutputLimit { field, .. },
        }) => assert_eq!(field, "error message"),
        other => panic!("{other:?}"),
    }
    let record = serde_json::to_string(&o.trace).unwrap();
    assert!(
        record.len() < 4096,
        "the trace copied the message: {} bytes",
        record.len()
    );
}
