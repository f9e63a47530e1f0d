//! The hostile suite: components, each built from source to do one
//! bad thing. Every one gets a typed error naming the node and what stopped
//! it, while benign runs go on beside them with zero errors.

use serde_json::json;
use switchyard::engine::NodeError;
use switchyard_tests::{fixture, hostile, pipeline, run_node, toml_path};

fn manifest() -> String {
    let mut text = String::from(
        r#"[pipeline]
name = "hostile-suite"
deadline-ms = 30000

[models.small]
provider = "sim"

[models.frontier]
provider = "sim"
price = { input = 5.0, output = 5.0 }

[defaults.limits]
cpu-ms = 50
memory-mb = 32
output-kb = 64
log-kb = 4
model-calls = 8
host-calls = 1000
wall-ms = 10000

[nodes.benign]
role = "worker"
component = BENIGN
settings = { do = "echo" }
"#,
    )
    .replace("BENIGN", &toml_path(&fixture("worker_hostile")));
    for name in CASES.iter().map(|c| c.0) {
        text.push_str(&format!(
            "\n[nodes.{}]\nrole = \"worker\"\ncomponent = {}\nmodels = [\"small\"]\n",
            name.replace('_', "-"),
            toml_path(&hostile(name))
        ));
    }
    text
}

/// (component, expected error kind, text the message must contain)
const CASES: &[(&str, &str, &str)] = &[
    ("spin", "cpu-limit", "CPU limit of 50 ms"),
    ("spin_host_calls", "host-call-limit", "1000 host calls"),
    ("memory_bomb", "memory-limit", "memory limit of 32 MiB"),
    ("deep_recursion", "stack-limit", "stack limit of 512 KiB"),
    ("panic", "trap", "unreachable"),
    ("unreachable", "trap", "unreachable"),
    ("huge_output", "output-limit", "output limit of 65536 bytes"),
    ("log_spam", "log-limit", "log limit of 4 KiB"),
    ("print_spam", "log-limit", "log limit of 4 KiB"),
    ("model_flood", "model", "grant of 8 model calls"),
    ("ungranted_model", "model", "not granted model `frontier`"),
    ("escape_fs", "invalid-input", "no file access"),
    ("escape_env", "invalid-input", "no environment"),
    ("escape_net", "invalid-input", "no network"),
    ("invalid_json", "invalid-output", "not valid JSON"),
    ("error_flood", "output-limit", "one crossing to the host"),
    ("error_long", "output-limit", "bytes of error message"),
    (
        "extra_override",
        "model",
        "is not allowed: a node may set only",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_suite_every_case_is_contained_beside_benign_runs() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &manifest()).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    let benign = {
        let p = p.clone();
        tokio::spawn(async move {
            let node = p.node("benign").unwrap().clone();
            let mut failures = Vec::new();
            for i in 0..200 {
                let o = run_node(&p, &node, json!({"i": i})).await;
                if let Err(e) = o {
                    failures.push(e);
                }
            }
            failures
        })
    };

    for round in 0..3 {
        for (name, kind, needle) in CASES {
            let node_name = name.replace('_', "-");
            let node = p.node(&node_name).unwrap().clone();
            let input = if *name == "escape_net" {
                json!(port)
            } else {
                json!({"round": round})
            };
            let result = run_node(&p, &node, input).await;
            let err = result.expect_err(name);
            assert_eq!(err.kind(), *kind, "{name}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("node `{node_name}`")),
                "{name}: {msg}"
            );
            assert!(msg.contains(needle), "{name}: {msg}");
            assert!(
                !msg.contains("ESCAPED"),
                "{name} escaped the sandbox: {msg}"
            );
        }
    }
    assert!(
        listener.accept().is_err(),
        "a connection reached the host's listener"
    );
    assert_eq!(
        benign.await.unwrap(),
        Vec::<NodeError>::new(),
        "benign runs beside the hostile ones all succeeded"
    );
}
