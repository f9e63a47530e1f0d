//! `switchyard validate` errors: a misspelled key, an unknown node, a
//! component of the wrong role, a cycle — each located at file:line:col with
//! a hint.

use switchyard::config::ConfigError;
use switchyard::models::ModelHub;
use switchyard::pipeline::Pipeline;
use switchyard_tests::{engine, manifest, plugin, toml_path};

fn base(extra_node_field: &str, branches: &str) -> String {
    format!(
        r#"[pipeline]
name = "t"

[models.small]
provider = "sim"

[nodes.triage]
role = "router"
component = {router}
branches = {branches}

[nodes.draft]
role = "worker"
component = {worker}
models = ["small"]
{extra_node_field}
"#,
        router = toml_path(&plugin("router_triage")),
        worker = toml_path(&plugin("worker_draft")),
    )
}

fn errors(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    match manifest(dir.path(), text) {
        Ok(_) => panic!("manifest should be rejected"),
        Err(e) => e
            .to_string()
            .replace(&dir.path().display().to_string(), "<dir>"),
    }
}

#[test]
fn manifest_misspelled_key_is_located_with_a_suggestion() {
    let text = base(
        "judgs = [\"x\"]",
        r#"{ simple = "draft", complex = "draft" }"#,
    );
    let msg = errors(&text);
    assert!(msg.contains("unknown field `judgs`"), "{msg}");
    assert!(msg.contains("<dir>/pipeline.toml:16:1"), "{msg}");
    assert!(msg.contains("did you mean `judges`?"), "{msg}");
}

#[test]
fn manifest_unknown_node_is_located_with_a_suggestion() {
    let text = base("", r#"{ simple = "draft", complex = "drafts" }"#);
    let msg = errors(&text);
    assert!(
        msg.contains("node `triage`: `branches` names unknown node `drafts`"),
        "{msg}"
    );
    assert!(msg.contains("<dir>/pipeline.toml:10:42"), "{msg}");
    assert!(msg.contains("did you mean `draft`?"), "{msg}");
    assert!(msg.contains("10 | branches = "), "shows the line: {msg}");
}

#[test]
fn manifest_cycles_and_bad_references_are_all_reported() {
    let text = base("after = [\"loop2\"]\n\n[nodes.loop2]\nrole = \"worker\"\ncomponent = \"x.wasm\"\nafter = [\"draft\"]\nmodels = [\"smal\"]", r#"{ simple = "draft", complex = "draft" }"#);
    let msg = errors(&text);
    assert!(
        msg.contains("the flow has a cycle through nodes: draft, loop2"),
        "{msg}"
    );
    assert!(msg.contains("granted unknown model `smal`"), "{msg}");
    assert!(msg.contains("did you mean `small`?"), "{msg}");
    assert!(msg.contains("2 errors in the manifest"), "{msg}");
}

#[test]
fn manifest_api_key_must_be_a_variable_name() {
    let text = "[pipeline]\nname = \"t\"\n[models.m]\nprovider = \"openai\"\nbase-url = \"http://127.0.0.1:1/v1\"\napi-key-env = \"sk-live-123\"\n";
    let msg = errors(text);
    assert!(
        msg.contains("must name an environment variable, not hold a key"),
        "{msg}"
    );
}

#[tokio::test]
async fn manifest_component_of_the_wrong_role_is_located_at_its_component_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = base(
        "judges = [\"guard\"]",
        r#"{ simple = "draft", complex = "draft" }"#,
    ) + &format!(
        "\n[nodes.guard]\nrole = \"judge\"\ncomponent = {}\n",
        toml_path(&plugin("worker_draft"))
    );
    let m = manifest(dir.path(), &text).unwrap();
    let hub = ModelHub::from_env(&m.models).unwrap();
    let err = Pipeline::load(&engine(None), m)
        .await
        .map(|l| l.bind(hub))
        .unwrap_err();
    assert!(matches!(err, ConfigError::Invalid(_)));
    let msg = err.to_string();
    assert!(msg.contains("node `guard` is declared as a judge"), "{msg}");
    assert!(msg.contains("pipeline.toml:20:13"), "{msg}");
    assert!(
        msg.contains("help: point `component` at a judge component"),
        "{msg}"
    );
}

#[test]
fn manifest_on_reject_and_schema_mistakes_are_located() {
    let text = r#"[pipeline]
name = "t"

[nodes.w]
role = "worker"
component = "w.wasm"
judges = ["j"]
on-reject = { retries = 1, escalate = "j" }
output-schema = { type = 12 }

[nodes.v]
role = "worker"
component = "w.wasm"
on-reject = { escalate = "v" }
input-schema = "missing.json"

[nodes.j]
role = "judge"
component = "j.wasm"
on-reject = { retries = 2 }
"#;
    let msg = errors(text);
    assert!(
        msg.contains("node `w`: `on-reject.escalate` names `j`, a judge, but needs a worker"),
        "{msg}"
    );
    assert!(
        msg.contains("node `w`: `output-schema` is not a valid JSON Schema"),
        "{msg}"
    );
    assert!(msg.contains("pipeline.toml:9:17"), "{msg}");
    assert!(msg.contains("node `v` escalates to itself"), "{msg}");
    assert!(
        msg.contains("node `v`: cannot read `input-schema` file"),
        "{msg}"
    );
    assert!(
        msg.contains("node `j` is a judge; only workers have `on-reject`"),
        "{msg}"
    );
}

#[test]
fn manifest_limits_out_of_range_are_located() {
    let text = base(
        "limits = { stack-kb = 4096, cpu-ms = 0 }",
        r#"{ simple = "draft", complex = "draft" }"#,
    )
    .replace(
        "[models.small]",
        "[defaults.limits]\nwall-ms = 0\n\n[models.small]",
    );
    let msg = errors(&text);
    assert!(
        msg.contains("`limits.stack-kb` is 4096, outside 16..=1024"),
        "{msg}"
    );
    assert!(msg.contains("<dir>/pipeline.toml:19:23"), "{msg}");
    assert!(msg.contains("`limits.cpu-ms` is 0"), "{msg}");
    assert!(msg.contains("`limits.wall-ms` is 0"), "{msg}");
    assert!(msg.contains("<dir>/pipeline.toml:5:11"), "{msg}");
}

#[test]
fn manifest_version_is_one_and_another_is_refused_at_its_line() {
    let text = base("", r#"{ simple = "draft", complex = "draft" }"#);
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path(), &format!("version = 1\n{text}")).expect("version 1 is today's format");

    // A future format, with a field this version does not know: told the
    // version, not the field.
    let msg = errors(&format!(
        "version = 2\n{text}\n[telemetry]\nendpoint = \"x\"\n"
    ));
    assert!(
        msg.contains("manifest format version 2 is not supported; this switchyard reads version 1"),
        "{msg}"
    );
    assert!(msg.contains("<dir>/pipeline.toml:1:11"), "{msg}");
    assert!(!msg.contains("telemetry"), "{msg}");

    let msg = errors(&format!("version = \"1.0\"\n{text}"));
    assert!(msg.contains("`version` must be an integer"), "{msg}");
}

#[test]
fn manifest_baseline_needs_a_prompt_and_a_declared_model() {
    let text = base("", r#"{ simple = "draft", complex = "draft" }"#);
    let msg = errors(&format!("{text}\n[baseline]\nmodel = \"smal\"\n"));
    assert!(
        msg.contains("`baseline.model` `smal` is not a declared model"),
        "{msg}"
    );
    assert!(msg.contains("did you mean `small`?"), "{msg}");
    assert!(msg.contains("`[baseline]` has no prompt"), "{msg}");
    let msg = errors(&format!(
        "{text}\n[baseline]\nsystem = \"do it all\"\nsystem-file = \"p.txt\"\n"
    ));
    assert!(msg.contains("has both `system` and `system-file`"), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &format!("{text}\n[baseline]\nsystem = \"do it all\"\n"),
    )
    .unwrap();
    let b = m.baseline.expect("declared");
    assert_eq!((b.system.as_str(), b.max_tokens), ("do it all", 600));
}

#[test]
fn manifest_provider_keys_are_checked_against_each_providers_rules() {
    let with_models = |models: &str| {
        base("", r#"{ simple = "draft", complex = "draft" }"#).replace(
            "[models.small]\nprovider = \"sim\"\n",
            &format!("[models.small]\nprovider = \"sim\"\n\n{models}\n"),
        )
    };
    let msg = errors(&with_models(
        "[models.s2]\nprovider = \"sim\"\nbase-url = \"http://x/v1\"\n\n\
         [models.o]\nprovider = \"openai\"\n\n\
         [models.a]\nprovider = \"anthropic\"\nsim = { seed = 1 }\nbase-url = \"ftp://x\"\n",
    ));
    assert!(
        msg.contains("model `s2` uses provider `sim`, which takes no `base-url`"),
        "{msg}"
    );
    assert!(msg.contains("provider `sim` takes sim"), "{msg}");
    assert!(
        msg.contains("model `o` uses provider `openai` but has no `base-url`"),
        "{msg}"
    );
    assert!(
        msg.contains("model `a` uses provider `anthropic`, which takes no `sim`"),
        "{msg}"
    );
    assert!(
        msg.contains("model `a` has a base-url that is not an http(s) URL"),
        "{msg}"
    );
    let msg = errors(&with_models("[models.x]\nprovider = \"opanai\"\n"));
    assert!(msg.contains("did you mean `openai`?"), "{msg}");
}

#[test]
fn manifest_resilience_settings_out_of_range_are_located() {
    let with = |model_extra: &str, tail: &str| {
        base("", r#"{ simple = "draft", complex = "draft" }"#).replace(
            "[models.small]\nprovider = \"sim\"\n",
            &format!("[models.small]\nprovider = \"sim\"\n{model_extra}\n"),
        ) + tail
    };
    let msg = errors(&with("circuit-breaker = { failure-rate = 1.5 }", ""));
    assert!(
        msg.contains("model `small`: circuit-breaker `failure-rate` must be above 0 and at most 1"),
        "{msg}"
    );
    assert!(msg.contains("pipeline.toml:6:"), "{msg}");
    let msg = errors(&with(
        "circuit-breaker = { window = 5, min-calls = 10 }",
        "",
    ));
    assert!(msg.contains("could never open"), "{msg}");
    // The old key is refused with the new ones listed.
    let msg = errors(&with("circuit-breaker = { failures = 5 }", ""));
    assert!(msg.contains("unknown field `failures`"), "{msg}");
    assert!(msg.contains("failure-rate"), "{msg}");
    let msg = errors(&with("", "\n[engine]\nmax-instances = 0\n"));
    assert!(
        msg.contains("`engine.max-instances` is 0; it must be 1 to 8192"),
        "{msg}"
    );
    // Turning the breaker off is accepted.
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &with(
            "circuit-breaker = { enabled = false }",
            "\n[engine]\nmax-instances = 64\n",
        ),
    )
    .unwrap();
    assert!(m.models["small"].breaker.is_none());
    assert_eq!(m.engine.max_instances, 64);
}

#[test]
fn manifest_telemetry_redact_with_must_name_a_modelless_judge_with_content_on() {
    let judge = format!(
        "\n[nodes.pii]\nrole = \"judge\"\ncomponent = {}\n\n[nodes.llm-judge]\nrole = \"judge\"\ncomponent = {}\nmodels = [\"small\"]\n",
        toml_path(&plugin("judge_pii")),
        toml_path(&plugin("judge_factuality")),
    );
    let with = |telemetry: &str| {
        format!(
            "{}{judge}\n[telemetry]\n{telemetry}\n",
            base("", r#"{ simple = "draft", complex = "draft" }"#)
        )
    };
    for (telemetry, expected) in [
        (
            "content = true\nredact-with = \"pi\"",
            "`telemetry.redact-with` `pi` is not a node of this pipeline",
        ),
        (
            "content = true\nredact-with = \"draft\"",
            "`telemetry.redact-with` `draft` is a worker, not a judge",
        ),
        (
            "content = true\nredact-with = \"llm-judge\"",
            "`telemetry.redact-with` `llm-judge` is granted models (small)",
        ),
        (
            "redact-with = \"pii\"",
            "`telemetry.redact-with` is set but `telemetry.content` is off",
        ),
    ] {
        let msg = errors(&with(telemetry));
        assert!(msg.contains(expected), "{telemetry}: {msg}");
        assert!(msg.contains("<dir>/pipeline.toml:"), "located: {msg}");
    }
    assert!(errors(&with("content = true\nredact-with = \"pi\"")).contains("did you mean `pii`?"));
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), &with("content = true\nredact-with = \"pii\"")).unwrap();
    assert!(m.telemetry.content);
    assert_eq!(m.telemetry.redact_with.as_deref(), Some("pii"));
}

#[test]
fn manifest_recording_rules_name_real_nodes_and_a_modelless_judge() {
    let text = |recording: &str| {
        format!(
            "{}\n[nodes.pii]\nrole = \"judge\"\ncomponent = {}\n\n[recording]\n{recording}\n",
            base("", r#"{ simple = "draft", complex = "draft" }"#),
            toml_path(&plugin("judge_pii"))
        )
    };
    for (recording, expected) in [
        (
            "omit-nodes = [\"drat\"]",
            "`recording.omit-nodes` names `drat`, which is not a node of this pipeline",
        ),
        (
            "content = false\nredact-with = \"pii\"",
            "`recording.redact-with` is set but `recording.content` is off",
        ),
        (
            "redact-with = \"triage\"",
            "`recording.redact-with` `triage` is a router, not a judge",
        ),
    ] {
        let msg = errors(&text(recording));
        assert!(msg.contains(expected), "{recording}: {msg}");
    }
    assert!(errors(&text("omit-nodes = [\"drat\"]")).contains("did you mean `draft`?"));
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &text("omit-nodes = [\"draft\"]\nredact-with = \"pii\""),
    )
    .unwrap();
    assert!(m.recording.content);
    assert_eq!(m.recording.omit_nodes, ["draft"]);
    let m = manifest(
        dir.path(),
        &base("", r#"{ simple = "draft", complex = "draft" }"#),
    )
    .unwrap();
    assert!(m.recording.content && m.recording.redact_with.is_none());
}

/// Found by the `manifest` fuzz target: whole-file problems had no
/// location. Every error now points somewhere in the file.
#[test]
fn manifest_errors_of_the_whole_file_are_located_too() {
    for (text, says, at) in [
        (
            "[pipeline]\nname = \"lonely\"\n",
            "pipeline `lonely` declares no nodes",
            "pipeline.toml:2:8",
        ),
        (
            "\n[models.m]\nprovider = \"sim\"\n",
            "missing field `pipeline`",
            "pipeline.toml:1:1",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let err = manifest(dir.path(), text).expect_err(says);
        let ConfigError::Invalid(diags) = &err else {
            panic!("{err}")
        };
        assert!(diags.iter().all(|d| d.location.is_some()), "{err}");
        let shown = err.to_string();
        assert!(shown.contains(says) && shown.contains(at), "{shown}");
    }
}
