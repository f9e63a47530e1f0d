//! `cargo xtask bench`: the benchmark shape of docs/benchmarks.md against
//! the same shape in plain Python asyncio, measured in one invocation and
//! printed as ratios; then, unless `shape` is given, the examples'
//! `bench --serve` series.
//!
//! The shape (`bench/four-node/pipeline.toml`, nodes in `bench/nodes`): a
//! keyword router, two workers in parallel each making one instant model
//! call, and a judge on the answer. Measured:
//! - in process (`switchyard bench`): sequential p50 and 64 runs in flight;
//! - end to end (`switchyard run` on a JSONL file, records written);
//! - cold start: process start to the first record on stdout, compile
//!   cache warm;
//! - 10,000 runs in flight, each waiting on a 2-second model
//!   (`slow.toml`): wall time and peak RSS;
//!
//! and the asyncio baseline (`asyncio_baseline.py`) the same ways. The
//! in-process and end-to-end series run in three alternating rounds, and
//! each figure is the median of its rounds.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Lines of the end-to-end batch.
const BATCH_LINES: usize = 20_000;
/// Runs in flight.
const IN_FLIGHT: usize = 64;
/// Runs of the slow-model series.
const WAITING: usize = 10_000;
/// Alternating rounds of the in-process and end-to-end series.
const ROUNDS: usize = 3;

/// What one side measured.
#[derive(Default)]
struct Side {
    seq_p50_us: f64,
    seq_per_sec: f64,
    flight_p50_us: f64,
    flight_p99_us: f64,
    flight_per_sec: f64,
    batch_per_sec: f64,
    first_record_ms: f64,
}

impl Side {
    /// Each figure's median over `rounds` (cold start is measured once,
    /// as a median of its own).
    fn median_of(rounds: &[Side]) -> Side {
        let m = |f: fn(&Side) -> f64| median(rounds.iter().map(f).collect());
        Side {
            seq_p50_us: m(|s| s.seq_p50_us),
            seq_per_sec: m(|s| s.seq_per_sec),
            flight_p50_us: m(|s| s.flight_p50_us),
            flight_p99_us: m(|s| s.flight_p99_us),
            flight_per_sec: m(|s| s.flight_per_sec),
            batch_per_sec: m(|s| s.batch_per_sec),
            first_record_ms: 0.0,
        }
    }
}

pub fn shape(mut switchyard: impl FnMut() -> Command, root: &Path) -> Result<(), String> {
    eprintln!("xtask: building the benchmark nodes (bench/nodes)");
    guest_build::build_examples(&root.join("bench"), "bench-nodes")?;
    let python = python()?;
    let dir = root.join("bench/four-node");
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let tickets = dir.join("tickets.jsonl");
    let manifest = dir.join("pipeline.toml");

    // Inputs: the tickets cycled to the batch's length, ids made unique.
    let batch_in = out.join("four-node.in.jsonl");
    cycle(&tickets, &batch_in, BATCH_LINES)?;
    let waiting_in = out.join("four-node.waiting.in.jsonl");
    cycle(&tickets, &waiting_in, WAITING)?;

    // The machine's speed drifts within minutes, so the two sides are
    // measured in alternating rounds and each figure is the median of its
    // rounds: a slow phase then falls on both sides alike.
    let mut sy_rounds = Vec::new();
    let mut py_rounds = Vec::new();
    for round in 1..=ROUNDS {
        let mut sy = Side::default();
        let mut py = Side::default();

        eprintln!(
            "xtask: round {round}/{ROUNDS}: switchyard bench (in process), {IN_FLIGHT} in flight"
        );
        let report = out.join("four-node.bench.json");
        let mut c = switchyard();
        c.arg("bench")
            .arg(&manifest)
            .arg("--input")
            .arg(&tickets)
            .args(["-n", "20000", "-c", &IN_FLIGHT.to_string(), "--json"])
            .arg(&report);
        crate::run(&mut c)?;
        let report: Value = read_json(&report)?;
        let series = report["series"].as_array().cloned().unwrap_or_default();
        let find = |prefix: &str| {
            series
                .iter()
                .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
                .cloned()
                .ok_or_else(|| format!("switchyard bench printed no `{prefix}` series"))
        };
        let seq = find("pipeline run, sequential")?;
        let flight = find("pipeline run, 64 in flight")?;
        sy.seq_p50_us = num(&seq["p50_us"]);
        sy.seq_per_sec = num(&seq["per_sec"]);
        sy.flight_p50_us = num(&flight["p50_us"]);
        sy.flight_p99_us = num(&flight["p99_us"]);
        sy.flight_per_sec = num(&flight["per_sec"]);

        eprintln!("xtask: round {round}/{ROUNDS}: asyncio baseline (in process)");
        let mut c = Command::new(&python);
        c.arg(dir.join("asyncio_baseline.py"))
            .args([
                "--iterations",
                "20000",
                "--concurrency",
                &IN_FLIGHT.to_string(),
            ])
            .arg("--input")
            .arg(&tickets)
            .arg("--json");
        let printed: Value = serde_json::from_slice(&output(&mut c)?)
            .map_err(|e| format!("the asyncio baseline printed no JSON: {e}"))?;
        py.seq_p50_us = num(&printed[0]["p50_us"]);
        py.seq_per_sec = num(&printed[0]["per_sec"]);
        py.flight_p50_us = num(&printed[1]["p50_us"]);
        py.flight_p99_us = num(&printed[1]["p99_us"]);
        py.flight_per_sec = num(&printed[1]["per_sec"]);

        eprintln!(
            "xtask: round {round}/{ROUNDS}: end to end, {BATCH_LINES} lines: switchyard run, then the asyncio batch"
        );
        let records = out.join("four-node.out.jsonl");
        let started = Instant::now();
        let mut c = switchyard();
        c.arg("run")
            .arg(&manifest)
            .arg("--input")
            .arg(&batch_in)
            .arg("--output")
            .arg(&records)
            .args(["--force", "-c", &IN_FLIGHT.to_string()]);
        crate::run(&mut c)?;
        sy.batch_per_sec = BATCH_LINES as f64 / started.elapsed().as_secs_f64();
        count_records(&records, BATCH_LINES)?;
        let py_records = out.join("four-node.asyncio.out.jsonl");
        let started = Instant::now();
        let mut c = Command::new(&python);
        c.arg(dir.join("asyncio_baseline.py"))
            .args(["--iterations", &BATCH_LINES.to_string()])
            .args(["--concurrency", &IN_FLIGHT.to_string()])
            .arg("--input")
            .arg(&batch_in)
            .arg("--batch")
            .arg(&py_records);
        crate::run(&mut c)?;
        py.batch_per_sec = BATCH_LINES as f64 / started.elapsed().as_secs_f64();
        count_records(&py_records, BATCH_LINES)?;

        sy_rounds.push(sy);
        py_rounds.push(py);
    }
    let mut sy = Side::median_of(&sy_rounds);
    let mut py = Side::median_of(&py_rounds);

    eprintln!("xtask: cold start (process start to first record; compile cache warm), median of 5");
    let mut times = Vec::new();
    for _ in 0..5 {
        let mut c = switchyard();
        c.arg("run")
            .arg(&manifest)
            .arg("--input")
            .arg(&tickets)
            .args(["--output", "-"]);
        times.push(first_line(&mut c)?);
    }
    sy.first_record_ms = median(times);
    let mut times = Vec::new();
    for _ in 0..5 {
        let mut c = Command::new(&python);
        c.arg(dir.join("asyncio_baseline.py"))
            .arg("--input")
            .arg(&tickets)
            .args(["--iterations", "64", "--batch", "/dev/stdout"]);
        times.push(first_line(&mut c)?);
    }
    py.first_record_ms = median(times);

    eprintln!("xtask: {WAITING} runs in flight, each waiting on a 2-second model (slow.toml)");
    let started = Instant::now();
    let mut c = switchyard();
    c.arg("run")
        .arg(dir.join("slow.toml"))
        .arg("--input")
        .arg(&waiting_in)
        .arg("--output")
        .arg(out.join("four-node.waiting.out.jsonl"))
        .args(["--force", "-c", &WAITING.to_string()]);
    let peak_kb = peak_rss_kb(&mut c)?;
    let waiting_s = started.elapsed().as_secs_f64();
    count_records(&out.join("four-node.waiting.out.jsonl"), WAITING)?;

    eprintln!(
        "\nfour-node shape: router, two parallel workers (one instant model call each), judge; 2 cores; medians of {ROUNDS} alternating rounds\n"
    );
    eprintln!(
        "{:<44} {:>12} {:>12} {:>9}",
        "", "switchyard", "asyncio", "ratio"
    );
    let row = |what: &str, s: f64, p: f64, unit: &str, better_low: bool| {
        let ratio = if better_low { p / s } else { s / p };
        eprintln!("{what:<44} {s:>10.1}{unit} {p:>10.1}{unit} {ratio:>8.2}x");
    };
    row(
        "sequential p50 (µs; ratio = asyncio/us)",
        sy.seq_p50_us,
        py.seq_p50_us,
        "  ",
        true,
    );
    row(
        "sequential runs/s",
        sy.seq_per_sec,
        py.seq_per_sec,
        "  ",
        false,
    );
    row(
        &format!("{IN_FLIGHT} in flight, runs/s"),
        sy.flight_per_sec,
        py.flight_per_sec,
        "  ",
        false,
    );
    row(
        &format!("{IN_FLIGHT} in flight, p50 µs"),
        sy.flight_p50_us,
        py.flight_p50_us,
        "  ",
        true,
    );
    row(
        &format!("{IN_FLIGHT} in flight, p99 µs"),
        sy.flight_p99_us,
        py.flight_p99_us,
        "  ",
        true,
    );
    row(
        &format!("end to end, {BATCH_LINES} lines, runs/s"),
        sy.batch_per_sec,
        py.batch_per_sec,
        "  ",
        false,
    );
    row(
        "cold start to first record, ms",
        sy.first_record_ms,
        py.first_record_ms,
        "  ",
        true,
    );
    let per_round = |f: fn(&Side) -> f64| {
        sy_rounds
            .iter()
            .zip(&py_rounds)
            .map(|(s, p)| format!("{:.2}x", f(s) / f(p)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    eprintln!(
        "\nratio per round: sequential runs/s {}; {IN_FLIGHT} in flight {}; end to end {}",
        per_round(|s| s.seq_per_sec),
        per_round(|s| s.flight_per_sec),
        per_round(|s| s.batch_per_sec)
    );
    eprintln!(
        "fairness, {IN_FLIGHT} in flight: p99/p50 = {:.1} (switchyard), {:.1} (asyncio)",
        sy.flight_p99_us / sy.flight_p50_us.max(1e-9),
        py.flight_p99_us / py.flight_p50_us.max(1e-9)
    );
    eprintln!(
        "{WAITING} runs waiting on a 2 s model: all done in {waiting_s:.1} s ({:.2}x the model's latency), peak RSS {:.0} MiB ({:.0} KiB per run in flight)",
        waiting_s / 2.0,
        peak_kb as f64 / 1024.0,
        peak_kb as f64 / WAITING as f64
    );
    Ok(())
}

fn python() -> Result<PathBuf, String> {
    for p in ["python3", "python"] {
        if Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return Ok(PathBuf::from(p));
        }
    }
    Err("the asyncio baseline needs python3 on PATH (apt-get install python3)".into())
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `n` lines cycling through `from`'s, each with a unique id.
pub(crate) fn cycle(from: &Path, to: &Path, n: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(from).map_err(|e| format!("{}: {e}", from.display()))?;
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", from.display()))?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(to).map_err(|e| format!("{}: {e}", to.display()))?,
    );
    for i in 0..n {
        let mut line = lines[i % lines.len()].clone();
        line["id"] = Value::String(format!("r{i}"));
        writeln!(out, "{line}").map_err(|e| format!("{}: {e}", to.display()))?;
    }
    out.flush().map_err(|e| format!("{}: {e}", to.display()))
}

fn count_records(path: &Path, want: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let n = text.lines().count();
    if n == want {
        Ok(())
    } else {
        Err(format!("{} holds {n} records, not {want}", path.display()))
    }
}

/// The stdout of `c`, which must succeed (its stderr shown).
pub(crate) fn output(c: &mut Command) -> Result<Vec<u8>, String> {
    let shown = format!("{c:?}");
    let out = c
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!("{shown} failed ({})", out.status))
    }
}

/// Milliseconds from spawning `c` to the first line on its stdout (the
/// rest is read and the process waited for).
fn first_line(c: &mut Command) -> Result<f64, String> {
    let shown = format!("{c:?}");
    let started = Instant::now();
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line)
        .map_err(|e| format!("{shown}: {e}"))?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    std::io::copy(&mut out, &mut std::io::sink()).map_err(|e| format!("{shown}: {e}"))?;
    let status = child.wait().map_err(|e| format!("{shown}: {e}"))?;
    if line.is_empty() || !status.success() {
        return Err(format!("{shown} printed no record ({status})"));
    }
    Ok(ms)
}

/// Runs `c` to its end and returns its peak resident set (VmHWM, KiB),
/// read from /proc while it runs.
fn peak_rss_kb(c: &mut Command) -> Result<u64, String> {
    let shown = format!("{c:?}");
    let mut child = c.spawn().map_err(|e| format!("cannot run {shown}: {e}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak = peak.max(kb);
            }
        }
        match child.try_wait().map_err(|e| format!("{shown}: {e}"))? {
            Some(status) if status.success() => return Ok(peak),
            Some(status) => return Err(format!("{shown} failed ({status})")),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
