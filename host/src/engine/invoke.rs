//! One node invocation: a fresh Store from the component's `InstancePre`,
//! the node's memory limit, a CPU budget checked on epoch ticks, a
//! wall-clock deadline covering model calls, then the role's export call.
//! Traps and exceeded limits come back as typed [`NodeError`]s; the store is
//! dropped afterwards, so a trapped instance is never reused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde::Serialize;
use std::panic::AssertUnwindSafe;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::wit;
use super::component::{NodeComponent, RolePre};
use super::error::NodeError;
use super::host::{NodeContext, NodeState, Usage};
use super::returned::{check_answer, copy_limit, escape_control, is_copy_limit, COPY_FIELD};
use super::NodeEngine;
use crate::models::{Ledger, ModelError, ModelHub, RunBudget};

/// A task as handed to a node (host form of WIT `task`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TaskInput {
    /// Run id.
    pub id: String,
    /// Input JSON text.
    pub input: String,
    /// Context JSON object text.
    pub meta: String,
    /// Attempt number, from 0.
    pub attempt: u32,
    /// Reasons from a judge's earlier rejection.
    pub feedback: Vec<String>,
}

impl TaskInput {
    fn to_wit(&self) -> wit::Task {
        wit::Task {
            id: self.id.clone(),
            input: self.input.clone(),
            meta: self.meta.clone(),
            attempt: self.attempt,
            feedback: self.feedback.clone(),
        }
    }
}

/// What to ask the node.
#[derive(Debug, Clone)]
pub enum NodeCall {
    /// Router: pick one of `candidates`.
    Route {
        /// The task.
        task: TaskInput,
        /// Branch labels.
        candidates: Vec<String>,
    },
    /// Worker: run the task.
    Run {
        /// The task.
        task: TaskInput,
    },
    /// Judge: judge `candidate` for the task.
    Judge {
        /// The task the candidate was produced for.
        task: TaskInput,
        /// The candidate output, JSON text.
        candidate: String,
    },
}

/// A router's choice.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteChoice {
    /// Branch label.
    pub target: String,
    /// 0..=1.
    pub confidence: f32,
    /// Why.
    pub reason: String,
}

/// A judge's verdict.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Continue unchanged.
    Accept,
    /// Stop; here is why.
    Reject {
        /// Reasons.
        reasons: Vec<String>,
    },
    /// Continue with this corrected output (JSON text).
    Repair {
        /// The repaired output.
        output: String,
    },
}

impl Verdict {
    /// Its stable name: `accept`, `reject` or `repair`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Reject { .. } => "reject",
            Verdict::Repair { .. } => "repair",
        }
    }
}

/// What the node answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeOutput {
    /// A router's choice.
    Route(RouteChoice),
    /// A worker's output, JSON text.
    Output(String),
    /// A judge's verdict.
    Verdict(Verdict),
}

/// The outcome of one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The answer or the typed failure.
    pub result: Result<NodeOutput, NodeError>,
    /// Resources used.
    pub usage: Usage,
    /// Wall time, instantiation included.
    pub elapsed: Duration,
}

/// The per-run services an invocation uses.
#[derive(Debug, Clone)]
pub struct RunScope {
    /// Model hub.
    pub hub: Arc<ModelHub>,
    /// The run's ledger.
    pub ledger: Arc<Ledger>,
    /// The run's budgets.
    pub budget: Arc<RunBudget>,
}

impl RunScope {
    /// A scope outside any run: a fresh ledger, no budget.
    pub fn detached(hub: Arc<ModelHub>) -> Self {
        Self {
            hub,
            ledger: Arc::new(Ledger::new()),
            budget: Arc::new(RunBudget::default()),
        }
    }
}

fn guest_error(node: &str, e: wit::NodeError) -> NodeError {
    let node = node.to_string();
    match e {
        wit::NodeError::InvalidInput(message) => NodeError::InvalidInput { node, message },
        wit::NodeError::Model(m) => NodeError::Model {
            node,
            error: super::host::from_wit_error(m),
        },
        wit::NodeError::Internal(message) => NodeError::Internal { node, message },
    }
}

/// Guest text with its control characters escaped, so it cannot break out
/// of the record, log line or response it is copied into. Run after the
/// size checks, on values already within their bounds.
fn escape_guest_text(answer: Result<NodeOutput, NodeError>) -> Result<NodeOutput, NodeError> {
    let esc = |s: String| match escape_control(&s) {
        std::borrow::Cow::Borrowed(_) => s,
        std::borrow::Cow::Owned(o) => o,
    };
    match answer {
        Ok(NodeOutput::Verdict(Verdict::Reject { reasons })) => {
            Ok(NodeOutput::Verdict(Verdict::Reject {
                reasons: reasons.into_iter().map(esc).collect(),
            }))
        }
        Ok(NodeOutput::Route(r)) => Ok(NodeOutput::Route(RouteChoice {
            reason: esc(r.reason),
            ..r
        })),
        Ok(other) => Ok(other),
        Err(NodeError::InvalidInput { node, message }) => Err(NodeError::InvalidInput {
            node,
            message: esc(message),
        }),
        Err(NodeError::Internal { node, message }) => Err(NodeError::Internal {
            node,
            message: esc(message),
        }),
        Err(NodeError::Model { node, error }) => Err(NodeError::Model {
            node,
            error: match error {
                ModelError::Unavailable(s) => ModelError::Unavailable(esc(s)),
                ModelError::Denied(s) => ModelError::Denied(esc(s)),
                ModelError::BudgetExceeded(s) => ModelError::BudgetExceeded(esc(s)),
                ModelError::InvalidRequest(s) => ModelError::InvalidRequest(esc(s)),
                e => e,
            },
        }),
        Err(e) => Err(e),
    }
}

impl NodeEngine {
    /// Invokes `component` as node `ctx.node` in a fresh sandbox. `deadline`
    /// (the run's) shortens the node's own wall limit when it is sooner.
    pub async fn invoke(
        &self,
        component: &Arc<NodeComponent>,
        ctx: Arc<NodeContext>,
        scope: RunScope,
        call: NodeCall,
        deadline: Option<Instant>,
    ) -> Invocation {
        let started = Instant::now();
        let node: Arc<str> = ctx.node.clone();
        let mut wall = ctx.limits.wall;
        if let Some(d) = deadline {
            wall = wall.min(d.saturating_duration_since(started));
        }
        // Waiting for a slot in the instance pool is part of the node's wall
        // time: a pool held by others becomes a typed `busy` error in time,
        // never a stall until the run's deadline.
        let permit = tokio::time::timeout(
            wall,
            self.instance_permits().acquire_many(component.pool_weight),
        )
        .await;
        let _permit = match permit {
            Ok(Ok(p)) => p,
            Ok(Err(_closed)) => {
                return Invocation {
                    result: Err(NodeError::Instantiate {
                        node: node.to_string(),
                        message: "engine is shutting down".into(),
                    }),
                    usage: Usage::default(),
                    elapsed: started.elapsed(),
                }
            }
            Err(_elapsed) => {
                return Invocation {
                    result: Err(NodeError::Busy {
                        node: node.to_string(),
                        waited_ms: started.elapsed().as_millis() as u64,
                        pool: self.pool_name(),
                    }),
                    usage: Usage::default(),
                    elapsed: started.elapsed(),
                }
            }
        };
        let limit = wall;
        let wall = wall.saturating_sub(started.elapsed());
        let engine = component.engine.clone();
        let pre = component.pre.clone();
        let output_limit = ctx.limits.output_bytes;
        let state = NodeState::new(ctx, scope);
        let task_node = node.clone();
        // A host-side panic while serving this invocation fails this run
        // only. The invocation runs inline in the caller's task (a task per
        // call costs cross-thread wake-ups), so dropping this future (run
        // deadline, cancellation) drops the Store and stops the guest at once.
        let work = async move {
            let mut store = new_store(&engine, state);
            let clock = store.data().clock.clone();
            let answer =
                tokio::time::timeout(wall, clock.meter(call_export(&mut store, &pre, call))).await;
            let usage = store.data().final_usage();
            let result = match answer {
                Err(_elapsed) => Err(NodeError::WallTimeout {
                    node: task_node.to_string(),
                    limit_ms: limit.as_millis() as u64,
                }),
                Ok(Ok(answer)) => {
                    let answer = answer.map_err(|guest| guest_error(&task_node, guest));
                    check_answer(&task_node, &answer, output_limit)
                        .and_then(|()| escape_guest_text(answer))
                        .and_then(|out| check_json(&task_node, out))
                }
                Ok(Err(trap)) => Err(classify_trap(&task_node, store.data(), &trap)),
            };
            (result, usage)
        };
        let (result, usage) = match AssertUnwindSafe(work).catch_unwind().await {
            Ok(r) => r,
            Err(panic) => (
                Err(NodeError::Trap {
                    node: node.to_string(),
                    message: format!(
                        "host panicked while serving the node: {}",
                        panic_message(&panic)
                    ),
                }),
                Usage::default(),
            ),
        };
        Invocation {
            result,
            usage,
            elapsed: started.elapsed(),
        }
    }

    /// Calls `describe` on a fresh instance with default limits.
    pub(crate) async fn call_describe(
        &self,
        node: &str,
        engine: &wasmtime::Engine,
        stack_bytes: usize,
        pool_weight: u32,
        pre: &RolePre,
    ) -> Result<wit::Description, NodeError> {
        let Ok(_permit) = self.instance_permits().acquire_many(pool_weight).await else {
            return Err(NodeError::Instantiate {
                node: node.into(),
                message: "engine is shutting down".into(),
            });
        };
        let mut ctx = NodeContext::bare(node);
        ctx.limits.stack_bytes = stack_bytes as u64;
        let ctx = Arc::new(ctx);
        let hub = self.empty_hub();
        let mut store = new_store(engine, NodeState::new(ctx, RunScope::detached(hub)));
        let wall = crate::config::Limits::default().wall;
        let clock = store.data().clock.clone();
        let r = tokio::time::timeout(wall, clock.meter(pre.describe(&mut store))).await;
        match r {
            Err(_) => Err(NodeError::WallTimeout {
                node: node.into(),
                limit_ms: wall.as_millis() as u64,
            }),
            Ok(Ok(d)) => Ok(d),
            Ok(Err(trap)) => Err(classify_trap(node, store.data(), &trap)),
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

fn new_store(engine: &wasmtime::Engine, state: NodeState) -> Store<NodeState> {
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
        // Yield through tokio's own yield so other tasks get the worker
        // (a plain Yield starves them, wasmtime #10667).
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    store
}

async fn call_export(
    store: &mut Store<NodeState>,
    pre: &RolePre,
    call: NodeCall,
) -> wasmtime::Result<Result<NodeOutput, wit::NodeError>> {
    Ok(match (pre, call) {
        (RolePre::Router(p), NodeCall::Route { task, candidates }) => {
            let inst = p.instantiate_async(&mut *store).await?;
            inst.switchyard_node_router()
                .call_route(&mut *store, &task.to_wit(), &candidates)
                .await?
                .map(|d| {
                    NodeOutput::Route(RouteChoice {
                        target: d.target,
                        confidence: d.confidence,
                        reason: d.reason,
                    })
                })
        }
        (RolePre::Worker(p), NodeCall::Run { task }) => {
            let inst = p.instantiate_async(&mut *store).await?;
            inst.switchyard_node_worker()
                .call_run(&mut *store, &task.to_wit())
                .await?
                .map(NodeOutput::Output)
        }
        (RolePre::Judge(p), NodeCall::Judge { task, candidate }) => {
            let inst = p.instantiate_async(&mut *store).await?;
            inst.switchyard_node_judge()
                .call_judge(&mut *store, &task.to_wit(), &candidate)
                .await?
                .map(|v| {
                    NodeOutput::Verdict(match v {
                        wit::Verdict::Accept => Verdict::Accept,
                        wit::Verdict::Reject(reasons) => Verdict::Reject { reasons },
                        wit::Verdict::Repair(output) => Verdict::Repair { output },
                    })
                })
        }
        (_, call) => {
            return Err(wasmtime::Error::msg(format!(
                "host bug: {call:?} does not match the component's role"
            )))
        }
    })
}

/// Checks JSON where the contract says the output is JSON.
fn check_json(node: &str, out: NodeOutput) -> Result<NodeOutput, NodeError> {
    let json = match &out {
        NodeOutput::Output(s) | NodeOutput::Verdict(Verdict::Repair { output: s }) => Some(s),
        _ => None,
    };
    if let Some(text) = json {
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
            return Err(NodeError::InvalidOutput {
                node: node.into(),
                message: format!("output is not valid JSON: {e}"),
            });
        }
    }
    Ok(out)
}

fn classify_trap(node: &str, state: &NodeState, e: &wasmtime::Error) -> NodeError {
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
