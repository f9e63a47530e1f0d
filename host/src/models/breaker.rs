//! A circuit breaker per model upstream, opened by outages, not by
//! back-pressure or unrelated slow runs.
//!
//! - **Closed**: calls flow. The last `window` outcomes (younger than
//!   [`STALE`]) are kept; once at least `min-calls` of them are in and the
//!   share of failures reaches `failure-rate`, the circuit opens. Only
//!   upstream failures count (timeouts, 5xx, unreachable, unusable
//!   answers); rate limits, `Retry-After` answers, refused requests and
//!   cancelled calls count neither way.
//! - **Open** for the cool-down: a caller with a fallback model left goes
//!   to it at once; a caller without one waits — up to its deadline — for
//!   the half-open probes, so an outage is ridden out instead of failing
//!   every call in flight.
//! - **Half-open**: up to `probes` calls go through at once. The first
//!   success closes the circuit (and forgets the failures); when `probes`
//!   probes have failed, it opens again with the cool-down doubled (up to
//!   `max-cool-down`).
//!
//! With a shared [`BreakerStore`] (Redis, for replicas), a replica whose
//! breaker opens publishes it for the cool-down, and every replica checks
//! (at most every [`SHARED_CHECK`]) before letting a call through: one
//! replica's evidence opens the breaker for all. Each replica then probes
//! on its own when the cool-down ends; a successful probe clears the
//! shared state. A store that cannot answer leaves each replica its own
//! breaker.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::spec::BreakerSpec;

/// Outcomes older than this are forgotten: a failure rate is about now.
pub const STALE: Duration = Duration::from_secs(30);

/// How often a replica asks the shared store whether another opened the
/// breaker.
pub const SHARED_CHECK: Duration = Duration::from_millis(250);

/// Where replicas share their breakers' openings.
#[async_trait::async_trait]
pub trait BreakerStore: Send + Sync + std::fmt::Debug {
    /// How much longer breaker `key` is open, if some replica opened it.
    async fn open_for(&self, key: &str) -> Result<Option<Duration>, String>;
    /// Breaker `key` opened for `cool_down`.
    async fn set_open(&self, key: &str, cool_down: Duration) -> Result<(), String>;
    /// Breaker `key` closed again.
    async fn set_closed(&self, key: &str) -> Result<(), String>;
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn BreakerStore>,
    key: String,
    checked: Mutex<Option<Instant>>,
}

impl Shared {
    /// Runs `f` on the store off the caller's path.
    fn publish<F, Fut>(&self, f: F)
    where
        F: FnOnce(Arc<dyn BreakerStore>, String) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let fut = f(self.store.clone(), self.key.clone());
            rt.spawn(async move {
                if let Err(why) = fut.await {
                    tracing::debug!(error = %why, "breaker state not shared");
                }
            });
        }
    }
}

/// The state a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls wait (or fall back) until the cool-down ends.
    Open,
    /// Probes may go through; other calls wait (or fall back).
    HalfOpen,
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, failed: u32 },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Recent outcomes: (when, failed).
    recent: VecDeque<(Instant, bool)>,
    /// Consecutive openings without a success in between.
    reopened: u32,
}

/// One upstream's breaker.
#[derive(Debug)]
pub struct Breaker {
    spec: BreakerSpec,
    inner: Mutex<Inner>,
    changed: Notify,
    shared: Option<Shared>,
}

/// Why a call was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// How long the caller waited before giving up.
    pub waited: Duration,
}

/// The right to make one call. Report how it went with [`Permit::success`],
/// [`Permit::failure`] or [`Permit::neutral`]; a permit dropped without a
/// report (the call was cancelled) counts as neutral.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

enum Admission {
    Go { probe: bool },
    WaitUntil(Option<Instant>),
}

impl Breaker {
    /// A closed breaker.
    pub fn new(spec: BreakerSpec) -> Self {
        Self {
            spec,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                recent: VecDeque::new(),
                reopened: 0,
            }),
            changed: Notify::new(),
            shared: None,
        }
    }

    /// The same breaker, sharing its openings through `store` under `key`.
    pub fn shared(mut self, store: Arc<dyn BreakerStore>, key: String) -> Self {
        self.shared = Some(Shared {
            store,
            key,
            checked: Mutex::new(None),
        });
        self
    }

    /// Adopts an opening another replica published (checked at most every
    /// [`SHARED_CHECK`]); a store that cannot answer changes nothing.
    pub async fn sync_shared(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let now = Instant::now();
        {
            let mut checked = shared.checked.lock().unwrap_or_else(|p| p.into_inner());
            if checked.is_some_and(|at| now.duration_since(at) < SHARED_CHECK) {
                return;
            }
            *checked = Some(now);
        }
        let Ok(Some(left)) = shared.store.open_for(&shared.key).await else {
            return;
        };
        let mut i = self.lock();
        if matches!(i.phase, Phase::Closed) && !left.is_zero() {
            i.phase = Phase::Open { until: now + left };
            drop(i);
            tracing::warn!(
                breaker = %shared.key,
                cool_down_ms = left.as_millis() as u64,
                "circuit opened by another replica"
            );
            self.changed.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match self.lock().phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if Instant::now() < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn try_admit(&self) -> Admission {
        let mut i = self.lock();
        let now = Instant::now();
        if let Phase::Open { until } = i.phase {
            if now < until {
                return Admission::WaitUntil(Some(until));
            }
            i.phase = Phase::HalfOpen {
                in_flight: 0,
                failed: 0,
            };
        }
        match &mut i.phase {
            Phase::Closed => Admission::Go { probe: false },
            Phase::HalfOpen { in_flight, failed } => {
                if *in_flight + *failed < self.spec.probes.max(1) {
                    *in_flight += 1;
                    Admission::Go { probe: true }
                } else {
                    Admission::WaitUntil(None)
                }
            }
            Phase::Open { .. } => unreachable!("handled above"),
        }
    }

    /// Lets a call through now, or refuses it at once (the caller has a
    /// fallback to go to).
    pub fn admit_now(&self) -> Result<Permit<'_>, Refused> {
        match self.try_admit() {
            Admission::Go { probe } => Ok(self.permit(probe)),
            Admission::WaitUntil(_) => Err(Refused {
                waited: Duration::ZERO,
            }),
        }
    }

    /// Lets a call through, waiting while the circuit is open (and while
    /// the half-open probes are all taken) until `deadline`.
    pub async fn admit(&self, deadline: Instant) -> Result<Permit<'_>, Refused> {
        let started = Instant::now();
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let until = match self.try_admit() {
                Admission::Go { probe } => return Ok(self.permit(probe)),
                Admission::WaitUntil(until) => until.map_or(deadline, |u| u.min(deadline)),
            };
            if Instant::now() >= deadline {
                return Err(Refused {
                    waited: started.elapsed(),
                });
            }
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }

    fn permit(&self, probe: bool) -> Permit<'_> {
        Permit {
            breaker: self,
            probe,
            reported: false,
        }
    }

    fn report(&self, probe: bool, outcome: Option<bool>) {
        let mut i = self.lock();
        let now = Instant::now();
        let mut changed = false;
        if let Some(failed) = outcome {
            i.recent.push_back((now, failed));
            while i.recent.len() > self.spec.window.max(1) as usize {
                i.recent.pop_front();
            }
            while i
                .recent
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > STALE)
            {
                i.recent.pop_front();
            }
        }
        let reopened = i.reopened;
        match (&mut i.phase, probe, outcome) {
            (Phase::HalfOpen { in_flight, .. }, true, None) => {
                *in_flight = in_flight.saturating_sub(1);
                changed = true;
            }
            (Phase::HalfOpen { .. }, true, Some(false)) => {
                i.phase = Phase::Closed;
                i.recent.clear();
                i.reopened = 0;
                changed = true;
                if let Some(sh) = &self.shared {
                    sh.publish(|store, key| async move { store.set_closed(&key).await });
                }
            }
            (Phase::HalfOpen { in_flight, failed }, true, Some(true)) => {
                *in_flight = in_flight.saturating_sub(1);
                *failed += 1;
                if *failed >= self.spec.probes.max(1) {
                    i.reopened = reopened.saturating_add(1);
                    let cool_down = self.cool_down(i.reopened);
                    i.phase = Phase::Open {
                        until: now + cool_down,
                    };
                    self.publish_open(cool_down);
                }
                changed = true;
            }
            (Phase::Closed, _, Some(true)) => {
                let total = i.recent.len() as u32;
                let failures = i.recent.iter().filter(|(_, f)| *f).count() as u32;
                if total >= self.spec.min_calls.max(1)
                    && f64::from(failures) >= self.spec.failure_rate * f64::from(total)
                {
                    i.phase = Phase::Open {
                        until: now + self.cool_down(i.reopened),
                    };
                    self.publish_open(self.cool_down(i.reopened));
                    tracing::warn!(
                        failures,
                        of = total,
                        cool_down_ms = self.cool_down(i.reopened).as_millis() as u64,
                        "circuit opened"
                    );
                    changed = true;
                }
            }
            _ => {}
        }
        drop(i);
        if changed {
            self.changed.notify_waiters();
        }
    }

    /// Tells the other replicas this breaker opened for `cool_down`.
    fn publish_open(&self, cool_down: Duration) {
        if let Some(sh) = &self.shared {
            sh.publish(move |store, key| async move { store.set_open(&key, cool_down).await });
        }
    }

    /// The cool-down after `reopened` failed probe rounds.
    fn cool_down(&self, reopened: u32) -> Duration {
        self.spec
            .cool_down
            .saturating_mul(1u32 << reopened.min(16))
            .min(self.spec.max_cool_down.max(self.spec.cool_down))
    }
}

impl Permit<'_> {
    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The upstream answered.
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.report(self.probe, Some(false));
    }

    /// The upstream failed (timeout, 5xx, unreachable, unusable answer).
    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.report(self.probe, Some(true));
    }

    /// Neither: back-pressure, a refused request, a cancelled call.
    pub fn neutral(mut self) {
        self.reported = true;
        self.breaker.report(self.probe, None);
    }
}

/// A permit set aside by a caller that cannot keep the borrow (a stream
/// that owns its hub): [`Breaker::attach`] gives it back to report on.
/// Dropping it reports nothing, so its holder must attach it again.
#[derive(Debug)]
#[must_use]
pub(crate) struct Detached {
    probe: bool,
}

impl Permit<'_> {
    /// Sets the permit aside without reporting.
    pub(crate) fn detach(mut self) -> Detached {
        self.reported = true;
        Detached { probe: self.probe }
    }
}

impl Breaker {
    /// A permit set aside by [`Permit::detach`], to report on.
    pub(crate) fn attach(&self, d: Detached) -> Permit<'_> {
        self.permit(d.probe)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported {
            self.breaker.report(self.probe, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BreakerSpec {
        BreakerSpec {
            window: 10,
            min_calls: 4,
            failure_rate: 0.75,
            cool_down: Duration::from_millis(30),
            max_cool_down: Duration::from_millis(100),
            probes: 2,
        }
    }

    #[test]
    fn breaker_opens_on_a_failure_rate_not_on_a_few_failures() {
        let b = Breaker::new(spec());
        // Half the calls failing (a fault retries absorb) never opens it.
        for _ in 0..20 {
            b.admit_now().unwrap().failure();
            b.admit_now().unwrap().success();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        // Back-pressure and cancelled calls count neither way.
        for _ in 0..20 {
            b.admit_now().unwrap().neutral();
            drop(b.admit_now().unwrap());
        }
        assert_eq!(b.state(), BreakerState::Closed);
        // An outage: the share of failures climbs to the rate, and it opens.
        let mut failed = 0;
        while b.state() == BreakerState::Closed {
            b.admit_now().unwrap().failure();
            failed += 1;
        }
        assert_eq!(failed, 6, "then 8 of the last 10 failed: at least 0.75");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.admit_now().is_err());
    }

    #[test]
    fn breaker_half_opens_with_a_few_probes_and_closes_on_a_success() {
        let b = Breaker::new(spec());
        for _ in 0..4 {
            b.admit_now().unwrap().failure();
        }
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let p1 = b.admit_now().unwrap();
        let p2 = b.admit_now().unwrap();
        assert!(p1.is_probe() && p2.is_probe());
        assert!(b.admit_now().is_err(), "only `probes` at once");
        p1.failure();
        assert_eq!(b.state(), BreakerState::HalfOpen, "one failed probe of two");
        p2.success();
        assert_eq!(b.state(), BreakerState::Closed);
        // The failures before are forgotten: one failure does not re-open.
        b.admit_now().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn breaker_reopens_with_a_longer_cool_down_when_every_probe_fails() {
        let b = Breaker::new(spec());
        for _ in 0..4 {
            b.admit_now().unwrap().failure();
        }
        std::thread::sleep(Duration::from_millis(40));
        b.admit_now().unwrap().failure();
        b.admit_now().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state(), BreakerState::Open, "the cool-down doubled");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // A cancelled probe gives its place back.
        drop(b.admit_now().unwrap());
        let p = b.admit_now().unwrap();
        let q = b.admit_now().unwrap();
        q.neutral();
        p.success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn breaker_waiters_go_through_when_a_probe_succeeds() {
        let b = std::sync::Arc::new(Breaker::new(BreakerSpec {
            probes: 1,
            ..spec()
        }));
        for _ in 0..4 {
            b.admit_now().unwrap().failure();
        }
        let far = Instant::now() + Duration::from_secs(10);
        let probe = b.admit(far).await.unwrap();
        assert!(probe.is_probe());
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.admit(far).await.map(|p| p.is_probe()) })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a second call waits for the probe");
        probe.success();
        assert_eq!(waiter.await.unwrap(), Ok(false), "then flows, closed");
        // Waiting ends at the deadline.
        for _ in 0..4 {
            b.admit_now().unwrap().failure();
        }
        let soon = Instant::now() + Duration::from_millis(5);
        assert!(b.admit(soon).await.is_err());
    }
}
