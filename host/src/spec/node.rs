//! What a node is, once resolved, as the sandbox needs it: its role and its
//! per-invocation limits with their defaults and bounds.

use std::time::Duration;

/// The role a node plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Picks one branch.
    Router,
    /// Does a job, returns JSON.
    Worker,
    /// Checks another node's output.
    Judge,
}

impl Role {
    /// The role's name as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Router => "router",
            Role::Worker => "worker",
            Role::Judge => "judge",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits one node invocation runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory, in bytes.
    pub memory_bytes: u64,
    /// Guest CPU time, in epoch ticks (one tick per millisecond).
    pub cpu_ticks: u64,
    /// Wall-clock time for one invocation, model calls included.
    pub wall: Duration,
    /// Largest output (JSON text, verdict or route) in bytes.
    pub output_bytes: u64,
    /// Model calls per invocation (a batch counts each request).
    pub model_calls: u64,
    /// Log bytes per invocation (`log` import plus stdout/stderr); going
    /// past it ends the invocation with a `log-limit` error.
    pub log_bytes: u64,
    /// Calls into the host per invocation (`models`, `log`, `config`).
    pub host_calls: u64,
    /// Wasm call-stack size, in bytes.
    pub stack_bytes: u64,
}

/// The default `stack-kb`.
pub const DEFAULT_STACK_KB: u64 = 512;
/// The smallest `stack-kb` a node may ask for.
pub const MIN_STACK_KB: u64 = 16;
/// The largest `stack-kb` a node may ask for: guests run on the host's
/// worker threads, whose stacks must also hold the host's own frames.
pub const MAX_STACK_KB: u64 = 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            cpu_ticks: 2_000,
            wall: Duration::from_secs(60),
            output_bytes: 1 << 20,
            model_calls: 16,
            log_bytes: 64 << 10,
            host_calls: 10_000,
            stack_bytes: DEFAULT_STACK_KB << 10,
        }
    }
}
