//! What a run reports while it runs, for a client watching it live (the
//! SSE variants of `/v1/runs` and `/v1/chat/completions`): nodes starting,
//! routes, verdicts, policy decisions, and above all the text of a streamed
//! output, released window by window only after every window judge passed
//! it. Events go to an unbounded channel: a run never waits for its
//! watcher, and a watcher that went away costs nothing.

use serde::Serialize;
use tokio::sync::mpsc;

use super::outcome::PolicyEvent;
use crate::engine::{JudgeScore, RouteChoice};

/// One thing that happened in a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum RunEvent {
    /// A node invocation started.
    NodeStarted {
        /// The node.
        node: String,
        /// For a judge: the node whose output it checks.
        #[serde(skip_serializing_if = "Option::is_none")]
        gates: Option<String>,
        /// Attempt, from 0.
        attempt: u32,
    },
    /// A router picked a branch.
    Route {
        /// The router.
        node: String,
        /// Its choice.
        #[serde(flatten)]
        choice: RouteChoice,
    },
    /// A judge answered (on the whole output, or on one window).
    Verdict {
        /// The judge.
        node: String,
        /// The node whose output it judged.
        gates: String,
        /// `accept`, `reject` or `repair`.
        verdict: &'static str,
        /// The window's index, for a window check.
        #[serde(skip_serializing_if = "Option::is_none")]
        window: Option<u32>,
        /// Its score, if it gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        score: Option<JudgeScore>,
    },
    /// An `on-reject` decision.
    Policy(PolicyEvent),
    /// Text of a streamed output that every window judge accepted (or
    /// repaired into this form): it may go to the client.
    Released {
        /// The output's position in the flow (the gated node; after an
        /// escalation, the worker that produced it may be another).
        node: String,
        /// The output field the text belongs to (`None`: the output is the
        /// text itself).
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        /// The window's index.
        window: u32,
        /// The text.
        text: String,
    },
    /// A stream that had released text ended without finishing: a window
    /// or late rejection, or a failure after the first release.
    StreamCut {
        /// The output's position in the flow.
        node: String,
        /// `rejected` or the failure's kind.
        kind: String,
        /// Why.
        reason: String,
    },
}

/// Where a run sends its events.
pub type EventSink = mpsc::UnboundedSender<RunEvent>;

/// Sends `event` if anyone watches.
pub(super) fn emit(sink: Option<&EventSink>, event: impl FnOnce() -> RunEvent) {
    if let Some(s) = sink {
        // A watcher that went away is not an error of the run.
        let _ = s.send(event());
    }
}
