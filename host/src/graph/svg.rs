//! The graph as a standalone SVG document, drawn from a [`Layout`] by the
//! host itself (no Graphviz): a `viewBox`, an embedded `<style>`, arrow
//! markers in `<defs>`, and no reference outside the document. Edges are
//! drawn first, then nodes (a shape and one `<text>` per label line), then
//! edge labels on top. Every text is escaped for XML, control characters
//! included, so any manifest gives a well-formed document.

use std::fmt::Write;

use super::layout::{Curve, Layout, Rect, HEADER, LINE_HEIGHT, MARGIN, PAD_Y};
use super::model::{Edge, EdgeKind, Graph, Node, NodeKind};
use crate::text::escape_control;

/// Colours and strokes by node and edge kind.
const STYLE: &str = "
    text { font-family: Helvetica, Arial, sans-serif; fill: #1a202c; }
    .title { font-size: 16px; font-weight: bold; }
    .subtitle { font-size: 12px; fill: #4a5568; }
    .name { font-size: 13px; font-weight: bold; }
    .detail { font-size: 11px; fill: #4a5568; }
    .figure { font-size: 11px; fill: #1a202c; font-family: Menlo, Consolas, monospace; }
    .shape { stroke-width: 1.5; }
    .input .shape, .output .shape { fill: #edf2f7; stroke: #4a5568; }
    .router .shape { fill: #fefcbf; stroke: #b7791f; }
    .worker .shape { fill: #ebf8ff; stroke: #2b6cb0; }
    .standby .shape { fill: #f7fafc; stroke: #2b6cb0; stroke-dasharray: 6 4; }
    .judge .shape { fill: #faf5ff; stroke: #6b46c1; }
    .fallback .shape { fill: #fffaf0; stroke: #c05621; }
    .edge { fill: none; stroke: #4a5568; stroke-width: 1.4; }
    .edge.judge { stroke: #6b46c1; stroke-dasharray: 5 4; }
    .edge.fallback { stroke: #c05621; stroke-dasharray: 2 3; }
    .edge.escalate { stroke: #c53030; stroke-width: 2.2; }
    .label { font-size: 11px; paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }
";

/// One arrowhead marker per colour of edge.
const MARKERS: [(&str, &str); 4] = [
    ("arrow", "#4a5568"),
    ("arrow-judge", "#6b46c1"),
    ("arrow-fallback", "#c05621"),
    ("arrow-escalate", "#c53030"),
];

/// The SVG document of `graph`, laid out by `layout`.
pub fn render(graph: &Graph, layout: &Layout) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&render_element(graph, layout));
    out
}

/// The `<svg>` element alone, without the XML declaration: for inlining
/// in an HTML page.
pub fn render_element(graph: &Graph, layout: &Layout) -> String {
    let mut out = String::new();
    write_open(graph, layout, &mut out);
    out.push_str("<g class=\"edges\">\n");
    for (edge, curve) in graph.edges.iter().zip(&layout.curves) {
        write_edge(graph, edge, curve, &mut out);
    }
    out.push_str("</g>\n<g class=\"nodes\">\n");
    for (node, rect) in graph.nodes.iter().zip(&layout.boxes) {
        write_node(node, rect, &mut out);
    }
    out.push_str("</g>\n<g class=\"labels\">\n");
    for (edge, curve) in graph.edges.iter().zip(&layout.curves) {
        write_edge_label(edge, curve, &mut out);
    }
    out.push_str("</g>\n</svg>\n");
    out
}

/// The `<svg>` element, title, description, style,
/// markers and the header text.
fn write_open(graph: &Graph, layout: &Layout, out: &mut String) {
    let (w, h) = (layout.width, layout.height);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-labelledby=\"graph-title\">"
    );
    let _ = writeln!(
        out,
        "<title id=\"graph-title\">{}</title>",
        xml(&graph.title)
    );
    if let Some(description) = &graph.description {
        let _ = writeln!(out, "<desc>{}</desc>", xml(description));
    }
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str("<defs>\n");
    for (id, colour) in MARKERS {
        let _ = writeln!(
            out,
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/></marker>"
        );
    }
    out.push_str("</defs>\n");
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    let _ = writeln!(
        out,
        "<text class=\"title\" x=\"{MARGIN}\" y=\"{}\">{}</text>",
        MARGIN + 8,
        xml(&graph.title)
    );
    if let Some(description) = &graph.description {
        let _ = writeln!(
            out,
            "<text class=\"subtitle\" x=\"{MARGIN}\" y=\"{}\">{}</text>",
            MARGIN + HEADER / 2 + 4,
            xml(description)
        );
    }
}

fn marker_of(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Judge => "arrow-judge",
        EdgeKind::Fallback => "arrow-fallback",
        EdgeKind::Escalate => "arrow-escalate",
        EdgeKind::Input | EdgeKind::Dependency | EdgeKind::Branch | EdgeKind::Output => "arrow",
    }
}

fn write_edge(graph: &Graph, edge: &Edge, c: &Curve, out: &mut String) {
    let run = if c.bend == c.start {
        String::new()
    } else {
        format!(" L{},{}", c.bend.x, c.bend.y)
    };
    let _ = writeln!(
        out,
        "<path class=\"edge {}\" data-from=\"{}\" data-to=\"{}\" d=\"M{},{}{run} C{},{} {},{} {},{}\" marker-end=\"url(#{})\"/>",
        edge.kind.as_str(),
        graph.nodes[edge.from].id,
        graph.nodes[edge.to].id,
        c.start.x,
        c.start.y,
        c.c1.x,
        c.c1.y,
        c.c2.x,
        c.c2.y,
        c.end.x,
        c.end.y,
        marker_of(edge.kind)
    );
}

fn write_edge_label(edge: &Edge, c: &Curve, out: &mut String) {
    if let Some(label) = &edge.label {
        let _ = writeln!(
            out,
            "<text class=\"label {}\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            edge.kind.as_str(),
            c.mid.x,
            c.mid.y + 4,
            xml(label)
        );
    }
}

/// A node: its shape, then its name, detail and figure lines centred in
/// it. The group carries the node's name (`data-node`) so a page can find
/// it; each figure line its index (`data-figure`).
fn write_node(node: &Node, r: &Rect, out: &mut String) {
    let _ = writeln!(
        out,
        "<g class=\"node {}\" id=\"{}\" data-node=\"{}\">",
        node.kind.as_str(),
        node.id,
        xml(&node.name)
    );
    let _ = writeln!(out, "{}", shape(node.kind, r));
    let center = r.x + r.w / 2;
    let mut baseline = r.y + PAD_Y + 12;
    let _ = writeln!(
        out,
        "<text class=\"name\" x=\"{center}\" y=\"{baseline}\" text-anchor=\"middle\">{}</text>",
        xml(&node.name)
    );
    for line in &node.details {
        baseline += LINE_HEIGHT;
        let _ = writeln!(
            out,
            "<text class=\"detail\" x=\"{center}\" y=\"{baseline}\" text-anchor=\"middle\">{}</text>",
            xml(line)
        );
    }
    for (i, line) in node.figures.iter().enumerate() {
        baseline += LINE_HEIGHT;
        let _ = writeln!(
            out,
            "<text class=\"figure\" data-figure=\"{i}\" x=\"{center}\" y=\"{baseline}\" text-anchor=\"middle\">{}</text>",
            xml(line)
        );
    }
    out.push_str("</g>\n");
}

/// The outline of a node by kind: pills for input and output, a hexagon
/// for a router, rounded boxes for workers and judges, a square note for a
/// fallback.
fn shape(kind: NodeKind, r: &Rect) -> String {
    let (x, y, w, h) = (r.x, r.y, r.w, r.h);
    let rounded = |rx: i64| {
        format!(
            "<rect class=\"shape\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"{rx}\"/>"
        )
    };
    match kind {
        NodeKind::Input | NodeKind::Output => rounded(h / 2),
        NodeKind::Worker | NodeKind::Standby => rounded(6),
        NodeKind::Judge => rounded(14),
        NodeKind::Fallback => rounded(0),
        NodeKind::Router => {
            let (right, bottom, mid) = (x + w, y + h, y + h / 2);
            format!(
                "<polygon class=\"shape\" points=\"{},{y} {},{y} {right},{mid} {},{bottom} {},{bottom} {x},{mid}\"/>",
                x + 8,
                right - 8,
                right - 8,
                x + 8
            )
        }
    }
}

/// Text safe as XML character data or an attribute value: control
/// characters escaped onto one line, the five XML specials as entities,
/// and the two non-characters XML forbids replaced.
fn xml(text: &str) -> String {
    let text = escape_control(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, name: &str, kind: NodeKind) -> Node {
        Node {
            id: id.into(),
            name: name.into(),
            kind,
            details: vec!["worker · w.wasm".into()],
            figures: Vec::new(),
        }
    }

    #[test]
    fn graph_svg_draws_figure_lines_under_the_named_node_and_makes_room() {
        let mut graph = Graph {
            title: "t".into(),
            description: None,
            nodes: vec![
                node("input", "input", NodeKind::Input),
                node("n_draft", "draft", NodeKind::Worker),
                node("n_fallback", "fallback", NodeKind::Fallback),
            ],
            edges: vec![Edge {
                from: 0,
                to: 1,
                kind: EdgeKind::Input,
                label: None,
            }],
        };
        let plain = Layout::of(&graph);
        assert!(!graph.set_figures("input", vec!["x".into()]));
        assert!(!graph.set_figures("fallback", vec!["x".into()]));
        assert!(graph.set_figures("draft", vec!["p50 3 ms <".into(), "a\nb".into()]));
        let figured = Layout::of(&graph);
        assert_eq!(figured.boxes[1].h, plain.boxes[1].h + 2 * LINE_HEIGHT);
        let svg = render_element(&graph, &figured);
        assert!(!svg.starts_with("<?xml"), "{svg}");
        assert!(svg.contains("data-node=\"draft\""), "{svg}");
        assert!(svg.contains(">p50 3 ms &lt;</text>"), "{svg}");
        assert!(svg.contains("data-figure=\"1\""), "{svg}");
        assert!(svg.contains(">a\\nb</text>"), "{svg}");
        assert!(render(&graph, &figured).starts_with("<?xml"));
    }

    #[test]
    fn graph_svg_escapes_xml_and_control_characters() {
        assert_eq!(
            xml("a<b>&\"c\"'\n\u{ffff}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;\\n\u{fffd}"
        );
    }
}
