//! `switchyard new`: scaffolds a node project in Rust, Python, JavaScript or
//! C for one role — source with a small working example of the role, a copy
//! of the WIT contract, `build.sh`, a `test.sh` smoke test that runs the
//! built component with `switchyard test-node`, and a README. For C it also
//! writes the bindings generated from the WIT (at the host's build time).
//! Templates live in `host/templates/`, compiled into the binary.

use std::path::{Path, PathBuf};

use crate::config::Role;

/// A node language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the `switchyard-node` authoring kit.
    Rust,
    /// Python, with componentize-py.
    Python,
    /// JavaScript, with componentize-qjs (QuickJS).
    Js,
    /// C, with clang and generated bindings.
    C,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
            Lang::C => "C",
        }
    }
}

/// Why a scaffold could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// A bad node name.
    #[error("`{0}` is not a usable node name: use lowercase letters, digits and `-`, starting with a letter (e.g. `judge-tone`)")]
    Name(String),
    /// The directory exists and is not empty.
    #[error("{0} already exists and is not empty; choose another name or --dir")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

const WIT: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../wit/node@0.1.0/types.wit")),
    (
        "imports.wit",
        include_str!("../../wit/node@0.1.0/imports.wit"),
    ),
    (
        "exports.wit",
        include_str!("../../wit/node@0.1.0/exports.wit"),
    ),
    (
        "worlds.wit",
        include_str!("../../wit/node@0.1.0/worlds.wit"),
    ),
];

/// (path in the project, template) for `lang` and `role`.
fn templates(lang: Lang, role: Role) -> Vec<(&'static str, &'static str)> {
    macro_rules! by_role {
        ($j:literal, $r:literal, $w:literal) => {
            match role {
                Role::Judge => include_str!($j),
                Role::Router => include_str!($r),
                Role::Worker => include_str!($w),
            }
        };
    }
    match lang {
        Lang::Rust => vec![
            ("Cargo.toml", include_str!("../templates/rust/Cargo.toml")),
            (
                "src/lib.rs",
                by_role!(
                    "../templates/rust/lib.rs.judge",
                    "../templates/rust/lib.rs.router",
                    "../templates/rust/lib.rs.worker"
                ),
            ),
            ("build.sh", include_str!("../templates/rust/build.sh")),
            (".gitignore", "/target/\n/build/\n"),
        ],
        Lang::Python => vec![
            (
                "app.py",
                by_role!(
                    "../templates/python/app.py.judge",
                    "../templates/python/app.py.router",
                    "../templates/python/app.py.worker"
                ),
            ),
            ("build.sh", include_str!("../templates/python/build.sh")),
            (".gitignore", "/.venv/\n/build/\n__pycache__/\n"),
        ],
        Lang::Js => vec![
            (
                "app.js",
                by_role!(
                    "../templates/js/app.js.judge",
                    "../templates/js/app.js.router",
                    "../templates/js/app.js.worker"
                ),
            ),
            ("package.json", include_str!("../templates/js/package.json")),
            ("build.sh", include_str!("../templates/js/build.sh")),
            (".gitignore", "/node_modules/\n/build/\n"),
        ],
        Lang::C => vec![
            (
                "node.c",
                by_role!(
                    "../templates/c/node.c.judge",
                    "../templates/c/node.c.router",
                    "../templates/c/node.c.worker"
                ),
            ),
            ("build.sh", include_str!("../templates/c/build.sh")),
            (".gitignore", "/.venv/\n/build/\n"),
        ],
    }
}

/// C bindings generated from the WIT when the host was built.
fn c_bindings(role: Role) -> [(&'static str, &'static str); 2] {
    match role {
        Role::Judge => [
            (
                "gen/judge_node.c",
                include_str!(concat!(env!("OUT_DIR"), "/c-bindings/judge_node.c")),
            ),
            (
                "gen/judge_node.h",
                include_str!(concat!(env!("OUT_DIR"), "/c-bindings/judge_node.h")),
            ),
        ],
        Role::Router => [
            (
                "gen/router_node.c",
                include_str!(concat!(env!("OUT_DIR"), "/c-bindings/router_node.c")),
            ),
            (
                "gen/router_node.h",
                include_str!(concat!(env!("OUT_DIR"), "/c-bindings/router_node.h")),
            ),
        ],
        Role::Worker => [
            (
                "gen/worker_node.c",
                include_str!(concat!(env!("OUT_DIR"), "/c-bindings/worker_node.c")),
            ),
            (
                "gen/worker_node.h",
                include_str!(concat!(env!("OUT_DIR"), "/c-bindings/worker_node.h")),
            ),
        ],
    }
}

/// `switchyard test-node` arguments that exercise the example.
fn example_args(role: Role, expect_reject: bool) -> &'static str {
    match (role, expect_reject) {
        (Role::Judge, false) => r#"--candidate '{"reply": "Happy to help."}'"#,
        (Role::Judge, true) => r#"--candidate '"TODO"'"#,
        (Role::Router, _) => {
            r#"--input '{"body": "URGENT: the site is down"}' --candidates normal,urgent"#
        }
        (Role::Worker, _) => r#"--input '{"body": "How do I reset my password?"}'"#,
    }
}

fn smoke_test(role: Role, lang: Lang, snake: &str) -> String {
    let run = |args: &str, want: &str| {
        format!(
            "out=\"$(\"$switchyard\" test-node build/{snake}.wasm {args} 2>&1)\" || {{ echo \"$out\"; echo 'smoke test failed: the node did not answer' >&2; exit 1; }}\n\
             grep -qF -- {want:?} <<<\"$out\" || {{ echo \"$out\"; echo 'smoke test failed: expected {want}' >&2; exit 1; }}\n"
        )
    };
    let checks = match role {
        Role::Judge => {
            run(example_args(role, false), "verdict: accept")
                + &run(example_args(role, true), "verdict: reject")
        }
        Role::Router => run(example_args(role, false), "route: urgent"),
        Role::Worker => run(
            example_args(role, false),
            if lang == Lang::C {
                "\"words\":"
            } else {
                "\"reply\":"
            },
        ),
    };
    format!(
        "#!/usr/bin/env bash\n# Smoke test: builds the node and runs it with `switchyard test-node`\n# (set $SWITCHYARD to the binary if it is not on PATH).\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\nswitchyard=\"${{SWITCHYARD:-switchyard}}\"\n./build.sh\n{checks}echo \"smoke test passed\"\n"
    )
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Writes a new `lang` node of `role` named `name` into `dir`; returns the
/// files written. `kit` is the Rust authoring kit's folder.
pub fn scaffold(
    lang: Lang,
    role: Role,
    name: &str,
    dir: &Path,
    kit: &Path,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        return Err(ScaffoldError::Name(name.into()));
    }
    if dir.exists() && std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_some()) {
        return Err(ScaffoldError::Exists(dir.into()));
    }
    let snake = name.replace('-', "_");
    let world = format!("{}-node", role.as_str());
    let world_snake = world.replace('-', "_");
    let kit = kit.display().to_string();
    let example = example_args(role, false);
    let vars = [
        ("name", name),
        ("snake", snake.as_str()),
        ("role", role.as_str()),
        ("world", world.as_str()),
        ("world_snake", world_snake.as_str()),
        ("kit", kit.as_str()),
        ("lang_name", lang.name()),
        ("example_args", example),
    ];
    let mut files: Vec<(String, String)> = templates(lang, role)
        .into_iter()
        .map(|(p, t)| (p.to_string(), fill(t, &vars)))
        .collect();
    files.push((
        "README.md".into(),
        fill(include_str!("../templates/common/README.md"), &vars),
    ));
    files.push(("test.sh".into(), smoke_test(role, lang, &snake)));
    for (file, text) in WIT {
        files.push((format!("wit/node@0.1.0/{file}"), text.to_string()));
    }
    if lang == Lang::C {
        for (p, t) in c_bindings(role) {
            files.push((p.to_string(), t.to_string()));
        }
    }
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        let write = |p: &Path| -> std::io::Result<()> {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, &text)?;
            #[cfg(unix)]
            if rel.ends_with(".sh") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
            }
            Ok(())
        };
        write(&path).map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// The Rust authoring kit in the checkout this binary was built from.
pub fn default_kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/rust/switchyard-node")
}
