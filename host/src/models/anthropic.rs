//! `anthropic`: the Anthropic Messages API (`POST {base}/messages`).
//!
//! System messages go to the top-level `system` field; a JSON-schema or
//! JSON-object request is passed as an instruction appended to it (the
//! Messages API has no response-format switch). Usage comes from the
//! response's `usage`; the key is sent as `x-api-key` and never leaves this
//! provider.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::openai::{open, send, short, traced, ApiKey};
use super::sse::{malformed, sse_stream, stream_error, SseDecoder, SseEvent};
use super::types::{
    ChatRequest, ChatResponse, ChatRole, ModelError, ProviderError, ResponseFormat, Usage,
};
use super::{ModelProvider, ProviderStream, StreamEvent};

/// The API version header this provider speaks.
pub const API_VERSION: &str = "2023-06-01";

/// Default `max_tokens` (required by the API) when the node sets none.
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// An Anthropic Messages API upstream.
#[derive(Debug, Clone)]
pub struct AnthropicProvider {
    client: reqwest::Client,
    endpoint: String,
    key: Option<ApiKey>,
}

impl AnthropicProvider {
    /// A provider for `base_url` (e.g. `https://api.anthropic.com/v1`).
    pub fn new(client: reqwest::Client, base_url: &str, key: Option<ApiKey>) -> Self {
        Self {
            client,
            endpoint: format!("{}/messages", base_url.trim_end_matches('/')),
            key,
        }
    }

    /// The request body for `req` sent to model `upstream`.
    pub fn body(upstream: &str, req: &ChatRequest) -> Value {
        let mut system: Vec<String> = req
            .messages
            .iter()
            .filter(|m| m.role == ChatRole::System)
            .map(|m| m.content.clone())
            .collect();
        match &req.format {
            ResponseFormat::Text => {}
            ResponseFormat::JsonObject => system.push("Answer with a single JSON object and nothing else.".into()),
            ResponseFormat::JsonSchema(schema) => {
                system.push(format!("Answer with a single JSON object matching this JSON Schema, and nothing else:\n{schema}"))
            }
        }
        let messages = super::tools::anthropic_messages(&req.messages);
        let mut body = json!({
            "model": upstream,
            "messages": messages,
            "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        });
        let obj = body.as_object_mut().expect("object literal");
        if !system.is_empty() {
            obj.insert("system".into(), json!(system.join("\n\n")));
        }
        if let Some(t) = req.temperature {
            obj.insert("temperature".into(), json!(t));
        }
        super::tools::anthropic_tools(req, obj);
        req.merge_extra(obj);
        body
    }
}

#[async_trait]
impl ModelProvider for AnthropicProvider {
    async fn complete(
        &self,
        upstream: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let mut http = self
            .client
            .post(&self.endpoint)
            .header("anthropic-version", API_VERSION)
            .json(&Self::body(upstream, req));
        if let Some(key) = &self.key {
            http = http.header("x-api-key", key.expose());
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
        }
        let mut http = self
            .client
            .post(&self.endpoint)
            .header("anthropic-version", API_VERSION)
            .json(&body);
        if let Some(key) = &self.key {
            http = http.header("x-api-key", key.expose());
        }
        let resp = open(traced(http, req)).await?;
        Ok(sse_stream(resp, StreamDecoder::default()))
    }
}

/// Decodes a Messages API stream: `message_start` (input usage),
/// `content_block_start` of a `tool_use` block and its
/// `content_block_delta`s (`input_json_delta`, joined into the final
/// event's tool calls), `content_block_delta` (`text_delta`),
/// `message_delta` (stop reason, output usage), `message_stop` (the end),
/// `error`; pings and other block boundaries pass.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    stop_reason: Option<String>,
    input: Option<u64>,
    output: Option<u64>,
    tool_calls: super::tools::StreamedToolCalls,
}

impl SseDecoder for StreamDecoder {
    fn event(&mut self, ev: SseEvent) -> Result<Option<StreamEvent>, ProviderError> {
        let v: Value = serde_json::from_str(&ev.data).map_err(malformed)?;
        let kind = ev
            .event
            .as_deref()
            .or_else(|| v["type"].as_str())
            .unwrap_or_default();
        let tokens = |p: &str| v.pointer(p).and_then(Value::as_u64);
        match kind {
            "message_start" => {
                self.input = tokens("/message/usage/input_tokens");
                self.output = tokens("/message/usage/output_tokens");
            }
            "content_block_start"
                if v.pointer("/content_block/type").and_then(Value::as_str) == Some("tool_use") =>
            {
                let index = tokens("/index")
                    .ok_or_else(|| malformed("a tool_use block without an index"))?;
                self.tool_calls
                    .anthropic_start(index, &v["content_block"])
                    .map_err(ProviderError::unusable_answer)?;
            }
            "content_block_delta"
                if v.pointer("/delta/type").and_then(Value::as_str) == Some("input_json_delta") =>
            {
                let index = tokens("/index")
                    .ok_or_else(|| malformed("an input_json_delta without an index"))?;
                let partial = v
                    .pointer("/delta/partial_json")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed("an input_json_delta without partial_json"))?;
                self.tool_calls
                    .anthropic_input(index, partial)
                    .map_err(ProviderError::unusable_answer)?;
            }
            "content_block_delta"
                if v.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta") =>
            {
                let text = v
                    .pointer("/delta/text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed("a text_delta without text"))?;
                if !text.is_empty() {
                    return Ok(Some(StreamEvent::Delta(text.to_string())));
                }
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(short(r));
                }
                self.output = tokens("/usage/output_tokens").or(self.output);
                self.input = tokens("/usage/input_tokens").or(self.input);
            }
            "message_stop" => {
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
                    finish_reason: self.stop_reason.take(),
                    tool_calls,
                }));
            }
            "error" => {
                let kind = v.pointer("/error/type").and_then(Value::as_str);
                let message = v.pointer("/error/message").and_then(Value::as_str);
                return Err(stream_error(
                    kind.unwrap_or("error"),
                    message.unwrap_or_default(),
                ));
            }
            _ => {}
        }
        Ok(None)
    }

    fn end_marker(&self) -> &'static str {
        "event: message_stop"
    }
}

/// Parses a Messages API response: the text blocks of `content`, its
/// `tool_use` blocks as tool calls, and usage.
pub fn parse_response(text: &str, req: &ChatRequest) -> Result<ChatResponse, ModelError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| ModelError::Unavailable(format!("malformed response JSON: {e}")))?;
    let blocks = v["content"]
        .as_array()
        .ok_or_else(|| ModelError::Unavailable("response has no `content` array".into()))?;
    let content: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    let tokens = |p: &str| v.pointer(p).and_then(Value::as_u64);
    let usage = Usage::reported_or_estimated(
        tokens("/usage/input_tokens"),
        tokens("/usage/output_tokens"),
        &req.messages,
        &content,
    );
    Ok(ChatResponse {
        content,
        usage,
        model: String::new(),
        finish_reason: v["stop_reason"].as_str().map(super::openai::short),
        tool_calls: super::tools::anthropic_tool_calls(blocks),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ChatMessage;

    #[test]
    fn anthropic_body_moves_system_and_requires_max_tokens() {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::new(ChatRole::System, "be brief"),
                ChatMessage::new(ChatRole::User, "hi"),
            ],
            format: ResponseFormat::JsonObject,
            ..Default::default()
        };
        let b = AnthropicProvider::body("claude-x", &req);
        assert_eq!(b["model"], "claude-x");
        assert_eq!(b["max_tokens"], 1024);
        assert!(b["system"].as_str().unwrap().starts_with("be brief"));
        assert!(b["system"].as_str().unwrap().contains("JSON object"));
        assert_eq!(b["messages"].as_array().unwrap().len(), 1);
    }

    fn decode(reads: &[&str]) -> Vec<Result<StreamEvent, ProviderError>> {
        let mut p = crate::models::sse::SseParser::new();
        let mut events = Vec::new();
        for r in reads {
            p.push(r.as_bytes(), &mut events).unwrap();
        }
        let mut d = StreamDecoder::default();
        events
            .into_iter()
            .filter_map(|e| d.event(e).transpose())
            .collect()
    }

    #[test]
    fn anthropic_stream_decodes_text_usage_and_stop() {
        let whole = concat!(
            "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\r\n\r\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: ping\ndata: {\"type\": \"ping\"}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let expected = vec![
            Ok(StreamEvent::Delta("Hi".into())),
            Ok(StreamEvent::Delta(" there".into())),
            Ok(StreamEvent::Done {
                usage: Some(Usage {
                    input_tokens: 12,
                    output_tokens: 3,
                    estimated: false,
                }),
                finish_reason: Some("end_turn".into()),
                tool_calls: Vec::new(),
            }),
        ];
        assert_eq!(decode(&[whole]), expected);
        for cut in (0..whole.len()).filter(|c| whole.is_char_boundary(*c)) {
            assert_eq!(
                decode(&[&whole[..cut], &whole[cut..]]),
                expected,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn anthropic_stream_joins_tool_use_blocks() {
        let whole = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":30,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking.\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Pa\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ris\\\"}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"get_time\",\"input\":{}}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":20}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let call = |id: &str, name: &str, args: &str| crate::models::ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: args.into(),
        };
        let expected = vec![
            Ok(StreamEvent::Delta("Checking.".into())),
            Ok(StreamEvent::Done {
                usage: Some(Usage {
                    input_tokens: 30,
                    output_tokens: 20,
                    estimated: false,
                }),
                finish_reason: Some("tool_use".into()),
                tool_calls: vec![
                    call("toolu_1", "get_weather", r#"{"city": "Paris"}"#),
                    call("toolu_2", "get_time", "{}"),
                ],
            }),
        ];
        assert_eq!(decode(&[whole]), expected);
    }

    #[test]
    fn anthropic_stream_error_events_and_malformed_data_are_typed() {
        let got = decode(&["event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"]);
        let e = got[0].as_ref().unwrap_err();
        assert!(
            e.retryable
                && matches!(&e.error, ModelError::Unavailable(m) if m.contains("overloaded_error"))
        );
        let got = decode(&["event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\"}}\n\n"]);
        assert!(got[0].is_err());
        let got = decode(&["event: message_start\ndata: [1,\n\n"]);
        assert!(
            matches!(&got[0].as_ref().unwrap_err().error, ModelError::Unavailable(m) if m.contains("malformed"))
        );
    }

    #[test]
    fn anthropic_parse_joins_text_blocks_and_reads_usage() {
        let r = parse_response(
            r#"{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"usage":{"input_tokens":5,"output_tokens":2}}"#,
            &ChatRequest::default(),
        )
        .unwrap();
        assert_eq!(r.content, "ab");
        assert_eq!(
            (
                r.usage.input_tokens,
                r.usage.output_tokens,
                r.usage.estimated
            ),
            (5, 2, false)
        );
    }
}
