//! Shadow and canary experiments in serve mode, on 127.0.0.1: shadow
//! candidates that trap, loop to their CPU limit or are rejected every time
//! leave live runs exactly as they are without an experiment; a canary
//! serves its share of runs and its statistics equal the counts taken from
//! the returned records; promote is the hot-swap, abort leaves the live
//! component; every bad request is refused with a clear JSON error.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_tests::{fixture, hostile, pipeline, plugin, toml_path, TestServer};

const TOKEN: &str = "experiment-admin-token";

/// A drafting worker (the live node under experiment, `draft`) gated by
/// the scripted judge `check`, which rejects an output containing
/// `REJECT` and repairs `FIXME`. The live drafts never contain either
/// (the simulated model lowercases the words it picks up).
fn manifest() -> String {
    format!(
        r#"
[pipeline]
name = "experiment"
deadline-ms = 20000

[models.m]
provider = "sim"
price = {{ input = 1.0, output = 2.0 }}
sim = {{ seed = 7, ttft-ms = 1, ms-per-token = 0 }}

[models.slow]
provider = "sim"
price = {{ input = 3.0, output = 5.0 }}
sim = {{ seed = 1, ttft-ms = 1, ms-per-token = 0 }}

[nodes.draft]
role = "worker"
component = {draft}
models = ["m", "slow"]
settings = {{ model = "m" }}
judges = ["check"]
limits = {{ cpu-ms = 50 }}

[nodes.check]
role = "judge"
component = {judge}
"#,
        draft = toml_path(&plugin("worker_draft")),
        judge = toml_path(&fixture("judge_scripted")),
    )
}

async fn server() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &manifest()).await.unwrap();
    let server = TestServer::start(p, Some(TOKEN)).await;
    (dir, server)
}

fn bytes(path: std::path::PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `PUT /admin/nodes/{node}{query}` with `body`.
async fn put(
    client: &reqwest::Client,
    url: &str,
    node: &str,
    query: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let r = client
        .put(format!("{url}/admin/nodes/{node}{query}"))
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn admin(client: &reqwest::Client, method: &str, url: &str) -> (u16, Value) {
    let req = match method {
        "GET" => client.get(url),
        _ => client.post(url),
    };
    let r = req.bearer_auth(TOKEN).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The `i`-th input: a third ask the candidate echo to be rejected, a
/// third to be repaired, a third are plain.
fn input(i: usize) -> Value {
    let word = ["REJECT", "FIXME", "plain"][i % 3];
    json!({"text": format!("Ticket {i}: my invoice shows {word} twice and the payment failed"), "i": i})
}

/// An input the candidate echo always gets rejected for.
fn rejectable(i: usize) -> Value {
    input(3 * i)
}

/// `n` runs of `input(i)` from `clients` concurrent clients; the answers
/// by input index.
async fn load(
    client: &reqwest::Client,
    url: &str,
    n: usize,
    clients: usize,
    input: fn(usize) -> Value,
) -> Vec<(u16, Value)> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, next) = (client.clone(), url.to_string(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    return got;
                }
                let r = client
                    .post(format!("{url}/v1/runs"))
                    .json(&json!({"input": input(i), "id": format!("r{i}")}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                got.push((i, status, r.json::<Value>().await.unwrap()));
            }
        }));
    }
    let mut all: Vec<(usize, u16, Value)> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by_key(|(i, ..)| *i);
    assert_eq!(all.len(), n);
    all.into_iter().map(|(_, s, v)| (s, v)).collect()
}

/// Polls `GET /admin/nodes/{node}` until every started shadow run has
/// finished (bounded by a deadline), and returns the experiment.
async fn settled(client: &reqwest::Client, url: &str, node: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = admin(client, "GET", &format!("{url}/admin/nodes/{node}")).await;
        assert_eq!(status, 200, "{body}");
        let e = body["experiment"].clone();
        let shadow = &e["shadow"];
        if shadow["started"] == shadow["finished"] {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "shadow runs did not finish within the deadline: {e}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(map: &Value, key: &str) -> u64 {
    map[key].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiment_shadow_candidates_that_trap_loop_or_are_rejected_leave_live_runs_untouched() {
    const RUNS: usize = 200;
    const CLIENTS: usize = 16;
    let (_dir, server) = server().await;
    let client = reqwest::Client::new();
    let url = &server.url;

    // The same load with no experiment: the answers to reproduce.
    let baseline = load(&client, url, RUNS, CLIENTS, rejectable).await;
    let live_sha = baseline[0].1["nodes"]["draft"]["sha256"].clone();
    for (i, (status, body)) in baseline.iter().enumerate() {
        assert_eq!(*status, 200, "baseline run {i}: {body}");
    }

    // (candidate, the run error and node error it must cause)
    let cases = [
        (hostile("panic"), "trap"),
        (hostile("spin"), "cpu-limit"),
        (fixture("worker_hostile"), "rejected"),
    ];
    for (candidate, kind) in cases {
        let (status, started) = put(
            &client,
            url,
            "draft",
            "?mode=shadow",
            bytes(candidate.clone()),
        )
        .await;
        assert_eq!(status, 200, "{kind}: {started}");
        assert_eq!(
            (started["mode"].as_str(), started["state"].as_str()),
            (Some("shadow"), Some("running")),
            "{started}"
        );
        let answers = load(&client, url, RUNS, CLIENTS, rejectable).await;
        for (i, ((status, body), (_, base))) in answers.iter().zip(&baseline).enumerate() {
            assert_eq!(*status, 200, "{kind}: live run {i} failed: {body}");
            assert_eq!(body["output"], base["output"], "{kind}: run {i} changed");
            assert_eq!(body["generation"], 0, "{kind}: {body}");
            assert_eq!(body["nodes"]["draft"]["sha256"], live_sha, "{kind}: {body}");
        }
        let e = settled(&client, url, "draft").await;
        let shadow = &e["shadow"];
        let started = shadow["started"].as_u64().unwrap();
        assert!(started >= 1, "{kind}: no shadow run started: {e}");
        assert_eq!(
            shadow["sampled"], RUNS,
            "{kind}: percent 100 samples every run: {e}"
        );
        let skipped = &shadow["skipped"];
        assert_eq!(
            started + count(skipped, "busy") + count(skipped, "no_room") + count(skipped, "budget"),
            RUNS as u64,
            "{kind}: every sample is started or skipped: {e}"
        );
        let (live, cand) = (&e["arms"]["live"], &e["arms"]["candidate"]);
        // The candidate did exactly what it does: every shadow run failed
        // with its error, and nothing of it was served.
        assert_eq!(cand["runs"], started, "{kind}: {e}");
        assert_eq!(cand["ok"], 0, "{kind}: {e}");
        assert_eq!(cand["errors"], json!({ kind: started }), "{kind}: {e}");
        assert_eq!(cand["success_rate"], 0.0, "{kind}: {e}");
        assert_eq!(
            cand["cost_pusd"], 0,
            "{kind}: the candidate made no model call: {e}"
        );
        if kind == "rejected" {
            assert_eq!(cand["node"]["errors"], json!({}), "{e}");
            assert_eq!(cand["node"]["judged"], started, "{e}");
            assert_eq!(cand["node"]["rejected"], started, "{e}");
            assert_eq!(cand["node"]["verdicts"]["reject"], started, "{e}");
            assert_eq!(cand["node"]["pass_rate"], 0.0, "{e}");
        } else {
            assert_eq!(
                cand["node"]["errors"],
                json!({ kind: started }),
                "{kind}: {e}"
            );
            assert_eq!(cand["node"]["judged"], 0, "{kind}: {e}");
            assert!(cand["node"]["pass_rate"].is_null(), "{kind}: {e}");
        }
        // The live arm holds the same inputs: the runs whose shadow ran.
        assert_eq!(live["runs"], started, "{kind}: {e}");
        assert_eq!(live["ok"], started, "{kind}: {e}");
        assert_eq!(live["errors"], json!({}), "{kind}: {e}");
        assert_eq!(live["node"]["pass_rate"], 1.0, "{kind}: {e}");
        assert!(live["node"]["cost_pusd"].as_u64().unwrap() > 0, "{e}");
        assert_eq!(live["node"]["cost_pusd"], live["cost_pusd"], "{e}");
        assert!(live["latency_ms"]["p95"].as_f64() >= live["latency_ms"]["p50"].as_f64());

        let metrics = client
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(&format!(
                "switchyard_experiment_errors_total{{node=\"draft\",arm=\"candidate\",mode=\"shadow\",kind=\"{kind}\"}} {started}"
            )),
            "{kind}: {metrics}"
        );
        let (status, ended) =
            admin(&client, "POST", &format!("{url}/admin/nodes/draft/abort")).await;
        assert_eq!(status, 200, "{ended}");
        assert_eq!(ended["experiment"]["state"], "aborted", "{ended}");
        eprintln!("shadow {kind}: {started} of {RUNS} sampled runs shadowed, 0 live runs changed");
    }
    // Shadow runs are not served runs.
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "switchyard_runs_total{{outcome=\"ok\"}} {}",
            4 * RUNS
        )),
        "{metrics}"
    );
    assert!(
        !metrics.contains("switchyard_runs_total{outcome=\"trap\"}"),
        "{metrics}"
    );
    server.stop().await.unwrap();
}

/// What the records of one arm add up to.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    runs: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    cost_pusd: u64,
    node_cost_pusd: u64,
    invocations: u64,
    verdicts: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, record: &Value) {
        self.runs += 1;
        match record["error"]["kind"].as_str() {
            None => self.ok += 1,
            Some(kind) => *self.errors.entry(kind.into()).or_default() += 1,
        }
        self.cost_pusd += record["cost_pusd"].as_u64().unwrap();
        for e in record["ledger"].as_array().unwrap() {
            if e["node"] == "draft" {
                self.node_cost_pusd += e["cost_pusd"].as_u64().unwrap();
            }
        }
        for step in record["trace"].as_array().unwrap() {
            if step["node"] == "draft" {
                self.invocations += 1;
            }
            if step["gates"] == "draft" {
                let v = step["verdict"]["verdict"].as_str().unwrap();
                *self.verdicts.entry(v.into()).or_default() += 1;
            }
        }
    }

    fn of_status(arm: &Value) -> Self {
        let map = |v: &Value| -> BTreeMap<String, u64> {
            v.as_object()
                .unwrap()
                .iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
                .filter(|(_, n)| *n > 0)
                .collect()
        };
        Tally {
            runs: arm["runs"].as_u64().unwrap(),
            ok: arm["ok"].as_u64().unwrap(),
            errors: map(&arm["errors"]),
            cost_pusd: arm["cost_pusd"].as_u64().unwrap(),
            node_cost_pusd: arm["node"]["cost_pusd"].as_u64().unwrap(),
            invocations: arm["node"]["invocations"].as_u64().unwrap(),
            verdicts: map(&arm["node"]["verdicts"]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiment_canary_serves_its_share_and_its_statistics_match_the_records() {
    const RUNS: usize = 200;
    let (_dir, server) = server().await;
    let client = reqwest::Client::new();
    let url = &server.url;
    let (status, started) = put(
        &client,
        url,
        "draft",
        "?mode=canary&percent=30",
        bytes(fixture("worker_hostile")),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let candidate_sha = started["candidate"]["sha256"].clone();
    let live_sha = started["live"]["sha256"].clone();
    assert_ne!(candidate_sha, live_sha);

    let answers = load(&client, url, RUNS, 16, input).await;
    let (mut live, mut cand) = (Tally::default(), Tally::default());
    for (i, (status, record)) in answers.iter().enumerate() {
        let node = &record["nodes"]["draft"];
        if node["sha256"] == candidate_sha {
            // The candidate generation: the live one + 1, revision 2.
            assert_eq!(record["generation"], 1, "{record}");
            assert_eq!(node["revision"], 2, "{record}");
            let expect = if i % 3 == 0 { 422 } else { 200 };
            assert_eq!(*status, expect, "candidate run {i}: {record}");
            cand.add(record);
        } else {
            assert_eq!(node["sha256"], live_sha, "{record}");
            assert_eq!(
                (*status, &record["generation"]),
                (200, &json!(0)),
                "{record}"
            );
            live.add(record);
        }
    }
    // 30% of 200 runs: 60 expected, sd 6.5; 5 sd either side.
    assert!(
        (28..=92).contains(&cand.runs),
        "the candidate served {} of {RUNS} runs at percent=30",
        cand.runs
    );
    let (status, body) = admin(&client, "GET", &format!("{url}/admin/nodes/draft")).await;
    assert_eq!(status, 200, "{body}");
    let e = &body["experiment"];
    assert_eq!(
        (e["mode"].as_str(), e["percent"].as_f64()),
        (Some("canary"), Some(30.0))
    );
    assert!(e.get("shadow").is_none(), "{e}");
    assert_eq!(Tally::of_status(&e["arms"]["live"]), live, "{e}");
    assert_eq!(Tally::of_status(&e["arms"]["candidate"]), cand, "{e}");
    // Every candidate run of a REJECT input was rejected by the judge; the
    // pass rate is the accepted-or-repaired share.
    let rejected = cand.verdicts.get("reject").copied().unwrap_or(0);
    assert_eq!(cand.errors.get("rejected").copied().unwrap_or(0), rejected);
    let judged = e["arms"]["candidate"]["node"]["judged"].as_u64().unwrap();
    assert_eq!(judged, cand.runs);
    if judged > 0 {
        let pass = e["arms"]["candidate"]["node"]["pass_rate"]
            .as_f64()
            .unwrap();
        assert!((pass - (judged - rejected) as f64 / judged as f64).abs() < 1e-12);
    }
    assert_eq!(e["arms"]["live"]["node"]["pass_rate"], 1.0, "{e}");
    assert_eq!(e["spent_pusd"].as_u64(), Some(cand.cost_pusd));

    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (arm, t) in [("live", &live), ("candidate", &cand)] {
        assert!(
            metrics.contains(&format!(
                "switchyard_experiment_runs_total{{node=\"draft\",arm=\"{arm}\",mode=\"canary\"}} {}",
                t.runs
            )),
            "{arm}: {metrics}"
        );
    }
    assert!(
        metrics.contains("switchyard_experiment_percent{node=\"draft\",mode=\"canary\"} 30"),
        "{metrics}"
    );
    eprintln!(
        "canary 30%: candidate served {} of {RUNS} runs ({} rejected), live {}",
        cand.runs, rejected, live.runs
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiment_promote_swaps_the_candidate_in_and_abort_keeps_the_live_component() {
    let (_dir, server) = server().await;
    let client = reqwest::Client::new();
    let url = &server.url;
    let nodes = |body: &Value| body["nodes"]["draft"]["sha256"].clone();
    let (_, before) = admin(&client, "GET", &format!("{url}/admin/nodes")).await;
    let live_sha = nodes(&before);

    // Abort: the candidate is discarded, the live component stays.
    let (status, started) = put(
        &client,
        url,
        "draft",
        "?mode=shadow&percent=50",
        bytes(hostile("marker_a")),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let (_, listed) = admin(&client, "GET", &format!("{url}/admin/nodes")).await;
    assert_eq!(listed["nodes"]["draft"]["experiment"], "shadow", "{listed}");
    let (status, aborted) = admin(&client, "POST", &format!("{url}/admin/nodes/draft/abort")).await;
    assert_eq!(status, 200, "{aborted}");
    assert_eq!(aborted["aborted"], true);
    let (_, after) = admin(&client, "GET", &format!("{url}/admin/nodes")).await;
    assert_eq!(nodes(&after), live_sha, "{after}");
    assert_eq!(after["generation"], 0, "{after}");
    assert!(after["nodes"]["draft"]["experiment"].is_null(), "{after}");
    let (_, node) = admin(&client, "GET", &format!("{url}/admin/nodes/draft")).await;
    assert!(node["experiment"].is_null(), "{node}");

    // A canary on every run; a swap of another node meanwhile rebuilds
    // the candidate generation on the new live one.
    let candidate = bytes(fixture("worker_hostile"));
    let (status, started) = put(&client, url, "draft", "?mode=canary&percent=100", candidate).await;
    assert_eq!(status, 200, "{started}");
    let candidate_sha = started["candidate"]["sha256"].clone();
    let (status, swapped) = put(&client, url, "check", "", bytes(plugin("judge_pii"))).await;
    assert_eq!(status, 200, "another node swaps freely: {swapped}");
    let r = client
        .post(format!("{url}/v1/runs"))
        .json(&json!({"input": {"text": "hello there"}}))
        .send()
        .await
        .unwrap();
    let record: Value = r.json().await.unwrap();
    assert_eq!(
        record["nodes"]["draft"]["sha256"], candidate_sha,
        "{record}"
    );
    assert_eq!(
        record["nodes"]["check"]["sha256"], swapped["sha256"],
        "{record}"
    );
    assert_eq!(record["generation"], 2, "live generation 1 + 1: {record}");

    // Promote: the hot-swap of the candidate's bytes, with its report.
    let (status, promoted) =
        admin(&client, "POST", &format!("{url}/admin/nodes/draft/promote")).await;
    assert_eq!(status, 200, "{promoted}");
    assert_eq!(promoted["sha256"], candidate_sha, "{promoted}");
    assert_eq!(promoted["revision"], 2, "{promoted}");
    assert_eq!(promoted["generation"], 2, "{promoted}");
    assert_eq!(promoted["unchanged"], false, "{promoted}");
    assert_eq!(promoted["experiment"]["state"], "promoted", "{promoted}");
    assert_eq!(
        promoted["experiment"]["arms"]["candidate"]["runs"], 1,
        "{promoted}"
    );
    let (_, after) = admin(&client, "GET", &format!("{url}/admin/nodes")).await;
    assert_eq!(nodes(&after), candidate_sha, "{after}");
    assert!(after["nodes"]["draft"]["experiment"].is_null(), "{after}");
    let r = client
        .post(format!("{url}/v1/runs"))
        .json(&json!({"input": {"text": "hello again"}}))
        .send()
        .await
        .unwrap();
    let record: Value = r.json().await.unwrap();
    assert_eq!(record["generation"], 2, "{record}");
    assert_eq!(
        record["nodes"]["draft"]["sha256"], candidate_sha,
        "{record}"
    );
    assert_eq!(record["output"], json!({"text": "hello again"}), "{record}");
    // Plain swaps work again once the experiment has ended.
    let (status, body) = put(&client, url, "draft", "", bytes(plugin("worker_draft"))).await;
    assert_eq!((status, &body["revision"]), (200, &json!(3)), "{body}");

    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "switchyard_swaps_total{node=\"draft\",result=\"accepted\"} 2",
        "switchyard_experiment_events_total{node=\"draft\",mode=\"canary\",event=\"promoted\"} 1",
        "switchyard_experiment_events_total{node=\"draft\",mode=\"shadow\",event=\"aborted\"} 1",
    ] {
        assert!(metrics.contains(line), "{line}: {metrics}");
    }
    assert!(
        !metrics.contains("switchyard_experiment_percent{"),
        "ended experiments leave no share gauge: {metrics}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiment_shadow_budget_stops_sampling_once_spent() {
    let (_dir, server) = server().await;
    let client = reqwest::Client::new();
    let url = &server.url;
    // marker_a makes one priced call to `slow`: its first shadow run spends
    // more than a budget of a millionth of a cent.
    let (status, body) = put(
        &client,
        url,
        "draft",
        "?mode=shadow&budget-usd=0.00000001",
        bytes(hostile("marker_a")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["budget_pusd"], 10_000, "{body}");
    for i in 0..6 {
        let r = client
            .post(format!("{url}/v1/runs"))
            .json(&json!({"input": input(3 * i + 2)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        if i == 0 {
            // One run at a time: its shadow started; wait for it.
            let e = settled(&client, url, "draft").await;
            assert_eq!(e["shadow"]["started"], 1, "{e}");
        }
    }
    let e = settled(&client, url, "draft").await;
    assert_eq!(e["state"], "budget-exhausted", "{e}");
    assert!(e["reason"].as_str().unwrap().contains("budget"), "{e}");
    assert_eq!(
        (&e["shadow"]["sampled"], &e["shadow"]["started"]),
        (&json!(1), &json!(1)),
        "no sampling past the budget: {e}"
    );
    let spent = e["spent_pusd"].as_u64().unwrap();
    assert!(spent >= 10_000, "{e}");
    assert_eq!(e["arms"]["candidate"]["node"]["cost_pusd"], spent, "{e}");
    assert_eq!(e["arms"]["candidate"]["ok"], 1, "marker answers pass: {e}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiment_bad_requests_get_clear_errors_and_change_nothing() {
    let (_dir, server) = server().await;
    let client = reqwest::Client::new();
    let url = &server.url;
    let candidate = bytes(fixture("worker_hostile"));
    let error = |body: &Value| {
        (
            body["error"]["code"].as_str().unwrap_or("").to_string(),
            body["error"]["message"].as_str().unwrap_or("").to_string(),
        )
    };

    for (query, needle) in [
        ("?mode=blue", "unknown mode `blue` for node `draft`"),
        ("?mode=canary", "needs `percent=N`"),
        (
            "?mode=shadow&percent=150",
            "`percent` for node `draft` must be a number from 0 to 100",
        ),
        ("?mode=canary&percent=ten", "got `ten`"),
        (
            "?mode=shadow&budget-usd=-1",
            "`budget-usd` for node `draft`",
        ),
        ("?mode=shadow&sample=5", "unknown parameter `sample`"),
        ("?percent=5", "needs `mode=shadow` or `mode=canary`"),
    ] {
        let (status, body) = put(&client, url, "draft", query, candidate.clone()).await;
        let (code, message) = error(&body);
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_parameter"),
            "{query}: {body}"
        );
        assert!(message.contains(needle), "{query}: {message}");
    }
    let (status, body) = put(&client, url, "draft", "?mode=shadow", Vec::new()).await;
    assert_eq!(status, 400, "{body}");

    // Unknown node, wrong world, live bytes: refused like a swap.
    let (status, body) = put(&client, url, "drafts", "?mode=shadow", candidate.clone()).await;
    let (code, message) = error(&body);
    assert_eq!((status, code.as_str()), (404, "node_not_found"), "{body}");
    assert!(message.contains("did you mean `draft`?"), "{message}");
    let (status, body) = put(
        &client,
        url,
        "draft",
        "?mode=shadow",
        bytes(plugin("judge_pii")),
    )
    .await;
    let (code, message) = error(&body);
    assert_eq!(
        (status, code.as_str()),
        (422, "incompatible_component"),
        "{body}"
    );
    assert!(
        message.contains("node `draft`") && message.contains("no experiment was started"),
        "{message}"
    );
    let (status, body) = put(
        &client,
        url,
        "draft",
        "?mode=canary&percent=5",
        bytes(plugin("worker_draft")),
    )
    .await;
    assert_eq!(
        (status, error(&body).0.as_str()),
        (422, "unchanged_candidate"),
        "{body}"
    );
    let (_, node) = admin(&client, "GET", &format!("{url}/admin/nodes/draft")).await;
    assert!(
        node["experiment"].is_null(),
        "refusals start nothing: {node}"
    );

    // No token, no admin.
    let r = client
        .get(format!("{url}/admin/nodes/draft"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .post(format!("{url}/admin/nodes/draft/abort"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // Nothing to end.
    for action in ["promote", "abort"] {
        let (status, body) = admin(
            &client,
            "POST",
            &format!("{url}/admin/nodes/draft/{action}"),
        )
        .await;
        let (code, message) = error(&body);
        assert_eq!((status, code.as_str()), (404, "no_experiment"), "{body}");
        assert!(message.contains("?mode=shadow"), "{message}");
    }
    let (status, body) = admin(&client, "GET", &format!("{url}/admin/nodes/nope")).await;
    assert_eq!(
        (status, error(&body).0.as_str()),
        (404, "node_not_found"),
        "{body}"
    );

    // One experiment per node; no plain swap under an experiment.
    let (status, body) = put(
        &client,
        url,
        "draft",
        "?mode=canary&percent=30",
        candidate.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = put(
        &client,
        url,
        "draft",
        "?mode=shadow",
        bytes(hostile("panic")),
    )
    .await;
    let (code, message) = error(&body);
    assert_eq!(
        (status, code.as_str()),
        (409, "experiment_running"),
        "{body}"
    );
    assert!(
        message.contains("node `draft` is under a canary experiment")
            && message.contains("--promote")
            && message.contains("--abort"),
        "{message}"
    );
    let (status, body) = put(&client, url, "draft", "", bytes(hostile("panic"))).await;
    let (code, message) = error(&body);
    assert_eq!(
        (status, code.as_str()),
        (409, "experiment_running"),
        "{body}"
    );
    assert!(message.contains("promote it"), "{message}");
    // Canaries share the runs: at most 100% in all.
    let (status, body) = put(
        &client,
        url,
        "check",
        "?mode=canary&percent=80",
        bytes(plugin("judge_pii")),
    )
    .await;
    let (code, message) = error(&body);
    assert_eq!((status, code.as_str()), (409, "canary_share"), "{body}");
    assert!(message.contains("already serve 30%"), "{message}");
    let (status, body) = put(
        &client,
        url,
        "check",
        "?mode=canary&percent=70",
        bytes(plugin("judge_pii")),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Still serving the live generation where no canary picked the run.
    let (_, listed) = admin(&client, "GET", &format!("{url}/admin/nodes")).await;
    assert_eq!(listed["generation"], 0, "{listed}");
    assert_eq!(listed["nodes"]["draft"]["revision"], 1, "{listed}");
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchyard_swaps_total{node=\"draft\",result=\"rejected\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("drafts"), "unknown nodes are no labels");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiment_swap_cli_starts_shows_promotes_and_refuses() {
    let (dir, server) = server().await;
    let url = server.url.clone();
    let candidate = fixture("worker_hostile");
    let cli = move |args: Vec<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(switchyard_tests::switchyard_bin())
                .arg("swap")
                .args(&args)
                .args(["--url", &url])
                .env("SWITCHYARD_ADMIN_TOKEN", TOKEN)
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
    };
    let arg = |s: &str| s.to_string();
    let path = candidate.display().to_string();

    let (code, _, err) = cli(vec![arg("draft"), path.clone(), arg("--canary")])
        .await
        .unwrap();
    assert_eq!(code, Some(2), "--canary needs --percent: {err}");
    assert!(err.contains("--percent"), "{err}");

    let (code, _, err) = cli(vec![
        arg("draft"),
        path.clone(),
        arg("--shadow"),
        arg("--percent"),
        arg("100"),
    ])
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("shadow experiment started on 100% of runs"),
        "{err}"
    );
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/v1/runs", server.url))
        .json(&json!({"input": input(2)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    settled(&client, &server.url, "draft").await;

    let (code, out, err) = cli(vec![arg("draft"), arg("--status"), arg("--json")])
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("shadow experiment on 100% of runs, running"),
        "{err}"
    );
    assert!(err.contains("run success"), "{err}");
    let status: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(status["experiment"]["shadow"]["finished"], 1, "{status}");

    let (code, _, err) = cli(vec![arg("draft"), path.clone()]).await.unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("swap refused (409 Conflict)"), "{err}");

    let (code, _, err) = cli(vec![arg("draft"), arg("--promote")]).await.unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("node `draft`: promoted to revision 2"),
        "{err}"
    );
    let (code, _, err) = cli(vec![arg("draft"), arg("--abort")]).await.unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("has no experiment"), "{err}");
    drop(dir);
    server.stop().await.unwrap();
}
