//! `switchyard bench`: measures what the host adds on top of Wasmtime, with
//! ratios against a baseline measured in the same run.
//!
//! - **bare**: a fresh Store, instantiate from the `InstancePre`, call
//!   `describe` — the floor any Wasmtime host pays per fresh instance;
//! - **node**: a full sandboxed invocation of each node (fresh Store, limits,
//!   epoch budget, wall deadline, own task, ledger) with its real call;
//! - **pipeline**: whole runs of the pipeline with every `sim` model's latency
//!   set to zero, sequentially and with many runs in flight.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};
use wasmtime::Store;

use crate::config::{Manifest, ProviderSpec, Role};
use crate::engine::{NodeCall, NodeEngine, NodeState, RunScope, TaskInput};
use crate::models::ModelHub;
use crate::pipeline::{LoadedNode, Pipeline, RunInput};

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A model is not `sim`.
    #[error("model `{0}` is not a sim model; bench measures host overhead and needs every model to be provider = \"sim\"")]
    NotSim(String),
    /// A run or invocation failed.
    #[error("benchmark {what} failed: {message}")]
    Failed {
        /// What was measured.
        what: String,
        /// The failure.
        message: String,
    },
}

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Measured iterations per series (after a warm-up of a tenth as many).
    pub iterations: u32,
    /// Runs in flight for the throughput series.
    pub concurrency: usize,
    /// Inputs to cycle through.
    pub inputs: Vec<Value>,
}

/// Latency distribution of one series.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// What was measured.
    pub name: String,
    /// Median, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Completed operations per second.
    pub per_sec: f64,
    /// p50 divided by the series' baseline p50, if it has one.
    pub ratio: Option<f64>,
    /// What the ratio is against.
    pub baseline: Option<String>,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Pipeline name.
    pub pipeline: String,
    /// Each series, in order.
    pub series: Vec<Series>,
    /// With `--serve`: what HTTP serving adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served: Option<ServedOverhead>,
    /// With `--serve --otlp`: what exporting every run's trace adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<OtlpOverhead>,
    /// With `--serve`: served and in process at half the served maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub half_load: Option<HalfLoad>,
}

/// What serving adds at a fixed rate of half the served maximum: the same
/// rate in process and served, latency of each run from its start.
#[derive(Debug, Clone, Serialize)]
pub struct HalfLoad {
    /// Runs per second asked of both sides.
    pub rate: f64,
    /// Served runs per second achieved.
    pub served_per_sec: f64,
    /// Served requests that left late (see [`crate::loadgen::LoadReport::late`]).
    pub served_late: u64,
    /// Served p50 minus in-process p50, µs.
    pub p50_added_us: f64,
    /// Served p99 minus in-process p99, µs.
    pub p99_added_us: f64,
}

/// What exporting every served run's trace over OTLP adds, against the
/// same served load without export, measured in the same invocation in
/// [`OTLP_ROUNDS`] interleaved pairs of series (without–with, with–without,
/// without–with, …) so drift over the invocation falls on both sides;
/// each figure is the median over the pairs.
#[derive(Debug, Clone, Serialize)]
pub struct OtlpOverhead {
    /// Pairs measured.
    pub rounds: usize,
    /// Runs/s with export divided by runs/s without: the median pair.
    pub throughput_ratio: f64,
    /// That ratio in every pair, in order.
    pub throughput_ratios: Vec<f64>,
    /// p50 with export minus without, µs (median pair).
    pub p50_added_us: f64,
    /// p99 with export minus without, µs (median pair).
    pub p99_added_us: f64,
    /// Spans the receiver accepted, over every pair.
    pub spans_exported: u64,
    /// Spans dropped, over every pair.
    pub spans_dropped: u64,
    /// The serving process's CPU time per served run without export, µs
    /// (user + system, from `/proc/self/stat`; Linux only): median.
    pub cpu_us_per_run_without: Option<f64>,
    /// The same with every run exported (the in-process receiver's share
    /// included), µs: median.
    pub cpu_us_per_run_with: Option<f64>,
    /// CPU per run added by export in each pair, % of the run's CPU
    /// without it.
    pub cpu_added_pct: Vec<f64>,
}

/// Pairs of series `bench --serve --otlp` measures.
pub const OTLP_ROUNDS: usize = 3;

/// One pair of served series: without export and with.
#[derive(Debug, Clone)]
pub struct OtlpRound {
    /// Without export.
    pub without: crate::loadgen::LoadReport,
    /// With every run exported.
    pub with: crate::loadgen::LoadReport,
    /// CPU per run (µs) without and with.
    pub cpu_us_per_run: (Option<f64>, Option<f64>),
    /// Spans exported and dropped in the series with export.
    pub spans: (u64, u64),
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// CPU time (user + system) this process has used so far, from
/// `/proc/self/stat` (clock ticks of 10 ms); `None` where there is none.
pub fn process_cpu() -> Option<Duration> {
    cpu_of("/proc/self/stat")
}

/// CPU time (user + system) the calling thread has used so far, from
/// `/proc/thread-self/stat`; `None` where there is none.
pub fn thread_cpu() -> Option<Duration> {
    cpu_of("/proc/thread-self/stat")
}

fn cpu_of(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Sets every sim model's latency and fault rate to zero.
pub fn zero_latency(manifest: &mut Manifest) -> Result<(), BenchError> {
    for (name, m) in manifest.models.iter_mut() {
        match &mut m.provider {
            ProviderSpec::Sim(sim) => {
                sim.ttft = Duration::ZERO;
                sim.per_token = Duration::ZERO;
                sim.error_rate = 0.0;
            }
            _ => return Err(BenchError::NotSim(name.clone())),
        }
    }
    Ok(())
}

struct Timer {
    hist: Histogram<u64>,
    total: Duration,
}

impl Timer {
    fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static bounds"),
            total: Duration::ZERO,
        }
    }
    fn record(&mut self, d: Duration) {
        self.hist.saturating_record((d.as_nanos() as u64).max(1));
        self.total += d;
    }
    fn series(&self, name: String, baseline: Option<(&Series, &str)>) -> Series {
        let p50 = self.hist.value_at_quantile(0.5) as f64 / 1e3;
        Series {
            name,
            p50_us: p50,
            p99_us: self.hist.value_at_quantile(0.99) as f64 / 1e3,
            per_sec: self.hist.len() as f64 / self.total.as_secs_f64().max(1e-9),
            ratio: baseline.map(|(b, _)| p50 / b.p50_us.max(1e-9)),
            baseline: baseline.map(|(_, n)| n.to_string()),
        }
    }
}

/// Runs every series against `pipeline` (whose sim models should already
/// be zero-latency, see [`zero_latency`]).
pub async fn run(pipeline: &Pipeline, opts: &BenchOptions) -> Result<BenchReport, BenchError> {
    let engine = pipeline.engine().clone();
    let n = opts.iterations.max(10);
    let warm = n / 10;
    let mut series = Vec::new();
    let input = |i: u32| opts.inputs[i as usize % opts.inputs.len()].clone();

    // Bare Wasmtime floor, on the first worker (else any node).
    let probe = pipeline
        .nodes()
        .values()
        .find(|n| n.spec.role == Role::Worker)
        .or_else(|| pipeline.nodes().values().next())
        .expect("a pipeline has nodes");
    let mut t = Timer::new();
    for i in 0..warm + n {
        let d = bare_describe(probe).await?;
        if i >= warm {
            t.record(d);
        }
    }
    let bare = t.series(
        format!(
            "bare wasmtime: fresh instance + describe ({})",
            probe.spec.name
        ),
        None,
    );
    let bare_name = "bare".to_string();
    series.push(bare.clone());

    // Each node, fully sandboxed, with its real call.
    let mut node_p50_sum = 0.0;
    for node in pipeline.nodes().values() {
        let mut t = Timer::new();
        for i in 0..warm + n {
            let call = sample_call(node, input(i));
            let scope = RunScope::detached(pipeline.hub().clone());
            let started = Instant::now();
            let inv = engine
                .invoke(&node.component, node.ctx.clone(), scope, call, None)
                .await;
            let d = started.elapsed();
            if let Err(e) = inv.result {
                return Err(BenchError::Failed {
                    what: format!("node `{}`", node.spec.name),
                    message: e.to_string(),
                });
            }
            if i >= warm {
                t.record(d);
            }
        }
        let s = t.series(
            format!("node {} ({})", node.spec.name, node.spec.role),
            Some((&bare, &bare_name)),
        );
        node_p50_sum += s.p50_us;
        series.push(s);
    }
    let nodes_baseline = Series {
        name: "sum of node p50s".into(),
        p50_us: node_p50_sum,
        p99_us: 0.0,
        per_sec: 0.0,
        ratio: None,
        baseline: None,
    };

    // Whole pipeline, one run at a time.
    let mut t = Timer::new();
    for i in 0..warm + n {
        let started = Instant::now();
        let out = pipeline
            .run(RunInput::new(format!("bench-{i}"), input(i)))
            .await;
        let d = started.elapsed();
        check_run(&out)?;
        if i >= warm {
            t.record(d);
        }
    }
    series.push(t.series(
        "pipeline run, sequential".into(),
        Some((&nodes_baseline, "sum of node p50s")),
    ));

    // Whole pipeline, many in flight: throughput. A warm-up pass first, so
    // every pool slot the measured pass uses has been touched once.
    concurrent(pipeline, opts, warm.max(opts.concurrency as u32 * 2)).await?;
    let t = concurrent(pipeline, opts, n).await?;
    series.push(t.series(
        format!("pipeline run, {} in flight", opts.concurrency),
        None,
    ));
    Ok(BenchReport {
        pipeline: pipeline.manifest.name.clone(),
        series,
        served: None,
        otlp: None,
        half_load: None,
    })
}

/// Runs `n` pipeline runs with `opts.concurrency` in flight.
async fn concurrent(pipeline: &Pipeline, opts: &BenchOptions, n: u32) -> Result<Timer, BenchError> {
    let mut t = Timer::new();
    let started = Instant::now();
    let mut handles = futures::stream::FuturesUnordered::new();
    let mut launched = 0u32;
    let mut first_error = None;
    while launched < n || !handles.is_empty() {
        while launched < n && handles.len() < opts.concurrency.max(1) {
            let inp = opts.inputs[launched as usize % opts.inputs.len()].clone();
            launched += 1;
            handles.push(spawn_timed(pipeline, inp));
        }
        if let Some(done) = futures::StreamExt::next(&mut handles).await {
            record_joined(&mut t, done, &mut first_error)?;
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    t.total = started.elapsed();
    Ok(t)
}

/// Runs `n` pipeline runs in process at `rate` runs per second: run `i`
/// is submitted `i / rate` seconds after the first, whatever is still in
/// flight, and timed from its submission, as the load generator times a
/// request from when it leaves. The in-process side of the served series
/// at a fixed rate.
pub async fn paced(
    pipeline: &Pipeline,
    inputs: &[Value],
    rate: f64,
    n: u32,
) -> Result<Series, BenchError> {
    let mut t = Timer::new();
    let started = Instant::now();
    let mut handles = futures::stream::FuturesUnordered::new();
    let mut first_error = None;
    for i in 0..n {
        let due = started + Duration::from_secs_f64(f64::from(i) / rate);
        // Collect what finished while waiting for the next start.
        loop {
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(due.into()) => break,
                Some(done) = futures::StreamExt::next(&mut handles), if !handles.is_empty() => {
                    record_joined(&mut t, done, &mut first_error)?;
                }
            }
        }
        let inp = inputs[i as usize % inputs.len().max(1)].clone();
        handles.push(spawn_timed(pipeline, inp));
    }
    while let Some(done) = futures::StreamExt::next(&mut handles).await {
        record_joined(&mut t, done, &mut first_error)?;
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    t.total = started.elapsed();
    Ok(t.series(format!("pipeline run, paced at {rate:.0}/s"), None))
}

/// Spawns one run of `input` as a task of its own, timed from now (its
/// submission): the time it waits for a worker counts, as it does for a
/// served request.
fn spawn_timed(
    pipeline: &Pipeline,
    input: Value,
) -> tokio::task::JoinHandle<(Duration, crate::pipeline::RunOutcome)> {
    let p = pipeline.clone();
    let submitted = Instant::now();
    tokio::spawn(async move {
        let out = p.run(RunInput::new("bench", input)).await;
        (submitted.elapsed(), out)
    })
}

/// A timed run task, joined.
type Joined = Result<(Duration, crate::pipeline::RunOutcome), tokio::task::JoinError>;

/// Records a joined run task's time; a failed run is kept as the series'
/// first error, a task that could not be joined ends the series.
fn record_joined(
    t: &mut Timer,
    done: Joined,
    first_error: &mut Option<BenchError>,
) -> Result<(), BenchError> {
    let (d, out) = done.map_err(|e| BenchError::Failed {
        what: "pipeline run".into(),
        message: e.to_string(),
    })?;
    if let Err(e) = check_run(&out) {
        first_error.get_or_insert(e);
    }
    t.hist.saturating_record((d.as_nanos() as u64).max(1));
    Ok(())
}

fn check_run(out: &crate::pipeline::RunOutcome) -> Result<(), BenchError> {
    match &out.result {
        // A guardrail rejection is a legitimate outcome of the pipeline.
        Ok(_) | Err(crate::pipeline::RunError::Rejected { .. }) => Ok(()),
        Err(e) => Err(BenchError::Failed {
            what: "pipeline run".into(),
            message: e.to_string(),
        }),
    }
}

fn sample_call(node: &LoadedNode, input: Value) -> NodeCall {
    let task = TaskInput {
        id: "bench".into(),
        input: input.to_string(),
        meta: "{}".into(),
        attempt: 0,
        feedback: Vec::new(),
    };
    match node.spec.role {
        Role::Router => NodeCall::Route { task, candidates: node.spec.branches.keys().cloned().collect() },
        Role::Worker => NodeCall::Run { task },
        Role::Judge => NodeCall::Judge {
            task,
            candidate: json!({"reply": "Thanks for reaching out. You can reset your password under Settings > Account."}).to_string(),
        },
    }
}

/// Fresh Store, instantiate, `describe`: no limits, no task, no ledger.
async fn bare_describe(node: &LoadedNode) -> Result<Duration, BenchError> {
    let hub = Arc::new(ModelHub::empty());
    let state = NodeState::new(node.ctx.clone(), RunScope::detached(hub));
    let started = Instant::now();
    // The component's own engine variant (its stack size), never the
    // default one: a Store must come from the engine the component was
    // compiled for.
    let mut store = Store::new(&node.component.engine, state);
    store.set_epoch_deadline(u64::MAX / 2);
    let r = node.component.pre.describe(&mut store).await.map(drop);
    drop(store);
    let d = started.elapsed();
    r.map_err(|e| BenchError::Failed {
        what: "bare instantiate".into(),
        message: format!("{e:#}"),
    })?;
    Ok(d)
}

impl BenchReport {
    /// Adds the HTTP series measured by a separate load process, against
    /// the in-process `pipeline run, N in flight` series, and a line on
    /// what serving adds.
    pub fn add_served(&mut self, load: crate::loadgen::LoadReport, concurrency: usize) {
        let base_name = format!("pipeline run, {concurrency} in flight");
        let base = self.series.iter().find(|s| s.name == base_name).cloned();
        self.series.push(Series {
            name: format!("served: POST /v1/runs, {concurrency} clients"),
            p50_us: load.p50_us,
            p99_us: load.p99_us,
            per_sec: load.per_sec,
            ratio: base.as_ref().map(|b| load.p50_us / b.p50_us.max(1e-9)),
            baseline: base.as_ref().map(|_| base_name.clone()),
        });
        if let Some(b) = base {
            self.served = Some(ServedOverhead {
                throughput_ratio: load.per_sec / b.per_sec.max(1e-9),
                p50_added_us: load.p50_us - b.p50_us,
                p99_added_us: load.p99_us - b.p99_us,
            });
        }
    }
}

impl BenchReport {
    /// Adds the pair paced at `rate`: `in_process` (from [`paced`]) and the
    /// served series, and what serving adds at that load.
    pub fn add_half_load(
        &mut self,
        rate: f64,
        in_process: Series,
        load: crate::loadgen::LoadReport,
        concurrency: usize,
    ) {
        self.half_load = Some(HalfLoad {
            rate,
            served_per_sec: load.per_sec,
            served_late: load.late,
            p50_added_us: load.p50_us - in_process.p50_us,
            p99_added_us: load.p99_us - in_process.p99_us,
        });
        let base_name = in_process.name.clone();
        let base_p50 = in_process.p50_us;
        self.series.push(in_process);
        self.series.push(Series {
            name: format!("served, paced at {rate:.0}/s, {concurrency} clients"),
            p50_us: load.p50_us,
            p99_us: load.p99_us,
            per_sec: load.per_sec,
            ratio: Some(load.p50_us / base_p50.max(1e-9)),
            baseline: Some(base_name),
        });
    }
}

impl BenchReport {
    /// Adds the served series with trace export against the ones without,
    /// pair by pair (`rounds`, not empty); the series shown is the median
    /// pair's.
    pub fn add_otlp(&mut self, rounds: &[OtlpRound], concurrency: usize) {
        let ratio = |r: &OtlpRound| r.with.per_sec / r.without.per_sec.max(1e-9);
        let ratios: Vec<f64> = rounds.iter().map(ratio).collect();
        let mid = median(ratios.clone());
        let Some(pick) = rounds.iter().find(|r| ratio(r) == mid).or(rounds.first()) else {
            return;
        };
        let base = format!("served: POST /v1/runs, {concurrency} clients");
        self.series.push(Series {
            name: format!("served + OTLP export, {concurrency} clients"),
            p50_us: pick.with.p50_us,
            p99_us: pick.with.p99_us,
            per_sec: pick.with.per_sec,
            ratio: Some(pick.with.p50_us / pick.without.p50_us.max(1e-9)),
            baseline: Some(base),
        });
        let cpu: Vec<(f64, f64)> = rounds
            .iter()
            .filter_map(|r| r.cpu_us_per_run.0.zip(r.cpu_us_per_run.1))
            .collect();
        let cpu_median = |side: fn(&(f64, f64)) -> f64| {
            (cpu.len() == rounds.len()).then(|| median(cpu.iter().map(side).collect()))
        };
        self.otlp = Some(OtlpOverhead {
            rounds: rounds.len(),
            throughput_ratio: mid,
            throughput_ratios: ratios,
            p50_added_us: median(
                rounds
                    .iter()
                    .map(|r| r.with.p50_us - r.without.p50_us)
                    .collect(),
            ),
            p99_added_us: median(
                rounds
                    .iter()
                    .map(|r| r.with.p99_us - r.without.p99_us)
                    .collect(),
            ),
            spans_exported: rounds.iter().map(|r| r.spans.0).sum(),
            spans_dropped: rounds.iter().map(|r| r.spans.1).sum(),
            cpu_us_per_run_without: cpu_median(|c| c.0),
            cpu_us_per_run_with: cpu_median(|c| c.1),
            cpu_added_pct: cpu
                .iter()
                .map(|(without, with)| (with / without.max(1e-9) - 1.0) * 100.0)
                .collect(),
        });
    }
}

/// What serving over HTTP adds to in-process runs.
#[derive(Debug, Clone, Serialize)]
pub struct ServedOverhead {
    /// Served runs/s divided by in-process runs/s.
    pub throughput_ratio: f64,
    /// Served p50 minus in-process p50, µs.
    pub p50_added_us: f64,
    /// Served p99 minus in-process p99, µs.
    pub p99_added_us: f64,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: host overhead with zero-latency sim models\n",
            self.pipeline
        )?;
        writeln!(
            f,
            "{:<52} {:>10} {:>10} {:>11}  ratio",
            "series", "p50 µs", "p99 µs", "ops/s"
        )?;
        for s in &self.series {
            let ratio = match (&s.ratio, &s.baseline) {
                (Some(r), Some(b)) => format!("{r:.2}x {b}"),
                _ => String::new(),
            };
            writeln!(
                f,
                "{:<52} {:>10.1} {:>10.1} {:>11.0}  {ratio}",
                s.name, s.p50_us, s.p99_us, s.per_sec
            )?;
        }
        if let Some(o) = &self.served {
            writeln!(
                f,
                "\nserved over HTTP: {:.2}x the in-process throughput; serving adds {:.0} µs at p50 and {:.0} µs at p99",
                o.throughput_ratio, o.p50_added_us, o.p99_added_us
            )?;
        }
        if let Some(h) = &self.half_load {
            writeln!(
                f,
                "at half the served maximum ({:.0} runs/s asked, {:.0} served, {} requests late): serving adds {:.0} µs at p50 and {:.0} µs at p99",
                h.rate, h.served_per_sec, h.served_late, h.p50_added_us, h.p99_added_us
            )?;
        }
        if let Some(o) = &self.otlp {
            let list = |xs: &[f64], scale: f64, unit: &str| {
                xs.iter()
                    .map(|x| format!("{:+.1}{unit}", x * scale))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let throughput: Vec<f64> = o.throughput_ratios.iter().map(|r| r - 1.0).collect();
            writeln!(
                f,
                "OTLP trace export (median of {} interleaved pairs): {:.3}x the served throughput ({:+.1}%; pairs: {}), adds {:.0} µs at p50 and {:.0} µs at p99; {} spans exported, {} dropped",
                o.rounds,
                o.throughput_ratio,
                (o.throughput_ratio - 1.0) * 100.0,
                list(&throughput, 100.0, "%"),
                o.p50_added_us,
                o.p99_added_us,
                o.spans_exported,
                o.spans_dropped
            )?;
            if let (Some(without), Some(with)) = (o.cpu_us_per_run_without, o.cpu_us_per_run_with) {
                writeln!(
                    f,
                    "serving process CPU per run (medians): {without:.0} µs without export, {with:.0} µs with; added per pair: {}",
                    list(&o.cpu_added_pct, 1.0, "%")
                )?;
            }
        }
        Ok(())
    }
}

/// The compile cache measured on one component: its first load into an
/// empty cache (compile and store) against later loads from the cache,
/// each by a fresh engine, as a new process would.
#[derive(Debug, Clone, Serialize)]
pub struct LoadBench {
    /// The component.
    pub component: std::path::PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// First load, empty cache: compile, store, type-check, describe (ms).
    pub cold_ms: f64,
    /// Median of the cached loads (ms).
    pub warm_ms: f64,
    /// Every cached load (ms).
    pub warm_runs_ms: Vec<f64>,
    /// `cold_ms / warm_ms`.
    pub speedup: f64,
}

/// Measures the compile cache on the component at `path`, with `warm`
/// cached loads, in a fresh temporary cache directory.
pub async fn load_bench(
    path: &std::path::Path,
    role: Role,
    warm: u32,
) -> Result<LoadBench, BenchError> {
    let failed = |e: String| BenchError::Failed {
        what: format!("loading {}", path.display()),
        message: e,
    };
    let dir = tempfile::tempdir().map_err(|e| failed(e.to_string()))?;
    let engine = || {
        NodeEngine::new(crate::engine::EngineOptions {
            cache_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        })
        .map_err(|e| failed(e.to_string()))
    };
    let started = Instant::now();
    let first = engine()?
        .load_component("bench", role, path)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let cold_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut warm_runs_ms = Vec::new();
    for _ in 0..warm.max(1) {
        let e = engine()?;
        let started = Instant::now();
        let c = e
            .load_component("bench", role, path)
            .await
            .map_err(|e| failed(e.to_string()))?;
        warm_runs_ms.push(started.elapsed().as_secs_f64() * 1e3);
        if c.load.cache != crate::engine::CacheOutcome::Hit {
            return Err(failed("a second load did not come from the cache".into()));
        }
    }
    let mut sorted = warm_runs_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let warm_ms = sorted[sorted.len() / 2];
    Ok(LoadBench {
        component: path.to_path_buf(),
        bytes: first.load.bytes,
        cold_ms,
        warm_ms,
        warm_runs_ms,
        speedup: cold_ms / warm_ms.max(1e-9),
    })
}

impl fmt::Display for LoadBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:.1} MB): first load {:.0} ms (compile into an empty cache), cached load {:.1} ms (median of {}): {:.0}x faster",
            self.component.display(),
            self.bytes as f64 / 1e6,
            self.cold_ms,
            self.warm_ms,
            self.warm_runs_ms.len(),
            self.speedup
        )
    }
}
