//! The model hub: the one path every model call from a node takes. It checks
//! the node's grant, applies the model's timeout, dispatches to the provider,
//! prices the answer and records every attempt in the run's ledger.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;

use super::ledger::{Ledger, LedgerEntry};
use super::openai::{http_client, ApiKey, OpenAiProvider};
use super::sim::SimProvider;
use super::types::{ChatRequest, ChatResponse, ModelError, Usage};
use super::ModelProvider;
use crate::config::{Manifest, ModelSpec, ProviderSpec};

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

struct HubModel {
    spec: ModelSpec,
    provider: Arc<dyn ModelProvider>,
}

/// Models by manifest name, with their providers.
pub struct ModelHub {
    models: BTreeMap<String, HubModel>,
}

impl std::fmt::Debug for ModelHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelHub")
            .field("models", &self.models.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Who is calling: the node, its grant, and the run's ledger.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Node name.
    pub node: &'a str,
    /// Models the node may call.
    pub granted: &'a [String],
    /// Where attempts are recorded.
    pub ledger: &'a Ledger,
}

impl ModelHub {
    /// Builds providers for every model in the manifest, reading API keys
    /// from the environment.
    pub fn from_manifest(manifest: &Manifest) -> Result<Self, HubError> {
        Self::build(manifest, |var| std::env::var(var).ok())
    }

    /// Like [`ModelHub::from_manifest`] with a custom environment lookup.
    pub fn build(
        manifest: &Manifest,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, HubError> {
        let client = http_client();
        let mut models = BTreeMap::new();
        for (name, spec) in &manifest.models {
            let provider: Arc<dyn ModelProvider> = match &spec.provider {
                ProviderSpec::Sim(sim) => Arc::new(SimProvider::new(sim.clone())),
                ProviderSpec::OpenAi {
                    base_url,
                    api_key_env,
                } => {
                    let key = match api_key_env {
                        None => None,
                        Some(var) => {
                            Some(ApiKey::new(env(var).filter(|k| !k.is_empty()).ok_or_else(
                                || HubError::MissingKey {
                                    model: name.clone(),
                                    var: var.clone(),
                                },
                            )?))
                        }
                    };
                    Arc::new(OpenAiProvider::new(client.clone(), base_url, key))
                }
            };
            models.insert(
                name.clone(),
                HubModel {
                    spec: spec.clone(),
                    provider,
                },
            );
        }
        Ok(Self { models })
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

    /// The spec of model `name`.
    pub fn spec(&self, name: &str) -> Option<&ModelSpec> {
        self.models.get(name).map(|m| &m.spec)
    }

    /// Makes one call on behalf of `caller`, recording the attempt.
    pub async fn complete(
        &self,
        caller: Caller<'_>,
        req: ChatRequest,
    ) -> Result<ChatResponse, ModelError> {
        let Some(model) = self.models.get(&req.model) else {
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
            record(
                caller,
                &model.spec,
                Usage::default(),
                err.kind(),
                Instant::now(),
            );
            return Err(err);
        }
        // If this future is dropped mid-call (run cancelled or past its
        // deadline), the guard still records the attempt, as `cancelled`.
        let mut attempt = Attempt {
            caller,
            spec: &model.spec,
            started: Instant::now(),
            finished: false,
        };
        let result = match tokio::time::timeout(
            model.spec.timeout,
            model.provider.complete(&model.spec.upstream, &req),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(ModelError::Timeout),
        };
        attempt.finished = true;
        let usage = result.as_ref().map_or(Usage::default(), |r| r.usage);
        let outcome = result.as_ref().map_or_else(ModelError::kind, |_| "ok");
        record(caller, &model.spec, usage, outcome, attempt.started);
        tracing::debug!(node = caller.node, model = %req.model, outcome, "model call");
        result
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

/// An attempt in flight; records itself as `cancelled` if dropped unfinished.
struct Attempt<'a> {
    caller: Caller<'a>,
    spec: &'a ModelSpec,
    started: Instant,
    finished: bool,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.finished {
            record(
                self.caller,
                self.spec,
                Usage::default(),
                "cancelled",
                self.started,
            );
        }
    }
}

fn record(caller: Caller<'_>, spec: &ModelSpec, usage: Usage, outcome: &str, started: Instant) {
    let cost = spec.price.cost(usage.input_tokens, usage.output_tokens);
    caller.ledger.record(LedgerEntry {
        node: caller.node.to_string(),
        model: spec.name.clone(),
        upstream: spec.upstream.clone(),
        outcome: outcome.to_string(),
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        estimated: usage.estimated,
        cost,
        cost_pusd: cost.0,
        latency_us: started.elapsed().as_micros() as u64,
    });
}
