//! The graph as a Mermaid `flowchart LR`, for Markdown (GitHub renders a
//! ```` ```mermaid ```` block). Node ids are the model's sanitized ids;
//! every label is quoted with Mermaid's entity codes for the characters
//! that would end or change it. Shapes: stadium for input and output,
//! hexagon for routers, rectangle for workers (dashed border on standby),
//! rounded for judges, a flag for a fallback; judge and fallback edges are
//! dotted, escalations thick and red.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::model::{EdgeKind, Graph, Node, NodeKind};

/// The Mermaid document of `graph`.
pub fn render(graph: &Graph) -> String {
    let mut out = String::new();
    write_header(graph, &mut out);
    for node in &graph.nodes {
        let _ = writeln!(out, "    {}", node_statement(node));
    }
    for edge in &graph.edges {
        let (from, to) = (&graph.nodes[edge.from].id, &graph.nodes[edge.to].id);
        let arrow = arrow(edge.kind);
        let _ = match &edge.label {
            Some(label) => writeln!(out, "    {from} {arrow}|\"{}\"| {to}", escape(label)),
            None => writeln!(out, "    {from} {arrow} {to}"),
        };
    }
    write_styles(graph, &mut out);
    out
}

fn write_header(graph: &Graph, out: &mut String) {
    let _ = writeln!(
        out,
        "%% {}: drawn by switchyard graph",
        comment(&graph.title)
    );
    if let Some(description) = &graph.description {
        let _ = writeln!(out, "%% {}", comment(description));
    }
    out.push_str("flowchart LR\n");
}

/// `id<open>"label"<close>`, the shape chosen by the node's kind.
fn node_statement(node: &Node) -> String {
    let (open, close) = match node.kind {
        NodeKind::Input | NodeKind::Output => ("([", "])"),
        NodeKind::Router => ("{{", "}}"),
        NodeKind::Worker | NodeKind::Standby => ("[", "]"),
        NodeKind::Judge => ("(", ")"),
        NodeKind::Fallback => (">", "]"),
    };
    let lines: Vec<String> = std::iter::once(&node.name)
        .chain(&node.details)
        .map(|l| escape(l))
        .collect();
    format!("{}{open}\"{}\"{close}", node.id, lines.join("<br/>"))
}

fn arrow(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Input | EdgeKind::Dependency | EdgeKind::Branch | EdgeKind::Output => "-->",
        EdgeKind::Judge | EdgeKind::Fallback => "-.->",
        EdgeKind::Escalate => "==>",
    }
}

/// One `classDef` per kind present, the `class` lines assigning them, and
/// the red colour of escalation edges.
fn write_styles(graph: &Graph, out: &mut String) {
    let kinds: BTreeSet<NodeKind> = graph.nodes.iter().map(|n| n.kind).collect();
    for kind in &kinds {
        let _ = writeln!(out, "    classDef {} {}", kind.as_str(), class_style(*kind));
    }
    for kind in &kinds {
        let ids: Vec<&str> = graph
            .nodes
            .iter()
            .filter(|n| n.kind == *kind)
            .map(|n| n.id.as_str())
            .collect();
        let _ = writeln!(out, "    class {} {}", ids.join(","), kind.as_str());
    }
    let escalations: Vec<String> = graph
        .edges
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EdgeKind::Escalate)
        .map(|(i, _)| i.to_string())
        .collect();
    if !escalations.is_empty() {
        let _ = writeln!(
            out,
            "    linkStyle {} stroke:#c53030,stroke-width:2px",
            escalations.join(",")
        );
    }
}

fn class_style(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Input | NodeKind::Output => "fill:#edf2f7,stroke:#4a5568",
        NodeKind::Router => "fill:#fefcbf,stroke:#b7791f",
        NodeKind::Worker => "fill:#ebf8ff,stroke:#2b6cb0",
        NodeKind::Standby => "fill:#f7fafc,stroke:#2b6cb0,stroke-dasharray:5 4",
        NodeKind::Judge => "fill:#faf5ff,stroke:#6b46c1",
        NodeKind::Fallback => "fill:#fffaf0,stroke:#c05621",
    }
}

/// Text safe in a `%%` comment line: no `%%`, which could open a
/// `%%{…}%%` directive.
fn comment(text: &str) -> String {
    text.replace('%', "% ")
}

/// Text safe inside a quoted Mermaid label: the quote, `#` (which starts
/// an entity code), HTML's `<`, `>`, `&`, the backtick of Markdown strings
/// and the `|` of edge labels become entity codes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '|' => out.push_str("#124;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_mermaid_escapes_what_would_end_a_label() {
        assert_eq!(
            escape(r#"a "b" <c> & #d | `e`"#),
            "a #quot;b#quot; #lt;c#gt; #amp; #35;d #124; #96;e#96;"
        );
        assert_eq!(comment("%%{init: {}}%%"), "% % {init: {}}% % ");
    }
}
