//! The vocabulary of one node invocation, shared by every part of the
//! engine and by the pipeline: the task as handed to a node, what to ask it
//! ([`NodeCall`]), what it answered ([`NodeOutput`], [`Verdict`],
//! [`RouteChoice`]), the outcome of an invocation, and the per-run services
//! it uses ([`RunScope`]). A leaf: it depends on no other engine module but
//! the bindings and the errors.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::bindings::wit;
use super::error::NodeError;
use crate::models::{Ledger, ModelHub, RunBudget};

/// A task as handed to a node (host form of WIT `task`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TaskInput {
    /// Run id.
    pub id: String,
    /// Input JSON text.
    pub input: String,
    /// Context JSON object text.
    pub meta: String,
    /// Attempt number, from 0.
    pub attempt: u32,
    /// Reasons from a judge's earlier rejection.
    pub feedback: Vec<String>,
}

impl TaskInput {
    pub(super) fn to_wit(&self) -> wit::Task {
        wit::Task {
            id: self.id.clone(),
            input: self.input.clone(),
            meta: self.meta.clone(),
            attempt: self.attempt,
            feedback: self.feedback.clone(),
        }
    }
}

/// What to ask the node.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "call", rename_all = "kebab-case")]
pub enum NodeCall {
    /// Router: pick one of `candidates`.
    Route {
        /// The task.
        task: TaskInput,
        /// Branch labels.
        candidates: Vec<String>,
    },
    /// Worker: run the task.
    Run {
        /// The task.
        task: TaskInput,
    },
    /// Judge: judge `candidate` for the task.
    Judge {
        /// The task the candidate was produced for.
        task: TaskInput,
        /// The candidate output, JSON text.
        candidate: String,
    },
}

/// A router's choice.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteChoice {
    /// Branch label.
    pub target: String,
    /// 0..=1.
    pub confidence: f32,
    /// Why.
    pub reason: String,
}

/// A judge's verdict.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Continue unchanged.
    Accept,
    /// Stop; here is why.
    Reject {
        /// Reasons.
        reasons: Vec<String>,
    },
    /// Continue with this corrected output (JSON text).
    Repair {
        /// The repaired output.
        output: String,
    },
}

impl Verdict {
    /// Its stable name: `accept`, `reject` or `repair`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Reject { .. } => "reject",
            Verdict::Repair { .. } => "repair",
        }
    }
}

/// What the node answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeOutput {
    /// A router's choice.
    Route(RouteChoice),
    /// A worker's output, JSON text.
    Output(String),
    /// A judge's verdict.
    Verdict(Verdict),
}

/// The outcome of one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The answer or the typed failure.
    pub result: Result<NodeOutput, NodeError>,
    /// Resources used.
    pub usage: Usage,
    /// Wall time, instantiation included.
    pub elapsed: Duration,
}

/// The per-run services an invocation uses.
#[derive(Debug, Clone)]
pub struct RunScope {
    /// Model hub.
    pub hub: Arc<ModelHub>,
    /// The run's ledger.
    pub ledger: Arc<Ledger>,
    /// The run's budgets.
    pub budget: Arc<RunBudget>,
    /// The span model calls hang under (the invocation's), when traced.
    pub trace: Option<crate::spec::SpanParent>,
}

impl RunScope {
    /// A scope outside any run: a fresh ledger, no budget.
    pub fn detached(hub: Arc<ModelHub>) -> Self {
        Self {
            hub,
            ledger: Arc::new(Ledger::new()),
            budget: Arc::new(RunBudget::default()),
            trace: None,
        }
    }
}

/// What one invocation used, reported in the run trace.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
pub struct Usage {
    /// Milliseconds of CPU charged (see [`super::host::CpuClock`]); the `cpu-ms` limit
    /// applies to it. The field keeps its name in the record format.
    pub cpu_ticks: u64,
    /// Model calls attempted (a batch counts each request).
    pub model_calls: u64,
    /// Log bytes written (`log` import plus stdout/stderr).
    pub log_bytes: u64,
    /// Calls into the host (every `models`, `log` and `config` call).
    pub host_calls: u64,
    /// Peak linear memory, in bytes.
    pub peak_memory: u64,
}
