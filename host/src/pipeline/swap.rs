//! Hot-swapping one node: the next pipeline generation, identical but for
//! one node's component, checked before it may serve. The new component
//! must target the node's role (checked when it is loaded) and must not
//! break a typed edge: its effective input and output schemas are compared
//! with its neighbours' and a break the old component did not have is
//! refused. Nor may it make a streaming worker release text that a check
//! without windows could still reject when the manifest sets no rule for it.

use std::sync::Arc;

use super::checked::{self, CheckError, CheckedComponent};
use super::{effective_schema, LoadedNode, Pipeline};
use crate::schema::{edge_breaks, Schema};

/// Why a swap was refused. The running generation is untouched.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// No such node.
    #[error("pipeline `{pipeline}` has no node `{node}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownNode {
        /// The pipeline.
        pipeline: String,
        /// The name asked for.
        node: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// The component could not be loaded for the node's role.
    #[error("{0}")]
    Load(#[from] crate::engine::LoadError),
    /// The component does not meet the node's trust requirement.
    #[error("{0}")]
    Trust(#[from] crate::artifact::TrustError),
    /// The component named by reference could not be fetched.
    #[error("node `{node}`: {source}")]
    Fetch {
        /// The node.
        node: String,
        /// Why.
        source: crate::artifact::FetchError,
    },
    /// The component declares a schema that does not compile.
    #[error("node `{node}`: the new component declares an invalid JSON Schema: {reason}")]
    InvalidSchema {
        /// The node.
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// The new component would let a worker stream text that a check
    /// without windows could still reject, with no rule for that.
    #[error("node `{node}`: swapping it in would break the hold-back rule: {problem} (`stream.late-reject` in the manifest)")]
    StreamUnsafe {
        /// The node being swapped.
        node: String,
        /// Which worker and which checks.
        problem: String,
    },
    /// The new schemas break an edge the old ones kept.
    #[error("node `{node}`: the new component's {side} schema breaks the edge {edge}: {}", reasons.join("; "))]
    EdgeBroken {
        /// The node being swapped.
        node: String,
        /// `output` or `input`.
        side: &'static str,
        /// `a → b`.
        edge: String,
        /// What no longer fits.
        reasons: Vec<String>,
    },
}

impl From<CheckError> for SwapError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Trust(t) => Self::Trust(t),
            CheckError::Load(l) => Self::Load(l),
        }
    }
}

impl SwapError {
    /// What to do about it, when there is more to say than the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Load(l) => Some(l.hint()),
            Self::Trust(t) => Some(t.hint().into()),
            Self::Fetch { source, .. } => Some(source.hint().into()),
            _ => None,
        }
    }
}

impl Pipeline {
    /// Checks `bytes` (from `origin`, for messages) as node `name`'s next
    /// component: the node's trust requirement as the manifest states it,
    /// then its role and limits.
    pub async fn check_component(
        &self,
        name: &str,
        bytes: &[u8],
        origin: &std::path::Path,
    ) -> Result<CheckedComponent, SwapError> {
        let old = self.node(name).ok_or_else(|| self.unknown_node(name))?;
        Ok(checked::check(self.engine(), &old.spec, bytes, origin).await?)
    }

    /// The next generation, with node `name` running `checked` (see
    /// [`Pipeline::check_component`]). Fails, leaving `self` as it was, if
    /// the node does not exist or the new component would break a typed
    /// edge.
    pub fn with_component(
        &self,
        name: &str,
        checked: CheckedComponent,
    ) -> Result<Pipeline, SwapError> {
        let old = self.node(name).ok_or_else(|| self.unknown_node(name))?;
        let CheckedComponent {
            component,
            provenance,
        } = checked;
        let d = &component.description;
        let invalid = |reason: String| SwapError::InvalidSchema {
            node: name.into(),
            reason,
        };
        let input_schema =
            effective_schema(&old.spec.input_schema, &d.input_schema).map_err(invalid)?;
        let output_schema =
            effective_schema(&old.spec.output_schema, &d.output_schema).map_err(invalid)?;
        // Cached answers are keyed by the component that made them: another
        // component starts a cache of its own.
        let ctx = if component.load.sha256 == old.component.load.sha256 {
            old.ctx.clone()
        } else {
            Arc::new(super::context_of(&old.spec).scoped_to(&component.load.sha256))
        };
        let new = LoadedNode {
            spec: old.spec.clone(),
            component,
            ctx,
            input_schema,
            output_schema,
            revision: old.revision + 1,
            provenance,
        };
        self.check_edges(old, &new)?;
        let mut next = self.clone();
        next.generation += 1;
        Arc::make_mut(&mut next.nodes).insert(name.to_string(), new);
        // A judge swapped for one without a window check must not leave a
        // streaming worker releasing text a whole-output check can reject.
        let before: Vec<String> = super::release::stream_plans(&self.nodes)
            .iter()
            .filter_map(|p| p.problem())
            .collect();
        if let Some(problem) = super::release::stream_plans(&next.nodes)
            .iter()
            .filter_map(|p| p.problem())
            .find(|p| !before.contains(p))
        {
            return Err(SwapError::StreamUnsafe {
                node: name.into(),
                problem,
            });
        }
        next.peak = super::peak::of_pipeline(&next.manifest, &next.nodes);
        Ok(next)
    }

    /// A candidate generation for an experiment: as
    /// [`Pipeline::with_component`] (the same checks), but node `name`
    /// gets a response cache of its own, so the candidate neither reads
    /// nor fills the live node's cache.
    pub fn with_candidate(
        &self,
        name: &str,
        checked: CheckedComponent,
    ) -> Result<Pipeline, SwapError> {
        let mut next = self.with_component(name, checked)?;
        if let Some(node) = Arc::make_mut(&mut next.nodes).get_mut(name) {
            node.ctx = Arc::new(
                super::context_of(&node.spec)
                    .scoped_to(&format!("candidate-{}", node.component.load.sha256)),
            );
        }
        Ok(next)
    }

    /// The error for a swap naming a node this pipeline does not have.
    pub fn unknown_node(&self, name: &str) -> SwapError {
        SwapError::UnknownNode {
            pipeline: self.manifest.name.clone(),
            node: name.into(),
            suggestion: crate::config::did_you_mean(name, self.nodes.keys().map(String::as_str))
                .map(str::to_string),
        }
    }

    /// Edges are a producer's output feeding a node whose only dependency
    /// it is (the edges checked on every run).
    fn check_edges(&self, old: &LoadedNode, new: &LoadedNode) -> Result<(), SwapError> {
        let name = &new.spec.name;
        for consumer in self.sole_consumers(name) {
            let edge = format!("`{name}` → `{}`", consumer.spec.name);
            new_breaks(
                &old.output_schema,
                &new.output_schema,
                &consumer.input_schema,
            )
            .map_err(|reasons| SwapError::EdgeBroken {
                node: name.clone(),
                side: "output",
                edge,
                reasons,
            })?;
        }
        if let Some(p) = self.sole_producer(new) {
            let producer = &p.spec.name;
            let edge = format!("`{producer}` → `{name}`");
            // Here the consumer side changes: compare the producer's
            // output against the old and the new input schema.
            let old_breaks = breaks(&p.output_schema, &old.input_schema);
            let new_breaks = breaks(&p.output_schema, &new.input_schema);
            let fresh: Vec<String> = new_breaks
                .into_iter()
                .filter(|b| !old_breaks.contains(b))
                .collect();
            if !fresh.is_empty() {
                return Err(SwapError::EdgeBroken {
                    node: name.clone(),
                    side: "input",
                    edge,
                    reasons: fresh,
                });
            }
        }
        Ok(())
    }
}

fn breaks(producer: &Option<Schema>, consumer: &Option<Schema>) -> Vec<String> {
    match (producer, consumer) {
        (Some(p), Some(c)) => edge_breaks(p.source(), c.source()),
        // The consumer takes anything, or the producer promises nothing:
        // nothing to prove broken (runs still check values).
        _ => Vec::new(),
    }
}

/// The breaks of `new` → `consumer` that `old` → `consumer` did not have.
fn new_breaks(
    old: &Option<Schema>,
    new: &Option<Schema>,
    consumer: &Option<Schema>,
) -> Result<(), Vec<String>> {
    let before = breaks(old, consumer);
    let mut after = breaks(new, consumer);
    // A producer that drops its schema promises nothing any more.
    if old.is_some() && new.is_none() {
        if let Some(c) = consumer {
            after = edge_breaks(&serde_json::json!({}), c.source());
        }
    }
    let fresh: Vec<String> = after.into_iter().filter(|b| !before.contains(b)).collect();
    if fresh.is_empty() {
        Ok(())
    } else {
        Err(fresh)
    }
}
