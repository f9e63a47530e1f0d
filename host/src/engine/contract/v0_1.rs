//! `switchyard:node@0.1.0`, frozen: its types converted to and from the
//! engine's, its imports (`models`, `log`, `config`) implemented on
//! [`NodeState`], and its exports called. Every 0.1 component keeps running
//! unchanged beside 0.2 ones.

use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::super::bindings::v0_1::{config, judge, log, models, router, wit, worker};
use super::super::call::{NodeCall, NodeOutput, RouteChoice, TaskInput, Verdict};
use super::super::host::{GuestLevel, NodeState};
use super::{mismatch, Answer, GuestError, Needs, RawDescription};
use crate::models::{ChatMessage, ChatRequest, ChatResponse, ChatRole, ModelError, ResponseFormat};
use crate::spec::Role;

/// A 0.1 component pre-instantiated for its role.
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
            needs: Needs::default(),
            checks_windows: false,
        })
    }

    pub(super) async fn call(
        &self,
        store: &mut Store<NodeState>,
        call: NodeCall,
    ) -> wasmtime::Result<Answer> {
        let result = match (self, call) {
            (Pre::Router(p, route), NodeCall::Route { task, candidates }) => {
                let inst = p.instance_pre().instantiate_async(&mut *store).await?;
                let route = route.load(&mut *store, &inst)?;
                route
                    .call_route(&mut *store, &to_task(task), &candidates)
                    .await?
                    .map(|d| {
                        NodeOutput::Route(RouteChoice {
                            target: d.target,
                            confidence: d.confidence,
                            reason: d.reason,
                        })
                    })
            }
            (Pre::Worker(p, run), NodeCall::Run { task }) => {
                let inst = p.instance_pre().instantiate_async(&mut *store).await?;
                let run = run.load(&mut *store, &inst)?;
                run.call_run(&mut *store, &to_task(task))
                    .await?
                    .map(NodeOutput::Output)
            }
            (Pre::Judge(p, judge), NodeCall::Judge { task, candidate }) => {
                let inst = p.instance_pre().instantiate_async(&mut *store).await?;
                let judge = judge.load(&mut *store, &inst)?;
                judge
                    .call_judge(&mut *store, &to_task(task), &candidate)
                    .await?
                    .map(|v| NodeOutput::Verdict(from_verdict(v)))
            }
            (_, call) => return Err(mismatch(&call)),
        };
        Ok(Answer {
            result: result.map_err(from_node_error),
            score: None,
        })
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
    Ok(ChatRequest {
        model: r.model,
        messages: r
            .messages
            .into_iter()
            .map(|m| ChatMessage {
                role: match m.role {
                    wit::Role::System => ChatRole::System,
                    wit::Role::User => ChatRole::User,
                    wit::Role::Assistant => ChatRole::Assistant,
                },
                content: m.content,
                tool_calls: Vec::new(),
                tool_call_id: None,
            })
            .collect(),
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        format,
        extra,
        ..Default::default()
    })
}

fn to_completion(resp: ChatResponse) -> wit::Completion {
    wit::Completion {
        content: resp.content,
        // The model that answered, after any fallback (as the contract
        // promises), not the one asked for.
        model: resp.model,
        usage: wit::Usage {
            input_tokens: u32::try_from(resp.usage.input_tokens).unwrap_or(u32::MAX),
            output_tokens: u32::try_from(resp.usage.output_tokens).unwrap_or(u32::MAX),
        },
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
