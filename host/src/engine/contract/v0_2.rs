//! `switchyard:node@0.2.0`: its types converted to and from the engine's,
//! its imports (`models` with streams and embeddings, `log`, `config`)
//! implemented on [`NodeState`], and its exports called (worker replies
//! that are streams, judgements with scores, window checks).

use wasmtime::component::{InstancePre, Resource};
use wasmtime::Store;

use super::super::bindings::v0_2::{config, judge, log, models, router, wit, worker};
use super::super::call::{
    JudgeScore, NodeCall, NodeOutput, RouteChoice, StreamReply, TaskInput, Verdict, Window,
};
use super::super::host::{GuestLevel, NodeState};
use super::super::stream::{ModelStream, StreamChunk};
use super::{mismatch, Answer, GuestError, Needs, RawDescription};
use crate::models::{
    ChatMessage, ChatRequest, ChatResponse, ChatRole, EmbedRequest, EmbedResponse, ModelError,
    ResponseFormat, ToolCall, ToolChoice, ToolDef,
};
use crate::spec::Role;

/// A 0.2 component pre-instantiated for its role.
#[derive(Clone)]
pub enum Pre {
    /// A router, and its role export found once.
    Router(router::RouterNodePre<NodeState>, RouteExport),
    /// A worker, and its role export found once.
    Worker(worker::WorkerNodePre<NodeState>, RunExport),
    /// A judge, and its role export found once.
    Judge(judge::JudgeNodePre<NodeState>, JudgeExport),
}

// An invocation loads only its role's interface from the fresh instance;
// the world's own `instantiate` would also load (and type-check) the
// `describe` interface every time, ~1% of a run's CPU.
type RouteExport = router::exports::switchyard::node::router::GuestIndices;
type RunExport = worker::exports::switchyard::node::worker::GuestIndices;
type JudgeExport = judge::exports::switchyard::node::judge::GuestIndices;

impl Pre {
    pub(super) fn new(role: Role, pre: InstancePre<NodeState>) -> wasmtime::Result<Self> {
        Ok(match role {
            Role::Router => Pre::Router(
                router::RouterNodePre::new(pre.clone())?,
                RouteExport::new(&pre)?,
            ),
            Role::Worker => Pre::Worker(
                worker::WorkerNodePre::new(pre.clone())?,
                RunExport::new(&pre)?,
            ),
            Role::Judge => Pre::Judge(
                judge::JudgeNodePre::new(pre.clone())?,
                JudgeExport::new(&pre)?,
            ),
        })
    }

    pub(super) async fn describe(
        &self,
        store: &mut Store<NodeState>,
    ) -> wasmtime::Result<RawDescription> {
        let d = match self {
            Pre::Router(p, _) => {
                p.instantiate_async(&mut *store)
                    .await?
                    .switchyard_node_describe()
                    .call_describe(&mut *store)
                    .await?
            }
            Pre::Worker(p, _) => {
                p.instantiate_async(&mut *store)
                    .await?
                    .switchyard_node_describe()
                    .call_describe(&mut *store)
                    .await?
            }
            Pre::Judge(p, _) => {
                p.instantiate_async(&mut *store)
                    .await?
                    .switchyard_node_describe()
                    .call_describe(&mut *store)
                    .await?
            }
        };
        Ok(RawDescription {
            role: match d.role {
                wit::NodeRole::Router => Role::Router,
                wit::NodeRole::Worker => Role::Worker,
                wit::NodeRole::Judge => Role::Judge,
            },
            name: d.name,
            version: d.version,
            summary: d.summary,
            input_schema: d.input_schema,
            output_schema: d.output_schema,
            needs: Needs {
                models: Some(d.needs.models),
                model_calls: d.needs.model_calls,
                settings: Some(d.needs.settings),
            },
            checks_windows: d.checks_windows,
        })
    }

    pub(super) async fn call(
        &self,
        store: &mut Store<NodeState>,
        call: NodeCall,
    ) -> wasmtime::Result<Answer> {
        let (result, score) = match (self, call) {
            (Pre::Router(p, route), NodeCall::Route { task, candidates }) => {
                let inst = p.instance_pre().instantiate_async(&mut *store).await?;
                let route = route.load(&mut *store, &inst)?;
                let r = route
                    .call_route(&mut *store, &to_task(task), &candidates)
                    .await?
                    .map(|d| {
                        NodeOutput::Route(RouteChoice {
                            target: d.target,
                            confidence: d.confidence,
                            reason: d.reason,
                        })
                    });
                (r, None)
            }
            (Pre::Worker(p, run), NodeCall::Run { task }) => {
                let inst = p.instance_pre().instantiate_async(&mut *store).await?;
                let run = run.load(&mut *store, &inst)?;
                let r = match run.call_run(&mut *store, &to_task(task)).await? {
                    Ok(worker::exports::switchyard::node::worker::Reply::Json(s)) => {
                        Ok(NodeOutput::Output(s))
                    }
                    Ok(worker::exports::switchyard::node::worker::Reply::Stream(s)) => {
                        // The handle leaves the guest: the host takes the
                        // stream out of the store's table, so it outlives
                        // the instance.
                        let stream = store.data_mut().table.delete(s.body)?;
                        match StreamReply::new(stream, s.field, &s.base) {
                            Ok(reply) => Ok(NodeOutput::Stream(reply)),
                            Err(message) => {
                                return Ok(Answer {
                                    result: Err(GuestError::InvalidOutput(message)),
                                    score: None,
                                })
                            }
                        }
                    }
                    Err(e) => Err(e),
                };
                (r, None)
            }
            (Pre::Judge(p, judge), NodeCall::Judge { task, candidate }) => {
                let inst = p.instance_pre().instantiate_async(&mut *store).await?;
                let judge = judge.load(&mut *store, &inst)?;
                let j = judge
                    .call_judge(&mut *store, &to_task(task), &candidate)
                    .await?;
                judged(j)
            }
            (Pre::Judge(p, judge), NodeCall::CheckWindow { task, window }) => {
                let inst = p.instance_pre().instantiate_async(&mut *store).await?;
                let judge = judge.load(&mut *store, &inst)?;
                let j = judge
                    .call_check_window(&mut *store, &to_task(task), &to_window(window))
                    .await?;
                judged(j)
            }
            (_, call) => return Err(mismatch(&call)),
        };
        Ok(Answer {
            result: result.map_err(from_node_error),
            score,
        })
    }
}

type Judged = (Result<NodeOutput, wit::NodeError>, Option<JudgeScore>);

fn judged(j: Result<wit::Judgement, wit::NodeError>) -> Judged {
    match j {
        Ok(j) => {
            let score = JudgeScore::given(
                j.score,
                j.criteria.into_iter().map(|c| (c.name, c.score)).collect(),
            );
            (Ok(NodeOutput::Verdict(from_verdict(j.verdict))), score)
        }
        Err(e) => (Err(e), None),
    }
}

/// The task as the guest's type, its strings moved, not copied.
fn to_task(t: TaskInput) -> wit::Task {
    wit::Task {
        id: t.id,
        input: t.input,
        meta: t.meta,
        attempt: t.attempt,
        feedback: t.feedback,
    }
}

fn to_window(w: Window) -> wit::Window {
    wit::Window {
        text: w.text,
        before: w.before,
        index: w.index,
        last: w.last,
    }
}

fn from_verdict(v: wit::Verdict) -> Verdict {
    match v {
        wit::Verdict::Accept => Verdict::Accept,
        wit::Verdict::Reject(reasons) => Verdict::Reject { reasons },
        wit::Verdict::Repair(output) => Verdict::Repair { output },
    }
}

fn from_node_error(e: wit::NodeError) -> GuestError {
    match e {
        wit::NodeError::InvalidInput(m) => GuestError::InvalidInput(m),
        wit::NodeError::Model(m) => GuestError::Model(from_model_error(m)),
        wit::NodeError::Internal(m) => GuestError::Internal(m),
    }
}

fn from_model_error(e: wit::ModelError) -> ModelError {
    match e {
        wit::ModelError::Timeout => ModelError::Timeout,
        wit::ModelError::RateLimited => ModelError::RateLimited,
        wit::ModelError::Unavailable(s) => ModelError::Unavailable(s),
        wit::ModelError::Denied(s) => ModelError::Denied(s),
        wit::ModelError::BudgetExceeded(s) => ModelError::BudgetExceeded(s),
        wit::ModelError::InvalidRequest(s) => ModelError::InvalidRequest(s),
    }
}

fn to_model_error(e: ModelError) -> wit::ModelError {
    match e {
        ModelError::Timeout => wit::ModelError::Timeout,
        ModelError::RateLimited => wit::ModelError::RateLimited,
        ModelError::Unavailable(s) => wit::ModelError::Unavailable(s),
        ModelError::Denied(s) => wit::ModelError::Denied(s),
        ModelError::BudgetExceeded(s) => wit::ModelError::BudgetExceeded(s),
        ModelError::InvalidRequest(s) => wit::ModelError::InvalidRequest(s),
    }
}

fn to_chat(r: wit::CompletionRequest) -> Result<ChatRequest, ModelError> {
    let extra = crate::models::extra::parse(&r.extra_json)?;
    let format = match r.response_format {
        wit::ResponseFormat::Text => ResponseFormat::Text,
        wit::ResponseFormat::JsonObject => ResponseFormat::JsonObject,
        wit::ResponseFormat::JsonSchema(s) => {
            if serde_json::from_str::<serde_json::Value>(&s).is_err() {
                return Err(ModelError::InvalidRequest(
                    "response-format json-schema is not valid JSON".into(),
                ));
            }
            ResponseFormat::JsonSchema(s)
        }
    };
    let tools = r
        .tools
        .into_iter()
        .map(to_tool_def)
        .collect::<Result<Vec<_>, _>>()?;
    let tool_choice = match r.tool_choice {
        wit::ToolChoice::Auto => ToolChoice::Auto,
        wit::ToolChoice::None => ToolChoice::None,
        wit::ToolChoice::Required => ToolChoice::Required,
        wit::ToolChoice::Named(name) => ToolChoice::Named(name),
    };
    let messages = r
        .messages
        .into_iter()
        .map(|m| ChatMessage {
            role: match m.role {
                wit::Role::System => ChatRole::System,
                wit::Role::User => ChatRole::User,
                wit::Role::Assistant => ChatRole::Assistant,
                wit::Role::Tool => ChatRole::Tool,
            },
            content: m.content,
            tool_calls: m.tool_calls.into_iter().map(from_tool_call).collect(),
            tool_call_id: m.tool_call_id,
        })
        .collect();
    // Names, uniqueness, schemas as objects, the choice and tool messages
    // are checked by the hub (`models::tools::validate`), for every
    // contract version and for streams too.
    Ok(ChatRequest {
        model: r.model,
        messages,
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        format,
        extra,
        tools,
        tool_choice,
        ..Default::default()
    })
}

/// A tool definition with its parameter schema parsed; JSON that does not
/// parse is refused, naming the tool.
fn to_tool_def(t: wit::ToolDefinition) -> Result<ToolDef, ModelError> {
    let parameters = serde_json::from_str(&t.parameters).map_err(|e| {
        ModelError::InvalidRequest(format!(
            "tool `{}`: `parameters` is not valid JSON: {e}",
            crate::text::shown(&t.name)
        ))
    })?;
    Ok(ToolDef {
        name: t.name,
        description: t.description,
        parameters,
    })
}

fn from_tool_call(c: wit::ToolCall) -> ToolCall {
    ToolCall {
        id: c.id,
        name: c.name,
        arguments: c.arguments,
    }
}

fn to_tool_call(c: ToolCall) -> wit::ToolCall {
    wit::ToolCall {
        id: c.id,
        name: c.name,
        arguments: c.arguments,
    }
}

fn finish_reason_of(reason: Option<&str>) -> wit::FinishReason {
    match reason {
        Some("stop" | "end_turn" | "stop_sequence") => wit::FinishReason::Stop,
        Some("length" | "max_tokens") => wit::FinishReason::Length,
        Some("tool_calls" | "tool_use") => wit::FinishReason::ToolCalls,
        Some("content_filter") => wit::FinishReason::ContentFilter,
        _ => wit::FinishReason::Other,
    }
}

fn to_completion(resp: ChatResponse) -> wit::Completion {
    wit::Completion {
        finish_reason: finish_reason_of(resp.finish_reason.as_deref()),
        content: resp.content,
        model: resp.model,
        usage: to_usage(resp.usage),
        tool_calls: resp.tool_calls.into_iter().map(to_tool_call).collect(),
    }
}

fn to_embeddings(resp: EmbedResponse) -> wit::Embeddings {
    wit::Embeddings {
        vectors: resp.vectors,
        model: resp.model,
        usage: to_usage(resp.usage),
    }
}

fn to_usage(u: crate::models::Usage) -> wit::Usage {
    wit::Usage {
        input_tokens: u32::try_from(u.input_tokens).unwrap_or(u32::MAX),
        output_tokens: u32::try_from(u.output_tokens).unwrap_or(u32::MAX),
    }
}

impl wit::Host for NodeState {}

// Every import counts against the node's host-call limit; past it the call
// traps, which ends the invocation with a `host-call-limit` error.
impl models::Host for NodeState {
    async fn complete(
        &mut self,
        request: wit::CompletionRequest,
    ) -> wasmtime::Result<Result<wit::Completion, wit::ModelError>> {
        self.host_call()?;
        Ok(self
            .model_complete(to_chat(request))
            .await
            .map(to_completion)
            .map_err(to_model_error))
    }

    async fn complete_batch(
        &mut self,
        requests: Vec<wit::CompletionRequest>,
    ) -> wasmtime::Result<Vec<Result<wit::Completion, wit::ModelError>>> {
        self.host_call()?;
        let requests = requests.into_iter().map(to_chat).collect();
        Ok(self
            .model_complete_batch(requests)
            .await
            .into_iter()
            .map(|r| r.map(to_completion).map_err(to_model_error))
            .collect())
    }

    async fn stream(
        &mut self,
        request: wit::CompletionRequest,
    ) -> wasmtime::Result<Result<Resource<ModelStream>, wit::ModelError>> {
        self.host_call()?;
        match self.model_stream(to_chat(request)) {
            Ok(stream) => Ok(Ok(self.table.push(stream)?)),
            Err(e) => Ok(Err(to_model_error(e))),
        }
    }

    async fn embed(
        &mut self,
        request: wit::EmbeddingRequest,
    ) -> wasmtime::Result<Result<wit::Embeddings, wit::ModelError>> {
        self.host_call()?;
        let request = EmbedRequest {
            model: request.model,
            inputs: request.inputs,
        };
        Ok(self
            .model_embed(request)
            .await
            .map(to_embeddings)
            .map_err(to_model_error))
    }
}

impl models::HostCompletionStream for NodeState {
    async fn next(
        &mut self,
        stream: Resource<ModelStream>,
    ) -> wasmtime::Result<Option<Result<wit::Chunk, wit::ModelError>>> {
        self.host_call()?;
        let s = self.table.get_mut(&stream)?;
        // Restarts are invisible to a reading node: it sees the stream
        // released from its first chunk on.
        Ok(s.next_for_node().await.map(|c| {
            c.map(|c| match c {
                StreamChunk::Delta(d) => wit::Chunk::Delta(d),
                StreamChunk::Restart => wit::Chunk::Delta(String::new()),
                StreamChunk::Done {
                    model,
                    usage,
                    finish_reason,
                    tool_calls,
                } => wit::Chunk::Done(wit::Completion {
                    content: String::new(),
                    model,
                    usage: to_usage(usage),
                    tool_calls: tool_calls.into_iter().map(to_tool_call).collect(),
                    finish_reason: finish_reason_of(finish_reason.as_deref()),
                }),
            })
            .map_err(to_model_error)
        }))
    }

    async fn drop(&mut self, stream: Resource<ModelStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}

impl log::Host for NodeState {
    async fn emit(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.host_call()?;
        let level = match level {
            log::Level::Trace => GuestLevel::Trace,
            log::Level::Debug => GuestLevel::Debug,
            log::Level::Info => GuestLevel::Info,
            log::Level::Warn => GuestLevel::Warn,
            log::Level::Error => GuestLevel::Error,
        };
        self.log_emit(level, message)
    }
}

impl config::Host for NodeState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.host_call()?;
        Ok(self.config_get(key))
    }

    async fn all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        self.host_call()?;
        Ok(self.config_all())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        tools: Vec<wit::ToolDefinition>,
        messages: Vec<wit::Message>,
    ) -> wit::CompletionRequest {
        wit::CompletionRequest {
            model: "chat".into(),
            messages,
            max_tokens: None,
            temperature: None,
            response_format: wit::ResponseFormat::Text,
            tools,
            tool_choice: wit::ToolChoice::Named("add".into()),
            extra_json: String::new(),
        }
    }

    fn message(role: wit::Role, content: &str) -> wit::Message {
        wit::Message {
            role,
            content: content.into(),
            tool_calls: vec![],
            tool_call_id: None,
        }
    }

    fn add(parameters: &str) -> wit::ToolDefinition {
        wit::ToolDefinition {
            name: "add".into(),
            description: "Adds two numbers".into(),
            parameters: parameters.into(),
        }
    }

    #[test]
    fn v0_2_to_chat_converts_tools_choice_and_tool_messages() {
        let call = wit::ToolCall {
            id: "call_1".into(),
            name: "add".into(),
            arguments: r#"{"a":1,"b":2}"#.into(),
        };
        let messages = vec![
            message(wit::Role::User, "1 + 2?"),
            wit::Message {
                tool_calls: vec![call],
                ..message(wit::Role::Assistant, "")
            },
            wit::Message {
                tool_call_id: Some("call_1".into()),
                ..message(wit::Role::Tool, "3")
            },
        ];
        let chat = to_chat(request(vec![add(r#"{"type":"object"}"#)], messages)).unwrap();
        assert_eq!(
            chat.tools,
            vec![ToolDef {
                name: "add".into(),
                description: "Adds two numbers".into(),
                parameters: serde_json::json!({"type": "object"}),
            }]
        );
        assert_eq!(chat.tool_choice, ToolChoice::Named("add".into()));
        assert_eq!(chat.messages[1].tool_calls[0].arguments, r#"{"a":1,"b":2}"#);
        assert_eq!(chat.messages[2].role, ChatRole::Tool);
        assert_eq!(chat.messages[2].tool_call_id.as_deref(), Some("call_1"));
        assert!(crate::models::tools::validate(&chat).is_ok());
    }

    #[test]
    fn v0_2_to_chat_refuses_parameters_that_are_not_json_naming_the_tool() {
        let err = to_chat(request(
            vec![add("{not json")],
            vec![message(wit::Role::User, "hi")],
        ))
        .unwrap_err();
        assert!(
            matches!(&err, ModelError::InvalidRequest(m) if m.contains("tool `add`") && m.contains("not valid JSON")),
            "{err:?}"
        );
    }

    #[test]
    fn v0_2_completions_carry_tool_calls() {
        let c = to_completion(ChatResponse {
            content: String::new(),
            usage: crate::models::Usage::default(),
            model: "chat".into(),
            finish_reason: Some("tool_calls".into()),
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "add".into(),
                arguments: "{}".into(),
            }],
        });
        assert_eq!(c.tool_calls.len(), 1);
        assert_eq!(
            (c.tool_calls[0].id.as_str(), c.tool_calls[0].name.as_str()),
            ("call_1", "add")
        );
        assert!(matches!(c.finish_reason, wit::FinishReason::ToolCalls));
    }
}
