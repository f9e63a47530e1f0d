//! The support-triage example, run through the library exactly as
//! `switchyard run` does: one record per ticket, cost per node, a router
//! that beats chance by far, a guardrail that catches leaked PII, and `sim`
//! determinism end to end.

use serde_json::Value;
use switchyard::batch::{run_batch, BatchOptions};
use switchyard::engine::NodeEngine;
use switchyard::models::ModelHub;
use switchyard::pipeline::Pipeline;
use switchyard_tests::{engine, root};

async fn example_pipeline(engine: &NodeEngine) -> Pipeline {
    let m =
        switchyard::config::load(&root().join("examples/support-triage/pipeline.toml")).unwrap();
    let hub = ModelHub::from_manifest(&m).unwrap();
    Pipeline::load(engine, m, hub).await.unwrap()
}

async fn run_tickets(p: &Pipeline, tickets: &[u8]) -> (Vec<Value>, switchyard::batch::Summary) {
    let mut out = Vec::new();
    let summary = run_batch(
        p,
        tickets,
        &mut out,
        BatchOptions { concurrency: 64 },
        |_| {},
    )
    .await
    .unwrap();
    let records = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (records, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_support_triage_runs_every_ticket_with_costs() {
    let tickets = std::fs::read(root().join("examples/support-triage/tickets.jsonl")).unwrap();
    let p = example_pipeline(&engine(None)).await;
    let (records, summary) = run_tickets(&p, &tickets).await;

    let input_ids: Vec<String> = tickets
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(input_ids.len() >= 200);
    let output_ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        output_ids, input_ids,
        "exactly one record per ticket, in order"
    );

    // Every record is either an output or a typed error, and its cost is
    // the sum of its ledger entries.
    for r in &records {
        assert!(r["ok"].as_bool().unwrap() == r.get("output").is_some());
        let sum: u64 = r["ledger"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["cost_pusd"].as_u64().unwrap())
            .sum();
        assert_eq!(r["cost_pusd"].as_u64().unwrap(), sum);
    }

    // Both branches were taken; each drafting node paid its own model's price.
    let small = &summary.nodes["draft-small"];
    let frontier = &summary.nodes["draft-frontier"];
    assert!(
        small.invocations > 50 && frontier.invocations > 50,
        "{small:?} {frontier:?}"
    );
    let per_token = |s: &switchyard::batch::NodeStats| {
        s.model.cost.0 / (s.model.input_tokens + s.model.output_tokens)
    };
    assert_eq!(
        per_token(small),
        150_000,
        "small model: $0.15 per million tokens"
    );
    assert_eq!(
        per_token(frontier),
        5_000_000,
        "frontier model: $5.00 per million tokens"
    );
    assert_eq!(summary.totals.cost, small.model.cost + frontier.model.cost);
    assert_eq!(
        summary.nodes["pii-guard"].model.calls, 0,
        "the guardrail is granted no models"
    );

    // The embedded classifier is far better than chance on held-out tickets.
    let acc = summary.accuracy;
    assert_eq!(acc.labelled, input_ids.len() as u64);
    assert!(
        acc.correct * 100 >= acc.labelled * 85,
        "router accuracy {acc:?}"
    );

    // The sim models sometimes quote the ticket back; the guardrail rejects
    // exactly the drafts that leak PII, with masked reasons.
    let rejected: Vec<&Value> = records
        .iter()
        .filter(|r| r["error"]["kind"] == "rejected")
        .collect();
    assert!(
        !rejected.is_empty(),
        "expected some drafts to quote PII back"
    );
    for r in &rejected {
        assert_eq!(r["error"]["detail"]["judge"], "pii-guard");
        let reasons = r["error"]["detail"]["reasons"].to_string();
        assert!(reasons.contains("***"), "reasons are masked: {reasons}");
    }
    assert_eq!(summary.failed(), rejected.len() as u64, "no other failures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_sim_outputs_are_deterministic_across_runs() {
    let tickets = std::fs::read(root().join("examples/support-triage/tickets.jsonl")).unwrap();
    let first_60: Vec<u8> = tickets
        .split_inclusive(|b| *b == b'\n')
        .take(60)
        .flatten()
        .copied()
        .collect();
    let strip = |records: Vec<Value>| -> Vec<Value> {
        records
            .into_iter()
            .map(|r| {
                serde_json::json!([
                    r["id"],
                    r["output"],
                    r["error"],
                    r["routes"],
                    r["cost_pusd"]
                ])
            })
            .collect()
    };
    let a = strip(
        run_tickets(&example_pipeline(&engine(None)).await, &first_60)
            .await
            .0,
    );
    let b = strip(
        run_tickets(&example_pipeline(&engine(None)).await, &first_60)
            .await
            .0,
    );
    assert_eq!(a.len(), 60);
    assert_eq!(a, b);
}
