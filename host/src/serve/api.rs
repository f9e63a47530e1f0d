//! The HTTP API's native routes: `POST /v1/runs` (and
//! `/v1/pipelines/{name}/runs`; with `"stream": true` or `Accept:
//! text/event-stream`, the run's events as server-sent events), `GET /healthz`, `GET /metrics`, and the
//! admin routes `PUT /admin/nodes/{node}` (hot-swap; with a `mode` query it
//! starts an experiment, `super::experiment::api`) and `GET /admin/nodes`,
//! which need the admin bearer token. Errors are JSON objects
//! `{"error": {"message", "type", "code"}}`, the shape OpenAI clients read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::experiment::api::admin_error;
use super::AppState;
use crate::engine::NodeError;
use crate::pipeline::{
    EventSink, Pipeline, RunClient, RunError, RunInput, RunOutcome, RunRecord, RunSpan, TraceStep,
};
use crate::spec::SpanParent;

/// An error answered as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: String,
    message: String,
}

impl ApiError {
    /// An error with HTTP status `status`, OpenAI-style `kind` (e.g.
    /// `invalid_request_error`), a stable `code` and a message.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A 400 for a request body that cannot be used.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            message,
        )
    }
}

impl ApiError {
    /// The JSON body: `{"error": {"message", "type", "code"}}`.
    pub fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body())).into_response();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, "1".parse().expect("static"));
            }
            _ => {}
        }
        r
    }
}

/// The HTTP status a finished run is answered with.
pub fn status_of(run: &RunOutcome) -> StatusCode {
    match &run.result {
        Ok(_) => StatusCode::OK,
        Err(
            RunError::InvalidInput { .. } | RunError::Schema { .. } | RunError::Rejected { .. },
        ) => StatusCode::UNPROCESSABLE_ENTITY,
        Err(RunError::Deadline { .. }) => StatusCode::GATEWAY_TIMEOUT,
        Err(RunError::Node {
            error: NodeError::WallTimeout { .. },
        }) => StatusCode::GATEWAY_TIMEOUT,
        Err(RunError::Node { .. }) => StatusCode::BAD_GATEWAY,
    }
}

/// The component of one node a run used.
#[derive(Debug, Serialize)]
pub struct NodeVersion<'a> {
    /// 1 as loaded, +1 per swap.
    pub revision: u64,
    /// The component's own version.
    pub version: &'a str,
    /// Hex SHA-256 of the component.
    pub sha256: &'a str,
}

/// The answer to `POST /v1/runs`: the batch record plus the generation the
/// run was pinned to and the component of every node that ran. It borrows
/// the record, which is then handed on to trace export.
#[derive(Debug, Serialize)]
pub(super) struct RunResponse<'a> {
    #[serde(flatten)]
    record: &'a RunRecord,
    generation: u64,
    nodes: BTreeMap<&'a str, NodeVersion<'a>>,
}

impl<'a> RunResponse<'a> {
    /// The answer for `record`, pinned to generation `pipeline`.
    pub(super) fn of(pipeline: &'a Pipeline, record: &'a RunRecord) -> Self {
        Self {
            record,
            generation: pipeline.generation,
            nodes: versions_used(pipeline, &record.trace),
        }
    }
}

/// Whether the client asked for server-sent events (`Accept:
/// text/event-stream`).
fn wants_events(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// The versions of the nodes that ran (`trace`), from generation `p`.
pub fn versions_used<'a>(
    p: &'a Pipeline,
    trace: &'a [TraceStep],
) -> BTreeMap<&'a str, NodeVersion<'a>> {
    let mut out = BTreeMap::new();
    for step in trace {
        if out.contains_key(step.node.as_str()) {
            continue;
        }
        if let Some(n) = p.node(&step.node) {
            out.insert(
                step.node.as_str(),
                NodeVersion {
                    revision: n.revision,
                    version: &n.component.description.version,
                    sha256: &n.component.load.sha256,
                },
            );
        }
    }
    out
}

/// Runs `input` through the live pipeline once the instance pool has room
/// for it; a full queue, or a wait past the queue timeout, is `429` with
/// `Retry-After`, and the run never starts.
pub async fn run_live(
    state: &AppState,
    id: Option<String>,
    input: Value,
    headers: &HeaderMap,
    client: Option<RunClient>,
    events: Option<EventSink>,
) -> Result<(Arc<Pipeline>, RunOutcome), ApiError> {
    let id = id.unwrap_or_else(|| state.next_run_id());
    let input = RunInput {
        parent: caller_span(headers),
        events,
        client,
        ..RunInput::new(id, input)
    };
    state
        .live
        .run_queued(input, state.queue)
        .await
        .map_err(|overloaded| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "overloaded",
                overloaded.to_string(),
            )
        })
}

/// The caller's span from a W3C `traceparent` header, if it sent a valid
/// one (a malformed header starts a new trace, as the spec asks).
pub fn caller_span(headers: &HeaderMap) -> Option<SpanParent> {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(SpanParent::from_traceparent)
}

/// `response` with the run's `traceparent`: its trace id, for finding the
/// run in a tracing backend.
pub fn with_trace(mut response: Response, run: &RunSpan) -> Response {
    let span = SpanParent {
        trace_id: run.trace_id,
        span_id: run.span_id,
        sampled: run.sampled,
    };
    if let Ok(v) = span.traceparent().parse() {
        response.headers_mut().insert("traceparent", v);
    }
    response
}

/// `POST /v1/runs`: `{"input": <json>, "id": "optional"}`.
pub async fn runs(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<RunClient>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let client = client.map(|Extension(c)| c);
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let Value::Object(mut obj) = request else {
        return Err(ApiError::bad_request(
            "the body must be a JSON object: {\"input\": <the task>, \"id\": \"optional\"}",
        ));
    };
    let Some(input) = obj.remove("input") else {
        return Err(ApiError::bad_request(
            "the body has no `input` field: send {\"input\": <the task>}",
        ));
    };
    if let Some(unknown) = obj
        .keys()
        .find(|k| !["input", "id", "stream"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown field `{unknown}`; a run request has `input` and optionally `id` and `stream`"
        )));
    }
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => wants_events(&headers),
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("`stream` must be true or false")),
    };
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(_) => return Err(ApiError::bad_request("`id` must be a non-empty string")),
    };
    if stream {
        return Ok(super::stream::run_events(state, id, input, headers, client));
    }
    let (pipeline, run) = run_live(&state, id, input, &headers, client, None).await?;
    let (status, span) = (status_of(&run), run.span);
    // The run moves into its record (no copy); the answer borrows it.
    let record = RunRecord::from_outcome(run);
    let response = (status, Json(RunResponse::of(&pipeline, &record))).into_response();
    let response = with_trace(response, &span);
    // Answered; the trace is exported off the request's path.
    state.live.export(pipeline, record);
    Ok(response)
}

/// `POST /v1/pipelines/{name}/runs`: as `/v1/runs`, checking the name.
pub async fn named_runs(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<RunClient>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let served = state.live.current().manifest.name.clone();
    if name != served {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "pipeline_not_found",
            format!("no pipeline `{name}`; this server runs `{served}`"),
        ));
    }
    runs(State(state), client, headers, body).await
}

/// `GET /healthz`.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    let p = state.live.current();
    // Still serving, but rate limits are counted per process while the
    // shared state cannot be reached.
    let degraded = p.hub().shared_state_degraded();
    Json(json!({
        "status": if degraded { "degraded" } else { "ok" },
        "shared_state": match &p.manifest.state {
            crate::spec::StateSpec::Local => "local",
            crate::spec::StateSpec::Redis { .. } if degraded => "unreachable",
            crate::spec::StateSpec::Redis { .. } => "ok",
        },
        "pipeline": p.manifest.name,
        "generation": p.generation,
        "nodes": p.nodes().len(),
    }))
}

/// `GET /readyz`: `200` when this replica can take traffic — its
/// components are loaded and, if it cannot serve without it, the shared
/// state answers a `PING` — else `503` with the reason. Orchestrators
/// route traffic by it; `/healthz` stays the liveness check.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let p = state.live.current();
    let shared = match &state.readiness.state {
        None => Ok("local"),
        Some(redis) => redis.ping().await.map(|()| "ok"),
    };
    let (status, body) = match shared {
        Ok(shared) => (
            StatusCode::OK,
            json!({ "ready": true, "shared_state": shared, "generation": p.generation }),
        ),
        Err(why) if state.readiness.needs_state => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "ready": false,
                "shared_state": "unreachable",
                "reason": format!("the shared state cannot be reached ({why}), and this replica cannot serve without it (client keys or spend limits that fail closed live there)"),
            }),
        ),
        Err(_) => (
            StatusCode::OK,
            json!({ "ready": true, "shared_state": "unreachable", "generation": p.generation }),
        ),
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics`, Prometheus text format.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state
        .live
        .metrics()
        .set_shared_state_degraded(state.live.current().hub().shared_state_degraded());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.live.metrics().render(),
    )
        .into_response()
}

/// The bearer token of a request's `Authorization` header, if any.
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Checks the admin bearer token in `headers` (run by
/// [`super::guard::admin_auth`] before any admin body is read).
pub(super) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.admin_token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "admin_disabled",
            format!(
                "the admin API is off: start `switchyard serve` with the token in ${}",
                super::ADMIN_TOKEN_ENV
            ),
        ));
    };
    match bearer_token(headers) {
        Some(token) if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_token",
            "the admin bearer token is wrong",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing_token",
            "send `Authorization: Bearer <token>` (the server's admin token)",
        )),
    }
}

/// `PUT /admin/nodes/{node}`: the body is the new component's bytes, or
/// (`Content-Type: application/json`) `{"component": "oci://…"}`, a
/// reference the server pulls and checks (the token was checked before the
/// body was read). With a query (`?mode=shadow|canary…`) the component is
/// an experiment's candidate instead.
pub async fn swap(
    State(state): State<Arc<AppState>>,
    Path(node): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty: send the component's bytes (`--data-binary @node.wasm`) or JSON {\"component\": \"oci://…\"}",
        ));
    }
    let by = super::status::caller(&headers);
    let (body, what) = if is_json(&headers) {
        let reference = reference_of(&body)?;
        let fetched = state
            .live
            .fetch_reference(&node, reference, &by)
            .await
            .map_err(|e| {
                admin_error(
                    &super::experiment::AdminError::from(e),
                    "the old component keeps serving",
                )
            })?;
        (Bytes::from(fetched.bytes), format!(" {}", fetched.origin))
    } else {
        (body, String::new())
    };
    if uri.query().is_some_and(|q| !q.is_empty()) {
        return super::experiment::api::start(&state, &node, &uri, &headers, body, &what).await;
    }
    let origin = PathBuf::from(format!("<PUT /admin/nodes/{node}{what} by {by}>"));
    match state.live.swap(&node, &body, &origin).await {
        Ok(report) => {
            let Some(fleet) = &state.fleet else {
                return Ok(Json(report).into_response());
            };
            // Published to every replica; the answer says which runs what
            // (waiting a few seconds for them to report).
            let mut answer = serde_json::to_value(&report).unwrap_or_default();
            answer["replicas"] = match fleet.publish(&node, &body, &report.sha256).await {
                Ok(()) => {
                    fleet
                        .settled(&node, &report.sha256, std::time::Duration::from_secs(10))
                        .await
                }
                Err(why) => {
                    json!({ "error": format!("not published to the other replicas: {why}") })
                }
            };
            Ok(Json(answer).into_response())
        }
        Err(e) => Err(admin_error(&e, "the old component keeps serving")),
    }
}

/// Whether the request says its body is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// The `component` reference of a JSON swap body.
fn reference_of(body: &[u8]) -> Result<crate::spec::OciRef, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ByReference {
        component: String,
    }
    let parsed: ByReference = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "a JSON swap body is {{\"component\": \"oci://REGISTRY/REPO@sha256:…\"}}: {e}"
        ))
    })?;
    if !parsed.component.starts_with(crate::spec::OCI_SCHEME) {
        return Err(ApiError::bad_request(
            "`component` must be an oci:// reference; send a file's bytes as the body instead (Content-Type: application/wasm)",
        ));
    }
    crate::spec::OciRef::parse(&parsed.component).map_err(|e| {
        ApiError::bad_request(crate::text::escape_control(&e.to_string()).into_owned())
    })
}

/// `GET /admin/nodes`: every node's live component (behind the token).
pub async fn nodes(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let p = state.live.current();
    let nodes: BTreeMap<&String, Value> = p
        .nodes()
        .iter()
        .map(|(name, n)| {
            (
                name,
                json!({
                    "role": n.spec.role,
                    "revision": n.revision,
                    "version": n.component.description.version,
                    "sha256": n.component.load.sha256,
                    "bytes": n.component.load.bytes,
                    "component": n.spec.component,
                    "trust": n.spec.trust.as_str(),
                    "signed_by": n.provenance.signed_by,
                    "experiment": state.live.experiments.mode_of(name),
                }),
            )
        })
        .collect();
    Ok(Json(
        json!({"pipeline": p.manifest.name, "generation": p.generation, "nodes": nodes}),
    ))
}
