//! The host's layers depend one way: the leaves (`spec`, `text`, `schema`)
//! on nothing in the crate; `config` on the leaves; `models` on the
//! leaves; `artifact` on `spec`; `engine` on `models` and the leaves;
//! `pipeline` on those and `artifact`;
//! `telemetry` and `recording` on those; `graph` (drawing a manifest) on
//! `config` and the leaves only, so it needs no component, model or key;
//! the front ends on everything below. Checked on the `use` paths of the
//! source, so a new edge against the direction fails here.

use switchyard_tests::root;

/// Every `.rs` file under `dir`, at any depth.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::<module>` path a module's files name (comments skipped).
fn uses(module: &str) -> std::collections::BTreeSet<String> {
    let dir = root().join("host/src").join(module);
    let mut files = Vec::new();
    if dir.is_dir() {
        rust_files(&dir, &mut files);
    } else {
        files.push(root().join("host/src").join(format!("{module}.rs")));
    }
    let mut out = std::collections::BTreeSet::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let code = line.split("//").next().unwrap_or_default();
            for part in code.split("crate::").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != module && !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

#[test]
fn layering_lower_layers_never_import_higher_ones() {
    let allowed: &[(&str, &[&str])] = &[
        ("spec", &[]),
        ("text", &[]),
        ("schema", &[]),
        ("config", &["spec", "schema"]),
        ("models", &["spec", "text"]),
        // Where a component's bytes come from and who signed them: the
        // store, the registry, signatures, the trust check.
        ("artifact", &["spec"]),
        // State shared between replicas: implements the model layer's
        // rate-limit and spend stores over Redis.
        ("state", &["spec", "models"]),
        // Client keys: kept in a file or in the shared state's Redis.
        ("keys", &["spec", "state"]),
        ("engine", &["spec", "text", "schema", "models"]),
        (
            "pipeline",
            &[
                "spec", "text", "schema", "config", "models", "engine", "artifact",
            ],
        ),
        // Trace export reads finished runs: below every front end that
        // exports (serve, the CLI), above the pipeline.
        (
            "telemetry",
            &[
                "spec", "text", "schema", "config", "models", "engine", "artifact", "pipeline",
            ],
        ),
        // Recordings are written from finished runs and replayed through
        // a pipeline: the same place as trace export.
        (
            "recording",
            &[
                "spec", "text", "schema", "config", "models", "engine", "artifact", "pipeline",
            ],
        ),
        // Drawing a pipeline reads the manifest alone; `--load` is wired
        // in the CLI.
        ("graph", &["spec", "text", "config"]),
    ];
    for (module, may) in allowed {
        let found = uses(module);
        let bad: Vec<&String> = found
            .iter()
            .filter(|m| !may.contains(&m.as_str()))
            .collect();
        assert!(
            bad.is_empty(),
            "`{module}` imports {bad:?}, against the layering (it may use {may:?})"
        );
    }
}
