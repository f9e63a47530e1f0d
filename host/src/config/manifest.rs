//! The resolved, validated pipeline description that the rest of the host
//! works from: models with their providers and prices, nodes with their
//! components, grants, settings and limits, and the flow graph in
//! topological order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::limits::Limits;
use super::schema::Role;
use super::source::{SourceFile, Span};
use crate::models::{BreakerSpec, BudgetSpec, CacheSpec, Price};

/// A checked `pipeline.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it came from, for locating later errors.
    pub source: Arc<SourceFile>,
    /// `[pipeline] name`.
    pub name: String,
    /// `[pipeline] description`.
    pub description: Option<String>,
    /// Wall-clock budget for one run.
    pub deadline: Duration,
    /// Token and cost budget of one run.
    pub budget: BudgetSpec,
    /// Models by manifest name.
    pub models: BTreeMap<String, ModelSpec>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeSpec>,
    /// Flow nodes (routers and workers, not standby ones) in a topological
    /// order.
    pub order: Vec<String>,
    /// The nodes whose output is the run's output.
    pub outputs: Vec<String>,
    /// `[chat]`.
    pub chat: ChatSpec,
    /// `[baseline]`, if declared.
    pub baseline: Option<BaselineSpec>,
    /// `[pipeline] sample-input`, if declared.
    pub sample_input: Option<serde_json::Value>,
}

/// The one-prompt monolith a pipeline is compared with (`[baseline]`).
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineSpec {
    /// The model a monolith would use, if the manifest names one.
    pub model: Option<String>,
    /// The system prompt sent with every input.
    pub system: String,
    /// The JSON Schema the answer is asked in, if any.
    pub output_schema: Option<serde_json::Value>,
    /// Output cap.
    pub max_tokens: u32,
}

/// How `/v1/chat/completions` maps a conversation to a run and back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSpec {
    /// A plain-text user message becomes `{ <input_field>: text, "messages": [..] }`.
    pub input_field: String,
    /// JSON Pointers into the output; the first naming a string is the
    /// reply. With none matching, the reply is the output as JSON text.
    pub reply: Vec<String>,
}

impl Default for ChatSpec {
    fn default() -> Self {
        Self {
            input_field: "text".into(),
            reply: Vec::new(),
        }
    }
}

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
}

/// How calls to a model are made.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPolicy {
    /// Per-attempt timeout.
    pub timeout: Duration,
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

/// One `[nodes.<name>]`.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Absolute or manifest-relative-resolved path of its component.
    pub component: PathBuf,
    /// Where `component = …` is written, for load errors.
    pub component_span: Span,
    /// Flow dependencies, explicit (`after`) and implicit (a router whose
    /// branch targets this node).
    pub deps: Vec<String>,
    /// Routers: branch label → target node.
    pub branches: BTreeMap<String, String>,
    /// Judges gating this node's output, in order.
    pub judges: Vec<String>,
    /// Models this node may call.
    pub models: Vec<String>,
    /// Settings as JSON values, delivered through the `config` import.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Sandbox limits.
    pub limits: Limits,
    /// Rejection policy.
    pub on_reject: OnReject,
    /// Input JSON Schema declared in the manifest.
    pub input_schema: Option<serde_json::Value>,
    /// Output JSON Schema declared in the manifest.
    pub output_schema: Option<serde_json::Value>,
    /// True for a worker that only runs as an escalation target.
    pub standby: bool,
    /// Overrides of its models' call policies.
    pub model_policy: PolicyOverride,
    /// Its response cache settings, if it opted in.
    pub cache: Option<CacheSpec>,
    /// Its budget within one run.
    pub budget: BudgetSpec,
}

/// What happens when a node's output is rejected (by a judge or a schema).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnReject {
    /// Retries of the node itself, told the reasons each time.
    pub retries: u32,
    /// The worker to escalate to after the retries.
    pub escalate: Option<String>,
    /// The fixed output to fall back to last; none means a typed error.
    pub fallback: Option<serde_json::Value>,
}

impl NodeSpec {
    /// The router that branches to this node, if any.
    pub fn branch_parent<'a>(&self, manifest: &'a Manifest) -> Option<&'a NodeSpec> {
        self.deps
            .iter()
            .filter_map(|d| manifest.nodes.get(d))
            .find(|d| d.role == Role::Router && d.branches.values().any(|t| t == &self.name))
    }
}
