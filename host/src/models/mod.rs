//! The model layer: the [`ModelProvider`] trait, the `sim`, `openai` and
//! `anthropic` providers, tool calls, embeddings, prices and exact costs,
//! the per-run cost ledger, and the [`ModelHub`] through which every model
//! call from a node is made, whole or streamed ([`HubStream`]).

pub mod anthropic;
mod attempt;
mod breaker;
mod budget;
mod cache;
mod content;
pub mod embed;
pub mod extra;
mod hub;
mod hub_stream;
mod ledger;
pub mod openai;
pub mod rate;
mod replay;
pub mod sim;
pub mod spend;
pub mod sse;
mod stream;
#[cfg(test)]
mod stream_tests;
mod throttle;
pub mod tools;
mod types;

use async_trait::async_trait;

pub use breaker::{Breaker, BreakerState, BreakerStore, Permit, Refused};
pub use budget::{Reservation, RunBudget, RunSpend};
pub use cache::{CacheStore, ResponseCache};
pub use content::CallContent;
// Settings and money live in the leaf `spec` module; re-exported here.
pub use crate::spec::{BreakerSpec, BudgetSpec, CacheSpec, Cost, Price};
pub use embed::{EmbedRequest, EmbedResponse};
pub use hub::{Caller, HubError, ModelHub};
pub use hub_stream::HubStream;
pub use ledger::{CallOutcome, Ledger, LedgerEntry, Operation, Totals};
pub use rate::{Charge, RateLimiter, RateStore};
pub use replay::{RecordedAttempt, RecordedCall, ReplayBook, Unrecorded};
pub use spend::{Counter, Counts, SpendHold, SpendRefused, SpendStore, Spending};
pub use stream::{HubChunk, ProviderStream, StreamCaller, StreamEvent};
pub use types::{
    estimate_prompt_tokens, estimate_tokens, ChatMessage, ChatRequest, ChatResponse, ChatRole,
    ModelError, ProviderError, ResponseFormat, ToolCall, ToolChoice, ToolDef, Usage,
};

/// Something that answers chat completions (and, for embedding models,
/// embeddings).
///
/// Providers make one attempt and say whether retrying may help; the hub
/// around them applies grants, budgets, timeouts, retries, fallbacks, the
/// circuit breaker, the cache and accounting.
#[async_trait]
pub trait ModelProvider: Send + Sync {
    /// Sends `req` to model `upstream` (the provider's own id).
    async fn complete(
        &self,
        upstream: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError>;

    /// Streams the answer to `req` from model `upstream`: text deltas,
    /// then one [`StreamEvent::Done`] (with any tool calls). By default the
    /// whole answer of [`ModelProvider::complete`] as one delta.
    async fn stream(
        &self,
        upstream: &str,
        req: &ChatRequest,
    ) -> Result<ProviderStream, ProviderError> {
        use futures::StreamExt;
        let answer = self.complete(upstream, req).await?;
        let done = StreamEvent::Done {
            usage: Some(answer.usage),
            finish_reason: answer.finish_reason,
            tool_calls: answer.tool_calls,
        };
        Ok(futures::stream::iter([Ok(StreamEvent::Delta(answer.content)), Ok(done)]).boxed())
    }

    /// Embeds `req.inputs` with model `upstream`. Providers without an
    /// embeddings endpoint keep this default, which refuses the call.
    async fn embed(
        &self,
        upstream: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let _ = req;
        Err(ProviderError::permanent(ModelError::InvalidRequest(
            format!("the provider of model `{upstream}` has no embeddings endpoint"),
        )))
    }
}
