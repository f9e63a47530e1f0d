//! What a run's model calls said: the messages of each attempt and the
//! text it got back. Captured only when a run asks for it (message content
//! is opt-in: trace export with `[telemetry] content = true`), kept beside
//! the ledger and keyed by the attempt's span, never in the run's record.

use serde::Serialize;

use super::types::ChatMessage;
use crate::spec::SpanId;

/// The content of one model-call attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallContent {
    /// The attempt's span: the ledger entry this belongs to.
    pub span_id: SpanId,
    /// The messages sent (or that would have been sent).
    pub messages: Vec<ChatMessage>,
    /// The answer's text, when the attempt was answered (or served from
    /// the cache).
    pub output: Option<String>,
}

impl CallContent {
    /// Every text in it, in a fixed order: the messages, then the output.
    /// [`CallContent::replace_texts`] takes them back in the same order.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.messages
            .iter()
            .map(|m| m.content.as_str())
            .chain(self.output.as_deref())
    }

    /// Replaces every text, in the order of [`CallContent::texts`].
    pub fn replace_texts(&mut self, texts: &mut impl Iterator<Item = String>) {
        for m in &mut self.messages {
            if let Some(t) = texts.next() {
                m.content = t;
            }
        }
        if let Some(out) = &mut self.output {
            if let Some(t) = texts.next() {
                *out = t;
            }
        }
    }
}
