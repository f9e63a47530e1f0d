//! `router-triage`: routes a support ticket to the `simple` or `complex`
//! branch with a naive-Bayes classifier embedded in the component (trained
//! at build time from labelled tickets in `data/train.jsonl`).
//!
//! Input: `{"subject": .., "body": ..}`, `{"text": ..}` or a JSON string.
//! Settings: `threshold` (P(complex) at or above which a ticket is complex;
//! default 0.5). Branch labels must include `simple` and `complex`.

mod classifier;
mod features;

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

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ world: "router-node", path: "../../../wit/node@0.1.0" });

    use exports::switchyard::node::describe::Guest as Describe;
    use exports::switchyard::node::router::Guest as Router;
    use switchyard::node::config;
    use switchyard::node::log::{emit, Level};
    use switchyard::node::types::{Decision, Description, NodeError, NodeRole, Task};

    struct TriageRouter;

    impl Describe for TriageRouter {
        fn describe() -> Description {
            let (s, c) = super::training_size();
            Description {
                role: NodeRole::Router,
                name: "router-triage".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                summary: format!("naive-Bayes ticket triage (simple/complex), trained on {} labelled tickets", s + c),
                input_schema: Some(
                    r#"{"anyOf":[{"type":"string"},{"type":"object","properties":{"subject":{"type":"string"},"body":{"type":"string"},"text":{"type":"string"}}}]}"#.into(),
                ),
                output_schema: None,
            }
        }
    }

    impl Router for TriageRouter {
        fn route(task: Task, candidates: Vec<String>) -> Result<Decision, NodeError> {
            for needed in ["simple", "complex"] {
                if !candidates.iter().any(|c| c == needed) {
                    return Err(NodeError::InvalidInput(format!(
                        "router-triage picks `simple` or `complex`, but the branches are [{}]; name the branches simple and complex",
                        candidates.join(", ")
                    )));
                }
            }
            let threshold = match config::get("threshold") {
                None => 0.5,
                Some(v) => match v.parse::<f32>() {
                    Ok(t) if (0.0..=1.0).contains(&t) => t,
                    _ => {
                        return Err(NodeError::InvalidInput(format!(
                            "setting `threshold` must be a number from 0 to 1, got {v}"
                        )))
                    }
                },
            };
            let input: serde_json::Value = serde_json::from_str(&task.input)
                .map_err(|e| NodeError::InvalidInput(format!("task input is not JSON: {e}")))?;
            let text = super::ticket_text(&input).ok_or_else(|| {
                NodeError::InvalidInput(
                    "expected a string or an object with `subject`/`body`/`text`".into(),
                )
            })?;
            let p = super::classify(&text);
            let complex = p.p_complex >= threshold;
            let target = if complex { "complex" } else { "simple" };
            emit(
                Level::Debug,
                &format!("p(complex)={:.3} threshold={threshold}", p.p_complex),
            );
            Ok(Decision {
                target: target.into(),
                confidence: if complex {
                    p.p_complex
                } else {
                    1.0 - p.p_complex
                },
                reason: format!("p(complex)={:.2}; cues: {}", p.p_complex, p.cues.join(", ")),
            })
        }
    }

    export!(TriageRouter);
}
