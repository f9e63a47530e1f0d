//! OpenTelemetry export, checked against a local OTLP/HTTP receiver that
//! decodes what arrives with the official protobuf definitions: the
//! support-triage example's runs arrive as whole trees (pipeline → node
//! invocations and attempts → model calls, verdicts as events) whose
//! tokens and cost equal the ledger; a dead collector costs the runs
//! nothing; a served run continues the caller's `traceparent` and sends
//! its own to the upstream; no ticket text leaves the process.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use switchyard::batch::{run_batch, BatchOptions};
use switchyard::models::ModelHub;
use switchyard::pipeline::{Pipeline, RunRecord};
use switchyard::telemetry::{Root, Sampler, Telemetry, TelemetryConfig};
use switchyard_tests::{
    completion, engine, example, fixture, manifest, tickets, toml_path, MockUpstream, OtlpReceiver,
    ReceivedSpan, TestServer,
};
use switchyard_tests::{ticket_emails, triage_with};

fn config(endpoint: &str) -> TelemetryConfig {
    TelemetryConfig {
        traces_url: format!("{endpoint}/v1/traces"),
        headers: [("x-collector-key".to_string(), "k1".to_string())].into(),
        service_name: "support-desk".into(),
        sampler: Sampler::ParentBased(Root::AlwaysOn),
    }
}

/// Runs `n` tickets through `p`, exporting each record; returns the
/// records as JSON.
async fn exported_batch(p: &Pipeline, t: &Telemetry, n: usize) -> Vec<Value> {
    let shared = std::sync::Arc::new(p.clone());
    let mut out = Vec::new();
    run_batch(
        p,
        &tickets(n)[..],
        &mut out,
        BatchOptions {
            concurrency: 8,
            ..Default::default()
        },
        |rec: &RunRecord| t.export_record(shared.clone(), rec.clone()),
    )
    .await
    .expect("batch completes");
    t.shutdown(Duration::from_secs(10)).await;
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observability_support_triage_runs_arrive_as_whole_trees_equal_to_the_ledger() {
    let receiver = OtlpReceiver::start().await;
    let p = example(&engine(None), "pipeline.toml").await;
    let t = Telemetry::start(config(&receiver.endpoint), Default::default()).unwrap();
    let records = exported_batch(&p, &t, 40).await;
    assert_eq!(t.dropped(), 0);
    let spans = receiver.spans();
    assert_eq!(t.exported() as usize, spans.len());
    assert!(receiver
        .requests()
        .iter()
        .all(|h| h.get("x-collector-key").is_some_and(|v| v == "k1")));
    let mut by_trace: BTreeMap<&str, Vec<&ReceivedSpan>> = BTreeMap::new();
    for s in &spans {
        by_trace.entry(&s.trace_id).or_default().push(s);
        assert_eq!(s.service, "support-desk");
    }
    assert_eq!(by_trace.len(), records.len(), "one trace per run");
    let mut policy_actions = BTreeSet::new();
    let mut total_pusd = 0i64;
    for r in &records {
        let trace = r["span"]["trace_id"].as_str().unwrap();
        let tree = &by_trace[trace];
        // The root: the run, with its cost and tokens.
        let roots: Vec<_> = tree
            .iter()
            .filter(|s| s.parent_span_id.is_empty())
            .collect();
        assert_eq!(roots.len(), 1, "one root per run");
        let root = roots[0];
        assert_eq!(root.name, "invoke_workflow support-triage");
        assert_eq!(root.span_id, r["span"]["span_id"].as_str().unwrap());
        assert_eq!(
            root.attr("switchyard.cost.pusd").and_then(|v| v.int()),
            r["cost_pusd"].as_i64()
        );
        assert_eq!(
            root.attr("switchyard.run.id").and_then(|v| v.str()),
            r["id"].as_str()
        );
        // A span per node invocation and attempt, all under the root.
        let steps = r["trace"].as_array().unwrap();
        let nodes: BTreeMap<&str, &&ReceivedSpan> = tree
            .iter()
            .filter(|s| s.name.starts_with("invoke_agent "))
            .map(|s| (s.span_id.as_str(), s))
            .collect();
        assert_eq!(nodes.len(), steps.len());
        for step in steps {
            let span = nodes[step["span_id"].as_str().unwrap()];
            assert_eq!(span.parent_span_id, root.span_id);
            assert_eq!(
                span.name,
                format!("invoke_agent {}", step["node"].as_str().unwrap())
            );
            assert_eq!(
                span.attr("switchyard.attempt").and_then(|v| v.int()),
                step["attempt"].as_i64()
            );
            assert!(span.attr("switchyard.component.sha256").is_some());
            // A verdict for every judge invocation.
            if step["role"] == "judge" && step["outcome"] == "ok" {
                let label = step["verdict"]["verdict"].as_str().unwrap().to_string();
                let events: Vec<_> = span
                    .events
                    .iter()
                    .filter(|(n, _)| n == "gen_ai.evaluation.result")
                    .collect();
                assert_eq!(events.len(), 1, "{step}");
                let e = &events[0].1;
                assert_eq!(
                    e["gen_ai.evaluation.score.label"].str(),
                    Some(label.as_str()),
                    "{step}"
                );
                if let Some(action) = e.get("switchyard.policy.action").and_then(|v| v.str()) {
                    policy_actions.insert(action.to_string());
                }
            }
        }
        // A model span per ledger entry, under the invocation that made
        // it, with the entry's tokens and exact cost.
        let ledger = r["ledger"].as_array().unwrap();
        let models: BTreeMap<&str, &&ReceivedSpan> = tree
            .iter()
            .filter(|s| s.name.starts_with("chat "))
            .map(|s| (s.span_id.as_str(), s))
            .collect();
        assert_eq!(models.len(), ledger.len());
        assert_eq!(tree.len(), 1 + steps.len() + ledger.len(), "nothing else");
        for e in ledger {
            let span = models[e["span_id"].as_str().unwrap()];
            assert_eq!(span.kind, 3, "client");
            assert!(nodes.contains_key(span.parent_span_id.as_str()));
            assert_eq!(
                span.attr("gen_ai.request.model").and_then(|v| v.str()),
                e["upstream"].as_str()
            );
            for (attr, field) in [
                ("gen_ai.usage.input_tokens", "input_tokens"),
                ("gen_ai.usage.output_tokens", "output_tokens"),
                ("switchyard.cost.pusd", "cost_pusd"),
            ] {
                assert_eq!(
                    span.attr(attr).and_then(|v| v.int()),
                    e[field].as_i64(),
                    "{attr}"
                );
            }
            if e["outcome"] == "ok" {
                let reasons = span.attr("gen_ai.response.finish_reasons").unwrap().strs();
                assert_eq!(reasons, [e["finish_reason"].as_str().unwrap()], "{e}");
            }
            total_pusd += e["cost_pusd"].as_i64().unwrap();
        }
        // Retries and escalations are sibling attempts under the root.
        for ev in r["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|ev| ev["action"] == "retry" || ev["action"] == "escalate")
        {
            let gated = ev["node"].as_str().unwrap();
            let attempts = steps
                .iter()
                .filter(|s| s["node"] == gated || s["node"] == ev["producer"])
                .count();
            assert!(attempts >= 2, "a rejected output was tried again: {r}");
        }
    }
    let exported_pusd: i64 = spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .filter_map(|s| s.attr("switchyard.cost.pusd").and_then(|v| v.int()))
        .sum();
    assert_eq!(exported_pusd, total_pusd, "exported cost = the ledger's");
    assert!(
        policy_actions.contains("retry"),
        "40 tickets include a rejected draft that was retried: {policy_actions:?}"
    );
    // With content capture off, no ticket text leaves the process.
    let texts: Vec<String> = String::from_utf8(tickets(40))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["input"]["body"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for s in &spans {
        for v in s
            .attributes
            .values()
            .chain(s.events.iter().flat_map(|e| e.1.values()))
        {
            if let Some(text) = v.str() {
                assert!(
                    !text.contains('@')
                        && !texts.iter().any(|t| text.contains(&t[..t.len().min(24)])),
                    "{} carries content: {text}",
                    s.name
                );
            }
        }
    }
}

/// Every string an exported span carries, in attributes and events.
fn exported_strings(spans: &[ReceivedSpan]) -> Vec<String> {
    spans
        .iter()
        .flat_map(|s| {
            s.attributes
                .values()
                .chain(s.events.iter().flat_map(|e| e.1.values()))
                .flat_map(|v| {
                    v.str()
                        .into_iter()
                        .chain(v.strs().iter().map(String::as_str))
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observability_content_is_opt_in_and_redacted_by_the_named_judge() {
    let n = 40;
    let emails = ticket_emails(n);
    assert!(
        emails.len() >= 3,
        "the tickets carry e-mail addresses: {emails:?}"
    );
    let leaked = |strings: &[String]| -> BTreeSet<String> {
        emails
            .iter()
            .filter(|e| strings.iter().any(|s| s.contains(e.as_str())))
            .cloned()
            .collect()
    };

    // Content on, raw: the messages go out, e-mail addresses included
    // (what the redacting judge is for).
    let receiver = OtlpReceiver::start().await;
    let (p, _dir) = triage_with("[telemetry]\ncontent = true").await;
    let t = Telemetry::start(config(&receiver.endpoint), Default::default()).unwrap();
    exported_batch(&p, &t, n).await;
    let spans = receiver.spans();
    assert!(!leaked(&exported_strings(&spans)).is_empty());
    let chats: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    for s in &chats {
        let input: Value =
            serde_json::from_str(s.attr("gen_ai.input.messages").unwrap().str().unwrap()).unwrap();
        assert_eq!(input[0]["parts"][0]["type"], "text", "{input}");
        if s.attr("switchyard.outcome").and_then(|v| v.str()) == Some("ok") {
            let out: Value =
                serde_json::from_str(s.attr("gen_ai.output.messages").unwrap().str().unwrap())
                    .unwrap();
            assert_eq!(out[0]["role"], "assistant");
            let reasons = s.attr("gen_ai.response.finish_reasons").unwrap();
            assert_eq!(
                out[0]["finish_reason"].as_str(),
                reasons.strs().first().map(|s| s.as_str())
            );
        }
    }
    assert!(spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .all(
            |s| s.attr("switchyard.content").and_then(|v| v.str()) == Some("raw")
                && s.attr("gen_ai.input.messages").is_some()
        ));

    // Content on, redacted by the guardrail: the same messages, with no
    // e-mail address left in any exported string.
    let receiver = OtlpReceiver::start().await;
    let (p, _dir) = triage_with("[telemetry]\ncontent = true\nredact-with = \"redactor\"").await;
    let t = Telemetry::start(config(&receiver.endpoint), Default::default()).unwrap();
    let records = exported_batch(&p, &t, n).await;
    assert_eq!(t.dropped(), 0);
    let spans = receiver.spans();
    let strings = exported_strings(&spans);
    assert_eq!(
        leaked(&strings),
        BTreeSet::new(),
        "no address leaves the process"
    );
    assert!(
        strings.iter().any(|s| s.contains("[REDACTED")),
        "redacted, not dropped"
    );
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), records.len());
    for root in roots {
        assert_eq!(
            root.attr("switchyard.content").and_then(|v| v.str()),
            Some("redacted")
        );
        let input = root.attr("gen_ai.input.messages").unwrap().str().unwrap();
        assert!(
            input.contains("subject"),
            "the run's input is there: {input}"
        );
    }
    assert!(spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .all(|s| s.attr("gen_ai.input.messages").is_some()));

    // A judge that rejects instead of repairing (the example's guardrail,
    // in reject mode): content that needed redacting is withheld whole.
    let receiver = OtlpReceiver::start().await;
    let (p, _dir) = triage_with("[telemetry]\ncontent = true\nredact-with = \"pii-guard\"").await;
    let t = Telemetry::start(config(&receiver.endpoint), Default::default()).unwrap();
    exported_batch(&p, &t, n).await;
    let spans = receiver.spans();
    assert_eq!(leaked(&exported_strings(&spans)), BTreeSet::new());
    let states: BTreeSet<&str> = spans
        .iter()
        .filter_map(|s| s.attr("switchyard.content").and_then(|v| v.str()))
        .collect();
    assert_eq!(
        states,
        BTreeSet::from(["redacted", "withheld"]),
        "clean runs still export"
    );
    for s in spans
        .iter()
        .filter(|s| s.attr("switchyard.content").and_then(|v| v.str()) == Some("withheld"))
    {
        let tree: Vec<_> = spans.iter().filter(|c| c.trace_id == s.trace_id).collect();
        assert!(tree
            .iter()
            .all(|c| c.attr("gen_ai.input.messages").is_none()));
        assert!(tree.len() > 1, "the spans still go out, without content");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observability_a_dead_collector_leaves_runs_unaffected() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let p = example(&engine(None), "basic.toml").await;
    let t = Telemetry::start(config(&dead), Default::default()).unwrap();
    let records = exported_batch(&p, &t, 20).await;
    assert_eq!(records.len(), 20);
    assert!(records.iter().all(|r| r["ok"] == true));
    assert_eq!(t.exported(), 0);
    assert!(t.dropped() > 0, "what could not be sent is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observability_serve_continues_the_callers_trace_and_passes_it_upstream() {
    let receiver = OtlpReceiver::start().await;
    let upstream = MockUpstream::start(vec![completion("traced", 3, 2)]).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[pipeline]
name = "traced"

[models.remote]
provider = "openai"
base-url = "{}"

[nodes.w]
role = "worker"
component = {}
models = ["remote"]
settings = {{ do = "model", model = "remote" }}
"#,
        upstream.base_url,
        toml_path(&fixture("worker_hostile"))
    );
    let m = manifest(dir.path(), &text).unwrap();
    let hub = ModelHub::from_env(&m.models).unwrap();
    let p = Pipeline::load(&engine(None), m).await.unwrap().bind(hub);
    let t = Telemetry::start(config(&receiver.endpoint), Default::default()).unwrap();
    let server = TestServer::start_traced(p, t.clone()).await;
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = reqwest::Client::new()
        .post(format!("{}/v1/runs", server.url))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .json(&json!({"input": {"q": "hello"}}))
        .send()
        .await
        .unwrap();
    let header = response
        .headers()
        .get("traceparent")
        .expect("the answer names the run's span")
        .to_str()
        .unwrap()
        .to_string();
    let record: Value = response.json().await.unwrap();
    assert_eq!(record["ok"], true, "{record}");
    assert_eq!(record["span"]["trace_id"], caller_trace);
    assert_eq!(record["span"]["parent"], caller_span);
    let run_span = record["span"]["span_id"].as_str().unwrap();
    assert_eq!(header, format!("00-{caller_trace}-{run_span}-01"));
    // The upstream was called with the model call's own span.
    let entry = &record["ledger"][0];
    let sent = upstream.requests.lock().unwrap()[0]
        .headers
        .iter()
        .find(|(k, _)| k == "traceparent")
        .map(|(_, v)| v.clone())
        .expect("the upstream got a traceparent");
    assert_eq!(
        sent,
        format!(
            "00-{caller_trace}-{}-01",
            entry["span_id"].as_str().unwrap()
        )
    );
    // A malformed traceparent starts a new trace.
    let fresh: Value = reqwest::Client::new()
        .post(format!("{}/v1/runs", server.url))
        .header("traceparent", "00-not-a-trace-01")
        .json(&json!({"input": {"q": "again"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(fresh["span"]["trace_id"], caller_trace);
    assert!(fresh["span"].get("parent").is_none());
    server.stop().await.unwrap();
    t.shutdown(Duration::from_secs(10)).await;
    let spans = receiver.spans();
    let root = spans
        .iter()
        .find(|s| s.span_id == run_span)
        .expect("the run's span was exported");
    assert_eq!(root.trace_id, caller_trace);
    assert_eq!(
        root.parent_span_id, caller_span,
        "nested in the caller's trace"
    );
    assert_eq!(root.kind, 2, "a server span");
    assert!(spans
        .iter()
        .any(|s| s.span_id == entry["span_id"].as_str().unwrap() && s.trace_id == caller_trace));
}

#[test]
fn observability_json_logs_carry_the_runs_trace_and_the_nodes_span() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("pipeline.toml");
    std::fs::write(
        &manifest,
        format!(
            "[pipeline]\nname = \"logs\"\n\n[nodes.w]\nrole = \"worker\"\ncomponent = {}\n",
            toml_path(&fixture("worker_hostile"))
        ),
    )
    .unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\":\"a\",\"input\":{\"do\":\"log\",\"n\":2}}\n",
    )
    .unwrap();
    let output = dir.path().join("out.jsonl");
    let out = std::process::Command::new(switchyard_tests::switchyard_bin())
        .arg("--log-format")
        .arg("json")
        .arg("run")
        .arg(&manifest)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .env("RUST_LOG", "warn,switchyard::guest=info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let record: Value =
        serde_json::from_str(std::fs::read_to_string(&output).unwrap().trim()).unwrap();
    let trace_id = record["span"]["trace_id"].as_str().unwrap();
    let node_span = record["trace"][0]["span_id"].as_str().unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("every log line is one JSON object"))
        .collect();
    let guest: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "switchyard::guest")
        .collect();
    assert_eq!(guest.len(), 2, "{stderr}");
    for line in guest {
        assert_eq!(line["node"], "w", "attributed to its node: {line}");
        assert!(line["message"].as_str().unwrap().starts_with("line "));
        let spans = line["spans"].as_array().unwrap();
        assert!(
            spans.iter().any(|s| s["trace_id"] == trace_id),
            "the run's trace id: {line}"
        );
        assert_eq!(
            line["span"]["span_id"], node_span,
            "the node's span: {line}"
        );
    }
}
