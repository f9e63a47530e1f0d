//! `switchyard bench`: wires a manifest (with sim latencies zeroed) and an
//! optional JSONL input file to the library benchmark.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Cli;
use crate::bench::{self, BenchOptions};
use crate::models::ModelHub;
use crate::pipeline::Pipeline;

/// Arguments of `switchyard bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The pipeline manifest; every model must be `sim` (latency is zeroed,
    /// except for `--ttft`).
    #[arg(required_unless_present = "load")]
    pub manifest: Option<PathBuf>,
    /// Instead, measure the compile cache on this component: its first load
    /// into an empty cache against loads from the cache by fresh engines.
    #[arg(long, value_name = "COMPONENT", conflicts_with = "serve")]
    pub load: Option<PathBuf>,
    /// JSONL inputs to cycle through (`{"input": ..}` per line); defaults to
    /// the manifest's `[pipeline] sample-input`.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Measured iterations per series.
    #[arg(short = 'n', long, default_value_t = 2000)]
    pub iterations: u32,
    /// Runs in flight for the throughput series.
    #[arg(short, long, default_value_t = 32)]
    pub concurrency: usize,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also serve the pipeline on 127.0.0.1 and drive `POST /v1/runs` from
    /// a separate `switchyard load` process with `--concurrency` clients,
    /// measuring throughput and latency over HTTP against the in-process
    /// runs measured in the same invocation; then both again at a fixed
    /// rate of half the served maximum, for what serving adds to a run's
    /// latency below saturation.
    #[arg(long)]
    pub serve: bool,
    /// With --serve: measure the served load in three interleaved pairs of
    /// series, without trace export and with every run's trace exported
    /// over OTLP/HTTP (to a receiver in this process that reads and
    /// discards each batch), and report what export costs: the median pair
    /// and every pair's throughput and CPU per run.
    #[arg(long, requires = "serve")]
    pub otlp: bool,
    /// Instead, measure time to first token: serve the pipeline as written
    /// (streaming workers release windows as their judges pass them) and
    /// held (the reply after the whole run), alternate `--iterations`
    /// streamed chat requests between the two, and report p50 and p99 of
    /// each and their ratio. Sim latencies are kept, not zeroed.
    #[arg(long, conflicts_with_all = ["serve", "load"])]
    pub ttft: bool,
}

pub(super) async fn run(cli: &Cli, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(component) = &args.load {
        let role = crate::testnode::role_of(&cli.engine()?, component)?;
        let report = bench::load_bench(component, role, 5).await?;
        eprintln!("{report}");
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let manifest_path = args
        .manifest
        .as_ref()
        .expect("clap requires it without --load");
    let mut manifest = crate::config::load(manifest_path)?;
    let inputs = match &args.input {
        None => match &manifest.sample_input {
            Some(sample) => vec![sample.clone()],
            None => anyhow::bail!(
                "nothing to run the pipeline on: give inputs with --input FILE (JSONL, {{\"input\": ..}} per line), or declare a typical one in the manifest as [pipeline] sample-input = {{ ... }}"
            ),
        },
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let inputs: Vec<serde_json::Value> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .filter_map(|l| {
                    crate::batch::parse_line(0, l.as_bytes())
                        .input
                        .ok()
                        .map(|r| r.input)
                })
                .collect();
            anyhow::ensure!(
                !inputs.is_empty(),
                "{} has no usable input lines",
                path.display()
            );
            inputs
        }
    };
    if args.ttft {
        // Sim latencies are what this measures: they stay.
        let engine = cli.engine_for(manifest.engine)?;
        let report = crate::ttft::measure(&engine, manifest, &inputs, args.iterations).await?;
        eprintln!("{report}");
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    bench::zero_latency(&mut manifest)?;
    let hub = ModelHub::from_env(&manifest.models)?;
    let pipeline = Pipeline::load_from(&cli.engine_for(manifest.engine)?, manifest, &cli.sources())
        .await?
        .bind(hub);
    let mut report = bench::run(
        &pipeline,
        &BenchOptions {
            iterations: args.iterations,
            concurrency: args.concurrency,
            inputs: inputs.clone(),
        },
    )
    .await?;
    if args.serve {
        let (served, _) = serve_series(pipeline.clone(), args, &inputs, None, None).await?;
        report.add_served(served.clone(), args.concurrency);
        // Half the served maximum, as a fixed arrival rate, in process and
        // served: what serving adds to a run's latency below saturation.
        let rate = (served.per_sec / 2.0).max(1.0);
        let n = args.iterations.max(10);
        crate::bench::paced(&pipeline, &inputs, rate, (n / 10).max(10)).await?;
        let in_process = crate::bench::paced(&pipeline, &inputs, rate, n).await?;
        let (paced, _) = serve_series(pipeline.clone(), args, &inputs, None, Some(rate)).await?;
        report.add_half_load(rate, in_process, paced, args.concurrency);
        if args.otlp {
            let sink = OtlpSink::start()?;
            let mut rounds = Vec::with_capacity(crate::bench::OTLP_ROUNDS);
            for round in 0..crate::bench::OTLP_ROUNDS {
                // Without–with, then with–without, …: drift over the
                // invocation falls on both sides.
                let with_first = round % 2 == 1;
                let mut without = None;
                let mut with = None;
                for exported in [with_first, !with_first] {
                    if exported {
                        with = Some(exported_series(&pipeline, args, &inputs, &sink).await?);
                    } else {
                        without =
                            Some(serve_series(pipeline.clone(), args, &inputs, None, None).await?);
                    }
                }
                let ((without, cpu_without), (with, cpu_with, spans)) =
                    (without.expect("measured"), with.expect("measured"));
                rounds.push(crate::bench::OtlpRound {
                    without,
                    with,
                    cpu_us_per_run: (cpu_without, cpu_with),
                    spans,
                });
            }
            report.add_otlp(&rounds, args.concurrency);
        }
    }
    eprintln!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The served series with every run exported to `sink` (a fresh exporter,
/// flushed at the end): the load report, CPU per run, and the spans
/// exported and dropped.
async fn exported_series(
    pipeline: &Pipeline,
    args: &BenchArgs,
    inputs: &[serde_json::Value],
    sink: &OtlpSink,
) -> anyhow::Result<(crate::loadgen::LoadReport, Option<f64>, (u64, u64))> {
    // The sink as the endpoint; the sampler and headers as the
    // environment says (every run, by default).
    let config =
        crate::telemetry::TelemetryConfig::resolve(Some(&sink.url), &Default::default(), |k| {
            std::env::var(k).ok()
        })?
        .context("trace export is switched off by OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER")?;
    let telemetry = crate::telemetry::Telemetry::start(config, Default::default())?;
    let sink_before = sink.cpu();
    let (report, cpu) = serve_series(
        pipeline.clone(),
        args,
        inputs,
        Some(telemetry.clone()),
        None,
    )
    .await?;
    // The sink's CPU is the collector's, not the serving process's.
    let sink_us =
        sink.cpu().saturating_sub(sink_before).as_secs_f64() * 1e6 / served_requests(args) as f64;
    let cpu = cpu.map(|c| (c - sink_us).max(0.0));
    Ok((report, cpu, (telemetry.exported(), telemetry.dropped())))
}

/// An OTLP/HTTP endpoint in this process that reads each export request
/// whole and answers 200 (an empty `ExportTraceServiceResponse`), so the
/// cost measured is switchyard's, not a collector's. It runs on a thread of
/// its own, which keeps the CPU it has used (`/proc/thread-self/stat`, ms)
/// in `cpu_ms`: a collector is not the serving process, so the series
/// subtract it.
struct OtlpSink {
    url: String,
    cpu_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl OtlpSink {
    fn start() -> anyhow::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let cpu_ms = Arc::new(AtomicU64::new(0));
        let used = cpu_ms.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("otlp-sink".into())
            .spawn(move || {
                runtime.block_on(async move {
                    use axum::routing::post;
                    let app = axum::Router::new().route(
                        "/v1/traces",
                        post(move |_body: axum::body::Bytes| async move {
                            if let Some(cpu) = crate::bench::thread_cpu() {
                                used.store(cpu.as_millis() as u64, Ordering::Relaxed);
                            }
                            (
                                [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                                Vec::<u8>::new(),
                            )
                        }),
                    );
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        let _ = axum::serve(listener, app).await;
                    }
                });
            })?;
        Ok(Self { url, cpu_ms })
    }

    /// CPU the sink has used so far.
    fn cpu(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.cpu_ms.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Requests a served series sends before measuring.
fn warmup_requests(args: &BenchArgs) -> u32 {
    (args.iterations / 10).max(args.concurrency as u32 * 2)
}

/// Requests a served series sends in all (warm-up included).
fn served_requests(args: &BenchArgs) -> u64 {
    u64::from(args.iterations.max(10)) + u64::from(warmup_requests(args))
}

/// Serves `pipeline` in this process and measures it from a separate
/// `switchyard load` process, as fast as it answers or paced at `rate`
/// requests per second; also returns this process's CPU time per request
/// served (warm-up included), µs, where it can be read.
async fn serve_series(
    pipeline: Pipeline,
    args: &BenchArgs,
    inputs: &[serde_json::Value],
    telemetry: Option<crate::telemetry::Telemetry>,
    rate: Option<f64>,
) -> anyhow::Result<(crate::loadgen::LoadReport, Option<f64>)> {
    use crate::serve::{AppState, LivePipeline, Metrics};
    use std::sync::Arc;
    let mut live = LivePipeline::new(pipeline, Arc::new(Metrics::new()));
    if let Some(t) = &telemetry {
        live = live.with_telemetry(t.clone());
    }
    let live = Arc::new(live);
    let state = Arc::new(AppState::new(
        live,
        None,
        crate::serve::QueueLimits::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/runs", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve::serve(
        listener,
        state,
        crate::serve::ConnLimits::default().within_open_file_limit(),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut file = tempfile::NamedTempFile::new()?;
    for input in inputs {
        use std::io::Write;
        writeln!(file, "{}", serde_json::json!({ "input": input }))?;
    }
    let warmup = warmup_requests(args);
    let cpu_before = crate::bench::process_cpu();
    let mut load = tokio::process::Command::new(std::env::current_exe()?);
    load.arg("load")
        .arg(&url)
        .arg("--json")
        .args(["--concurrency", &args.concurrency.to_string()])
        .args(["--requests", &args.iterations.max(10).to_string()])
        .args(["--warmup", &warmup.to_string()])
        .arg("--input")
        .arg(file.path())
        .stderr(std::process::Stdio::inherit());
    if let Some(rate) = rate {
        load.args(["--rate", &rate.to_string()]);
    }
    let out = load
        .output()
        .await
        .context("cannot start the `switchyard load` process")?;
    let _ = stop.send(());
    server.await??;
    // What export still holds is sent (and its CPU counted) before the
    // series' CPU time is read.
    if let Some(t) = &telemetry {
        t.shutdown(std::time::Duration::from_secs(10)).await;
    }
    let served = served_requests(args);
    let cpu = match (cpu_before, crate::bench::process_cpu()) {
        (Some(a), Some(b)) => Some((b - a).as_secs_f64() * 1e6 / served as f64),
        _ => None,
    };
    let report: crate::loadgen::LoadReport = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("`switchyard load` printed no report (exit {})", out.status))?;
    anyhow::ensure!(
        report.failed == 0,
        "{} of {} served requests failed; first: {}",
        report.failed,
        report.requests,
        report.first_failure.as_deref().unwrap_or("?")
    );
    Ok((report, cpu))
}
