//! Serve mode on 127.0.0.1: the runs API, hot-swap under load with zero
//! failed requests and every run pinned to a version live when it started,
//! refused swaps that leave the old component serving, `--watch`, graceful
//! drain on shutdown, metrics, and the official `openai` Python client
//! against `/v1/chat/completions`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_tests::{
    example, fixture, hostile, pipeline, plugin, python_with_openai, toml_path, TestServer,
};

const TOKEN: &str = "test-admin-token";

fn swap_manifest(marker: &std::path::Path, ttft_ms: u64) -> String {
    format!(
        r#"
[pipeline]
name = "swap-test"
deadline-ms = 20000

[models.slow]
provider = "sim"
sim = {{ seed = 1, ttft-ms = {ttft_ms}, ms-per-token = 0 }}

[nodes.marker]
role = "worker"
component = {marker}
models = ["slow"]
input-schema = {{ type = "object" }}

[nodes.check]
role = "worker"
component = {echo}
after = ["marker"]
settings = {{ do = "echo" }}
input-schema = {{ type = "object", required = ["marker"], properties = {{ marker = {{ type = "string" }} }} }}
"#,
        marker = toml_path(marker),
        echo = toml_path(&fixture("worker_hostile")),
    )
}

async fn put(
    client: &reqwest::Client,
    url: &str,
    node: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = client.put(format!("{url}/admin/nodes/{node}")).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn post_run(client: &reqwest::Client, url: &str, input: Value) -> (u16, Value) {
    let r = client
        .post(format!("{url}/v1/runs"))
        .json(&json!({ "input": input }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The marker each revision of `marker` answers: revision 1 is version
/// 1.0.0-a (marker a) as loaded, then swaps alternate b, a, b, …
fn marker_of(revision: u64) -> &'static str {
    if revision % 2 == 1 {
        "a"
    } else {
        "b"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_swap_under_load_fails_nothing_and_pins_each_run_to_a_live_version() {
    const SWAPS: u64 = 60;
    const CLIENTS: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &swap_manifest(&hostile("marker_a"), 15))
        .await
        .unwrap();
    let server = TestServer::start(p, Some(TOKEN)).await;
    let client = reqwest::Client::new();
    let versions = [
        std::fs::read(hostile("marker_a")).unwrap(),
        std::fs::read(hostile("marker_b")).unwrap(),
    ];
    // The highest revision whose swap has begun / has been confirmed.
    let begun = Arc::new(AtomicU64::new(1));
    let confirmed = Arc::new(AtomicU64::new(1));
    let stop = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (client, url) = (client.clone(), server.url.clone());
        let (begun, confirmed, stop) = (begun.clone(), confirmed.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let live_at_send = confirmed.load(Ordering::SeqCst);
                let (status, body) = post_run(&client, &url, json!({"client": c, "i": i})).await;
                let begun_at_reply = begun.load(Ordering::SeqCst);
                let confirmed_at_reply = confirmed.load(Ordering::SeqCst);
                seen.push((
                    status,
                    body,
                    live_at_send,
                    begun_at_reply,
                    confirmed_at_reply,
                ));
                i += 1;
            }
            seen
        }));
    }
    for i in 1..=SWAPS {
        let revision = i + 1;
        begun.store(revision, Ordering::SeqCst);
        let bytes = versions[(revision % 2 == 0) as usize].clone();
        let (status, report) = put(&client, &server.url, "marker", Some(TOKEN), bytes).await;
        assert_eq!(status, 200, "swap {i}: {report}");
        assert_eq!(report["revision"], revision, "{report}");
        assert_eq!(
            report["version"],
            format!("1.0.0-{}", marker_of(revision)),
            "{report}"
        );
        confirmed.store(revision, Ordering::SeqCst);
    }
    stop.store(true, Ordering::SeqCst);

    let mut total = 0;
    let mut revisions = std::collections::BTreeSet::new();
    let mut crossed_a_swap = 0;
    for c in clients {
        for (status, body, live_at_send, begun_at_reply, confirmed_at_reply) in c.await.unwrap() {
            total += 1;
            assert_eq!(status, 200, "a request failed: {body}");
            let revision = body["nodes"]["marker"]["revision"].as_u64().unwrap();
            assert_eq!(body["output"]["marker"], marker_of(revision), "{body}");
            assert!(
                live_at_send <= revision && revision <= begun_at_reply,
                "revision {revision} was not live when the run started (live at send {live_at_send}, begun by reply {begun_at_reply})"
            );
            if revision < confirmed_at_reply {
                crossed_a_swap += 1;
            }
            revisions.insert(revision);
        }
    }
    assert!(total > 100, "only {total} requests");
    assert!(
        revisions.len() > 10,
        "runs saw only revisions {revisions:?}"
    );
    // Runs in flight during a swap finished on the version they started on.
    assert!(crossed_a_swap > 0, "no run overlapped a swap");

    let metrics = get_text(&client, &format!("{}/metrics", server.url)).await;
    assert!(
        metrics.contains(&format!(
            "switchyard_swaps_total{{node=\"marker\",result=\"accepted\"}} {SWAPS}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("revision=\"{}\"", SWAPS + 1)),
        "the live version is not in the metrics: {metrics}"
    );
    assert!(
        metrics.contains(&format!("switchyard_runs_total{{outcome=\"ok\"}} {total}")),
        "{metrics}"
    );
    eprintln!("{total} requests over {SWAPS} swaps, {crossed_a_swap} crossed a swap; 0 failed");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_incompatible_or_unauthorised_swaps_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &swap_manifest(&hostile("marker_a"), 0))
        .await
        .unwrap();
    let server = TestServer::start(p, Some(TOKEN)).await;
    let client = reqwest::Client::new();
    let url = &server.url;
    let marker_b = std::fs::read(hostile("marker_b")).unwrap();

    let (status, body) = put(&client, url, "marker", None, marker_b.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("missing_token")),
        "{body}"
    );
    let (status, body) = put(&client, url, "marker", Some("wrong"), marker_b.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );

    let judge = std::fs::read(plugin("judge_pii")).unwrap();
    let (status, body) = put(&client, url, "marker", Some(TOKEN), judge).await;
    assert_eq!(status, 422, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("node `marker`") && msg.contains("judge world"),
        "{msg}"
    );
    assert!(msg.contains("the old component keeps serving"), "{msg}");

    let unmarked = std::fs::read(hostile("marker_unmarked")).unwrap();
    let (status, body) = put(&client, url, "marker", Some(TOKEN), unmarked).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("incompatible_schema")),
        "{body}"
    );
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("breaks the edge `marker` → `check`") && msg.contains("requires `marker`"),
        "{msg}"
    );

    let (status, body) = put(&client, url, "marker", Some(TOKEN), b"not wasm".to_vec()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("incompatible_component")),
        "{body}"
    );
    let (status, body) = put(&client, url, "markr", Some(TOKEN), marker_b.clone()).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `marker`?"),
        "{body}"
    );
    let (status, body) = put(&client, url, "marker", Some(TOKEN), Vec::new()).await;
    assert_eq!(status, 400, "{body}");

    // An input the entry node's schema refuses is a typed 422 record.
    let (status, body) = post_run(&client, url, json!("just a string")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"]["kind"], "schema", "{body}");
    assert_eq!(body["error"]["node"], "marker", "{body}");

    // Still serving the original, untouched.
    let (status, body) = post_run(&client, url, json!({"x": 1})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"]["marker"], "a");
    assert_eq!(body["nodes"]["marker"]["revision"], 1);
    assert_eq!(body["generation"], 0);
    let metrics = get_text(&client, &format!("{url}/metrics")).await;
    assert!(
        metrics.contains("switchyard_swaps_total{node=\"marker\",result=\"rejected\"} 3"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("markr"),
        "unknown node names must not become metric labels"
    );
    assert!(
        metrics.contains("switchyard_runs_total{outcome=\"schema\"} 1"),
        "{metrics}"
    );

    // The same bytes as live: accepted, nothing changes.
    let (status, body) = put(
        &client,
        url,
        "marker",
        Some(TOKEN),
        std::fs::read(hostile("marker_a")).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["unchanged"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    server.stop().await.unwrap();

    // A server started without a token has no admin API at all.
    let p = pipeline(dir.path(), &swap_manifest(&hostile("marker_a"), 0))
        .await
        .unwrap();
    let server = TestServer::start(p, None).await;
    let (status, body) = put(&client, &server.url, "marker", Some(TOKEN), marker_b).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("admin_disabled")),
        "{body}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_watch_swaps_a_changed_component_file_and_survives_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let component = dir.path().join("marker.wasm");
    std::fs::copy(hostile("marker_a"), &component).unwrap();
    let p = pipeline(dir.path(), &swap_manifest(&component, 0))
        .await
        .unwrap();
    let server = TestServer::start(p, None).await;
    let _watcher =
        switchyard::serve::watch::watch(server.live.clone(), Duration::from_millis(100)).unwrap();
    let client = reqwest::Client::new();

    let replace = |bytes: &[u8]| {
        let tmp = dir.path().join("marker.wasm.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &component).unwrap();
    };
    let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    replace(&std::fs::read(hostile("marker_b")).unwrap());
    let live = server.live.clone();
    wait_for("the watcher to swap in version b", &|| {
        live.current().node("marker").unwrap().revision == 2
    });
    let (status, body) = post_run(&client, &server.url, json!({})).await;
    assert_eq!(
        (status, &body["output"]["marker"]),
        (200, &json!("b")),
        "{body}"
    );

    // A broken file is refused; b keeps serving.
    replace(b"\0asm garbage");
    let metrics = live.metrics().clone();
    wait_for("the broken file to be refused", &|| {
        metrics
            .render()
            .contains("switchyard_swaps_total{node=\"marker\",result=\"rejected\"} 1")
    });
    let (status, body) = post_run(&client, &server.url, json!({})).await;
    assert_eq!(
        (status, &body["output"]["marker"]),
        (200, &json!("b")),
        "{body}"
    );
    assert_eq!(live.current().node("marker").unwrap().revision, 2);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_shutdown_drains_runs_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &swap_manifest(&hostile("marker_a"), 400))
        .await
        .unwrap();
    let mut server = TestServer::start(p, None).await;
    let client = reqwest::Client::new();
    let url = server.url.clone();
    let in_flight = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { post_run(&client, &url, json!({"slow": true})).await }
    });
    let metrics = server.live.metrics().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !metrics.render().contains("switchyard_runs_in_flight 1") {
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.begin_shutdown();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "the run in flight was dropped: {body}");
    assert_eq!(body["output"]["marker"], "a");
    server.join().await.unwrap();
    assert!(
        client.get(format!("{url}/healthz")).send().await.is_err(),
        "the server still accepts connections after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_api_answers_output_trace_cost_and_clear_errors() {
    let engine = switchyard_tests::engine(None);
    let p = example(&engine, "basic.toml").await;
    let server = TestServer::start(p, None).await;
    let client = reqwest::Client::new();
    let url = &server.url;
    let ticket = json!({"subject": "Refund", "body": "I was charged twice for my subscription this month, please refund one.", "customer": {"plan": "pro", "tenure_months": 3}});
    let (status, body) = post_run(&client, url, ticket.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    assert!(body["id"].as_str().unwrap().starts_with("run-"), "{body}");
    assert!(body["cost_pusd"].as_u64().unwrap() > 0, "{body}");
    assert!(body["trace"].as_array().unwrap().len() >= 3, "{body}");
    assert!(!body["ledger"].as_array().unwrap().is_empty(), "{body}");
    assert_eq!(body["generation"], 0);
    assert_eq!(body["nodes"]["triage"]["revision"], 1);
    assert_eq!(
        body["nodes"]["triage"]["sha256"].as_str().unwrap().len(),
        64
    );
    assert!(body.get("line").is_none(), "{body}");

    let r = client
        .post(format!("{url}/v1/pipelines/support-triage-basic/runs"))
        .json(&json!({"input": ticket, "id": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], "mine");

    for (path, body, status, needle) in [
        ("/v1/runs", "{not json", 400, "not JSON"),
        ("/v1/runs", r#"{"task": {}}"#, 400, "no `input` field"),
        (
            "/v1/runs",
            r#"{"input": {}, "extra": 1}"#,
            400,
            "unknown field `extra`",
        ),
        (
            "/v1/pipelines/other/runs",
            r#"{"input": {}}"#,
            404,
            "this server runs `support-triage-basic`",
        ),
    ] {
        let r = client
            .post(format!("{url}{path}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path} {body}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{v}"
        );
    }
    let health: Value = client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "shared_state": "local", "pipeline": "support-triage-basic", "generation": 0, "nodes": 4})
    );
    let metrics = get_text(&client, &format!("{url}/metrics")).await;
    for needle in [
        "switchyard_node_latency_seconds_bucket{le=",
        "node=\"triage\"",
        "switchyard_judge_verdicts_total{judge=\"pii-guard\",verdict=\"accept\"}",
        "switchyard_model_tokens_total{",
        "switchyard_model_cost_usd_total{",
        "switchyard_node_invocations_total{node=\"pii-guard\"}",
        "switchyard_node_version{node=\"triage\",version=",
    ] {
        assert!(metrics.contains(needle), "no `{needle}` in\n{metrics}");
    }
    server.stop().await.unwrap();
}

const OPENAI_SCRIPT: &str = r#"
import json, sys
import openai
from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="not-needed")
messages = [
    {"role": "system", "content": "You are a support desk."},
    {"role": "user", "content": "I was charged twice for my subscription this month, please refund one."},
]
r = client.chat.completions.create(model="support-triage-basic", messages=messages)
out = {
    "id": r.id, "model": r.model, "content": r.choices[0].message.content,
    "role": r.choices[0].message.role, "finish": r.choices[0].finish_reason,
    "total_tokens": r.usage.total_tokens,
}
chunks = client.chat.completions.create(
    model="support-triage-basic", messages=messages, stream=True,
    stream_options={"include_usage": True},
)
parts, usage = [], None
for c in chunks:
    if c.choices and c.choices[0].delta.content:
        parts.append(c.choices[0].delta.content)
    if c.usage:
        usage = c.usage.total_tokens
out["streamed"] = "".join(parts)
out["streamed_chunks"] = len(parts)
out["streamed_usage"] = usage
out["models"] = [m.id for m in client.models.list()]
try:
    client.chat.completions.create(model="gpt-4o", messages=messages)
    out["wrong_model"] = "accepted"
except openai.NotFoundError as e:
    out["wrong_model"] = e.status_code
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_chat_completions_answer_the_official_openai_client() {
    let python = python_with_openai();
    let engine = switchyard_tests::engine(None);
    let p = example(&engine, "basic.toml").await;
    let server = TestServer::start(p, None).await;
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg("-c")
            .arg(OPENAI_SCRIPT)
            .arg(url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the openai client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "support-triage-basic", "{v}");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["finish"], "stop");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"), "{v}");
    let content = v["content"].as_str().unwrap();
    // `[chat] reply` in basic.toml picks the drafted reply out of the output.
    assert!(
        content.contains("— sim-"),
        "not the drafted reply: {content}"
    );
    assert!(v["total_tokens"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["streamed"], v["content"], "{v}");
    assert!(v["streamed_chunks"].as_u64().unwrap() > 3, "{v}");
    assert_eq!(v["streamed_usage"], v["total_tokens"], "{v}");
    assert_eq!(v["models"], json!(["support-triage-basic"]));
    assert_eq!(v["wrong_model"], 404);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_swap_command_drives_the_admin_endpoint() {
    let bin = tokio::task::spawn_blocking(switchyard_tests::switchyard_bin)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &swap_manifest(&hostile("marker_a"), 0))
        .await
        .unwrap();
    let server = TestServer::start(p, Some(TOKEN)).await;
    let swap = |component: std::path::PathBuf, token: Option<&'static str>| {
        let (bin, url) = (bin.clone(), server.url.clone());
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(bin);
            cmd.args(["swap", "marker"])
                .arg(component)
                .args(["--url", &url]);
            cmd.env_remove("SWITCHYARD_ADMIN_TOKEN");
            if let Some(t) = token {
                cmd.env("SWITCHYARD_ADMIN_TOKEN", t);
            }
            let out = cmd.output().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
    };
    let (code, err) = swap(hostile("marker_b"), Some(TOKEN)).await.unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("node `marker`: swapped to revision 2 (version 1.0.0-b"),
        "{err}"
    );
    assert_eq!(server.live.current().node("marker").unwrap().revision, 2);

    let (code, err) = swap(plugin("judge_pii"), Some(TOKEN)).await.unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("swap refused (422 Unprocessable Entity)") && err.contains("judge world"),
        "{err}"
    );
    let (code, err) = swap(hostile("marker_a"), None).await.unwrap();
    assert_ne!(code, Some(0));
    assert!(err.contains("set $SWITCHYARD_ADMIN_TOKEN"), "{err}");
    assert_eq!(server.live.current().node("marker").unwrap().revision, 2);
    server.stop().await.unwrap();
}
