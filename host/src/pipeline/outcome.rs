//! What a run produces: its output or typed error, the trace of every node
//! invocation, and its cost-ledger entries and totals.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::engine::{JudgeScore, NodeCall, NodeError, NodeOutput, RouteChoice, Usage, Verdict};
use crate::models::{CallContent, LedgerEntry, Totals};
use crate::spec::{SpanId, TraceId};

/// Why a run produced no output.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RunError {
    /// The input record could not be used.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong with it.
        message: String,
    },
    /// A node failed.
    #[error("{error}")]
    Node {
        /// The node's error.
        error: NodeError,
    },
    /// A node's output was rejected (by a judge or a schema) and its
    /// `on-reject` policy had nothing left to try.
    #[error("{by} rejected the output of `{node}`: {}", reasons.join("; "))]
    Rejected {
        /// The gated node.
        node: String,
        /// The judge (`judge `name``) or schema (`output-schema`, `input-schema of `x``).
        by: String,
        /// The reasons.
        reasons: Vec<String>,
    },
    /// A node's input does not match its input schema.
    #[error("input of `{node}` does not match its input-schema: {}", errors.join("; "))]
    Schema {
        /// The node.
        node: String,
        /// The violations.
        errors: Vec<String>,
    },
    /// The run's deadline passed.
    #[error("run exceeded its deadline of {limit_ms} ms ([pipeline] deadline-ms)")]
    Deadline {
        /// The deadline.
        limit_ms: u64,
    },
}

impl RunError {
    /// A short, stable name for summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::InvalidInput { .. } => "invalid-input",
            RunError::Node { error } => error.kind(),
            RunError::Rejected { .. } => "rejected",
            RunError::Schema { .. } => "schema",
            RunError::Deadline { .. } => "deadline",
        }
    }

    /// The node at fault, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            RunError::Node { error } => Some(error.node()),
            RunError::Rejected { node, .. } | RunError::Schema { node, .. } => Some(node),
            _ => None,
        }
    }
}

/// One node invocation in a run.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStep {
    /// Node name.
    pub node: String,
    /// `router`, `worker` or `judge`.
    pub role: &'static str,
    /// For judges: the node whose output was judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gates: Option<String>,
    /// Attempt number (0 first).
    pub attempt: u32,
    /// Start, in µs since the run began.
    pub start_us: u64,
    /// Duration in µs.
    pub elapsed_us: u64,
    /// [`TraceStep::OK`] or the node error's kind.
    pub outcome: &'static str,
    /// Routers: the choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteChoice>,
    /// Judges: the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Judges: the score, when the judge gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<JudgeScore>,
    /// Window checks: the window's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// Resources used.
    pub usage: Usage,
    /// The invocation's span (parent of its model calls').
    pub span_id: SpanId,
}

impl TraceStep {
    /// The `outcome` of an invocation that answered.
    pub const OK: &'static str = "ok";

    /// True when the invocation failed (the one definition).
    pub fn is_failure(&self) -> bool {
        self.outcome != Self::OK
    }
}

/// What a gate's `on-reject` policy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyAction {
    /// Ran the same node again with the reasons as feedback.
    Retry,
    /// Handed the task to the escalation node.
    Escalate,
    /// Returned the manifest's fixed fallback output.
    Fallback,
    /// Gave up: the run fails with `rejected`.
    GiveUp,
}

impl PolicyAction {
    /// Its name in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyAction::Retry => "retry",
            PolicyAction::Escalate => "escalate",
            PolicyAction::Fallback => "fallback",
            PolicyAction::GiveUp => "give-up",
        }
    }
}

/// One decision of a gate after a rejection.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyEvent {
    /// The gated node.
    pub node: String,
    /// The node whose output was rejected (the gated node or its
    /// escalation target).
    pub producer: String,
    /// Who rejected: `judge `x``, `output-schema`, `input-schema of `y``.
    pub by: String,
    /// The reasons.
    pub reasons: Vec<String>,
    /// What the policy did next.
    pub action: PolicyAction,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run id.
    pub id: String,
    /// The output, or why there is none.
    pub result: Result<serde_json::Value, RunError>,
    /// Router choices, router → branch label.
    pub routes: BTreeMap<String, String>,
    /// Every invocation, in start order.
    pub trace: Vec<TraceStep>,
    /// Every rejection and what the gate's policy did about it.
    pub events: Vec<PolicyEvent>,
    /// Every model-call attempt.
    pub ledger: Vec<LedgerEntry>,
    /// Sum of the ledger.
    pub totals: Totals,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Time spent waiting for admission before the run started (not
    /// counted in `elapsed`, nor against the run's deadline).
    pub queued: Duration,
    /// The run's place in its trace.
    pub span: RunSpan,
    /// Message content, when the run captured it (opt-in; see
    /// [`RunContent`]).
    pub content: Option<RunContent>,
}

#[cfg(test)]
impl RunOutcome {
    /// A run with `result` and nothing else: no trace, ledger or time.
    pub(crate) fn for_test(id: &str, result: Result<serde_json::Value, RunError>) -> Self {
        RunOutcome {
            id: id.into(),
            result,
            routes: BTreeMap::new(),
            trace: Vec::new(),
            events: Vec::new(),
            ledger: Vec::new(),
            totals: Totals::default(),
            elapsed: Duration::ZERO,
            queued: Duration::ZERO,
            content: None,
            span: RunSpan {
                trace_id: TraceId::random(),
                span_id: SpanId::random(),
                parent: None,
                sampled: true,
                start_unix_us: 0,
            },
        }
    }
}

/// What a run said and was told: its input, every node invocation's task
/// and answer, and every model call's request and answer. Captured only
/// when asked for (`[telemetry] content = true`, or a recording); never
/// part of the written record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunContent {
    /// The run's input.
    pub input: serde_json::Value,
    /// Each model call a node made, whole (its attempts by their ledger
    /// entries' spans).
    pub calls: Vec<CallContent>,
    /// Each node invocation, whole: its task and its answer.
    pub invocations: Vec<InvocationContent>,
}

/// One node invocation, whole: what it was asked and what it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationContent {
    /// The invocation's span (its trace step's).
    pub span_id: SpanId,
    /// The node.
    pub node: String,
    /// For a judge: the node whose output it judged.
    pub gates: Option<String>,
    /// The attempt.
    pub attempt: u32,
    /// What it was asked.
    pub call: NodeCall,
    /// What it answered.
    pub result: Result<NodeOutput, NodeError>,
}

/// A run's span: its trace (a new one, or the caller's it continues), its
/// own id, and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RunSpan {
    /// The trace.
    pub trace_id: TraceId,
    /// The run's own span.
    pub span_id: SpanId,
    /// The caller's span, when the run continues a caller's trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<SpanId>,
    /// Whether the trace is being recorded (the caller's choice, when it
    /// sent one).
    pub sampled: bool,
    /// When the run started, in microseconds since the Unix epoch.
    pub start_unix_us: u64,
}
