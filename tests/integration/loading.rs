//! Components load through a type-checked InstancePre; a component of the
//! wrong world is rejected with a message naming the node, the expected
//! world and what is missing; the compile cache makes a second load skip
//! compilation.

use switchyard::config::Role;
use switchyard::engine::{CacheOutcome, LoadError};
use switchyard_tests::{engine, plugin};

#[tokio::test]
async fn loading_each_plugin_for_its_role_describes_it() {
    let e = engine(None);
    for (file, role, name) in [
        ("router_triage", Role::Router, "router-triage"),
        ("worker_draft", Role::Worker, "worker-draft"),
        ("judge_pii", Role::Judge, "judge-pii"),
    ] {
        let c = e
            .load_component("n", role, &plugin(file))
            .await
            .unwrap_or_else(|err| panic!("{file}: {err}"));
        assert_eq!(c.role, role);
        assert_eq!(c.description.name, name);
        assert_eq!(c.description.role, role);
        assert!(!c.description.version.is_empty());
    }
}

#[tokio::test]
async fn loading_rejects_a_component_of_the_wrong_world() {
    let e = engine(None);
    let err = e
        .load_component("guard", Role::Judge, &plugin("worker_draft"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err:?}");
    assert!(msg.contains("node `guard`"), "{msg}");
    assert!(msg.contains("declared as a judge"), "{msg}");
    assert!(
        msg.contains("switchyard:node/worker@0.2.0"),
        "names what it has: {msg}"
    );
    assert!(
        msg.contains("not `switchyard:node/judge@0.1.0` or `switchyard:node/judge@0.2.0`"),
        "names what is missing: {msg}"
    );
    assert!(err.hint().contains("judge-node"), "{}", err.hint());
}

#[tokio::test]
async fn loading_rejects_files_that_are_not_components() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(None);
    let missing = e
        .load_component("n", Role::Worker, &dir.path().join("nope.wasm"))
        .await
        .unwrap_err();
    assert!(matches!(missing, LoadError::Read { .. }), "{missing:?}");
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x01\0\0\0").unwrap(); // a core module, not a component
    let err = e
        .load_component("n", Role::Worker, &junk)
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err:?}");
}

#[tokio::test]
async fn loading_twice_hits_the_compile_cache() {
    let cache = tempfile::tempdir().unwrap();
    let first = engine(Some(cache.path()))
        .load_component("n", Role::Judge, &plugin("judge_pii"))
        .await
        .unwrap();
    assert_eq!(first.load.cache, CacheOutcome::Miss);
    // A new engine (as in a new process) finds the artifact on disk.
    let second = engine(Some(cache.path()))
        .load_component("n", Role::Judge, &plugin("judge_pii"))
        .await
        .unwrap();
    assert_eq!(second.load.cache, CacheOutcome::Hit);
    assert_eq!(second.description, first.description);
    drop((first, second));
    // A corrupt entry is recompiled, not trusted. (Entries are read-only
    // and mapped while in use: replace the file, as a corruption by another
    // writer would, rather than edit it in place.)
    for entry in walk(cache.path()) {
        std::fs::remove_file(&entry).unwrap();
        std::fs::write(&entry, b"garbage").unwrap();
    }
    let third = engine(Some(cache.path()))
        .load_component("n", Role::Judge, &plugin("judge_pii"))
        .await
        .unwrap();
    assert_eq!(third.load.cache, CacheOutcome::Miss);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn inspect_reports_role_description_and_imports() {
    use switchyard::inspect::{inspect, ImportKind};
    let e = engine(None);
    let r = inspect(&e, &plugin("judge_pii")).await.unwrap();
    assert_eq!(r.roles, [Role::Judge]);
    assert_eq!(r.description.as_ref().unwrap().name, "judge-pii");
    assert!(r.load_error.is_none());
    assert!(r.exports.iter().any(|x| x == "switchyard:node/judge@0.2.0"));
    assert!(r
        .imports
        .iter()
        .any(|i| i.name == "switchyard:node/config@0.2.0" && i.kind == ImportKind::Contract));
    assert_eq!(r.beyond_contract().count(), 0, "{:?}", r.imports);
    assert_eq!(r.sha256.len(), 64);
    let text = r.to_string();
    assert!(text.contains("role     judge (world judge-node)"), "{text}");
    assert!(text.contains("beyond the contract: nothing"), "{text}");

    let worker = inspect(&e, &plugin("worker_draft")).await.unwrap();
    assert!(worker
        .imports
        .iter()
        .any(|i| i.name == "switchyard:node/models@0.2.0"));
    assert!(
        worker.description.unwrap().output_schema.is_some(),
        "the drafting worker declares its output schema"
    );
}

#[tokio::test]
async fn loading_rejects_a_component_importing_what_the_host_does_not_provide() {
    let e = engine(None);
    let err = e
        .load_component(
            "w",
            Role::Worker,
            &switchyard_tests::fixture("worker_smuggler"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::Contract { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("node `w`"), "{msg}");
    assert!(
        msg.contains("acme:secrets/vault@1.0.0"),
        "names the missing import: {msg}"
    );
    let report = switchyard::inspect::inspect(&e, &switchyard_tests::fixture("worker_smuggler"))
        .await
        .unwrap();
    let beyond: Vec<&str> = report.beyond_contract().map(|i| i.name.as_str()).collect();
    assert_eq!(beyond, ["acme:secrets/vault@1.0.0"]);
    assert!(report.load_error.is_some());
}

#[tokio::test]
async fn loading_rejects_a_component_built_for_the_async_abi() {
    let e = engine(None);
    let err = e
        .load_component(
            "w",
            Role::Worker,
            &switchyard_tests::fixture("worker_async"),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("node `w`"), "{msg}");
    assert!(
        msg.contains("requires the component model async feature"),
        "says why: {msg}"
    );
    assert!(
        err.hint().contains("synchronous component ABI"),
        "{}",
        err.hint()
    );
}
