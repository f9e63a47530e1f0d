//! The improvement loop's recordings: a batch recorded whole, replayed
//! through the unchanged pipeline with no model call leaving the process
//! reproduces every output, verdict and cost; replayed with one judge
//! swapped, only what that judge decides (and what follows from it)
//! changes, and a local upstream standing in for every model receives
//! nothing; a torn last line is skipped, other bad lines are located.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use switchyard::batch::{run_batch, BatchOptions};
use switchyard::models::{ModelHub, Unrecorded};
use switchyard::pipeline::{Pipeline, RunRecord};
use switchyard::recording::{book_of, compare, read, replay, RecordedRun, RecordingSink, Target};
use switchyard_tests::{
    engine, example, fixture, manifest, record_tickets, root, serve_process, switchyard_bin,
    ticket_emails, tickets, triage_flow, triage_with, MockUpstream,
};

fn sy(args: &[&str]) -> (String, String) {
    let out = Command::new(switchyard_bin()).args(args).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "switchyard {args:?}: {stderr}");
    (stdout, stderr)
}

#[test]
fn improve_record_then_replay_of_the_unchanged_pipeline_is_identical() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).display().to_string();
    std::fs::write(p("in.jsonl"), tickets(30)).unwrap();
    let triage = root().join("examples/support-triage/pipeline.toml");
    let triage = triage.to_str().unwrap();
    sy(&[
        "run",
        triage,
        "-i",
        &p("in.jsonl"),
        "-o",
        &p("out.jsonl"),
        "--record",
        &p("base.jsonl"),
    ]);
    let (table, stderr) = sy(&[
        "replay",
        &p("base.jsonl"),
        "--manifest",
        triage,
        "--unrecorded",
        "fail",
        "--output",
        &p("cand.jsonl"),
        "--json",
        &p("cmp.json"),
    ]);
    assert!(stderr.contains("0 not in it"), "{stderr}");
    assert!(table.contains("no run flipped"), "{table}");
    let cmp: Value = serde_json::from_slice(&std::fs::read(p("cmp.json")).unwrap()).unwrap();
    assert_eq!(cmp["matched"], 30);
    assert_eq!(cmp["outputs_changed"], 0, "{cmp}");
    assert_eq!(cmp["costs_changed"], 0, "{cmp}");
    assert_eq!(cmp["baseline"]["cost_pusd"], cmp["candidate"]["cost_pusd"]);
    assert!(
        cmp["baseline"]["retries"].as_u64().unwrap() > 0,
        "the batch has rejections to reproduce"
    );
    for (node, n) in cmp["nodes"].as_object().unwrap() {
        assert_eq!(n["answers_changed"], 0, "{node}");
        assert_eq!(
            n["baseline"]["verdicts"], n["candidate"]["verdicts"],
            "{node}"
        );
    }
    // The recordings hold what they promise, and agree with the records.
    let base = read(&[dir.path().join("base.jsonl")]).unwrap().runs;
    let records: Vec<Value> = std::fs::read_to_string(p("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(base.len(), 30);
    let by_id: BTreeMap<&str, &Value> = records
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    for run in &base {
        let rec = by_id[run.id.as_str()];
        assert_eq!(run.record["output"], rec["output"]);
        assert_eq!(run.record["cost_pusd"], rec["cost_pusd"]);
        assert_eq!(
            run.invocations.len(),
            rec["trace"].as_array().unwrap().len()
        );
        let attempts: usize = run.calls.iter().map(|c| c.attempts.len()).sum();
        assert_eq!(attempts, rec["ledger"].as_array().unwrap().len());
        assert!(run.components.contains_key("pii-guard"));
        assert!(run.calls.iter().all(|c| !c.request.messages.is_empty()));
    }
    // compare reads the two files the same way.
    let (again, _) = sy(&["compare", &p("base.jsonl"), &p("cand.jsonl")]);
    assert_eq!(again, table);
}

/// The support-triage pipeline with every model pointed at `base_url`
/// (an OpenAI-compatible upstream), components by absolute path.
fn pointed_at(base_url: &str, dir: &Path) -> String {
    let text = triage_flow().replace(
        "provider = \"sim\"",
        &format!("provider = \"openai\"\nbase-url = \"{base_url}\""),
    );
    let text = text
        .lines()
        .filter(|l| !l.starts_with("sim = ") && !l.starts_with("upstream = "))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("pipeline.toml"), &text).unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn improve_replay_with_a_swapped_judge_changes_only_its_decisions_and_calls_no_model() {
    // Record 40 tickets on the example's sim models.
    let p = example(&engine(None), "pipeline.toml").await;
    let recorded = record_tickets(&p, 40).await;
    // The candidate: the same flow with every model behind a local
    // upstream that must receive nothing, and the factuality judge
    // swapped for one that accepts every draft and calls no model.
    let upstream = MockUpstream::start(Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let text = pointed_at(&upstream.base_url, dir.path());
    let m = manifest(dir.path(), &text).unwrap();
    let (book, unreadable) = book_of(&recorded, Unrecorded::Live);
    assert_eq!(unreadable, 0);
    let book = std::sync::Arc::new(book);
    let hub = ModelHub::from_env(&m.models)
        .unwrap()
        .with_replay(book.clone());
    let engine = engine(None);
    let candidate = Pipeline::load(&engine, m).await.unwrap().bind(hub);
    let bytes = std::fs::read(fixture("judge_scripted")).unwrap();
    let judge = candidate
        .check_component("factuality", &bytes, &fixture("judge_scripted"))
        .await
        .unwrap();
    let candidate = candidate.with_component("factuality", judge).unwrap();
    let records = replay(&candidate, &recorded, 8).await;
    let replayed: Vec<RecordedRun> = records
        .iter()
        .map(|r| RecordedRun::of(&candidate, r).unwrap())
        .collect();
    assert_eq!(upstream.count(), 0, "no model call left the process");
    assert!(book.hits() > 0);
    assert_eq!(book.misses(), 0);

    let cmp = compare(&recorded, &replayed);
    let fact = &cmp.nodes["factuality"];
    assert!(fact.baseline.verdicts.get("reject").copied().unwrap_or(0) > 0);
    assert_eq!(
        fact.candidate.verdicts.keys().collect::<Vec<_>>(),
        ["accept"]
    );
    assert_eq!(fact.candidate.cost_pusd, 0, "the new judge calls no model");
    for (b, c) in recorded.iter().zip(&replayed) {
        assert_eq!(b.id, c.id);
        // Nodes before the judge answer exactly as recorded.
        for node in ["triage", "extract"] {
            let answers = |r: &RecordedRun| -> Vec<Value> {
                r.invocations
                    .iter()
                    .filter(|i| i.node == node)
                    .map(|i| i.answer.clone().unwrap())
                    .collect()
            };
            assert_eq!(answers(b), answers(c), "{node} in {}", b.id);
        }
        // A run the old judge never rejected comes out the same, at the
        // same cost less the old judge's calls.
        let rejected = b.record["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["by"] == "judge `factuality`"));
        if !rejected {
            assert_eq!(b.record["output"], c.record["output"], "{}", b.id);
            let judge_cost: u64 = b.record["ledger"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["node"] == "factuality")
                .map(|e| e["cost_pusd"].as_u64().unwrap())
                .sum();
            assert_eq!(
                b.record["cost_pusd"].as_u64().unwrap() - judge_cost,
                c.record["cost_pusd"].as_u64().unwrap(),
                "{}",
                b.id
            );
        }
    }
    assert!(cmp.flips.iter().all(|f| f.direction == "fail→pass"));
}

#[test]
fn improve_a_torn_last_line_is_skipped_and_other_bad_lines_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.jsonl");
    std::fs::write(&f, "").unwrap();
    assert!(read(std::slice::from_ref(&f)).unwrap().runs.is_empty());
    std::fs::write(&f, "{\"recording\": 1, \"pipel").unwrap();
    let r = read(std::slice::from_ref(&f)).unwrap();
    assert_eq!((r.runs.len(), r.torn.len()), (0, 1));
    std::fs::write(&f, "{\"recording\": 7}\n").unwrap();
    let e = read(std::slice::from_ref(&f)).unwrap_err().to_string();
    assert!(e.contains("r.jsonl:1:") && e.contains("version-1"), "{e}");
    std::fs::write(&f, "not json\n{}\n").unwrap();
    let e = read(&[f]).unwrap_err().to_string();
    assert!(e.contains("r.jsonl:1:"), "{e}");
}

/// Sends `n` support-triage tickets to `url`, `concurrency` at a time;
/// returns the ids answered 200.
async fn send_tickets(url: String, n: usize, concurrency: usize) -> Vec<String> {
    use futures::StreamExt;
    let client = reqwest::Client::new();
    let inputs: Vec<Value> = String::from_utf8(tickets(n))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sends = inputs.into_iter().map(|t| {
        let client = client.clone();
        let url = format!("{url}/v1/runs");
        async move {
            let r = client
                .post(url)
                .json(&serde_json::json!({"id": t["id"], "input": t["input"]}))
                .send()
                .await
                .ok()?;
            (r.status() == 200).then(|| t["id"].as_str().unwrap().to_string())
        }
    });
    futures::stream::iter(sends)
        .buffer_unordered(concurrency)
        .filter_map(|x| async move { x })
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn improve_serve_records_rotating_files_sampled_and_readable_after_a_kill() {
    let triage = root().join("examples/support-triage/pipeline.toml");
    // Every run, in files of at most 64 KiB; stopped gracefully, every
    // answered run is there.
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    let rec_s = rec.display().to_string();
    let (mut child, url, log) =
        serve_process(&triage, &["--record", &rec_s, "--record-rotate-kb", "64"]);
    let answered = send_tickets(url.clone(), 30, 6).await;
    assert_eq!(answered.len(), 30);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    assert!(child.wait().unwrap().success());
    assert!(log.join().unwrap().contains("recorded 30 runs"));
    let files = std::fs::read_dir(&rec).unwrap().count();
    assert!(files >= 2, "rotated past 64 KiB: {files} file(s)");
    let r = read(std::slice::from_ref(&rec)).unwrap();
    let mut ids: Vec<String> = r.runs.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    let mut sent = answered.clone();
    sent.sort();
    assert_eq!(ids, sent);
    assert!(r
        .runs
        .iter()
        .all(|r| !r.calls.is_empty() && !r.invocations.is_empty()));

    // Killed with runs in flight: what it wrote reads back, complete
    // lines only.
    let (mut child, url, _log) = serve_process(&triage, &["--record", &rec_s]);
    let sending = tokio::spawn(send_tickets(url.clone(), 40, 16));
    // Kill once the first new file has a complete line in it.
    let before = r.runs.len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while read(std::slice::from_ref(&rec)).map_or(before, |r| r.runs.len()) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing recorded in 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = sending.await;
    let after = read(std::slice::from_ref(&rec)).expect("readable after a kill");
    assert!(after.runs.len() > before);
    assert!(after
        .runs
        .iter()
        .all(|r| r.recording == 1 && r.record["id"] == r.id.as_str()));

    // Sampling: a share of 0 records nothing, and keeps no content.
    let none = dir.path().join("none");
    let (mut child, url, log) = serve_process(
        &triage,
        &[
            "--record",
            &none.display().to_string(),
            "--record-sample",
            "0",
        ],
    );
    assert_eq!(send_tickets(url.clone(), 5, 5).await.len(), 5);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    child.wait().unwrap();
    assert!(log.join().unwrap().contains("recorded 0 runs"));
    assert!(read(&[none]).unwrap().runs.is_empty());
}

/// Runs 40 tickets through `p` and records them through a sink (so the
/// manifest's `[recording]` rules apply); returns the file's text and the
/// runs read back.
async fn recorded_through_sink(p: Pipeline, dir: &Path) -> (String, Vec<RecordedRun>) {
    let path = dir.join("rec.jsonl");
    let sink = RecordingSink::start(Target::File(path.clone()), 1.0).unwrap();
    let shared = std::sync::Arc::new(p.clone());
    run_batch(
        &p,
        &tickets(40)[..],
        &mut Vec::new(),
        BatchOptions {
            concurrency: 8,
            capture: true,
            ..Default::default()
        },
        |r: &RunRecord| sink.record(&shared, r, true),
    )
    .await
    .unwrap();
    sink.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let runs = read(&[path]).unwrap().runs;
    assert_eq!(runs.len(), 40);
    (text, runs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn improve_recorded_text_follows_the_manifest_redacted_omitted_or_off() {
    let emails = ticket_emails(40);
    assert!(emails.len() >= 3);
    let dir = tempfile::tempdir().unwrap();

    // Raw: the addresses are in the recording (what redaction is for).
    let (p, _d) = triage_with("").await;
    let (raw, runs) = recorded_through_sink(p, dir.path()).await;
    assert!(emails.iter().any(|e| raw.contains(e.as_str())));
    assert!(runs.iter().all(|r| r.content == "raw"));
    std::fs::remove_file(dir.path().join("rec.jsonl")).unwrap();

    // Redacted by the guardrail: no address anywhere in the file, the
    // rest of the text kept, costs and verdicts as the raw recording's.
    let (p, _d) = triage_with("[recording]\nredact-with = \"redactor\"").await;
    let (text, redacted) = recorded_through_sink(p, dir.path()).await;
    for e in &emails {
        assert!(!text.contains(e.as_str()), "{e} was recorded");
    }
    assert!(text.contains("[REDACTED"));
    assert!(redacted.iter().all(|r| r.content == "redacted"));
    assert!(redacted.iter().all(|r| r.input["subject"].is_string()));
    let cmp = compare(&runs, &redacted);
    assert_eq!(cmp.costs_changed, 0, "same sim answers, same costs");
    std::fs::remove_file(dir.path().join("rec.jsonl")).unwrap();

    // Nodes left out: their prompts and answers are empty, others kept.
    let (p, _d) =
        triage_with("[recording]\nomit-nodes = [\"answer-small\", \"answer-frontier\"]").await;
    let (_, omitted) = recorded_through_sink(p, dir.path()).await;
    for r in &omitted {
        assert_eq!(r.omitted, ["answer-small", "answer-frontier"]);
        for c in &r.calls {
            let empty = c.request.messages.iter().all(|m| m.content.is_empty());
            assert_eq!(empty, c.node.starts_with("answer-"), "{}", c.node);
        }
    }
    std::fs::remove_file(dir.path().join("rec.jsonl")).unwrap();

    // No text at all: costs, routes and verdicts only, still comparable.
    let (p, _d) = triage_with("[recording]\ncontent = false").await;
    let (text, off) = recorded_through_sink(p, dir.path()).await;
    let bodies: Vec<String> = String::from_utf8(tickets(40))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["input"]["body"]
                .as_str()
                .unwrap()[..20]
                .to_string()
        })
        .collect();
    for b in &bodies {
        assert!(!text.contains(b.as_str()), "{b} was recorded");
    }
    assert!(off.iter().all(|r| r.content == "off" && r.input.is_null()));
    let cmp = compare(&runs, &off);
    assert_eq!(cmp.costs_changed, 0);
    assert_eq!(
        cmp.nodes["factuality"].baseline.verdicts,
        cmp.nodes["factuality"].candidate.verdicts
    );
    std::fs::remove_file(dir.path().join("rec.jsonl")).unwrap();

    // A judge that rejects instead of repairing: those runs' text is
    // withheld whole.
    let (p, _d) = triage_with("[recording]\nredact-with = \"pii-guard\"").await;
    let (text, judged) = recorded_through_sink(p, dir.path()).await;
    for e in &emails {
        assert!(!text.contains(e.as_str()));
    }
    let states: std::collections::BTreeSet<&str> =
        judged.iter().map(|r| r.content.as_str()).collect();
    assert_eq!(states, ["redacted", "withheld"].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn improve_the_router_pipeline_and_a_cascade_compare_on_the_same_recorded_tickets() {
    let p = example(&engine(None), "pipeline.toml").await;
    let router = record_tickets(&p, 40).await;
    let m = switchyard::config::load(&root().join("examples/support-triage/cascade.toml")).unwrap();
    let (book, _) = book_of(&router, Unrecorded::Sim);
    let book = std::sync::Arc::new(book);
    let hub = ModelHub::from_env(&m.models)
        .unwrap()
        .with_replay(book.clone());
    let cascade = Pipeline::load(&engine(None), m).await.unwrap().bind(hub);
    let records = replay(&cascade, &router, 8).await;
    let replayed: Vec<RecordedRun> = records
        .iter()
        .map(|r| RecordedRun::of(&cascade, r).unwrap())
        .collect();
    let cmp = compare(&router, &replayed);
    // The extraction is the same node on the same input: all recorded.
    assert_eq!(cmp.nodes["extract"].answers_changed, 0);
    assert!(
        book.hits() > 0 && book.misses() > 0,
        "new small-model drafts went to sim"
    );
    assert_eq!(cmp.nodes["triage"].candidate.invocations, 0);
    assert_eq!(cmp.candidate.routed_labelled, 0);
    // Drafting every ticket on the small model first costs less.
    assert!(
        cmp.candidate.cost_pusd < cmp.baseline.cost_pusd,
        "{} vs {}",
        cmp.candidate.cost_pusd,
        cmp.baseline.cost_pusd
    );
    assert!(
        cmp.nodes["answer-small"].candidate.invocations
            > cmp.nodes["answer-small"].baseline.invocations
    );
}
