//! The OpenAI-compatible face of a pipeline: `POST /v1/chat/completions`
//! where `model` names the pipeline, and `GET /v1/models`. The last user
//! message becomes the run's input (a JSON object as is, plain text under
//! `[chat] input-field`); the reply is the first `[chat] reply` pointer that
//! names a string in the output, else the output as JSON text. With
//! `stream: true` the answer is sent as server-sent events: a streaming
//! worker's reply goes out window by window as its window judges pass each
//! window (`pipeline::release`), anything else once the run has passed.
//! Nothing unjudged is ever streamed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{run_live, status_of, with_trace, ApiError};
use super::stream::{sse, sse_response, usage_of, ChatStream, FirstRelease, RunTask};
use super::AppState;
use crate::config::ChatSpec;
use crate::pipeline::{Pipeline, RunClient, RunError, RunOutcome};

/// The request fields switchyard reads; others (temperature, user, …) are
/// accepted and ignored, as the pipeline's nodes choose their own settings.
#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    n: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    fn text(&self) -> Result<String, ApiError> {
        match self {
            Content::Text(t) => Ok(t.clone()),
            Content::Parts(parts) => {
                let mut out = String::new();
                for p in parts {
                    match (p.kind.as_str(), &p.text) {
                        ("text", Some(t)) => out.push_str(t),
                        (kind, _) => {
                            return Err(ApiError::bad_request(format!(
                                "message content part of type `{kind}` is not supported; send text"
                            )))
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

/// The run input for the conversation: the last user message, parsed if
/// it is a JSON object, else placed under the manifest's input field.
fn run_input(chat: &ChatSpec, messages: &[ChatMessage]) -> Result<Value, ApiError> {
    let last = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .ok_or_else(|| ApiError::bad_request("`messages` has no user message"))?;
    let text = match &last.content {
        Some(c) => c.text()?,
        None => {
            return Err(ApiError::bad_request(
                "the last user message has no content",
            ))
        }
    };
    if text.trim_start().starts_with('{') {
        if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&text) {
            return Ok(v);
        }
    }
    Ok(json!({ chat.input_field.clone(): text }))
}

/// The assistant's reply for `output`.
pub fn reply_text(chat: &ChatSpec, output: &Value) -> String {
    for pointer in &chat.reply {
        if let Some(Value::String(s)) = output.pointer(pointer) {
            return s.clone();
        }
    }
    match output {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<RunClient>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let client = client.map(|Extension(c)| c);
    let request: ChatRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a chat completion request: {e}")))?;
    let pipeline = state.live.current();
    let name = pipeline.manifest.name.clone();
    if request.model != name {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!(
                "the model `{}` does not exist; this server's model is the pipeline `{name}`",
                request.model
            ),
        ));
    }
    if request.n.is_some_and(|n| n != 1) {
        return Err(ApiError::bad_request("only `n = 1` is supported"));
    }
    let input = run_input(&pipeline.manifest.chat, &request.messages)?;
    let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
    if request.stream {
        return stream_chat(state, pipeline, input, headers, client, include_usage).await;
    }
    drop(pipeline);
    let (pipeline, run) = run_live(&state, None, input, &headers, client, None).await?;
    state.live.export_outcome(pipeline.clone(), &run);
    let answer = Answer::of(&pipeline, &run)?;
    Ok(with_trace(
        Json(json!({
            "id": answer.id,
            "object": "chat.completion",
            "created": answer.created,
            "model": answer.model,
            "system_fingerprint": answer.fingerprint,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer.content},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": usage_of(&run),
            "switchyard": answer.extra,
        }))
        .into_response(),
        &run.span,
    ))
}

/// What every answer to a finished run carries.
struct Answer {
    id: String,
    created: u64,
    model: String,
    fingerprint: String,
    content: String,
    extra: Value,
}

impl Answer {
    /// The answer to `run`, or its failure as an API error.
    fn of(pipeline: &Pipeline, run: &RunOutcome) -> Result<Self, ApiError> {
        let name = pipeline.manifest.name.clone();
        let output = match &run.result {
            Ok(v) => v,
            Err(e) => {
                return Err(ApiError::new(
                    status_of(run),
                    "pipeline_error",
                    e.kind(),
                    format!("pipeline `{name}` run {} failed: {e}", run.id),
                ))
            }
        };
        Ok(Self {
            id: format!("chatcmpl-{}", run.id),
            created: now(),
            fingerprint: format!("switchyard-gen-{}", pipeline.generation),
            content: reply_text(&pipeline.manifest.chat, output),
            extra: extra(pipeline, run),
            model: name,
        })
    }
}

/// The `switchyard` object of an answer: the run's id, generation, routes,
/// cost, output and trace id.
fn extra(pipeline: &Pipeline, run: &RunOutcome) -> Value {
    json!({
        "run_id": run.id,
        "generation": pipeline.generation,
        "routes": run.routes,
        "cost_pusd": run.totals.cost.0,
        "output": run.result.as_ref().ok(),
        "trace_id": run.span.trace_id,
    })
}

/// A run's failure as the typed object streamed answers carry.
fn run_error(e: &RunError) -> Value {
    json!({"kind": e.kind(), "node": e.node(), "message": e.to_string()})
}

/// One `chat.completion.chunk`.
fn chunk(
    id: &str,
    created: u64,
    model: &str,
    fingerprint: &str,
    delta: Value,
    finish: Value,
) -> Value {
    json!({
        "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    })
}

/// The usage chunk `stream_options.include_usage` asks for.
fn usage_chunk(id: &str, created: u64, model: &str, fingerprint: &str, run: &RunOutcome) -> Value {
    json!({
        "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "system_fingerprint": fingerprint, "choices": [], "usage": usage_of(run),
    })
}

/// `stream: true`. The run starts with an event sink. If text of the reply
/// is released (a streaming worker's windows, each passed by every window
/// judge), the answer streams from that moment, one chunk per window. If
/// the run ends first, it is answered whole as before: its failure as an
/// HTTP error, its reply as word-sized chunks.
async fn stream_chat(
    state: Arc<AppState>,
    pipeline: Arc<Pipeline>,
    input: Value,
    headers: HeaderMap,
    client: Option<RunClient>,
    include_usage: bool,
) -> Result<Response, ApiError> {
    let id = state.next_run_id();
    let reply = pipeline.manifest.chat.reply.clone();
    let (task, rx) = RunTask::start(state, Some(id.clone()), input, headers, client);
    let mut chat = ChatStream {
        task,
        rx,
        reply,
        pipeline: pipeline.clone(),
    };
    let first = match chat.first().await {
        FirstRelease::Text(text) => text,
        FirstRelease::Ended => {
            let (pipeline, run) = chat.task.finish().await?;
            return whole_stream(&pipeline, &run, include_usage);
        }
    };
    let id = format!("chatcmpl-{id}");
    let created = now();
    let model = pipeline.manifest.name.clone();
    let fingerprint = format!("switchyard-gen-{}", pipeline.generation);
    let head = [
        chunk(
            &id,
            created,
            &model,
            &fingerprint,
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        ),
        chunk(
            &id,
            created,
            &model,
            &fingerprint,
            json!({"content": first}),
            Value::Null,
        ),
    ];
    let pending: VecDeque<Bytes> = head.iter().map(|c| sse(None, c)).collect();
    struct Live {
        chat: Option<ChatStream>,
        pending: VecDeque<Bytes>,
        id: String,
        created: u64,
        model: String,
        fingerprint: String,
        include_usage: bool,
    }
    let live = Live {
        chat: Some(chat),
        pending,
        id,
        created,
        model,
        fingerprint,
        include_usage,
    };
    let body = futures::stream::unfold(live, |mut l| async move {
        loop {
            if let Some(b) = l.pending.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(b), l));
            }
            let chat = l.chat.as_mut()?;
            match chat.rx.recv().await {
                Some(e) => {
                    if let Some(text) = chat.reply_text(&e) {
                        let c = chunk(
                            &l.id,
                            l.created,
                            &l.model,
                            &l.fingerprint,
                            json!({"content": text}),
                            Value::Null,
                        );
                        l.pending.push_back(sse(None, &c));
                    }
                }
                None => {
                    let chat = l.chat.take()?;
                    let (id, created, model, fp) = (&l.id, l.created, &l.model, &l.fingerprint);
                    match chat.task.finish().await {
                        Ok((pipeline, run)) => {
                            // Text already went out, so the stream ends with
                            // the reason, typed, instead of the rest: a
                            // rejection as `content_filter`, a failure as an
                            // error event (which OpenAI clients raise).
                            let last = match &run.result {
                                Ok(_) => {
                                    Some(chunk(id, created, model, fp, json!({}), json!("stop")))
                                }
                                Err(e @ RunError::Rejected { .. }) => {
                                    let mut c = chunk(
                                        id,
                                        created,
                                        model,
                                        fp,
                                        json!({}),
                                        json!("content_filter"),
                                    );
                                    c["switchyard_error"] = run_error(e);
                                    Some(c)
                                }
                                Err(e) => {
                                    let mut body = ApiError::new(
                                        status_of(&run),
                                        "pipeline_error",
                                        e.kind(),
                                        format!("pipeline `{model}` run {} failed after streaming began: {e}", run.id),
                                    )
                                    .body();
                                    body["switchyard_error"] = run_error(e);
                                    l.pending.push_back(sse(None, &body));
                                    None
                                }
                            };
                            if let Some(mut last) = last {
                                last["switchyard"] = extra(&pipeline, &run);
                                l.pending.push_back(sse(None, &last));
                            }
                            if l.include_usage {
                                l.pending.push_back(sse(
                                    None,
                                    &usage_chunk(id, created, model, fp, &run),
                                ));
                            }
                        }
                        Err(e) => l.pending.push_back(sse(None, &e.body())),
                    }
                    l.pending.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
                }
            }
        }
    });
    Ok(sse_response(body))
}

/// A finished run answered as a stream: nothing of it was released while
/// it ran (no streaming worker, or its windows were held), so its reply
/// goes out in word-sized chunks now, or its failure as an HTTP error.
fn whole_stream(
    pipeline: &Pipeline,
    run: &RunOutcome,
    include_usage: bool,
) -> Result<Response, ApiError> {
    let a = Answer::of(pipeline, run)?;
    let (id, created, model, fp) = (&a.id, a.created, &a.model, &a.fingerprint);
    let mut events = vec![chunk(
        id,
        created,
        model,
        fp,
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in pieces(&a.content) {
        events.push(chunk(
            id,
            created,
            model,
            fp,
            json!({"content": piece}),
            Value::Null,
        ));
    }
    let mut last = chunk(id, created, model, fp, json!({}), json!("stop"));
    last["switchyard"] = a.extra.clone();
    events.push(last);
    if include_usage {
        events.push(usage_chunk(id, created, model, fp, run));
    }
    let mut body: Vec<Bytes> = events.iter().map(|e| sse(None, e)).collect();
    body.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let response = sse_response(futures::stream::iter(
        body.into_iter().map(Ok::<_, std::convert::Infallible>),
    ));
    Ok(with_trace(response, &run.span))
}

/// Splits a reply into word-sized stream deltas (whitespace kept).
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' && i > start {
            out.push(&text[start..i]);
            start = i;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// `GET /v1/models`: the pipeline, as the one model this server offers.
pub async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
    let p = state.live.current();
    Json(json!({
        "object": "list",
        "data": [{"id": p.manifest.name, "object": "model", "created": 0, "owned_by": "switchyard"}],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rejoin_to_the_reply() {
        let text = "Sorry for the  trouble — ünïcode ok";
        assert_eq!(pieces(text).concat(), text);
        assert!(pieces(text).len() > 3);
        assert!(pieces("").is_empty());
    }

    #[test]
    fn reply_text_takes_the_first_pointer_naming_a_string() {
        let chat = ChatSpec {
            input_field: "body".into(),
            reply: vec!["/a/reply".into(), "/b/reply".into()],
        };
        assert_eq!(reply_text(&chat, &json!({"b": {"reply": "hi"}})), "hi");
        assert_eq!(
            reply_text(&chat, &json!({"a": {"reply": 3}})),
            r#"{"a":{"reply":3}}"#
        );
        assert_eq!(reply_text(&ChatSpec::default(), &json!("plain")), "plain");
    }

    #[test]
    fn run_input_parses_json_objects_and_wraps_text() {
        let chat = ChatSpec {
            input_field: "body".into(),
            reply: vec![],
        };
        let msgs: Vec<ChatMessage> = serde_json::from_value(json!([
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": [{"type": "text", "text": "my card was "}, {"type": "text", "text": "charged twice"}]},
        ]))
        .unwrap();
        assert_eq!(
            run_input(&chat, &msgs).unwrap(),
            json!({"body": "my card was charged twice"})
        );
        let msgs: Vec<ChatMessage> = serde_json::from_value(
            json!([{"role": "user", "content": "{\"subject\": \"s\", \"body\": \"b\"}"}]),
        )
        .unwrap();
        assert_eq!(
            run_input(&chat, &msgs).unwrap(),
            json!({"subject": "s", "body": "b"})
        );
        let msgs: Vec<ChatMessage> =
            serde_json::from_value(json!([{"role": "system", "content": "x"}])).unwrap();
        assert!(run_input(&chat, &msgs).is_err());
    }
}
