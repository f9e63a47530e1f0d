//! Contract 0.2 end to end: a 0.1 and a 0.2 component in one pipeline, and
//! streamed outputs under the hold-back rule — windows released to the
//! client only after every window judge passed them, proved on the raw SSE
//! bytes a client receives; repairs streamed in their repaired form; the
//! official `openai` client streaming with usage.

use serde_json::{json, Value};
use switchyard_tests::{engine, fixture, pipeline, python_with_openai, run, toml_path, TestServer};

/// A pipeline whose only worker streams `reply` (a sim model's fixed
/// answer) under `guard`, the window-judge fixture with `guard_settings`;
/// `extra` is appended to the worker's table.
fn streaming_manifest(reply: &str, guard_settings: &str, extra: &str) -> String {
    format!(
        r#"
[pipeline]
name = "streaming"
deadline-ms = 20000

[models.m]
provider = "sim"
sim = {{ ttft-ms = 20, ms-per-token = 2, reply = {reply:?} }}

[nodes.writer]
role = "worker"
component = {worker}
models = ["m"]
settings = {{ mode = "stream", model = "m" }}
judges = ["guard"]
stream = {{ window = "sentence" }}
{extra}

[nodes.guard]
role = "judge"
component = {judge}
settings = {{ {guard_settings} }}

[chat]
reply = ["/reply"]
"#,
        worker = toml_path(&fixture("worker_v02")),
        judge = toml_path(&fixture("judge_window")),
    )
}

/// POSTs `body` to `url` and returns the raw bytes of the answer.
async fn raw_post(url: &str, body: Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    (status, String::from_utf8(bytes.to_vec()).expect("utf-8"))
}

/// The `data:` payloads of an SSE body, with their `event:` names.
fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|m| !m.trim().is_empty())
        .map(|m| {
            let mut event = None;
            let mut data = String::new();
            for line in m.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (event, data)
        })
        .collect()
}

/// The streamed text and the finish reason of a chat SSE body.
fn chat_text(body: &str) -> (String, Option<String>) {
    let mut text = String::new();
    let mut finish = None;
    for (_, data) in sse_events(body) {
        if data == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(&data).expect("chunk JSON");
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(c);
        }
        if let Some(f) = v["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_string());
        }
    }
    (text, finish)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_a_0_1_and_a_0_2_component_share_a_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    // A 0.1 worker gated by a 0.1 judge and a 0.2 judge that scores.
    let text = format!(
        r#"
[pipeline]
name = "mixed"

[nodes.w]
role = "worker"
component = {w}
settings = {{ do = "echo" }}
judges = ["old", "new"]

[nodes.old]
role = "judge"
component = {old}

[nodes.new]
role = "judge"
component = {new}
settings = {{ score = 0.25 }}
"#,
        w = toml_path(&fixture("worker_hostile")),
        old = toml_path(&fixture("judge_scripted")),
        new = toml_path(&fixture("judge_window")),
    );
    let p = pipeline(dir.path(), &text).await.unwrap();
    let versions: Vec<(String, String)> = p
        .nodes()
        .iter()
        .map(|(n, l)| (n.clone(), l.component.description.contract.to_string()))
        .collect();
    assert_eq!(
        versions,
        [
            ("new".to_string(), "0.2.0".to_string()),
            ("old".to_string(), "0.1.0".to_string()),
            ("w".to_string(), "0.1.0".to_string()),
        ]
    );
    let out = run(&p, "r1", json!({"text": "hello FIXME"})).await;
    // The 0.1 judge repaired, the 0.2 judge accepted the repair and scored it.
    assert_eq!(out.result.as_ref().unwrap()["text"], "hello fixed");
    let new = out
        .trace
        .iter()
        .find(|s| s.node == "new")
        .expect("0.2 judge ran");
    let score = new.score.as_ref().expect("a score");
    assert_eq!(score.score, Some(0.25));
    assert_eq!(score.criteria, [("fixture".to_string(), 0.25)]);

    // A manifest threshold turns the score into a rejection.
    let strict = text.replace(
        "settings = { score = 0.25 }",
        "settings = { score = 0.25 }\nmin-score = 0.5",
    );
    let p = pipeline(dir.path(), &strict).await.unwrap();
    let out = run(&p, "r2", json!({"text": "hello"})).await;
    let err = out.result.unwrap_err();
    assert_eq!(err.kind(), "rejected");
    assert!(
        err.to_string()
            .contains("score 0.25 is below min-score 0.5"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_a_window_judge_rejecting_the_third_sentence_sends_no_byte_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let reply = "One is fine. Two is fine. Three holds FORBIDDEN text. Four is fine.";
    let p = pipeline(
        dir.path(),
        &streaming_manifest(reply, r#"forbid = "FORBIDDEN""#, ""),
    )
    .await
    .unwrap();
    let server = TestServer::start(p, None).await;

    // The chat client: the first two sentences stream, then the stream
    // ends with content_filter. Not one byte of the third sentence.
    let (status, body) = raw_post(
        &format!("{}/v1/chat/completions", server.url),
        json!({"model": "streaming", "stream": true,
               "messages": [{"role": "user", "content": "tell me"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("FORBIDDEN"), "{body}");
    assert!(!body.contains("Three"), "{body}");
    assert!(!body.contains("Four"), "{body}");
    let (text, finish) = chat_text(&body);
    assert_eq!(text, "One is fine. Two is fine. ");
    assert_eq!(finish.as_deref(), Some("content_filter"));
    assert!(body.contains("\"switchyard_error\""), "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");

    // The typed run events say the same, in order: two windows released,
    // the cut, then the record with the rejection.
    let (status, body) = raw_post(
        &format!("{}/v1/runs", server.url),
        json!({"input": "tell me", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!body.contains("FORBIDDEN"), "{body}");
    let events = sse_events(&body);
    let names: Vec<&str> = events.iter().filter_map(|(e, _)| e.as_deref()).collect();
    let released: Vec<Value> = events
        .iter()
        .filter(|(e, _)| e.as_deref() == Some("released"))
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(released.len(), 2, "{names:?}");
    assert_eq!(released[0]["window"], 0);
    assert_eq!(released[1]["text"], "Two is fine. ");
    let cut = names
        .iter()
        .position(|n| *n == "stream-cut")
        .expect("a stream-cut event");
    let record = names
        .iter()
        .position(|n| *n == "record")
        .expect("the record");
    assert!(cut < record && record == names.len() - 1, "{names:?}");
    let rec: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(rec["ok"], false);
    assert_eq!(rec["error"]["kind"], "rejected");
    // The third window was checked (and rejected), the fourth never.
    let windows: Vec<u64> = rec["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["node"] == "guard")
        .filter_map(|s| s["window"].as_u64())
        .collect();
    assert_eq!(windows, [0, 1, 2]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_without_a_watcher_a_window_rejection_goes_through_on_reject() {
    // In a batch run nothing is released, so a rejected window is an
    // ordinary rejection: the policy's fallback answers.
    let dir = tempfile::tempdir().unwrap();
    let reply = "Fine. Then FORBIDDEN. End.";
    let p = pipeline(
        dir.path(),
        &streaming_manifest(
            reply,
            r#"forbid = "FORBIDDEN""#,
            r#"on-reject = { retries = 1, fallback = { reply = "sorry", model = "none" } }"#,
        ),
    )
    .await
    .unwrap();
    let out = run(&p, "b1", json!("tell me")).await;
    assert_eq!(
        out.result.unwrap(),
        json!({"reply": "sorry", "model": "none"})
    );
    let actions: Vec<String> = out
        .events
        .iter()
        .map(|e| format!("{:?}", e.action))
        .collect();
    assert_eq!(actions, ["Retry", "Fallback"]);
    // Each attempt's stream was cut at the rejected window and priced as
    // cancelled, with what it had received.
    assert!(
        out.ledger.iter().any(|e| e.outcome.as_str() == "cancelled"),
        "{:?}",
        out.ledger
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_a_repairing_window_judge_streams_the_redacted_text() {
    let dir = tempfile::tempdir().unwrap();
    let reply = "Write to bob@example.com today. Thanks for waiting.";
    let p = pipeline(dir.path(), &streaming_manifest(reply, "", ""))
        .await
        .unwrap();
    let server = TestServer::start(p, None).await;
    let (status, body) = raw_post(
        &format!("{}/v1/chat/completions", server.url),
        json!({"model": "streaming", "stream": true,
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("bob@example.com"), "{body}");
    let (text, finish) = chat_text(&body);
    assert_eq!(text, "Write to [email] today. Thanks for waiting.");
    assert_eq!(finish.as_deref(), Some("stop"));
    // Two windows, two chunks of content (plus the empty role chunk).
    let contents = sse_events(&body)
        .iter()
        .filter(|(_, d)| d.contains("\"content\":\"") && !d.contains("\"content\":\"\""))
        .count();
    assert_eq!(contents, 2, "{body}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_a_whole_output_judge_needs_a_late_reject_rule() {
    // The scripted 0.1 judge has no window check: releasing windows it may
    // still reject later needs the manifest's word.
    let dir = tempfile::tempdir().unwrap();
    let text = streaming_manifest("A. B.", "", "")
        .replace(r#"judges = ["guard"]"#, r#"judges = ["guard", "old"]"#)
        + &format!(
            "\n[nodes.old]\nrole = \"judge\"\ncomponent = {}\n",
            toml_path(&fixture("judge_scripted"))
        );
    let err = pipeline(dir.path(), &text).await.unwrap_err().to_string();
    assert!(
        err.contains("node `writer` streams its output in windows"),
        "{err}"
    );
    assert!(err.contains("judge `old`"), "{err}");
    assert!(err.contains("late-reject"), "{err}");
    let ok = text.replace(
        r#"stream = { window = "sentence" }"#,
        r#"stream = { window = "sentence", late-reject = "content-filter" }"#,
    );
    let p = pipeline(dir.path(), &ok).await.unwrap();
    let plans = switchyard::pipeline::stream_plans(p.nodes());
    assert_eq!(plans.len(), 1);
    assert!(
        plans[0].explain().contains("content_filter"),
        "{}",
        plans[0].explain()
    );
}

const OPENAI_STREAM: &str = r#"
import json, sys
from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="not-needed")
chunks = client.chat.completions.create(
    model="streaming", messages=[{"role": "user", "content": "hello"}], stream=True,
    stream_options={"include_usage": True},
)
parts, usage, finish = [], None, None
for c in chunks:
    if c.choices and c.choices[0].delta.content:
        parts.append(c.choices[0].delta.content)
    if c.choices and c.choices[0].finish_reason:
        finish = c.choices[0].finish_reason
    if c.usage:
        usage = {"prompt": c.usage.prompt_tokens, "completion": c.usage.completion_tokens}
print(json.dumps({"parts": parts, "usage": usage, "finish": finish}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_the_official_openai_client_reads_windows_and_usage() {
    let python = python_with_openai();
    let dir = tempfile::tempdir().unwrap();
    let reply = "First window here. Second one follows. Third ends it.";
    let p = pipeline(dir.path(), &streaming_manifest(reply, "", ""))
        .await
        .unwrap();
    let server = TestServer::start(p, None).await;
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg("-c")
            .arg(OPENAI_STREAM)
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
    assert_eq!(
        v["parts"],
        json!([
            "First window here. ",
            "Second one follows. ",
            "Third ends it."
        ])
    );
    assert_eq!(v["finish"], "stop");
    assert!(v["usage"]["prompt"].as_u64().unwrap() > 0, "{v}");
    assert!(v["usage"]["completion"].as_u64().unwrap() > 0, "{v}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_inspect_names_each_component_s_contract_and_needs() {
    let e = engine(None);
    let new = switchyard::inspect::inspect(&e, &fixture("judge_window"))
        .await
        .unwrap();
    assert_eq!(new.contract, [switchyard::engine::ContractVersion::V0_2]);
    let d = new.description.as_ref().unwrap();
    assert!(d.checks_windows);
    assert_eq!(d.needs.model_calls, Some(0));
    assert!(
        new.to_string().contains("contract switchyard:node@0.2.0"),
        "{new}"
    );
    let old = switchyard::inspect::inspect(&e, &fixture("judge_scripted"))
        .await
        .unwrap();
    assert_eq!(old.contract, [switchyard::engine::ContractVersion::V0_1]);
    assert!(
        old.to_string().contains("needs    models: (not declared)"),
        "{old}"
    );
}

/// An OpenAI-compatible upstream on 127.0.0.1 that streams `sentences` as
/// SSE deltas, then holds the connection open without another byte.
async fn stalling_upstream(sentences: &'static [&'static str]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Read the request head and its body (Content-Length).
                loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
                for s in sentences {
                    let chunk = json!({"choices": [{"index": 0, "delta": {"content": s}, "finish_reason": null}]});
                    let _ = sock
                        .write_all(format!("data: {chunk}\n\n").as_bytes())
                        .await;
                    let _ = sock.flush().await;
                }
                // Stall: keep the socket open, send nothing more.
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            });
        }
    });
    format!("http://{addr}/v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_an_upstream_stall_mid_stream_ends_the_answer_with_a_typed_error() {
    let base = stalling_upstream(&[
        "First part is here. ",
        "Second part too. ",
        "Third never ends",
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let text = streaming_manifest("unused", "", "").replace(
        "[models.m]\nprovider = \"sim\"",
        &format!(
            "[models.m]\nprovider = \"openai\"\nupstream = \"stall-1\"\nbase-url = \"{base}\"\nstream-idle-timeout-ms = 300\nretries = 0"
        ),
    );
    let text = text
        .lines()
        .filter(|l| !l.starts_with("sim = "))
        .collect::<Vec<_>>()
        .join("\n");
    let p = pipeline(dir.path(), &text).await.unwrap();
    let server = TestServer::start(p, None).await;
    let (status, body) = raw_post(
        &format!("{}/v1/chat/completions", server.url),
        json!({"model": "streaming", "stream": true,
               "messages": [{"role": "user", "content": "go"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (streamed, finish) = chat_text(&body);
    // What the judges passed went out; the stall ended the stream with an
    // error event, not a silent cut.
    assert_eq!(streamed, "First part is here. Second part too. ");
    assert_eq!(finish, None, "{body}");
    assert!(!body.contains("Third"), "{body}");
    let error = sse_events(&body)
        .into_iter()
        .find(|(_, d)| d.contains("\"error\""))
        .expect("an error event");
    let v: Value = serde_json::from_str(&error.1).unwrap();
    assert_eq!(v["error"]["code"], "model", "{v}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_a_tool_call_round_trip_against_an_openai_compatible_server() {
    use switchyard_tests::{MockUpstream, Reply};
    // The upstream asks for the tool, then answers with its result.
    let call = json!({
        "id": "c1", "object": "chat.completion", "model": "tools-1",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "call_7", "type": "function",
                            "function": {"name": "add", "arguments": "{\"a\": 2, \"b\": 40}"}}]}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39},
    });
    let answer = json!({
        "id": "c2", "object": "chat.completion", "model": "tools-1",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "The sum is 42."}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 6, "total_tokens": 56},
    });
    let server = MockUpstream::start(vec![
        Reply::Json(200, call.to_string()),
        Reply::Json(200, answer.to_string()),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[pipeline]
name = "tools"

[models.m]
provider = "openai"
upstream = "tools-1"
base-url = "{base}"
price = {{ input = 1.0, output = 1.0 }}

[nodes.w]
role = "worker"
component = {w}
models = ["m"]
settings = {{ mode = "tools", model = "m" }}
"#,
        base = server.base_url,
        w = toml_path(&fixture("worker_v02")),
    );
    let p = pipeline(dir.path(), &text).await.unwrap();
    let out = run(&p, "t1", json!("what is 2 + 40?")).await;
    let v = out.result.expect("the round trip answers");
    // The node ran its own tool (the host never does) and sent the result.
    assert_eq!(
        v,
        json!({"tool": "add", "result": 42, "answer": "The sum is 42."})
    );
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let first = &requests[0].body;
    assert_eq!(first["tools"][0]["type"], "function");
    assert_eq!(first["tools"][0]["function"]["name"], "add");
    let second = &requests[1].body;
    let msgs = second["messages"].as_array().unwrap();
    let assistant = &msgs[msgs.len() - 2];
    assert_eq!(assistant["tool_calls"][0]["id"], "call_7");
    let tool = msgs.last().unwrap();
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], "call_7");
    assert_eq!(tool["content"], "42");
    // Both calls are priced in the ledger.
    assert_eq!(out.ledger.len(), 2);
    assert_eq!(out.totals.input_tokens, 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_embeddings_go_through_a_grant_and_a_budget() {
    let dir = tempfile::tempdir().unwrap();
    let text = |granted: &str, budget: &str| {
        format!(
            r#"
[pipeline]
name = "embed"
{budget}

[models.vec]
provider = "sim"
kind = "embedding"
dimensions = 32
price = {{ input = 1.0, output = 0.0 }}

[nodes.w]
role = "worker"
component = {w}
models = [{granted}]
settings = {{ mode = "embed", model = "vec" }}
"#,
            w = toml_path(&fixture("worker_v02")),
        )
    };
    let input = json!("refund my card twice | refund my card | weather in paris");
    let p = pipeline(dir.path(), &text(r#""vec""#, "")).await.unwrap();
    let out = run(&p, "e1", input.clone()).await;
    let v = out.result.expect("embedded");
    assert_eq!(v["vectors"], 3);
    assert_eq!(v["dimension"], 32);
    assert!(v["cosine"].as_f64().unwrap() > 0.5, "{v}");
    assert_eq!(out.ledger.len(), 1);
    assert!(out.totals.input_tokens > 0);
    assert!(out.totals.cost.0 > 0);

    // Not granted: denied, nothing spent.
    let p = pipeline(dir.path(), &text("", "")).await.unwrap();
    let err = run(&p, "e2", input.clone()).await.result.unwrap_err();
    assert!(err.to_string().contains("not granted model `vec`"), "{err}");

    // Over the run's budget: refused before anything is sent.
    let p = pipeline(dir.path(), &text(r#""vec""#, "budget = { tokens = 2 }"))
        .await
        .unwrap();
    let out = run(&p, "e3", input).await;
    let err = out.result.unwrap_err();
    assert!(err.to_string().contains("budget"), "{err}");
    assert_eq!(out.totals.cost.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_window_judges_of_one_worker_run_together_and_admission_counts_them() {
    // Two window judges check each window at once: a run's peak holds
    // both, so admitted runs never wait on the pool for them.
    let dir = tempfile::tempdir().unwrap();
    let text = streaming_manifest("One. Two. Three.", "", "")
        .replace(r#"judges = ["guard"]"#, r#"judges = ["guard", "guard2"]"#)
        + &format!(
            "\n[nodes.guard2]\nrole = \"judge\"\ncomponent = {}\n",
            toml_path(&fixture("judge_window"))
        );
    let p = pipeline(dir.path(), &text).await.unwrap();
    assert_eq!(p.peak_slots(), 2);
    let held = text.replace(r#"stream = { window = "sentence" }"#, "");
    let p_held = pipeline(dir.path(), &held).await.unwrap();
    assert_eq!(p_held.peak_slots(), 1);
    // Every window went to both judges.
    let out = run(&p, "w", json!("go")).await;
    assert_eq!(out.result.unwrap()["reply"], "One. Two. Three.");
    for judge in ["guard", "guard2"] {
        let windows: Vec<u32> = out
            .trace
            .iter()
            .filter(|s| s.node == judge)
            .filter_map(|s| s.window)
            .collect();
        assert_eq!(windows, [0, 1, 2], "{judge}");
    }
}
