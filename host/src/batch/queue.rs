//! A batch spread over machines on a Redis Stream. `run --queue` enqueues
//! every non-blank input line (batch id, line number, text) onto the
//! pipeline's stream and waits; `switchyard worker --queue` processes
//! entries through a consumer group on any number of machines, writing
//! each record into the batch's table under its line number only if none
//! is there yet, then acknowledging the entry. Entries a worker took and
//! never acknowledged (it died) are claimed by another after a timeout.
//! The coordinator collects the table in input order into one output
//! file: exactly one record per input line, whatever was processed twice.
//! A worker runs each entry on a task of its own, so its runs use every
//! core.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use tokio::io::{AsyncBufRead, AsyncWrite};

use super::input::{parse_line, read_lines};
use super::output::RecordWriter;
use super::stop::{StopLevel, StopSignal};
use super::view::RecordView;
use super::{BatchError, Summary};
use crate::pipeline::{Pipeline, RunRecord};
use crate::state::RedisState;

/// The consumer group every worker of a pipeline joins.
const GROUP: &str = "switchyard-workers";
/// How long an idle worker waits before asking for entries again.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How long a finished batch's records are kept if nobody collects them.
const KEEP_RECORDS_S: u64 = 7 * 86_400;

/// A pipeline's queue.
#[derive(Debug, Clone)]
pub struct Queue {
    state: Arc<RedisState>,
    prefix: String,
}

/// A batch on the queue: its id and the input lines it holds.
#[derive(Debug, Clone)]
pub struct QueuedBatch {
    /// Its id.
    pub id: String,
    /// The line number of every non-blank input line, in order.
    pub lines: Vec<u64>,
}

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Entries processed at once.
    pub concurrency: usize,
    /// An entry another worker took and has not acknowledged for this
    /// long is claimed (its worker is taken for dead). Keep it above the
    /// pipeline's run deadline, or live work is done twice (its record
    /// is still written once).
    pub claim_after: Duration,
    /// This worker's name in the consumer group.
    pub name: String,
}

/// What a worker did.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerStats {
    /// Records it wrote.
    pub written: u64,
    /// Entries it processed whose record another worker wrote first.
    pub duplicates: u64,
    /// Entries it claimed from workers that stopped answering.
    pub claimed: u64,
}

fn queue_error(e: impl std::fmt::Display) -> BatchError {
    BatchError::Queue(e.to_string())
}

impl Queue {
    /// The queue of pipeline `pipeline` in `state`.
    pub fn new(state: Arc<RedisState>, pipeline: &str) -> Self {
        Self {
            state,
            prefix: format!("switchyard:{pipeline}"),
        }
    }

    fn stream(&self) -> String {
        format!("{}:queue", self.prefix)
    }

    fn records(&self, batch: &str) -> String {
        format!("{}:batch:{batch}:records", self.prefix)
    }

    /// Creates the consumer group (and the stream) if missing.
    async fn ensure_group(&self) -> Result<(), BatchError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(self.stream())
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        match self.state.query::<()>(&cmd).await {
            Ok(()) => Ok(()),
            Err(e) if e.contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(queue_error(e)),
        }
    }

    /// Puts every non-blank line of `input` on the queue as one batch.
    pub async fn enqueue<R>(&self, input: R) -> Result<QueuedBatch, BatchError>
    where
        R: AsyncBufRead + Unpin,
    {
        self.ensure_group().await?;
        let id = format!("{:016x}", fastrand::u64(..));
        let mut lines = Vec::new();
        let mut reader = std::pin::pin!(read_lines(input));
        while let Some(next) = reader.next().await {
            let (n, bytes) = next?;
            let mut cmd = redis::cmd("XADD");
            cmd.arg(self.stream())
                .arg("*")
                .arg("batch")
                .arg(&id)
                .arg("line")
                .arg(n)
                .arg("text")
                .arg(bytes);
            self.state
                .query::<String>(&cmd)
                .await
                .map_err(queue_error)?;
            lines.push(n);
        }
        Ok(QueuedBatch { id, lines })
    }

    /// How many of `batch`'s records are written.
    pub async fn done(&self, batch: &QueuedBatch) -> Result<u64, BatchError> {
        let mut cmd = redis::cmd("HLEN");
        cmd.arg(self.records(&batch.id));
        self.state.query(&cmd).await.map_err(queue_error)
    }

    /// Waits until every line of `batch` has its record (calling
    /// `progress` with the count as it grows; on a stop it returns an
    /// incomplete summary and the records stay for a day's collecting),
    /// then writes them to `output` in input order, counting each into
    /// the summary; the batch's records are then deleted.
    pub async fn collect<W>(
        &self,
        batch: &QueuedBatch,
        pipeline: &str,
        output: &mut RecordWriter<W>,
        stop: &mut StopSignal,
        mut progress: impl FnMut(u64),
    ) -> Result<Summary, BatchError>
    where
        W: AsyncWrite + Unpin,
    {
        let started = Instant::now();
        let total = batch.lines.len() as u64;
        let mut summary = Summary::new(pipeline);
        loop {
            let done = self.done(batch).await?;
            progress(done);
            if done >= total {
                break;
            }
            if stop.level() >= StopLevel::Drain {
                summary.finish(started.elapsed());
                return Ok(summary);
            }
            tokio::select! {
                _ = stop.raised() => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        let key = self.records(&batch.id);
        for chunk in batch.lines.chunks(256) {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(&key);
            for n in chunk {
                cmd.arg(n);
            }
            let texts: Vec<Option<Vec<u8>>> = self.state.query(&cmd).await.map_err(queue_error)?;
            for (n, text) in chunk.iter().zip(texts) {
                let mut bytes = text.ok_or_else(|| {
                    queue_error(format!("the record of input line {n} disappeared"))
                })?;
                let view: RecordView = serde_json::from_slice(&bytes).map_err(|e| {
                    queue_error(format!("the record of input line {n} is unreadable: {e}"))
                })?;
                bytes.push(b'\n');
                output.write(*n, &bytes).await?;
                summary.add_record(&view);
            }
        }
        output.flush().await?;
        let mut del = redis::cmd("DEL");
        del.arg(&key);
        let _ = self.state.query::<()>(&del).await;
        summary.complete = true;
        summary.finish(started.elapsed());
        Ok(summary)
    }

    /// Processes entries of this pipeline's queue with `pipeline` until
    /// `stop` asks to drain (then finishes what it took).
    pub async fn work(
        &self,
        pipeline: &Pipeline,
        opts: &WorkerOptions,
        mut stop: StopSignal,
    ) -> Result<WorkerStats, BatchError> {
        self.ensure_group().await?;
        let mut stats = WorkerStats::default();
        let mut in_flight = FuturesUnordered::new();
        let limit = opts.concurrency.max(1);
        let mut last_claim = Instant::now() - opts.claim_after;
        loop {
            let draining = stop.level() >= StopLevel::Drain;
            if draining && in_flight.is_empty() {
                return Ok(stats);
            }
            let room = limit.saturating_sub(in_flight.len());
            let mut taken = Vec::new();
            if room > 0 && !draining {
                // First what dead workers left, now and then; then new work.
                if last_claim.elapsed() >= opts.claim_after / 4 {
                    last_claim = Instant::now();
                    let claimed = self.claim(opts, room).await?;
                    if !claimed.is_empty() {
                        tracing::warn!(
                            entries = claimed.len(),
                            "claimed entries of a worker that stopped answering"
                        );
                        stats.claimed += claimed.len() as u64;
                    }
                    taken.extend(claimed);
                }
                if taken.len() < room {
                    taken.extend(self.read(opts, room - taken.len()).await?);
                }
            }
            for entry in taken {
                in_flight.push(self.process(pipeline, entry));
            }
            if in_flight.is_empty() {
                tokio::select! {
                    _ = stop.raised() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
            tokio::select! {
                _ = stop.raised() => {}
                done = in_flight.next() => match done {
                    Some(Ok(true)) => stats.written += 1,
                    Some(Ok(false)) => stats.duplicates += 1,
                    Some(Err(e)) => return Err(e),
                    None => {}
                },
                () = tokio::time::sleep(IDLE_POLL), if in_flight.len() < limit => {}
            }
        }
    }

    /// New entries for this worker, at most `count`.
    async fn read(&self, opts: &WorkerOptions, count: usize) -> Result<Vec<StreamId>, BatchError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(&opts.name)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(self.stream())
            .arg(">");
        let reply: Option<StreamReadReply> = self.state.query(&cmd).await.map_err(queue_error)?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }

    /// Entries other workers took and left unacknowledged past the claim
    /// timeout, now this worker's.
    async fn claim(&self, opts: &WorkerOptions, count: usize) -> Result<Vec<StreamId>, BatchError> {
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(self.stream())
            .arg(GROUP)
            .arg(&opts.name)
            .arg(opts.claim_after.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(count);
        let reply: StreamAutoClaimReply = self.state.query(&cmd).await.map_err(queue_error)?;
        Ok(reply.claimed)
    }

    /// Runs one entry and writes its record unless one is there; then
    /// acknowledges it. `Ok(true)` when this worker's record was kept.
    async fn process(&self, pipeline: &Pipeline, entry: StreamId) -> Result<bool, BatchError> {
        let field = |name: &str| -> Option<Vec<u8>> {
            match entry.map.get(name)? {
                redis::Value::BulkString(b) => Some(b.clone()),
                redis::Value::SimpleString(s) => Some(s.clone().into_bytes()),
                _ => None,
            }
        };
        let batch = field("batch").and_then(|b| String::from_utf8(b).ok());
        let line = field("line")
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<u64>().ok());
        let written = match (batch, line, field("text")) {
            (Some(batch), Some(n), Some(text)) => {
                // The run and its record's encoding on a task of its own, so
                // a worker's runs use every core (the set aborts it if this
                // future is dropped).
                let mut run = tokio::task::JoinSet::new();
                let p = pipeline.clone();
                run.spawn(async move {
                    let record = record_of(&p, n, &text).await;
                    serde_json::to_vec(&record)
                });
                let json = match run.join_next().await.expect("one task") {
                    Ok(json) => json.map_err(queue_error)?,
                    Err(e) => {
                        let message = crate::engine::join_error_message(e);
                        return Err(queue_error(format!(
                            "the run of input line {n} panicked ({message}); this is a bug in switchyard, please report it; its entry stays unacknowledged, so another worker claims it after the claim timeout"
                        )));
                    }
                };
                let key = self.records(&batch);
                let mut set = redis::cmd("HSETNX");
                set.arg(&key).arg(n).arg(json);
                let kept: bool = self.state.query(&set).await.map_err(queue_error)?;
                let mut expire = redis::cmd("EXPIRE");
                expire.arg(&key).arg(KEEP_RECORDS_S);
                self.state.query::<()>(&expire).await.map_err(queue_error)?;
                kept
            }
            _ => {
                tracing::warn!(entry = %entry.id, "a queue entry without batch, line and text; dropped");
                false
            }
        };
        let mut ack = redis::cmd("XACK");
        ack.arg(self.stream()).arg(GROUP).arg(&entry.id);
        self.state.query::<()>(&ack).await.map_err(queue_error)?;
        let mut del = redis::cmd("XDEL");
        del.arg(self.stream()).arg(&entry.id);
        self.state.query::<()>(&del).await.map_err(queue_error)?;
        Ok(written)
    }
}

/// The record of input line `n` (its text `bytes`), as `run` writes it.
pub async fn record_of(pipeline: &Pipeline, n: u64, bytes: &[u8]) -> RunRecord {
    let line = parse_line(n, bytes);
    match line.input {
        Ok(input) => {
            let run = pipeline.run(input).await;
            RunRecord::from_outcome(run).at_line(line.line, line.expect)
        }
        Err(error) => RunRecord::unusable(&line.id, line.line, line.expect, &error),
    }
}
