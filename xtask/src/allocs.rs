//! The allocation count of `cargo xtask profile`: how many times a run
//! calls the C allocator, and from where in the host.
//!
//! glibc is built without frame pointers, so a CPU sample inside `malloc`
//! loses its callers. A uprobe at the entry of `malloc`, `calloc` and
//! `realloc` fires before their prologue, while the frame-pointer chain is
//! still the caller's, so every allocation's stack is whole. Each is put
//! under the nearest frame of the host's own code (`switchyard::`); the
//! count is exact, unlike CPU time on a machine whose speed drifts, so it
//! shows the effect of removing copies without an A/B run. Adding the
//! probes needs root (`perf probe`); without it the count is skipped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs recorded (each allocation is an event: fewer runs than the CPU
/// profile keep the trace small).
pub const RUNS: usize = 2_000;
/// The allocator's entry points probed.
const FUNCTIONS: [&str; 3] = ["malloc", "calloc", "realloc"];
/// Where an allocation with no host frame on its stack is counted.
const OUTSIDE: &str = "(no host frame: runtime threads, start-up)";

/// Records `switchyard run` of `pipeline` on `input` (which holds [`RUNS`]
/// lines) with the allocator probed, and gives the table of allocations
/// per run by the nearest host frame.
pub fn allocations(
    root: &Path,
    switchyard_fp: &Path,
    pipeline: &Path,
    input: &Path,
    out: &Path,
) -> Result<String, String> {
    let libc = libc_of(switchyard_fp)?;
    let listed = output(Command::new("perf").args(["probe", "-l"]))?;
    for f in FUNCTIONS {
        if listed.contains(&format!("probe_libc:{f} ")) {
            continue;
        }
        let added = Command::new("perf")
            .args(["probe", "-q", "-x"])
            .arg(&libc)
            .args(["--add", f])
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run perf probe: {e}"))?;
        if !added.status.success() {
            return Err(format!(
                "`perf probe -x {} --add {f}` failed (it needs root and tracefs: mount -t tracefs nodev /sys/kernel/tracing): {}",
                libc.display(),
                String::from_utf8_lossy(&added.stderr).trim()
            ));
        }
    }
    let data = out.join("allocs.perf.data");
    let mut record = Command::new("perf");
    record
        .args(["record", "-q", "--call-graph", "fp", "-o"])
        .arg(&data);
    for f in FUNCTIONS {
        record.args(["-e", &format!("probe_libc:{f}")]);
    }
    let status = record
        .arg("--")
        .arg(switchyard_fp)
        .arg("run")
        .arg(pipeline)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out.join("allocs.out.jsonl"))
        .args(["--force", "--concurrency", "64"])
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run perf record: {e}"))?;
    if !status.success() {
        return Err(format!("perf record of the allocator failed ({status})"));
    }
    let mut child = Command::new("perf")
        .args(["script", "--no-inline", "-F", "event,ip,sym", "-i"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run perf script: {e}"))?;
    let reader = BufReader::new(child.stdout.take().expect("piped"));
    let counts = attribute(reader.lines().map_while(Result::ok));
    child
        .wait()
        .map_err(|e| format!("waiting for perf script: {e}"))?;
    Ok(table(&counts))
}

/// The C library the binary is linked against (from `ldd`).
fn libc_of(binary: &Path) -> Result<std::path::PathBuf, String> {
    let text = output(Command::new("ldd").arg(binary))?;
    text.lines()
        .filter_map(|l| l.split_once("=>"))
        .find(|(name, _)| name.trim().starts_with("libc.so"))
        .and_then(|(_, path)| path.split_whitespace().next())
        .map(std::path::PathBuf::from)
        .ok_or_else(|| format!("`ldd {}` names no libc.so", binary.display()))
}

fn output(c: &mut Command) -> Result<String, String> {
    crate::bench::output(c).map(|o| String::from_utf8_lossy(&o).into_owned())
}

/// Counts of allocations by the nearest host frame, from the lines of
/// `perf script -F event,ip,sym`: a sample is a header line (` event:`)
/// then one line per frame, each starting with a tab, leaf (the probed function) first.
fn attribute(lines: impl Iterator<Item = String>) -> HashMap<String, u64> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut frames: Vec<String> = Vec::new();
    let mut take = |frames: &mut Vec<String>| {
        if frames.is_empty() {
            return;
        }
        let host = frames
            .iter()
            .skip(1)
            .find(|f| f.starts_with("switchyard::") || f.starts_with("<switchyard::"))
            .map_or(OUTSIDE, String::as_str);
        *counts.entry(host.to_string()).or_default() += 1;
        frames.clear();
    };
    for line in lines {
        if line.starts_with('\t') && !line.trim().is_empty() {
            frames.push(crate::profile::frame_name(&line));
        } else {
            take(&mut frames);
        }
    }
    take(&mut frames);
    counts
}

/// The table: allocations per run in all, then by host frame, largest
/// first (the 20 largest).
fn table(counts: &HashMap<String, u64>) -> String {
    use std::fmt::Write as _;
    let per_run = |n: u64| n as f64 / RUNS as f64;
    let total: u64 = counts.values().sum();
    let mut rows: Vec<(&String, &u64)> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut t = format!(
        "\nAllocations per run (malloc, calloc, realloc; {RUNS} runs, 64 in flight; uprobes, exact): {:.1}\nby the nearest host frame:\n",
        per_run(total)
    );
    for (frame, n) in rows.into_iter().take(20) {
        let _ = writeln!(t, "{:>9.1}  {frame}", per_run(*n));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_allocation_goes_to_its_nearest_host_frame() {
        let text = "\
 probe_libc:malloc: 
\t7f00 __GI___libc_malloc+0x0 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t5500 alloc::raw_vec::finish_grow+0x1 (/bin/switchyard)
\t5501 switchyard::batch::view::RecordView::of::h0123456789abcdef+0x2 (/bin/switchyard)
\t5502 switchyard::batch::runner::run_line+0x3 (/bin/switchyard)

 probe_libc:calloc: 
\t7f01 __libc_calloc+0x0 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t5503 <switchyard::engine::host::Metered<F> as core::future::Future>::poll+0x9 (/bin/switchyard)

 probe_libc:malloc: 
\t7f00 __GI___libc_malloc+0x0 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t5600 tokio::runtime::task::spawn+0x1 (/bin/switchyard)

 probe_libc:realloc: 
\t7f02 __GI___libc_realloc+0x0 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t5501 switchyard::batch::view::RecordView::of::h0123456789abcdef+0x7 (/bin/switchyard)
";
        let counts = attribute(text.lines().map(str::to_string));
        assert_eq!(counts["switchyard::batch::view::RecordView::of"], 2);
        assert_eq!(
            counts["<switchyard::engine::host::Metered<F> as core::future::Future>::poll"],
            1
        );
        assert_eq!(counts[OUTSIDE], 1);
        assert_eq!(counts.values().sum::<u64>(), 4);
        let t = table(&counts);
        assert!(t.contains(&format!("{:.1}", 4.0 / RUNS as f64)), "{t}");
    }
}
