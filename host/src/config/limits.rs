//! Per-node sandbox limits: their defaults and how manifest overrides
//! (`[defaults.limits]`, then `[nodes.<name>.limits]`) combine.

use std::time::Duration;

use super::schema::LimitsSection;
use crate::spec::Limits;

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
