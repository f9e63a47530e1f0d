//! The store data of one node invocation and the host side of the contract:
//! `models` (through the [`ModelHub`], with the node's grant and call cap),
//! `log` (into tracing, byte-capped) and `config` (the node's settings).
//! WASI is present but grants nothing: no files, env, args, clocks beyond the
//! defaults, sockets or stdin; stdout and stderr go into tracing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::call::{RunScope, Usage};
use super::stdio::{GuestStream, LogLimitReached, LogMeter, LogSpan, Which};
use crate::models::{
    Caller, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Ledger, ModelError, ModelHub,
    ResponseCache, RunBudget, StreamCaller,
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
    /// The same context, its response cache naming the component with
    /// SHA-256 `digest` as the maker of its shared entries.
    pub fn scoped_to(self, digest: &str) -> Self {
        if let Some(c) = &self.cache {
            c.rescope(&self.node, digest);
        }
        self
    }

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
/// behalf (copying its arguments, serving its calls) — measured per poll.
/// Waiting (on a model call, for a worker after yielding) is not charged.
/// Host work a node causes is charged to the node in full, not as one tick.
///
/// Reading the thread CPU clock is a system call (about 1 µs), and most
/// polls of an invocation take a few µs, so a poll is timed by the
/// monotonic clock (a few ns) unless the invocation's previous poll took
/// [`LONG_POLL`] or more: then the poll is timed by the thread CPU clock,
/// and time the OS takes the thread away is not charged.
///
/// The monotonic clock also counts time the OS took the thread away, which
/// on a loaded machine can be milliseconds: a poll timed by it is never
/// charged more than [`LONG_POLL`]. The first check of the charge past
/// that (an epoch tick in guest code, a host call) charges the poll
/// [`LONG_POLL`] and times the rest of it by the thread CPU clock; a poll
/// that turned long with no check in it is charged [`LONG_POLL`] and makes
/// the next one precise. So a benign node is never charged for a stall it
/// did not cause, and a busy one is charged its CPU time less at most one
/// epoch tick per long poll.
#[derive(Debug, Clone, Default)]
pub struct CpuClock(Arc<ClockState>);

/// A poll at least this long makes the next poll of the same invocation
/// read the thread CPU clock.
pub const LONG_POLL: Duration = Duration::from_micros(100);
const LONG_POLL_NS: u64 = LONG_POLL.as_nanos() as u64;

#[derive(Debug, Default)]
struct ClockState {
    /// Nanoseconds of finished polls.
    used_ns: AtomicU64,
    /// The monotonic clock when the current poll began, 0 between polls.
    poll_wall_ns: AtomicU64,
    /// The thread CPU clock when the current poll began, 0 when the poll
    /// is timed by the monotonic clock.
    poll_cpu_ns: AtomicU64,
    /// The last poll was long: time the next by the thread CPU clock.
    precise: AtomicBool,
}

/// The monotonic clock in nanoseconds since first use, never 0.
fn wall_ns() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    u64::try_from(ORIGIN.get_or_init(Instant::now).elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The CPU time of the calling thread (the monotonic clock where the
/// platform has no thread CPU clock), in nanoseconds, never 0.
fn thread_cpu_ns() -> u64 {
    match cpu_time::ThreadTime::try_now() {
        Ok(t) => u64::try_from(t.as_duration().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1),
        Err(_) => wall_ns(),
    }
}

impl CpuClock {
    /// Time charged so far (called from within a poll of the invocation, on
    /// the thread running it).
    pub fn charged(&self) -> Duration {
        let s = &self.0;
        let used = s.used_ns.load(Ordering::Relaxed);
        let cpu = s.poll_cpu_ns.load(Ordering::Relaxed);
        if cpu != 0 {
            return Duration::from_nanos(used.saturating_add(thread_cpu_ns().saturating_sub(cpu)));
        }
        let wall = s.poll_wall_ns.load(Ordering::Relaxed);
        if wall == 0 {
            return Duration::from_nanos(used);
        }
        let took = wall_ns().saturating_sub(wall);
        if took < LONG_POLL_NS {
            return Duration::from_nanos(used.saturating_add(took));
        }
        // The poll has turned long while timed by the monotonic clock, which
        // cannot tell running from waiting for the CPU: charge it
        // `LONG_POLL` so far and time the rest of it by the thread CPU clock.
        s.used_ns.fetch_add(LONG_POLL_NS, Ordering::Relaxed);
        s.poll_cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
        Duration::from_nanos(used.saturating_add(LONG_POLL_NS))
    }

    /// How long the current poll has run (zero between polls).
    pub fn poll_elapsed(&self) -> Duration {
        match self.0.poll_wall_ns.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            start => Duration::from_nanos(wall_ns().saturating_sub(start)),
        }
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

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.get_mut();
        let clock = &this.clock.0;
        let wall = wall_ns();
        let cpu = if clock.precise.load(Ordering::Relaxed) {
            thread_cpu_ns()
        } else {
            0
        };
        clock.poll_wall_ns.store(wall, Ordering::Relaxed);
        clock.poll_cpu_ns.store(cpu, Ordering::Relaxed);
        let out = this.work.as_mut().poll(cx);
        let took = wall_ns().saturating_sub(wall);
        // Timed by the thread CPU clock from its start, or from the check
        // that found it long (see `charged`).
        let spent = match clock.poll_cpu_ns.load(Ordering::Relaxed) {
            0 => took.min(LONG_POLL_NS),
            from => thread_cpu_ns().saturating_sub(from),
        };
        clock.poll_wall_ns.store(0, Ordering::Relaxed);
        clock.poll_cpu_ns.store(0, Ordering::Relaxed);
        clock.precise.store(took >= LONG_POLL_NS, Ordering::Relaxed);
        clock.used_ns.fetch_add(spent, Ordering::Relaxed);
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
    pub(super) table: ResourceTable,
    /// Memory limiter.
    pub memory: MemoryGuard,
    node: Arc<NodeContext>,
    pub(super) hub: Arc<ModelHub>,
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
    /// Where the guest's log lines are written.
    log_span: LogSpan,
}

impl NodeState {
    /// Fresh state with zero-capability WASI.
    pub fn new(node: Arc<NodeContext>, scope: RunScope) -> Self {
        let RunScope {
            hub,
            ledger,
            budget,
            trace,
            attempt,
        } = scope;
        let memory = MemoryGuard {
            limit: usize::try_from(node.limits.memory_bytes).unwrap_or(usize::MAX),
            refused: false,
            peak: 0,
        };
        let log = Arc::new(LogMeter::new(node.limits.log_bytes));
        let log_span = LogSpan {
            node: node.node.clone(),
            attempt,
            span_id: trace.map(|t| t.span_id),
        };
        // The builder's defaults grant nothing: stdin closed, no env, args,
        // preopens or network. stdout and stderr go to tracing, metered.
        let wasi = WasiCtx::builder()
            .stdout(GuestStream::new(
                log_span.clone(),
                Which::Stdout,
                log.clone(),
            ))
            .stderr(GuestStream::new(
                log_span.clone(),
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
            log_span,
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

    pub(super) fn caller(&self) -> Caller<'_> {
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
    pub(super) fn host_call(&mut self) -> wasmtime::Result<()> {
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

impl NodeState {
    /// One model call for the node: counted against its call grant, then
    /// through the hub with the node's grant, policy, cache and budget.
    pub(super) async fn model_complete(
        &mut self,
        request: Result<ChatRequest, ModelError>,
    ) -> Result<ChatResponse, ModelError> {
        self.reserve_calls(1)?;
        let req = request?;
        let caller = self.caller();
        self.hub.complete(caller, req).await
    }

    /// One embedding call for the node: counted against its call grant,
    /// then through the hub with the node's grant, policy and budget.
    pub(super) async fn model_embed(
        &mut self,
        request: EmbedRequest,
    ) -> Result<EmbedResponse, ModelError> {
        self.reserve_calls(1)?;
        let caller = self.caller();
        self.hub.embed(caller, request).await
    }

    /// Several model calls, run concurrently; answers in order. Requests
    /// that did not convert keep their error in their slot.
    pub(super) async fn model_complete_batch(
        &mut self,
        requests: Vec<Result<ChatRequest, ModelError>>,
    ) -> Vec<Result<ChatResponse, ModelError>> {
        if let Err(e) = self.reserve_calls(requests.len() as u64) {
            return requests.iter().map(|_| Err(e.clone())).collect();
        }
        let mut slots: Vec<Option<Result<ChatResponse, ModelError>>> =
            Vec::with_capacity(requests.len());
        let mut valid = Vec::new();
        for r in requests {
            match r {
                Ok(c) => {
                    slots.push(None);
                    valid.push(c);
                }
                Err(e) => slots.push(Some(Err(e))),
            }
        }
        let caller = self.caller();
        let mut answers = self.hub.complete_batch(caller, valid).await.into_iter();
        slots
            .into_iter()
            .map(|slot| match slot {
                Some(err) => err,
                None => answers.next().unwrap_or_else(|| {
                    Err(ModelError::Unavailable(
                        "host bug: the batch answered fewer calls than it was given".into(),
                    ))
                }),
            })
            .collect()
    }
}

impl NodeState {
    /// Starts a streamed model call for the node (counted against its call
    /// grant). The stream is the hub's, owned by the host: it outlives this
    /// invocation when the node hands it back as its reply.
    pub(super) fn model_stream(
        &mut self,
        request: Result<ChatRequest, ModelError>,
    ) -> Result<super::stream::ModelStream, ModelError> {
        self.reserve_calls(1)?;
        let req = request?;
        let caller = StreamCaller {
            node: self.node.node.to_string(),
            granted: self.node.granted.clone().into(),
            ledger: self.ledger.clone(),
            overrides: self.node.policy.clone(),
            cache: self.node.cache.clone(),
            budget: Some(self.budget.clone()),
            deadline: self.deadline,
            trace: self.trace,
        };
        Ok(super::stream::ModelStream::new(
            self.hub.stream(caller, req),
        ))
    }
}

/// The severity of a guest log line (every contract version has the same
/// five levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestLevel {
    /// Very detailed diagnostics.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the node handled.
    Warn,
    /// Something failed.
    Error,
}

impl NodeState {
    /// Emits one guest log line; past the log limit, traps (`log-limit`).
    pub(super) fn log_emit(&mut self, level: GuestLevel, message: String) -> wasmtime::Result<()> {
        if !self.log.charge(message.len() as u64) {
            return Err(LogLimitReached.into());
        }
        // One guest line stays one host line: newlines and other control
        // characters are escaped, so a guest cannot forge host log lines.
        let message = super::returned::escape_control(&message);
        self.log_span.write(|node| match level {
            GuestLevel::Trace => tracing::trace!(target: "switchyard::guest", node, "{message}"),
            GuestLevel::Debug => tracing::debug!(target: "switchyard::guest", node, "{message}"),
            GuestLevel::Info => tracing::info!(target: "switchyard::guest", node, "{message}"),
            GuestLevel::Warn => tracing::warn!(target: "switchyard::guest", node, "{message}"),
            GuestLevel::Error => tracing::error!(target: "switchyard::guest", node, "{message}"),
        });
        Ok(())
    }
}

impl NodeState {
    pub(super) fn config_get(&mut self, key: String) -> Option<String> {
        self.node
            .settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    pub(super) fn config_all(&mut self) -> Vec<(String, String)> {
        self.node.settings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spins until the calling thread has had `d` more of CPU time.
    fn spin_cpu(d: Duration) {
        let start = thread_cpu_ns();
        while thread_cpu_ns() - start < d.as_nanos() as u64 {}
    }

    /// A poll that turns an invocation long is charged its CPU time from
    /// the check (an epoch tick) that found it long; the poll after it is
    /// timed by the thread CPU clock, so time off the CPU (here a sleep
    /// standing in for the OS taking the thread away) is not charged.
    #[test]
    fn cpu_clock_reads_the_thread_clock_after_a_long_poll() {
        let clock = CpuClock::default();
        let ticked = clock.clone();
        let mut polls = 0;
        let work = std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                let start = Instant::now();
                while start.elapsed() < 3 * LONG_POLL {}
                ticked.charged();
                spin_cpu(Duration::from_millis(5));
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            std::thread::sleep(Duration::from_millis(50));
            std::task::Poll::Ready(())
        });
        let mut metered = std::pin::pin!(clock.meter(work));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(metered.as_mut().poll(&mut cx).is_pending());
        let first = clock.charged();
        assert!(
            first >= LONG_POLL + Duration::from_millis(5),
            "the busy poll is charged: {first:?}"
        );
        assert!(clock.0.precise.load(Ordering::Relaxed));
        assert!(metered.as_mut().poll(&mut cx).is_ready());
        let second = clock.charged() - first;
        assert!(
            second < Duration::from_millis(25),
            "a 50 ms sleep is not CPU: charged {second:?}"
        );
        assert!(
            clock.0.precise.load(Ordering::Relaxed),
            "a poll that took long, on the CPU or not, makes the next one precise"
        );
    }

    /// Polls `work`, metered by `clock`, once.
    fn poll_once<F: Future>(clock: &CpuClock, work: F) -> std::task::Poll<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        std::pin::pin!(clock.meter(work)).poll(&mut cx)
    }

    /// The OS taking the thread away in the middle of an invocation's first
    /// poll (here a sleep) is not charged as CPU time: on a loaded machine
    /// that stall alone once put a benign node past a 5 ms `cpu-ms`.
    #[test]
    fn cpu_clock_does_not_charge_a_stall_in_a_poll_timed_by_the_monotonic_clock() {
        let limit = Duration::from_millis(5);
        // The stall before the first check of the charge (an epoch tick).
        let clock = CpuClock::default();
        let ticked = clock.clone();
        let mut at_tick = Duration::ZERO;
        let work = std::future::poll_fn(|_| {
            std::thread::sleep(Duration::from_millis(50));
            at_tick = ticked.charged();
            std::task::Poll::Ready(())
        });
        assert!(poll_once(&clock, work).is_ready());
        assert!(at_tick < limit, "charged at the tick: {at_tick:?}");
        assert!(clock.charged() < limit, "charged: {:?}", clock.charged());
        // A stall in a poll with no check in it.
        let clock = CpuClock::default();
        let work = std::future::poll_fn(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::task::Poll::Ready(())
        });
        assert!(poll_once(&clock, work).is_ready());
        assert!(
            clock.charged() <= LONG_POLL,
            "charged: {:?}",
            clock.charged()
        );
        assert!(clock.0.precise.load(Ordering::Relaxed));
    }

    /// A busy guest is still charged its CPU time across polls: the limit
    /// it is held to is its own work less at most one tick per long poll.
    #[test]
    fn cpu_clock_charges_a_busy_invocation_its_cpu_time() {
        let clock = CpuClock::default();
        let ticked = clock.clone();
        let mut polls = 0;
        let work = std::future::poll_fn(|cx| {
            polls += 1;
            // Each poll busy for 2 ms, checked every 100 µs of CPU as epoch
            // ticks would.
            for _ in 0..20 {
                spin_cpu(LONG_POLL);
                ticked.charged();
            }
            if polls < 5 {
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            std::task::Poll::Ready(())
        });
        let mut metered = std::pin::pin!(clock.meter(work));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        while metered.as_mut().poll(&mut cx).is_pending() {}
        let charged = clock.charged();
        assert!(
            charged >= Duration::from_millis(9),
            "10 ms of CPU over five polls, charged {charged:?}"
        );
    }
}
