//! Builds guest components for `wasm32-wasip2`: makes sure the target is
//! installed (a fresh rustup machine lacks it), then runs `cargo build` in a
//! guest workspace; and builds the first-party plugins in other languages
//! (`polyglot`); and finds or installs headless Chromium for the browser
//! tests (`browser`). Used by `cargo xtask` and by `tests/build.rs`, so
//! both set up the same way.

pub mod apt;
pub mod browser;
pub mod polyglot;
pub mod services;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest target.
pub const TARGET: &str = "wasm32-wasip2";

/// Environment variables a parent cargo sets that must not leak into a
/// nested build for another target.
const SCRUB: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_NAME",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
];

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for v in SCRUB {
        c.env_remove(v);
    }
    // Also drop per-target variables of the parent build (CARGO_CFG_*,
    // CARGO_FEATURE_*), which would confuse build scripts of guest crates.
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("CARGO_CFG_")
                || k.starts_with("CARGO_FEATURE_")
                || k.starts_with("DEP_")
            {
                c.env_remove(k);
            }
        }
    }
    c
}

/// Installs the `wasm32-wasip2` target with rustup when it is missing.
pub fn ensure_target() -> Result<(), String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success()
        && libdir.is_dir()
        && std::fs::read_dir(&libdir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(|e| format!("the {TARGET} target is missing and rustup could not be run ({e}); install it with `rustup target add {TARGET}`"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`rustup target add {TARGET}` failed; install the target by hand"
        ))
    }
}

/// Builds every member of the guest workspace at `dir` in release mode.
/// Components land in `dir/target/wasm32-wasip2/release/<crate>.wasm`.
pub fn build_workspace(dir: &Path) -> Result<PathBuf, String> {
    ensure_target()?;
    let status = cargo()
        .current_dir(dir)
        .args(["build", "--release", "--target", TARGET, "--workspace"])
        .status()
        .map_err(|e| format!("cannot run cargo in {}: {e}", dir.display()))?;
    if !status.success() {
        return Err(format!(
            "building the guest components in {} failed (see the cargo output above)",
            dir.display()
        ));
    }
    Ok(dir.join("target").join(TARGET).join("release"))
}

/// Builds the examples of `package` in the guest workspace at `dir` (each
/// example a component: `dir/target/wasm32-wasip2/release/examples/`).
pub fn build_examples(dir: &Path, package: &str) -> Result<PathBuf, String> {
    ensure_target()?;
    let status = cargo()
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--package",
            package,
            "--examples",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo in {}: {e}", dir.display()))?;
    if !status.success() {
        return Err(format!(
            "building the examples of {package} in {} failed (see the cargo output above)",
            dir.display()
        ));
    }
    Ok(dir
        .join("target")
        .join(TARGET)
        .join("release")
        .join("examples"))
}

/// Files whose change should trigger a rebuild of the guest workspace at
/// `dir` (sources, manifests, data), excluding its `target/`.
pub fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(dir, &mut out);
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target"
            || name == "node_modules"
            || name == "__pycache__"
            || name == "gen"
            || name.to_string_lossy().starts_with('.')
        {
            continue;
        }
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}
