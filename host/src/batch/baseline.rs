//! The monolith baseline: what each input would have cost sent straight to
//! one model with one prompt that does the whole job, for comparison with
//! the orchestrated pipeline (`switchyard run --baseline-model <model>`).
//! The call really goes to the model (through the hub, so it is priced the
//! same way), concurrently with the run, into a ledger of its own.

use serde_json::Value;

use crate::models::{
    Caller, ChatMessage, ChatRequest, ChatRole, Ledger, ModelHub, ResponseFormat, Totals,
};

/// The single prompt a monolithic deployment would send with every input:
/// classify, extract, answer and self-check in one go.
pub const MONOLITH_SYSTEM: &str = "You are the whole support desk of Acme Cloud. For the customer's ticket: \
(1) decide whether it is a simple FAQ-level request or a complex one; (2) extract its category \
(billing, account, technical, integration, security, other), its urgency (low, normal, high), the product \
area and every distinct request; (3) write a reply of at most 120 words that acknowledges the problem and \
gives concrete next steps; (4) check that the reply repeats no personal data (e-mail addresses, phone, card \
or social security numbers) and states nothing the ticket does not support. Answer with JSON matching the schema.";

/// The answer shape asked of the monolith.
pub const MONOLITH_SCHEMA: &str = r#"{"type":"object","required":["route","category","urgency","product_area","asks","reply","checks"],"properties":{"route":{"enum":["simple","complex"]},"category":{"enum":["billing","account","technical","integration","security","other"]},"urgency":{"enum":["low","normal","high"]},"product_area":{"type":"string"},"asks":{"type":"array","items":{"type":"string"}},"reply":{"type":"string"},"checks":{"type":"object","properties":{"pii_free":{"type":"boolean"},"supported":{"type":"boolean"}}}}}"#;

/// Sends `input` to `model` as a monolith would; returns what it cost.
pub async fn monolith_cost(hub: &ModelHub, model: &str, input: &Value) -> Totals {
    let ledger = Ledger::new();
    let granted = [model.to_string()];
    let caller = Caller::new("<monolith>", &granted, &ledger);
    let text = match input {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let req = ChatRequest {
        model: model.to_string(),
        messages: vec![
            ChatMessage {
                role: ChatRole::System,
                content: MONOLITH_SYSTEM.into(),
            },
            ChatMessage {
                role: ChatRole::User,
                content: text,
            },
        ],
        max_tokens: Some(600),
        temperature: Some(0.2),
        format: ResponseFormat::JsonSchema(MONOLITH_SCHEMA.into()),
        extra: None,
        attempt: 0,
    };
    // The outcome (including failures) is in the ledger; only cost matters.
    let _ = hub.complete(caller, req).await;
    ledger.totals()
}
