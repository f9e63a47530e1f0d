//! `switchyard test-node`: one component run on its own as a node, with
//! sim models and manifest-style limits, for each role and language.

use serde_json::json;
use switchyard::engine::{NodeOutput, Verdict};
use switchyard::testnode::{test_node, TestNodeError, TestNodeOptions};
use switchyard_tests::{engine, fixture, plugin, polyglot};

fn opts(component: std::path::PathBuf) -> TestNodeOptions {
    TestNodeOptions {
        component,
        input: json!({"subject": "Login", "body": "I cannot log in since yesterday"}),
        candidate: None,
        candidates: Vec::new(),
        settings: serde_json::Map::new(),
        models: vec!["small".into()],
        limits: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_node_runs_each_role_with_sim_models_and_limits() {
    let e = engine(None);
    // A Rust worker with a model call, priced into the report's ledger.
    let mut o = opts(plugin("worker_draft"));
    o.settings.insert("model".into(), json!("small"));
    let r = test_node(&e, &o).await.unwrap();
    let Ok(NodeOutput::Output(text)) = &r.result else {
        panic!("{:?}", r.result)
    };
    assert!(text.contains("\"reply\""), "{text}");
    assert_eq!(r.ledger.len(), 1);
    assert_eq!(r.ledger[0].model, "small");
    assert_eq!(r.usage.model_calls, 1);
    assert!(
        r.to_string().contains("model call: small attempt 0 → ok"),
        "{r}"
    );

    // A C judge with a setting, rejecting.
    let mut o = opts(polyglot("judge_length"));
    o.candidate = Some(json!({"reply": "far too long"}));
    o.settings.insert("max-chars".into(), json!(5));
    let r = test_node(&e, &o).await.unwrap();
    assert!(
        matches!(&r.result, Ok(NodeOutput::Verdict(Verdict::Reject { .. }))),
        "{:?}",
        r.result
    );
    assert!(r.to_string().contains("verdict: reject"), "{r}");

    // A JavaScript router choosing among the candidates given.
    let mut o = opts(polyglot("router_language"));
    o.input = json!({"body": "URGENT: the site is down"});
    o.candidates = vec!["en".into(), "urgent".into()];
    let r = test_node(&e, &o).await.unwrap();
    let Ok(NodeOutput::Route(route)) = &r.result else {
        panic!("{:?}", r.result)
    };
    assert_eq!(route.target, "urgent");

    // Limits apply: a spinning guest is stopped at its CPU limit.
    let mut o = opts(fixture("worker_hostile"));
    o.input = json!({"do": "loop"});
    o.limits = vec![("cpu-ms".into(), 20)];
    let r = test_node(&e, &o).await.unwrap();
    assert_eq!(r.result.as_ref().unwrap_err().kind(), "cpu-limit");
    assert!(r.to_string().contains("CPU limit of 20 ms"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_node_explains_what_is_missing_or_wrong() {
    let e = engine(None);
    let o = opts(polyglot("router_language"));
    let err = test_node(&e, &o).await.unwrap_err();
    assert!(err.to_string().contains("--candidates"), "{err}");

    let mut o = opts(plugin("judge_pii"));
    o.limits = vec![("stack-kb".into(), 1)];
    match test_node(&e, &o).await.unwrap_err() {
        TestNodeError::Manifest(m) => {
            assert!(m.to_string().contains("`limits.stack-kb` is 1"), "{m}")
        }
        other => panic!("{other}"),
    }
    let err = test_node(&e, &opts("missing.wasm".into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.wasm"), "{err}");
}
