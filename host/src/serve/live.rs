//! The live pipeline of a service: the current generation in an
//! [`ArcSwap`], pinned by each run when it starts, and hot-swaps of one
//! node, serialised, compiled and type-checked off the request path before
//! the pointer moves. A refused swap leaves the running generation as it
//! was. Runs pass through the node experiments (`super::experiment`): a
//! canary may serve a run from its candidate generation, a shadow may
//! re-run it in the background once it has finished.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use serde::Serialize;

use super::experiment::{AdminError, Experiments};
use super::metrics::Metrics;
use super::status::{StatusBoard, SwapEvent, SwapKind};
use super::QueueLimits;
use crate::engine::CacheOutcome;
use crate::pipeline::{Pipeline, RunInput, RunOutcome, RunRecord, SwapError};
use crate::recording::RecordingSink;
use crate::telemetry::Telemetry;

/// The pipeline a service runs, swappable one node at a time.
#[derive(Debug)]
pub struct LivePipeline {
    current: ArcSwap<Pipeline>,
    /// One swap (or experiment change) at a time, so none builds on a
    /// stale generation.
    pub(super) swapping: tokio::sync::Mutex<()>,
    /// Shadow and canary experiments, one per node at most.
    pub(super) experiments: Experiments,
    metrics: Arc<Metrics>,
    /// The last minute and the swap history, for the status page.
    status: StatusBoard,
    telemetry: Option<Telemetry>,
    recording: Option<RecordingSink>,
    /// Where components swapped in by reference come from.
    sources: crate::artifact::Sources,
}

/// What an accepted swap did.
#[derive(Debug, Clone, Serialize)]
pub struct SwapReport {
    /// The node.
    pub node: String,
    /// The node's new revision (1 as loaded, +1 per swap).
    pub revision: u64,
    /// The pipeline generation now serving new runs.
    pub generation: u64,
    /// The component's own version (from `describe`).
    pub version: String,
    /// Hex SHA-256 of the component.
    pub sha256: String,
    /// Component size in bytes.
    pub bytes: u64,
    /// Compile (or cache load) and type-check time, in ms.
    pub load_ms: f64,
    /// Whether the compile cache was used.
    pub cache: CacheOutcome,
    /// True when the bytes equal the live component's: nothing changed.
    pub unchanged: bool,
}

impl LivePipeline {
    /// Serves `pipeline` as generation 0.
    pub fn new(pipeline: Pipeline, metrics: Arc<Metrics>) -> Self {
        metrics.set_live(&pipeline);
        Self {
            status: StatusBoard::new(&pipeline),
            current: ArcSwap::from_pointee(pipeline),
            swapping: tokio::sync::Mutex::new(()),
            experiments: Experiments::new(metrics.clone()),
            metrics,
            telemetry: None,
            recording: None,
            sources: crate::artifact::Sources::from_env(),
        }
    }

    /// This service, pulling components swapped in by reference through
    /// `sources` (the store and registry settings of the command line).
    pub fn with_sources(mut self, sources: crate::artifact::Sources) -> Self {
        self.sources = sources;
        self
    }

    /// The bytes an `oci://` reference names, for a swap of `node`: from
    /// the store when pinned and held, else pulled with every digest
    /// checked. The node's trust check comes after, in the swap itself.
    pub async fn fetch_reference(
        &self,
        node: &str,
        r: crate::spec::OciRef,
        by: &str,
    ) -> Result<crate::artifact::Fetched, SwapError> {
        let fail = |source| SwapError::Fetch {
            node: node.into(),
            source,
        };
        let result = self
            .sources
            .fetch(&crate::spec::ComponentSource::Oci(r))
            .await
            .map_err(fail);
        if let Err(e) = &result {
            self.metrics.swapped(node, false);
            self.status
                .swaps()
                .push(SwapEvent::new(node, SwapKind::Refused, by).reason(e));
            tracing::warn!(node, error = %e, "swap refused; the old component keeps serving");
        }
        result
    }

    /// This service, recording (a sampled share of) its runs whole to
    /// `sink`.
    pub fn with_recording(mut self, sink: RecordingSink) -> Self {
        self.recording = Some(sink);
        self
    }

    /// This service, exporting every run's trace through `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Whether finished runs go anywhere (trace export, a recording).
    pub fn exports(&self) -> bool {
        self.telemetry.is_some() || self.recording.is_some()
    }

    /// As [`Self::export`], for a run whose outcome its caller still
    /// needs: the record is copied from it only when something takes it.
    pub fn export_outcome(&self, pipeline: Arc<Pipeline>, outcome: &RunOutcome) {
        if self.exports() {
            self.export(pipeline, RunRecord::of_outcome(outcome));
        }
    }

    /// Hands a finished run's record (answered already) to the recording
    /// and to trace export, if on. Neither waits on its disk or collector.
    pub fn export(&self, pipeline: Arc<Pipeline>, record: RunRecord) {
        if let Some(r) = &self.recording {
            r.record(&pipeline, &record, false);
        }
        if let Some(t) = &self.telemetry {
            t.export_record(pipeline, record);
        }
    }

    /// The generation serving new runs. Holding it pins it.
    pub fn current(&self) -> Arc<Pipeline> {
        self.current.load_full()
    }

    /// The service's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// What the status page shows: the last minute, the swap history.
    pub fn status(&self) -> &StatusBoard {
        &self.status
    }

    /// Runs `input` on the current generation (or, for a canary's share of
    /// runs, on its candidate generation), start to finish, even if a swap
    /// happens meanwhile, and returns the generation it ran on. It
    /// gives up before starting when more than
    /// `queue.max_queued` runs already wait for the instance pool, or
    /// after waiting `queue.timeout`: nothing is spent on such a run.
    pub async fn run_queued(
        &self,
        mut input: RunInput,
        queue: QueueLimits,
    ) -> Result<(Arc<Pipeline>, RunOutcome), Overloaded> {
        if let Some(r) = &self.recording {
            input.capture |= r.wants();
        }
        let assignment = self.experiments.assign();
        let pipeline = assignment
            .as_ref()
            .and_then(|a| a.candidate())
            .unwrap_or_else(|| self.current());
        let shadow_input = assignment
            .as_ref()
            .filter(|a| a.wants_input())
            // A shadow run is never watched: its text must not reach the
            // client, whatever its judges say.
            .map(|_| RunInput {
                events: None,
                ..input.clone()
            });
        let admission = pipeline.engine().admission();
        if admission.queued() >= queue.max_queued {
            self.metrics.run_refused();
            return Err(Overloaded::QueueFull {
                queued: admission.queued(),
            });
        }
        let arrived = Instant::now();
        let waited = {
            let _queued = self.metrics.run_queued();
            tokio::time::timeout(queue.timeout, pipeline.admit()).await
        };
        let Ok(admitted) = waited else {
            self.metrics.run_refused();
            return Err(Overloaded::Waited {
                waited_ms: arrived.elapsed().as_millis() as u64,
            });
        };
        let outcome = {
            let _in_flight = self.metrics.run_started();
            pipeline
                .run_admitted(admitted, arrived.elapsed(), input)
                .await
        };
        self.metrics.observe(&outcome);
        self.status.observe(&outcome);
        if let Some(a) = assignment {
            self.experiments.finished(a, &outcome, shadow_input);
        }
        Ok((pipeline, outcome))
    }

    /// Replaces node `node`'s component with `bytes` (`origin` names where
    /// they came from, for messages). New runs use it at once; runs in
    /// flight finish on the component they started with. A node under an
    /// experiment is not swapped: promote or abort the experiment first.
    pub async fn swap(
        &self,
        node: &str,
        bytes: &[u8],
        origin: &Path,
    ) -> Result<SwapReport, AdminError> {
        let _one_at_a_time = self.swapping.lock().await;
        if let Some(mode) = self.experiments.mode_of(node) {
            self.metrics.swapped(node, false);
            let e = AdminError::UnderExperiment {
                node: node.into(),
                mode,
            };
            tracing::warn!(node, error = %e, "swap refused; the old component keeps serving");
            self.status.swaps().push(
                SwapEvent::new(node, SwapKind::Refused, &SwapEvent::by_origin(origin)).reason(&e),
            );
            return Err(e);
        }
        Ok(self
            .swap_locked(node, bytes, origin, SwapKind::Swapped)
            .await?)
    }

    /// [`LivePipeline::swap`] for a caller holding the swap lock, with no
    /// experiment check (promotion is this swap); the status page's swap
    /// history shows it as `done` when it changed the node.
    pub(super) async fn swap_locked(
        &self,
        node: &str,
        bytes: &[u8],
        origin: &Path,
        done: SwapKind,
    ) -> Result<SwapReport, SwapError> {
        let result = self.try_swap(node, bytes, origin).await;
        let by = SwapEvent::by_origin(origin);
        self.status.swaps().push(match &result {
            Ok(r) => SwapEvent::new(
                node,
                if r.unchanged {
                    SwapKind::Unchanged
                } else {
                    done
                },
                &by,
            )
            .component(&r.version, &r.sha256, r.revision, r.generation),
            Err(e) => SwapEvent::new(node, SwapKind::Refused, &by).reason(e),
        });
        // Only real nodes become metric labels.
        if !matches!(result, Err(SwapError::UnknownNode { .. })) {
            self.metrics.swapped(node, result.is_ok());
        }
        match &result {
            Ok(r) if r.unchanged => {}
            Ok(r) => tracing::info!(
                node,
                revision = r.revision,
                generation = r.generation,
                version = %r.version,
                sha256 = %r.sha256,
                "node swapped"
            ),
            Err(e) => {
                tracing::warn!(node, error = %e, "swap refused; the old component keeps serving")
            }
        }
        result
    }

    async fn try_swap(
        &self,
        node: &str,
        bytes: &[u8],
        origin: &Path,
    ) -> Result<SwapReport, SwapError> {
        let base = self.current();
        let Some(old) = base.node(node) else {
            return Err(base.unknown_node(node));
        };
        let started = Instant::now();
        let digest = crate::engine::CompileCache::digest(bytes);
        if digest == old.component.load.sha256 {
            return Ok(SwapReport {
                node: node.into(),
                revision: old.revision,
                generation: base.generation,
                version: old.component.description.version.clone(),
                sha256: digest,
                bytes: bytes.len() as u64,
                load_ms: 0.0,
                cache: old.component.load.cache,
                unchanged: true,
            });
        }
        let checked = base.check_component(node, bytes, origin).await?;
        let next = base.with_component(node, checked)?;
        let new = next.node(node).expect("the swapped node exists");
        let report = SwapReport {
            node: node.into(),
            revision: new.revision,
            generation: next.generation,
            version: new.component.description.version.clone(),
            sha256: new.component.load.sha256.clone(),
            bytes: new.component.load.bytes,
            load_ms: started.elapsed().as_secs_f64() * 1e3,
            cache: new.component.load.cache,
            unchanged: false,
        };
        self.experiments.rebase(&next, node);
        self.metrics.set_live(&next);
        self.current.store(Arc::new(next));
        Ok(report)
    }
}

/// Why a run was not started.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Overloaded {
    /// The queue for the instance pool is full.
    #[error("{queued} runs are already waiting for the instance pool (--max-queued); retry later")]
    QueueFull {
        /// Runs waiting.
        queued: usize,
    },
    /// The run waited its longest for the instance pool.
    #[error("waited {waited_ms} ms for room in the instance pool (--queue-timeout-ms) without starting; retry later")]
    Waited {
        /// How long.
        waited_ms: u64,
    },
}
