//! A run's peak: the most instance-pool slots one run of a pipeline can
//! hold at once. Admission reserves it before a run starts, so admitted
//! runs never wait for the pool and the rest wait their turn in order.
//!
//! A flow node holds one invocation at a time — the worker, then each of
//! its judges, then an escalation target and its judges — so its weight is
//! the heaviest of those; a streaming worker's window judges check each
//! window together, so for it they weigh their sum. Flow nodes that can run at the same time form an
//! antichain of the flow graph (neither reaches the other); two branches
//! of one router never run together. The peak is the heaviest such set:
//! the total weight minus a maximum flow in the bipartite graph of the
//! order (weighted Dilworth), small enough to compute exactly at load.

use std::collections::{BTreeMap, BTreeSet};

use super::LoadedNode;
use crate::config::{Manifest, Role};
use crate::spec::WindowRule;

/// The flow as the peak sees it.
#[derive(Debug, Clone, Default)]
pub struct FlowShape {
    /// Flow nodes in a topological order, with their weights.
    pub nodes: Vec<(String, u32)>,
    /// `(a, b)`: `b` runs after `a`.
    pub edges: Vec<(String, String)>,
    /// Groups of nodes of which at most one runs (one router's branches).
    pub exclusive: Vec<Vec<String>>,
}

/// The peak of a pipeline whose nodes are `nodes`.
pub(super) fn of_pipeline(manifest: &Manifest, nodes: &BTreeMap<String, LoadedNode>) -> u32 {
    let weight = |name: &str| nodes.get(name).map_or(1, |n| n.component.pool_weight);
    // One invocation at a time per flow node: the worker, its judges, an
    // escalation target and its judges, one after another.
    let step = |name: &str| {
        let Some(node) = nodes.get(name) else {
            return 1;
        };
        let judged = |n: &LoadedNode| {
            // A streaming worker's window judges check each window all at
            // once: together they hold the sum of their weights.
            let windows: u32 = if n.spec.stream.window == WindowRule::Whole {
                0
            } else {
                n.spec
                    .judges
                    .iter()
                    .filter(|j| {
                        nodes
                            .get(*j)
                            .is_some_and(|j| j.component.description.checks_windows)
                    })
                    .map(|j| weight(j))
                    .sum()
            };
            n.spec
                .judges
                .iter()
                .map(|j| weight(j))
                .chain([n.component.pool_weight, windows])
                .max()
                .unwrap_or(1)
        };
        let escalation = node
            .spec
            .on_reject
            .escalate
            .as_deref()
            .and_then(|e| nodes.get(e))
            .map_or(0, judged);
        judged(node).max(escalation)
    };
    let shape = FlowShape {
        nodes: manifest
            .order
            .iter()
            .map(|n| (n.clone(), step(n)))
            .collect(),
        edges: manifest
            .order
            .iter()
            .filter_map(|n| nodes.get(n))
            .flat_map(|n| n.spec.deps.iter().map(|d| (d.clone(), n.spec.name.clone())))
            .collect(),
        exclusive: manifest
            .order
            .iter()
            .filter_map(|n| nodes.get(n))
            .filter(|n| n.spec.role == Role::Router)
            .map(|n| n.spec.branches.values().cloned().collect())
            .collect(),
    };
    peak_slots(&shape)
}

/// The heaviest set of flow nodes that can run at the same time, by
/// weight (at least 1).
pub fn peak_slots(shape: &FlowShape) -> u32 {
    let n = shape.nodes.len();
    if n == 0 {
        return 1;
    }
    let index: BTreeMap<&str, usize> = shape
        .nodes
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.as_str(), i))
        .collect();
    // before[a][b]: a runs strictly before b (the transitive closure).
    let mut before = vec![vec![false; n]; n];
    for (a, b) in &shape.edges {
        if let (Some(&a), Some(&b)) = (index.get(a.as_str()), index.get(b.as_str())) {
            before[a][b] = true;
        }
    }
    close(&mut before);
    // Alternatives never overlap: order them one after another (keeping
    // the relation a partial order), so no set holds two of them.
    for group in &shape.exclusive {
        let members: BTreeSet<usize> = group
            .iter()
            .filter_map(|m| index.get(m.as_str()).copied())
            .collect();
        let members: Vec<usize> = members.into_iter().collect();
        for (k, &a) in members.iter().enumerate() {
            for &b in &members[k + 1..] {
                if !before[a][b] && !before[b][a] {
                    before[a][b] = true;
                    close(&mut before);
                }
            }
        }
    }
    let weights: Vec<u64> = shape.nodes.iter().map(|(_, w)| u64::from(*w)).collect();
    let total: u64 = weights.iter().sum();
    let flow = max_flow(&before, &weights);
    u32::try_from(total - flow).unwrap_or(u32::MAX).max(1)
}

/// Warshall's transitive closure.
fn close(r: &mut [Vec<bool>]) {
    for k in 0..r.len() {
        let row_k = r[k].clone();
        for row in r.iter_mut() {
            if row[k] {
                for (cell, &via) in row.iter_mut().zip(&row_k) {
                    *cell |= via;
                }
            }
        }
    }
}

/// Maximum flow from source to sink through left copies (capacity = the
/// node's weight), `before` edges (unbounded) and right copies (capacity =
/// weight): the weight a minimum chain cover saves.
fn max_flow(before: &[Vec<bool>], w: &[u64]) -> u64 {
    let n = w.len();
    // Vertices: 0 source, 1..=n left, n+1..=2n right, 2n+1 sink.
    let (s, t) = (0, 2 * n + 1);
    let mut cap = vec![vec![0u64; 2 * n + 2]; 2 * n + 2];
    for i in 0..n {
        cap[s][1 + i] = w[i];
        cap[1 + n + i][t] = w[i];
        for j in 0..n {
            if before[i][j] {
                cap[1 + i][1 + n + j] = u64::MAX / 4;
            }
        }
    }
    let mut flow = 0;
    // Edmonds–Karp: shortest augmenting paths.
    loop {
        let mut prev = vec![usize::MAX; 2 * n + 2];
        prev[s] = s;
        let mut queue = std::collections::VecDeque::from([s]);
        while let Some(u) = queue.pop_front() {
            for v in 0..2 * n + 2 {
                if prev[v] == usize::MAX && cap[u][v] > 0 {
                    prev[v] = u;
                    queue.push_back(v);
                }
            }
        }
        if prev[t] == usize::MAX {
            return flow;
        }
        let mut push = u64::MAX;
        let mut v = t;
        while v != s {
            push = push.min(cap[prev[v]][v]);
            v = prev[v];
        }
        let mut v = t;
        while v != s {
            cap[prev[v]][v] -= push;
            cap[v][prev[v]] += push;
            v = prev[v];
        }
        flow += push;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(nodes: &[(&str, u32)], edges: &[(&str, &str)], exclusive: &[&[&str]]) -> FlowShape {
        FlowShape {
            nodes: nodes.iter().map(|(n, w)| (n.to_string(), *w)).collect(),
            edges: edges
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            exclusive: exclusive
                .iter()
                .map(|g| g.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn peak_of_a_chain_is_its_heaviest_node() {
        let s = shape(
            &[("a", 1), ("b", 3), ("c", 2)],
            &[("a", "b"), ("b", "c")],
            &[],
        );
        assert_eq!(peak_slots(&s), 3);
    }

    #[test]
    fn peak_of_a_fan_out_is_its_parallel_branches() {
        let s = shape(
            &[("a", 1), ("b", 1), ("c", 2), ("d", 1), ("join", 5)],
            &[
                ("a", "b"),
                ("a", "c"),
                ("a", "d"),
                ("b", "join"),
                ("c", "join"),
                ("d", "join"),
            ],
            &[],
        );
        assert_eq!(peak_slots(&s), 5, "b + c + d = 4 < the join's 5");
        let s = shape(
            &[("a", 1), ("b", 1), ("c", 2), ("d", 1)],
            &[("a", "b"), ("a", "c"), ("a", "d")],
            &[],
        );
        assert_eq!(peak_slots(&s), 4);
        // Unrelated chains overlap anywhere: the heaviest of each.
        let s = shape(
            &[("a", 1), ("b", 4), ("x", 2), ("y", 1)],
            &[("a", "b"), ("x", "y")],
            &[],
        );
        assert_eq!(peak_slots(&s), 6);
    }

    #[test]
    fn peak_counts_one_branch_of_a_router() {
        // The support-triage shape: a router, a worker after it, and two
        // branches of which one runs.
        let s = shape(
            &[("triage", 1), ("extract", 1), ("small", 2), ("frontier", 3)],
            &[
                ("triage", "extract"),
                ("triage", "small"),
                ("triage", "frontier"),
            ],
            &[&["small", "frontier"]],
        );
        assert_eq!(peak_slots(&s), 4, "extract + the heavier branch");
        assert_eq!(peak_slots(&FlowShape::default()), 1);
    }
}
