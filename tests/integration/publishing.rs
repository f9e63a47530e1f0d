//! The node author's path from the outside, against a real OCI registry
//! (the CNCF Distribution `docker-registry` on 127.0.0.1): keys, embedded
//! signatures, push, pull by tag and by digest, a manifest pinned to a
//! digest running offline after one pull, a tampered layer refused,
//! unsigned and wrongly signed components refused for a `trust = "signed"`
//! node at load, at swap (bytes and reference), for an experiment and at
//! `--watch`, a swap by reference under load with 0 failed requests, and
//! `validate --strict` against the needs a component declares.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard::artifact::{digest_of, Sources};
use switchyard::pipeline::Pipeline;
use switchyard_tests::{
    engine, fixture, hostile, manifest, plugin, polyglot, switchyard_bin, toml_path, Registry,
    TestServer,
};

const TOKEN: &str = "publish-admin-token";

/// Runs the `switchyard` binary in `dir` with its component store at
/// `dir/store`, no registry credentials but `env`, and the Docker config
/// directory `dir/docker`.
fn sy_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(switchyard_bin())
        .args(args)
        .current_dir(dir)
        .env("SWITCHYARD_STORE", dir.join("store"))
        .env_remove("SWITCHYARD_OFFLINE")
        .env_remove("SWITCHYARD_REGISTRY_USERNAME")
        .env_remove("SWITCHYARD_REGISTRY_PASSWORD")
        .env_remove("SWITCHYARD_REGISTRY_TOKEN")
        .env("DOCKER_CONFIG", dir.join("docker"))
        .envs(env.iter().copied())
        .output()
        .expect("running switchyard")
}

fn sy(dir: &Path, args: &[&str]) -> Output {
    sy_with(dir, args, &[])
}

/// Its stdout, after asserting it succeeded.
fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Its stderr, after asserting it failed.
fn refused(out: Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{what} succeeded: {stderr}");
    stderr
}

/// `dir/NAME.key` and `dir/NAME.pub`, through `switchyard keygen`; the key id.
fn keygen(dir: &Path, name: &str) -> String {
    let out = sy(dir, &["keygen", name]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    ok(out, "keygen");
    stderr
        .split("key id ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("keygen names the key id")
        .to_string()
}

/// A copy of `component` at `dir/name`, signed with `dir/KEY.key` when given.
fn copy_signed(dir: &Path, component: &Path, name: &str, key: Option<&str>) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(component, &path).unwrap();
    if let Some(key) = key {
        ok(
            sy(dir, &["sign", name, "--key", &format!("{key}.key")]),
            "sign",
        );
    }
    path
}

/// A worker echoing its input, gated by the judge `length` (the C plugin,
/// on the C kit) from `component`, which must be signed by `acme`.
fn judged_manifest(component: &str) -> String {
    format!(
        r#"[pipeline]
name = "published"

[trust]
keys = {{ acme = "acme.pub" }}

[nodes.draft]
role = "worker"
component = {worker}
settings = {{ do = "echo" }}
judges = ["length"]

[nodes.length]
role = "judge"
component = "{component}"
trust = "signed"
settings = {{ max-chars = 600 }}
"#,
        worker = toml_path(&fixture("worker_hostile")),
    )
}

/// The marker worker (`component`), signed by `acme` only.
fn marker_manifest(component: &str) -> String {
    format!(
        r#"[pipeline]
name = "signed-marker"
deadline-ms = 20000

[models.slow]
provider = "sim"
sim = {{ seed = 1, ttft-ms = 5, ms-per-token = 0 }}

[trust]
keys = {{ acme = "acme.pub", other = "other.pub" }}

[nodes.marker]
role = "worker"
component = "{component}"
models = ["slow"]
trust = "signed"
signers = ["acme"]
input-schema = {{ type = "object" }}
"#
    )
}

#[test]
fn publish_a_signed_judge_is_pulled_by_tag_and_digest_and_runs_offline_after_one_pull() {
    let mut registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keygen(dir, "acme");
    copy_signed(dir, &polyglot("judge_length"), "judge.wasm", Some("acme"));
    let tag = registry.reference("guards/length:1.0");
    let pinned = ok(sy(dir, &["push", "judge.wasm", &tag]), "push");
    assert!(
        pinned.starts_with(&format!("{tag}@sha256:")) && pinned.len() == tag.len() + 72,
        "push printed {pinned}"
    );
    // By tag and by digest, the same manifest digest.
    assert_eq!(ok(sy(dir, &["pull", &tag]), "pull by tag"), pinned);
    assert_eq!(ok(sy(dir, &["pull", &pinned]), "pull by digest"), pinned);
    let verify = sy(dir, &["verify", &pinned, "--key", "acme.pub", "--offline"]);
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("signed by acme"),
        "{verify:?}"
    );

    std::fs::write(dir.join("pipeline.toml"), judged_manifest(&pinned)).unwrap();
    let input: String = (0..3)
        .map(|i| format!("{{\"id\": \"t{i}\", \"input\": {{\"text\": \"ticket {i}\"}}}}\n"))
        .collect();
    std::fs::write(dir.join("in.jsonl"), input).unwrap();
    let run = |out: &str| {
        ok(
            sy(dir, &["run", "pipeline.toml", "-i", "in.jsonl", "-o", out]),
            "run",
        );
        let records: Vec<Value> = std::fs::read_to_string(dir.join(out))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 3);
        for r in &records {
            assert!(r["error"].is_null(), "{r}");
            assert_eq!(
                r["output"]["text"]
                    .as_str()
                    .map(|t| t.starts_with("ticket")),
                Some(true),
                "{r}"
            );
        }
    };
    run("online.jsonl");
    // The registry is gone: the pinned digest comes from the store.
    registry.stop();
    run("offline.jsonl");
    ok(
        sy(dir, &["validate", "pipeline.toml", "--offline"]),
        "validate offline",
    );
    // A store that never pulled it cannot run it offline, and says why.
    let empty = tempfile::tempdir().unwrap();
    let stderr = refused(
        sy(
            dir,
            &[
                "validate",
                "pipeline.toml",
                "--offline",
                "--store",
                &empty.path().display().to_string(),
            ],
        ),
        "validate with an empty store",
    );
    assert!(
        stderr.contains("node `length`")
            && stderr.contains("is not in the component store")
            && stderr.contains("switchyard pull"),
        "{stderr}"
    );
    // Online, with the registry down: the error names the registry.
    let stderr = refused(
        sy(
            dir,
            &[
                "validate",
                "pipeline.toml",
                "--store",
                &empty.path().display().to_string(),
            ],
        ),
        "validate with the registry down",
    );
    assert!(
        stderr.contains(&registry.addr) && stderr.contains("pipeline.toml:"),
        "{stderr}"
    );
}

#[test]
fn publish_a_tampered_layer_is_refused_with_a_digest_mismatch() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keygen(dir, "acme");
    let judge = copy_signed(dir, &plugin("judge_pii"), "judge.wasm", Some("acme"));
    let pinned = ok(
        sy(
            dir,
            &["push", "judge.wasm", &registry.reference("guards/pii:1.0")],
        ),
        "push",
    );
    // Someone with write access to the registry's storage flips one byte.
    let blob = registry.blob_file(&digest_of(&std::fs::read(&judge).unwrap()));
    let mut bytes = std::fs::read(&blob).expect("the registry stores the layer as a file");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();

    let stderr = refused(sy(dir, &["pull", &pinned]), "pull of a tampered layer");
    assert!(stderr.contains("digest mismatch"), "{stderr}");
    std::fs::write(dir.join("pipeline.toml"), judged_manifest(&pinned)).unwrap();
    let stderr = refused(
        sy(dir, &["validate", "pipeline.toml"]),
        "load of a tampered layer",
    );
    assert!(
        stderr.contains("node `length`") && stderr.contains("digest mismatch"),
        "{stderr}"
    );
    // Nothing of it reached the store.
    assert!(
        !dir.join("store/sha256").exists()
            || std::fs::read_dir(dir.join("store/sha256")).unwrap().count() == 0,
        "tampered bytes were stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_unsigned_or_wrongly_signed_components_are_refused_for_a_signed_node_everywhere() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keygen(dir, "acme");
    let other_id = keygen(dir, "other");
    let a_acme = copy_signed(dir, &hostile("marker_a"), "a_acme.wasm", Some("acme"));
    let b_acme = copy_signed(dir, &hostile("marker_b"), "b_acme.wasm", Some("acme"));
    let b_unsigned = copy_signed(dir, &hostile("marker_b"), "b_unsigned.wasm", None);
    let b_other = copy_signed(dir, &hostile("marker_b"), "b_other.wasm", Some("other"));
    let unsigned_digest = digest_of(&std::fs::read(&b_unsigned).unwrap());

    // At load: from a file and from a registry.
    for (file, says) in [
        ("b_unsigned.wasm", format!("{unsigned_digest} is unsigned")),
        ("b_other.wasm", format!("signed by key id {other_id}")),
    ] {
        std::fs::write(dir.join("m.toml"), marker_manifest(file)).unwrap();
        let stderr = refused(sy(dir, &["validate", "m.toml"]), file);
        assert!(
            stderr.contains("node `marker` requires a component signed by `acme`")
                && stderr.contains(&says)
                && stderr.contains("m.toml:"),
            "{file}: {stderr}"
        );
    }
    let unsigned_ref = ok(
        sy(
            dir,
            &[
                "push",
                "b_unsigned.wasm",
                &registry.reference("nodes/marker:unsigned"),
            ],
        ),
        "push",
    );
    std::fs::write(dir.join("m.toml"), marker_manifest(&unsigned_ref)).unwrap();
    let stderr = refused(sy(dir, &["validate", "m.toml"]), "an unsigned reference");
    assert!(
        stderr.contains(&format!("{unsigned_digest} is unsigned")),
        "{stderr}"
    );

    // At swap, in a server running the acme-signed marker.
    let m = manifest(dir, &marker_manifest("a_acme.wasm")).unwrap();
    let sources = Sources::from_env()
        .with_store(dir.join("store"))
        .offline(false);
    let p = Pipeline::load_from(&engine(None), m.clone(), &sources)
        .await
        .unwrap()
        .bind(switchyard::models::ModelHub::from_env(&m.models).unwrap());
    assert_eq!(p.node("marker").unwrap().provenance.signed_by, ["acme"]);
    let server = TestServer::start_with_sources(p, Some(TOKEN), sources).await;
    let client = reqwest::Client::new();
    let put = |query: &str, body: reqwest::Body, json: bool| {
        let mut req = client
            .put(format!("{}/admin/nodes/marker{query}", server.url))
            .bearer_auth(TOKEN)
            .body(body);
        if json {
            req = req.header("content-type", "application/json");
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let nodes: Value = client
        .get(format!("{}/admin/nodes", server.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nodes["nodes"]["marker"]["trust"], "signed", "{nodes}");
    assert_eq!(
        nodes["nodes"]["marker"]["signed_by"],
        json!(["acme"]),
        "{nodes}"
    );
    let bytes = |p: &Path| reqwest::Body::from(std::fs::read(p).unwrap());
    let by_ref = |r: &str| reqwest::Body::from(json!({ "component": r }).to_string());
    for (what, query, body, json, says) in [
        (
            "unsigned bytes",
            "",
            bytes(&b_unsigned),
            false,
            "is unsigned".to_string(),
        ),
        (
            "bytes signed by another key",
            "",
            bytes(&b_other),
            false,
            format!("key id {other_id}"),
        ),
        (
            "an unsigned reference",
            "",
            by_ref(&unsigned_ref),
            true,
            "is unsigned".to_string(),
        ),
        (
            "an unsigned shadow candidate",
            "?mode=shadow",
            bytes(&b_unsigned),
            false,
            "is unsigned".to_string(),
        ),
    ] {
        let (status, body) = put(query, body, json).await;
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(
            body["error"]["code"], "untrusted_component",
            "{what}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&says) && message.contains("keeps serving"),
            "{what}: {message}"
        );
    }
    // A malformed reference is the client's error, named as such.
    let (status, body) = put("", by_ref("oci://127.0.0.1:1/Bad/Repo"), true).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lowercase"),
        "{body}"
    );
    // The live node never changed; the acme-signed version is accepted.
    assert_eq!(server.live.current().node("marker").unwrap().revision, 1);
    let (status, report) = put("", bytes(&b_acme), false).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["version"], "1.0.0-b");

    // At --watch: an unsigned file written over the watched component is
    // refused, and the node keeps its signed component.
    let watcher = switchyard::serve::watch::watch(server.live.clone(), Duration::from_millis(100))
        .expect("watching the component files");
    std::fs::write(&a_acme, std::fs::read(&b_unsigned).unwrap()).unwrap();
    let started = Instant::now();
    let refusal = loop {
        let (events, _) = server.live.status().swaps().events();
        if let Some(e) = events.iter().find(|e| e.by.starts_with("--watch")) {
            break e.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "--watch never tried the file"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        refusal.kind,
        switchyard::serve::status::SwapKind::Refused,
        "{refusal:?}"
    );
    assert!(
        refusal
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("is unsigned"),
        "{refusal:?}"
    );
    assert_eq!(server.live.current().node("marker").unwrap().revision, 2);
    drop(watcher);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_swap_by_reference_under_load_fails_nothing() {
    const SWAPS: u64 = 16;
    const CLIENTS: usize = 8;
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keygen(dir, "acme");
    keygen(dir, "other");
    copy_signed(dir, &hostile("marker_a"), "a.wasm", Some("acme"));
    copy_signed(dir, &hostile("marker_b"), "b.wasm", Some("acme"));
    let refs = [
        ok(
            sy(
                dir,
                &["push", "a.wasm", &registry.reference("nodes/marker:a")],
            ),
            "push a",
        ),
        ok(
            sy(
                dir,
                &["push", "b.wasm", &registry.reference("nodes/marker:b")],
            ),
            "push b",
        ),
    ];
    // The server's store starts empty: the first swap to each pulls it.
    let store = tempfile::tempdir().unwrap();
    let sources = Sources::from_env()
        .with_store(store.path().to_path_buf())
        .offline(false);
    let m = manifest(dir, &marker_manifest(&refs[0])).unwrap();
    let p = Pipeline::load_from(&engine(None), m.clone(), &sources)
        .await
        .unwrap()
        .bind(switchyard::models::ModelHub::from_env(&m.models).unwrap());
    let server = TestServer::start_with_sources(p, Some(TOKEN), sources).await;
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (client, url, stop) = (client.clone(), server.url.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let r = client
                    .post(format!("{url}/v1/runs"))
                    .json(&json!({ "input": { "client": c, "i": i } }))
                    .send()
                    .await
                    .unwrap();
                seen.push((r.status().as_u16(), r.json::<Value>().await.unwrap()));
                i += 1;
            }
            seen
        }));
    }
    for i in 1..=SWAPS {
        let revision = i + 1;
        let target = &refs[(revision % 2 == 0) as usize];
        let r = client
            .put(format!("{}/admin/nodes/marker", server.url))
            .bearer_auth(TOKEN)
            .json(&json!({ "component": target }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let report: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "swap {i} to {target}: {report}");
        assert_eq!(report["revision"], revision, "{report}");
        let marker = if revision % 2 == 0 { "b" } else { "a" };
        assert_eq!(report["version"], format!("1.0.0-{marker}"), "{report}");
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    let mut revisions = std::collections::BTreeSet::new();
    for c in clients {
        for (status, body) in c.await.unwrap() {
            total += 1;
            assert_eq!(status, 200, "a request failed: {body}");
            let revision = body["nodes"]["marker"]["revision"].as_u64().unwrap();
            let marker = if revision % 2 == 0 { "b" } else { "a" };
            assert_eq!(body["output"]["marker"], marker, "{body}");
            revisions.insert(revision);
        }
    }
    assert!(total > 50, "only {total} requests");
    assert!(revisions.len() > 4, "runs saw only revisions {revisions:?}");
    // The swap history names the reference each swap came from.
    let (events, _) = server.live.status().swaps().events();
    assert!(
        events.iter().any(|e| e.by.contains(&refs[1])),
        "{:?}",
        events.iter().map(|e| &e.by).collect::<Vec<_>>()
    );
    eprintln!("{total} requests over {SWAPS} swaps by reference; 0 failed");
    server.stop().await.unwrap();
}

#[test]
fn publish_validate_strict_refuses_grants_beyond_declared_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let text = |models: &str, settings: &str, old: &str| {
        format!(
            r#"[pipeline]
name = "strict"

[models.fast]
provider = "sim"

[nodes.draft]
role = "worker"
component = {worker}
settings = {{ do = "echo" }}
judges = ["pii"]
{old}

[nodes.pii]
role = "judge"
component = {pii}
models = [{models}]
settings = {{ {settings} }}
"#,
            worker = toml_path(&fixture("worker_hostile")),
            pii = toml_path(&plugin("judge_pii")),
        )
    };
    // judge-pii (contract 0.2) declares no models and the settings kinds
    // and mode; the hostile worker is a 0.1 component with no needs.
    std::fs::write(
        dir.join("wide.toml"),
        text(
            "\"fast\"",
            "mode = \"reject\", extra = 1",
            "models = [\"fast\"]",
        ),
    )
    .unwrap();
    let lenient = sy(dir, &["validate", "wide.toml"]);
    let stderr = String::from_utf8_lossy(&lenient.stderr).to_string();
    assert!(lenient.status.success(), "{stderr}");
    assert!(
        stderr.contains("needs models: none") && stderr.contains("granted  models: fast"),
        "the review shows asks next to grants: {stderr}"
    );
    let out = sy(dir, &["validate", "wide.toml", "--strict"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for says in [
        "model `fast` is granted, but the component declares it needs no model",
        "setting `extra` is given, but the component does not declare reading it",
        "models fast are granted, but the component declares no needs (contract 0.1.0",
        "3 grant(s) beyond",
    ] {
        assert!(stderr.contains(says), "missing `{says}`: {stderr}");
    }
    std::fs::write(dir.join("narrow.toml"), text("", "mode = \"reject\"", "")).unwrap();
    ok(
        sy(dir, &["validate", "narrow.toml", "--strict"]),
        "strict on narrow grants",
    );
    // The main example grants each node no more than it declares.
    let example = switchyard_tests::root().join("examples/support-triage/pipeline.toml");
    ok(
        sy(
            dir,
            &["validate", &example.display().to_string(), "--strict"],
        ),
        "strict on the main example",
    );
}

#[test]
fn publish_manifest_trust_and_reference_errors_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keygen(dir, "acme");
    std::fs::write(dir.join("secret.pub"), "not a key").unwrap();
    let node = |component: &str, extra: &str| {
        format!(
            "[pipeline]\nname = \"t\"\n\n[trust]\nkeys = {{ acme = \"acme.pub\" }}\n\n[nodes.w]\nrole = \"worker\"\ncomponent = \"{component}\"\n{extra}\n"
        )
    };
    for (text, says) in [
        (
            node("oci://localhost:5000/a/b", ""),
            "names neither a tag nor a digest",
        ),
        (node("oci://localhost:5000/A/b:1", ""), "lowercase"),
        (
            node("https://example.com/x.wasm", ""),
            "uses a scheme switchyard does not pull from",
        ),
        (
            node("w.wasm", "trust = \"sigend\""),
            "unknown trust requirement `sigend`",
        ),
        (
            node("w.wasm", "trust = \"signed\"\nsigners = [\"acmee\"]"),
            "did you mean `acme`?",
        ),
        (
            node("w.wasm", "trust = \"signed\"\nsigners = []"),
            "`signers` is empty",
        ),
        (
            node("w.wasm", "signers = [\"acme\"]"),
            "names `signers` but does not require a signature",
        ),
        (
            node("w.wasm", "").replace("acme.pub", "missing.pub"),
            "cannot read",
        ),
        (
            node("w.wasm", "").replace("acme.pub", "secret.pub"),
            "is not an Ed25519 public key",
        ),
        (
            node("w.wasm", "trust = \"signed\"").replace("keys = { acme = \"acme.pub\" }", ""),
            "`[trust] keys` names no key",
        ),
    ] {
        let err = manifest(dir, &text).expect_err(says).to_string();
        assert!(err.contains(says), "expected `{says}`: {err}");
        assert!(err.contains(":"), "no location: {err}");
    }
}

#[test]
fn publish_registry_credentials_come_from_the_docker_config_or_the_environment() {
    // `author` / `open-sesame`, hashed with bcrypt as the registry's
    // htpasswd file requires.
    let registry = Registry::start_with_auth(
        "author:$2b$05$lutsetaKciMLx0AnqYr11u60eotgXhTmBiD9gDGXSgUweXaSFZgzy",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_signed(dir, &fixture("judge_scripted"), "judge.wasm", None);
    let tag = registry.reference("guards/scripted:1.0");
    let stderr = refused(sy(dir, &["push", "judge.wasm", &tag]), "an anonymous push");
    assert!(
        stderr.contains(&registry.addr) && stderr.contains("no or wrong credentials"),
        "{stderr}"
    );
    // `docker login` writes this file; credential helpers are read too.
    std::fs::create_dir_all(dir.join("docker")).unwrap();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "author:open-sesame",
    );
    std::fs::write(
        dir.join("docker/config.json"),
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
            registry.addr
        ),
    )
    .unwrap();
    let pinned = ok(
        sy(dir, &["push", "judge.wasm", &tag]),
        "a push with the Docker config",
    );
    std::fs::remove_file(dir.join("docker/config.json")).unwrap();
    let env = |password| {
        [
            ("SWITCHYARD_REGISTRY_USERNAME", "author"),
            ("SWITCHYARD_REGISTRY_PASSWORD", password),
        ]
    };
    let stderr = refused(
        sy_with(dir, &["pull", &pinned], &env("wrong")),
        "a pull with a wrong password",
    );
    assert!(stderr.contains("no or wrong credentials"), "{stderr}");
    assert_eq!(
        ok(
            sy_with(dir, &["pull", &pinned], &env("open-sesame")),
            "a pull with the environment"
        ),
        pinned
    );
}
