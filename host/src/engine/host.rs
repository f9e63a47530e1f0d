//! The store data of one node invocation and the host side of the contract:
//! `models` (through the [`ModelHub`], with the node's grant and call cap),
//! `log` (into tracing, byte-capped) and `config` (the node's settings).
//! WASI is present but grants nothing: no files, env, args, clocks beyond the
//! defaults, sockets or stdin; stdout and stderr go into tracing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{config, log, models, wit};
use super::call::{RunScope, Usage};
use super::stdio::{GuestStream, LogLimitReached, LogMeter, Which};
use crate::models::{
    Caller, ChatMessage, ChatRequest, ChatRole, Ledger, ModelError, ModelHub, ResponseCache,
    ResponseFormat, RunBudget,
};
use crate::spec::{Limits, PolicyOverride};

/// What a node is, for the duration of a pipeline generation.
#[derive(Debug)]
pub struct NodeContext {
    /// Node name.
    pub node: Arc<str>,
    /// Settings as sorted (key, JSON text) pairs.
    pub settings: Vec<(String, String)>,
    /// Models the node may call.
    pub granted: Vec<String>,
    /// Its limits.
    pub limits: Limits,
    /// Overrides of its models' call policies.
    pub policy: PolicyOverride,
    /// Its response cache, if it opted in (shared by its invocations).
    pub cache: Option<Arc<ResponseCache>>,
}

impl NodeContext {
    /// A context with no settings, grant or cache and default limits.
    pub fn bare(node: &str) -> Self {
        Self {
            node: node.into(),
            settings: Vec::new(),
            granted: Vec::new(),
            limits: Limits::default(),
            policy: PolicyOverride::default(),
            cache: None,
        }
    }
}

/// The CPU time an invocation is charged for: the CPU time of the threads
/// that polled it — instantiation, guest code and the host's work on its
/// behalf (copying its arguments, serving its calls) — measured per poll
/// with the thread CPU clock. Waiting (on a model call, for a worker after
/// yielding, or preempted by the OS) is not CPU and is not charged. Host
/// work a node causes is charged to the node in full, not as one tick.
#[derive(Debug, Clone, Default)]
pub struct CpuClock {
    /// Nanoseconds of finished polls.
    used_ns: Arc<AtomicU64>,
    /// The thread CPU clock when the current poll began, 0 between polls.
    poll_start_ns: Arc<AtomicU64>,
}

/// The CPU time of the calling thread (wall time since first use where the
/// platform has no thread CPU clock), in nanoseconds, never 0.
fn thread_cpu_ns() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let d = cpu_time::ThreadTime::try_now()
        .map(|t| t.as_duration())
        .unwrap_or_else(|_| ORIGIN.get_or_init(Instant::now).elapsed());
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

impl CpuClock {
    /// Time charged so far (called from within a poll of the invocation, on
    /// the thread running it).
    pub fn charged(&self) -> Duration {
        let mut ns = self.used_ns.load(Ordering::Relaxed);
        let start = self.poll_start_ns.load(Ordering::Relaxed);
        if start != 0 {
            ns = ns.saturating_add(thread_cpu_ns().saturating_sub(start));
        }
        Duration::from_nanos(ns)
    }

    /// `work`, with the CPU time of every poll charged to this clock.
    pub fn meter<F: Future>(&self, work: F) -> Metered<F> {
        Metered {
            clock: self.clone(),
            work: Box::pin(work),
        }
    }
}

/// A future whose polls are charged to a [`CpuClock`].
pub struct Metered<F> {
    clock: CpuClock,
    work: Pin<Box<F>>,
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let start = thread_cpu_ns();
        self.clock.poll_start_ns.store(start, Ordering::Relaxed);
        let out = self.work.as_mut().poll(cx);
        let spent = thread_cpu_ns().saturating_sub(start);
        self.clock.poll_start_ns.store(0, Ordering::Relaxed);
        self.clock.used_ns.fetch_add(spent, Ordering::Relaxed);
        out
    }
}

/// A memory limiter that remembers whether it refused a grow, so a
/// resulting guest abort can be reported as a memory-limit error.
#[derive(Debug)]
pub struct MemoryGuard {
    limit: usize,
    /// Set when a grow past the limit was refused.
    pub refused: bool,
    /// Largest size granted.
    pub peak: usize,
}

impl ResourceLimiter for MemoryGuard {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The data of one Store: one node invocation.
pub struct NodeState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory limiter.
    pub memory: MemoryGuard,
    node: Arc<NodeContext>,
    hub: Arc<ModelHub>,
    ledger: Arc<Ledger>,
    budget: Arc<RunBudget>,
    /// Resource use so far.
    pub usage: Usage,
    /// Set by the epoch callback when the CPU budget ran out.
    pub cpu_exhausted: bool,
    /// Set when the host-call limit was hit.
    pub host_calls_exhausted: bool,
    /// Log bytes written, shared with the stdout/stderr streams.
    pub log: Arc<LogMeter>,
    /// CPU time charged to this invocation.
    pub clock: CpuClock,
    /// When the invocation's wall limit ends: model calls waiting for a
    /// recovering upstream give up just before it.
    pub deadline: Option<std::time::Instant>,
    /// The invocation's span, parent of its model calls.
    pub trace: Option<crate::spec::SpanParent>,
}

impl NodeState {
    /// Fresh state with zero-capability WASI.
    pub fn new(node: Arc<NodeContext>, scope: RunScope) -> Self {
        let RunScope {
            hub,
            ledger,
            budget,
            trace,
        } = scope;
        let memory = MemoryGuard {
            limit: usize::try_from(node.limits.memory_bytes).unwrap_or(usize::MAX),
            refused: false,
            peak: 0,
        };
        let log = Arc::new(LogMeter::new(node.limits.log_bytes));
        // The builder's defaults grant nothing: stdin closed, no env, args,
        // preopens or network. stdout and stderr go to tracing, metered.
        let wasi = WasiCtx::builder()
            .stdout(GuestStream::new(
                node.node.clone(),
                Which::Stdout,
                log.clone(),
            ))
            .stderr(GuestStream::new(
                node.node.clone(),
                Which::Stderr,
                log.clone(),
            ))
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            memory,
            node,
            hub,
            ledger,
            budget,
            usage: Usage::default(),
            cpu_exhausted: false,
            host_calls_exhausted: false,
            log,
            clock: CpuClock::default(),
            deadline: None,
            trace,
        }
    }

    /// Brings the charged CPU time up to date; `true` (and the flag set)
    /// once it is past the node's `cpu-ms`.
    pub fn charge_cpu(&mut self) -> bool {
        self.usage.cpu_ticks = self.clock.charged().as_millis() as u64;
        if self.usage.cpu_ticks > self.limits().cpu_ticks {
            self.cpu_exhausted = true;
        }
        self.cpu_exhausted
    }

    /// The node's limits.
    pub fn limits(&self) -> &Limits {
        &self.node.limits
    }

    /// Usage with peak memory and CPU time filled in.
    pub fn final_usage(&self) -> Usage {
        Usage {
            peak_memory: self.memory.peak as u64,
            log_bytes: self.log.used(),
            cpu_ticks: self.clock.charged().as_millis() as u64,
            ..self.usage
        }
    }

    fn caller(&self) -> Caller<'_> {
        Caller {
            node: &self.node.node,
            granted: &self.node.granted,
            ledger: &self.ledger,
            overrides: &self.node.policy,
            cache: self.node.cache.as_deref(),
            budget: Some(&self.budget),
            deadline: self.deadline,
            trace: self.trace,
        }
    }

    /// Counts one host call; past the host-call limit or the CPU limit
    /// (the host's work on the node's behalf counts), sets the flag and
    /// traps.
    fn host_call(&mut self) -> wasmtime::Result<()> {
        if self.charge_cpu() {
            return Err(wasmtime::Error::msg("cpu limit reached"));
        }
        self.usage.host_calls += 1;
        if self.usage.host_calls > self.node.limits.host_calls {
            self.host_calls_exhausted = true;
            return Err(wasmtime::Error::msg("host-call limit reached"));
        }
        Ok(())
    }

    fn reserve_calls(&mut self, n: u64) -> Result<(), ModelError> {
        let limit = self.node.limits.model_calls;
        if self.usage.model_calls + n > limit {
            return Err(ModelError::Denied(format!(
                "node `{}` has used its grant of {limit} model calls per invocation; raise limits.model-calls in the manifest",
                self.node.node
            )));
        }
        self.usage.model_calls += n;
        Ok(())
    }
}

impl WasiView for NodeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
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

/// Converts a host model error to its WIT form.
pub fn to_wit_error(e: ModelError) -> wit::ModelError {
    match e {
        ModelError::Timeout => wit::ModelError::Timeout,
        ModelError::RateLimited => wit::ModelError::RateLimited,
        ModelError::Unavailable(s) => wit::ModelError::Unavailable(s),
        ModelError::Denied(s) => wit::ModelError::Denied(s),
        ModelError::BudgetExceeded(s) => wit::ModelError::BudgetExceeded(s),
        ModelError::InvalidRequest(s) => wit::ModelError::InvalidRequest(s),
    }
}

impl wit::Host for NodeState {}

impl NodeState {
    async fn model_complete(
        &mut self,
        request: wit::CompletionRequest,
    ) -> Result<wit::Completion, wit::ModelError> {
        self.reserve_calls(1).map_err(to_wit_error)?;
        let req = to_chat(request).map_err(to_wit_error)?;
        let caller = self.caller();
        let resp = self.hub.complete(caller, req).await.map_err(to_wit_error)?;
        Ok(wit::Completion {
            content: resp.content,
            // The model that answered, after any fallback (as the contract
            // promises), not the one asked for.
            model: resp.model,
            usage: wit::Usage {
                input_tokens: u32::try_from(resp.usage.input_tokens).unwrap_or(u32::MAX),
                output_tokens: u32::try_from(resp.usage.output_tokens).unwrap_or(u32::MAX),
            },
        })
    }

    async fn model_complete_batch(
        &mut self,
        requests: Vec<wit::CompletionRequest>,
    ) -> Vec<Result<wit::Completion, wit::ModelError>> {
        if let Err(e) = self.reserve_calls(requests.len() as u64) {
            return requests
                .iter()
                .map(|_| Err(to_wit_error(e.clone())))
                .collect();
        }
        let mut slots: Vec<Option<Result<wit::Completion, wit::ModelError>>> =
            Vec::with_capacity(requests.len());
        let mut valid = Vec::new();
        for r in requests {
            match to_chat(r) {
                Ok(c) => {
                    slots.push(None);
                    valid.push(c);
                }
                Err(e) => slots.push(Some(Err(to_wit_error(e)))),
            }
        }
        let caller = self.caller();
        let answers = self.hub.complete_batch(caller, valid).await;
        let mut answers = answers.into_iter();
        slots
            .into_iter()
            .map(|slot| match slot {
                Some(err) => err,
                None => {
                    let answer = answers.next().expect("one answer per valid request");
                    answer
                        .map(|resp| wit::Completion {
                            content: resp.content,
                            model: resp.model,
                            usage: wit::Usage {
                                input_tokens: u32::try_from(resp.usage.input_tokens)
                                    .unwrap_or(u32::MAX),
                                output_tokens: u32::try_from(resp.usage.output_tokens)
                                    .unwrap_or(u32::MAX),
                            },
                        })
                        .map_err(to_wit_error)
                }
            })
            .collect()
    }
}

impl NodeState {
    /// Emits one guest log line; past the log limit, traps (`log-limit`).
    fn log_emit(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if !self.log.charge(message.len() as u64) {
            return Err(LogLimitReached.into());
        }
        // One guest line stays one host line: newlines and other control
        // characters are escaped, so a guest cannot forge host log lines.
        let message = super::returned::escape_control(&message);
        let node = &*self.node.node;
        match level {
            log::Level::Trace => tracing::trace!(target: "switchyard::guest", node, "{message}"),
            log::Level::Debug => tracing::debug!(target: "switchyard::guest", node, "{message}"),
            log::Level::Info => tracing::info!(target: "switchyard::guest", node, "{message}"),
            log::Level::Warn => tracing::warn!(target: "switchyard::guest", node, "{message}"),
            log::Level::Error => tracing::error!(target: "switchyard::guest", node, "{message}"),
        }
        Ok(())
    }
}

impl NodeState {
    fn config_get(&mut self, key: String) -> Option<String> {
        self.node
            .settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    fn config_all(&mut self) -> Vec<(String, String)> {
        self.node.settings.clone()
    }
}

// Every import counts against the node's host-call limit; past it the call
// traps, which ends the invocation with a `host-call-limit` error.
impl models::Host for NodeState {
    async fn complete(
        &mut self,
        request: wit::CompletionRequest,
    ) -> wasmtime::Result<Result<wit::Completion, wit::ModelError>> {
        self.host_call()?;
        Ok(self.model_complete(request).await)
    }

    async fn complete_batch(
        &mut self,
        requests: Vec<wit::CompletionRequest>,
    ) -> wasmtime::Result<Vec<Result<wit::Completion, wit::ModelError>>> {
        self.host_call()?;
        Ok(self.model_complete_batch(requests).await)
    }
}

impl log::Host for NodeState {
    async fn emit(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.host_call()?;
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

/// Converts a WIT model error to its host form.
pub fn from_wit_error(e: wit::ModelError) -> ModelError {
    match e {
        wit::ModelError::Timeout => ModelError::Timeout,
        wit::ModelError::RateLimited => ModelError::RateLimited,
        wit::ModelError::Unavailable(s) => ModelError::Unavailable(s),
        wit::ModelError::Denied(s) => ModelError::Denied(s),
        wit::ModelError::BudgetExceeded(s) => ModelError::BudgetExceeded(s),
        wit::ModelError::InvalidRequest(s) => ModelError::InvalidRequest(s),
    }
}
