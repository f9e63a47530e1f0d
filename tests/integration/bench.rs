//! `switchyard bench` in-process: every series runs on the engine variant
//! each component was compiled for, so a node with its own `stack-kb` is
//! measured like any other.

use serde_json::json;
use switchyard::bench::{run, BenchOptions};
use switchyard_tests::{fixture, pipeline, toml_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_measures_a_node_with_a_non_default_stack_size() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[pipeline]
name = "stacks"

[nodes.small-stack]
role = "worker"
component = {}
settings = {{ do = "echo" }}
limits = {{ stack-kb = 64 }}
"#,
        toml_path(&fixture("worker_hostile"))
    );
    let p = pipeline(dir.path(), &text).await.unwrap();
    let report = run(
        &p,
        &BenchOptions {
            iterations: 20,
            concurrency: 2,
            inputs: vec![json!({"i": 1})],
        },
    )
    .await
    .expect("every series runs");
    let names: Vec<&str> = report.series.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("bare wasmtime")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.contains("small-stack")), "{names:?}");
    assert!(report.series.iter().all(|s| s.p50_us > 0.0), "{names:?}");
}

/// `bench --serve --otlp` through the binary: three interleaved pairs of
/// served series, every exported span accepted by the receiver, the
/// figures of every pair and their medians in the JSON report.
#[test]
fn bench_serve_otlp_measures_interleaved_pairs_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = std::process::Command::new(switchyard_tests::switchyard_bin())
        .arg("bench")
        .arg(switchyard_tests::root().join("examples/support-triage/basic.toml"))
        .args([
            "--serve",
            "--otlp",
            "--iterations",
            "20",
            "--concurrency",
            "2",
        ])
        .arg("--json")
        .arg(&json_path)
        .env_remove("OTEL_TRACES_SAMPLER")
        .env_remove("OTEL_SDK_DISABLED")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("median of 3 interleaved pairs"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let otlp = &report["otlp"];
    assert_eq!(otlp["rounds"], 3, "{otlp}");
    let ratios = otlp["throughput_ratios"].as_array().unwrap();
    assert_eq!(ratios.len(), 3);
    let mut sorted: Vec<f64> = ratios.iter().map(|r| r.as_f64().unwrap()).collect();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(
        otlp["throughput_ratio"].as_f64().unwrap(),
        sorted[1],
        "the median pair"
    );
    assert_eq!(otlp["spans_dropped"], 0, "{otlp}");
    // Every served request of the three exported series (20 measured and
    // 4 of warm-up each) is one run of at least 4 spans.
    assert!(
        otlp["spans_exported"].as_u64().unwrap() >= 3 * (20 + 4) * 4,
        "{otlp}"
    );
    if cfg!(target_os = "linux") {
        assert_eq!(otlp["cpu_added_pct"].as_array().unwrap().len(), 3, "{otlp}");
        assert!(otlp["cpu_us_per_run_with"].as_f64().unwrap() > 0.0);
    }
}

/// `bench --ttft` through the binary, on the streamed support-triage
/// example: both sides measured alternately in one invocation, every
/// answer complete, and the streamed side's first token ahead of the held
/// side's (a ratio within the run, not a wall-clock bound).
#[test]
fn bench_ttft_compares_streamed_and_held_answers_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("ttft.json");
    let example = switchyard_tests::root().join("examples/support-triage");
    let out = std::process::Command::new(switchyard_tests::switchyard_bin())
        .arg("bench")
        .arg(example.join("streaming.toml"))
        .arg("--ttft")
        .args(["--iterations", "6", "--input"])
        .arg(example.join("tickets.jsonl"))
        .arg("--json")
        .arg(&json_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("streamed / held"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    for side in ["streamed", "held"] {
        assert_eq!(report[side]["requests"], 6, "{report}");
        assert_eq!(report[side]["failed"], 0, "{report}");
    }
    // Held answers are never cut: a rejection is retried before any text.
    assert_eq!(report["held"]["cut"], 0, "{report}");
    let ratio = report["p50_ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "{report}");

    // A pipeline with nothing that streams is refused with the reason.
    let out = std::process::Command::new(switchyard_tests::switchyard_bin())
        .arg("bench")
        .arg(example.join("pipeline.toml"))
        .args(["--ttft", "--iterations", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no worker of pipeline `support-triage` streams"),
        "{stderr}"
    );
}

/// The benchmark shape (bench/four-node) and its plain-asyncio baseline do
/// the same work, so their ratio compares like with like: on every ticket
/// the same branch, a run that ends ok, and two model calls.
#[test]
fn bench_shape_and_its_asyncio_baseline_do_the_same_work() {
    let root = switchyard_tests::root();
    let dir = tempfile::tempdir().unwrap();
    let tickets = root.join("bench/four-node/tickets.jsonl");
    let ours = dir.path().join("switchyard.jsonl");
    let out = std::process::Command::new(switchyard_tests::switchyard_bin())
        .arg("run")
        .arg(root.join("bench/four-node/pipeline.toml"))
        .arg("--input")
        .arg(&tickets)
        .arg("--output")
        .arg(&ours)
        .env(
            "SWITCHYARD_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-shape-cache"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = dir.path().join("asyncio.jsonl");
    let out = std::process::Command::new("python3")
        .arg(root.join("bench/four-node/asyncio_baseline.py"))
        .args(["--iterations", "64", "--batch"])
        .arg(&theirs)
        .arg("--input")
        .arg(&tickets)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |p: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (ours, theirs) = (read(&ours), read(&theirs));
    assert_eq!((ours.len(), theirs.len()), (64, 64));
    let mut branches = std::collections::BTreeSet::new();
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a["id"], b["id"]);
        assert_eq!(a["ok"], true, "{a}");
        assert_eq!(b["ok"], true, "{b}");
        assert_eq!(a["routes"]["route"], b["route"]["target"], "{a}\n{b}");
        assert_eq!(a["usage"]["calls"], 2, "{a}");
        assert_eq!(b["ledger"].as_array().unwrap().len(), 2, "{b}");
        let branch = a["routes"]["route"].as_str().unwrap();
        assert!(
            a["output"][format!("answer-{branch}")]["answer"].is_string(),
            "{a}"
        );
        assert!(a["output"]["tags"]["tags"].is_string(), "{a}");
        branches.insert(branch.to_string());
    }
    assert_eq!(branches.len(), 2, "the tickets reach both branches");
}

/// `bench --serve` through the binary also measures both sides at a fixed
/// rate of half the served maximum: the paced load generator holds that
/// rate (a closed loop would run at the maximum, twice it) and the report
/// says what serving adds at that load.
#[test]
fn bench_serve_measures_a_paced_half_load_in_process_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = std::process::Command::new(switchyard_tests::switchyard_bin())
        .arg("bench")
        .arg(switchyard_tests::root().join("examples/support-triage/basic.toml"))
        .args(["--serve", "--iterations", "400", "--concurrency", "4"])
        .arg("--json")
        .arg(&json_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("at half the served maximum"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let series = report["series"].as_array().unwrap();
    let per_sec = |prefix: &str| {
        series
            .iter()
            .find(|s| s["name"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no series {prefix}: {report}"))["per_sec"]
            .as_f64()
            .unwrap()
    };
    let max = per_sec("served: POST /v1/runs");
    let half = &report["half_load"];
    let rate = half["rate"].as_f64().unwrap();
    assert!((rate - max / 2.0).abs() < 1.0, "{half} against {max}");
    let served = half["served_per_sec"].as_f64().unwrap();
    assert!(
        served <= rate * 1.05 && served >= rate * 0.6,
        "paced at {rate}/s, served {served}/s (maximum {max}/s)"
    );
    assert_eq!(served, per_sec("served, paced at"));
    assert!(per_sec("pipeline run, paced at") <= rate * 1.05, "{report}");
    assert!(half["p99_added_us"].as_f64().is_some(), "{half}");
}

/// `switchyard load --rate` refuses a rate that is not a positive number,
/// or too slow for a timer to wait for, naming it, before sending anything.
#[test]
fn load_refuses_a_rate_that_is_not_positive() {
    for rate in ["0", "-5", "NaN"] {
        let out = std::process::Command::new(switchyard_tests::switchyard_bin())
            .args([
                "load",
                "http://127.0.0.1:9/v1/runs",
                &format!("--rate={rate}"),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{rate}: {stderr}");
        assert!(
            stderr.contains(&format!("the rate is {rate}"))
                && stderr.contains("must be a positive number"),
            "{rate}: {stderr}"
        );
    }
    // Positive, but so slow that the last request's time overflows a timer.
    let out = std::process::Command::new(switchyard_tests::switchyard_bin())
        .args(["load", "http://127.0.0.1:9/v1/runs", "--rate=1e-300"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the rate is 1e-300") && stderr.contains("raise the rate"),
        "{stderr}"
    );
}
