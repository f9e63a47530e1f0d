//! The neutral graph of a resolved manifest: nodes with a kind and label
//! lines, edges with a kind and an optional label, in a deterministic
//! order. Every renderer (Mermaid, DOT, SVG) draws this model and nothing
//! else, so the three formats always show the same pipeline.
//!
//! What is drawn: the run's input and output, the flow nodes in
//! topological order (routers, workers), workers on standby, judges, and a
//! fallback node per worker that declares one; dependency edges (`after`,
//! fan-out and joins), router branches labelled with their branch labels,
//! dashed judge edges in gate order, escalations and fallbacks.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Manifest, NodeSpec, Role};
use crate::text::escape_control;

/// The longest line of a fallback preview, in characters.
const FALLBACK_PREVIEW_CHARS: usize = 36;
/// The most entries of a fallback object shown.
const FALLBACK_PREVIEW_ENTRIES: usize = 3;

/// A pipeline as a graph: what every output format draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// `[pipeline] name`.
    pub title: String,
    /// `[pipeline] description`, if any.
    pub description: Option<String>,
    /// Every node, in drawing order: input, flow (topological), standby,
    /// other non-judge nodes, judges, fallbacks, output.
    pub nodes: Vec<Node>,
    /// Every edge, in drawing order; `from` and `to` index `nodes`.
    pub edges: Vec<Edge>,
}

/// What a node of the graph stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeKind {
    /// The run's input.
    Input,
    /// A router of the flow.
    Router,
    /// A worker of the flow.
    Worker,
    /// A worker that runs only when escalated to.
    Standby,
    /// A judge gating other nodes.
    Judge,
    /// The fixed output a worker falls back to.
    Fallback,
    /// The run's output.
    Output,
}

impl NodeKind {
    /// A lowercase name, used as a style class by the renderers.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Input => "input",
            NodeKind::Router => "router",
            NodeKind::Worker => "worker",
            NodeKind::Standby => "standby",
            NodeKind::Judge => "judge",
            NodeKind::Fallback => "fallback",
            NodeKind::Output => "output",
        }
    }
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// A unique identifier made of ASCII letters, digits and `_`, safe in
    /// every output format.
    pub id: String,
    /// The name shown on the first line (control characters escaped).
    pub name: String,
    /// What it stands for.
    pub kind: NodeKind,
    /// Further label lines: role and component, models granted, retries.
    pub details: Vec<String>,
    /// Figures drawn under the details, e.g. a batch's or a live service's
    /// numbers for this node (see [`Graph::set_figures`]); empty when only
    /// the shape is drawn. Only the SVG draws them.
    pub figures: Vec<String>,
}

/// What an edge of the graph stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeKind {
    /// The run's input reaching an entry node.
    Input,
    /// A dependency (`after`): the target waits for the source's output.
    Dependency,
    /// A router's branch, labelled with its branch label(s).
    Branch,
    /// A judge gating the source's output, labelled with its place in the
    /// gate order.
    Judge,
    /// An escalation after rejection (`on-reject.escalate`).
    Escalate,
    /// The fixed output used last (`on-reject.fallback`).
    Fallback,
    /// A node whose output is the run's output.
    Output,
}

impl EdgeKind {
    /// A lowercase name, used as a style class by the renderers.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Input => "input",
            EdgeKind::Dependency => "dependency",
            EdgeKind::Branch => "branch",
            EdgeKind::Judge => "judge",
            EdgeKind::Escalate => "escalate",
            EdgeKind::Fallback => "fallback",
            EdgeKind::Output => "output",
        }
    }
}

/// One edge of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Index of the source node.
    pub from: usize,
    /// Index of the target node.
    pub to: usize,
    /// What it stands for.
    pub kind: EdgeKind,
    /// Its label, if any (control characters escaped).
    pub label: Option<String>,
}

impl Graph {
    /// The graph of a manifest, components shown by their file names.
    pub fn of_manifest(manifest: &Manifest) -> Graph {
        Graph::with_components(manifest, &BTreeMap::new())
    }

    /// Sets the figure lines drawn under the manifest node `node` (a
    /// router, worker or judge; never the input, output or a fallback),
    /// control characters escaped. False when no such node is drawn.
    pub fn set_figures(&mut self, node: &str, lines: Vec<String>) -> bool {
        let name = escape_control(node);
        let found = self.nodes.iter_mut().find(|n| {
            n.name == name
                && matches!(
                    n.kind,
                    NodeKind::Router | NodeKind::Worker | NodeKind::Standby | NodeKind::Judge
                )
        });
        match found {
            Some(n) => {
                n.figures = lines
                    .into_iter()
                    .map(|l| escape_control(&l).into_owned())
                    .collect();
                true
            }
            None => false,
        }
    }

    /// The graph of a manifest, components of the nodes named in
    /// `components` shown by the text given there (e.g. `name@version`
    /// once loaded), the others by their file names.
    pub fn with_components(manifest: &Manifest, components: &BTreeMap<String, String>) -> Graph {
        let mut builder = Builder::new(manifest, components);
        builder.add_nodes();
        builder.add_edges();
        builder.graph
    }
}

/// Builds a [`Graph`] from a manifest, keeping the id and name indexes.
struct Builder<'m> {
    manifest: &'m Manifest,
    components: &'m BTreeMap<String, String>,
    graph: Graph,
    /// Manifest node name → index in `graph.nodes`.
    by_name: BTreeMap<&'m str, usize>,
    /// Worker name → index of its fallback node.
    fallbacks: BTreeMap<&'m str, usize>,
    used_ids: BTreeSet<String>,
    input: usize,
    output: usize,
}

impl<'m> Builder<'m> {
    fn new(manifest: &'m Manifest, components: &'m BTreeMap<String, String>) -> Self {
        Builder {
            manifest,
            components,
            graph: Graph {
                title: escape_control(&manifest.name).into_owned(),
                description: manifest
                    .description
                    .as_deref()
                    .map(|d| escape_control(d).into_owned()),
                nodes: Vec::new(),
                edges: Vec::new(),
            },
            by_name: BTreeMap::new(),
            fallbacks: BTreeMap::new(),
            used_ids: BTreeSet::new(),
            input: 0,
            output: 0,
        }
    }

    fn add_nodes(&mut self) {
        self.input = self.push_node("input", "input", NodeKind::Input, Vec::new());
        for spec in self.nodes_in_drawing_order() {
            let index = self.push_node(
                &format!("n_{}", sanitize(&spec.name)),
                &spec.name,
                kind_of(spec),
                self.details_of(spec),
            );
            self.by_name.insert(&spec.name, index);
        }
        for spec in self.nodes_in_drawing_order() {
            if let Some(value) = &spec.on_reject.fallback {
                let index = self.push_node(
                    &format!("n_{}_fallback", sanitize(&spec.name)),
                    "fallback",
                    NodeKind::Fallback,
                    fallback_preview(value),
                );
                self.fallbacks.insert(&spec.name, index);
            }
        }
        self.output = self.push_node("output", "output", NodeKind::Output, Vec::new());
    }

    /// Flow nodes in the manifest's topological order, then standby
    /// workers, then any other non-judge node the order left out, then
    /// judges: each node exactly once.
    fn nodes_in_drawing_order(&self) -> Vec<&'m NodeSpec> {
        let nodes = &self.manifest.nodes;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let flow = self.manifest.order.iter().filter_map(|n| nodes.get(n));
        let standby = nodes.values().filter(|n| n.standby);
        let others = nodes.values().filter(|n| n.role != Role::Judge);
        let judges = nodes.values().filter(|n| n.role == Role::Judge);
        for spec in flow.chain(standby).chain(others).chain(judges) {
            if seen.insert(spec.name.as_str()) {
                out.push(spec);
            }
        }
        out
    }

    /// Appends a node with a unique id derived from `wanted_id`.
    fn push_node(
        &mut self,
        wanted_id: &str,
        name: &str,
        kind: NodeKind,
        details: Vec<String>,
    ) -> usize {
        let id = unique_id(wanted_id, &mut self.used_ids);
        self.graph.nodes.push(Node {
            id,
            name: escape_control(name).into_owned(),
            kind,
            details,
            figures: Vec::new(),
        });
        self.graph.nodes.len() - 1
    }

    /// Label lines under the name: role and component, models, retries.
    fn details_of(&self, spec: &NodeSpec) -> Vec<String> {
        let role = if spec.standby {
            format!("{} (standby)", spec.role)
        } else {
            spec.role.to_string()
        };
        let mut lines = vec![format!("{role} · {}", self.component_of(spec))];
        if !spec.models.is_empty() {
            lines.push(format!("models: {}", spec.models.join(", ")));
        }
        match spec.on_reject.retries {
            0 => {}
            1 => lines.push("on reject: 1 retry".into()),
            n => lines.push(format!("on reject: {n} retries")),
        }
        lines
            .into_iter()
            .map(|l| escape_control(&l).into_owned())
            .collect()
    }

    /// The component as shown: the text given for it, else its file name.
    fn component_of(&self, spec: &NodeSpec) -> String {
        if let Some(shown) = self.components.get(&spec.name) {
            return shown.clone();
        }
        spec.component.label()
    }

    fn add_edges(&mut self) {
        let ordered: Vec<&'m NodeSpec> = self.nodes_in_drawing_order();
        for spec in &ordered {
            self.add_incoming_flow_edges(spec);
        }
        for spec in &ordered {
            self.add_gate_edges(spec);
        }
        for name in &self.manifest.outputs {
            if let Some(&from) = self.by_name.get(name.as_str()) {
                self.push_edge(from, self.output, EdgeKind::Output, None);
            }
        }
    }

    /// The input edge of an entry node, or one edge per dependency:
    /// a branch (labelled) when the dependency is a router branching here.
    fn add_incoming_flow_edges(&mut self, spec: &'m NodeSpec) {
        let Some(&to) = self.by_name.get(spec.name.as_str()) else {
            return;
        };
        let is_entry = spec.deps.is_empty() && spec.role != Role::Judge && !spec.standby;
        if is_entry {
            self.push_edge(self.input, to, EdgeKind::Input, None);
        }
        for dep in &spec.deps {
            let Some(&from) = self.by_name.get(dep.as_str()) else {
                continue;
            };
            let labels = self
                .manifest
                .nodes
                .get(dep)
                .map(|router| branch_labels_to(router, &spec.name))
                .unwrap_or_default();
            if labels.is_empty() {
                self.push_edge(from, to, EdgeKind::Dependency, None);
            } else {
                self.push_edge(from, to, EdgeKind::Branch, Some(labels.join(", ")));
            }
        }
    }

    /// Judge edges in gate order, then the escalation and the fallback.
    fn add_gate_edges(&mut self, spec: &'m NodeSpec) {
        let Some(&from) = self.by_name.get(spec.name.as_str()) else {
            return;
        };
        for (place, judge) in spec.judges.iter().enumerate() {
            if let Some(&to) = self.by_name.get(judge.as_str()) {
                let label = format!("judge {}", place + 1);
                self.push_edge(from, to, EdgeKind::Judge, Some(label));
            }
        }
        if let Some(target) = &spec.on_reject.escalate {
            if let Some(&to) = self.by_name.get(target.as_str()) {
                self.push_edge(from, to, EdgeKind::Escalate, Some("escalate".into()));
            }
        }
        if let Some(&to) = self.fallbacks.get(spec.name.as_str()) {
            self.push_edge(from, to, EdgeKind::Fallback, Some("fallback".into()));
        }
    }

    fn push_edge(&mut self, from: usize, to: usize, kind: EdgeKind, label: Option<String>) {
        let label = label.map(|l| escape_control(&l).into_owned());
        self.graph.edges.push(Edge {
            from,
            to,
            kind,
            label,
        });
    }
}

/// How a manifest node is drawn.
fn kind_of(spec: &NodeSpec) -> NodeKind {
    match spec.role {
        Role::Router => NodeKind::Router,
        Role::Judge => NodeKind::Judge,
        Role::Worker if spec.standby => NodeKind::Standby,
        Role::Worker => NodeKind::Worker,
    }
}

/// The labels of `router`'s branches that lead to `target`, in label
/// order (none if `router` is not a router).
fn branch_labels_to(router: &NodeSpec, target: &str) -> Vec<String> {
    if router.role != Role::Router {
        return Vec::new();
    }
    router
        .branches
        .iter()
        .filter(|(_, t)| t.as_str() == target)
        .map(|(label, _)| label.clone())
        .collect()
}

/// `text` reduced to ASCII letters, digits and `_` (anything else becomes
/// `_`), so it can serve as an identifier in every output format.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `wanted` itself if unused, else `wanted_2`, `wanted_3`, …; recorded as
/// used either way.
fn unique_id(wanted: &str, used: &mut BTreeSet<String>) -> String {
    let mut id = wanted.to_string();
    let mut n = 2;
    while used.contains(&id) {
        id = format!("{wanted}_{n}");
        n += 1;
    }
    used.insert(id.clone());
    id
}

/// A short, deterministic preview of a fallback value, one label line per
/// entry: an object's first entries (keys sorted) as `key: value`, cut at
/// [`FALLBACK_PREVIEW_CHARS`], else the value as compact JSON.
fn fallback_preview(value: &serde_json::Value) -> Vec<String> {
    let lines = match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, &serde_json::Value> = map.iter().collect();
            let mut lines: Vec<String> = sorted
                .iter()
                .take(FALLBACK_PREVIEW_ENTRIES)
                .map(|(key, item)| format!("{key}: {}", plain(item)))
                .collect();
            if sorted.len() > FALLBACK_PREVIEW_ENTRIES {
                lines.push("…".into());
            }
            lines
        }
        other => vec![plain(other)],
    };
    lines
        .iter()
        .map(|l| escape_control(&cut(l, FALLBACK_PREVIEW_CHARS)).into_owned())
        .collect()
}

/// A string as itself, anything else as compact JSON with object keys in
/// sorted order (whatever map type `serde_json` was built with).
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            write_sorted_json(other, &mut out);
            out
        }
    }
}

/// `text` cut to at most `max` characters, the last one `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Compact JSON with object keys in sorted order.
fn write_sorted_json(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_sorted_json(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_ids_are_sanitized_and_unique() {
        let mut used = BTreeSet::new();
        assert_eq!(unique_id(&sanitize("a-b"), &mut used), "a_b");
        assert_eq!(unique_id(&sanitize("a_b"), &mut used), "a_b_2");
        assert_eq!(unique_id(&sanitize("a b"), &mut used), "a_b_3");
        assert_eq!(sanitize("ünï\"code"), "_n__code");
    }

    #[test]
    fn graph_fallback_preview_sorts_keys_and_is_cut() {
        let value = serde_json::json!({
            "reply": "a very long polite reply for everyone, with thanks",
            "model": "x",
            "tags": {"b": 1, "a": [true]},
            "more": null
        });
        let preview = fallback_preview(&value);
        assert_eq!(preview[..2], ["model: x", "more: null"]);
        assert!(preview[2].starts_with("reply: a very long"), "{preview:?}");
        assert!(preview[2].ends_with('…'), "{preview:?}");
        assert_eq!(preview[2].chars().count(), FALLBACK_PREVIEW_CHARS);
        assert_eq!(preview[3], "…");
        let list = serde_json::json!([3, "a\nb", {"z": 1, "y": 2}]);
        assert_eq!(fallback_preview(&list), [r#"[3,"a\nb",{"y":2,"z":1}]"#]);
        let text = serde_json::json!("line\nbreak");
        assert_eq!(fallback_preview(&text), [r"line\nbreak"]);
    }
}
