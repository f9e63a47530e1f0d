//! The `openai` provider against a local OpenAI-compatible server on
//! 127.0.0.1: the request carries the upstream id and the key from the
//! named environment variable; usage and cost come from the response; the
//! key appears in no output, trace or ledger.

use serde_json::json;
use switchyard::engine::NodeError;
use switchyard::models::ModelHub;
use switchyard::pipeline::{Pipeline, RunError};
use switchyard_tests::{
    completion, engine, fixture, manifest, run, toml_path, MockUpstream, Reply,
};

const KEY: &str = "sk-test-7f3a9c-never-leak";

async fn remote_pipeline(dir: &std::path::Path, base_url: &str) -> Pipeline {
    let text = format!(
        r#"[pipeline]
name = "remote"

[models.remote]
provider = "openai"
upstream = "gpt-test-mini"
base-url = "{base_url}"
api-key-env = "SWITCHYARD_TEST_OPENAI_KEY"
price = {{ input = 0.5, output = 1.5 }}
timeout-ms = 5000

[nodes.w]
role = "worker"
component = {}
models = ["remote"]
"#,
        toml_path(&fixture("worker_hostile"))
    );
    let m = manifest(dir, &text).unwrap();
    let hub = ModelHub::build(&m.models, |var| {
        (var == "SWITCHYARD_TEST_OPENAI_KEY").then(|| KEY.to_string())
    })
    .unwrap();
    Pipeline::load(&engine(None), m)
        .await
        .map(|l| l.bind(hub))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_provider_calls_a_local_server_and_prices_its_usage() {
    let server = MockUpstream::start(vec![completion("hello from upstream", 11, 7)]).await;
    let dir = tempfile::tempdir().unwrap();
    let p = remote_pipeline(dir.path(), &server.base_url).await;
    let o = run(&p, "r1", json!({"do": "model", "model": "remote"})).await;
    let out = o.result.as_ref().expect("run succeeds");
    assert_eq!(out["content"], "hello from upstream");
    assert_eq!(out["model"], "remote");

    let reqs = server.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].request_line, "POST /v1/chat/completions HTTP/1.1");
    let auth = reqs[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());
    assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(reqs[0].body["model"], "gpt-test-mini");
    assert_eq!(reqs[0].body["messages"][0]["role"], "user");

    assert_eq!(o.ledger.len(), 1);
    let e = &o.ledger[0];
    assert_eq!(
        (e.input_tokens, e.output_tokens, e.estimated),
        (11, 7, false)
    );
    assert_eq!(
        e.cost.0,
        11 * 500_000 + 7 * 1_500_000,
        "cost from the manifest's prices, exactly"
    );
    assert_eq!(o.totals.cost, e.cost);

    // The key reaches no output, trace, ledger or debug print.
    let line = switchyard::batch::parse_line(1, br#"{"id":"r1","input":{}}"#);
    let record = switchyard::pipeline::RunRecord::of_outcome(&o).at_line(line.line, line.expect);
    let everything = format!(
        "{} {:?} {:?}",
        serde_json::to_string(&record).unwrap(),
        o,
        p
    );
    assert!(!everything.contains(KEY), "the API key leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_provider_maps_client_errors_to_typed_model_errors_without_retrying() {
    let server = MockUpstream::start(vec![
        Reply::Json(400, "{\"error\":\"bad request\"}".into()),
        Reply::Json(401, "{\"error\":\"who are you\"}".into()),
        Reply::Json(404, "{\"error\":\"no such model\"}".into()),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let p = remote_pipeline(dir.path(), &server.base_url).await;
    let mut kinds = Vec::new();
    for i in 0..3 {
        let o = run(
            &p,
            &format!("e{i}"),
            json!({"do": "model", "model": "remote"}),
        )
        .await;
        match &o.result {
            Err(RunError::Node {
                error: NodeError::Model { node, error },
            }) => {
                assert_eq!(node, "w");
                kinds.push(error.kind());
            }
            other => panic!("expected a model error, got {other:?}"),
        }
        assert_eq!(o.ledger.len(), 1, "failed attempts are in the ledger too");
        assert_eq!(o.ledger[0].cost.0, 0);
    }
    assert_eq!(
        kinds,
        ["invalid-request", "denied", "invalid-request"],
        "4xx answers are not retried"
    );
}

#[tokio::test]
async fn openai_missing_key_variable_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        "[pipeline]\nname = \"t\"\n[models.m]\nprovider = \"openai\"\nbase-url = \"http://127.0.0.1:9/v1\"\napi-key-env = \"NOT_SET_ANYWHERE_42\"\n[nodes.w]\nrole = \"worker\"\ncomponent = \"w.wasm\"\n",
    )
    .unwrap();
    let err = ModelHub::build(&m.models, |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model `m`: environment variable `NOT_SET_ANYWHERE_42`"),
        "{err}"
    );
    assert!(err.contains("provider = \"sim\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_provider_calls_a_local_messages_server() {
    let server = MockUpstream::start(vec![Reply::Json(
        200,
        json!({"id": "msg_1", "type": "message", "role": "assistant",
               "content": [{"type": "text", "text": "hello from "}, {"type": "text", "text": "claude"}],
               "usage": {"input_tokens": 13, "output_tokens": 4}})
        .to_string(),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[pipeline]
name = "anthropic"

[models.claude]
provider = "anthropic"
upstream = "claude-test"
base-url = "{}"
api-key-env = "SWITCHYARD_TEST_ANTHROPIC_KEY"
price = {{ input = 3.0, output = 15.0 }}

[nodes.w]
role = "worker"
component = {}
models = ["claude"]
settings = {{ do = "model", model = "claude" }}
"#,
        server.base_url,
        toml_path(&fixture("worker_hostile"))
    );
    let m = manifest(dir.path(), &text).unwrap();
    let hub = ModelHub::build(&m.models, |var| {
        (var == "SWITCHYARD_TEST_ANTHROPIC_KEY").then(|| KEY.to_string())
    })
    .unwrap();
    let p = Pipeline::load(&engine(None), m)
        .await
        .map(|l| l.bind(hub))
        .unwrap();
    let o = run(&p, "a1", json!({})).await;
    assert_eq!(o.result.as_ref().unwrap()["content"], "hello from claude");
    let req = server.requests.lock().unwrap()[0].clone();
    assert_eq!(req.request_line, "POST /v1/messages HTTP/1.1");
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-api-key").as_deref(), Some(KEY));
    assert_eq!(header("anthropic-version").as_deref(), Some("2023-06-01"));
    assert_eq!(req.body["model"], "claude-test");
    assert_eq!(req.body["max_tokens"], 1024);
    let e = &o.ledger[0];
    assert_eq!(
        (e.input_tokens, e.output_tokens, e.estimated),
        (13, 4, false)
    );
    assert_eq!(e.cost.0, 13 * 3_000_000 + 4 * 15_000_000);
}
