//! Redacting text with one of the pipeline's judges, outside any run: the
//! texts go to the judge as one candidate (a JSON array of strings) and
//! its `repair` is taken back in their place. Fails closed: a rejection
//! without repair, a failed invocation or a repair of another shape means
//! the texts may not leave the process. Used to export message content
//! (`[telemetry] redact-with`).

use crate::engine::{NodeCall, NodeOutput, RunScope, TaskInput, Verdict};

use super::Pipeline;

/// Why texts could not be redacted: they must be withheld.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    /// The node is not one of the generation's judges.
    #[error("`{0}` is not a judge of this pipeline")]
    NotAJudge(String),
    /// The judge rejected the texts and repaired nothing.
    #[error("judge `{judge}` rejected the content ({reasons} reason(s)) without repairing it")]
    Rejected {
        /// The judge.
        judge: String,
        /// How many reasons it gave (the reasons may quote the content).
        reasons: usize,
    },
    /// The judge failed.
    #[error("judge `{judge}` failed: {kind}")]
    Failed {
        /// The judge.
        judge: String,
        /// The typed error's kind.
        kind: &'static str,
    },
    /// The repair is not an array of as many strings.
    #[error("judge `{judge}` repaired the content into another shape")]
    Reshaped {
        /// The judge.
        judge: String,
    },
}

impl Pipeline {
    /// Redacts `texts` with judge `judge`: accepted texts come back as
    /// they are, repaired ones as repaired. Waits for room in the instance
    /// pool like a run does, so admitted runs never wait for it.
    pub async fn redact(
        &self,
        judge: &str,
        texts: Vec<String>,
    ) -> Result<Vec<String>, RedactError> {
        let node = self
            .node(judge)
            .filter(|n| n.spec.role == crate::config::Role::Judge)
            .ok_or_else(|| RedactError::NotAJudge(judge.to_string()))?;
        if texts.is_empty() {
            return Ok(texts);
        }
        let candidate = serde_json::Value::from(texts.clone()).to_string();
        let task = TaskInput {
            id: "redact".into(),
            input: r#"{"purpose":"redact"}"#.into(),
            meta: serde_json::json!({
                "pipeline": self.manifest.name,
                "node": judge,
                "purpose": "redact",
            })
            .to_string(),
            attempt: 0,
            feedback: Vec::new(),
        };
        let _admitted = self
            .engine
            .admission()
            .admit(node.component.pool_weight)
            .await;
        let inv = self
            .engine
            .invoke(
                &node.component,
                node.ctx.clone(),
                RunScope::detached(self.hub.clone()),
                NodeCall::Judge { task, candidate },
                None,
            )
            .await;
        let judge = judge.to_string();
        match inv.result {
            Ok(NodeOutput::Verdict(Verdict::Accept)) => Ok(texts),
            Ok(NodeOutput::Verdict(Verdict::Repair { output })) => {
                match serde_json::from_str::<Vec<String>>(&output) {
                    Ok(repaired) if repaired.len() == texts.len() => Ok(repaired),
                    _ => Err(RedactError::Reshaped { judge }),
                }
            }
            Ok(NodeOutput::Verdict(Verdict::Reject { reasons })) => Err(RedactError::Rejected {
                judge,
                reasons: reasons.len(),
            }),
            Ok(_) => Err(RedactError::Failed {
                judge,
                kind: "invalid-output",
            }),
            Err(e) => Err(RedactError::Failed {
                judge,
                kind: e.kind(),
            }),
        }
    }
}
