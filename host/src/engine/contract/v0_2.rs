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
use crate::models::{ChatMessage, ChatRequest, ChatResponse, ChatRole, ModelError, ResponseFormat};
use crate::spec::Role;

/// A 0.2 component pre-instantiated for its role.
#[derive(Clone)]
pub enum Pre {
    /// A router.
    Router(router::RouterNodePre<NodeState>),
    /// A worker.
    Worker(worker::WorkerNodePre<NodeState>),
    /// A judge.
    Judge(judge::JudgeNodePre<NodeState>),
}

impl Pre {
    pub(super) fn new(role: Role, pre: InstancePre<NodeState>) -> wasmtime::Result<Self> {
        Ok(match role {
            Role::Router => Pre::Router(router::RouterNodePre::new(pre)?),
            Role::Worker => Pre::Worker(worker::WorkerNodePre::new(pre)?),
            Role::Judge => Pre::Judge(judge::JudgeNodePre::new(pre)?),
        })
    }

    pub(super) async fn describe(
        &self,
        store: &mut Store<NodeState>,
    ) -> wasmtime::Result<RawDescription> {
        let d = match self {
            Pre::Router(p) => {
                p.instantiate_async(&mut *store)
                    .await?
                    .switchyard_node_describe()
                    .call_describe(&mut *store)
                    .await?
            }
            Pre::Worker(p) => {
                p.instantiate_async(&mut *store)
                    .await?
                    .switchyard_node_describe()
                    .call_describe(&mut *store)
                    .await?
            }
            Pre::Judge(p) => {
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
            (Pre::Router(p), NodeCall::Route { task, candidates }) => {
                let inst = p.instantiate_async(&mut *store).await?;
                let r = inst
                    .switchyard_node_router()
                    .call_route(&mut *store, &to_task(&task), &candidates)
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
            (Pre::Worker(p), NodeCall::Run { task }) => {
                let inst = p.instantiate_async(&mut *store).await?;
                let r = match inst
                    .switchyard_node_worker()
                    .call_run(&mut *store, &to_task(&task))
                    .await?
                {
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
            (Pre::Judge(p), NodeCall::Judge { task, candidate }) => {
                let inst = p.instantiate_async(&mut *store).await?;
                let j = inst
                    .switchyard_node_judge()
                    .call_judge(&mut *store, &to_task(&task), &candidate)
                    .await?;
                judged(j)
            }
            (Pre::Judge(p), NodeCall::CheckWindow { task, window }) => {
                let inst = p.instantiate_async(&mut *store).await?;
                let j = inst
                    .switchyard_node_judge()
                    .call_check_window(&mut *store, &to_task(&task), &to_window(window))
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

fn to_task(t: &TaskInput) -> wit::Task {
    wit::Task {
        id: t.id.clone(),
        input: t.input.clone(),
        meta: t.meta.clone(),
        attempt: t.attempt,
        feedback: t.feedback.clone(),
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
    if !r.tools.is_empty() || r.messages.iter().any(|m| !m.tool_calls.is_empty()) {
        return Err(ModelError::InvalidRequest(
            "tool calls are not supported by this host build".into(),
        ));
    }
    let mut messages = Vec::with_capacity(r.messages.len());
    for m in r.messages {
        let role = match m.role {
            wit::Role::System => ChatRole::System,
            wit::Role::User => ChatRole::User,
            wit::Role::Assistant => ChatRole::Assistant,
            wit::Role::Tool => {
                return Err(ModelError::InvalidRequest(
                    "tool messages are not supported by this host build".into(),
                ))
            }
        };
        messages.push(ChatMessage::new(role, m.content));
    }
    Ok(ChatRequest {
        model: r.model,
        messages,
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        format,
        extra,
        ..Default::default()
    })
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
        tool_calls: Vec::new(),
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
        _request: wit::EmbeddingRequest,
    ) -> wasmtime::Result<Result<wit::Embeddings, wit::ModelError>> {
        self.host_call()?;
        Ok(Err(wit::ModelError::Unavailable(
            "embeddings are not supported by this host build".into(),
        )))
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
                } => wit::Chunk::Done(wit::Completion {
                    content: String::new(),
                    model,
                    usage: to_usage(usage),
                    tool_calls: Vec::new(),
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
