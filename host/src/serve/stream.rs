//! Server-sent events for runs that stream: the run starts in its own task
//! with an event sink, and the response body follows the events as they
//! come. `POST /v1/runs` with `"stream": true` sends every event typed
//! (`node-started`, `route`, `verdict`, `policy`, `released`,
//! `stream-cut`) and then the final `record`. `/v1/chat/completions` with
//! `stream: true` sends the released text of the chat reply as
//! `chat.completion.chunk` deltas, as soon as the window judges passed it
//! (see `pipeline::release`): nothing unjudged is ever sent.
//!
//! A client that goes away cancels its run (the body holds the run's task
//! and aborts it when dropped), as a dropped non-streaming request does.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::api::{run_live, ApiError, RunResponse};
use super::AppState;
use crate::pipeline::{Pipeline, RunClient, RunEvent, RunOutcome, RunRecord};

/// What a run's task ends with: the generation it ran on and its outcome.
type RunResult = Result<(Arc<Pipeline>, RunOutcome), ApiError>;

/// A run in its own task, aborted when dropped.
pub(super) struct RunTask {
    handle: Option<JoinHandle<RunResult>>,
}

impl RunTask {
    /// Starts `input` on the live pipeline, its events into the returned
    /// receiver.
    pub(super) fn start(
        state: Arc<AppState>,
        id: Option<String>,
        input: Value,
        headers: HeaderMap,
        client: Option<RunClient>,
    ) -> (Self, mpsc::UnboundedReceiver<RunEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(async move {
            let done = run_live(&state, id, input, &headers, client, Some(tx)).await;
            if let Ok((pipeline, run)) = &done {
                state.live.export_outcome(pipeline.clone(), run);
            }
            done
        });
        (
            Self {
                handle: Some(handle),
            },
            rx,
        )
    }

    /// Waits for the run's end.
    pub(super) async fn finish(mut self) -> Result<(Arc<Pipeline>, RunOutcome), ApiError> {
        let Some(handle) = self.handle.take() else {
            return Err(internal("the run was already collected"));
        };
        match handle.await {
            Ok(done) => done,
            Err(e) => Err(internal(&format!("the run's task failed: {e}"))),
        }
    }
}

impl Drop for RunTask {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.abort();
        }
    }
}

fn internal(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "internal",
        message,
    )
}

/// One SSE message: `event:` (when named) and `data:` lines.
pub(super) fn sse(event: Option<&str>, data: &Value) -> Bytes {
    let mut out = String::new();
    if let Some(e) = event {
        out.push_str("event: ");
        out.push_str(e);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
    Bytes::from(out)
}

/// A `text/event-stream` response whose body is `body`.
pub(super) fn sse_response(
    body: impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The SSE name of a run event.
fn event_name(e: &RunEvent) -> &'static str {
    match e {
        RunEvent::NodeStarted { .. } => "node-started",
        RunEvent::Route { .. } => "route",
        RunEvent::Verdict { .. } => "verdict",
        RunEvent::Policy(_) => "policy",
        RunEvent::Released { .. } => "released",
        RunEvent::StreamCut { .. } => "stream-cut",
    }
}

/// `POST /v1/runs` as events: every run event as it happens, then the
/// record (the same JSON `/v1/runs` answers) as `record`. An overloaded
/// server answers an `error` event.
pub(super) fn run_events(
    state: Arc<AppState>,
    id: Option<String>,
    input: Value,
    headers: HeaderMap,
    client: Option<RunClient>,
) -> Response {
    let (task, rx) = RunTask::start(state, id, input, headers, client);
    enum Phase {
        Events(RunTask, mpsc::UnboundedReceiver<RunEvent>),
        Done,
    }
    let body = futures::stream::unfold(Phase::Events(task, rx), |phase| async move {
        match phase {
            Phase::Done => None,
            Phase::Events(task, mut rx) => match rx.recv().await {
                Some(e) => {
                    let data = serde_json::to_value(&e).unwrap_or(Value::Null);
                    Some((
                        Ok(sse(Some(event_name(&e)), &data)),
                        Phase::Events(task, rx),
                    ))
                }
                // The run dropped its sink: it has ended.
                None => {
                    let last = match task.finish().await {
                        Ok((pipeline, run)) => sse(
                            Some("record"),
                            &serde_json::to_value(RunResponse::of(
                                &pipeline,
                                &RunRecord::from_outcome(run),
                            ))
                            .unwrap_or(Value::Null),
                        ),
                        Err(e) => sse(Some("error"), &e.body()),
                    };
                    Some((Ok(last), Phase::Done))
                }
            },
        }
    });
    sse_response(body)
}

/// The JSON pointer a released window's text lands at in the run's
/// output: `/{node}/{field}` when the output is keyed by node (several
/// output nodes), else `/{field}`; the empty pointer when the output is
/// the text itself.
pub(super) fn released_pointer(pipeline: &Pipeline, node: &str, field: Option<&str>) -> String {
    let esc = |s: &str| s.replace('~', "~0").replace('/', "~1");
    let mut p = String::new();
    if pipeline.manifest.outputs.len() > 1 {
        p.push('/');
        p.push_str(&esc(node));
    }
    if let Some(f) = field {
        p.push('/');
        p.push_str(&esc(f));
    }
    p
}

/// What the chat stream does with the events of its run.
pub(super) struct ChatStream {
    /// The run.
    pub task: RunTask,
    /// Its events.
    pub rx: mpsc::UnboundedReceiver<RunEvent>,
    /// The reply's pointers (`[chat] reply`): released text at one of
    /// them is streamed.
    pub reply: Vec<String>,
    /// The generation the stream started on (for pointers).
    pub pipeline: Arc<Pipeline>,
}

/// The first event worth answering for: released reply text, or the end.
pub(super) enum FirstRelease {
    /// Text of the reply was released: stream from here.
    Text(String),
    /// The run ended with nothing of the reply released.
    Ended,
}

impl ChatStream {
    /// Whether `e` is released text of the chat reply.
    pub(super) fn reply_text(&self, e: &RunEvent) -> Option<String> {
        match e {
            RunEvent::Released {
                node, field, text, ..
            } => {
                let at = released_pointer(&self.pipeline, node, field.as_deref());
                let streams = if self.reply.is_empty() {
                    at.is_empty()
                } else {
                    self.reply.contains(&at)
                };
                streams.then(|| text.clone())
            }
            _ => None,
        }
    }

    /// Waits for the first released reply text, or the run's end.
    pub(super) async fn first(&mut self) -> FirstRelease {
        while let Some(e) = self.rx.recv().await {
            if let Some(text) = self.reply_text(&e) {
                return FirstRelease::Text(text);
            }
        }
        FirstRelease::Ended
    }
}

/// The usage object of an OpenAI answer, from a run's totals.
pub(super) fn usage_of(run: &RunOutcome) -> Value {
    json!({
        "prompt_tokens": run.totals.input_tokens,
        "completion_tokens": run.totals.output_tokens,
        "total_tokens": run.totals.input_tokens + run.totals.output_tokens,
    })
}
