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
//! generation that ran it, so what is exported is what was written. The
//! spans are written straight into an export batch (`super::otlp`).

use std::fmt::Write as _;

use super::content::{assistant_message, call_messages, user_message, Content};
use super::otlp::{Batch, Head, Kind};
use crate::engine::Verdict;
use crate::models::{CallContent, CallOutcome, LedgerEntry};
use crate::pipeline::{Pipeline, PolicyEvent, RunRecord, RunSpan, TraceStep};
use crate::spec::{ProviderSpec, SpanId};

/// The semantic-conventions version the spans follow.
pub const SEMCONV_VERSION: &str = "1.37.0";
/// Its schema URL, named by the instrumentation scope.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.37.0";

fn usd(pusd: u64) -> f64 {
    pusd as f64 / 1e12
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

/// Writes the spans of one run into `batch`, root first, with `content`
/// (if any) as the conventions' opt-in attributes; returns how many. None
/// for a record that never ran.
pub fn run_spans(
    pipeline: &Pipeline,
    record: &RunRecord,
    content: Option<&Content>,
    state: ContentState,
    batch: &mut Batch,
) -> usize {
    let Some(run) = &record.span else {
        return 0;
    };
    let start_ns = run.start_unix_us.saturating_mul(1000);
    let end_ns = start_ns.saturating_add((record.latency_ms.max(0.0) * 1e6) as u64);
    let error = record.error.as_ref();
    let b = batch.begin();
    let _ = write!(b.name, "invoke_workflow {}", pipeline.manifest.name);
    let a = &mut b.attrs;
    a.str("gen_ai.operation.name", "invoke_workflow")
        .str("switchyard.pipeline", &pipeline.manifest.name)
        .str("switchyard.run.id", &record.id)
        .count("switchyard.generation", pipeline.generation)
        .str("switchyard.outcome", error.map_or("ok", |e| e.kind))
        .count("gen_ai.usage.input_tokens", record.usage.input_tokens)
        .count("gen_ai.usage.output_tokens", record.usage.output_tokens)
        .float("switchyard.cost.usd", usd(record.cost_pusd))
        .count("switchyard.cost.pusd", record.cost_pusd)
        .count("switchyard.model_calls", record.usage.calls)
        .float("switchyard.queued_ms", record.queued_ms);
    let mut key = String::new();
    for (router, label) in &record.routes {
        key.clear();
        let _ = write!(key, "switchyard.route.{router}");
        a.str(&key, label);
    }
    if let Some(e) = error {
        a.str("error.type", e.kind);
        if let Some(node) = &e.node {
            a.str("switchyard.error.node", node);
        }
    }
    if state != ContentState::Off {
        a.str("switchyard.content", state.as_str());
    }
    if let Some(c) = content {
        a.str("gen_ai.input.messages", &user_message(&c.input));
        if let Some(out) = &c.output {
            a.str("gen_ai.output.messages", &assistant_message(out, None));
        }
    }
    batch.end(&Head {
        trace_id: run.trace_id.0,
        span_id: run.span_id.0,
        parent: run.parent.map(|p| p.0),
        parent_is_remote: run.parent.is_some(),
        kind: if run.parent.is_some() {
            Kind::Server
        } else {
            Kind::Internal
        },
        start_ns,
        end_ns,
        error: error.map(|e| e.kind),
    });

    let mut policy = PolicySteps::new(&record.events);
    for step in &record.trace {
        node_span(batch, pipeline, run, step, start_ns, &mut policy);
    }
    for entry in &record.ledger {
        let call = content.and_then(|c| c.call_of(entry.span_id));
        model_span(batch, pipeline, run, entry, call);
    }
    1 + record.trace.len() + record.ledger.len()
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
        let slot = self.events.iter_mut().find(|e| {
            e.is_some_and(|e| {
                (e.node == gated || e.producer == gated)
                    && e.by
                        .strip_prefix("judge `")
                        .and_then(|r| r.strip_suffix('`'))
                        == Some(judge)
            })
        })?;
        slot.take().map(|e| e.action.as_str())
    }
}

fn node_span(
    batch: &mut Batch,
    pipeline: &Pipeline,
    run: &RunSpan,
    step: &TraceStep,
    run_start_ns: u64,
    policy: &mut PolicySteps<'_>,
) {
    let start_ns = run_start_ns.saturating_add(step.start_us.saturating_mul(1000));
    let end_ns = start_ns.saturating_add(step.elapsed_us.saturating_mul(1000));
    let failed = step.is_failure();
    let b = batch.begin();
    let _ = write!(b.name, "invoke_agent {}", step.node);
    let a = &mut b.attrs;
    a.str("gen_ai.operation.name", "invoke_agent")
        .str("gen_ai.agent.name", &step.node)
        .str("switchyard.node", &step.node)
        .str("switchyard.node.role", step.role)
        .int("switchyard.attempt", i64::from(step.attempt))
        .str("switchyard.outcome", step.outcome)
        .count("switchyard.cpu_ms", step.usage.cpu_ticks)
        .count("switchyard.memory.peak_bytes", step.usage.peak_memory)
        .count("switchyard.host_calls", step.usage.host_calls)
        .count("switchyard.model_calls", step.usage.model_calls);
    if let Some(node) = pipeline.node(&step.node) {
        let d = &node.component.description;
        a.str("switchyard.component.name", &d.name)
            .str("switchyard.component.version", &d.version)
            .str("switchyard.component.sha256", &node.component.load.sha256)
            .count("switchyard.component.revision", node.revision);
    }
    if let Some(gated) = &step.gates {
        a.str("switchyard.gates", gated);
    }
    if let Some(route) = &step.route {
        a.str("switchyard.route.target", &route.target)
            .float("switchyard.route.confidence", f64::from(route.confidence));
    }
    if failed {
        a.str("error.type", step.outcome);
    }
    if let Some(verdict) = &step.verdict {
        let (label, reasons) = match verdict {
            Verdict::Accept => ("accept", 0),
            Verdict::Reject { reasons } => ("reject", reasons.len()),
            Verdict::Repair { .. } => ("repair", 0),
        };
        let action = match (verdict, &step.gates) {
            (Verdict::Reject { .. }, Some(gated)) => policy.after(gated, &step.node),
            _ => None,
        };
        b.event("gen_ai.evaluation.result", end_ns, |e| {
            e.str("gen_ai.evaluation.name", &step.node)
                .str("gen_ai.evaluation.score.label", label)
                .count("switchyard.verdict.reasons", reasons as u64);
            if let Some(action) = action {
                e.str("switchyard.policy.action", action);
            }
        });
    }
    batch.end(&Head {
        trace_id: run.trace_id.0,
        span_id: step.span_id.0,
        parent: Some(run.span_id.0),
        parent_is_remote: false,
        kind: Kind::Internal,
        start_ns,
        end_ns,
        error: failed.then_some(step.outcome),
    });
}

fn model_span(
    batch: &mut Batch,
    pipeline: &Pipeline,
    run: &RunSpan,
    entry: &LedgerEntry,
    content: Option<&CallContent>,
) {
    let start_ns = entry.start_unix_us.saturating_mul(1000);
    let end_ns = start_ns.saturating_add(entry.latency_us.saturating_mul(1000));
    let provider = match pipeline.hub().spec(&entry.model).map(|s| &s.provider) {
        Some(ProviderSpec::OpenAi { .. }) => "openai",
        Some(ProviderSpec::Anthropic { .. }) => "anthropic",
        Some(ProviderSpec::Sim(_)) | None => "switchyard.sim",
    };
    let answered = matches!(entry.outcome, CallOutcome::Ok | CallOutcome::CacheHit);
    let b = batch.begin();
    let _ = write!(b.name, "chat {}", entry.upstream);
    let a = &mut b.attrs;
    a.str("gen_ai.operation.name", "chat")
        .str("gen_ai.provider.name", provider)
        .str("gen_ai.request.model", &entry.upstream)
        .count("gen_ai.usage.input_tokens", entry.input_tokens)
        .count("gen_ai.usage.output_tokens", entry.output_tokens)
        .str("switchyard.model", &entry.model)
        .str("switchyard.node", &entry.node)
        .int("switchyard.attempt", i64::from(entry.attempt))
        .str("switchyard.outcome", entry.outcome.as_str())
        .bool(
            "switchyard.cache_hit",
            entry.outcome == CallOutcome::CacheHit,
        )
        .bool("switchyard.tokens.estimated", entry.estimated)
        .float("switchyard.cost.usd", usd(entry.cost_pusd))
        .count("switchyard.cost.pusd", entry.cost_pusd);
    if answered {
        a.str("gen_ai.response.model", &entry.upstream);
        if let Some(f) = &entry.finish_reason {
            a.strs("gen_ai.response.finish_reasons", &[f.as_str()]);
        }
    } else {
        a.str("error.type", entry.outcome.as_str());
    }
    if entry.outcome == CallOutcome::CircuitOpen {
        a.str("switchyard.breaker.state", "open");
    }
    if let Some(from) = &entry.fallback_from {
        a.str("switchyard.fallback_from", from);
    }
    if let Some(c) = content {
        let (system, input) = call_messages(c);
        if let Some(system) = system {
            a.str("gen_ai.system_instructions", &system);
        }
        a.str("gen_ai.input.messages", &input);
        if let (true, Some(out)) = (c.answered_by(entry.span_id), c.output()) {
            a.str(
                "gen_ai.output.messages",
                &assistant_message(out, entry.finish_reason.as_deref()),
            );
        }
    }
    let root: SpanId = run.span_id;
    batch.end(&Head {
        trace_id: run.trace_id.0,
        span_id: entry.span_id.0,
        parent: Some(entry.parent_span_id.unwrap_or(root).0),
        parent_is_remote: false,
        kind: Kind::Client,
        start_ns,
        end_ns,
        error: (!answered).then_some(entry.outcome.as_str()),
    });
}
