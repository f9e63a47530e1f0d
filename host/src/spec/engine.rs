//! What a manifest may set of the sandbox engine (`[engine]`): the size of
//! the instance pool, which bounds how many node instances are alive at
//! once and, through admission, how many runs progress at once.

/// Instance-pool slots when `[engine] max-instances` is not set.
pub const DEFAULT_MAX_INSTANCES: u32 = 256;
/// The most slots a pool may have: each slot reserves address space for
/// its linear memories (about 8 GiB of the 128 TiB a process has).
pub const MAX_INSTANCES: u32 = 8192;

/// `[engine]`, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSpec {
    /// Instance-pool slots.
    pub max_instances: u32,
}

impl Default for EngineSpec {
    fn default() -> Self {
        Self {
            max_instances: DEFAULT_MAX_INSTANCES,
        }
    }
}
