//! `switchyard new`: scaffolds a node project in Rust, Python, JavaScript or
//! C for one role — source with a small working example of the role, a copy
//! of the WIT contract, `build.sh`, a `test.sh` smoke test that runs the
//! built component with `switchyard test-node`, and a README. Rust nodes
//! depend on the `switchyard-node` kit crate by path; Python, JavaScript and
//! C nodes get their language's authoring kit (`host/kits/<lang>/`) copied
//! into the project, so nothing needs publishing to a registry. For C it
//! also writes the bindings generated from the WIT (at the host's build
//! time), which the C kit implements. Templates live in `host/templates/`;
//! templates and kits are compiled into the binary.

use std::path::{Path, PathBuf};

use crate::config::Role;

/// A node language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the `switchyard-node` authoring kit.
    Rust,
    /// Python, with componentize-py and the kit `switchyard_node.py`.
    Python,
    /// JavaScript, with componentize-qjs (QuickJS) and the kit
    /// `switchyard-node.js`.
    Js,
    /// C, with clang, generated bindings and the kit `switchyard_node.h`.
    C,
}

impl Lang {
    /// What the project's README says about the authoring kit.
    fn kit_note(self) -> &'static str {
        match self {
            Lang::Rust => "The node is written on the Rust authoring kit, the `switchyard-node` crate \
                 (a path dependency in `Cargo.toml`): `cargo doc --open` documents it.",
            Lang::Python => "`switchyard_node.py` is the Python authoring kit (decorators, the task, \
                 verdicts, settings, logging, model calls); its doc comments explain every helper. \
                 It is part of your project, not a package to install.",
            Lang::Js => "`switchyard-node.js` is the JavaScript authoring kit (`defineJudge` and the \
                 like, the task, verdicts, settings, logging, model calls); its doc comments explain \
                 every helper. It is part of your project, not a package to install.",
            Lang::C => "`switchyard_node.h` is the C authoring kit (strings, JSON text, verdicts, \
                 settings, logging, model calls; `switchyard_node.c` implements the exports of the \
                 bindings in `gen/`); its comments explain every helper.",
        }
    }

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

/// The contract version new nodes are written against: its folder is
/// copied into every project as `wit/node@<version>/`.
pub const CONTRACT: &str = "0.2.0";

const WIT: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../wit/node@0.2.0/types.wit")),
    (
        "imports.wit",
        include_str!("../../wit/node@0.2.0/imports.wit"),
    ),
    (
        "exports.wit",
        include_str!("../../wit/node@0.2.0/exports.wit"),
    ),
    (
        "worlds.wit",
        include_str!("../../wit/node@0.2.0/worlds.wit"),
    ),
];

/// The authoring kit of each language that is copied into projects: (file
/// in the project, source). The first-party plugins use the same files from
/// `host/kits/`.
const PYTHON_KIT: &[(&str, &str)] = &[(
    "switchyard_node.py",
    include_str!("../kits/python/switchyard_node.py"),
)];
const JS_KIT: &[(&str, &str)] = &[(
    "switchyard-node.js",
    include_str!("../kits/js/switchyard-node.js"),
)];
const C_KIT: &[(&str, &str)] = &[
    (
        "switchyard_node.h",
        include_str!("../kits/c/switchyard_node.h"),
    ),
    (
        "switchyard_node.c",
        include_str!("../kits/c/switchyard_node.c"),
    ),
];

/// The kit files written into a `lang` project (none for Rust: its kit is a
/// crate the project depends on by path).
fn kit_files(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Rust => &[],
        Lang::Python => PYTHON_KIT,
        Lang::Js => JS_KIT,
        Lang::C => C_KIT,
    }
}

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
    let world_macro = format!("SWITCHYARD_{}", world_snake.to_uppercase());
    let kit = kit.display().to_string();
    let example = example_args(role, false);
    let vars = [
        ("name", name),
        ("snake", snake.as_str()),
        ("role", role.as_str()),
        ("world", world.as_str()),
        ("world_snake", world_snake.as_str()),
        ("world_macro", world_macro.as_str()),
        ("kit", kit.as_str()),
        ("lang_name", lang.name()),
        ("kit_note", lang.kit_note()),
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
    for (file, text) in kit_files(lang) {
        files.push((file.to_string(), text.to_string()));
    }
    for (file, text) in WIT {
        files.push((format!("wit/node@{CONTRACT}/{file}"), text.to_string()));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of the author's own code in a scaffolded source file: not
    /// blank, not a comment or a docstring, and not Rust's `#[cfg(test)]`
    /// module (the kit itself is in other files).
    fn author_lines(lang: Lang, text: &str) -> usize {
        let mut count = 0;
        let mut until: Option<&str> = None; // the end of a comment block
        for line in text.lines().map(str::trim) {
            if let Some(end) = until {
                if line.contains(end) {
                    until = None;
                }
                continue;
            }
            let (open, close) = match lang {
                Lang::Python => ("\"\"\"", "\"\"\""),
                _ => ("/*", "*/"),
            };
            if let Some(rest) = line.strip_prefix(open) {
                if !rest.contains(close) {
                    until = Some(close);
                }
                continue;
            }
            if lang == Lang::Rust && line.starts_with("#[cfg(test)]") {
                break;
            }
            let comment = match lang {
                Lang::Python => line.starts_with('#'),
                _ => line.starts_with("//"),
            };
            if !line.is_empty() && !comment {
                count += 1;
            }
        }
        count
    }

    /// The example's source file of a `lang` project of `role`, filled in.
    fn example(lang: Lang, role: Role) -> String {
        let source = match lang {
            Lang::Rust => "src/lib.rs",
            Lang::Python => "app.py",
            Lang::Js => "app.js",
            Lang::C => "node.c",
        };
        let (_, text) = templates(lang, role)
            .into_iter()
            .find(|(path, _)| *path == source)
            .expect("every language has its source template");
        fill(text, &[("name", "my-judge")])
    }

    #[test]
    fn scaffold_author_lines_count_code_only() {
        let py = "\"\"\"Doc\nstring.\"\"\"\n\nimport x  # why\n\n# note\ndef f():\n    \"\"\"One line.\"\"\"\n    return 1\n";
        assert_eq!(author_lines(Lang::Python, py), 3);
        let c =
            "/* a\n * b */\n#include <x.h>\n\n/* one */\nint f(void) { return 0; } /* tail */\n";
        assert_eq!(author_lines(Lang::C, c), 2);
        let rs = "//! doc\nuse x;\n\nfn f() {}\n\n#[cfg(test)]\nmod tests {}\n";
        assert_eq!(author_lines(Lang::Rust, rs), 2);
    }

    #[test]
    fn scaffold_kit_judges_are_at_most_15_author_lines() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js, Lang::C] {
            let source = example(lang, Role::Judge);
            let n = author_lines(lang, &source);
            assert!(
                n <= 15,
                "the {} example judge has {n} lines of author code (at most 15):\n{source}",
                lang.name()
            );
        }
    }

    #[test]
    fn scaffold_writes_the_current_contract() {
        let dir = std::env::temp_dir().join(format!(
            "switchyard-scaffold-contract-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let files = scaffold(Lang::Rust, Role::Judge, "my-judge", &dir, Path::new("kit")).unwrap();
        let worlds = dir.join(format!("wit/node@{CONTRACT}/worlds.wit"));
        assert!(files.contains(&worlds), "{files:?}");
        let text = std::fs::read_to_string(&worlds).unwrap();
        assert!(text.starts_with(&format!("package switchyard:node@{CONTRACT};")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scaffold_writes_the_kit_beside_the_example() {
        for (lang, kit) in [
            (Lang::Python, "switchyard_node.py"),
            (Lang::Js, "switchyard-node.js"),
            (Lang::C, "switchyard_node.h"),
            (Lang::C, "switchyard_node.c"),
        ] {
            let dir = std::env::temp_dir().join(format!(
                "switchyard-scaffold-kit-{}-{:?}-{kit}",
                std::process::id(),
                lang
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let files = scaffold(lang, Role::Judge, "my-judge", &dir, Path::new("kit")).unwrap();
            assert!(
                files.contains(&dir.join(kit)),
                "{kit} not written for {lang:?}"
            );
            let source = std::fs::read_to_string(dir.join(match lang {
                Lang::Python => "app.py",
                Lang::Js => "app.js",
                _ => "node.c",
            }))
            .unwrap();
            let import = kit.trim_end_matches(".py").trim_end_matches(".c");
            assert!(
                source.contains(import),
                "{lang:?} example does not use {import}"
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
