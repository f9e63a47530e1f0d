//! What a scripted node returns: the values a guest can hand the host
//! through contract 0.2 — router decisions, worker replies (JSON or a
//! model stream), verdicts with scores, node and model errors, log lines,
//! settings asked for, and model requests — written as data. The
//! `guest_returns` fuzz target draws a [`Script`] with `arbitrary` and
//! puts it in a run's input; the scripted fixture components
//! (`tests/fixtures/scripted-node`, which include this file) read it back
//! and return exactly what it says, so every value goes through Wasmtime's
//! lifting, the contract adapter, the host's bounds, the gate and the
//! ledger as a real component's would.
//!
//! The types derive `Arbitrary` natively (the harness) and not on wasm
//! (the fixture components, which only read scripts).
//!
//! Floats are carried as their bits, so NaN and the infinities reach the
//! host too; texts carry a repeat count, so values past every bound can
//! be written in a few bytes.

use serde::{Deserialize, Serialize};

/// The field of a run's input that carries the script.
pub const FIELD: &str = "script";

/// Everything the scripted nodes of one run return.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
#[serde(default)]
pub struct Script {
    /// The router's answer.
    pub route: Option<Step<Decision>>,
    /// Each worker's answer, by attempt (the last repeats).
    pub worker: Vec<Step<Reply>>,
    /// Each judge call's answer, by attempt and window (the last repeats).
    pub judge: Vec<Step<Judgement>>,
}

/// One invocation: what the node does through its imports, then returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
#[serde(default)]
pub struct Step<T> {
    /// Model calls made first, in order (their answers are ignored).
    pub calls: Vec<Call>,
    /// Log lines: level (0–4, wrapped) and message.
    pub logs: Vec<(u8, Text)>,
    /// Settings asked for by key.
    pub settings: Vec<String>,
    /// What the node returns.
    pub result: Returned<T>,
}

/// An answer or a node error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
pub enum Returned<T> {
    /// The answer.
    Ok(T),
    /// The node failed.
    Err(NodeError),
}

impl<T: Default> Default for Returned<T> {
    fn default() -> Self {
        Returned::Ok(T::default())
    }
}

/// Text `text` repeated `repeat` times (at least once, at most
/// [`Text::MAX_REPEAT`], and [`Text::MAX_BYTES`] in all). Every struct
/// of a script takes defaults for fields left out, so seeds stay short.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
#[serde(default)]
pub struct Text {
    /// The text.
    pub text: String,
    /// How many times.
    pub repeat: u16,
}

impl Text {
    /// The most repeats honoured.
    pub const MAX_REPEAT: usize = 4096;
    /// The longest text built (bytes).
    pub const MAX_BYTES: usize = 1 << 20;

    /// The text, repeated.
    pub fn build(&self) -> String {
        let times = (self.repeat as usize).clamp(1, Self::MAX_REPEAT);
        let times = times.min(Self::MAX_BYTES / self.text.len().max(1));
        self.text.repeat(times.max(1))
    }

    /// Plain text, once.
    pub fn of(text: &str) -> Self {
        Self {
            text: text.into(),
            repeat: 1,
        }
    }
}

/// A node error, as the contract's `node-error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
pub enum NodeError {
    /// `invalid-input`.
    InvalidInput(Text),
    /// `model`.
    Model(ModelError),
    /// `internal`.
    Internal(Text),
}

/// A model error, as the contract's `model-error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
pub enum ModelError {
    /// `timeout`.
    Timeout,
    /// `rate-limited`.
    RateLimited,
    /// `unavailable`.
    Unavailable(Text),
    /// `denied`.
    Denied(Text),
    /// `budget-exceeded`.
    BudgetExceeded(Text),
    /// `invalid-request`.
    InvalidRequest(Text),
}

/// A router's decision.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
#[serde(default)]
pub struct Decision {
    /// `Some(i)`: the i-th candidate (wrapped); `None`: `other`.
    pub candidate: Option<u8>,
    /// The target when `candidate` is `None`.
    pub other: String,
    /// The confidence's bits.
    pub confidence_bits: u32,
    /// The reason.
    pub reason: Text,
}

/// A worker's reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
pub enum Reply {
    /// `json`: the text as the output.
    Json(Text),
    /// `stream`: a model stream handed back, under `field`, into `base`.
    Stream {
        /// The streamed request.
        request: Box<Request>,
        /// Model chunks the worker reads itself before handing it back.
        read: u8,
        /// The field the text goes in.
        field: Option<String>,
        /// The object it goes into (JSON text).
        base: Text,
    },
}

impl Default for Reply {
    fn default() -> Self {
        Reply::Json(Text::of("{}"))
    }
}

/// A judge's judgement.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
#[serde(default)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// The score's bits.
    pub score_bits: Option<u64>,
    /// Criteria: name and score bits.
    pub criteria: Vec<(String, u64)>,
}

/// A verdict.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
pub enum Verdict {
    /// `accept`.
    #[default]
    Accept,
    /// `reject` with these reasons.
    Reject(Vec<Text>),
    /// `repair` into this output.
    Repair(Text),
}

/// A call through the `models` import.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
pub enum Call {
    /// `complete`.
    Complete(Request),
    /// `complete-batch`.
    Batch(Vec<Request>),
    /// `stream`, then `next` up to this many times.
    Stream(Request, u8),
    /// `embed`.
    Embed {
        /// The model.
        model: Model,
        /// The texts.
        inputs: Vec<Text>,
    },
}

/// A model name: one the fuzz pipeline grants, or any text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
pub enum Model {
    /// The granted chat model.
    #[default]
    Chat,
    /// The granted embedding model.
    Embedding,
    /// Any other name.
    Named(String),
}

impl Model {
    /// Its name in the fuzz pipeline.
    pub fn name(&self) -> &str {
        match self {
            Model::Chat => "chat",
            Model::Embedding => "embedding",
            Model::Named(n) => n,
        }
    }
}

/// A completion request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
#[serde(default)]
pub struct Request {
    /// The model.
    pub model: Model,
    /// The messages: role (wrapped over system, user, assistant, tool),
    /// content, tool calls (id, name, arguments), tool call id.
    pub messages: Vec<Message>,
    /// `max-tokens`.
    pub max_tokens: Option<u32>,
    /// The temperature's bits.
    pub temperature_bits: Option<u32>,
    /// `response-format`: 0 text, 1 JSON object, else a JSON schema.
    pub format: (u8, String),
    /// Tools: name, description, parameters.
    pub tools: Vec<(String, String, String)>,
    /// `tool-choice`: 0 auto, 1 none, 2 required, else named.
    pub tool_choice: (u8, String),
    /// `extra-json`.
    pub extra_json: String,
}

/// A message of a request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(arbitrary::Arbitrary))]
#[serde(default)]
pub struct Message {
    /// Role, wrapped over system, user, assistant, tool.
    pub role: u8,
    /// Content.
    pub content: Text,
    /// Tool calls: id, name, arguments.
    pub tool_calls: Vec<(String, String, String)>,
    /// The tool call answered.
    pub tool_call_id: Option<String>,
}

impl<T> Step<T> {
    /// Picks the `i`-th of `steps`, the last one past the end.
    pub fn pick(steps: &[Step<T>], i: usize) -> Option<&Step<T>> {
        steps.get(i).or_else(|| steps.last())
    }
}
