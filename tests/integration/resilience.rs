//! Resilience with default settings, as an operator meets it: the
//! support-triage pipeline against a fault-injecting OpenAI-compatible
//! upstream on 127.0.0.1 (answers from the `sim` model), 240 tickets and
//! 16 in flight. Transient faults (a 429 with `Retry-After`, a 503, a 500
//! on the first try of every request) and a five-second outage lose no
//! ticket, and the ledger accounts for every request the upstream saw.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard::batch::{BatchOptions, Summary};
use switchyard::models::ModelHub;
use switchyard::pipeline::Pipeline;
use switchyard_tests::{batch, engine, litellm_bin, manifest, root, tickets, Fault, SimUpstream};

/// The support-triage example with its two models served by `base_url`
/// (default call policy and circuit breaker) and the run deadline
/// `deadline_ms`.
async fn triage_against(base_url: &str, deadline_ms: u64) -> (tempfile::TempDir, Pipeline) {
    triage_with(base_url, deadline_ms, None, None).await
}

/// [`triage_against`], with nodes' `wall-ms` raised to `wall_ms` and the
/// models sending `key` as their API key.
async fn triage_with(
    base_url: &str,
    deadline_ms: u64,
    wall_ms: Option<u64>,
    key: Option<&str>,
) -> (tempfile::TempDir, Pipeline) {
    let example = root().join("examples/support-triage");
    let text = std::fs::read_to_string(example.join("pipeline.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let abs = |rel: &str| {
        example
            .join(rel)
            .to_string_lossy()
            .replace('\\', "/")
            .to_string()
    };
    let mut out = String::new();
    for line in text.lines() {
        let line = if line.starts_with("provider = \"sim\"") {
            let key_env = if key.is_some() {
                "\napi-key-env = \"UPSTREAM_KEY\""
            } else {
                ""
            };
            format!("provider = \"openai\"\nbase-url = \"{base_url}\"{key_env}")
        } else if let (Some(wall), true) = (wall_ms, line.starts_with("wall-ms")) {
            format!("wall-ms = {wall}")
        } else if line.starts_with("sim = ") {
            String::new()
        } else if line.starts_with("deadline-ms") {
            format!("deadline-ms = {deadline_ms}")
        } else if let Some(rest) = line.strip_prefix("component = \"") {
            format!("component = \"{}", abs(rest))
        } else if let Some(rest) = line.strip_prefix("system-file = \"") {
            format!("system-file = \"{}", abs(rest))
        } else if let Some(rest) = line.strip_prefix("output-schema = \"") {
            format!("output-schema = \"{}", abs(rest))
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    let m = manifest(dir.path(), &out).unwrap();
    let hub = ModelHub::build(&m.models, |var| {
        (var == "UPSTREAM_KEY").then(|| key.unwrap_or_default().to_string())
    })
    .unwrap();
    let p = Pipeline::load(&engine(None), m)
        .await
        .map(|l| l.bind(hub))
        .unwrap();
    (dir, p)
}

/// Every record ok, one per ticket, and the ledger = the summary = what
/// the upstream saw (attempts the breaker or a pause kept back never
/// reached it).
fn assert_no_ticket_lost(
    what: &str,
    records: &[Value],
    summary: &Summary,
    upstream: &SimUpstream,
    all_reached_it: bool,
) {
    assert_eq!(records.len(), 240, "{what}: one record per ticket");
    let failed: Vec<&Value> = records.iter().filter(|r| r["ok"] != true).collect();
    assert!(
        failed.is_empty(),
        "{what}: {} of 240 failed, e.g. {}",
        failed.len(),
        failed[0]["error"]
    );
    let entries: Vec<&Value> = records
        .iter()
        .flat_map(|r| r["ledger"].as_array().unwrap())
        .collect();
    assert_eq!(summary.totals.calls, entries.len() as u64, "{what}");
    let answered = entries.iter().filter(|e| e["outcome"] == "ok").count();
    assert_eq!(
        answered,
        upstream.answered(),
        "{what}: answers = upstream's"
    );
    if all_reached_it {
        let sent = entries
            .iter()
            .filter(|e| e["outcome"] != "circuit-open" && e["outcome"] != "cache-hit")
            .count();
        assert_eq!(sent, upstream.requests(), "{what}: ledger = upstream");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resilience_transient_faults_at_16_in_flight_lose_no_ticket() {
    let faults = [
        (
            "429 with Retry-After",
            Fault::FirstTry {
                status: 429,
                header: Some(("retry-after-ms", "100")),
            },
        ),
        (
            "503",
            Fault::FirstTry {
                status: 503,
                header: None,
            },
        ),
        (
            "500",
            Fault::FirstTry {
                status: 500,
                header: None,
            },
        ),
    ];
    for (what, fault) in faults {
        let upstream = SimUpstream::start(fault, Duration::from_millis(5)).await;
        let (_dir, p) = triage_against(&upstream.base_url, 30_000).await;
        let (records, summary) = batch(
            &p,
            &tickets(240),
            BatchOptions {
                concurrency: 16,
                ..Default::default()
            },
        )
        .await;
        assert_no_ticket_lost(what, &records, &summary, &upstream, true);
        assert!(
            summary.calls.failed > 0,
            "{what}: the faults were met and absorbed"
        );
    }
}

/// Starts the 240-ticket batch at 16 in flight in the background, and
/// returns once `upstream` has answered `answers` requests: the middle of
/// the batch.
async fn batch_until_answered(
    p: &Pipeline,
    upstream: &SimUpstream,
    answers: usize,
) -> tokio::task::JoinHandle<(Vec<Value>, Summary)> {
    let input = tickets(240);
    let run = tokio::spawn({
        let p = p.clone();
        async move {
            batch(
                &p,
                &input,
                BatchOptions {
                    concurrency: 16,
                    ..Default::default()
                },
            )
            .await
        }
    });
    while upstream.answered() < answers {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resilience_a_five_second_outage_loses_no_ticket() {
    let upstream = SimUpstream::start(Fault::None, Duration::from_millis(20)).await;
    let (_dir, p) = triage_against(&upstream.base_url, 60_000).await;
    // In the middle of the batch the upstream dies for five seconds.
    let run = batch_until_answered(&p, &upstream, 200).await;
    upstream.go_down().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    upstream.come_back().await;
    let back = upstream.requests();
    let (records, summary) = run.await.unwrap();
    assert!(
        upstream.requests() > back,
        "the restarted upstream was used again"
    );
    // Calls refused by the dead port never reached it: only answers are
    // compared.
    assert_no_ticket_lost("outage", &records, &summary, &upstream, false);
    assert!(summary.calls.failed > 0, "the outage was met");
}

/// A LiteLLM proxy (the real one, from PyPI) on 127.0.0.1:`port` in front
/// of `upstream`, serving both of the example's models.
fn litellm(dir: &Path, port: u16, upstream: &str) -> Child {
    let config = dir.join("litellm.yaml");
    let models: String = ["sim-small-1", "sim-frontier-1", "small", "frontier"]
        .iter()
        .map(|m| {
            format!(
                "  - model_name: {m}\n    litellm_params:\n      model: openai/{m}\n      api_base: {upstream}\n      api_key: none\n"
            )
        })
        .collect();
    std::fs::write(
        &config,
        format!(
            "model_list:\n{models}litellm_settings:\n  num_retries: 0\n  request_timeout: 30\n"
        ),
    )
    .unwrap();
    Command::new(litellm_bin())
        .arg("--config")
        .arg(&config)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_MASTER_KEY", LITELLM_KEY)
        .env("NO_PROXY", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting litellm")
}

const LITELLM_KEY: &str = "sk-switchyard-test";

/// Waits until the proxy on `port` answers its liveness route.
async fn until_live(port: u16) {
    let url = format!("http://127.0.0.1:{port}/health/liveliness");
    let started = Instant::now();
    loop {
        if reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "litellm did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resilience_a_litellm_proxy_restarted_mid_run_loses_no_ticket() {
    let upstream = SimUpstream::start(Fault::None, Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut proxy = litellm(dir.path(), port, &upstream.base_url);
    until_live(port).await;
    let base = format!("http://127.0.0.1:{port}/v1");
    // The run deadline is 60 s, and a node may use all of it: the proxy
    // takes about ten seconds to start again.
    let (_m, p) = triage_with(&base, 60_000, Some(60_000), Some(LITELLM_KEY)).await;
    let run = batch_until_answered(&p, &upstream, 200).await;
    // Killed mid-run, and started again.
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    let mut proxy = litellm(dir.path(), port, &upstream.base_url);
    until_live(port).await;
    let (records, _summary) = run.await.unwrap();
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    assert_eq!(records.len(), 240);
    let failed: Vec<&Value> = records.iter().filter(|r| r["ok"] != true).collect();
    assert!(
        failed.is_empty(),
        "{} of 240 failed, e.g. {}",
        failed.len(),
        failed[0]["error"]
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
