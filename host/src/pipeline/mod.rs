//! A pipeline generation: the resolved manifest, every node's loaded
//! component and context, and the model hub, immutable once built. Runs
//! execute against one generation; a hot-swap builds a new one.
//!
//! Loading and running are two steps: [`Pipeline::load`] compiles, checks
//! and describes every component without any model provider or key (all
//! `validate` needs), and [`LoadedPipeline::bind`] adds the model hub that
//! makes it runnable.

mod checked;
mod events;
mod executor;
mod gate;
mod outcome;
mod peak;
mod record;
mod redact;
mod release;
mod swap;
pub mod window;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use checked::{CheckError, CheckedComponent};
pub use events::{EventSink, RunEvent};
pub use executor::{RunClient, RunInput};
pub use outcome::{
    InvocationContent, PolicyAction, PolicyEvent, RunContent, RunError, RunOutcome, RunSpan,
    TraceStep,
};
pub use record::{ErrorRecord, RunRecord};
pub use redact::RedactError;
pub use release::{stream_plans, StreamPlan};
pub use swap::SwapError;

use crate::config::{ConfigError, Diagnostic, Manifest, NodeSpec};
use crate::engine::{NodeComponent, NodeContext, NodeEngine};
use crate::models::{ModelHub, ResponseCache, RunBudget, RunSpend};
use crate::schema::Schema;

/// A node ready to run.
#[derive(Debug, Clone)]
pub struct LoadedNode {
    /// Its manifest entry.
    pub spec: NodeSpec,
    /// Its component.
    pub component: Arc<NodeComponent>,
    /// What the sandbox gives it.
    pub ctx: Arc<NodeContext>,
    /// Its input schema: the manifest's, else the component's own.
    pub input_schema: Option<Schema>,
    /// Its output schema: the manifest's, else the component's own.
    pub output_schema: Option<Schema>,
    /// How many components this node has had: 1 as loaded, +1 per swap.
    pub revision: u64,
    /// Who signed its component, as checked against the manifest's keys.
    pub provenance: crate::artifact::Provenance,
}

/// Each node's component as `name@version`, from its self-description
/// (how `switchyard graph --load` and the status page label nodes).
pub fn component_labels(nodes: &BTreeMap<String, LoadedNode>) -> BTreeMap<String, String> {
    nodes
        .iter()
        .map(|(name, node)| {
            let d = &node.component.description;
            (name.clone(), format!("{}@{}", d.name, d.version))
        })
        .collect()
}

/// A pipeline whose components are loaded and checked, not yet runnable:
/// it has no model hub.
#[derive(Debug, Clone)]
pub struct LoadedPipeline {
    /// The manifest.
    pub manifest: Manifest,
    engine: NodeEngine,
    nodes: BTreeMap<String, LoadedNode>,
}

impl LoadedPipeline {
    /// Every loaded node, by name.
    pub fn nodes(&self) -> &BTreeMap<String, LoadedNode> {
        &self.nodes
    }

    /// The most instance-pool slots one run can hold at once (what
    /// admission reserves; see `peak`).
    pub fn peak_slots(&self) -> u32 {
        peak::of_pipeline(&self.manifest, &self.nodes)
    }

    /// The engine its components run on.
    pub fn engine(&self) -> &NodeEngine {
        &self.engine
    }

    /// The runnable pipeline (generation 0) with `hub` serving its models.
    pub fn bind(self, hub: ModelHub) -> Pipeline {
        Pipeline {
            peak: peak::of_pipeline(&self.manifest, &self.nodes),
            manifest: Arc::new(self.manifest),
            generation: 0,
            engine: self.engine,
            hub: Arc::new(hub),
            nodes: Arc::new(self.nodes),
        }
    }
}

/// One immutable pipeline generation.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The manifest.
    pub manifest: Arc<Manifest>,
    /// 0 as loaded, +1 per hot-swap.
    pub generation: u64,
    engine: NodeEngine,
    hub: Arc<ModelHub>,
    /// Shared by every clone (a run task holds one); a swap makes a new map.
    nodes: Arc<BTreeMap<String, LoadedNode>>,
    /// The most instance-pool slots one run holds at once (reserved at
    /// admission).
    peak: u32,
}

impl Pipeline {
    /// The most instance-pool slots one run of this generation can hold
    /// at once: what admission reserves before the run starts.
    pub fn peak_slots(&self) -> u32 {
        self.peak
    }

    /// Loads every node's component (concurrently) and checks each against
    /// its role, without model providers or keys. All problems are
    /// reported, each located at the node's `component = …` line. Bind a
    /// model hub to the result to run it.
    pub async fn load(
        engine: &NodeEngine,
        manifest: Manifest,
    ) -> Result<LoadedPipeline, ConfigError> {
        Self::load_from(engine, manifest, &crate::artifact::Sources::from_env()).await
    }

    /// [`Pipeline::load`] with components from `sources`: files, the local
    /// store, registries. Every component passes the node's trust check
    /// before it is compiled.
    pub async fn load_from(
        engine: &NodeEngine,
        manifest: Manifest,
        sources: &crate::artifact::Sources,
    ) -> Result<LoadedPipeline, ConfigError> {
        let loads = manifest.nodes.values().map(|spec| async move {
            let result = match sources.fetch(&spec.component).await {
                Ok(fetched) => checked::check(
                    engine,
                    spec,
                    &fetched.bytes,
                    std::path::Path::new(&fetched.origin),
                )
                .await
                .map_err(|e| (e.to_string(), e.hint())),
                Err(e) => Err((format!("node `{}`: {e}", spec.name), e.hint().to_string())),
            };
            (spec, result)
        });
        let results = futures::future::join_all(loads).await;
        let mut nodes = BTreeMap::new();
        let mut errors = Vec::new();
        for (spec, result) in results {
            if spec.limits.memory_bytes > engine.max_memory_bytes() {
                errors.push(
                    Diagnostic::at(
                        &manifest.source,
                        Some(spec.component_span.clone()),
                        format!(
                        "node `{}`: limits.memory-mb of {} MiB is above the engine's cap of {} MiB",
                        spec.name,
                        spec.limits.memory_bytes >> 20,
                        engine.max_memory_bytes() >> 20
                    ),
                    )
                    .with_hint("lower the node's limits.memory-mb"),
                );
                continue;
            }
            match result {
                Ok(CheckedComponent {
                    component,
                    provenance,
                }) => {
                    let d = &component.description;
                    let input = effective_schema(&spec.input_schema, &d.input_schema);
                    let output = effective_schema(&spec.output_schema, &d.output_schema);
                    match (input, output) {
                        (Ok(input_schema), Ok(output_schema)) => {
                            nodes.insert(
                                spec.name.clone(),
                                LoadedNode {
                                    ctx: Arc::new(context_of(spec).scoped_to(&component.load.sha256)),
                                    spec: spec.clone(),
                                    component,
                                    input_schema,
                                    output_schema,
                                    revision: 1,
                                    provenance,
                                },
                            );
                        }
                        (Err(e), _) | (_, Err(e)) => errors.push(
                            Diagnostic::at(
                                &manifest.source,
                                Some(spec.component_span.clone()),
                                format!("node `{}`: the component declares an invalid JSON Schema: {e}", spec.name),
                            )
                            .with_hint("declare `input-schema` / `output-schema` in the manifest to override it"),
                        ),
                    }
                }
                Err((message, hint)) => errors.push(
                    Diagnostic::at(&manifest.source, Some(spec.component_span.clone()), message)
                        .with_hint(hint),
                ),
            }
        }
        if errors.is_empty() {
            for plan in release::stream_plans(&nodes) {
                if let Some(problem) = plan.problem() {
                    let span = manifest
                        .nodes
                        .get(&plan.node)
                        .map(|s| s.component_span.clone());
                    errors.push(
                        Diagnostic::at(&manifest.source, span, problem)
                            .with_hint(release::LATE_REJECT_HINT),
                    );
                }
            }
        }
        if !errors.is_empty() {
            return Err(ConfigError::Invalid(errors));
        }
        Ok(LoadedPipeline {
            manifest,
            engine: engine.clone(),
            nodes,
        })
    }

    /// The nodes that take `producer`'s output as their only input: the
    /// typed edges checked on every run (by the gate) and on every swap.
    /// The one definition of an edge.
    pub fn sole_consumers<'a>(&'a self, producer: &'a str) -> impl Iterator<Item = &'a LoadedNode> {
        self.nodes
            .values()
            .filter(move |c| c.spec.deps.len() == 1 && c.spec.deps[0] == producer)
    }

    /// The node whose output is `consumer`'s only input, if it has one (the
    /// other end of [`Pipeline::sole_consumers`]).
    pub fn sole_producer(&self, consumer: &LoadedNode) -> Option<&LoadedNode> {
        match consumer.spec.deps.as_slice() {
            [producer] => self.nodes.get(producer),
            _ => None,
        }
    }

    /// The loaded node `name`.
    pub fn node(&self, name: &str) -> Option<&LoadedNode> {
        self.nodes.get(name)
    }

    /// Every loaded node, by name.
    pub fn nodes(&self) -> &BTreeMap<String, LoadedNode> {
        &self.nodes
    }

    /// Fresh budgets for one run: the pipeline's and each node's, and the
    /// spend limits it is charged to (the pipeline's, each node's and its
    /// client key's, in the period the run starts in).
    pub fn run_budget(&self, client: Option<&RunClient>) -> RunBudget {
        // Only the nodes with a budget are named (a name copied per node
        // per run was 0.5% of a run's CPU).
        let budget = RunBudget::new(
            self.manifest.budget,
            self.manifest
                .nodes
                .iter()
                .filter(|(_, s)| !s.budget.is_unlimited())
                .map(|(n, s)| (n.clone(), s.budget))
                .collect(),
        );
        let spending = self.hub.spending();
        let now = std::time::SystemTime::now();
        let mut run = Vec::new();
        if let Some(spec) = self.manifest.spend_limit {
            run.push(spending.counter("pipeline", "the pipeline's", spec, now));
        }
        if let Some(spec) = client.and_then(|c| c.spend_limit) {
            let id = &client.expect("checked").id;
            run.push(spending.counter(
                &format!("client:{id}"),
                &format!("client key `{id}`'s"),
                spec,
                now,
            ));
        }
        let nodes: BTreeMap<String, crate::models::Counter> = self
            .manifest
            .nodes
            .iter()
            .filter_map(|(n, s)| {
                let spec = s.spend_limit?;
                Some((
                    n.clone(),
                    spending.counter(&format!("node:{n}"), &format!("node `{n}`'s"), spec, now),
                ))
            })
            .collect();
        let client_rate = client.and_then(|c| c.rate.clone());
        if run.is_empty() && nodes.is_empty() && client_rate.is_none() {
            return budget;
        }
        budget.with_spend(RunSpend {
            spending: spending.clone(),
            run,
            nodes,
            client_rate,
        })
    }

    /// The model hub.
    pub fn hub(&self) -> &Arc<ModelHub> {
        &self.hub
    }

    /// The engine.
    pub fn engine(&self) -> &NodeEngine {
        &self.engine
    }
}

/// The manifest's schema if declared (trusted), else the component's own
/// (untrusted: bounded), compiled.
fn effective_schema(
    declared: &Option<serde_json::Value>,
    own: &Option<serde_json::Value>,
) -> Result<Option<Schema>, String> {
    match (declared, own) {
        (Some(trusted), _) => Schema::compile(trusted).map(Some),
        (None, Some(untrusted)) => Schema::compile_untrusted(untrusted).map(Some),
        (None, None) => Ok(None),
    }
}

/// What the sandbox gives the node `spec` declares: its settings (as JSON
/// text), granted models, limits, model-policy overrides and response cache.
pub fn context_of(spec: &NodeSpec) -> NodeContext {
    NodeContext {
        node: spec.name.as_str().into(),
        settings: spec
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        granted: spec.models.clone(),
        limits: spec.limits,
        policy: spec.model_policy.clone(),
        cache: spec.cache.map(|c| Arc::new(ResponseCache::new(c))),
    }
}
