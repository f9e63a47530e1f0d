//! The model hub: the one path every model call from a node takes. For each
//! call it checks the node's grant, answers from the node's response cache
//! when it opted in, then walks the model's fallback chain: for each model,
//! the circuit breaker must admit the call, the run's and node's budgets
//! must hold its worst case, and transient failures are retried with
//! exponential backoff and full jitter (honouring `Retry-After`). Every
//! attempt — answered, failed, refused, cancelled or served from cache — is
//! priced and recorded in the run's ledger.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::join_all;

use super::anthropic::AnthropicProvider;
use super::breaker::{Breaker, BreakerState};
use super::budget::RunBudget;
use super::cache::ResponseCache;
use super::content::CallContent;
use super::embed::{OpenAiEmbeddings, SimEmbeddings};
use super::ledger::{CallOutcome, Ledger, LedgerEntry};
use super::openai::{http_client, ApiKey, OpenAiProvider};
use super::replay::{ReplayBook, Unrecorded};
use super::sim::SimProvider;
use super::throttle::Throttle;
use super::types::{ChatRequest, ChatResponse, ModelError, Usage};
use super::ModelProvider;
use crate::spec::{
    CallPolicy, ModelKind, ModelSpec, PolicyOverride, ProviderSpec, SpanId, SpanParent,
};

/// Output tokens reserved against budgets when a call sets no `max_tokens`.
pub const DEFAULT_RESERVED_OUTPUT: u64 = 1024;

/// Why the hub could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A model's key variable is not set.
    #[error("model `{model}`: environment variable `{var}` (its `api-key-env`) is not set\n = help: export {var}=<your key>, or point the model at provider = \"sim\" to run without keys")]
    MissingKey {
        /// Manifest model name.
        model: String,
        /// The variable.
        var: String,
    },
}

pub(super) struct HubModel {
    pub(super) spec: ModelSpec,
    pub(super) provider: Arc<dyn ModelProvider>,
    pub(super) breaker: Option<Breaker>,
    pub(super) throttle: Throttle,
}

/// Models by manifest name, with their providers and circuit breakers.
pub struct ModelHub {
    pub(super) models: BTreeMap<String, HubModel>,
    /// Recorded answers to replay instead of calling providers.
    pub(super) replay: Option<Arc<ReplayBook>>,
}

impl std::fmt::Debug for ModelHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelHub")
            .field("models", &self.models.keys().collect::<Vec<_>>())
            .finish()
    }
}

static NO_OVERRIDE: PolicyOverride = PolicyOverride {
    timeout: None,
    retries: None,
    fallback: None,
};

/// Who is calling, and under which grant, policy, cache and budget.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Node name.
    pub node: &'a str,
    /// Models the node may call.
    pub granted: &'a [String],
    /// Where attempts are recorded.
    pub ledger: &'a Ledger,
    /// The node's overrides of its models' call policies.
    pub overrides: &'a PolicyOverride,
    /// The node's response cache, if it opted in.
    pub cache: Option<&'a ResponseCache>,
    /// The run's budgets, if any apply.
    pub budget: Option<&'a RunBudget>,
    /// When the caller stops waiting: a call with no fallback left waits
    /// up to it for a recovering upstream; without one it never waits on
    /// an open circuit.
    pub deadline: Option<Instant>,
    /// The invocation's span, parent of the spans of its calls (each
    /// attempt is sent with its own `traceparent`).
    pub trace: Option<SpanParent>,
}

impl<'a> Caller<'a> {
    /// A caller with no overrides, cache or budget.
    pub fn new(node: &'a str, granted: &'a [String], ledger: &'a Ledger) -> Self {
        Self {
            node,
            granted,
            ledger,
            overrides: &NO_OVERRIDE,
            cache: None,
            budget: None,
            deadline: None,
            trace: None,
        }
    }
}

impl ModelHub {
    /// A hub serving no models (for invocations that must not call any,
    /// such as `describe` at load).
    pub fn empty() -> Self {
        Self {
            models: BTreeMap::new(),
            replay: None,
        }
    }

    /// Builds providers for `models` (a manifest's models, by name), reading
    /// API keys from the environment.
    pub fn from_env(models: &BTreeMap<String, ModelSpec>) -> Result<Self, HubError> {
        Self::build(models, |var| std::env::var(var).ok())
    }

    /// Like [`ModelHub::from_env`] with a custom environment lookup.
    pub fn build(
        models: &BTreeMap<String, ModelSpec>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, HubError> {
        let client = http_client();
        let key = |name: &str, var: &Option<String>| -> Result<Option<ApiKey>, HubError> {
            match var {
                None => Ok(None),
                Some(var) => env(var)
                    .filter(|k| !k.is_empty())
                    .map(|k| Some(ApiKey::new(k)))
                    .ok_or_else(|| HubError::MissingKey {
                        model: name.to_string(),
                        var: var.clone(),
                    }),
            }
        };
        let mut served = BTreeMap::new();
        for (name, spec) in models {
            let embedding = spec.kind == ModelKind::Embedding;
            let provider: Arc<dyn ModelProvider> = match &spec.provider {
                ProviderSpec::Sim(sim) if embedding => {
                    Arc::new(SimEmbeddings::new(sim.clone(), spec.dimensions))
                }
                ProviderSpec::OpenAi {
                    base_url,
                    api_key_env,
                } if embedding => Arc::new(OpenAiEmbeddings::new(
                    client.clone(),
                    base_url,
                    key(name, api_key_env)?,
                    spec.dimensions,
                )),
                ProviderSpec::Sim(sim) => Arc::new(SimProvider::new(sim.clone())),
                ProviderSpec::OpenAi {
                    base_url,
                    api_key_env,
                } => Arc::new(OpenAiProvider::new(
                    client.clone(),
                    base_url,
                    key(name, api_key_env)?,
                )),
                ProviderSpec::Anthropic {
                    base_url,
                    api_key_env,
                } => Arc::new(AnthropicProvider::new(
                    client.clone(),
                    base_url,
                    key(name, api_key_env)?,
                )),
            };
            let breaker = spec.breaker.map(Breaker::new);
            served.insert(
                name.clone(),
                HubModel {
                    spec: spec.clone(),
                    provider,
                    breaker,
                    throttle: Throttle::default(),
                },
            );
        }
        Ok(Self {
            models: served,
            replay: None,
        })
    }

    /// Replaces the provider of model `name` (for tests and embedding).
    pub fn set_provider(&mut self, name: &str, provider: Arc<dyn ModelProvider>) -> bool {
        match self.models.get_mut(name) {
            Some(m) => {
                m.provider = provider;
                true
            }
            None => false,
        }
    }

    /// Answers calls from `book` (hermetic replay): a call it has is
    /// answered from it, no provider asked; one it lacks goes where the
    /// book says.
    pub fn with_replay(mut self, book: Arc<ReplayBook>) -> Self {
        self.replay = Some(book);
        self
    }

    /// The spec of model `name`.
    pub fn spec(&self, name: &str) -> Option<&ModelSpec> {
        self.models.get(name).map(|m| &m.spec)
    }

    /// The circuit breaker of model `name`, if it has one.
    pub fn breaker(&self, name: &str) -> Option<&Breaker> {
        self.models.get(name).and_then(|m| m.breaker.as_ref())
    }

    /// Makes one logical call on behalf of `caller`: cache, fallback chain,
    /// breaker, budget, retries. Every attempt is recorded.
    pub async fn complete(
        &self,
        caller: Caller<'_>,
        mut req: ChatRequest,
    ) -> Result<ChatResponse, ModelError> {
        // The body sent always carries the output cap the budget reserves:
        // an upstream is never left to pick its own answer length.
        let cap = u32::try_from(DEFAULT_RESERVED_OUTPUT).unwrap_or(u32::MAX);
        req.max_tokens = Some(req.max_tokens.unwrap_or(cap));
        if !caller.ledger.captures() {
            return self.call(caller, req, &mut Vec::new()).await;
        }
        let request = req.clone();
        let mut attempts = Vec::new();
        let result = self.call(caller, req, &mut attempts).await;
        caller.ledger.capture(CallContent {
            node: caller.node.to_string(),
            attempts,
            request,
            result: result.clone(),
        });
        result
    }

    /// [`Self::complete`] after the request is settled; the span of every
    /// attempt made is pushed onto `attempts`.
    async fn call(
        &self,
        caller: Caller<'_>,
        req: ChatRequest,
        attempts: &mut Vec<SpanId>,
    ) -> Result<ChatResponse, ModelError> {
        let Some(primary) = self.models.get(&req.model) else {
            return Err(ModelError::Denied(format!(
                "node `{}` asked for model `{}`, which the manifest does not declare",
                caller.node, req.model
            )));
        };
        if !caller.granted.iter().any(|g| g == &req.model) {
            let err = ModelError::Denied(format!(
                "node `{}` is not granted model `{}`; add it to the node's `models` list",
                caller.node, req.model
            ));
            let stamp = Stamp::now();
            attempts.push(stamp.span_id);
            record(
                caller,
                &primary.spec,
                0,
                None,
                Usage::default(),
                CallOutcome::from(&err),
                stamp,
                None,
            );
            return Err(err);
        }
        // A completion on an embedding model, or malformed tools: refused
        // before anything is reserved or sent.
        let malformed = if primary.spec.kind != ModelKind::Chat {
            Err(ModelError::InvalidRequest(format!(
                "node `{}` called `complete` on model `{}`, which is an {} model; complete with a chat model, or call `embed`",
                caller.node,
                req.model,
                primary.spec.kind.as_str()
            )))
        } else {
            super::tools::validate(&req)
        };
        if let Err(err) = malformed {
            let stamp = Stamp::now();
            attempts.push(stamp.span_id);
            record(
                caller,
                &primary.spec,
                0,
                None,
                Usage::default(),
                CallOutcome::from(&err),
                stamp,
                None,
            );
            return Err(err);
        }
        if let Some(book) = &self.replay {
            if let Some(answer) = self.replayed(caller, book, &req, attempts) {
                return answer;
            }
        }
        if let Some(hit) = caller.cache.and_then(|c| c.get(&req)) {
            let stamp = Stamp::now();
            attempts.push(stamp.span_id);
            record(
                caller,
                &primary.spec,
                0,
                None,
                Usage::default(),
                CallOutcome::CacheHit,
                stamp,
                hit.finish_reason.clone(),
            );
            return Ok(hit);
        }
        let policy = effective(&primary.spec.policy, caller.overrides);
        let chain: Vec<(String, &HubModel)> = std::iter::once(req.model.clone())
            .chain(policy.fallback.iter().cloned())
            .filter_map(|name| self.models.get(&name).map(|m| (name, m)))
            .collect();
        let mut last = ModelError::Unavailable(format!("model `{}` was not tried", req.model));
        for (i, (name, model)) in chain.iter().enumerate() {
            let may_fall_back = i + 1 < chain.len();
            let fallback_from = (i > 0).then_some(req.model.as_str());
            // A fallback model keeps its own timeout and retries (unless the
            // node overrides them) but never chains further.
            let p = if i == 0 {
                policy.clone()
            } else {
                effective(&model.spec.policy, caller.overrides)
            };
            let mut attempt_req = req.clone();
            attempt_req.model = name.clone();
            match self
                .try_model(
                    caller,
                    model,
                    &p,
                    attempt_req,
                    fallback_from,
                    may_fall_back,
                    attempts,
                )
                .await
            {
                Ok(mut resp) => {
                    resp.model = name.clone();
                    if let Some(c) = caller.cache {
                        c.put(&req, &resp);
                    }
                    return Ok(resp);
                }
                // Budgets and malformed requests do not improve elsewhere.
                Err(
                    e @ (ModelError::BudgetExceeded(_)
                    | ModelError::InvalidRequest(_)
                    | ModelError::Denied(_)),
                ) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The recorded answer to `req`, its attempts entered in the ledger
    /// again (at this manifest's prices); `None` when the book lacks it
    /// and unrecorded calls go to the models.
    fn replayed(
        &self,
        caller: Caller<'_>,
        book: &ReplayBook,
        req: &ChatRequest,
        attempts: &mut Vec<SpanId>,
    ) -> Option<Result<ChatResponse, ModelError>> {
        let primary = &self.models.get(&req.model)?.spec;
        let Some(recorded) = book.take(caller.node, &req.canonical_hash()) else {
            if book.unrecorded() != Unrecorded::Fail {
                return None;
            }
            let err = ModelError::Unavailable(format!(
                "replay: the recording has no answer to this call of node `{}` (--unrecorded fail)",
                caller.node
            ));
            let stamp = Stamp::now();
            attempts.push(stamp.span_id);
            record(
                caller,
                primary,
                0,
                None,
                Usage::default(),
                CallOutcome::from(&err),
                stamp,
                None,
            );
            return Some(Err(err));
        };
        for a in recorded.attempts {
            let spec = self.models.get(&a.model).map_or(primary, |m| &m.spec);
            let stamp = Stamp::now();
            attempts.push(stamp.span_id);
            record(
                caller,
                spec,
                a.attempt,
                a.fallback_from.as_deref(),
                a.usage,
                a.outcome,
                stamp,
                a.finish_reason,
            );
        }
        Some(recorded.result)
    }

    /// Attempts at one model: up to `1 + retries` after upstream failures;
    /// rate-limit answers wait as asked and, within a deadline, use no
    /// retry; and while the breaker reports an outage, a caller with no
    /// fallback left keeps waiting for the upstream, up to its deadline.
    #[allow(clippy::too_many_arguments)]
    async fn try_model(
        &self,
        caller: Caller<'_>,
        model: &HubModel,
        policy: &CallPolicy,
        mut req: ChatRequest,
        fallback_from: Option<&str>,
        may_fall_back: bool,
        attempts: &mut Vec<SpanId>,
    ) -> Result<ChatResponse, ModelError> {
        let spec = &model.spec;
        // Reserved from what the body will carry: messages, schema, extra
        // parameters, and the output cap `complete` always sets.
        let prompt = req.prompt_tokens_estimate();
        let output = req.max_tokens.map_or(DEFAULT_RESERVED_OUTPUT, u64::from);
        let mut last: ModelError;
        let mut attempt = 0u32;
        let mut failures = 0u32;
        let mut throttled = 0u32;
        loop {
            // If this future is dropped (run cancelled or past its
            // deadline) before the attempt is settled, the guard records
            // it as `cancelled`.
            let mut guard = Attempt {
                caller,
                spec,
                attempt,
                fallback_from,
                stamp: Stamp::now(),
                finished: false,
                finish_reason: None,
            };
            attempts.push(guard.stamp.span_id);
            let permit = match &model.breaker {
                None => None,
                Some(b) => {
                    let admitted = match caller.deadline {
                        Some(d) if !may_fall_back => b.admit(wait_end(d)).await,
                        _ => b.admit_now(),
                    };
                    match admitted {
                        Ok(p) => Some(p),
                        Err(refused) => {
                            guard.settle(Usage::default(), CallOutcome::CircuitOpen);
                            return Err(ModelError::Unavailable(format!(
                                "circuit open for model `{}`: its upstream is failing{}",
                                spec.name,
                                if refused.waited.is_zero() {
                                    String::new()
                                } else {
                                    format!(
                                        "; waited {} ms for it to recover",
                                        refused.waited.as_millis()
                                    )
                                }
                            )));
                        }
                    }
                }
            };
            if let Some(until) = model.throttle.until() {
                if caller.deadline.is_some_and(|d| until > d) {
                    guard.settle(Usage::default(), CallOutcome::RateLimited);
                    return Err(ModelError::RateLimited);
                }
                tokio::time::sleep_until(until.into()).await;
            }
            let reservation = match caller.budget {
                None => None,
                Some(b) => match b.reserve(
                    caller.node,
                    prompt + output,
                    spec.price.cost(prompt, output),
                ) {
                    Ok(r) => Some(r),
                    Err(why) => {
                        let err = ModelError::BudgetExceeded(format!(
                            "{why}; the call to `{}` was not sent",
                            spec.name
                        ));
                        guard.settle(Usage::default(), CallOutcome::from(&err));
                        return Err(err);
                    }
                },
            };
            req.attempt = attempt;
            guard.stamp = guard.stamp.restarted();
            req.traceparent = caller
                .trace
                .map(|t| t.child(guard.stamp.span_id).traceparent());
            let result = match tokio::time::timeout(
                policy.timeout,
                model.provider.complete(&spec.upstream, &req),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(super::ProviderError::transient(ModelError::Timeout)),
            };
            // Tool calls past their bounds make the answer unusable.
            let result = result.and_then(|r| {
                super::tools::check_answer(&r)
                    .map(|()| r)
                    .map_err(super::ProviderError::unusable_answer)
            });
            let usage = match &result {
                Ok(r) => r.usage,
                // A 2xx the host could not use may still be billed: charge
                // the worst case it reserved, never zero.
                Err(e) if e.answered => Usage {
                    input_tokens: prompt,
                    output_tokens: output,
                    estimated: true,
                },
                Err(_) => Usage::default(),
            };
            if let (Some(b), Some(r)) = (caller.budget, reservation) {
                b.settle(
                    r,
                    usage.input_tokens + usage.output_tokens,
                    spec.price.cost(usage.input_tokens, usage.output_tokens),
                );
            }
            let outcome = result
                .as_ref()
                .map_or_else(|e| CallOutcome::from(&e.error), |_| CallOutcome::Ok);
            guard.finish_reason = result.as_ref().ok().and_then(|r| r.finish_reason.clone());
            guard.settle(usage, outcome);
            tracing::debug!(node = caller.node, model = %spec.name, attempt, outcome = outcome.as_str(), "model call");
            attempt += 1;
            match result {
                Ok(resp) => {
                    if let Some(p) = permit {
                        p.success();
                    }
                    return Ok(resp);
                }
                // Back-pressure: every caller of this upstream waits as
                // asked; not a failure.
                Err(e) if e.error == ModelError::RateLimited || e.retry_after.is_some() => {
                    if let Some(p) = permit {
                        p.neutral();
                    }
                    if !e.retryable {
                        return Err(e.error);
                    }
                    let asked = match (e.retry_after, caller.deadline) {
                        (Some(ra), Some(_)) => ra,
                        (Some(ra), None) => ra.min(policy.max_backoff),
                        (None, _) => backoff(policy, throttled, None),
                    };
                    // Never less than half the un-jittered backoff, so an
                    // upstream answering `Retry-After: 0` over and over is
                    // not hammered until the deadline.
                    let floor = policy
                        .backoff
                        .saturating_mul(1u32 << throttled.min(16))
                        .min(policy.max_backoff)
                        / 2;
                    model.throttle.pause(asked.max(floor));
                    throttled += 1;
                    last = e.error;
                    // With a fallback left (or no deadline), rate limits
                    // count as retries, so the fallback gets its turn in
                    // time; with none left, they wait up to the deadline.
                    if (caller.deadline.is_none() || may_fall_back)
                        && failures + throttled > policy.retries
                    {
                        return Err(last);
                    }
                }
                Err(e) if !e.retryable => {
                    if let Some(p) = permit {
                        p.neutral();
                    }
                    return Err(e.error);
                }
                Err(e) => {
                    if let Some(p) = permit {
                        p.failure();
                    }
                    failures += 1;
                    let unreachable = e.unreachable;
                    last = e.error;
                    let open = model
                        .breaker
                        .as_ref()
                        .is_some_and(|b| b.state() != BreakerState::Closed);
                    // An outage — the upstream unreachable, or its breaker
                    // open — with no fallback left is ridden out up to the
                    // deadline instead of spending the retries in a second.
                    let riding_out =
                        !may_fall_back && caller.deadline.is_some() && (unreachable || open);
                    if failures > policy.retries && !riding_out {
                        return Err(last);
                    }
                    // An open breaker paces the next attempt itself (it
                    // waits for the probes); otherwise back off.
                    if !open {
                        let wait = backoff(policy, failures - 1, None);
                        if failures > policy.retries
                            && caller
                                .deadline
                                .is_some_and(|d| Instant::now() + wait >= wait_end(d))
                        {
                            return Err(last);
                        }
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    /// Makes several calls concurrently; answers come back in order.
    pub async fn complete_batch(
        &self,
        caller: Caller<'_>,
        reqs: Vec<ChatRequest>,
    ) -> Vec<Result<ChatResponse, ModelError>> {
        join_all(reqs.into_iter().map(|r| self.complete(caller, r))).await
    }
}

/// A model's policy with a node's overrides applied.
pub(super) fn effective(base: &CallPolicy, o: &PolicyOverride) -> CallPolicy {
    CallPolicy {
        timeout: o.timeout.unwrap_or(base.timeout),
        retries: o.retries.unwrap_or(base.retries),
        backoff: base.backoff,
        max_backoff: base.max_backoff,
        fallback: o.fallback.clone().unwrap_or_else(|| base.fallback.clone()),
    }
}

/// Exponential backoff with full jitter: a random wait up to
/// `backoff × 2^attempt` (capped), but never less than the upstream's
/// `Retry-After` (also capped at `max_backoff`).
pub fn backoff(policy: &CallPolicy, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let ceiling = policy
        .backoff
        .saturating_mul(1u32 << attempt.min(16))
        .min(policy.max_backoff);
    let jittered = ceiling.mul_f64(fastrand::f64());
    match retry_after {
        Some(ra) => jittered.max(ra.min(policy.max_backoff)),
        None => jittered,
    }
}

/// How long a caller with `deadline` may wait for a recovering upstream:
/// to just short of its deadline, so it gets a model error it can handle
/// rather than being cut off by its wall limit.
pub(super) fn wait_end(deadline: Instant) -> Instant {
    let left = deadline.saturating_duration_since(Instant::now());
    deadline - (left / 20).min(Duration::from_millis(500))
}

/// An attempt in flight; records itself as `cancelled` if dropped unfinished.
struct Attempt<'a> {
    caller: Caller<'a>,
    spec: &'a ModelSpec,
    attempt: u32,
    fallback_from: Option<&'a str>,
    stamp: Stamp,
    finished: bool,
    finish_reason: Option<String>,
}

/// When an attempt started, and its span.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    span_id: SpanId,
    started: Instant,
    wall: SystemTime,
}

impl Stamp {
    fn now() -> Self {
        Self {
            span_id: SpanId::random(),
            started: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The same span, restarted now.
    fn restarted(self) -> Self {
        Self {
            started: Instant::now(),
            wall: SystemTime::now(),
            ..self
        }
    }
}

impl Attempt<'_> {
    /// Records the attempt with how it ended.
    fn settle(&mut self, usage: Usage, outcome: CallOutcome) {
        self.finished = true;
        record(
            self.caller,
            self.spec,
            self.attempt,
            self.fallback_from,
            usage,
            outcome,
            self.stamp,
            self.finish_reason.take(),
        );
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.finished {
            record(
                self.caller,
                self.spec,
                self.attempt,
                self.fallback_from,
                Usage::default(),
                CallOutcome::Cancelled,
                self.stamp,
                None,
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    caller: Caller<'_>,
    spec: &ModelSpec,
    attempt: u32,
    fallback_from: Option<&str>,
    usage: Usage,
    outcome: CallOutcome,
    stamp: Stamp,
    finish_reason: Option<String>,
) {
    let cost = spec.price.cost(usage.input_tokens, usage.output_tokens);
    caller.ledger.record(LedgerEntry {
        node: caller.node.to_string(),
        model: spec.name.clone(),
        upstream: spec.upstream.clone(),
        attempt,
        fallback_from: fallback_from.map(str::to_string),
        outcome,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        estimated: usage.estimated,
        cost,
        cost_pusd: cost.0,
        latency_us: stamp.started.elapsed().as_micros() as u64,
        start_unix_us: stamp
            .wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
        span_id: stamp.span_id,
        parent_span_id: caller.trace.map(|t| t.span_id),
        finish_reason,
        operation: Default::default(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jitters_and_honours_retry_after() {
        let p = CallPolicy {
            timeout: Duration::from_secs(1),
            retries: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            fallback: vec![],
        };
        for _ in 0..100 {
            assert!(backoff(&p, 0, None) <= Duration::from_millis(100));
            assert!(backoff(&p, 3, None) <= Duration::from_millis(800));
            assert!(backoff(&p, 10, None) <= Duration::from_secs(1));
            assert!(backoff(&p, 0, Some(Duration::from_millis(700))) >= Duration::from_millis(700));
            assert_eq!(
                backoff(&p, 0, Some(Duration::from_secs(30))),
                Duration::from_secs(1),
                "capped"
            );
        }
    }
}
