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
}

impl ChatRole {
    /// Its name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
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
    /// parameters (object keys sorted). Equal requests hash equal across
    /// processes; it is how a replay finds a recorded answer. Hex SHA-256.
    pub fn canonical_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let format = match &self.format {
            ResponseFormat::Text => serde_json::json!("text"),
            ResponseFormat::JsonObject => serde_json::json!("json-object"),
            ResponseFormat::JsonSchema(s) => serde_json::json!({ "json-schema": s }),
        };
        let canonical = serde_json::json!([
            self.model,
            self.messages
                .iter()
                .map(|m| [m.role.as_str(), m.content.as_str()])
                .collect::<Vec<_>>(),
            self.max_tokens,
            self.temperature.map(f64::from),
            format,
            self.extra
                .as_ref()
                .map(|e| sorted(&serde_json::Value::Object(e.clone()))),
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }

    /// The prompt tokens this request is reserved for: its messages, plus
    /// the response schema and extra parameters it sends along.
    pub fn prompt_tokens_estimate(&self) -> u64 {
        let schema = match &self.format {
            ResponseFormat::JsonSchema(s) => estimate_tokens(s),
            _ => 0,
        };
        let extra = self.extra.as_ref().map_or(0, |e| {
            estimate_tokens(&serde_json::Value::Object(e.clone()).to_string())
        });
        estimate_prompt_tokens(&self.messages) + schema + extra
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
        .map(|m| estimate_tokens(&m.content) + 4)
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
