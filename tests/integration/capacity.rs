//! More work than the instance pool, with default settings: runs wait for
//! admission in arrival order instead of interleaving until every one hits
//! its deadline. The real binary, 2-second models, the default pool (256
//! slots): 10,000 runs of `switchyard run --concurrency 10000` and 2,000
//! simultaneous requests to `switchyard serve` all finish, within 1 GiB;
//! a full queue is answered 429 with Retry-After and spends nothing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use switchyard_tests::{plugin, serve_process, switchyard_bin, toml_path};

const GIB: u64 = 1 << 30;

/// One worker drafting with a model that takes `ttft_ms` to answer;
/// `engine` is appended (e.g. an `[engine]` table).
fn slow_manifest(dir: &Path, ttft_ms: u64, engine: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[pipeline]
name = "slow"
deadline-ms = 30000

[auth]
clients = "none"

[models.slow]
provider = "sim"
price = {{ input = 0.15, output = 0.15 }}
sim = {{ ttft-ms = {ttft_ms}, reply = "We are on it." }}

[nodes.draft]
role = "worker"
component = {}
models = ["slow"]
settings = {{ model = "slow", max-tokens = 20 }}
{engine}
"#,
        toml_path(&plugin("worker_draft"))
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A live process's peak resident memory so far (`VmHWM`); `None` once
/// it is gone.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// The peak resident memory of a running child, polled until it exits.
fn wait_measuring(child: &mut Child) -> (std::process::ExitStatus, u64) {
    let mut peak = 0u64;
    loop {
        peak = peak.max(peak_rss(child.id()).unwrap_or(0));
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn capacity_ten_thousand_slow_runs_in_flight_all_finish() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = slow_manifest(dir.path(), 2000, "");
    let input = dir.path().join("in.jsonl");
    let lines: String = (0..10_000)
        .map(|i| {
            format!("{{\"id\":\"t{i}\",\"input\":{{\"subject\":\"s\",\"body\":\"ticket {i}\"}}}}\n")
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let output = dir.path().join("out.jsonl");
    let mut child = Command::new(switchyard_bin())
        .arg("run")
        .arg(&manifest)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .args(["--concurrency", "10000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    let (status, peak) = wait_measuring(&mut child);
    let stderr = reader.join().unwrap();
    assert!(status.success(), "{status}: {stderr}");
    let text = std::fs::read_to_string(&output).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 10_000);
    let failed: Vec<&Value> = records.iter().filter(|r| r["ok"] != true).collect();
    assert!(
        failed.is_empty(),
        "{} of 10000 failed, e.g. {}",
        failed.len(),
        failed[0]["error"]
    );
    // Admitted runs took about the model's 2 s; the rest of the time was
    // spent in the queue, which the deadline does not count.
    let slowest_run = records
        .iter()
        .map(|r| r["latency_ms"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let longest_wait = records
        .iter()
        .map(|r| r["queued_ms"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(slowest_run < 30_000.0, "{slowest_run} ms");
    assert!(
        longest_wait > 30_000.0,
        "10,000 × 2 s through 256 slots queues well past one deadline: {longest_wait} ms"
    );
    assert!(peak < GIB, "peak RSS {} MiB", peak >> 20);
    eprintln!(
        "10,000 runs: slowest run {slowest_run:.0} ms, longest wait {longest_wait:.0} ms, peak RSS {} MiB",
        peak >> 20
    );
}

/// Sends `n` runs at once; returns each answer's status and
/// `Retry-After`.
async fn simultaneous(url: &str, n: usize) -> Vec<(u16, Option<String>)> {
    let client = reqwest::Client::new();
    let sends = (0..n).map(|i| {
        let client = client.clone();
        let url = format!("{url}/v1/runs");
        async move {
            let r = client
                .post(url)
                .json(&json!({"input": {"subject": "s", "body": format!("ticket {i}")}}))
                .send()
                .await
                .expect("answered");
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), retry_after)
        }
    });
    futures::future::join_all(sends).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_serve_answers_two_thousand_simultaneous_requests() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = slow_manifest(dir.path(), 2000, "");
    let (mut child, url, _log) = serve_process(&manifest, &[]);
    let pid = child.id();
    let peak = std::thread::spawn(move || {
        let mut peak = 0u64;
        while let Some(now) = peak_rss(pid) {
            peak = peak.max(now);
            std::thread::sleep(Duration::from_millis(100));
        }
        peak
    });
    let answers = simultaneous(&url, 2000).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let other: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).take(3).collect();
    child.kill().unwrap();
    child.wait().unwrap();
    let peak = peak.join().unwrap();
    assert_eq!(ok, 2000, "every request answered 200; others: {other:?}");
    assert!(peak < GIB, "peak RSS {} MiB", peak >> 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_full_queue_is_429_with_retry_after_and_spends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = slow_manifest(dir.path(), 500, "[engine]\nmax-instances = 4\n");
    let (mut child, url, _log) = serve_process(&manifest, &["--max-queued", "8"]);
    let answers = simultaneous(&url, 40).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(ok + refused.len(), 40, "{answers:?}");
    assert!(ok >= 12, "4 running and 8 queued at least: {ok}");
    assert!(!refused.is_empty(), "past the queue, 429");
    assert!(
        refused.iter().all(|(_, ra)| ra.is_some()),
        "with Retry-After"
    );
    // Nothing ran for a refused request: the runs and model calls counted
    // are the answered ones.
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sum = |prefix: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(sum("switchyard_runs_total") as usize, ok, "{metrics}");
    assert_eq!(
        sum("switchyard_model_calls_total") as usize,
        ok,
        "{metrics}"
    );
    assert_eq!(
        sum("switchyard_runs_refused_total") as usize,
        refused.len(),
        "{metrics}"
    );
    assert_eq!(sum("switchyard_runs_queued") as usize, 0, "{metrics}");
    child.kill().unwrap();
    child.wait().unwrap();
}
