//! OTLP/HTTP out: a batch of spans ([`SpanData`], as the OpenTelemetry SDK
//! holds them) written straight into an `ExportTraceServiceRequest` in the
//! protobuf wire format, and posted to the collector.
//!
//! Why not `opentelemetry-otlp`'s exporter: on the way to the wire it
//! clones every span, hashes its instrumentation scope to group it, copies
//! every attribute into the generated message types and encodes those —
//! measured at about three quarters of export's CPU (docs/benchmarks.md).
//! Here each span is written once, field by field, into one reused
//! buffer. The bytes are the ones the official conversion
//! (`opentelemetry-proto`'s `group_spans_by_resource_and_scope`) gives,
//! which the unit test below checks by decoding both.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

/// The request's fixed parts (resource, scope), encoded once.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// `Resource` (field 1 of `ResourceSpans`), whole, with its key.
    resource: Vec<u8>,
    /// `InstrumentationScope` (field 1 of `ScopeSpans`), whole, with its
    /// key.
    scope: Vec<u8>,
    /// The scope's schema URL (field 3 of `ScopeSpans`), with its key.
    schema_url: Vec<u8>,
}

impl Encoder {
    /// An encoder for spans of `scope` from the service `service_name`.
    pub fn new(service_name: &str, scope: &InstrumentationScope) -> Self {
        let mut attrs = Vec::new();
        attribute(
            &mut attrs,
            &mut Vec::new(),
            1,
            &KeyValue::new("service.name", service_name.to_string()),
        );
        let mut resource = Vec::new();
        // Resource { attributes = 1 } as field 1 of ResourceSpans.
        bytes_field(&mut resource, 1, &attrs);

        let mut inner = Vec::new();
        string_field(&mut inner, 1, scope.name());
        if let Some(v) = scope.version() {
            string_field(&mut inner, 2, v);
        }
        let mut scratch = Vec::new();
        for attr in scope.attributes() {
            attribute(&mut inner, &mut scratch, 3, attr);
        }
        let mut scope_bytes = Vec::new();
        bytes_field(&mut scope_bytes, 1, &inner);
        let mut schema_url = Vec::new();
        string_field(&mut schema_url, 3, scope.schema_url().unwrap_or_default());
        Self {
            resource,
            scope: scope_bytes,
            schema_url,
        }
    }

    /// The `ExportTraceServiceRequest` carrying `spans`, as protobuf bytes.
    pub fn request(&self, spans: &[SpanData]) -> Vec<u8> {
        let mut scope_spans = Vec::with_capacity(self.scope.len() + spans.len() * 600);
        scope_spans.extend_from_slice(&self.scope);
        let mut span = Vec::with_capacity(1024);
        let mut scratch = Scratch::default();
        for s in spans {
            span.clear();
            write_span(&mut span, &mut scratch, s);
            bytes_field(&mut scope_spans, 2, &span);
        }
        scope_spans.extend_from_slice(&self.schema_url);
        let mut resource_spans = Vec::with_capacity(self.resource.len() + scope_spans.len() + 16);
        resource_spans.extend_from_slice(&self.resource);
        bytes_field(&mut resource_spans, 2, &scope_spans);
        let mut out = Vec::with_capacity(resource_spans.len() + 8);
        bytes_field(&mut out, 1, &resource_spans);
        out
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

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `AnyValue` of `v`, without key or length.
fn any_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bool(b) => {
            encode_key(2, WireType::Varint, out);
            encode_varint(u64::from(*b), out);
        }
        Value::I64(i) => {
            encode_key(3, WireType::Varint, out);
            encode_varint(*i as u64, out);
        }
        Value::F64(f) => {
            encode_key(4, WireType::SixtyFourBit, out);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::String(s) => {
            // A string value is written even when empty (a `oneof`).
            bytes_field(out, 1, s.as_str().as_bytes());
        }
        Value::Array(a) => {
            let mut values = Vec::new();
            let mut one = Vec::new();
            let mut push = |v: Value| {
                one.clear();
                any_value(&mut one, &v);
                bytes_field(&mut values, 1, &one);
            };
            match a {
                Array::Bool(vs) => vs.iter().for_each(|v| push(Value::Bool(*v))),
                Array::I64(vs) => vs.iter().for_each(|v| push(Value::I64(*v))),
                Array::F64(vs) => vs.iter().for_each(|v| push(Value::F64(*v))),
                Array::String(vs) => vs.iter().for_each(|v| push(Value::String(v.clone()))),
                _ => {}
            }
            bytes_field(out, 5, &values);
        }
        _ => {}
    }
}

/// `kv` as a `KeyValue` message in field `tag` (the `attributes` of a
/// span: 9, of an event: 3, of a resource: 1, of a scope: 3).
fn attribute(out: &mut Vec<u8>, scratch: &mut Vec<u8>, tag: u32, kv: &KeyValue) {
    scratch.clear();
    any_value(scratch, &kv.value);
    let key = kv.key.as_str();
    let key_len = if key.is_empty() {
        0
    } else {
        1 + encoded_len_varint(key.len() as u64) + key.len()
    };
    let value_len = 1 + encoded_len_varint(scratch.len() as u64) + scratch.len();
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint((key_len + value_len) as u64, out);
    string_field(out, 1, key);
    bytes_field(out, 2, scratch);
}

fn kind(k: &SpanKind) -> u64 {
    match k {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// Buffers reused from span to span: an attribute's value, an event, a
/// status.
#[derive(Default)]
struct Scratch {
    value: Vec<u8>,
    event: Vec<u8>,
    status: Vec<u8>,
}

/// One `Span` message's fields, in tag order (as the generated code
/// writes them).
fn write_span(out: &mut Vec<u8>, scratch: &mut Scratch, s: &SpanData) {
    let Scratch {
        value,
        event,
        status,
    } = scratch;
    let ctx = &s.span_context;
    bytes_field(out, 1, &ctx.trace_id().to_bytes());
    bytes_field(out, 2, &ctx.span_id().to_bytes());
    string_field(out, 3, &ctx.trace_state().header());
    if s.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        bytes_field(out, 4, &s.parent_span_id.to_bytes());
    }
    string_field(out, 5, &s.name);
    varint_field(out, 6, kind(&s.span_kind));
    fixed64_field(out, 7, nanos(s.start_time));
    fixed64_field(out, 8, nanos(s.end_time));
    for kv in &s.attributes {
        attribute(out, value, 9, kv);
    }
    varint_field(out, 10, u64::from(s.dropped_attributes_count));
    for e in s.events.iter() {
        event.clear();
        fixed64_field(event, 1, nanos(e.timestamp));
        string_field(event, 2, &e.name);
        for kv in &e.attributes {
            attribute(event, value, 3, kv);
        }
        varint_field(event, 4, u64::from(e.dropped_attributes_count));
        bytes_field(out, 11, event);
    }
    varint_field(out, 12, u64::from(s.events.dropped_count));
    // No links are made (field 13; 14 their dropped count).
    status.clear();
    match &s.status {
        Status::Unset => {}
        Status::Error { description } => {
            string_field(status, 2, description);
            varint_field(status, 3, 2);
        }
        Status::Ok => varint_field(status, 3, 1),
    }
    bytes_field(out, 15, status);
    // flags: the trace flags and "has is-remote" (0x100), "is remote" (0x200).
    let mut flags = u32::from(ctx.trace_flags().to_u8()) | 0x100;
    if s.parent_span_is_remote {
        flags |= 0x200;
    }
    encode_key(16, WireType::ThirtyTwoBit, out);
    out.extend_from_slice(&flags.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Event, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message;
    use std::time::Duration;

    fn span(
        scope: &InstrumentationScope,
        parent: Option<u64>,
        remote: bool,
        status: Status,
    ) -> SpanData {
        let mut events = SpanEvents::default();
        events.events = vec![Event::new(
            "gen_ai.evaluation.result",
            UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            vec![
                KeyValue::new("gen_ai.evaluation.score.label", "reject"),
                KeyValue::new("switchyard.verdict.reasons", 2i64),
            ],
            0,
        )];
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes([7; 16]),
                SpanId::from_bytes([9; 8]),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: parent.map_or(SpanId::INVALID, |p| SpanId::from_bytes(p.to_be_bytes())),
            parent_span_is_remote: remote,
            span_kind: SpanKind::Client,
            name: "chat gpt-x \u{e9}".into(),
            start_time: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_001),
            end_time: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_500_000_000),
            attributes: vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("empty", ""),
                KeyValue::new("switchyard.cost.usd", 0.000_123),
                KeyValue::new("switchyard.cost.pusd", 123_000_000i64),
                KeyValue::new("negative", -5i64),
                KeyValue::new("switchyard.cache_hit", true),
                KeyValue::new("off", false),
                KeyValue::new(
                    "gen_ai.response.finish_reasons",
                    Value::Array(vec![opentelemetry::StringValue::from("stop")].into()),
                ),
                KeyValue::new("ints", Value::Array(vec![1i64, 0, -1].into())),
            ],
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status,
            instrumentation_scope: scope.clone(),
        }
    }

    #[test]
    fn otlp_bytes_decode_to_what_the_official_conversion_gives() {
        let scope = InstrumentationScope::builder("switchyard")
            .with_version("0.1.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.37.0")
            .build();
        let spans = vec![
            span(&scope, None, false, Status::Unset),
            span(&scope, Some(42), true, Status::error("timeout")),
            span(&scope, Some(43), false, Status::Ok),
        ];
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_attribute(KeyValue::new("service.name", "svc"))
            .build();
        let expected = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans.clone(),
                &ResourceAttributesWithSchema::from(&resource),
            ),
        };
        let ours = Encoder::new("svc", &scope).request(&spans);
        let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).expect("valid protobuf");
        assert_eq!(decoded, expected);
        assert_eq!(ours, expected.encode_to_vec(), "byte for byte, too");
    }
}
