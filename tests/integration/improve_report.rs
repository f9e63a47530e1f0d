//! The comparison's HTML report, loaded in a real headless Chromium: 20
//! support-triage tickets recorded through the `switchyard` binary on a
//! variant with no fixed fallback reply (so a draft the factuality judge
//! keeps rejecting fails its run), replayed with that judge swapped for the
//! `judge_scripted` fixture (accepts every draft), and `compare --html`
//! written and rendered: no console message and no request leaving the
//! machine, the page's script ran, every node and flipped run is on the
//! page, and every figure shown is the one `--json` gives. Also the browser
//! helper itself (`tests/support/browser.rs`) on a page that logs, throws
//! and fetches.
//!
//! `SWITCHYARD_SCREENSHOTS=1 cargo test -p switchyard-tests --test
//! integration -- improve_report` also writes the report's screenshot to
//! `docs/img/compare-report.png` (shown in docs/improve.md).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use switchyard_tests::browser::{console_messages, Element, Page, Visit};
use switchyard_tests::{fixture, root, switchyard_bin, tickets};

/// Runs the binary in `dir`; its stdout.
fn sy(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(switchyard_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "switchyard {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The support-triage flow with components by absolute path and without
/// the fixed fallback reply of its `on-reject` policies.
fn no_fallback_flow() -> String {
    let text = std::fs::read_to_string(root().join("examples/support-triage/pipeline.toml"))
        .unwrap()
        .replace(
            "\"../../plugins/",
            &format!("\"{}/plugins/", root().display()),
        );
    let flow = &text[..text.find("\n[chat]").unwrap()];
    flow.lines()
        .map(|line| match line.find(", fallback = {") {
            Some(i) if line.starts_with("on-reject") => {
                let end = i + line[i..].find('}').unwrap() + 1;
                format!("{}{}", &line[..i], &line[end..])
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn usd(pusd: u64) -> String {
    format!("${:.6}", pusd as f64 / 1e12)
}

fn share(v: u64, of: u64) -> String {
    if of == 0 {
        format!("{v}/{of}")
    } else {
        format!("{v}/{of} ({:.1}%)", v as f64 * 100.0 / of as f64)
    }
}

/// A judge's pass rate from its verdicts in the JSON.
fn pass_rate(f: &Value) -> Option<f64> {
    let v = f["verdicts"].as_object()?;
    let all: u64 = v.values().map(|n| n.as_u64().unwrap()).sum();
    let pass = ["accept", "repair"]
        .iter()
        .map(|k| v.get(*k).and_then(Value::as_u64).unwrap_or(0))
        .sum::<u64>();
    (all > 0).then(|| pass as f64 / all as f64)
}

/// The weakest node of one side by the report's rule, from the JSON: the
/// lowest of (pass rate, share not failed) below 1, first by name.
fn weakest(cmp: &Value, side: &str) -> Option<String> {
    let mut low: Option<(String, f64)> = None;
    for (name, n) in cmp["nodes"].as_object().unwrap() {
        let f = &n[side];
        let calls = f["invocations"].as_u64().unwrap();
        if calls == 0 {
            continue;
        }
        let ok = (calls - f["failed"].as_u64().unwrap()) as f64 / calls as f64;
        let score = pass_rate(f).map_or(ok, |p| p.min(ok));
        if score < 1.0 && low.as_ref().is_none_or(|(_, l)| score < *l) {
            low = Some((name.clone(), score));
        }
    }
    low.map(|(n, _)| n)
}

/// The `<td>` cells of a row, by `data-side` (or `data-field` and side).
fn cells(row: &Element) -> BTreeMap<String, Element> {
    row.elements("data-value")
        .into_iter()
        .map(|c| {
            let key = [c.attr("data-field"), c.attr("data-side")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(".");
            (key, c)
        })
        .collect()
}

fn row<'a>(rows: &'a [Element], attr: &str, value: &str) -> &'a Element {
    let found: Vec<&Element> = rows
        .iter()
        .filter(|r| r.tag == "tr" && r.attr(attr) == Some(value))
        .collect();
    assert_eq!(found.len(), 1, "one row with {attr}={value}");
    found[0]
}

/// Checks every figure the page shows against the comparison's JSON.
fn assert_figures_match(page: &Page, cmp: &Value) {
    let metrics = page.elements("data-metric");
    let (b, c) = (&cmp["baseline"], &cmp["candidate"]);
    let shown = |key: &str, f: &Value| -> String {
        let n = |k: &str| f[k].as_u64().unwrap();
        match key {
            "ok" => share(n("ok"), n("runs")),
            "cost_pusd" => usd(n("cost_pusd")),
            "p50_ms" | "p95_ms" => format!("{:.1}", f[key].as_f64().unwrap()),
            "routed_right" => share(n("routed_right"), n("routed_labelled")),
            _ => n(key).to_string(),
        }
    };
    let keys = [
        "ok",
        "cost_pusd",
        "input_tokens",
        "output_tokens",
        "model_calls",
        "p50_ms",
        "p95_ms",
        "retries",
        "escalations",
        "fallbacks",
        "routed_right",
    ];
    for key in keys {
        let tds = cells(row(&metrics, "data-metric", key));
        for (side, f) in [("baseline", b), ("candidate", c)] {
            let td = &tds[side];
            let value: f64 = td.attr("data-value").unwrap().parse().unwrap();
            assert_eq!(value, f[key].as_f64().unwrap(), "{key} {side}");
            assert_eq!(td.text(), shown(key, f), "{key} {side}");
        }
    }
    let changed = cells(row(&metrics, "data-metric", "outputs_changed"));
    let td = &changed["candidate"];
    assert_eq!(
        td.attr("data-value"),
        Some(cmp["outputs_changed"].to_string().as_str())
    );
    assert_eq!(
        td.attr("data-of"),
        Some(cmp["matched"].to_string().as_str())
    );

    let rows = page.elements("data-node");
    let nodes = cmp["nodes"].as_object().unwrap();
    for (name, n) in nodes {
        let tds = cells(row(&rows, "data-node", name));
        for side in ["baseline", "candidate"] {
            let f = &n[side];
            for field in ["invocations", "failed", "cost_pusd", "tokens"] {
                let td = &tds[&format!("{field}.{side}")];
                assert_eq!(
                    td.attr("data-value"),
                    Some(f[field].to_string().as_str()),
                    "{name} {field} {side}"
                );
                let want = if field == "cost_pusd" {
                    usd(f[field].as_u64().unwrap())
                } else {
                    f[field].to_string()
                };
                assert_eq!(td.text(), want, "{name} {field} {side}");
            }
            let td = &tds[&format!("pass_rate.{side}")];
            match pass_rate(f) {
                Some(r) => {
                    let v: f64 = td.attr("data-value").unwrap().parse().unwrap();
                    assert!((v - r).abs() < 1e-12, "{name} pass rate {side}");
                    assert_eq!(td.text(), format!("{:.1}%", r * 100.0));
                }
                None => assert_eq!(td.attr("data-value"), Some("")),
            }
            // The most frequent rejection reason, with its count.
            let reasons = f["reasons"].as_object().unwrap();
            if let Some((text, count)) = reasons
                .iter()
                .max_by(|x, y| x.1.as_u64().cmp(&y.1.as_u64()).then(y.0.cmp(x.0)))
            {
                let tr = row(&rows, "data-node", name);
                let items = tr.elements("data-count");
                assert!(
                    items
                        .iter()
                        .any(|li| li.attr("title") == Some(text.as_str())
                            && li.attr("data-count") == Some(count.to_string().as_str())),
                    "{name}: reason {text:?} ×{count} not shown"
                );
            }
        }
        assert_eq!(
            tds["answers_changed"].attr("data-value"),
            Some(n["answers_changed"].to_string().as_str())
        );
        // Both bar charts have the node, at the JSON's values.
        let bars: Vec<Element> = page
            .elements("data-node")
            .into_iter()
            .filter(|g| g.tag == "g" && g.attr("data-node") == Some(name.as_str()))
            .collect();
        assert_eq!(bars.len(), 2, "{name}: one group per chart");
        for (g, field) in bars.iter().zip(["cost_pusd", "tokens"]) {
            for rect in g.elements("data-side") {
                let side = rect.attr("data-side").unwrap();
                assert_eq!(
                    rect.attr("data-value"),
                    Some(n[side][field].to_string().as_str()),
                    "{name} {field} bar {side}"
                );
            }
        }
    }
}

/// The highlighted weakest nodes (candidate, baseline) on the page.
fn marked_weakest(page: &Page) -> (Option<String>, Option<String>) {
    let rows = page.elements("data-node");
    let now = rows
        .iter()
        .find(|r| r.attr("data-weakest") == Some("candidate"))
        .and_then(|r| r.attr("data-node").map(str::to_string));
    let was = rows
        .iter()
        .find(|r| r.tag == "tr" && !r.elements("data-weakest-baseline").is_empty())
        .and_then(|r| r.attr("data-node").map(str::to_string));
    (now, was)
}

#[test]
fn improve_report_shows_the_comparison_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.jsonl"), tickets(20)).unwrap();
    std::fs::write(d.join("pipeline.toml"), no_fallback_flow()).unwrap();
    let judge = format!("factuality={}", fixture("judge_scripted").display());
    sy(
        d,
        &[
            "run",
            "pipeline.toml",
            "-i",
            "in.jsonl",
            "-o",
            "out.jsonl",
            "--record",
            "base.jsonl",
        ],
    );
    sy(
        d,
        &[
            "replay",
            "base.jsonl",
            "--manifest",
            "pipeline.toml",
            "--swap",
            &judge,
            "--unrecorded",
            "fail",
            "--output",
            "cand.jsonl",
            "--html",
            "replay.html",
        ],
    );
    sy(
        d,
        &[
            "compare",
            "base.jsonl",
            "cand.jsonl",
            "--json",
            "cmp.json",
            "--html",
            "report.html",
        ],
    );
    let cmp: Value = serde_json::from_slice(&std::fs::read(d.join("cmp.json")).unwrap()).unwrap();
    let flips: Vec<&str> = cmp["flips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        !flips.is_empty(),
        "a run the old judge failed passes: {cmp}"
    );
    assert!(cmp["outputs_changed"].as_u64().unwrap() > 0);

    // The replay's report is the comparison's, but for the title.
    let main = |f: &str| {
        let page = std::fs::read_to_string(d.join(f)).unwrap();
        let at = page.find("<main>").unwrap();
        page[at..].to_string()
    };
    assert_eq!(main("replay.html"), main("report.html"));
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    for external in ["http://", "https://", " src=", " href=", "url("] {
        assert!(!html.contains(external), "the report links {external}");
    }

    let mut visit = Visit::file(&d.join("report.html"));
    let shot = std::env::var_os("SWITCHYARD_SCREENSHOTS").map(|_| {
        let dir = root().join("docs/img");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("compare-report.png")
    });
    if let Some(path) = &shot {
        visit = visit.screenshot(path).window(1280, 1330);
    }
    let page = visit.run().unwrap();
    eprintln!("chromium rendered the report in {:?}", page.elapsed);
    page.assert_quiet();
    assert_eq!(
        page.elements("data-sortable")
            .iter()
            .map(|t| t.attr("data-sortable").unwrap())
            .collect::<Vec<_>>(),
        ["ready"],
        "the page's script ran"
    );
    let text = page.text();
    assert!(
        text.contains("support-triage: base.jsonl vs cand.jsonl"),
        "{text}"
    );
    for node in cmp["nodes"].as_object().unwrap().keys() {
        assert!(text.contains(node.as_str()), "node {node} missing");
    }
    for id in &flips {
        assert!(text.contains(id), "flipped run {id} missing");
        assert_eq!(
            page.element("data-flip", id).text().split(' ').next(),
            Some(*id)
        );
    }
    assert_figures_match(&page, &cmp);
    assert_eq!(
        marked_weakest(&page),
        (weakest(&cmp, "candidate"), weakest(&cmp, "baseline"))
    );
    assert_eq!(weakest(&cmp, "baseline").as_deref(), Some("factuality"));
    if let Some(path) = &shot {
        let size = std::fs::metadata(path).unwrap().len();
        assert!(size < 300 * 1024, "{} is {size} bytes", path.display());
    }

    // The other way round, the strict judge is the candidate's weakest node.
    sy(
        d,
        &[
            "compare",
            "cand.jsonl",
            "base.jsonl",
            "--json",
            "rev.json",
            "--html",
            "rev.html",
        ],
    );
    let rev: Value = serde_json::from_slice(&std::fs::read(d.join("rev.json")).unwrap()).unwrap();
    let page = Visit::file(&d.join("rev.html")).run().unwrap();
    page.assert_quiet();
    assert_figures_match(&page, &rev);
    assert_eq!(marked_weakest(&page), (Some("factuality".into()), None));
    assert!(rev["flips"][0]["direction"] == "pass→fail");
}

#[test]
fn improve_report_html_flag_names_the_file_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.jsonl"), tickets(2)).unwrap();
    std::fs::write(d.join("pipeline.toml"), no_fallback_flow()).unwrap();
    sy(
        d,
        &[
            "run",
            "pipeline.toml",
            "-i",
            "in.jsonl",
            "-o",
            "out.jsonl",
            "--record",
            "base.jsonl",
        ],
    );
    let out = Command::new(switchyard_bin())
        .args([
            "compare",
            "base.jsonl",
            "base.jsonl",
            "--html",
            "no/such/dir/r.html",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no/such/dir/r.html"), "{stderr}");
    // An existing report is replaced whole, and no temporary file is left.
    std::fs::write(d.join("r.html"), "old").unwrap();
    sy(
        d,
        &["compare", "base.jsonl", "base.jsonl", "--html", "r.html"],
    );
    assert!(std::fs::read_to_string(d.join("r.html"))
        .unwrap()
        .contains("No run flipped"));
    let names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("r.html"))
        .collect();
    assert_eq!(names, ["r.html"]);
}

#[test]
fn improve_report_browser_helper_sees_what_the_page_logged_and_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad page.html");
    std::fs::write(
        &page,
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body>
<p id="x" data-probe="1">before &amp; after</p>
<script>
console.log("plain log");
console.error("deliberate console error");
console.warn("two\nlines");
document.getElementById("x").textContent = "changed <by> script";
fetch("https://example.com/never").catch(function () {});
</script>
<script>throw new Error("deliberate thrown error");</script>
</body></html>"#,
    )
    .unwrap();
    let page = Visit::file(&page).run().unwrap();
    let texts: Vec<&str> = page.console.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "plain log",
            "deliberate console error",
            "two\nlines",
            "Uncaught Error: deliberate thrown error"
        ],
        "{}",
        page.stderr
    );
    assert!(page.console[1].source.ends_with("bad%20page.html"));
    assert_eq!(page.console[1].line, 5);
    let errors: Vec<&str> = page.errors().iter().map(|m| m.text.as_str()).collect();
    assert_eq!(errors, ["Uncaught Error: deliberate thrown error"]);
    assert_eq!(page.external_requests(), ["https://example.com/never"]);
    assert_eq!(
        page.noise().len(),
        5,
        "four messages and one request: {:?}",
        page.noise()
    );
    // The DOM is the rendered one, entities decoded in text.
    assert_eq!(
        page.element("data-probe", "1").text(),
        "changed <by> script"
    );
    assert_eq!(page.element("id", "x").attr("data-probe"), Some("1"));
}

#[test]
fn improve_report_console_lines_of_old_and_new_chromium_are_parsed() {
    let stderr = "\
/usr/bin/chromium: 9: [: 1: unexpected operator
[1:2:1201/205928.360232:ERROR:dbus/bus.cc:405] Failed to connect to the bus
[1:1:1201/205929.231609:INFO:CONSOLE:6] \"deliberate console error\", source: file:///tmp/e.html (6)
[1:1:1201/205929.231700:INFO:CONSOLE:7] \"multi
line (with parens)\", source: file:///tmp/e.html (7)
[1:1:1201/205929.231800:INFO:CONSOLE(12)] \"Uncaught (in promise) Error: x\", source: http://127.0.0.1:1/a.js (12)
";
    let m = console_messages(stderr);
    assert_eq!(m.len(), 3, "{m:#?}");
    assert_eq!(m[0].text, "deliberate console error");
    assert_eq!((m[0].source.as_str(), m[0].line), ("file:///tmp/e.html", 6));
    assert_eq!(m[1].text, "multi\nline (with parens)");
    assert!(m[2].is_uncaught() && !m[0].is_uncaught());
    assert_eq!(
        (m[2].source.as_str(), m[2].line),
        ("http://127.0.0.1:1/a.js", 12)
    );
}
