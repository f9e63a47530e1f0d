//! The sandbox engine: one Wasmtime engine per wasm stack size — every
//! node on the default `stack-kb` shares one — each with the pooling
//! allocator, epoch interruption ticked from an OS thread, component-model
//! concurrency off, and the host linker with zero-capability WASI and the
//! switchyard imports; the compiled-component cache, component loading and
//! per-call fresh-Store invocation, run inline in the caller's task.

mod admission;
pub mod bindings;
mod cache;
mod call;
mod component;
mod contract;
mod error;
mod host;
mod invoke;
mod pool;
pub mod returned;
mod stdio;
mod store;
pub mod stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use admission::{Admission, Admitted};
pub use bindings::ContractVersion;
pub use cache::{CacheOutcome, CompileCache};
pub use call::{
    Invocation, JudgeScore, NodeCall, NodeOutput, RouteChoice, RunScope, StreamReply, TaskInput,
    Usage, Verdict, Window,
};
pub use component::{
    check_description, exported_roles, Description, LoadInfo, NodeComponent, RolePre,
};
pub use contract::{Needs, RawDescription};
pub use error::{LoadError, NodeError};
pub use host::{NodeContext, NodeState};
pub(crate) use invoke::join_error_message;
pub use stream::{ModelStream, StreamChunk};

use crate::models::ModelHub;

/// The default wasm call-stack limit of a node (`limits.stack-kb`). Rust and
/// C guests keep most of their stack in linear memory, which each node's
/// memory limit bounds.
pub const DEFAULT_WASM_STACK: usize = (crate::spec::DEFAULT_STACK_KB as usize) << 10;

/// Pages the instance pool keeps resident after use, per kind (linear
/// memories, tables, async stacks), across all its slots.
pub const RESIDENT_BUDGET: u64 = 256 << 20;

/// How the engine is built.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Compiled-component cache directory; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// Slots of the instance pool (`[engine] max-instances`): most
    /// component instances alive at once. Runs past it wait for
    /// admission.
    pub max_instances: u32,
    /// The largest memory any node may be granted, in bytes.
    pub max_memory_bytes: u64,
    /// Epoch tick interval: how often a running guest's charged CPU time is
    /// checked against its limit.
    pub tick: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            cache_dir: CompileCache::default_dir(),
            max_instances: crate::spec::DEFAULT_MAX_INSTANCES,
            max_memory_bytes: 1 << 30,
            tick: Duration::from_millis(1),
        }
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the wasm engine: {0}")]
pub struct EngineError(String);

/// The sandbox engine (its stack-size variants, cache and instance pool),
/// shared by every pipeline generation of a process. Cheap to clone.
#[derive(Clone)]
pub struct NodeEngine {
    inner: Arc<Inner>,
}

struct Inner {
    opts: EngineOptions,
    /// The variant for the default stack size.
    default: Arc<Variant>,
    /// Variants for other stack sizes, made on first use.
    others: Mutex<HashMap<usize, Arc<Variant>>>,
    cache: CompileCache,
    pool: Arc<InstancePool>,
    admission: Admission,
    max_memory_bytes: u64,
    empty_hub: Arc<ModelHub>,
}

impl std::fmt::Debug for NodeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeEngine")
            .field("cache", &self.inner.cache)
            .finish()
    }
}

impl NodeEngine {
    /// Builds the engine and starts its epoch ticker.
    pub fn new(opts: EngineOptions) -> Result<Self, EngineError> {
        let default = Arc::new(Variant::new(&opts, DEFAULT_WASM_STACK)?);
        Ok(Self {
            inner: Arc::new(Inner {
                cache: CompileCache::new(opts.cache_dir.clone()),
                pool: Arc::new(InstancePool {
                    slots: Semaphore::new(opts.max_instances as usize),
                    name: format!("engine's instance pool ({} slots)", opts.max_instances),
                }),
                admission: Admission::new(opts.max_instances),
                max_memory_bytes: opts.max_memory_bytes,
                empty_hub: Arc::new(ModelHub::empty()),
                default,
                others: Mutex::new(HashMap::new()),
                opts,
            }),
        })
    }

    /// The engine variant whose wasm stack limit is `stack_bytes`.
    /// Wasmtime fixes the stack limit per engine, not per store, so each
    /// distinct `limits.stack-kb` gets its own engine (made once, on first
    /// use); every node on the default shares one.
    pub(crate) fn variant(&self, stack_bytes: usize) -> Result<Arc<Variant>, EngineError> {
        if stack_bytes == self.inner.default.stack_bytes {
            return Ok(self.inner.default.clone());
        }
        let mut others = self.inner.others.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = others.get(&stack_bytes) {
            return Ok(v.clone());
        }
        let v = Arc::new(Variant::new(&self.inner.opts, stack_bytes)?);
        others.insert(stack_bytes, v.clone());
        Ok(v)
    }

    /// The underlying Wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.default.engine
    }

    /// The compiled-component cache.
    pub fn cache(&self) -> &CompileCache {
        &self.inner.cache
    }

    /// The largest memory limit a node may have.
    pub fn max_memory_bytes(&self) -> u64 {
        self.inner.max_memory_bytes
    }

    /// The instance pool every component of this engine takes slots from.
    fn pool(&self) -> Arc<InstancePool> {
        self.inner.pool.clone()
    }

    /// Slots of the instance pool free now (for tests and diagnostics).
    pub fn pool_free_slots(&self) -> usize {
        self.inner.pool.slots.available_permits()
    }

    /// Slots in the instance pool.
    pub fn pool_slots(&self) -> u32 {
        self.inner.opts.max_instances
    }

    /// The run queue in front of the instance pool.
    pub fn admission(&self) -> &Admission {
        &self.inner.admission
    }

    fn empty_hub(&self) -> Arc<ModelHub> {
        self.inner.empty_hub.clone()
    }
}

/// The engine's instance pool: `max-instances` slots, each carrying a share
/// of core instances, memories and tables (see `pool`). An invocation holds
/// its component's weight in slots while its instance lives.
#[derive(Debug)]
pub struct InstancePool {
    /// The slots.
    slots: Semaphore,
    /// The pool, named for messages (with its size).
    name: String,
}

/// One Wasmtime engine with its host linker, for one wasm stack size.
pub(crate) struct Variant {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) linker: Linker<NodeState>,
    pub(crate) stack_bytes: usize,
}

impl Variant {
    fn new(opts: &EngineOptions, stack_bytes: usize) -> Result<Self, EngineError> {
        let err = |e: wasmtime::Error| EngineError(format!("{e:#}"));
        let mut pool = PoolingAllocationConfig::default();
        // Each of the pool's `max_instances` slots carries a share of core
        // instances, memories and tables; a component needing more than one
        // share takes several slots per instance (see `pool`).
        pool.total_component_instances(opts.max_instances)
            .total_core_instances(opts.max_instances * pool::CORE_INSTANCES_PER_SLOT)
            .total_memories(opts.max_instances * pool::MEMORIES_PER_SLOT)
            .total_tables(opts.max_instances * pool::TABLES_PER_SLOT)
            .total_stacks(opts.max_instances)
            .max_memory_size(usize::try_from(opts.max_memory_bytes).unwrap_or(usize::MAX))
            .max_core_instances_per_component(pool::MAX_CORE_INSTANCES)
            .max_memories_per_component(pool::MAX_MEMORIES)
            .max_tables_per_component(pool::MAX_TABLES);
        // Fresh-instance cost is dominated by resetting pooled memory and
        // stacks after use. With PAGEMAP_SCAN (Linux 6.7+) Wasmtime resets
        // only the pages a guest dirtied, so keeping a generous 1 MiB
        // resident is cheapest (measured: ~15 µs per invocation against ~55
        // with the defaults); without it, zeroing 1 MiB by hand would cost
        // more than decommitting, so keep only 64 KiB. Decommits are
        // batched.
        // What stays resident is bounded for the whole pool too: at most
        // RESIDENT_BUDGET per kind (memories, tables, stacks) across all
        // slots, so a large pool keeps less per slot.
        let per_slot = RESIDENT_BUDGET / u64::from(opts.max_instances.max(1));
        let keep = if PoolingAllocationConfig::is_pagemap_scan_available() {
            1 << 20
        } else {
            64 << 10
        }
        .min(usize::try_from(per_slot).unwrap_or(usize::MAX) & !0xfff);
        pool.pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(keep)
            .table_keep_resident(keep)
            .async_stack_keep_resident(keep)
            .decommit_batch_size(16);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .concurrency_support(false)
            .max_wasm_stack(stack_bytes)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = wasmtime::Engine::new(&config).map_err(err)?;

        let mut linker: Linker<NodeState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(err)?;
        // Every contract version the host supports, side by side: their
        // interfaces have distinct versioned names.
        bindings::v0_1::router::RouterNode::add_to_linker::<NodeState, HasSelf<NodeState>>(
            &mut linker,
            |s| s,
        )
        .map_err(err)?;
        bindings::v0_2::router::RouterNode::add_to_linker::<NodeState, HasSelf<NodeState>>(
            &mut linker,
            |s| s,
        )
        .map_err(err)?;
        spawn_ticker(&engine, opts.tick);
        Ok(Self {
            engine,
            linker,
            stack_bytes,
        })
    }
}

/// Ticks the engine's epoch from an OS thread until the engine is dropped.
fn spawn_ticker(engine: &wasmtime::Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("switchyard-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })
        .expect("spawning the epoch thread");
}
