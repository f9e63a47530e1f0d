//! Model calls, made by the host on the node's behalf.
//!
//! The host applies the manifest's policy to every call (model grant,
//! budgets, timeouts, retries, fallbacks) and records it in the cost ledger;
//! the node never sees API keys or URLs. Build a request with
//! [`CompletionRequest::new`] and its builder methods, or use [`chat`] for
//! the common system + user case:
//!
//! ```no_run
//! use switchyard_node::prelude::*;
//!
//! # fn demo() -> Result<(), NodeError> {
//! let answer = models::chat("small", "Answer in one word.", "Capital of France?")?;
//! let scored = CompletionRequest::new("judge")
//!     .system("Score the reply from 0 to 1.")
//!     .user(answer.content)
//!     .temperature(0.0)
//!     .json_schema(json!({"type": "object", "required": ["score"]}))
//!     .send()?;
//! # Ok(()) }
//! ```
//!
//! A worker can also start a [`stream`] and hand it back unread as its reply
//! ([`Reply::stream`](crate::types::Reply::stream)), or read it itself with
//! `for chunk in stream { .. }` ([`CompletionStream`] is an iterator of
//! [`Chunk`]s) or [`CompletionStream::collect_text`]. [`embed`] embeds
//! texts. Tools go in the request ([`CompletionRequest::tool`]); the calls
//! the model asks for come back in [`Completion::tool_calls`].
//!
//! A failed call is a [`ModelError`] value, never a trap; `?` converts it to
//! [`NodeError::Model`](crate::types::NodeError::Model). Outside a component
//! (native unit tests) there is no host: these functions must only be called
//! from a running node.

use crate::bindings::imports::switchyard::node::models as host;
use crate::types::{
    Chunk, Completion, CompletionRequest, CompletionStream, EmbeddingRequest, Embeddings,
    FinishReason, ModelError, Usage,
};

/// Sends one completion request and waits for the answer.
pub fn complete(request: &CompletionRequest) -> Result<Completion, ModelError> {
    host::complete(request)
}

/// Sends several requests concurrently; the answers come back in order.
pub fn complete_batch(requests: &[CompletionRequest]) -> Vec<Result<Completion, ModelError>> {
    host::complete_batch(requests)
}

/// Asks `model` (its manifest name) for a free-text answer to one system
/// and one user message, with the host's defaults for everything else.
pub fn chat(
    model: &str,
    system: impl Into<String>,
    user: impl Into<String>,
) -> Result<Completion, ModelError> {
    complete(&CompletionRequest::new(model).system(system).user(user))
}

/// Starts a streamed completion, granted, budgeted and retried like
/// [`complete`]. Dropping the stream cancels the call.
pub fn stream(request: &CompletionRequest) -> Result<CompletionStream, ModelError> {
    host::stream(request)
}

/// Embeds `request.inputs` with an embedding model; one vector per input,
/// in order.
pub fn embed(request: &EmbeddingRequest) -> Result<Embeddings, ModelError> {
    host::embed(request)
}

/// Embeds `texts` with `model` (its manifest name).
pub fn embed_texts<I, S>(model: &str, texts: I) -> Result<Embeddings, ModelError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    embed(&EmbeddingRequest {
        model: model.to_owned(),
        inputs: texts.into_iter().map(Into::into).collect(),
    })
}

/// The chunks of a stream: text deltas, then one `done`; an error ends it.
impl Iterator for CompletionStream {
    type Item = Result<Chunk, ModelError>;

    fn next(&mut self) -> Option<Self::Item> {
        CompletionStream::next(self)
    }
}

impl CompletionStream {
    /// Reads the stream to its end: the whole answer, its `content` the
    /// concatenated deltas.
    pub fn collect_text(self) -> Result<Completion, ModelError> {
        let mut text = String::new();
        for chunk in self {
            match chunk? {
                Chunk::Delta(delta) => text.push_str(&delta),
                Chunk::Done(done) => {
                    return Ok(Completion {
                        content: text,
                        ..done
                    })
                }
            }
        }
        Ok(Completion {
            content: text,
            model: String::new(),
            usage: Usage {
                input_tokens: 0,
                output_tokens: 0,
            },
            tool_calls: Vec::new(),
            finish_reason: FinishReason::Other,
        })
    }
}
