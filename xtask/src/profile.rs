//! `cargo xtask profile`: where a run's CPU time goes, per category, from
//! a `perf` profile of the benchmark shape run end to end.
//!
//! The host is built with frame pointers into its own target directory
//! (`target/profile`), so every sample's stack is whole and cheap to take
//! (DWARF unwinding lost the root of ~90% of stacks through Wasmtime's
//! fibers). `switchyard run` on `bench/four-node` is recorded twice, one
//! run at a time and 64 in flight; each sample is put in the first
//! category (see [`CATEGORIES`]) any frame of its stack matches, and the
//! table gives CPU µs per run (CPU time of every thread ÷ runs). Folded
//! stacks, weighted by CPU ns, are left in `target/profile/*.folded` for a
//! flame graph (`inferno-flamegraph`, speedscope). Then the allocations
//! per run, counted exactly by probes on the allocator (`allocs`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs per profile.
const RUNS: usize = 20_000;
/// Sampling frequency (Hz).
pub(crate) const FREQ: &str = "4999";

/// Categories in priority order: a sample counts for the first whose
/// patterns any frame of its stack contains.
const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "Store teardown: memory reset (PAGEMAP_SCAN ioctl)",
        &["reset_with_pagemap"],
    ),
    (
        "Store teardown: slots, tables, stacks",
        &[
            "drop_in_place<wasmtime::runtime::store::StoreInner",
            "StoreOpaque as core::ops::drop::Drop",
        ],
    ),
    (
        "Wasmtime instantiation",
        &["instantiate_async", "Indices>::load", "Instantiator::new"],
    ),
    (
        "Store and WASI context set-up",
        &["engine::store::new_store", "NodeState::new"],
    ),
    ("schema checks", &["switchyard::schema::"]),
    (
        "run record: encode, read back for the summary",
        &[
            "Finished::new",
            "pipeline::record::",
            "batch::summary::",
            "batch::view::",
        ],
    ),
    (
        "records out: reorder and write",
        &["batch::runner::write_", "batch::output::", "batch::order::"],
    ),
    ("input lines: read and parse", &["batch::input::"]),
    (
        "model hub: sim model, policy, pricing, ledger, budgets",
        &["ModelHub::", "switchyard::models::"],
    ),
    (
        "tracing spans",
        &[
            "tracing_subscriber::",
            "tracing_core::",
            "tracing::span::",
            "Instrumented<T>>::drop",
        ],
    ),
    (
        "tokio: workers parking and waking (epoll, futex)",
        &["Context::park", "park_internal", "futex"],
    ),
    ("tokio timers", &["tokio::time::", "tokio::runtime::time::"]),
    (
        "JSON of tasks, meta and outputs",
        &["serde_json::", "serde_core::"],
    ),
    ("epoch ticker thread", &["spawn_ticker"]),
    (
        "guest code, WASI and other host imports",
        &["wasm[", "wasm-call", "array-call", "wasm-to-array"],
    ),
    (
        "Wasmtime calls: lift, lower, fiber switch",
        &[
            "wasmtime::runtime::component::func",
            "wasmtime::runtime::func",
            "catch_traps",
            "wasmtime_internal_fiber",
            "wasmtime::runtime::fiber",
        ],
    ),
    ("Wasmtime, other", &["wasmtime"]),
    (
        "executor, gate, invocation wrapper",
        &[
            "switchyard::pipeline::",
            "switchyard::engine::",
            // The executor's nodes in flight (its frames may be inlined).
            "futures_unordered",
        ],
    ),
    ("batch loop and dispatch", &["switchyard::batch::"]),
    ("tokio scheduling", &["tokio::runtime", "tokio::sync"]),
];

/// The C library's allocator: glibc is built without frame pointers, so
/// a stack through `malloc`/`free` loses its callers (it begins at the
/// allocator or at `[unknown]`); such a stack matches no category and
/// counts here.
const ALLOCATOR_FRAMES: &[&str] = &[
    "malloc",
    "_int_",
    "cfree",
    "realloc",
    "calloc",
    "__libc_malloc",
    "__libc_free",
    "__libc_calloc",
    "__libc_realloc",
    "unlink_chunk",
    "sysmalloc",
];
const ALLOCATOR: &str = "allocator (callers not recorded: glibc has no frame pointers)";
const OTHER: &str = "other: kernel, start-up, component load";

/// One recorded profile: CPU ns per category and in all.
pub(crate) struct Profile {
    label: String,
    by_category: HashMap<&'static str, u64>,
    pub(crate) total_ns: u64,
}

pub fn profile(root: &Path, switchyard_fp: &Path) -> Result<(), String> {
    if Command::new("perf")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
    {
        return Err(
            "profiling needs `perf` on PATH (Debian: apt-get install linux-perf) and \
             /proc/sys/kernel/perf_event_paranoid at 2 or lower"
                .into(),
        );
    }
    eprintln!("xtask: building the benchmark nodes (bench/nodes)");
    guest_build::build_examples(&root.join("bench"), "bench-nodes")?;
    let out = root.join("target/profile");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let input = out.join("four-node.in.jsonl");
    crate::bench::cycle(&root.join("bench/four-node/tickets.jsonl"), &input, RUNS)?;

    let mut profiles = Vec::new();
    for (name, in_flight) in [("sequential", 1), ("in-flight", 64)] {
        eprintln!(
            "xtask: perf record: switchyard run, {RUNS} runs, {in_flight} in flight, {FREQ} Hz"
        );
        let data = out.join(format!("{name}.perf.data"));
        let status = Command::new("perf")
            // cpu-clock: each sample's period is CPU ns, on any machine.
            .args(["record", "-q", "-e", "cpu-clock", "-F", FREQ])
            .args(["--call-graph", "fp", "-o"])
            .arg(&data)
            .arg("--")
            .arg(switchyard_fp)
            .arg("run")
            .arg(root.join("bench/four-node/pipeline.toml"))
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(out.join(format!("{name}.out.jsonl")))
            .arg("--force")
            .args(["--concurrency", &in_flight.to_string()])
            .current_dir(root)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run perf: {e}"))?;
        if !status.success() {
            return Err(format!("perf record of `switchyard run` failed ({status})"));
        }
        let folded = out.join(format!("{name}.folded"));
        profiles.push(read_profile(
            &data,
            &folded,
            format!("{in_flight} in flight"),
            category,
        )?);
        eprintln!("xtask: folded stacks in {}", folded.display());
    }
    eprint!("{}", table(&profiles));

    eprintln!(
        "xtask: perf record: `switchyard serve` of the shape and `switchyard load` driving it, {} requests",
        crate::served::REQUESTS
    );
    let served = crate::served::profile(
        root,
        switchyard_fp,
        &root.join("bench/four-node/pipeline.toml"),
        &root.join("bench/four-node/tickets.jsonl"),
        &out,
    )?;
    eprint!("{}", served_table(&served, &profiles[profiles.len() - 1]));

    let few = out.join("four-node.allocs.in.jsonl");
    crate::bench::cycle(
        &root.join("bench/four-node/tickets.jsonl"),
        &few,
        crate::allocs::RUNS,
    )?;
    eprintln!(
        "xtask: perf record: the allocator's entry points probed, {} runs, 64 in flight",
        crate::allocs::RUNS
    );
    match crate::allocs::allocations(
        root,
        switchyard_fp,
        &root.join("bench/four-node/pipeline.toml"),
        &few,
        &out,
    ) {
        Ok(t) => eprint!("{t}"),
        Err(e) => eprintln!("xtask: allocation count skipped: {e}"),
    }
    Ok(())
}

/// Reads `perf script` of `data`: each sample's stack into its category
/// (by `categorize`), and the folded stacks into `folded`.
pub(crate) fn read_profile(
    data: &Path,
    folded: &Path,
    label: String,
    categorize: fn(&str) -> &'static str,
) -> Result<Profile, String> {
    let mut child = Command::new("perf")
        .args(["script", "--no-inline", "-F", "period,ip,sym", "-i"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run perf script: {e}"))?;
    let reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut stacks: HashMap<String, u64> = HashMap::new();
    let mut frames: Vec<String> = Vec::new();
    let mut period = 0u64;
    let mut take = |frames: &mut Vec<String>, period: u64| {
        if !frames.is_empty() {
            frames.reverse();
            *stacks.entry(frames.join(";")).or_default() += period;
            frames.clear();
        }
    };
    for line in reader.lines() {
        let line = line.map_err(|e| format!("reading perf script: {e}"))?;
        if line.trim().is_empty() {
            take(&mut frames, period);
        } else if line.starts_with('\t') {
            frames.push(frame_name(&line));
        } else {
            take(&mut frames, period);
            period = line.trim().parse().unwrap_or(0);
        }
    }
    take(&mut frames, period);
    let status = child
        .wait()
        .map_err(|e| format!("waiting for perf script: {e}"))?;
    if !status.success() {
        return Err(format!("perf script failed ({status})"));
    }
    let mut by_category: HashMap<&'static str, u64> = HashMap::new();
    let mut total_ns = 0;
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(folded).map_err(|e| format!("{}: {e}", folded.display()))?,
    );
    for (stack, ns) in &stacks {
        total_ns += ns;
        *by_category.entry(categorize(stack)).or_default() += ns;
        writeln!(file, "{stack} {ns}").map_err(|e| format!("{}: {e}", folded.display()))?;
    }
    file.flush()
        .map_err(|e| format!("{}: {e}", folded.display()))?;
    Ok(Profile {
        label,
        by_category,
        total_ns,
    })
}

/// A frame line of `perf script` (`\t<ip> <symbol> (<dso>)`) as its
/// symbol, without offset, DSO or Rust's hash suffix.
pub(crate) fn frame_name(line: &str) -> String {
    let line = line.trim();
    let sym = line.split_once(' ').map_or(line, |(_, s)| s);
    let sym = match sym.rfind(" (") {
        Some(i) if sym.ends_with(')') => &sym[..i],
        _ => sym,
    };
    let sym = match sym.rfind("+0x") {
        Some(i) => &sym[..i],
        None => sym,
    };
    let sym = match sym.rfind("::h") {
        Some(i) if sym.len() - i == 19 => &sym[..i],
        _ => sym,
    };
    // `;` separates frames in the folded format.
    sym.replace(';', ",")
}

/// The category of a folded stack (root first).
pub(crate) fn category(stack: &str) -> &'static str {
    for (name, patterns) in CATEGORIES {
        if patterns.iter().any(|p| stack.contains(p)) {
            return name;
        }
    }
    let allocator = |f: &str| f == "free" || ALLOCATOR_FRAMES.iter().any(|a| f.starts_with(a));
    if stack.split(';').any(allocator) {
        return ALLOCATOR;
    }
    OTHER
}

/// The table of CPU µs per run by category, largest first (by the last
/// profile, the throughput one).
fn table(profiles: &[Profile]) -> String {
    use std::fmt::Write as _;
    let names = CATEGORIES.iter().map(|(n, _)| *n).chain([ALLOCATOR, OTHER]);
    let mut rows: Vec<(&str, Vec<u64>)> = names
        .map(|n| {
            let ns = profiles
                .iter()
                .map(|p| p.by_category.get(n).copied().unwrap_or(0))
                .collect();
            (n, ns)
        })
        .collect();
    rows.sort_by_key(|(_, ns)| std::cmp::Reverse(ns.last().copied().unwrap_or(0)));
    let per_run = |ns: u64| ns as f64 / 1_000.0 / RUNS as f64;
    let mut t = format!(
        "\nCPU µs per run, `switchyard run bench/four-node/pipeline.toml`, {RUNS} runs \
         (perf at {FREQ} Hz, frame pointers; share of the profile)\n{:<62}",
        ""
    );
    for p in profiles {
        let _ = write!(t, "{:>20}", p.label);
    }
    t.push('\n');
    for (name, ns) in &rows {
        let _ = write!(t, "{name:<62}");
        for (p, ns) in profiles.iter().zip(ns) {
            let share = 100.0 * *ns as f64 / p.total_ns.max(1) as f64;
            let _ = write!(t, "{:>12.1} {:>6.1}%", per_run(*ns), share);
        }
        t.push('\n');
    }
    let _ = write!(t, "{:<62}", "total");
    for p in profiles {
        let _ = write!(t, "{:>12.1} {:>7}", per_run(p.total_ns), "");
    }
    t.push('\n');
    t
}

/// The served profile's table: the server's CPU per request by category
/// (its share of the samples times its CPU per request), the load
/// generator's, and the in-process run of `in_process` beside them.
fn served_table(served: &crate::served::Served, in_process: &Profile) -> String {
    use std::fmt::Write as _;
    let p = &served.server;
    let names = crate::served::names()
        .chain(CATEGORIES.iter().map(|(n, _)| *n))
        .chain([ALLOCATOR, OTHER]);
    let mut rows: Vec<(&str, f64)> = names
        .map(|n| {
            let share =
                p.by_category.get(n).copied().unwrap_or(0) as f64 / p.total_ns.max(1) as f64;
            (n, share)
        })
        .filter(|(_, share)| *share > 0.0)
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut t = format!(
        "\nCPU µs per served run, `switchyard serve bench/four-node/pipeline.toml` driven by \
         `switchyard load -c 32`, {} requests (the server's CPU from /proc, split by its samples' shares)\n",
        crate::served::REQUESTS
    );
    for (name, share) in &rows {
        let _ = writeln!(
            t,
            "{name:<90}{:>8.1} {:>6.1}%",
            share * served.server_us,
            share * 100.0
        );
    }
    let in_process_us = in_process.total_ns as f64 / 1_000.0 / RUNS as f64;
    let _ = writeln!(t, "{:<90}{:>8.1}", "the server, in all", served.server_us);
    let _ = writeln!(
        t,
        "{:<90}{:>8.1}",
        "the load generator (its own process, on the same cores)", served.load_us
    );
    let _ = writeln!(
        t,
        "{:<90}{:>8.1}",
        format!(
            "for comparison: `switchyard run`, {} (above), per run",
            in_process.label
        ),
        in_process_us
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_names_lose_offset_dso_and_hash() {
        assert_eq!(
            frame_name(
                "\t    55d0c0ffee switchyard::bench::run::h0123456789abcdef+0x1a (/x/switchyard)"
            ),
            "switchyard::bench::run"
        );
        assert_eq!(
            frame_name("\tffffffff81580b1b perf_iterate_sb.constprop.0 ([kernel.kallsyms])"),
            "perf_iterate_sb.constprop.0"
        );
    }

    #[test]
    fn the_first_matching_category_wins() {
        let s = "start_thread;switchyard::pipeline::executor::Run::invoke;wasmtime::runtime::vm::sys::unix::pagemap::reset_with_pagemap;ioctl";
        assert_eq!(category(s), CATEGORIES[0].0);
        assert_eq!(category("malloc_consolidate"), ALLOCATOR);
        assert_eq!(category("[unknown];_int_free"), ALLOCATOR);
        assert_eq!(
            category("start_thread;switchyard::batch::runner::Finished::new;switchyard::models::ledger::LedgerEntry::serialize"),
            CATEGORIES.iter().find(|c| c.1.contains(&"Finished::new")).unwrap().0,
            "a record's ledger entries are the record's encoding, not the hub"
        );
        assert_eq!(category("start_thread;clock_nanosleep"), OTHER);
        assert_eq!(
            category("_start;__libc_start_main;main;clock_nanosleep"),
            OTHER,
            "the program's start is not the allocator"
        );
    }
}
