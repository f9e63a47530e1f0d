//! A component checked for one node: its bytes meet the node's trust
//! requirement (from the manifest, never from the swap), and it loads for
//! the node's role and limits. The only way bytes become a node's
//! component — at load, hot-swap, `--watch` and for an experiment's
//! candidate — so no entry point can skip the signature check.

use std::path::Path;
use std::sync::Arc;

use crate::artifact::{trust, Provenance, TrustError};
use crate::config::NodeSpec;
use crate::engine::{LoadError, NodeComponent, NodeEngine};

/// Why bytes did not become a node's component.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Refused by the node's trust requirement.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// Not loadable for the node.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl CheckError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::Trust(t) => t.hint().into(),
            Self::Load(l) => l.hint(),
        }
    }
}

/// A component that passed both checks, with who signed it.
#[derive(Clone)]
pub struct CheckedComponent {
    pub(super) component: Arc<NodeComponent>,
    pub(super) provenance: Provenance,
}

impl CheckedComponent {
    /// The loaded component.
    pub fn component(&self) -> &Arc<NodeComponent> {
        &self.component
    }

    /// Who signed it.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }
}

/// Checks `bytes` (from `origin`, for messages) for the node `spec`
/// describes: trust first, so unsigned bytes are never even compiled.
pub async fn check(
    engine: &NodeEngine,
    spec: &NodeSpec,
    bytes: &[u8],
    origin: &Path,
) -> Result<CheckedComponent, CheckError> {
    let provenance = trust::check(&spec.name, &spec.trust, bytes)?;
    let component = engine
        .load_component_bytes(
            &spec.name,
            spec.role,
            origin,
            bytes,
            spec.limits.stack_bytes as usize,
        )
        .await?;
    Ok(CheckedComponent {
        component,
        provenance,
    })
}
