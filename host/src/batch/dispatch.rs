//! Adaptive dispatch: the in-flight limit of a batch, AIMD-style. It starts
//! at `--concurrency`, is halved (down to 1) each time a run ends in an
//! upstream-availability failure — a model that timed out, throttled, was
//! unavailable or behind an open circuit — and grows by one per run that
//! did not (up to `--concurrency` again). A batch thus rides out an outage
//! at a trickle instead of piling retries onto a failing upstream, and
//! speeds up again when it recovers. Pure bookkeeping: the batch loop asks
//! [`Aimd::limit`] before it dispatches and reports each finished run.

use serde::Serialize;

use crate::engine::NodeError;
use crate::models::{CallOutcome, ModelError};
use crate::pipeline::{RunError, RunOutcome};

/// What a finished run says about upstream capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSignal {
    /// The upstreams coped (the run succeeded, or failed for another
    /// reason: a trap, a rejection, a limit).
    Coped,
    /// The run failed because an upstream was unavailable, timed out,
    /// throttled or had its circuit open.
    Overloaded,
}

/// Classifies a finished run: [`RunSignal::Overloaded`] when it failed
/// with a model error of kind `unavailable`, `timeout` or `rate-limited`,
/// or failed with such attempts (or `circuit-open` refusals) in its ledger.
pub fn classify(run: &RunOutcome) -> RunSignal {
    let Err(error) = &run.result else {
        return RunSignal::Coped;
    };
    let model_error = matches!(
        error,
        RunError::Node {
            error: NodeError::Model {
                error: ModelError::Timeout | ModelError::RateLimited | ModelError::Unavailable(_),
                ..
            }
        }
    );
    let ledger = run.ledger.iter().any(|e| {
        matches!(
            e.outcome,
            CallOutcome::CircuitOpen
                | CallOutcome::Unavailable
                | CallOutcome::Timeout
                | CallOutcome::RateLimited
        )
    });
    if model_error || ledger {
        RunSignal::Overloaded
    } else {
        RunSignal::Coped
    }
}

/// How the in-flight limit moved over a batch (in the summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DispatchStats {
    /// The limit asked for (`--concurrency`), where dispatch starts.
    pub concurrency: u32,
    /// The lowest limit reached.
    pub lowest: u32,
    /// The limit when the batch ended.
    pub last: u32,
    /// Times the limit was lowered after an upstream failure.
    pub slowed: u64,
}

impl Default for DispatchStats {
    fn default() -> Self {
        Self {
            concurrency: 1,
            lowest: 1,
            last: 1,
            slowed: 0,
        }
    }
}

/// The additive-increase, multiplicative-decrease in-flight limit.
#[derive(Debug, Clone)]
pub struct Aimd {
    max: u32,
    limit: u32,
    lowest: u32,
    slowed: u64,
}

impl Aimd {
    /// A limit starting at, and never above, `max` (at least 1).
    pub fn new(max: u32) -> Self {
        let max = max.max(1);
        Self {
            max,
            limit: max,
            lowest: max,
            slowed: 0,
        }
    }

    /// Runs allowed in flight now.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// Takes a finished run into account.
    pub fn observe(&mut self, signal: RunSignal) {
        match signal {
            RunSignal::Coped => self.limit = (self.limit + 1).min(self.max),
            RunSignal::Overloaded => {
                let halved = (self.limit / 2).max(1);
                if halved < self.limit {
                    self.limit = halved;
                    self.slowed += 1;
                    self.lowest = self.lowest.min(halved);
                    tracing::info!(limit = halved, "upstream failure: batch dispatch slowed");
                }
            }
        }
    }

    /// What happened so far.
    pub fn stats(&self) -> DispatchStats {
        DispatchStats {
            concurrency: self.max,
            lowest: self.lowest,
            last: self.limit,
            slowed: self.slowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::LedgerEntry;
    use crate::spec::Cost;

    #[test]
    fn aimd_halves_on_overload_down_to_one_and_climbs_back_by_one() {
        let mut a = Aimd::new(16);
        assert_eq!(a.limit(), 16);
        a.observe(RunSignal::Coped);
        assert_eq!(a.limit(), 16, "never above the maximum");
        for want in [8, 4, 2, 1, 1, 1] {
            a.observe(RunSignal::Overloaded);
            assert_eq!(a.limit(), want);
        }
        assert_eq!(a.stats().slowed, 4, "only real decreases count");
        for want in 2..=16 {
            a.observe(RunSignal::Coped);
            assert_eq!(a.limit(), want);
        }
        a.observe(RunSignal::Coped);
        assert_eq!(
            a.stats(),
            DispatchStats {
                concurrency: 16,
                lowest: 1,
                last: 16,
                slowed: 4
            }
        );
        a.observe(RunSignal::Overloaded);
        assert_eq!((a.limit(), a.stats().lowest), (8, 1));
    }

    #[test]
    fn aimd_of_one_stays_at_one() {
        let mut a = Aimd::new(0);
        a.observe(RunSignal::Overloaded);
        a.observe(RunSignal::Coped);
        assert_eq!((a.limit(), a.stats().slowed), (1, 0));
    }

    fn outcome(result: Result<serde_json::Value, RunError>, ledger: &[CallOutcome]) -> RunOutcome {
        let mut run = RunOutcome::for_test("t", result);
        run.ledger = ledger
            .iter()
            .map(|&outcome| LedgerEntry {
                node: "w".into(),
                model: "m".into(),
                upstream: "m".into(),
                attempt: 0,
                fallback_from: None,
                outcome,
                input_tokens: 0,
                output_tokens: 0,
                estimated: false,
                cost: Cost::ZERO,
                cost_pusd: 0,
                latency_us: 0,
                start_unix_us: 0,
                span_id: crate::spec::SpanId::random(),
                parent_span_id: None,
                finish_reason: None,
                operation: Default::default(),
            })
            .collect();
        run
    }

    fn model_error(error: ModelError) -> RunError {
        RunError::Node {
            error: NodeError::Model {
                node: "w".into(),
                error,
            },
        }
    }

    #[test]
    fn classify_tells_upstream_failures_from_the_rest() {
        use RunSignal::{Coped, Overloaded};
        let ok = Ok(serde_json::json!({}));
        let trap = || {
            Err(RunError::Node {
                error: NodeError::Trap {
                    node: "w".into(),
                    message: "boom".into(),
                },
            })
        };
        let cases = [
            (outcome(ok.clone(), &[]), Coped),
            // A run that survived failed attempts (a fallback answered) coped.
            (
                outcome(ok, &[CallOutcome::Unavailable, CallOutcome::Ok]),
                Coped,
            ),
            (
                outcome(Err(model_error(ModelError::Timeout)), &[]),
                Overloaded,
            ),
            (
                outcome(Err(model_error(ModelError::RateLimited)), &[]),
                Overloaded,
            ),
            (
                outcome(Err(model_error(ModelError::Unavailable("x".into()))), &[]),
                Overloaded,
            ),
            (
                outcome(Err(model_error(ModelError::Denied("x".into()))), &[]),
                Coped,
            ),
            (outcome(trap(), &[]), Coped),
            (outcome(trap(), &[CallOutcome::CircuitOpen]), Overloaded),
            (
                outcome(
                    Err(RunError::Deadline { limit_ms: 5 }),
                    &[CallOutcome::Timeout],
                ),
                Overloaded,
            ),
            (outcome(trap(), &[CallOutcome::BudgetExceeded]), Coped),
        ];
        for (i, (run, want)) in cases.iter().enumerate() {
            assert_eq!(classify(run), *want, "case {i}: {:?}", run.result);
        }
    }
}
