//! One node invocation: a fresh Store from the component's `InstancePre`,
//! the node's memory limit, a CPU budget checked on epoch ticks, a
//! wall-clock deadline covering model calls, then the role's export call.
//! Traps and exceeded limits come back as typed [`NodeError`]s; the store is
//! dropped afterwards, so a trapped instance is never reused.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;

use super::call::Usage;
use super::call::{Invocation, NodeCall, NodeOutput, RouteChoice, RunScope, Verdict};
use super::component::NodeComponent;
use super::error::NodeError;
use super::host::{NodeContext, NodeState};
use super::returned::{check_answer, check_score, escape_control};
use super::store::{classify_trap, new_store};
use super::NodeEngine;
use crate::models::ModelError;

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
            // The target too: one that is no branch is quoted in the error.
            target: esc(r.target),
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
    /// Invokes `component` as node `ctx.node` (see [`NodeComponent::invoke`]).
    pub async fn invoke(
        &self,
        component: &Arc<NodeComponent>,
        ctx: Arc<NodeContext>,
        scope: RunScope,
        call: NodeCall,
        deadline: Option<Instant>,
    ) -> Invocation {
        component.invoke(ctx, scope, call, deadline).await
    }
}

impl NodeComponent {
    /// Invokes this component as node `ctx.node` in a fresh sandbox on its
    /// own engine variant, after taking its slots in the instance pool.
    /// `deadline` (the run's) shortens the node's own wall limit when it is
    /// sooner.
    pub async fn invoke(
        &self,
        ctx: Arc<NodeContext>,
        scope: RunScope,
        call: NodeCall,
        deadline: Option<Instant>,
    ) -> Invocation {
        let component = self;
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
            component.pool.slots.acquire_many(component.pool_weight),
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
                    score: None,
                }
            }
            Err(_elapsed) => {
                return Invocation {
                    result: Err(NodeError::Busy {
                        node: node.to_string(),
                        waited_ms: started.elapsed().as_millis() as u64,
                        pool: component.pool.name.clone(),
                    }),
                    usage: Usage::default(),
                    elapsed: started.elapsed(),
                    score: None,
                }
            }
        };
        let limit = wall;
        let wall = wall.saturating_sub(started.elapsed());
        let engine = component.engine.clone();
        let pre = component.pre.clone();
        let output_limit = ctx.limits.output_bytes;
        // A window judge's repair is the window's new text, not JSON.
        let json_answer = !matches!(call, NodeCall::CheckWindow { .. });
        let mut state = NodeState::new(ctx, scope);
        state.deadline = Some(Instant::now() + wall);
        let task_node = node.clone();
        // A host-side panic while serving this invocation fails this run
        // only. The invocation runs inline in the caller's task (a task per
        // call costs cross-thread wake-ups), so dropping this future (run
        // deadline, cancellation) drops the Store and stops the guest at once.
        let work = async move {
            let mut store = new_store(&engine, state);
            let clock = store.data().clock.clone();
            let answer = tokio::time::timeout(wall, clock.meter(pre.call(&mut store, call))).await;
            let usage = store.data().final_usage();
            let (result, score) = match answer {
                Err(_elapsed) => (
                    Err(NodeError::WallTimeout {
                        node: task_node.to_string(),
                        limit_ms: limit.as_millis() as u64,
                    }),
                    None,
                ),
                Ok(Ok(answer)) => {
                    let result = answer.result.map_err(|guest| guest.for_node(&task_node));
                    let score = answer.score;
                    let result = check_answer(&task_node, &result, output_limit)
                        .and_then(|()| match &score {
                            Some(s) => check_score(&task_node, s),
                            None => Ok(()),
                        })
                        .and_then(|()| escape_guest_text(result))
                        .and_then(|out| {
                            if json_answer {
                                check_json(&task_node, out)
                            } else {
                                Ok(out)
                            }
                        });
                    (result, score)
                }
                Ok(Err(trap)) => (Err(classify_trap(&task_node, store.data(), &trap)), None),
            };
            (result, usage, score)
        };
        let (result, usage, score) = match AssertUnwindSafe(work).catch_unwind().await {
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
                None,
            ),
        };
        Invocation {
            result,
            usage,
            elapsed: started.elapsed(),
            score,
        }
    }
}

/// What ended a task that did not return: its panic's message, else why
/// it was cancelled.
pub(crate) fn join_error_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(panic) => panic_message(&panic).to_string(),
        Err(e) => e.to_string(),
    }
}

/// The message of a caught panic.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
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
