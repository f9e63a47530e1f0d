//! `switchyard validate` on manifests for real providers, run as the real
//! binary: loading components needs no model hub and no keys, so a set key
//! validates, an unset one is a warning (exit 0), and a key written where
//! the variable's name belongs is refused, for `openai` and `anthropic`.

use std::process::Command;

use switchyard_tests::{fixture, switchyard_bin, toml_path};

fn manifest(dir: &std::path::Path, openai_env: &str, anthropic_env: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[pipeline]
name = "real-providers"

[models.small]
provider = "openai"
upstream = "gpt-4.1-mini"
base-url = "http://127.0.0.1:9/v1"
api-key-env = "{openai_env}"

[models.claude]
provider = "anthropic"
upstream = "claude-sonnet-4-5"
api-key-env = "{anthropic_env}"

[nodes.w]
role = "worker"
component = {}
models = ["small", "claude"]
"#,
        toml_path(&fixture("worker_hostile"))
    );
    let path = dir.join("oa.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn validate(path: &std::path::Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(switchyard_bin());
    cmd.arg("validate")
        .arg(path)
        .env_remove("SY_TEST_OPENAI_KEY")
        .env_remove("SY_TEST_ANTHROPIC_KEY")
        .env("SWITCHYARD_CACHE_DIR", path.parent().unwrap().join("cache"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_passes_a_real_provider_manifest_with_its_keys_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(dir.path(), "SY_TEST_OPENAI_KEY", "SY_TEST_ANTHROPIC_KEY");
    let (code, err) = validate(
        &path,
        &[
            ("SY_TEST_OPENAI_KEY", "sk-test"),
            ("SY_TEST_ANTHROPIC_KEY", "sk-ant-test"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ok (2 models, 1 nodes)"), "{err}");
    assert!(
        err.contains("a run holds up to 1 of the 256 instance slots"),
        "admission is explained: {err}"
    );
    assert!(!err.contains("warning"), "{err}");
    assert!(
        !err.contains("sk-test") && !err.contains("sk-ant-test"),
        "{err}"
    );
}

#[test]
fn validate_warns_about_an_unset_key_and_still_passes() {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(dir.path(), "SY_TEST_OPENAI_KEY", "SY_TEST_ANTHROPIC_KEY");
    let (code, err) = validate(&path, &[("SY_TEST_ANTHROPIC_KEY", "sk-ant-test")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "warning: model `small`: environment variable `SY_TEST_OPENAI_KEY` is not set"
        ),
        "{err}"
    );
    assert!(!err.contains("model `claude`: environment"), "{err}");
    assert!(err.contains("ok (2 models, 1 nodes)"), "{err}");
}

#[test]
fn validate_refuses_a_key_written_in_place_of_the_variable_name() {
    let dir = tempfile::tempdir().unwrap();
    for (openai, anthropic, model) in [
        ("sk-proj-abc123", "SY_TEST_ANTHROPIC_KEY", "small"),
        ("SY_TEST_OPENAI_KEY", "sk-ant-api03-xyz", "claude"),
    ] {
        let path = manifest(dir.path(), openai, anthropic);
        let (code, err) = validate(&path, &[]);
        assert_ne!(code, 0, "{err}");
        assert!(
            err.contains(&format!(
                "model `{model}`: `api-key-env` must name an environment variable, not hold a key"
            )),
            "{err}"
        );
        assert!(err.contains("oa.toml:"), "located in the file: {err}");
    }
}
