//! Client keys on a real `serve`: a manifest that does not say who may
//! call it is refused at start; with `clients = "keys"` a missing, wrong,
//! revoked or out-of-scope key is refused before anything runs, each key's
//! requests per minute are held (429 with Retry-After), and its spend
//! limit refuses calls once used up — in a keys file for one server, and
//! in Redis for three replicas, where one rate, one spend limit and one
//! revocation hold across all of them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use switchyard_tests::{fixture, serve_process, switchyard_bin, toml_path, RedisServer};

fn manifest(dir: &Path, auth: &str) -> PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(
        &path,
        format!(
            r#"[pipeline]
name = "keyed"
deadline-ms = 20000

{auth}

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

/// `switchyard keys ARGS…`: its stdout (the key, for `create`).
fn keys(args: &[&str]) -> String {
    let out = Command::new(switchyard_bin())
        .arg("keys")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A run with `key` (if any): status, `error.code` or ledger outcome, body.
async fn call(client: &reqwest::Client, url: &str, key: Option<&str>) -> (u16, String, Value) {
    let mut req = client
        .post(format!("{url}/v1/runs"))
        .json(&json!({ "input": { "q": "hi" } }));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    let what = body["error"]["code"]
        .as_str()
        .map(str::to_string)
        .or_else(|| body["ledger"][0]["outcome"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, what, body)
}

#[test]
fn client_keys_serve_refuses_a_manifest_that_does_not_say_who_may_call() {
    let dir = tempfile::tempdir().unwrap();
    for (auth, says) in [
        ("", "clients = \"none\""),
        ("[auth]\nclients = \"keys\"", "needs somewhere to keep keys"),
    ] {
        let m = manifest(dir.path(), auth);
        let out = Command::new(switchyard_bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg(&m)
            .env_remove("SWITCHYARD_STATE_URL")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{err}");
        assert!(err.contains("pipeline.toml"), "{err}");
    }
    for (auth, says) in [
        (
            "[auth]\nclients = \"maybe\"",
            "unknown `[auth] clients` `maybe`",
        ),
        (
            "[auth]\nclients = \"none\"\nkeys-file = \"k.json\"",
            "`[auth] keys-file` is given but `clients = \"none\"`",
        ),
    ] {
        let text = std::fs::read_to_string(manifest(dir.path(), auth)).unwrap();
        let err = switchyard_tests::manifest(dir.path(), &text)
            .expect_err(says)
            .to_string();
        assert!(
            err.contains(says) && err.contains("pipeline.toml:"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keys_from_a_file_refuse_wrong_keys_and_hold_each_keys_limits() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.json");
    let file_s = file.display().to_string();
    let m = manifest(
        dir.path(),
        "[auth]\nclients = \"keys\"\nkeys-file = \"keys.json\"",
    );
    let alice = keys(&["create", "alice", "--file", &file_s, "--rpm", "5"]);
    let elsewhere = keys(&["create", "bob", "--file", &file_s, "--pipeline", "other"]);
    // 3,000 tokens' worth: a few calls, then the key's spend limit.
    let frugal = keys(&[
        "create",
        "frugal",
        "--file",
        &file_s,
        "--spend-usd",
        "0.003",
        "--per",
        "day",
    ]);
    assert!(alice.starts_with("sy-") && alice != frugal);
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(!stored.contains(&alice[16..]), "the secret is not stored");
    let listed = keys(&["list", "--file", &file_s]);
    assert!(
        listed.contains("alice") && listed.contains("5 rpm") && listed.contains("$0.003/day"),
        "{listed}"
    );

    let (mut child, url, _log) = serve_process(&m, &[]);
    let client = reqwest::Client::new();
    let (s, code, _) = call(&client, &url, None).await;
    assert_eq!((s, code.as_str()), (401, "missing_api_key"));
    let (s, code, _) = call(&client, &url, Some("sy-000000000000-nope")).await;
    assert_eq!((s, code.as_str()), (401, "invalid_api_key"));
    let (s, code, _) = call(&client, &url, Some(&elsewhere)).await;
    assert_eq!((s, code.as_str()), (403, "pipeline_not_allowed"));
    // The OpenAI-compatible route is behind the same check.
    let r = client.get(format!("{url}/v1/models")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .get(format!("{url}/v1/models"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // alice: 5 requests a minute (the models call above was one).
    let mut answered = 1;
    let started = Instant::now();
    let refused = loop {
        let r = client
            .post(format!("{url}/v1/runs"))
            .bearer_auth(&alice)
            .json(&json!({ "input": { "q": "hi" } }))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 200);
        answered += 1;
        assert!(answered <= 7, "the key's rate limit never refused");
    };
    let refill = (started.elapsed().as_secs_f64() * 5.0 / 60.0).ceil() as usize;
    assert!((5..=5 + refill).contains(&answered), "{answered} answered");
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");

    // frugal: answered until its spend limit refuses the call, never sent.
    let mut ok = 0;
    let (status, body) = loop {
        let (s, what, body) = call(&client, &url, Some(&frugal)).await;
        if what != "ok" {
            break (s, body);
        }
        ok += 1;
        assert!(ok < 200, "the key's spend limit never refused");
    };
    assert!(ok > 0);
    assert_eq!(
        body["ledger"][0]["outcome"], "budget-exceeded",
        "{status} {body}"
    );
    assert!(
        body.to_string().contains("client key `"),
        "the refusal names the key's limit: {body}"
    );

    // Revoked: refused within the lookup cache's 2 seconds.
    keys(&["revoke", "frugal", "--file", &file_s]);
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let (s, code, _) = call(&client, &url, Some(&frugal)).await;
        if s == 401 {
            assert_eq!(code, "invalid_api_key");
            break;
        }
        assert!(Instant::now() < until, "the revoked key still works");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keys_in_redis_hold_one_rate_and_one_revocation_across_three_replicas() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "[auth]\nclients = \"keys\"");
    let url_s = redis.url();
    let key = keys(&["--state-url", &url_s, "create", "shared", "--rpm", "6"]);
    let replicas: Vec<_> = (0..3)
        .map(|_| serve_process(&m, &["--state-url", &url_s]))
        .collect();
    let urls: Vec<String> = replicas.iter().map(|(_, u, _)| u.clone()).collect();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let answers: Vec<(u16, String, Value)> = futures::stream::iter(0..18)
        .map(|i| {
            let (client, url, key) = (client.clone(), urls[i % 3].clone(), key.clone());
            async move { call(&client, &url, Some(&key)).await }
        })
        .buffer_unordered(3)
        .collect()
        .await;
    let ok = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let limited = answers
        .iter()
        .filter(|(s, c, _)| *s == 429 && c == "rate_limit_exceeded")
        .count();
    let refill = (started.elapsed().as_secs_f64() * 6.0 / 60.0).ceil() as usize;
    assert_eq!(ok + limited, 18, "{answers:?}");
    assert!(
        (6..=6 + refill).contains(&ok),
        "three replicas let {ok} requests of one key through; its limit is 6 a minute"
    );
    // Revoked once, refused by all three.
    keys(&["--state-url", &url_s, "revoke", "shared"]);
    let until = Instant::now() + Duration::from_secs(5);
    for url in &urls {
        loop {
            let (s, _, _) = call(&client, url, Some(&key)).await;
            if s == 401 {
                break;
            }
            assert!(Instant::now() < until, "{url} still takes the revoked key");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let listed = keys(&["--state-url", &url_s, "list", "--json"]);
    let record: Value = serde_json::from_str(&listed).unwrap();
    assert!(record["revoked"].is_u64(), "{record}");
    for (mut child, _, _) in replicas {
        let _ = child.kill();
        let _ = child.wait();
    }
}
