//! A fresh Store for one invocation of a node: its memory limiter, the copy
//! limit on what the guest hands the host, the epoch deadline that checks
//! its CPU time and yields to the scheduler once the guest has held its
//! thread for a time slice; and the reading of a trap
//! (or an exceeded limit) as a typed [`NodeError`].

use wasmtime::{Store, Trap, UpdateDeadline};

use super::error::NodeError;
use super::host::NodeState;
use super::returned::{copy_limit, is_copy_limit, COPY_FIELD};

/// How long a guest may hold a worker thread in one go before it yields
/// at the next epoch tick.
pub const TIME_SLICE: std::time::Duration = std::time::Duration::from_micros(500);

/// A Store for one invocation with `state`, on `engine` (the node's
/// variant).
pub(super) fn new_store(engine: &wasmtime::Engine, state: NodeState) -> Store<NodeState> {
    let copy = copy_limit(state.limits().output_bytes);
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.memory);
    // Every value the guest hands the host in one crossing is bounded by
    // the node's output limit before Wasmtime copies it.
    store.set_hostcall_fuel(copy);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut cx| {
        let s = cx.data_mut();
        if s.charge_cpu() {
            return Ok(UpdateDeadline::Interrupt);
        }
        // A guest that has held the worker for a time slice yields it, so
        // a busy node cannot starve the runs queued behind it. One that has
        // barely started (a tick can fall in any short call) runs on: a
        // yield would send its run to the back of the queue, behind every
        // other run, for a few µs of work.
        if s.clock.poll_elapsed() < TIME_SLICE {
            return Ok(UpdateDeadline::Continue(1));
        }
        // Yield through tokio's own yield so other tasks get the worker
        // (a plain Yield starves them, wasmtime #10667).
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    store
}

/// The typed error for a trap (or an exceeded limit) of the node `node`.
pub(super) fn classify_trap(node: &str, state: &NodeState, e: &wasmtime::Error) -> NodeError {
    let node = node.to_string();
    if state.cpu_exhausted {
        return NodeError::CpuLimit {
            node,
            limit_ms: state.limits().cpu_ticks,
        };
    }
    if state.host_calls_exhausted {
        return NodeError::HostCallLimit {
            node,
            limit: state.limits().host_calls,
        };
    }
    if state.log.exhausted() {
        return NodeError::LogLimit {
            node,
            limit_kb: state.limits().log_bytes >> 10,
        };
    }
    if is_copy_limit(e) {
        return NodeError::OutputLimit {
            node,
            size: copy_limit(state.limits().output_bytes) as u64,
            limit: state.limits().output_bytes,
            field: COPY_FIELD.into(),
        };
    }
    if state.memory.refused {
        return NodeError::MemoryLimit {
            node,
            limit_mb: state.limits().memory_bytes >> 20,
        };
    }
    let message = match e.downcast_ref::<Trap>() {
        Some(Trap::UnreachableCodeReached) => {
            "unreachable code reached (a panic or abort in the guest)".to_string()
        }
        Some(Trap::StackOverflow) => {
            return NodeError::StackLimit {
                node,
                limit_kb: state.limits().stack_bytes >> 10,
            }
        }
        Some(Trap::MemoryOutOfBounds) => {
            "out-of-bounds memory access (in Rust and C guests often the shadow stack in linear memory overflowing)".to_string()
        }
        Some(t) => t.to_string(),
        None => format!("{e:#}"),
    };
    NodeError::Trap { node, message }
}
