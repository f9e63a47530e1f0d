//! A fault-injecting OpenAI-compatible upstream on 127.0.0.1 whose answers
//! come from the `sim` model (so every node of a real pipeline gets what it
//! asks for, JSON schemas included), for resilience tests: it can fail the
//! first attempt of every distinct request (a transient fault a retry
//! absorbs), and it can go down — its port refusing connections and the
//! requests in flight cut off — and come back on the same port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use switchyard::models::sim::SimProvider;
use switchyard::models::{ChatMessage, ChatRequest, ChatRole, ResponseFormat};
use switchyard::spec::SimSpec;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How the upstream misbehaves.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Never (apart from going down).
    None,
    /// The first time a request is seen, answer this status (with this
    /// `Retry-After`/`retry-after-ms` header, if any); its retry succeeds.
    FirstTry {
        /// HTTP status.
        status: u16,
        /// Extra header, e.g. `("retry-after", "1")`.
        header: Option<(&'static str, &'static str)>,
    },
}

struct State {
    fault: Fault,
    latency: Duration,
    sim: SimProvider,
    seen: Mutex<HashMap<String, u32>>,
    requests: AtomicUsize,
    answered: AtomicUsize,
}

/// The upstream. Dropping it stops it.
pub struct SimUpstream {
    /// e.g. `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    addr: SocketAddr,
    state: Arc<State>,
    down: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SimUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SimUpstream {
    /// Starts it: every answer takes `latency`.
    pub async fn start(fault: Fault, latency: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            fault,
            latency,
            sim: SimProvider::new(SimSpec {
                seed: 7,
                ..SimSpec::default()
            }),
            seen: Mutex::new(HashMap::new()),
            requests: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
        });
        let (down, down_rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, addr, state.clone(), down_rx));
        Self {
            base_url: format!("http://{addr}/v1"),
            addr,
            state,
            down,
            task,
        }
    }

    /// Requests received (each attempt is one).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests answered 200.
    pub fn answered(&self) -> usize {
        self.state.answered.load(Ordering::SeqCst)
    }

    /// Goes down: returns once its port refuses connections.
    pub async fn go_down(&self) {
        self.down.send_replace(true);
        while TcpStream::connect(self.addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    }

    /// Comes back on the same port: returns once it accepts connections.
    pub async fn come_back(&self) {
        self.down.send_replace(false);
        while TcpStream::connect(self.addr).await.is_err() {
            tokio::task::yield_now().await;
        }
    }
}

async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<State>,
    mut down: watch::Receiver<bool>,
) {
    let mut listener = Some(listener);
    let mut conns = JoinSet::new();
    loop {
        match &listener {
            Some(l) => {
                tokio::select! {
                    accepted = l.accept() => {
                        if let Ok((sock, _)) = accepted {
                            conns.spawn(answer(sock, state.clone()));
                        }
                    }
                    _ = down.changed() => {
                        if *down.borrow() {
                            // Killed: the port closes and requests in
                            // flight are cut off.
                            listener = None;
                            conns.abort_all();
                        }
                    }
                }
            }
            None => {
                if down.changed().await.is_err() {
                    return;
                }
                if !*down.borrow() {
                    loop {
                        match TcpListener::bind(addr).await {
                            Ok(l) => {
                                listener = Some(l);
                                break;
                            }
                            Err(_) => tokio::task::yield_now().await,
                        }
                    }
                }
            }
        }
        while conns.try_join_next().is_some() {}
    }
}

async fn answer(mut sock: TcpStream, state: Arc<State>) {
    let Some((_head, body)) = crate::read_request(&mut sock).await else {
        return;
    };
    state.requests.fetch_add(1, Ordering::SeqCst);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = body["messages"].to_string();
    let first = {
        let mut seen = state.seen.lock().unwrap();
        let n = seen.entry(key).or_insert(0);
        *n += 1;
        *n == 1
    };
    tokio::time::sleep(state.latency).await;
    let (status, header, text) = match (&state.fault, first) {
        (Fault::FirstTry { status, header }, true) => (
            *status,
            *header,
            json!({"error": {"message": "injected"}}).to_string(),
        ),
        _ => (200, None, completion(&state.sim, &body)),
    };
    let mut response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        text.len()
    );
    if let Some((k, v)) = header {
        response.push_str(&format!("{k}: {v}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&text);
    // Counted once written: an answer cut off by going down is not one.
    if sock.write_all(response.as_bytes()).await.is_ok() && status == 200 {
        state.answered.fetch_add(1, Ordering::SeqCst);
    }
    let _ = sock.shutdown().await;
}

/// The sim model's answer to an OpenAI chat-completions body.
fn completion(sim: &SimProvider, body: &Value) -> String {
    let messages = body["messages"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| ChatMessage {
                    role: match m["role"].as_str() {
                        Some("system") => ChatRole::System,
                        Some("assistant") => ChatRole::Assistant,
                        _ => ChatRole::User,
                    },
                    content: m["content"].as_str().unwrap_or_default().to_string(),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                })
                .collect()
        })
        .unwrap_or_default();
    let format = match body["response_format"]["type"].as_str() {
        Some("json_object") => ResponseFormat::JsonObject,
        Some("json_schema") => {
            ResponseFormat::JsonSchema(body["response_format"]["json_schema"]["schema"].to_string())
        }
        _ => ResponseFormat::Text,
    };
    let req = ChatRequest {
        model: body["model"].as_str().unwrap_or_default().to_string(),
        messages,
        max_tokens: body["max_tokens"].as_u64().map(|n| n as u32),
        temperature: None,
        format,
        extra: None,
        ..Default::default()
    };
    let upstream = req.model.clone();
    let answer = sim.answer(&upstream, &req).expect("no injected sim faults");
    json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.content}}],
        "usage": {"prompt_tokens": answer.usage.input_tokens, "completion_tokens": answer.usage.output_tokens}
    })
    .to_string()
}
