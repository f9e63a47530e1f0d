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
//! A failed call is a [`ModelError`] value, never a trap; `?` converts it to
//! [`NodeError::Model`](crate::types::NodeError::Model). Outside a component
//! (native unit tests) there is no host: these functions must only be called
//! from a running node.

use crate::bindings::imports::switchyard::node::models as host;
use crate::types::{Completion, CompletionRequest, ModelError};

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
