//! The resolved, validated pipeline description that the rest of the host
//! works from: models with their providers and prices, nodes with their
//! components, grants, settings and limits, and the flow graph in
//! topological order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::source::{SourceFile, Span};
use crate::spec::{
    BudgetSpec, CacheSpec, ComponentSource, EngineSpec, Limits, ModelSpec, PolicyOverride,
    RecordingSpec, Role, StreamSpec, TelemetrySpec, TrustRequirement,
};

/// A checked `pipeline.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it came from, for locating later errors.
    pub source: Arc<SourceFile>,
    /// `[pipeline] name`.
    pub name: String,
    /// `[pipeline] description`.
    pub description: Option<String>,
    /// Wall-clock budget for one run.
    pub deadline: Duration,
    /// Token and cost budget of one run.
    pub budget: BudgetSpec,
    /// What all runs together may spend per period.
    pub spend_limit: Option<crate::spec::SpendLimitSpec>,
    /// Models by manifest name.
    pub models: BTreeMap<String, ModelSpec>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeSpec>,
    /// Flow nodes (routers and workers, not standby ones) in a topological
    /// order.
    pub order: Vec<String>,
    /// The nodes whose output is the run's output.
    pub outputs: Vec<String>,
    /// `[chat]`.
    pub chat: ChatSpec,
    /// `[baseline]`, if declared.
    pub baseline: Option<BaselineSpec>,
    /// `[pipeline] sample-input`, if declared.
    pub sample_input: Option<serde_json::Value>,
    /// `[engine]`: the instance pool's size.
    pub engine: EngineSpec,
    /// `[telemetry]`: where runs' traces go.
    pub telemetry: TelemetrySpec,
    /// `[recording]`: what recordings keep of runs' text.
    pub recording: RecordingSpec,
    /// `[state]`: where replicas share rate limits.
    pub state: crate::spec::StateSpec,
    /// `[auth]`: who may call it when served.
    pub clients: crate::spec::ClientsSpec,
}

/// The one-prompt monolith a pipeline is compared with (`[baseline]`).
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineSpec {
    /// The model a monolith would use, if the manifest names one.
    pub model: Option<String>,
    /// The system prompt sent with every input.
    pub system: String,
    /// The JSON Schema the answer is asked in, if any.
    pub output_schema: Option<serde_json::Value>,
    /// Output cap.
    pub max_tokens: u32,
}

/// How `/v1/chat/completions` maps a conversation to a run and back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSpec {
    /// A plain-text user message becomes `{ <input_field>: text, "messages": [..] }`.
    pub input_field: String,
    /// JSON Pointers into the output; the first naming a string is the
    /// reply. With none matching, the reply is the output as JSON text.
    pub reply: Vec<String>,
}

impl Default for ChatSpec {
    fn default() -> Self {
        Self {
            input_field: "text".into(),
            reply: Vec::new(),
        }
    }
}

/// One `[nodes.<name>]`.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Where its component comes from: a file (absolute, or resolved
    /// against the manifest) or an `oci://` reference.
    pub component: ComponentSource,
    /// What its component's bytes must be (signed by whom), checked at
    /// load, at every swap and at `--watch`.
    pub trust: TrustRequirement,
    /// Where `component = …` is written, for load errors.
    pub component_span: Span,
    /// Flow dependencies, explicit (`after`) and implicit (a router whose
    /// branch targets this node).
    pub deps: Vec<String>,
    /// Routers: branch label → target node.
    pub branches: BTreeMap<String, String>,
    /// Judges gating this node's output, in order.
    pub judges: Vec<String>,
    /// Models this node may call.
    pub models: Vec<String>,
    /// Settings as JSON values, delivered through the `config` import.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Sandbox limits.
    pub limits: Limits,
    /// Rejection policy.
    pub on_reject: OnReject,
    /// Input JSON Schema declared in the manifest.
    pub input_schema: Option<serde_json::Value>,
    /// Output JSON Schema declared in the manifest.
    pub output_schema: Option<serde_json::Value>,
    /// True for a worker that only runs as an escalation target.
    pub standby: bool,
    /// Overrides of its models' call policies.
    pub model_policy: PolicyOverride,
    /// Its response cache settings, if it opted in.
    pub cache: Option<CacheSpec>,
    /// Its budget within one run.
    pub budget: BudgetSpec,
    /// What it may spend per period, over all runs.
    pub spend_limit: Option<crate::spec::SpendLimitSpec>,
    /// A worker's stream windows and late-rejection rule.
    pub stream: StreamSpec,
    /// A judge's passing score, if the manifest sets one.
    pub min_score: Option<f64>,
}

/// What happens when a node's output is rejected (by a judge or a schema).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnReject {
    /// Retries of the node itself, told the reasons each time.
    pub retries: u32,
    /// The worker to escalate to after the retries.
    pub escalate: Option<String>,
    /// The fixed output to fall back to last; none means a typed error.
    pub fallback: Option<serde_json::Value>,
}

impl NodeSpec {
    /// A worker-shaped spec with nothing set, for unit tests of the graph.
    #[cfg(test)]
    pub(crate) fn for_tests(name: &str, role: Role) -> Self {
        Self {
            name: name.into(),
            role,
            component: ComponentSource::File(std::path::PathBuf::new()),
            trust: TrustRequirement::Any,
            component_span: Span::default(),
            deps: Vec::new(),
            branches: BTreeMap::new(),
            judges: Vec::new(),
            models: Vec::new(),
            settings: BTreeMap::new(),
            limits: Limits::default(),
            on_reject: OnReject::default(),
            input_schema: None,
            output_schema: None,
            standby: false,
            model_policy: PolicyOverride::default(),
            cache: None,
            budget: BudgetSpec::default(),
            spend_limit: None,
            stream: StreamSpec::default(),
            min_score: None,
        }
    }

    /// The router that branches to this node, if any.
    pub fn branch_parent<'a>(&self, manifest: &'a Manifest) -> Option<&'a NodeSpec> {
        self.deps
            .iter()
            .filter_map(|d| manifest.nodes.get(d))
            .find(|d| d.role == Role::Router && d.branches.values().any(|t| t == &self.name))
    }
}
