//! OTLP/HTTP out, written by hand: spans go straight from a run record
//! into the protobuf wire format of an `ExportTraceServiceRequest`, field
//! by field, into buffers reused from span to span. Nothing is built in
//! between — no SDK `SpanData`, no generated message types.
//!
//! Why: export must cost a served run almost nothing. Through the SDK's
//! `SpanData` and `opentelemetry-otlp`'s exporter, every span was built
//! with an allocation per attribute, then cloned, grouped by hashing its
//! scope, copied again into the generated types and encoded: about 30 µs
//! of CPU per run of 5.5 spans. Here it is a few µs (docs/benchmarks.md).
//! What is written is checked against the official definitions: the unit
//! test below decodes it with `opentelemetry-proto`, and the observability
//! tests decode every export a real run makes.

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

/// What a span stands for (`Span.SpanKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Work inside the process.
    Internal = 1,
    /// Serving a remote caller.
    Server = 2,
    /// A call to a remote service.
    Client = 3,
}

/// The identity, place and time of one span.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// The trace.
    pub trace_id: [u8; 16],
    /// The span.
    pub span_id: [u8; 8],
    /// Its parent, if any.
    pub parent: Option<[u8; 8]>,
    /// Whether the parent is another process's (a caller's `traceparent`).
    pub parent_is_remote: bool,
    /// Its kind.
    pub kind: Kind,
    /// Start, ns since the Unix epoch.
    pub start_ns: u64,
    /// End, ns since the Unix epoch (at least the start).
    pub end_ns: u64,
    /// Why it failed (an error status), if it did.
    pub error: Option<&'a str>,
}

/// Attributes (`KeyValue`s) written as one repeated field.
#[derive(Debug, Default)]
pub struct Attrs {
    buf: Vec<u8>,
    value: Vec<u8>,
    tag: u32,
}

impl Attrs {
    fn new(tag: u32) -> Self {
        Self {
            tag,
            ..Self::default()
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
    }

    /// The `value` buffer holds an `AnyValue`'s fields; writes it under
    /// `key`.
    fn push(&mut self, key: &str) {
        let key_len = if key.is_empty() {
            0
        } else {
            1 + encoded_len_varint(key.len() as u64) + key.len()
        };
        let value_len = 1 + encoded_len_varint(self.value.len() as u64) + self.value.len();
        encode_key(self.tag, WireType::LengthDelimited, &mut self.buf);
        encode_varint((key_len + value_len) as u64, &mut self.buf);
        string_field(&mut self.buf, 1, key);
        bytes_field(&mut self.buf, 2, &self.value);
    }

    /// A string attribute.
    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        self.value.clear();
        bytes_field(&mut self.value, 1, v.as_bytes());
        self.push(key);
        self
    }

    /// An integer attribute.
    pub fn int(&mut self, key: &str, v: i64) -> &mut Self {
        self.value.clear();
        encode_key(3, WireType::Varint, &mut self.value);
        encode_varint(v as u64, &mut self.value);
        self.push(key);
        self
    }

    /// An unsigned count, as an integer attribute (saturating).
    pub fn count(&mut self, key: &str, v: u64) -> &mut Self {
        self.int(key, i64::try_from(v).unwrap_or(i64::MAX))
    }

    /// A floating-point attribute.
    pub fn float(&mut self, key: &str, v: f64) -> &mut Self {
        self.value.clear();
        encode_key(4, WireType::SixtyFourBit, &mut self.value);
        self.value.extend_from_slice(&v.to_le_bytes());
        self.push(key);
        self
    }

    /// A boolean attribute.
    pub fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.value.clear();
        encode_key(2, WireType::Varint, &mut self.value);
        encode_varint(u64::from(v), &mut self.value);
        self.push(key);
        self
    }

    /// An array-of-strings attribute.
    pub fn strs(&mut self, key: &str, values: &[&str]) -> &mut Self {
        let mut array = Vec::new();
        let mut one = Vec::new();
        for v in values {
            one.clear();
            bytes_field(&mut one, 1, v.as_bytes());
            bytes_field(&mut array, 1, &one);
        }
        self.value.clear();
        bytes_field(&mut self.value, 5, &array);
        self.push(key);
        self
    }
}

/// Spans being gathered into one export request.
#[derive(Debug)]
pub struct Batch {
    /// The `spans` fields of the request's one `ScopeSpans`.
    spans: Vec<u8>,
    count: usize,
    span: Vec<u8>,
    events: Vec<u8>,
    event: Vec<u8>,
    /// The span being written: its attributes.
    pub attrs: Attrs,
    event_attrs: Attrs,
    /// The span being written: its name.
    pub name: String,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            spans: Vec::with_capacity(512 << 10),
            count: 0,
            span: Vec::with_capacity(2048),
            events: Vec::new(),
            event: Vec::new(),
            attrs: Attrs::new(9),
            event_attrs: Attrs::new(3),
            name: String::new(),
        }
    }
}

impl Batch {
    /// Spans gathered.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Starts a span: its name, attributes and events are empty.
    pub fn begin(&mut self) -> &mut Self {
        self.attrs.clear();
        self.events.clear();
        self.name.clear();
        self
    }

    /// Adds an event at `time_ns` to the span being written, with the
    /// attributes `attrs` writes.
    pub fn event(&mut self, name: &str, time_ns: u64, attrs: impl FnOnce(&mut Attrs)) {
        self.event_attrs.clear();
        attrs(&mut self.event_attrs);
        self.event.clear();
        fixed64_field(&mut self.event, 1, time_ns);
        string_field(&mut self.event, 2, name);
        self.event.extend_from_slice(&self.event_attrs.buf);
        bytes_field(&mut self.events, 11, &self.event);
    }

    /// Ends the span being written (name, attributes and events as set
    /// since [`Batch::begin`]) and adds it to the batch.
    pub fn end(&mut self, head: &Head<'_>) {
        let s = &mut self.span;
        s.clear();
        bytes_field(s, 1, &head.trace_id);
        bytes_field(s, 2, &head.span_id);
        if let Some(parent) = &head.parent {
            bytes_field(s, 4, parent);
        }
        string_field(s, 5, &self.name);
        varint_field(s, 6, head.kind as u64);
        fixed64_field(s, 7, head.start_ns);
        fixed64_field(s, 8, head.end_ns.max(head.start_ns));
        s.extend_from_slice(&self.attrs.buf);
        s.extend_from_slice(&self.events);
        let mut status = Vec::new();
        if let Some(e) = head.error {
            string_field(&mut status, 2, e);
            varint_field(&mut status, 3, 2);
        }
        bytes_field(s, 15, &status);
        // Sampled (0x01), "has is-remote" (0x100), "is remote" (0x200).
        let flags: u32 = 0x101 | if head.parent_is_remote { 0x200 } else { 0 };
        encode_key(16, WireType::ThirtyTwoBit, s);
        s.extend_from_slice(&flags.to_le_bytes());
        bytes_field(&mut self.spans, 2, s);
        self.count += 1;
    }

    /// The export request of every span gathered, as protobuf bytes; the
    /// batch is empty again.
    pub fn request(&mut self, encoder: &Encoder) -> Vec<u8> {
        let mut scope_spans =
            Vec::with_capacity(encoder.scope.len() + self.spans.len() + encoder.schema_url.len());
        scope_spans.extend_from_slice(&encoder.scope);
        scope_spans.extend_from_slice(&self.spans);
        scope_spans.extend_from_slice(&encoder.schema_url);
        let mut resource_spans = Vec::with_capacity(encoder.resource.len() + scope_spans.len() + 8);
        resource_spans.extend_from_slice(&encoder.resource);
        bytes_field(&mut resource_spans, 2, &scope_spans);
        let mut out = Vec::with_capacity(resource_spans.len() + 8);
        bytes_field(&mut out, 1, &resource_spans);
        self.spans.clear();
        self.count = 0;
        out
    }
}

/// The request's fixed parts — the resource (`service.name`) and the
/// instrumentation scope — encoded once.
#[derive(Debug, Clone)]
pub struct Encoder {
    resource: Vec<u8>,
    scope: Vec<u8>,
    schema_url: Vec<u8>,
}

impl Encoder {
    /// For spans of the scope `scope_name` at `version` following
    /// `schema_url`, from the service `service_name`.
    pub fn new(service_name: &str, scope_name: &str, version: &str, schema_url: &str) -> Self {
        let mut attrs = Attrs::new(1);
        attrs.str("service.name", service_name);
        let mut resource = Vec::new();
        bytes_field(&mut resource, 1, &attrs.buf);
        let mut inner = Vec::new();
        string_field(&mut inner, 1, scope_name);
        string_field(&mut inner, 2, version);
        let mut scope = Vec::new();
        bytes_field(&mut scope, 1, &inner);
        let mut schema = Vec::new();
        string_field(&mut schema, 3, schema_url);
        Self {
            resource,
            scope,
            schema_url: schema,
        }
    }
}

/// Field `tag` holding `bytes` (a nested message, bytes or a string).
fn bytes_field(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Field `tag` holding a non-empty string (proto3 leaves empty ones out).
fn string_field(out: &mut Vec<u8>, tag: u32, s: &str) {
    if !s.is_empty() {
        bytes_field(out, tag, s.as_bytes());
    }
}

fn fixed64_field(out: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        encode_key(tag, WireType::SixtyFourBit, out);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn varint_field(out: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(v, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
    use prost::Message;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
        }
    }

    #[test]
    fn otlp_bytes_decode_with_the_official_definitions() {
        let encoder = Encoder::new(
            "svc",
            "switchyard",
            "0.1.0",
            "https://opentelemetry.io/schemas/1.37.0",
        );
        let mut batch = Batch::default();
        let b = batch.begin();
        b.name.push_str("chat gpt-x \u{e9}");
        b.attrs
            .str("gen_ai.operation.name", "chat")
            .str("empty", "")
            .float("switchyard.cost.usd", 0.000_123)
            .count("switchyard.cost.pusd", 123_000_000)
            .int("negative", -5)
            .bool("switchyard.cache_hit", true)
            .bool("off", false)
            .strs("gen_ai.response.finish_reasons", &["stop"]);
        b.event("gen_ai.evaluation.result", 1_700_000_000_123_456_000, |a| {
            a.str("gen_ai.evaluation.score.label", "reject");
        });
        batch.end(&Head {
            trace_id: [7; 16],
            span_id: [9; 8],
            parent: Some([4; 8]),
            parent_is_remote: true,
            kind: Kind::Client,
            start_ns: 1_700_000_000_000_000_001,
            end_ns: 1_700_000_000_500_000_000,
            error: Some("timeout"),
        });
        batch.begin().name.push_str("invoke_workflow p");
        batch.end(&Head {
            trace_id: [7; 16],
            span_id: [1; 8],
            parent: None,
            parent_is_remote: false,
            kind: Kind::Internal,
            start_ns: 5,
            end_ns: 3,
            error: None,
        });
        assert_eq!(batch.len(), 2);
        let bytes = batch.request(&encoder);
        assert!(batch.is_empty());
        let r = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("valid protobuf");
        let rs = &r.resource_spans[0];
        assert_eq!(
            rs.resource.as_ref().unwrap().attributes,
            [kv("service.name", Value::StringValue("svc".into()))]
        );
        let ss = &rs.scope_spans[0];
        let scope = ss.scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("switchyard", "0.1.0")
        );
        assert_eq!(ss.schema_url, "https://opentelemetry.io/schemas/1.37.0");
        let chat = &ss.spans[0];
        let expected = Span {
            trace_id: vec![7; 16],
            span_id: vec![9; 8],
            parent_span_id: vec![4; 8],
            flags: 0x301,
            name: "chat gpt-x \u{e9}".into(),
            kind: span::SpanKind::Client as i32,
            start_time_unix_nano: 1_700_000_000_000_000_001,
            end_time_unix_nano: 1_700_000_000_500_000_000,
            attributes: vec![
                kv("gen_ai.operation.name", Value::StringValue("chat".into())),
                kv("empty", Value::StringValue(String::new())),
                kv("switchyard.cost.usd", Value::DoubleValue(0.000_123)),
                kv("switchyard.cost.pusd", Value::IntValue(123_000_000)),
                kv("negative", Value::IntValue(-5)),
                kv("switchyard.cache_hit", Value::BoolValue(true)),
                kv("off", Value::BoolValue(false)),
                kv(
                    "gen_ai.response.finish_reasons",
                    Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(Value::StringValue("stop".into())),
                        }],
                    }),
                ),
            ],
            events: vec![span::Event {
                time_unix_nano: 1_700_000_000_123_456_000,
                name: "gen_ai.evaluation.result".into(),
                attributes: vec![kv(
                    "gen_ai.evaluation.score.label",
                    Value::StringValue("reject".into()),
                )],
                dropped_attributes_count: 0,
            }],
            status: Some(Status {
                message: "timeout".into(),
                code: status::StatusCode::Error as i32,
            }),
            ..Span::default()
        };
        assert_eq!(chat, &expected);
        let root = &ss.spans[1];
        assert!(root.parent_span_id.is_empty());
        assert_eq!(root.flags, 0x101);
        assert_eq!(
            root.end_time_unix_nano, 5,
            "an end before the start is the start"
        );
        assert_eq!(root.status, Some(Status::default()));
        assert!(root.attributes.is_empty() && root.events.is_empty());
    }
}
