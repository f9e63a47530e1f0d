//! Token and cost budgets, per run and per node within a run. A call
//! reserves its worst case (prompt estimate + `max_tokens`, priced at the
//! model's rates) before it is sent; a call that does not fit is refused
//! with `budget-exceeded` and never dispatched. When the answer arrives the
//! reservation is replaced by the actual usage.

use std::collections::BTreeMap;
use std::sync::Mutex;

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
}

/// A reservation to settle with the actual usage (or release).
#[derive(Debug)]
#[must_use]
pub struct Reservation {
    node: String,
    tokens: u64,
    cost: Cost,
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
        }
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
        })
    }

    /// Replaces a reservation by what the call actually used (zero for a
    /// failed call).
    pub fn settle(&self, r: Reservation, tokens: u64, cost: Cost) {
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
