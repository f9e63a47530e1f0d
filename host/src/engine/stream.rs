//! A model stream held by the host on a 0.2 node's behalf: the
//! `completion-stream` resource. The node reads it chunk by chunk, or hands
//! it back unread as its reply; either way the host owns the stream and
//! every byte of it. Dropping it cancels the call (the ledger keeps the
//! tokens received, as `cancelled`).

use crate::models::{HubChunk, HubStream, ModelError, ToolCall, Usage};

/// One piece of a stream, as its consumer sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamChunk {
    /// More text.
    Delta(String),
    /// Everything received so far is void: the call failed before any of
    /// it was released and was retried or fell back transparently.
    Restart,
    /// The end: the manifest model that answered, tokens, why it stopped,
    /// and the tool calls the answer makes.
    Done {
        /// The model.
        model: String,
        /// Tokens.
        usage: Usage,
        /// Why it stopped, as the upstream said.
        finish_reason: Option<String>,
        /// The tool calls (empty for none).
        tool_calls: Vec<ToolCall>,
    },
}

/// The host side of a `completion-stream` handle: the hub's stream of one
/// call, with the grant, budget, breaker, retries and ledger of the node
/// that started it.
pub struct ModelStream {
    inner: HubStream,
    /// Set once a chunk went to the node itself: from then on nothing may
    /// restart (the node cannot take back what it read).
    read_by_node: bool,
}

impl ModelStream {
    /// Wraps a hub stream.
    pub fn new(inner: HubStream) -> Self {
        Self {
            inner,
            read_by_node: false,
        }
    }

    /// The next chunk; `None` after `Done` or an error.
    pub async fn next(&mut self) -> Option<Result<StreamChunk, ModelError>> {
        Some(self.inner.next().await?.map(|c| match c {
            HubChunk::Delta(d) => StreamChunk::Delta(d),
            HubChunk::Restart => StreamChunk::Restart,
            HubChunk::Done(resp) => StreamChunk::Done {
                model: resp.model,
                usage: resp.usage,
                finish_reason: resp.finish_reason,
                tool_calls: resp.tool_calls,
            },
        }))
    }

    /// The next chunk for the node reading it itself: it cannot discard
    /// what it read, so the stream is released from its first chunk on (a
    /// later failure ends it, typed, instead of restarting).
    pub async fn next_for_node(&mut self) -> Option<Result<StreamChunk, ModelError>> {
        if !self.read_by_node {
            self.read_by_node = true;
            self.inner.release();
        }
        self.next().await
    }

    /// Marks the stream's text as released to a client: from now on a
    /// failure ends the stream instead of being retried.
    pub fn release(&mut self) {
        self.inner.release();
    }

    /// The manifest model answering.
    pub fn model(&self) -> &str {
        self.inner.model()
    }
}

/// Reads a streamed reply to its end (restarts discard what came before)
/// and returns the node's output: what a consumer that releases nothing
/// early, such as `test-node`, makes of it.
pub async fn collect(reply: &super::StreamReply) -> Result<serde_json::Value, ModelError> {
    let Some(mut stream) = reply.take() else {
        return Err(ModelError::Unavailable(
            "the stream was already read".into(),
        ));
    };
    let mut text = String::new();
    loop {
        match stream.next().await {
            Some(Ok(StreamChunk::Delta(d))) => text.push_str(&d),
            Some(Ok(StreamChunk::Restart)) => text.clear(),
            Some(Ok(StreamChunk::Done { .. })) => return Ok(reply.output(&text)),
            Some(Err(e)) => return Err(e),
            None => {
                return Err(ModelError::Unavailable(
                    "the stream ended without its final chunk".into(),
                ))
            }
        }
    }
}
