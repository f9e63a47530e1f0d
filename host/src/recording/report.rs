//! The comparison as one self-contained HTML page (`replay --html`,
//! `compare --html`): the pipeline's figures baseline against candidate,
//! a per-node table (invocations, failures, judges' pass rates, top
//! rejection reasons, cost, tokens, answers changed) with the weakest node
//! marked, inline-SVG bar charts of cost and tokens per node, and the runs
//! that flipped between pass and fail. Styles and the one small script
//! (sortable node table) are inline: the page fetches nothing and works
//! offline. Every text that came from a recording (node names, reasons,
//! run ids, error kinds) is escaped; the output depends only on the
//! comparison and the title, so the same comparison gives the same bytes.
//! Exact figures ride along in `data-value` attributes (picodollars,
//! counts, milliseconds), the same numbers as the comparison's JSON.

use std::fmt::Write as _;

use super::compare::{Comparison, Figures, NodeComparison, NodeFigures};
use crate::text::{clip, escape_html as esc, w};

/// Flipped runs listed at most; the rest are counted (all are in the JSON).
const MAX_FLIPS: usize = 1000;
/// Rejection reasons shown per node and side.
const TOP_REASONS: usize = 3;
/// Characters of a rejection reason shown (the full text, bounded, is its
/// tooltip).
const REASON_CHARS: usize = 160;
/// Characters of a rejection reason kept in its tooltip.
const REASON_TITLE_CHARS: usize = 2000;
/// Characters of a node name drawn in a chart label.
const LABEL_CHARS: usize = 18;

/// The comparison `c` as one standalone HTML document titled `title`.
pub fn html(c: &Comparison, title: &str) -> String {
    let mut out = String::with_capacity(24 * 1024 + c.nodes.len() * 2048 + c.flips.len() * 128);
    let title = esc(title);
    w!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"switchyard {}\">\n<title>{title}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION")
    );
    w!(
        out,
        "<header>\n<h1>{title}</h1>\n<p class=\"sub\">baseline against candidate: {} runs matched by id \
         ({} in the baseline, {} in the candidate)</p>\n</header>\n<main>\n",
        c.matched,
        c.baseline.runs,
        c.candidate.runs
    );
    cards(&mut out, c);
    out.push_str("<div class=\"grid2\">\n");
    pipeline_table(&mut out, c);
    out.push_str("<section id=\"charts\">\n");
    let cost: Vec<(&str, u64, u64)> = c
        .nodes
        .iter()
        .map(|(name, n)| (name.as_str(), n.baseline.cost_pusd, n.candidate.cost_pusd))
        .collect();
    let tokens: Vec<(&str, u64, u64)> = c
        .nodes
        .iter()
        .map(|(name, n)| (name.as_str(), n.baseline.tokens, n.candidate.tokens))
        .collect();
    bar_chart(&mut out, "cost", "Cost per node", &cost, usd);
    bar_chart(&mut out, "tokens", "Tokens per node", &tokens, |t| {
        t.to_string()
    });
    out.push_str("</section>\n</div>\n");
    node_table(&mut out, c);
    flips(&mut out, c);
    w!(
        out,
        "</main>\n<footer>Made by <code>switchyard</code> {}. Self-contained: nothing is fetched. \
         The exact figures are those of <code>--json</code>; replayed latency is the host's own \
         (recorded model calls answer at once).</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

fn usd(pusd: u64) -> String {
    format!("${:.6}", pusd as f64 / 1e12)
}

fn percent(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

/// Which way a figure should move.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Better {
    Lower,
    Higher,
    Neither,
}

fn direction(b: f64, c: f64, better: Better) -> &'static str {
    if b == c || better == Better::Neither {
        "same"
    } else if (c < b) == (better == Better::Lower) {
        "better"
    } else {
        "worse"
    }
}

/// A signed difference: `+3`, `−2`, `0`.
fn signed(d: f64, decimals: usize) -> String {
    if d == 0.0 {
        return format!("{:.decimals$}", 0.0);
    }
    let sign = if d > 0.0 { "+" } else { "\u{2212}" };
    format!("{sign}{:.decimals$}", d.abs())
}

fn signed_usd(b: u64, c: u64) -> String {
    let d = c as i128 - b as i128;
    let sign = match d.signum() {
        1 => "+",
        -1 => "\u{2212}",
        _ => "",
    };
    let mut s = format!("{sign}${:.6}", d.unsigned_abs() as f64 / 1e12);
    if b > 0 && d != 0 {
        let _ = write!(s, " ({}%)", signed(d as f64 * 100.0 / b as f64, 1));
    }
    s
}

/// One side's value in a table: exact value, optional whole, as shown.
struct Cell {
    value: String,
    of: Option<u64>,
    shown: String,
}

impl Cell {
    fn count(v: u64) -> Self {
        Self {
            value: v.to_string(),
            of: None,
            shown: v.to_string(),
        }
    }

    fn ratio(v: u64, of: u64) -> Self {
        let share = if of > 0 {
            format!(" ({})", percent(v as f64 / of as f64))
        } else {
            String::new()
        };
        Self {
            value: v.to_string(),
            of: Some(of),
            shown: format!("{v}/{of}{share}"),
        }
    }

    fn money(pusd: u64) -> Self {
        Self {
            value: pusd.to_string(),
            of: None,
            shown: usd(pusd),
        }
    }

    fn ms(v: f64) -> Self {
        Self {
            value: v.to_string(),
            of: None,
            shown: format!("{v:.1}"),
        }
    }

    fn rate(r: Option<f64>) -> Self {
        Self {
            value: r.map_or_else(String::new, |r| r.to_string()),
            of: None,
            shown: r.map_or_else(|| "\u{2013}".into(), percent),
        }
    }

    fn td(&self, out: &mut String, attrs: &str) {
        w!(out, "<td{attrs} data-value=\"{}\"", self.value);
        if let Some(of) = self.of {
            w!(out, " data-of=\"{of}\"");
        }
        w!(out, ">{}</td>", self.shown);
    }
}

/// The headline figures as cards.
fn cards(out: &mut String, c: &Comparison) {
    let (b, k) = (&c.baseline, &c.candidate);
    out.push_str("<section class=\"cards\" id=\"headline\">\n");
    let card = |out: &mut String, id: &str, key: &str, value: &str, note: &str| {
        let none = if value == "none" { " none" } else { "" };
        w!(
            out,
            "<div class=\"card\" id=\"card-{id}\"><div class=\"k\">{key}</div>\
             <div class=\"v{none}\">{value}</div><div class=\"n\">{note}</div></div>\n"
        );
    };
    card(
        out,
        "cost",
        "cost",
        &usd(k.cost_pusd),
        &format!(
            "<span class=\"{}\">{}</span> against {}",
            direction(b.cost_pusd as f64, k.cost_pusd as f64, Better::Lower),
            signed_usd(b.cost_pusd, k.cost_pusd),
            usd(b.cost_pusd)
        ),
    );
    card(
        out,
        "ok",
        "runs ok",
        &format!("{}/{}", k.ok, k.runs),
        &format!(
            "<span class=\"{}\">{}</span> against {}/{}",
            direction(b.ok as f64, k.ok as f64, Better::Higher),
            signed(k.ok as f64 - b.ok as f64, 0),
            b.ok,
            b.runs
        ),
    );
    card(
        out,
        "changed",
        "outputs changed",
        &format!("{}/{}", c.outputs_changed, c.matched),
        &format!("costs changed in {}", c.costs_changed),
    );
    let to_pass = c
        .flips
        .iter()
        .filter(|f| f.direction == "fail→pass")
        .count();
    card(
        out,
        "flips",
        "flipped runs",
        &c.flips.len().to_string(),
        &format!(
            "<span class=\"better\">{to_pass} fail→pass</span>, <span class=\"worse\">{} pass→fail</span>",
            c.flips.len() - to_pass
        ),
    );
    let (now, was) = (weakest(c, Side::Candidate), weakest(c, Side::Baseline));
    card(
        out,
        "weakest",
        "weakest node",
        &now.as_ref()
            .map_or_else(|| "none".into(), |w| esc(&clip(w.name, 40))),
        &match (&now, &was) {
            (Some(w), _) => esc(&w.why),
            (None, Some(w)) => format!(
                "in the candidate; in the baseline: {} ({})",
                esc(&clip(w.name, 40)),
                esc(&w.why)
            ),
            (None, None) => "no judge rejected and no node failed".into(),
        },
    );
    out.push_str("</section>\n");
}

/// The pipeline's figures, both sides and the change.
fn pipeline_table(out: &mut String, c: &Comparison) {
    let (b, k) = (&c.baseline, &c.candidate);
    out.push_str(
        "<section id=\"pipeline\">\n<h2>Pipeline</h2>\n<table class=\"pipeline\">\n\
         <thead><tr><th>figure</th><th>baseline</th><th>candidate</th><th>change</th></tr></thead>\n<tbody>\n",
    );
    type Pick = fn(&Figures) -> u64;
    let counts: [(&str, &str, Pick, Better); 7] = [
        (
            "input_tokens",
            "tokens in",
            |f| f.input_tokens,
            Better::Lower,
        ),
        (
            "output_tokens",
            "tokens out",
            |f| f.output_tokens,
            Better::Lower,
        ),
        (
            "model_calls",
            "model calls",
            |f| f.model_calls,
            Better::Lower,
        ),
        ("retries", "retries", |f| f.retries, Better::Lower),
        (
            "escalations",
            "escalations",
            |f| f.escalations,
            Better::Lower,
        ),
        ("fallbacks", "fallbacks", |f| f.fallbacks, Better::Lower),
        ("routed_right", "", |f| f.routed_right, Better::Higher),
    ];
    let row = |out: &mut String, key: &str, label: &str, x: Cell, y: Cell, change: String| {
        w!(
            out,
            "<tr data-metric=\"{key}\"><th scope=\"row\">{label}</th>"
        );
        x.td(out, " data-side=\"baseline\"");
        y.td(out, " data-side=\"candidate\"");
        w!(out, "{change}</tr>\n");
    };
    let change = |d: &str, text: String| format!("<td class=\"{d}\">{text}</td>");
    row(
        out,
        "ok",
        "runs ok",
        Cell::ratio(b.ok, b.runs),
        Cell::ratio(k.ok, k.runs),
        change(
            direction(b.ok as f64, k.ok as f64, Better::Higher),
            signed(k.ok as f64 - b.ok as f64, 0),
        ),
    );
    row(
        out,
        "cost_pusd",
        "cost",
        Cell::money(b.cost_pusd),
        Cell::money(k.cost_pusd),
        change(
            direction(b.cost_pusd as f64, k.cost_pusd as f64, Better::Lower),
            signed_usd(b.cost_pusd, k.cost_pusd),
        ),
    );
    for (key, label, pick, better) in &counts[..3] {
        let (x, y) = (pick(b), pick(k));
        row(
            out,
            key,
            label,
            Cell::count(x),
            Cell::count(y),
            change(
                direction(x as f64, y as f64, *better),
                signed(y as f64 - x as f64, 0),
            ),
        );
    }
    for (key, label, x, y) in [
        ("p50_ms", "latency p50 ms", b.p50_ms, k.p50_ms),
        ("p95_ms", "latency p95 ms", b.p95_ms, k.p95_ms),
    ] {
        row(
            out,
            key,
            label,
            Cell::ms(x),
            Cell::ms(y),
            change(direction(x, y, Better::Lower), signed(y - x, 1)),
        );
    }
    for (key, label, pick, better) in &counts[3..6] {
        let (x, y) = (pick(b), pick(k));
        row(
            out,
            key,
            label,
            Cell::count(x),
            Cell::count(y),
            change(
                direction(x as f64, y as f64, *better),
                signed(y as f64 - x as f64, 0),
            ),
        );
    }
    row(
        out,
        "routed_right",
        "router accuracy",
        Cell::ratio(b.routed_right, b.routed_labelled),
        Cell::ratio(k.routed_right, k.routed_labelled),
        change(
            direction(b.routed_right as f64, k.routed_right as f64, Better::Higher),
            signed(k.routed_right as f64 - b.routed_right as f64, 0),
        ),
    );
    w!(
        out,
        "<tr data-metric=\"outputs_changed\"><th scope=\"row\">outputs changed</th><td data-side=\"baseline\"></td>"
    );
    Cell::ratio(c.outputs_changed, c.matched).td(out, " data-side=\"candidate\"");
    out.push_str("<td></td></tr>\n</tbody>\n</table>\n</section>\n");
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Baseline,
    Candidate,
}

/// The weakest node on one side, and why.
struct Weakest<'a> {
    name: &'a str,
    why: String,
}

/// A node's share of good outcomes: its pass rate as a judge, and the
/// share of its invocations that did not fail; the lower of the two.
fn score(f: &NodeFigures) -> Option<f64> {
    if f.invocations == 0 {
        return None;
    }
    let ok = f.invocations.saturating_sub(f.failed) as f64 / f.invocations as f64;
    Some(f.pass_rate().map_or(ok, |p| p.min(ok)))
}

/// The node with the lowest [`score`] below 1 on `side` (the first by
/// name on a tie); none when every node passed and nothing failed.
fn weakest(c: &Comparison, side: Side) -> Option<Weakest<'_>> {
    let mut best: Option<(&str, &NodeFigures, f64)> = None;
    for (name, n) in &c.nodes {
        let f = match side {
            Side::Baseline => &n.baseline,
            Side::Candidate => &n.candidate,
        };
        let Some(s) = score(f) else { continue };
        if s < 1.0 && best.is_none_or(|(_, _, low)| s < low) {
            best = Some((name, f, s));
        }
    }
    best.map(|(name, f, _)| {
        let mut why = Vec::new();
        if let Some(p) = f.pass_rate().filter(|p| *p < 1.0) {
            why.push(format!("passes {}", percent(p)));
        }
        if f.failed > 0 {
            why.push(format!("{} of {} failed", f.failed, f.invocations));
        }
        Weakest {
            name,
            why: why.join(", "),
        }
    })
}

/// Up to [`TOP_REASONS`] reasons, most frequent first (then by text).
fn top_reasons(f: &NodeFigures) -> Vec<(&str, u64)> {
    let mut all: Vec<(&str, u64)> = f.reasons.iter().map(|(r, n)| (r.as_str(), *n)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    all.truncate(TOP_REASONS);
    all
}

/// Per node: both sides' figures, the weakest marked.
fn node_table(out: &mut String, c: &Comparison) {
    let now = weakest(c, Side::Candidate).map(|w| w.name);
    let was = weakest(c, Side::Baseline).map(|w| w.name);
    out.push_str(
        "<section id=\"nodes\">\n<h2>Nodes</h2>\n<div class=\"scroll\"><table class=\"nodes sortable\">\n<thead><tr>\
         <th data-sort>node</th><th data-sort>calls b</th><th data-sort>calls c</th>\
         <th data-sort>failed b</th><th data-sort>failed c</th><th data-sort>pass b</th>\
         <th data-sort>pass c</th><th data-sort>cost b</th><th data-sort>cost c</th>\
         <th data-sort>tokens b</th><th data-sort>tokens c</th><th data-sort>changed</th>\
         <th class=\"l\">top rejection reasons</th></tr></thead>\n<tbody>\n",
    );
    for (name, n) in &c.nodes {
        let node = esc(name);
        let class = if now == Some(name.as_str()) {
            " class=\"weakest\" data-weakest=\"candidate\""
        } else {
            ""
        };
        w!(
            out,
            "<tr data-node=\"{node}\"{class}><th scope=\"row\" data-key=\"{node}\">{node}"
        );
        if now == Some(name.as_str()) {
            out.push_str("<span class=\"badge\">weakest</span>");
        }
        if was == Some(name.as_str()) {
            out.push_str(
                "<span class=\"badge was\" data-weakest-baseline=\"\">weakest in baseline</span>",
            );
        }
        out.push_str("</th>");
        node_cells(out, n);
        out.push_str("<td class=\"reasons\">");
        reasons(out, n);
        out.push_str("</td></tr>\n");
    }
    if c.nodes.is_empty() {
        out.push_str("<tr><td colspan=\"13\">no node ran</td></tr>\n");
    }
    out.push_str(
        "</tbody>\n</table></div>\n<p class=\"note\">b: baseline, c: candidate. Pass: the share of a \
         judge's verdicts that let the output through (accept or repair). Cost and tokens: the \
         node's model calls. The weakest node has the lowest pass rate or share of invocations \
         that did not fail. Changed: runs in which the node's answers differ. Click a heading to sort.</p>\n</section>\n",
    );
}

fn node_cells(out: &mut String, n: &NodeComparison) {
    type Pick = fn(&NodeFigures) -> Cell;
    let fields: [(&str, Pick); 5] = [
        ("invocations", |f| Cell::count(f.invocations)),
        ("failed", |f| Cell::count(f.failed)),
        ("pass_rate", |f| Cell::rate(f.pass_rate())),
        ("cost_pusd", |f| Cell::money(f.cost_pusd)),
        ("tokens", |f| Cell::count(f.tokens)),
    ];
    for (field, pick) in fields {
        for (side, f) in [("baseline", &n.baseline), ("candidate", &n.candidate)] {
            let mut cell = pick(f);
            let differs = pick(&n.baseline).value != pick(&n.candidate).value;
            if side == "candidate" && differs {
                cell.shown = format!("<strong>{}</strong>", cell.shown);
            }
            cell.td(
                out,
                &format!(" data-field=\"{field}\" data-side=\"{side}\""),
            );
        }
    }
    Cell::count(n.answers_changed).td(out, " data-field=\"answers_changed\"");
}

fn reasons(out: &mut String, n: &NodeComparison) {
    let mut any = false;
    for (side, f) in [("b", &n.baseline), ("c", &n.candidate)] {
        let top = top_reasons(f);
        if top.is_empty() {
            continue;
        }
        any = true;
        w!(
            out,
            "<div class=\"rs\"><span class=\"side\">{side}</span><ol>"
        );
        for (reason, count) in top {
            w!(
                out,
                "<li data-count=\"{count}\" title=\"{}\"><span class=\"n\">×{count}</span> {}</li>",
                esc(&clip(reason, REASON_TITLE_CHARS)),
                esc(&clip(reason, REASON_CHARS))
            );
        }
        let more = f.reasons.len().saturating_sub(TOP_REASONS);
        if more > 0 {
            w!(out, "<li class=\"more\">{more} more in the JSON</li>");
        }
        out.push_str("</ol></div>");
    }
    if !any {
        out.push('\u{2013}');
    }
}

/// A horizontal bar chart, two bars (baseline, candidate) per node.
fn bar_chart(
    out: &mut String,
    id: &str,
    title: &str,
    rows: &[(&str, u64, u64)],
    show: fn(u64) -> String,
) {
    const WIDTH: f64 = 600.0;
    const LABEL: f64 = 130.0;
    const BAR: f64 = 330.0;
    const ROW: f64 = 34.0;
    const TOP: f64 = 28.0;
    let max = rows.iter().map(|r| r.1.max(r.2)).max().unwrap_or(0);
    let height = TOP + ROW * rows.len() as f64 + 4.0;
    w!(
        out,
        "<h2>{title}</h2>\n<svg class=\"chart\" id=\"chart-{id}\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-labelledby=\"chart-{id}-title\">\
         <title id=\"chart-{id}-title\">{title}, baseline and candidate</title>\n\
         <rect class=\"b\" x=\"{LABEL}\" y=\"6\" width=\"12\" height=\"12\"/>\
         <text x=\"{}\" y=\"16\">baseline</text>\
         <rect class=\"c\" x=\"{}\" y=\"6\" width=\"12\" height=\"12\"/>\
         <text x=\"{}\" y=\"16\">candidate</text>\n",
        LABEL + 18.0,
        LABEL + 100.0,
        LABEL + 118.0
    );
    for (i, (name, b, c)) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let node = esc(name);
        w!(
            out,
            "<g data-node=\"{node}\"><text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">\
             <title>{node}</title>{}</text>",
            LABEL - 8.0,
            y + 19.0,
            esc(&clip(name, LABEL_CHARS))
        );
        for (k, (side, class, v)) in [("baseline", "b", *b), ("candidate", "c", *c)]
            .into_iter()
            .enumerate()
        {
            let len = if max == 0 || v == 0 {
                0.0
            } else {
                (v as f64 / max as f64 * BAR).max(1.0)
            };
            let top = y + 2.0 + 15.0 * k as f64;
            w!(
                out,
                "<rect class=\"{class}\" data-side=\"{side}\" data-value=\"{v}\" x=\"{LABEL}\" y=\"{top}\" \
                 width=\"{len:.1}\" height=\"13\"><title>{node}, {side}: {}</title></rect>\
                 <text class=\"v\" x=\"{:.1}\" y=\"{}\">{}</text>",
                show(v),
                LABEL + len + 5.0,
                top + 11.0,
                show(v)
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
}

/// The runs that flipped between pass and fail.
fn flips(out: &mut String, c: &Comparison) {
    out.push_str("<section id=\"flips\">\n<h2>Flipped runs</h2>\n");
    if c.flips.is_empty() {
        out.push_str("<p>No run flipped between pass and fail.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table class=\"flips\">\n<thead><tr><th>run</th><th>change</th><th>candidate error</th></tr></thead>\n<tbody>\n",
    );
    for f in c.flips.iter().take(MAX_FLIPS) {
        let class = if f.direction == "fail→pass" {
            "better"
        } else {
            "worse"
        };
        w!(
            out,
            "<tr data-flip=\"{id}\"><td>{id}</td><td class=\"{class}\">{}</td><td>{}</td></tr>\n",
            esc(f.direction),
            f.error.as_deref().map_or_else(|| "\u{2013}".into(), esc),
            id = esc(&f.id)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if c.flips.len() > MAX_FLIPS {
        w!(
            out,
            "<p class=\"note\">{} more flipped runs are in the JSON.</p>\n",
            c.flips.len() - MAX_FLIPS
        );
    }
    out.push_str("</section>\n");
}

const STYLE: &str = r#"
:root { --b: #9aa4af; --c: #2f6bd8; --good: #137333; --bad: #b3261e; --line: #e2e5e9; --muted: #5c6670; --warn: #e8710a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1c2229; background: #f5f6f8; }
header, main, footer { max-width: 1260px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 18px; }
h1 { font-size: 21px; margin: 0 0 2px; overflow-wrap: anywhere; }
h2 { font-size: 15px; margin: 0 0 8px; }
.sub { color: var(--muted); margin: 0 0 14px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 0 0 14px; }
.cards { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 12px; background: none; border: 0; padding: 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 9px 14px; }
.card .k { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .05em; }
.card .v { font-size: 20px; font-weight: 650; overflow-wrap: anywhere; }
.card .n { color: var(--muted); font-size: 12px; }
#card-weakest .v { color: var(--warn); }
#card-weakest .v.none { color: var(--muted); }
.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 14px; }
.grid2 > section { margin: 0 0 14px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 7px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.reasons, th.l { text-align: left; }
thead th { font-size: 12px; color: var(--muted); font-weight: 600; vertical-align: bottom; }
th[data-sort] { cursor: pointer; }
th[aria-sort="ascending"]::after { content: " \25B2"; }
th[aria-sort="descending"]::after { content: " \25BC"; }
tbody th { font-weight: 600; }
.better { color: var(--good); }
.worse { color: var(--bad); }
tr.weakest { background: #fff3e6; }
tr.weakest th { box-shadow: inset 3px 0 var(--warn); }
.badge { display: inline-block; font-size: 11px; line-height: 16px; padding: 0 7px; border-radius: 8px; margin-left: 6px; background: var(--warn); color: #fff; font-weight: 600; }
.badge.was { background: #eceff2; color: var(--muted); }
table.nodes { font-size: 13px; }
table.nodes tbody th { white-space: normal; min-width: 120px; }
td.reasons { white-space: normal; min-width: 170px; max-width: 320px; font-size: 12px; }
table.flips { width: auto; min-width: 360px; }
table.flips th, table.flips td { text-align: left; padding-right: 24px; }
.scroll { overflow-x: auto; }
.rs { display: flex; gap: 6px; }
.rs .side { color: var(--muted); font-weight: 600; }
.rs ol { margin: 0; padding: 0; list-style: none; overflow-wrap: anywhere; }
.rs .n { color: var(--muted); }
.note { color: var(--muted); font-size: 12px; margin: 8px 0 0; }
svg.chart { display: block; width: 100%; height: auto; max-width: 600px; }
svg .b { fill: var(--b); }
svg .c { fill: var(--c); }
svg text { font-size: 12px; fill: #1c2229; }
svg text.v { fill: var(--muted); font-size: 11px; }
footer { color: var(--muted); font-size: 12px; padding-bottom: 24px; }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); } .grid2 { grid-template-columns: minmax(0, 1fr); } }
"#;

/// Sorts `table.sortable` by a clicked heading (numbers by `data-value`),
/// then marks each table `data-sortable="ready"`.
const SCRIPT: &str = r#"
(function () {
  "use strict";
  function key(cell) {
    if (!cell) { return ""; }
    var v = cell.getAttribute("data-value");
    if (v !== null) { return v === "" ? -Infinity : Number(v); }
    var k = cell.getAttribute("data-key");
    return (k !== null ? k : cell.textContent).trim().toLowerCase();
  }
  function order(a, b) {
    if (typeof a !== typeof b) { return typeof a === "number" ? -1 : 1; }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      if (!th.hasAttribute("data-sort")) { return; }
      th.tabIndex = 0;
      function sort() {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) { return dir * order(key(a.cells[col]), key(b.cells[col])); });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
    table.setAttribute("data-sortable", "ready");
  });
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::compare::Flip;

    fn judge(accept: u64, reject: u64, reasons: &[(&str, u64)]) -> NodeFigures {
        NodeFigures {
            invocations: accept + reject,
            verdicts: [
                ("accept".to_string(), accept),
                ("reject".to_string(), reject),
            ]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect(),
            reasons: reasons.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            ..NodeFigures::default()
        }
    }

    fn sample() -> Comparison {
        let mut c = Comparison {
            matched: 2,
            ..Comparison::default()
        };
        c.nodes.insert(
            "<script>alert('x')</script>".into(),
            NodeComparison {
                baseline: judge(1, 3, &[("too \"long\" & <rude>", 2), ("b", 1)]),
                candidate: judge(3, 1, &[("a", 1)]),
                answers_changed: 1,
            },
        );
        c.nodes.insert(
            "worker".into(),
            NodeComparison {
                baseline: NodeFigures {
                    invocations: 4,
                    failed: 1,
                    ..NodeFigures::default()
                },
                candidate: NodeFigures {
                    invocations: 4,
                    ..NodeFigures::default()
                },
                answers_changed: 0,
            },
        );
        c.flips.push(Flip {
            id: "run<1>&\"".into(),
            direction: "fail→pass",
            error: None,
        });
        c
    }

    #[test]
    fn report_escapes_every_recorded_text() {
        let page = html(&sample(), "a <title> & \"more\"");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(page.contains("too &quot;long&quot; &amp; &lt;rude&gt;"));
        assert!(page.contains("data-flip=\"run&lt;1&gt;&amp;&quot;\""));
        assert!(page.contains("<title>a &lt;title&gt; &amp; &quot;more&quot;</title>"));
        // Only the report's own script element.
        assert_eq!(page.matches("<script").count(), 1);
        assert_eq!(esc("a\u{1b}[31m\nb"), "a\\u{1b}[31m\\nb");
    }

    #[test]
    fn report_is_deterministic_and_self_contained() {
        let c = sample();
        let page = html(&c, "t");
        assert_eq!(page, html(&c.clone(), "t"));
        assert!(page.starts_with("<!DOCTYPE html>"));
        for external in ["http://", "https://", "src=", "href=", "@import", "url("] {
            assert!(!page.contains(external), "{external}");
        }
    }

    #[test]
    fn report_marks_the_weakest_node_on_each_side() {
        let c = sample();
        let now = weakest(&c, Side::Candidate).unwrap();
        assert_eq!(now.name, "<script>alert('x')</script>");
        assert_eq!(now.why, "passes 75.0%");
        // Baseline: the judge passes 25%, the worker 75%.
        assert_eq!(
            weakest(&c, Side::Baseline).unwrap().name,
            "<script>alert('x')</script>"
        );
        let mut perfect = c.clone();
        perfect.nodes.values_mut().for_each(|n| {
            n.candidate = judge(4, 0, &[]);
        });
        assert!(weakest(&perfect, Side::Candidate).is_none());
        let page = html(&perfect, "t");
        assert!(!page.contains("data-weakest=\"candidate\""));
        assert!(page.contains("data-weakest-baseline"));
        // A failing worker is weaker than a judge passing 90%.
        let mut c = Comparison::default();
        c.nodes.insert(
            "judge".into(),
            NodeComparison {
                candidate: judge(9, 1, &[]),
                ..NodeComparison::default()
            },
        );
        c.nodes.insert(
            "worker".into(),
            NodeComparison {
                candidate: NodeFigures {
                    invocations: 10,
                    failed: 2,
                    ..NodeFigures::default()
                },
                ..NodeComparison::default()
            },
        );
        let w = weakest(&c, Side::Candidate).unwrap();
        assert_eq!((w.name, w.why.as_str()), ("worker", "2 of 10 failed"));
    }

    #[test]
    fn report_lists_reasons_most_frequent_first() {
        let f = judge(0, 9, &[("c", 1), ("a", 5), ("b", 5), ("d", 3)]);
        assert_eq!(top_reasons(&f), [("a", 5), ("b", 5), ("d", 3)]);
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
    }

    #[test]
    fn report_signs_changes() {
        assert_eq!(
            signed_usd(2_000_000, 1_000_000),
            "\u{2212}$0.000001 (\u{2212}50.0%)"
        );
        assert_eq!(signed_usd(0, 0), "$0.000000");
        assert_eq!(signed(3.0, 0), "+3");
        assert_eq!(direction(2.0, 1.0, Better::Lower), "better");
        assert_eq!(direction(2.0, 1.0, Better::Higher), "worse");
    }
}
