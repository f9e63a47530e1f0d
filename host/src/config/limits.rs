//! Per-node sandbox limits: their defaults and how manifest overrides
//! (`[defaults.limits]`, then `[nodes.<name>.limits]`) combine.

use std::time::Duration;

use super::schema::LimitsSection;

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

impl Limits {
    /// These limits with every field `section` sets replaced.
    pub fn overridden_by(self, section: &LimitsSection) -> Self {
        let get = |v: &Option<toml::Spanned<u64>>| v.as_ref().map(|s| *s.get_ref());
        Self {
            memory_bytes: get(&section.memory_mb).map_or(self.memory_bytes, |mb| mb << 20),
            cpu_ticks: get(&section.cpu_ms).unwrap_or(self.cpu_ticks),
            wall: get(&section.wall_ms).map_or(self.wall, Duration::from_millis),
            output_bytes: get(&section.output_kb).map_or(self.output_bytes, |kb| kb << 10),
            model_calls: get(&section.model_calls).unwrap_or(self.model_calls),
            log_bytes: get(&section.log_kb).map_or(self.log_bytes, |kb| kb << 10),
            host_calls: get(&section.host_calls).unwrap_or(self.host_calls),
            stack_bytes: get(&section.stack_kb).map_or(self.stack_bytes, |kb| kb << 10),
        }
    }
}
