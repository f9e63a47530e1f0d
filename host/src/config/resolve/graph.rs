//! The flow graph, as pure functions over resolved node specs: which nodes
//! are in the flow (routers and workers that are not standby), a
//! topological order of them (or the nodes caught in a cycle), and the
//! default outputs (the sinks). The resolver turns a cycle into a located
//! diagnostic; these functions know nothing of the manifest's text.

use std::collections::{BTreeMap, BTreeSet};

use toml::Spanned;

use super::Resolver;
use crate::config::manifest::NodeSpec;
use crate::config::schema::{ManifestFile, Role};

/// The flow nodes: routers and workers that are not standby. Judges gate
/// other nodes and standby nodes run only when escalated to.
pub fn flow_nodes(nodes: &BTreeMap<String, NodeSpec>) -> Vec<&NodeSpec> {
    nodes
        .values()
        .filter(|n| n.role != Role::Judge && !n.standby)
        .collect()
}

/// A topological order of the flow nodes (Kahn's algorithm,
/// deterministic), or the names of the nodes that can never become ready
/// because they lie on or behind a cycle.
pub fn topological_order(
    nodes: &BTreeMap<String, NodeSpec>,
) -> Result<Vec<String>, BTreeSet<String>> {
    let flow = flow_nodes(nodes);
    let mut indegree: BTreeMap<&str, usize> = flow
        .iter()
        .map(|n| (n.name.as_str(), n.deps.len()))
        .collect();
    let mut ready: Vec<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut order = Vec::new();
    while let Some(n) = ready.pop() {
        order.push(n.to_string());
        for m in &flow {
            if m.deps.iter().any(|d| d == n) {
                let d = indegree.get_mut(m.name.as_str()).expect("flow node");
                *d -= 1;
                if *d == 0 {
                    ready.push(&m.name);
                }
            }
        }
    }
    if order.len() < flow.len() {
        return Err(indegree
            .iter()
            .filter(|(_, d)| **d > 0)
            .map(|(n, _)| n.to_string())
            .collect());
    }
    Ok(order)
}

/// The default outputs: every flow node no other node depends on.
pub fn sinks(nodes: &BTreeMap<String, NodeSpec>) -> Vec<String> {
    flow_nodes(nodes)
        .into_iter()
        .filter(|n| !nodes.values().any(|m| m.deps.contains(&n.name)))
        .map(|n| n.name.clone())
        .collect()
}

impl Resolver<'_> {
    /// The flow's order; a cycle is reported at an edge inside it.
    pub(super) fn order(
        &mut self,
        file: &ManifestFile,
        nodes: &BTreeMap<String, NodeSpec>,
    ) -> Vec<String> {
        match topological_order(nodes) {
            Ok(order) => order,
            Err(stuck) => {
                // Point at an edge inside the cycle: an `after` or branch entry.
                let Some((key, section)) =
                    file.nodes.iter().find(|(k, _)| stuck.contains(k.get_ref()))
                else {
                    return Vec::new();
                };
                let edge: &Spanned<String> = section
                    .after
                    .iter()
                    .chain(section.branches.values())
                    .find(|t| stuck.contains(t.get_ref()))
                    .unwrap_or(key);
                let cycle: Vec<&str> = stuck.iter().map(String::as_str).collect();
                self.error(
                    edge,
                    format!("the flow has a cycle through nodes: {}", cycle.join(", ")),
                    "a pipeline is a directed acyclic graph; remove one of these `after`/`branches` edges",
                );
                Vec::new()
            }
        }
    }

    /// The run's outputs: `[pipeline] output`, else the sinks.
    pub(super) fn outputs(
        &mut self,
        file: &ManifestFile,
        nodes: &BTreeMap<String, NodeSpec>,
    ) -> Vec<String> {
        if let Some(out) = &file.pipeline.output {
            if self.node_ref(
                file,
                "pipeline",
                "output",
                out,
                &[Role::Router, Role::Worker],
            ) {
                return vec![out.get_ref().clone()];
            }
            return Vec::new();
        }
        sinks(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, role: Role, deps: &[&str], standby: bool) -> (String, NodeSpec) {
        let mut n = NodeSpec::for_tests(name, role);
        n.deps = deps.iter().map(|d| d.to_string()).collect();
        n.standby = standby;
        (name.to_string(), n)
    }

    #[test]
    fn graph_orders_a_diamond_and_leaves_out_judges_and_standby_nodes() {
        let nodes: BTreeMap<String, NodeSpec> = [
            spec("route", Role::Router, &[], false),
            spec("a", Role::Worker, &["route"], false),
            spec("b", Role::Worker, &["route"], false),
            spec("join", Role::Worker, &["a", "b"], false),
            spec("guard", Role::Judge, &[], false),
            spec("backup", Role::Worker, &[], true),
        ]
        .into_iter()
        .collect();
        let order = topological_order(&nodes).unwrap();
        assert_eq!(order.len(), 4, "{order:?}");
        let at = |n: &str| order.iter().position(|o| o == n).unwrap();
        assert!(at("route") < at("a") && at("route") < at("b"));
        assert!(at("a") < at("join") && at("b") < at("join"));
        assert_eq!(sinks(&nodes), ["join"]);
        assert_eq!(topological_order(&nodes).unwrap(), order, "deterministic");
    }

    #[test]
    fn graph_reports_the_nodes_caught_in_a_cycle() {
        let nodes: BTreeMap<String, NodeSpec> = [
            spec("start", Role::Worker, &[], false),
            spec("x", Role::Worker, &["start", "z"], false),
            spec("y", Role::Worker, &["x"], false),
            spec("z", Role::Worker, &["y"], false),
        ]
        .into_iter()
        .collect();
        let stuck = topological_order(&nodes).unwrap_err();
        assert_eq!(stuck.into_iter().collect::<Vec<_>>(), ["x", "y", "z"]);
    }
}
