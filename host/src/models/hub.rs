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
use std::time::Instant;

use futures::future::join_all;

use super::anthropic::AnthropicProvider;
use super::attempt::{admit, after_failure, effective, ends_chain, record, Attempt, Stamp, Tries};
use super::breaker::Breaker;
use super::budget::RunBudget;
use super::cache::ResponseCache;
use super::content::CallContent;
use super::embed::{OpenAiEmbeddings, SimEmbeddings};
use super::ledger::{CallOutcome, Ledger, Operation};
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

/// One served model: its spec, provider, breaker and throttle.
pub(super) struct HubModel {
    pub spec: ModelSpec,
    pub provider: Arc<dyn ModelProvider>,
    pub breaker: Option<Breaker>,
    pub throttle: Throttle,
    /// The manifest's rate limit, if any.
    pub limiter: Option<super::rate::RateLimiter>,
}

/// Models by manifest name, with their providers and circuit breakers.
pub struct ModelHub {
    pub(super) models: BTreeMap<String, HubModel>,
    /// Recorded answers to replay instead of calling providers.
    pub(super) replay: Option<Arc<ReplayBook>>,
    /// Where spend limits over periods are counted.
    pub(super) spending: Arc<super::spend::Spending>,
    /// The shared store rate limits are counted in, and its key prefix.
    rate_store: Option<(Arc<dyn super::rate::RateStore>, String)>,
    /// The shared response cache, and its key prefix.
    pub(super) cache_store: Option<(Arc<dyn super::cache::CacheStore>, String)>,
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
    idle_timeout: None,
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
            spending: Arc::default(),
            rate_store: None,
            cache_store: None,
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
                    limiter: spec
                        .rate_limit
                        .map(|r| super::rate::RateLimiter::new(name, r)),
                },
            );
        }
        Ok(Self {
            models: served,
            replay: None,
            spending: Arc::default(),
            rate_store: None,
            cache_store: None,
        })
    }

    /// Counts every model's rate limit in `store` (shared by replicas),
    /// under keys starting with `prefix`.
    pub fn with_rate_store(mut self, store: Arc<dyn super::rate::RateStore>, prefix: &str) -> Self {
        for m in self.models.values_mut() {
            if let Some(l) = m.limiter.take() {
                m.limiter = Some(l.shared(store.clone(), prefix));
            }
        }
        self.rate_store = Some((store, prefix.to_string()));
        self
    }

    /// Counts spend limits in `store` (shared by replicas), under keys
    /// starting with `prefix`; `when_down` says what they do while it
    /// cannot be reached.
    pub fn with_spend_store(
        mut self,
        store: Arc<dyn super::spend::SpendStore>,
        when_down: crate::spec::BudgetsWhenDown,
        prefix: &str,
    ) -> Self {
        self.spending = Arc::new(super::spend::Spending::shared(store, when_down, prefix));
        self
    }

    /// Shares every model's circuit-breaker openings through `store`
    /// (replicas), under keys starting with `prefix`.
    pub fn with_breaker_store(
        mut self,
        store: Arc<dyn super::breaker::BreakerStore>,
        prefix: &str,
    ) -> Self {
        for (name, m) in &mut self.models {
            if let Some(b) = m.breaker.take() {
                m.breaker = Some(b.shared(store.clone(), format!("{prefix}:breaker:{name}")));
            }
        }
        self
    }

    /// Keeps nodes' cached answers in `store` (shared by replicas), under
    /// keys starting with `prefix`, instead of in the process.
    pub fn with_cache_store(
        mut self,
        store: Arc<dyn super::cache::CacheStore>,
        prefix: &str,
    ) -> Self {
        self.cache_store = Some((store, prefix.to_string()));
        self
    }

    /// Where spend limits are counted.
    pub fn spending(&self) -> &Arc<super::spend::Spending> {
        &self.spending
    }

    /// A client key's rate limiter (`client:ID`), counted where the
    /// models' are.
    pub fn client_limiter(
        &self,
        id: &str,
        spec: crate::spec::RateLimitSpec,
    ) -> super::rate::RateLimiter {
        let limiter = super::rate::RateLimiter::new(&format!("client:{id}"), spec);
        match &self.rate_store {
            Some((store, prefix)) => limiter.shared(store.clone(), prefix),
            None => limiter,
        }
    }

    /// Whether shared state could not be reached on its last use: rate
    /// limits counted locally, or spend limits failing closed (or counted
    /// locally).
    pub fn shared_state_degraded(&self) -> bool {
        self.rate_limits_degraded() || self.spending.degraded()
    }

    /// Whether any model's rate limits fell back to this process's own
    /// count because the shared state could not be reached.
    pub fn rate_limits_degraded(&self) -> bool {
        self.models
            .values()
            .any(|m| m.limiter.as_ref().is_some_and(|l| l.degraded()))
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
        settle_cap(&mut req);
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
        mut req: ChatRequest,
        attempts: &mut Vec<SpanId>,
    ) -> Result<ChatResponse, ModelError> {
        if let Some(answer) = self.preflight(caller, &req, attempts) {
            return answer;
        }
        if let (Some(c), Some((store, prefix))) = (caller.cache, &self.cache_store) {
            if let Some(hit) = c.get_shared(store.as_ref(), prefix, &req).await {
                if let Some(primary) = self.models.get(&req.model) {
                    cache_hit(caller, &primary.spec, &hit, attempts);
                }
                return Ok(hit);
            }
        }
        let chain = self.chain(caller.overrides, &req.model);
        let mut last = None;
        for (i, (name, p)) in chain.iter().enumerate() {
            let Some(model) = self.models.get(name) else {
                continue;
            };
            let may_fall_back = i + 1 < chain.len();
            // The chain starts with the model the node asked for.
            let fallback_from = (i > 0).then(|| chain[0].0.as_str());
            // The last attempt takes the request itself, unless the cache
            // still needs it after the answer.
            let mut attempt_req = if may_fall_back || caller.cache.is_some() {
                req.clone()
            } else {
                std::mem::take(&mut req)
            };
            attempt_req.model = name.clone();
            match self
                .try_model(
                    caller,
                    model,
                    p,
                    attempt_req,
                    fallback_from,
                    may_fall_back,
                    attempts,
                )
                .await
            {
                Ok(mut resp) => {
                    resp.model = name.clone();
                    match (caller.cache, &self.cache_store) {
                        (Some(c), Some((store, prefix))) => {
                            c.put_shared(store.as_ref(), prefix, &req, &resp).await;
                        }
                        (Some(c), None) => c.put(&req, &resp),
                        (None, _) => {}
                    }
                    return Ok(resp);
                }
                // Budgets and malformed requests do not improve elsewhere.
                Err(e) if ends_chain(&e) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            ModelError::Unavailable(format!("model `{}` was not tried", req.model))
        }))
    }

    /// The answer a call (whole or streamed) gets before any model is
    /// tried: refused (model undeclared or not granted, an embedding model
    /// asked for a completion, malformed tools or tool messages),
    /// replayed, or served from the cache; `None` when it goes to the
    /// models.
    pub(super) fn preflight(
        &self,
        caller: Caller<'_>,
        req: &ChatRequest,
        attempts: &mut Vec<SpanId>,
    ) -> Option<Result<ChatResponse, ModelError>> {
        let Some(primary) = self.models.get(&req.model) else {
            return Some(Err(ModelError::Denied(format!(
                "node `{}` asked for model `{}`, which the manifest does not declare",
                caller.node,
                crate::text::shown(&req.model)
            ))));
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
            return Some(Err(err));
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
            super::tools::validate(req)
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
            return Some(Err(err));
        }
        if let Some(book) = &self.replay {
            if let Some(answer) = self.replayed(caller, book, req, attempts) {
                return Some(answer);
            }
        }
        // With a shared cache, entries live only there (read in `call`).
        let local = caller.cache.filter(|_| self.cache_store.is_none());
        if let Some(hit) = local.and_then(|c| c.get(req)) {
            cache_hit(caller, &primary.spec, &hit, attempts);
            return Some(Ok(hit));
        }
        None
    }

    /// The models a call to `model` may be answered by, in order, each
    /// with its policy: the model with the node's overrides, then its
    /// fallbacks, each keeping its own timeout and retries (unless the
    /// node overrides them) but never chaining further.
    pub(super) fn chain(
        &self,
        overrides: &PolicyOverride,
        model: &str,
    ) -> Vec<(String, CallPolicy)> {
        let Some(primary) = self.models.get(model) else {
            return Vec::new();
        };
        let policy = effective(&primary.spec.policy, overrides);
        std::iter::once((model.to_string(), policy.clone()))
            .chain(policy.fallback.iter().filter_map(|name| {
                self.models
                    .get(name)
                    .map(|m| (name.clone(), effective(&m.spec.policy, overrides)))
            }))
            .collect()
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

    /// Attempts at one model: up to `1 + retries` after upstream failures,
    /// as [`after_failure`] decides.
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
        let (prompt, output) = reserved(&req);
        let mut tries = Tries::default();
        loop {
            // If this future is dropped (run cancelled or past its
            // deadline) before the attempt is settled, the guard records
            // it as `cancelled`.
            let mut guard = Attempt {
                caller,
                spec,
                attempt: tries.attempt,
                fallback_from,
                stamp: Stamp::now(),
                finished: false,
                finish_reason: None,
                operation: Operation::Complete,
            };
            attempts.push(guard.stamp.span_id);
            let cost = spec.price.cost(prompt, output);
            let (permit, reservation) =
                match admit(caller, model, may_fall_back, prompt + output, cost).await {
                    Ok(admitted) => admitted,
                    Err((err, outcome)) => {
                        guard.settle(Usage::default(), outcome);
                        return Err(err);
                    }
                };
            req.attempt = tries.attempt;
            guard.stamp = guard.stamp.restarted();
            req.traceparent = traceparent(caller, &guard.stamp);
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
                b.settle_now(
                    r,
                    usage.input_tokens + usage.output_tokens,
                    spec.price.cost(usage.input_tokens, usage.output_tokens),
                )
                .await;
            }
            let outcome = result
                .as_ref()
                .map_or_else(|e| CallOutcome::from(&e.error), |_| CallOutcome::Ok);
            guard.finish_reason = result.as_ref().ok().and_then(|r| r.finish_reason.clone());
            guard.settle(usage, outcome);
            tracing::debug!(node = caller.node, model = %spec.name, attempt = tries.attempt, outcome = outcome.as_str(), "model call");
            match result {
                Ok(resp) => {
                    if let Some(p) = permit {
                        p.success();
                    }
                    return Ok(resp);
                }
                Err(e) => {
                    after_failure(caller, model, policy, may_fall_back, &mut tries, e, permit)
                        .await?;
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

/// Records `hit`, an answer from the cache (local or shared), as one free
/// `cache-hit` entry of model `spec`.
fn cache_hit(caller: Caller<'_>, spec: &ModelSpec, hit: &ChatResponse, attempts: &mut Vec<SpanId>) {
    let stamp = Stamp::now();
    attempts.push(stamp.span_id);
    record(
        caller,
        spec,
        0,
        None,
        Usage::default(),
        CallOutcome::CacheHit,
        stamp,
        hit.finish_reason.clone(),
    );
}

/// The prompt and output tokens an attempt at `req` reserves: what the
/// body carries (messages, schema, extra parameters) and its output cap.
pub(super) fn reserved(req: &ChatRequest) -> (u64, u64) {
    (
        req.prompt_tokens_estimate(),
        req.max_tokens.map_or(DEFAULT_RESERVED_OUTPUT, u64::from),
    )
}

/// The `traceparent` an attempt stamped `stamp` is sent with, when the
/// caller is traced.
pub(super) fn traceparent(caller: Caller<'_>, stamp: &Stamp) -> Option<String> {
    caller.trace.map(|t| t.child(stamp.span_id).traceparent())
}

/// Sets the output cap the budget reserves: the body sent always carries
/// one, so an upstream is never left to pick its own answer length.
pub(super) fn settle_cap(req: &mut ChatRequest) {
    let cap = u32::try_from(DEFAULT_RESERVED_OUTPUT).unwrap_or(u32::MAX);
    req.max_tokens = Some(req.max_tokens.unwrap_or(cap));
}
