//! The contract's versions as one shape for the rest of the host. Each
//! version's module (`v0_1`, `v0_2`) converts between its generated WIT
//! types and the engine's own vocabulary ([`NodeCall`], [`NodeOutput`],
//! [`RawDescription`], `ChatRequest`, `ModelError`), implements its host
//! imports on [`NodeState`], and calls its exports. [`RolePre`] is a
//! component pre-instantiated for its role and version; nothing outside
//! this module needs to know which version a component was built for.

pub mod v0_1;
pub mod v0_2;

use wasmtime::Store;

use super::bindings::ContractVersion;
use super::call::{JudgeScore, NodeCall, NodeOutput};
use super::error::NodeError;
use super::host::NodeState;
use crate::spec::Role;

/// A component pre-instantiated for its role, in its contract version;
/// cheap to clone.
#[derive(Clone)]
pub enum RolePre {
    /// Built for `switchyard:node@0.1.0`.
    V0_1(v0_1::Pre),
    /// Built for `switchyard:node@0.2.0`.
    V0_2(v0_2::Pre),
}

/// A guest's answer in the engine's vocabulary: the output, or the error the
/// guest returned (still to be named for the node), and a judge's scores.
pub struct Answer {
    /// The output, or the guest's own error.
    pub result: Result<NodeOutput, GuestError>,
    /// A judge's score, when it gave one.
    pub score: Option<JudgeScore>,
}

/// An error a guest returned as a value, before the host names the node.
#[derive(Debug)]
pub enum GuestError {
    /// `invalid-input`.
    InvalidInput(String),
    /// `model`.
    Model(crate::models::ModelError),
    /// `internal`.
    Internal(String),
    /// Not an error the guest returned: its answer broke the contract.
    InvalidOutput(String),
}

impl GuestError {
    /// The typed error for node `node`.
    pub fn for_node(self, node: &str) -> NodeError {
        let node = node.to_string();
        match self {
            GuestError::InvalidInput(message) => NodeError::InvalidInput { node, message },
            GuestError::Model(error) => NodeError::Model { node, error },
            GuestError::Internal(message) => NodeError::Internal { node, message },
            GuestError::InvalidOutput(message) => NodeError::InvalidOutput { node, message },
        }
    }
}

/// What a node declares it needs (0.2 `describe`); `None` fields were not
/// declared (every 0.1 component).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Needs {
    /// Model names or kinds it calls; `None`: not declared.
    pub models: Option<Vec<String>>,
    /// The most model calls per invocation, if declared.
    pub model_calls: Option<u32>,
    /// Settings keys it reads, if declared.
    pub settings: Option<Vec<String>>,
}

/// A `describe` answer before the host checks it.
#[derive(Debug, Clone)]
pub struct RawDescription {
    /// The role it says it plays.
    pub role: Role,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// One line for humans.
    pub summary: String,
    /// Its input schema (JSON text), if declared.
    pub input_schema: Option<String>,
    /// Its output schema (JSON text), if declared.
    pub output_schema: Option<String>,
    /// What it says it needs.
    pub needs: Needs,
    /// A judge that checks stream windows.
    pub checks_windows: bool,
}

impl RolePre {
    /// Pre-instantiates `instance_pre` for `role` in contract `version`.
    pub fn new(
        version: ContractVersion,
        role: Role,
        instance_pre: wasmtime::component::InstancePre<NodeState>,
    ) -> wasmtime::Result<Self> {
        Ok(match version {
            ContractVersion::V0_1 => RolePre::V0_1(v0_1::Pre::new(role, instance_pre)?),
            ContractVersion::V0_2 => RolePre::V0_2(v0_2::Pre::new(role, instance_pre)?),
        })
    }

    /// The contract version the component was built for.
    pub fn version(&self) -> ContractVersion {
        match self {
            RolePre::V0_1(_) => ContractVersion::V0_1,
            RolePre::V0_2(_) => ContractVersion::V0_2,
        }
    }

    /// Instantiates into `store` and calls the `describe` export.
    pub async fn describe(&self, store: &mut Store<NodeState>) -> wasmtime::Result<RawDescription> {
        match self {
            RolePre::V0_1(p) => p.describe(store).await,
            RolePre::V0_2(p) => p.describe(store).await,
        }
    }

    /// Instantiates into `store` and makes `call`.
    pub async fn call(
        &self,
        store: &mut Store<NodeState>,
        call: NodeCall,
    ) -> wasmtime::Result<Answer> {
        match self {
            RolePre::V0_1(p) => p.call(store, call).await,
            RolePre::V0_2(p) => p.call(store, call).await,
        }
    }
}

/// The error for a call that does not match the component's role (a host
/// bug: the pipeline only makes calls of the node's role).
fn mismatch(call: &NodeCall) -> wasmtime::Error {
    wasmtime::Error::msg(format!(
        "host bug: {call:?} does not match the component's role"
    ))
}
