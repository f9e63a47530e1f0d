//! `cargo xtask <task>`: the project's set-up and everyday tasks, in Rust so
//! they work on a machine with nothing but rustup-installed Rust. Each task
//! does its own set-up (the wasm32-wasip2 target, the guest components).

mod allocs;
mod bench;
mod fuzz;
mod profile;
mod served;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  example   build the plugins and run the support-triage example on sim models
  test      build plugins and fixtures, run the whole test suite
  plugins   build every first-party plugin: Rust, Python, JavaScript, C
  lint      cargo fmt --check and clippy -D warnings (host and guests);
            --skip-host-clippy when `test` just built the host (it lints
            the workspace's crates as it builds them)
  bench     [shape]: the benchmark shape (bench/four-node) in process and
            end to end (three alternating rounds against the same shape in
            plain Python asyncio: medians, and every round's ratio), cold,
            and with 10,000 runs waiting on a slow model, printed as
            ratios; then (without `shape`) `switchyard bench --serve` on
            the examples (release build)
  profile   where a run's CPU time goes: perf (frame pointers, host built
            into target/profile) on `switchyard run` of the shape, one run
            at a time and 64 in flight; prints CPU µs per run by category
            and leaves folded stacks for a flame graph in target/profile;
            then `switchyard serve` of the shape driven by `switchyard
            load`: the server's CPU per served run by category (HTTP,
            loopback TCP, the answer's JSON, metrics, the run) and the
            load generator's; then counts allocations per run by host
            frame (uprobes on malloc, calloc, realloc: needs root)
  fuzz      [TARGET] [--seconds N]: the libFuzzer targets of fuzz/ on nightly
            (manifest, schema, openai_body, anthropic_body, sse), 60 s each
            by default; the test suite smoke-runs the same properties on stable
";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "example" => example(),
        "test" => test(),
        "plugins" => plugins().map(|_| ()),
        "lint" => lint(std::env::args().nth(2).as_deref() == Some("--skip-host-clippy")),
        "bench" => bench(std::env::args().nth(2).as_deref() == Some("shape")),
        "profile" => profile_task(),
        "fuzz" => fuzz::fuzz(&std::env::args().skip(2).collect::<Vec<_>>()),
        "" | "help" | "-h" | "--help" => {
            eprint!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// Builds the release `switchyard` binary (with cargo's progress shown: the
/// first build compiles Wasmtime) and returns a command running it, before
/// its arguments.
fn switchyard() -> Result<Command, String> {
    eprintln!(
        "xtask: building the switchyard host (release; the first build compiles Wasmtime, about 10 minutes on 2 cores)"
    );
    run(cargo().args(["build", "--release", "--package", "switchyard"]))?;
    let mut c = Command::new(switchyard_path());
    c.current_dir(root());
    Ok(c)
}

/// `cargo xtask profile`: the host built with frame pointers, in a target
/// directory of its own (its flags would rebuild every crate of the
/// default one), then the profile.
fn profile_task() -> Result<(), String> {
    let dir = root().join("target/profile/host");
    eprintln!(
        "xtask: building the switchyard host with frame pointers into {} (the first build compiles Wasmtime, about 12 minutes on 2 cores)",
        dir.display()
    );
    let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    run(cargo()
        .args([
            "build",
            "--release",
            "--package",
            "switchyard",
            "--target-dir",
        ])
        .arg(&dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", format!("{flags} -C force-frame-pointers=yes")))?;
    profile::profile(&root(), &dir.join("release/switchyard"))
}

/// The release binary, in cargo's target directory.
fn switchyard_path() -> PathBuf {
    target_dir().join("release/switchyard")
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn rust_plugins() -> Result<PathBuf, String> {
    eprintln!("xtask: building Rust plugins for {}", guest_build::TARGET);
    guest_build::build_workspace(&root().join("plugins/rust"))
}

fn plugins() -> Result<PathBuf, String> {
    let rust = rust_plugins()?;
    eprintln!("xtask: building the Python, JavaScript and C plugins into target/plugins");
    guest_build::polyglot::build_all(&root(), &root().join("target/plugins"))?;
    Ok(rust)
}

fn example() -> Result<(), String> {
    rust_plugins()?;
    let out = root().join("target/support-triage.out.jsonl");
    let mut switchyard = switchyard()?;
    eprintln!(
        "xtask: running the support-triage example on sim models, with every ticket also priced as one monolithic prompt to the frontier model"
    );
    run(switchyard
        .args([
            "run",
            "examples/support-triage/pipeline.toml",
            "--input",
            "examples/support-triage/tickets.jsonl",
            "--baseline-model",
            "frontier",
            "--output",
        ])
        .arg(&out))?;
    eprintln!("xtask: one record per ticket written to {}", out.display());
    Ok(())
}

fn test() -> Result<(), String> {
    // tests/build.rs builds the plugins and fixtures itself; installing the
    // target here first gives a clearer error if rustup cannot.
    guest_build::ensure_target()?;
    // Likewise the C toolchain (apt-get when root) for the C plugins.
    guest_build::polyglot::ensure_c_toolchain()?;
    // And headless Chromium (Debian's `chromium`, apt-get when root) for
    // the tests that load the HTML report in a real browser. Without it
    // the rest still runs; those tests fail, naming the package.
    if let Err(e) = guest_build::browser::ensure_chromium() {
        eprintln!("xtask: warning: {e}; the browser tests will fail");
    }
    // And the servers tests start on 127.0.0.1 (the OCI registry).
    if let Err(e) = guest_build::services::ensure_services() {
        eprintln!("xtask: warning: {e}; the tests that need them will fail");
    }
    warn_if_disk_is_short();
    eprintln!(
        "xtask: building the host, then (quietly, in tests/build.rs) the plugins in four languages and the test fixtures, then running every test; the first build takes 15-25 minutes on 2 cores"
    );
    // Clippy lints the workspace's own crates while they are built for the
    // tests (clippy-driver as the workspace wrapper, -D warnings, as
    // `cargo clippy` itself does), so CI need not check every dependency a
    // second time for a separate `cargo clippy`. The nested builds the tests
    // start inherit it, so they find these artifacts fresh.
    let driver = clippy_driver()?;
    run(cargo()
        .args(["test", "--workspace"])
        .env("RUSTC_WORKSPACE_WRAPPER", &driver)
        .env("CLIPPY_ARGS", CLIPPY_ARGS))?;
    // The plugins' own unit tests (detectors, classifier accuracy, parsers),
    // natively: only their libraries, not the wasm-only component glue.
    run(cargo()
        .args(["test", "--workspace", "--lib", "--manifest-path"])
        .arg(root().join("plugins/rust/Cargo.toml")))
}

/// Free space the test build wants on the disk holding `target/`: its
/// artifacts take about 6 GiB on a clean clone.
const TEST_BUILD_GIB: u64 = 8;

/// Warns when the disk holding `target/` has less room than the test build
/// takes: a linker that runs out of disk dies with a bare `Bus error`.
fn warn_if_disk_is_short() {
    let target = target_dir();
    // `df` needs a path that exists: the target dir, or the first of its
    // ancestors that does.
    let Some(probe) = target.ancestors().find(|p| p.exists()) else {
        return;
    };
    let Ok(out) = Command::new("df").arg("-Pk").arg(probe).output() else {
        return;
    };
    // POSIX format: a header, then `fs blocks used available capacity mount`.
    let text = String::from_utf8_lossy(&out.stdout);
    let free_kib = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<u64>().ok());
    if let Some(free) = free_kib.filter(|&k| k < TEST_BUILD_GIB << 20) {
        eprintln!(
            "xtask: warning: only {:.1} GiB free on the disk holding {}; the test build takes about 6 GiB (a linker short of disk fails with `Bus error`)",
            free as f64 / f64::from(1 << 20),
            target.display()
        );
    }
}

/// `-D warnings` as `cargo clippy -- -D warnings` hands it to clippy-driver.
const CLIPPY_ARGS: &str = "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__";

/// The active toolchain's `clippy-driver`, adding the component if missing.
fn clippy_driver() -> Result<PathBuf, String> {
    let which = || {
        Command::new("rustup")
            .args(["which", "clippy-driver"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    };
    if let Some(p) = which() {
        return Ok(p);
    }
    run(Command::new("rustup").args(["component", "add", "clippy"]))?;
    which().ok_or_else(|| "rustup installed clippy but has no clippy-driver".to_string())
}

fn lint(skip_host_clippy: bool) -> Result<(), String> {
    guest_build::ensure_target()?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    if skip_host_clippy {
        eprintln!("xtask: host clippy skipped: `cargo xtask test` linted the workspace's crates as it built them");
    } else {
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    for dir in ["plugins/rust", "tests/fixtures", "bench"] {
        run(cargo()
            .args(["fmt", "--all", "--manifest-path"])
            .arg(root().join(dir).join("Cargo.toml"))
            .args(["--", "--check"]))?;
        run(cargo()
            .args([
                "clippy",
                "--workspace",
                "--lib",
                "--examples",
                "--target",
                guest_build::TARGET,
                "--manifest-path",
            ])
            .arg(root().join(dir).join("Cargo.toml"))
            .args(["--", "-D", "warnings"]))?;
    }
    Ok(())
}

fn bench(shape_only: bool) -> Result<(), String> {
    switchyard()?;
    bench::shape(
        || {
            let mut c = Command::new(switchyard_path());
            c.current_dir(root());
            c
        },
        &root(),
    )?;
    if shape_only {
        return Ok(());
    }
    plugins()?;
    // The compile cache on the large components: first load against cached.
    for component in [
        "target/plugins/judge_tone.wasm",
        "target/plugins/router_language.wasm",
    ] {
        run(switchyard()?.args(["bench", "--load", component]))?;
    }
    // The served target is measured on the basic example: 20,000 requests
    // per series, so its p99 at half load rests on 200 samples past it.
    for (manifest, iterations) in [
        ("examples/support-triage/basic.toml", "20000"),
        ("examples/support-triage/pipeline.toml", "2000"),
    ] {
        run(switchyard()?
            .args(["bench", manifest, "--serve", "-n", iterations])
            .args(["--input", "examples/support-triage/tickets.jsonl"]))?;
    }
    // Serving overhead per request, one client at a time.
    run(switchyard()?
        .args([
            "bench",
            "examples/support-triage/pipeline.toml",
            "--serve",
            "--concurrency",
            "1",
        ])
        .args(["--input", "examples/support-triage/tickets.jsonl"]))?;
    Ok(())
}
