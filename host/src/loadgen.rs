//! An HTTP load generator: `concurrency` keep-alive clients each POST a
//! request, wait for the answer, and send the next, until `requests` have
//! been answered — closed loop, as fast as the server answers, or paced:
//! with a `rate`, request `i` is sent no earlier than `i / rate` seconds
//! after the start, so the server sees a fixed arrival rate (a load below
//! its maximum) and the clients only carry it. Reports throughput and the
//! latency distribution seen by the client, and, paced, how many requests
//! left late. A 422 is a run the pipeline answered
//! with a typed error (a guardrail rejection, say) and is counted apart;
//! any other non-2xx answer or transport error is a failure. `switchyard load` runs it as its own
//! process, so the server under test does not share its runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// What to send, and how hard.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The URL to POST to.
    pub url: String,
    /// Request bodies (JSON), used in turn.
    pub bodies: Vec<Vec<u8>>,
    /// Clients, each with one request in flight.
    pub concurrency: usize,
    /// Requests to measure (after `warmup` unmeasured ones).
    pub requests: u64,
    /// Requests sent first and not measured.
    pub warmup: u64,
    /// Paced: requests per second to send (warm-up included); `None` sends
    /// each client's next request as soon as its last one is answered.
    pub rate: Option<f64>,
}

/// How late a paced request may leave before it counts as late: the
/// timer's granularity.
pub const LATE_AFTER: Duration = Duration::from_millis(2);

/// What the clients saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    /// Measured requests answered (including failures).
    pub requests: u64,
    /// Transport errors and non-2xx answers other than 422.
    pub failed: u64,
    /// 422 answers: runs that ended in a typed error record.
    pub unprocessable: u64,
    /// The first failure, for the message.
    pub first_failure: Option<String>,
    /// Wall time of the measured part, in seconds.
    pub seconds: f64,
    /// Requests answered per second.
    pub per_sec: f64,
    /// Latency percentiles, µs.
    pub p50_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Slowest, µs.
    pub max_us: f64,
    /// Paced: the requests per second asked for.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Paced: measured requests that left more than [`LATE_AFTER`] after
    /// their time, because every client was busy (the server fell behind
    /// the rate) or the generator itself waited for a core. Their latency
    /// is counted from when they left.
    #[serde(default)]
    pub late: u64,
}

/// Why the load could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("load generator: {0}")]
pub struct LoadError(String);

/// Drives `opts.url` from one thread of its own (a current-thread
/// runtime) and reports. One thread carries dozens of keep-alive clients
/// easily; on a multi-threaded runtime the clients' wake-ups hop between
/// workers, and the generator spends its CPU waking and parking them —
/// CPU taken from the server under test when both share the machine.
/// It blocks its caller: call it from a thread of its own (such as
/// `tokio::task::spawn_blocking`), never from a runtime's worker, where
/// starting a runtime panics.
pub fn drive_on_own_thread(opts: &LoadOptions) -> Result<LoadReport, LoadError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadError(format!("cannot start the runtime: {e}")))?
        .block_on(drive(opts))
}

/// Drives `opts.url` and reports.
pub async fn drive(opts: &LoadOptions) -> Result<LoadReport, LoadError> {
    if opts.bodies.is_empty() {
        return Err(LoadError("no request bodies".into()));
    }
    let total = opts.warmup + opts.requests;
    if let Some(rate) = opts.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(LoadError(format!(
                "the rate is {rate} requests per second; it must be a positive number"
            )));
        }
        // The last request's time must be one a timer can wait for.
        let last = Duration::try_from_secs_f64(total as f64 / rate).ok();
        if last.and_then(|d| Instant::now().checked_add(d)).is_none() {
            return Err(LoadError(format!(
                "the rate is {rate:e} requests per second: {total} requests would take longer than a timer can wait; raise the rate"
            )));
        }
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| LoadError(e.to_string()))?;
    // Parsed once, not per request; the bodies shared, not copied.
    let url = reqwest::Url::parse(&opts.url)
        .map_err(|e| LoadError(format!("`{}` is not a URL: {e}", opts.url)))?;
    let bodies: Arc<[bytes::Bytes]> = opts
        .bodies
        .iter()
        .map(|b| bytes::Bytes::copy_from_slice(b))
        .collect();
    let issued = Arc::new(AtomicU64::new(0));
    let measure_from = Arc::new(std::sync::OnceLock::<Instant>::new());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..opts.concurrency.max(1) {
        let (client, issued, measure_from) = (client.clone(), issued.clone(), measure_from.clone());
        let (url, bodies, warmup, rate) = (url.clone(), bodies.clone(), opts.warmup, opts.rate);
        tasks.push(tokio::spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
            let (mut failed, mut first_failure, mut measured, mut unprocessable, mut late) =
                (0u64, None, 0u64, 0u64, 0u64);
            loop {
                let i = issued.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let due = rate.map(|r| start + Duration::from_secs_f64(i as f64 / r));
                if let Some(due) = due {
                    tokio::time::sleep_until(due.into()).await;
                }
                if i == warmup {
                    let _ = measure_from.set(Instant::now());
                }
                let body = bodies[i as usize % bodies.len()].clone();
                let started = Instant::now();
                if i >= warmup && due.is_some_and(|d| started > d + LATE_AFTER) {
                    late += 1;
                }
                let outcome = match client
                    .post(url.clone())
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        r.bytes().await.map(|_| false).map_err(|e| e.to_string())
                    }
                    Ok(r) if r.status() == reqwest::StatusCode::UNPROCESSABLE_ENTITY => {
                        r.bytes().await.map(|_| true).map_err(|e| e.to_string())
                    }
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        Err(format!(
                            "{status}: {}",
                            text.chars().take(300).collect::<String>()
                        ))
                    }
                    Err(e) => Err(e.to_string()),
                };
                if i < warmup {
                    continue;
                }
                measured += 1;
                hist.saturating_record((started.elapsed().as_micros() as u64).max(1));
                match outcome {
                    Ok(true) => unprocessable += 1,
                    Ok(false) => {}
                    Err(e) => {
                        failed += 1;
                        first_failure.get_or_insert(e);
                    }
                }
            }
            (hist, failed, first_failure, measured, unprocessable, late)
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
    let (mut failed, mut first_failure, mut requests, mut unprocessable, mut late) =
        (0, None, 0, 0, 0);
    for t in tasks {
        let (h, f, ff, m, u, l) = t.await.map_err(|e| LoadError(e.to_string()))?;
        unprocessable += u;
        late += l;
        hist.add(&h).map_err(|e| LoadError(e.to_string()))?;
        failed += f;
        requests += m;
        if first_failure.is_none() {
            first_failure = ff;
        }
    }
    let seconds = measure_from
        .get()
        .map_or(0.0, |t| t.elapsed().as_secs_f64())
        .max(1e-9);
    let q = |q: f64| hist.value_at_quantile(q) as f64;
    Ok(LoadReport {
        requests,
        failed,
        unprocessable,
        first_failure,
        seconds,
        per_sec: requests as f64 / seconds,
        p50_us: q(0.5),
        p90_us: q(0.9),
        p99_us: q(0.99),
        max_us: hist.max() as f64,
        rate: opts.rate,
        late,
    })
}
