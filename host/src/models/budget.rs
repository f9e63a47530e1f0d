//! Token and cost budgets, per run and per node within a run. A call
//! reserves its worst case (prompt estimate + `max_tokens`, priced at the
//! model's rates) before it is sent; a call that does not fit is refused
//! with `budget-exceeded` and never dispatched. When the answer arrives the
//! reservation is replaced by the actual usage. The same reservation
//! also holds room on the spend limits that outlive the run
//! ([`super::spend`]: the pipeline's, the node's and the client key's, per
//! period), when any apply.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::rate::RateLimiter;
use super::spend::{Counter, SpendHold, SpendRefused, Spending};
use crate::spec::{BudgetSpec, Cost};

#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    tokens: u64,
    cost: Cost,
}

/// The budgets of one run: the run-wide one and each node's.
#[derive(Debug, Default)]
pub struct RunBudget {
    run: BudgetSpec,
    nodes: BTreeMap<String, BudgetSpec>,
    spent: Mutex<(Spent, BTreeMap<String, Spent>)>,
    spend: Option<RunSpend>,
}

/// The limits beyond the run that its calls are charged to: spend limits
/// per period (the pipeline's, each node's, the client key's) and the
/// client key's tokens per minute.
#[derive(Debug)]
pub struct RunSpend {
    /// Where spend is counted.
    pub spending: Arc<Spending>,
    /// Counters every call of the run is charged to.
    pub run: Vec<Counter>,
    /// Counters of one node's calls.
    pub nodes: BTreeMap<String, Counter>,
    /// The client key's token rate limit, if it has one.
    pub client_rate: Option<Arc<RateLimiter>>,
}

/// A reservation to settle with the actual usage (or release).
#[derive(Debug)]
#[must_use]
pub struct Reservation {
    node: String,
    tokens: u64,
    cost: Cost,
    spend: Option<SpendHold>,
}

impl RunBudget {
    /// Budgets for one run.
    pub fn new(run: BudgetSpec, nodes: BTreeMap<String, BudgetSpec>) -> Self {
        Self {
            run,
            nodes: nodes
                .into_iter()
                .filter(|(_, b)| !b.is_unlimited())
                .collect(),
            spent: Mutex::default(),
            spend: None,
        }
    }

    /// The same budgets, also charging `spend`'s limits.
    pub fn with_spend(mut self, spend: RunSpend) -> Self {
        self.spend = Some(spend);
        self
    }

    /// The client key's token rate limit, if the run has one.
    pub fn client_rate(&self) -> Option<&RateLimiter> {
        self.spend.as_ref()?.client_rate.as_deref()
    }

    /// Holds room for `r` on the spend limits covering its node, for up
    /// to `ttl` (a crashed replica's holds lapse after it).
    pub async fn hold(&self, r: &mut Reservation, ttl: Duration) -> Result<(), SpendRefused> {
        let Some(spend) = &self.spend else {
            return Ok(());
        };
        let mut counters = spend.run.clone();
        counters.extend(spend.nodes.get(&r.node).cloned());
        if counters.is_empty() {
            return Ok(());
        }
        r.spend = Some(
            spend
                .spending
                .reserve(counters, r.tokens, r.cost, ttl)
                .await?,
        );
        Ok(())
    }

    /// Reserves `tokens` and `cost` for a call by `node`, or says which
    /// budget it would break.
    pub fn reserve(&self, node: &str, tokens: u64, cost: Cost) -> Result<Reservation, String> {
        let mut g = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        let check = |spec: &BudgetSpec, spent: Spent, scope: &str| -> Result<(), String> {
            if let Some(limit) = spec.tokens {
                if spent.tokens + tokens > limit {
                    return Err(format!(
                        "{scope} token budget of {limit} would be exceeded ({} used or reserved, this call needs up to {tokens})",
                        spent.tokens
                    ));
                }
            }
            if let Some(limit) = spec.cost {
                if spent.cost.0 + cost.0 > limit.0 {
                    return Err(format!("{scope} cost budget of {limit} would be exceeded ({} used or reserved, this call may cost {cost})", spent.cost));
                }
            }
            Ok(())
        };
        check(&self.run, g.0, "the run's")?;
        if let Some(spec) = self.nodes.get(node) {
            let spent = g.1.get(node).copied().unwrap_or_default();
            check(spec, spent, &format!("node `{node}`'s"))?;
        }
        g.0.tokens += tokens;
        g.0.cost += cost;
        let n = g.1.entry(node.to_string()).or_default();
        n.tokens += tokens;
        n.cost += cost;
        Ok(Reservation {
            node: node.to_string(),
            tokens,
            cost,
            spend: None,
        })
    }

    /// [`RunBudget::settle`], waiting for a shared spend store to take
    /// the settlement, so the caller's next call sees the room it gave
    /// back.
    pub async fn settle_now(&self, mut r: Reservation, tokens: u64, cost: Cost) {
        let hold = r.spend.take();
        self.settle(r, tokens, cost);
        if let Some(hold) = hold {
            hold.settle_now(tokens, cost).await;
        }
    }

    /// Replaces a reservation by what the call actually used (zero for a
    /// failed call).
    pub fn settle(&self, mut r: Reservation, tokens: u64, cost: Cost) {
        if let Some(hold) = r.spend.take() {
            hold.settle(tokens, cost);
        }
        let mut g = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        g.0.tokens = g.0.tokens - r.tokens + tokens;
        g.0.cost = Cost(g.0.cost.0 - r.cost.0 + cost.0);
        let n = g.1.entry(r.node).or_default();
        n.tokens = n.tokens - r.tokens + tokens;
        n.cost = Cost(n.cost.0 - r.cost.0 + cost.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_reserves_before_and_settles_after() {
        let b = RunBudget::new(
            BudgetSpec {
                tokens: Some(1000),
                cost: None,
            },
            [(
                "n".to_string(),
                BudgetSpec {
                    tokens: None,
                    cost: Some(Cost(500)),
                },
            )]
            .into(),
        );
        let r = b.reserve("n", 600, Cost(100)).unwrap();
        assert!(b
            .reserve("m", 600, Cost(0))
            .unwrap_err()
            .contains("run's token budget of 1000"));
        b.settle(r, 200, Cost(100));
        let r2 = b.reserve("m", 600, Cost(0)).unwrap();
        assert!(b
            .reserve("n", 10, Cost(450))
            .unwrap_err()
            .contains("node `n`'s cost budget"));
        b.settle(r2, 0, Cost(0));
    }
}
