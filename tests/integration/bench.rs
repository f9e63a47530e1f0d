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
