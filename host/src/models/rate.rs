//! Rate limits per model, from the manifest's `rate-limit`: requests and
//! tokens per minute, counted with GCRA (the generic cell rate algorithm,
//! a token bucket kept as one timestamp per limit). Each limit refills
//! continuously at its per-minute rate and holds at most one minute's
//! worth, so an idle model may take a whole minute's quota at once, then
//! one call per `60 s / limit`. A call is charged to every limit of its
//! model at once, or to none. With a shared [`RateStore`] (Redis, for
//! replicas) the same arithmetic runs there, atomically, on the store's
//! clock; if the store cannot be reached the process falls back to its own
//! count and says so. A call over the limit waits (up to its deadline) or
//! fails `rate-limited` at once, per the manifest; either way it is never
//! sent upstream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::types::ModelError;
use crate::spec::{OnLimit, RateLimitSpec};

/// How much of a limit may be taken at once: one minute's worth.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One charge against one limit: `cost` units, each worth `interval` of
/// the window.
#[derive(Debug, Clone)]
pub struct Charge {
    /// Which limit (`…:requests` or `…:tokens`), for a shared store.
    pub key: String,
    /// Units charged.
    pub cost: u64,
    /// The window one unit takes: `60 s / per-minute limit`.
    pub interval: Duration,
}

/// State shared between replicas, where rate limits are counted.
#[async_trait::async_trait]
pub trait RateStore: Send + Sync + std::fmt::Debug {
    /// Charges every one of `charges` or none, with at most `window` taken
    /// ahead: `Ok(None)` when charged, `Ok(Some(wait))` when refused (room
    /// comes after `wait`), `Err(why)` when the store cannot answer.
    async fn charge(
        &self,
        charges: &[Charge],
        window: Duration,
    ) -> Result<Option<Duration>, String>;
}

/// GCRA over in-process timestamps: the local count, and the fallback
/// when a shared store is down.
#[derive(Debug, Default)]
struct Local {
    /// Theoretical arrival time per limit (requests, tokens).
    tat: [Option<Instant>; 2],
}

impl Local {
    fn charge(
        &mut self,
        now: Instant,
        charges: &[(usize, &Charge)],
        window: Duration,
    ) -> Option<Duration> {
        let mut next = self.tat;
        let mut wait = Duration::ZERO;
        for (slot, c) in charges {
            let tat = self.tat[*slot].map_or(now, |t| t.max(now));
            let new = tat
                + c.interval
                    .saturating_mul(c.cost.min(u32::MAX as u64) as u32);
            let allow_at = new.checked_sub(window).unwrap_or(now);
            if allow_at > now {
                wait = wait.max(allow_at - now);
            }
            next[*slot] = Some(new);
        }
        if wait > Duration::ZERO {
            return Some(wait);
        }
        self.tat = next;
        None
    }
}

/// A model's rate limiter.
#[derive(Debug)]
pub struct RateLimiter {
    model: String,
    spec: RateLimitSpec,
    local: Mutex<Local>,
    shared: Option<(Arc<dyn RateStore>, String)>,
    /// Set while the shared store is unreachable (the local count serves).
    degraded: AtomicBool,
}

impl RateLimiter {
    /// A limiter for `model`, counting in this process.
    pub fn new(model: &str, spec: RateLimitSpec) -> Self {
        Self {
            model: model.into(),
            spec,
            local: Mutex::new(Local::default()),
            shared: None,
            degraded: AtomicBool::new(false),
        }
    }

    /// The same, counting in `store` under keys starting with `prefix`.
    pub fn shared(mut self, store: Arc<dyn RateStore>, prefix: &str) -> Self {
        self.shared = Some((store, format!("{prefix}:rate:{}", self.model)));
        self
    }

    /// Whether the shared store failed on the last charge.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// The charges of `requests` requests reserving `tokens` (none when
    /// `None`), by slot.
    fn charges(&self, requests: u64, tokens: Option<u64>) -> Vec<(usize, Charge)> {
        let prefix = self
            .shared
            .as_ref()
            .map_or_else(|| self.model.clone(), |(_, p)| p.clone());
        let mut out = Vec::new();
        if let Some(rpm) = self.spec.requests_per_minute.filter(|_| requests > 0) {
            out.push((
                0,
                Charge {
                    key: format!("{prefix}:requests"),
                    cost: requests,
                    interval: WINDOW / rpm,
                },
            ));
        }
        if let (Some(tpm), Some(tokens)) = (self.spec.tokens_per_minute, tokens) {
            out.push((
                1,
                Charge {
                    key: format!("{prefix}:tokens"),
                    cost: tokens.max(1),
                    interval: Duration::from_nanos(
                        (WINDOW.as_nanos() / u128::from(tpm)).max(1) as u64
                    ),
                },
            ));
        }
        out
    }

    /// Charges one call reserving `tokens`, once.
    async fn try_charge(&self, charges: &[(usize, Charge)]) -> Option<Duration> {
        if let Some((store, _)) = &self.shared {
            let list: Vec<Charge> = charges.iter().map(|(_, c)| c.clone()).collect();
            match store.charge(&list, WINDOW).await {
                Ok(answer) => {
                    if self.degraded.swap(false, Ordering::Relaxed) {
                        tracing::info!(model = %self.model, "rate limits are shared again");
                    }
                    return answer;
                }
                Err(why) => {
                    if !self.degraded.swap(true, Ordering::Relaxed) {
                        tracing::warn!(model = %self.model, error = %why, "the shared state cannot be reached: this process counts rate limits alone until it can");
                    }
                }
            }
        }
        let refs: Vec<(usize, &Charge)> = charges.iter().map(|(s, c)| (*s, c)).collect();
        self.local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .charge(Instant::now(), &refs, WINDOW)
    }

    /// Lets one call reserving `tokens` go, waiting for room up to
    /// `deadline` when the manifest says `wait`; else a typed
    /// `rate-limited` error naming the model and its limit.
    pub async fn acquire(&self, tokens: u64, deadline: Option<Instant>) -> Result<(), ModelError> {
        self.acquire_units(1, Some(tokens), deadline).await
    }

    /// [`RateLimiter::acquire`] for `requests` requests (0: tokens only)
    /// reserving `tokens` (`None`: requests only) — a client key's limit
    /// charges each request where it arrives and each model call's tokens
    /// where the call is made.
    pub async fn acquire_units(
        &self,
        requests: u64,
        tokens: Option<u64>,
        deadline: Option<Instant>,
    ) -> Result<(), ModelError> {
        let charges = self.charges(requests, tokens);
        if charges.is_empty() {
            return Ok(());
        }
        let tokens = tokens.unwrap_or(0);
        if let Some(tpm) = self.spec.tokens_per_minute.filter(|tpm| tokens > *tpm) {
            return Err(self.refused(format!(
                "a call reserving {tokens} tokens can never fit its tokens-per-minute of {tpm}; lower max-tokens"
            )));
        }
        loop {
            let Some(wait) = self.try_charge(&charges).await else {
                return Ok(());
            };
            let until = Instant::now() + wait;
            let past_deadline = deadline.is_some_and(|d| until > d);
            if self.spec.on_limit == OnLimit::Fail || past_deadline || wait > WINDOW {
                return Err(self.refused(format!(
                    "room in {} ms{}",
                    wait.as_millis(),
                    if past_deadline {
                        ", after the run's deadline"
                    } else {
                        ""
                    }
                )));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Charges `requests` requests reserving `tokens` if there is room
    /// now: `None` when charged, else how long until there is room.
    pub async fn try_acquire_units(&self, requests: u64, tokens: Option<u64>) -> Option<Duration> {
        let charges = self.charges(requests, tokens);
        if charges.is_empty() {
            return None;
        }
        self.try_charge(&charges).await
    }

    /// The typed error for a call over the limit (the guest sees
    /// `rate-limited`; the ledger `over-limit`).
    fn refused(&self, detail: String) -> ModelError {
        tracing::debug!(
            model = %self.model,
            requests_per_minute = ?self.spec.requests_per_minute,
            tokens_per_minute = ?self.spec.tokens_per_minute,
            %detail,
            "over the rate limit; not sent"
        );
        ModelError::RateLimited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(cost: u64, per_minute: u32) -> Charge {
        Charge {
            key: "k".into(),
            cost,
            interval: WINDOW / per_minute,
        }
    }

    #[test]
    fn a_minute_of_quota_is_taken_at_once_then_it_refills_at_the_rate() {
        let mut local = Local::default();
        let t0 = Instant::now();
        let c = charge(1, 60);
        for i in 0..60 {
            assert_eq!(local.charge(t0, &[(0, &c)], WINDOW), None, "call {i}");
        }
        let wait = local
            .charge(t0, &[(0, &c)], WINDOW)
            .expect("the 61st waits");
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(
            local.charge(t0 + Duration::from_millis(999), &[(0, &c)], WINDOW),
            Some(Duration::from_millis(1))
        );
        assert_eq!(
            local.charge(t0 + Duration::from_secs(1), &[(0, &c)], WINDOW),
            None
        );
    }

    #[test]
    fn a_call_is_charged_to_every_limit_or_to_none() {
        let mut local = Local::default();
        let t0 = Instant::now();
        let req = charge(1, 1000);
        let tok = charge(600, 1000);
        assert_eq!(local.charge(t0, &[(0, &req), (1, &tok)], WINDOW), None);
        // 600 more tokens do not fit in 1000 per minute: neither is charged.
        assert!(local.charge(t0, &[(0, &req), (1, &tok)], WINDOW).is_some());
        let small = charge(400, 1000);
        assert_eq!(local.charge(t0, &[(0, &req), (1, &small)], WINDOW), None);
        // Requests charged twice, not three times: 998 are left.
        for _ in 0..998 {
            assert_eq!(local.charge(t0, &[(0, &req)], WINDOW), None);
        }
        assert!(local.charge(t0, &[(0, &req)], WINDOW).is_some());
    }

    #[tokio::test]
    async fn fail_refuses_at_once_and_wait_waits_for_room() {
        let spec = |on_limit| RateLimitSpec {
            requests_per_minute: Some(600),
            tokens_per_minute: None,
            on_limit,
        };
        let fail = RateLimiter::new("m", spec(OnLimit::Fail));
        for _ in 0..600 {
            fail.acquire(10, None).await.unwrap();
        }
        assert_eq!(fail.acquire(10, None).await, Err(ModelError::RateLimited));
        let wait = RateLimiter::new("m", spec(OnLimit::Wait));
        for _ in 0..600 {
            wait.acquire(10, None).await.unwrap();
        }
        let started = Instant::now();
        wait.acquire(10, None).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(90),
            "{:?}",
            started.elapsed()
        );
        // Past the deadline it does not wait.
        let soon = Instant::now() + Duration::from_millis(10);
        assert_eq!(
            wait.acquire(10, Some(soon)).await,
            Err(ModelError::RateLimited)
        );
    }
}
