//! The exporter: finished runs go into a bounded queue that one background
//! task drains: it maps each run to spans and sends them in batches to the
//! OTLP/HTTP endpoint (protobuf written by `super::otlp`, posted with the
//! project's reqwest on tokio). Export never slows or fails a run: a full
//! queue, an unreachable collector or a refused batch only adds to the
//! dropped-spans counter (`switchyard_otel_dropped_spans_total` in
//! `serve`).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use tokio::sync::mpsc;

use super::config::{Sampler, TelemetryConfig, TelemetryError};
use super::content::Content;
use super::otlp::{Batch, Encoder};
use super::spans::{run_spans, ContentState};
use crate::engine::Verdict;
use crate::pipeline::{Pipeline, RunOutcome, RunRecord, RunSpan};

/// Runs whose spans may wait for export; past it they are dropped.
pub const QUEUE_RUNS: usize = 4096;
/// Spans sent in one request at most.
pub const BATCH_SPANS: usize = 1024;
/// The longest spans wait before they are sent.
pub const BATCH_DELAY: Duration = Duration::from_millis(500);
/// How often the export task takes what the queue holds.
pub const DRAIN_TICK: Duration = Duration::from_millis(50);
/// One export request's timeout.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The export side of a process: cheap to clone, shared by every run.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

/// A finished run waiting for export: its spans are built by the export
/// task, off the run's path.
enum Job {
    Record(Arc<Pipeline>, Box<RunRecord>),
    Stop,
}

struct Inner {
    queue: mpsc::Sender<Job>,
    sampler: Sampler,
    dropped: Counter,
    exported: Counter,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    url: String,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("url", &self.inner.url)
            .finish()
    }
}

impl Telemetry {
    /// Starts exporting to `config`'s endpoint (on the current tokio
    /// runtime), counting dropped spans in `dropped`.
    pub fn start(config: TelemetryConfig, dropped: Counter) -> Result<Self, TelemetryError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        for (name, value) in &config.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .ok()
                .zip(HeaderValue::from_str(value).ok())
                .ok_or_else(|| {
                    TelemetryError::Exporter(format!(
                        "the OTLP header `{name}` is not a valid HTTP header name and value"
                    ))
                })?;
            headers.insert(header.0, header.1);
        }
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .default_headers(headers)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let (queue, rx) = mpsc::channel(QUEUE_RUNS);
        let exported = Counter::default();
        let sender = Sender {
            encoder: Encoder::new(
                &config.service_name,
                "switchyard",
                env!("CARGO_PKG_VERSION"),
                super::spans::SCHEMA_URL,
            ),
            client,
            url: config.traces_url.clone(),
        };
        let task = tokio::spawn(drain(sender, rx, dropped.clone(), exported.clone()));
        tracing::info!(endpoint = %config.traces_url, "exporting traces over OTLP/HTTP");
        Ok(Self {
            inner: Arc::new(Inner {
                queue,
                sampler: config.sampler,
                dropped,
                exported,
                task: std::sync::Mutex::new(Some(task)),
                url: config.traces_url,
            }),
        })
    }

    /// Queues a finished run (`pipeline` is the generation that ran it)
    /// for export, unless the sampler leaves its trace out. Never waits:
    /// its spans are built by the export task.
    pub fn export(&self, pipeline: Arc<Pipeline>, run: RunOutcome) {
        if self.sampled(&run.span) {
            self.export_record(pipeline, RunRecord::from_outcome(run));
        }
    }

    /// [`Self::export`] for a run already made into its record.
    pub fn export_record(&self, pipeline: Arc<Pipeline>, mut record: RunRecord) {
        if record.span.as_ref().is_some_and(|s| self.sampled(s)) {
            // Unless the pipeline exports content, what waits in the queue
            // holds no output or repaired text, so its size is bounded by
            // the trace and ledger.
            if !pipeline.manifest.telemetry.content {
                record.output = None;
                record.content = None;
            }
            record.expect = None;
            for step in &mut record.trace {
                if let Some(Verdict::Repair { output }) = &mut step.verdict {
                    output.clear();
                }
            }
            let spans = 1 + record.trace.len() + record.ledger.len();
            self.queue(Job::Record(pipeline, Box::new(record)), spans);
        }
    }

    fn sampled(&self, span: &RunSpan) -> bool {
        let parent = span.parent.map(|_| span.sampled);
        self.inner.sampler.samples(span.trace_id, parent)
    }

    fn queue(&self, job: Job, spans: usize) {
        if self.inner.queue.try_send(job).is_err() {
            self.inner.dropped.inc_by(spans as u64);
            if self.inner.dropped.get() == spans as u64 {
                tracing::warn!("trace export is behind; dropping runs' spans (counted)");
            }
        }
    }

    /// Spans dropped so far (queue full, collector unreachable or
    /// refusing).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.get()
    }

    /// Spans the collector accepted so far.
    pub fn exported(&self) -> u64 {
        self.inner.exported.get()
    }

    /// Sends what is queued, waiting at most `timeout`; what is still
    /// queued then is dropped (and counted). Later exports are dropped.
    pub async fn shutdown(&self, timeout: Duration) {
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(task) = task else { return };
        let abort = task.abort_handle();
        let flushed = tokio::time::timeout(timeout, async {
            // Asks the task to send what it has and stop.
            let _ = self.inner.queue.send(Job::Stop).await;
            let _ = task.await;
        })
        .await;
        if flushed.is_err() {
            abort.abort();
            tracing::warn!(
                dropped = self.dropped(),
                "trace export did not finish in time; the rest is dropped"
            );
        }
    }
}

/// Writes a run's spans into `batch`, with its content (redacted first
/// when the pipeline names a judge for it; withheld when that judge cannot
/// redact it).
async fn spans_of(
    pipeline: &Pipeline,
    mut record: RunRecord,
    batch: &mut Batch,
    warned: &mut bool,
) {
    let content = Content::take(&mut record);
    let (content, state) = match (content, &pipeline.manifest.telemetry.redact_with) {
        (None, _) => (None, ContentState::Off),
        (Some(c), None) => (Some(c), ContentState::Raw),
        (Some(c), Some(judge)) => match c.redacted(pipeline, judge).await {
            Ok(c) => (Some(c), ContentState::Redacted),
            Err(e) => {
                if !*warned {
                    tracing::warn!(error = %e, "content not exported: its redaction failed (spans are exported without it)");
                    *warned = true;
                }
                (None, ContentState::Withheld)
            }
        },
    };
    run_spans(pipeline, &record, content.as_ref(), state, batch);
}

/// Writes batches as OTLP protobuf and posts them to the collector.
struct Sender {
    encoder: Encoder,
    client: reqwest::Client,
    url: String,
}

impl Sender {
    /// Sends the spans of `batch`, emptying it; why the collector did not
    /// take them, if it did not.
    async fn send(&self, batch: &mut Batch) -> Result<(), String> {
        let body = batch.request(&self.encoder);
        let answer = self
            .client
            .post(&self.url)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.url))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let text = answer.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        Err(format!(
            "{} answered {status}: {}",
            self.url,
            crate::text::escape_control(&text)
        ))
    }
}

/// Batches spans from the queue and sends them, one request at a time: a
/// batch goes when it is full, when its first span has waited
/// [`BATCH_DELAY`], or at shutdown.
///
/// The task does not wait on the queue: it wakes every [`DRAIN_TICK`] and
/// takes what has arrived. Waiting on it would wake the task (and often a
/// parked worker thread) once per finished run, which at thousands of runs
/// per second costs more CPU than the export itself.
async fn drain(sender: Sender, mut rx: mpsc::Receiver<Job>, dropped: Counter, exported: Counter) {
    let mut batch = Batch::default();
    let mut due: Option<tokio::time::Instant> = None;
    let mut warned = false;
    let mut warned_content = false;
    let mut tick = tokio::time::interval(DRAIN_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut stop = false;
        loop {
            match rx.try_recv() {
                Ok(Job::Record(p, record)) => {
                    spans_of(&p, *record, &mut batch, &mut warned_content).await;
                    due.get_or_insert_with(|| tokio::time::Instant::now() + BATCH_DELAY);
                    if batch.len() >= BATCH_SPANS {
                        send(&sender, &mut batch, &dropped, &exported, &mut warned).await;
                        due = None;
                    }
                }
                Ok(Job::Stop) | Err(mpsc::error::TryRecvError::Disconnected) => {
                    stop = true;
                    break;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
            }
        }
        let late = due.is_some_and(|at| tokio::time::Instant::now() >= at);
        if !batch.is_empty() && (stop || late) {
            send(&sender, &mut batch, &dropped, &exported, &mut warned).await;
            due = None;
        }
        if stop {
            return;
        }
    }
}

/// Sends `batch` (emptying it), counting its spans as exported or dropped.
async fn send(
    sender: &Sender,
    batch: &mut Batch,
    dropped: &Counter,
    exported: &Counter,
    warned: &mut bool,
) {
    let n = batch.len() as u64;
    let failure = match tokio::time::timeout(EXPORT_TIMEOUT, sender.send(batch)).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some("timed out".to_string()),
    };
    match failure {
        None => {
            exported.inc_by(n);
        }
        Some(why) => {
            dropped.inc_by(n);
            if !*warned {
                tracing::warn!(error = %why, "trace export failed; spans dropped (counted in switchyard_otel_dropped_spans_total)");
                *warned = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn telemetry_refuses_a_header_that_is_not_http_naming_it() {
        let config = TelemetryConfig {
            traces_url: "http://127.0.0.1:9/v1/traces".into(),
            headers: [("bad header".to_string(), "v".to_string())].into(),
            service_name: "s".into(),
            sampler: Sampler::AlwaysOn,
        };
        let e = Telemetry::start(config, Counter::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`bad header`"), "{e}");
    }
}
