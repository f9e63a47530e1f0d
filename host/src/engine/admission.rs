//! Admission to the instance pool, per run. A run starts only once the
//! pool has room for its peak (the most slots it can hold at once, see
//! `pipeline::peak`); runs past that wait in one first-in, first-out queue
//! before they start. Admitted runs therefore never wait for the pool in
//! the middle, and more work than the pool can progress queues instead of
//! interleaving until every run hits its deadline. Work that must never
//! delay a run (a shadow run of a serve experiment) takes room only with
//! [`Admission::try_admit`]: when nobody waits and the room is free now.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The run queue of one engine (shared by every pipeline generation on
/// it).
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    total: u32,
    queued: AtomicUsize,
}

/// A run's place in the pool, held until the run ends.
#[derive(Debug)]
pub struct Admitted {
    _permit: Option<OwnedSemaphorePermit>,
}

struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    /// A queue in front of a pool of `total` slots.
    pub fn new(total: u32) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(total as usize)),
            total,
            queued: AtomicUsize::new(0),
        }
    }

    /// Waits (in arrival order) until `peak` slots are free, and holds them.
    /// A peak over the whole pool is cut to the pool: such a run runs
    /// alone.
    pub async fn admit(&self, peak: u32) -> Admitted {
        self.queued.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.queued);
        let permit = self
            .slots
            .clone()
            .acquire_many_owned(peak.clamp(1, self.total.max(1)))
            .await
            .ok();
        Admitted { _permit: permit }
    }

    /// Holds `peak` slots (cut to the pool, as in [`Admission::admit`])
    /// only if no run waits for admission and they are free now; never
    /// waits and never queues, so it cannot delay or overtake a waiting
    /// run.
    pub fn try_admit(&self, peak: u32) -> Option<Admitted> {
        if self.queued() > 0 {
            return None;
        }
        let permit = self
            .slots
            .clone()
            .try_acquire_many_owned(peak.clamp(1, self.total.max(1)))
            .ok()?;
        Some(Admitted {
            _permit: Some(permit),
        })
    }

    /// Runs waiting for admission now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Slots not held by admitted runs now.
    pub fn free(&self) -> usize {
        self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admission_is_first_come_first_served_within_the_pool() {
        let a = Arc::new(Admission::new(4));
        let first = a.admit(3).await;
        assert_eq!(a.free(), 1);
        // A run needing 2 waits; one needing 1 behind it waits too
        // (first come, first served, so big runs are not starved).
        let big = tokio::spawn({
            let a = a.clone();
            async move { a.admit(2).await }
        });
        while a.queued() < 1 {
            tokio::task::yield_now().await;
        }
        let small = tokio::spawn({
            let a = a.clone();
            async move { a.admit(1).await }
        });
        while a.queued() < 2 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        assert!(!small.is_finished(), "the small run does not overtake");
        drop(first);
        let big = big.await.unwrap();
        let small = small.await.unwrap();
        assert_eq!((a.queued(), a.free()), (0, 1));
        drop((big, small));
        assert_eq!(a.free(), 4);
        // A peak larger than the pool runs alone rather than never.
        let alone = a.admit(9).await;
        assert_eq!(a.free(), 0);
        drop(alone);
    }

    #[tokio::test]
    async fn admission_try_admit_never_waits_nor_overtakes_a_waiting_run() {
        let a = Arc::new(Admission::new(4));
        let held = a.try_admit(3).expect("room is free");
        assert_eq!(a.free(), 1);
        assert!(a.try_admit(2).is_none(), "no room: refused, not queued");
        assert_eq!(a.queued(), 0);
        // A run waiting for 2 slots: a try for the 1 free slot must not
        // take it from under the waiting run.
        let waiting = tokio::spawn({
            let a = a.clone();
            async move { a.admit(2).await }
        });
        while a.queued() < 1 {
            tokio::task::yield_now().await;
        }
        assert!(a.try_admit(1).is_none(), "a run is waiting");
        drop(held);
        let admitted = waiting.await.unwrap();
        let tried = a.try_admit(2).expect("nobody waits and 2 slots are free");
        assert_eq!(a.free(), 0);
        drop((admitted, tried));
        assert_eq!(a.free(), 4);
    }
}
