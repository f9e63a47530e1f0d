//! Scale-out on shared state, against a real `redis-server` on 127.0.0.1:
//! three `serve` replicas hold one rate limit together, where without
//! shared state each replica allows the whole limit; with Redis gone each
//! replica counts alone, keeps answering and says `degraded`; sharing
//! resumes when Redis is back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::StreamExt;
use serde_json::{json, Value};
use switchyard_tests::{fixture, serve_process, toml_path, RedisServer};

/// Calls per minute the model allows.
const LIMIT: usize = 30;

fn limited_manifest(dir: &Path) -> PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(
        &path,
        format!(
            r#"[pipeline]
name = "scaleout"
deadline-ms = 20000

[models.limited]
provider = "sim"
rate-limit = {{ requests-per-minute = {LIMIT}, on-limit = "fail" }}

[nodes.caller]
role = "worker"
component = {worker}
models = ["limited"]
settings = {{ do = "model", model = "limited" }}
"#,
            worker = toml_path(&fixture("worker_hostile")),
        ),
    )
    .unwrap();
    path
}

/// What `n` runs spread over `urls` (6 at a time) came to: answered,
/// refused over the rate limit (never sent: an `over-limit` ledger entry),
/// and anything else.
async fn fire(client: &reqwest::Client, urls: &[String], n: usize) -> (usize, usize, Vec<String>) {
    let answers: Vec<(u16, Value)> = futures::stream::iter(0..n)
        .map(|i| {
            let url = format!("{}/v1/runs", urls[i % urls.len()]);
            let client = client.clone();
            async move {
                let r = client
                    .post(url)
                    .json(&json!({ "input": { "i": i } }))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    let mut ok = 0;
    let mut limited = 0;
    let mut other = Vec::new();
    for (status, body) in answers {
        let outcomes: Vec<&str> = body["ledger"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["outcome"].as_str())
            .collect();
        match (status, outcomes.as_slice()) {
            (200, ["ok"]) => ok += 1,
            (_, ["over-limit"]) => limited += 1,
            _ => other.push(format!("{status} {body}")),
        }
    }
    (ok, limited, other)
}

async fn metrics(client: &reqwest::Client, url: &str) -> String {
    client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn health(client: &reqwest::Client, url: &str) -> Value {
    client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_three_replicas_on_one_redis_hold_one_rate_limit() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = limited_manifest(dir.path());
    let client = reqwest::Client::new();

    let shared: Vec<_> = (0..3)
        .map(|_| serve_process(&manifest, &["--state-url", &redis.url()]))
        .collect();
    let urls: Vec<String> = shared.iter().map(|(_, url, _)| url.clone()).collect();
    let started = Instant::now();
    let (ok, limited, other) = fire(&client, &urls, 120).await;
    let secs = started.elapsed().as_secs_f64();
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(ok + limited, 120);
    // GCRA: a minute's quota at once, then one call per 60 s / LIMIT.
    let refilled = (secs * LIMIT as f64 / 60.0).ceil() as usize;
    assert!(
        (LIMIT..=LIMIT + refilled).contains(&ok),
        "three replicas on one Redis answered {ok} calls in {secs:.1} s; the limit allows {LIMIT} + {refilled}"
    );
    assert_eq!(health(&client, &urls[0]).await["shared_state"], "ok");

    // Without shared state, each replica allows the whole limit.
    let alone: Vec<_> = (0..3).map(|_| serve_process(&manifest, &[])).collect();
    let alone_urls: Vec<String> = alone.iter().map(|(_, url, _)| url.clone()).collect();
    let (ok_alone, _, other) = fire(&client, &alone_urls, 120).await;
    assert!(other.is_empty(), "{other:?}");
    assert!(
        ok_alone >= 3 * LIMIT,
        "three lone replicas answered only {ok_alone}"
    );

    // Redis gone: the replica counts alone (its own count untouched, so a
    // whole limit), keeps answering, and says so.
    redis.stop();
    let started = Instant::now();
    let (ok_down, limited_down, other) = fire(&client, &urls[..1], LIMIT + 10).await;
    let secs = started.elapsed().as_secs_f64();
    let refilled = (secs * LIMIT as f64 / 60.0).ceil() as usize;
    assert!(other.is_empty(), "{other:?}");
    assert!(
        (LIMIT..=LIMIT + refilled).contains(&ok_down) && ok_down + limited_down == LIMIT + 10,
        "with Redis down one replica answered {ok_down}, refused {limited_down} in {secs:.1} s"
    );
    let h = health(&client, &urls[0]).await;
    assert_eq!(
        (h["status"].as_str(), h["shared_state"].as_str()),
        (Some("degraded"), Some("unreachable")),
        "{h}"
    );

    // Redis back (empty): the next call is counted there again, and
    // answered (the replica's own count is used up).
    redis.restart();
    let (ok_back, _, other) = fire(&client, &urls[..1], 1).await;
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(
        ok_back, 1,
        "the first call after Redis returned was not counted there"
    );
    let h = health(&client, &urls[0]).await;
    assert_eq!(h["status"], "ok", "{h}");
    assert!(metrics(&client, &urls[0])
        .await
        .contains("switchyard_shared_state_degraded 0"));

    for (mut child, _, _) in shared.into_iter().chain(alone) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn scaleout_rate_limit_and_state_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = |model_extra: &str, state: &str| {
        format!(
            "[pipeline]\nname = \"t\"\n\n[models.m]\nprovider = \"sim\"\n{model_extra}\n\n{state}\n\n[nodes.w]\nrole = \"worker\"\ncomponent = {}\nmodels = [\"m\"]\n",
            toml_path(&fixture("worker_hostile"))
        )
    };
    for (model_extra, state, says) in [
        (
            "rate-limit = { on-limit = \"fail\" }",
            "",
            "`rate-limit` sets no limit",
        ),
        (
            "rate-limit = { requests-per-minute = 0 }",
            "",
            "`rate-limit.requests-per-minute` is 0",
        ),
        (
            "rate-limit = { tokens-per-minute = 0 }",
            "",
            "`rate-limit.tokens-per-minute` is 0",
        ),
        (
            "rate-limit = { requests-per-minute = 5, on-limit = \"drop\" }",
            "",
            "unknown `rate-limit.on-limit` `drop`",
        ),
        ("", "[state]\nbackend = \"redis\"", "needs a `url`"),
        (
            "",
            "[state]\nbackend = \"redis\"\nurl = \"http://x:6379\"",
            "not a redis:// or rediss:// URL",
        ),
        (
            "",
            "[state]\nurl = \"redis://x:6379\"",
            "the backend is local",
        ),
        (
            "",
            "[state]\nbackend = \"etcd\"",
            "unknown `[state] backend` `etcd`",
        ),
    ] {
        let err = switchyard_tests::manifest(dir.path(), &text(model_extra, state))
            .expect_err(says)
            .to_string();
        assert!(
            err.contains(says) && err.contains("pipeline.toml:"),
            "expected `{says}`: {err}"
        );
    }
    switchyard_tests::manifest(
        dir.path(),
        &text(
            "rate-limit = { requests-per-minute = 5, tokens-per-minute = 1000, on-limit = \"wait\" }",
            "[state]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:6379\"",
        ),
    )
    .expect("a valid rate limit and state");
}
