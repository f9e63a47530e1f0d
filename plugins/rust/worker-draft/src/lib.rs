//! `worker-draft`: drafts a reply to a support ticket with one model call.
//!
//! Input: `{"subject": .., "body": .., "customer": {..}}`, `{"text": ..}` or
//! a JSON string. Output: `{"reply": .., "model": .., "tokens": {..}}`.
//! Settings: `model` (required: the manifest model to call; one component
//! serves a small-model node and a frontier-model node), `system` (the
//! system prompt), `max-tokens` (default 300), `stream` (default false). A
//! judge's rejection reasons (task feedback) are passed back to the model on
//! a retry.
//!
//! With `stream = true` the worker starts the call as a stream and hands it
//! to the host unread (`reply.stream`, field `reply`): the host releases the
//! draft window by window after the window judges, and the output has the
//! same shape, `{"reply": .., "model": ..}` (`model` is the requested model,
//! `tokens` is left out: neither is known before the stream ends).

use switchyard_node::prelude::*;

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

/// The JSON Schema of the node's output.
const OUTPUT_SCHEMA: &str = r#"{"type":"object","required":["reply","model"],"properties":{"reply":{"type":"string"},"model":{"type":"string"},"tokens":{"type":"object"}}}"#;

/// The node: the glue between the prompt and the host.
struct DraftWorker;

impl Worker for DraftWorker {
    fn describe() -> Description {
        Description::worker("worker-draft", env!("CARGO_PKG_VERSION"))
            .summary("drafts a support reply with one model call")
            .output_schema(OUTPUT_SCHEMA)
            .needs(Needs::models(["chat"]).model_calls(1).settings([
                "max-tokens",
                "model",
                "stream",
                "system",
            ]))
    }

    fn run(task: Task) -> Result<Reply, NodeError> {
        let model = settings::string("model")?.ok_or_else(|| {
            NodeError::invalid_input(
                "setting `model` is required: the manifest model to draft with",
            )
        })?;
        let system = settings::string("system")?.unwrap_or_else(|| DEFAULT_SYSTEM.to_string());
        let max_tokens = match settings::get("max-tokens") {
            None => 300,
            Some(v) => v.parse::<u32>().map_err(|_| {
                NodeError::invalid_input(format!(
                    "setting `max-tokens` must be a positive integer, got {v}"
                ))
            })?,
        };
        let input: Value = task.input_as()?;
        let prompt = user_prompt(&input).ok_or_else(|| {
            NodeError::invalid_input("expected a string or an object with `body` or `text`")
        })?;
        let mut request = CompletionRequest::new(model).system(system).user(prompt);
        if !task.feedback.is_empty() {
            request = request.user(format!(
                "Your previous draft was rejected: {}. Write it again without those problems.",
                task.feedback.join("; ")
            ));
        }
        let request = request.max_tokens(max_tokens).temperature(0.2);
        if settings::get_as::<bool>("stream")?.unwrap_or(false) {
            log::debug(&format!("streaming the draft from {}", request.model));
            let base = json!({ "model": request.model });
            return Ok(Reply::stream(request.stream()?, Some("reply")).with_base(base));
        }
        let answer = request.send()?;
        log::debug(&format!(
            "drafted {} tokens with {}",
            answer.usage.output_tokens, answer.model
        ));
        Reply::json(&json!({
            "reply": answer.content.trim(),
            "model": answer.model,
            "tokens": {"input": answer.usage.input_tokens, "output": answer.usage.output_tokens},
        }))
    }
}

export_worker!(DraftWorker);

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
