//! What a model is, once resolved: its provider and settings, price, call
//! policy (timeout, retries, backoff, fallback chain) and circuit breaker,
//! a node's overrides of that policy, and the response-cache and budget
//! settings, with their defaults.

use std::time::Duration;

use super::money::{Cost, Price};

/// Default per-run deadline when `[pipeline] deadline-ms` is not set.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);
/// Default per-call model timeout when `timeout-ms` is not set.
pub const DEFAULT_MODEL_TIMEOUT: Duration = Duration::from_secs(60);
/// Default longest gap between two chunks of a streamed answer when
/// `stream-idle-timeout-ms` is not set.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default retries after a transient model failure.
pub const DEFAULT_RETRIES: u32 = 2;
/// Default first backoff.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(200);
/// Default longest backoff.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One `[models.<name>]`.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Manifest name.
    pub name: String,
    /// The provider's own model id.
    pub upstream: String,
    /// Which provider, with its settings.
    pub provider: ProviderSpec,
    /// USD per million tokens.
    pub price: Price,
    /// Per-call timeout, retries, backoff and fallback chain.
    pub policy: CallPolicy,
    /// The upstream's circuit breaker; none when disabled.
    pub breaker: Option<BreakerSpec>,
    /// Its rate limit, if the manifest sets one.
    pub rate_limit: Option<super::RateLimitSpec>,
    /// What it does: chat completions or embeddings.
    pub kind: ModelKind,
    /// For an embedding model: the vector size asked of the upstream
    /// (`sim` uses it, default [`DEFAULT_SIM_DIMENSIONS`]).
    pub dimensions: Option<u32>,
}

/// Vector size of a `sim` embedding model that sets no `dimensions`.
pub const DEFAULT_SIM_DIMENSIONS: u32 = 64;
/// The largest `dimensions` a model may set, and the longest vector an
/// embedding answer may carry.
pub const MAX_DIMENSIONS: u32 = 16384;

/// What a model does; a node calls `complete` on a chat model and `embed`
/// on an embedding model, never the other way round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ModelKind {
    /// Chat completions (the default).
    #[default]
    Chat,
    /// Embeddings.
    Embedding,
}

impl ModelKind {
    /// Its name as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Chat => "chat",
            ModelKind::Embedding => "embedding",
        }
    }
}

/// How calls to a model are made.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPolicy {
    /// Per-attempt timeout (for a stream: until its first chunk).
    pub timeout: Duration,
    /// A stream's longest wait for each chunk after its first.
    pub idle_timeout: Duration,
    /// Retries after a transient failure.
    pub retries: u32,
    /// First backoff; doubles each retry (full jitter).
    pub backoff: Duration,
    /// Longest backoff, and the cap on a honoured `Retry-After`.
    pub max_backoff: Duration,
    /// Models to try next, in order.
    pub fallback: Vec<String>,
}

/// A node's overrides of its models' call policies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyOverride {
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
    /// A stream's longest wait for each chunk after its first.
    pub idle_timeout: Option<Duration>,
    /// Retries.
    pub retries: Option<u32>,
    /// Fallback chain.
    pub fallback: Option<Vec<String>>,
}

/// A provider and its settings.
#[derive(Debug, Clone)]
pub enum ProviderSpec {
    /// The deterministic simulated model.
    Sim(SimSpec),
    /// The Anthropic Messages API.
    Anthropic {
        /// e.g. `https://api.anthropic.com/v1`.
        base_url: String,
        /// The environment variable holding the key.
        api_key_env: Option<String>,
    },
    /// Any OpenAI-compatible chat-completions server.
    OpenAi {
        /// e.g. `https://api.openai.com/v1`.
        base_url: String,
        /// The environment variable holding the key (never the key itself).
        api_key_env: Option<String>,
    },
}

impl ProviderSpec {
    /// The provider's name as written in manifests.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderSpec::Sim(_) => "sim",
            ProviderSpec::OpenAi { .. } => "openai",
            ProviderSpec::Anthropic { .. } => "anthropic",
        }
    }
}

/// Settings of a `sim` model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimSpec {
    /// Seed for every pseudo-random choice.
    pub seed: u64,
    /// Time to first token.
    pub ttft: Duration,
    /// Time per generated token.
    pub per_token: Duration,
    /// Fraction of calls that fail.
    pub error_rate: f64,
    /// Fraction of answers that quote the user's message back.
    pub echo_rate: f64,
    /// Fixed answer, if set.
    pub reply: Option<String>,
}

/// The breaker's settings (see `models::breaker` for the state machine).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSpec {
    /// How many recent outcomes the failure rate is taken over.
    pub window: u32,
    /// Outcomes needed in the window before the circuit may open.
    pub min_calls: u32,
    /// Share of failures in the window (0–1) that opens the circuit.
    pub failure_rate: f64,
    /// How long it stays open before the first half-open probes.
    pub cool_down: Duration,
    /// The longest cool-down (it doubles each time every probe fails).
    pub max_cool_down: Duration,
    /// Calls let through at once while half-open.
    pub probes: u32,
}

impl Default for BreakerSpec {
    fn default() -> Self {
        Self {
            window: 20,
            min_calls: 10,
            failure_rate: 0.8,
            cool_down: Duration::from_secs(1),
            max_cool_down: Duration::from_secs(8),
            probes: 3,
        }
    }
}

/// A limit on tokens and/or money.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetSpec {
    /// Prompt + generated tokens.
    pub tokens: Option<u64>,
    /// Money.
    pub cost: Option<Cost>,
}

impl BudgetSpec {
    /// True when it limits nothing.
    pub fn is_unlimited(&self) -> bool {
        self.tokens.is_none() && self.cost.is_none()
    }
}

/// Cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSpec {
    /// How long an answer stays valid.
    pub ttl: Duration,
    /// Most answers kept.
    pub max_entries: usize,
}
