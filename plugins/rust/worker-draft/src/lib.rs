//! `worker-draft`: drafts a reply to a support ticket with one model call.
//!
//! Input: `{"subject": .., "body": .., "customer": {..}}`, `{"text": ..}` or
//! a JSON string. Output: `{"reply": .., "model": .., "tokens": {..}}`.
//! Settings: `model` (required: the manifest model to call; one component
//! serves a small-model node and a frontier-model node), `system` (the
//! system prompt), `max-tokens` (default 300). A judge's rejection reasons
//! (task feedback) are passed back to the model on a retry.

/// The prompt for a ticket (pure, so it is testable natively).
pub fn user_prompt(input: &serde_json::Value) -> Option<String> {
    match input {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => {
            let get = |k: &str| o.get(k).and_then(|v| v.as_str());
            let body = get("body")
                .or_else(|| get("text"))
                .or_else(|| get("message"))?;
            let mut p = String::new();
            if let Some(s) = get("subject") {
                p.push_str(&format!("Subject: {s}\n\n"));
            }
            p.push_str(body);
            if let Some(plan) = o
                .get("customer")
                .and_then(|c| c.get("plan"))
                .and_then(|p| p.as_str())
            {
                p.push_str(&format!("\n\n(Customer plan: {plan})"));
            }
            Some(p)
        }
        _ => None,
    }
}

/// The default system prompt.
pub const DEFAULT_SYSTEM: &str = "You are a support agent for Acme Cloud. Reply to the customer's ticket in \
at most 120 words: acknowledge the problem, give concrete next steps, and never repeat personal data \
such as e-mail addresses, phone numbers, card or social security numbers.";

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ world: "worker-node", path: "../../../wit/node@0.1.0" });

    use exports::switchyard::node::describe::Guest as Describe;
    use exports::switchyard::node::worker::Guest as Worker;
    use switchyard::node::log::{emit, Level};
    use switchyard::node::types::{
        CompletionRequest, Description, Message, NodeError, NodeRole, ResponseFormat, Role, Task,
    };
    use switchyard::node::{config, models};

    struct DraftWorker;

    fn setting_str(key: &str) -> Result<Option<String>, NodeError> {
        match config::get(key) {
            None => Ok(None),
            Some(json) => match serde_json::from_str::<serde_json::Value>(&json) {
                Ok(serde_json::Value::String(s)) => Ok(Some(s)),
                _ => Err(NodeError::InvalidInput(format!(
                    "setting `{key}` must be a string"
                ))),
            },
        }
    }

    impl Describe for DraftWorker {
        fn describe() -> Description {
            Description {
                role: NodeRole::Worker,
                name: "worker-draft".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                summary: "drafts a support reply with one model call".into(),
                input_schema: None,
                output_schema: Some(
                    r#"{"type":"object","required":["reply","model"],"properties":{"reply":{"type":"string"},"model":{"type":"string"},"tokens":{"type":"object"}}}"#.into(),
                ),
            }
        }
    }

    impl Worker for DraftWorker {
        fn run(task: Task) -> Result<String, NodeError> {
            let model = setting_str("model")?.ok_or_else(|| {
                NodeError::InvalidInput(
                    "setting `model` is required: the manifest model to draft with".into(),
                )
            })?;
            let system =
                setting_str("system")?.unwrap_or_else(|| super::DEFAULT_SYSTEM.to_string());
            let max_tokens = match config::get("max-tokens") {
                None => 300,
                Some(v) => v.parse::<u32>().map_err(|_| {
                    NodeError::InvalidInput(format!(
                        "setting `max-tokens` must be a positive integer, got {v}"
                    ))
                })?,
            };
            let input: serde_json::Value = serde_json::from_str(&task.input)
                .map_err(|e| NodeError::InvalidInput(format!("task input is not JSON: {e}")))?;
            let prompt = super::user_prompt(&input).ok_or_else(|| {
                NodeError::InvalidInput(
                    "expected a string or an object with `body` or `text`".into(),
                )
            })?;
            let mut messages = vec![
                Message {
                    role: Role::System,
                    content: system,
                },
                Message {
                    role: Role::User,
                    content: prompt,
                },
            ];
            if !task.feedback.is_empty() {
                messages.push(Message {
                    role: Role::User,
                    content: format!(
                        "Your previous draft was rejected: {}. Write it again without those problems.",
                        task.feedback.join("; ")
                    ),
                });
            }
            let answer = models::complete(&CompletionRequest {
                model: model.clone(),
                messages,
                max_tokens: Some(max_tokens),
                temperature: Some(0.2),
                response_format: ResponseFormat::Text,
                extra_json: String::new(),
            })
            .map_err(NodeError::Model)?;
            emit(
                Level::Debug,
                &format!(
                    "drafted {} tokens with {}",
                    answer.usage.output_tokens, answer.model
                ),
            );
            Ok(serde_json::json!({
                "reply": answer.content.trim(),
                "model": answer.model,
                "tokens": {"input": answer.usage.input_tokens, "output": answer.usage.output_tokens},
            })
            .to_string())
        }
    }

    export!(DraftWorker);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_prompt_uses_subject_body_and_plan() {
        let p = user_prompt(&serde_json::json!({"subject": "Login", "body": "Cannot log in", "customer": {"plan": "pro"}})).unwrap();
        assert!(p.starts_with("Subject: Login\n\nCannot log in"));
        assert!(p.ends_with("(Customer plan: pro)"));
        assert!(user_prompt(&serde_json::json!({"subject": "no body"})).is_none());
    }
}
