//! Server-sent events from an upstream, shared by the `openai` and
//! `anthropic` providers: [`SseParser`] cuts bytes into events (lines
//! ended by LF, CRLF or CR, even split across reads; comments skipped;
//! multi-line `data` joined), every line and the whole stream bounded;
//! [`sse_stream`] reads an answer's body through a provider's
//! [`SseDecoder`] into a [`ProviderStream`], turning a connection that
//! breaks off, ends before the upstream's end marker, or sends a malformed
//! event into a typed, retryable error.

use std::collections::VecDeque;

use futures::StreamExt;

use super::openai::MAX_RESPONSE_BYTES;
use super::stream::{ProviderStream, StreamEvent};
use super::types::{ModelError, ProviderError};

/// The longest line (and the longest event's data) read from a stream.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One event: its `event:` name, if any, and its data lines joined by LF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field.
    pub event: Option<String>,
    /// The `data:` fields, joined.
    pub data: String,
}

/// Cuts a byte stream into events.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The last byte read was a CR (a following LF belongs to it).
    cr: bool,
    event: Option<String>,
    data: Option<String>,
    total: usize,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `bytes`, appending every event they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ModelError> {
        self.total += bytes.len();
        if self.total > MAX_RESPONSE_BYTES {
            return Err(ModelError::Unavailable(format!(
                "the upstream's stream is over {} MiB; cut off",
                MAX_RESPONSE_BYTES >> 20
            )));
        }
        for &b in bytes {
            let cr = std::mem::replace(&mut self.cr, b == b'\r');
            match b {
                b'\n' if cr => {}
                b'\n' | b'\r' => self.end_line(out)?,
                _ => {
                    if self.line.len() >= MAX_LINE_BYTES {
                        return Err(ModelError::Unavailable(format!(
                            "the upstream sent a stream line over {} KiB",
                            MAX_LINE_BYTES >> 10
                        )));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), ModelError> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            // A blank line dispatches the event; one without data is dropped.
            let event = self.event.take();
            if let Some(data) = self.data.take() {
                out.push(SseEvent { event, data });
            }
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let line = String::from_utf8(line)
            .map_err(|_| ModelError::Unavailable("a stream line is not UTF-8".into()))?;
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                if data.len() + value.len() + 1 > MAX_LINE_BYTES {
                    return Err(ModelError::Unavailable(format!(
                        "the upstream sent a stream event over {} KiB",
                        MAX_LINE_BYTES >> 10
                    )));
                }
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            // `id`, `retry` and unknown fields mean nothing here.
            _ => {}
        }
        Ok(())
    }
}

/// What a provider makes of one event: nothing (pings, bookkeeping), a
/// chunk for the hub, or an error. `Done` is returned for the upstream's
/// end marker only.
pub trait SseDecoder: Send + 'static {
    /// Decodes one event.
    fn event(&mut self, ev: SseEvent) -> Result<Option<StreamEvent>, ProviderError>;
    /// The end marker, named in the error of a stream cut short.
    fn end_marker(&self) -> &'static str;
}

/// A malformed event: the upstream answered, but what it sent is unusable.
pub fn malformed(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::unusable_answer(ModelError::Unavailable(format!(
        "malformed stream event: {what}"
    )))
}

/// An error event in a stream, classified by the upstream's error `kind`
/// (`rate_limit_error`, `overloaded_error`, `invalid_request_error`, …).
pub fn stream_error(kind: &str, message: &str) -> ProviderError {
    let kind = super::openai::short(kind);
    let message: String = message.chars().take(200).collect();
    let text = format!(
        "the upstream reported an error mid-stream: {kind}: {}",
        crate::text::escape_control(&message)
    );
    let mut e = if kind.contains("rate_limit") {
        ProviderError::transient(ModelError::RateLimited)
    } else if kind.contains("invalid_request") {
        ProviderError::permanent(ModelError::InvalidRequest(text))
    } else if kind.contains("authentication") || kind.contains("permission") {
        ProviderError::permanent(ModelError::Denied(text))
    } else {
        ProviderError::transient(ModelError::Unavailable(text))
    };
    e.answered = true;
    e
}

struct Reader<D> {
    resp: reqwest::Response,
    parser: SseParser,
    decoder: D,
    queue: VecDeque<Result<StreamEvent, ProviderError>>,
    ended: bool,
}

/// The events of a 2xx streamed answer, decoded by `decoder`. The stream
/// ends after `Done` or the first error.
pub fn sse_stream<D: SseDecoder>(resp: reqwest::Response, decoder: D) -> ProviderStream {
    let reader = Reader {
        resp,
        parser: SseParser::new(),
        decoder,
        queue: VecDeque::new(),
        ended: false,
    };
    futures::stream::unfold(reader, |mut r| async move {
        loop {
            if let Some(item) = r.queue.pop_front() {
                if !matches!(item, Ok(StreamEvent::Delta(_))) {
                    r.queue.clear();
                    r.ended = true;
                }
                return Some((item, r));
            }
            if r.ended {
                return None;
            }
            match r.resp.chunk().await {
                Ok(Some(bytes)) => {
                    let mut events = Vec::new();
                    let parsed = r.parser.push(&bytes, &mut events);
                    for ev in events {
                        match r.decoder.event(ev) {
                            Ok(Some(x)) => r.queue.push_back(Ok(x)),
                            Ok(None) => {}
                            Err(e) => {
                                r.queue.push_back(Err(e));
                                break;
                            }
                        }
                    }
                    if let Err(e) = parsed {
                        r.queue.push_back(Err(ProviderError::unusable_answer(e)));
                    }
                }
                Ok(None) => r.queue.push_back(Err(ProviderError::unusable_answer(
                    ModelError::Unavailable(format!(
                        "the stream was truncated: the connection closed before the upstream's end marker ({})",
                        r.decoder.end_marker()
                    )),
                ))),
                Err(e) => r.queue.push_back(Err(broken(&e))),
            }
        }
    })
    .boxed()
}

/// A stream whose connection broke off (reset, or a read timeout).
fn broken(e: &reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        return ProviderError::unusable_answer(ModelError::Timeout);
    }
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    ProviderError::unusable_answer(ModelError::Unavailable(format!(
        "the stream broke off (connection reset): {cause}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(reads: &[&[u8]]) -> Result<Vec<SseEvent>, ModelError> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for r in reads {
            p.push(r, &mut out)?;
        }
        Ok(out)
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    #[test]
    fn sse_events_split_across_reads_with_crlf_comments_and_multiline_data() {
        let whole: &[u8] = b": keep-alive\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\ndata: {\"x\":1}\n\n:c\rdata: three\r\r";
        let expected = vec![
            ev(Some("a"), "one\ntwo"),
            ev(None, "{\"x\":1}"),
            ev(None, "three"),
        ];
        assert_eq!(parse(&[whole]).unwrap(), expected);
        // Every split point, including between a CR and its LF.
        for cut in 0..whole.len() {
            assert_eq!(
                parse(&[&whole[..cut], &whole[cut..]]).unwrap(),
                expected,
                "cut at {cut}"
            );
        }
        // Byte by byte.
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(parse(&bytes).unwrap(), expected);
    }

    #[test]
    fn sse_events_without_data_or_blank_line_are_not_dispatched() {
        assert_eq!(parse(&[b"event: ping\n\n"]).unwrap(), vec![]);
        assert_eq!(parse(&[b"data: half"]).unwrap(), vec![]);
        assert_eq!(
            parse(&[b"id: 3\nretry: 10\ndata\n\n"]).unwrap(),
            vec![ev(None, "")]
        );
    }

    #[test]
    fn sse_lines_and_streams_are_bounded_and_must_be_utf8() {
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        assert!(
            matches!(parse(&[&long]), Err(ModelError::Unavailable(m)) if m.contains("line over"))
        );
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let chunk = vec![b'\n'; 1 << 20];
        let mut failed = false;
        for _ in 0..20 {
            if p.push(&chunk, &mut out).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "the total is bounded");
        assert!(parse(&[b"data: \xff\xfe\n\n"]).is_err());
    }

    #[test]
    fn sse_stream_errors_are_typed() {
        assert_eq!(
            stream_error("rate_limit_error", "slow down").error,
            ModelError::RateLimited
        );
        let e = stream_error("overloaded_error", "Overloaded");
        assert!(
            e.retryable
                && matches!(e.error, ModelError::Unavailable(ref m) if m.contains("Overloaded"))
        );
        let e = stream_error("invalid_request_error", "bad");
        assert!(!e.retryable && matches!(e.error, ModelError::InvalidRequest(_)));
        assert!(matches!(
            stream_error("authentication_error", "").error,
            ModelError::Denied(_)
        ));
    }
}
