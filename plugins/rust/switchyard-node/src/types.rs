//! The contract's data types (`switchyard:node/types`), with constructors.
//!
//! Each WIT type is one Rust type, shared by every role and by the host
//! imports: a [`Task`] handed to a judge is the same type as one handed to a
//! worker. The records and variants are plain Rust values with public fields,
//! so they can be built literally; the constructors here only save typing:
//!
//! ```
//! use switchyard_node::types::*;
//!
//! let description = Description::worker("worker-echo", "0.1.0").summary("echoes its input");
//! assert_eq!(description.role, NodeRole::Worker);
//! assert_eq!(Verdict::reject(["too long"]), Verdict::Reject(vec!["too long".to_string()]));
//! assert!(matches!(NodeError::invalid_input("no subject"), NodeError::InvalidInput(_)));
//! ```

pub use crate::bindings::imports::switchyard::node::types::{
    Completion, CompletionRequest, Decision, Description, Message, ModelError, NodeError, NodeRole,
    ResponseFormat, Role, Task, Usage, Verdict,
};

/// A value that can be turned into JSON text: a [`serde_json::Value`]
/// (serialised compactly) or a string already holding JSON text (passed
/// through unchanged, not validated).
///
/// Used where the contract carries JSON as text, e.g. schemas in
/// [`Description::input_schema`] and [`CompletionRequest::json_schema`].
pub trait IntoJsonText {
    /// The JSON text.
    fn into_json_text(self) -> String;
}

impl IntoJsonText for serde_json::Value {
    fn into_json_text(self) -> String {
        self.to_string()
    }
}

impl IntoJsonText for &serde_json::Value {
    fn into_json_text(self) -> String {
        self.to_string()
    }
}

impl IntoJsonText for &str {
    fn into_json_text(self) -> String {
        self.to_owned()
    }
}

impl IntoJsonText for String {
    fn into_json_text(self) -> String {
        self
    }
}

impl Description {
    /// A description for `role` with an empty summary and no schemas.
    pub fn new(role: NodeRole, name: impl Into<String>, version: impl Into<String>) -> Self {
        Description {
            role,
            name: name.into(),
            version: version.into(),
            summary: String::new(),
            input_schema: None,
            output_schema: None,
        }
    }

    /// A router's description; pass `env!("CARGO_PKG_VERSION")` as `version`.
    pub fn router(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self::new(NodeRole::Router, name, version)
    }

    /// A worker's description; pass `env!("CARGO_PKG_VERSION")` as `version`.
    pub fn worker(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self::new(NodeRole::Worker, name, version)
    }

    /// A judge's description; pass `env!("CARGO_PKG_VERSION")` as `version`.
    pub fn judge(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self::new(NodeRole::Judge, name, version)
    }

    /// Sets the one-line summary for humans.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// Declares the JSON Schema of the task input the node accepts, as a
    /// `serde_json::Value` (e.g. `json!({..})`) or as JSON text.
    pub fn input_schema(mut self, schema: impl IntoJsonText) -> Self {
        self.input_schema = Some(schema.into_json_text());
        self
    }

    /// Declares the JSON Schema of the output the node produces, as a
    /// `serde_json::Value` (e.g. `json!({..})`) or as JSON text.
    pub fn output_schema(mut self, schema: impl IntoJsonText) -> Self {
        self.output_schema = Some(schema.into_json_text());
        self
    }
}

impl Verdict {
    /// The candidate may continue unchanged.
    pub fn accept() -> Self {
        Verdict::Accept
    }

    /// The candidate must not continue; the reasons go back to the producing
    /// node on a retry.
    pub fn reject<I, S>(reasons: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Verdict::Reject(reasons.into_iter().map(Into::into).collect())
    }

    /// The candidate may continue in this corrected form: a
    /// `serde_json::Value` or JSON text.
    pub fn repair(candidate: impl IntoJsonText) -> Self {
        Verdict::Repair(candidate.into_json_text())
    }
}

impl Decision {
    /// Picks the branch `target` (one of the candidates passed to
    /// [`Router::route`](crate::Router::route)) with a confidence from 0.0
    /// to 1.0 and a short reason.
    pub fn new(target: impl Into<String>, confidence: f32, reason: impl Into<String>) -> Self {
        Decision {
            target: target.into(),
            confidence,
            reason: reason.into(),
        }
    }
}

impl NodeError {
    /// The task's input (or a setting) is not what the node accepts.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        NodeError::InvalidInput(message.into())
    }

    /// Something else went wrong inside the node.
    pub fn internal(message: impl Into<String>) -> Self {
        NodeError::Internal(message.into())
    }
}

/// A failed model call becomes [`NodeError::Model`], so `?` works on
/// [`models::complete`](crate::models::complete) inside a node.
impl From<ModelError> for NodeError {
    fn from(error: ModelError) -> Self {
        NodeError::Model(error)
    }
}

impl Message {
    /// A system message: instructions that frame the conversation.
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message: a model's earlier answer.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

impl CompletionRequest {
    /// A request to `model` (its name in the pipeline manifest) with no
    /// messages yet, free-text answers and the host's defaults.
    pub fn new(model: impl Into<String>) -> Self {
        CompletionRequest {
            model: model.into(),
            messages: Vec::new(),
            max_tokens: None,
            temperature: None,
            response_format: ResponseFormat::Text,
            extra_json: String::new(),
        }
    }

    /// Appends a system message.
    pub fn system(mut self, content: impl Into<String>) -> Self {
        self.messages.push(Message::system(content));
        self
    }

    /// Appends a user message.
    pub fn user(mut self, content: impl Into<String>) -> Self {
        self.messages.push(Message::user(content));
        self
    }

    /// Appends an assistant message.
    pub fn assistant(mut self, content: impl Into<String>) -> Self {
        self.messages.push(Message::assistant(content));
        self
    }

    /// Caps the generated tokens.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the sampling temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Asks for any JSON object as the answer.
    pub fn json(mut self) -> Self {
        self.response_format = ResponseFormat::JsonObject;
        self
    }

    /// Asks for JSON conforming to `schema` (a `serde_json::Value` or JSON
    /// text).
    pub fn json_schema(mut self, schema: impl IntoJsonText) -> Self {
        self.response_format = ResponseFormat::JsonSchema(schema.into_json_text());
        self
    }

    /// Extra provider parameters (a JSON object), merged into the upstream
    /// request body by the host.
    pub fn extra_json(mut self, extra: impl IntoJsonText) -> Self {
        self.extra_json = extra.into_json_text();
        self
    }

    /// Sends the request through [`models::complete`](crate::models::complete).
    pub fn send(&self) -> Result<Completion, ModelError> {
        crate::models::complete(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn description_builder_sets_every_field() {
        let d = Description::judge("j", "1.2.3")
            .summary("checks")
            .input_schema(json!({"type": "string"}))
            .output_schema(r#"{"type":"object"}"#);
        assert_eq!(d.role, NodeRole::Judge);
        assert_eq!(d.name, "j");
        assert_eq!(d.version, "1.2.3");
        assert_eq!(d.summary, "checks");
        assert_eq!(d.input_schema.as_deref(), Some(r#"{"type":"string"}"#));
        assert_eq!(d.output_schema.as_deref(), Some(r#"{"type":"object"}"#));
        assert_eq!(Description::router("r", "1").role, NodeRole::Router);
        assert_eq!(Description::worker("w", "1").input_schema, None);
    }

    #[test]
    fn verdict_and_decision_constructors() {
        assert_eq!(Verdict::accept(), Verdict::Accept);
        assert_eq!(
            Verdict::reject(vec![String::from("a"), String::from("b")]),
            Verdict::Reject(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            Verdict::repair(json!({"a": 1})),
            Verdict::Repair(r#"{"a":1}"#.into())
        );
        let d = Decision::new("simple", 0.75, "short");
        assert_eq!((d.target.as_str(), d.confidence), ("simple", 0.75));
    }

    #[test]
    fn completion_request_builder() {
        let r = CompletionRequest::new("small")
            .system("be brief")
            .user("hi")
            .max_tokens(10)
            .temperature(0.0)
            .json_schema(json!({"type": "object"}));
        assert_eq!(r.model, "small");
        assert_eq!(
            r.messages,
            vec![Message::system("be brief"), Message::user("hi")]
        );
        assert_eq!((r.max_tokens, r.temperature), (Some(10), Some(0.0)));
        assert_eq!(
            r.response_format,
            ResponseFormat::JsonSchema(r#"{"type":"object"}"#.into())
        );
        assert_eq!(r.extra_json, "");
        assert_eq!(
            CompletionRequest::new("m").json().response_format,
            ResponseFormat::JsonObject
        );
    }

    #[test]
    fn model_errors_convert() {
        let e: NodeError = ModelError::Timeout.into();
        assert_eq!(e, NodeError::Model(ModelError::Timeout));
        assert_eq!(NodeError::internal("x"), NodeError::Internal("x".into()));
    }
}
