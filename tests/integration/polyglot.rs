//! Nodes in four languages in one pipeline: the JavaScript router, Rust
//! workers, and C, Python and Rust judges of `examples/multilingual-desk`,
//! all built from source by `build.rs`; and each non-Rust plugin's own
//! behaviour through the host.

use serde_json::{json, Value};
use switchyard::batch::BatchOptions;
use switchyard::engine::{NodeCall, NodeOutput, RunScope, TaskInput, Verdict};
use switchyard::models::ModelHub;
use switchyard::pipeline::Pipeline;
use switchyard_tests::{batch, engine, polyglot, root};

async fn desk() -> Pipeline {
    // The manifest names target/plugins/*.wasm; make sure they were built.
    for name in ["router_language", "judge_tone", "judge_length"] {
        polyglot(name);
    }
    let m = switchyard::config::load(&root().join("examples/multilingual-desk/pipeline.toml"))
        .expect("the example manifest loads");
    let hub = ModelHub::from_env(&m.models).unwrap();
    Pipeline::load(&engine(None), m)
        .await
        .map(|l| l.bind(hub))
        .expect("every component loads")
}

fn task(input: Value) -> TaskInput {
    TaskInput {
        id: "t".into(),
        input: input.to_string(),
        meta: "{}".into(),
        attempt: 0,
        feedback: Vec::new(),
    }
}

async fn call(
    p: &Pipeline,
    node: &str,
    call: NodeCall,
) -> Result<NodeOutput, switchyard::engine::NodeError> {
    let n = p.node(node).unwrap();
    p.engine()
        .invoke(
            &n.component,
            n.ctx.clone(),
            RunScope::detached(p.hub().clone()),
            call,
            None,
        )
        .await
        .result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polyglot_example_runs_nodes_in_four_languages() {
    let p = desk().await;
    let roles: Vec<(&str, &str)> = p
        .nodes()
        .iter()
        .map(|(n, l)| (n.as_str(), l.component.description.name.as_str()))
        .collect();
    assert!(
        roles.contains(&("language", "router-language")),
        "{roles:?}"
    );
    assert!(roles.contains(&("tone", "judge-tone")), "{roles:?}");
    assert!(roles.contains(&("length", "judge-length")), "{roles:?}");

    let tickets = std::fs::read(root().join("examples/multilingual-desk/tickets.jsonl")).unwrap();
    let (records, summary) = batch(
        &p,
        &tickets,
        BatchOptions {
            concurrency: 8,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(records.len(), 16);
    assert!(records.iter().all(|r| r["ok"] == true), "{records:#?}");
    let routes: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r["routes"]["language"].as_str().unwrap())
        .collect();
    assert_eq!(
        routes,
        ["en", "es", "urgent"].into_iter().collect(),
        "{routes:?}"
    );
    let matched = records
        .iter()
        .filter(|r| r["routes"]["language"] == r["expect"]["route"])
        .count();
    assert!(
        matched >= 14,
        "the JS router matched only {matched}/16 expected routes"
    );
    // Every ticket passed through the C, Python and Rust judges.
    for r in &records {
        let ran: Vec<&str> = r["trace"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["node"].as_str().unwrap())
            .collect();
        for judge in ["length", "tone", "pii-guard"] {
            assert!(
                ran.contains(&judge),
                "{judge} did not run for {}: {ran:?}",
                r["id"]
            );
        }
    }
    assert_eq!(summary.failed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polyglot_plugins_judge_and_route_through_the_host() {
    let p = desk().await;
    // Python: a rude, over-promising reply is rejected with reasons.
    let rude = json!({"reply": "Obviously this is your fault. We GUARANTEE it will never happen again!!!"}).to_string();
    match call(
        &p,
        "tone",
        NodeCall::Judge {
            task: task(json!({})),
            candidate: rude,
        },
    )
    .await
    {
        Ok(NodeOutput::Verdict(Verdict::Reject { reasons })) => {
            let all = reasons.join(" | ");
            for needle in ["over-promising", "blame", "condescending", "shouting"] {
                assert!(all.contains(needle), "no {needle} in {all}");
            }
        }
        other => panic!("tone should reject: {other:?}"),
    }
    let polite = json!({"reply": "Thanks for the report; we are looking into it."}).to_string();
    assert!(matches!(
        call(
            &p,
            "tone",
            NodeCall::Judge {
                task: task(json!({})),
                candidate: polite.clone()
            }
        )
        .await,
        Ok(NodeOutput::Verdict(Verdict::Accept))
    ));
    // C: a control character or an over-long reply is rejected.
    let bell = json!({"reply": "Hello\u{7} there"}).to_string();
    match call(
        &p,
        "length",
        NodeCall::Judge {
            task: task(json!({})),
            candidate: bell,
        },
    )
    .await
    {
        Ok(NodeOutput::Verdict(Verdict::Reject { reasons })) => {
            assert!(reasons.join(" ").contains("U+0007"), "{reasons:?}")
        }
        other => panic!("length should reject: {other:?}"),
    }
    let long = json!({"reply": "x".repeat(601)}).to_string();
    match call(
        &p,
        "length",
        NodeCall::Judge {
            task: task(json!({})),
            candidate: long,
        },
    )
    .await
    {
        Ok(NodeOutput::Verdict(Verdict::Reject { reasons })) => {
            assert!(reasons.join(" ").contains("600"), "{reasons:?}")
        }
        other => panic!("length should reject: {other:?}"),
    }
    assert!(matches!(
        call(
            &p,
            "length",
            NodeCall::Judge {
                task: task(json!({})),
                candidate: polite
            }
        )
        .await,
        Ok(NodeOutput::Verdict(Verdict::Accept))
    ));
    // JavaScript: routes only to a candidate it was given.
    let spanish = json!({"subject": "Ayuda", "body": "Hola, no puedo descargar la factura de este mes, ¿me ayudan por favor?"});
    for (candidates, want) in [
        (vec!["en", "es", "urgent"], "es"),
        (vec!["en", "urgent"], "en"),
    ] {
        let call_ = NodeCall::Route {
            task: task(spanish.clone()),
            candidates: candidates.iter().map(|c| c.to_string()).collect(),
        };
        match call(&p, "language", call_).await {
            Ok(NodeOutput::Route(r)) => assert_eq!(r.target, want, "{r:?}"),
            other => panic!("language should route: {other:?}"),
        }
    }
    // A bad input is the guest's typed error, not a trap.
    let bad = call(
        &p,
        "tone",
        NodeCall::Judge {
            task: task(json!({})),
            candidate: json!({"reply": 3}).to_string(),
        },
    )
    .await;
    assert_eq!(bad.unwrap_err().kind(), "invalid-input");
}
