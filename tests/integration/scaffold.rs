//! `switchyard new` then the scaffold's own smoke test (`./test.sh`, which
//! builds the node and runs it with `switchyard test-node`), for every role
//! in every language, from nothing.

use std::path::Path;
use std::process::Command;

use switchyard_tests::{polyglot, root, switchyard_bin};

fn new_and_smoke(lang: &str, role: &str, work: &Path) {
    let name = format!("my-{lang}-{role}");
    let dir = work.join(&name);
    let bin = switchyard_bin();
    let out = Command::new(&bin)
        .args(["new", role, &name, "--lang", lang, "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "switchyard new: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reuse the toolchains the plugins' builds installed, so the test does
    // not download them once per scaffold.
    let plugins = root().join("plugins");
    let out = Command::new("bash")
        .arg(dir.join("test.sh"))
        .env("SWITCHYARD", &bin)
        .env("SWITCHYARD_CACHE_DIR", work.join("cache"))
        .env(
            "COMPONENTIZE_PY",
            plugins.join("python/judge-tone/.venv/bin/componentize-py"),
        )
        .env(
            "COMPONENTIZE_QJS",
            plugins.join("js/router-language/node_modules/.bin/componentize-qjs"),
        )
        .env(
            "WASM_TOOLS",
            plugins.join("python/judge-tone/.venv/bin/wasm-tools"),
        )
        .env("CARGO_TARGET_DIR", root().join("target/scaffold-target"))
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && log.contains("smoke test passed"),
        "{lang} {role}:\n{log}"
    );
    assert!(dir.join(format!("build/my_{lang}_{role}.wasm")).exists());
}

fn every_role(lang: &str) {
    // The plugins' builds (build.rs) set up the toolchains reused here.
    polyglot("judge_tone");
    let work = tempfile::tempdir().unwrap();
    for role in ["judge", "router", "worker"] {
        new_and_smoke(lang, role, work.path());
    }
}

#[test]
fn scaffold_rust_nodes_build_and_pass_their_smoke_tests() {
    every_role("rust");
}

#[test]
fn scaffold_python_nodes_build_and_pass_their_smoke_tests() {
    every_role("python");
}

#[test]
fn scaffold_js_nodes_build_and_pass_their_smoke_tests() {
    every_role("js");
}

#[test]
fn scaffold_c_nodes_build_and_pass_their_smoke_tests() {
    every_role("c");
}

#[test]
fn scaffold_refuses_bad_names_and_existing_folders() {
    let work = tempfile::tempdir().unwrap();
    let bin = switchyard_bin();
    let out = Command::new(&bin)
        .args(["new", "judge", "Bad Name", "--dir"])
        .arg(work.path().join("x"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a usable node name"));
    std::fs::write(work.path().join("keep.txt"), "mine").unwrap();
    let out = Command::new(&bin)
        .args(["new", "judge", "ok-name", "--dir"])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists and is not empty"));
    assert_eq!(
        std::fs::read_to_string(work.path().join("keep.txt")).unwrap(),
        "mine"
    );
}
