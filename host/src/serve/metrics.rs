//! Prometheus metrics of a running service (`GET /metrics`): runs and their
//! latency, per-node latency histograms, invocations and errors, model
//! tokens, calls and cost, judge verdicts, `on-reject` actions (retries,
//! escalations, fallbacks), swaps, the live version of every node, and
//! shadow and canary experiments per node and arm (labels bounded by the
//! pipeline's nodes: `arm` is `live` or `candidate`, `mode` `shadow` or
//! `canary`).

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::experiment::RunSample;
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
struct JudgeLabels {
    judge: Label,
    /// Empty for the overall score.
    criterion: Label,
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArmLabels {
    node: Label,
    arm: Label,
    mode: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArmKindLabels {
    node: Label,
    arm: Label,
    mode: Label,
    kind: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    node: Label,
    mode: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeEventLabels {
    node: Label,
    mode: Label,
    event: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SkipLabels {
    node: Label,
    reason: Label,
}

/// Judge scores: 0.0 … 1.0 in tenths (scores above 1 land in `+Inf`).
fn scores() -> Histogram {
    Histogram::new((1..=10).map(|i| f64::from(i) / 10.0))
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
    shared_state_degraded: Gauge,
    node_latency: Family<NodeLabels, Histogram, fn() -> Histogram>,
    node_invocations: Family<NodeLabels, Counter>,
    node_errors: Family<NodeKindLabels, Counter>,
    model_calls: Family<CallLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    verdicts: Family<VerdictLabels, Counter>,
    judge_scores: Family<JudgeLabels, Histogram, fn() -> Histogram>,
    actions: Family<ActionLabels, Counter>,
    swaps: Family<SwapLabels, Counter>,
    versions: Family<VersionLabels, Gauge>,
    exp_runs: Family<ArmLabels, Counter>,
    exp_errors: Family<ArmKindLabels, Counter>,
    exp_rejections: Family<ArmLabels, Counter>,
    exp_cost: Family<ArmLabels, Counter<f64, AtomicU64>>,
    exp_run_latency: Family<ArmLabels, Histogram, fn() -> Histogram>,
    exp_node_latency: Family<ArmLabels, Histogram, fn() -> Histogram>,
    exp_skipped: Family<SkipLabels, Counter>,
    exp_events: Family<ModeEventLabels, Counter>,
    exp_percent: Family<ModeLabels, Gauge<f64, AtomicU64>>,
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
            shared_state_degraded: Gauge::default(),
            node_latency: Family::new_with_constructor(latency),
            node_invocations: Family::default(),
            node_errors: Family::default(),
            model_calls: Family::default(),
            tokens: Family::default(),
            cost: Family::default(),
            verdicts: Family::default(),
            judge_scores: Family::new_with_constructor(scores),
            actions: Family::default(),
            swaps: Family::default(),
            versions: Family::default(),
            exp_runs: Family::default(),
            exp_errors: Family::default(),
            exp_rejections: Family::default(),
            exp_cost: Family::default(),
            exp_run_latency: Family::new_with_constructor(latency),
            exp_node_latency: Family::new_with_constructor(latency),
            exp_skipped: Family::default(),
            exp_events: Family::default(),
            exp_percent: Family::default(),
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
            "shared_state_degraded",
            "1 while the [state] backend cannot be reached (rate limits counted per replica), else 0",
            m.shared_state_degraded.clone(),
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
            "judge_score",
            "Scores judges gave (overall, and per criterion with `criterion`)",
            m.judge_scores.clone(),
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
        r.register(
            "experiment_runs",
            "Runs of a node's experiment, by arm (live/candidate) and mode (shadow/canary)",
            m.exp_runs.clone(),
        );
        r.register(
            "experiment_errors",
            "Failed runs of a node's experiment, by arm, mode and error kind",
            m.exp_errors.clone(),
        );
        r.register(
            "experiment_rejections",
            "Outputs of the experiment's node that a judge rejected, by arm and mode",
            m.exp_rejections.clone(),
        );
        r.register(
            "experiment_cost_usd",
            "Model cost of an experiment's runs in US dollars, by arm and mode",
            m.exp_cost.clone(),
        );
        r.register(
            "experiment_run_latency_seconds",
            "Wall time of an experiment's runs, by arm and mode",
            m.exp_run_latency.clone(),
        );
        r.register(
            "experiment_node_latency_seconds",
            "Wall time of one invocation of the experiment's node, by arm and mode",
            m.exp_node_latency.clone(),
        );
        r.register(
            "experiment_shadow_skipped",
            "Sampled shadow runs not started, by reason (busy: the in-flight bound; no-room: the instance pool; budget: the experiment's budget)",
            m.exp_skipped.clone(),
        );
        r.register(
            "experiment_events",
            "Experiments started, refused, promoted, aborted, stopped or out of budget",
            m.exp_events.clone(),
        );
        r.register(
            "experiment_percent",
            "The share of runs (%) an experiment running on a node samples (shadow) or serves (canary)",
            m.exp_percent.clone(),
        );
        m
    }

    /// Runs executing now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Runs waiting for room in the instance pool now.
    pub fn queued(&self) -> i64 {
        self.queued.get()
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
            if let Some(sc) = &step.score {
                let overall = sc.score.map(|x| (String::new(), x));
                for (criterion, x) in overall.into_iter().chain(sc.criteria.iter().cloned()) {
                    self.judge_scores
                        .get_or_create(&JudgeLabels {
                            judge: step.node.clone().into(),
                            criterion: criterion.into(),
                        })
                        .observe(x);
                }
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

    /// Records one run of an experiment on `node`'s `arm` in `mode`.
    pub fn experiment_run(&self, node: &str, mode: &str, arm: &str, s: &RunSample) {
        let labels = ArmLabels {
            node: node.into(),
            arm: arm.into(),
            mode: mode.into(),
        };
        self.exp_runs.get_or_create(&labels).inc();
        if let Some(kind) = s.error {
            self.exp_errors
                .get_or_create(&ArmKindLabels {
                    node: node.into(),
                    arm: arm.into(),
                    mode: mode.into(),
                    kind: kind.into(),
                })
                .inc();
        }
        if s.rejected > 0 {
            self.exp_rejections
                .get_or_create(&labels)
                .inc_by(s.rejected);
        }
        if s.cost_pusd > 0 {
            self.exp_cost
                .get_or_create(&labels)
                .inc_by(s.cost_pusd as f64 * 1e-12);
        }
        self.exp_run_latency
            .get_or_create(&labels)
            .observe(s.run_us as f64 * 1e-6);
        let node_latency = self.exp_node_latency.get_or_create(&labels);
        for (us, _) in &s.invocations {
            node_latency.observe(*us as f64 * 1e-6);
        }
    }

    /// A sampled shadow run of `node`'s experiment was not started.
    pub fn experiment_skipped(&self, node: &str, reason: &str) {
        self.exp_skipped
            .get_or_create(&SkipLabels {
                node: node.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// An experiment on `node` in `mode` was started, refused, promoted,
    /// aborted, stopped or ran out of budget (`event`).
    pub fn experiment_event(&self, node: &str, mode: &str, event: &str) {
        self.exp_events
            .get_or_create(&ModeEventLabels {
                node: node.into(),
                mode: mode.into(),
                event: event.into(),
            })
            .inc();
    }

    /// Publishes the share an experiment on `node` in `mode` takes while it
    /// runs; `None` removes it when it ends.
    pub fn experiment_percent(&self, node: &str, mode: &str, percent: Option<f64>) {
        let labels = ModeLabels {
            node: node.into(),
            mode: mode.into(),
        };
        match percent {
            Some(p) => {
                self.exp_percent.get_or_create(&labels).set(p);
            }
            None => {
                self.exp_percent.remove(&labels);
            }
        }
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

    /// Whether the shared state is unreachable now.
    pub fn set_shared_state_degraded(&self, degraded: bool) {
        self.shared_state_degraded.set(i64::from(degraded));
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
    fn metrics_judge_scores_are_a_histogram_per_judge_and_criterion() {
        use crate::engine::{JudgeScore, Usage, Verdict};
        use crate::pipeline::TraceStep;
        let m = Metrics::new();
        let mut run = RunOutcome::for_test("r", Ok(serde_json::json!({})));
        for score in [0.15, 0.95] {
            run.trace.push(TraceStep {
                node: "fact".into(),
                role: "judge",
                gates: Some("w".into()),
                attempt: 0,
                start_us: 0,
                elapsed_us: 10,
                outcome: TraceStep::OK,
                route: None,
                verdict: Some(Verdict::Accept),
                score: Some(JudgeScore {
                    score: Some(score),
                    criteria: vec![("grounded".into(), 1.0 - score)],
                }),
                window: None,
                usage: Usage::default(),
                span_id: crate::spec::SpanId::random(),
            });
        }
        m.observe(&run);
        let text = m.render();
        // Two overall scores: one in the 0.2 bucket, both by 1.0.
        assert!(
            text.contains(r#"switchyard_judge_score_bucket{le="0.2",judge="fact",criterion=""} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"switchyard_judge_score_count{judge="fact",criterion=""} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"switchyard_judge_score_count{judge="fact",criterion="grounded"} 2"#),
            "{text}"
        );
    }

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
