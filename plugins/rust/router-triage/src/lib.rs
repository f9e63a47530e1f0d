//! `router-triage`: routes a support ticket to the `simple` or `complex`
//! branch with a naive-Bayes classifier embedded in the component (trained
//! at build time from labelled tickets in `data/train.jsonl`).
//!
//! Input: `{"subject": .., "body": ..}`, `{"text": ..}` or a JSON string.
//! Settings: `threshold` (P(complex) at or above which a ticket is complex;
//! default 0.5). Branch labels must include `simple` and `complex`.

mod classifier;
mod features;

use switchyard_node::prelude::*;

pub use classifier::{classify, training_size, Prediction};

/// The text of a ticket input.
pub fn ticket_text(input: &serde_json::Value) -> Option<String> {
    match input {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => {
            let parts: Vec<&str> = ["subject", "title", "body", "text", "message"]
                .iter()
                .filter_map(|k| o.get(*k).and_then(|v| v.as_str()))
                .collect();
            (!parts.is_empty()).then(|| parts.join(". "))
        }
        _ => None,
    }
}

/// The JSON Schema of the input the router accepts.
const INPUT_SCHEMA: &str = r#"{"anyOf":[{"type":"string"},{"type":"object","properties":{"subject":{"type":"string"},"body":{"type":"string"},"text":{"type":"string"}}}]}"#;

/// The node: the glue between the classifier and the host.
struct TriageRouter;

impl Router for TriageRouter {
    fn describe() -> Description {
        let (s, c) = training_size();
        Description::router("router-triage", env!("CARGO_PKG_VERSION"))
            .summary(format!(
                "naive-Bayes ticket triage (simple/complex), trained on {} labelled tickets",
                s + c
            ))
            .input_schema(INPUT_SCHEMA)
            .needs(Needs::none().settings(["threshold"]))
    }

    fn route(task: Task, candidates: Vec<String>) -> Result<Decision, NodeError> {
        for needed in ["simple", "complex"] {
            if !candidates.iter().any(|c| c == needed) {
                return Err(NodeError::invalid_input(format!(
                    "router-triage picks `simple` or `complex`, but the branches are [{}]; name the branches simple and complex",
                    candidates.join(", ")
                )));
            }
        }
        let threshold = match settings::get("threshold") {
            None => 0.5,
            Some(v) => match v.parse::<f32>() {
                Ok(t) if (0.0..=1.0).contains(&t) => t,
                _ => {
                    return Err(NodeError::invalid_input(format!(
                        "setting `threshold` must be a number from 0 to 1, got {v}"
                    )))
                }
            },
        };
        let input: Value = task.input_as()?;
        let text = ticket_text(&input).ok_or_else(|| {
            NodeError::invalid_input("expected a string or an object with `subject`/`body`/`text`")
        })?;
        let p = classify(&text);
        let complex = p.p_complex >= threshold;
        let target = if complex { "complex" } else { "simple" };
        log::debug(&format!(
            "p(complex)={:.3} threshold={threshold}",
            p.p_complex
        ));
        let confidence = if complex {
            p.p_complex
        } else {
            1.0 - p.p_complex
        };
        Ok(Decision::new(
            target,
            confidence,
            format!("p(complex)={:.2}; cues: {}", p.p_complex, p.cues.join(", ")),
        ))
    }
}

export_router!(TriageRouter);
