//! The model layer: the [`ModelProvider`] trait, the `sim`, `openai` and
//! `anthropic` providers, tool calls, embeddings, prices and exact costs,
//! the per-run cost ledger, and the [`ModelHub`] through which every model
//! call from a node is made.

pub mod anthropic;
mod breaker;
mod budget;
mod cache;
mod content;
pub mod embed;
pub mod extra;
mod hub;
mod ledger;
pub mod openai;
mod replay;
pub mod sim;
mod throttle;
pub mod tools;
mod types;

use async_trait::async_trait;

pub use breaker::{Breaker, BreakerState, Permit, Refused};
pub use budget::{Reservation, RunBudget};
pub use cache::ResponseCache;
pub use content::CallContent;
// Settings and money live in the leaf `spec` module; re-exported here.
pub use crate::spec::{BreakerSpec, BudgetSpec, CacheSpec, Cost, Price};
pub use embed::{EmbedRequest, EmbedResponse};
pub use hub::{Caller, HubError, ModelHub};
pub use ledger::{CallOutcome, Ledger, LedgerEntry, Operation, Totals};
pub use replay::{RecordedAttempt, RecordedCall, ReplayBook, Unrecorded};
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
