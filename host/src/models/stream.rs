//! Streamed completions: what a provider's stream yields
//! ([`StreamEvent`]), who streams ([`StreamCaller`]) and what the hub's
//! stream of one call ([`super::HubStream`], in `hub_stream`) yields
//! ([`HubChunk`]). A hub stream is polled inline by its consumer (no task
//! is spawned, so dropping it stops everything at once).
//!
//! A stream takes the same path as a whole call — grant, replay book,
//! cache, fallback chain, breaker, back-pressure, budget, one priced
//! ledger entry per attempt — with two timeouts: the policy's `timeout`
//! bounds the wait for the first chunk, `idle_timeout` each later gap.
//!
//! The release rule: until the consumer has released a chunk
//! ([`super::HubStream::release`]), a failed attempt is retried or falls back
//! transparently ([`HubChunk::Restart`] voids what came before). Once a
//! chunk of the answering attempt was released, a failure ends the stream
//! with a typed [`ModelError`].
//!
//! Pricing: a stream that ended well is priced as the same whole call
//! would be (the upstream's reported usage, else estimates). An attempt
//! cut off after its stream opened — failed, stalled, or dropped by the
//! consumer — is priced at the input tokens plus the output tokens
//! received (estimated from the text), recorded `cancelled` once text had
//! arrived (or when dropped), else with its error's outcome.

use std::sync::Arc;
use std::time::Instant;

use super::budget::RunBudget;
use super::cache::ResponseCache;
use super::hub::Caller;
use super::ledger::Ledger;
use super::types::{ChatResponse, ProviderError, ToolCall, Usage};
use crate::spec::{PolicyOverride, SpanParent};

/// What a provider's stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// More generated text.
    Delta(String),
    /// The upstream's end marker: its reported usage (if it sent one),
    /// why generation stopped, and the tool calls the answer makes (a
    /// provider accumulates their streamed fragments; empty for none).
    Done {
        /// Tokens used, as reported.
        usage: Option<Usage>,
        /// Why generation stopped.
        finish_reason: Option<String>,
        /// The tool calls, whole.
        tool_calls: Vec<ToolCall>,
    },
}

/// A provider's streamed answer.
pub type ProviderStream = futures::stream::BoxStream<'static, Result<StreamEvent, ProviderError>>;

/// An owned caller (no borrows), so a stream can outlive the invocation
/// that started it. The fields mean what [`Caller`]'s do.
#[derive(Debug, Clone)]
pub struct StreamCaller {
    /// Node name.
    pub node: String,
    /// Models the node may call.
    pub granted: Arc<[String]>,
    /// Where attempts are recorded.
    pub ledger: Arc<Ledger>,
    /// The node's overrides of its models' call policies.
    pub overrides: PolicyOverride,
    /// The node's response cache, if it opted in.
    pub cache: Option<Arc<ResponseCache>>,
    /// The run's budgets, if any apply.
    pub budget: Option<Arc<RunBudget>>,
    /// When the caller stops waiting.
    pub deadline: Option<Instant>,
    /// The invocation's span.
    pub trace: Option<SpanParent>,
}

impl StreamCaller {
    /// A caller with no overrides, cache, budget, deadline or trace.
    pub fn new(node: impl Into<String>, granted: Arc<[String]>, ledger: Arc<Ledger>) -> Self {
        Self {
            node: node.into(),
            granted,
            ledger,
            overrides: PolicyOverride::default(),
            cache: None,
            budget: None,
            deadline: None,
            trace: None,
        }
    }

    /// The borrowed caller the hub's shared code takes.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            node: &self.node,
            granted: &self.granted,
            ledger: &self.ledger,
            overrides: &self.overrides,
            cache: self.cache.as_deref(),
            budget: self.budget.as_deref(),
            deadline: self.deadline,
            trace: self.trace,
        }
    }
}

/// What a [`super::HubStream`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum HubChunk {
    /// More text.
    Delta(String),
    /// Everything received before is void: the attempt failed before
    /// anything was released and the hub retried or fell back
    /// transparently. The consumer discards its buffered text.
    Restart,
    /// The end: the full text, the manifest model that answered, usage
    /// (reported, else estimated), finish reason and tool calls.
    Done(ChatResponse),
}
