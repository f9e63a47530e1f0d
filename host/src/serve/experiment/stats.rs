//! The statistics of one arm (live or candidate) of an experiment: runs and
//! their success rate and errors by kind, the experiment node's
//! invocations, errors, judges' verdicts on its outputs (pass rate), the
//! cost of its own model calls and of whole runs in exact picodollars (from
//! each run's ledger), and latency percentiles of the node and of the run.
//! Memory is bounded: counters, error maps keyed by the closed set of
//! error kinds, and fixed-size latency histograms.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::Role;
use crate::pipeline::RunOutcome;

/// Latencies are kept in µs from 1 µs to 1 h, to 3 significant figures.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

/// What one run contributed, also the sample the metrics take.
#[derive(Debug, Clone, Default)]
pub struct RunSample {
    /// The run's error kind, `None` when it answered.
    pub error: Option<&'static str>,
    /// The node's gated outputs judged in the run.
    pub judged: u64,
    /// Of those, the ones a judge rejected.
    pub rejected: u64,
    /// The cost of the whole run, in picodollars.
    pub cost_pusd: u64,
    /// The cost of the node's own model calls, in picodollars.
    pub node_cost_pusd: u64,
    /// The run's wall time, in µs.
    pub run_us: u64,
    /// Each invocation of the node: wall time in µs and error kind.
    pub invocations: Vec<(u64, Option<&'static str>)>,
    /// The node's verdicts, when the node is a judge; the verdicts on its
    /// outputs otherwise: (accept, repair, reject).
    pub verdicts: (u64, u64, u64),
    /// Model-call attempts the node made.
    pub node_calls: u64,
}

impl RunSample {
    /// What `run` says about node `node` (of role `role`).
    pub fn of(run: &RunOutcome, node: &str, role: Role) -> Self {
        let mut s = RunSample {
            error: run.result.as_ref().err().map(|e| e.kind()),
            cost_pusd: run.totals.cost.0,
            run_us: run.elapsed.as_micros() as u64,
            ..RunSample::default()
        };
        // The node's gated outputs, by attempt: rejected when a judge
        // rejected it (judges stop at the first rejection).
        let mut outputs: BTreeMap<u32, bool> = BTreeMap::new();
        for step in &run.trace {
            if step.node == node {
                s.invocations
                    .push((step.elapsed_us, step.is_failure().then_some(step.outcome)));
            }
            let Some(v) = &step.verdict else { continue };
            let judged_here = match role {
                Role::Judge => step.node == node,
                _ => step.gates.as_deref() == Some(node),
            };
            if !judged_here {
                continue;
            }
            match v.label() {
                "accept" => s.verdicts.0 += 1,
                "repair" => s.verdicts.1 += 1,
                _ => s.verdicts.2 += 1,
            }
            let rejects = v.label() == "reject";
            if role == Role::Judge {
                // Each of a judge's verdicts rules on one output.
                s.judged += 1;
                s.rejected += u64::from(rejects);
            } else {
                *outputs.entry(step.attempt).or_default() |= rejects;
            }
        }
        s.judged += outputs.len() as u64;
        s.rejected += outputs.values().filter(|r| **r).count() as u64;
        for e in run.ledger.iter().filter(|e| e.node == node) {
            s.node_calls += 1;
            s.node_cost_pusd += e.cost_pusd;
        }
        s
    }
}

/// The running totals of one arm.
#[derive(Debug)]
pub struct ArmStats {
    runs: u64,
    ok: u64,
    errors: BTreeMap<&'static str, u64>,
    cost_pusd: u64,
    run_latency: Histogram<u64>,
    node_runs: u64,
    invocations: u64,
    node_errors: BTreeMap<&'static str, u64>,
    verdicts: (u64, u64, u64),
    judged: u64,
    rejected: u64,
    node_calls: u64,
    node_cost_pusd: u64,
    node_latency: Histogram<u64>,
}

impl Default for ArmStats {
    fn default() -> Self {
        Self {
            runs: 0,
            ok: 0,
            errors: BTreeMap::new(),
            cost_pusd: 0,
            run_latency: histogram(),
            node_runs: 0,
            invocations: 0,
            node_errors: BTreeMap::new(),
            verdicts: (0, 0, 0),
            judged: 0,
            rejected: 0,
            node_calls: 0,
            node_cost_pusd: 0,
            node_latency: histogram(),
        }
    }
}

impl ArmStats {
    /// Adds one run.
    pub fn add(&mut self, s: &RunSample) {
        self.runs += 1;
        match s.error {
            None => self.ok += 1,
            Some(kind) => *self.errors.entry(kind).or_default() += 1,
        }
        self.cost_pusd = self.cost_pusd.saturating_add(s.cost_pusd);
        self.run_latency.saturating_record(s.run_us.max(1));
        self.node_runs += u64::from(!s.invocations.is_empty());
        for (us, error) in &s.invocations {
            self.invocations += 1;
            self.node_latency.saturating_record((*us).max(1));
            if let Some(kind) = error {
                *self.node_errors.entry(kind).or_default() += 1;
            }
        }
        self.verdicts.0 += s.verdicts.0;
        self.verdicts.1 += s.verdicts.1;
        self.verdicts.2 += s.verdicts.2;
        self.judged += s.judged;
        self.rejected += s.rejected;
        self.node_calls += s.node_calls;
        self.node_cost_pusd = self.node_cost_pusd.saturating_add(s.node_cost_pusd);
    }

    /// The whole runs' cost so far, in picodollars.
    pub fn cost_pusd(&self) -> u64 {
        self.cost_pusd
    }

    /// The arm as reported.
    pub fn summary(&self) -> ArmSummary {
        let rate = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        ArmSummary {
            runs: self.runs,
            ok: self.ok,
            success_rate: rate(self.ok, self.runs),
            errors: self.errors.clone(),
            cost_pusd: self.cost_pusd,
            cost_usd: self.cost_pusd as f64 / 1e12,
            latency_ms: Percentiles::of(&self.run_latency),
            node: NodeSummary {
                runs: self.node_runs,
                invocations: self.invocations,
                errors: self.node_errors.clone(),
                verdicts: Verdicts {
                    accept: self.verdicts.0,
                    repair: self.verdicts.1,
                    reject: self.verdicts.2,
                },
                judged: self.judged,
                rejected: self.rejected,
                pass_rate: rate(self.judged - self.rejected, self.judged),
                calls: self.node_calls,
                cost_pusd: self.node_cost_pusd,
                cost_usd: self.node_cost_pusd as f64 / 1e12,
                latency_ms: Percentiles::of(&self.node_latency),
            },
        }
    }
}

/// One arm, as `GET /admin/nodes/{node}` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ArmSummary {
    /// Runs finished on this arm.
    pub runs: u64,
    /// Of those, the ones that answered.
    pub ok: u64,
    /// `ok / runs` (null before any run).
    pub success_rate: Option<f64>,
    /// Failed runs by error kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// The whole runs' model cost, exact.
    pub cost_pusd: u64,
    /// The same in USD (display).
    pub cost_usd: f64,
    /// Run wall time.
    pub latency_ms: Percentiles,
    /// The experiment's node within those runs.
    pub node: NodeSummary,
}

/// The experiment's node on one arm.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSummary {
    /// Runs in which the node ran.
    pub runs: u64,
    /// Its invocations (retries included).
    pub invocations: u64,
    /// Its failed invocations by error kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// Judges' verdicts on its outputs (a judge node: its own verdicts).
    pub verdicts: Verdicts,
    /// Its outputs a judge ruled on (a judge node: its verdicts).
    pub judged: u64,
    /// Of those, the rejected ones.
    pub rejected: u64,
    /// Accepted-or-repaired share of the judged outputs (null when none
    /// was judged).
    pub pass_rate: Option<f64>,
    /// Its model-call attempts.
    pub calls: u64,
    /// The cost of its own model calls, exact.
    pub cost_pusd: u64,
    /// The same in USD (display).
    pub cost_usd: f64,
    /// Wall time of one invocation.
    pub latency_ms: Percentiles,
}

/// Verdict counts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Verdicts {
    /// Accepted.
    pub accept: u64,
    /// Repaired.
    pub repair: u64,
    /// Rejected.
    pub reject: u64,
}

/// Latency percentiles in ms (null before any sample).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let at = |q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1e3);
        Self {
            p50: at(0.5),
            p95: at(0.95),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_arm_stats_count_runs_errors_verdicts_and_cost() {
        let mut arm = ArmStats::default();
        arm.add(&RunSample {
            error: None,
            judged: 1,
            rejected: 0,
            cost_pusd: 30,
            node_cost_pusd: 10,
            run_us: 2000,
            invocations: vec![(1000, None)],
            verdicts: (1, 0, 0),
            node_calls: 1,
        });
        arm.add(&RunSample {
            error: Some("rejected"),
            judged: 2,
            rejected: 2,
            cost_pusd: 5,
            node_cost_pusd: 0,
            run_us: 4000,
            invocations: vec![(3000, None), (500, Some("trap"))],
            verdicts: (0, 0, 2),
            node_calls: 0,
        });
        let s = arm.summary();
        assert_eq!((s.runs, s.ok, s.cost_pusd), (2, 1, 35));
        assert_eq!(s.errors.get("rejected"), Some(&1));
        assert_eq!(s.success_rate, Some(0.5));
        assert_eq!((s.node.invocations, s.node.runs), (3, 2));
        assert_eq!(s.node.errors.get("trap"), Some(&1));
        assert_eq!((s.node.judged, s.node.rejected), (3, 2));
        assert_eq!(s.node.pass_rate, Some(1.0 / 3.0));
        assert_eq!((s.node.cost_pusd, s.node.calls), (10, 1));
        let p50 = s.latency_ms.p50.unwrap();
        assert!((1.99..=2.01).contains(&p50), "{p50}");
        assert!(ArmStats::default().summary().latency_ms.p50.is_none());
    }
}
