//! `switchyard run --report FILE.html` as users run it: the real binary on
//! the support-triage example with `--summary-json` and `--baseline-model
//! frontier`, the report loaded in a real headless Chromium: no console
//! message and no request leaving the machine, every node of the summary
//! drawn in the graph (its figures under it) and listed in the table, every
//! figure shown the summary JSON's, the monolith's bar and the cost ratio
//! there. Without a baseline the report says how to get one; a batch
//! stopped by SIGINT still gets its report, marked incomplete; a `--report`
//! that cannot be written is refused before anything runs.
//!
//! `SWITCHYARD_SCREENSHOTS=1 cargo test -p switchyard-tests --test
//! integration -- batch_report` also writes the report's screenshot to
//! `docs/img/batch-report.png` (shown in docs/graph.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_tests::browser::{Element, Page, Visit};
use switchyard_tests::{root, switchyard_bin, tickets};

fn example() -> PathBuf {
    root().join("examples/support-triage/pipeline.toml")
}

/// `switchyard run` on the example in `dir` with `args`; its stderr.
fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(switchyard_bin())
        .arg("run")
        .arg(example())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "switchyard run {args:?}: {stderr}");
    stderr
}

/// Exact USD as the report shows it: at least six decimals, more when the
/// amount has them.
fn usd(pusd: u64) -> String {
    let digits = format!("{:012}", pusd % 1_000_000_000_000);
    let keep = digits.trim_end_matches('0').len().max(6);
    format!("${}.{}", pusd / 1_000_000_000_000, &digits[..keep])
}

/// Panics if the page refers to anything outside itself. The inline SVGs
/// name their namespace and point their arrowheads at markers in the page.
fn assert_self_contained(html: &str) {
    let html = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for external in ["http://", "https://", " src=", " href=", "@import", "<link"] {
        assert!(!html.contains(external), "the report refers to {external}");
    }
    assert_eq!(
        html.matches("url(").count(),
        html.matches("url(#").count(),
        "only markers of the page itself"
    );
}

/// The one element of `elements` with tag `tag` and `attr` = `value`.
fn one<'a>(elements: &'a [Element], tag: &str, attr: &str, value: &str) -> &'a Element {
    let found: Vec<&Element> = elements
        .iter()
        .filter(|e| e.tag == tag && e.attr(attr) == Some(value))
        .collect();
    assert_eq!(found.len(), 1, "one <{tag} {attr}=\"{value}\">");
    found[0]
}

/// The cell `data-field=field` of a table row.
fn field(row: &Element, name: &str) -> Element {
    let found: Vec<Element> = row
        .elements("data-field")
        .into_iter()
        .filter(|c| c.attr("data-field") == Some(name))
        .collect();
    assert_eq!(found.len(), 1, "one cell {name}");
    found.into_iter().next().unwrap()
}

/// A `Totals` cost from the summary JSON (USD) as picodollars, checked to
/// be what `pusd` gives.
fn assert_cost(json: &Value, pusd: &str, what: &str) -> u64 {
    let pusd: u64 = pusd.parse().unwrap();
    assert_eq!(pusd as f64 / 1e12, json.as_f64().unwrap(), "{what}");
    pusd
}

/// Checks every node of the summary against the graph, the chart and the
/// table of the page.
fn assert_nodes_match(page: &Page, summary: &Value) {
    let tagged = page.elements("data-node");
    let bars = page.elements("data-bar");
    let nodes = summary["nodes"].as_object().unwrap();
    assert!(nodes.len() >= 5, "{summary}");
    for (name, n) in nodes {
        let invocations = n["invocations"].as_u64().unwrap();
        let errors = n["errors"].as_u64().unwrap();

        // The graph: the node's group, its figures under it.
        let group = one(&tagged, "g", "data-node", name);
        let figures: Vec<String> = group
            .elements("data-figure")
            .iter()
            .map(Element::text)
            .collect();
        assert_eq!(
            figures.first().map(String::as_str),
            Some(format!("{invocations} invocations · {errors} failed").as_str()),
            "{name}: {figures:?}"
        );
        let calls = n["model"]["calls"].as_u64().unwrap();
        if calls > 0 {
            let tokens = n["model"]["input_tokens"].as_u64().unwrap()
                + n["model"]["output_tokens"].as_u64().unwrap();
            assert!(
                figures.contains(&format!("{calls} calls · {tokens} tokens")),
                "{name}: {figures:?}"
            );
        }
        for line in &figures {
            assert!(line.chars().count() <= 34, "{name}: {line:?} is long");
        }

        // The table: the row's cells, exact values and as shown.
        let row = one(&tagged, "tr", "data-node", name);
        for (key, want) in [
            ("invocations", invocations),
            ("errors", errors),
            ("calls", calls),
        ] {
            let cell = field(row, key);
            assert_eq!(
                cell.attr("data-value"),
                Some(want.to_string().as_str()),
                "{name} {key}"
            );
            assert_eq!(cell.text(), want.to_string(), "{name} {key}");
        }
        for key in ["input_tokens", "output_tokens"] {
            let cell = field(row, key);
            assert_eq!(
                cell.attr("data-value"),
                Some(n["model"][key].to_string().as_str()),
                "{name} {key}"
            );
        }
        let cost = field(row, "cost_pusd");
        let pusd = assert_cost(&n["model"]["cost"], cost.attr("data-value").unwrap(), name);
        assert_eq!(cost.text(), usd(pusd), "{name} cost");
        assert_eq!(field(row, "role").text(), n["role"].as_str().unwrap());

        // The chart: one bar, at the same cost.
        let bar = one(&bars, "g", "data-name", name);
        assert_eq!(bar.attr("data-bar"), Some("node"));
        assert_eq!(bar.attr("data-value"), Some(pusd.to_string().as_str()));
        assert!(bar.text().contains(&usd(pusd)), "{name}: {}", bar.text());
    }
    let rows = tagged.iter().filter(|e| e.tag == "tr").count();
    assert_eq!(rows, nodes.len(), "one row per node, no other");
}

#[test]
fn batch_report_shows_the_batch_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.jsonl"), tickets(24)).unwrap();
    let stderr = run(
        d,
        &[
            "-i",
            "in.jsonl",
            "-o",
            "out.jsonl",
            "--summary-json",
            "summary.json",
            "--report",
            "report.html",
            "--baseline-model",
            "frontier",
        ],
    );
    assert!(stderr.contains("report: report.html"), "{stderr}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["runs"], 24);
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert_self_contained(&html);
    assert!(!html.contains("<script"), "no script needed");
    let leftovers: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("report.html") && n != "report.html")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let mut visit = Visit::file(&d.join("report.html"));
    let shot = std::env::var_os("SWITCHYARD_SCREENSHOTS").map(|_| {
        let dir = root().join("docs/img");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("batch-report.png")
    });
    if let Some(path) = &shot {
        visit = visit.screenshot(path).window(1280, 1900);
    }
    let page = visit.run().unwrap();
    eprintln!("chromium rendered the report in {:?}", page.elapsed);
    page.assert_quiet();

    let text = page.text();
    assert!(text.contains("support-triage: batch report"), "{text}");
    assert!(
        text.contains(&format!(
            "{} records: {} ok",
            summary["runs"], summary["ok"]
        )),
        "{text}"
    );
    assert_nodes_match(&page, &summary);

    // The total, exact, on its card, in the chart and the table's foot.
    let total = summary["cost_pusd"].as_u64().unwrap();
    for attr in ["data-bar", "data-row"] {
        let el = page
            .elements(attr)
            .into_iter()
            .find(|e| e.attr(attr) == Some("total"))
            .unwrap();
        let value = match attr {
            "data-row" => field(&el, "cost_pusd")
                .attr("data-value")
                .unwrap()
                .to_string(),
            _ => el.attr("data-value").unwrap().to_string(),
        };
        assert_eq!(value, total.to_string(), "{attr}");
    }
    let card = page.element("id", "card-cost");
    assert!(card.text().contains(&usd(total)), "{}", card.text());
    assert_eq!(page.element("data-complete", "true").text(), "complete");
    assert!(page
        .elements("id")
        .iter()
        .all(|e| e.attr("id") != Some("incomplete")));

    // The monolith: its bar, and the ratio.
    let baseline = &summary["baseline"];
    assert_eq!(baseline["model"], "frontier");
    let bar = page.element("data-bar", "baseline");
    assert_eq!(bar.attr("data-name"), Some("frontier"));
    let theirs = assert_cost(
        &baseline["totals"]["cost"],
        bar.attr("data-value").unwrap(),
        "baseline",
    );
    assert!(theirs > 0);
    let ratio = page.element("id", "cost-ratio");
    assert!(
        ratio.text().starts_with(&format!(
            "orchestrated {} vs monolith {} on frontier: ",
            usd(total),
            usd(theirs)
        )),
        "{}",
        ratio.text()
    );
    let shown: f64 = ratio.elements("data-ratio")[0]
        .attr("data-ratio")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(shown, total as f64 / theirs as f64);
    assert!(
        ratio.text().contains(&format!("{shown:.2}×")),
        "{}",
        ratio.text()
    );
    assert!(!text.contains("No monolith baseline"));

    if let Some(path) = &shot {
        let size = std::fs::metadata(path).unwrap().len();
        assert!(size < 400 * 1024, "{} is {size} bytes", path.display());
    }
}

#[test]
fn batch_report_without_a_baseline_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.jsonl"), tickets(3)).unwrap();
    // An existing report is replaced whole.
    std::fs::write(d.join("r.html"), "old").unwrap();
    run(
        d,
        &["-i", "in.jsonl", "-o", "out.jsonl", "--report", "r.html"],
    );
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("id=\"baseline-hint\""), "{html}");
    assert!(html.contains("run again with <code>--baseline-model MODEL</code>"));
    assert!(!html.contains("data-bar=\"baseline\""));
    assert!(!html.contains("id=\"cost-ratio\""));
    assert!(html.contains("data-complete=\"true\""));
}

#[test]
fn batch_report_of_an_interrupted_batch_is_marked_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let all = tickets(usize::MAX);
    let lines = all.iter().filter(|&&b| b == b'\n').count();
    std::fs::write(d.join("in.jsonl"), &all).unwrap();
    let mut child = Command::new(switchyard_bin())
        .arg("run")
        .arg(example())
        .args([
            "-i",
            "in.jsonl",
            "-o",
            "out.jsonl",
            "--concurrency",
            "2",
            "--grace-ms",
            "0",
            "--summary-json",
            "summary.json",
            "--report",
            "report.html",
        ])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = d.join("out.jsonl.partial");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read(&partial).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) < 3 {
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        assert!(Instant::now() < deadline, "no records written");
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");

    let summary: Value =
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], false);
    let runs = summary["runs"].as_u64().unwrap();
    assert!(runs >= 3 && (runs as usize) < lines, "{runs} of {lines}");
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(html.contains("id=\"incomplete\""), "{html}");
    assert!(
        html.contains(&format!("stopped after {runs} of {lines} records")),
        "{html}"
    );
    assert!(html.contains("data-complete=\"false\""));
}

#[test]
fn batch_report_into_a_missing_directory_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.jsonl"), tickets(2)).unwrap();
    let missing = d.join("no/such/dir/report.html");
    // The manifest does not exist either: the check comes first.
    let out = Command::new(switchyard_bin())
        .arg("run")
        .arg(d.join("absent.toml"))
        .args(["-i", "in.jsonl", "-o", "out.jsonl", "--report"])
        .arg(&missing)
        .current_dir(d)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("--report {}: directory", missing.display()))
            && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!d.join("out.jsonl.partial").exists() && !d.join("out.jsonl").exists());
}
