//! The flow: parallel fan-out and joins, judge gates with retry,
//! escalation, fallback and repair, typed edges checked both ways, and
//! cancellation of a run's remaining work on a hard failure.

use serde_json::json;
use switchyard::engine::NodeError;
use switchyard::pipeline::{PolicyAction, RunError, RunOutcome};
use switchyard_tests::{flow_manifest, pipeline, run};

fn actions(o: &RunOutcome) -> Vec<PolicyAction> {
    o.events.iter().map(|e| e.action).collect()
}

fn steps<'a>(o: &'a RunOutcome, node: &str) -> Vec<&'a switchyard::pipeline::TraceStep> {
    o.trace.iter().filter(|s| s.node == node).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_parallel_fan_out_costs_the_slowest_branch() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"
[nodes.a]
role = "worker"
component = {W}
models = ["slow"]
settings = { do = "model", model = "slow" }

[nodes.b]
role = "worker"
component = {W}
models = ["slow"]
settings = { do = "model", model = "slow" }

[nodes.c]
role = "worker"
component = {W}
models = ["slow"]
settings = { do = "model", model = "slow" }

[nodes.join]
role = "worker"
component = {W}
after = ["a", "b", "c"]
settings = { do = "echo" }
"#;
    let p = pipeline(dir.path(), &flow_manifest(body)).await.unwrap();
    let o = run(&p, "fan", json!({})).await;
    let out = o.result.as_ref().expect("run succeeds");
    // The join received all three outputs, keyed by node.
    for n in ["a", "b", "c"] {
        assert_eq!(out[n]["content"], "slow answer", "{out}");
    }
    // Each branch takes ≥ 200 ms; together they cost the slowest, not the sum.
    let branch_sum: u64 = ["a", "b", "c"]
        .iter()
        .map(|n| steps(&o, n)[0].elapsed_us)
        .sum();
    assert!(
        branch_sum >= 600_000,
        "each branch waits 200 ms for its model: {branch_sum} µs"
    );
    let ratio = o.elapsed.as_micros() as f64 / branch_sum as f64;
    assert!(
        ratio < 0.6,
        "run took {:?}, {ratio:.2} of the sequential sum",
        o.elapsed
    );
    let join = steps(&o, "join")[0];
    assert!(["a", "b", "c"]
        .iter()
        .all(|n| steps(&o, n)[0].start_us < join.start_us));
}

const GATED: &str = r#"
[nodes.w]
role = "worker"
component = {W}
judges = ["j"]
ON_REJECT

[nodes.j]
role = "judge"
component = {J}
"#;

async fn gated(on_reject: &str, extra: &str) -> switchyard::pipeline::Pipeline {
    let dir = tempfile::tempdir().unwrap();
    let body = GATED.replace("ON_REJECT", on_reject) + extra;
    pipeline(dir.path(), &flow_manifest(&body)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_reject_retries_the_node_with_the_reasons() {
    let p = gated("on-reject = { retries = 2 }", "").await;
    let o = run(
        &p,
        "r",
        json!({"do": "seq", "texts": ["REJECT me", "good"]}),
    )
    .await;
    let out = o.result.as_ref().unwrap();
    assert_eq!(out["text"], "good");
    assert_eq!(out["attempt"], 1);
    assert_eq!(
        out["feedback"],
        json!(["the candidate asked to be rejected"]),
        "the retry was told why"
    );
    assert_eq!(actions(&o), [PolicyAction::Retry]);
    assert_eq!(o.events[0].by, "judge `j`");
    assert_eq!(
        steps(&o, "w").iter().map(|s| s.attempt).collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(steps(&o, "j").len(), 2, "the judge saw both attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_reject_escalates_after_retries_to_a_standby_node() {
    let extra = r#"
[nodes.big]
role = "worker"
component = {W}
settings = { do = "whoami" }
"#;
    let p = gated("on-reject = { retries = 1, escalate = \"big\" }", extra).await;
    assert!(
        p.manifest.nodes["big"].standby,
        "an escalation-only worker waits on standby"
    );
    let o = run(
        &p,
        "e",
        json!({"do": "seq", "texts": ["REJECT", "REJECT again"]}),
    )
    .await;
    let out = o.result.as_ref().unwrap();
    assert_eq!(
        out,
        &json!({"node": "big", "attempt": 2}),
        "the escalation node answered"
    );
    assert_eq!(actions(&o), [PolicyAction::Retry, PolicyAction::Escalate]);
    assert_eq!(o.events[1].producer, "w");
    let big = steps(&o, "big");
    assert_eq!(big.len(), 1, "standby runs only when escalated to");
    assert_eq!(big[0].attempt, 2);

    // When nothing is rejected, the standby node never runs.
    let fine = run(&p, "f", json!({"do": "seq", "texts": ["fine"]})).await;
    assert!(fine.result.is_ok());
    assert!(steps(&fine, "big").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_reject_falls_back_or_fails_typed() {
    let p = gated(
        "on-reject = { retries = 1, fallback = { text = \"sorry, a human will answer\" } }",
        "",
    )
    .await;
    let o = run(&p, "fb", json!({"do": "seq", "texts": ["REJECT"]})).await;
    assert_eq!(
        o.result.as_ref().unwrap(),
        &json!({"text": "sorry, a human will answer"})
    );
    assert_eq!(actions(&o), [PolicyAction::Retry, PolicyAction::Fallback]);

    let p = gated("on-reject = { retries = 1 }", "").await;
    let o = run(&p, "err", json!({"do": "seq", "texts": ["REJECT"]})).await;
    assert_eq!(
        o.result.clone().unwrap_err(),
        RunError::Rejected {
            node: "w".into(),
            by: "judge `j`".into(),
            reasons: vec!["the candidate asked to be rejected".into()]
        }
    );
    assert_eq!(actions(&o), [PolicyAction::Retry, PolicyAction::GiveUp]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_judge_repair_replaces_the_output() {
    let p = gated("", "").await;
    let o = run(
        &p,
        "fix",
        json!({"do": "seq", "texts": ["draft with FIXME"]}),
    )
    .await;
    assert_eq!(o.result.as_ref().unwrap()["text"], "draft with fixed");
    assert!(o.events.is_empty());
    assert!(matches!(
        steps(&o, "j")[0].verdict,
        Some(switchyard::engine::Verdict::Repair { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_schema_violations_are_rejections_in_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    // Output side: the node's own output-schema.
    let body = r#"
[nodes.w]
role = "worker"
component = {W}
judges = ["j"]
on-reject = { retries = 1 }
output-schema = { type = "object", required = ["text"], properties = { text = { type = "string", pattern = "^ok" } } }

[nodes.j]
role = "judge"
component = {J}
"#;
    let p = pipeline(dir.path(), &flow_manifest(body)).await.unwrap();
    let o = run(&p, "out", json!({"do": "seq", "texts": ["nope", "ok now"]})).await;
    assert_eq!(o.result.as_ref().unwrap()["text"], "ok now");
    assert_eq!(o.events[0].by, "output-schema");
    assert!(
        o.events[0].reasons[0].starts_with("at /text:"),
        "{:?}",
        o.events[0].reasons
    );
    // A judge's repair that breaks the schema is a rejection too.
    let o = run(&p, "brk", json!({"do": "seq", "texts": ["ok BREAK"]})).await;
    match o.result.unwrap_err() {
        RunError::Rejected { by, .. } => assert_eq!(by, "output-schema (after repair)"),
        other => panic!("{other:?}"),
    }

    // Input side: the consumer's input-schema rejects the producer's output,
    // at the producer's gate, under the producer's policy.
    let body = r#"
[nodes.w1]
role = "worker"
component = {W}
on-reject = { retries = 1, fallback = { text = "ok", needed = 1 } }

[nodes.w2]
role = "worker"
component = {W}
after = ["w1"]
settings = { do = "echo" }
input-schema = { type = "object", required = ["needed"] }
"#;
    let p = pipeline(dir.path(), &flow_manifest(body)).await.unwrap();
    let o = run(&p, "in", json!({"do": "seq", "texts": ["x"]})).await;
    assert_eq!(o.events[0].by, "input-schema of `w2`");
    assert_eq!(actions(&o), [PolicyAction::Retry, PolicyAction::Fallback]);
    assert_eq!(
        o.result.as_ref().unwrap()["needed"],
        1,
        "w2 ran on the fallback"
    );

    // The run's own input is checked against an entry node's input-schema.
    let body = r#"
[nodes.w]
role = "worker"
component = {W}
input-schema = { type = "object", required = ["do"] }
"#;
    let p = pipeline(dir.path(), &flow_manifest(body)).await.unwrap();
    let o = run(&p, "bad", json!({"nothing": true})).await;
    assert!(
        matches!(o.result, Err(RunError::Schema { ref node, .. }) if node == "w"),
        "{:?}",
        o.result
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_hard_failure_cancels_the_other_branches() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"
[models.glacial]
provider = "sim"
sim = { ttft-ms = 10000 }

[nodes.first]
role = "worker"
component = {W}
models = ["slow"]
settings = { do = "model", model = "slow" }

# Crashes 200 ms in, while `waiting` is inside its 10 s model call.
[nodes.crash]
role = "worker"
component = {W}
after = ["first"]
settings = { do = "panic" }

[nodes.waiting]
role = "worker"
component = {W}
models = ["glacial"]
settings = { do = "model", model = "glacial" }
"#;
    let p = pipeline(dir.path(), &flow_manifest(body)).await.unwrap();
    let o = run(&p, "x", json!({})).await;
    assert!(
        matches!(o.result, Err(RunError::Node { error: NodeError::Trap { ref node, .. } }) if node == "crash"),
        "{:?}",
        o.result
    );
    assert!(
        o.elapsed < std::time::Duration::from_secs(5),
        "the 10 s branch was not cancelled: {:?}",
        o.elapsed
    );
    // The cancelled model call is still in the ledger, as cancelled.
    let waiting: Vec<&str> = o
        .ledger
        .iter()
        .filter(|e| e.node == "waiting")
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(waiting, ["cancelled"]);
}
