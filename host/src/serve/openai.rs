//! The OpenAI-compatible face of a pipeline: `POST /v1/chat/completions`
//! where `model` names the pipeline, and `GET /v1/models`. The last user
//! message becomes the run's input (a JSON object as is, plain text under
//! `[chat] input-field`); the reply is the first `[chat] reply` pointer that
//! names a string in the output, else the output as JSON text. With
//! `stream: true` the answer is sent as server-sent events, but only after
//! the whole run, judges included, has passed: nothing unjudged is ever
//! streamed.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{run_live, status_of, with_trace, ApiError};
use super::AppState;
use crate::config::ChatSpec;

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
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
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
    drop(pipeline);
    let (pipeline, run) = run_live(&state, None, input, &headers).await?;
    if state.live.exports() {
        state.live.export(pipeline.clone(), run.clone());
    }
    let id = format!("chatcmpl-{}", run.id);
    let output = match &run.result {
        Ok(v) => v,
        Err(e) => {
            let code = e.kind();
            return Err(ApiError::new(
                status_of(&run),
                "pipeline_error",
                code,
                format!("pipeline `{name}` run {} failed: {e}", run.id),
            ));
        }
    };
    let content = reply_text(&pipeline.manifest.chat, output);
    let usage = json!({
        "prompt_tokens": run.totals.input_tokens,
        "completion_tokens": run.totals.output_tokens,
        "total_tokens": run.totals.input_tokens + run.totals.output_tokens,
    });
    let fingerprint = format!("switchyard-gen-{}", pipeline.generation);
    let extra = json!({
        "run_id": run.id,
        "generation": pipeline.generation,
        "routes": run.routes,
        "cost_pusd": run.totals.cost.0,
        "output": output,
        "trace_id": run.span.trace_id,
    });
    let created = now();
    if !request.stream {
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": name,
            "system_fingerprint": fingerprint,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": usage,
            "switchyard": extra,
        }))
        .into_response())
        .map(|r| with_trace(r, &run));
    }
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": name,
            "system_fingerprint": fingerprint,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in pieces(&content) {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    let mut last = chunk(json!({}), json!("stop"));
    last["switchyard"] = extra;
    events.push(last);
    if request.stream_options.is_some_and(|o| o.include_usage) {
        events.push(json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": name,
            "system_fingerprint": fingerprint, "choices": [], "usage": usage,
        }));
    }
    let mut body = String::new();
    for e in events {
        body.push_str("data: ");
        body.push_str(&e.to_string());
        body.push_str("\n\n");
    }
    body.push_str("data: [DONE]\n\n");
    let response = (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response();
    Ok(with_trace(response, &run))
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
