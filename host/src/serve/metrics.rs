//! Prometheus metrics of a running service (`GET /metrics`): runs and their
//! latency, per-node latency histograms, invocations and errors, model
//! tokens, calls and cost, judge verdicts, `on-reject` actions (retries,
//! escalations, fallbacks), swaps, and the live version of every node.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::pipeline::{Pipeline, RunOutcome};

/// A label value, escaped as the exposition format requires (`\\`, `"`,
/// newline) when written: values come from manifests, components and
/// upstreams, and none may forge a sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Label(String);

impl<T: Into<String>> From<T> for Label {
    fn from(s: T) -> Self {
        Label(s.into())
    }
}

impl EncodeLabelValue for Label {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeKindLabels {
    node: Label,
    kind: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    node: Label,
    model: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    node: Label,
    model: Label,
    direction: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    node: Label,
    model: Label,
    outcome: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    judge: Label,
    verdict: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    node: Label,
    action: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SwapLabels {
    node: Label,
    result: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    node: Label,
    version: Label,
    revision: Label,
    sha256: Label,
}

fn latency() -> Histogram {
    // 50 µs … ~26 s.
    Histogram::new(exponential_buckets(50e-6, 2.0, 20))
}

/// Every metric of the service.
pub struct Metrics {
    registry: Registry,
    runs: Family<OutcomeLabels, Counter>,
    run_latency: Histogram,
    in_flight: Gauge,
    queued: Gauge,
    refused: Counter,
    otel_dropped: Counter,
    generation: Gauge,
    node_latency: Family<NodeLabels, Histogram, fn() -> Histogram>,
    node_invocations: Family<NodeLabels, Counter>,
    node_errors: Family<NodeKindLabels, Counter>,
    model_calls: Family<CallLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    verdicts: Family<VerdictLabels, Counter>,
    actions: Family<ActionLabels, Counter>,
    swaps: Family<SwapLabels, Counter>,
    versions: Family<VersionLabels, Gauge>,
    /// The label set of each node's live version, to retire on swap.
    live: Mutex<Vec<VersionLabels>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, all registered.
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("switchyard"),
            runs: Family::default(),
            run_latency: latency(),
            in_flight: Gauge::default(),
            queued: Gauge::default(),
            refused: Counter::default(),
            otel_dropped: Counter::default(),
            generation: Gauge::default(),
            node_latency: Family::new_with_constructor(latency),
            node_invocations: Family::default(),
            node_errors: Family::default(),
            model_calls: Family::default(),
            tokens: Family::default(),
            cost: Family::default(),
            verdicts: Family::default(),
            actions: Family::default(),
            swaps: Family::default(),
            versions: Family::default(),
            live: Mutex::new(Vec::new()),
        };
        let r = &mut m.registry;
        r.register(
            "runs",
            "Runs finished, by outcome (ok or error kind)",
            m.runs.clone(),
        );
        r.register(
            "run_latency_seconds",
            "Wall time of a run",
            m.run_latency.clone(),
        );
        r.register("runs_in_flight", "Runs executing now", m.in_flight.clone());
        r.register(
            "runs_queued",
            "Runs waiting for room in the instance pool",
            m.queued.clone(),
        );
        r.register(
            "otel_dropped_spans",
            "Trace spans not exported: the export queue was full, or the collector was unreachable or refused them",
            m.otel_dropped.clone(),
        );
        r.register(
            "runs_refused",
            "Requests answered 429 without starting: the queue was full or waited too long",
            m.refused.clone(),
        );
        r.register(
            "generation",
            "Pipeline generation serving new runs (+1 per swap)",
            m.generation.clone(),
        );
        r.register(
            "node_latency_seconds",
            "Wall time of one node invocation",
            m.node_latency.clone(),
        );
        r.register(
            "node_invocations",
            "Node invocations (attempts included)",
            m.node_invocations.clone(),
        );
        r.register(
            "node_errors",
            "Failed node invocations, by error kind",
            m.node_errors.clone(),
        );
        r.register(
            "model_calls",
            "Model-call attempts, by outcome",
            m.model_calls.clone(),
        );
        r.register(
            "model_tokens",
            "Model tokens, by direction (input/output)",
            m.tokens.clone(),
        );
        r.register("model_cost_usd", "Model cost in US dollars", m.cost.clone());
        r.register(
            "judge_verdicts",
            "Judge verdicts (accept/reject/repair)",
            m.verdicts.clone(),
        );
        r.register(
            "policy_actions",
            "on-reject actions taken (retry/escalate/fallback/give-up)",
            m.actions.clone(),
        );
        r.register(
            "swaps",
            "Hot-swaps of a node, accepted or rejected",
            m.swaps.clone(),
        );
        r.register(
            "node_version",
            "The live component of each node (value 1)",
            m.versions.clone(),
        );
        m
    }

    /// A run started; the guard counts it in flight until dropped.
    pub fn run_started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// A run waiting for admission, until the guard is dropped.
    pub fn run_queued(&self) -> InFlight<'_> {
        self.queued.inc();
        InFlight(&self.queued)
    }

    /// The counter of trace spans the exporter dropped (shared with it).
    pub fn otel_dropped_counter(&self) -> Counter {
        self.otel_dropped.clone()
    }

    /// A request refused for want of room: it never started.
    pub fn run_refused(&self) {
        self.refused.inc();
    }

    /// Records a finished run.
    pub fn observe(&self, run: &RunOutcome) {
        let outcome = match &run.result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        self.runs
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
        self.run_latency.observe(run.elapsed.as_secs_f64());
        for step in &run.trace {
            let node = NodeLabels {
                node: step.node.clone().into(),
            };
            self.node_latency
                .get_or_create(&node)
                .observe(step.elapsed_us as f64 * 1e-6);
            self.node_invocations.get_or_create(&node).inc();
            if step.is_failure() {
                self.node_errors
                    .get_or_create(&NodeKindLabels {
                        node: step.node.clone().into(),
                        kind: step.outcome.into(),
                    })
                    .inc();
            }
            if let Some(v) = &step.verdict {
                let verdict = v.label();
                self.verdicts
                    .get_or_create(&VerdictLabels {
                        judge: step.node.clone().into(),
                        verdict: verdict.into(),
                    })
                    .inc();
            }
        }
        for e in &run.ledger {
            self.model_calls
                .get_or_create(&CallLabels {
                    node: e.node.clone().into(),
                    model: e.model.clone().into(),
                    outcome: e.outcome.as_str().into(),
                })
                .inc();
            for (direction, n) in [("input", e.input_tokens), ("output", e.output_tokens)] {
                if n > 0 {
                    self.tokens
                        .get_or_create(&TokenLabels {
                            node: e.node.clone().into(),
                            model: e.model.clone().into(),
                            direction: direction.into(),
                        })
                        .inc_by(n);
                }
            }
            if e.cost_pusd > 0 {
                self.cost
                    .get_or_create(&ModelLabels {
                        node: e.node.clone().into(),
                        model: e.model.clone().into(),
                    })
                    .inc_by(e.cost_pusd as f64 * 1e-12);
            }
        }
        for ev in &run.events {
            self.actions
                .get_or_create(&ActionLabels {
                    node: ev.node.clone().into(),
                    action: ev.action.as_str().into(),
                })
                .inc();
        }
    }

    /// Records a swap attempt.
    pub fn swapped(&self, node: &str, accepted: bool) {
        self.swaps
            .get_or_create(&SwapLabels {
                node: node.into(),
                result: if accepted { "accepted" } else { "rejected" }.into(),
            })
            .inc();
    }

    /// Publishes the live version of every node of `p`.
    pub fn set_live(&self, p: &Pipeline) {
        self.generation.set(p.generation as i64);
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        for old in live.drain(..) {
            self.versions.remove(&old);
        }
        for (name, node) in p.nodes() {
            let labels = VersionLabels {
                node: name.clone().into(),
                version: node.component.description.version.clone().into(),
                revision: node.revision.to_string().into(),
                sha256: node.component.load.sha256.clone().into(),
            };
            self.versions.get_or_create(&labels).set(1);
            live.push(labels);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Counts a run in flight while alive.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_label_values_are_escaped_so_no_sample_can_be_forged() {
        let m = Metrics::new();
        let forged = "w\"} 1\nswitchyard_runs_total{outcome=\"ok\"} 1000000\n# \\";
        m.swapped(forged, false);
        let text = m.render();
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("switchyard_runs_total{outcome=\"ok\"} 1000000")),
            "{text}"
        );
        assert!(
            text.contains(r#"node="w\"} 1\nswitchyard_runs_total{outcome=\"ok\"} 1000000\n# \\""#),
            "{text}"
        );
    }
}
