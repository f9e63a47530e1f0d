//! `switchyard bench --ttft`: time to first token through a served pipeline,
//! streamed against held. The same manifest is served twice in this
//! process: as written (streaming workers release each window once their
//! window judges passed it) and held (every streaming worker set to
//! `late-reject = "buffer"`: the reply goes out once the whole run has
//! passed, as before contract 0.2). Requests alternate between the two, one
//! at a time, each with `"stream": true`; the time to the first content
//! chunk and to the end of the answer are taken for each. Sim latencies are
//! kept: they are what is measured. A streamed answer cut after its first
//! text (a late rejection: `content_filter`) still counts for time to first
//! token, and is counted as `cut`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Manifest;
use crate::engine::NodeEngine;
use crate::models::ModelHub;
use crate::pipeline::Pipeline;
use crate::serve::{AppState, ConnLimits, LivePipeline, Metrics, QueueLimits};
use crate::spec::{LateReject, WindowRule};

/// Why the measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TtftError {
    /// Nothing in the pipeline streams.
    #[error("no worker of pipeline `{0}` streams: give a worker a `stream = {{ window = \"sentence\", … }}` table (and a component that replies with a stream) to compare streamed against held answers")]
    NothingStreams(String),
    /// Loading, serving or a request failed.
    #[error("{0}")]
    Failed(String),
}

/// One side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TtftSeries {
    /// `streamed` or `held`.
    pub label: &'static str,
    /// Requests measured.
    pub requests: usize,
    /// Median time to the first content chunk, ms.
    pub ttft_p50_ms: f64,
    /// 99th percentile of it, ms.
    pub ttft_p99_ms: f64,
    /// Median time to the end of the answer, ms.
    pub total_p50_ms: f64,
    /// Answers cut after text went out (`content_filter`, or an error
    /// event): a late rejection the held side would have retried.
    pub cut: usize,
    /// Answers that failed before any text (or with an HTTP error).
    pub failed: usize,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TtftReport {
    /// Windows released as judged.
    pub streamed: TtftSeries,
    /// The reply after the whole run (today's behaviour without streaming).
    pub held: TtftSeries,
    /// streamed p50 / held p50.
    pub p50_ratio: f64,
    /// streamed p99 / held p99.
    pub p99_ratio: f64,
}

impl std::fmt::Display for TtftReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "time to first token, {} requests each, alternating:",
            self.streamed.requests
        )?;
        writeln!(
            f,
            "  {:<9} {:>10} {:>10} {:>12} {:>5} {:>7}",
            "", "p50 ms", "p99 ms", "total p50", "cut", "failed"
        )?;
        for s in [&self.streamed, &self.held] {
            writeln!(
                f,
                "  {:<9} {:>10.1} {:>10.1} {:>12.1} {:>5} {:>7}",
                s.label, s.ttft_p50_ms, s.ttft_p99_ms, s.total_p50_ms, s.cut, s.failed
            )?;
        }
        write!(
            f,
            "  streamed / held: p50 {:.3}, p99 {:.3}",
            self.p50_ratio, self.p99_ratio
        )
    }
}

/// `manifest` with every streaming worker held to the end of the run.
fn held(mut manifest: Manifest) -> Manifest {
    for n in manifest.nodes.values_mut() {
        if n.stream.window != WindowRule::Whole {
            n.stream.late_reject = Some(LateReject::Buffer);
        }
    }
    manifest
}

/// A pipeline served on 127.0.0.1 until dropped.
struct Served {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(pipeline: Pipeline) -> Result<Self, TtftError> {
        let live = Arc::new(LivePipeline::new(pipeline, Arc::new(Metrics::new())));
        let state = Arc::new(AppState::new(live, None, QueueLimits::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| TtftError::Failed(format!("cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TtftError::Failed(e.to_string()))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(crate::serve::serve(
            listener,
            state,
            ConnLimits::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            url: format!("http://{addr}/v1/chat/completions"),
            stop: Some(stop),
            task,
        })
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// How one streamed answer went.
enum Answer {
    /// Finished with `stop`: time to the first content and to the end.
    Complete(Duration, Duration),
    /// Text went out, then the stream was cut.
    Cut(Duration, Duration),
    /// No text at all, or an HTTP error.
    Failed,
}

/// One streamed request.
async fn one(
    client: &reqwest::Client,
    url: &str,
    model: &str,
    input: &Value,
) -> Result<Answer, TtftError> {
    let content = match input {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let body = json!({"model": model, "stream": true,
                      "messages": [{"role": "user", "content": content}]});
    let started = Instant::now();
    let response = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| TtftError::Failed(format!("request failed: {e}")))?;
    if !response.status().is_success() {
        return Ok(Answer::Failed);
    }
    let mut response = response;
    let mut buf = String::new();
    let mut first = None;
    let mut stopped = false;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| TtftError::Failed(format!("reading the stream: {e}")))?
    {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let message: String = buf.drain(..end + 2).collect();
            let Some(data) = message.trim().strip_prefix("data: ") else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            let delta = &v["choices"][0]["delta"]["content"];
            if first.is_none() && delta.as_str().is_some_and(|s| !s.is_empty()) {
                first = Some(started.elapsed());
            }
            stopped |= v["choices"][0]["finish_reason"] == "stop";
        }
    }
    Ok(match first {
        Some(f) if stopped => Answer::Complete(f, started.elapsed()),
        Some(f) => Answer::Cut(f, started.elapsed()),
        None => Answer::Failed,
    })
}

fn series(
    label: &'static str,
    samples: &[(Duration, Duration)],
    cut: usize,
    failed: usize,
) -> TtftSeries {
    let pick = |mut v: Vec<f64>, q: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let first: Vec<f64> = samples.iter().map(|s| ms(s.0)).collect();
    let total: Vec<f64> = samples.iter().map(|s| ms(s.1)).collect();
    TtftSeries {
        label,
        requests: samples.len() + failed,
        cut,
        ttft_p50_ms: pick(first.clone(), 0.50),
        ttft_p99_ms: pick(first, 0.99),
        total_p50_ms: pick(total, 0.50),
        failed,
    }
}

/// Measures `iterations` requests on each side, cycling through `inputs`.
pub async fn measure(
    engine: &NodeEngine,
    manifest: Manifest,
    inputs: &[Value],
    iterations: u32,
) -> Result<TtftReport, TtftError> {
    if !manifest
        .nodes
        .values()
        .any(|n| n.stream.window != WindowRule::Whole)
    {
        return Err(TtftError::NothingStreams(manifest.name.clone()));
    }
    let model = manifest.name.clone();
    let load = |m: Manifest| async move {
        let hub = ModelHub::from_env(&m.models).map_err(|e| TtftError::Failed(e.to_string()))?;
        Pipeline::load(engine, m)
            .await
            .map(|l| l.bind(hub))
            .map_err(|e| TtftError::Failed(e.to_string()))
    };
    let streamed = Served::start(load(manifest.clone()).await?).await?;
    let held_p = Served::start(load(held(manifest)).await?).await?;
    let client = reqwest::Client::new();
    let (mut s, mut h) = (Vec::new(), Vec::new());
    let (mut s_failed, mut h_failed) = (0, 0);
    let (mut s_cut, mut h_cut) = (0, 0);
    let inputs: Vec<&Value> = inputs.iter().collect();
    for i in 0..iterations as usize {
        let input = inputs[i % inputs.len().max(1)];
        // Alternate which side goes first, so neither always runs warm.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for streamed_side in order {
            let (url, out, cut, failed) = if streamed_side {
                (&streamed.url, &mut s, &mut s_cut, &mut s_failed)
            } else {
                (&held_p.url, &mut h, &mut h_cut, &mut h_failed)
            };
            // A cut answer still delivered its first token: it counts.
            match one(&client, url, &model, input).await? {
                Answer::Complete(first, total) => out.push((first, total)),
                Answer::Cut(first, total) => {
                    out.push((first, total));
                    *cut += 1;
                }
                Answer::Failed => *failed += 1,
            }
        }
    }
    streamed.stop().await;
    held_p.stop().await;
    let streamed = series("streamed", &s, s_cut, s_failed);
    let held = series("held", &h, h_cut, h_failed);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Ok(TtftReport {
        p50_ratio: ratio(streamed.ttft_p50_ms, held.ttft_p50_ms),
        p99_ratio: ratio(streamed.ttft_p99_ms, held.ttft_p99_ms),
        streamed,
        held,
    })
}
