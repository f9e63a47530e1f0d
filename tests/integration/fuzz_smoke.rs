//! The fuzz targets' properties (`fuzz/harness`), smoke-run on stable in
//! the ordinary suite: every seed of each target's corpus, then random
//! mutations of them for 20 s per target (`SWITCHYARD_FUZZ_SMOKE_SECS`).
//! A harness that no longer builds or holds fails here; the long libFuzzer runs are
//! `cargo xtask fuzz` (docs/security.md, "Fuzzing").

use std::time::Duration;

use switchyard_fuzz_harness::{corpus, smoke, TARGETS};

#[test]
fn fuzz_smoke_every_target_holds_on_its_seeds_and_their_mutations() {
    let root = switchyard_tests::root().join("fuzz/corpus");
    let secs = std::env::var("SWITCHYARD_FUZZ_SMOKE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    for (name, check) in TARGETS {
        let seeds = corpus(&root, name);
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seed");
        let crash = dir.path().join(name);
        let runs = smoke(*check, &seeds, Duration::from_secs(secs), &crash);
        assert!(
            runs > seeds.len() as u64,
            "`{name}` ran no mutation in {secs} s"
        );
        eprintln!("fuzz smoke `{name}`: {runs} inputs in {secs} s, no property broken");
    }
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    std::fs::read(
        switchyard_tests::root()
            .join("fuzz/corpus")
            .join(target)
            .join(name),
    )
    .expect("a seed")
}

fn script(name: &str) -> switchyard_fuzz_harness::script::Script {
    serde_json::from_slice(&seed("guest_returns", name)).expect("a JSON script")
}

/// The seeds of the two targets that drive a served pipeline reach the
/// code they are there for: scripted answers become outputs, judges'
/// verdicts and policies, ledgers; requests with credentials get past
/// authentication and run, those without are refused. A harness that
/// stopped reaching the pipeline would fuzz nothing.
#[test]
fn fuzz_seeds_of_the_pipeline_targets_reach_the_pipeline() {
    use switchyard_fuzz_harness::{respond, run_script};

    let accept = run_script(&script("accept.json"));
    assert_eq!(accept.routes["route"], "whole");
    assert_eq!(
        accept.output.as_ref().unwrap()["reply"],
        "Thanks, we are on it."
    );
    assert_eq!(accept.ledger.len(), 1, "the worker's one model call");
    assert_eq!(accept.ledger[0].model, "chat");

    let stream = run_script(&script("stream.json"));
    assert_eq!(stream.routes["route"], "streamed");
    assert!(stream.output.as_ref().unwrap()["reply"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));

    let retried = run_script(&script("reject-retry-escalate.json"));
    assert_eq!(retried.output.as_ref().unwrap()["reply"], "repaired");
    assert!(!retried.events.is_empty(), "the rejection's policy event");

    let huge = run_script(&script("huge-output.json"));
    assert_eq!(huge.error.as_ref().unwrap().kind, "output-limit");

    let nan = run_script(&script("nan-scores.json"));
    let e = nan.error.as_ref().unwrap();
    assert_eq!(
        (e.kind, e.node.as_deref()),
        ("invalid-output", Some("judge"))
    );

    let status = |name: &str| respond(&seed("http", name)).expect("a request").0.as_u16();
    assert_eq!(status("runs.txt"), 200);
    assert_eq!(status("runs-stream.txt"), 200);
    assert_eq!(status("chat-stream.txt"), 200);
    assert_eq!(status("runs-no-key.txt"), 401);
    assert_eq!(status("chat-revoked.txt"), 401);
    assert_eq!(status("admin-nodes.txt"), 200);
    assert_eq!(status("admin-wrong-token.txt"), 401);
    assert_eq!(
        status("admin-swap-ref.txt"),
        502,
        "offline: never asks a registry"
    );
}

/// Finding (`guest_returns`, the first smoke run): a router naming a
/// target that is no branch had the target quoted raw in its error, so a
/// guest could put line breaks and terminal escapes into the host's error
/// messages and logs. Targets are escaped with the rest of the guest's
/// text now.
#[test]
fn fuzz_finding_a_route_to_no_branch_is_refused_with_its_target_escaped() {
    let forged = "x\n2026-01-01T00:00:00Z ERROR forged\u{1b}[31m";
    let script: switchyard_fuzz_harness::script::Script =
        serde_json::from_value(serde_json::json!({"route": {"result": {"Ok": {"other": forged}}}}))
            .unwrap();
    let record = switchyard_fuzz_harness::run_script(&script);
    let e = record.error.expect("refused");
    assert_eq!(
        (e.kind, e.node.as_deref()),
        ("invalid-output", Some("route"))
    );
    assert!(
        e.message
            .contains(r"x\n2026-01-01T00:00:00Z ERROR forged\u{1b}[31m"),
        "{}",
        e.message
    );
    assert!(!e.message.contains(['\n', '\u{1b}']));
}

/// Finding (`guest_returns`, the first long run): a model name a node
/// asked for, undeclared, was quoted whole and raw in the host's own
/// `denied` error, so a streamed reply on model `"\0\0\0\0"` put NULs in
/// the run's error, and a 60 KiB name 60 KiB of it. Host messages quote
/// what a guest or client sent through one helper now (`text::shown`:
/// at most 80 characters, control characters escaped).
#[test]
fn fuzz_finding_an_undeclared_model_name_is_quoted_short_and_escaped() {
    for (model, quoted) in [
        ("m\n\u{0}x".to_string(), r"m\n\u{0}x".to_string()),
        ("y".repeat(60_000), format!("{}…", "y".repeat(80))),
    ] {
        let script: switchyard_fuzz_harness::script::Script =
            serde_json::from_value(serde_json::json!({
                "route": {"result": {"Ok": {"candidate": 0}}},
                "worker": [{"result": {"Ok": {"Stream": {
                    "request": {"model": {"Named": model}},
                    "read": 0,
                    "field": "reply",
                    "base": {"text": "{}"}
                }}}}]
            }))
            .unwrap();
        let record = switchyard_fuzz_harness::run_script(&script);
        assert_eq!(record.routes["route"], "streamed");
        let e = record.error.expect("refused");
        assert_eq!((e.kind, e.node.as_deref()), ("model", Some("streamed")));
        assert!(
            e.message.contains(&format!(
                "asked for model `{quoted}`, which the manifest does not declare"
            )),
            "{}",
            e.message
        );
        assert!(e.message.len() < 400, "{} bytes", e.message.len());
        assert!(record.ledger.is_empty(), "nothing was sent");
    }
}
