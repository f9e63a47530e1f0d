//! The fields of a written run record that batch mode reads back: the
//! summary is built from them (for runs of this session and for records
//! kept from a `.partial` alike, so there is one path), and resume checks
//! a record's `line` and `id` against the input. A view, not a second
//! format: [`crate::pipeline::RunRecord`] is what is written; unknown fields
//! are ignored, so the record can grow.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::models::Totals;
use crate::spec::Cost;

/// What batch mode reads back from one output record.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordView {
    /// The input's id.
    pub id: String,
    /// The input's 1-based line number.
    #[serde(default)]
    pub line: Option<u64>,
    /// True when the run produced an output.
    pub ok: bool,
    /// Why it did not.
    #[serde(default)]
    pub error: Option<ErrorView>,
    /// Router → branch label.
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
    /// The input's `expect`, echoed.
    #[serde(default)]
    pub expect: Option<Value>,
    /// Exact cost of the run, picodollars.
    #[serde(default)]
    pub cost_pusd: u64,
    /// Every node invocation.
    #[serde(default)]
    pub trace: Vec<StepView>,
    /// Every `on-reject` decision.
    #[serde(default)]
    pub events: Vec<EventView>,
    /// Every model-call attempt.
    #[serde(default)]
    pub ledger: Vec<EntryView>,
    /// What the input cost sent to the baseline model, if measured.
    #[serde(default)]
    pub baseline: Option<TotalsView>,
}

/// A record's `error`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorView {
    /// Stable kind, e.g. `trap`, `rejected`.
    pub kind: String,
}

/// One entry of a record's `trace`.
#[derive(Debug, Clone, Deserialize)]
pub struct StepView {
    /// Node name.
    pub node: String,
    /// `router`, `worker` or `judge`.
    pub role: String,
    /// Duration in µs.
    #[serde(default)]
    pub elapsed_us: u64,
    /// `ok` or the node error's kind.
    pub outcome: String,
    /// Routers: the choice.
    #[serde(default)]
    pub route: Option<RouteView>,
    /// Judges: the verdict.
    #[serde(default)]
    pub verdict: Option<VerdictView>,
    /// Judges: the score, when the judge gave one.
    #[serde(default)]
    pub score: Option<ScoreView>,
}

/// A judge's score.
#[derive(Debug, Clone, Deserialize)]
pub struct ScoreView {
    /// The overall score.
    #[serde(default)]
    pub score: Option<f64>,
    /// Per-criterion scores.
    #[serde(default)]
    pub criteria: Vec<(String, f64)>,
}

impl StepView {
    /// True when the invocation failed (as [`crate::pipeline::TraceStep::is_failure`]).
    pub fn is_failure(&self) -> bool {
        self.outcome != crate::pipeline::TraceStep::OK
    }
}

/// A router's choice.
#[derive(Debug, Clone, Deserialize)]
pub struct RouteView {
    /// Branch label.
    pub target: String,
}

/// A judge's verdict.
#[derive(Debug, Clone, Deserialize)]
pub struct VerdictView {
    /// `accept`, `reject` or `repair`.
    pub verdict: String,
}

/// One `on-reject` decision.
#[derive(Debug, Clone, Deserialize)]
pub struct EventView {
    /// The gated node.
    pub node: String,
    /// `retry`, `escalate`, `fallback` or `give-up`.
    pub action: String,
}

/// One model-call attempt.
#[derive(Debug, Clone, Deserialize)]
pub struct EntryView {
    /// The node that made the call.
    pub node: String,
    /// Attempt number at this model (0 first).
    #[serde(default)]
    pub attempt: u32,
    /// The model the node asked for, when this is a fallback.
    #[serde(default)]
    pub fallback_from: Option<String>,
    /// `ok`, `cache-hit`, `timeout`, … (as `CallOutcome` serialises).
    pub outcome: String,
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

impl EntryView {
    /// True unless answered (as [`crate::models::CallOutcome::is_failure`]).
    pub fn is_failure(&self) -> bool {
        !matches!(self.outcome.as_str(), "ok" | "cache-hit")
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
#[derive(Debug, Clone, Copy, Deserialize)]
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
    use crate::models::{CallOutcome, LedgerEntry};
    use crate::pipeline::RunRecord;

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
        assert_eq!((view.id.as_str(), view.line), ("t1", Some(7)));
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
}
