//! The recording format, version 1: one JSON object per line, one run per
//! object — its input, the record `run` writes for it, every node
//! invocation's task and answer, every model call's request, attempts and
//! answer, and the digests of the components of the generation it ran on.
//! Documented in `docs/recording.md`; readers refuse other versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{NodeCall, NodeOutput};
use crate::models::{
    CallContent, CallOutcome, ChatMessage, ChatResponse, ModelError, RecordedAttempt, RecordedCall,
    ResponseFormat, ToolCall, ToolDef, Usage,
};
use crate::pipeline::{InvocationContent, Pipeline, RunRecord};

/// The format version written.
pub const VERSION: u32 = 1;

/// One recorded run: a line of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRun {
    /// The format version ([`VERSION`]).
    pub recording: u32,
    /// The pipeline's name.
    pub pipeline: String,
    /// The generation the run ran on.
    pub generation: u64,
    /// Each node's component as it ran: name, version, SHA-256, revision.
    pub components: BTreeMap<String, ComponentDigest>,
    /// The run's id.
    pub id: String,
    /// The input.
    pub input: Value,
    /// The input's `expect` labels, when it had some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Value>,
    /// The run's record, exactly as `run` writes it.
    pub record: Value,
    /// Every node invocation, in the order they finished.
    pub invocations: Vec<RecordedInvocation>,
    /// Every model call a node made.
    pub calls: Vec<RecordedModelCall>,
    /// How much of its text the line holds: `raw`, `redacted` (by the
    /// manifest's `[recording] redact-with` judge), `off` (the manifest
    /// records none) or `withheld` (the judge could not redact it).
    #[serde(default = "raw")]
    pub content: String,
    /// Nodes whose text was left out (`[recording] omit-nodes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted: Vec<String>,
}

fn raw() -> String {
    super::content::state::RAW.into()
}

/// A component as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentDigest {
    /// Its self-described name.
    pub name: String,
    /// Its self-described version.
    pub version: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// 1 as loaded, +1 per swap of the node.
    pub revision: u64,
}

/// One node invocation: what it was asked and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedInvocation {
    /// Its span (the trace step's `span_id`).
    pub span_id: String,
    /// The node.
    pub node: String,
    /// For a judge: the node whose output it judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<String>,
    /// The attempt.
    pub attempt: u32,
    /// The call: `{"call": "route"|"run"|"judge", "task": {id, input,
    /// meta, attempt, feedback}, "candidates"|"candidate": …}`.
    pub task: Value,
    /// Its answer (`{"route": …}`, `{"output": "<JSON text>"}` or
    /// `{"verdict": …}`), when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Value>,
    /// Its typed error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// One model call a node made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedModelCall {
    /// The calling node.
    pub node: String,
    /// The request's canonical hash (what a replay matches on).
    pub request_hash: String,
    /// The request as the node made it.
    pub request: RecordedRequest,
    /// Its attempts, in order (the ledger entries it made).
    pub attempts: Vec<RecordedAttemptLine>,
    /// The answer the node got, when it got one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<RecordedAnswer>,
    /// The error the node got, when it got one: `{kind, detail}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordedError>,
}

/// A model request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The manifest model asked for.
    pub model: String,
    /// The messages.
    pub messages: Vec<ChatMessage>,
    /// The output cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// `text`, `json-object`, or `{"json-schema": "<schema JSON text>"}`.
    pub format: Value,
    /// Extra provider parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Map<String, Value>>,
    /// The tools the model could call (none in older recordings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDef>,
    /// The tool choice, when tools were given: `auto`, `none`,
    /// `required` or `{"named": "<tool>"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
}

/// One attempt at a model call (a ledger entry, without its timing ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedAttemptLine {
    /// Manifest model tried.
    pub model: String,
    /// Attempt number at that model.
    pub attempt: u32,
    /// The model asked for, when this one was a fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_from: Option<String>,
    /// The ledger outcome (`ok`, `timeout`, …).
    pub outcome: String,
    /// Prompt tokens billed.
    pub input_tokens: u64,
    /// Generated tokens billed.
    pub output_tokens: u64,
    /// True when the counts were estimates.
    #[serde(default)]
    pub estimated: bool,
    /// Exact cost in picodollars, as recorded.
    pub cost_pusd: u64,
    /// Wall time of the attempt.
    pub latency_us: u64,
    /// The upstream's finish reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedAnswer {
    /// The text.
    pub content: String,
    /// The manifest model that answered.
    pub model: String,
    /// Tokens.
    pub input_tokens: u64,
    /// Tokens.
    pub output_tokens: u64,
    /// True when estimated.
    #[serde(default)]
    pub estimated: bool,
    /// The finish reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The tool calls the model asked for (none in older recordings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

/// A model error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedError {
    /// Its kind (`timeout`, `unavailable`, …).
    pub kind: String,
    /// Its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl RecordedRun {
    /// The recording of `record`, run on `pipeline`; `None` when the run
    /// kept no content (it was not asked to).
    pub fn of(pipeline: &Pipeline, record: &RunRecord) -> Option<Self> {
        let content = record.content.as_ref()?;
        let components = pipeline
            .nodes()
            .iter()
            .map(|(name, n)| {
                let d = &n.component.description;
                (
                    name.clone(),
                    ComponentDigest {
                        name: d.name.clone(),
                        version: d.version.clone(),
                        sha256: n.component.load.sha256.clone(),
                        revision: n.revision,
                    },
                )
            })
            .collect();
        let entries: BTreeMap<String, &crate::models::LedgerEntry> = record
            .ledger
            .iter()
            .map(|e| (e.span_id.to_string(), e))
            .collect();
        Some(Self {
            recording: VERSION,
            pipeline: pipeline.manifest.name.clone(),
            generation: pipeline.generation,
            components,
            id: record.id.clone(),
            input: content.input.clone(),
            expect: record.expect.clone(),
            record: serde_json::to_value(record).unwrap_or(Value::Null),
            invocations: content.invocations.iter().map(invocation).collect(),
            calls: content
                .calls
                .iter()
                .map(|c| model_call(c, &entries))
                .collect(),
            content: raw(),
            omitted: Vec::new(),
        })
    }
}

fn invocation(i: &InvocationContent) -> RecordedInvocation {
    let (answer, error) = match &i.result {
        Ok(out) => (Some(answer_value(out)), None),
        Err(e) => (None, serde_json::to_value(e).ok()),
    };
    RecordedInvocation {
        span_id: i.span_id.to_string(),
        node: i.node.clone(),
        gates: i.gates.clone(),
        attempt: i.attempt,
        task: call_value(&i.call),
        answer,
        error,
    }
}

fn call_value(call: &NodeCall) -> Value {
    serde_json::to_value(call).unwrap_or(Value::Null)
}

fn answer_value(out: &NodeOutput) -> Value {
    serde_json::to_value(out).unwrap_or(Value::Null)
}

fn model_call(
    c: &CallContent,
    entries: &BTreeMap<String, &crate::models::LedgerEntry>,
) -> RecordedModelCall {
    let r = &c.request;
    let format = match &r.format {
        ResponseFormat::Text => Value::from("text"),
        ResponseFormat::JsonObject => Value::from("json-object"),
        ResponseFormat::JsonSchema(s) => serde_json::json!({ "json-schema": s }),
    };
    let (answer, error) = match &c.result {
        Ok(resp) => (
            Some(RecordedAnswer {
                content: resp.content.clone(),
                model: resp.model.clone(),
                input_tokens: resp.usage.input_tokens,
                output_tokens: resp.usage.output_tokens,
                estimated: resp.usage.estimated,
                finish_reason: resp.finish_reason.clone(),
                tool_calls: resp.tool_calls.clone(),
            }),
            None,
        ),
        Err(e) => (
            None,
            Some(RecordedError {
                kind: e.kind().to_string(),
                detail: e.detail().map(str::to_string),
            }),
        ),
    };
    RecordedModelCall {
        node: c.node.clone(),
        request_hash: r.canonical_hash(),
        request: RecordedRequest {
            model: r.model.clone(),
            messages: r.messages.clone(),
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            format,
            extra: r.extra.clone(),
            tools: r.tools.clone(),
            tool_choice: (!r.tools.is_empty()).then(|| r.tool_choice.to_json()),
        },
        attempts: c
            .attempts
            .iter()
            .filter_map(|s| entries.get(&s.to_string()))
            .map(|e| RecordedAttemptLine {
                model: e.model.clone(),
                attempt: e.attempt,
                fallback_from: e.fallback_from.clone(),
                outcome: e.outcome.as_str().to_string(),
                input_tokens: e.input_tokens,
                output_tokens: e.output_tokens,
                estimated: e.estimated,
                cost_pusd: e.cost_pusd,
                latency_us: e.latency_us,
                finish_reason: e.finish_reason.clone(),
            })
            .collect(),
        answer,
        error,
    }
}

impl RecordedModelCall {
    /// The call as a replay answers it: its attempts and result. `None`
    /// when a field is not one this version knows (an unknown outcome or
    /// error kind).
    pub fn to_replay(&self) -> Option<RecordedCall> {
        let attempts = self
            .attempts
            .iter()
            .map(|a| {
                Some(RecordedAttempt {
                    model: a.model.clone(),
                    attempt: a.attempt,
                    fallback_from: a.fallback_from.clone(),
                    outcome: CallOutcome::parse(&a.outcome)?,
                    usage: Usage {
                        input_tokens: a.input_tokens,
                        output_tokens: a.output_tokens,
                        estimated: a.estimated,
                    },
                    finish_reason: a.finish_reason.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let result = match (&self.answer, &self.error) {
            (Some(a), _) => Ok(ChatResponse {
                content: a.content.clone(),
                usage: Usage {
                    input_tokens: a.input_tokens,
                    output_tokens: a.output_tokens,
                    estimated: a.estimated,
                },
                model: a.model.clone(),
                finish_reason: a.finish_reason.clone(),
                tool_calls: a.tool_calls.clone(),
            }),
            (None, Some(e)) => Err(ModelError::from_kind(&e.kind, e.detail.clone())?),
            (None, None) => return None,
        };
        Some(RecordedCall { attempts, result })
    }
}
