//! `worker-extract`: turns a support ticket into structured fields through
//! one JSON-schema model call, then checks the answer against the same
//! schema before returning it (the host checks the edge again).
//!
//! Input: `{"subject": .., "body": ..}` or a JSON string. Output: see
//! [`OUTPUT_SCHEMA`]. Settings: `model` (required).

/// The JSON Schema of this node's output (also asked of the model).
pub const OUTPUT_SCHEMA: &str = r#"{"type":"object","required":["category","urgency","product_area","asks"],"additionalProperties":false,"properties":{"category":{"enum":["billing","account","technical","integration","security","other"]},"urgency":{"enum":["low","normal","high"]},"product_area":{"type":"string"},"asks":{"type":"array","items":{"type":"string"}}}}"#;

/// Instructions for the extracting model.
pub const SYSTEM: &str = "Extract from the support ticket: its category, its urgency, the product area it \
concerns, and each distinct thing the customer asks for. Answer only with JSON matching the schema.";

/// Checks a model answer against the output shape; returns it normalised.
pub fn check(answer: &str) -> Result<serde_json::Value, String> {
    let v: serde_json::Value =
        serde_json::from_str(answer).map_err(|e| format!("model did not answer JSON: {e}"))?;
    let obj = v.as_object().ok_or("model answer is not a JSON object")?;
    for key in ["category", "urgency", "product_area", "asks"] {
        if !obj.contains_key(key) {
            return Err(format!("model answer lacks `{key}`"));
        }
    }
    Ok(v)
}

/// The ticket text of an input.
pub fn ticket(input: &serde_json::Value) -> Option<String> {
    match input {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => {
            let parts: Vec<&str> = ["subject", "body", "text"]
                .iter()
                .filter_map(|k| o.get(*k).and_then(|v| v.as_str()))
                .collect();
            (!parts.is_empty()).then(|| parts.join("\n\n"))
        }
        _ => None,
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ world: "worker-node", path: "../../../wit/node@0.1.0" });

    use exports::switchyard::node::describe::Guest as Describe;
    use exports::switchyard::node::worker::Guest as Worker;
    use switchyard::node::types::{
        CompletionRequest, Description, Message, NodeError, NodeRole, ResponseFormat, Role, Task,
    };
    use switchyard::node::{config, models};

    struct Extract;

    impl Describe for Extract {
        fn describe() -> Description {
            Description {
                role: NodeRole::Worker,
                name: "worker-extract".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                summary: "extracts category, urgency, product area and asks from a ticket".into(),
                input_schema: None,
                output_schema: Some(super::OUTPUT_SCHEMA.into()),
            }
        }
    }

    impl Worker for Extract {
        fn run(task: Task) -> Result<String, NodeError> {
            let model = match config::get("model") {
                Some(json) => serde_json::from_str::<String>(&json).map_err(|_| {
                    NodeError::InvalidInput("setting `model` must be a string".into())
                })?,
                None => {
                    return Err(NodeError::InvalidInput(
                        "setting `model` is required".into(),
                    ))
                }
            };
            let input: serde_json::Value = serde_json::from_str(&task.input)
                .map_err(|e| NodeError::InvalidInput(format!("task input is not JSON: {e}")))?;
            let ticket = super::ticket(&input).ok_or_else(|| {
                NodeError::InvalidInput(
                    "expected a string or an object with `subject`/`body`".into(),
                )
            })?;
            let mut messages = vec![
                Message {
                    role: Role::System,
                    content: super::SYSTEM.into(),
                },
                Message {
                    role: Role::User,
                    content: ticket,
                },
            ];
            if !task.feedback.is_empty() {
                messages.push(Message {
                    role: Role::User,
                    content: format!("Fix these problems: {}", task.feedback.join("; ")),
                });
            }
            let answer = models::complete(&CompletionRequest {
                model,
                messages,
                max_tokens: Some(200),
                temperature: Some(0.0),
                response_format: ResponseFormat::JsonSchema(super::OUTPUT_SCHEMA.into()),
                extra_json: String::new(),
            })
            .map_err(NodeError::Model)?;
            let v = super::check(&answer.content).map_err(NodeError::Internal)?;
            Ok(v.to_string())
        }
    }

    export!(Extract);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_requires_every_field() {
        assert!(check(
            r#"{"category":"billing","urgency":"low","product_area":"invoices","asks":["copy"]}"#
        )
        .is_ok());
        assert!(check(r#"{"category":"billing"}"#)
            .unwrap_err()
            .contains("urgency"));
        assert!(serde_json::from_str::<serde_json::Value>(OUTPUT_SCHEMA).is_ok());
    }
}
