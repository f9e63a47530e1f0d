//! `judge-factuality`: an LLM-as-judge. It asks a model to score how well a
//! candidate answer is supported by the original task input (0 = invented,
//! 1 = fully consistent) and to list unsupported claims; below the threshold
//! it rejects with those claims as reasons, so the producing node can retry.
//!
//! Settings: `model` (required), `threshold` (default 0.5).

use switchyard_node::prelude::*;

/// The JSON Schema the model must answer with.
pub const VERDICT_SCHEMA: &str = r#"{"type":"object","required":["score","problems"],"properties":{"score":{"type":"number","minimum":0,"maximum":1},"problems":{"type":"array","items":{"type":"string"}}}}"#;

/// The instructions given to the judging model.
pub const SYSTEM: &str = "You check a customer-support reply against the customer's original ticket. \
Score from 0 to 1 how consistent the reply is with the facts in the ticket (1: every claim is supported \
or is a generic next step; 0: it invents facts). List each unsupported claim in `problems`.";

/// A parsed model verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// 0..=1.
    pub score: f64,
    /// Unsupported claims.
    pub problems: Vec<String>,
}

/// Parses the model's JSON answer.
pub fn parse_assessment(text: &str) -> Result<Assessment, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("judge model did not answer JSON: {e}"))?;
    let score = v["score"]
        .as_f64()
        .ok_or("judge model's answer has no numeric `score`")?;
    if !(0.0..=1.0).contains(&score) {
        return Err(format!("judge model's score {score} is outside 0..1"));
    }
    let problems = v["problems"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Assessment { score, problems })
}

/// The reasons to reject with, if the assessment falls below `threshold`.
pub fn rejection(a: &Assessment, threshold: f64) -> Option<Vec<String>> {
    if a.score >= threshold {
        return None;
    }
    let mut reasons = vec![format!(
        "factual consistency {:.2} is below {threshold:.2}",
        a.score
    )];
    reasons.extend(
        a.problems
            .iter()
            .take(5)
            .map(|p| format!("unsupported: {p}")),
    );
    Some(reasons)
}

/// The node: the glue between the functions above and the host.
struct Factuality;

impl Judge for Factuality {
    fn describe() -> Description {
        Description::judge("judge-factuality", env!("CARGO_PKG_VERSION"))
            .summary("LLM-as-judge: rejects answers not supported by the original input")
            .needs(
                Needs::models(["chat"])
                    .model_calls(1)
                    .settings(["model", "threshold"]),
            )
    }

    fn judge(task: Task, candidate: String) -> Result<Judgement, NodeError> {
        let model = settings::string("model")?.ok_or_else(|| {
            NodeError::invalid_input("setting `model` is required: the manifest model that judges")
        })?;
        let threshold = match settings::get("threshold") {
            None => 0.5,
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|t| (0.0..=1.0).contains(t))
                .ok_or_else(|| {
                    NodeError::invalid_input(format!(
                        "setting `threshold` must be a number from 0 to 1, got {v}"
                    ))
                })?,
        };
        let answer = CompletionRequest::new(model)
            .system(SYSTEM)
            .user(format!("Ticket:\n{}\n\nReply:\n{}", task.input, candidate))
            .max_tokens(200)
            .temperature(0.0)
            .json_schema(VERDICT_SCHEMA)
            .send()?;
        let assessment = parse_assessment(&answer.content).map_err(NodeError::Internal)?;
        log::debug(&format!("factual consistency {:.2}", assessment.score));
        let judgement = match rejection(&assessment, threshold) {
            None => Judgement::accept(),
            Some(reasons) => Judgement::reject(reasons),
        };
        Ok(judgement.score(assessment.score))
    }
}

export_judge!(Factuality);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_below_threshold_lists_problems() {
        let a =
            parse_assessment(r#"{"score": 0.2, "problems": ["refund promised", "wrong plan"]}"#)
                .unwrap();
        let r = rejection(&a, 0.5).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r[1].contains("refund promised"));
        assert!(rejection(
            &Assessment {
                score: 0.9,
                problems: vec![]
            },
            0.5
        )
        .is_none());
        assert!(parse_assessment(r#"{"score": 3}"#).is_err());
        assert!(parse_assessment("nope").is_err());
    }
}
