//! What a run's model calls said: for each call a node made, the request
//! as the node made it, the spans of the attempts it took (one ledger
//! entry each) and the answer or error the node got. Captured only when a
//! run asks for it (content export, or a recording), kept beside the
//! ledger, never in the run's record.

use super::types::{ChatRequest, ChatResponse, ModelError};
use crate::spec::SpanId;

/// One call a node made, whole.
#[derive(Debug, Clone, PartialEq)]
pub struct CallContent {
    /// The calling node.
    pub node: String,
    /// The spans of its attempts, in order: the ledger entries it made.
    pub attempts: Vec<SpanId>,
    /// The request as the node made it (with the output cap the hub set).
    pub request: ChatRequest,
    /// What the node got back.
    pub result: Result<ChatResponse, ModelError>,
}

impl CallContent {
    /// The answer's text, when the call was answered.
    pub fn output(&self) -> Option<&str> {
        self.result.as_ref().ok().map(|r| r.content.as_str())
    }

    /// True when `span` is the attempt that produced the answer.
    pub fn answered_by(&self, span: SpanId) -> bool {
        self.result.is_ok() && self.attempts.last() == Some(&span)
    }

    /// Every text in it, in a fixed order: the messages, then the answer.
    /// [`CallContent::replace_texts`] takes them back in the same order.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.request
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .chain(self.output())
    }

    /// Replaces every text, in the order of [`CallContent::texts`].
    pub fn replace_texts(&mut self, texts: &mut impl Iterator<Item = String>) {
        for m in &mut self.request.messages {
            if let Some(t) = texts.next() {
                m.content = t;
            }
        }
        if let Ok(r) = &mut self.result {
            if let Some(t) = texts.next() {
                r.content = t;
            }
        }
    }
}
