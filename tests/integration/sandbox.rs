//! A guest that traps, loops forever or exhausts its memory gets a typed
//! error for its run; the host carries on and the next runs succeed.

use serde_json::json;
use switchyard::engine::NodeError;
use switchyard::pipeline::RunError;
use switchyard_tests::{
    hostile, hostile_manifest, pipeline, rss_bytes, run, run_node, toml_path, LogCapture,
};

/// A recursion depth that needs between 512 and 1024 KiB of wasm stack.
/// (Measured: the frames are ~64 bytes; 8,100 deep fits in 512 KiB and
/// 16,300 in 1024 KiB.)
const DEPTH: u64 = 12_000;

fn node_error(outcome: &switchyard::pipeline::RunOutcome) -> NodeError {
    match &outcome.result {
        Err(RunError::Node { error }) => error.clone(),
        other => panic!("expected a node error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_contains_trap_loop_and_memory_bomb_then_serves_next_runs() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        &hostile_manifest("cpu-ms = 100, memory-mb = 16"),
    )
    .await
    .unwrap();

    let ok = run(&p, "before", json!({"do": "echo", "n": 1})).await;
    assert_eq!(ok.result.as_ref().unwrap()["do"], "echo");

    let trap = node_error(&run(&p, "panic", json!({"do": "panic"})).await);
    assert!(
        matches!(&trap, NodeError::Trap { node, message } if node == "w" && message.contains("unreachable")),
        "{trap:?}"
    );

    let looped = node_error(&run(&p, "loop", json!({"do": "loop"})).await);
    assert_eq!(
        looped,
        NodeError::CpuLimit {
            node: "w".into(),
            limit_ms: 100
        }
    );

    let bomb = node_error(&run(&p, "alloc", json!({"do": "alloc"})).await);
    assert_eq!(
        bomb,
        NodeError::MemoryLimit {
            node: "w".into(),
            limit_mb: 16
        }
    );

    // The host is unharmed: many runs afterwards, concurrently, all succeed.
    let later = futures_join(&p, 20).await;
    assert!(later.iter().all(|o| o.result.is_ok()), "{later:?}");
}

async fn futures_join(
    p: &switchyard::pipeline::Pipeline,
    n: usize,
) -> Vec<switchyard::pipeline::RunOutcome> {
    let mut handles = Vec::new();
    for i in 0..n {
        let p = p.clone();
        handles.push(tokio::spawn(async move {
            run(&p, &format!("after-{i}"), json!({"do": "echo", "i": i})).await
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_loop_does_not_block_concurrent_benign_runs() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &hostile_manifest("cpu-ms = 300"))
        .await
        .unwrap();
    let spinner = {
        let p = p.clone();
        tokio::spawn(async move { run(&p, "spin", json!({"do": "loop"})).await })
    };
    // While one guest spins on CPU, benign runs still complete: the epoch
    // callback yields to the scheduler.
    let benign = futures_join(&p, 10).await;
    assert!(benign.iter().all(|o| o.result.is_ok()));
    let spun = spinner.await.unwrap();
    assert!(matches!(node_error(&spun), NodeError::CpuLimit { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_output_limits_and_json_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &hostile_manifest("output-kb = 1"))
        .await
        .unwrap();
    let big = node_error(&run(&p, "big", json!({"do": "big", "n": 5000})).await);
    assert!(
        matches!(
            big,
            NodeError::OutputLimit {
                size: 5002,
                limit: 1024,
                ..
            }
        ),
        "{big:?}"
    );
    let bad = node_error(&run(&p, "nj", json!({"do": "not-json"})).await);
    assert!(matches!(bad, NodeError::InvalidOutput { .. }), "{bad:?}");
    let fine = run(&p, "small", json!({"do": "big", "n": 100})).await;
    assert!(fine.result.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_wall_limit_covers_model_calls() {
    let dir = tempfile::tempdir().unwrap();
    let text = hostile_manifest("wall-ms = 100").replace(
        "price = { input = 1.0, output = 2.0 }",
        "price = { input = 1.0, output = 2.0 }\nsim = { ttft-ms = 5000 }",
    );
    let p = pipeline(dir.path(), &text).await.unwrap();
    let started = std::time::Instant::now();
    let slow = node_error(&run(&p, "slow", json!({"do": "model", "model": "small"})).await);
    assert_eq!(
        slow,
        NodeError::WallTimeout {
            node: "w".into(),
            limit_ms: 100
        }
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the 5 s model call was not cut short"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_model_grant_and_call_cap_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[models.big]\nprovider = \"sim\"\n",
        hostile_manifest("model-calls = 1")
    );
    let p = pipeline(dir.path(), &text).await.unwrap();
    // Granted model: works, and is recorded in the ledger with its cost.
    let ok = run(&p, "granted", json!({"do": "model", "model": "small"})).await;
    let out = ok.result.as_ref().unwrap();
    assert_eq!(out["model"], "small");
    assert_eq!(ok.ledger.len(), 1);
    let e = &ok.ledger[0];
    assert_eq!(
        e.cost.0,
        e.input_tokens * 1_000_000 + e.output_tokens * 2_000_000
    );
    // Declared but not granted: denied, and the attempt is in the ledger.
    let denied = run(&p, "denied", json!({"do": "model", "model": "big"})).await;
    match &denied.result {
        Err(RunError::Node {
            error: NodeError::Model { error, .. },
        }) => assert_eq!(error.kind(), "denied"),
        other => panic!("expected denied, got {other:?}"),
    }
    assert_eq!(denied.ledger[0].outcome, "denied");
    assert_eq!(denied.ledger[0].cost.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_log_volume_past_the_limit_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &hostile_manifest("log-kb = 1"))
        .await
        .unwrap();
    let quiet = run(&p, "quiet", json!({"do": "log", "n": 10})).await;
    assert!(quiet.result.is_ok(), "{:?}", quiet.result);
    assert!(
        quiet.trace[0].usage.log_bytes >= 60,
        "{:?}",
        quiet.trace[0].usage
    );

    let spam = node_error(&run(&p, "spam", json!({"do": "log", "n": 1000})).await);
    assert_eq!(spam.kind(), "log-limit", "{spam}");
    assert!(
        spam.to_string()
            .contains("node `w` exceeded its log limit of 1 KiB"),
        "{spam}"
    );
    // stdout and stderr count against the same limit.
    let print = node_error(&run(&p, "print", json!({"do": "print", "n": 1000})).await);
    assert_eq!(print.kind(), "log-limit", "{print}");
}

// A current-thread runtime: the guest runs inline on this thread, so the
// thread-local subscriber sees its output.
#[tokio::test]
async fn sandbox_guest_stdout_and_stderr_go_to_tracing_with_the_node_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &hostile_manifest("log-kb = 64"))
        .await
        .unwrap();
    let captured = LogCapture::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let o = run(&p, "print", json!({"do": "print", "n": 3})).await;
    drop(guard);
    assert!(o.result.is_ok(), "{:?}", o.result);
    let text = captured.text();
    for want in ["out 0", "out 2", "err 1", "no newline at the end"] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!(": {want} ")))
            .unwrap_or_else(|| panic!("no `{want}` line in:\n{text}"));
        assert!(line.contains("switchyard::guest"), "{line}");
        assert!(line.contains("node=\"w\""), "{line}");
    }
    assert!(text.contains("stream=\"stderr\""), "{text}");
    // Every byte counted: 3 × ("out i\n" + "err i\n") + the unfinished line.
    assert_eq!(o.trace[0].usage.log_bytes, 3 * 12 + 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_stack_limit_is_per_node() {
    let dir = tempfile::tempdir().unwrap();
    let component = toml_path(&hostile("bounded_recursion"));
    let text = format!(
        r#"
[pipeline]
name = "stacks"

[nodes.small-stack]
role = "worker"
component = {component}
limits = {{ stack-kb = 64 }}

[nodes.large-stack]
role = "worker"
component = {component}
limits = {{ stack-kb = 1024 }}

[nodes.default-stack]
role = "worker"
component = {component}
"#
    );
    let p = pipeline(dir.path(), &text).await.unwrap();
    let small = p.node("small-stack").unwrap().clone();
    let large = p.node("large-stack").unwrap().clone();
    let default = p.node("default-stack").unwrap().clone();

    // Shallow recursion fits everywhere.
    for node in [&small, &large, &default] {
        let o = run_node(&p, node, json!(100)).await;
        assert!(o.is_ok(), "{}: {o:?}", node.spec.name);
    }
    // DEPTH needs more than 512 KiB of wasm stack but less than 1024.
    let o = run_node(&p, &large, json!(DEPTH)).await;
    assert!(o.is_ok(), "large-stack: {o:?}");
    for (node, kb) in [(&small, 64), (&default, 512)] {
        let e = run_node(&p, node, json!(DEPTH)).await.unwrap_err();
        assert_eq!(e.kind(), "stack-limit", "{e}");
        assert!(
            e.to_string()
                .contains(&format!("stack limit of {kb} KiB (limits.stack-kb)")),
            "{e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_run_deadline_cancels_the_running_guest() {
    use switchyard::engine::{EngineOptions, NodeEngine};
    use switchyard::models::ModelHub;
    use switchyard::pipeline::Pipeline;
    let dir = tempfile::tempdir().unwrap();
    let text = hostile_manifest("cpu-ms = 60000, wall-ms = 60000")
        .replace("deadline-ms = 20000", "deadline-ms = 300");
    let m = switchyard_tests::manifest(dir.path(), &text).unwrap();
    let hub = ModelHub::from_env(&m.models).unwrap();
    // One instance slot: the next run can only start once the cancelled
    // guest has really been stopped and its slot released.
    let engine = NodeEngine::new(EngineOptions {
        cache_dir: None,
        max_instances: 1,
        ..EngineOptions::default()
    })
    .unwrap();
    let p = Pipeline::load(&engine, m)
        .await
        .map(|l| l.bind(hub))
        .unwrap();
    let spun = run(&p, "spin", json!({"do": "loop"})).await;
    assert_eq!(
        spun.result.unwrap_err(),
        RunError::Deadline { limit_ms: 300 }
    );
    let started = std::time::Instant::now();
    let next = run(&p, "next", json!({"do": "echo"})).await;
    assert!(next.result.is_ok(), "{:?}", next.result);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the spinning guest was not cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_grants_no_files_environment_or_network() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &hostile_manifest("")).await.unwrap();
    assert!(
        std::path::Path::new("/etc/passwd").exists(),
        "the host has the file the guest will try"
    );

    let fs = run(&p, "fs", json!({"do": "fs"})).await;
    assert_eq!(
        fs.result.as_ref().unwrap()["fs"],
        "denied",
        "{:?}",
        fs.result
    );

    let env = run(&p, "env", json!({"do": "env"})).await;
    assert_eq!(
        env.result.as_ref().unwrap(),
        &json!({"vars": 0, "args": 0, "home": false})
    );

    // A real listener on 127.0.0.1: the guest's connect must fail and
    // nothing may arrive.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let net = run(&p, "net", json!({"do": "net", "port": port})).await;
    assert_eq!(
        net.result.as_ref().unwrap()["net"],
        "denied",
        "{:?}",
        net.result
    );
    assert!(
        listener.accept().is_err(),
        "a connection reached the host's listener"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_contains_unbounded_recursion() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &hostile_manifest("")).await.unwrap();
    let deep = node_error(&run(&p, "deep", json!({"do": "recurse"})).await);
    // Rust keeps its stack in linear memory: overflowing it is an
    // out-of-bounds access; a wasm-stack overflow would say so. Either way
    // a typed trap for this run only.
    assert!(
        matches!(&deep, NodeError::StackLimit { node, .. } | NodeError::Trap { node, .. } if node == "w")
            && (deep.kind() == "stack-limit" || deep.to_string().contains("shadow stack")),
        "{deep:?}"
    );
    assert!(run(&p, "after", json!({"do": "echo"})).await.result.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_host_call_flood_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &hostile_manifest("host-calls = 50"))
        .await
        .unwrap();
    let flood = run(&p, "flood", json!({"do": "log", "n": 100000})).await;
    assert_eq!(
        node_error(&flood),
        NodeError::HostCallLimit {
            node: "w".into(),
            limit: 50
        }
    );
    assert_eq!(
        flood.trace[0].usage.host_calls, 51,
        "the 51st call was refused"
    );
    let fine = run(&p, "fine", json!({"do": "log", "n": 10})).await;
    assert!(fine.result.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_thousand_hostile_invocations_leak_nothing_and_spare_benign_runs() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        &hostile_manifest("cpu-ms = 5, memory-mb = 16, output-kb = 64, host-calls = 100"),
    )
    .await
    .unwrap();
    let hostile = [
        json!({"do": "panic"}),
        json!({"do": "loop"}),
        json!({"do": "alloc"}),
        json!({"do": "recurse"}),
        json!({"do": "big", "n": 200000}),
        json!({"do": "log", "n": 100000}),
        json!({"do": "not-json"}),
        json!({"do": "fs"}),
    ];
    // Warm up: every pool slot this test will use has been touched once.
    for i in 0..100 {
        let _ = run(&p, "warm", hostile[i % hostile.len()].clone()).await;
    }
    let baseline = rss_bytes();

    // Benign runs keep going, concurrently, the whole time.
    let benign = {
        let p = p.clone();
        tokio::spawn(async move {
            let mut errors = Vec::new();
            for i in 0..300 {
                let o = run(&p, &format!("benign-{i}"), json!({"do": "echo", "i": i})).await;
                if let Err(e) = o.result {
                    errors.push(format!("benign-{i}: {e}"));
                }
            }
            errors
        })
    };
    let mut contained = 0;
    for i in 0..1000 {
        let o = run(
            &p,
            &format!("hostile-{i}"),
            hostile[i % hostile.len()].clone(),
        )
        .await;
        // `fs` is answered (with "denied"); every other case is a typed error.
        contained += usize::from(o.result.is_err() || o.result.as_ref().unwrap()["fs"] == "denied");
    }
    assert_eq!(contained, 1000);
    let failed = benign.await.unwrap();
    assert!(
        failed.is_empty(),
        "benign runs alongside hostile ones all succeed; failed: {failed:#?}"
    );

    let after = rss_bytes();
    let grown = after.saturating_sub(baseline);
    eprintln!(
        "RSS: baseline {} MiB, after 1000 hostile invocations {} MiB (+{} KiB)",
        baseline >> 20,
        after >> 20,
        grown >> 10
    );
    // 125 memory bombs touched 16 MiB each (2 GiB in all): any leak of
    // their memory would show up many times over this bound, which only
    // leaves room for allocator noise and other tests in this process.
    assert!(grown < 96 << 20, "RSS grew by {} MiB", grown >> 20);
}
