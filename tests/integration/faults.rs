//! The model layer against a fault-injecting OpenAI-compatible server on
//! 127.0.0.1: every fault takes the right retry or fallback path, no input
//! is lost, the ledger adds up; the circuit breaker opens, half-opens and
//! closes; the response cache hits and expires; budgets refuse calls before
//! they are sent.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::batch::BatchOptions;
use switchyard::models::{BreakerState, ModelHub};
use switchyard::pipeline::{Pipeline, RunError, RunOutcome};
use switchyard_tests::{
    batch, completion, engine, fixture, manifest, run, toml_path, MockUpstream, Reply,
};

/// A worker calling `remote` (the mock server, 2 retries, 10 ms backoff,
/// 400 ms timeout) which falls back to `backup` (sim). `extra_model` and
/// `extra_node` are appended to the model and node tables.
async fn remote(
    base_url: &str,
    extra_model: &str,
    extra_node: &str,
    extra: &str,
) -> (tempfile::TempDir, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[pipeline]
name = "faults"
{extra}

[models.remote]
provider = "openai"
base-url = "{base_url}"
price = {{ input = 1.0, output = 2.0 }}
timeout-ms = 400
retries = 2
backoff-ms = 10
max-backoff-ms = 2000
fallback = ["backup"]
{extra_model}

[models.backup]
provider = "sim"
price = {{ input = 0.5, output = 0.5 }}
sim = {{ reply = "from backup" }}

[nodes.w]
role = "worker"
component = {}
models = ["remote"]
settings = {{ do = "model", model = "remote" }}
{extra_node}
"#,
        toml_path(&fixture("worker_hostile"))
    );
    let m = manifest(dir.path(), &text).unwrap();
    let hub = ModelHub::from_env(&m.models).unwrap();
    let p = Pipeline::load(&engine(None), m)
        .await
        .map(|l| l.bind(hub))
        .unwrap();
    (dir, p)
}

fn outcomes(o: &RunOutcome) -> Vec<(String, String)> {
    o.ledger
        .iter()
        .map(|e| (e.model.clone(), e.outcome.as_str().to_string()))
        .collect()
}

fn pair(model: &str, outcome: &str) -> (String, String) {
    (model.to_string(), outcome.to_string())
}

fn assert_ledger_adds_up(o: &RunOutcome) {
    let sum: u64 = o.ledger.iter().map(|e| e.cost_pusd).sum();
    assert_eq!(o.totals.cost.0, sum);
    assert_eq!(o.totals.calls, o.ledger.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_each_transient_fault_is_retried_then_answered() {
    let ok = || completion("recovered", 10, 5);
    let cases: Vec<(&str, Reply, &str)> = vec![
        (
            "timeout",
            Reply::Delay(Duration::from_secs(3), Box::new(completion("late", 1, 1))),
            "timeout",
        ),
        (
            "slow body",
            Reply::SlowBody(
                json!({"choices": [{"message": {"content": "never finishes"}}]}).to_string(),
            ),
            "timeout",
        ),
        ("429", Reply::Json(429, "{}".into()), "rate-limited"),
        ("500", Reply::Json(500, "{}".into()), "unavailable"),
        ("503", Reply::Json(503, "{}".into()), "unavailable"),
        (
            "malformed JSON",
            Reply::Json(200, "{\"choices\": [".into()),
            "unavailable",
        ),
        ("connection reset", Reply::Reset, "unavailable"),
        (
            "truncated body",
            Reply::Truncated(json!({"choices": [{"message": {"content": "cut"}}]}).to_string()),
            "unavailable",
        ),
    ];
    for (name, fault, kind) in cases {
        let server = MockUpstream::start(vec![fault, ok()]).await;
        let (_dir, p) = remote(&server.base_url, "", "", "").await;
        let o = run(&p, name, json!({})).await;
        assert_eq!(
            o.result.as_ref().map(|v| v["content"].clone()).ok(),
            Some(json!("recovered")),
            "{name}: {:?}",
            o.result
        );
        assert_eq!(
            outcomes(&o),
            [pair("remote", kind), pair("remote", "ok")],
            "{name}"
        );
        assert_eq!(
            (
                o.ledger[1].attempt,
                o.ledger[1].input_tokens,
                o.ledger[1].output_tokens
            ),
            (1, 10, 5),
            "{name}"
        );
        // A 2xx the host could not use (malformed, cut short) may still be
        // billed upstream: it is charged at the worst case it reserved.
        let unusable_2xx = matches!(name, "malformed JSON" | "truncated body");
        let failed = &o.ledger[0];
        if unusable_2xx {
            assert_eq!(failed.output_tokens, 1024, "{name}: the reserved cap");
            assert!(failed.estimated && failed.cost.0 > 0, "{name}: {failed:?}");
        } else {
            assert_eq!(failed.cost.0, 0, "{name}: a refused attempt is free");
        }
        assert_eq!(
            o.totals.cost.0,
            10 * 1_000_000 + 5 * 2_000_000 + failed.cost.0,
            "{name}: the answered attempt, plus a billable failed one"
        );
        assert_ledger_adds_up(&o);
        assert_eq!(server.count(), 2, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_persistent_failure_takes_the_fallback_chain() {
    let server = MockUpstream::start(vec![Reply::Json(503, "{}".into())]).await;
    let (_dir, p) = remote(&server.base_url, "", "", "").await;
    let o = run(&p, "down", json!({})).await;
    assert_eq!(o.result.as_ref().unwrap()["content"], "from backup");
    // The guest is told which model answered, as the contract promises.
    assert_eq!(o.result.as_ref().unwrap()["model"], "backup");
    assert_eq!(
        outcomes(&o),
        [
            pair("remote", "unavailable"),
            pair("remote", "unavailable"),
            pair("remote", "unavailable"),
            pair("backup", "ok")
        ]
    );
    assert_eq!(o.ledger[3].fallback_from.as_deref(), Some("remote"));
    assert!(o.ledger[3].cost_pusd > 0);
    assert_ledger_adds_up(&o);
    assert_eq!(server.count(), 3, "1 attempt + 2 retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_client_errors_are_neither_retried_nor_fallen_back() {
    let server = MockUpstream::start(vec![Reply::Json(
        400,
        "{\"error\":\"context too long\"}".into(),
    )])
    .await;
    let (_dir, p) = remote(&server.base_url, "", "", "").await;
    let o = run(&p, "bad", json!({})).await;
    assert!(
        matches!(o.result, Err(RunError::Node { .. })),
        "{:?}",
        o.result
    );
    assert_eq!(outcomes(&o), [pair("remote", "invalid-request")]);
    assert_eq!(server.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_retry_after_is_honoured() {
    let server = MockUpstream::start(vec![
        Reply::Headers(
            429,
            vec![("retry-after-ms".into(), "400".into())],
            "{}".into(),
        ),
        completion("after waiting", 1, 1),
    ])
    .await;
    let (_dir, p) = remote(&server.base_url, "", "", "").await;
    let started = Instant::now();
    let o = run(&p, "ra", json!({})).await;
    assert_eq!(o.result.as_ref().unwrap()["content"], "after waiting");
    // The backoff alone is at most 10 ms; the upstream asked for 400.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_circuit_breaker_opens_half_opens_and_closes() {
    let server = MockUpstream::start(vec![
        Reply::Json(503, "{}".into()),
        Reply::Json(503, "{}".into()),
        completion("healthy again", 1, 1),
    ])
    .await;
    let (_dir, p) = remote(
        &server.base_url,
        "circuit-breaker = { window = 2, min-calls = 2, cool-down-ms = 150 }",
        "model-policy = { retries = 0 }",
        "",
    )
    .await;
    let breaker = p.hub().breaker("remote").expect("remote has a breaker");

    let first = run(&p, "1", json!({})).await;
    assert_eq!(
        outcomes(&first),
        [pair("remote", "unavailable"), pair("backup", "ok")]
    );
    assert_eq!(breaker.state(), BreakerState::Closed);
    let second = run(&p, "2", json!({})).await;
    assert_eq!(
        outcomes(&second),
        [pair("remote", "unavailable"), pair("backup", "ok")]
    );
    assert_eq!(
        breaker.state(),
        BreakerState::Open,
        "two failures of the last two calls open it"
    );

    // Open: calls fail fast to the fallback without reaching the upstream.
    let third = run(&p, "3", json!({})).await;
    assert_eq!(
        outcomes(&third),
        [pair("remote", "circuit-open"), pair("backup", "ok")]
    );
    assert_eq!(server.count(), 2);

    // After the cool-down one probe goes through; its success closes it.
    let waited = Instant::now();
    while breaker.state() == BreakerState::Open {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "the breaker never half-opened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    let fourth = run(&p, "4", json!({})).await;
    assert_eq!(outcomes(&fourth), [pair("remote", "ok")]);
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(server.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_response_cache_hits_then_expires() {
    let server = MockUpstream::start(vec![completion("fresh", 3, 2)]).await;
    let (_dir, p) = remote(
        &server.base_url,
        "",
        "cache = { ttl-ms = 300, max-entries = 10 }",
        "",
    )
    .await;
    let a = run(&p, "a", json!({"same": "question"})).await;
    let b = run(&p, "b", json!({"same": "question"})).await;
    assert_eq!(a.result.as_ref().unwrap(), b.result.as_ref().unwrap());
    assert_eq!(outcomes(&b), [pair("remote", "cache-hit")]);
    assert_eq!(b.totals.cost.0, 0, "a cache hit costs nothing");
    assert_eq!(server.count(), 1);
    let other = run(&p, "c", json!({"other": "question"})).await;
    assert_eq!(outcomes(&other), [pair("remote", "ok")]);
    assert_eq!(server.count(), 2);
    // Wait out the TTL: the same question goes upstream again.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let d = run(&p, "d", json!({"same": "question"})).await;
    assert_eq!(outcomes(&d), [pair("remote", "ok")]);
    assert_eq!(server.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_budgets_refuse_calls_before_sending_them() {
    let server = MockUpstream::start(vec![completion("fine", 10, 10)]).await;
    // The fixture asks for no max_tokens, so a call reserves prompt + 1024.
    let (_dir, p) = remote(&server.base_url, "", "", "budget = { tokens = 500 }").await;
    let o = run(&p, "b", json!({})).await;
    match &o.result {
        Err(RunError::Node {
            error: switchyard::engine::NodeError::Model { error, .. },
        }) => {
            assert_eq!(error.kind(), "budget-exceeded");
            assert!(error.to_string().contains("token budget of 500"), "{error}");
        }
        other => panic!("expected budget-exceeded, got {other:?}"),
    }
    assert_eq!(outcomes(&o), [pair("remote", "budget-exceeded")]);
    assert_eq!(o.totals.cost.0, 0);
    assert_eq!(server.count(), 0, "a refused call is never sent");

    // A node's cost budget: the call's worst case (≈1 050 tokens at
    // $1–2 per million, about $0.002) does not fit in $0.000001.
    let (_dir, p) = remote(&server.base_url, "", "budget = { usd = 0.000001 }", "").await;
    let o = run(&p, "n", json!({})).await;
    assert_eq!(outcomes(&o), [pair("remote", "budget-exceeded")]);
    assert_eq!(server.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_flaky_upstream_loses_no_input_and_the_ledger_adds_up() {
    let mut script = Vec::new();
    for i in 0..60 {
        script.push(match i % 4 {
            0 => Reply::Json(503, "{}".into()),
            1 => Reply::Reset,
            _ => completion("ok", 7, 3),
        });
    }
    let server = MockUpstream::start(script).await;
    let (_dir, p) = remote(&server.base_url, "", "", "").await;
    let input: String = (0..30)
        .map(|i| format!("{{\"id\":\"t{i}\",\"input\":{{\"n\":{i}}}}}\n"))
        .collect();
    let (records, summary) = batch(
        &p,
        input.as_bytes(),
        BatchOptions {
            concurrency: 8,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(records.len(), 30, "one record per input");
    assert!(
        records.iter().all(|r| r["ok"] == true),
        "retries and fallbacks absorbed every fault"
    );
    let entries: u64 = records
        .iter()
        .map(|r| r["ledger"].as_array().unwrap().len() as u64)
        .sum();
    let cost: u64 = records
        .iter()
        .flat_map(|r| {
            r["ledger"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["cost_pusd"].as_u64().unwrap())
        })
        .sum();
    assert_eq!(summary.totals.calls, entries);
    assert_eq!(
        summary.totals.cost.0, cost,
        "the summary is the sum of the ledger entries"
    );
    assert!(
        summary.totals.failed > 0,
        "failed attempts are in the ledger too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_endless_rate_limits_back_off_then_fall_back() {
    // An upstream that answers every request 429 with `Retry-After: 0`.
    let server = MockUpstream::start(vec![Reply::Headers(
        429,
        vec![("retry-after".into(), "0".into())],
        "{}".into(),
    )])
    .await;
    let (_dir, p) = remote(&server.base_url, "", "limits = { wall-ms = 1500 }", "").await;
    let o = run(&p, "throttled", json!({})).await;
    assert_eq!(o.result.as_ref().unwrap()["content"], "from backup");
    // With a fallback left, rate limits count as retries (1 + 2), so the
    // fallback gets its turn in time.
    assert_eq!(server.count(), 3);
    assert_eq!(
        outcomes(&o),
        [
            pair("remote", "rate-limited"),
            pair("remote", "rate-limited"),
            pair("remote", "rate-limited"),
            pair("backup", "ok")
        ]
    );
    assert_ledger_adds_up(&o);

    // With none left, they wait up to the deadline, but the pauses grow
    // (10 ms backoff: 5, 10, 20, … ms at least), so the upstream sees a
    // handful of requests in 1.5 s, not hundreds.
    let server = MockUpstream::start(vec![Reply::Headers(
        429,
        vec![("retry-after".into(), "0".into())],
        "{}".into(),
    )])
    .await;
    let (_dir, p) = remote(
        &server.base_url,
        "",
        "limits = { wall-ms = 1500 }\nmodel-policy = { fallback = [] }",
        "",
    )
    .await;
    let o = run(&p, "alone", json!({})).await;
    assert!(o.result.is_err(), "{:?}", o.result);
    let sent = server.count();
    assert!((5..=12).contains(&sent), "{sent} requests");
    assert!(outcomes(&o)
        .iter()
        .all(|(m, x)| m == "remote" && x == "rate-limited"));
    assert_eq!(
        o.ledger.len(),
        sent + 1,
        "the last pause was not waited for"
    );
    assert_ledger_adds_up(&o);
}
