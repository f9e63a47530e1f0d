//! `switchyard new` then the scaffold's own smoke test (`./test.sh`, which
//! builds the node and runs it with `switchyard test-node`), for every role
//! in every language, from nothing. Then the author's path for the
//! scaffolded judge (at most 15 lines of its author's code): signed, pushed
//! to a real registry, pulled by digest into a manifest that requires its
//! signer, run, and hot-swapped by reference.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use switchyard::artifact::{signing, ComponentInfo, RegistryClient, Sources};
use switchyard::pipeline::Pipeline;
use switchyard::spec::OciRef;
use switchyard_tests::{
    engine, fixture, manifest, polyglot, root, run, switchyard_bin, toml_path, Registry, TestServer,
};

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
        // A scaffold is its own project: the host's lint-while-building
        // wrapper (`cargo xtask test`) is not its author's build.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
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
    publish_the_judge(lang, work.path());
}

/// The scaffolded judge of `lang` (built in `work`), signed by its author,
/// pushed to a registry, pulled by digest into a manifest requiring that
/// signer, run, then hot-swapped by reference for another signed judge.
fn publish_the_judge(lang: &str, work: &Path) {
    let judge = work.join(format!("my-{lang}-judge/build/my_{lang}_judge.wasm"));
    let registry = Registry::start();
    let keys = signing::write_key_pair(work, "author").unwrap();
    let signed = work.join("judge.signed.wasm");
    signing::sign_file(&judge, &keys.secret, &signed).unwrap();
    let next = work.join("length.signed.wasm");
    signing::sign_file(&polyglot("judge_length"), &keys.secret, &next).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = RegistryClient::from_env();
        let push = |path: &Path, tag: &str| {
            let (bytes, r) = (
                std::fs::read(path).unwrap(),
                OciRef::parse(&registry.reference(tag)).unwrap(),
            );
            let client = client.clone();
            async move {
                client
                    .push(&r, &bytes, ComponentInfo::default(), Default::default())
                    .await
                    .unwrap()
                    .reference
            }
        };
        let judge_ref = push(&signed, &format!("scaffold/{lang}-judge:1")).await;
        let next_ref = push(&next, "scaffold/length:1").await;
        let text = format!(
            r#"[pipeline]
name = "published-{lang}"

[trust]
keys = {{ author = {key} }}

[nodes.draft]
role = "worker"
component = {worker}
settings = {{ do = "echo" }}
judges = ["guard"]

[nodes.guard]
role = "judge"
component = "{judge_ref}"
trust = "signed"
settings = {{ max-chars = 600 }}
"#,
            key = toml_path(&keys.public),
            worker = toml_path(&fixture("worker_hostile")),
        );
        // The server's store starts empty: load pulls by digest.
        let sources = Sources::from_env().with_store(work.join("store"));
        let m = manifest(work, &text).unwrap();
        let hub = switchyard::models::ModelHub::from_env(&m.models).unwrap();
        let p = Pipeline::load_from(&engine(None), m, &sources)
            .await
            .unwrap_or_else(|e| panic!("{lang}: {e}"))
            .bind(hub);
        assert_eq!(p.node("guard").unwrap().provenance.signed_by, ["author"]);
        let outcome = run(&p, "t1", json!({ "text": "thanks, that helped" })).await;
        assert!(
            outcome.trace.iter().any(|s| s.node == "guard"),
            "{lang}: the judge did not run: {:?}",
            outcome.trace
        );
        let server = TestServer::start_with_sources(p, Some("t"), sources).await;
        let http = reqwest::Client::new();
        let r = http
            .put(format!("{}/admin/nodes/guard", server.url))
            .bearer_auth("t")
            .json(&json!({ "component": next_ref }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let report: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{lang}: swap by reference: {report}");
        assert_eq!(report["revision"], 2, "{report}");
        let r = http
            .post(format!("{}/v1/runs", server.url))
            .json(&json!({ "input": { "text": "thanks, that helped" } }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["nodes"]["guard"]["revision"], 2, "{body}");
        server.stop().await.unwrap();
    });
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
