//! The monolith baseline: what each input would have cost sent straight to
//! one model with one prompt that does the whole job, for comparison with
//! the orchestrated pipeline (`switchyard run --baseline-model <model>`).
//! The prompt and answer schema are the manifest's `[baseline]` table: the
//! host knows no domain of its own.
//! The call really goes to the model (through the hub, so it is priced the
//! same way), concurrently with the run, into a ledger of its own.

use serde_json::Value;

use crate::config::BaselineSpec;
use crate::models::{
    Caller, ChatMessage, ChatRequest, ChatRole, Ledger, ModelHub, ResponseFormat, Totals,
};

/// Sends `input` to `model` as the manifest's `[baseline]` monolith would;
/// returns what it cost.
pub async fn monolith_cost(
    hub: &ModelHub,
    spec: &BaselineSpec,
    model: &str,
    input: &Value,
) -> Totals {
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
            ChatMessage::new(ChatRole::System, spec.system.clone()),
            ChatMessage::new(ChatRole::User, text),
        ],
        max_tokens: Some(spec.max_tokens),
        temperature: Some(0.2),
        format: spec
            .output_schema
            .as_ref()
            .map_or(ResponseFormat::Text, |s| {
                ResponseFormat::JsonSchema(s.to_string())
            }),
        extra: None,
        ..Default::default()
    };
    // The outcome (including failures) is in the ledger; only cost matters.
    let _ = hub.complete(caller, req).await;
    ledger.totals()
}
