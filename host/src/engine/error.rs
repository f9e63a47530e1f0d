//! Typed errors of the sandbox: why a component could not be loaded, and why
//! an invocation failed. Messages are lowercase, name the node and say what
//! to do.

use std::path::PathBuf;

use serde::Serialize;

use crate::models::ModelError;

/// Why a node's component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("node `{node}`: cannot read component {}: {source}", path.display())]
    Read {
        /// Node name.
        node: String,
        /// Component path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a valid component.
    #[error("node `{node}`: {} is not a valid WebAssembly component: {reason}", path.display())]
    NotAComponent {
        /// Node name.
        node: String,
        /// Component path.
        path: PathBuf,
        /// Wasmtime's explanation.
        reason: String,
    },
    /// The component targets another world than the node's role.
    #[error("node `{node}` is declared as a {expected_role}, but component {} {found}", path.display())]
    WrongWorld {
        /// Node name.
        node: String,
        /// Component path.
        path: PathBuf,
        /// The role the manifest declares.
        expected_role: String,
        /// What the component does export, or what is missing.
        found: String,
    },
    /// The component needs an import the host does not provide, or its
    /// exports do not type-check against the contract.
    #[error("node `{node}`: component {} does not fit the switchyard:node@{} contract: {reason}", path.display(), super::bindings::supported_versions())]
    Contract {
        /// Node name.
        node: String,
        /// Component path.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// `describe` failed or disagrees with the manifest.
    #[error("node `{node}`: component {} describes itself wrongly: {reason}", path.display())]
    Describe {
        /// Node name.
        node: String,
        /// Component path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The node's limits cannot be honoured by this engine.
    #[error("node `{node}`: {reason}")]
    Limits {
        /// Node name.
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// Something the component declares about itself (a schema, a
    /// `describe` field) is past a bound the host sets on untrusted input.
    #[error("node `{node}`: component {} declares {what} past a bound: {reason}", path.display())]
    Bound {
        /// Node name.
        node: String,
        /// Component path.
        path: PathBuf,
        /// What: `its output-schema`, `its describe fields`, …
        what: String,
        /// Which bound, and by how much.
        reason: String,
    },
    /// One instance of the component needs more of the engine's instance
    /// pool than any component may take.
    #[error("node `{node}`: component {} needs more of the engine's instance pool than one instance may take: {reason}", path.display())]
    Pool {
        /// Node name.
        node: String,
        /// Component path.
        path: PathBuf,
        /// What it needs against what the pool allows.
        reason: String,
    },
}

impl LoadError {
    /// What the user should do about it.
    pub fn hint(&self) -> String {
        match self {
            LoadError::Read { .. } => "build the plugins first (`cargo xtask plugins` or `just plugins`), or fix the path; it is relative to the manifest".into(),
            LoadError::NotAComponent { reason, .. } if reason.contains("component model async") => {
                "switchyard runs the synchronous component ABI; rebuild without async exports and imports (e.g. drop `async: true` in wit-bindgen)".into()
            }
            LoadError::NotAComponent { .. } => "build it as a component, e.g. `cargo build --target wasm32-wasip2` for Rust (see docs/plugins.md)".into(),
            LoadError::WrongWorld { expected_role, .. } => format!(
                "point `component` at a {expected_role} component (built against world `{expected_role}-node`), or change the node's `role`"
            ),
            LoadError::Contract { .. } => "components may import only switchyard:node/{models,log,config} (0.1.0 or 0.2.0) and WASI 0.2; rebuild against wit/node@0.2.0".into(),
            LoadError::Describe { .. } => "fix the component's `describe` export so its role matches its world and its schemas are JSON".into(),
            LoadError::Limits { .. } => "lower the node's limits.memory-mb, or start the engine with a larger memory cap".into(),
            LoadError::Bound { .. } => "a component's own schemas and self-description are untrusted and bounded (docs/security.md); shrink them, or declare `input-schema` / `output-schema` for the node in the manifest, which is trusted".into(),
            LoadError::Pool { .. } => "split the component, or build it with fewer core modules and memories (docs/security.md, \"instance pool\")".into(),
        }
    }

    /// The node the error is about.
    pub fn node(&self) -> &str {
        match self {
            LoadError::Read { node, .. }
            | LoadError::NotAComponent { node, .. }
            | LoadError::WrongWorld { node, .. }
            | LoadError::Contract { node, .. }
            | LoadError::Describe { node, .. }
            | LoadError::Limits { node, .. }
            | LoadError::Bound { node, .. }
            | LoadError::Pool { node, .. } => node,
        }
    }
}

/// Why one node invocation failed. Every variant names the node.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NodeError {
    /// The node refused its input.
    #[error("node `{node}` rejected its input: {message}")]
    InvalidInput {
        /// Node name.
        node: String,
        /// The node's explanation.
        message: String,
    },
    /// A model call failed and the node gave up.
    #[error("node `{node}`: {error}")]
    Model {
        /// Node name.
        node: String,
        /// The model error.
        error: ModelError,
    },
    /// The node reported an internal failure.
    #[error("node `{node}` failed: {message}")]
    Internal {
        /// Node name.
        node: String,
        /// The node's explanation.
        message: String,
    },
    /// The guest trapped (panic, unreachable, stack overflow, …).
    #[error("node `{node}` trapped: {message}")]
    Trap {
        /// Node name.
        node: String,
        /// The trap.
        message: String,
    },
    /// Guest CPU time ran out.
    #[error("node `{node}` exceeded its CPU limit of {limit_ms} ms (limits.cpu-ms)")]
    CpuLimit {
        /// Node name.
        node: String,
        /// The limit.
        limit_ms: u64,
    },
    /// Linear memory would have grown past the limit.
    #[error("node `{node}` exceeded its memory limit of {limit_mb} MiB (limits.memory-mb)")]
    MemoryLimit {
        /// Node name.
        node: String,
        /// The limit.
        limit_mb: u64,
    },
    /// Wall time ran out (model calls included).
    #[error("node `{node}` exceeded its wall-time limit of {limit_ms} ms")]
    WallTimeout {
        /// Node name.
        node: String,
        /// The limit that applied (node limit or what was left of the run).
        limit_ms: u64,
    },
    /// The wasm call stack overflowed.
    #[error("node `{node}` exceeded its wasm stack limit of {limit_kb} KiB (limits.stack-kb)")]
    StackLimit {
        /// Node name.
        node: String,
        /// The limit.
        limit_kb: u64,
    },
    /// Too many calls into the host.
    #[error(
        "node `{node}` exceeded its limit of {limit} host calls per invocation (limits.host-calls)"
    )]
    HostCallLimit {
        /// Node name.
        node: String,
        /// The limit.
        limit: u64,
    },
    /// Too many log bytes (`log` import plus stdout/stderr).
    #[error(
        "node `{node}` exceeded its log limit of {limit_kb} KiB per invocation (limits.log-kb)"
    )]
    LogLimit {
        /// Node name.
        node: String,
        /// The limit.
        limit_kb: u64,
    },
    /// Something the node returned (its output, a verdict's reasons, an
    /// error message, any value handed to the host) is larger than allowed.
    #[error("node `{node}` returned {}, over its output limit of {} (limits.output-kb)", amount(field, *size, false), amount(field, *limit, true))]
    OutputLimit {
        /// Node name.
        node: String,
        /// Its size (bytes, or a count for `reason count`).
        size: u64,
        /// The bound it broke.
        limit: u64,
        /// What was too large: `output`, `repair`, `reason`, `reason
        /// count`, `error message`, `route reason`, …
        field: String,
    },
    /// No instance slot came free within the node's wall limit.
    #[error("node `{node}` waited {waited_ms} ms for a slot in the {pool} and gave up at its wall-time limit; lower the load, or raise limits.wall-ms")]
    Busy {
        /// Node name.
        node: String,
        /// How long it waited.
        waited_ms: u64,
        /// The pool, with its size.
        pool: String,
    },
    /// The output breaks the contract (not JSON, unknown route, …).
    #[error("node `{node}` returned invalid output: {message}")]
    InvalidOutput {
        /// Node name.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// The instance could not be created.
    #[error("node `{node}` could not be instantiated: {message}")]
    Instantiate {
        /// Node name.
        node: String,
        /// Why.
        message: String,
    },
}

impl NodeError {
    /// The node the error is about.
    pub fn node(&self) -> &str {
        match self {
            NodeError::InvalidInput { node, .. }
            | NodeError::Model { node, .. }
            | NodeError::Internal { node, .. }
            | NodeError::Trap { node, .. }
            | NodeError::CpuLimit { node, .. }
            | NodeError::MemoryLimit { node, .. }
            | NodeError::WallTimeout { node, .. }
            | NodeError::OutputLimit { node, .. }
            | NodeError::HostCallLimit { node, .. }
            | NodeError::StackLimit { node, .. }
            | NodeError::LogLimit { node, .. }
            | NodeError::InvalidOutput { node, .. }
            | NodeError::Busy { node, .. }
            | NodeError::Instantiate { node, .. } => node,
        }
    }

    /// A short, stable name for summaries and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeError::InvalidInput { .. } => "invalid-input",
            NodeError::Model { .. } => "model",
            NodeError::Internal { .. } => "internal",
            NodeError::Trap { .. } => "trap",
            NodeError::CpuLimit { .. } => "cpu-limit",
            NodeError::MemoryLimit { .. } => "memory-limit",
            NodeError::WallTimeout { .. } => "wall-timeout",
            NodeError::HostCallLimit { .. } => "host-call-limit",
            NodeError::StackLimit { .. } => "stack-limit",
            NodeError::LogLimit { .. } => "log-limit",
            NodeError::OutputLimit { .. } => "output-limit",
            NodeError::InvalidOutput { .. } => "invalid-output",
            NodeError::Instantiate { .. } => "instantiate",
            NodeError::Busy { .. } => "busy",
        }
    }

    /// The text the guest itself supplied, if this error carries one.
    pub fn guest_message(&self) -> Option<&str> {
        match self {
            NodeError::InvalidInput { message, .. } | NodeError::Internal { message, .. } => {
                Some(message)
            }
            NodeError::Model { error, .. } => error.detail(),
            _ => None,
        }
    }
}

/// The `field` of an `output-limit` error raised by the copy limit: the
/// guest tried to hand over more than the copy limit (`output-kb` + 64 KiB)
/// in one crossing.
pub const COPY_FIELD: &str = "one crossing to the host";

/// `n` of `field` in words: a count of reasons, else bytes.
fn amount(field: &str, n: u64, is_limit: bool) -> String {
    match field {
        "reason count" => format!("{n} reasons"),
        f if f == COPY_FIELD && !is_limit => format!("more than {n} bytes in {f}"),
        _ if is_limit => format!("{n} bytes"),
        f => format!("{n} bytes of {f}"),
    }
}
