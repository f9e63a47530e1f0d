//! `openai`: any OpenAI-compatible `/chat/completions` server (OpenAI, vLLM,
//! Ollama, the llama.cpp server, LiteLLM, Together, Groq…).
//!
//! The API key is read once from the environment variable the manifest names
//! and lives only in this provider; it never reaches a node, a log line or a
//! trace (its `Debug` is redacted).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::sse::{malformed, sse_stream, stream_error, SseDecoder, SseEvent};
use super::types::{ChatRequest, ChatResponse, ModelError, ProviderError, ResponseFormat, Usage};
use super::{ModelProvider, ProviderStream, StreamEvent};

/// A secret that never prints.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the one header that carries it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// An OpenAI-compatible upstream.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    endpoint: String,
    key: Option<ApiKey>,
}

impl OpenAiProvider {
    /// A provider for the server at `base_url` (ending in `/v1` for most
    /// servers); requests go to `{base_url}/chat/completions`.
    pub fn new(client: reqwest::Client, base_url: &str, key: Option<ApiKey>) -> Self {
        Self {
            client,
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            key,
        }
    }

    /// The request body for `req` sent to model `upstream`.
    pub fn body(upstream: &str, req: &ChatRequest) -> Value {
        let mut body = json!({
            "model": upstream,
            "messages": super::tools::openai_messages(&req.messages),
        });
        let obj = body.as_object_mut().expect("object literal");
        if let Some(m) = req.max_tokens {
            obj.insert("max_tokens".into(), json!(m));
        }
        if let Some(t) = req.temperature {
            obj.insert("temperature".into(), json!(t));
        }
        match &req.format {
            ResponseFormat::Text => {}
            ResponseFormat::JsonObject => {
                obj.insert("response_format".into(), json!({"type": "json_object"}));
            }
            ResponseFormat::JsonSchema(schema) => {
                let schema: Value = serde_json::from_str(schema).unwrap_or(Value::Null);
                obj.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}),
                );
            }
        }
        super::tools::openai_tools(req, obj);
        req.merge_extra(obj);
        body
    }
}

#[async_trait]
impl ModelProvider for OpenAiProvider {
    async fn complete(
        &self,
        upstream: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let mut http = self
            .client
            .post(&self.endpoint)
            .json(&Self::body(upstream, req));
        if let Some(key) = &self.key {
            http = http.bearer_auth(&key.0);
        }
        let text = send(traced(http, req)).await?;
        parse_response(&text, req).map_err(ProviderError::unusable_answer)
    }

    async fn stream(
        &self,
        upstream: &str,
        req: &ChatRequest,
    ) -> Result<ProviderStream, ProviderError> {
        let mut body = Self::body(upstream, req);
        if let Some(obj) = body.as_object_mut() {
            obj.insert("stream".into(), json!(true));
            obj.insert("stream_options".into(), json!({"include_usage": true}));
        }
        let mut http = self.client.post(&self.endpoint).json(&body);
        if let Some(key) = &self.key {
            http = http.bearer_auth(&key.0);
        }
        let resp = open(traced(http, req)).await?;
        Ok(sse_stream(resp, StreamDecoder::default()))
    }
}

/// Decodes a chat-completions stream: `data: {chunk}` lines with
/// `choices[0].delta.content` and `finish_reason`, tool-call fragments
/// (`choices[0].delta.tool_calls`, joined by index into the final
/// event's calls), the usage chunk (`stream_options.include_usage`), error
/// objects, and `data: [DONE]`.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    finish_reason: Option<String>,
    input: Option<u64>,
    output: Option<u64>,
    tool_calls: super::tools::StreamedToolCalls,
}

impl SseDecoder for StreamDecoder {
    fn event(&mut self, ev: SseEvent) -> Result<Option<StreamEvent>, ProviderError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            let usage = match (self.input, self.output) {
                (Some(input_tokens), Some(output_tokens)) => Some(Usage {
                    input_tokens,
                    output_tokens,
                    estimated: false,
                }),
                _ => None,
            };
            let tool_calls = std::mem::take(&mut self.tool_calls)
                .finish()
                .map_err(ProviderError::unusable_answer)?;
            return Ok(Some(StreamEvent::Done {
                usage,
                finish_reason: self.finish_reason.take(),
                tool_calls,
            }));
        }
        let v: Value = serde_json::from_str(data).map_err(malformed)?;
        if let Some(err) = v.get("error") {
            let kind = ["/type", "/code"]
                .iter()
                .find_map(|p| err.pointer(p).and_then(Value::as_str))
                .unwrap_or("error");
            let message = err["message"].as_str().unwrap_or_default();
            return Err(stream_error(kind, message));
        }
        if !v.is_object() {
            return Err(malformed("a chunk is not a JSON object"));
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.input = u["prompt_tokens"].as_u64().or(self.input);
            self.output = u["completion_tokens"].as_u64().or(self.output);
        }
        self.tool_calls
            .openai_chunk(&v)
            .map_err(ProviderError::unusable_answer)?;
        if let Some(f) = v
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
        {
            self.finish_reason = Some(short(f));
        }
        Ok(v.pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| StreamEvent::Delta(t.to_string())))
    }

    fn end_marker(&self) -> &'static str {
        "data: [DONE]"
    }
}

/// The request with the attempt's W3C `traceparent`, when the run is
/// traced, so a traced upstream joins the run's trace. Shared by the HTTP
/// providers.
pub(crate) fn traced(http: reqwest::RequestBuilder, req: &ChatRequest) -> reqwest::RequestBuilder {
    match &req.traceparent {
        Some(tp) => http.header("traceparent", tp),
        None => http,
    }
}

/// The largest answer body read from an upstream.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Sends a request and returns the body of a 2xx answer; anything else
/// becomes a classified [`ProviderError`]. Shared by the HTTP providers.
pub(crate) async fn send(http: reqwest::RequestBuilder) -> Result<String, ProviderError> {
    let resp = http.send().await.map_err(transport_error)?;
    read_body(resp).await
}

/// Sends a request and returns a 2xx answer unread (a stream); anything
/// else becomes a classified [`ProviderError`]. Shared by the HTTP
/// providers.
pub(crate) async fn open(
    http: reqwest::RequestBuilder,
) -> Result<reqwest::Response, ProviderError> {
    let resp = http.send().await.map_err(transport_error)?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    match read_body(resp).await {
        Ok(_) => Err(ProviderError::transient(ModelError::Unavailable(
            "the upstream answered with an unexpected status".into(),
        ))),
        Err(e) => Err(e),
    }
}

/// The body of an answer, bounded; a non-2xx becomes a classified error.
async fn read_body(resp: reqwest::Response) -> Result<String, ProviderError> {
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers());
    // A body cut short (connection reset, truncated Content-Length) is a
    // transport error here, and transient. An upstream is untrusted too:
    // its body is read up to a bound, never whole.
    let ok = (200..300).contains(&status);
    let mut resp = resp;
    let mut body = Vec::new();
    // A 2xx cut short was still answered: it may be billed.
    let cut_short = |e| ProviderError {
        answered: ok,
        unreachable: false,
        ..transport_error(e)
    };
    while let Some(chunk) = resp.chunk().await.map_err(cut_short)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            let error = ModelError::Unavailable(format!(
                "the upstream's answer is over {} MiB; refused unread",
                MAX_RESPONSE_BYTES >> 20
            ));
            return Err(if ok {
                ProviderError::unusable_answer(error)
            } else {
                ProviderError::transient(error)
            });
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    if ok {
        return Ok(text);
    }
    let mut err = status_error(status, &text);
    err.retry_after = retry_after;
    Err(err)
}

/// `Retry-After` (seconds; OpenAI also sends `retry-after-ms`).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 3600.0)));
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)))
}

fn transport_error(e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::transient(ModelError::Timeout)
    } else if e.is_connect() {
        ProviderError::unreachable(ModelError::Unavailable(format!(
            "cannot connect: {}",
            root_cause(&e)
        )))
    } else {
        ProviderError::unreachable(ModelError::Unavailable(format!(
            "transport error: {}",
            root_cause(&e)
        )))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// An upstream's short label (a finish reason), bounded and kept to one
/// line.
pub fn short(label: &str) -> String {
    crate::text::escape_control(&label.chars().take(64).collect::<String>()).into_owned()
}

fn excerpt(body: &str) -> String {
    let t: String = body.chars().take(200).collect();
    t.replace('\n', " ")
}

/// Classifies an HTTP error status: 408, 409, 429 and 5xx are transient;
/// other 4xx are not.
pub fn status_error(status: u16, body: &str) -> ProviderError {
    let error = match status {
        429 => ModelError::RateLimited,
        408 => ModelError::Timeout,
        401 | 403 => ModelError::Denied(format!(
            "upstream refused the credentials (HTTP {status}); check the key in the variable named by `api-key-env`"
        )),
        409 => ModelError::Unavailable(format!("HTTP 409: {}", excerpt(body))),
        400..=499 => ModelError::InvalidRequest(format!("HTTP {status}: {}", excerpt(body))),
        _ => ModelError::Unavailable(format!("HTTP {status}: {}", excerpt(body))),
    };
    let retryable = matches!(status, 408 | 409 | 429) || status >= 500;
    ProviderError {
        error,
        retryable,
        retry_after: None,
        answered: false,
        unreachable: false,
    }
}

/// Parses a chat-completions response body.
pub fn parse_response(text: &str, req: &ChatRequest) -> Result<ChatResponse, ModelError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| ModelError::Unavailable(format!("malformed response JSON: {e}")))?;
    let tool_calls = super::tools::openai_tool_calls(&v)?;
    // An answer that only calls tools may have no (or null) content.
    let content = match v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
    {
        Some(c) => c.to_string(),
        None if !tool_calls.is_empty() => String::new(),
        None => {
            return Err(ModelError::Unavailable(
                "response has no choices[0].message.content".into(),
            ))
        }
    };
    let tokens = |p: &str| v.pointer(p).and_then(Value::as_u64);
    let usage = Usage::reported_or_estimated(
        tokens("/usage/prompt_tokens"),
        tokens("/usage/completion_tokens"),
        &req.messages,
        &content,
    );
    let finish_reason = v
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
        .map(short);
    Ok(ChatResponse {
        content,
        usage,
        model: String::new(),
        finish_reason,
        tool_calls,
    })
}

/// The shared HTTP client: connection pooling, no proxy surprises, a connect
/// timeout (per-call timeouts are applied by the model hub).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(lines: &str) -> Vec<Result<StreamEvent, ProviderError>> {
        let mut p = crate::models::sse::SseParser::new();
        let mut events = Vec::new();
        p.push(lines.as_bytes(), &mut events).unwrap();
        let mut d = StreamDecoder::default();
        events
            .into_iter()
            .filter_map(|e| d.event(e).transpose())
            .collect()
    }

    #[test]
    fn openai_stream_decodes_deltas_finish_reason_usage_and_done() {
        let got = decode(concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n",
            ": comment\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
        ));
        assert_eq!(
            got,
            vec![
                Ok(StreamEvent::Delta("Hel".into())),
                Ok(StreamEvent::Delta("lo".into())),
                Ok(StreamEvent::Done {
                    usage: Some(Usage {
                        input_tokens: 7,
                        output_tokens: 2,
                        estimated: false
                    }),
                    finish_reason: Some("stop".into()),
                    tool_calls: Vec::new(),
                }),
            ]
        );
        // No usage chunk: the hub estimates.
        let got =
            decode("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]\n\n");
        assert!(matches!(got[1], Ok(StreamEvent::Done { usage: None, .. })));
    }

    #[test]
    fn openai_stream_joins_tool_call_fragments_by_index() {
        let got = decode(concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"b\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"a\",\"arguments\":\"{\\\"x\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        ));
        let calls = |id: &str, name: &str, args: &str| crate::models::ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: args.into(),
        };
        assert_eq!(
            got,
            vec![Ok(StreamEvent::Done {
                usage: None,
                finish_reason: Some("tool_calls".into()),
                tool_calls: vec![
                    calls("call_a", "a", r#"{"x":1}"#),
                    calls("call_b", "b", "{}")
                ],
            })]
        );
        // A call that never got its name is unusable.
        let got = decode(concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: [DONE]\n\n",
        ));
        let e = got[0].as_ref().unwrap_err();
        assert!(
            e.answered
                && matches!(&e.error, ModelError::Unavailable(m) if m.contains("no function name"))
        );
    }

    #[test]
    fn openai_stream_errors_and_malformed_events_are_typed() {
        let got = decode(
            "data: {\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_exceeded\"}}\n\n",
        );
        assert_eq!(got[0].as_ref().unwrap_err().error, ModelError::RateLimited);
        let got = decode("data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n");
        let e = got[0].as_ref().unwrap_err();
        assert!(
            e.retryable && matches!(&e.error, ModelError::Unavailable(m) if m.contains("boom"))
        );
        let got = decode("data: {not json\n\n");
        let e = got[0].as_ref().unwrap_err();
        assert!(
            e.retryable
                && matches!(&e.error, ModelError::Unavailable(m) if m.contains("malformed stream event"))
        );
    }

    #[test]
    fn openai_parse_takes_usage_or_estimates() {
        let req = ChatRequest::default();
        let r = parse_response(r#"{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":1}}"#, &req).unwrap();
        assert_eq!(
            (
                r.usage.input_tokens,
                r.usage.output_tokens,
                r.usage.estimated
            ),
            (9, 1, false)
        );
        let r = parse_response(
            r#"{"choices":[{"message":{"content":"hello there"}}]}"#,
            &req,
        )
        .unwrap();
        assert!(r.usage.estimated);
        assert!(matches!(
            parse_response("{not json", &req),
            Err(ModelError::Unavailable(_))
        ));
    }

    #[test]
    fn openai_status_mapping() {
        assert_eq!(status_error(429, "").error, ModelError::RateLimited);
        assert!(status_error(429, "").retryable);
        assert!(matches!(
            status_error(503, "").error,
            ModelError::Unavailable(_)
        ));
        assert!(
            status_error(503, "").retryable
                && status_error(408, "").retryable
                && status_error(409, "").retryable
        );
        assert!(matches!(
            status_error(400, "bad").error,
            ModelError::InvalidRequest(_)
        ));
        assert!(
            !status_error(400, "").retryable
                && !status_error(401, "").retryable
                && !status_error(404, "").retryable
        );
    }

    #[test]
    fn openai_body_carries_format_and_extra_parameters() {
        let req = ChatRequest {
            model: "m".into(),
            max_tokens: Some(50),
            format: ResponseFormat::JsonSchema(r#"{"type":"object"}"#.into()),
            extra: serde_json::json!({"top_p": 0.5, "seed": 7})
                .as_object()
                .cloned(),
            ..Default::default()
        };
        let b = OpenAiProvider::body("gpt-x", &req);
        assert_eq!(b["model"], "gpt-x");
        assert_eq!(b["max_tokens"], 50);
        assert_eq!(b["response_format"]["type"], "json_schema");
        assert_eq!(
            b["response_format"]["json_schema"]["schema"]["type"],
            "object"
        );
        assert_eq!(
            (b["top_p"].as_f64(), b["seed"].as_u64()),
            (Some(0.5), Some(7))
        );
    }

    #[test]
    fn api_key_debug_is_redacted() {
        let p = OpenAiProvider::new(
            reqwest::Client::new(),
            "http://x/v1",
            Some(ApiKey::new("sk-secret")),
        );
        assert!(!format!("{p:?}").contains("sk-secret"));
    }
}
