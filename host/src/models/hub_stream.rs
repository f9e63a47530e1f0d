//! [`HubStream`]: one streamed call walking the hub's path — grant,
//! replay, cache, fallback chain, breaker, back-pressure, budget, one
//! priced ledger entry per attempt — as a state machine its consumer
//! polls inline (see [`super::stream`] for the rules it keeps).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;

use super::attempt::{admit, after_failure, ends_chain, record, Attempt, Stamp, Tries};
use super::breaker::{Detached, Permit};
use super::budget::Reservation;
use super::content::CallContent;
use super::hub::{reserved, settle_cap, traceparent, ModelHub};
use super::ledger::{CallOutcome, Operation};
use super::stream::{HubChunk, ProviderStream, StreamCaller, StreamEvent};
use super::types::{
    estimate_prompt_tokens, estimate_tokens, ChatRequest, ChatResponse, ModelError, ProviderError,
    ToolCall, Usage,
};
use crate::spec::{CallPolicy, SpanId};

/// The attempt whose stream is being read.
struct Open {
    stream: ProviderStream,
    attempt: u32,
    stamp: Stamp,
    permit: Option<Detached>,
    reservation: Option<Reservation>,
    /// The text received so far.
    text: String,
    /// When the first chunk is due.
    first_by: Instant,
    /// A chunk has come.
    received: bool,
}

/// One streamed call; see the module documentation.
pub struct HubStream {
    hub: Arc<ModelHub>,
    caller: StreamCaller,
    /// The request as settled (with its output cap).
    req: ChatRequest,
    attempts: Vec<SpanId>,
    chain: Vec<(String, CallPolicy)>,
    /// The model of the chain being tried.
    link: usize,
    tries: Tries,
    open: Option<Open>,
    pending: VecDeque<HubChunk>,
    last: ModelError,
    answering: String,
    started: bool,
    ended: bool,
    /// A `next` is in progress (if one is found on entry, the previous
    /// was abandoned mid-way).
    busy: bool,
    released: bool,
    /// A delta of the open attempt was handed out.
    delivered: bool,
}

impl ModelHub {
    /// Starts a streamed call on behalf of `caller`. Nothing happens until
    /// the first [`HubStream::next`]; a refusal (grant, budget) comes out
    /// of it.
    pub fn stream(self: &Arc<Self>, caller: StreamCaller, mut req: ChatRequest) -> HubStream {
        settle_cap(&mut req);
        HubStream {
            hub: Arc::clone(self),
            caller,
            attempts: Vec::new(),
            chain: Vec::new(),
            link: 0,
            tries: Tries::default(),
            open: None,
            pending: VecDeque::new(),
            last: ModelError::Unavailable(format!("model `{}` was not tried", req.model)),
            answering: req.model.clone(),
            req,
            started: false,
            ended: false,
            busy: false,
            released: false,
            delivered: false,
        }
    }
}

impl HubStream {
    /// The next chunk; `None` after `Done` or after an error.
    pub async fn next(&mut self) -> Option<Result<HubChunk, ModelError>> {
        if self.ended {
            return None;
        }
        if self.busy {
            self.ended = true;
            self.cut_off();
            return Some(Err(ModelError::Unavailable(
                "the stream was interrupted: a wait for its next chunk was abandoned".into(),
            )));
        }
        self.busy = true;
        let item = self.step().await;
        self.busy = false;
        if !matches!(item, Some(Ok(HubChunk::Delta(_) | HubChunk::Restart))) {
            self.ended = true;
        }
        item
    }

    /// From now on no [`HubChunk::Restart`]: once a chunk has been handed
    /// out, a failure ends the stream with an error. (Until the answering
    /// attempt's first chunk, retries stay invisible, so stay allowed.)
    pub fn release(&mut self) {
        self.released = true;
    }

    /// The manifest model currently answering (the one asked for until a
    /// fallback's stream opens).
    pub fn model(&self) -> &str {
        &self.answering
    }

    async fn step(&mut self) -> Option<Result<HubChunk, ModelError>> {
        if !self.started {
            self.started = true;
            if let Some(Err(e)) = self.start() {
                return Some(Err(e));
            }
        }
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(Ok(chunk));
            }
            if self.open.is_none() {
                if let Err(e) = self.begin().await {
                    self.capture(Err(e.clone()));
                    return Some(Err(e));
                }
            }
            if let Some(item) = self.read().await {
                return Some(item);
            }
        }
    }

    /// Grant, replay and cache; a hit is queued as one delta and `Done`.
    fn start(&mut self) -> Option<Result<(), ModelError>> {
        let hub = Arc::clone(&self.hub);
        let answer = hub.preflight(self.caller.caller(), &self.req, &mut self.attempts);
        match answer {
            Some(Ok(resp)) => {
                self.capture(Ok(resp.clone()));
                if !resp.content.is_empty() {
                    self.pending
                        .push_back(HubChunk::Delta(resp.content.clone()));
                }
                self.answering.clone_from(&resp.model);
                self.pending.push_back(HubChunk::Done(resp));
                Some(Ok(()))
            }
            Some(Err(e)) => {
                self.capture(Err(e.clone()));
                Some(Err(e))
            }
            None => {
                self.chain = hub.chain(&self.caller.overrides, &self.req.model);
                None
            }
        }
    }

    /// Opens an attempt, walking retries and the chain, until one opens or
    /// none is left.
    async fn begin(&mut self) -> Result<(), ModelError> {
        let hub = Arc::clone(&self.hub);
        loop {
            let Some((name, policy)) = self.chain.get(self.link).cloned() else {
                return Err(self.last.clone());
            };
            let Some(model) = hub.models.get(&name) else {
                self.link += 1;
                continue;
            };
            let may_fall_back = self.link + 1 < self.chain.len();
            let caller = self.caller.caller();
            let mut guard = Attempt {
                caller,
                spec: &model.spec,
                attempt: self.tries.attempt,
                fallback_from: (self.link > 0).then_some(self.req.model.as_str()),
                stamp: Stamp::now(),
                finished: false,
                finish_reason: None,
                operation: Operation::Complete,
            };
            self.attempts.push(guard.stamp.span_id);
            let (prompt, output) = reserved(&self.req);
            let cost = model.spec.price.cost(prompt, output);
            let admitted = admit(caller, model, may_fall_back, prompt + output, cost).await;
            let (permit, reservation) = match admitted {
                Ok(a) => a,
                Err((err, outcome)) => {
                    guard.settle(Usage::default(), outcome);
                    drop(guard);
                    self.give_up_link(err)?;
                    continue;
                }
            };
            let mut req = self.req.clone();
            req.model.clone_from(&name);
            req.attempt = self.tries.attempt;
            guard.stamp = guard.stamp.restarted();
            req.traceparent = traceparent(caller, &guard.stamp);
            let first_by = Instant::now() + policy.timeout;
            let opened = tokio::time::timeout_at(
                first_by.into(),
                model.provider.stream(&model.spec.upstream, &req),
            )
            .await
            .unwrap_or_else(|_| Err(ProviderError::transient(ModelError::Timeout)));
            match opened {
                Ok(stream) => {
                    // The attempt now records itself when it ends.
                    guard.finished = true;
                    let stamp = guard.stamp;
                    drop(guard);
                    self.answering = name;
                    self.delivered = false;
                    self.open = Some(Open {
                        stream,
                        attempt: self.tries.attempt,
                        stamp,
                        permit: permit.map(Permit::detach),
                        reservation,
                        text: String::new(),
                        first_by,
                        received: false,
                    });
                    return Ok(());
                }
                Err(e) => {
                    // No answer began: priced as a failed whole call.
                    let usage = if e.answered {
                        Usage {
                            input_tokens: prompt,
                            output_tokens: output,
                            estimated: true,
                        }
                    } else {
                        Usage::default()
                    };
                    if let (Some(b), Some(r)) = (caller.budget, reservation) {
                        b.settle(
                            r,
                            usage.input_tokens + usage.output_tokens,
                            model
                                .spec
                                .price
                                .cost(usage.input_tokens, usage.output_tokens),
                        );
                    }
                    guard.settle(usage, CallOutcome::from(&e.error));
                    drop(guard);
                    let retry = after_failure(
                        self.caller.caller(),
                        model,
                        &policy,
                        may_fall_back,
                        &mut self.tries,
                        e,
                        permit,
                    )
                    .await;
                    if let Err(e) = retry {
                        self.give_up_link(e)?;
                    }
                }
            }
        }
    }

    /// Reads the open attempt: a chunk to hand out, or `None` when it
    /// failed and the hub retries (the caller loops).
    async fn read(&mut self) -> Option<Result<HubChunk, ModelError>> {
        let idle = self.chain.get(self.link)?.1.idle_timeout;
        let open = self.open.as_mut()?;
        let by = if open.received {
            Instant::now() + idle
        } else {
            open.first_by
        };
        let item = match tokio::time::timeout_at(by.into(), open.stream.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => Err(ProviderError::unusable_answer(ModelError::Unavailable(
                "the stream was truncated: it ended without its final chunk".into(),
            ))),
            Err(_) => Err(ProviderError::transient(ModelError::Timeout)),
        };
        // Tool calls past their bounds make the answer unusable, as in a
        // whole call.
        let item = item.and_then(|ev| {
            if let StreamEvent::Done { tool_calls, .. } = &ev {
                super::tools::check_answer_calls(tool_calls)
                    .map_err(ProviderError::unusable_answer)?;
            }
            Ok(ev)
        });
        match item {
            Ok(StreamEvent::Delta(text)) => {
                open.received = true;
                if text.is_empty() {
                    return None;
                }
                open.text.push_str(&text);
                self.delivered = true;
                Some(Ok(HubChunk::Delta(text)))
            }
            Ok(StreamEvent::Done {
                usage,
                finish_reason,
                tool_calls,
            }) => Some(Ok(self.finish(usage, finish_reason, tool_calls))),
            Err(e) => match self.failed(e).await {
                Ok(()) => None,
                Err(e) => {
                    self.capture(Err(e.clone()));
                    Some(Err(e))
                }
            },
        }
    }

    /// The open attempt ended well.
    fn finish(
        &mut self,
        usage: Option<Usage>,
        finish_reason: Option<String>,
        tool_calls: Vec<ToolCall>,
    ) -> HubChunk {
        let Some(open) = self.open.take() else {
            return HubChunk::Restart;
        };
        let usage = usage.unwrap_or_else(|| {
            Usage::reported_or_estimated(None, None, &self.req.messages, &open.text)
        });
        let resp = ChatResponse {
            content: open.text.clone(),
            usage,
            model: self.answering.clone(),
            finish_reason: finish_reason.clone(),
            tool_calls,
        };
        let hub = Arc::clone(&self.hub);
        if let Some(p) = self.settle(&hub, open, usage, CallOutcome::Ok, finish_reason) {
            p.success();
        }
        // A shared cache is filled by whole calls only (docs/models.md).
        if let Some(c) = self
            .caller
            .cache
            .as_ref()
            .filter(|_| hub.cache_store.is_none())
        {
            c.put(&self.req, &resp);
        }
        self.capture(Ok(resp.clone()));
        HubChunk::Done(resp)
    }

    /// The open attempt failed with `e`: retry or fall back (`Ok`) while
    /// nothing of it was released, else end with the error.
    async fn failed(&mut self, e: ProviderError) -> Result<(), ModelError> {
        let Some(open) = self.open.take() else {
            return Err(e.error);
        };
        let outcome = if open.text.is_empty() {
            CallOutcome::from(&e.error)
        } else {
            CallOutcome::Cancelled
        };
        let usage = self.cut_usage(&open);
        let hub = Arc::clone(&self.hub);
        let Some((name, policy)) = self.chain.get(self.link).cloned() else {
            return Err(e.error);
        };
        let Some(model) = hub.models.get(&name) else {
            return Err(e.error);
        };
        let permit = self.settle(&hub, open, usage, outcome, None);
        if self.released && self.delivered {
            if let Some(p) = permit {
                if e.retryable && e.error != ModelError::RateLimited {
                    p.failure();
                } else {
                    p.neutral();
                }
            }
            return Err(e.error);
        }
        if std::mem::take(&mut self.delivered) {
            self.pending.push_back(HubChunk::Restart);
        }
        let may_fall_back = self.link + 1 < self.chain.len();
        let retry = after_failure(
            self.caller.caller(),
            model,
            &policy,
            may_fall_back,
            &mut self.tries,
            e,
            permit,
        )
        .await;
        match retry {
            Ok(()) => Ok(()),
            Err(e) => self.give_up_link(e),
        }
    }

    /// Leaves the current model of the chain after `e`; `Err` when no
    /// other may answer.
    fn give_up_link(&mut self, e: ModelError) -> Result<(), ModelError> {
        if ends_chain(&e) {
            return Err(e);
        }
        self.last = e;
        self.link += 1;
        self.tries = Tries::default();
        if self.link >= self.chain.len() {
            return Err(self.last.clone());
        }
        Ok(())
    }

    /// What an attempt cut off is priced at: the input tokens and the
    /// output tokens received.
    fn cut_usage(&self, open: &Open) -> Usage {
        Usage {
            input_tokens: estimate_prompt_tokens(&self.req.messages),
            output_tokens: estimate_tokens(&open.text),
            estimated: true,
        }
    }

    /// Settles the budget and records the attempt; its breaker permit
    /// comes back to be reported on.
    fn settle<'h>(
        &self,
        hub: &'h ModelHub,
        open: Open,
        usage: Usage,
        outcome: CallOutcome,
        finish_reason: Option<String>,
    ) -> Option<Permit<'h>> {
        let model = hub.models.get(self.chain.get(self.link)?.0.as_str())?;
        let spec = &model.spec;
        if let (Some(b), Some(r)) = (&self.caller.budget, open.reservation) {
            b.settle(
                r,
                usage.input_tokens + usage.output_tokens,
                spec.price.cost(usage.input_tokens, usage.output_tokens),
            );
        }
        record(
            self.caller.caller(),
            spec,
            open.attempt,
            (self.link > 0).then_some(self.req.model.as_str()),
            usage,
            outcome,
            open.stamp,
            finish_reason,
        );
        tracing::debug!(node = %self.caller.node, model = %spec.name, attempt = open.attempt, outcome = outcome.as_str(), "model stream");
        let permit = open.permit?;
        model.breaker.as_ref().map(|b| b.attach(permit))
    }

    /// Records an attempt still open as `cancelled`, with what it received.
    fn cut_off(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        let usage = self.cut_usage(&open);
        let hub = Arc::clone(&self.hub);
        let permit = self.settle(&hub, open, usage, CallOutcome::Cancelled, None);
        if let Some(p) = permit {
            p.neutral();
        }
    }

    /// Keeps the call whole in the ledger, when the run captures content.
    fn capture(&self, result: Result<ChatResponse, ModelError>) {
        if self.caller.ledger.captures() {
            self.caller.ledger.capture(CallContent {
                node: self.caller.node.clone(),
                attempts: self.attempts.clone(),
                request: self.req.clone(),
                result,
            });
        }
    }
}

impl Drop for HubStream {
    fn drop(&mut self) {
        self.cut_off();
    }
}

impl std::fmt::Debug for HubStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubStream")
            .field("node", &self.caller.node)
            .field("model", &self.answering)
            .field("released", &self.released)
            .field("ended", &self.ended)
            .finish()
    }
}
