//! The support-triage example, run through the library exactly as
//! `switchyard run` does: one record per ticket, cost per node, a router
//! that beats chance by far, a guardrail that catches leaked PII, and `sim`
//! determinism end to end.

use serde_json::Value;
use switchyard::batch::{run_batch, BatchOptions};
use switchyard_tests::{batch, engine, example, tickets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_support_triage_runs_every_ticket_with_costs() {
    let tickets = tickets(usize::MAX);
    let p = example(&engine(None), "pipeline.toml").await;
    let (records, summary) = batch(
        &p,
        &tickets,
        BatchOptions {
            concurrency: 64,
            ..Default::default()
        },
    )
    .await;

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

    // Both branches were taken; each answering node paid its own model's
    // price, and the totals are the sum over nodes.
    let small = &summary.nodes["answer-small"];
    let frontier = &summary.nodes["answer-frontier"];
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
    let node_sum: switchyard::models::Cost = summary.nodes.values().map(|n| n.model.cost).sum();
    assert_eq!(summary.totals.cost, node_sum);
    assert_eq!(
        summary.nodes["pii-guard"].model.calls, 0,
        "the guardrail is granted no models"
    );
    assert!(summary.nodes["factuality"].model.calls > 0);

    // The embedded classifier is far better than chance on held-out tickets.
    let acc = summary.accuracy;
    assert_eq!(acc.labelled, input_ids.len() as u64);
    assert!(
        acc.correct * 100 >= acc.labelled * 85,
        "router accuracy {acc:?}"
    );

    // Extraction ran for every ticket, beside the answer, schema-checked.
    for r in records.iter().filter(|r| r["ok"] == true) {
        let e = &r["output"]["extract"];
        assert!(
            [
                "billing",
                "account",
                "technical",
                "integration",
                "security",
                "other"
            ]
            .contains(&e["category"].as_str().unwrap()),
            "{e}"
        );
        let answer = r["output"]
            .get("answer-small")
            .or(r["output"].get("answer-frontier"))
            .expect("an answer");
        assert!(!answer["reply"].as_str().unwrap().is_empty());
    }

    // The sim models sometimes quote the ticket back; the PII guardrail
    // catches those drafts with masked reasons and the policy retries them.
    let events: Vec<&Value> = records
        .iter()
        .flat_map(|r| r["events"].as_array().into_iter().flatten())
        .collect();
    let pii: Vec<&&Value> = events
        .iter()
        .filter(|e| e["by"] == "judge `pii-guard`")
        .collect();
    assert!(!pii.is_empty(), "expected some drafts to quote PII back");
    assert!(
        pii.iter().all(|e| e["reasons"].to_string().contains("***")),
        "reasons are masked"
    );
    assert!(events.iter().any(|e| e["by"] == "judge `factuality`"));
    assert!(
        summary.policy.get("retry").copied().unwrap_or(0) > 0,
        "{:?}",
        summary.policy
    );
    // Nothing fails but a policy that ran out of options.
    let failed: Vec<&Value> = records.iter().filter(|r| r["ok"] == false).collect();
    assert!(
        failed.iter().all(|r| r["error"]["kind"] == "rejected"),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_reports_monolith_cost_next_to_the_pipeline() {
    let first_40 = tickets(40);
    let p = example(&engine(None), "pipeline.toml").await;
    let mut out = Vec::new();
    let opts = BatchOptions {
        concurrency: 40,
        baseline_model: Some("frontier".into()),
        ..Default::default()
    };
    let summary = run_batch(&p, &first_40[..], &mut out, opts, |_| {})
        .await
        .unwrap();
    let b = summary.baseline.as_ref().expect("baseline measured");
    assert_eq!(b.model, "frontier");
    assert_eq!(b.totals.calls, 40, "one monolith call per ticket");
    assert!(
        b.totals.cost > summary.totals.cost,
        "routing most tickets to the small model costs less: {} vs {}",
        summary.totals.cost,
        b.totals.cost
    );
    // Each record carries its own monolith cost; they add up to the total.
    let records: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.iter().all(|r| r["baseline"]["calls"] == 1));
    let pusd: f64 = records
        .iter()
        .map(|r| r["baseline"]["cost"].as_f64().unwrap())
        .sum();
    assert!((pusd - b.totals.cost.usd()).abs() < 1e-9);
    let text = summary.to_string();
    assert!(text.contains("vs monolith on `frontier`"), "{text}");
    assert!(text.contains("saved"), "{text}");

    let mut sink = Vec::new();
    let bad = BatchOptions {
        concurrency: 1,
        baseline_model: Some("gpt-9".into()),
        ..Default::default()
    };
    let err = run_batch(&p, &first_40[..], &mut sink, bad, |_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("baseline model `gpt-9` is not declared"),
        "{err}"
    );

    // The monolith's prompt is the manifest's, never one the host made up:
    // without a [baseline] table there is nothing to compare with.
    let degraded = example(&engine(None), "frontier-down.toml").await;
    assert!(degraded.manifest.baseline.is_none());
    let opts = BatchOptions {
        concurrency: 1,
        baseline_model: Some("frontier".into()),
        ..Default::default()
    };
    let err = run_batch(&degraded, &first_40[..], &mut Vec::new(), opts, |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no [baseline] table"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_sim_outputs_are_deterministic_across_runs() {
    let first_60 = tickets(60);
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
        batch(
            &example(&engine(None), "pipeline.toml").await,
            &first_60,
            BatchOptions {
                concurrency: 64,
                ..Default::default()
            },
        )
        .await
        .0,
    );
    let b = strip(
        batch(
            &example(&engine(None), "pipeline.toml").await,
            &first_60,
            BatchOptions {
                concurrency: 64,
                ..Default::default()
            },
        )
        .await
        .0,
    );
    assert_eq!(a.len(), 60);
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_with_the_frontier_upstream_down_falls_back_and_costs_add_up() {
    let first_60 = tickets(60);
    let p = example(&engine(None), "frontier-down.toml").await;
    let (records, summary) = batch(
        &p,
        &first_60[..],
        BatchOptions {
            concurrency: 16,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(records.len(), 60, "no ticket lost");
    assert!(
        records.iter().all(|r| r["ok"] == true),
        "fallbacks absorbed the outage"
    );
    let entries: Vec<&Value> = records
        .iter()
        .flat_map(|r| r["ledger"].as_array().unwrap().iter())
        .collect();
    assert!(
        entries
            .iter()
            .all(|e| e["model"] != "frontier" || e["outcome"] != "ok"),
        "the frontier upstream never answers"
    );
    assert!(entries.iter().any(|e| e["model"] == "frontier-backup"
        && e["fallback_from"] == "frontier"
        && e["outcome"] == "ok"));
    assert!(
        entries.iter().any(|e| e["outcome"] == "circuit-open"),
        "repeated failures open the frontier's circuit"
    );
    assert!(summary.calls.fallbacks > 0 && summary.calls.failed > 0);
    let sum: u64 = entries
        .iter()
        .map(|e| e["cost_pusd"].as_u64().unwrap())
        .sum();
    assert_eq!(
        summary.totals.cost.0, sum,
        "the summary's cost is exactly the ledger's"
    );
    assert!(summary.to_string().contains("fallbacks"), "{summary}");
}
