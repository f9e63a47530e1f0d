//! Scale-out on shared state, against a real `redis-server` on 127.0.0.1:
//! three `serve` replicas hold one rate limit together, where without
//! shared state each replica allows the whole limit; with Redis gone each
//! replica counts alone, keeps answering and says `degraded`; sharing
//! resumes when Redis is back. Three replicas hold one spend limit: the
//! settled spend never passes it, fills it to within one call's
//! reservation, and equals what the answers' ledgers say; with Redis
//! killed mid-load budgets fail closed, every request is answered, and
//! the spend settled during the outage reaches Redis when it returns. An
//! answer cached on one replica is a hit on another, and a breaker opened
//! by one replica's failures stops the other two from calling the
//! upstream at all. A swap on one replica reaches the other two under
//! load with no failed request, and a replica that refuses it (it requires
//! a signature the new component lacks) says so in the admin answers. A
//! batch on the Redis queue survives a worker killed with SIGKILL mid-batch:
//! the other claims its lines, and the output has exactly one record per
//! input line, in order.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use redis::Commands;

use futures::StreamExt;
use serde_json::{json, Value};
use switchyard_tests::{
    completion, fixture, serve_process, toml_path, MockUpstream, RedisServer, Reply,
};

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

[auth]
clients = "none"

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

async fn readyz(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = client.get(format!("{url}/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
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
    // Rate limits alone do not need Redis to serve: still ready.
    let (status, ready) = readyz(&client, &urls[0]).await;
    assert_eq!(
        (
            status,
            ready["ready"].as_bool(),
            ready["shared_state"].as_str()
        ),
        (200, Some(true), Some("unreachable")),
        "{ready}"
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
        (
            "",
            "[state]\nbackend = \"redis\"\nurl = \"redis://x:6379\"\nbudgets-when-down = \"ignore\"",
            "unknown `[state] budgets-when-down` `ignore`",
        ),
        (
            "",
            "[state]\nbudgets-when-down = \"fail-closed\"",
            "`[state] budgets-when-down` is given but the backend is local",
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
    for (spend, says) in [
        (
            "spend-limit = { usd = 5.0, per = \"fortnight\" }",
            "the pipeline's spend-limit has an unknown period `fortnight`",
        ),
        (
            "spend-limit = { per = \"day\" }",
            "the pipeline's spend-limit limits nothing",
        ),
        (
            "spend-limit = { usd = -1.0, per = \"day\" }",
            "negative or non-finite `usd`",
        ),
        ("spend-limit = { usd = 1.0 }", "missing field `per`"),
    ] {
        let err = switchyard_tests::manifest(
            dir.path(),
            &text("", "").replace("name = \"t\"\n", &format!("name = \"t\"\n{spend}\n")),
        )
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

/// A pipeline whose one node makes one call to a model priced $1 per
/// million tokens (1 token = 1,000 nanodollars: the ledger's picodollars
/// and Redis's nanodollars agree exactly), under a daily spend limit.
fn spend_manifest(dir: &Path, usd: f64) -> PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(
        &path,
        format!(
            r#"[pipeline]
name = "spend"
deadline-ms = 20000
spend-limit = {{ usd = {usd}, per = "day" }}

[auth]
clients = "none"

[models.paid]
provider = "sim"
price = {{ input = 1.0, output = 1.0 }}

[nodes.caller]
role = "worker"
component = {worker}
models = ["paid"]
settings = {{ do = "model", model = "paid" }}
"#,
            worker = toml_path(&fixture("worker_hostile")),
        ),
    )
    .unwrap();
    path
}

/// One run's answer: the HTTP status, its ledger's outcomes, the money its
/// answered calls cost (picodollars), and the body.
struct Answer {
    status: u16,
    outcomes: Vec<String>,
    cost_pusd: u64,
    body: Value,
}

async fn run_once(client: &reqwest::Client, url: &str, i: usize) -> Answer {
    let r = client
        .post(format!("{url}/v1/runs"))
        .json(&json!({ "input": { "i": i } }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    let entries = body["ledger"].as_array().cloned().unwrap_or_default();
    Answer {
        status,
        outcomes: entries
            .iter()
            .filter_map(|e| e["outcome"].as_str().map(str::to_string))
            .collect(),
        cost_pusd: entries.iter().filter_map(|e| e["cost_pusd"].as_u64()).sum(),
        body,
    }
}

/// The spend counter of pipeline `spend` today: (spent, held) in
/// picodollars, read from Redis itself.
fn counter(redis: &mut redis::Connection) -> (u64, u64) {
    let keys: Vec<String> = redis.keys("switchyard:spend:spend:pipeline:day:*").unwrap();
    assert!(keys.len() <= 1, "{keys:?}");
    let Some(key) = keys.first() else {
        return (0, 0);
    };
    let (spent, held): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
        .arg(key)
        .arg("spent")
        .arg("held")
        .query(redis)
        .unwrap();
    (spent.unwrap_or(0) * 1000, held.unwrap_or(0) * 1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_three_replicas_on_one_redis_hold_one_spend_limit() {
    let redis = RedisServer::start();
    let mut conn = redis.connection();
    let dir = tempfile::tempdir().unwrap();
    // 3,000 tokens' worth; each call reserves its prompt and 1,024 output
    // tokens, and uses a few dozen.
    let limit_pusd: u64 = 3_000_000_000;
    let manifest = spend_manifest(dir.path(), limit_pusd as f64 / 1e12);
    let client = reqwest::Client::new();
    let replicas: Vec<_> = (0..3)
        .map(|_| serve_process(&manifest, &["--state-url", &redis.url()]))
        .collect();
    let urls: Vec<String> = replicas.iter().map(|(_, url, _)| url.clone()).collect();

    // Load spread over the three, six at a time.
    let answers: Vec<Answer> = futures::stream::iter(0..90)
        .map(|i| run_once(&client, &urls[i % 3], i))
        .buffer_unordered(6)
        .collect()
        .await;
    // Then one at a time until the limit refuses: what is left is less
    // than one call's reservation.
    let mut sequential = Vec::new();
    for i in 0..400 {
        let a = run_once(&client, &urls[i % 3], 1000 + i).await;
        let refused = a.outcomes == ["budget-exceeded"];
        sequential.push(a);
        if refused {
            break;
        }
    }
    let all: Vec<&Answer> = answers.iter().chain(&sequential).collect();
    let mut answered_pusd = 0;
    let mut ok = 0;
    let mut refused = 0;
    for a in &all {
        match (a.status, a.outcomes.as_slice()) {
            (200, [o]) if o == "ok" => {
                ok += 1;
                answered_pusd += a.cost_pusd;
            }
            (_, [o]) if o == "budget-exceeded" => {
                refused += 1;
                let message = a.body.to_string();
                assert!(
                    message.contains("the pipeline's spend limit") && a.cost_pusd == 0,
                    "{message}"
                );
            }
            _ => panic!("unexpected answer {} {}", a.status, a.body),
        }
    }
    assert!(ok > 0 && refused > 0, "{ok} answered, {refused} refused");
    assert_eq!(
        sequential.last().map(|a| a.outcomes.clone()),
        Some(vec!["budget-exceeded".to_string()]),
        "the limit never refused"
    );
    // Every settle reaches Redis (off the request path, so wait for it).
    switchyard_tests::wait_until("every hold settled", || counter(&mut conn).1 == 0);
    let (spent, _) = counter(&mut conn);
    assert_eq!(
        spent, answered_pusd,
        "Redis counts exactly what the answered calls cost, across the three replicas"
    );
    assert!(
        spent <= limit_pusd,
        "settled {spent} over the limit {limit_pusd}"
    );
    let reservation = 1_100 * 1_000_000; // prompt + 1,024 output tokens, at most
    assert!(
        limit_pusd - spent < reservation,
        "the limit was not filled: {spent} of {limit_pusd} spent when a call was refused"
    );
    for (mut child, _, _) in replicas {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_redis_killed_mid_load_fails_budgets_closed_and_loses_no_spend() {
    let mut redis = RedisServer::start_persistent();
    let dir = tempfile::tempdir().unwrap();
    let manifest = spend_manifest(dir.path(), 1.0);
    let client = reqwest::Client::new();
    let replicas: Vec<_> = (0..3)
        .map(|_| serve_process(&manifest, &["--state-url", &redis.url()]))
        .collect();
    let urls: Vec<String> = replicas.iter().map(|(_, url, _)| url.clone()).collect();

    let done = Arc::new(AtomicUsize::new(0));
    let load = {
        let (client, urls, done) = (client.clone(), urls.clone(), done.clone());
        tokio::spawn(async move {
            futures::stream::iter(0..90)
                .map(|i| {
                    let (client, url, done) = (client.clone(), urls[i % 3].clone(), done.clone());
                    async move {
                        let a = run_once(&client, &url, i).await;
                        done.fetch_add(1, Ordering::SeqCst);
                        a
                    }
                })
                .buffer_unordered(6)
                .collect::<Vec<Answer>>()
                .await
        })
    };
    switchyard_tests::wait_until("30 runs answered", || done.load(Ordering::SeqCst) >= 30);
    redis.stop();
    let answers = load.await.unwrap();
    let h = health(&client, &urls[0]).await;
    assert_eq!(h["status"], "degraded", "{h}");
    // Spend limits failing closed cannot be served without Redis: not
    // ready, so an orchestrator sends the replica no traffic.
    let (status, ready) = readyz(&client, &urls[0]).await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["reason"]
            .as_str()
            .unwrap_or("")
            .contains("cannot be reached"),
        "{ready}"
    );

    let mut answered_pusd = 0;
    let mut closed = 0;
    for a in &answers {
        match (a.status, a.outcomes.as_slice()) {
            (200, [o]) if o == "ok" => answered_pusd += a.cost_pusd,
            (_, [o]) if o == "budget-exceeded" => {
                assert!(
                    a.body.to_string().contains("cannot be checked") && a.cost_pusd == 0,
                    "{}",
                    a.body
                );
                closed += 1;
            }
            _ => panic!("unexpected answer {} {}", a.status, a.body),
        }
    }
    assert_eq!(answers.len(), 90, "every request was answered");
    assert!(closed > 0, "no call was refused while Redis was down");

    // Redis back with its data: the settles queued during the outage
    // arrive, and calls are checked and answered again.
    redis.restart();
    let mut conn = redis.connection();
    switchyard_tests::wait_until("the outage's settles reached redis", || {
        counter(&mut conn) == (answered_pusd, 0)
    });
    let back = run_once(&client, &urls[1], 999).await;
    assert_eq!(back.outcomes, ["ok"], "{}", back.body);
    switchyard_tests::wait_until("the new call settled", || {
        counter(&mut conn) == (answered_pusd + back.cost_pusd, 0)
    });
    assert_eq!(health(&client, &urls[1]).await["status"], "ok");
    for url in &urls {
        let (status, ready) = readyz(&client, url).await;
        assert_eq!(
            (status, ready["shared_state"].as_str()),
            (200, Some("ok")),
            "{ready}"
        );
    }
    for (mut child, _, _) in replicas {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_cache_entries_and_breaker_openings_reach_every_replica() {
    let redis = RedisServer::start();
    let mut conn = redis.connection();
    let answering = MockUpstream::start(vec![completion("Cached answer.", 12, 3)]).await;
    let failing = MockUpstream::start(vec![Reply::Json(500, "{}".into())]).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("pipeline.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"[pipeline]
name = "shared"
deadline-ms = 20000

[auth]
clients = "none"

[models.cached]
provider = "openai"
base-url = "{answering}"

[models.failing]
provider = "openai"
base-url = "{failing}"
retries = 0
fallback = ["spare"]
circuit-breaker = {{ min-calls = 3, failure-rate = 0.5, cool-down-ms = 60000, max-cool-down-ms = 60000 }}

[models.spare]
provider = "sim"

[nodes.caller]
role = "worker"
component = {worker}
models = ["cached", "failing", "spare"]
settings = {{ do = "model" }}
cache = {{ ttl-ms = 60000 }}
"#,
            answering = answering.base_url,
            failing = failing.base_url,
            worker = toml_path(&fixture("worker_hostile")),
        ),
    )
    .unwrap();
    let replicas: Vec<_> = (0..3)
        .map(|_| serve_process(&manifest, &["--state-url", &redis.url()]))
        .collect();
    let urls: Vec<String> = replicas.iter().map(|(_, u, _)| u.clone()).collect();
    let client = reqwest::Client::new();
    let outcomes = |body: &Value| -> Vec<String> {
        body["ledger"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["outcome"].as_str().map(str::to_string))
            .collect()
    };
    let run = |url: String, input: Value| {
        let client = client.clone();
        async move {
            let r = client
                .post(format!("{url}/v1/runs"))
                .json(&json!({ "input": input }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };

    // Cached on the first replica, a hit on the second: one upstream call.
    let first = run(urls[0].clone(), json!({ "model": "cached", "q": "same" })).await;
    assert_eq!(outcomes(&first), ["ok"], "{first}");
    let second = run(urls[1].clone(), json!({ "model": "cached", "q": "same" })).await;
    assert_eq!(outcomes(&second), ["cache-hit"], "{second}");
    assert_eq!(second["output"], first["output"]);
    assert_eq!(
        answering.count(),
        1,
        "the second replica called the upstream"
    );
    let other = run(urls[2].clone(), json!({ "model": "cached", "q": "other" })).await;
    assert_eq!(outcomes(&other), ["ok"], "{other}");
    assert_eq!(answering.count(), 2);

    // Three failures on the first replica open its breaker (each call
    // falls back to `spare`)...
    for i in 0..3 {
        let r = run(urls[0].clone(), json!({ "model": "failing", "i": i })).await;
        assert_eq!(outcomes(&r), ["unavailable", "ok"], "{r}");
    }
    assert_eq!(failing.count(), 3);
    switchyard_tests::wait_until("the opening shared", || {
        redis::cmd("EXISTS")
            .arg("switchyard:shared:breaker:failing")
            .query::<bool>(&mut conn)
            .unwrap()
    });
    // ...and the other two never call the failing upstream.
    for (i, url) in urls[1..].iter().enumerate() {
        let r = run(url.clone(), json!({ "model": "failing", "i": 10 + i })).await;
        assert_eq!(outcomes(&r), ["circuit-open", "ok"], "{url}: {r}");
    }
    assert_eq!(
        failing.count(),
        3,
        "a replica called an upstream whose breaker was open"
    );
    for (mut child, _, _) in replicas {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `bytes` with a custom section appended: the same component, another
/// digest.
fn restamped(bytes: &[u8], note: &str) -> Vec<u8> {
    let name = b"switchyard-test";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(note.as_bytes());
    assert!(payload.len() < 128);
    let mut out = bytes.to_vec();
    out.push(0);
    out.push(payload.len() as u8);
    out.extend_from_slice(&payload);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_a_swap_on_one_replica_reaches_the_others_under_load() {
    use std::sync::atomic::AtomicBool;
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let bin = switchyard_tests::switchyard_bin();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Every replica starts on the same signed component.
    run(&["keygen", "ops", "--dir", dir.path().to_str().unwrap()]);
    let signed = dir.path().join("signed.wasm");
    run(&[
        "sign",
        fixture("worker_hostile").to_str().unwrap(),
        "--key",
        dir.path().join("ops.key").to_str().unwrap(),
        "--output",
        signed.to_str().unwrap(),
    ]);
    let write = |name: &str, trust: &str, node_trust: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                r#"[pipeline]
name = "fleet"
deadline-ms = 20000

[auth]
clients = "none"

{trust}

[models.m]
provider = "sim"

[nodes.caller]
role = "worker"
component = {component}
models = ["m"]
settings = {{ do = "model", model = "m" }}
{node_trust}
"#,
                component = toml_path(&signed),
            ),
        )
        .unwrap();
        path
    };
    let open = write("open.toml", "", "");
    // The third replica runs only signed components on this node.
    let strict = write(
        "strict.toml",
        "[trust]\nkeys = { ops = \"ops.pub\" }",
        "trust = \"signed\"",
    );
    let token = "fleet-admin";
    let state_url = redis.url();
    let replicas: Vec<_> = [&open, &open, &strict]
        .iter()
        .map(|m| switchyard_tests::serve_process_with(m, &["--state-url", &state_url], Some(token)))
        .collect();
    let urls: Vec<String> = replicas.iter().map(|(_, u, _)| u.clone()).collect();
    let client = reqwest::Client::new();

    // Load on all three while the swap happens.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = urls
        .iter()
        .map(|url| {
            let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0usize, Vec::new());
                while !stop.load(Ordering::SeqCst) {
                    let r = client
                        .post(format!("{url}/v1/runs"))
                        .json(&json!({ "input": { "q": ok } }))
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap();
                    if status == 200 && body["ok"] == true {
                        ok += 1;
                    } else {
                        failed.push(format!("{status} {body}"));
                    }
                }
                (ok, failed)
            })
        })
        .collect();

    let unsigned = restamped(&std::fs::read(fixture("worker_hostile")).unwrap(), "v2");
    let new_sha = sha256_hex(&unsigned);
    let answer: Value = client
        .put(format!("{}/admin/nodes/caller", urls[0]))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(unsigned)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["sha256"], new_sha.as_str(), "{answer}");
    let reports = answer["replicas"]
        .as_object()
        .expect("a report per replica");
    assert_eq!(reports.len(), 3, "{answer}");
    let running = reports
        .values()
        .filter(|r| r["sha256"] == new_sha.as_str())
        .count();
    let refusals: Vec<&Value> = reports.values().filter_map(|r| r.get("refused")).collect();
    assert_eq!(running, 2, "{answer}");
    assert_eq!(refusals.len(), 1, "{answer}");
    assert_eq!(refusals[0]["sha256"], new_sha.as_str());
    assert!(
        refusals[0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("sign"),
        "the refusal says why: {answer}"
    );

    // Every replica's own view agrees; the strict one still serves the
    // signed component.
    for (i, url) in urls.iter().enumerate() {
        let view: Value = client
            .get(format!("{url}/admin/nodes/caller"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let expect = if i < 2 {
            new_sha.clone()
        } else {
            sha256_hex(&std::fs::read(&signed).unwrap())
        };
        assert_eq!(view["sha256"], expect.as_str(), "{url}: {view}");
        assert_eq!(
            view["replicas"].as_object().map(|m| m.len()),
            Some(3),
            "{view}"
        );
    }
    stop.store(true, Ordering::SeqCst);
    for (url, task) in urls.iter().zip(load) {
        let (ok, failed) = task.await.unwrap();
        assert!(failed.is_empty(), "{url}: {failed:?}");
        assert!(ok > 0, "{url} answered nothing during the swap");
    }
    for (mut child, _, _) in replicas {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_a_queued_batch_survives_a_killed_worker_with_one_record_per_line() {
    use std::process::{Command, Stdio};
    let redis = RedisServer::start();
    let mut conn = redis.connection();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("pipeline.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"[pipeline]
name = "queued"
deadline-ms = 20000

[models.slow]
provider = "sim"
sim = {{ ttft-ms = 300 }}

[nodes.caller]
role = "worker"
component = {worker}
models = ["slow"]
settings = {{ do = "model", model = "slow" }}
"#,
            worker = toml_path(&fixture("worker_hostile")),
        ),
    )
    .unwrap();
    let lines = 40;
    let input = dir.path().join("in.jsonl");
    let text: String = (0..lines)
        .map(|i| format!("{{\"id\": \"t{i}\", \"input\": {{\"q\": {i}}}}}\n"))
        .collect();
    // A blank line in the middle: no record for it.
    std::fs::write(&input, text.replacen('\n', "\n\n", 1)).unwrap();
    let output = dir.path().join("out.jsonl");
    let bin = switchyard_tests::switchyard_bin();
    let url = redis.url();
    let mut coordinator = Command::new(&bin)
        .args(["run", manifest.to_str().unwrap(), "--queue", &url])
        .args([
            "-i",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first worker's model never answers in time: it takes lines and
    // is killed holding them, none finished (with a model that answers, a
    // kill right after its records could find every held line already
    // written, leaving nothing to claim).
    let hanging = dir.path().join("hanging.toml");
    std::fs::write(
        &hanging,
        std::fs::read_to_string(&manifest)
            .unwrap()
            .replace("ttft-ms = 300", "ttft-ms = 600000"),
    )
    .unwrap();
    let worker = |manifest: &std::path::Path| {
        Command::new(&bin)
            .args(["worker", manifest.to_str().unwrap(), "--queue", &url])
            .args(["-c", "4", "--claim-after-ms", "1500"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let records = |conn: &mut redis::Connection| -> usize {
        let keys: Vec<String> = conn.keys("switchyard:queued:batch:*:records").unwrap();
        keys.iter().map(|k| conn.hlen::<_, usize>(k).unwrap()).sum()
    };
    // Lines taken and not acknowledged (0 before the group exists).
    let held = |conn: &mut redis::Connection| -> i64 {
        let pending: Result<Vec<redis::Value>, _> = redis::cmd("XPENDING")
            .arg("switchyard:queued:queue")
            .arg("switchyard-workers")
            .query(conn);
        match pending.ok().as_deref().and_then(<[_]>::first) {
            Some(redis::Value::Int(n)) => *n,
            _ => 0,
        }
    };
    let mut doomed = worker(&hanging);
    switchyard_tests::wait_until("the first worker took lines", || held(&mut conn) >= 4);
    // It holds lines it has not finished: they must not be lost.
    assert_eq!(records(&mut conn), 0, "the first worker finished no line");
    doomed.kill().unwrap(); // SIGKILL
    let _ = doomed.wait();
    let mut survivor = worker(&manifest);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = coordinator.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "the batch did not finish after a worker was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = survivor.kill();
    let _ = survivor.wait();
    let mut survivor_log = String::new();
    std::io::Read::read_to_string(&mut survivor.stderr.take().unwrap(), &mut survivor_log).unwrap();
    let mut coordinator_log = String::new();
    std::io::Read::read_to_string(
        &mut coordinator.stderr.take().unwrap(),
        &mut coordinator_log,
    )
    .unwrap();
    assert!(status.success(), "{coordinator_log}");
    assert!(
        survivor_log.contains("claimed entries of a worker that stopped answering"),
        "{survivor_log}"
    );
    let out = std::fs::read_to_string(&output).unwrap();
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: Vec<String> = (0..lines).map(|i| format!("t{i}")).collect();
    assert_eq!(ids, expected, "one record per input line, in input order");
    assert!(out.lines().all(|l| l.contains("\"ok\":true")), "{out}");
    assert!(
        coordinator_log.contains(&format!("{lines}")),
        "{coordinator_log}"
    );
    assert_eq!(records(&mut conn), 0, "the collected records were cleared");
}
