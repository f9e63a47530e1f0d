//! Guest stdout and stderr: line-buffered into `tracing` (target
//! `switchyard::guest`, with the node's name and the stream), never to the
//! host's own stdout, and metered together with the `log` import against the
//! node's log limit. Past the limit the guest traps with `log-limit`. Every
//! guest line, from these streams or the `log` import, is written inside
//! the invocation's `node` span ([`LogSpan`]).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Log bytes one invocation has written, against its limit.
#[derive(Debug)]
pub struct LogMeter {
    used: AtomicU64,
    limit: u64,
    exhausted: AtomicBool,
}

impl LogMeter {
    /// A meter allowing `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            used: AtomicU64::new(0),
            limit,
            exhausted: AtomicBool::new(false),
        }
    }

    /// Counts `n` bytes; `false` (and the meter marked exhausted) when
    /// they would go past the limit, in which case they are not counted.
    pub fn charge(&self, n: u64) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(n);
            if next > self.limit {
                self.exhausted.store(true, Ordering::Relaxed);
                return false;
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Bytes written so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether a write was refused for going past the limit.
    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }
}

/// The span a guest's log lines are written in: the invocation's `node`
/// span (`node`, `attempt`, `span_id`) under the run's, as if the whole
/// invocation ran inside it. The span is made only when a line is written:
/// one per invocation cost ~3% of a run's CPU, and most invocations write
/// no line. Outside a run (no span id) lines carry the node's name only.
#[derive(Debug, Clone)]
pub struct LogSpan {
    /// The node.
    pub node: Arc<str>,
    /// The invocation's attempt (0 for the first).
    pub attempt: u32,
    /// The invocation's span id, inside a run.
    pub span_id: Option<crate::spec::SpanId>,
}

impl LogSpan {
    /// Runs `write` (one log event) inside the invocation's span.
    pub fn write(&self, write: impl FnOnce(&str)) {
        let node = &*self.node;
        match self.span_id {
            Some(span_id) => {
                let span =
                    tracing::error_span!("node", node, attempt = self.attempt, span_id = %span_id);
                let _inside = span.enter();
                write(node)
            }
            None => write(node),
        }
    }
}

/// Which guest stream.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// stdout, logged at info.
    Stdout,
    /// stderr, logged at warn.
    Stderr,
}

/// One guest output stream (stdout or stderr) of one invocation.
#[derive(Clone)]
pub struct GuestStream(Arc<Shared>);

struct Shared {
    span: LogSpan,
    which: Which,
    meter: Arc<LogMeter>,
    /// The unfinished last line.
    partial: Mutex<Vec<u8>>,
}

impl GuestStream {
    /// A stream for the invocation `span`, metered by `meter`.
    pub fn new(span: LogSpan, which: Which, meter: Arc<LogMeter>) -> Self {
        Self(Arc::new(Shared {
            span,
            which,
            meter,
            partial: Mutex::new(Vec::new()),
        }))
    }

    /// Takes `bytes`, emitting every finished line; `false` past the limit.
    fn accept(&self, bytes: &[u8]) -> bool {
        if !self.0.meter.charge(bytes.len() as u64) {
            return false;
        }
        let mut partial = self.0.partial.lock().unwrap_or_else(|p| p.into_inner());
        partial.extend_from_slice(bytes);
        if let Some(end) = partial.iter().rposition(|&b| b == b'\n') {
            let done: Vec<u8> = partial.drain(..=end).collect();
            for line in done[..end].split(|&b| b == b'\n') {
                self.0.emit(line);
            }
        }
        true
    }
}

impl Shared {
    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        // Control characters (a carriage return, terminal escapes) are
        // escaped so a guest cannot forge or hide host log lines.
        let line = super::returned::escape_control(line.trim_end_matches('\r'));
        self.span.write(|node| match self.which {
            Which::Stdout => {
                tracing::info!(target: "switchyard::guest", node, stream = "stdout", "{line}")
            }
            Which::Stderr => {
                tracing::warn!(target: "switchyard::guest", node, stream = "stderr", "{line}")
            }
        })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let partial = self.partial.get_mut().unwrap_or_else(|p| p.into_inner());
        if !partial.is_empty() {
            let rest = std::mem::take(partial);
            self.emit(&rest);
        }
    }
}

/// The error a refused write traps with.
#[derive(Debug, thiserror::Error)]
#[error("log limit reached")]
pub struct LogLimitReached;

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestStream {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if self.accept(&bytes) {
            Ok(())
        } else {
            Err(StreamError::Trap(LogLimitReached.into()))
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl AsyncWrite for GuestStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(if self.accept(buf) {
            Ok(buf.len())
        } else {
            Err(io::Error::other(LogLimitReached))
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_refuses_past_the_limit_and_counts_only_what_fit() {
        let m = LogMeter::new(10);
        assert!(m.charge(6));
        assert!(!m.charge(5));
        assert!(m.exhausted());
        assert_eq!(m.used(), 6);
        assert!(m.charge(4));
        assert_eq!(m.used(), 10);
    }

    #[test]
    fn stream_keeps_the_partial_line_until_its_newline() {
        let meter = Arc::new(LogMeter::new(1 << 10));
        let s = GuestStream::new(
            LogSpan {
                node: "n".into(),
                attempt: 0,
                span_id: None,
            },
            Which::Stdout,
            meter.clone(),
        );
        assert!(s.accept(b"one\ntw"));
        assert_eq!(&*s.0.partial.lock().unwrap(), b"tw");
        assert!(s.accept(b"o\nthree"));
        assert_eq!(&*s.0.partial.lock().unwrap(), b"three");
        assert_eq!(meter.used(), 13);
    }
}
