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
//! let scored = Judgement::accept().score(0.9).criterion("tone", 1.0);
//! assert_eq!(scored.score, Some(0.9));
//! assert!(matches!(NodeError::invalid_input("no subject"), NodeError::InvalidInput(_)));
//! ```

pub use crate::bindings::imports::switchyard::node::models::CompletionStream;
pub use crate::bindings::imports::switchyard::node::types::{
    Chunk, Completion, CompletionRequest, Criterion, Decision, Description, EmbeddingRequest,
    Embeddings, FinishReason, Judgement, Message, ModelError, Needs, NodeError, NodeRole,
    ResponseFormat, Role, Task, ToolCall, ToolChoice, ToolDefinition, Usage, Verdict, Window,
};
pub use crate::bindings::worker::exports::switchyard::node::worker::{Reply, Streamed};

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
            needs: Needs::none(),
            checks_windows: false,
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

    /// Declares what the node needs from the host (default: nothing), for
    /// the operator to review: `Needs::models(["chat"]).settings(["model"])`.
    pub fn needs(mut self, needs: Needs) -> Self {
        self.needs = needs;
        self
    }
}

impl Needs {
    /// Needs nothing: no model, no setting (the default).
    pub fn none() -> Self {
        Needs {
            models: Vec::new(),
            model_calls: None,
            settings: Vec::new(),
        }
    }

    /// Needs these models: manifest names, or kinds such as `chat` or
    /// `embedding`.
    pub fn models<I: IntoIterator<Item = S>, S: Into<String>>(models: I) -> Self {
        Needs {
            models: models.into_iter().map(Into::into).collect(),
            ..Self::none()
        }
    }

    /// At most `calls` model calls per invocation.
    pub fn model_calls(mut self, calls: u32) -> Self {
        self.model_calls = Some(calls);
        self
    }

    /// Reads these settings keys.
    pub fn settings<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.settings = keys.into_iter().map(Into::into).collect();
        self
    }
}

impl Default for Needs {
    fn default() -> Self {
        Self::none()
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

impl Judgement {
    /// Accepts the candidate (or window), with no score.
    pub fn accept() -> Self {
        Verdict::Accept.into()
    }

    /// Rejects it with reasons, with no score.
    pub fn reject<I, S>(reasons: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Verdict::reject(reasons).into()
    }

    /// Repairs it: a corrected candidate (a `serde_json::Value` or JSON
    /// text), or for a window the window's replacement text.
    pub fn repair(candidate: impl IntoJsonText) -> Self {
        Verdict::repair(candidate).into()
    }

    /// Adds the overall score (usually from 0.0 to 1.0; a manifest
    /// `min-score` can turn it into the verdict).
    pub fn score(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }

    /// Adds one named criterion's score, e.g. `("faithfulness", 0.8)`.
    pub fn criterion(mut self, name: impl Into<String>, score: f64) -> Self {
        self.criteria.push(Criterion {
            name: name.into(),
            score,
        });
        self
    }
}

/// A plain verdict is a judgement without scores.
impl From<Verdict> for Judgement {
    fn from(verdict: Verdict) -> Self {
        Judgement {
            verdict,
            score: None,
            criteria: Vec::new(),
        }
    }
}

/// Reasons to reject: none accepts, any rejects with them.
impl From<Vec<String>> for Judgement {
    fn from(reasons: Vec<String>) -> Self {
        if reasons.is_empty() {
            Judgement::accept()
        } else {
            Judgement::reject(reasons)
        }
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
    /// A message from `role` with no tool calls.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message: instructions that frame the conversation.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message: a model's earlier answer.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// A model's earlier answer as a message, with its tool calls: send it
    /// back before the [`Message::tool`] answers to those calls.
    pub fn from_completion(answer: &Completion) -> Self {
        Message {
            tool_calls: answer.tool_calls.clone(),
            ..Self::assistant(answer.content.clone())
        }
    }

    /// The result of the tool call `call_id` (a [`ToolCall::id`]) that the
    /// node ran.
    pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(call_id.into()),
            ..Self::new(Role::Tool, content)
        }
    }
}

impl ToolDefinition {
    /// A tool the model may call: its name, what it does, and the JSON
    /// Schema of its arguments (a `serde_json::Value` or JSON text).
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: impl IntoJsonText,
    ) -> Self {
        ToolDefinition {
            name: name.into(),
            description: description.into(),
            parameters: parameters.into_json_text(),
        }
    }
}

impl ToolCall {
    /// The call's arguments parsed as `T` (the model wrote them: a
    /// malformed value is [`NodeError::InvalidInput`]).
    pub fn arguments_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, NodeError> {
        serde_json::from_str(&self.arguments).map_err(|e| {
            NodeError::InvalidInput(format!("arguments of tool call `{}`: {e}", self.name))
        })
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
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            extra_json: String::new(),
        }
    }

    /// Appends any message (e.g. [`Message::tool`] answers).
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Offers a tool the model may call (see [`ToolDefinition::new`]).
    pub fn tool(mut self, tool: ToolDefinition) -> Self {
        self.tools.push(tool);
        self
    }

    /// Says whether and which tool the model must call (default: `Auto`).
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = choice;
        self
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

    /// Starts it as a stream through [`models::stream`](crate::models::stream).
    pub fn stream(&self) -> Result<CompletionStream, ModelError> {
        crate::models::stream(self)
    }
}

impl Reply {
    /// The whole output as JSON, serialised from `value` (see
    /// [`to_output`](crate::to_output)).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, NodeError> {
        crate::json::to_output(value).map(Reply::Json)
    }

    /// The output as a model stream handed to the host unread: the host
    /// releases its text window by window, each after the window judges
    /// accepted it. The output is the text as a JSON string, or with a
    /// `field`, `{"<field>": text}` (plus the fields of
    /// [`with_base`](Reply::with_base)).
    pub fn stream(body: CompletionStream, field: Option<&str>) -> Self {
        Reply::Stream(Streamed {
            body,
            field: field.map(str::to_owned),
            base: String::new(),
        })
    }

    /// For a stream with a `field`: the rest of the output object (a
    /// `serde_json::Value` or JSON text), e.g. `json!({"model": "small"})`,
    /// so the output keeps the shape a whole reply would have. No effect
    /// on a JSON reply.
    pub fn with_base(mut self, base: impl IntoJsonText) -> Self {
        if let Reply::Stream(streamed) = &mut self {
            streamed.base = base.into_json_text();
        }
        self
    }
}

/// JSON text (e.g. from [`to_output`](crate::to_output)) as a whole reply.
impl From<String> for Reply {
    fn from(json: String) -> Self {
        Reply::Json(json)
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
        assert_eq!(d.needs, Needs::none());
        assert!(!d.checks_windows);
        let n = Needs::models(["chat"]).model_calls(1).settings(["model"]);
        let d = Description::worker("w", "1").needs(n.clone());
        assert_eq!(d.needs, n);
        assert_eq!(
            (n.models, n.model_calls, n.settings),
            (vec!["chat".to_string()], Some(1), vec!["model".to_string()])
        );
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
        let j = Judgement::reject(["no"]).score(0.2).criterion("tone", 0.1);
        assert_eq!(j.verdict, Verdict::Reject(vec!["no".into()]));
        assert_eq!(j.score, Some(0.2));
        assert_eq!(
            j.criteria,
            vec![Criterion {
                name: "tone".into(),
                score: 0.1
            }]
        );
        assert_eq!(Judgement::from(Vec::<String>::new()), Judgement::accept());
        assert_eq!(
            Judgement::from(vec!["x".to_string()]).verdict,
            Verdict::Reject(vec!["x".into()])
        );
        assert_eq!(Judgement::from(Verdict::Accept).criteria, vec![]);
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
        assert!(r.tools.is_empty());
        assert_eq!(r.tool_choice, ToolChoice::Auto);
        let t = CompletionRequest::new("m")
            .tool(ToolDefinition::new(
                "lookup",
                "finds an order",
                json!({"type": "object"}),
            ))
            .tool_choice(ToolChoice::Named("lookup".into()))
            .message(Message::tool("call-1", "{}"));
        assert_eq!(t.tools[0].parameters, r#"{"type":"object"}"#);
        assert_eq!(t.messages[0].role, Role::Tool);
        assert_eq!(t.messages[0].tool_call_id.as_deref(), Some("call-1"));
        let call = ToolCall {
            id: "1".into(),
            name: "lookup".into(),
            arguments: r#"{"id":7}"#.into(),
        };
        assert_eq!(call.arguments_as::<serde_json::Value>().unwrap()["id"], 7);
        assert!(
            call.clone().arguments.is_empty()
                || ToolCall {
                    arguments: "{".into(),
                    ..call
                }
                .arguments_as::<serde_json::Value>()
                .is_err()
        );
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
