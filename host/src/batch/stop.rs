//! Stopping a batch from outside, in two steps: **drain** (dispatch no new
//! input; runs in flight finish and are written) and **cancel** (drop the
//! runs in flight at once; what already finished is still written). The
//! library installs no signal handler: a front end (the CLI on SIGINT and
//! SIGTERM, with its grace period) holds the [`StopHandle`].

use tokio::sync::watch;

/// How far a stop has gone; only ever increases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum StopLevel {
    /// Keep going.
    #[default]
    Run,
    /// Dispatch nothing new; let runs in flight finish.
    Drain,
    /// Cancel runs in flight now.
    Cancel,
}

/// The side that asks a batch to stop.
#[derive(Debug, Clone)]
pub struct StopHandle(watch::Sender<StopLevel>);

impl StopHandle {
    /// Stop dispatching; runs in flight finish.
    pub fn drain(&self) {
        self.raise(StopLevel::Drain);
    }

    /// Cancel the runs in flight too.
    pub fn cancel(&self) {
        self.raise(StopLevel::Cancel);
    }

    /// The level asked for so far.
    pub fn level(&self) -> StopLevel {
        *self.0.borrow()
    }

    fn raise(&self, to: StopLevel) {
        self.0.send_if_modified(|level| {
            let raised = to > *level;
            if raised {
                *level = to;
            }
            raised
        });
    }
}

/// The side a batch watches.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<StopLevel>);

impl StopSignal {
    /// A signal that never fires.
    pub fn never() -> Self {
        let (_, rx) = watch::channel(StopLevel::Run);
        Self(rx)
    }

    /// The level now.
    pub fn level(&self) -> StopLevel {
        *self.0.borrow()
    }

    /// Waits until the level rises, then returns it; never returns once
    /// every handle is dropped. Cancel-safe.
    pub async fn raised(&mut self) -> StopLevel {
        match self.0.changed().await {
            Ok(()) => *self.0.borrow_and_update(),
            Err(_) => std::future::pending().await,
        }
    }
}

impl Default for StopSignal {
    fn default() -> Self {
        Self::never()
    }
}

/// A connected handle and signal.
pub fn stop_channel() -> (StopHandle, StopSignal) {
    let (tx, rx) = watch::channel(StopLevel::Run);
    (StopHandle(tx), StopSignal(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_levels_only_rise_and_wake_the_watcher() {
        let (handle, mut signal) = stop_channel();
        assert_eq!(signal.level(), StopLevel::Run);
        handle.drain();
        assert_eq!(signal.raised().await, StopLevel::Drain);
        handle.cancel();
        handle.drain();
        assert_eq!(signal.raised().await, StopLevel::Cancel);
        assert_eq!(handle.level(), StopLevel::Cancel);
        let mut never = StopSignal::never();
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), never.raised());
        assert!(
            waited.await.is_err(),
            "a signal without a handle never fires"
        );
    }
}
