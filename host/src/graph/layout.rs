//! A small layered layout of a [`Graph`], in integer pixels so the same
//! graph always lands on the same coordinates. The input, flow, standby
//! and output nodes are layered by longest path (input first, output
//! last; a standby worker one layer after the worker escalating to it);
//! each layer is a column, its nodes stacked in rows ordered by the mean
//! height of their predecessors. Judges and fallbacks sit in a narrow
//! column just right of the first node they serve, in the rows just below
//! it, so no edge leaving a main node runs into them. Edges are cubic curves: forward ones from the right side to the
//! left side, edges within a column straight down or up between the rows,
//! backward ones looping under both nodes.

use super::model::{EdgeKind, Graph, NodeKind};

/// Height of a text line in a node, in pixels.
pub const LINE_HEIGHT: i64 = 16;
/// Room above and below a node's text.
pub const PAD_Y: i64 = 8;
/// Room left of the drawing and right, above and below it.
pub const MARGIN: i64 = 24;
/// The band at the top for the title (and description).
pub const HEADER: i64 = 44;

/// Average advance of a character of the node name (bold, 13 px).
const NAME_CHAR_WIDTH: i64 = 8;
/// Average advance of a character of detail lines and edge labels (11 px).
const TEXT_CHAR_WIDTH: i64 = 7;
const PAD_X: i64 = 12;
const MIN_NODE_WIDTH: i64 = 72;
const ROW_GAP: i64 = 24;
/// Horizontal room between columns, before the room for edge labels.
const COLUMN_GAP: i64 = 56;
const SATELLITE_GAP: i64 = 36;
/// How far below the lower node a backward edge loops.
const LOOP_DROP: i64 = 40;

/// A point in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// Horizontal, growing rightwards.
    pub x: i64,
    /// Vertical, growing downwards.
    pub y: i64,
}

/// A node's box: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: i64,
    /// Top edge.
    pub y: i64,
    /// Width.
    pub w: i64,
    /// Height.
    pub h: i64,
}

impl Rect {
    fn center_y(&self) -> i64 {
        self.y + self.h / 2
    }
    fn center_x(&self) -> i64 {
        self.x + self.w / 2
    }
    fn right(&self) -> i64 {
        self.x + self.w
    }
    fn bottom(&self) -> i64 {
        self.y + self.h
    }
}

/// An edge: a straight run, then a cubic Bézier curve; and where its
/// label goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Curve {
    /// Where it leaves the source.
    pub start: Point,
    /// Where the straight run from `start` ends and the cubic begins
    /// (`start` itself when there is no straight run).
    pub bend: Point,
    /// First control point.
    pub c1: Point,
    /// Second control point.
    pub c2: Point,
    /// Where it reaches the target (the arrowhead's tip).
    pub end: Point,
    /// The curve's midpoint, where a label is centred.
    pub mid: Point,
}

/// Where everything of a graph is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Total width.
    pub width: i64,
    /// Total height.
    pub height: i64,
    /// One box per node, indexed like `Graph::nodes`.
    pub boxes: Vec<Rect>,
    /// One curve per edge, indexed like `Graph::edges`.
    pub curves: Vec<Curve>,
}

impl Layout {
    /// Lays `graph` out.
    pub fn of(graph: &Graph) -> Layout {
        let columns = assign_columns(graph);
        let mut boxes: Vec<Rect> = graph
            .nodes
            .iter()
            .map(|n| {
                let (w, h) = node_size(&n.name, n.details.iter().chain(&n.figures));
                Rect { x: 0, y: 0, w, h }
            })
            .collect();
        let gap_starts = place_columns_horizontally(graph, &columns, &mut boxes);
        place_rows(graph, &columns, &mut boxes);
        let mut curves: Vec<Curve> = graph
            .edges
            .iter()
            .map(|e| {
                let (from_column, to_column) = (columns[e.from], columns[e.to]);
                let (from, to) = (boxes[e.from], boxes[e.to]);
                route(from, to, from_column, to_column, gap_starts[to_column])
            })
            .collect();
        let (width, height) = normalize(&mut boxes, &mut curves);
        Layout {
            width,
            height,
            boxes,
            curves,
        }
    }
}

/// Judges and fallbacks are placed beside the node they serve, not in a
/// layer of their own.
fn is_satellite(kind: NodeKind) -> bool {
    matches!(kind, NodeKind::Judge | NodeKind::Fallback)
}

/// Edges that push their target one layer right of their source.
fn is_layering(graph: &Graph, kind: EdgeKind, to: usize) -> bool {
    match kind {
        EdgeKind::Input | EdgeKind::Dependency | EdgeKind::Branch | EdgeKind::Output => true,
        EdgeKind::Escalate => graph.nodes[to].kind == NodeKind::Standby,
        EdgeKind::Judge | EdgeKind::Fallback => false,
    }
}

/// Longest-path layers of the main nodes (the input at 0, the output
/// after every other node), relaxed at most once per node so a cycle of
/// escalations cannot loop.
fn main_layers(graph: &Graph) -> Vec<usize> {
    let mut layers: Vec<usize> = graph
        .nodes
        .iter()
        .map(|n| usize::from(n.kind != NodeKind::Input))
        .collect();
    for _ in 0..graph.nodes.len() {
        let mut changed = false;
        for e in &graph.edges {
            let is_main = !is_satellite(graph.nodes[e.from].kind);
            if is_main && is_layering(graph, e.kind, e.to) && layers[e.to] <= layers[e.from] {
                layers[e.to] = layers[e.from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let last = graph
        .nodes
        .iter()
        .zip(&layers)
        .filter(|(n, _)| !is_satellite(n.kind) && n.kind != NodeKind::Output)
        .map(|(_, l)| *l)
        .max()
        .unwrap_or(0);
    for (node, layer) in graph.nodes.iter().zip(layers.iter_mut()) {
        if node.kind == NodeKind::Output {
            *layer = last + 1;
        }
    }
    layers
}

/// Each node's column: `2 × layer` for main nodes, the odd column right of
/// the first node served for judges and fallbacks (the one before the
/// output's for a judge gating nothing).
fn assign_columns(graph: &Graph) -> Vec<usize> {
    let layers = main_layers(graph);
    let anchors = satellite_anchors(graph);
    let output_column = 2 * layers.iter().copied().max().unwrap_or(0);
    (0..graph.nodes.len())
        .map(|i| match anchors[i] {
            _ if !is_satellite(graph.nodes[i].kind) => 2 * layers[i],
            Some((anchor, _)) => 2 * layers[anchor] + 1,
            None => output_column.saturating_sub(1),
        })
        .collect()
}

/// Width and height of a node's box from its text.
fn node_size<'a>(name: &str, lines: impl Iterator<Item = &'a String>) -> (i64, i64) {
    let name_width = text_width(name, NAME_CHAR_WIDTH);
    let (mut detail_width, mut count) = (0, 0usize);
    for line in lines {
        detail_width = detail_width.max(text_width(line, TEXT_CHAR_WIDTH));
        count += 1;
    }
    let w = (name_width.max(detail_width) + 2 * PAD_X).max(MIN_NODE_WIDTH);
    let lines = i64::try_from(count).unwrap_or(i64::MAX / 2 / LINE_HEIGHT) + 1;
    (w, lines * LINE_HEIGHT + 2 * PAD_Y)
}

fn text_width(text: &str, char_width: i64) -> i64 {
    i64::try_from(text.chars().count())
        .unwrap_or(i64::MAX / 2 / char_width)
        .saturating_mul(char_width)
}

/// Columns left to right, each as wide as its widest node, nodes centred
/// in it; the gap before a column leaves room for the labels of the edges
/// entering it. Returns, per column, where the gap before it begins.
fn place_columns_horizontally(graph: &Graph, columns: &[usize], boxes: &mut [Rect]) -> Vec<i64> {
    let count = columns.iter().copied().max().map_or(0, |c| c + 1);
    let mut widths = vec![0i64; count];
    let mut label_room = vec![0i64; count];
    for (i, &c) in columns.iter().enumerate() {
        widths[c] = widths[c].max(boxes[i].w);
    }
    for e in &graph.edges {
        let label = e.label.as_deref().unwrap_or_default();
        let c = columns[e.to];
        label_room[c] = label_room[c].max(text_width(label, TEXT_CHAR_WIDTH));
    }
    let mut lefts = vec![0i64; count];
    let mut gap_starts = vec![0i64; count];
    let mut x = 0;
    let mut first = true;
    for c in 0..count {
        gap_starts[c] = x;
        if widths[c] == 0 {
            continue;
        }
        if !first {
            let gap = if c % 2 == 1 {
                SATELLITE_GAP
            } else {
                COLUMN_GAP
            };
            x += gap + label_room[c];
        }
        first = false;
        lefts[c] = x;
        x += widths[c];
    }
    for (i, &c) in columns.iter().enumerate() {
        boxes[i].x = lefts[c] + (widths[c] - boxes[i].w) / 2;
    }
    gap_starts
}

/// Rows, column pair by column pair: the main nodes of an even column,
/// ordered by the mean height of their predecessors in earlier columns
/// (ties in graph order), each followed by the judges and fallback it
/// serves first (in the next, odd column, in edge order), then any other
/// node of that odd column. Every node gets a band of height of its own,
/// so no main edge leaving the column runs into a judge; each main node is
/// put as near the height of its predecessors as the order allows.
fn place_rows(graph: &Graph, columns: &[usize], boxes: &mut [Rect]) {
    let anchors = satellite_anchors(graph);
    let count = columns.iter().copied().max().map_or(0, |c| c + 1);
    for c in (0..count).step_by(2) {
        let mut sequence: Vec<(Option<i64>, usize)> = Vec::new();
        for (wanted, main) in main_nodes_in_order(graph, columns, boxes, c) {
            sequence.push((wanted, main));
            let mut served: Vec<(usize, usize)> = anchors
                .iter()
                .enumerate()
                .filter_map(|(i, a)| match a {
                    Some((anchor, edge)) if *anchor == main && columns[i] == c + 1 => {
                        Some((*edge, i))
                    }
                    _ => None,
                })
                .collect();
            served.sort();
            sequence.extend(served.into_iter().map(|(_, i)| (None, i)));
        }
        let orphans: Vec<(Option<i64>, usize)> = (0..graph.nodes.len())
            .filter(|&i| columns[i] == c + 1 && !sequence.iter().any(|(_, s)| *s == i))
            .map(|i| (None, i))
            .collect();
        sequence.extend(orphans);
        stack_near_wanted(&sequence, boxes);
    }
}

/// The main nodes of column `c` with the height each wants (the mean
/// centre of its predecessors in earlier columns, if any), ordered by it
/// (none: last), ties in graph order.
fn main_nodes_in_order(
    graph: &Graph,
    columns: &[usize],
    boxes: &[Rect],
    c: usize,
) -> Vec<(Option<i64>, usize)> {
    let mut members: Vec<(Option<i64>, usize)> = (0..graph.nodes.len())
        .filter(|&i| columns[i] == c && !is_satellite(graph.nodes[i].kind))
        .map(|i| {
            let preds: Vec<i64> = graph
                .edges
                .iter()
                .filter(|e| e.to == i && columns[e.from] < c)
                .map(|e| boxes[e.from].center_y())
                .collect();
            (mean(&preds), i)
        })
        .collect();
    members.sort_by_key(|&(wanted, i)| (wanted.unwrap_or(i64::MAX), i));
    members
}

/// For each judge or fallback, the main node it serves first and the index
/// of that edge; `None` for main nodes and for a judge gating nothing.
fn satellite_anchors(graph: &Graph) -> Vec<Option<(usize, usize)>> {
    (0..graph.nodes.len())
        .map(|i| {
            if !is_satellite(graph.nodes[i].kind) {
                return None;
            }
            graph
                .edges
                .iter()
                .enumerate()
                .find(|(_, e)| e.to == i && !is_satellite(graph.nodes[e.from].kind))
                .map(|(k, e)| (e.from, k))
        })
        .collect()
}

/// Stacks `sequence` top to bottom, a row gap apart and never above the
/// height a node wants; then shifts the stack so the nodes that want a
/// height are, on average, there (centred on y = 0 when none does).
fn stack_near_wanted(sequence: &[(Option<i64>, usize)], boxes: &mut [Rect]) {
    let mut floor: Option<i64> = None;
    let mut drifts = Vec::new();
    for &(wanted, i) in sequence {
        let h = boxes[i].h;
        let top = match (wanted, floor) {
            (Some(w), Some(f)) => (w - h / 2).max(f),
            (Some(w), None) => w - h / 2,
            (None, Some(f)) => f,
            (None, None) => 0,
        };
        boxes[i].y = top;
        if let Some(w) = wanted {
            drifts.push(boxes[i].center_y() - w);
        }
        floor = Some(top + h + ROW_GAP);
    }
    let shift = mean(&drifts).unwrap_or_else(|| {
        let top = sequence.first().map_or(0, |&(_, i)| boxes[i].y);
        let bottom = sequence.last().map_or(0, |&(_, i)| boxes[i].bottom());
        (top + bottom) / 2
    });
    for &(_, i) in sequence {
        boxes[i].y -= shift;
    }
}

fn mean(values: &[i64]) -> Option<i64> {
    let n = i64::try_from(values.len()).ok().filter(|n| *n > 0)?;
    Some(values.iter().sum::<i64>() / n)
}

/// The curve of one edge between two placed boxes; `gap_start` is where
/// the gap before the target's column begins.
fn route(from: Rect, to: Rect, from_column: usize, to_column: usize, gap_start: i64) -> Curve {
    if to_column > from_column {
        forward(from, to, gap_start)
    } else if to_column == from_column {
        within_column(from, to)
    } else {
        backward(from, to)
    }
}

/// Right side to left side: straight on at the source's height through
/// any column in between (its own row band there), then an S-curve in the
/// gap before the target.
fn forward(from: Rect, to: Rect, gap_start: i64) -> Curve {
    let start = Point {
        x: from.right(),
        y: from.center_y(),
    };
    let end = Point {
        x: to.x,
        y: to.center_y(),
    };
    let bend = Point {
        x: gap_start.clamp(start.x, end.x),
        y: start.y,
    };
    let dx = ((end.x - bend.x) / 2).max(16);
    curve(
        start,
        bend,
        Point {
            x: bend.x + dx,
            y: bend.y,
        },
        Point {
            x: end.x - dx,
            y: end.y,
        },
        end,
    )
}

/// Straight down (or up) through the band between two rows of a column.
fn within_column(from: Rect, to: Rect) -> Curve {
    let down = to.y >= from.y;
    let start = Point {
        x: from.center_x(),
        y: if down { from.bottom() } else { from.y },
    };
    let end = Point {
        x: to.center_x(),
        y: if down { to.y } else { to.bottom() },
    };
    let dy = (end.y - start.y) / 2;
    curve(
        start,
        start,
        Point {
            x: start.x,
            y: start.y + dy,
        },
        Point {
            x: end.x,
            y: end.y - dy,
        },
        end,
    )
}

/// From the bottom of the source to the bottom of an earlier target,
/// looping under both.
fn backward(from: Rect, to: Rect) -> Curve {
    let start = Point {
        x: from.center_x(),
        y: from.bottom(),
    };
    let end = Point {
        x: to.center_x(),
        y: to.bottom(),
    };
    let low = start.y.max(end.y) + LOOP_DROP;
    curve(
        start,
        start,
        Point { x: start.x, y: low },
        Point { x: end.x, y: low },
        end,
    )
}

/// A straight run from `start` to `bend`, then a cubic to `end`; the label
/// point is the cubic's midpoint.
fn curve(start: Point, bend: Point, c1: Point, c2: Point, end: Point) -> Curve {
    let mid = Point {
        x: (bend.x + 3 * c1.x + 3 * c2.x + end.x) / 8,
        y: (bend.y + 3 * c1.y + 3 * c2.y + end.y) / 8,
    };
    Curve {
        start,
        bend,
        c1,
        c2,
        end,
        mid,
    }
}

/// Shifts everything so the drawing starts at the margin (below the
/// header) and returns the total width and height.
fn normalize(boxes: &mut [Rect], curves: &mut [Curve]) -> (i64, i64) {
    let curve_points = |c: &Curve| [c.start, c.bend, c.c1, c.c2, c.end];
    let xs = boxes
        .iter()
        .flat_map(|b| [b.x, b.right()])
        .chain(curves.iter().flat_map(|c| curve_points(c).map(|p| p.x)));
    let ys = boxes
        .iter()
        .flat_map(|b| [b.y, b.bottom()])
        .chain(curves.iter().flat_map(|c| curve_points(c).map(|p| p.y)));
    let (min_x, max_x) = min_max(xs);
    let (min_y, max_y) = min_max(ys);
    let dx = MARGIN - min_x;
    let dy = MARGIN + HEADER - min_y;
    for b in boxes.iter_mut() {
        b.x += dx;
        b.y += dy;
    }
    for c in curves.iter_mut() {
        for p in [
            &mut c.start,
            &mut c.bend,
            &mut c.c1,
            &mut c.c2,
            &mut c.end,
            &mut c.mid,
        ] {
            p.x += dx;
            p.y += dy;
        }
    }
    (
        max_x + dx + MARGIN,
        (max_y + dy + MARGIN).max(MARGIN + HEADER),
    )
}

fn min_max(values: impl Iterator<Item = i64>) -> (i64, i64) {
    values.fold((0, 0), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

#[cfg(test)]
mod tests {
    use super::super::model::{Edge, Node};
    use super::*;

    fn node(id: &str, kind: NodeKind) -> Node {
        Node {
            id: id.into(),
            name: id.into(),
            kind,
            details: vec!["worker · w.wasm".into()],
            figures: Vec::new(),
        }
    }

    fn edge(from: usize, to: usize, kind: EdgeKind) -> Edge {
        Edge {
            from,
            to,
            kind,
            label: None,
        }
    }

    /// input → a → {b, c} → d → output; a judged by j; a escalates to s.
    fn diamond() -> Graph {
        Graph {
            title: "t".into(),
            description: None,
            nodes: vec![
                node("input", NodeKind::Input),
                node("a", NodeKind::Router),
                node("b", NodeKind::Worker),
                node("c", NodeKind::Worker),
                node("d", NodeKind::Worker),
                node("s", NodeKind::Standby),
                node("j", NodeKind::Judge),
                node("output", NodeKind::Output),
            ],
            edges: vec![
                edge(0, 1, EdgeKind::Input),
                edge(1, 2, EdgeKind::Branch),
                edge(1, 3, EdgeKind::Branch),
                edge(2, 4, EdgeKind::Dependency),
                edge(3, 4, EdgeKind::Dependency),
                edge(4, 7, EdgeKind::Output),
                edge(2, 6, EdgeKind::Judge),
                edge(2, 5, EdgeKind::Escalate),
            ],
        }
    }

    #[test]
    fn graph_layout_layers_by_longest_path() {
        let graph = diamond();
        assert_eq!(main_layers(&graph)[..6], [0, 1, 2, 2, 3, 3]);
        let columns = assign_columns(&graph);
        assert_eq!(columns, [0, 2, 4, 4, 6, 6, 5, 8]);
    }

    #[test]
    fn graph_layout_keeps_nodes_apart_and_inside_the_drawing() {
        let graph = diamond();
        let layout = Layout::of(&graph);
        assert_eq!(layout, Layout::of(&graph), "deterministic");
        for (i, a) in layout.boxes.iter().enumerate() {
            assert!(a.x >= MARGIN && a.y >= MARGIN + HEADER, "{a:?}");
            assert!(a.right() <= layout.width && a.bottom() <= layout.height);
            for b in &layout.boxes[i + 1..] {
                let apart =
                    a.right() <= b.x || b.right() <= a.x || a.bottom() <= b.y || b.bottom() <= a.y;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn graph_layout_survives_a_cycle_of_escalations() {
        let mut graph = diamond();
        graph.edges.push(edge(5, 2, EdgeKind::Escalate));
        graph.nodes[2].kind = NodeKind::Standby;
        let layout = Layout::of(&graph);
        assert_eq!(layout.boxes.len(), graph.nodes.len());
    }
}
