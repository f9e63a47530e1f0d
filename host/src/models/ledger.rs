//! The cost ledger: one entry per model-call attempt (successful or not),
//! with tokens, exact cost and latency, and totals that are sums of entries.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use super::content::CallContent;
use super::types::ModelError;
use crate::spec::{Cost, SpanId};

/// How one model-call attempt ended. Serialised as its kebab-case name
/// (`ok`, `cache-hit`, `timeout`, …); [`CallOutcome::is_failure`] is the one
/// definition of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallOutcome {
    /// Answered.
    Ok,
    /// Served from the node's response cache.
    CacheHit,
    /// The run was cancelled or hit its deadline mid-call.
    Cancelled,
    /// The upstream's circuit was open; not sent.
    CircuitOpen,
    /// Past its deadline.
    Timeout,
    /// The upstream throttled us.
    RateLimited,
    /// The upstream failed or was unreachable.
    Unavailable,
    /// Not granted, or the call grant was used up.
    Denied,
    /// Would break a budget; not sent.
    BudgetExceeded,
    /// Over the manifest's rate limit for the model; not sent.
    OverLimit,
    /// Malformed request.
    InvalidRequest,
}

impl CallOutcome {
    /// Its stable name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::CacheHit => "cache-hit",
            CallOutcome::Cancelled => "cancelled",
            CallOutcome::CircuitOpen => "circuit-open",
            CallOutcome::Timeout => "timeout",
            CallOutcome::RateLimited => "rate-limited",
            CallOutcome::Unavailable => "unavailable",
            CallOutcome::Denied => "denied",
            CallOutcome::BudgetExceeded => "budget-exceeded",
            CallOutcome::OverLimit => "over-limit",
            CallOutcome::InvalidRequest => "invalid-request",
        }
    }

    /// The outcome named `name` (as serialised); `None` if unknown.
    pub fn parse(name: &str) -> Option<Self> {
        [
            CallOutcome::Ok,
            CallOutcome::CacheHit,
            CallOutcome::Cancelled,
            CallOutcome::CircuitOpen,
            CallOutcome::Timeout,
            CallOutcome::RateLimited,
            CallOutcome::Unavailable,
            CallOutcome::Denied,
            CallOutcome::BudgetExceeded,
            CallOutcome::OverLimit,
            CallOutcome::InvalidRequest,
        ]
        .into_iter()
        .find(|o| o.as_str() == name)
    }

    /// True unless the attempt was answered (by the upstream or the cache).
    pub fn is_failure(self) -> bool {
        !matches!(self, CallOutcome::Ok | CallOutcome::CacheHit)
    }
}

impl From<&ModelError> for CallOutcome {
    fn from(e: &ModelError) -> Self {
        match e {
            ModelError::Timeout => CallOutcome::Timeout,
            ModelError::RateLimited => CallOutcome::RateLimited,
            ModelError::Unavailable(_) => CallOutcome::Unavailable,
            ModelError::Denied(_) => CallOutcome::Denied,
            ModelError::BudgetExceeded(_) => CallOutcome::BudgetExceeded,
            ModelError::InvalidRequest(_) => CallOutcome::InvalidRequest,
        }
    }
}

impl std::fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tests and tools compare outcomes with their names.
impl PartialEq<&str> for CallOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One model-call attempt.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LedgerEntry {
    /// The node that made the call.
    pub node: String,
    /// Manifest model name.
    pub model: String,
    /// Provider-side model id.
    pub upstream: String,
    /// Attempt number at this model (0 first; retries count up).
    pub attempt: u32,
    /// When this model was tried as a fallback: the model the node asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_from: Option<String>,
    /// How the attempt ended.
    pub outcome: CallOutcome,
    /// Prompt tokens (0 when the call failed before an answer).
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// True when token counts are estimates.
    pub estimated: bool,
    /// Cost in USD (display); `cost_pusd` is exact.
    pub cost: Cost,
    /// Exact cost in picodollars.
    pub cost_pusd: u64,
    /// Wall time of the attempt, in microseconds.
    pub latency_us: u64,
    /// When the attempt started, in microseconds since the Unix epoch.
    pub start_unix_us: u64,
    /// The attempt's span (sent upstream in `traceparent`).
    pub span_id: SpanId,
    /// The span of the node invocation that made the call, when traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<SpanId>,
    /// Why the upstream stopped generating, when it answered and said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// What was asked: a completion (left out when serialised, as in
    /// entries written before embeddings) or `embed`.
    #[serde(default, skip_serializing_if = "Operation::is_complete")]
    pub operation: Operation,
}

/// The kind of model call an attempt was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// A chat completion (`complete`, `complete-batch`).
    #[default]
    Complete,
    /// Embeddings (`embed`).
    Embed,
}

impl Operation {
    /// True for a completion, the kind every older entry was.
    pub fn is_complete(&self) -> bool {
        *self == Operation::Complete
    }
}

/// Sums over some entries.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// Attempts.
    pub calls: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Cost (USD in JSON).
    pub cost: Cost,
}

impl Totals {
    /// Adds one entry.
    pub fn add(&mut self, e: &LedgerEntry) {
        self.calls += 1;
        self.failed += u64::from(e.outcome.is_failure());
        self.input_tokens += e.input_tokens;
        self.output_tokens += e.output_tokens;
        self.cost += e.cost;
    }

    /// Adds other totals.
    pub fn merge(&mut self, o: &Totals) {
        self.calls += o.calls;
        self.failed += o.failed;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cost += o.cost;
    }
}

/// The entries of one run. Cheap to share; appends are serialised.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Mutex<Vec<LedgerEntry>>,
    /// Message content of each attempt, when the run captures it.
    content: Option<Mutex<Vec<CallContent>>>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty ledger that also keeps each attempt's message content.
    pub fn capturing() -> Self {
        Self {
            entries: Mutex::default(),
            content: Some(Mutex::default()),
        }
    }

    /// True when attempts' content is kept.
    pub fn captures(&self) -> bool {
        self.content.is_some()
    }

    /// Keeps one attempt's content (nothing unless capturing).
    pub fn capture(&self, content: CallContent) {
        if let Some(c) = &self.content {
            c.lock().unwrap_or_else(|p| p.into_inner()).push(content);
        }
    }

    /// The content kept so far, taken out; `None` unless capturing.
    pub fn take_content(&self) -> Option<Vec<CallContent>> {
        self.content
            .as_ref()
            .map(|c| std::mem::take(&mut *c.lock().unwrap_or_else(|p| p.into_inner())))
    }

    /// Appends an entry.
    pub fn record(&self, entry: LedgerEntry) {
        self.lock().push(entry);
    }

    /// A copy of every entry, in the order recorded.
    pub fn entries(&self) -> Vec<LedgerEntry> {
        self.lock().clone()
    }

    /// Every entry, in the order recorded, taken out of the ledger (which
    /// is left empty): for the end of a run, when nothing records any more.
    pub fn take_entries(&self) -> Vec<LedgerEntry> {
        std::mem::take(&mut *self.lock())
    }

    /// Totals over every entry.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        self.lock().iter().for_each(|e| t.add(e));
        t
    }

    /// Totals per node.
    pub fn totals_by_node(&self) -> BTreeMap<String, Totals> {
        let mut by: BTreeMap<String, Totals> = BTreeMap::new();
        for e in self.lock().iter() {
            by.entry(e.node.clone()).or_default().add(e);
        }
        by
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LedgerEntry>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::*;

    #[test]
    fn ledger_outcomes_serialise_as_their_names_and_define_failure_once() {
        for (o, name, failed) in [
            (CallOutcome::Ok, "ok", false),
            (CallOutcome::CacheHit, "cache-hit", false),
            (CallOutcome::Cancelled, "cancelled", true),
            (CallOutcome::CircuitOpen, "circuit-open", true),
            (CallOutcome::BudgetExceeded, "budget-exceeded", true),
            (CallOutcome::OverLimit, "over-limit", true),
            (CallOutcome::InvalidRequest, "invalid-request", true),
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), name);
            assert_eq!(o.as_str(), name);
            assert_eq!(o.is_failure(), failed, "{name}");
        }
        assert_eq!(
            CallOutcome::from(&ModelError::RateLimited),
            CallOutcome::RateLimited
        );
    }
}
