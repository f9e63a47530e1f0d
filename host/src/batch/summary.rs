//! The closing summary of a batch: per node latency percentiles,
//! invocations, errors, judge verdicts, model calls, tokens and cost, plus
//! totals, router accuracy against labelled inputs and how dispatch adapted.
//! It is built from written records ([`RecordView`]), one path for the runs
//! of this session and for the records a resumed batch keeps.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use super::dispatch::DispatchStats;
use super::view::RecordView;
use crate::models::{CallOutcome, Totals};

/// Statistics of one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStats {
    /// Its role.
    pub role: String,
    /// Invocations (attempts included).
    pub invocations: u64,
    /// Invocations that failed.
    pub errors: u64,
    /// Median invocation latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// Judges: verdict counts (`accept`, `reject`, `repair`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub verdicts: BTreeMap<String, u64>,
    /// Routers: branch label counts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, u64>,
    /// Gated workers: what the `on-reject` policy did (`retry`,
    /// `escalate`, `fallback`, `give-up`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub policy: BTreeMap<String, u64>,
    /// Judges: the distribution of their scores, when they give any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<ScoreStats>,
    /// Model-call totals.
    pub model: Totals,
    #[serde(skip)]
    latency_us: Histogram<u64>,
    #[serde(skip)]
    score_values: Vec<f64>,
    #[serde(skip)]
    criteria_values: BTreeMap<String, Vec<f64>>,
}

/// The distribution of one judge's scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScoreStats {
    /// Scored judgements.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Lowest.
    pub min: f64,
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Highest.
    pub max: f64,
    /// Mean score per criterion.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub criteria: BTreeMap<String, f64>,
}

impl ScoreStats {
    /// The distribution of `values` (nearest-rank percentiles), with
    /// per-criterion means; `None` when nothing was scored.
    pub fn of(values: &[f64], criteria: &BTreeMap<String, Vec<f64>>) -> Option<Self> {
        if values.is_empty() && criteria.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| -> f64 {
            if v.is_empty() {
                return 0.0;
            }
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1]
        };
        let mean = |xs: &[f64]| {
            if xs.is_empty() {
                0.0
            } else {
                xs.iter().sum::<f64>() / xs.len() as f64
            }
        };
        Some(Self {
            count: v.len() as u64,
            mean: mean(&v),
            min: v.first().copied().unwrap_or(0.0),
            p10: at(0.10),
            p50: at(0.50),
            p90: at(0.90),
            max: v.last().copied().unwrap_or(0.0),
            criteria: criteria
                .iter()
                .map(|(k, xs)| (k.clone(), mean(xs)))
                .collect(),
        })
    }
}

/// Router accuracy against `expect.route`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Accuracy {
    /// Runs with a label and a route.
    pub labelled: u64,
    /// Of those, routed as labelled.
    pub correct: u64,
}

/// Model-layer counts over every ledger entry.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CallStats {
    /// Attempts that failed (any outcome but `ok` and `cache-hit`).
    pub failed: u64,
    /// Retries (attempts after the first, at the same model).
    pub retries: u64,
    /// Switches to a fallback model.
    pub fallbacks: u64,
    /// Answers served from a response cache.
    pub cache_hits: u64,
    /// Calls refused by the circuit breaker.
    pub circuit_open: u64,
    /// Calls refused by a budget.
    pub budget_refused: u64,
}

/// What the same inputs cost sent straight to one model.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// The model.
    pub model: String,
    /// Its calls, tokens and cost.
    pub totals: Totals,
}

/// The whole batch.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Pipeline name.
    pub pipeline: String,
    /// Input records (those kept from a resumed `.partial` included).
    pub runs: u64,
    /// Of those, records kept from the `.partial` a resumed batch
    /// continued (their runs, costs and latencies are counted here too).
    pub resumed: u64,
    /// False when the batch stopped (a signal) before every input line had
    /// a record; the numbers cover the records written.
    pub complete: bool,
    /// Records with an output.
    pub ok: u64,
    /// Failed records by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Per node.
    pub nodes: BTreeMap<String, NodeStats>,
    /// Model-call totals over every run.
    pub totals: Totals,
    /// Router accuracy, when inputs carry `expect.route`.
    pub accuracy: Accuracy,
    /// Exact total cost in picodollars (`totals.cost` is USD).
    pub cost_pusd: u64,
    /// `on-reject` decisions over every gated node.
    pub policy: BTreeMap<String, u64>,
    /// What the model layer did over every call.
    pub calls: CallStats,
    /// The same inputs sent straight to one model, when measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// How the in-flight limit adapted to upstream failures.
    pub dispatch: DispatchStats,
    /// Wall time of this session, seconds.
    pub wall_s: f64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

impl Summary {
    /// An empty summary for `pipeline`.
    pub fn new(pipeline: &str) -> Self {
        Self {
            pipeline: pipeline.to_string(),
            runs: 0,
            resumed: 0,
            complete: true,
            ok: 0,
            errors: BTreeMap::new(),
            nodes: BTreeMap::new(),
            totals: Totals::default(),
            accuracy: Accuracy::default(),
            cost_pusd: 0,
            policy: BTreeMap::new(),
            calls: CallStats::default(),
            baseline: None,
            dispatch: DispatchStats::default(),
            wall_s: 0.0,
        }
    }

    /// Adds one written record (a run, or an input line that never ran).
    pub fn add_record(&mut self, rec: &RecordView) {
        self.runs += 1;
        match (&rec.error, rec.ok) {
            (_, true) => self.ok += 1,
            (Some(e), false) => tally(&mut self.errors, &e.kind),
            (None, false) => tally(&mut self.errors, "unknown"),
        }
        for step in &rec.trace {
            // Looked up first: the name is copied only the first time.
            if !self.nodes.contains_key(&*step.node) {
                self.nodes.insert(
                    step.node.to_string(),
                    NodeStats {
                        role: step.role.to_string(),
                        invocations: 0,
                        errors: 0,
                        p50_ms: 0.0,
                        p95_ms: 0.0,
                        verdicts: BTreeMap::new(),
                        routes: BTreeMap::new(),
                        policy: BTreeMap::new(),
                        scores: None,
                        model: Totals::default(),
                        latency_us: histogram(),
                        score_values: Vec::new(),
                        criteria_values: BTreeMap::new(),
                    },
                );
            }
            let s = self.nodes.get_mut(&*step.node).expect("inserted above");
            s.invocations += 1;
            s.errors += u64::from(step.is_failure());
            s.latency_us.saturating_record(step.elapsed_us.max(1));
            if let Some(v) = &step.verdict {
                tally(&mut s.verdicts, &v.verdict);
            }
            if let Some(sc) = &step.score {
                if let Some(x) = sc.score.filter(|x| x.is_finite()) {
                    s.score_values.push(x);
                }
                for (name, x) in sc.criteria.iter().filter(|(_, x)| x.is_finite()) {
                    s.criteria_values.entry(name.clone()).or_default().push(*x);
                }
            }
            if let Some(r) = &step.route {
                tally(&mut s.routes, &r.target);
            }
        }
        for ev in &rec.events {
            if let Some(s) = self.nodes.get_mut(&*ev.node) {
                tally(&mut s.policy, &ev.action);
            }
            tally(&mut self.policy, &ev.action);
        }
        for e in &rec.ledger {
            let c = &mut self.calls;
            c.failed += u64::from(e.is_failure());
            c.retries += u64::from(e.attempt > 0);
            c.fallbacks += u64::from(e.fallback_from.is_some() && e.attempt == 0);
            c.cache_hits += u64::from(e.outcome == CallOutcome::CacheHit.as_str());
            c.circuit_open += u64::from(e.outcome == CallOutcome::CircuitOpen.as_str());
            c.budget_refused += u64::from(e.outcome == CallOutcome::BudgetExceeded.as_str());
            if let Some(s) = self.nodes.get_mut(&*e.node) {
                e.add_to(&mut s.model);
            }
            e.add_to(&mut self.totals);
        }
        self.cost_pusd = self.totals.cost.0;
        let expected = rec
            .expect
            .as_ref()
            .and_then(|e| e.get("route"))
            .and_then(Value::as_str);
        if let (Some(want), [got]) = (expected, rec.routes.values().collect::<Vec<_>>().as_slice())
        {
            self.accuracy.labelled += 1;
            self.accuracy.correct += u64::from(want == got.as_str());
        }
        if let Some(cost) = &rec.baseline {
            // A batch that measures no baseline drops this (see `runner`).
            let b = self.baseline.get_or_insert_with(|| Baseline {
                model: String::new(),
                totals: Totals::default(),
            });
            b.totals.merge(&cost.totals());
        }
    }

    /// Fixes percentiles and wall time once the batch is over.
    pub fn finish(&mut self, wall: Duration) {
        self.wall_s = wall.as_secs_f64();
        for s in self.nodes.values_mut() {
            s.p50_ms = s.latency_us.value_at_quantile(0.50) as f64 / 1e3;
            s.p95_ms = s.latency_us.value_at_quantile(0.95) as f64 / 1e3;
            s.scores = ScoreStats::of(&s.score_values, &s.criteria_values);
        }
    }

    /// Records that failed.
    pub fn failed(&self) -> u64 {
        self.runs - self.ok
    }

    /// Runs of this session (not those kept from a `.partial`) per second
    /// of its wall time; 0 before [`finish`](Self::finish).
    pub fn runs_per_second(&self) -> f64 {
        if self.wall_s > 0.0 {
            (self.runs - self.resumed) as f64 / self.wall_s
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fresh = self.runs - self.resumed;
        let rate = self.runs_per_second();
        if !self.complete {
            write!(f, "stopped early: ")?;
        }
        write!(
            f,
            "{}: {} runs in {:.2} s ({:.1} runs/s)",
            self.pipeline, fresh, self.wall_s, rate,
        )?;
        if self.resumed > 0 {
            write!(
                f,
                " + {} resumed from the .partial = {} runs",
                self.resumed, self.runs
            )?;
        }
        write!(f, ": {} ok, {} failed", self.ok, self.failed())?;
        if !self.errors.is_empty() {
            let kinds: Vec<String> = self
                .errors
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            write!(f, " ({})", kinds.join(", "))?;
        }
        writeln!(f, "\n")?;
        // Columns match the row format below.
        writeln!(
            f,
            "node               role     calls errors    p50 ms    p95 ms  model    tok in   tok out        cost  notes"
        )?;
        for (name, s) in &self.nodes {
            let mut notes = String::new();
            for (k, n) in &s.verdicts {
                let _ = write!(notes, "{k} {n}  ");
            }
            for (k, n) in &s.routes {
                let _ = write!(notes, "{k} {n}  ");
            }
            for (k, n) in &s.policy {
                let _ = write!(notes, "{k} {n}  ");
            }
            if let Some(sc) = &s.scores {
                let _ = write!(
                    notes,
                    "score p10/p50/p90 {:.2}/{:.2}/{:.2} (n {})  ",
                    sc.p10, sc.p50, sc.p90, sc.count
                );
            }
            writeln!(
                f,
                "{:<18} {:<7} {:>6} {:>6} {:>9.3} {:>9.3} {:>6} {:>9} {:>9} {:>11}  {}",
                name,
                s.role,
                s.invocations,
                s.errors,
                s.p50_ms,
                s.p95_ms,
                s.model.calls,
                s.model.input_tokens,
                s.model.output_tokens,
                s.model.cost.to_string(),
                notes.trim_end()
            )?;
        }
        write!(
            f,
            "{:<18} {:<7} {:>6} {:>6} {:>9} {:>9} {:>6} {:>9} {:>9} {:>11}",
            "total",
            "",
            self.nodes.values().map(|s| s.invocations).sum::<u64>(),
            self.nodes.values().map(|s| s.errors).sum::<u64>(),
            "",
            "",
            self.totals.calls,
            self.totals.input_tokens,
            self.totals.output_tokens,
            self.totals.cost.to_string()
        )?;
        let c = &self.calls;
        if c.failed + c.retries + c.fallbacks + c.cache_hits > 0 {
            write!(
                f,
                "\n\nmodel calls: {} failed attempts, {} retries, {} fallbacks, {} cache hits, {} refused by circuit breakers, {} by budgets",
                c.failed, c.retries, c.fallbacks, c.cache_hits, c.circuit_open, c.budget_refused
            )?;
        }
        let d = &self.dispatch;
        if d.slowed > 0 {
            write!(
                f,
                "\n\ndispatch: slowed {} times by upstream failures; in-flight limit fell from {} to {}, ended at {}",
                d.slowed, d.concurrency, d.lowest, d.last
            )?;
        }
        if !self.policy.is_empty() {
            let parts: Vec<String> = self
                .policy
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            write!(f, "\n\non-reject decisions: {}", parts.join(", "))?;
        }
        if let Some(b) = &self.baseline {
            let ours = self.totals.cost;
            let theirs = b.totals.cost;
            write!(
                f,
                "\n\ncost: orchestrated {ours} vs monolith on `{}` {theirs} ({} tokens)",
                b.model,
                b.totals.input_tokens + b.totals.output_tokens
            )?;
            if theirs.0 > 0 {
                let saved = 100.0 * (1.0 - ours.0 as f64 / theirs.0 as f64);
                write!(
                    f,
                    ": {:.1}% {}",
                    saved.abs(),
                    if saved >= 0.0 { "saved" } else { "more" }
                )?;
            }
        }
        if self.accuracy.labelled > 0 {
            write!(
                f,
                "\n\nrouter accuracy: {}/{} ({:.1}%) against expect.route",
                self.accuracy.correct,
                self.accuracy.labelled,
                100.0 * self.accuracy.correct as f64 / self.accuracy.labelled as f64
            )?;
        }
        Ok(())
    }
}

/// Adds one to `key`'s count, copying the key only the first time it is
/// counted.
fn tally(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_string(), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_score_stats_take_nearest_rank_percentiles_and_criterion_means() {
        let values: Vec<f64> = (1..=10).map(|i| f64::from(i) / 10.0).collect();
        let criteria = BTreeMap::from([("grounded".to_string(), vec![0.5, 1.0])]);
        let s = ScoreStats::of(&values, &criteria).unwrap();
        assert_eq!(s.count, 10);
        assert!((s.mean - 0.55).abs() < 1e-9);
        assert_eq!(
            (s.min, s.p10, s.p50, s.p90, s.max),
            (0.1, 0.1, 0.5, 0.9, 1.0)
        );
        assert_eq!(s.criteria["grounded"], 0.75);
        assert_eq!(ScoreStats::of(&[], &BTreeMap::new()), None);
    }
}
