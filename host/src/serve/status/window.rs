//! The last minute of a service, per second: runs, failures and latency of
//! the pipeline and of each node (invocations, failures, judge rejections,
//! cost, tokens, router branches, the most one run spent under the node's
//! budget, budget refusals), kept in a ring of 60 one-second slots, plus
//! totals since the service started. The status page reads rates and
//! percentiles over the window from it. Latencies go into a small
//! log-scale histogram (four buckets per doubling, so a percentile is
//! within about 9% of the true value); nothing here keeps any content.

use std::collections::BTreeMap;

use crate::engine::Verdict;
use crate::models::CallOutcome;
use crate::pipeline::RunOutcome;

/// Seconds the window covers.
pub const WINDOW_SECONDS: u64 = 60;

/// Buckets of a latency histogram: four per doubling of microseconds, from
/// 1 µs up to about 2^31 µs (36 minutes); longer lands in the last.
const BUCKETS: usize = 124;

/// Latencies in microseconds, counted in log-scale buckets.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: [u32; BUCKETS],
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    fn bucket(us: u64) -> usize {
        let index = ((us.max(1) as f64).log2() * 4.0).floor() as usize;
        index.min(BUCKETS - 1)
    }

    /// Counts one latency.
    pub fn record(&mut self, us: u64) {
        let b = Self::bucket(us);
        self.counts[b] = self.counts[b].saturating_add(1);
        self.total += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.total += other.total;
    }

    /// The `q` quantile (0..=1) in milliseconds: the geometric middle of
    /// the bucket holding it. `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(2f64.powf((i as f64 + 0.5) / 4.0) / 1000.0);
            }
        }
        None
    }
}

/// One node's figures over some seconds.
#[derive(Debug, Clone, Default)]
pub struct NodeFigures {
    /// Invocations, attempts included.
    pub invocations: u64,
    /// Invocations that failed.
    pub failures: u64,
    /// Workers: outputs a judge rejected. Judges: reject verdicts given.
    pub rejections: u64,
    /// Workers: outputs a judge looked at. Judges: verdicts given.
    pub judged: u64,
    /// Invocation wall times.
    pub latency: LatencyHistogram,
    /// Model cost, picodollars.
    pub cost_pusd: u64,
    /// Model tokens, input and output.
    pub tokens: u64,
    /// Model-call attempts.
    pub calls: u64,
    /// Routers: runs sent down each branch label.
    pub branches: BTreeMap<String, u64>,
    /// The most one run spent at this node, picodollars.
    pub max_run_cost_pusd: u64,
    /// The most tokens one run used at this node.
    pub max_run_tokens: u64,
    /// Calls refused by a budget.
    pub budget_refused: u64,
}

impl NodeFigures {
    fn merge(&mut self, o: &NodeFigures) {
        self.invocations += o.invocations;
        self.failures += o.failures;
        self.rejections += o.rejections;
        self.judged += o.judged;
        self.latency.merge(&o.latency);
        self.cost_pusd += o.cost_pusd;
        self.tokens += o.tokens;
        self.calls += o.calls;
        for (label, n) in &o.branches {
            *self.branches.entry(label.clone()).or_default() += n;
        }
        self.max_run_cost_pusd = self.max_run_cost_pusd.max(o.max_run_cost_pusd);
        self.max_run_tokens = self.max_run_tokens.max(o.max_run_tokens);
        self.budget_refused += o.budget_refused;
    }
}

/// The pipeline's and every node's figures over some seconds.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Runs finished.
    pub runs: u64,
    /// Runs that ended in an error.
    pub failed: u64,
    /// Failed runs by error kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// Run wall times.
    pub latency: LatencyHistogram,
    /// Model cost of every run, picodollars.
    pub cost_pusd: u64,
    /// The most one run spent, picodollars.
    pub max_run_cost_pusd: u64,
    /// The most tokens one run used.
    pub max_run_tokens: u64,
    /// Calls refused by a budget.
    pub budget_refused: u64,
    /// Per node, indexed like the window's node names.
    pub nodes: Vec<NodeFigures>,
}

impl Figures {
    fn new(nodes: usize) -> Self {
        Self {
            nodes: vec![NodeFigures::default(); nodes],
            ..Self::default()
        }
    }

    fn merge(&mut self, o: &Figures) {
        self.runs += o.runs;
        self.failed += o.failed;
        for (kind, n) in &o.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.latency.merge(&o.latency);
        self.cost_pusd += o.cost_pusd;
        self.max_run_cost_pusd = self.max_run_cost_pusd.max(o.max_run_cost_pusd);
        self.max_run_tokens = self.max_run_tokens.max(o.max_run_tokens);
        self.budget_refused += o.budget_refused;
        for (a, b) in self.nodes.iter_mut().zip(&o.nodes) {
            a.merge(b);
        }
    }

    /// Counts one finished run; `index` finds a node's slot by name.
    fn add(&mut self, run: &RunOutcome, index: &BTreeMap<String, usize>) {
        self.runs += 1;
        if let Err(e) = &run.result {
            self.failed += 1;
            *self.errors.entry(e.kind()).or_default() += 1;
        }
        self.latency
            .record(u64::try_from(run.elapsed.as_micros()).unwrap_or(u64::MAX));
        for step in &run.trace {
            let Some(&i) = index.get(&step.node) else {
                continue;
            };
            let node = &mut self.nodes[i];
            node.invocations += 1;
            node.failures += u64::from(step.is_failure());
            node.latency.record(step.elapsed_us);
            if let Some(verdict) = &step.verdict {
                let rejected = matches!(verdict, Verdict::Reject { .. });
                node.judged += 1;
                node.rejections += u64::from(rejected);
                if let Some(&w) = step.gates.as_ref().and_then(|g| index.get(g)) {
                    self.nodes[w].judged += 1;
                    self.nodes[w].rejections += u64::from(rejected);
                }
            }
        }
        for (router, label) in &run.routes {
            if let Some(&i) = index.get(router) {
                *self.nodes[i].branches.entry(label.clone()).or_default() += 1;
            }
        }
        let mut per_node: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
        let (mut run_cost, mut run_tokens) = (0u64, 0u64);
        for entry in &run.ledger {
            let tokens = entry.input_tokens + entry.output_tokens;
            let refused = u64::from(entry.outcome == CallOutcome::BudgetExceeded);
            run_cost += entry.cost_pusd;
            run_tokens += tokens;
            self.budget_refused += refused;
            let Some(&i) = index.get(&entry.node) else {
                continue;
            };
            let node = &mut self.nodes[i];
            node.calls += 1;
            node.cost_pusd += entry.cost_pusd;
            node.tokens += tokens;
            node.budget_refused += refused;
            let spent = per_node.entry(i).or_default();
            spent.0 += entry.cost_pusd;
            spent.1 += tokens;
        }
        for (i, (cost, tokens)) in per_node {
            let node = &mut self.nodes[i];
            node.max_run_cost_pusd = node.max_run_cost_pusd.max(cost);
            node.max_run_tokens = node.max_run_tokens.max(tokens);
        }
        self.cost_pusd += run_cost;
        self.max_run_cost_pusd = self.max_run_cost_pusd.max(run_cost);
        self.max_run_tokens = self.max_run_tokens.max(run_tokens);
    }
}

/// One second of the ring.
#[derive(Debug, Clone)]
struct Slot {
    /// The second (since the service started) it holds; slots of older
    /// seconds are stale and read as empty.
    second: u64,
    figures: Figures,
}

/// The last [`WINDOW_SECONDS`] seconds, one slot each, and the totals
/// since the start.
#[derive(Debug)]
pub struct Window {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
    slots: Vec<Slot>,
    total: Figures,
}

impl Window {
    /// An empty window over the nodes `names`.
    pub fn new(names: Vec<String>) -> Self {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let empty = Slot {
            second: u64::MAX,
            figures: Figures::new(names.len()),
        };
        Self {
            slots: vec![empty; WINDOW_SECONDS as usize],
            total: Figures::new(names.len()),
            names,
            index,
        }
    }

    /// The node names, in the order of [`Figures::nodes`].
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Counts a run that finished at `second` (since the service started).
    pub fn observe(&mut self, second: u64, run: &RunOutcome) {
        let slot = &mut self.slots[(second % WINDOW_SECONDS) as usize];
        if slot.second != second {
            slot.second = second;
            slot.figures = Figures::new(self.names.len());
        }
        slot.figures.add(run, &self.index);
        self.total.add(run, &self.index);
    }

    /// The figures of the seconds `now - WINDOW_SECONDS + 1 ..= now`.
    pub fn last_minute(&self, now: u64) -> Figures {
        let mut sum = Figures::new(self.names.len());
        for slot in self.live_slots(now) {
            sum.merge(&slot.figures);
        }
        sum
    }

    /// Runs finished in each of the last [`WINDOW_SECONDS`] seconds, oldest
    /// first, `now` last.
    pub fn runs_per_second(&self, now: u64) -> Vec<u64> {
        (0..WINDOW_SECONDS)
            .rev()
            .map(|ago| {
                now.checked_sub(ago)
                    .map(|s| &self.slots[(s % WINDOW_SECONDS) as usize])
                    .filter(|slot| now.checked_sub(ago) == Some(slot.second))
                    .map_or(0, |slot| slot.figures.runs)
            })
            .collect()
    }

    /// Everything since the service started.
    pub fn since_start(&self) -> &Figures {
        &self.total
    }

    fn live_slots(&self, now: u64) -> impl Iterator<Item = &Slot> {
        self.slots
            .iter()
            .filter(move |s| s.second <= now && now - s.second < WINDOW_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Usage;
    use crate::models::LedgerEntry;
    use crate::pipeline::{RunError, TraceStep};
    use crate::spec::{Cost, SpanId};

    #[test]
    fn status_latency_quantiles_are_within_a_bucket() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile_ms(0.5), None);
        for us in 1..=1000u64 {
            h.record(us * 100);
        }
        let p50 = h.quantile_ms(0.5).unwrap();
        let p95 = h.quantile_ms(0.95).unwrap();
        assert!((p50 / 50.0 - 1.0).abs() < 0.1, "p50 {p50}");
        assert!((p95 / 95.0 - 1.0).abs() < 0.1, "p95 {p95}");
        h.record(u64::MAX);
        assert!(h.quantile_ms(1.0).unwrap() > 1e6);
    }

    fn run(ok: bool) -> RunOutcome {
        let result = if ok {
            Ok(serde_json::json!("done"))
        } else {
            Err(RunError::Deadline { limit_ms: 1 })
        };
        let mut r = RunOutcome::for_test("r", result);
        r.elapsed = std::time::Duration::from_millis(3);
        r
    }

    fn step(
        node: &str,
        gates: Option<&str>,
        verdict: Option<Verdict>,
        outcome: &'static str,
    ) -> TraceStep {
        TraceStep {
            node: node.into(),
            role: if verdict.is_some() { "judge" } else { "worker" },
            gates: gates.map(Into::into),
            attempt: 0,
            start_us: 0,
            elapsed_us: 2_000,
            outcome,
            route: None,
            verdict,
            score: None,
            window: None,
            usage: Usage::default(),
            span_id: SpanId::random(),
        }
    }

    fn entry(node: &str, cost_pusd: u64, tokens: u64, outcome: CallOutcome) -> LedgerEntry {
        LedgerEntry {
            node: node.into(),
            model: "m".into(),
            upstream: "m".into(),
            attempt: 0,
            fallback_from: None,
            outcome,
            input_tokens: tokens,
            output_tokens: 0,
            estimated: false,
            cost: Cost::ZERO,
            cost_pusd,
            latency_us: 0,
            start_unix_us: 0,
            span_id: SpanId::random(),
            parent_span_id: None,
            finish_reason: None,
            operation: Default::default(),
        }
    }

    #[test]
    fn status_window_attributes_rejections_routes_costs_and_budget_refusals() {
        let mut w = Window::new(vec!["route".into(), "draft".into(), "check".into()]);
        let mut r = run(true);
        r.routes.insert("route".into(), "billing".into());
        r.trace = vec![
            step("route", None, None, TraceStep::OK),
            step("draft", None, None, TraceStep::OK),
            step(
                "check",
                Some("draft"),
                Some(Verdict::Reject {
                    reasons: vec!["x".into()],
                }),
                TraceStep::OK,
            ),
            step("draft", None, None, "timeout"),
            step("stranger", None, None, TraceStep::OK),
        ];
        r.ledger = vec![
            entry("draft", 300, 10, CallOutcome::Ok),
            entry("draft", 200, 5, CallOutcome::Ok),
            entry("check", 0, 0, CallOutcome::BudgetExceeded),
        ];
        w.observe(0, &r);
        let mut r2 = run(true);
        r2.ledger = vec![entry("draft", 100, 1, CallOutcome::Ok)];
        w.observe(0, &r2);
        let f = w.last_minute(0);
        let [route, draft, check] = &f.nodes[..] else {
            panic!("three nodes")
        };
        assert_eq!(route.branches.get("billing"), Some(&1));
        assert_eq!((draft.invocations, draft.failures), (2, 1));
        assert_eq!(
            (draft.judged, draft.rejections),
            (1, 1),
            "the judge's reject counts against the worker"
        );
        assert_eq!((check.judged, check.rejections), (1, 1));
        assert_eq!((draft.cost_pusd, draft.tokens, draft.calls), (600, 16, 3));
        assert_eq!((draft.max_run_cost_pusd, draft.max_run_tokens), (500, 15));
        assert_eq!((check.budget_refused, f.budget_refused), (1, 1));
        assert_eq!(
            (f.cost_pusd, f.max_run_cost_pusd, f.max_run_tokens),
            (600, 500, 15)
        );
        assert!((draft.latency.quantile_ms(0.5).unwrap() / 2.0 - 1.0).abs() < 0.1);
    }

    #[test]
    fn status_window_forgets_seconds_older_than_a_minute_but_not_the_totals() {
        let mut w = Window::new(vec!["a".into()]);
        w.observe(5, &run(true));
        w.observe(5, &run(false));
        w.observe(30, &run(true));
        assert_eq!(w.last_minute(30).runs, 3);
        assert_eq!(w.last_minute(30).failed, 1);
        assert_eq!(w.last_minute(64).runs, 3, "second 5 is inside 5..=64");
        assert_eq!(w.last_minute(65).runs, 1, "second 5 has left");
        // Second 65 reuses second 5's slot.
        w.observe(65, &run(true));
        assert_eq!(w.last_minute(65).runs, 2);
        assert_eq!(w.since_start().runs, 4);
        let per_second = w.runs_per_second(65);
        assert_eq!(per_second.len(), 60);
        assert_eq!(per_second[59], 1);
        assert_eq!(per_second[59 - 35], 1, "second 30");
        assert_eq!(per_second.iter().sum::<u64>(), 2);
    }
}
