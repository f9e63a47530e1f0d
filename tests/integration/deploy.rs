//! The deployment files say what the binary accepts and refer to each
//! other correctly: every YAML file under `deploy/kubernetes` is
//! well-formed YAML (as `yaml-rust2` reads it) and listed in the
//! kustomization; the probes ask `/readyz` and `/healthz` on the port
//! `serve` listens on; the Deployment's arguments and the Dockerfile's
//! `CMD` are accepted by the real `switchyard serve`, and the environment
//! variables they set are ones it reads; the ConfigMap's `pipeline.toml`
//! is a valid manifest — the support-triage example with its components
//! pinned by digest in a registry and its state on Redis — mounted where
//! the Deployment tells `serve` to read it; and the image puts the example's
//! components where its manifest looks for them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use switchyard::spec::{ComponentSource, StateSpec};
use switchyard_tests::{root, switchyard_bin};
use yaml_rust2::{Yaml, YamlLoader};

fn deploy_dir() -> PathBuf {
    root().join("deploy/kubernetes")
}

/// Every YAML file under `deploy/kubernetes`, by file name, parsed; a file
/// that is not well-formed fails the test, naming the problem's line.
fn yaml_files() -> BTreeMap<String, Vec<Yaml>> {
    let mut out = BTreeMap::new();
    let dir = deploy_dir();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let docs = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not well-formed YAML: {e}", path.display()));
        out.insert(name, docs);
    }
    out
}

/// The one object of `kind` named `name` in those files.
fn object<'a>(files: &'a BTreeMap<String, Vec<Yaml>>, kind: &str, name: &str) -> &'a Yaml {
    let found: Vec<&Yaml> = files
        .values()
        .flatten()
        .filter(|d| {
            d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name)
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} `{name}` under deploy/kubernetes, found {}",
        found.len()
    );
    found[0]
}

/// The items of a list; none if `node` is not one (or is missing).
fn items(node: &Yaml) -> &[Yaml] {
    node.as_vec().map_or(&[], Vec::as_slice)
}

/// The strings of a list, if it is a list of strings.
fn strings(node: &Yaml) -> Option<Vec<String>> {
    node.as_vec()?
        .iter()
        .map(|i| i.as_str().map(String::from))
        .collect()
}

/// The containers of a workload's pod template.
fn containers(workload: &Yaml) -> &[Yaml] {
    items(&workload["spec"]["template"]["spec"]["containers"])
}

/// The `switchyard` container of the Deployment.
fn switchyard_container(files: &BTreeMap<String, Vec<Yaml>>) -> &Yaml {
    containers(object(files, "Deployment", "switchyard"))
        .iter()
        .find(|c| c["name"].as_str() == Some("switchyard"))
        .expect("the Deployment has a container named `switchyard`")
}

/// The Deployment's `args` for the `switchyard` container.
fn deployment_args(files: &BTreeMap<String, Vec<Yaml>>) -> Vec<String> {
    strings(&switchyard_container(files)["args"])
        .expect("the switchyard container has `args`, a list of strings")
}

/// The number `port` stands for in `container`: a number, or the name of
/// one of its `ports`.
fn port_number(container: &Yaml, port: &Yaml) -> Option<u16> {
    let number = match port.as_str() {
        Some(name) => items(&container["ports"])
            .iter()
            .find(|p| p["name"].as_str() == Some(name))?["containerPort"]
            .as_i64()?,
        None => port.as_i64()?,
    };
    number.try_into().ok()
}

/// The port of `--listen HOST:PORT` (or `--listen=HOST:PORT`) in `args`.
fn listen_port(args: &[String]) -> Option<u16> {
    let addr = args
        .iter()
        .enumerate()
        .find_map(|(i, a)| match a.as_str() {
            "--listen" => args.get(i + 1).cloned(),
            _ => a.strip_prefix("--listen=").map(String::from),
        })?;
    addr.rsplit(':').next()?.parse().ok()
}

/// `switchyard serve --help`, as the binary prints it.
fn serve_help() -> String {
    let out = Command::new(switchyard_bin())
        .args(["serve", "--help"])
        .output()
        .expect("running switchyard serve --help");
    assert!(out.status.success(), "switchyard serve --help failed");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The repository's Dockerfile.
fn dockerfile() -> String {
    std::fs::read_to_string(root().join("Dockerfile")).expect("a Dockerfile at the repository root")
}

/// The Dockerfile's instructions of its last (runtime) stage, from its
/// `FROM` on: `(INSTRUCTION, arguments)`, continuation lines joined and
/// comments dropped.
fn runtime_stage(text: &str) -> Vec<(String, String)> {
    let mut all = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (instruction, rest) = current
            .split_once(char::is_whitespace)
            .unwrap_or((current.as_str(), ""));
        all.push((instruction.to_ascii_uppercase(), rest.trim().to_string()));
        current.clear();
    }
    let from = all
        .iter()
        .rposition(|(i, _)| i == "FROM")
        .expect("the Dockerfile has a FROM");
    all.split_off(from)
}

/// The arguments of the one `instruction` of the runtime stage.
fn instruction<'a>(stage: &'a [(String, String)], name: &str) -> &'a str {
    let found: Vec<&str> = stage
        .iter()
        .filter(|(i, _)| i == name)
        .map(|(_, rest)| rest.as_str())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the Dockerfile's runtime stage should have one {name}, has {}",
        found.len()
    );
    found[0]
}

/// An instruction's exec (JSON array) form.
fn exec_form(rest: &str) -> Vec<String> {
    serde_json::from_str(rest)
        .unwrap_or_else(|e| panic!("`{rest}` is not the exec (JSON array) form: {e}"))
}

/// The `NAME=value` pairs of the runtime stage's `ENV` instructions.
fn image_env(stage: &[(String, String)]) -> BTreeMap<String, String> {
    stage
        .iter()
        .filter(|(i, _)| i == "ENV")
        .flat_map(|(_, rest)| rest.split_whitespace())
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV `{pair}`: write NAME=value"));
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// `p` with `.` and `..` resolved lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn deploy_kubernetes_files_are_well_formed_yaml_and_all_in_the_kustomization() {
    let files = yaml_files();
    let kustomization = files
        .get("kustomization.yaml")
        .expect("deploy/kubernetes/kustomization.yaml exists");
    let resources: BTreeSet<String> = strings(&kustomization[0]["resources"])
        .expect("the kustomization lists `resources`")
        .into_iter()
        .collect();
    let others: BTreeSet<String> = files
        .keys()
        .filter(|n| *n != "kustomization.yaml")
        .cloned()
        .collect();
    assert_eq!(
        resources, others,
        "kustomization.yaml must list every other YAML file in deploy/kubernetes, and only those"
    );
    for (name, docs) in &files {
        assert!(!docs.is_empty(), "{name} holds no document");
        for doc in docs {
            let kind = doc["kind"].as_str().unwrap_or_default();
            assert!(!kind.is_empty(), "a document in {name} has no `kind`");
            assert!(
                doc["apiVersion"].as_str().is_some(),
                "the {kind} in {name} has no `apiVersion`"
            );
            if kind != "Kustomization" {
                assert!(
                    doc["metadata"]["name"].as_str().is_some(),
                    "the {kind} in {name} has no metadata.name"
                );
            }
        }
    }
    for (kind, name) in [
        ("Deployment", "switchyard"),
        ("Service", "switchyard"),
        ("HorizontalPodAutoscaler", "switchyard"),
        ("ConfigMap", "switchyard-pipeline"),
        ("Secret", "switchyard"),
        ("StatefulSet", "redis"),
        ("Service", "redis"),
    ] {
        object(&files, kind, name);
    }
}

#[test]
fn deploy_probes_ask_readyz_for_readiness_and_healthz_for_liveness_on_the_serving_port() {
    let files = yaml_files();
    let container = switchyard_container(&files);
    let listen = listen_port(&deployment_args(&files)).expect("the Deployment passes --listen");
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &container[probe]["httpGet"];
        assert!(
            get.is_hash(),
            "the switchyard container has no {probe}.httpGet"
        );
        assert_eq!(get["path"].as_str(), Some(path), "{probe} must ask {path}");
        let port = &get["port"];
        assert_eq!(
            port_number(container, port),
            Some(listen),
            "{probe} asks port {port:?}, not the port serve listens on"
        );
    }
}

#[test]
fn deploy_serve_arguments_of_the_deployment_and_the_image_are_accepted_by_the_binary() {
    let files = yaml_files();
    let container = switchyard_container(&files);
    let text = dockerfile();
    let stage = runtime_stage(&text);
    assert_eq!(
        exec_form(instruction(&stage, "ENTRYPOINT")),
        ["switchyard"],
        "the image's entrypoint is the binary"
    );
    assert!(
        container["command"].is_badvalue(),
        "the Deployment overrides the image's entrypoint; the checks below assume it does not"
    );
    let help = serve_help();
    let known: BTreeSet<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.len() > 2 && w.starts_with("--"))
        .collect();
    assert!(
        known.contains("--listen"),
        "the help lists no flags:\n{help}"
    );
    let dir = tempfile::tempdir().unwrap();
    for (what, args) in [
        ("deployment.yaml's args", deployment_args(&files)),
        (
            "the Dockerfile's CMD",
            exec_form(instruction(&stage, "CMD")),
        ),
    ] {
        assert_eq!(
            args.first().map(String::as_str),
            Some("serve"),
            "{what} must start with `serve`"
        );
        for arg in args.iter().filter(|a| a.starts_with("--")) {
            let flag = arg.split('=').next().unwrap_or_default();
            assert!(
                known.contains(flag),
                "{what} passes {flag}, which `switchyard serve --help` does not list"
            );
        }
        // The binary itself, on the same arguments with the manifest (right
        // after `serve`) swapped for a file that does not exist: clap takes
        // every argument (one it refuses exits 2), then reading the manifest
        // fails (exit 1), before anything listens.
        let manifest = args.get(1).cloned().unwrap_or_default();
        assert!(
            !manifest.is_empty() && !manifest.starts_with('-'),
            "{what}: the manifest should come right after `serve`"
        );
        let mut run = args;
        run[1] = dir.path().join("missing.toml").display().to_string();
        let out = Command::new(switchyard_bin())
            .args(&run)
            .env_remove("SWITCHYARD_STATE_URL")
            .env_remove("SWITCHYARD_ADMIN_TOKEN")
            .env_remove("SWITCHYARD_OFFLINE")
            .env("SWITCHYARD_CACHE_DIR", dir.path().join("cache"))
            .env("SWITCHYARD_STORE", dir.path().join("store"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: `switchyard {}` should fail only on the missing manifest; it said:\n{stderr}",
            run.join(" ")
        );
        assert!(
            stderr.contains("cannot read manifest"),
            "{what}: expected the missing manifest to be the error, got:\n{stderr}"
        );
    }
}

#[test]
fn deploy_environment_names_are_ones_serve_reads_and_its_caches_are_writable_mounts() {
    let files = yaml_files();
    let container = switchyard_container(&files);
    let stage = runtime_stage(&dockerfile());
    let image = image_env(&stage);
    let mut pod: BTreeMap<String, Option<String>> = BTreeMap::new();
    for env in items(&container["env"]) {
        let name = env["name"].as_str().expect("every env entry has a name");
        pod.insert(name.to_string(), env["value"].as_str().map(String::from));
    }
    // A misspelt name is silently ignored by the binary: each must appear
    // in `serve --help` (as a flag's `[env: …]`, or in its text).
    let help = serve_help();
    let words: BTreeSet<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    for name in image
        .keys()
        .chain(pod.keys())
        .filter(|n| n.starts_with("SWITCHYARD_"))
    {
        assert!(
            words.contains(name.as_str()),
            "{name} is set for serve, but `switchyard serve --help` never mentions it"
        );
    }
    for name in ["SWITCHYARD_STATE_URL", "SWITCHYARD_ADMIN_TOKEN"] {
        assert!(pod.contains_key(name), "the Deployment does not set {name}");
    }
    // The root filesystem is read-only: the compile cache and the component
    // store must be writable mounts, wherever the environment puts them.
    assert_eq!(
        container["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    let mounts = items(&container["volumeMounts"]);
    for name in ["SWITCHYARD_CACHE_DIR", "SWITCHYARD_STORE"] {
        let path = pod
            .get(name)
            .cloned()
            .flatten()
            .or_else(|| image.get(name).cloned())
            .unwrap_or_else(|| panic!("neither the image nor the Deployment sets {name}"));
        let mount = mounts
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(path.as_str()))
            .unwrap_or_else(|| panic!("{name} is {path}, where nothing is mounted"));
        assert_ne!(
            mount["readOnly"].as_bool(),
            Some(true),
            "{name}: {path} is mounted read-only"
        );
    }
}

#[test]
fn deploy_objects_refer_to_each_other() {
    let files = yaml_files();
    let deployment = object(&files, "Deployment", "switchyard");
    let container = switchyard_container(&files);
    let args = deployment_args(&files);
    let volumes = items(&deployment["spec"]["template"]["spec"]["volumes"]);
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("the Deployment has no volume `{name}`"))
    };
    let mounts = items(&container["volumeMounts"]);

    // The manifest serve is told to read is the ConfigMap's pipeline.toml.
    let manifest = &args[1];
    let mount = mounts
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(manifest.as_str()))
        .unwrap_or_else(|| panic!("nothing is mounted at {manifest}, the manifest serve reads"));
    let file = mount["subPath"]
        .as_str()
        .expect("the manifest is mounted as one file (subPath)");
    let source = volume(mount["name"].as_str().unwrap_or_default());
    let config_map = source["configMap"]["name"]
        .as_str()
        .expect("the manifest's volume is a ConfigMap");
    let key = items(&source["configMap"]["items"])
        .iter()
        .find(|i| i["path"].as_str() == Some(file))
        .and_then(|i| i["key"].as_str())
        .unwrap_or(file);
    assert!(
        object(&files, "ConfigMap", config_map)["data"][key]
            .as_str()
            .is_some(),
        "the ConfigMap `{config_map}` has no `{key}`"
    );

    // Every key taken from a Secret is in it.
    let secret_has = |name: &str, key: &str| {
        let secret = object(&files, "Secret", name);
        assert!(
            secret["stringData"][key]
                .as_str()
                .or(secret["data"][key].as_str())
                .is_some(),
            "the Secret `{name}` has no `{key}`"
        );
    };
    for workload in [deployment, object(&files, "StatefulSet", "redis")] {
        for c in containers(workload) {
            for env in items(&c["env"]) {
                let r = &env["valueFrom"]["secretKeyRef"];
                if !r.is_badvalue() {
                    secret_has(
                        r["name"].as_str().unwrap_or_default(),
                        r["key"].as_str().unwrap_or_default(),
                    );
                }
            }
        }
    }
    for v in volumes {
        let s = &v["secret"];
        if !s.is_badvalue() {
            let name = s["secretName"].as_str().unwrap_or_default();
            for item in items(&s["items"]) {
                secret_has(name, item["key"].as_str().unwrap_or_default());
            }
        }
    }

    // The Service selects these pods, on the port serve listens on.
    let labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_hash()
        .expect("the pod template has labels");
    let service = object(&files, "Service", "switchyard");
    let selector = service["spec"]["selector"]
        .as_hash()
        .filter(|s| !s.is_empty())
        .expect("the Service selects nothing");
    for (k, v) in selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "the pods lack the Service's label {k:?}"
        );
    }
    let target = &service["spec"]["ports"][0]["targetPort"];
    assert_eq!(
        port_number(container, target),
        Some(listen_port(&args).expect("the Deployment passes --listen")),
        "the Service's targetPort {target:?} is not the port serve listens on"
    );

    // The autoscaler scales this Deployment.
    let hpa = object(&files, "HorizontalPodAutoscaler", "switchyard");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["kind"].as_str(),
        Some("Deployment")
    );
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"].as_str(),
        deployment["metadata"]["name"].as_str()
    );

    // The Redis URL in the Secret names the `redis` Service and its port.
    let url = object(&files, "Secret", "switchyard")["stringData"]["SWITCHYARD_STATE_URL"]
        .as_str()
        .expect("the Secret holds SWITCHYARD_STATE_URL");
    let authority = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
        .unwrap_or_else(|| panic!("`{url}` is not a redis:// URL"));
    let authority = authority.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = host_port
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("`{url}` names no port"));
    let port: i64 = port
        .parse()
        .unwrap_or_else(|_| panic!("`{url}`: `{port}` is not a port number"));
    let redis = object(&files, "Service", host);
    assert!(
        items(&redis["spec"]["ports"])
            .iter()
            .any(|p| p["port"].as_i64() == Some(port)),
        "the Service `{host}` does not expose port {port}"
    );
}

#[test]
fn deploy_configmap_manifest_is_the_example_with_components_pinned_in_a_registry() {
    let files = yaml_files();
    let text = object(&files, "ConfigMap", "switchyard-pipeline")["data"]["pipeline.toml"]
        .as_str()
        .expect("the ConfigMap holds pipeline.toml");
    // Parsed and resolved as `serve` does before loading anything: its
    // `oci://` components are checked as references, not pulled.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    let served = switchyard::config::load(&path)
        .unwrap_or_else(|e| panic!("the ConfigMap's pipeline.toml is not a valid manifest:\n{e}"));
    let example = switchyard::config::load(&root().join("examples/support-triage/pipeline.toml"))
        .expect("the example manifest");
    assert_eq!(served.name, example.name);
    assert_eq!(served.deadline, example.deadline);
    assert_eq!(served.chat, example.chat);
    assert_eq!(
        served.nodes.keys().collect::<Vec<_>>(),
        example.nodes.keys().collect::<Vec<_>>(),
        "the ConfigMap's nodes are not the example's"
    );
    for (name, node) in &served.nodes {
        match &node.component {
            ComponentSource::Oci(r) => assert!(
                r.digest.is_some(),
                "node `{name}`: {} is not pinned by digest (a tag moves)",
                node.component
            ),
            other => panic!("node `{name}` takes its component from {other}, not from a registry"),
        }
        let ex = &example.nodes[name];
        assert_eq!(
            (
                node.role,
                &node.deps,
                &node.branches,
                &node.judges,
                &node.models,
                &node.settings,
                &node.limits,
                &node.on_reject,
                &node.output_schema
            ),
            (
                ex.role,
                &ex.deps,
                &ex.branches,
                &ex.judges,
                &ex.models,
                &ex.settings,
                &ex.limits,
                &ex.on_reject,
                &ex.output_schema
            ),
            "node `{name}` differs from examples/support-triage/pipeline.toml; keep the two in step"
        );
    }
    assert_eq!(
        served.models.keys().collect::<Vec<_>>(),
        example.models.keys().collect::<Vec<_>>()
    );
    for (name, model) in &served.models {
        assert_eq!(
            model.provider.kind(),
            "sim",
            "model `{name}` needs a provider key; the ConfigMap runs on sim models"
        );
    }
    assert!(
        matches!(served.state, StateSpec::Redis { .. }),
        "the served manifest must share its state through Redis, got {:?}",
        served.state
    );
}

#[test]
fn deploy_image_puts_the_example_and_its_components_where_its_manifest_looks() {
    let text = dockerfile();
    let stage = runtime_stage(&text);
    let cmd = exec_form(instruction(&stage, "CMD"));
    let manifest = Path::new(cmd.get(1).expect("CMD names a manifest"));
    let suffix = Path::new("examples/support-triage/pipeline.toml");
    assert!(
        manifest.is_absolute() && manifest.ends_with(suffix),
        "CMD should serve the support-triage example by absolute path, serves {}",
        manifest.display()
    );
    let example_dir = manifest.parent().unwrap();
    assert!(
        text.contains(&example_dir.display().to_string()),
        "the Dockerfile never fills {}, where CMD reads the manifest",
        example_dir.display()
    );
    // Each component, resolved against the manifest's folder in the image as
    // serve resolves it, lands in a folder the Dockerfile fills, and is built
    // from a crate of the plugins workspace the Dockerfile builds.
    assert!(
        text.contains("plugins/rust") && text.contains("--workspace"),
        "the Dockerfile does not build the plugins/rust workspace"
    );
    let toml = std::fs::read_to_string(root().join(suffix)).unwrap();
    let components: Vec<&str> = toml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("component = \""))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(!components.is_empty(), "the example names no component");
    for rel in components {
        let in_image = normalize(&example_dir.join(rel));
        let folder = in_image.parent().unwrap().display().to_string();
        assert!(
            text.contains(&folder),
            "the example's {rel} is {} in the image, but the Dockerfile never fills {folder}",
            in_image.display()
        );
        let stem = in_image
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('_', "-");
        assert!(
            root()
                .join("plugins/rust")
                .join(&stem)
                .join("Cargo.toml")
                .is_file(),
            "{rel}: no crate plugins/rust/{stem} builds it"
        );
    }
    // Non-root, its caches on volumes, listening where it says it does.
    let user = instruction(&stage, "USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(uid != "0" && uid != "root", "the image runs as {user}");
    let env = image_env(&stage);
    let volumes = exec_form(instruction(&stage, "VOLUME"));
    for name in ["SWITCHYARD_CACHE_DIR", "SWITCHYARD_STORE"] {
        let dir = env
            .get(name)
            .unwrap_or_else(|| panic!("the image does not set {name}"));
        assert!(
            volumes.contains(dir),
            "{name} is {dir}, which is not a VOLUME"
        );
    }
    assert_eq!(
        instruction(&stage, "EXPOSE").parse::<u16>().ok(),
        Some(listen_port(&cmd).expect("CMD passes --listen")),
        "EXPOSE is not the port CMD listens on"
    );
}
