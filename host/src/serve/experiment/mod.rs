//! Shadow and canary experiments on one node of a served pipeline. An
//! experiment holds a candidate component for the node, checked as a
//! hot-swap checks it (role, world, edge schemas), and the candidate
//! generation: the live generation with that node's component replaced
//! (with a response cache of its own), rebuilt whenever another node is
//! swapped. In `shadow` mode a sampled share of the runs the live
//! generation served is run again on the candidate generation in the
//! background (`shadow`), never served; in `canary` mode the candidate
//! generation serves a share of the runs, chosen per run at random. Each
//! arm's statistics (`stats`) are kept per experiment and exported as
//! metrics. One experiment per node; promotion is the ordinary hot-swap
//! with the candidate's bytes, abort discards them. `api` has the admin
//! routes.

pub mod api;
mod shadow;
mod stats;

pub use stats::{ArmSummary, NodeSummary, Percentiles, RunSample, Verdicts};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Semaphore;

use super::live::{LivePipeline, SwapReport};
use super::metrics::Metrics;
use super::status::{SwapEvent, SwapKind};
use crate::config::Role;
use crate::engine::CompileCache;
use crate::pipeline::{CheckedComponent, Pipeline, RunInput, RunOutcome, SwapError};
use crate::spec::Cost;
use stats::ArmStats;

/// Shadow runs in flight at once, across every experiment of a service;
/// a sampled run past it is skipped (and counted), never queued.
pub const SHADOW_MAX_IN_FLIGHT: usize = 4;

/// How an experiment uses its candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Re-runs a sampled share of live runs on the candidate, unserved.
    Shadow,
    /// Serves a share of runs from the candidate.
    Canary,
}

impl Mode {
    /// `shadow` or `canary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shadow => "shadow",
            Mode::Canary => "canary",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The side of an experiment a run counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    /// The live generation.
    Live,
    /// The candidate generation.
    Candidate,
}

impl Arm {
    /// `live` or `candidate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Live => "live",
            Arm::Candidate => "candidate",
        }
    }
}

/// What an operator asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Shadow or canary.
    pub mode: Mode,
    /// The share of runs sampled (shadow) or served (canary), 0 to 100.
    pub percent: f64,
    /// The most the candidate's runs may spend; past it the experiment
    /// stops sampling (shadow) or serving (canary) the candidate.
    pub budget: Option<Cost>,
}

/// Why a swap or an experiment operation was refused. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The component was refused as a hot-swap would refuse it, or the
    /// node does not exist.
    #[error(transparent)]
    Swap(#[from] SwapError),
    /// The node already has an experiment.
    #[error("node `{node}` is under a {mode} experiment: promote it (`POST /admin/nodes/{node}/promote`, `switchyard swap {node} --promote`) or abort it (`POST /admin/nodes/{node}/abort`, `switchyard swap {node} --abort`) first")]
    UnderExperiment {
        /// The node.
        node: String,
        /// The running experiment's mode.
        mode: Mode,
    },
    /// Promote or abort with no experiment on the node.
    #[error("node `{node}` has no experiment; start one with `PUT /admin/nodes/{node}?mode=shadow` or `?mode=canary&percent=N` (`switchyard swap {node} FILE --shadow`)")]
    NoExperiment {
        /// The node.
        node: String,
    },
    /// Canaries would serve more than every run.
    #[error("node `{node}`: a canary on {percent}% of runs does not fit: canaries on other nodes already serve {taken}% (at most 100% in all); lower `percent` or end one of them")]
    CanaryShare {
        /// The node.
        node: String,
        /// The share asked for.
        percent: f64,
        /// The share other canaries take.
        taken: f64,
    },
    /// The candidate is the live component.
    #[error("node `{node}`: the candidate is the live component (sha256 {sha256}); there is nothing to compare, send a different component")]
    Unchanged {
        /// The node.
        node: String,
        /// Its digest.
        sha256: String,
    },
}

/// Where an experiment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Running,
    BudgetExhausted,
    Stopped(String),
    Promoted,
    Aborted,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Running => "running",
            State::BudgetExhausted => "budget-exhausted",
            State::Stopped(_) => "stopped",
            State::Promoted => "promoted",
            State::Aborted => "aborted",
        }
    }
}

#[derive(Debug, Default)]
struct ShadowCounters {
    sampled: AtomicU64,
    started: AtomicU64,
    finished: AtomicU64,
    busy: AtomicU64,
    no_room: AtomicU64,
    budget: AtomicU64,
}

/// One node's experiment.
pub struct Experiment {
    node: String,
    role: Role,
    settings: Settings,
    bytes: Bytes,
    /// The candidate, checked as a hot-swap checks.
    checked: CheckedComponent,
    /// The live generation with the node's component replaced.
    candidate: ArcSwap<Pipeline>,
    state: Mutex<State>,
    /// Live, candidate.
    arms: Mutex<[ArmStats; 2]>,
    shadow: ShadowCounters,
    started_unix_ms: u64,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Experiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Experiment")
            .field("node", &self.node)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Experiment {
    fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn running(&self) -> bool {
        self.state() == State::Running
    }

    /// Moves a running (or out-of-budget) experiment to `next`; `false`
    /// when it had already ended.
    fn set_state(&self, next: State) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*state, State::Running | State::BudgetExhausted) {
            *state = next;
            true
        } else {
            false
        }
    }

    /// Adds a finished run to `arm`.
    fn observe(&self, arm: Arm, run: &RunOutcome) {
        let sample = RunSample::of(run, &self.node, self.role);
        let spent = {
            let mut arms = self.arms.lock().unwrap_or_else(|e| e.into_inner());
            let stats = &mut arms[arm as usize];
            stats.add(&sample);
            stats.cost_pusd()
        };
        self.metrics.experiment_run(
            &self.node,
            self.settings.mode.as_str(),
            arm.as_str(),
            &sample,
        );
        if let (Arm::Candidate, Some(budget)) = (arm, self.settings.budget) {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if spent >= budget.0 && *state == State::Running {
                *state = State::BudgetExhausted;
                drop(state);
                self.metrics.experiment_event(
                    &self.node,
                    self.settings.mode.as_str(),
                    "budget-exhausted",
                );
                tracing::warn!(
                    node = %self.node,
                    mode = %self.settings.mode,
                    spent_pusd = spent,
                    budget_pusd = budget.0,
                    "experiment budget reached; the candidate gets no more runs"
                );
            }
        }
    }

    /// Where the experiment stands, against live generation `live`.
    pub fn status(&self, live: &Pipeline) -> ExperimentStatus {
        let state = self.state();
        let candidate = self.candidate.load();
        let info = |p: &Pipeline| {
            p.node(&self.node).map(|n| ComponentInfo {
                generation: p.generation,
                revision: n.revision,
                version: n.component.description.version.clone(),
                sha256: n.component.load.sha256.clone(),
                bytes: n.component.load.bytes,
            })
        };
        let [live_arm, candidate_arm] = {
            let arms = self.arms.lock().unwrap_or_else(|e| e.into_inner());
            [arms[0].summary(), arms[1].summary()]
        };
        let c = &self.shadow;
        let load = |a: &AtomicU64| a.load(Ordering::SeqCst);
        ExperimentStatus {
            node: self.node.clone(),
            mode: self.settings.mode,
            percent: self.settings.percent,
            state: state.name(),
            reason: match state {
                State::Stopped(reason) => Some(reason),
                State::BudgetExhausted => Some(
                    "the candidate's runs reached the experiment's budget; it gets no more runs"
                        .into(),
                ),
                _ => None,
            },
            budget_usd: self.settings.budget.map(Cost::usd),
            budget_pusd: self.settings.budget.map(|b| b.0),
            spent_pusd: candidate_arm.cost_pusd,
            started_unix_ms: self.started_unix_ms,
            live: info(live),
            candidate: info(&candidate),
            shadow: (self.settings.mode == Mode::Shadow).then(|| {
                let (started, finished) = (load(&c.started), load(&c.finished));
                ShadowStatus {
                    sampled: load(&c.sampled),
                    started,
                    finished,
                    in_flight: started.saturating_sub(finished),
                    skipped: Skipped {
                        busy: load(&c.busy),
                        no_room: load(&c.no_room),
                        budget: load(&c.budget),
                    },
                    max_in_flight: SHADOW_MAX_IN_FLIGHT,
                }
            }),
            arms: Arms {
                live: live_arm,
                candidate: candidate_arm,
            },
        }
    }
}

/// An experiment as `GET /admin/nodes/{node}` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentStatus {
    /// The node.
    pub node: String,
    /// `shadow` or `canary`.
    pub mode: Mode,
    /// The share of runs sampled (shadow) or served (canary).
    pub percent: f64,
    /// `running`, `budget-exhausted`, `stopped`, `promoted` or `aborted`.
    pub state: &'static str,
    /// Why it is not running, when it stopped by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The experiment's budget in USD, if it has one.
    pub budget_usd: Option<f64>,
    /// The same, exact.
    pub budget_pusd: Option<u64>,
    /// What the candidate's runs have spent, exact.
    pub spent_pusd: u64,
    /// When it started (ms since the Unix epoch).
    pub started_unix_ms: u64,
    /// The node's live component.
    pub live: Option<ComponentInfo>,
    /// The candidate, in the candidate generation.
    pub candidate: Option<ComponentInfo>,
    /// Shadow runs (shadow mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowStatus>,
    /// The statistics of each arm.
    pub arms: Arms,
}

/// A node's component in a generation.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentInfo {
    /// The generation (the candidate's: the live one + 1, the number
    /// promotion would give it).
    pub generation: u64,
    /// The node's revision in it.
    pub revision: u64,
    /// The component's own version.
    pub version: String,
    /// Hex SHA-256 of the component.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

/// Shadow runs of an experiment.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowStatus {
    /// Live runs sampled.
    pub sampled: u64,
    /// Shadow runs started.
    pub started: u64,
    /// Shadow runs finished (and counted in the candidate arm).
    pub finished: u64,
    /// Started and not finished.
    pub in_flight: u64,
    /// Sampled runs not started, by reason.
    pub skipped: Skipped,
    /// The bound on shadow runs in flight (all experiments).
    pub max_in_flight: usize,
}

/// Sampled shadow runs that were not started.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The in-flight bound was reached.
    pub busy: u64,
    /// The instance pool had no free room, or a run was waiting for it.
    pub no_room: u64,
    /// The budget was reached.
    pub budget: u64,
}

/// Both arms.
#[derive(Debug, Clone, Serialize)]
pub struct Arms {
    /// Runs on the live generation.
    pub live: ArmSummary,
    /// Runs on the candidate generation.
    pub candidate: ArmSummary,
}

/// What a promotion did: the swap's report and the experiment's final
/// statistics.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    /// The hot-swap.
    #[serde(flatten)]
    pub swap: SwapReport,
    /// The experiment as it ended.
    pub experiment: ExperimentStatus,
}

/// The experiments of a service.
#[derive(Debug)]
pub struct Experiments {
    /// Running (or out-of-budget, or stopped) experiments, read per run;
    /// changed only under the live pipeline's swap lock.
    active: ArcSwap<Vec<Arc<Experiment>>>,
    shadows: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// What the experiments do with one run, decided as it starts.
#[derive(Debug)]
pub struct Assignment {
    experiments: Arc<Vec<Arc<Experiment>>>,
    /// The canary (index) whose candidate generation serves the run.
    canary: Option<(usize, Arc<Pipeline>)>,
    /// Shadow experiments (indices) that sampled the run.
    shadows: Vec<usize>,
}

impl Assignment {
    /// The candidate generation that serves this run, if a canary chose
    /// it.
    pub fn candidate(&self) -> Option<Arc<Pipeline>> {
        self.canary.as_ref().map(|(_, p)| p.clone())
    }

    /// Whether a shadow sampled the run (then its input is needed again).
    pub fn wants_input(&self) -> bool {
        !self.shadows.is_empty()
    }
}

impl Experiments {
    /// No experiments; metrics go to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            active: ArcSwap::from_pointee(Vec::new()),
            shadows: Arc::new(Semaphore::new(SHADOW_MAX_IN_FLIGHT)),
            metrics,
        }
    }

    /// The experiment on `node`, if any.
    pub fn get(&self, node: &str) -> Option<Arc<Experiment>> {
        self.active.load().iter().find(|e| e.node == node).cloned()
    }

    /// The mode of `node`'s experiment, if it has one.
    pub fn mode_of(&self, node: &str) -> Option<Mode> {
        self.get(node).map(|e| e.settings.mode)
    }

    fn insert(&self, e: Arc<Experiment>) {
        let mut all = (**self.active.load()).clone();
        all.push(e);
        self.active.store(Arc::new(all));
    }

    fn remove(&self, node: &str) -> Option<Arc<Experiment>> {
        let mut all = (**self.active.load()).clone();
        let i = all.iter().position(|e| e.node == node)?;
        let e = all.remove(i);
        self.active.store(Arc::new(all));
        Some(e)
    }

    /// The share of runs canaries other than `node`'s serve.
    fn canary_share(&self, node: &str) -> f64 {
        self.active
            .load()
            .iter()
            .filter(|e| e.settings.mode == Mode::Canary && e.node != node)
            .map(|e| e.settings.percent)
            .sum()
    }

    /// Decides, as a run starts, which generation serves it and which
    /// shadows sample it. Canaries split the runs: one draw in [0, 100)
    /// falls in at most one canary's share, so a run is served by at most
    /// one candidate and each canary gets its share. Shadows sample only
    /// runs the live generation serves. `None` without experiments.
    pub fn assign(&self) -> Option<Assignment> {
        let experiments = {
            let active = self.active.load();
            if active.is_empty() {
                return None;
            }
            Arc::clone(&active)
        };
        let draw = fastrand::f64() * 100.0;
        let mut from = 0.0;
        let mut canary = None;
        for (i, e) in experiments.iter().enumerate() {
            if e.settings.mode != Mode::Canary {
                continue;
            }
            let to = from + e.settings.percent;
            if (from..to).contains(&draw) && e.running() {
                canary = Some((i, e.candidate.load_full()));
                break;
            }
            from = to;
        }
        let shadows = if canary.is_some() {
            Vec::new()
        } else {
            experiments
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    e.settings.mode == Mode::Shadow
                        && e.running()
                        && fastrand::f64() * 100.0 < e.settings.percent
                })
                .map(|(i, _)| i)
                .collect()
        };
        Some(Assignment {
            experiments,
            canary,
            shadows,
        })
    }

    /// Counts a finished run (already answered or about to be) in every
    /// experiment it belongs to, and starts the shadow runs it was sampled
    /// for (`input` is its input, kept when a shadow sampled it). A canary
    /// counts every run the live generation served in its live arm; a
    /// shadow only the runs whose shadow started, so both of its arms see
    /// the same inputs. Never waits.
    pub fn finished(&self, a: Assignment, run: &RunOutcome, input: Option<RunInput>) {
        for (i, e) in a.experiments.iter().enumerate() {
            match (&a.canary, e.settings.mode) {
                (Some((c, _)), _) if *c == i => e.observe(Arm::Candidate, run),
                // Served by another node's candidate: in neither arm.
                (Some(_), _) => {}
                (None, Mode::Canary) => e.observe(Arm::Live, run),
                (None, Mode::Shadow) => {
                    let Some(input) = input.as_ref().filter(|_| a.shadows.contains(&i)) else {
                        continue;
                    };
                    if self.start_shadow(e, input) {
                        e.observe(Arm::Live, run);
                    }
                }
            }
        }
    }

    /// Rebuilds every other experiment's candidate generation on `next`,
    /// the live generation a swap of node `swapped` is about to publish;
    /// a candidate that no longer fits stops its experiment (the operator
    /// sees why in its status).
    pub(super) fn rebase(&self, next: &Pipeline, swapped: &str) {
        for e in self.active.load().iter().filter(|e| e.node != swapped) {
            match next.with_candidate(&e.node, e.checked.clone()) {
                Ok(candidate) => e.candidate.store(Arc::new(candidate)),
                Err(err) => {
                    let reason = format!(
                        "the swap of node `{swapped}` left the candidate unable to run: {err}; abort this experiment"
                    );
                    if e.set_state(State::Stopped(reason.clone())) {
                        self.metrics
                            .experiment_event(&e.node, e.settings.mode.as_str(), "stopped");
                        tracing::warn!(node = %e.node, %reason, "experiment stopped");
                    }
                }
            }
        }
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl LivePipeline {
    /// The experiment on `node`, if any, as it stands.
    pub fn experiment(&self, node: &str) -> Option<ExperimentStatus> {
        let e = self.experiments.get(node)?;
        Some(e.status(&self.current()))
    }

    /// Starts a `settings.mode` experiment on `node` with the component
    /// `bytes` as its candidate, checked as a hot-swap would be (`origin`
    /// names where the bytes came from, for messages). Refused, changing
    /// nothing, when the node has an experiment already, the candidate is
    /// the live component, canaries would serve more than every run, or
    /// the candidate does not fit.
    pub async fn start_experiment(
        &self,
        node: &str,
        settings: Settings,
        bytes: Bytes,
        origin: &Path,
    ) -> Result<ExperimentStatus, AdminError> {
        let _one_at_a_time = self.swapping.lock().await;
        let base = self.current();
        let Some(old) = base.node(node) else {
            return Err(base.unknown_node(node).into());
        };
        let mode = settings.mode;
        let result = async {
            if let Some(e) = self.experiments.get(node) {
                return Err(AdminError::UnderExperiment {
                    node: node.into(),
                    mode: e.settings.mode,
                });
            }
            let sha256 = CompileCache::digest(&bytes);
            if sha256 == old.component.load.sha256 {
                return Err(AdminError::Unchanged {
                    node: node.into(),
                    sha256,
                });
            }
            if mode == Mode::Canary {
                let taken = self.experiments.canary_share(node);
                if taken + settings.percent > 100.0 + 1e-9 {
                    return Err(AdminError::CanaryShare {
                        node: node.into(),
                        percent: settings.percent,
                        taken,
                    });
                }
            }
            let checked = base.check_component(node, &bytes, origin).await?;
            let candidate = base.with_candidate(node, checked.clone())?;
            Ok(Arc::new(Experiment {
                node: node.into(),
                role: old.spec.role,
                settings,
                bytes,
                checked,
                candidate: ArcSwap::from_pointee(candidate),
                state: Mutex::new(State::Running),
                arms: Mutex::new([ArmStats::default(), ArmStats::default()]),
                shadow: ShadowCounters::default(),
                started_unix_ms: now_unix_ms(),
                metrics: self.metrics().clone(),
            }))
        }
        .await;
        let by = SwapEvent::by_origin(origin);
        let experiment = match result {
            Ok(e) => e,
            Err(e) => {
                self.status()
                    .swaps()
                    .push(SwapEvent::new(node, SwapKind::ExperimentRefused, &by).reason(&e));
                self.metrics()
                    .experiment_event(node, mode.as_str(), "refused");
                tracing::warn!(node, %mode, error = %e, "experiment refused; nothing changed");
                return Err(e);
            }
        };
        self.experiments.insert(experiment.clone());
        self.metrics()
            .experiment_event(node, mode.as_str(), "started");
        self.metrics()
            .experiment_percent(node, mode.as_str(), Some(settings.percent));
        let status = experiment.status(&base);
        let mut event = SwapEvent::new(node, SwapKind::ExperimentStarted, &by);
        if let Some(c) = &status.candidate {
            event = event.component(&c.version, &c.sha256, c.revision, c.generation);
        }
        self.status().swaps().push(event);
        tracing::info!(
            node,
            %mode,
            percent = settings.percent,
            candidate = ?status.candidate.as_ref().map(|c| &c.sha256),
            "experiment started"
        );
        Ok(status)
    }

    /// Ends `node`'s experiment by hot-swapping the candidate's bytes in,
    /// as `PUT /admin/nodes/{node}` would; `by` names who asked, for the
    /// swap history. If the swap is refused (another swap broke the
    /// candidate's edges meanwhile), the experiment goes on.
    pub async fn promote(&self, node: &str, by: &str) -> Result<Promotion, AdminError> {
        let _one_at_a_time = self.swapping.lock().await;
        let base = self.current();
        if base.node(node).is_none() {
            return Err(base.unknown_node(node).into());
        }
        let e = self
            .experiments
            .get(node)
            .ok_or_else(|| AdminError::NoExperiment { node: node.into() })?;
        let origin = PathBuf::from(format!("<promotion of node `{node}`'s candidate by {by}>"));
        let swap = self
            .swap_locked(node, &e.bytes, &origin, SwapKind::Promoted)
            .await?;
        self.experiments.remove(node);
        e.set_state(State::Promoted);
        self.end_metrics(&e, "promoted");
        tracing::info!(node, mode = %e.settings.mode, "experiment promoted");
        Ok(Promotion {
            swap,
            experiment: e.status(&base),
        })
    }

    /// Ends `node`'s experiment and discards its candidate; the live
    /// component keeps serving. `by` names who asked, for the swap history.
    pub async fn abort(&self, node: &str, by: &str) -> Result<ExperimentStatus, AdminError> {
        let _one_at_a_time = self.swapping.lock().await;
        let base = self.current();
        if base.node(node).is_none() {
            return Err(base.unknown_node(node).into());
        }
        let e = self
            .experiments
            .remove(node)
            .ok_or_else(|| AdminError::NoExperiment { node: node.into() })?;
        e.set_state(State::Aborted);
        self.end_metrics(&e, "aborted");
        let live = base.node(node).expect("checked above");
        self.status()
            .swaps()
            .push(SwapEvent::new(node, SwapKind::Aborted, by).component(
                &live.component.description.version,
                &live.component.load.sha256,
                live.revision,
                base.generation,
            ));
        tracing::info!(node, mode = %e.settings.mode, "experiment aborted");
        Ok(e.status(&base))
    }

    fn end_metrics(&self, e: &Experiment, event: &str) {
        let mode = e.settings.mode.as_str();
        self.metrics().experiment_event(&e.node, mode, event);
        self.metrics().experiment_percent(&e.node, mode, None);
    }
}
