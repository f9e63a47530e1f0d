//! The vocabulary of one node invocation, shared by every part of the
//! engine and by the pipeline: the task as handed to a node, what to ask it
//! ([`NodeCall`]), what it answered ([`NodeOutput`], [`Verdict`],
//! [`RouteChoice`]), the outcome of an invocation, and the per-run services
//! it uses ([`RunScope`]). A leaf: it depends on no other engine module but
//! the bindings and the errors.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

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
    /// Window judge (0.2): judge one window of a streamed output.
    CheckWindow {
        /// The task the stream was produced for.
        task: TaskInput,
        /// The window.
        window: Window,
    },
}

/// One window of a streamed output, as a window judge sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// The window's text.
    pub text: String,
    /// The output's text before it, as released (repairs applied).
    pub before: String,
    /// 0 for the first window.
    pub index: u32,
    /// The output's last window.
    pub last: bool,
}

/// A judge's scores (0.2): overall and per criterion.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JudgeScore {
    /// The overall score, if given.
    pub score: Option<f64>,
    /// Per-criterion scores, in the judge's order.
    pub criteria: Vec<(String, f64)>,
}

impl JudgeScore {
    /// `None` when the judge gave no score at all.
    pub fn given(score: Option<f64>, criteria: Vec<(String, f64)>) -> Option<Self> {
        (score.is_some() || !criteria.is_empty()).then_some(Self { score, criteria })
    }
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
    /// A worker's output as a model stream (0.2 `reply.stream`), to be
    /// released window by window.
    Stream(StreamReply),
}

/// A worker's streamed reply: the stream, taken out of the finished
/// invocation's store, and where its text goes in the node's output.
#[derive(Clone)]
pub struct StreamReply {
    /// The stream; `take` it once.
    pub stream: Arc<std::sync::Mutex<Option<super::stream::ModelStream>>>,
    /// The output object's field holding the text; `None`: the output is
    /// the text as a JSON string.
    pub field: Option<String>,
    /// With `field`: the rest of the output object.
    pub base: serde_json::Map<String, serde_json::Value>,
}

impl StreamReply {
    /// Wraps `stream`; `base` is the guest's JSON object text (empty for
    /// `{}`), refused when it is anything else.
    pub fn new(
        stream: super::stream::ModelStream,
        field: Option<String>,
        base: &str,
    ) -> Result<Self, String> {
        let base = if base.trim().is_empty() {
            serde_json::Map::new()
        } else {
            match serde_json::from_str::<serde_json::Value>(base) {
                Ok(serde_json::Value::Object(m)) => m,
                Ok(_) => return Err("a streamed reply's `base` is not a JSON object".into()),
                Err(e) => return Err(format!("a streamed reply's `base` is not JSON: {e}")),
            }
        };
        Ok(Self {
            stream: Arc::new(std::sync::Mutex::new(Some(stream))),
            field,
            base,
        })
    }

    /// Takes the stream (once).
    pub fn take(&self) -> Option<super::stream::ModelStream> {
        self.stream.lock().ok().and_then(|mut s| s.take())
    }

    /// The node's output once the stream's text is known.
    pub fn output(&self, text: &str) -> serde_json::Value {
        let text = serde_json::Value::String(text.to_string());
        match &self.field {
            Some(field) => {
                let mut out = self.base.clone();
                out.insert(field.clone(), text);
                serde_json::Value::Object(out)
            }
            None => text,
        }
    }
}

impl std::fmt::Debug for StreamReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReply")
            .field("field", &self.field)
            .finish_non_exhaustive()
    }
}

impl PartialEq for StreamReply {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.stream, &other.stream) && self.field == other.field
    }
}

impl Serialize for StreamReply {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("StreamReply", 1)?;
        st.serialize_field("field", &self.field)?;
        st.end()
    }
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
    /// A judge's scores, when it gave any.
    pub score: Option<JudgeScore>,
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
    /// The invocation's attempt (0 for the first), for its log lines.
    pub attempt: u32,
}

impl RunScope {
    /// A scope outside any run: a fresh ledger, no budget.
    pub fn detached(hub: Arc<ModelHub>) -> Self {
        Self {
            hub,
            ledger: Arc::new(Ledger::new()),
            budget: Arc::new(RunBudget::default()),
            trace: None,
            attempt: 0,
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
