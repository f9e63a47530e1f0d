//! Embeddings: `models.embed`. A node sends texts to an embedding model
//! (a manifest model with `kind = "embedding"`) and gets one vector per
//! text. The call is granted, budgeted and priced like a completion (its
//! prompt tokens at the model's input price, no output tokens), retried
//! per the model's policy behind its circuit breaker, and every attempt is
//! entered in the ledger as an `embed` operation. It never falls back to
//! another model: vectors of different models do not compare. Providers:
//! any OpenAI-compatible `/embeddings` endpoint, and `sim`, whose vectors
//! are hashed bags of words, so texts sharing words are closer.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::attempt::{admit, after_failure, effective, record_as, Attempt, Stamp, Tries};
use super::hub::{Caller, ModelHub};
use super::ledger::{CallOutcome, Operation};
use super::openai::{send, ApiKey};
use super::types::{estimate_tokens, ChatRequest, ChatResponse, ModelError, ProviderError, Usage};
use super::ModelProvider;
use crate::spec::{ModelKind, SimSpec, DEFAULT_SIM_DIMENSIONS, MAX_DIMENSIONS};

/// Texts one request may embed.
pub const MAX_EMBED_INPUTS: usize = 2048;
/// Bytes of one text.
pub const MAX_EMBED_INPUT_BYTES: usize = 64 << 10;
/// Bytes of all the texts of one request.
pub const MAX_EMBED_TOTAL_BYTES: usize = 4 << 20;

/// A request for embeddings of some texts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmbedRequest {
    /// Manifest name of an embedding model.
    pub model: String,
    /// The texts, embedded in order.
    pub inputs: Vec<String>,
}

impl EmbedRequest {
    /// The prompt tokens it is reserved for.
    pub fn tokens_estimate(&self) -> u64 {
        self.inputs.iter().map(|t| estimate_tokens(t)).sum()
    }

    /// Checks the bounds on inputs; the error names the field.
    pub fn check(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::InvalidRequest(m));
        if self.inputs.is_empty() {
            return bad("`inputs` is empty: give at least one text to embed".into());
        }
        if self.inputs.len() > MAX_EMBED_INPUTS {
            return bad(format!(
                "`inputs`: {} texts, more than the {MAX_EMBED_INPUTS} one request may embed",
                self.inputs.len()
            ));
        }
        if let Some(i) = self
            .inputs
            .iter()
            .position(|t| t.len() > MAX_EMBED_INPUT_BYTES)
        {
            return bad(format!(
                "`inputs[{i}]` is {} bytes, more than {MAX_EMBED_INPUT_BYTES}",
                self.inputs[i].len()
            ));
        }
        let total: usize = self.inputs.iter().map(String::len).sum();
        if total > MAX_EMBED_TOTAL_BYTES {
            return bad(format!(
                "`inputs` total {total} bytes, more than {MAX_EMBED_TOTAL_BYTES}"
            ));
        }
        Ok(())
    }
}

/// Embeddings of the texts of one request, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedResponse {
    /// One vector per input.
    pub vectors: Vec<Vec<f32>>,
    /// The manifest name of the model that answered; set by the hub.
    pub model: String,
    /// Tokens used (`output_tokens` is 0).
    pub usage: Usage,
}

impl EmbedResponse {
    /// Checks an answer to `req`: one vector per input, all of one
    /// dimension, at most [`MAX_DIMENSIONS`] (and `expected`, when the
    /// model sets one), every value finite.
    pub fn check(&self, req: &EmbedRequest, expected: Option<u32>) -> Result<(), ModelError> {
        let bad = |m: String| {
            Err(ModelError::Unavailable(format!(
                "the upstream's embeddings were refused: {m}"
            )))
        };
        if self.vectors.len() != req.inputs.len() {
            return bad(format!(
                "{} vectors for {} inputs",
                self.vectors.len(),
                req.inputs.len()
            ));
        }
        let dim = self.vectors.first().map_or(0, Vec::len);
        if dim == 0 || dim > MAX_DIMENSIONS as usize {
            return bad(format!(
                "vectors of {dim} dimensions (1 to {MAX_DIMENSIONS} allowed)"
            ));
        }
        if let Some(want) = expected.filter(|w| *w as usize != dim) {
            return bad(format!(
                "vectors of {dim} dimensions, the model's `dimensions` is {want}"
            ));
        }
        if self.vectors.iter().any(|v| v.len() != dim) {
            return bad("vectors of different dimensions".into());
        }
        if self.vectors.iter().flatten().any(|x| !x.is_finite()) {
            return bad("a vector has a value that is not a finite number".into());
        }
        Ok(())
    }
}

/// The answer a provider of embeddings gives to `complete`: never sent, as
/// the hub refuses a completion on an embedding model first.
fn not_chat(upstream: &str) -> ProviderError {
    ProviderError::permanent(ModelError::InvalidRequest(format!(
        "model `{upstream}` is an embedding model and answers no completions"
    )))
}

/// The `sim` embedding model: each text is a hashed bag of its lowercased
/// words (a word hashes to one coordinate and a sign), normalised to unit
/// length. Deterministic for a seed; texts sharing words have a higher
/// cosine similarity, so a router on top of it behaves meaningfully.
#[derive(Debug, Clone)]
pub struct SimEmbeddings {
    spec: SimSpec,
    dimensions: u32,
}

impl SimEmbeddings {
    /// A simulated embedding model of `dimensions` (default
    /// [`DEFAULT_SIM_DIMENSIONS`]).
    pub fn new(spec: SimSpec, dimensions: Option<u32>) -> Self {
        Self {
            spec,
            dimensions: dimensions
                .unwrap_or(DEFAULT_SIM_DIMENSIONS)
                .clamp(1, MAX_DIMENSIONS),
        }
    }

    /// The unit vector of `text`.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let dim = self.dimensions as usize;
        let mut v = vec![0f32; dim];
        let mut words = 0;
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let h = fnv(self.spec.seed, word.to_lowercase().as_bytes());
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            v[(h % dim as u64) as usize] += sign;
            words += 1;
        }
        if words == 0 {
            v[(fnv(self.spec.seed, b"") % dim as u64) as usize] = 1.0;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            // Words that cancel out: fall back to the empty text's vector.
            v[(fnv(self.spec.seed, b"") % dim as u64) as usize] = 1.0;
        }
        v
    }

    /// The answer to `req`, without sleeping.
    pub fn answer(&self, req: &EmbedRequest) -> EmbedResponse {
        EmbedResponse {
            vectors: req.inputs.iter().map(|t| self.vector(t)).collect(),
            model: String::new(),
            usage: Usage {
                input_tokens: req.tokens_estimate(),
                output_tokens: 0,
                estimated: false,
            },
        }
    }
}

/// FNV-1a, 64-bit, seeded: stable across platforms and Rust versions.
fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[async_trait]
impl ModelProvider for SimEmbeddings {
    async fn complete(
        &self,
        upstream: &str,
        _req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        Err(not_chat(upstream))
    }

    async fn embed(
        &self,
        _upstream: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        if !self.spec.ttft.is_zero() {
            tokio::time::sleep(self.spec.ttft).await;
        }
        Ok(self.answer(req))
    }
}

/// An OpenAI-compatible `/embeddings` endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiEmbeddings {
    client: reqwest::Client,
    endpoint: String,
    key: Option<ApiKey>,
    dimensions: Option<u32>,
}

impl OpenAiEmbeddings {
    /// Embeddings from the server at `base_url`: requests go to
    /// `{base_url}/embeddings`, asking for `dimensions` when set.
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        key: Option<ApiKey>,
        dimensions: Option<u32>,
    ) -> Self {
        Self {
            client,
            endpoint: format!("{}/embeddings", base_url.trim_end_matches('/')),
            key,
            dimensions,
        }
    }

    /// The request body for `req` sent to model `upstream`.
    pub fn body(&self, upstream: &str, req: &EmbedRequest) -> Value {
        let mut body = json!({"model": upstream, "input": req.inputs});
        if let (Some(d), Some(obj)) = (self.dimensions, body.as_object_mut()) {
            obj.insert("dimensions".into(), json!(d));
        }
        body
    }
}

/// Parses an `/embeddings` answer: `data[].embedding` placed by `index`,
/// and `usage.prompt_tokens` (estimated from the inputs when missing).
pub fn parse_embeddings(text: &str, req: &EmbedRequest) -> Result<EmbedResponse, ModelError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| ModelError::Unavailable(format!("malformed embeddings JSON: {e}")))?;
    let data = v["data"]
        .as_array()
        .ok_or_else(|| ModelError::Unavailable("embeddings answer has no `data` list".into()))?;
    if data.len() != req.inputs.len() {
        return Err(ModelError::Unavailable(format!(
            "embeddings answer has {} vectors for {} inputs",
            data.len(),
            req.inputs.len()
        )));
    }
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; data.len()];
    for (i, item) in data.iter().enumerate() {
        let index = item["index"].as_u64().map_or(i, |x| x as usize);
        let Some(slot) = vectors.get_mut(index).filter(|s| s.is_none()) else {
            return Err(ModelError::Unavailable(format!(
                "embeddings answer has a bad or repeated index {index}"
            )));
        };
        let values = item["embedding"].as_array().ok_or_else(|| {
            ModelError::Unavailable(format!(
                "embeddings answer: data[{i}] has no `embedding` list"
            ))
        })?;
        if values.len() > MAX_DIMENSIONS as usize {
            return Err(ModelError::Unavailable(format!(
                "embeddings answer: a vector of {} dimensions, more than {MAX_DIMENSIONS}",
                values.len()
            )));
        }
        let vector = values
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| {
                ModelError::Unavailable(format!("embeddings answer: data[{i}] has a non-number"))
            })?;
        *slot = Some(vector);
    }
    let input_tokens = v.pointer("/usage/prompt_tokens").and_then(Value::as_u64);
    Ok(EmbedResponse {
        // Every slot is filled: as many items as slots, none twice.
        vectors: vectors.into_iter().map(Option::unwrap_or_default).collect(),
        model: String::new(),
        usage: Usage {
            input_tokens: input_tokens.unwrap_or_else(|| req.tokens_estimate()),
            output_tokens: 0,
            estimated: input_tokens.is_none(),
        },
    })
}

#[async_trait]
impl ModelProvider for OpenAiEmbeddings {
    async fn complete(
        &self,
        upstream: &str,
        _req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        Err(not_chat(upstream))
    }

    async fn embed(
        &self,
        upstream: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let mut http = self
            .client
            .post(&self.endpoint)
            .json(&self.body(upstream, req));
        if let Some(key) = &self.key {
            http = http.bearer_auth(key.expose());
        }
        let text = send(http).await?;
        parse_embeddings(&text, req).map_err(ProviderError::unusable_answer)
    }
}

impl ModelHub {
    /// Embeds `req.inputs` with an embedding model on behalf of `caller`:
    /// grant, kind and bounds checks, then attempts at that one model
    /// (no fallback) admitted as completions are (breaker, back-pressure,
    /// budget reservation before it is sent), retried or given up on by
    /// the same rules, each recorded in the ledger as an `embed`
    /// operation (`cancelled` if dropped unfinished).
    pub async fn embed(
        &self,
        caller: Caller<'_>,
        req: EmbedRequest,
    ) -> Result<EmbedResponse, ModelError> {
        let Some(model) = self.models.get(&req.model) else {
            return Err(ModelError::Denied(format!(
                "node `{}` asked for model `{}`, which the manifest does not declare",
                caller.node,
                crate::text::shown(&req.model)
            )));
        };
        let spec = &model.spec;
        let refused = |err: ModelError| {
            record_as(
                Operation::Embed,
                caller,
                spec,
                0,
                None,
                Usage::default(),
                CallOutcome::from(&err),
                Stamp::now(),
                None,
            );
            Err(err)
        };
        if !caller.granted.iter().any(|g| g == &req.model) {
            return refused(ModelError::Denied(format!(
                "node `{}` is not granted model `{}`; add it to the node's `models` list",
                caller.node, req.model
            )));
        }
        if spec.kind != ModelKind::Embedding {
            return refused(ModelError::InvalidRequest(format!(
                "node `{}` called `embed` on model `{}`, which is a {} model; embed with a model declared with kind = \"embedding\"",
                caller.node,
                req.model,
                spec.kind.as_str()
            )));
        }
        if let Err(e) = req.check() {
            return refused(e);
        }
        if let Some(book) = &self.replay {
            if book.unrecorded() == super::Unrecorded::Fail {
                return refused(ModelError::Unavailable(format!(
                    "replay: embeddings are not recorded, and node `{}`'s call is refused (--unrecorded fail)",
                    caller.node
                )));
            }
        }
        let policy = effective(&spec.policy, caller.overrides);
        let prompt = req.tokens_estimate();
        let cost = spec.price.cost(prompt, 0);
        let mut tries = Tries::default();
        loop {
            // Dropped before it is settled (run cancelled or past its
            // deadline), the guard records the attempt as `cancelled`.
            let mut guard = Attempt {
                caller,
                spec,
                attempt: tries.attempt,
                fallback_from: None,
                stamp: Stamp::now(),
                finished: false,
                finish_reason: None,
                operation: Operation::Embed,
            };
            // No fallback: the breaker admits it, waiting up to the
            // caller's deadline for a recovering upstream.
            let (permit, reservation) = match admit(caller, model, false, prompt, cost).await {
                Ok(admitted) => admitted,
                Err((err, outcome)) => {
                    guard.settle(Usage::default(), outcome);
                    return Err(err);
                }
            };
            guard.stamp = guard.stamp.restarted();
            let result = match tokio::time::timeout(
                policy.timeout,
                model.provider.embed(&spec.upstream, &req),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(ProviderError::transient(ModelError::Timeout)),
            };
            let result = result.and_then(|r| {
                r.check(&req, spec.dimensions)
                    .map(|()| r)
                    .map_err(ProviderError::unusable_answer)
            });
            let usage = match &result {
                Ok(r) => Usage {
                    output_tokens: 0,
                    ..r.usage
                },
                // An answer the host could not use may still be billed:
                // charge what it reserved, never zero.
                Err(e) if e.answered => Usage {
                    input_tokens: prompt,
                    output_tokens: 0,
                    estimated: true,
                },
                Err(_) => Usage::default(),
            };
            if let (Some(b), Some(r)) = (caller.budget, reservation) {
                b.settle_now(
                    r,
                    usage.input_tokens,
                    spec.price.cost(usage.input_tokens, 0),
                )
                .await;
            }
            let outcome = result
                .as_ref()
                .map_or_else(|e| CallOutcome::from(&e.error), |_| CallOutcome::Ok);
            guard.settle(usage, outcome);
            tracing::debug!(node = caller.node, model = %spec.name, attempt = tries.attempt, outcome = outcome.as_str(), "embed call");
            match result {
                Ok(mut resp) => {
                    if let Some(p) = permit {
                        p.success();
                    }
                    resp.model = spec.name.clone();
                    return Ok(resp);
                }
                Err(e) => {
                    after_failure(caller, model, &policy, false, &mut tries, e, permit).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::models::{ChatMessage, ChatRole, Ledger, RunBudget};
    use crate::spec::{BudgetSpec, CallPolicy, ModelSpec, Price, ProviderSpec};

    fn spec(name: &str, kind: ModelKind) -> ModelSpec {
        ModelSpec {
            name: name.into(),
            upstream: format!("{name}-up"),
            provider: ProviderSpec::Sim(SimSpec::default()),
            price: Price::per_million(2.0, 8.0),
            policy: CallPolicy {
                timeout: Duration::from_secs(5),
                idle_timeout: Duration::from_secs(5),
                retries: 1,
                backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
                fallback: vec![],
            },
            breaker: None,
            rate_limit: None,
            kind,
            dimensions: None,
        }
    }

    fn hub() -> ModelHub {
        let models: BTreeMap<String, ModelSpec> = [
            ("vec".to_string(), spec("vec", ModelKind::Embedding)),
            ("chat".to_string(), spec("chat", ModelKind::Chat)),
        ]
        .into_iter()
        .collect();
        ModelHub::build(&models, |_| None).unwrap()
    }

    fn req(inputs: &[&str]) -> EmbedRequest {
        EmbedRequest {
            model: "vec".into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Counts the embed calls that reach it.
    struct Counting(AtomicUsize);

    #[async_trait]
    impl ModelProvider for Counting {
        async fn complete(&self, u: &str, _: &ChatRequest) -> Result<ChatResponse, ProviderError> {
            Err(not_chat(u))
        }
        async fn embed(&self, _: &str, r: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(SimEmbeddings::new(SimSpec::default(), None).answer(r))
        }
    }

    #[test]
    fn sim_embeddings_are_deterministic_unit_vectors_closer_for_shared_words() {
        let e = SimEmbeddings::new(SimSpec::default(), None);
        let a = e.vector("my invoice is wrong, please refund the invoice");
        assert_eq!(a.len(), 64);
        assert_eq!(
            a,
            e.vector("my invoice is wrong, please refund the invoice")
        );
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        let near = e.vector("refund my wrong invoice");
        let far = e.vector("the app crashes at startup on android");
        assert!(cosine(&a, &near) > cosine(&a, &far) + 0.2);
        let empty = e.vector("");
        assert!((cosine(&empty, &empty) - 1.0).abs() < 1e-5);
        assert_eq!(
            SimEmbeddings::new(SimSpec::default(), Some(8))
                .vector("x")
                .len(),
            8
        );
        let other_seed = SimEmbeddings::new(
            SimSpec {
                seed: 3,
                ..Default::default()
            },
            None,
        );
        assert_ne!(other_seed.vector("refund my wrong invoice"), near);
    }

    #[tokio::test]
    async fn embed_answers_priced_at_the_input_price_and_marked_in_the_ledger() {
        let hub = hub();
        let ledger = Ledger::new();
        let granted = vec!["vec".to_string()];
        let r = hub
            .embed(
                Caller::new("router", &granted, &ledger),
                req(&["hello there", "refund"]),
            )
            .await
            .unwrap();
        assert_eq!(r.model, "vec");
        assert_eq!(r.vectors.len(), 2);
        assert_eq!(r.usage.output_tokens, 0);
        let entries = ledger.entries();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(
            (e.operation, e.outcome),
            (Operation::Embed, CallOutcome::Ok)
        );
        assert_eq!(e.input_tokens, r.usage.input_tokens);
        assert_eq!(
            e.cost,
            Price::per_million(2.0, 8.0).cost(r.usage.input_tokens, 0)
        );
        assert!(e.cost.0 > 0);
        assert_eq!(
            serde_json::to_value(e).unwrap()["operation"],
            "embed",
            "an embed entry says so"
        );
    }

    #[tokio::test]
    async fn embed_grant_denied_is_recorded_and_nothing_sent() {
        let mut hub = hub();
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        hub.set_provider("vec", counting.clone());
        let ledger = Ledger::new();
        let err = hub
            .embed(Caller::new("judge", &[], &ledger), req(&["x"]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ModelError::Denied(m) if m.contains("`judge`") && m.contains("`vec`")),
            "{err:?}"
        );
        assert_eq!(ledger.entries()[0].outcome, CallOutcome::Denied);
        assert_eq!(counting.0.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn embed_budget_exceeded_before_sending() {
        let mut hub = hub();
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        hub.set_provider("vec", counting.clone());
        let ledger = Ledger::new();
        let granted = vec!["vec".to_string()];
        let budget = RunBudget::new(
            BudgetSpec {
                tokens: Some(3),
                cost: None,
            },
            BTreeMap::new(),
        );
        let mut caller = Caller::new("router", &granted, &ledger);
        caller.budget = Some(&budget);
        let err = hub
            .embed(
                caller,
                req(&["a text that is clearly longer than three tokens"]),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ModelError::BudgetExceeded(_)), "{err:?}");
        let entries = ledger.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].outcome, CallOutcome::BudgetExceeded);
        assert_eq!(entries[0].operation, Operation::Embed);
        assert_eq!(counting.0.load(Ordering::SeqCst), 0, "nothing sent");
        // A call that fits goes through, and is settled at its usage.
        let r = hub.embed(caller, req(&["hi"])).await.unwrap();
        assert_eq!(r.vectors.len(), 1);
        assert_eq!(counting.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn embed_and_complete_refuse_the_wrong_kind_of_model() {
        let hub = hub();
        let ledger = Ledger::new();
        let granted = vec!["vec".to_string(), "chat".to_string()];
        let caller = Caller::new("router", &granted, &ledger);
        let err = hub
            .embed(
                caller,
                EmbedRequest {
                    model: "chat".into(),
                    inputs: vec!["x".into()],
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ModelError::InvalidRequest(m) if m.contains("`embed`") && m.contains("`chat`") && m.contains("`router`")),
            "{err:?}"
        );
        let err = hub
            .complete(
                caller,
                ChatRequest {
                    model: "vec".into(),
                    messages: vec![ChatMessage::new(ChatRole::User, "hi")],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ModelError::InvalidRequest(m) if m.contains("`complete`") && m.contains("`vec`") && m.contains("embedding")),
            "{err:?}"
        );
        let outcomes: Vec<CallOutcome> = ledger.entries().iter().map(|e| e.outcome).collect();
        assert_eq!(
            outcomes,
            [CallOutcome::InvalidRequest, CallOutcome::InvalidRequest]
        );
    }

    #[tokio::test]
    async fn embed_input_bounds_are_invalid_requests() {
        let hub = hub();
        let ledger = Ledger::new();
        let granted = vec!["vec".to_string()];
        let caller = Caller::new("router", &granted, &ledger);
        for (r, field) in [
            (req(&[]), "`inputs` is empty"),
            (
                EmbedRequest {
                    model: "vec".into(),
                    inputs: vec!["x".into(); MAX_EMBED_INPUTS + 1],
                },
                "more than the 2048",
            ),
            (
                EmbedRequest {
                    model: "vec".into(),
                    inputs: vec!["y".repeat(MAX_EMBED_INPUT_BYTES + 1)],
                },
                "`inputs[0]`",
            ),
        ] {
            let err = hub.embed(caller, r).await.unwrap_err();
            assert!(
                matches!(&err, ModelError::InvalidRequest(m) if m.contains(field)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn embed_answer_checks_count_dimension_and_values() {
        let r = req(&["a", "b"]);
        let ok = EmbedResponse {
            vectors: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            model: String::new(),
            usage: Usage::default(),
        };
        assert!(ok.check(&r, None).is_ok());
        assert!(ok.check(&r, Some(2)).is_ok());
        assert!(
            ok.check(&r, Some(3)).is_err(),
            "not the configured dimensions"
        );
        assert!(ok.check(&req(&["a"]), None).is_err(), "count");
        let ragged = EmbedResponse {
            vectors: vec![vec![1.0, 0.0], vec![1.0]],
            ..ok.clone()
        };
        assert!(ragged.check(&r, None).is_err());
        let nan = EmbedResponse {
            vectors: vec![vec![f32::NAN, 0.0], vec![0.0, 1.0]],
            ..ok.clone()
        };
        assert!(nan.check(&r, None).is_err());
        let huge = EmbedResponse {
            vectors: vec![vec![0.1; MAX_DIMENSIONS as usize + 1]; 2],
            ..ok
        };
        assert!(matches!(
            huge.check(&r, None),
            Err(ModelError::Unavailable(_))
        ));
    }

    #[test]
    fn openai_embeddings_parse_orders_by_index_and_reads_usage() {
        let r = req(&["a", "b"]);
        let p = parse_embeddings(
            r#"{"data":[{"index":1,"embedding":[0.0,1.0]},{"index":0,"embedding":[1.0,0.0]}],"usage":{"prompt_tokens":7,"total_tokens":7}}"#,
            &r,
        )
        .unwrap();
        assert_eq!(p.vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert_eq!((p.usage.input_tokens, p.usage.estimated), (7, false));
        let no_usage =
            parse_embeddings(r#"{"data":[{"embedding":[1]},{"embedding":[2]}]}"#, &r).unwrap();
        assert!(no_usage.usage.estimated);
        for bad in [
            r#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}"#,
            r#"{"data":[{"index":0,"embedding":[1]},{"index":5,"embedding":[2]}]}"#,
            r#"{"data":[{"index":0,"embedding":[1]}]}"#,
            r#"{"data":[{"index":0,"embedding":["x"]},{"index":1,"embedding":[2]}]}"#,
            "not json",
        ] {
            assert!(parse_embeddings(bad, &r).is_err(), "{bad}");
        }
    }

    /// A one-shot HTTP server on 127.0.0.1: answers one request with
    /// `answer` and hands back the request's head and body.
    async fn one_shot(answer: &'static str) -> (String, tokio::task::JoinHandle<(String, Value)>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let head = text[..end].to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break (head, buf[end + 4..end + 4 + len].to_vec());
                    }
                }
                assert!(n > 0, "connection closed early");
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            sock.write_all(resp.as_bytes()).await.unwrap();
            let _ = sock.shutdown().await;
            (head, serde_json::from_slice(&body).unwrap())
        });
        (url, task)
    }

    #[tokio::test]
    async fn openai_embeddings_against_a_local_server() {
        let (url, server) = one_shot(
            r#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.0,0.6,0.8]},{"object":"embedding","index":0,"embedding":[1.0,0.0,0.0]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}"#,
        )
        .await;
        let mut m = spec("vec", ModelKind::Embedding);
        m.upstream = "text-embedding-3-small".into();
        m.dimensions = Some(3);
        m.provider = ProviderSpec::OpenAi {
            base_url: url,
            api_key_env: Some("EMBED_KEY".into()),
        };
        let models = BTreeMap::from([("vec".to_string(), m)]);
        let hub =
            ModelHub::build(&models, |v| (v == "EMBED_KEY").then(|| "sk-test".into())).unwrap();
        let ledger = Ledger::new();
        let granted = vec!["vec".to_string()];
        let r = hub
            .embed(
                Caller::new("router", &granted, &ledger),
                req(&["first", "second"]),
            )
            .await
            .unwrap();
        assert_eq!(r.vectors, vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.6, 0.8]]);
        assert_eq!((r.usage.input_tokens, r.model.as_str()), (5, "vec"));
        let (head, body) = server.await.unwrap();
        assert!(head.starts_with("POST /v1/embeddings "), "{head}");
        assert!(head
            .to_ascii_lowercase()
            .contains("authorization: bearer sk-test"));
        assert_eq!(
            body,
            json!({"model": "text-embedding-3-small", "input": ["first", "second"], "dimensions": 3})
        );
        let e = &ledger.entries()[0];
        assert_eq!(
            (e.outcome, e.operation, e.input_tokens),
            (CallOutcome::Ok, Operation::Embed, 5)
        );
    }

    #[tokio::test]
    async fn embed_on_a_provider_without_embeddings_is_refused() {
        let mut hub = hub();
        hub.set_provider(
            "vec",
            Arc::new(crate::models::sim::SimProvider::new(SimSpec::default())),
        );
        let ledger = Ledger::new();
        let granted = vec!["vec".to_string()];
        let err = hub
            .embed(Caller::new("router", &granted, &ledger), req(&["x"]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ModelError::InvalidRequest(m) if m.contains("no embeddings endpoint")),
            "{err:?}"
        );
        assert_eq!(ledger.entries().len(), 1, "one attempt, not retried");
    }
}
