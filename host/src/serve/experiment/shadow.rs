//! Shadow runs: a sampled live run's input run again, whole, on an
//! experiment's candidate generation, in a background task, after the live
//! run has finished. A shadow run never waits for anything a live run
//! needs: it starts only if one of the service's few shadow slots is free
//! ([`super::SHADOW_MAX_IN_FLIGHT`]) and the instance pool has room for it
//! now with no run waiting for admission (`Pipeline::try_admit`);
//! otherwise the sample is skipped and counted. Its output is judged as
//! usual inside the run, counted in the candidate arm, and never served,
//! recorded or exported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Arm, Experiment, Experiments, State};
use crate::pipeline::RunInput;

/// Counts a shadow run finished when dropped, however its task ends.
struct Finished(Arc<Experiment>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.shadow.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl Experiments {
    /// Starts the shadow run of `e` for a live run of `input`, or counts
    /// why not. True when it started.
    pub(super) fn start_shadow(&self, e: &Arc<Experiment>, input: &RunInput) -> bool {
        let counters = &e.shadow;
        counters.sampled.fetch_add(1, Ordering::SeqCst);
        let skip = |counter: &AtomicU64, reason: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
            self.metrics.experiment_skipped(&e.node, reason);
            false
        };
        match e.state() {
            State::Running => {}
            State::BudgetExhausted => return skip(&counters.budget, "budget"),
            // Ended or stopped since the run started.
            _ => return false,
        }
        let Ok(slot) = self.shadows.clone().try_acquire_owned() else {
            return skip(&counters.busy, "busy");
        };
        let candidate = e.candidate.load_full();
        let Some(admitted) = candidate.try_admit() else {
            return skip(&counters.no_room, "no-room");
        };
        counters.started.fetch_add(1, Ordering::SeqCst);
        // A new trace, no content kept: a shadow run is never exported.
        let run = RunInput::new(format!("{}~shadow", input.id), input.input.clone());
        let finished = Finished(e.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let outcome = candidate.run_admitted(admitted, Duration::ZERO, run).await;
            finished.0.observe(Arm::Candidate, &outcome);
            drop(finished);
        });
        true
    }
}
