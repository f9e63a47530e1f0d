//! Streams through the hub against a scripted OpenAI-compatible server on
//! 127.0.0.1 (each connection answers the next script: a status, or SSE
//! parts ending cleanly, hanging, or reset) and the `sim` model: the fault
//! matrix (stall, truncation, malformed event, reset) before and after
//! release, retries and fallbacks, pricing, the cache and refusals.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{
    CallOutcome, ChatMessage, ChatRequest, ChatRole, HubChunk, Ledger, ModelError, ModelHub,
    ResponseCache, RunBudget, StreamCaller,
};
use crate::spec::{
    BudgetSpec, CacheSpec, CallPolicy, ModelKind, ModelSpec, Price, ProviderSpec, SimSpec,
};

/// How a scripted SSE answer ends.
#[derive(Clone, Copy)]
enum End {
    /// The body ends properly (whatever the parts said).
    Close,
    /// The connection stays open, silent.
    Hang,
    /// The connection is reset mid-body.
    Reset,
}

#[derive(Clone)]
enum Script {
    Status(u16),
    Sse(Vec<String>, End),
}

struct Server {
    base_url: String,
    requests: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn delta(t: &str) -> String {
    format!(
        "data: {}\n\n",
        serde_json::json!({"choices": [{"delta": {"content": t}}]})
    )
}

const DONE: &str = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n";

/// A server answering connection `i` with `scripts[i]` (the last again
/// once they are used up).
async fn server(scripts: Vec<Script>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (r, b) = (requests.clone(), bodies.clone());
    let scripts = Arc::new(Mutex::new(VecDeque::from(scripts)));
    let task = tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            r.fetch_add(1, Ordering::SeqCst);
            let script = {
                let mut s = scripts.lock().unwrap();
                if s.len() > 1 {
                    s.pop_front().unwrap()
                } else {
                    s.front().cloned().unwrap()
                }
            };
            let b = b.clone();
            tokio::spawn(async move { answer(sock, script, b).await });
        }
    });
    Server {
        base_url,
        requests,
        bodies,
        task,
    }
}

async fn answer(mut sock: TcpStream, script: Script, bodies: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    // Head, then the body by its Content-Length.
    loop {
        let Ok(n) = sock.read(&mut tmp).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&tmp[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(at) = text.find("\r\n\r\n") {
            let len: usize = text[..at]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= at + 4 + len {
                bodies.lock().unwrap().push(text[at + 4..].to_string());
                break;
            }
        }
    }
    match script {
        Script::Status(code) => {
            let body = r#"{"error":{"message":"down"}}"#;
            let _ = sock
                .write_all(
                    format!(
                        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
        Script::Sse(parts, end) => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for p in parts {
                let chunk = format!("{:x}\r\n{p}\r\n", p.len());
                if sock.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
                let _ = sock.flush().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            match end {
                End::Close => {
                    let _ = sock.write_all(b"0\r\n\r\n").await;
                }
                End::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
                End::Reset => {
                    let _ = sock.set_zero_linger();
                }
            }
        }
    }
}

fn policy(retries: u32, fallback: &[&str]) -> CallPolicy {
    CallPolicy {
        timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_millis(150),
        retries,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        fallback: fallback.iter().map(|s| s.to_string()).collect(),
    }
}

/// `remote` at `base_url` (2 retries unless set, falling back to
/// `backup`, a sim model), priced 1/2 USD per million.
fn hub(base_url: &str, retries: u32) -> Arc<ModelHub> {
    let mut models = BTreeMap::new();
    models.insert(
        "remote".to_string(),
        ModelSpec {
            name: "remote".into(),
            upstream: "up".into(),
            provider: ProviderSpec::OpenAi {
                base_url: base_url.into(),
                api_key_env: None,
            },
            price: Price::per_million(1.0, 2.0),
            policy: policy(retries, &["backup"]),
            breaker: None,
            rate_limit: None,
            kind: ModelKind::Chat,
            dimensions: None,
        },
    );
    models.insert(
        "backup".to_string(),
        ModelSpec {
            name: "backup".into(),
            upstream: "backup".into(),
            provider: ProviderSpec::Sim(SimSpec {
                reply: Some("from backup".into()),
                ..SimSpec::default()
            }),
            price: Price::per_million(0.5, 0.5),
            policy: policy(0, &[]),
            breaker: None,
            rate_limit: None,
            kind: ModelKind::Chat,
            dimensions: None,
        },
    );
    Arc::new(ModelHub::build(&models, |_| None).unwrap())
}

fn caller(ledger: &Arc<Ledger>) -> StreamCaller {
    StreamCaller::new(
        "w",
        Arc::from(vec!["remote".to_string(), "backup".to_string()]),
        ledger.clone(),
    )
}

fn req(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![ChatMessage::new(
            ChatRole::User,
            "where is my parcel, it was due on monday",
        )],
        ..Default::default()
    }
}

/// Drains a stream, releasing after the first delta when `release`;
/// the chunks and the final result.
async fn drain(s: &mut super::HubStream, release: bool) -> (Vec<HubChunk>, Option<ModelError>) {
    let mut chunks = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(c) => {
                if release && matches!(c, HubChunk::Delta(_)) {
                    s.release();
                }
                chunks.push(c);
            }
            Err(e) => return (chunks, Some(e)),
        }
    }
    (chunks, None)
}

fn outcomes(l: &Ledger) -> Vec<(String, String)> {
    l.entries()
        .iter()
        .map(|e| (e.model.clone(), e.outcome.as_str().to_string()))
        .collect()
}

fn pair(m: &str, o: &str) -> (String, String) {
    (m.to_string(), o.to_string())
}

#[tokio::test]
async fn stream_ok_is_priced_from_the_reported_usage_and_asks_for_it() {
    let srv = server(vec![Script::Sse(
        vec![delta("Hel"), delta("lo!"), DONE.into()],
        End::Close,
    )])
    .await;
    let ledger = Arc::new(Ledger::new());
    let mut s = hub(&srv.base_url, 2).stream(caller(&ledger), req("remote"));
    let (chunks, err) = drain(&mut s, true).await;
    assert_eq!(err, None);
    let HubChunk::Done(resp) = chunks.last().unwrap() else {
        panic!("{chunks:?}");
    };
    assert_eq!(resp.content, "Hello!");
    assert_eq!(resp.model, "remote");
    assert_eq!(resp.finish_reason.as_deref(), Some("stop"));
    assert_eq!((resp.usage.input_tokens, resp.usage.output_tokens), (40, 3));
    let e = &ledger.entries()[0];
    assert_eq!(
        (e.outcome, e.input_tokens, e.output_tokens, e.estimated),
        (CallOutcome::Ok, 40, 3, false)
    );
    assert_eq!(e.cost, Price::per_million(1.0, 2.0).cost(40, 3));
    let body: serde_json::Value = serde_json::from_str(&srv.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["max_tokens"], 1024, "the output cap is always sent");
    drop(s);
    assert_eq!(ledger.entries().len(), 1, "a finished stream records once");
}

#[tokio::test]
async fn stream_stall_after_release_times_out_at_the_idle_timeout_priced_as_received() {
    let srv = server(vec![Script::Sse(
        vec![delta("abcdefgh"), delta("ijkl")],
        End::Hang,
    )])
    .await;
    let ledger = Arc::new(Ledger::new());
    let mut s = hub(&srv.base_url, 2).stream(caller(&ledger), req("remote"));
    let mut got = String::new();
    let mut stalled_at = None;
    let mut last_chunk = Instant::now();
    while let Some(item) = s.next().await {
        match item {
            Ok(HubChunk::Delta(t)) => {
                s.release();
                got.push_str(&t);
                last_chunk = Instant::now();
            }
            Ok(other) => panic!("{other:?}"),
            Err(e) => {
                assert_eq!(e, ModelError::Timeout);
                stalled_at = Some(last_chunk.elapsed());
            }
        }
    }
    let waited = stalled_at.expect("a timeout");
    assert_eq!(got, "abcdefghijkl");
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    assert_eq!(
        srv.requests.load(Ordering::SeqCst),
        1,
        "no retry after release"
    );
    let entries = ledger.entries();
    assert_eq!(outcomes(&ledger), vec![pair("remote", "cancelled")]);
    let e = &entries[0];
    assert_eq!(e.output_tokens, 3, "12 characters received");
    assert!(e.input_tokens > 0 && e.estimated);
    assert_eq!(e.cost, Price::per_million(1.0, 2.0).cost(e.input_tokens, 3));
    assert!(s.next().await.is_none());
}

/// One fault after a released delta: the stream ends with `want` in the
/// error text, unretried.
async fn fault_after_release(parts: Vec<String>, end: End, want: &str) {
    let srv = server(vec![Script::Sse(parts, end)]).await;
    let ledger = Arc::new(Ledger::new());
    let mut s = hub(&srv.base_url, 2).stream(caller(&ledger), req("remote"));
    let (chunks, err) = drain(&mut s, true).await;
    assert_eq!(chunks, vec![HubChunk::Delta("partial".into())]);
    match err {
        Some(ModelError::Unavailable(m)) => assert!(m.contains(want), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(srv.requests.load(Ordering::SeqCst), 1);
    assert_eq!(outcomes(&ledger), vec![pair("remote", "cancelled")]);
    assert_eq!(ledger.entries()[0].output_tokens, 2);
}

#[tokio::test]
async fn stream_truncated_after_release_ends_with_unavailable() {
    fault_after_release(vec![delta("partial")], End::Close, "truncated").await;
}

#[tokio::test]
async fn stream_malformed_event_after_release_ends_with_unavailable() {
    fault_after_release(
        vec![delta("partial"), "data: {\"choices\": [\n\n".into()],
        End::Hang,
        "malformed stream event",
    )
    .await;
}

#[tokio::test]
async fn stream_reset_after_release_ends_with_unavailable() {
    fault_after_release(vec![delta("partial")], End::Reset, "broke off").await;
}

#[tokio::test]
async fn stream_error_event_after_release_is_typed() {
    let srv = server(vec![Script::Sse(
        vec![
            delta("partial"),
            "data: {\"error\":{\"type\":\"rate_limit_exceeded\",\"message\":\"slow\"}}\n\n".into(),
        ],
        End::Hang,
    )])
    .await;
    let ledger = Arc::new(Ledger::new());
    let mut s = hub(&srv.base_url, 2).stream(caller(&ledger), req("remote"));
    let (_, err) = drain(&mut s, true).await;
    assert_eq!(err, Some(ModelError::RateLimited));
}

#[tokio::test]
async fn stream_failure_before_release_is_retried_transparently() {
    // Every fault, then a good answer; the consumer never releases.
    let srv = server(vec![
        Script::Sse(vec![delta("first try")], End::Close),
        Script::Sse(vec![delta("again"), "data: nope\n\n".into()], End::Hang),
        Script::Sse(vec![delta("x")], End::Reset),
        Script::Sse(vec![delta("Fine."), DONE.into()], End::Close),
    ])
    .await;
    let ledger = Arc::new(Ledger::new());
    let mut s = hub(&srv.base_url, 3).stream(caller(&ledger), req("remote"));
    let (chunks, err) = drain(&mut s, false).await;
    assert_eq!(err, None);
    assert_eq!(
        chunks,
        vec![
            HubChunk::Delta("first try".into()),
            HubChunk::Restart,
            HubChunk::Delta("again".into()),
            HubChunk::Restart,
            HubChunk::Delta("x".into()),
            HubChunk::Restart,
            HubChunk::Delta("Fine.".into()),
            chunks.last().cloned().unwrap(),
        ]
    );
    let HubChunk::Done(resp) = chunks.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        (resp.content.as_str(), resp.model.as_str()),
        ("Fine.", "remote")
    );
    assert_eq!(
        outcomes(&ledger),
        vec![
            pair("remote", "cancelled"),
            pair("remote", "cancelled"),
            pair("remote", "cancelled"),
            pair("remote", "ok"),
        ]
    );
    let attempts: Vec<u32> = ledger.entries().iter().map(|e| e.attempt).collect();
    assert_eq!(attempts, vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn stream_stall_before_the_first_chunk_is_retried() {
    let srv = server(vec![
        Script::Sse(vec![], End::Hang),
        Script::Sse(vec![delta("ok"), DONE.into()], End::Close),
    ])
    .await;
    let mut models = BTreeMap::new();
    let h = hub(&srv.base_url, 2);
    // The first chunk is bounded by `timeout`: make it short.
    let spec = h.spec("remote").unwrap().clone();
    let mut spec2 = spec.clone();
    spec2.policy.timeout = Duration::from_millis(200);
    models.insert("remote".to_string(), spec2);
    models.insert("backup".to_string(), h.spec("backup").unwrap().clone());
    let h = Arc::new(ModelHub::build(&models, |_| None).unwrap());
    let ledger = Arc::new(Ledger::new());
    let mut s = h.stream(caller(&ledger), req("remote"));
    s.release();
    let (chunks, err) = drain(&mut s, true).await;
    assert_eq!(err, None);
    assert_eq!(
        chunks[0],
        HubChunk::Delta("ok".into()),
        "nothing to restart"
    );
    assert_eq!(
        outcomes(&ledger),
        vec![pair("remote", "timeout"), pair("remote", "ok")]
    );
}

#[tokio::test]
async fn stream_falls_back_before_release() {
    let srv = server(vec![Script::Status(503)]).await;
    let ledger = Arc::new(Ledger::new());
    let mut s = hub(&srv.base_url, 1).stream(caller(&ledger), req("remote"));
    assert_eq!(s.model(), "remote");
    let (chunks, err) = drain(&mut s, true).await;
    assert_eq!(err, None);
    assert_eq!(s.model(), "backup");
    assert_eq!(chunks[0], HubChunk::Delta("from backup".into()));
    let HubChunk::Done(resp) = &chunks[1] else {
        panic!("{chunks:?}")
    };
    assert_eq!(resp.model, "backup");
    assert_eq!(
        outcomes(&ledger),
        vec![
            pair("remote", "unavailable"),
            pair("remote", "unavailable"),
            pair("backup", "ok"),
        ]
    );
    assert_eq!(ledger.entries()[2].fallback_from.as_deref(), Some("remote"));
}

#[tokio::test]
async fn stream_dropped_mid_way_is_cancelled_with_the_tokens_received() {
    let srv = server(vec![Script::Sse(vec![delta("12345678")], End::Hang)]).await;
    let ledger = Arc::new(Ledger::new());
    let budget = Arc::new(RunBudget::new(
        BudgetSpec {
            tokens: Some(100_000),
            cost: None,
        },
        BTreeMap::new(),
    ));
    let mut c = caller(&ledger);
    c.budget = Some(budget.clone());
    let mut s = hub(&srv.base_url, 2).stream(c, req("remote"));
    assert_eq!(
        s.next().await.unwrap().unwrap(),
        HubChunk::Delta("12345678".into())
    );
    drop(s);
    let e = &ledger.entries()[0];
    assert_eq!((e.outcome, e.output_tokens), (CallOutcome::Cancelled, 2));
    assert!(e.input_tokens > 0);
    // The reservation was settled at what was received: the rest of the
    // budget is free again.
    let r = budget
        .reserve("w", 100_000 - e.input_tokens - 2, crate::spec::Cost(0))
        .unwrap();
    budget.settle(r, 0, crate::spec::Cost(0));
}

#[tokio::test]
async fn stream_and_complete_of_sim_answer_and_price_alike() {
    let h = hub("http://127.0.0.1:9/v1", 0);
    let whole_ledger = Ledger::new();
    let granted = ["backup".to_string()];
    let whole = h
        .complete(
            super::Caller::new("w", &granted, &whole_ledger),
            req("backup"),
        )
        .await
        .unwrap();
    let ledger = Arc::new(Ledger::new());
    let mut s = h.stream(caller(&ledger), req("backup"));
    let (chunks, _) = drain(&mut s, true).await;
    assert_eq!(chunks.last(), Some(&HubChunk::Done(whole.clone())));
    let (a, b) = (&whole_ledger.entries()[0], &ledger.entries()[0]);
    assert_eq!(
        (a.outcome, a.input_tokens, a.output_tokens, a.cost),
        (b.outcome, b.input_tokens, b.output_tokens, b.cost)
    );
}

#[tokio::test]
async fn stream_cache_hits_come_as_one_delta_and_done_and_streams_fill_it() {
    let h = hub("http://127.0.0.1:9/v1", 0);
    let ledger = Arc::new(Ledger::new());
    let mut c = caller(&ledger);
    c.cache = Some(Arc::new(ResponseCache::new(CacheSpec {
        ttl: Duration::from_secs(60),
        max_entries: 10,
    })));
    let (first, _) = drain(&mut h.stream(c.clone(), req("backup")), true).await;
    let (second, _) = drain(&mut h.stream(c, req("backup")), true).await;
    assert_eq!(first, second);
    assert_eq!(second.len(), 2);
    assert_eq!(
        outcomes(&ledger),
        vec![pair("backup", "ok"), pair("backup", "cache-hit")]
    );
}

#[tokio::test]
async fn stream_refusals_come_out_of_the_first_next() {
    let h = hub("http://127.0.0.1:9/v1", 0);
    let ledger = Arc::new(Ledger::new());
    let c = StreamCaller::new("w", Arc::from(vec![]), ledger.clone());
    let mut s = h.stream(c, req("backup"));
    assert!(matches!(s.next().await, Some(Err(ModelError::Denied(_)))));
    assert!(s.next().await.is_none());
    let mut c = caller(&ledger);
    c.budget = Some(Arc::new(RunBudget::new(
        BudgetSpec {
            tokens: Some(10),
            cost: None,
        },
        BTreeMap::new(),
    )));
    let mut s = h.stream(c, req("backup"));
    assert!(matches!(
        s.next().await,
        Some(Err(ModelError::BudgetExceeded(_)))
    ));
    assert_eq!(
        outcomes(&ledger),
        vec![pair("backup", "denied"), pair("backup", "budget-exceeded")]
    );
}

fn tools() -> Vec<super::ToolDef> {
    vec![
        super::ToolDef {
            name: "get_weather".into(),
            description: "Weather for a city".into(),
            parameters: serde_json::json!({"type": "object",
                "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        },
        super::ToolDef {
            name: "get_time".into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object"}),
        },
    ]
}

fn tool_req(model: &str) -> ChatRequest {
    ChatRequest {
        tools: tools(),
        ..req(model)
    }
}

fn tool_delta(calls: serde_json::Value) -> String {
    format!(
        "data: {}\n\n",
        serde_json::json!({"choices": [{"delta": {"tool_calls": calls}}]})
    )
}

#[tokio::test]
async fn stream_tool_call_fragments_are_joined_by_index_into_done() {
    let srv = server(vec![Script::Sse(
        vec![
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n"
                .into(),
            tool_delta(
                serde_json::json!([{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]),
            ),
            tool_delta(serde_json::json!([{"index": 0, "function": {"arguments": "{\"ci"}}])),
            tool_delta(
                serde_json::json!([{"index": 1, "id": "call_2", "type": "function",
                "function": {"name": "get_time", "arguments": "{}"}}]),
            ),
            tool_delta(
                serde_json::json!([{"index": 0, "function": {"arguments": "ty\":\"Rome\"}"}}]),
            ),
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n".into(),
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":60,\"completion_tokens\":12}}\n\n"
                .into(),
            "data: [DONE]\n\n".into(),
        ],
        End::Close,
    )])
    .await;
    let ledger = Arc::new(Ledger::new());
    let mut s = hub(&srv.base_url, 0).stream(caller(&ledger), tool_req("remote"));
    let (chunks, err) = drain(&mut s, true).await;
    assert_eq!(err, None);
    let [HubChunk::Done(resp)] = chunks.as_slice() else {
        panic!("{chunks:?}");
    };
    assert_eq!(resp.content, "");
    assert_eq!(resp.finish_reason.as_deref(), Some("tool_calls"));
    let calls: Vec<(&str, &str, &str)> = resp
        .tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("call_1", "get_weather", r#"{"city":"Rome"}"#),
            ("call_2", "get_time", "{}"),
        ]
    );
    assert_eq!(outcomes(&ledger), vec![pair("remote", "ok")]);
    let body: serde_json::Value = serde_json::from_str(&srv.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(body["tool_choice"], "auto");
}

#[tokio::test]
async fn stream_tool_calls_past_their_bounds_are_unusable_and_retried() {
    let huge = "x".repeat(super::tools::MAX_TOOL_ARGUMENT_BYTES / 2 + 1);
    let srv = server(vec![Script::Sse(
        vec![
            tool_delta(serde_json::json!([{"index": 0, "id": "c", "function": {"name": "get_time", "arguments": huge}}])),
            tool_delta(serde_json::json!([{"index": 0, "function": {"arguments": huge}}])),
            DONE.into(),
        ],
        End::Close,
    )])
    .await;
    let ledger = Arc::new(Ledger::new());
    let mut s = hub(&srv.base_url, 1).stream(caller(&ledger), tool_req("remote"));
    let (chunks, err) = drain(&mut s, true).await;
    assert_eq!(err, None);
    // Both attempts at `remote` refused, then `backup` (sim) answers.
    assert_eq!(
        outcomes(&ledger),
        vec![
            pair("remote", "unavailable"),
            pair("remote", "unavailable"),
            pair("backup", "ok")
        ]
    );
    let Some(HubChunk::Done(resp)) = chunks.last() else {
        panic!("{chunks:?}");
    };
    assert_eq!(resp.model, "backup");
    assert_eq!(resp.tool_calls[0].name, "get_weather");
}

#[tokio::test]
async fn stream_and_complete_of_sim_call_the_same_tool() {
    let h = hub("http://127.0.0.1:9/v1", 0);
    let whole_ledger = Ledger::new();
    let granted = ["backup".to_string()];
    let whole = h
        .complete(
            super::Caller::new("w", &granted, &whole_ledger),
            tool_req("backup"),
        )
        .await
        .unwrap();
    assert_eq!(whole.tool_calls.len(), 1, "{whole:?}");
    let ledger = Arc::new(Ledger::new());
    let (chunks, err) = drain(&mut h.stream(caller(&ledger), tool_req("backup")), true).await;
    assert_eq!(err, None);
    assert_eq!(chunks.last(), Some(&HubChunk::Done(whole)));
    let (a, b) = (&whole_ledger.entries()[0], &ledger.entries()[0]);
    assert_eq!(
        (a.outcome, a.input_tokens, a.output_tokens, a.cost),
        (b.outcome, b.input_tokens, b.output_tokens, b.cost)
    );
}

#[tokio::test]
async fn stream_tools_are_checked_before_anything_is_sent() {
    let srv = server(vec![Script::Status(500)]).await;
    let h = hub(&srv.base_url, 0);
    let ledger = Arc::new(Ledger::new());
    let mut twice = tool_req("remote");
    twice.tools[1].name = "get_weather".into();
    let mut s = h.stream(caller(&ledger), twice);
    assert!(matches!(
        s.next().await,
        Some(Err(ModelError::InvalidRequest(m))) if m.contains("`tools[1].name`") && m.contains("defined twice")
    ));
    assert!(s.next().await.is_none());
    let mut orphan = req("remote");
    orphan
        .messages
        .push(ChatMessage::new(ChatRole::Tool, "sunny"));
    let mut s = h.stream(caller(&ledger), orphan);
    assert!(matches!(
        s.next().await,
        Some(Err(ModelError::InvalidRequest(m))) if m.contains("tool-call-id")
    ));
    assert_eq!(
        outcomes(&ledger),
        vec![
            pair("remote", "invalid-request"),
            pair("remote", "invalid-request")
        ]
    );
    assert_eq!(srv.requests.load(Ordering::SeqCst), 0, "nothing sent");
}

#[tokio::test]
async fn stream_cache_keys_cover_tools() {
    let h = hub("http://127.0.0.1:9/v1", 0);
    let ledger = Arc::new(Ledger::new());
    let mut c = caller(&ledger);
    c.cache = Some(Arc::new(ResponseCache::new(CacheSpec {
        ttl: Duration::from_secs(60),
        max_entries: 10,
    })));
    let (with_tools, _) = drain(&mut h.stream(c.clone(), tool_req("backup")), true).await;
    let (plain, _) = drain(&mut h.stream(c.clone(), req("backup")), true).await;
    let mut named = tool_req("backup");
    named.tool_choice = super::ToolChoice::Named("get_time".into());
    let (other_choice, _) = drain(&mut h.stream(c.clone(), named), true).await;
    let (again, _) = drain(&mut h.stream(c, tool_req("backup")), true).await;
    assert_eq!(again, with_tools, "the same tools: a hit, tool calls kept");
    assert_ne!(plain, with_tools);
    assert_ne!(other_choice, with_tools);
    assert_eq!(
        outcomes(&ledger),
        vec![
            pair("backup", "ok"),
            pair("backup", "ok"),
            pair("backup", "ok"),
            pair("backup", "cache-hit")
        ]
    );
}
