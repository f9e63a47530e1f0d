//! The manifest file as written: serde types for `pipeline.toml`, with
//! `deny_unknown_fields` everywhere and spans kept on every value that later
//! checks may need to point at. Nothing here is validated beyond its type;
//! `resolve` turns it into a checked [`super::Manifest`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub use crate::spec::Role;

/// The whole `pipeline.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManifestFile {
    /// The manifest format version (`version = 1`); absent means 1. Checked
    /// by [`VersionProbe`] before this parse, so only accepted here.
    #[serde(default)]
    #[allow(dead_code)]
    pub version: Option<Spanned<u64>>,
    /// `[pipeline]`: name and run-wide settings.
    pub pipeline: PipelineSection,
    /// `[defaults]`: limits applied to every node unless overridden.
    #[serde(default)]
    pub defaults: DefaultsSection,
    /// `[models.<name>]`.
    #[serde(default)]
    pub models: BTreeMap<Spanned<String>, ModelSection>,
    /// `[nodes.<name>]`.
    #[serde(default)]
    pub nodes: BTreeMap<Spanned<String>, NodeSection>,
    /// `[chat]`: how `/v1/chat/completions` maps messages to a run.
    #[serde(default)]
    pub chat: ChatSection,
    /// `[baseline]`: the one-prompt monolith `run --baseline-model`
    /// compares the pipeline with.
    #[serde(default)]
    pub baseline: Option<Spanned<BaselineSection>>,
    /// `[engine]`: the sandbox engine's instance pool.
    #[serde(default)]
    pub engine: EngineSection,
    /// `[telemetry]`: OpenTelemetry export of runs.
    #[serde(default)]
    pub telemetry: TelemetrySection,
    /// `[recording]`: what recordings keep of runs' text.
    #[serde(default)]
    pub recording: RecordingSection,
    /// `[trust]`: the public keys components may be signed with, and what
    /// every node requires by default.
    #[serde(default)]
    pub trust: TrustSection,
    /// `[state]`: shared state for replicas.
    #[serde(default)]
    pub state: StateSection,
    /// `[auth]`: who may call the served pipeline.
    #[serde(default)]
    pub auth: AuthSection,
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthSection {
    /// `keys` or `none`.
    #[serde(default)]
    pub clients: Option<Spanned<String>>,
    /// The keys file (without shared state), relative to the manifest.
    #[serde(default)]
    pub keys_file: Option<Spanned<String>>,
}

/// `rate-limit = { requests-per-minute = 600, tokens-per-minute = 100000, on-limit = "wait" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RateLimitSection {
    /// Calls per minute.
    #[serde(default)]
    pub requests_per_minute: Option<Spanned<u32>>,
    /// Tokens per minute.
    #[serde(default)]
    pub tokens_per_minute: Option<Spanned<u64>>,
    /// `wait` (default) or `fail`.
    #[serde(default)]
    pub on_limit: Option<Spanned<String>>,
}

/// `[state]`: where replicas share budgets, limits and breakers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StateSection {
    /// `local` (default) or `redis`.
    #[serde(default)]
    pub backend: Option<Spanned<String>>,
    /// `redis://…` for the `redis` backend.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// `fail-closed` (default) or `count-locally`.
    #[serde(default)]
    pub budgets_when_down: Option<Spanned<String>>,
}

/// `[trust]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrustSection {
    /// Key name → public key file (relative to the manifest).
    #[serde(default)]
    pub keys: BTreeMap<Spanned<String>, Spanned<String>>,
    /// What every node requires unless it says otherwise: `any` or `signed`.
    #[serde(default)]
    pub require: Option<Spanned<String>>,
    /// The keys a `signed` node accepts unless it names its own (default:
    /// every key in `keys`).
    #[serde(default)]
    pub signers: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[recording]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RecordingSection {
    /// Record text at all (default true).
    #[serde(default)]
    pub content: Option<Spanned<bool>>,
    /// Nodes whose text is left out.
    #[serde(default)]
    pub omit_nodes: Option<Spanned<Vec<String>>>,
    /// The judge node whose repair is recorded instead of raw text.
    #[serde(default)]
    pub redact_with: Option<Spanned<String>>,
}

/// `[telemetry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TelemetrySection {
    /// OTLP/HTTP base endpoint, e.g. `http://localhost:4318`.
    #[serde(default)]
    pub endpoint: Option<Spanned<String>>,
    /// `service.name` of the exported traces.
    #[serde(default)]
    pub service_name: Option<Spanned<String>>,
    /// Share of new traces recorded, 0 to 1.
    #[serde(default)]
    pub sample_ratio: Option<Spanned<f64>>,
    /// Export message content (off by default).
    #[serde(default)]
    pub content: Option<Spanned<bool>>,
    /// The judge node whose repair is exported instead of raw content.
    #[serde(default)]
    pub redact_with: Option<Spanned<String>>,
}

/// `[engine]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EngineSection {
    /// Instance-pool slots: most node instances alive at once.
    #[serde(default)]
    pub max_instances: Option<Spanned<u32>>,
}

/// `[baseline]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BaselineSection {
    /// The model a monolith would use (documentation; `--baseline-model`
    /// picks the one measured).
    #[serde(default)]
    pub model: Option<Spanned<String>>,
    /// The one system prompt sent with every input.
    #[serde(default)]
    pub system: Option<Spanned<String>>,
    /// Or a file holding it, relative to the manifest.
    #[serde(default)]
    pub system_file: Option<Spanned<String>>,
    /// The JSON Schema the monolith is asked to answer in.
    #[serde(default)]
    pub output_schema: Option<Spanned<SchemaSource>>,
    /// Its output cap (default 600).
    #[serde(default)]
    pub max_tokens: Option<Spanned<u32>>,
}

/// `[chat]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChatSection {
    /// The input field the last user message's text goes into.
    #[serde(default)]
    pub input_field: Option<Spanned<String>>,
    /// JSON Pointers into the output; the first that is a string is the
    /// assistant's reply.
    #[serde(default)]
    pub reply: Vec<Spanned<String>>,
}

/// `[pipeline]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PipelineSection {
    /// The pipeline's name.
    pub name: Spanned<String>,
    /// One line for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// The node whose output is the run's output; defaults to the sinks.
    #[serde(default)]
    pub output: Option<Spanned<String>>,
    /// Wall-clock budget for one whole run, in milliseconds.
    #[serde(default)]
    pub deadline_ms: Option<Spanned<u64>>,
    /// Token and cost budget of one whole run.
    #[serde(default)]
    pub budget: Option<Spanned<BudgetSection>>,
    /// What all runs together may spend per period.
    #[serde(default)]
    pub spend_limit: Option<Spanned<SpendLimitSection>>,
    /// A typical input, used by `bench` when no `--input` is given.
    #[serde(default)]
    pub sample_input: Option<Spanned<toml::Value>>,
}

/// `spend-limit = { usd = 100.0, tokens = 5000000, per = "day" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpendLimitSection {
    /// Prompt + generated tokens per period.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// US dollars per period.
    #[serde(default)]
    pub usd: Option<f64>,
    /// `minute`, `hour`, `day`, `week` or `ever`.
    pub per: Spanned<String>,
}

/// `budget = { tokens = 10000, usd = 0.05 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BudgetSection {
    /// Prompt + generated tokens.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// US dollars.
    #[serde(default)]
    pub usd: Option<f64>,
}

/// `circuit-breaker = { failure-rate = 0.8, min-calls = 10, window = 20,
/// cool-down-ms = 1000, max-cool-down-ms = 8000, probes = 3 }`, or
/// `{ enabled = false }`. Every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BreakerSection {
    /// `false` turns the breaker off.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Recent outcomes the failure rate is taken over.
    #[serde(default)]
    pub window: Option<u32>,
    /// Outcomes needed in the window before it may open.
    #[serde(default)]
    pub min_calls: Option<u32>,
    /// Share of failures (0 < rate ≤ 1) that opens it.
    #[serde(default)]
    pub failure_rate: Option<f64>,
    /// How long it stays open before the first probes, in ms.
    #[serde(default)]
    pub cool_down_ms: Option<u64>,
    /// The longest cool-down, in ms (it doubles each failed probe round).
    #[serde(default)]
    pub max_cool_down_ms: Option<u64>,
    /// Probes let through at once while half-open.
    #[serde(default)]
    pub probes: Option<u32>,
}

/// Per-node overrides of the models' call policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModelPolicySection {
    /// Per-call timeout, ms.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// A stream's longest wait for each chunk after its first, ms.
    #[serde(default)]
    pub stream_idle_timeout_ms: Option<Spanned<u64>>,
    /// Retries after a transient failure.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Fallback chain of models.
    #[serde(default)]
    pub fallback: Option<Vec<Spanned<String>>>,
}

/// `cache = { ttl-ms = 300000, max-entries = 1000 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheSection {
    /// Time to live, milliseconds.
    #[serde(default)]
    pub ttl_ms: Option<u64>,
    /// Most answers kept.
    #[serde(default)]
    pub max_entries: Option<usize>,
}

/// `[defaults]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DefaultsSection {
    /// Limits for every node.
    #[serde(default)]
    pub limits: LimitsSection,
}

/// `limits = { … }` on `[defaults]` or a node. Every field is optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsSection {
    /// Linear memory, in MiB.
    pub memory_mb: Option<Spanned<u64>>,
    /// CPU time charged to the node (guest code and host work on its
    /// behalf), in milliseconds.
    pub cpu_ms: Option<Spanned<u64>>,
    /// Wall-clock time for one invocation including model calls, in ms.
    pub wall_ms: Option<Spanned<u64>>,
    /// Largest output (JSON text) a node may return, in KiB.
    pub output_kb: Option<Spanned<u64>>,
    /// Model calls per invocation.
    pub model_calls: Option<Spanned<u64>>,
    /// Log bytes per invocation (log import plus stdout/stderr).
    pub log_kb: Option<Spanned<u64>>,
    /// Calls into the host per invocation.
    pub host_calls: Option<Spanned<u64>>,
    /// Wasm call-stack size, in KiB.
    pub stack_kb: Option<Spanned<u64>>,
}

/// `[models.<name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModelSection {
    /// `sim` or `openai`.
    pub provider: Spanned<String>,
    /// The provider's own model id; defaults to the manifest name.
    #[serde(default)]
    pub upstream: Option<String>,
    /// USD per million tokens.
    #[serde(default)]
    pub price: Option<Spanned<PriceSection>>,
    /// Per-call timeout in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
    /// A stream's longest wait for each chunk after its first, ms.
    #[serde(default)]
    pub stream_idle_timeout_ms: Option<Spanned<u64>>,
    /// `openai`: the API base URL, e.g. `https://api.openai.com/v1`.
    #[serde(default)]
    pub base_url: Option<Spanned<String>>,
    /// `openai`: the environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<Spanned<String>>,
    /// `sim`: the simulated model's behaviour.
    #[serde(default)]
    pub sim: Option<Spanned<SimSection>>,
    /// Retries after a transient failure (timeouts, connection errors, 408,
    /// 409, 429, 5xx).
    #[serde(default)]
    pub retries: Option<u32>,
    /// First backoff, ms; doubles each retry, with full jitter.
    #[serde(default)]
    pub backoff_ms: Option<u64>,
    /// Longest backoff, ms (a longer `Retry-After` is honoured up to it).
    #[serde(default)]
    pub max_backoff_ms: Option<u64>,
    /// Models to try, in order, when this one keeps failing.
    #[serde(default)]
    pub fallback: Vec<Spanned<String>>,
    /// The circuit breaker of this upstream.
    #[serde(default)]
    pub circuit_breaker: Option<Spanned<BreakerSection>>,
    /// Requests and tokens per minute, shared by every run (and, with
    /// `[state]` on Redis, every replica).
    #[serde(default)]
    pub rate_limit: Option<Spanned<RateLimitSection>>,
    /// `chat` (the default) or `embedding`.
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    /// An embedding model's vector size (asked of an `openai` upstream;
    /// the `sim` vectors' size, default 64).
    #[serde(default)]
    pub dimensions: Option<Spanned<u32>>,
}

/// `price = { input = …, output = … }`, USD per million tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PriceSection {
    /// USD per million prompt tokens.
    pub input: f64,
    /// USD per million generated tokens.
    pub output: f64,
}

/// `[models.<name>.sim]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SimSection {
    /// Seed; the same seed and request always give the same answer.
    #[serde(default)]
    pub seed: u64,
    /// Time to first token, in milliseconds.
    #[serde(default)]
    pub ttft_ms: f64,
    /// Time per generated token, in milliseconds.
    #[serde(default)]
    pub ms_per_token: f64,
    /// Fraction of calls (0..=1) that fail with `unavailable`.
    #[serde(default)]
    pub error_rate: f64,
    /// Fraction of answers (0..=1) that quote the user's message back.
    #[serde(default)]
    pub echo_rate: f64,
    /// A fixed answer instead of generated text.
    #[serde(default)]
    pub reply: Option<String>,
}

/// `[nodes.<name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeSection {
    /// `router`, `worker` or `judge`.
    pub role: Spanned<Role>,
    /// Path of the `.wasm` component, relative to the manifest, or an
    /// `oci://` reference.
    pub component: Spanned<String>,
    /// What the component's bytes must be: `any` or `signed` (by a
    /// `[trust]` key). Default: `[trust] require`, else `any`.
    #[serde(default)]
    pub trust: Option<Spanned<String>>,
    /// The `[trust]` keys this node accepts, if not every one.
    #[serde(default)]
    pub signers: Option<Spanned<Vec<Spanned<String>>>>,
    /// Nodes whose outputs this node needs.
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
    /// Routers: branch label → target node.
    #[serde(default)]
    pub branches: BTreeMap<String, Spanned<String>>,
    /// Judges that gate this node's output, in order.
    #[serde(default)]
    pub judges: Vec<Spanned<String>>,
    /// Models this node may call (manifest names).
    #[serde(default)]
    pub models: Vec<Spanned<String>>,
    /// Settings delivered through the `config` import.
    #[serde(default)]
    pub settings: toml::Table,
    /// Per-node limits, overriding `[defaults.limits]`.
    #[serde(default)]
    pub limits: LimitsSection,
    /// What to do when a judge rejects this node's output or it breaks a
    /// schema.
    #[serde(default)]
    pub on_reject: Option<Spanned<OnRejectSection>>,
    /// JSON Schema of this node's input: an inline table or a path to a
    /// `.json` file (relative to the manifest). Overrides the component's.
    #[serde(default)]
    pub input_schema: Option<Spanned<SchemaSource>>,
    /// JSON Schema of this node's output, likewise.
    #[serde(default)]
    pub output_schema: Option<Spanned<SchemaSource>>,
    /// Overrides of the models' timeout, retries and fallback chain for
    /// calls this node makes.
    #[serde(default)]
    pub model_policy: ModelPolicySection,
    /// Opt in to the response cache for this node's model calls.
    #[serde(default)]
    pub cache: Option<CacheSection>,
    /// This node's token and cost budget within one run.
    #[serde(default)]
    pub budget: Option<Spanned<BudgetSection>>,
    /// What this node may spend per period, over all runs.
    #[serde(default)]
    pub spend_limit: Option<Spanned<SpendLimitSection>>,
    /// Workers: how a streamed output is cut into windows and released.
    #[serde(default)]
    pub stream: Option<Spanned<StreamSection>>,
    /// Judges: the lowest score that passes; the judge's score then decides
    /// between accept and reject.
    #[serde(default)]
    pub min_score: Option<Spanned<f64>>,
}

/// `stream = { window = "sentence", late-reject = "content-filter" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StreamSection {
    /// `sentence`, `chars`, `tokens` or `whole`.
    #[serde(default)]
    pub window: Option<Spanned<String>>,
    /// The window's size for `chars` and `tokens`.
    #[serde(default)]
    pub size: Option<Spanned<u32>>,
    /// `content-filter` or `buffer`.
    #[serde(default)]
    pub late_reject: Option<Spanned<String>>,
}

/// `on-reject = { retries = 2, escalate = "node", fallback = {...} }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OnRejectSection {
    /// Retries of the same node, each told the reasons of the last rejection.
    #[serde(default)]
    pub retries: u32,
    /// A worker to hand the task to once retries are used up.
    #[serde(default)]
    pub escalate: Option<Spanned<String>>,
    /// A fixed output to return when everything else was rejected; without
    /// it the run fails with a `rejected` error.
    #[serde(default)]
    pub fallback: Option<toml::Value>,
}

/// A JSON Schema given inline or by file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SchemaSource {
    /// Path to a JSON file, relative to the manifest.
    File(String),
    /// The schema itself as a TOML table.
    Inline(toml::Table),
}

/// Just the `version` key, read before the rest so a manifest of another
/// format version is told so, not given errors about fields it does not
/// know.
#[derive(Debug, Deserialize)]
pub struct VersionProbe {
    /// The version as written.
    #[serde(default)]
    pub version: Option<Spanned<toml::Value>>,
}
