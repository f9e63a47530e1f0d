//! What one instance of a component takes from the engine's pooling
//! allocator. The pool has `max-instances` slots; each slot carries a share
//! of core instances, linear memories and tables. A component whose
//! instance needs more than one share takes several slots (its weight),
//! so an invocation waits for room instead of failing to instantiate, and
//! a component needing more than any one instance may have is refused at
//! load with the numbers.

use wasmparser::{Instance, Parser, Payload};
use wasmtime::component::Component;

/// Core instances each pool slot carries.
pub const CORE_INSTANCES_PER_SLOT: u32 = 8;
/// Linear memories each pool slot carries.
pub const MEMORIES_PER_SLOT: u32 = 2;
/// Tables each pool slot carries.
pub const TABLES_PER_SLOT: u32 = 8;
/// Core instances one component instance may have.
pub const MAX_CORE_INSTANCES: u32 = 64;
/// Linear memories one component instance may have.
pub const MAX_MEMORIES: u32 = 8;
/// Tables one component instance may have.
pub const MAX_TABLES: u32 = 32;

/// What one instance of a component needs from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Core module instances.
    pub core_instances: u32,
    /// Linear memories it defines.
    pub memories: u32,
    /// Tables it defines.
    pub tables: u32,
}

impl Needs {
    /// Counts what `component` (compiled from `bytes`) needs per instance.
    pub fn of(bytes: &[u8], component: &Component) -> Self {
        let mut core_instances = 0u32;
        for payload in Parser::new(0).parse_all(bytes) {
            if let Ok(Payload::InstanceSection(section)) = payload {
                for instance in section.into_iter().flatten() {
                    if matches!(instance, Instance::Instantiate { .. }) {
                        core_instances = core_instances.saturating_add(1);
                    }
                }
            }
        }
        let (memories, tables) = component
            .resources_required()
            .map_or((MAX_MEMORIES + 1, MAX_TABLES + 1), |r| {
                (r.num_memories, r.num_tables)
            });
        Self {
            core_instances: core_instances.max(1),
            memories,
            tables,
        }
    }

    /// The slots one instance takes, or why no instance of it can ever
    /// fit.
    pub fn weight(&self, slots: u32) -> Result<u32, String> {
        let over = |what: &str, n: u32, max: u32| {
            (n > max)
                .then(|| format!("{n} {what} per instance, over the engine's {max} per component"))
        };
        if let Some(why) = over("core instances", self.core_instances, MAX_CORE_INSTANCES)
            .or_else(|| over("linear memories", self.memories, MAX_MEMORIES))
            .or_else(|| over("tables", self.tables, MAX_TABLES))
        {
            return Err(why);
        }
        let weight = 1
            .max(self.core_instances.div_ceil(CORE_INSTANCES_PER_SLOT))
            .max(self.memories.div_ceil(MEMORIES_PER_SLOT))
            .max(self.tables.div_ceil(TABLES_PER_SLOT));
        if weight > slots {
            return Err(format!(
                "{weight} slots of the instance pool per instance, but the pool has {slots}"
            ));
        }
        Ok(weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_weight_counts_the_largest_share_and_refuses_what_never_fits() {
        let n = |core_instances, memories, tables| Needs {
            core_instances,
            memories,
            tables,
        };
        assert_eq!(n(5, 1, 2).weight(256), Ok(1));
        assert_eq!(n(12, 1, 2).weight(256), Ok(2));
        assert_eq!(n(3, 5, 2).weight(256), Ok(3));
        assert!(n(65, 1, 1)
            .weight(256)
            .unwrap_err()
            .contains("65 core instances"));
        assert!(n(1, 9, 1)
            .weight(256)
            .unwrap_err()
            .contains("9 linear memories"));
        assert!(n(64, 8, 1).weight(4).unwrap_err().contains("pool has 4"));
    }
}
