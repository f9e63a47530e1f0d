//! `cargo xtask fuzz [TARGET] [--seconds N]`: runs the libFuzzer targets
//! of `fuzz/` on the nightly toolchain (installing it and `cargo-fuzz`
//! when missing), each for N seconds (default 60), with its seed corpus
//! (`fuzz/corpus/<target>`, read only), a working corpus and crash
//! artifacts under `target/fuzz/`, and its dictionary. Prints libFuzzer's
//! final statistics (executions, coverage, peak memory) per target. The
//! `guest_returns` and `http` targets drive the scripted fixture
//! components (`tests/fixtures/scripted-node`), built here first.

use std::process::Command;

use super::{root, run};

/// Targets and the dictionary each uses.
const TARGETS: &[(&str, &str)] = &[
    ("manifest", "toml.dict"),
    ("schema", "json.dict"),
    ("openai_body", "json.dict"),
    ("anthropic_body", "json.dict"),
    ("sse", "json.dict"),
    ("guest_returns", "json.dict"),
    ("http", "http.dict"),
];

/// Targets that drive the scripted fixture components, built first.
/// They keep a served pipeline alive across inputs (caches, metrics,
/// breakers), which LeakSanitizer would take for a leak after every
/// input — and its scan would cost most of each run: leak checks are off
/// for them.
const NEED_COMPONENTS: &[&str] = &["guest_returns", "http"];

/// Runs the targets the arguments name (all by default).
pub fn fuzz(args: &[String]) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut only = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s| *s > 0)
                    .ok_or("--seconds needs a positive number")?;
            }
            t if TARGETS.iter().any(|(n, _)| *n == t) => only = Some(t.to_string()),
            other => {
                return Err(format!(
                    "unknown fuzz target or flag `{other}`; targets: {}",
                    TARGETS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    }
    ensure_tools()?;
    let chosen = |t: &str| only.as_deref().is_none_or(|o| o == t);
    if NEED_COMPONENTS.iter().any(|t| chosen(t)) {
        let fixtures = root().join("tests/fixtures");
        let dir = guest_build::build_examples(&fixtures, "scripted-node")?;
        eprintln!("xtask: scripted components in {}", dir.display());
    }
    for (target, dict) in TARGETS {
        if !chosen(target) {
            continue;
        }
        let work = root().join("target/fuzz/corpus").join(target);
        let artifacts = root().join("target/fuzz/artifacts").join(target);
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        std::fs::create_dir_all(&artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
        eprintln!("xtask: fuzzing `{target}` for {seconds} s");
        run(Command::new("cargo")
            .args([
                "+nightly",
                "fuzz",
                "run",
                "--fuzz-dir",
                "fuzz/targets",
                target,
            ])
            .arg(&work)
            .arg(root().join("fuzz/corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!(
                "-dict={}",
                root().join("fuzz/dict").join(dict).display()
            ))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-timeout=10")
            .arg(format!(
                "-detect_leaks={}",
                u8::from(!NEED_COMPONENTS.contains(target))
            ))
            .arg("-rss_limit_mb=4096")
            .arg("-print_final_stats=1"))
        .map_err(|e| {
            format!(
                "{e}\nxtask: a crash or timeout input is in {}",
                artifacts.display()
            )
        })?;
    }
    Ok(())
}

/// The nightly toolchain and `cargo-fuzz`, installed when missing.
fn ensure_tools() -> Result<(), String> {
    let has_nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_nightly {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    let has_fuzz = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}
