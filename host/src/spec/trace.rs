//! Trace identity, in W3C Trace Context terms: a run's 16-byte trace id,
//! 8-byte span ids for the run, each node invocation and each model-call
//! attempt, and the `traceparent` header that carries them in (a caller's
//! trace a served run continues) and out (to a traced upstream). A leaf:
//! the engine, the model layer and the pipeline stamp ids on what they
//! record, and `telemetry` exports the tree.

use std::fmt;

use serde::{Serialize, Serializer};

/// A trace id: 16 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A span id: 8 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// A random trace id.
    pub fn random() -> Self {
        let n = fastrand::u128(1..);
        Self(n.to_be_bytes())
    }
}

impl SpanId {
    /// A random span id.
    pub fn random() -> Self {
        let n = fastrand::u64(1..);
        Self(n.to_be_bytes())
    }
}

/// Lowercase hex of an id (at most 16 bytes) in one write: ids are
/// formatted for every span and every record, and a `{:02x}` per byte cost
/// a formatter call each.
fn hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut buf = [0u8; 32];
    let out = &mut buf[..2 * bytes.len()];
    hex::encode_to_slice(bytes, out).map_err(|_| fmt::Error)?;
    f.write_str(std::str::from_utf8(out).map_err(|_| fmt::Error)?)
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(&self.0, f)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(&self.0, f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for TraceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for SpanId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N
        || !s
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Where a span hangs: its trace, its parent span and whether the trace is
/// sampled. What a `traceparent` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanParent {
    /// The trace.
    pub trace_id: TraceId,
    /// The parent span.
    pub span_id: SpanId,
    /// The trace is being recorded.
    pub sampled: bool,
}

impl SpanParent {
    /// Parses a W3C `traceparent` header (version 00, or a later version
    /// read as 00); `None` when it is malformed, as the spec asks.
    pub fn from_traceparent(header: &str) -> Option<Self> {
        let header = header.trim();
        let mut parts = header.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        let version = unhex::<1>(version)?[0];
        if version == 0xff || (version == 0 && parts.next().is_some()) {
            return None;
        }
        let trace_id = TraceId(unhex::<16>(trace)?);
        let span_id = SpanId(unhex::<8>(span)?);
        if trace_id.0 == [0; 16] || span_id.0 == [0; 8] {
            return None;
        }
        let flags = unhex::<1>(flags)?[0];
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The `traceparent` header naming this span as the parent.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }

    /// The same trace with `span_id` as the parent.
    pub fn child(&self, span_id: SpanId) -> Self {
        Self { span_id, ..*self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_refuses_malformed_headers() {
        let h = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let p = SpanParent::from_traceparent(h).unwrap();
        assert!(p.sampled);
        assert_eq!(p.traceparent(), h);
        assert_eq!(p.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert!(!SpanParent::from_traceparent(unsampled).unwrap().sampled);
        // A later version may carry more fields.
        assert!(SpanParent::from_traceparent(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
        )
        .is_some());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(SpanParent::from_traceparent(bad), None, "{bad}");
        }
        let random = TraceId::random();
        assert_ne!(random.0, [0; 16]);
        assert_eq!(random.to_string().len(), 32);
    }
}
