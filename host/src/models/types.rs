//! Host-side model request and response types, independent of the WIT
//! bindings so providers and policy can be used and tested without Wasm.

use serde::{Deserialize, Serialize};

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Framing instructions.
    System,
    /// The user.
    User,
    /// A model.
    Assistant,
    /// The result of a tool call the node ran (`tool_call_id` says which).
    Tool,
}

impl ChatRole {
    /// Its name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
            ChatRole::Tool => "tool",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: ChatRole,
    /// Its text.
    pub content: String,
    /// For an `assistant` message: the tool calls it made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A plain message: text, no tool calls.
    pub fn new(role: ChatRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A tool the model may ask to call. The host never runs a tool: the node
/// runs it, or returns the call as its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// Its name, as the model will use it (`^[a-zA-Z0-9_-]{1,64}$`).
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of its arguments (a JSON object).
    pub parameters: serde_json::Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// No tool may be called.
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Named(String),
}

impl ToolChoice {
    /// Its canonical JSON form: `"auto"`, `"none"`, `"required"` or
    /// `{"named": "<tool>"}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ToolChoice::Auto => serde_json::json!("auto"),
            ToolChoice::None => serde_json::json!("none"),
            ToolChoice::Required => serde_json::json!("required"),
            ToolChoice::Named(n) => serde_json::json!({ "named": n }),
        }
    }
}

/// A call the model asks for. The arguments are the model's JSON text, as
/// it wrote them: the node checks them before acting on them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ToolCall {
    /// The upstream's id for the call, echoed in the tool's answer.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON text.
    pub arguments: String,
}

/// Requested answer format.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching this schema (JSON text).
    JsonSchema(String),
}

/// A completion request as the host sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// Manifest model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Generation cap.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Answer format.
    pub format: ResponseFormat,
    /// Extra provider parameters (a JSON object), merged into the body.
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// Tools the model may call; empty for none.
    pub tools: Vec<ToolDef>,
    /// Whether and which tool must be called (ignored without tools).
    pub tool_choice: ToolChoice,
    /// Which attempt at this call this is (0 first); set by the hub, never
    /// sent upstream.
    pub attempt: u32,
    /// The attempt's W3C `traceparent`, set by the hub when the run is
    /// traced; HTTP providers send it as a header, never in the body.
    pub traceparent: Option<String>,
}

impl ChatRequest {
    /// Merges the node's extra provider parameters (already checked
    /// against [`super::extra`]'s allow-list) into a request body object.
    /// They never replace a field the host set.
    pub fn merge_extra(&self, body: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(extra) = &self.extra {
            for (k, v) in extra {
                body.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }

    /// A canonical hash of what decides the answer: the model asked for,
    /// the messages, `max_tokens`, temperature, answer format and extra
    /// parameters (object keys sorted), and the tools and tool choice.
    /// Equal requests hash equal across processes; it is how a replay
    /// finds a recorded answer. Hex SHA-256. A request without tools (and
    /// messages without tool calls) hashes exactly as before tools
    /// existed, so older recordings still replay.
    pub fn canonical_hash(&self) -> String {
        use serde_json::{json, Value};
        use sha2::{Digest, Sha256};
        let format = match &self.format {
            ResponseFormat::Text => json!("text"),
            ResponseFormat::JsonObject => json!("json-object"),
            ResponseFormat::JsonSchema(s) => json!({ "json-schema": s }),
        };
        let messages: Vec<Value> = self
            .messages
            .iter()
            .map(|m| {
                if m.tool_calls.is_empty() && m.tool_call_id.is_none() {
                    json!([m.role.as_str(), m.content])
                } else {
                    let calls: Vec<Value> = m
                        .tool_calls
                        .iter()
                        .map(|c| json!([c.id, c.name, c.arguments]))
                        .collect();
                    json!([m.role.as_str(), m.content, calls, m.tool_call_id])
                }
            })
            .collect();
        let mut canonical = vec![
            json!(self.model),
            Value::Array(messages),
            json!(self.max_tokens),
            json!(self.temperature.map(f64::from)),
            format,
            json!(self
                .extra
                .as_ref()
                .map(|e| sorted(&Value::Object(e.clone())))),
        ];
        if !self.tools.is_empty() {
            let tools: Vec<Value> = self
                .tools
                .iter()
                .map(|t| json!([t.name, t.description, sorted(&t.parameters)]))
                .collect();
            canonical.push(json!({ "tools": tools, "tool-choice": self.tool_choice.to_json() }));
        }
        hex::encode(Sha256::digest(
            Value::Array(canonical).to_string().as_bytes(),
        ))
    }

    /// The prompt tokens this request is reserved for: its messages, plus
    /// the response schema, tool definitions and extra parameters it sends
    /// along.
    pub fn prompt_tokens_estimate(&self) -> u64 {
        let tools: u64 = self
            .tools
            .iter()
            .map(|t| {
                estimate_tokens(&t.name)
                    + estimate_tokens(&t.description)
                    + estimate_tokens(&t.parameters.to_string())
                    + 4
            })
            .sum();
        let schema = match &self.format {
            ResponseFormat::JsonSchema(s) => estimate_tokens(s),
            _ => 0,
        };
        let extra = self.extra.as_ref().map_or(0, |e| {
            estimate_tokens(&serde_json::Value::Object(e.clone()).to_string())
        });
        estimate_prompt_tokens(&self.messages) + schema + extra + tools
    }
}

/// `v` with every object's keys in sorted order (whatever the JSON
/// library's map keeps), for hashing.
fn sorted(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// True when the provider reported no usage and these are estimates.
    pub estimated: bool,
}

impl Usage {
    /// The upstream's reported counts when it sent both; otherwise
    /// estimates from the conversation and the answer, marked as such.
    pub fn reported_or_estimated(
        input: Option<u64>,
        output: Option<u64>,
        messages: &[ChatMessage],
        content: &str,
    ) -> Self {
        match (input, output) {
            (Some(input_tokens), Some(output_tokens)) => Usage {
                input_tokens,
                output_tokens,
                estimated: false,
            },
            _ => Usage {
                input_tokens: estimate_prompt_tokens(messages),
                output_tokens: estimate_tokens(content),
                estimated: true,
            },
        }
    }
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// Generated text.
    pub content: String,
    /// Tokens used.
    pub usage: Usage,
    /// The manifest name of the model that answered, which may differ
    /// from the requested one after a fallback. Set by the hub; a provider
    /// leaves it empty.
    pub model: String,
    /// Why generation stopped, as the upstream said it (`stop`, `length`,
    /// `end_turn`, …), when it said.
    pub finish_reason: Option<String>,
    /// The tool calls the model asks for (empty for none).
    pub tool_calls: Vec<ToolCall>,
}

/// Why a model call failed; mirrors the WIT `model-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum ModelError {
    /// Past its deadline.
    #[error("model call timed out")]
    Timeout,
    /// The upstream throttled us.
    #[error("model upstream is rate limiting")]
    RateLimited,
    /// The upstream failed or was unreachable.
    #[error("model unavailable: {0}")]
    Unavailable(String),
    /// Not granted, or the call grant is used up.
    #[error("model call denied: {0}")]
    Denied(String),
    /// Would exceed a budget; not sent.
    #[error("budget exceeded: {0}")]
    BudgetExceeded(String),
    /// Malformed request; retrying will not help.
    #[error("invalid model request: {0}")]
    InvalidRequest(String),
}

impl ModelError {
    /// The free text the error carries, if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            ModelError::Timeout | ModelError::RateLimited => None,
            ModelError::Unavailable(s)
            | ModelError::Denied(s)
            | ModelError::BudgetExceeded(s)
            | ModelError::InvalidRequest(s) => Some(s),
        }
    }

    /// The error named `kind` (see [`ModelError::kind`]) with `detail`;
    /// `None` for an unknown kind.
    pub fn from_kind(kind: &str, detail: Option<String>) -> Option<Self> {
        let d = detail.unwrap_or_default();
        Some(match kind {
            "timeout" => ModelError::Timeout,
            "rate-limited" => ModelError::RateLimited,
            "unavailable" => ModelError::Unavailable(d),
            "denied" => ModelError::Denied(d),
            "budget-exceeded" => ModelError::BudgetExceeded(d),
            "invalid-request" => ModelError::InvalidRequest(d),
            _ => return None,
        })
    }

    /// A short, stable name for ledgers and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelError::Timeout => "timeout",
            ModelError::RateLimited => "rate-limited",
            ModelError::Unavailable(_) => "unavailable",
            ModelError::Denied(_) => "denied",
            ModelError::BudgetExceeded(_) => "budget-exceeded",
            ModelError::InvalidRequest(_) => "invalid-request",
        }
    }
}

/// Rough token count of a text (about four characters per token, the usual
/// rule of thumb for English with BPE tokenizers), used by `sim` and where a
/// provider reports no usage.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Rough prompt token count of a conversation: text plus a few tokens of
/// framing per message, as chat templates add.
pub fn estimate_prompt_tokens(messages: &[ChatMessage]) -> u64 {
    messages
        .iter()
        .map(|m| {
            let calls: u64 = m
                .tool_calls
                .iter()
                .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments) + 4)
                .sum();
            estimate_tokens(&m.content) + 4 + calls
        })
        .sum::<u64>()
        + 2
}

/// One failed provider attempt: the model error, whether trying again may
/// help, and how long the upstream asked us to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// What failed.
    pub error: ModelError,
    /// True for transient failures: timeouts, connection errors, 408, 409,
    /// 429, 5xx, malformed or truncated bodies.
    pub retryable: bool,
    /// The upstream's `Retry-After`, if it sent one.
    pub retry_after: Option<std::time::Duration>,
    /// The upstream answered 2xx but the body could not be used: the call
    /// may still be billed, so the hub charges it at its reserved worst
    /// case, never at zero.
    pub answered: bool,
    /// No answer came back: the connection could not be made, or broke
    /// before any answer. Nothing was billed, and it says the upstream
    /// itself is down, not that this request failed.
    pub unreachable: bool,
}

impl ProviderError {
    /// A transient failure.
    pub fn transient(error: ModelError) -> Self {
        Self {
            error,
            retryable: true,
            retry_after: None,
            answered: false,
            unreachable: false,
        }
    }

    /// No answer came back: connection refused, reset or broken before an
    /// answer. Transient, and a sign of an outage.
    pub fn unreachable(error: ModelError) -> Self {
        Self {
            unreachable: true,
            ..Self::transient(error)
        }
    }

    /// A 2xx answer whose body could not be used: transient, and billed
    /// at the reserved worst case.
    pub fn unusable_answer(error: ModelError) -> Self {
        Self {
            answered: true,
            ..Self::transient(error)
        }
    }

    /// A failure that will not go away by retrying.
    pub fn permanent(error: ModelError) -> Self {
        Self {
            error,
            retryable: false,
            retry_after: None,
            answered: false,
            unreachable: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned_request() -> ChatRequest {
        ChatRequest {
            model: "small".into(),
            messages: vec![
                ChatMessage::new(ChatRole::System, "be brief"),
                ChatMessage::new(ChatRole::User, "reset my password"),
            ],
            max_tokens: Some(64),
            temperature: Some(0.5),
            format: ResponseFormat::JsonSchema(r#"{"type":"object"}"#.into()),
            extra: serde_json::json!({"seed": 7, "top_p": 0.9})
                .as_object()
                .cloned(),
            ..Default::default()
        }
    }

    /// The hash of a request without tools, as computed before tools
    /// existed (recordings made then carry it): it must never change.
    #[test]
    fn canonical_hash_is_pinned_for_requests_without_tools() {
        assert_eq!(
            pinned_request().canonical_hash(),
            "c77783cb53fdac97a4985bcbca8ac494ec7f82bce5a0f5851494709bafba6df9"
        );
    }

    fn tool() -> ToolDef {
        ToolDef {
            name: "lookup".into(),
            description: "Looks an order up".into(),
            parameters: serde_json::json!({"type": "object", "required": ["id"]}),
        }
    }

    #[test]
    fn canonical_hash_covers_tools_choice_and_tool_messages() {
        let base = pinned_request().canonical_hash();
        let mut with = pinned_request();
        with.tools.push(tool());
        let h1 = with.canonical_hash();
        assert_ne!(h1, base);
        with.tool_choice = ToolChoice::Required;
        assert_ne!(with.canonical_hash(), h1);
        // Ignored without tools, as the contract says.
        let mut choice_only = pinned_request();
        choice_only.tool_choice = ToolChoice::None;
        assert_eq!(choice_only.canonical_hash(), base);
        let mut answered = pinned_request();
        answered.messages.push(ChatMessage {
            tool_call_id: Some("c1".into()),
            ..ChatMessage::new(ChatRole::Tool, "found")
        });
        let mut plain = pinned_request();
        plain
            .messages
            .push(ChatMessage::new(ChatRole::Tool, "found"));
        assert_ne!(answered.canonical_hash(), plain.canonical_hash());
    }

    #[test]
    fn token_estimates_include_tool_definitions_and_calls() {
        let mut r = pinned_request();
        let before = r.prompt_tokens_estimate();
        r.tools.push(tool());
        assert!(r.prompt_tokens_estimate() > before + 4);
        let mut m = ChatMessage::new(ChatRole::Assistant, "");
        let plain = estimate_prompt_tokens(std::slice::from_ref(&m));
        m.tool_calls.push(ToolCall {
            id: "c1".into(),
            name: "lookup".into(),
            arguments: r#"{"id":"A-1234567"}"#.into(),
        });
        assert!(estimate_prompt_tokens(&[m]) > plain);
    }

    #[test]
    fn chat_messages_without_tools_serialise_as_before() {
        let m = ChatMessage::new(ChatRole::User, "hi");
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"role":"user","content":"hi"}"#
        );
        let old: ChatMessage =
            serde_json::from_str(r#"{"role":"assistant","content":"x"}"#).unwrap();
        assert_eq!(old, ChatMessage::new(ChatRole::Assistant, "x"));
    }
}
