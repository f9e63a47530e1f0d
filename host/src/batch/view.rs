//! The fields of a written run record that batch mode reads back: the
//! summary is built from them (for runs of this session and for records
//! kept from a `.partial` alike, so there is one path), and resume checks
//! a record's `line` and `id` against the input. A view, not a second
//! format: [`crate::pipeline::RunRecord`] is what is written; unknown fields
//! are ignored, so the record can grow. A run of this session is viewed
//! straight from its record ([`RecordView::of`], borrowing its names and
//! labels), without parsing the line just written; a test holds the two to
//! the same view. Parsed from a file, the view owns what it holds.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::models::{LedgerEntry, Totals};
use crate::pipeline::{RunRecord, TraceStep};
use crate::spec::Cost;

/// What batch mode reads back from one output record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordView<'a> {
    /// The input's id.
    pub id: Cow<'a, str>,
    /// The input's 1-based line number.
    #[serde(default)]
    pub line: Option<u64>,
    /// True when the run produced an output.
    pub ok: bool,
    /// Why it did not.
    #[serde(default)]
    pub error: Option<ErrorView<'a>>,
    /// Router → branch label.
    #[serde(default)]
    pub routes: Cow<'a, BTreeMap<String, String>>,
    /// The input's `expect`, echoed.
    #[serde(default)]
    pub expect: Option<Cow<'a, Value>>,
    /// Exact cost of the run, picodollars.
    #[serde(default)]
    pub cost_pusd: u64,
    /// Every node invocation.
    #[serde(default)]
    pub trace: Vec<StepView<'a>>,
    /// Every `on-reject` decision.
    #[serde(default)]
    pub events: Vec<EventView<'a>>,
    /// Every model-call attempt.
    #[serde(default)]
    pub ledger: Vec<EntryView<'a>>,
    /// What the input cost sent to the baseline model, if measured.
    #[serde(default)]
    pub baseline: Option<TotalsView>,
}

impl<'a> RecordView<'a> {
    /// The view of `record`: what reading its written line back gives,
    /// without the encoding and parsing.
    pub fn of(record: &'a RunRecord) -> Self {
        Self {
            id: Cow::Borrowed(&record.id),
            line: record.line,
            ok: record.ok,
            error: record.error.as_ref().map(|e| ErrorView {
                kind: Cow::Borrowed(e.kind),
            }),
            routes: Cow::Borrowed(&record.routes),
            expect: record.expect.as_ref().map(Cow::Borrowed),
            cost_pusd: record.cost_pusd,
            trace: record.trace.iter().map(StepView::of).collect(),
            events: record
                .events
                .iter()
                .map(|e| EventView {
                    node: Cow::Borrowed(&e.node),
                    action: Cow::Borrowed(e.action.as_str()),
                })
                .collect(),
            ledger: record.ledger.iter().map(EntryView::of).collect(),
            baseline: record.baseline.as_ref().map(|t| TotalsView {
                calls: t.calls,
                failed: t.failed,
                input_tokens: t.input_tokens,
                output_tokens: t.output_tokens,
                cost: t.cost.usd(),
            }),
        }
    }
}

/// A record's `error`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorView<'a> {
    /// Stable kind, e.g. `trap`, `rejected`.
    pub kind: Cow<'a, str>,
}

/// One entry of a record's `trace`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StepView<'a> {
    /// Node name.
    pub node: Cow<'a, str>,
    /// `router`, `worker` or `judge`.
    pub role: Cow<'a, str>,
    /// Duration in µs.
    #[serde(default)]
    pub elapsed_us: u64,
    /// `ok` or the node error's kind.
    pub outcome: Cow<'a, str>,
    /// Routers: the choice.
    #[serde(default)]
    pub route: Option<RouteView<'a>>,
    /// Judges: the verdict.
    #[serde(default)]
    pub verdict: Option<VerdictView<'a>>,
    /// Judges: the score, when the judge gave one.
    #[serde(default)]
    pub score: Option<ScoreView<'a>>,
}

/// A judge's score.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScoreView<'a> {
    /// The overall score.
    #[serde(default)]
    pub score: Option<f64>,
    /// Per-criterion scores.
    #[serde(default)]
    pub criteria: Cow<'a, [(String, f64)]>,
}

impl<'a> StepView<'a> {
    fn of(step: &'a TraceStep) -> Self {
        // JSON has no NaN or infinity: such a score is written as `null`.
        let finite = |x: f64| x.is_finite().then_some(x);
        Self {
            node: Cow::Borrowed(&step.node),
            role: Cow::Borrowed(step.role),
            elapsed_us: step.elapsed_us,
            outcome: Cow::Borrowed(step.outcome),
            route: step.route.as_ref().map(|r| RouteView {
                target: Cow::Borrowed(&r.target),
            }),
            verdict: step.verdict.as_ref().map(|v| VerdictView {
                verdict: Cow::Borrowed(v.label()),
            }),
            score: step.score.as_ref().map(|s| ScoreView {
                score: s.score.and_then(finite),
                criteria: Cow::Borrowed(&s.criteria),
            }),
        }
    }

    /// True when the invocation failed (as [`crate::pipeline::TraceStep::is_failure`]).
    pub fn is_failure(&self) -> bool {
        self.outcome != crate::pipeline::TraceStep::OK
    }
}

/// A router's choice.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RouteView<'a> {
    /// Branch label.
    pub target: Cow<'a, str>,
}

/// A judge's verdict.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VerdictView<'a> {
    /// `accept`, `reject` or `repair`.
    pub verdict: Cow<'a, str>,
}

/// One `on-reject` decision.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventView<'a> {
    /// The gated node.
    pub node: Cow<'a, str>,
    /// `retry`, `escalate`, `fallback` or `give-up`.
    pub action: Cow<'a, str>,
}

/// One model-call attempt.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EntryView<'a> {
    /// The node that made the call.
    pub node: Cow<'a, str>,
    /// Attempt number at this model (0 first).
    #[serde(default)]
    pub attempt: u32,
    /// The model the node asked for, when this is a fallback.
    #[serde(default)]
    pub fallback_from: Option<Cow<'a, str>>,
    /// `ok`, `cache-hit`, `timeout`, … (as `CallOutcome` serialises).
    pub outcome: Cow<'a, str>,
    /// Prompt tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Exact cost, picodollars.
    #[serde(default)]
    pub cost_pusd: u64,
}

impl<'a> EntryView<'a> {
    fn of(e: &'a LedgerEntry) -> Self {
        Self {
            node: Cow::Borrowed(&e.node),
            attempt: e.attempt,
            fallback_from: e.fallback_from.as_deref().map(Cow::Borrowed),
            outcome: Cow::Borrowed(e.outcome.as_str()),
            input_tokens: e.input_tokens,
            output_tokens: e.output_tokens,
            cost_pusd: e.cost_pusd,
        }
    }

    /// True unless answered (as [`crate::models::CallOutcome::is_failure`]).
    pub fn is_failure(&self) -> bool {
        !matches!(&*self.outcome, "ok" | "cache-hit")
    }

    /// Adds this entry to `totals` (as `Totals::add` does a ledger entry).
    pub fn add_to(&self, totals: &mut Totals) {
        totals.calls += 1;
        totals.failed += u64::from(self.is_failure());
        totals.input_tokens += self.input_tokens;
        totals.output_tokens += self.output_tokens;
        totals.cost += Cost(self.cost_pusd);
    }
}

/// A record's `baseline` totals. Its cost is USD (the record carries no
/// picodollar field for it); per record it converts back exactly.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct TotalsView {
    /// Attempts.
    #[serde(default)]
    pub calls: u64,
    /// Attempts that failed.
    #[serde(default)]
    pub failed: u64,
    /// Prompt tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Cost in USD.
    #[serde(default)]
    pub cost: f64,
}

impl TotalsView {
    /// As [`Totals`]. USD → picodollars is exact below about $2000 per
    /// record (f64 carries 53 bits), far above any one input's cost.
    pub fn totals(&self) -> Totals {
        let pusd = if self.cost.is_finite() && self.cost > 0.0 {
            (self.cost * 1e12).round() as u64
        } else {
            0
        };
        Totals {
            calls: self.calls,
            failed: self.failed,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost: Cost(pusd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::CallOutcome;

    #[test]
    fn view_reads_back_what_a_record_writes() {
        let entry = LedgerEntry {
            node: "w".into(),
            model: "m".into(),
            upstream: "m".into(),
            attempt: 1,
            fallback_from: None,
            outcome: CallOutcome::CacheHit,
            input_tokens: 10,
            output_tokens: 3,
            estimated: false,
            cost: Cost(123_456_789),
            cost_pusd: 123_456_789,
            latency_us: 5,
            start_unix_us: 0,
            span_id: crate::spec::SpanId::random(),
            parent_span_id: None,
            finish_reason: None,
            operation: Default::default(),
        };
        let mut totals = Totals::default();
        totals.add(&entry);
        let mut record = RunRecord::unusable(
            "t1",
            7,
            Some(serde_json::json!({"route": "x"})),
            &crate::pipeline::RunError::Deadline { limit_ms: 1 },
        );
        record.ledger.push(entry);
        record.baseline = Some(totals);
        let view: RecordView =
            serde_json::from_slice(&serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!((&*view.id, view.line), ("t1", Some(7)));
        assert_eq!(view.error.unwrap().kind, "deadline");
        let mut back = Totals::default();
        view.ledger[0].add_to(&mut back);
        assert_eq!(back, totals, "ledger entry reads back exactly");
        assert_eq!(
            view.baseline.unwrap().totals(),
            totals,
            "baseline reads back exactly"
        );
    }

    fn step(node: &str, role: &'static str, outcome: &'static str) -> TraceStep {
        TraceStep {
            node: node.into(),
            role,
            gates: None,
            attempt: 0,
            start_us: 3,
            elapsed_us: 41,
            outcome,
            route: None,
            verdict: None,
            score: None,
            window: None,
            usage: Default::default(),
            span_id: crate::spec::SpanId::random(),
        }
    }

    #[test]
    fn a_record_viewed_directly_is_what_its_written_line_reads_back_as() {
        use crate::engine::{JudgeScore, RouteChoice, Verdict};
        use crate::pipeline::{PolicyAction, PolicyEvent, RunError};
        let entry = |outcome, fallback_from: Option<&str>, pusd| LedgerEntry {
            node: "w \"q\" é".into(),
            model: "m".into(),
            upstream: "m".into(),
            attempt: 2,
            fallback_from: fallback_from.map(str::to_string),
            outcome,
            input_tokens: 11,
            output_tokens: 4,
            estimated: true,
            cost: Cost(pusd),
            cost_pusd: pusd,
            latency_us: 9,
            start_unix_us: 1,
            span_id: crate::spec::SpanId::random(),
            parent_span_id: None,
            finish_reason: Some("stop".into()),
            operation: Default::default(),
        };
        let mut router = step("route", "router", TraceStep::OK);
        router.route = Some(RouteChoice {
            target: "billing".into(),
            confidence: 0.25,
            reason: "keywords".into(),
        });
        let mut judge = step("check", "judge", TraceStep::OK);
        judge.verdict = Some(Verdict::Reject {
            reasons: vec!["too long".into()],
        });
        judge.score = JudgeScore::given(Some(0.1 + 0.2), vec![("tone".into(), 1.0 / 3.0)]);
        let mut repair = step("check", "judge", TraceStep::OK);
        repair.verdict = Some(Verdict::Repair {
            output: "{}".into(),
        });
        repair.score = JudgeScore::given(Some(f64::NAN), Vec::new());
        let mut accept = step("check", "judge", TraceStep::OK);
        accept.verdict = Some(Verdict::Accept);
        let failed = step("w", "worker", "cpu-limit");

        let mut ok = RunRecord::unusable(
            "t\n1",
            7,
            Some(serde_json::json!({"route": "billing"})),
            &RunError::Deadline { limit_ms: 1 },
        );
        ok.ok = true;
        ok.error = None;
        ok.output = Some(serde_json::json!({"answer": "x"}));
        ok.routes.insert("route".into(), "billing".into());
        ok.trace = vec![router, judge, repair, accept, failed];
        ok.events = vec![PolicyEvent {
            node: "w".into(),
            producer: "w".into(),
            by: "judge `check`".into(),
            reasons: vec!["r".into()],
            action: PolicyAction::GiveUp,
        }];
        ok.ledger = vec![
            entry(CallOutcome::Ok, None, 123_456_789),
            entry(CallOutcome::CacheHit, Some("big"), 0),
            entry(CallOutcome::Timeout, Some("big"), 7),
        ];
        let mut totals = Totals::default();
        ok.ledger.iter().for_each(|e| totals.add(e));
        ok.usage = totals;
        ok.cost_pusd = totals.cost.0;
        ok.baseline = Some(totals);

        let failed_run = RunRecord::unusable("t2", 8, None, &RunError::Deadline { limit_ms: 5 });
        let mut served = ok.clone();
        served.line = None;
        served.expect = None;
        served.baseline = None;
        for record in [ok, failed_run, served] {
            let read: RecordView =
                serde_json::from_slice(&serde_json::to_vec(&record).unwrap()).unwrap();
            assert_eq!(RecordView::of(&record), read, "{record:?}");
        }
    }
}
