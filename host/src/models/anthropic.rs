//! `anthropic`: the Anthropic Messages API (`POST {base}/messages`).
//!
//! System messages go to the top-level `system` field; a JSON-schema or
//! JSON-object request is passed as an instruction appended to it (the
//! Messages API has no response-format switch). Usage comes from the
//! response's `usage`; the key is sent as `x-api-key` and never leaves this
//! provider.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::openai::{send, traced, ApiKey};
use super::types::{
    ChatRequest, ChatResponse, ChatRole, ModelError, ProviderError, ResponseFormat, Usage,
};
use super::ModelProvider;

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
