//! The run record: the one format every front end writes for a run — a
//! batch output line, a served answer — with the result or a typed error,
//! the routes taken, cost and tokens, the trace and the ledger. It lives
//! with the pipeline so `batch` and `serve` both use it without importing
//! each other.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{PolicyEvent, RunContent, RunError, RunOutcome, RunSpan, TraceStep};
use crate::models::{LedgerEntry, Totals};

/// The record of one run (one line of batch output, one served answer).
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// The input's id (or `line-<n>`).
    pub id: String,
    /// The input's 1-based line number (batch runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// True when `output` is present, false when `error` is.
    pub ok: bool,
    /// The run's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why there is no output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorRecord>,
    /// Router → branch label.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, String>,
    /// The input's `expect`, echoed for evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<Value>,
    /// Model-call totals.
    pub usage: Totals,
    /// Exact cost in picodollars (`usage.cost` is USD).
    pub cost_pusd: u64,
    /// Run wall time in ms, from admission to the end.
    pub latency_ms: f64,
    /// Time waiting for admission before the run started, in ms.
    pub queued_ms: f64,
    /// The run's span: its trace id (as exported to OpenTelemetry and sent
    /// upstream in `traceparent`), span id, the caller's span it continues
    /// and its start. Absent for a line that never ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<RunSpan>,
    /// Every node invocation.
    pub trace: Vec<TraceStep>,
    /// Every model-call attempt.
    pub ledger: Vec<LedgerEntry>,
    /// Every `on-reject` decision.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<PolicyEvent>,
    /// What the input cost sent straight to the baseline model, if asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Totals>,
    /// Message content, when the run captured it: for trace export only,
    /// never written.
    #[serde(skip)]
    pub content: Option<RunContent>,
}

/// A typed error with its message.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorRecord {
    /// Stable kind, e.g. `cpu-limit`, `rejected`, `invalid-input`.
    pub kind: &'static str,
    /// The node at fault, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Human-readable message.
    pub message: String,
    /// The structured error.
    pub detail: RunError,
}

impl ErrorRecord {
    fn of(e: &RunError) -> Self {
        Self {
            kind: e.kind(),
            node: e.node().map(str::to_string),
            message: e.to_string(),
            detail: e.clone(),
        }
    }
}

impl RunRecord {
    /// The record for batch input line `line` (with id `id` and the
    /// `expect` it carried) that never ran.
    pub fn unusable(id: &str, line: u64, expect: Option<Value>, error: &RunError) -> Self {
        Self {
            id: id.to_string(),
            line: Some(line),
            ok: false,
            output: None,
            error: Some(ErrorRecord::of(error)),
            routes: BTreeMap::new(),
            expect,
            usage: Totals::default(),
            cost_pusd: 0,
            latency_ms: 0.0,
            queued_ms: 0.0,
            span: None,
            trace: Vec::new(),
            ledger: Vec::new(),
            events: Vec::new(),
            baseline: None,
            content: None,
        }
    }

    /// This record as batch input line `line`, echoing its `expect`.
    pub fn at_line(self, line: u64, expect: Option<Value>) -> Self {
        Self {
            line: Some(line),
            expect,
            ..self
        }
    }

    /// The record of `run`, taking its parts instead of copying them.
    pub fn from_outcome(run: RunOutcome) -> Self {
        let (output, error) = match run.result {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(ErrorRecord::of(&e))),
        };
        Self {
            id: run.id,
            line: None,
            ok: output.is_some(),
            output,
            error,
            routes: run.routes,
            expect: None,
            usage: run.totals,
            cost_pusd: run.totals.cost.0,
            latency_ms: run.elapsed.as_secs_f64() * 1e3,
            queued_ms: run.queued.as_secs_f64() * 1e3,
            span: Some(run.span),
            trace: run.trace,
            ledger: run.ledger,
            events: run.events,
            baseline: None,
            content: run.content,
        }
    }

    /// The record of `run` (a served run; batch adds [`Self::at_line`]).
    pub fn of_outcome(run: &RunOutcome) -> Self {
        Self::from_outcome(run.clone())
    }
}
