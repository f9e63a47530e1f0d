//! The hold-back rule for a streamed output. A worker that replies with a
//! model stream has its text cut into windows ([`super::window`]); each
//! window goes to every window judge of the worker at once, and only when
//! all of them accepted it (or repaired it into a form all of them accept)
//! is it released to whoever watches the run. No byte reaches a client
//! before every window judge passed the window it belongs to.
//!
//! Judges that see only the whole output, and the edge schemas, run once
//! the stream has ended. Before the first release, any rejection or
//! failure goes through the worker's `on-reject` policy as for any output
//! (the stream is dropped, priced as `cancelled`). After it, the text
//! cannot be taken back: a rejection or failure cuts the stream with a
//! typed [`RunEvent::StreamCut`] and the run fails. Whether a worker with
//! whole-output judges may release windows at all is the manifest's choice
//! (`stream.late-reject`), checked when the pipeline loads.

use futures::future::join_all;
use serde_json::Value;

use super::events::{emit, RunEvent};
use super::executor::Run;
use super::gate::Gate;
use super::outcome::RunError;
use super::window::Windower;
use super::LoadedNode;
use crate::engine::{
    NodeCall, NodeError, NodeOutput, StreamChunk, StreamReply, TaskInput, Verdict, Window,
};
use crate::spec::{LateReject, WindowRule};

/// Bytes a streamed output may reach before it is cut as too long.
pub const MAX_STREAM_BYTES: usize = 4 << 20;

/// What one window's checks decided.
enum WindowVerdict {
    /// Release this text (the window, or its repaired form).
    Pass(String),
    /// Rejected, by whom and why.
    Reject { by: String, reasons: Vec<String> },
}

/// Where a streamed output stands.
struct Progress {
    /// Text accepted so far (repairs applied).
    accepted: String,
    /// Windows checked so far.
    index: u32,
    /// Whether any text went to the watcher.
    released: bool,
}

impl Run<'_> {
    /// Gates a streamed reply of `producer` at the position of `gated`:
    /// windows through the window judges, released as they pass when the
    /// run is watched and the output is the run's; then the edge schemas
    /// and the whole-output judges on the complete text.
    pub(super) async fn gate_stream(
        &self,
        gated: &LoadedNode,
        producer: &LoadedNode,
        task: &TaskInput,
        reply: StreamReply,
        attempt: u32,
    ) -> Result<Gate, RunError> {
        let Some(mut stream) = reply.take() else {
            return Err(RunError::Node {
                error: NodeError::InvalidOutput {
                    node: producer.spec.name.clone(),
                    message: "host bug: a streamed reply was consumed twice".into(),
                },
            });
        };
        let spec = gated.spec.stream;
        let (window_judges, whole_judges): (Vec<String>, Vec<String>) =
            gated.spec.judges.iter().cloned().partition(|j| {
                self.pipeline
                    .node(j)
                    .is_some_and(|n| n.component.description.checks_windows)
            });
        let live = self.events.is_some()
            && spec.window != WindowRule::Whole
            && spec.late_reject != Some(LateReject::Buffer)
            && self.pipeline.manifest.outputs.contains(&gated.spec.name);
        let mut windower = Windower::new(spec.window);
        let mut p = Progress {
            accepted: String::new(),
            index: 0,
            released: false,
        };
        // The producer's `output-kb` bounds a streamed output as it bounds
        // a whole one; the host's cap bounds it whatever the manifest says.
        let limit = usize::try_from(producer.spec.limits.output_bytes)
            .unwrap_or(usize::MAX)
            .min(MAX_STREAM_BYTES);
        let mut received = 0usize;
        loop {
            let chunk = match stream.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(error)) => {
                    let error = NodeError::Model {
                        node: producer.spec.name.clone(),
                        error,
                    };
                    return Err(self.cut(gated, &p, error.kind(), error.to_string(), || {
                        RunError::Node { error }
                    }));
                }
                None => {
                    let error = NodeError::InvalidOutput {
                        node: producer.spec.name.clone(),
                        message: "its stream ended without its final chunk".into(),
                    };
                    return Err(self.cut(gated, &p, error.kind(), error.to_string(), || {
                        RunError::Node { error }
                    }));
                }
            };
            let windows = match chunk {
                StreamChunk::Delta(text) => {
                    received += text.len();
                    if received > limit {
                        let error = NodeError::OutputLimit {
                            node: producer.spec.name.clone(),
                            size: received as u64,
                            limit: limit as u64,
                            field: "stream".into(),
                        };
                        return Err(self.cut(gated, &p, error.kind(), error.to_string(), || {
                            RunError::Node { error }
                        }));
                    }
                    windower.push(&text)
                }
                // Only before anything was released: start over.
                StreamChunk::Restart => {
                    windower.reset();
                    p.accepted.clear();
                    p.index = 0;
                    received = 0;
                    continue;
                }
                StreamChunk::Done { .. } => break,
            };
            for text in windows {
                let text = match self
                    .pass_window(gated, task, attempt, &window_judges, text, false, &mut p)
                    .await?
                {
                    Ok(text) => text,
                    Err(reject) => return self.rejected(gated, &p, reject),
                };
                if live {
                    if !p.released {
                        p.released = true;
                        stream.release();
                    }
                    self.release(gated, &reply, p.index - 1, text);
                }
            }
        }
        drop(stream);
        let last = windower.finish();
        if !last.is_empty() {
            let text = match self
                .pass_window(gated, task, attempt, &window_judges, last, true, &mut p)
                .await?
            {
                Ok(text) => text,
                Err(reject) => return self.rejected(gated, &p, reject),
            };
            if live {
                p.released = true;
                self.release(gated, &reply, p.index - 1, text);
            }
        }
        let output = reply.output(&p.accepted).to_string();
        match self
            .gate(gated, task, output, attempt, &whole_judges)
            .await?
        {
            Gate::Pass(value) if p.released && !holds_text(&reply, &value, &p.accepted) => self
                .rejected(
                    gated,
                    &p,
                    Gate::Reject {
                        by: "a whole-output judge".into(),
                        reasons: vec![
                            "it repaired text that was already streamed to the client".into()
                        ],
                    },
                ),
            Gate::Pass(value) => Ok(Gate::Pass(value)),
            reject => self.rejected(gated, &p, reject),
        }
    }

    /// Checks one window with every window judge at once until they all
    /// accept; a repair replaces the window's text and is checked again, so
    /// every released byte is accepted by all. The text that passed (also
    /// appended to the accepted text), else the rejection.
    #[allow(clippy::too_many_arguments)]
    async fn pass_window(
        &self,
        gated: &LoadedNode,
        task: &TaskInput,
        attempt: u32,
        judges: &[String],
        text: String,
        last: bool,
        p: &mut Progress,
    ) -> Result<Result<String, Gate>, RunError> {
        let index = p.index;
        p.index += 1;
        match self
            .check_window(gated, task, attempt, judges, text, index, last, &p.accepted)
            .await?
        {
            WindowVerdict::Pass(text) => {
                p.accepted.push_str(&text);
                Ok(Ok(text))
            }
            WindowVerdict::Reject { by, reasons } => Ok(Err(Gate::Reject { by, reasons })),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn check_window(
        &self,
        gated: &LoadedNode,
        task: &TaskInput,
        attempt: u32,
        judges: &[String],
        mut text: String,
        index: u32,
        last: bool,
        before: &str,
    ) -> Result<WindowVerdict, RunError> {
        // Each round either settles or takes one judge's repair; more
        // rounds than judges means repairs that never agree.
        for _ in 0..=judges.len() {
            let window = Window {
                text: text.clone(),
                before: before.to_string(),
                index,
                last,
            };
            let calls = judges.iter().map(|name| {
                let judge = self.pipeline.node(name).expect("judges are loaded");
                let call = NodeCall::CheckWindow {
                    task: task.clone(),
                    window: window.clone(),
                };
                self.invoke(judge, Some(&gated.spec.name), attempt, call)
            });
            let answers = join_all(calls).await;
            let mut repair = None;
            for (name, inv) in judges.iter().zip(answers) {
                match inv.result {
                    Ok(NodeOutput::Verdict(Verdict::Accept)) => {}
                    Ok(NodeOutput::Verdict(Verdict::Repair { output })) => {
                        if repair.is_none() && output != text {
                            repair = Some(output);
                        }
                    }
                    Ok(NodeOutput::Verdict(Verdict::Reject { reasons })) => {
                        return Ok(WindowVerdict::Reject {
                            by: format!("judge `{name}` (window {index})"),
                            reasons,
                        });
                    }
                    Ok(other) => {
                        let judge = self.pipeline.node(name).expect("judges are loaded");
                        return Err(super::executor::unexpected(judge, &other));
                    }
                    Err(error) => return Err(RunError::Node { error }),
                }
            }
            match repair {
                None => return Ok(WindowVerdict::Pass(text)),
                Some(r) => text = r,
            }
        }
        Ok(WindowVerdict::Reject {
            by: format!("the window judges of `{}`", gated.spec.name),
            reasons: vec![format!(
                "their repairs of window {index} did not settle on a text all of them accept"
            )],
        })
    }

    /// Sends one accepted window to the watcher.
    fn release(&self, gated: &LoadedNode, reply: &StreamReply, window: u32, text: String) {
        emit(self.events.as_ref(), || RunEvent::Released {
            node: gated.spec.name.clone(),
            field: reply.field.clone(),
            window,
            text,
        });
    }

    /// A rejection: before any release, the policy's business; after it, a
    /// cut stream and a failed run.
    fn rejected(&self, gated: &LoadedNode, p: &Progress, reject: Gate) -> Result<Gate, RunError> {
        let Gate::Reject { by, reasons } = reject else {
            return Ok(reject);
        };
        if !p.released {
            return Ok(Gate::Reject { by, reasons });
        }
        let reason = format!("{by}: {}", reasons.join("; "));
        Err(
            self.cut(gated, p, "rejected", reason, || RunError::Rejected {
                node: gated.spec.name.clone(),
                by,
                reasons,
            }),
        )
    }

    /// The error that ends the run, after telling the watcher the stream
    /// was cut when text had been released.
    fn cut(
        &self,
        gated: &LoadedNode,
        p: &Progress,
        kind: &str,
        reason: String,
        error: impl FnOnce() -> RunError,
    ) -> RunError {
        if p.released {
            emit(self.events.as_ref(), || RunEvent::StreamCut {
                node: gated.spec.name.clone(),
                kind: kind.to_string(),
                reason,
            });
        }
        error()
    }
}

/// Whether `value` (the output after the whole-output judges) still holds
/// exactly the streamed text where the reply put it.
fn holds_text(reply: &StreamReply, value: &Value, text: &str) -> bool {
    let at = match &reply.field {
        Some(f) => value.get(f),
        None => Some(value),
    };
    at.and_then(Value::as_str) == Some(text)
}

/// How one worker's streamed output will be released, as `validate`
/// explains it and load and swap check it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPlan {
    /// The worker.
    pub node: String,
    /// Its window.
    pub window: WindowRule,
    /// Its judges that check windows (run in parallel on each window).
    pub window_judges: Vec<String>,
    /// What runs only on the whole output: judges without a window check,
    /// and schemas on its output.
    pub whole_checks: Vec<String>,
    /// The manifest's choice for a late rejection.
    pub late_reject: Option<LateReject>,
}

impl StreamPlan {
    /// Why this plan cannot run: windows would be released while a
    /// whole-output check could still reject them, and the manifest does
    /// not say what that means.
    pub fn problem(&self) -> Option<String> {
        if self.window == WindowRule::Whole
            || self.late_reject.is_some()
            || self.whole_checks.is_empty()
        {
            return None;
        }
        Some(format!(
            "node `{}` streams its output in windows, but {} only see the whole output, after text was released; say what their rejection means",
            self.node,
            self.whole_checks.join(", ")
        ))
    }

    /// One paragraph for `validate`.
    pub fn explain(&self) -> String {
        let window = match self.window {
            WindowRule::Sentence => "sentence windows".to_string(),
            WindowRule::Chars(n) => format!("windows of {n} characters"),
            WindowRule::Tokens(n) => format!("windows of {n} tokens"),
            WindowRule::Whole => "one window (the whole output)".to_string(),
        };
        let judges = if self.window_judges.is_empty() {
            "no window judge".to_string()
        } else {
            format!("window judges {}", self.window_judges.join(", "))
        };
        let late = match (self.late_reject, self.whole_checks.is_empty()) {
            (Some(LateReject::Buffer), _) => {
                "it does not stream (late-reject = \"buffer\"): its text is held until every check passed the whole output".to_string()
            }
            (_, true) => "every check runs on windows, so nothing released can be rejected later".to_string(),
            (Some(LateReject::ContentFilter), false) => format!(
                "{} see only the whole output: a rejection then ends the stream with a typed error event and finish_reason \"content_filter\" (late-reject = \"content-filter\")",
                self.whole_checks.join(", ")
            ),
            (None, false) => "a late rejection's meaning is not set (stream.late-reject)".to_string(),
        };
        format!(
            "worker `{}` streams in {window}, each released after {judges} accepted it; {late}",
            self.node
        )
    }
}

/// The stream plan of every worker whose output may stream (a `stream`
/// table with a window smaller than the whole output).
pub fn stream_plans(nodes: &std::collections::BTreeMap<String, LoadedNode>) -> Vec<StreamPlan> {
    let consumers = |producer: String| {
        nodes
            .values()
            .filter(move |c| c.spec.deps.len() == 1 && c.spec.deps[0] == producer)
    };
    nodes
        .values()
        .filter(|n| n.spec.stream.window != WindowRule::Whole)
        .map(|n| {
            let (window_judges, mut whole_checks): (Vec<String>, Vec<String>) =
                n.spec.judges.iter().cloned().partition(|j| {
                    nodes
                        .get(j)
                        .is_some_and(|j| j.component.description.checks_windows)
                });
            for w in &mut whole_checks {
                *w = format!("judge `{w}`");
            }
            if n.output_schema.is_some() {
                whole_checks.push("its output-schema".into());
            }
            for c in consumers(n.spec.name.clone()) {
                if c.input_schema.is_some() {
                    whole_checks.push(format!("the input-schema of `{}`", c.spec.name));
                }
            }
            StreamPlan {
                node: n.spec.name.clone(),
                window: n.spec.stream.window,
                window_judges,
                whole_checks,
                late_reject: n.spec.stream.late_reject,
            }
        })
        .collect()
}

/// The hint for a [`StreamPlan::problem`].
pub const LATE_REJECT_HINT: &str = "add late-reject = \"content-filter\" to the node's `stream` table (windows go out as the window judges pass them; a late rejection ends the stream with finish_reason \"content_filter\" and a typed error event), or late-reject = \"buffer\" (the worker does not stream: its text is held until every check passed)";
