//! An OTLP/HTTP trace receiver on 127.0.0.1: `POST /v1/traces` bodies are
//! decoded with the official protobuf definitions (`opentelemetry-proto`)
//! and kept, flattened to one [`ReceivedSpan`] per span, with the service
//! name and the request headers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message;

/// An attribute value as received.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An array of strings.
    Strs(Vec<String>),
    /// Anything else, printed.
    Other(String),
}

impl AttrValue {
    /// The string, if it is one.
    pub fn str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The strings, if it is an array of them (else none).
    pub fn strs(&self) -> &[String] {
        match self {
            AttrValue::Strs(s) => s,
            _ => &[],
        }
    }

    /// The integer, if it is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// One span as received.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// `service.name` of its resource.
    pub service: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex parent span id; empty for a root.
    pub parent_span_id: String,
    /// Its name.
    pub name: String,
    /// Span kind (protobuf numbering: 1 internal, 2 server, 3 client).
    pub kind: i32,
    /// Start and end, ns since the epoch.
    pub start_ns: u64,
    /// End.
    pub end_ns: u64,
    /// Attributes.
    pub attributes: BTreeMap<String, AttrValue>,
    /// Events: name and attributes.
    pub events: Vec<(String, BTreeMap<String, AttrValue>)>,
    /// Status code (2 = error).
    pub status: i32,
}

impl ReceivedSpan {
    /// Attribute `k`.
    pub fn attr(&self, k: &str) -> Option<&AttrValue> {
        self.attributes.get(k)
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    requests: Vec<HeaderMap>,
}

/// The receiver. Dropping it stops it.
pub struct OtlpReceiver {
    /// Base URL, e.g. `http://127.0.0.1:PORT` (POST `/v1/traces`).
    pub endpoint: String,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn value(v: Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> AttrValue {
    match v.and_then(|v| v.value) {
        Some(Any::StringValue(s)) => AttrValue::Str(s),
        Some(Any::IntValue(i)) => AttrValue::Int(i),
        Some(Any::DoubleValue(f)) => AttrValue::Float(f),
        Some(Any::BoolValue(b)) => AttrValue::Bool(b),
        Some(Any::ArrayValue(a))
            if a.values
                .iter()
                .all(|v| matches!(v.value, Some(Any::StringValue(_)))) =>
        {
            AttrValue::Strs(
                a.values
                    .into_iter()
                    .filter_map(|v| match v.value {
                        Some(Any::StringValue(s)) => Some(s),
                        _ => None,
                    })
                    .collect(),
            )
        }
        other => AttrValue::Other(format!("{other:?}")),
    }
}

fn attrs(
    kvs: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
) -> BTreeMap<String, AttrValue> {
    kvs.into_iter()
        .map(|kv| (kv.key, value(kv.value)))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn traces(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut r = received.lock().unwrap();
    r.requests.push(headers);
    for rs in request.resource_spans {
        let service = rs
            .resource
            .map(|res| attrs(res.attributes))
            .and_then(|a| {
                a.get("service.name")
                    .and_then(|v| v.str().map(String::from))
            })
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                r.spans.push(ReceivedSpan {
                    service: service.clone(),
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    name: s.name,
                    kind: s.kind,
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                    attributes: attrs(s.attributes),
                    events: s
                        .events
                        .into_iter()
                        .map(|e| (e.name, attrs(e.attributes)))
                        .collect(),
                    status: s.status.map_or(0, |st| st.code),
                });
            }
        }
    }
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

impl OtlpReceiver {
    /// Starts it on a free port.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            endpoint,
            received,
            task,
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().unwrap().spans.clone()
    }

    /// The headers of every export request so far.
    pub fn requests(&self) -> Vec<HeaderMap> {
        self.received.lock().unwrap().requests.clone()
    }
}
