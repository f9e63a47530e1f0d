//! Executes one run through a pipeline generation: nodes whose inputs are
//! ready run concurrently, routers pick a branch (the others are skipped),
//! judges gate outputs, the run deadline covers everything, and a hard
//! failure cancels the run's remaining work.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use tracing::Instrument;

use super::events::{emit, EventSink, RunEvent};
use super::outcome::{
    InvocationContent, PolicyEvent, RunContent, RunError, RunOutcome, RunSpan, TraceStep,
};
use super::{LoadedNode, Pipeline};
use crate::config::Role;
use crate::engine::{
    Admitted, Invocation, NodeCall, NodeError, NodeOutput, RunScope, TaskInput, Verdict,
};
use crate::models::Ledger;
use crate::schema::CheckError;
use crate::spec::{SpanId, SpanParent, TraceId};

/// One unit of work for a run.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// Run id.
    pub id: String,
    /// The input handed to the entry nodes.
    pub input: Value,
    /// The caller's span (a `traceparent` a served request carried): the
    /// run continues its trace. `None` starts a new trace.
    pub parent: Option<SpanParent>,
    /// Keep the run's content (every invocation's task and answer, every
    /// model call's request and answer) in its outcome, as a recording
    /// needs. A pipeline exporting content keeps it regardless.
    pub capture: bool,
    /// Where the run reports what happens as it happens (and the text of a
    /// streamed output, window by window); `None`: nobody watches, and a
    /// streamed output is held until the run ends.
    pub events: Option<EventSink>,
    /// The client key the run is made for, if any: its spend limit and
    /// token rate are charged by every model call of the run.
    pub client: Option<RunClient>,
}

/// A client key's limits, as a run is charged to them.
#[derive(Debug, Clone)]
pub struct RunClient {
    /// The key's id (never its secret).
    pub id: String,
    /// What the key may spend per period.
    pub spend_limit: Option<crate::spec::SpendLimitSpec>,
    /// The key's rate limiter (its tokens per minute are charged per call).
    pub rate: Option<Arc<crate::models::RateLimiter>>,
}

impl RunInput {
    /// A run of `input`, with id `id`, starting a new trace.
    pub fn new(id: impl Into<String>, input: Value) -> Self {
        Self {
            id: id.into(),
            input,
            parent: None,
            capture: false,
            events: None,
            client: None,
        }
    }
}

#[derive(Debug, Clone)]
enum Slot {
    Pending,
    Running,
    /// Its output, shared with the nodes it feeds (each reads it whole).
    Done(Arc<Value>),
    Skipped,
}

/// Shared, append-only record of a run's invocations.
pub(super) struct Recorder {
    started: Instant,
    steps: Mutex<Vec<TraceStep>>,
    events: Mutex<Vec<PolicyEvent>>,
    /// Every invocation whole, when the run captures content.
    invocations: Option<Mutex<Vec<InvocationContent>>>,
}

impl Recorder {
    pub(super) fn event(&self, event: PolicyEvent) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        node: &LoadedNode,
        gates: Option<&str>,
        attempt: u32,
        inv: &Invocation,
        started: Instant,
        span_id: SpanId,
        window: Option<u32>,
    ) {
        let (route, verdict) = match &inv.result {
            Ok(NodeOutput::Route(r)) => (Some(r.clone()), None),
            Ok(NodeOutput::Verdict(v)) => (None, Some(v.clone())),
            _ => (None, None),
        };
        let step = TraceStep {
            node: node.spec.name.clone(),
            role: node.spec.role.as_str(),
            gates: gates.map(str::to_string),
            attempt,
            start_us: started.duration_since(self.started).as_micros() as u64,
            elapsed_us: inv.elapsed.as_micros() as u64,
            outcome: inv
                .result
                .as_ref()
                .map_or_else(NodeError::kind, |_| TraceStep::OK),
            route,
            verdict,
            score: inv.score.clone(),
            window,
            usage: inv.usage,
            span_id,
        };
        self.steps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(step);
    }
}

pub(super) struct Run<'p> {
    pub(super) pipeline: &'p Pipeline,
    pub(super) id: String,
    pub(super) scope: RunScope,
    pub(super) deadline: Instant,
    pub(super) recorder: Arc<Recorder>,
    /// The run's span: parent of every invocation's.
    pub(super) trace: SpanParent,
    /// Who watches the run live, if anyone.
    pub(super) events: Option<EventSink>,
}

impl Pipeline {
    /// Runs one input to completion (or typed failure), once admitted to
    /// the instance pool. Never panics on bad input; every outcome carries
    /// its trace and ledger.
    pub async fn run(&self, input: RunInput) -> RunOutcome {
        let arrived = Instant::now();
        let admitted = self.admit().await;
        self.run_admitted(admitted, arrived.elapsed(), input).await
    }

    /// Waits, in arrival order, for room in the instance pool for one run
    /// of this generation (its peak). Dropping the future leaves the queue.
    pub async fn admit(&self) -> Admitted {
        self.engine.admission().admit(self.peak).await
    }

    /// Room in the instance pool for one run of this generation, only if
    /// no run is waiting for admission and the room is free now: for work
    /// that must never delay a run (a shadow run). Never waits.
    pub fn try_admit(&self) -> Option<Admitted> {
        self.engine.admission().try_admit(self.peak)
    }

    /// Runs `input` on the pool room `admitted` holds, after `queued` in
    /// the queue. The deadline starts now: time in the queue is reported,
    /// not charged.
    pub async fn run_admitted(
        &self,
        admitted: Admitted,
        queued: std::time::Duration,
        input: RunInput,
    ) -> RunOutcome {
        let _admitted = admitted;
        let started = Instant::now();
        let started_wall = SystemTime::now();
        let span = RunSpan {
            trace_id: input.parent.map_or_else(TraceId::random, |p| p.trace_id),
            span_id: SpanId::random(),
            parent: input.parent.map(|p| p.span_id),
            sampled: input.parent.is_none_or(|p| p.sampled),
            start_unix_us: started_wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
        };
        // Content is kept only when the run or the pipeline asks.
        let capture = input.capture || self.manifest.telemetry.content;
        let ledger = Arc::new(if capture {
            Ledger::capturing()
        } else {
            Ledger::new()
        });
        let captured_input = capture.then(|| input.input.clone());
        let recorder = Arc::new(Recorder {
            started,
            steps: Mutex::new(Vec::new()),
            events: Mutex::new(Vec::new()),
            invocations: capture.then(Mutex::default),
        });
        let run = Run {
            pipeline: self,
            id: input.id.clone(),
            scope: RunScope {
                hub: self.hub.clone(),
                ledger: ledger.clone(),
                budget: Arc::new(self.run_budget(input.client.as_ref())),
                trace: None,
                attempt: 0,
            },
            deadline: started + self.manifest.deadline,
            recorder: recorder.clone(),
            trace: SpanParent {
                trace_id: span.trace_id,
                span_id: span.span_id,
                sampled: span.sampled,
            },
            events: input.events.clone(),
        };
        let run_deadline = run.deadline;
        let mut routes = BTreeMap::new();
        // Log lines inside the run carry its trace id (and a guest's own
        // lines the invocation's span id: `LogSpan`). At error level, so
        // the span exists whenever any logging is on.
        let log_span = tracing::error_span!(
            "run",
            run = %input.id,
            trace_id = %span.trace_id,
            span_id = %span.span_id
        );
        let result = match tokio::time::timeout(
            self.manifest.deadline,
            run.execute(input.input, &mut routes).instrument(log_span),
        )
        .await
        {
            Ok(r) => r,
            // Dropping the execution future cancels every in-flight node.
            Err(_) => Err(RunError::Deadline {
                limit_ms: self.manifest.deadline.as_millis() as u64,
            }),
        };
        // A node's wall limit is cut to what is left of the run; when that
        // is what expired, the run's deadline is the cause to report.
        let result = match result {
            Err(RunError::Node {
                error: NodeError::WallTimeout { .. },
            }) if Instant::now() >= run_deadline => Err(RunError::Deadline {
                limit_ms: self.manifest.deadline.as_millis() as u64,
            }),
            other => other,
        };
        let mut trace =
            std::mem::take(&mut *recorder.steps.lock().unwrap_or_else(|p| p.into_inner()));
        trace.sort_by_key(|s| s.start_us);
        let events =
            std::mem::take(&mut *recorder.events.lock().unwrap_or_else(|p| p.into_inner()));
        RunOutcome {
            id: input.id,
            result,
            routes,
            trace,
            events,
            // The totals first: the entries are then taken out (the run's
            // nodes, and with them every recorder of the ledger, are done).
            totals: ledger.totals(),
            ledger: ledger.take_entries(),
            elapsed: started.elapsed(),
            queued,
            span,
            content: captured_input.map(|input| RunContent {
                input,
                calls: ledger.take_content().unwrap_or_default(),
                invocations: recorder
                    .invocations
                    .as_ref()
                    .map(|i| std::mem::take(&mut *i.lock().unwrap_or_else(|p| p.into_inner())))
                    .unwrap_or_default(),
            }),
        }
    }
}

impl Run<'_> {
    async fn execute(
        &self,
        input: Value,
        routes: &mut BTreeMap<String, String>,
    ) -> Result<Value, RunError> {
        let manifest = &self.pipeline.manifest;
        let input = Arc::new(input);
        let mut slots: BTreeMap<&str, Slot> = manifest
            .order
            .iter()
            .map(|n| (n.as_str(), Slot::Pending))
            .collect();
        let mut running = FuturesUnordered::new();
        // The routes so far, shared by the nodes started since the last
        // router finished.
        let mut shared_routes: Option<Arc<BTreeMap<String, String>>> = None;
        loop {
            // Start everything that is ready; skip what cannot run.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for name in &manifest.order {
                    if !matches!(slots[name.as_str()], Slot::Pending) {
                        continue;
                    }
                    let node = self.pipeline.node(name).expect("flow nodes are loaded");
                    match self.readiness(node, &slots, routes) {
                        Readiness::Wait => {}
                        Readiness::Skip => {
                            slots.insert(name, Slot::Skipped);
                            progressed = true;
                        }
                        Readiness::Ready(node_input) => {
                            slots.insert(name, Slot::Running);
                            let routes = shared_routes
                                .get_or_insert_with(|| Arc::new(routes.clone()))
                                .clone();
                            running.push(self.exec_node(node, node_input, &input, routes));
                            progressed = true;
                        }
                    }
                }
            }
            match running.next().await {
                None => break,
                Some((name, Ok(done))) => {
                    if let Some(label) = done.route {
                        routes.insert(name.to_string(), label);
                        shared_routes = None;
                    }
                    slots.insert(name, Slot::Done(done.output));
                }
                // Returning drops `running`, cancelling the other nodes.
                Some((_, Err(e))) => return Err(e),
            }
        }
        // Copied, not taken out of the slots: moving the output into the
        // record was measured slower (5–10% more CPU, 60% more context
        // switches for 20,000 lines at 64 in flight), its allocations then
        // freed elsewhere (docs/benchmarks.md).
        let mut done: Vec<(&String, Value)> = manifest
            .outputs
            .iter()
            .filter_map(|n| match &slots[n.as_str()] {
                Slot::Done(v) => Some((n, Value::clone(v))),
                _ => None,
            })
            .collect();
        match done.len() {
            0 => Err(RunError::InvalidInput {
                message: "no output node ran for this input".into(),
            }),
            1 => Ok(done.pop().expect("one").1),
            _ => Ok(Value::Object(
                done.into_iter().map(|(k, v)| (k.clone(), v)).collect(),
            )),
        }
    }

    fn readiness(
        &self,
        node: &LoadedNode,
        slots: &BTreeMap<&str, Slot>,
        routes: &BTreeMap<String, String>,
    ) -> Readiness {
        let deps = &node.spec.deps;
        if deps.is_empty() {
            return Readiness::Ready(None);
        }
        // The outputs this node takes: one is shared as it is; several make
        // an object keyed by node name.
        let mut first = None;
        let mut count = 0;
        for d in deps {
            match self.dep_output(node, d, slots, routes) {
                DepOutput::Wait => return Readiness::Wait,
                DepOutput::None => {}
                DepOutput::Taken(v) => {
                    first.get_or_insert(v);
                    count += 1;
                }
            }
        }
        match count {
            0 => Readiness::Skip,
            1 => Readiness::Ready(first.cloned()),
            _ => Readiness::Ready(Some(Arc::new(Value::Object(
                deps.iter()
                    .filter_map(|d| match self.dep_output(node, d, slots, routes) {
                        DepOutput::Taken(v) => Some((d.clone(), Value::clone(v))),
                        _ => None,
                    })
                    .collect(),
            )))),
        }
    }

    /// What `node` takes from its dependency `dep`.
    fn dep_output<'s>(
        &self,
        node: &LoadedNode,
        dep: &str,
        slots: &'s BTreeMap<&str, Slot>,
        routes: &BTreeMap<String, String>,
    ) -> DepOutput<'s> {
        match &slots[dep] {
            Slot::Pending | Slot::Running => DepOutput::Wait,
            Slot::Skipped => DepOutput::None,
            Slot::Done(v) => {
                // A branch target runs only if its router chose it.
                let d = self.pipeline.node(dep).expect("deps are loaded");
                if d.spec.role == Role::Router {
                    let chosen = routes.get(dep).and_then(|label| d.spec.branches.get(label));
                    let is_target = d.spec.branches.values().any(|t| *t == node.spec.name);
                    if is_target && chosen != Some(&node.spec.name) {
                        return DepOutput::None;
                    }
                }
                DepOutput::Taken(v)
            }
        }
    }

    pub(super) fn task(
        &self,
        node: &LoadedNode,
        input: &Value,
        routes: &BTreeMap<String, String>,
        attempt: u32,
        feedback: Vec<String>,
    ) -> TaskInput {
        TaskInput {
            id: self.id.clone(),
            // `serde_json::to_string` writes to a buffer; `Value`'s
            // `Display` goes through the formatter a piece at a time.
            input: serde_json::to_string(input).expect("a JSON value serialises"),
            meta: task_meta(&self.pipeline.manifest.name, &node.spec.name, routes),
            attempt,
            feedback,
        }
    }

    pub(super) async fn invoke(
        &self,
        node: &LoadedNode,
        gates: Option<&str>,
        attempt: u32,
        call: NodeCall,
    ) -> Invocation {
        let started = Instant::now();
        let span_id = SpanId::random();
        // The node's log lines are written in its span (`LogSpan`), made
        // only when the guest writes one.
        let scope = RunScope {
            trace: Some(self.trace.child(span_id)),
            attempt,
            ..self.scope.clone()
        };
        let asked = self.recorder.invocations.as_ref().map(|_| call.clone());
        let window = match &call {
            NodeCall::CheckWindow { window, .. } => Some(window.index),
            _ => None,
        };
        emit(self.events.as_ref(), || RunEvent::NodeStarted {
            node: node.spec.name.clone(),
            gates: gates.map(str::to_string),
            attempt,
        });
        let mut inv = self
            .pipeline
            .engine
            .invoke(
                &node.component,
                node.ctx.clone(),
                scope,
                call,
                Some(self.deadline),
            )
            .await;
        if let Some(min) = node.spec.min_score {
            apply_min_score(&mut inv, min);
        }
        match &inv.result {
            Ok(NodeOutput::Route(choice)) => emit(self.events.as_ref(), || RunEvent::Route {
                node: node.spec.name.clone(),
                choice: choice.clone(),
            }),
            Ok(NodeOutput::Verdict(v)) => emit(self.events.as_ref(), || RunEvent::Verdict {
                node: node.spec.name.clone(),
                gates: gates.unwrap_or_default().to_string(),
                verdict: v.label(),
                window,
                score: inv.score.clone(),
            }),
            _ => {}
        }
        self.recorder
            .record(node, gates, attempt, &inv, started, span_id, window);
        if let (Some(all), Some(call)) = (&self.recorder.invocations, asked) {
            all.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(InvocationContent {
                    span_id,
                    node: node.spec.name.clone(),
                    gates: gates.map(str::to_string),
                    attempt,
                    call,
                    result: inv.result.clone(),
                });
        }
        inv
    }

    /// Runs one flow node (and its judges). `None` input means the run input.
    async fn exec_node<'n>(
        &self,
        node: &'n LoadedNode,
        node_input: Option<Arc<Value>>,
        run_input: &Arc<Value>,
        routes: Arc<BTreeMap<String, String>>,
    ) -> (&'n str, Result<Done, RunError>) {
        let name = node.spec.name.as_str();
        let input = node_input.unwrap_or_else(|| run_input.clone());
        if let Some(schema) = &node.input_schema {
            if let Err(e) = schema.check_bounded(&input).await {
                let errors = match e {
                    CheckError::Invalid(errors) => errors,
                    budget => vec![budget.to_string()],
                };
                let node = name.to_string();
                return (name, Err(RunError::Schema { node, errors }));
            }
        }
        let result = match node.spec.role {
            Role::Router => {
                let task = self.task(node, &input, &routes, 0, Vec::new());
                self.exec_router(node, task, input).await
            }
            _ => self
                .exec_gated(node, &input, &routes)
                .await
                .map(|output| Done {
                    output: Arc::new(output),
                    route: None,
                }),
        };
        (name, result)
    }

    async fn exec_router(
        &self,
        node: &LoadedNode,
        task: TaskInput,
        input: Arc<Value>,
    ) -> Result<Done, RunError> {
        let candidates: Vec<String> = node.spec.branches.keys().cloned().collect();
        let inv = self
            .invoke(node, None, 0, NodeCall::Route { task, candidates })
            .await;
        let branches = &node.spec.branches;
        match inv.result {
            Ok(NodeOutput::Route(choice)) if branches.contains_key(&choice.target) => {
                // Routers classify; their dependents receive the router's input.
                Ok(Done {
                    output: input,
                    route: Some(choice.target),
                })
            }
            Ok(NodeOutput::Route(choice)) => Err(RunError::Node {
                error: NodeError::InvalidOutput {
                    node: node.spec.name.clone(),
                    message: format!(
                        "route `{}` is not one of its branches ({})",
                        choice.target,
                        branches
                            .keys()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            }),
            Ok(other) => Err(unexpected(node, &other)),
            Err(error) => Err(RunError::Node { error }),
        }
    }
}

/// A dependency's part in a node's readiness.
enum DepOutput<'s> {
    /// Not finished yet.
    Wait,
    /// Skipped, or a router that chose another branch.
    None,
    /// Its output, which the node takes.
    Taken(&'s Arc<Value>),
}

enum Readiness {
    Wait,
    Skip,
    Ready(Option<Arc<Value>>),
}

struct Done {
    output: Arc<Value>,
    route: Option<String>,
}

/// A judge's `min-score`: its score decides. At or above it the verdict
/// stands (a rejection becomes an acceptance); below it the output is
/// rejected, with the judge's reasons if it gave any. A judge that gave no
/// score keeps its verdict.
fn apply_min_score(inv: &mut Invocation, min: f64) {
    let Some(score) = inv.score.as_ref().and_then(|s| s.score) else {
        return;
    };
    let Ok(NodeOutput::Verdict(verdict)) = &mut inv.result else {
        return;
    };
    if score >= min {
        if let Verdict::Reject { .. } = verdict {
            *verdict = Verdict::Accept;
        }
    } else {
        let mut reasons = match std::mem::replace(verdict, Verdict::Accept) {
            Verdict::Reject { reasons } => reasons,
            _ => Vec::new(),
        };
        reasons.push(format!("score {score} is below min-score {min}"));
        *verdict = Verdict::Reject { reasons };
    }
}

impl Run<'_> {
    /// Records a policy decision and tells the watcher.
    pub(super) fn policy(&self, event: PolicyEvent) {
        emit(self.events.as_ref(), || RunEvent::Policy(event.clone()));
        self.recorder.event(event);
    }
}

pub(super) fn unexpected(node: &LoadedNode, out: &NodeOutput) -> RunError {
    RunError::Node {
        error: NodeError::InvalidOutput {
            node: node.spec.name.clone(),
            message: format!("unexpected answer for a {}: {out:?}", node.spec.role),
        },
    }
}

/// A task's `meta` (`{"node", "pipeline", "routes"}`), written straight to
/// text without a `Value` tree in between: the same bytes as the `Value`
/// map it replaces (whose keys are sorted).
fn task_meta(pipeline: &str, node: &str, routes: &BTreeMap<String, String>) -> String {
    #[derive(serde::Serialize)]
    struct Meta<'a> {
        node: &'a str,
        pipeline: &'a str,
        routes: &'a BTreeMap<String, String>,
    }
    serde_json::to_string(&Meta {
        node,
        pipeline,
        routes,
    })
    .expect("names and routes serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn task_meta_is_the_bytes_the_value_map_gave() {
        let mut routes = BTreeMap::new();
        for (router, branch) in [("route", "billing"), ("zeta \"q\"", "é\n"), ("a", "b")] {
            routes.insert(router.to_string(), branch.to_string());
        }
        for routes in [BTreeMap::new(), routes] {
            let want = json!({
                "pipeline": "support \u{1F600} \"triage\"",
                "node": "answer\tbilling",
                "routes": routes,
            })
            .to_string();
            let got = task_meta("support \u{1F600} \"triage\"", "answer\tbilling", &routes);
            assert_eq!(got, want);
        }
    }
}
