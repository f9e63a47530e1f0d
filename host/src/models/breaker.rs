//! A circuit breaker per model upstream: after `failures` consecutive
//! transient failures it opens and calls fail fast (going to the fallback
//! chain) for `cool_down`; then one half-open probe is let through — success
//! closes it, failure opens it again.

use std::sync::Mutex;
use std::time::Instant;

use crate::spec::BreakerSpec;

/// The state a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls fail fast until the cool-down ends.
    Open,
    /// One probe is in flight; other calls fail fast.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    consecutive: u32,
    opened_at: Option<Instant>,
    probing: bool,
}

/// One upstream's breaker.
#[derive(Debug)]
pub struct Breaker {
    spec: BreakerSpec,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(spec: BreakerSpec) -> Self {
        Self {
            spec,
            inner: Mutex::new(Inner {
                consecutive: 0,
                opened_at: None,
                probing: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        let i = self.lock();
        match i.opened_at {
            None => BreakerState::Closed,
            Some(_) if i.probing => BreakerState::HalfOpen,
            Some(at) if at.elapsed() >= self.spec.cool_down => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    /// Whether a call may go out now. Past the cool-down, the first caller
    /// becomes the half-open probe.
    pub fn admit(&self) -> bool {
        let mut i = self.lock();
        match i.opened_at {
            None => true,
            Some(at) if at.elapsed() >= self.spec.cool_down && !i.probing => {
                i.probing = true;
                true
            }
            Some(_) => false,
        }
    }

    /// Records a success: closes the circuit.
    pub fn success(&self) {
        let mut i = self.lock();
        i.consecutive = 0;
        i.opened_at = None;
        i.probing = false;
    }

    /// Records a transient failure: may open (or re-open) the circuit.
    pub fn failure(&self) {
        let mut i = self.lock();
        i.consecutive += 1;
        if i.probing || i.consecutive >= self.spec.failures.max(1) {
            i.opened_at = Some(Instant::now());
            i.probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn breaker_opens_probes_and_closes() {
        let b = Breaker::new(BreakerSpec {
            failures: 2,
            cool_down: Duration::from_millis(30),
        });
        assert!(b.admit());
        b.failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.admit());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.admit(), "the first call after the cool-down is the probe");
        assert!(!b.admit(), "only one probe at a time");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.failure();
        assert_eq!(b.state(), BreakerState::Open, "a failed probe re-opens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.admit());
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit());
    }
}
