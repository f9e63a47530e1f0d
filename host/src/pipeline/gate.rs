//! Gated execution of a worker: run it, check its output against the edge
//! schemas, pass it through its judges (accept, repair, reject), and on a
//! rejection apply the node's `on-reject` policy in order — retry the node
//! with the reasons as feedback, then escalate once to another worker, then
//! return the fixed fallback or fail with a typed `rejected` error. Every
//! attempt is in the trace and the ledger; every decision is a
//! [`PolicyEvent`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::executor::{unexpected, Run};
use super::outcome::{PolicyAction, PolicyEvent, RunError};
use super::LoadedNode;
use crate::engine::{NodeCall, NodeError, NodeOutput, TaskInput, Verdict};
use crate::schema::CheckError;

/// The outcome of one pass through a gate.
pub(super) enum Gate {
    /// The (possibly repaired) output may continue.
    Pass(Value),
    /// Rejected, by whom and why.
    Reject { by: String, reasons: Vec<String> },
}

impl Run<'_> {
    /// Runs worker `node` on `input` under its gate and policy.
    pub(super) async fn exec_gated(
        &self,
        node: &LoadedNode,
        input: &Value,
        routes: &BTreeMap<String, String>,
    ) -> Result<Value, RunError> {
        let policy = &node.spec.on_reject;
        let mut producer = node;
        let mut attempt = 0u32;
        let mut retries_left = policy.retries;
        let mut escalated = false;
        let mut feedback = Vec::new();
        loop {
            let task = self.task(producer, input, routes, attempt, feedback.clone());
            let inv = self
                .invoke(
                    producer,
                    None,
                    attempt,
                    NodeCall::Run { task: task.clone() },
                )
                .await;
            let gate = match inv.result {
                Ok(NodeOutput::Output(text)) => {
                    self.gate(node, &task, text, attempt, &node.spec.judges)
                        .await?
                }
                Ok(NodeOutput::Stream(reply)) => {
                    self.gate_stream(node, producer, &task, reply, attempt)
                        .await?
                }
                Ok(other) => return Err(unexpected(producer, &other)),
                Err(error) => return Err(RunError::Node { error }),
            };
            let (by, reasons) = match gate {
                Gate::Pass(output) => return Ok(output),
                Gate::Reject { by, reasons } => (by, reasons),
            };
            let rejected_producer = producer.spec.name.clone();
            let action = if retries_left > 0 {
                retries_left -= 1;
                PolicyAction::Retry
            } else if let (false, Some(target)) = (escalated, &policy.escalate) {
                escalated = true;
                producer = self
                    .pipeline
                    .node(target)
                    .expect("escalation targets are loaded");
                PolicyAction::Escalate
            } else if policy.fallback.is_some() {
                PolicyAction::Fallback
            } else {
                PolicyAction::GiveUp
            };
            self.policy(PolicyEvent {
                node: node.spec.name.clone(),
                producer: rejected_producer,
                by: by.clone(),
                reasons: reasons.clone(),
                action,
            });
            match action {
                PolicyAction::Retry | PolicyAction::Escalate => {
                    attempt += 1;
                    feedback = reasons;
                }
                PolicyAction::Fallback => {
                    return Ok(policy.fallback.clone().expect("checked above"))
                }
                PolicyAction::GiveUp => {
                    return Err(RunError::Rejected {
                        node: node.spec.name.clone(),
                        by,
                        reasons,
                    })
                }
            }
        }
    }

    /// Checks `text` (valid JSON, as the sandbox guarantees) produced for
    /// the position of `gated`: edge schemas, then each of `judges` in
    /// order.
    pub(super) async fn gate(
        &self,
        gated: &LoadedNode,
        task: &TaskInput,
        text: String,
        attempt: u32,
        judges: &[String],
    ) -> Result<Gate, RunError> {
        let parse = |text: &str| {
            serde_json::from_str::<Value>(text).map_err(|e| RunError::Node {
                error: NodeError::InvalidOutput {
                    node: gated.spec.name.clone(),
                    message: e.to_string(),
                },
            })
        };
        let parsed = parse(&text)?;
        if let Some(reject) = self.schema_reasons(gated, &parsed).await? {
            return Ok(reject);
        }
        let mut candidate = text;
        let mut repaired = false;
        for judge_name in judges {
            let judge = self.pipeline.node(judge_name).expect("judges are loaded");
            let call = NodeCall::Judge {
                task: task.clone(),
                candidate: candidate.clone(),
            };
            let inv = self
                .invoke(judge, Some(&gated.spec.name), attempt, call)
                .await;
            match inv.result {
                Ok(NodeOutput::Verdict(Verdict::Accept)) => {}
                Ok(NodeOutput::Verdict(Verdict::Repair { output })) => {
                    candidate = output;
                    repaired = true;
                }
                Ok(NodeOutput::Verdict(Verdict::Reject { reasons })) => {
                    return Ok(Gate::Reject {
                        by: format!("judge `{judge_name}`"),
                        reasons,
                    });
                }
                Ok(other) => return Err(unexpected(judge, &other)),
                Err(error) => return Err(RunError::Node { error }),
            }
        }
        if !repaired {
            return Ok(Gate::Pass(parsed));
        }
        let output = parse(&candidate)?;
        // A repair must still fit the edge.
        if let Some(Gate::Reject { by, reasons }) = self.schema_reasons(gated, &output).await? {
            return Ok(Gate::Reject {
                by: format!("{by} (after repair)"),
                reasons,
            });
        }
        Ok(Gate::Pass(output))
    }

    /// Checks `output` of `gated` against its own output schema and the
    /// input schema of every worker that takes it as its only input. A
    /// check past its budget fails the node whose output it was.
    async fn schema_reasons(
        &self,
        gated: &LoadedNode,
        output: &Value,
    ) -> Result<Option<Gate>, RunError> {
        let consumers = self.pipeline.sole_consumers(&gated.spec.name);
        let checks = gated
            .output_schema
            .as_ref()
            .map(|s| ("output-schema".to_string(), s))
            .into_iter()
            .chain(consumers.filter_map(|c| {
                c.input_schema
                    .as_ref()
                    .map(|s| (format!("input-schema of `{}`", c.spec.name), s))
            }));
        for (by, schema) in checks {
            match schema.check_bounded(output).await {
                Ok(()) => {}
                Err(CheckError::Invalid(reasons)) => return Ok(Some(Gate::Reject { by, reasons })),
                Err(budget) => {
                    return Err(RunError::Node {
                        error: NodeError::InvalidOutput {
                            node: gated.spec.name.clone(),
                            message: format!("{by}: {budget}"),
                        },
                    })
                }
            }
        }
        Ok(None)
    }
}
