//! Back-pressure per upstream. A `429`, or any answer carrying
//! `Retry-After`, pauses every caller of that upstream until the time it
//! asked for: concurrent runs slow down together instead of each
//! hammering a throttled upstream on its own schedule. A pause is never
//! counted as a failure by the circuit breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One upstream's pause.
#[derive(Debug, Default)]
pub struct Throttle {
    until: Mutex<Option<Instant>>,
}

impl Throttle {
    /// Pauses the upstream for `d` from now (a longer pause already set
    /// stays).
    pub fn pause(&self, d: Duration) {
        let end = Instant::now() + d;
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if until.is_none_or(|u| u < end) {
            *until = Some(end);
        }
    }

    /// When the current pause ends, if one is in force.
    pub fn until(&self) -> Option<Instant> {
        let until = *self.until.lock().unwrap_or_else(|p| p.into_inner());
        until.filter(|u| *u > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_keeps_the_longest_pause_and_ends() {
        let t = Throttle::default();
        assert_eq!(t.until(), None);
        t.pause(Duration::from_millis(200));
        let long = t.until().unwrap();
        t.pause(Duration::from_millis(10));
        assert_eq!(t.until(), Some(long), "a shorter pause does not cut it");
        t.pause(Duration::ZERO);
        assert!(t.until().is_some());
        let t = Throttle::default();
        t.pause(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(t.until(), None);
    }
}
