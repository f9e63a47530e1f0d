//! Message content for export, when a pipeline opts in (`[telemetry]
//! content = true`): the run's input and output and each model call's
//! messages and answer, as the GenAI conventions' opt-in attributes
//! (`gen_ai.system_instructions`, `gen_ai.input.messages`,
//! `gen_ai.output.messages`, JSON text on the span). With `redact-with`,
//! every text first goes through that judge in one invocation and its
//! repair is what leaves the process; if it cannot redact, nothing does.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::models::{CallContent, ChatRole};
use crate::pipeline::{Pipeline, RedactError, RunRecord};
use crate::spec::SpanId;

/// Longest text exported in one message part, in bytes; longer ones are
/// cut (on a character boundary) and marked.
pub const MAX_TEXT_BYTES: usize = 32 * 1024;

/// A run's content, ready for its spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// The run's input, as JSON text.
    pub input: String,
    /// The run's output, as JSON text, when it has one.
    pub output: Option<String>,
    /// Each model call's content.
    pub calls: Vec<CallContent>,
    /// Which call each attempt's span belongs to.
    by_attempt: HashMap<SpanId, usize>,
}

impl Content {
    /// The content `record` captured, taken out of it; `None` when it
    /// captured none.
    pub fn take(record: &mut RunRecord) -> Option<Self> {
        let captured = record.content.take()?;
        let by_attempt = captured
            .calls
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.attempts.iter().map(move |s| (*s, i)))
            .collect();
        Some(Self {
            input: captured.input.to_string(),
            output: record.output.as_ref().map(Value::to_string),
            calls: captured.calls,
            by_attempt,
        })
    }

    /// The call the attempt with span `span` belongs to.
    pub fn call_of(&self, span: SpanId) -> Option<&CallContent> {
        self.by_attempt.get(&span).map(|&i| &self.calls[i])
    }

    /// The same content with every text as `judge` redacted it.
    pub async fn redacted(mut self, pipeline: &Pipeline, judge: &str) -> Result<Self, RedactError> {
        // A fixed order to send the texts in and take them back.
        let mut texts = vec![self.input.clone()];
        texts.extend(self.output.clone());
        for c in &self.calls {
            texts.extend(c.texts().map(str::to_string));
        }
        let mut back = pipeline.redact(judge, texts).await?.into_iter();
        if let Some(t) = back.next() {
            self.input = t;
        }
        if let Some(out) = &mut self.output {
            if let Some(t) = back.next() {
                *out = t;
            }
        }
        for c in &mut self.calls {
            c.replace_texts(&mut back);
        }
        Ok(self)
    }
}

/// Text bounded to [`MAX_TEXT_BYTES`].
fn bounded(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_string();
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes cut]", &text[..end], text.len() - end)
}

fn text_part(text: &str) -> Value {
    json!({ "type": "text", "content": bounded(text) })
}

/// `gen_ai.input.messages` for one text from the user (a run's input).
pub fn user_message(text: &str) -> String {
    json!([{ "role": "user", "parts": [text_part(text)] }]).to_string()
}

/// `gen_ai.output.messages` for one answer.
pub fn assistant_message(text: &str, finish_reason: Option<&str>) -> String {
    let mut m = json!({ "role": "assistant", "parts": [text_part(text)] });
    if let Some(f) = finish_reason {
        m["finish_reason"] = f.into();
    }
    json!([m]).to_string()
}

/// A call's `gen_ai.system_instructions` (its system messages, if any)
/// and `gen_ai.input.messages` (the others).
pub fn call_messages(call: &CallContent) -> (Option<String>, String) {
    let system: Vec<Value> = call
        .request
        .messages
        .iter()
        .filter(|m| m.role == ChatRole::System)
        .map(|m| text_part(&m.content))
        .collect();
    let input: Vec<Value> = call
        .request
        .messages
        .iter()
        .filter(|m| m.role != ChatRole::System)
        .map(|m| {
            let role = match m.role {
                ChatRole::User => "user",
                _ => "assistant",
            };
            json!({ "role": role, "parts": [text_part(&m.content)] })
        })
        .collect();
    (
        (!system.is_empty()).then(|| Value::Array(system).to_string()),
        Value::Array(input).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ChatMessage, ChatRequest, ChatResponse, Usage};

    #[test]
    fn messages_follow_the_conventions_shape_and_texts_are_bounded() {
        let call = CallContent {
            node: "w".into(),
            attempts: vec![SpanId::random()],
            request: ChatRequest {
                messages: vec![
                    ChatMessage::new(ChatRole::System, "be brief"),
                    ChatMessage::new(ChatRole::User, "hi"),
                ],
                ..ChatRequest::default()
            },
            result: Ok(ChatResponse {
                content: "hello".into(),
                usage: Usage::default(),
                model: String::new(),
                finish_reason: None,
                tool_calls: Vec::new(),
            }),
        };
        let (system, input) = call_messages(&call);
        let system: Value = serde_json::from_str(&system.unwrap()).unwrap();
        assert_eq!(system, json!([{ "type": "text", "content": "be brief" }]));
        let input: Value = serde_json::from_str(&input).unwrap();
        assert_eq!(
            input,
            json!([{ "role": "user", "parts": [{ "type": "text", "content": "hi" }] }])
        );
        let out: Value = serde_json::from_str(&assistant_message("hello", Some("stop"))).unwrap();
        assert_eq!(out[0]["finish_reason"], "stop");
        assert_eq!(out[0]["parts"][0]["content"], "hello");

        let long = "é".repeat(MAX_TEXT_BYTES);
        let cut = bounded(&long);
        assert!(cut.len() < MAX_TEXT_BYTES + 40, "{}", cut.len());
        assert!(cut.ends_with("bytes cut]"));
    }
}
