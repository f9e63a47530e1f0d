//! The graph as Graphviz DOT (`digraph`, left to right), for `dot -Tpng`
//! and the other Graphviz tools. Every id and label is a quoted DOT string
//! (backslash and quote escaped, so no label can carry a DOT escape such
//! as `\N`); label lines are joined with `\n`. Shapes and styles follow
//! the kinds: hexagon routers, rounded boxes for workers (dashed when on
//! standby), judges and fallback notes; dashed judge edges, dotted
//! fallbacks, thick red escalations.

use std::fmt::Write;

use super::model::{Edge, EdgeKind, Graph, Node, NodeKind};

/// The DOT document of `graph`.
pub fn render(graph: &Graph) -> String {
    let mut out = String::new();
    write_header(graph, &mut out);
    for node in &graph.nodes {
        let _ = writeln!(out, "    {}", node_statement(node));
    }
    for edge in &graph.edges {
        let (from, to) = (&graph.nodes[edge.from].id, &graph.nodes[edge.to].id);
        let _ = writeln!(
            out,
            "    {} -> {}{};",
            quote(from),
            quote(to),
            edge_attributes(edge)
        );
    }
    out.push_str("}\n");
    out
}

fn write_header(graph: &Graph, out: &mut String) {
    let _ = writeln!(out, "// {}: drawn by switchyard graph", graph.title);
    if let Some(description) = &graph.description {
        let _ = writeln!(out, "// {description}");
    }
    let _ = writeln!(out, "digraph {} {{", quote(&graph.title));
    out.push_str("    rankdir=LR;\n");
    let _ = writeln!(out, "    label={};", quote(&graph.title));
    out.push_str("    labelloc=t;\n");
    out.push_str("    fontname=\"Helvetica\";\n");
    out.push_str(
        "    node [fontname=\"Helvetica\", fontsize=11, style=\"rounded,filled\", shape=box];\n",
    );
    out.push_str("    edge [fontname=\"Helvetica\", fontsize=10];\n");
}

/// `"id" [label="…", shape=…, …];`
fn node_statement(node: &Node) -> String {
    let lines: Vec<&str> = std::iter::once(node.name.as_str())
        .chain(node.details.iter().map(String::as_str))
        .collect();
    let label = lines
        .iter()
        .map(|l| escape(l))
        .collect::<Vec<_>>()
        .join("\\n");
    format!(
        "\"{}\" [label=\"{label}\", {}];",
        escape(&node.id),
        node_style(node.kind)
    )
}

fn node_style(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Input | NodeKind::Output => {
            "shape=oval, style=filled, fillcolor=\"#edf2f7\", color=\"#4a5568\""
        }
        NodeKind::Router => "shape=hexagon, style=filled, fillcolor=\"#fefcbf\", color=\"#b7791f\"",
        NodeKind::Worker => "fillcolor=\"#ebf8ff\", color=\"#2b6cb0\"",
        NodeKind::Standby => {
            "style=\"rounded,filled,dashed\", fillcolor=\"#f7fafc\", color=\"#2b6cb0\""
        }
        NodeKind::Judge => "fillcolor=\"#faf5ff\", color=\"#6b46c1\"",
        NodeKind::Fallback => "shape=note, style=filled, fillcolor=\"#fffaf0\", color=\"#c05621\"",
    }
}

/// ` [label="…", style…]`, or nothing for a plain unlabelled edge.
fn edge_attributes(edge: &Edge) -> String {
    let label = edge.label.as_deref().map(|l| format!("label={}", quote(l)));
    let style = Some(edge_style(edge.kind)).filter(|s| !s.is_empty());
    let attributes: Vec<String> = label.into_iter().chain(style.map(String::from)).collect();
    if attributes.is_empty() {
        String::new()
    } else {
        format!(" [{}]", attributes.join(", "))
    }
}

fn edge_style(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Input | EdgeKind::Dependency | EdgeKind::Branch | EdgeKind::Output => "",
        EdgeKind::Judge => "style=dashed, color=\"#6b46c1\"",
        EdgeKind::Escalate => "color=\"#c53030\", penwidth=2",
        EdgeKind::Fallback => "style=dotted, color=\"#c05621\"",
    }
}

/// A quoted DOT string.
fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

/// Text safe inside a quoted DOT string: backslash and quote escaped, and
/// any line break written as `\n`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_dot_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r#"a "b" \N"#), r#""a \"b\" \\N""#);
        assert_eq!(escape("two\nlines"), "two\\nlines");
    }
}
