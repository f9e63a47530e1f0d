//! `worker-extract`: turns a support ticket into structured fields through
//! one JSON-schema model call, then checks the answer against the same
//! schema before returning it (the host checks the edge again).
//!
//! Input: `{"subject": .., "body": ..}` or a JSON string. Output: see
//! [`OUTPUT_SCHEMA`]. Settings: `model` (required).

use switchyard_node::prelude::*;

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

/// The node: the glue between the functions above and the host.
struct Extract;

impl Worker for Extract {
    fn describe() -> Description {
        Description::worker("worker-extract", env!("CARGO_PKG_VERSION"))
            .summary("extracts category, urgency, product area and asks from a ticket")
            .output_schema(OUTPUT_SCHEMA)
            .needs(Needs::models(["chat"]).model_calls(1).settings(["model"]))
    }

    fn run(task: Task) -> Result<Reply, NodeError> {
        let model = settings::string("model")?
            .ok_or_else(|| NodeError::invalid_input("setting `model` is required"))?;
        let input: Value = task.input_as()?;
        let ticket = ticket(&input).ok_or_else(|| {
            NodeError::invalid_input("expected a string or an object with `subject`/`body`")
        })?;
        let mut request = CompletionRequest::new(model).system(SYSTEM).user(ticket);
        if !task.feedback.is_empty() {
            request = request.user(format!("Fix these problems: {}", task.feedback.join("; ")));
        }
        let answer = request
            .max_tokens(200)
            .temperature(0.0)
            .json_schema(OUTPUT_SCHEMA)
            .send()?;
        let v = check(&answer.content).map_err(NodeError::Internal)?;
        Ok(v.to_string().into())
    }
}

export_worker!(Extract);

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
