//! `switchyard graph`: the Mermaid and DOT of both examples against golden
//! files, the SVG as standalone XML naming every node, the parts of a flow
//! every format must show (branch labels, judge edges, escalations,
//! standby nodes), names no format may choke on, and the command line
//! (format from the extension, `--load`, a bad manifest reported as
//! `validate` reports it with exit code 2, an unwritable `--output`).
//!
//! The golden files are `tests/golden/graph/<example>.mmd` and `.dot`.
//! After an intended change of the drawing, regenerate them with
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -j2 -p switchyard-tests --test integration -- graph
//! ```
//!
//! and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchyard::config::Manifest;
use switchyard::graph::{render, Format, Graph};
use switchyard_tests::{root, switchyard_bin};

const EXAMPLES: [&str; 2] = ["support-triage", "multilingual-desk"];

fn example_manifest(example: &str) -> Manifest {
    let path = root().join("examples").join(example).join("pipeline.toml");
    switchyard::config::load(&path).expect("the example manifest loads")
}

fn draw(manifest: &Manifest, format: Format) -> String {
    render(&Graph::of_manifest(manifest), format)
}

/// Compares `actual` with the golden file, or rewrites it under
/// `UPDATE_GOLDEN=1`.
fn assert_golden(name: &str, actual: &str) {
    let path = root().join("tests/golden/graph").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_GOLDEN=1 (see this module's doc)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the drawing; if the change is intended, regenerate with UPDATE_GOLDEN=1 and review the diff.\n--- golden\n{expected}\n--- drawn\n{actual}",
        path.display()
    );
}

#[test]
fn graph_mermaid_and_dot_of_the_examples_match_the_golden_files() {
    for example in EXAMPLES {
        let manifest = example_manifest(example);
        assert_golden(&format!("{example}.mmd"), &draw(&manifest, Format::Mermaid));
        assert_golden(&format!("{example}.dot"), &draw(&manifest, Format::Dot));
    }
}

#[test]
fn graph_docs_embed_the_current_mermaid_of_the_examples() {
    let docs = std::fs::read_to_string(root().join("docs/graph.md")).unwrap();
    for example in EXAMPLES {
        let readme =
            std::fs::read_to_string(root().join(format!("examples/{example}/README.md"))).unwrap();
        let mermaid = draw(&example_manifest(example), Format::Mermaid);
        let block = format!("```mermaid\n{mermaid}```");
        assert!(
            docs.contains(&block),
            "docs/graph.md embeds the Mermaid of {example} as drawn now; paste `switchyard graph examples/{example}/pipeline.toml` there"
        );
        assert!(
            readme.contains(&block),
            "examples/{example}/README.md embeds its Mermaid as drawn now"
        );
    }
}

/// Every text of an SVG document, in document order.
fn svg_texts(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect()
}

/// Parses an SVG and checks it is a standalone document.
fn assert_standalone_svg(svg: &str) {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("the SVG is not well-formed XML: {e}\n{svg}"));
    let top = doc.root_element();
    assert!(top.has_tag_name(("http://www.w3.org/2000/svg", "svg")));
    let view_box = top.attribute("viewBox").expect("a viewBox");
    assert_eq!(view_box.split(' ').count(), 4, "{view_box}");
    assert!(
        doc.descendants().any(|n| n.has_tag_name("style")),
        "an embedded <style>"
    );
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attribute in node.attributes() {
            assert!(
                !attribute.name().contains("href"),
                "no links out: {attribute:?}"
            );
            let value = attribute.value();
            if let Some(at) = value.find("url(") {
                assert!(
                    value[at..].starts_with("url(#"),
                    "only references inside the document: {value}"
                );
            }
        }
    }
}

#[test]
fn graph_svg_of_the_examples_is_standalone_xml_naming_every_node() {
    for example in EXAMPLES {
        let manifest = example_manifest(example);
        let svg = draw(&manifest, Format::Svg);
        assert_standalone_svg(&svg);
        assert_eq!(svg, draw(&manifest, Format::Svg), "deterministic");
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts = svg_texts(&doc);
        let names = manifest.nodes.keys().map(String::as_str);
        for name in names.chain(["input", "output"]) {
            assert!(
                texts.iter().any(|t| t == name),
                "{example}: node `{name}` is drawn: {texts:?}"
            );
        }
    }
}

/// A router with two branches, a judged worker escalating to a standby
/// worker and falling back, and a join; components need not exist.
const FLOW: &str = r#"
[pipeline]
name = "flow"

[models.small]
provider = "sim"

[models.frontier]
provider = "sim"

[nodes.route]
role = "router"
component = "plugins/router.wasm"
branches = { simple = "draft", complex = "research" }

[nodes.draft]
role = "worker"
component = "plugins/draft.wasm"
models = ["small"]
judges = ["guard", "facts"]
on-reject = { retries = 2, escalate = "backup", fallback = { reply = "sorry" } }

[nodes.research]
role = "worker"
component = "plugins/research.wasm"
models = ["small", "frontier"]

[nodes.merge]
role = "worker"
component = "plugins/merge.wasm"
after = ["draft", "research"]

[nodes.backup]
role = "worker"
component = "plugins/draft.wasm"
models = ["frontier"]

[nodes.guard]
role = "judge"
component = "plugins/guard.wasm"

[nodes.facts]
role = "judge"
component = "plugins/facts.wasm"
models = ["small"]
"#;

fn write_manifest(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn graph_draws_branches_judges_escalations_and_standby_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = switchyard::config::load(&write_manifest(dir.path(), FLOW)).unwrap();
    assert!(
        manifest.nodes["backup"].standby,
        "the fixture has a standby node"
    );

    let mermaid = draw(&manifest, Format::Mermaid);
    assert!(
        mermaid.starts_with("%% flow: drawn by switchyard graph\nflowchart LR\n"),
        "{mermaid}"
    );
    for expected in [
        r#"n_route -->|"simple"| n_draft"#,
        r#"n_route -->|"complex"| n_research"#,
        "n_draft --> n_merge",
        "n_research --> n_merge",
        r#"n_draft -.->|"judge 1"| n_guard"#,
        r#"n_draft -.->|"judge 2"| n_facts"#,
        r#"n_draft ==>|"escalate"| n_backup"#,
        r#"n_draft -.->|"fallback"| n_draft_fallback"#,
        "input --> n_route",
        "n_merge --> output",
        "class n_backup standby",
        "stroke-dasharray",
        "models: small, frontier",
        "worker · draft.wasm",
        "worker (standby) · draft.wasm",
        "on reject: 2 retries",
        "reply: sorry",
    ] {
        assert!(
            mermaid.contains(expected),
            "mermaid lacks `{expected}`:\n{mermaid}"
        );
    }
    assert!(!mermaid.contains("plugins/"), "file names, not paths");

    let dot = draw(&manifest, Format::Dot);
    assert!(
        dot.contains("digraph \"flow\" {") && dot.ends_with("}\n"),
        "{dot}"
    );
    for expected in [
        r#""n_route" -> "n_draft" [label="simple"];"#,
        r#""n_draft" -> "n_guard" [label="judge 1", style=dashed"#,
        r##""n_draft" -> "n_backup" [label="escalate", color="#c53030", penwidth=2];"##,
        r#""n_draft" -> "n_draft_fallback" [label="fallback", style=dotted"#,
        r#""n_backup" [label="backup\nworker (standby) · draft.wasm\nmodels: frontier", style="rounded,filled,dashed""#,
        r#""n_merge" -> "output";"#,
    ] {
        assert!(dot.contains(expected), "dot lacks `{expected}`:\n{dot}");
    }

    let svg = draw(&manifest, Format::Svg);
    assert_standalone_svg(&svg);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let class_of = |id: &str| {
        doc.descendants()
            .find(|n| n.attribute("id") == Some(id))
            .and_then(|n| n.attribute("class"))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(class_of("n_backup"), "node standby");
    assert_eq!(class_of("n_route"), "node router");
    assert_eq!(class_of("n_guard"), "node judge");
    let edge = |kind: &str, from: &str, to: &str| {
        doc.descendants().any(|n| {
            n.has_tag_name("path")
                && n.attribute("class") == Some(&format!("edge {kind}"))
                && n.attribute("data-from") == Some(from)
                && n.attribute("data-to") == Some(to)
        })
    };
    assert!(edge("branch", "n_route", "n_draft"));
    assert!(edge("judge", "n_draft", "n_guard"));
    assert!(edge("escalate", "n_draft", "n_backup"));
    assert!(edge("fallback", "n_draft", "n_draft_fallback"));
    assert!(edge("output", "n_merge", "output"));
    let texts = svg_texts(&doc);
    for label in [
        "simple", "complex", "judge 1", "judge 2", "escalate", "fallback",
    ] {
        assert!(
            texts.iter().any(|t| t == label),
            "label `{label}`: {texts:?}"
        );
    }
    assert!(svg.contains(".standby .shape {") && svg.contains("stroke-dasharray"));
}

#[test]
fn graph_draws_names_no_format_may_choke_on() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
[pipeline]
name = "odd <names> & \"quotes\""
description = "two\nlines"

[nodes.route]
role = "router"
component = "r.wasm"
branches = { "a|b \"q\" #x; <i>" = "end", "`tick`" = "w & <v>" }

[nodes.end]
role = "worker"
component = "dir/ünï code.wasm"
judges = ["g\"]\n<2>"]
on-reject = { fallback = "line\nbreak </text>" }

[nodes."w & <v>"]
role = "worker"
component = "w.wasm"

[nodes."g\"]\n<2>"]
role = "judge"
component = "j.wasm"
"#;
    let manifest = switchyard::config::load(&write_manifest(dir.path(), text)).unwrap();

    let svg = draw(&manifest, Format::Svg);
    assert_standalone_svg(&svg);
    let texts = svg_texts(&roxmltree::Document::parse(&svg).unwrap());
    for name in [
        "end",
        "w & <v>",
        r#"g"]\n<2>"#,
        r#"a|b "q" #x; <i>"#,
        "line\\nbreak </text>",
    ] {
        assert!(
            texts.iter().any(|t| t.contains(name)),
            "`{name}` in {texts:?}"
        );
    }

    let mermaid = draw(&manifest, Format::Mermaid);
    for line in mermaid.lines().filter(|l| !l.starts_with("%%")) {
        // Quotes only open and close labels; everything else is an entity.
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
        assert!(!line.replace("<br/>", "").contains('<'), "{line}");
    }
    assert!(
        mermaid.contains(r#"#quot;"#) && mermaid.contains("#124;"),
        "{mermaid}"
    );
    assert!(!mermaid.contains('\u{1b}'));

    let dot = draw(&manifest, Format::Dot);
    for line in dot.lines().filter(|l| !l.starts_with("//")) {
        let unescaped = line.replace("\\\\", "").replace("\\\"", "");
        assert_eq!(unescaped.matches('"').count() % 2, 0, "{line}");
    }
}

fn graph_command(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(switchyard_bin())
        .arg("graph")
        .args(args)
        .env("SWITCHYARD_CACHE_DIR", dir.join("cache"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn graph_cli_prints_mermaid_and_writes_the_format_the_extension_names() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), FLOW);
    let manifest = manifest.to_str().unwrap();
    let (code, stdout, stderr) = graph_command(&[manifest], dir.path());
    assert_eq!(code, 0, "{stderr}");
    let expected = draw(
        &switchyard::config::load(Path::new(manifest)).unwrap(),
        Format::Mermaid,
    );
    assert_eq!(stdout, expected, "mermaid on stdout by default");

    let svg = dir.path().join("flow.svg");
    let (code, stdout, stderr) =
        graph_command(&[manifest, "--output", svg.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_standalone_svg(&std::fs::read_to_string(&svg).unwrap());

    let (code, stdout, _) = graph_command(&[manifest, "--format", "dot"], dir.path());
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("// flow: drawn by switchyard graph\ndigraph"),
        "{stdout}"
    );
}

#[test]
fn graph_cli_load_shows_each_component_by_name_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = root().join("examples/support-triage/pipeline.toml");
    let (code, stdout, stderr) = graph_command(&[manifest.to_str().unwrap(), "--load"], dir.path());
    assert_eq!(code, 0, "{stderr}");
    for component in [
        "router · router-triage@",
        "worker · worker-extract@",
        "worker · worker-draft@",
        "judge · judge-pii@",
        "judge · judge-factuality@",
    ] {
        assert!(stdout.contains(component), "`{component}` in\n{stdout}");
    }
    assert!(!stdout.contains(".wasm"), "{stdout}");
}

#[test]
fn graph_cli_reports_a_bad_manifest_as_validate_does_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = FLOW.replace(r#"models = ["small", "frontier"]"#, r#"models = ["smal"]"#);
    let manifest = write_manifest(dir.path(), &bad);
    let (code, stdout, graph_err) = graph_command(&[manifest.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{graph_err}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(graph_err.contains("pipeline.toml:"), "located: {graph_err}");
    assert!(graph_err.contains("did you mean `small`?"), "{graph_err}");
    let validate = Command::new(switchyard_bin())
        .arg("validate")
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&validate.stderr), graph_err);

    let missing = dir.path().join("missing.toml");
    let (code, _, err) = graph_command(&[missing.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot read manifest") && err.contains("missing.toml"),
        "{err}"
    );
}

#[test]
fn graph_cli_names_an_output_file_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), FLOW);
    let target = dir.path().join("no-such-folder").join("flow.svg");
    let (code, _, err) = graph_command(
        &[manifest.to_str().unwrap(), "-o", target.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&target.display().to_string()), "{err}");
}

#[test]
fn graph_cli_help_explains_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = graph_command(&["--help"], dir.path());
    assert_eq!(code, 0);
    for expected in [
        "--format", "--output", "--load", "mermaid", "dot", "svg", "exit 2",
    ] {
        assert!(stdout.contains(expected), "`{expected}` in\n{stdout}");
    }
}
