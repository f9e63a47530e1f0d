//! `switchyard export`: per-node training data from a recording of the
//! support-triage example. SFT lines are exactly the node's accepted
//! answers; preference pairs exist exactly for the rejections followed by
//! an accepted retry or escalation; duplicates go, the train/validation
//! split is stable and disjoint, filters keep what they say; unknown
//! nodes, empty results and unwritable outputs are explained, and a
//! failed export leaves the old output as it was.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use switchyard::recording::{RecordedModelCall, RecordedRun};
use switchyard_tests::{engine, example, record_tickets, switchyard_bin};

const NODE: &str = "answer-small";

/// `n` support-triage tickets run and recorded whole, written to
/// `rec.jsonl` in a fresh directory.
async fn recording(n: usize) -> (tempfile::TempDir, PathBuf, Vec<RecordedRun>) {
    let p = example(&engine(None), "pipeline.toml").await;
    let runs = record_tickets(&p, n).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rec.jsonl");
    let text: String = runs
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&file, text).unwrap();
    (dir, file, runs)
}

/// Runs `switchyard export ARGS`: (success, stderr).
fn export(args: &[&str]) -> (bool, String) {
    let out = Command::new(switchyard_bin())
        .arg("export")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `switchyard export ARGS`, which must succeed: its stderr.
fn export_ok(args: &[&str]) -> String {
    let (ok, stderr) = export(args);
    assert!(ok, "export {args:?}: {stderr}");
    stderr
}

/// `switchyard export ARGS`, which must fail: its stderr.
fn export_err(args: &[&str]) -> String {
    let (ok, stderr) = export(args);
    assert!(!ok, "export {args:?} succeeded: {stderr}");
    stderr
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The number on the summary line starting with `label`.
fn figure(stderr: &str, label: &str) -> usize {
    stderr
        .lines()
        .find(|l| l.starts_with(label))
        .and_then(|l| l[label.len()..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` figure in: {stderr}"))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The node's model calls in a run, in order: one per attempt.
fn node_calls(run: &RecordedRun) -> Vec<&RecordedModelCall> {
    run.calls.iter().filter(|c| c.node == NODE).collect()
}

fn content(call: &RecordedModelCall) -> String {
    call.answer.as_ref().unwrap().content.clone()
}

/// The gate's `on-reject` events for the node, in order.
fn events(run: &RecordedRun) -> Vec<&Value> {
    run.record["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["node"] == NODE)
        .collect()
}

/// The node's output, when the run ended with its own model's answer.
fn accepted_reply(run: &RecordedRun, model: &str) -> Option<String> {
    let out = &run.record["output"][NODE];
    (out["model"] == model).then(|| out["reply"].as_str().unwrap().to_string())
}

/// The accepted answers: the node's last call where the run's output for
/// the node came from its own model (which must be that call's answer).
fn accepted_answers(runs: &[RecordedRun]) -> Vec<String> {
    let mut out = Vec::new();
    for run in runs {
        if let Some(reply) = accepted_reply(run, "small") {
            let last = node_calls(run).last().copied().map(content);
            assert_eq!(last.as_ref(), Some(&reply), "{}", run.id);
            out.push(reply);
        }
    }
    out
}

/// The rejected drafts: the node's call at each attempt it lost.
fn rejected_drafts(runs: &[RecordedRun], by: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for run in runs {
        let calls = node_calls(run);
        for (k, e) in events(run).into_iter().enumerate() {
            if e["producer"] == NODE && by.is_none_or(|b| e["by"] == b) {
                out.push(content(calls[k]));
            }
        }
    }
    out
}

/// One expected pair.
#[derive(Debug, PartialEq)]
struct Pair {
    prompt: Value,
    rejected: String,
    chosen: String,
}

/// The pairs the rule promises: each rejection of the node's draft by a
/// judge whose `retry`/`escalate` led to the gate's last, accepted
/// attempt; none when the later attempt was rejected too or fell back.
/// Also returns (escalations paired, rejections left unpaired).
fn expected_pairs(runs: &[RecordedRun]) -> (Vec<Pair>, usize, usize) {
    let (mut pairs, mut escalated, mut unpaired) = (Vec::new(), 0, 0);
    for run in runs {
        let calls = node_calls(run);
        let events = events(run);
        for (k, e) in events.iter().enumerate() {
            if e["producer"] != NODE {
                continue;
            }
            assert!(e["by"].as_str().unwrap().starts_with("judge `"), "{e}");
            let model = match e["action"].as_str() {
                Some("retry") => "small",
                Some("escalate") => "frontier",
                _ => "none",
            };
            let next_accepted = k + 1 == events.len();
            match accepted_reply(run, model).filter(|_| next_accepted) {
                Some(chosen) => {
                    escalated += usize::from(model == "frontier");
                    pairs.push(Pair {
                        prompt: serde_json::to_value(&calls[0].request.messages).unwrap(),
                        rejected: content(calls[k]),
                        chosen,
                    });
                }
                None => unpaired += 1,
            }
        }
    }
    (pairs, escalated, unpaired)
}

fn assistant_text(turns: &Value) -> String {
    let turns = turns.as_array().unwrap();
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert_eq!(turns[0]["role"], "assistant");
    turns[0]["content"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn improve_export_sft_lines_are_the_accepted_answers_as_chat() {
    let (dir, rec, runs) = recording(80).await;
    let out = dir.path().join("sft.jsonl");
    let stderr = export_ok(&["--node", NODE, "--output", &s(&out), &s(&rec)]);
    let sft = lines(&out);
    let want = accepted_answers(&runs);
    assert!(want.len() > 20, "{}", want.len());
    let mut got = Vec::new();
    for line in &sft {
        let obj = line.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["messages"], "{line}");
        let messages = line["messages"].as_array().unwrap();
        let (answer, prompt) = messages.split_last().unwrap();
        assert_eq!(answer["role"], "assistant");
        assert!(!prompt.is_empty());
        for m in prompt {
            assert!(
                ["system", "user"].contains(&m["role"].as_str().unwrap()),
                "{m}"
            );
            assert!(m["content"].is_string());
        }
        got.push(answer["content"].as_str().unwrap().to_string());
    }
    assert_eq!(got, want);
    // The prompt is the accepted call's request, whole.
    let first = runs
        .iter()
        .find(|r| accepted_reply(r, "small").is_some())
        .unwrap();
    let call = *node_calls(first).last().unwrap();
    let messages = sft[0]["messages"].as_array().unwrap();
    assert_eq!(
        Value::from(messages[..messages.len() - 1].to_vec()),
        serde_json::to_value(&call.request.messages).unwrap()
    );
    assert_eq!(figure(&stderr, "runs read"), 80);
    let calls: usize = runs.iter().map(|r| node_calls(r).len()).sum();
    assert_eq!(figure(&stderr, "calls of the node"), calls);
    assert_eq!(figure(&stderr, "exported"), want.len());

    // --verdict rejected: exactly the drafts a gate rejected; any: all.
    let rej = dir.path().join("rejected.jsonl");
    export_ok(&[
        "--node",
        NODE,
        "--verdict",
        "rejected",
        "-o",
        &s(&rej),
        &s(&rec),
    ]);
    let rejected: Vec<String> = lines(&rej)
        .iter()
        .map(|l| {
            let m = l["messages"].as_array().unwrap();
            m.last().unwrap()["content"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(rejected, rejected_drafts(&runs, None));
    assert!(!rejected.is_empty());
    let any = dir.path().join("any.jsonl");
    export_ok(&["--node", NODE, "--verdict", "any", "-o", &s(&any), &s(&rec)]);
    assert_eq!(lines(&any).len(), calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn improve_export_pairs_exist_exactly_for_rejections_with_an_accepted_next_attempt() {
    let (dir, rec, runs) = recording(80).await;
    let (want, escalated, unpaired) = expected_pairs(&runs);
    assert!(
        escalated > 0 && want.len() > escalated,
        "pairs from retries and from escalations"
    );
    assert!(
        unpaired > 0,
        "rejections whose next attempt was rejected too or fell back"
    );

    let trl = dir.path().join("trl.jsonl");
    let stderr = export_ok(&[
        "--node",
        NODE,
        "--format",
        "preference",
        "-o",
        &s(&trl),
        &s(&rec),
    ]);
    let got: Vec<Pair> = lines(&trl)
        .iter()
        .map(|l| {
            let keys: Vec<&String> = l.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["chosen", "prompt", "rejected"], "{l}");
            Pair {
                prompt: l["prompt"].clone(),
                rejected: assistant_text(&l["rejected"]),
                chosen: assistant_text(&l["chosen"]),
            }
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        figure(&stderr, "rejected answers"),
        rejected_drafts(&runs, None).len()
    );
    assert_eq!(figure(&stderr, "skipped: next not accepted"), unpaired);
    // The original prompt carries no judge feedback.
    for p in &got {
        assert!(!p.prompt.to_string().contains("previous draft was rejected"));
    }

    // OpenAI's format holds the same pairs; the accepted request's prompt
    // carries the feedback the retry was given.
    let openai = dir.path().join("openai.jsonl");
    export_ok(&[
        "--node",
        NODE,
        "--format",
        "preference",
        "--preference-format",
        "openai",
        "--pair-prompt",
        "accepted",
        "-o",
        &s(&openai),
        &s(&rec),
    ]);
    let got: Vec<(String, String)> = lines(&openai)
        .iter()
        .map(|l| {
            let prompt = l["input"]["messages"].as_array().unwrap();
            assert!(prompt.iter().all(|m| m["role"] != "assistant"));
            assert!(
                prompt.last().unwrap()["content"]
                    .as_str()
                    .unwrap()
                    .contains("previous draft was rejected"),
                "{l}"
            );
            (
                assistant_text(&l["non_preferred_output"]),
                assistant_text(&l["preferred_output"]),
            )
        })
        .collect();
    let n_pairs = want.len();
    let want: Vec<(String, String)> = want.into_iter().map(|p| (p.rejected, p.chosen)).collect();
    assert_eq!(got, want);

    // --judge: only the pairs that judge's rejections started.
    let pii = dir.path().join("pii.jsonl");
    export_ok(&[
        "--node",
        NODE,
        "--format",
        "preference",
        "--judge",
        "pii-guard",
        "-o",
        &s(&pii),
        &s(&rec),
    ]);
    let by_pii = rejected_drafts(&runs, Some("judge `pii-guard`"));
    let got: Vec<String> = lines(&pii)
        .iter()
        .map(|l| assistant_text(&l["rejected"]))
        .collect();
    assert!(!got.is_empty(), "the batch has a PII rejection retried");
    assert!(got.iter().all(|r| by_pii.contains(r)));
    assert!(got.len() < n_pairs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn improve_export_dedupes_splits_stably_and_filters() {
    let (dir, rec, runs) = recording(80).await;
    let p = |f: &str| dir.path().join(f);
    let all = accepted_answers(&runs);

    // The same recording twice: every example is a duplicate once.
    let once = p("once.jsonl");
    export_ok(&["--node", NODE, "-o", &s(&once), &s(&rec)]);
    let twice = p("twice.jsonl");
    let stderr = export_ok(&["--node", NODE, "-o", &s(&twice), &s(&rec), &s(&rec)]);
    assert_eq!(figure(&stderr, "duplicates"), all.len());
    assert_eq!(
        std::fs::read(&once).unwrap(),
        std::fs::read(&twice).unwrap()
    );

    // The split: FILE and FILE.valid, disjoint, together the whole
    // export, the same on every export.
    let split = p("split.jsonl");
    let stderr = export_ok(&[
        "--node",
        NODE,
        "--validation",
        "0.3",
        "-o",
        &s(&split),
        &s(&rec),
    ]);
    let valid = p("split.valid.jsonl");
    let (train_lines, valid_lines) = (
        std::fs::read_to_string(&split).unwrap(),
        std::fs::read_to_string(&valid).unwrap(),
    );
    let (t, v): (Vec<&str>, Vec<&str>) =
        (train_lines.lines().collect(), valid_lines.lines().collect());
    assert!(!t.is_empty() && !v.is_empty(), "{} / {}", t.len(), v.len());
    assert!(t.iter().all(|l| !v.contains(l)));
    assert_eq!(t.len() + v.len(), all.len());
    assert_eq!(figure(&stderr, "exported"), all.len());
    let whole = std::fs::read_to_string(&once).unwrap();
    assert!(t.iter().chain(&v).all(|l| whole.contains(l)));
    export_ok(&[
        "--node",
        NODE,
        "--validation",
        "0.3",
        "-o",
        &s(&split),
        &s(&rec),
    ]);
    assert_eq!(std::fs::read_to_string(&split).unwrap(), train_lines);
    assert_eq!(std::fs::read_to_string(&valid).unwrap(), valid_lines);

    // --judge with --verdict rejected: what that judge rejected.
    let pii = p("pii.jsonl");
    export_ok(&[
        "--node",
        NODE,
        "--verdict",
        "rejected",
        "--judge",
        "factuality",
        "-o",
        &s(&pii),
        &s(&rec),
    ]);
    assert_eq!(
        lines(&pii).len(),
        rejected_drafts(&runs, Some("judge `factuality`")).len()
    );

    // --route: the node runs on the `simple` branch only.
    let simple = p("simple.jsonl");
    export_ok(&[
        "--node",
        NODE,
        "--route",
        "simple",
        "-o",
        &s(&simple),
        &s(&rec),
    ]);
    assert_eq!(
        std::fs::read(&simple).unwrap(),
        std::fs::read(&once).unwrap()
    );
    let e = export_err(&[
        "--node",
        NODE,
        "--route",
        "complex",
        "-o",
        &s(&p("x")),
        &s(&rec),
    ]);
    assert!(
        e.contains("--route complex") && e.contains("routes seen: simple"),
        "{e}"
    );

    // --max-cost-usd: per call, all its attempts.
    let cost = |c: &RecordedModelCall| c.attempts.iter().map(|a| a.cost_pusd).sum::<u64>();
    let mut costs: Vec<u64> = runs
        .iter()
        .filter(|r| accepted_reply(r, "small").is_some())
        .map(|r| cost(node_calls(r).last().unwrap()))
        .collect();
    costs.sort();
    let max = costs[costs.len() / 2];
    let cheap = p("cheap.jsonl");
    let usd = format!("{}", max as f64 / 1e12);
    let stderr = export_ok(&[
        "--node",
        NODE,
        "--max-cost-usd",
        &usd,
        "-o",
        &s(&cheap),
        &s(&rec),
    ]);
    let n = costs.iter().filter(|c| **c <= max).count();
    assert_eq!(lines(&cheap).len(), n);
    assert_eq!(figure(&stderr, "skipped: --max-cost-usd"), all.len() - n);

    // --since/--until against the run's start.
    let since = p("since.jsonl");
    export_ok(&[
        "--node",
        NODE,
        "--since",
        "2000-01-01",
        "-o",
        &s(&since),
        &s(&rec),
    ]);
    assert_eq!(lines(&since).len(), all.len());
    let e = export_err(&[
        "--node",
        NODE,
        "--until",
        "2000-01-01T00:00:00Z",
        "-o",
        &s(&p("x")),
        &s(&rec),
    ]);
    assert!(e.contains("--since/--until"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn improve_export_explains_bad_input_and_never_leaves_a_partial_file() {
    let (dir, rec, _runs) = recording(12).await;
    let out = dir.path().join("out.jsonl");
    std::fs::write(&out, "old\n").unwrap();
    let o = s(&out);
    let r = s(&rec);
    let unchanged = |why: &str| {
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n", "{why}");
        let stray: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".switchyard"))
            .collect();
        assert!(stray.is_empty(), "{why}: {stray:?}");
    };

    let e = export_err(&["--node", "answer-smal", "-o", &o, &r]);
    assert!(e.contains("no node `answer-smal`"), "{e}");
    assert!(e.contains("did you mean `answer-small`?"), "{e}");
    assert!(
        e.contains("answer-frontier, answer-small, extract, factuality, pii-guard, triage"),
        "{e}"
    );
    unchanged("unknown node");

    let e = export_err(&["--node", "pii-guard", "-o", &o, &r]);
    assert!(e.contains("`pii-guard` made no model calls"), "{e}");
    unchanged("a node without model calls");

    let e = export_err(&["--node", NODE, "--judge", "tone", "-o", &o, &r]);
    assert!(
        e.contains("--judge tone") && e.contains("judges seen: factuality, pii-guard"),
        "{e}"
    );
    unchanged("a filter removing everything");

    let e = export_err(&["--node", NODE, "--since", "2999-01-01", "-o", &o, &r]);
    assert!(e.contains("--since/--until"), "{e}");
    unchanged("a window with no runs");

    let e = export_err(&["--node", NODE, "--since", "yesterday", "-o", &o, &r]);
    assert!(
        e.contains("--since `yesterday`") && e.contains("RFC 3339"),
        "{e}"
    );
    let e = export_err(&["--node", NODE, "--validation", "1.5", "-o", &o, &r]);
    assert!(e.contains("--validation"), "{e}");
    let e = export_err(&["--node", NODE, "--max-cost-usd=-1", "-o", &o, &r]);
    assert!(e.contains("--max-cost-usd"), "{e}");
    let e = export_err(&[
        "--node",
        NODE,
        "--format",
        "preference",
        "--verdict",
        "any",
        "-o",
        &o,
        &r,
    ]);
    assert!(e.contains("--verdict applies to --format sft only"), "{e}");
    unchanged("bad flags");

    let missing = dir.path().join("no/such/dir/out.jsonl");
    let e = export_err(&["--node", NODE, "-o", &s(&missing), &r]);
    assert!(
        e.contains(&format!("cannot write {}", missing.display())),
        "{e}"
    );
    let e = export_err(&["--node", NODE, "-o", &s(dir.path()), &r]);
    assert!(e.contains("it is a directory"), "{e}");
    let e = export_err(&["--node", NODE, "-o", &r, &r]);
    assert!(e.contains("one of the recordings"), "{e}");

    // And a good export replaces the old file whole.
    export_ok(&["--node", NODE, "-o", &o, &r]);
    assert!(lines(&out).iter().all(|l| l["messages"].is_array()));
}
