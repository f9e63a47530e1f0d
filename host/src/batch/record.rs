//! The output record written for every input line: the result or a typed
//! error, the route taken, cost and tokens, the trace and the ledger.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::input::InputLine;
use crate::models::{LedgerEntry, Totals};
use crate::pipeline::{PolicyEvent, RunError, RunOutcome, TraceStep};

/// One line of batch output.
#[derive(Debug, Serialize)]
pub struct OutputRecord {
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
    /// Run wall time in ms.
    pub latency_ms: f64,
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
}

/// A typed error with its message.
#[derive(Debug, Serialize)]
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

impl OutputRecord {
    /// The record for an input line that never ran.
    pub fn unusable(line: &InputLine, error: &RunError) -> Self {
        Self {
            id: line.id.clone(),
            line: Some(line.line),
            ok: false,
            output: None,
            error: Some(ErrorRecord::of(error)),
            routes: BTreeMap::new(),
            expect: line.expect.clone(),
            usage: Totals::default(),
            cost_pusd: 0,
            latency_ms: 0.0,
            trace: Vec::new(),
            ledger: Vec::new(),
            events: Vec::new(),
            baseline: None,
        }
    }

    /// The record for the run of a batch input line.
    pub fn of_run(line: &InputLine, run: &RunOutcome) -> Self {
        Self {
            line: Some(line.line),
            expect: line.expect.clone(),
            ..Self::of_outcome(run)
        }
    }

    /// The record for a run outside a batch (served over HTTP).
    pub fn of_outcome(run: &RunOutcome) -> Self {
        let (output, error) = match &run.result {
            Ok(v) => (Some(v.clone()), None),
            Err(e) => (None, Some(ErrorRecord::of(e))),
        };
        Self {
            id: run.id.clone(),
            line: None,
            ok: output.is_some(),
            output,
            error,
            routes: run.routes.clone(),
            expect: None,
            usage: run.totals,
            cost_pusd: run.totals.cost.0,
            latency_ms: run.elapsed.as_secs_f64() * 1e3,
            trace: run.trace.clone(),
            ledger: run.ledger.clone(),
            events: run.events.clone(),
            baseline: None,
        }
    }
}
