//! A run record as OpenTelemetry spans, following the GenAI semantic
//! conventions (v1.37.0, development status): the run at the root
//! (`invoke_workflow {pipeline}`), a span per node invocation and attempt
//! under it (`invoke_agent {node}`, retries and escalations as siblings),
//! and a span per model-call attempt under the invocation that made it
//! (`chat {model}`, an inference client span), one per ledger entry, with
//! its tokens and exact cost. Judge verdicts are `gen_ai.evaluation.result`
//! events on the judge's span, with the policy step that followed. No
//! message text, output or rejection reason is exported unless the
//! pipeline opts in to content (then as the conventions' opt-in
//! attributes, from [`Content`], redacted before it gets here).
//!
//! Pure: built from the record (the one format of a run) and the
//! generation that ran it, so what is exported is what was written.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId as OtelSpanId, SpanKind, Status, TraceFlags, TraceId as OtelTraceId,
    TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::content::{assistant_message, call_messages, user_message, Content};
use crate::engine::Verdict;
use crate::models::{CallContent, CallOutcome, LedgerEntry};
use crate::pipeline::{Pipeline, PolicyEvent, RunRecord, RunSpan, TraceStep};
use crate::spec::{ProviderSpec, SpanId, TraceId};

/// The semantic-conventions version the spans follow.
pub const SEMCONV_VERSION: &str = "1.37.0";
/// Its schema URL, named by the instrumentation scope.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.37.0";

fn trace_id(t: TraceId) -> OtelTraceId {
    OtelTraceId::from_bytes(t.0)
}

fn span_id(s: SpanId) -> OtelSpanId {
    OtelSpanId::from_bytes(s.0)
}

fn at(unix_us: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_micros(unix_us)
}

fn kv(key: &'static str, value: impl Into<opentelemetry::Value>) -> KeyValue {
    KeyValue::new(key, value.into())
}

fn usd(pusd: u64) -> f64 {
    pusd as f64 / 1e12
}

/// One span, with the fields every span of a run shares filled in.
struct Builder<'a> {
    run: &'a RunSpan,
    scope: &'a InstrumentationScope,
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    fn span(
        &self,
        id: SpanId,
        parent: Option<SpanId>,
        parent_is_remote: bool,
        kind: SpanKind,
        name: String,
        start: SystemTime,
        end: SystemTime,
        attributes: Vec<KeyValue>,
        events: Vec<opentelemetry::trace::Event>,
        error: Option<String>,
    ) -> SpanData {
        let mut span_events = SpanEvents::default();
        span_events.events = events;
        SpanData {
            span_context: SpanContext::new(
                trace_id(self.run.trace_id),
                span_id(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: parent.map_or(OtelSpanId::INVALID, span_id),
            parent_span_is_remote: parent_is_remote,
            span_kind: kind,
            name: Cow::Owned(name),
            start_time: start,
            end_time: end.max(start),
            attributes,
            dropped_attributes_count: 0,
            events: span_events,
            links: SpanLinks::default(),
            status: match error {
                Some(e) => Status::error(e),
                None => Status::Unset,
            },
            instrumentation_scope: self.scope.clone(),
        }
    }
}

/// Whether a run's content went with its spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentState {
    /// The pipeline exports no content.
    Off,
    /// Exported as captured.
    Raw,
    /// Exported as the redacting judge repaired it.
    Redacted,
    /// Captured, but the redacting judge could not redact it: withheld.
    Withheld,
}

impl ContentState {
    fn as_str(self) -> &'static str {
        match self {
            ContentState::Off => "off",
            ContentState::Raw => "raw",
            ContentState::Redacted => "redacted",
            ContentState::Withheld => "withheld",
        }
    }
}

/// The spans of one run, root first, with `content` (if any) as the
/// conventions' opt-in attributes. Empty for a record that never ran.
pub fn run_spans(
    pipeline: &Pipeline,
    record: &RunRecord,
    scope: &InstrumentationScope,
    content: Option<&Content>,
    state: ContentState,
) -> Vec<SpanData> {
    let Some(run) = &record.span else {
        return Vec::new();
    };
    let b = Builder { run, scope };
    let start = at(run.start_unix_us);
    let end = start + Duration::from_secs_f64(record.latency_ms.max(0.0) / 1e3);
    let mut spans = Vec::with_capacity(1 + record.trace.len() + record.ledger.len());

    let error = record.error.as_ref();
    let mut attrs = vec![
        kv("gen_ai.operation.name", "invoke_workflow"),
        kv("switchyard.pipeline", pipeline.manifest.name.clone()),
        kv("switchyard.run.id", record.id.clone()),
        kv("switchyard.generation", pipeline.generation as i64),
        kv(
            "switchyard.outcome",
            error.map_or("ok".to_string(), |e| e.kind.to_string()),
        ),
        kv(
            "gen_ai.usage.input_tokens",
            record.usage.input_tokens as i64,
        ),
        kv(
            "gen_ai.usage.output_tokens",
            record.usage.output_tokens as i64,
        ),
        kv("switchyard.cost.usd", usd(record.cost_pusd)),
        kv("switchyard.cost.pusd", record.cost_pusd as i64),
        kv("switchyard.model_calls", record.usage.calls as i64),
        kv("switchyard.queued_ms", record.queued_ms),
    ];
    for (router, label) in &record.routes {
        attrs.push(KeyValue::new(
            format!("switchyard.route.{router}"),
            label.clone(),
        ));
    }
    if let Some(e) = error {
        attrs.push(kv("error.type", e.kind.to_string()));
        if let Some(node) = &e.node {
            attrs.push(kv("switchyard.error.node", node.clone()));
        }
    }
    if state != ContentState::Off {
        attrs.push(kv("switchyard.content", state.as_str()));
    }
    if let Some(c) = content {
        attrs.push(kv("gen_ai.input.messages", user_message(&c.input)));
        if let Some(out) = &c.output {
            attrs.push(kv("gen_ai.output.messages", assistant_message(out, None)));
        }
    }
    spans.push(b.span(
        run.span_id,
        run.parent,
        run.parent.is_some(),
        if run.parent.is_some() {
            SpanKind::Server
        } else {
            SpanKind::Internal
        },
        format!("invoke_workflow {}", pipeline.manifest.name),
        start,
        end,
        attrs,
        Vec::new(),
        error.map(|e| e.kind.to_string()),
    ));

    let mut policy = PolicySteps::new(&record.events);
    for step in &record.trace {
        spans.push(node_span(&b, pipeline, step, start, &mut policy));
    }
    for entry in &record.ledger {
        let call = content.and_then(|c| c.call_of(entry.span_id));
        spans.push(model_span(&b, pipeline, entry, run.span_id, call));
    }
    spans
}

/// Matches each rejecting judge invocation, in order, with the policy
/// step that followed it.
struct PolicySteps<'a> {
    events: Vec<Option<&'a PolicyEvent>>,
}

impl<'a> PolicySteps<'a> {
    fn new(events: &'a [PolicyEvent]) -> Self {
        Self {
            events: events.iter().map(Some).collect(),
        }
    }

    fn after(&mut self, gated: &str, judge: &str) -> Option<&'static str> {
        let judged_by = format!("judge `{judge}`");
        let slot = self.events.iter_mut().find(|e| {
            e.is_some_and(|e| (e.node == gated || e.producer == gated) && e.by == judged_by)
        })?;
        slot.take().map(|e| e.action.as_str())
    }
}

fn node_span(
    b: &Builder<'_>,
    pipeline: &Pipeline,
    step: &TraceStep,
    run_start: SystemTime,
    policy: &mut PolicySteps<'_>,
) -> SpanData {
    let start = run_start + Duration::from_micros(step.start_us);
    let end = start + Duration::from_micros(step.elapsed_us);
    let failed = step.is_failure();
    let mut attrs = vec![
        kv("gen_ai.operation.name", "invoke_agent"),
        kv("gen_ai.agent.name", step.node.clone()),
        kv("switchyard.node", step.node.clone()),
        kv("switchyard.node.role", step.role),
        kv("switchyard.attempt", i64::from(step.attempt)),
        kv("switchyard.outcome", step.outcome),
        kv("switchyard.cpu_ms", step.usage.cpu_ticks as i64),
        kv(
            "switchyard.memory.peak_bytes",
            step.usage.peak_memory as i64,
        ),
        kv("switchyard.host_calls", step.usage.host_calls as i64),
        kv("switchyard.model_calls", step.usage.model_calls as i64),
    ];
    if let Some(node) = pipeline.node(&step.node) {
        let d = &node.component.description;
        attrs.push(kv("switchyard.component.name", d.name.clone()));
        attrs.push(kv("switchyard.component.version", d.version.clone()));
        attrs.push(kv(
            "switchyard.component.sha256",
            node.component.load.sha256.clone(),
        ));
        attrs.push(kv("switchyard.component.revision", node.revision as i64));
    }
    if let Some(gated) = &step.gates {
        attrs.push(kv("switchyard.gates", gated.clone()));
    }
    if let Some(route) = &step.route {
        attrs.push(kv("switchyard.route.target", route.target.clone()));
        attrs.push(kv(
            "switchyard.route.confidence",
            f64::from(route.confidence),
        ));
    }
    if failed {
        attrs.push(kv("error.type", step.outcome));
    }
    let mut events = Vec::new();
    if let Some(verdict) = &step.verdict {
        let (label, reasons) = match verdict {
            Verdict::Accept => ("accept", 0),
            Verdict::Reject { reasons } => ("reject", reasons.len()),
            Verdict::Repair { .. } => ("repair", 0),
        };
        let mut e = vec![
            kv("gen_ai.evaluation.name", step.node.clone()),
            kv("gen_ai.evaluation.score.label", label),
            kv("switchyard.verdict.reasons", reasons as i64),
        ];
        if let (Verdict::Reject { .. }, Some(gated)) = (verdict, &step.gates) {
            if let Some(action) = policy.after(gated, &step.node) {
                e.push(kv("switchyard.policy.action", action));
            }
        }
        events.push(opentelemetry::trace::Event::new(
            "gen_ai.evaluation.result",
            end,
            e,
            0,
        ));
    }
    b.span(
        step.span_id,
        Some(b.run.span_id),
        false,
        SpanKind::Internal,
        format!("invoke_agent {}", step.node),
        start,
        end,
        attrs,
        events,
        failed.then(|| step.outcome.to_string()),
    )
}

fn model_span(
    b: &Builder<'_>,
    pipeline: &Pipeline,
    entry: &LedgerEntry,
    root: SpanId,
    content: Option<&CallContent>,
) -> SpanData {
    let start = at(entry.start_unix_us);
    let end = start + Duration::from_micros(entry.latency_us);
    let provider = match pipeline.hub().spec(&entry.model).map(|s| &s.provider) {
        Some(ProviderSpec::OpenAi { .. }) => "openai",
        Some(ProviderSpec::Anthropic { .. }) => "anthropic",
        Some(ProviderSpec::Sim(_)) | None => "switchyard.sim",
    };
    let answered = matches!(entry.outcome, CallOutcome::Ok | CallOutcome::CacheHit);
    let mut attrs = vec![
        kv("gen_ai.operation.name", "chat"),
        kv("gen_ai.provider.name", provider),
        kv("gen_ai.request.model", entry.upstream.clone()),
        kv("gen_ai.usage.input_tokens", entry.input_tokens as i64),
        kv("gen_ai.usage.output_tokens", entry.output_tokens as i64),
        kv("switchyard.model", entry.model.clone()),
        kv("switchyard.node", entry.node.clone()),
        kv("switchyard.attempt", i64::from(entry.attempt)),
        kv("switchyard.outcome", entry.outcome.as_str()),
        kv(
            "switchyard.cache_hit",
            entry.outcome == CallOutcome::CacheHit,
        ),
        kv("switchyard.tokens.estimated", entry.estimated),
        kv("switchyard.cost.usd", usd(entry.cost_pusd)),
        kv("switchyard.cost.pusd", entry.cost_pusd as i64),
    ];
    if answered {
        attrs.push(kv("gen_ai.response.model", entry.upstream.clone()));
        if let Some(f) = &entry.finish_reason {
            attrs.push(KeyValue::new(
                "gen_ai.response.finish_reasons",
                opentelemetry::Value::Array(
                    vec![opentelemetry::StringValue::from(f.clone())].into(),
                ),
            ));
        }
    } else {
        attrs.push(kv("error.type", entry.outcome.as_str()));
    }
    if entry.outcome == CallOutcome::CircuitOpen {
        attrs.push(kv("switchyard.breaker.state", "open"));
    }
    if let Some(from) = &entry.fallback_from {
        attrs.push(kv("switchyard.fallback_from", from.clone()));
    }
    if let Some(c) = content {
        let (system, input) = call_messages(c);
        if let Some(system) = system {
            attrs.push(kv("gen_ai.system_instructions", system));
        }
        attrs.push(kv("gen_ai.input.messages", input));
        if let (true, Some(out)) = (c.answered_by(entry.span_id), c.output()) {
            attrs.push(kv(
                "gen_ai.output.messages",
                assistant_message(out, entry.finish_reason.as_deref()),
            ));
        }
    }
    b.span(
        entry.span_id,
        Some(entry.parent_span_id.unwrap_or(root)),
        false,
        SpanKind::Client,
        format!("chat {}", entry.upstream),
        start,
        end,
        attrs,
        Vec::new(),
        (!answered).then(|| entry.outcome.as_str().to_string()),
    )
}
