//! A batch's report (`switchyard run --report FILE.html`): one
//! self-contained HTML page with the batch's headline figures (runs, ok and
//! failed, wall time, exact total cost, whether it completed: an
//! interrupted batch says so in a banner), the pipeline's graph with each
//! node's figures drawn under it ([`Graph::set_figures`]), the cost per
//! node as an inline-SVG bar chart against the pipeline's total and, when
//! measured, the monolith baseline, and a per-node table. Styles are
//! inline and there is no script: the page fetches nothing and works
//! offline. It is built from the [`Summary`] alone, which holds no message
//! content; every text that came from the manifest or the records (the
//! pipeline's, nodes', branches', models' and error kinds' names) is
//! escaped. Exact figures ride along in `data-value` attributes
//! (picodollars, counts, milliseconds), the numbers of `--summary-json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::summary::{NodeStats, Summary};
use crate::graph::{render_svg_element, Graph, NodeKind};
use crate::models::Totals;
use crate::text::{clip, escape_html as esc, w};

/// The longest figure line drawn under a node in the graph, in characters.
const FIGURE_CHARS: usize = 34;
/// Characters of a branch label, verdict or policy action in a figure line.
const WORD_CHARS: usize = 14;
/// Characters of a name drawn as a chart label (the full name is its
/// tooltip).
const LABEL_CHARS: usize = 24;

/// Why a batch's report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be written (any earlier report there is left
    /// as it was).
    #[error("cannot write the batch report to {} (--report): {source}; check that its folder exists and is writable", path.display())]
    Write {
        /// The file named by `--report`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Writes a rendered report to `path` whole (see
/// [`write_whole`](super::write_whole)): a reader never sees half a page.
pub fn write(path: &Path, page: &str) -> Result<(), ReportError> {
    super::write_whole(path, page.as_bytes()).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The report of the batch `summary` as one standalone HTML document,
/// drawing `graph` (the pipeline's) with each node's figures.
/// `input_records` is how many records the whole input calls for, when
/// known: an incomplete batch says how far it got.
pub fn render(summary: &Summary, mut graph: Graph, input_records: Option<u64>) -> String {
    add_figures(&mut graph, summary);
    let mut out = String::with_capacity(32 * 1024 + summary.nodes.len() * 2048);
    let title = esc(&format!("{}: batch report", summary.pipeline));
    w!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"switchyard {}\">\n<title>{title}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{title}</h1>\n\
         <p class=\"sub\">{}</p>\n</header>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        subtitle(summary)
    );
    if !summary.complete {
        incomplete_banner(&mut out, summary, input_records);
    }
    cards(&mut out, summary);
    out.push_str("<section id=\"report-graph\">\n<h2>Pipeline</h2>\n<div class=\"scroll\">\n");
    out.push_str(&render_svg_element(&graph));
    out.push_str(
        "</div>\n<p class=\"note\">Under each node: its invocations (retries included) and \
         failures, latency percentiles, model calls, tokens and cost; a router's branch split, \
         a judge's verdicts, a gated worker's on-reject decisions.</p>\n</section>\n",
    );
    cost_chart(&mut out, summary);
    node_table(&mut out, summary);
    w!(
        out,
        "</main>\n<footer>Made by <code>switchyard run --report</code> {}. Self-contained: nothing \
         is fetched. The exact figures are those of <code>--summary-json</code> (costs in \
         picodollars in <code>data-value</code>); no message content is in this page.</footer>\n\
         </body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

/// Exact USD from picodollars: at least six decimals, more when the
/// amount has them (`$0.031250`, `$0.0000015`).
fn usd(pusd: u64) -> String {
    const PER_USD: u64 = 1_000_000_000_000;
    let digits = format!("{:012}", pusd % PER_USD);
    let keep = digits.trim_end_matches('0').len().max(6);
    format!("${}.{}", pusd / PER_USD, &digits[..keep])
}

/// `part` of `whole` as a whole percentage.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "\u{2013}".into();
    }
    format!("{:.0}%", part as f64 * 100.0 / whole as f64)
}

/// Orchestrated cost over the monolith's, e.g. `0.18×`; none when the
/// monolith cost nothing.
fn ratio(ours: u64, theirs: u64) -> Option<(f64, String)> {
    if theirs == 0 {
        return None;
    }
    let r = ours as f64 / theirs as f64;
    let shown = if r > 0.0 && r < 0.01 {
        format!("{r:.4}×")
    } else {
        format!("{r:.2}×")
    };
    Some((r, shown))
}

fn subtitle(s: &Summary) -> String {
    let fresh = s.runs - s.resumed;
    let mut text = format!(
        "{} records: {} ok, {} failed; {} runs in {:.2} s",
        s.runs,
        s.ok,
        s.failed(),
        fresh,
        s.wall_s
    );
    if s.resumed > 0 {
        w!(text, ", {} kept from the resumed .partial", s.resumed);
    }
    if !s.complete {
        text.push_str(" (stopped early)");
    }
    esc(&text)
}

fn incomplete_banner(out: &mut String, s: &Summary, input_records: Option<u64>) {
    let how_far = match input_records {
        Some(m) => format!("stopped after {} of {m} records", s.runs),
        None => format!("stopped after {} records", s.runs),
    };
    w!(
        out,
        "<div class=\"banner\" id=\"incomplete\" role=\"alert\"><strong>Incomplete batch:</strong> \
         {how_far}. Every figure below covers only the records written; run the same command \
         with <code>--resume</code> to finish the batch.</div>\n"
    );
}

/// Items joined by ` · ` into lines of at most [`FIGURE_CHARS`]
/// characters, each item clipped to fit.
fn wrap(items: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for item in items {
        let item = clip(item, FIGURE_CHARS - 1);
        let len = line.chars().count();
        if !line.is_empty() && len + 3 + item.chars().count() > FIGURE_CHARS {
            lines.push(std::mem::take(&mut line));
        } else if !line.is_empty() {
            line.push_str(" · ");
        }
        line.push_str(&item);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `label n` items of a count map, labels clipped.
fn counted(map: &std::collections::BTreeMap<String, u64>) -> Vec<String> {
    map.iter()
        .map(|(k, n)| format!("{} {n}", clip(k, WORD_CHARS)))
        .collect()
}

/// The figure lines of one node, each at most [`FIGURE_CHARS`] long.
fn figures(s: &NodeStats) -> Vec<String> {
    let mut lines = vec![
        format!("{} invocations · {} failed", s.invocations, s.errors),
        format!("p50 {:.1} ms · p95 {:.1} ms", s.p50_ms, s.p95_ms),
    ];
    let m = &s.model;
    if m.calls > 0 {
        lines.push(format!(
            "{} calls · {} tokens",
            m.calls,
            m.input_tokens + m.output_tokens
        ));
        lines.push(format!("cost {}", usd(m.cost.0)));
    } else {
        lines.push("no model calls".into());
    }
    if !s.routes.is_empty() {
        let total: u64 = s.routes.values().sum();
        let split: Vec<String> = s
            .routes
            .iter()
            .map(|(k, n)| format!("{} {}", clip(k, WORD_CHARS), percent(*n, total)))
            .collect();
        lines.extend(wrap(&split));
    }
    if !s.verdicts.is_empty() {
        lines.extend(wrap(&counted(&s.verdicts)));
        let total: u64 = s.verdicts.values().sum();
        let rejected = s.verdicts.get("reject").copied().unwrap_or(0);
        lines.push(format!("rejects {}", percent(rejected, total)));
    }
    if !s.policy.is_empty() {
        lines.extend(wrap(&counted(&s.policy)));
    }
    lines
}

/// Sets every drawn node's figures: the summary's, or `not invoked`.
fn add_figures(graph: &mut Graph, summary: &Summary) {
    let drawn: Vec<String> = graph
        .nodes
        .iter()
        .filter(|n| {
            matches!(
                n.kind,
                NodeKind::Router | NodeKind::Worker | NodeKind::Standby | NodeKind::Judge
            )
        })
        .map(|n| n.name.clone())
        .collect();
    for name in drawn {
        if !summary.nodes.contains_key(&name) {
            graph.set_figures(&name, vec!["not invoked".into()]);
        }
    }
    for (name, s) in &summary.nodes {
        graph.set_figures(name, figures(s));
    }
}

/// The headline figures as cards.
fn cards(out: &mut String, s: &Summary) {
    out.push_str("<section class=\"cards\" id=\"headline\">\n");
    let card = |out: &mut String, id: &str, key: &str, value: &str, note: &str| {
        w!(
            out,
            "<div class=\"card\" id=\"card-{id}\"><div class=\"k\">{key}</div>\
             <div class=\"v\">{value}</div><div class=\"n\">{note}</div></div>\n"
        );
    };
    card(
        out,
        "runs",
        "records",
        &s.runs.to_string(),
        &format!(
            "<span class=\"good\">{} ok</span> · <span class=\"{}\">{} failed</span>",
            s.ok,
            if s.failed() > 0 { "bad" } else { "good" },
            s.failed()
        ),
    );
    let errors = if s.errors.is_empty() {
        "none".to_string()
    } else {
        s.errors
            .iter()
            .map(|(k, n)| format!("{} {n}", esc(k)))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    card(out, "errors", "errors by kind", &errors, "");
    card(
        out,
        "wall",
        "wall time",
        &format!("{:.2} s", s.wall_s),
        &format!("{:.1} runs/s", s.runs_per_second()),
    );
    card(
        out,
        "cost",
        "total cost",
        &format!(
            "<span data-value=\"{}\">{}</span>",
            s.cost_pusd,
            usd(s.cost_pusd)
        ),
        &format!(
            "{} model calls · {} tokens",
            s.totals.calls,
            s.totals.input_tokens + s.totals.output_tokens
        ),
    );
    let (state, note) = if s.complete {
        ("complete", "every input line has its record".to_string())
    } else {
        ("incomplete", "stopped early: see above".to_string())
    };
    card(
        out,
        "complete",
        "batch",
        &format!(
            "<span class=\"{state}\" data-complete=\"{}\">{state}</span>",
            s.complete
        ),
        &note,
    );
    if s.accuracy.labelled > 0 {
        let a = s.accuracy;
        card(
            out,
            "accuracy",
            "router accuracy",
            &percent(a.correct, a.labelled),
            &format!("{}/{} against expect.route", a.correct, a.labelled),
        );
    }
    out.push_str("</section>\n");
    let c = &s.calls;
    if c.failed + c.retries + c.fallbacks + c.cache_hits + c.circuit_open + c.budget_refused > 0 {
        w!(
            out,
            "<p class=\"note\" id=\"model-layer\">Model calls: {} failed attempts, {} retries, {} \
             fallbacks, {} cache hits, {} refused by circuit breakers, {} by budgets.</p>\n",
            c.failed,
            c.retries,
            c.fallbacks,
            c.cache_hits,
            c.circuit_open,
            c.budget_refused
        );
    }
}

/// One bar of the cost chart.
struct Bar {
    /// `node`, `total` or `baseline`.
    kind: &'static str,
    /// What it is (a node or model name; escaped when drawn).
    name: String,
    /// Shown as the label.
    label: String,
    pusd: u64,
}

/// The cost per node (most expensive first), the pipeline's total and,
/// when measured, the monolith's, as a horizontal bar chart; then the
/// comparison, or how to get one.
fn cost_chart(out: &mut String, s: &Summary) {
    const WIDTH: u64 = 760;
    const LABEL: u64 = 200;
    const BAR: f64 = 400.0;
    const ROW: u64 = 26;
    const GAP: u64 = 10;
    let mut nodes: Vec<(&String, u64)> =
        s.nodes.iter().map(|(n, st)| (n, st.model.cost.0)).collect();
    nodes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut bars: Vec<Bar> = nodes
        .into_iter()
        .map(|(name, pusd)| Bar {
            kind: "node",
            name: name.clone(),
            label: name.clone(),
            pusd,
        })
        .collect();
    let node_rows = bars.len() as u64;
    bars.push(Bar {
        kind: "total",
        name: s.pipeline.clone(),
        label: "pipeline total".into(),
        pusd: s.cost_pusd,
    });
    if let Some(b) = &s.baseline {
        bars.push(Bar {
            kind: "baseline",
            name: b.model.clone(),
            label: format!("monolith: {}", b.model),
            pusd: b.totals.cost.0,
        });
    }
    let max = bars.iter().map(|b| b.pusd).max().unwrap_or(0);
    let height = 8 + ROW * bars.len() as u64 + GAP + 4;
    out.push_str("<section id=\"report-cost\">\n<h2>Cost</h2>\n");
    w!(
        out,
        "<svg class=\"chart\" id=\"cost-chart\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" \
         height=\"{height}\" role=\"img\" aria-labelledby=\"cost-chart-title\">\
         <title id=\"cost-chart-title\">Cost per node, the pipeline's total{}</title>\n",
        if s.baseline.is_some() {
            " and the monolith baseline"
        } else {
            ""
        }
    );
    for (i, bar) in bars.iter().enumerate() {
        let i = i as u64;
        let y = 8 + ROW * i + if i >= node_rows { GAP } else { 0 };
        let len = if max == 0 || bar.pusd == 0 {
            0.0
        } else {
            (bar.pusd as f64 / max as f64 * BAR).max(1.0)
        };
        let share = if bar.kind == "node" && s.cost_pusd > 0 {
            format!(" ({})", percent(bar.pusd, s.cost_pusd))
        } else {
            String::new()
        };
        let name = esc(&bar.name);
        w!(
            out,
            "<g class=\"bar {kind}\" data-bar=\"{kind}\" data-name=\"{name}\" data-value=\"{pusd}\">\
             <text class=\"bar-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>\
             <rect x=\"{LABEL}\" y=\"{}\" width=\"{len:.1}\" height=\"16\" rx=\"2\"/>\
             <text class=\"bar-value\" x=\"{:.1}\" y=\"{}\">{}{share}</text></g>\n",
            LABEL - 8,
            y + 13,
            esc(&bar.label),
            esc(&clip(&bar.label, LABEL_CHARS)),
            y + 2,
            LABEL as f64 + len + 6.0,
            y + 14,
            usd(bar.pusd),
            kind = bar.kind,
            pusd = bar.pusd,
        );
        if i + 1 == node_rows {
            w!(
                out,
                "<line class=\"rule\" x1=\"{LABEL}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>\n",
                WIDTH - 20,
                y + ROW + GAP / 2 - 2,
                y + ROW + GAP / 2 - 2
            );
        }
    }
    out.push_str("</svg>\n");
    match &s.baseline {
        Some(b) => {
            let (ours, theirs) = (s.cost_pusd, b.totals.cost.0);
            let compared = match ratio(ours, theirs) {
                Some((r, shown)) => {
                    let saved = 100.0 * (1.0 - r);
                    format!(
                        "<span data-ratio=\"{r}\">{shown}</span> ({:.1}% {})",
                        saved.abs(),
                        if saved >= 0.0 { "saved" } else { "more" }
                    )
                }
                None => "no ratio: the monolith cost nothing".into(),
            };
            w!(
                out,
                "<p class=\"ratio\" id=\"cost-ratio\">orchestrated {} vs monolith {} on \
                 <code>{}</code>: {compared}</p>\n<p class=\"note\">The monolith baseline: every \
                 input also sent straight to one model as one prompt (the manifest's \
                 <code>[baseline]</code>), {} calls, {} tokens.</p>\n",
                usd(ours),
                usd(theirs),
                esc(&b.model),
                b.totals.calls,
                b.totals.input_tokens + b.totals.output_tokens
            );
        }
        None => out.push_str(
            "<p class=\"note\" id=\"baseline-hint\">No monolith baseline was measured. To compare \
             this pipeline's cost with sending every input straight to one model, run again with \
             <code>--baseline-model MODEL</code> (a model of the manifest; the prompt is its \
             <code>[baseline]</code> table).</p>\n",
        ),
    }
    out.push_str("</section>\n");
}

/// One cell of the node table: the exact value and what is shown.
fn cell(out: &mut String, field: &str, value: impl std::fmt::Display, shown: &str) {
    w!(
        out,
        "<td data-field=\"{field}\" data-value=\"{value}\">{shown}</td>"
    );
}

/// A count's cell.
fn count(out: &mut String, field: &str, n: u64) {
    cell(out, field, n, &n.to_string());
}

/// The model-call cells of a row: calls, tokens in and out, exact cost.
fn model_cells(out: &mut String, t: &Totals) {
    count(out, "calls", t.calls);
    count(out, "input_tokens", t.input_tokens);
    count(out, "output_tokens", t.output_tokens);
    cell(out, "cost_pusd", t.cost.0, &usd(t.cost.0));
}

/// Per node: the figures of the summary.
fn node_table(out: &mut String, s: &Summary) {
    out.push_str(
        "<section id=\"report-nodes\">\n<h2>Nodes</h2>\n<div class=\"scroll\"><table class=\"nodes\">\n\
         <thead><tr><th>node</th><th class=\"l\">role</th><th>invocations</th><th>failed</th><th>p50 ms</th>\
         <th>p95 ms</th><th>model calls</th><th>tokens in</th><th>tokens out</th><th>cost</th>\
         <th class=\"l\">routes, verdicts, on-reject</th></tr></thead>\n<tbody>\n",
    );
    for (name, n) in &s.nodes {
        let node = esc(name);
        w!(
            out,
            "<tr data-node=\"{node}\"><th scope=\"row\">{node}</th><td data-field=\"role\" class=\"l\">{}</td>",
            esc(&n.role)
        );
        count(out, "invocations", n.invocations);
        count(out, "errors", n.errors);
        cell(out, "p50_ms", n.p50_ms, &format!("{:.1}", n.p50_ms));
        cell(out, "p95_ms", n.p95_ms, &format!("{:.1}", n.p95_ms));
        model_cells(out, &n.model);
        let notes: Vec<String> = [&n.routes, &n.verdicts, &n.policy]
            .into_iter()
            .flat_map(|map| map.iter().map(|(k, v)| format!("{} {v}", esc(k))))
            .collect();
        w!(
            out,
            "<td class=\"l\" data-field=\"notes\">{}</td></tr>\n",
            if notes.is_empty() {
                "\u{2013}".into()
            } else {
                notes.join(" · ")
            }
        );
    }
    if s.nodes.is_empty() {
        out.push_str("<tr><td colspan=\"11\">no node ran</td></tr>\n");
    }
    w!(
        out,
        "</tbody>\n<tfoot><tr data-row=\"total\"><th scope=\"row\">total</th><td></td>"
    );
    let invocations: u64 = s.nodes.values().map(|n| n.invocations).sum();
    let errors: u64 = s.nodes.values().map(|n| n.errors).sum();
    count(out, "invocations", invocations);
    count(out, "errors", errors);
    out.push_str("<td></td><td></td>");
    model_cells(out, &s.totals);
    out.push_str(
        "<td></td></tr></tfoot>\n</table></div>\n<p class=\"note\">Invocations count retries; \
         failed: invocations that ended in an error. Model calls, tokens and cost: the node's own \
         calls, every attempt priced.</p>\n</section>\n",
    );
}

/// The page's styles. The inlined graph brings its own `<style>`, which
/// applies to the whole page: none of its class names (`title`, `name`,
/// `detail`, `figure`, `shape`, `edge`, `label`, the node kinds) is used
/// here, and the chart's texts are styled by more specific rules.
const STYLE: &str = r#"
:root { --ink: #1c2229; --muted: #5c6670; --rule: #e2e5e9; --bg: #f5f6f8; --accent: #2f6bd8; --mono: #c05621; --ok: #137333; --fail: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header, main, footer { max-width: 1280px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 18px; }
h1 { font-size: 21px; margin: 0 0 2px; overflow-wrap: anywhere; }
h2 { font-size: 15px; margin: 0 0 8px; }
.sub { color: var(--muted); margin: 0 0 14px; }
section { background: #fff; border: 1px solid var(--rule); border-radius: 8px; padding: 12px 16px; margin: 0 0 14px; }
.banner { background: #fdecea; border: 2px solid var(--fail); color: var(--fail); border-radius: 8px; padding: 10px 16px; margin: 0 0 14px; font-size: 15px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; background: none; border: 0; padding: 0; }
.card { background: #fff; border: 1px solid var(--rule); border-radius: 8px; padding: 9px 14px; }
.card .k { color: var(--muted); font-size: 11px; letter-spacing: .05em; text-transform: uppercase; }
.card .v { font-size: 20px; font-weight: 650; overflow-wrap: anywhere; }
#card-errors .v { font-size: 15px; }
.card .n { color: var(--muted); font-size: 12px; }
.good { color: var(--ok); }
.bad, .incomplete { color: var(--fail); }
.complete { color: var(--ok); }
.scroll { overflow-x: auto; }
.ratio { font-size: 16px; font-weight: 600; margin: 10px 0 0; }
.note { color: var(--muted); font-size: 12px; margin: 8px 0 0; }
#report-graph svg, svg.chart { display: block; max-width: 100%; height: auto; }
svg.chart text { font-family: inherit; font-size: 12px; fill: var(--ink); }
svg.chart text.bar-value { fill: var(--muted); font-size: 11px; }
svg.chart .bar.node rect { fill: var(--accent); }
svg.chart .bar.total rect { fill: var(--ink); }
svg.chart .bar.baseline rect { fill: var(--mono); }
svg.chart .bar.total text.bar-label, svg.chart .bar.baseline text.bar-label { font-weight: 600; }
svg.chart .rule { stroke: var(--rule); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--rule); text-align: right; white-space: nowrap; }
th:first-child, .l { text-align: left; }
thead th { color: var(--muted); font-size: 12px; font-weight: 600; vertical-align: bottom; }
tbody th, tfoot th { font-weight: 600; }
tfoot td, tfoot th { border-top: 2px solid var(--rule); font-weight: 600; }
td[data-field="notes"] { white-space: normal; color: var(--muted); }
code { font-size: 12px; background: #eef0f3; padding: 0 4px; border-radius: 3px; }
footer { color: var(--muted); font-size: 12px; padding-bottom: 24px; }
"#;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::batch::summary::Baseline;
    use crate::batch::RecordView;
    use crate::graph::Node;
    use crate::spec::Cost;

    const HOSTILE: &str = "<script>alert('x')</script>";

    /// A record in which a router routes to `branch`, `HOSTILE` (a worker)
    /// answers with one model call, and a judge gives `verdict`.
    fn record(id: &str, branch: &str, verdict: &str, cost: u64) -> RecordView<'static> {
        serde_json::from_value(json!({
            "id": id,
            "ok": verdict != "reject",
            "error": if verdict == "reject" { json!({"kind": "rejected"}) } else { json!(null) },
            "trace": [
                {"node": "triage", "role": "router", "elapsed_us": 300, "outcome": "ok",
                 "route": {"target": branch}},
                {"node": HOSTILE, "role": "worker", "elapsed_us": 12_000, "outcome": "ok"},
                {"node": "judge", "role": "judge", "elapsed_us": 900, "outcome": "ok",
                 "verdict": {"verdict": verdict}},
            ],
            "events": if verdict == "reject" { json!([{"node": HOSTILE, "action": "retry"}]) } else { json!([]) },
            "ledger": [{"node": HOSTILE, "outcome": "ok", "input_tokens": 100,
                        "output_tokens": 20, "cost_pusd": cost}],
        }))
        .unwrap()
    }

    fn summary() -> Summary {
        let mut s = Summary::new("desk <&> \"one\"");
        s.add_record(&record("a", "billing", "accept", 1_500_000));
        s.add_record(&record("b", "billing", "accept", 2_000_000));
        s.add_record(&record("c", "<b>tech</b>", "reject", 31_250_000_000));
        s.finish(Duration::from_millis(1500));
        s
    }

    fn node(id: &str, name: &str, kind: NodeKind) -> Node {
        Node {
            id: id.into(),
            name: name.into(),
            kind,
            details: Vec::new(),
            figures: Vec::new(),
        }
    }

    fn graph() -> Graph {
        Graph {
            title: "desk <&> \"one\"".into(),
            description: None,
            nodes: vec![
                node("input", "input", NodeKind::Input),
                node("n_triage", "triage", NodeKind::Router),
                node("n_w", HOSTILE, NodeKind::Worker),
                node("n_judge", "judge", NodeKind::Judge),
                node("n_idle", "idle", NodeKind::Standby),
                node("output", "output", NodeKind::Output),
            ],
            edges: Vec::new(),
        }
    }

    #[test]
    fn report_escapes_hostile_node_names() {
        let page = render(&summary(), graph(), Some(3));
        assert!(!page.contains(HOSTILE), "raw name in the page");
        assert!(!page.contains("<b>tech"), "raw branch label in the page");
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;";
        assert!(
            page.contains(&format!("<tr data-node=\"{escaped}\">")),
            "{page}"
        );
        assert!(page.contains(&format!("data-name=\"{escaped}\"")));
        // The graph's own escaping, for the node group.
        assert!(page.contains("data-node=\"&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;\""));
        assert!(page.contains("<title>desk &lt;&amp;&gt; &quot;one&quot;: batch report</title>"));
        assert!(page.contains("&lt;b&gt;tech&lt;/b&gt; 1"), "{page}");
        // No script at all: only the text of the escaped name.
        assert_eq!(page.matches("<script").count(), 0);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(page, render(&summary(), graph(), Some(3)), "deterministic");
        for external in ["https://", " src=", " href=", "@import"] {
            assert!(!page.contains(external), "{external}");
        }
        // The only http:// is the SVG namespace, the only url() a marker.
        assert_eq!(
            page.matches("http://").count(),
            page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        assert_eq!(page.matches("url(").count(), page.matches("url(#").count());
    }

    #[test]
    fn report_draws_each_nodes_figures_in_short_lines() {
        let s = summary();
        let mut g = graph();
        add_figures(&mut g, &s);
        let figures = |name: &str| &g.nodes.iter().find(|n| n.name == name).unwrap().figures;
        assert_eq!(
            figures("triage"),
            &[
                "3 invocations · 0 failed",
                "p50 0.3 ms · p95 0.3 ms",
                "no model calls",
                "<b>tech</b> 33% · billing 67%"
            ]
        );
        assert_eq!(
            figures(HOSTILE)[2..],
            ["3 calls · 360 tokens", "cost $0.0312535", "retry 1"]
        );
        assert_eq!(
            figures("judge")[3..],
            ["accept 2 · reject 1", "rejects 33%"]
        );
        assert_eq!(figures("idle"), &["not invoked"]);
        for n in &g.nodes {
            for line in &n.figures {
                assert!(line.chars().count() <= FIGURE_CHARS, "{line}");
            }
        }
        let many: Vec<String> = (0..9).map(|i| format!("branch-{i} 11%")).collect();
        let lines = wrap(&many);
        assert_eq!(lines[0], "branch-0 11% · branch-1 11%");
        assert!(lines.iter().all(|l| l.chars().count() <= FIGURE_CHARS));
        assert_eq!(wrap(&["x".repeat(60)])[0].chars().count(), FIGURE_CHARS);
    }

    #[test]
    fn report_charts_cost_against_the_baseline_or_says_how_to_get_one() {
        let s = summary();
        let page = render(&s, graph(), None);
        assert!(page.contains("id=\"baseline-hint\""));
        assert!(page.contains("--baseline-model MODEL"));
        assert!(!page.contains("data-bar=\"baseline\""));
        assert!(page.contains(&format!(
            "data-bar=\"total\" data-name=\"desk &lt;&amp;&gt; &quot;one&quot;\" data-value=\"{}\"",
            s.cost_pusd
        )));
        // Most expensive node first.
        let at = |needle: &str| page.find(needle).unwrap();
        assert!(
            at("data-bar=\"node\" data-name=\"&lt;script")
                < at("data-bar=\"node\" data-name=\"judge\"")
        );

        let mut with = s.clone();
        with.baseline = Some(Baseline {
            model: "frontier".into(),
            totals: Totals {
                calls: 3,
                input_tokens: 900,
                output_tokens: 300,
                cost: Cost(4 * s.cost_pusd),
                ..Totals::default()
            },
        });
        let page = render(&with, graph(), None);
        assert!(!page.contains("baseline-hint"));
        assert!(page.contains(&format!(
            "data-bar=\"baseline\" data-name=\"frontier\" data-value=\"{}\"",
            4 * s.cost_pusd
        )));
        assert!(page.contains(&format!(
            "orchestrated {} vs monolith {} on <code>frontier</code>: <span data-ratio=\"0.25\">0.25×</span> (75.0% saved)",
            usd(s.cost_pusd),
            usd(4 * s.cost_pusd)
        )), "{page}");
        assert_eq!(ratio(1, 1_000).unwrap().1, "0.0010×");
        assert!(ratio(1, 0).is_none());
    }

    #[test]
    fn report_of_an_incomplete_batch_says_how_far_it_got() {
        let mut s = summary();
        let page = render(&s, graph(), Some(3));
        assert!(!page.contains("id=\"incomplete\""));
        assert!(page.contains("data-complete=\"true\""));
        s.complete = false;
        let page = render(&s, graph(), Some(10));
        assert!(page.contains("id=\"incomplete\""));
        assert!(page.contains("stopped after 3 of 10 records"), "{page}");
        assert!(page.contains("data-complete=\"false\""));
        assert!(render(&s, graph(), None).contains("stopped after 3 records."));
    }

    #[test]
    fn report_shows_costs_exactly() {
        assert_eq!(usd(0), "$0.000000");
        assert_eq!(usd(31_250_000_000), "$0.031250");
        assert_eq!(usd(1_500_000), "$0.0000015");
        assert_eq!(usd(2_000_000_000_001), "$2.000000000001");
    }

    #[test]
    fn report_write_replaces_the_file_whole_and_names_it_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.html");
        std::fs::write(&path, "old").unwrap();
        write(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/r.html");
        let e = write(&missing, "x").unwrap_err().to_string();
        assert!(
            e.contains(&missing.display().to_string()) && e.contains("--report"),
            "{e}"
        );
    }
}
