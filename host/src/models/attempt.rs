//! One attempt at one model, shared by whole calls (`hub`) and streams
//! (`stream`): the policy in force (a model's, with a node's overrides),
//! admission (circuit breaker, back-pressure, budget reservation), what a
//! failed attempt leads to (retry after a backoff, wait out a throttle or
//! an outage, or give up on the model), and the ledger entry every attempt
//! leaves, with its span. Embeddings (`embed`) use the same admission,
//! retry decision, guard and record, their entries marked
//! [`Operation::Embed`].

use std::time::{Duration, Instant, SystemTime};

use super::breaker::{BreakerState, Permit};
use super::budget::Reservation;
use super::hub::{Caller, HubModel};
use super::ledger::{CallOutcome, LedgerEntry, Operation};
use super::types::{ModelError, ProviderError, Usage};
use crate::spec::{CallPolicy, ModelSpec, PolicyOverride, SpanId};

/// How far the attempts at one model of a chain have got.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tries {
    /// The next attempt's number (0 first).
    pub attempt: u32,
    /// Upstream failures so far.
    failures: u32,
    /// Rate-limit answers so far.
    throttled: u32,
}

/// Lets one attempt at `model` go: the breaker admits it (a caller with
/// no fallback left waits up to its deadline), a throttle in force is
/// waited out, the model's rate limit has room (waiting or failing as the
/// manifest says), and the budgets reserve `tokens` costing `cost`. A refusal
/// comes with the outcome to record for it.
pub(super) async fn admit<'m>(
    caller: Caller<'_>,
    model: &'m HubModel,
    may_fall_back: bool,
    tokens: u64,
    cost: crate::spec::Cost,
) -> Result<(Option<Permit<'m>>, Option<Reservation>), (ModelError, CallOutcome)> {
    let spec = &model.spec;
    if let Some(b) = &model.breaker {
        b.sync_shared().await;
    }
    let permit = match &model.breaker {
        None => None,
        Some(b) => {
            let admitted = match caller.deadline {
                Some(d) if !may_fall_back => b.admit(wait_end(d)).await,
                _ => b.admit_now(),
            };
            match admitted {
                Ok(p) => Some(p),
                Err(refused) => {
                    let err = ModelError::Unavailable(format!(
                        "circuit open for model `{}`: its upstream is failing{}",
                        spec.name,
                        if refused.waited.is_zero() {
                            String::new()
                        } else {
                            format!(
                                "; waited {} ms for it to recover",
                                refused.waited.as_millis()
                            )
                        }
                    ));
                    return Err((err, CallOutcome::CircuitOpen));
                }
            }
        }
    };
    if let Some(until) = model.throttle.until() {
        if caller.deadline.is_some_and(|d| until > d) {
            return Err((ModelError::RateLimited, CallOutcome::RateLimited));
        }
        tokio::time::sleep_until(until.into()).await;
    }
    if let Some(limiter) = &model.limiter {
        if let Err(e) = limiter.acquire(tokens, caller.deadline).await {
            return Err((e, CallOutcome::OverLimit));
        }
    }
    if let Some(limiter) = caller.budget.and_then(|b| b.client_rate()) {
        if let Err(e) = limiter
            .acquire_units(0, Some(tokens), caller.deadline)
            .await
        {
            return Err((e, CallOutcome::OverLimit));
        }
    }
    let reservation = match caller.budget {
        None => None,
        Some(b) => match b.reserve(caller.node, tokens, cost) {
            Ok(mut r) => {
                // Held until the caller's deadline (or the call's own
                // timeout), and a minute more: after that a crashed
                // replica's hold lapses.
                let ttl = caller.deadline.map_or(spec.policy.timeout, |d| {
                    d.saturating_duration_since(Instant::now())
                        .max(spec.policy.timeout)
                }) + Duration::from_secs(60);
                if let Err(refused) = b.hold(&mut r, ttl).await {
                    b.settle(r, 0, crate::spec::Cost::ZERO);
                    let err = ModelError::BudgetExceeded(format!(
                        "{refused}; the call to `{}` was not sent",
                        spec.name
                    ));
                    let outcome = CallOutcome::from(&err);
                    return Err((err, outcome));
                }
                Some(r)
            }
            Err(why) => {
                let err = ModelError::BudgetExceeded(format!(
                    "{why}; the call to `{}` was not sent",
                    spec.name
                ));
                let outcome = CallOutcome::from(&err);
                return Err((err, outcome));
            }
        },
    };
    Ok((permit, reservation))
}

/// After a failed attempt at `model`: reports it to the breaker, pauses
/// the upstream on back-pressure, and either waits before the next
/// attempt (`Ok`) or gives up on this model (`Err`, the error to pass on).
/// Rate-limit answers wait as asked and, within a deadline, use no retry;
/// while the breaker reports an outage, a caller with no fallback left
/// keeps waiting for the upstream, up to its deadline.
pub(super) async fn after_failure(
    caller: Caller<'_>,
    model: &HubModel,
    policy: &CallPolicy,
    may_fall_back: bool,
    tries: &mut Tries,
    e: ProviderError,
    permit: Option<Permit<'_>>,
) -> Result<(), ModelError> {
    tries.attempt += 1;
    // Back-pressure: every caller of this upstream waits as asked; not a
    // failure.
    if e.error == ModelError::RateLimited || e.retry_after.is_some() {
        if let Some(p) = permit {
            p.neutral();
        }
        if !e.retryable {
            return Err(e.error);
        }
        let asked = match (e.retry_after, caller.deadline) {
            (Some(ra), Some(_)) => ra,
            (Some(ra), None) => ra.min(policy.max_backoff),
            (None, _) => backoff(policy, tries.throttled, None),
        };
        // Never less than half the un-jittered backoff, so an upstream
        // answering `Retry-After: 0` over and over is not hammered until
        // the deadline.
        let floor = policy
            .backoff
            .saturating_mul(1u32 << tries.throttled.min(16))
            .min(policy.max_backoff)
            / 2;
        model.throttle.pause(asked.max(floor));
        tries.throttled += 1;
        // With a fallback left (or no deadline), rate limits count as
        // retries, so the fallback gets its turn in time; with none left,
        // they wait up to the deadline.
        if (caller.deadline.is_none() || may_fall_back)
            && tries.failures + tries.throttled > policy.retries
        {
            return Err(e.error);
        }
        return Ok(());
    }
    if !e.retryable {
        if let Some(p) = permit {
            p.neutral();
        }
        return Err(e.error);
    }
    if let Some(p) = permit {
        p.failure();
    }
    tries.failures += 1;
    let open = model
        .breaker
        .as_ref()
        .is_some_and(|b| b.state() != BreakerState::Closed);
    // An outage — the upstream unreachable, or its breaker open — with no
    // fallback left is ridden out up to the deadline instead of spending
    // the retries in a second.
    let riding_out = !may_fall_back && caller.deadline.is_some() && (e.unreachable || open);
    if tries.failures > policy.retries && !riding_out {
        return Err(e.error);
    }
    // An open breaker paces the next attempt itself (it waits for the
    // probes); otherwise back off.
    if !open {
        let wait = backoff(policy, tries.failures - 1, None);
        if tries.failures > policy.retries
            && caller
                .deadline
                .is_some_and(|d| Instant::now() + wait >= wait_end(d))
        {
            return Err(e.error);
        }
        tokio::time::sleep(wait).await;
    }
    Ok(())
}

/// True for errors that no other model of the chain would avoid: budgets,
/// malformed requests, denials.
pub(super) fn ends_chain(e: &ModelError) -> bool {
    matches!(
        e,
        ModelError::BudgetExceeded(_) | ModelError::InvalidRequest(_) | ModelError::Denied(_)
    )
}

/// A model's policy with a node's overrides applied.
pub(super) fn effective(base: &CallPolicy, o: &PolicyOverride) -> CallPolicy {
    CallPolicy {
        timeout: o.timeout.unwrap_or(base.timeout),
        idle_timeout: o.idle_timeout.unwrap_or(base.idle_timeout),
        retries: o.retries.unwrap_or(base.retries),
        backoff: base.backoff,
        max_backoff: base.max_backoff,
        fallback: o.fallback.clone().unwrap_or_else(|| base.fallback.clone()),
    }
}

/// Exponential backoff with full jitter: a random wait up to
/// `backoff × 2^attempt` (capped), but never less than the upstream's
/// `Retry-After` (also capped at `max_backoff`).
pub fn backoff(policy: &CallPolicy, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let ceiling = policy
        .backoff
        .saturating_mul(1u32 << attempt.min(16))
        .min(policy.max_backoff);
    let jittered = ceiling.mul_f64(fastrand::f64());
    match retry_after {
        Some(ra) => jittered.max(ra.min(policy.max_backoff)),
        None => jittered,
    }
}

/// How long a caller with `deadline` may wait for a recovering upstream:
/// to just short of its deadline, so it gets a model error it can handle
/// rather than being cut off by its wall limit.
pub(super) fn wait_end(deadline: Instant) -> Instant {
    let left = deadline.saturating_duration_since(Instant::now());
    deadline - (left / 20).min(Duration::from_millis(500))
}

/// An attempt in flight; records itself as `cancelled` if dropped unfinished.
pub(super) struct Attempt<'a> {
    pub caller: Caller<'a>,
    pub spec: &'a ModelSpec,
    pub attempt: u32,
    pub fallback_from: Option<&'a str>,
    pub stamp: Stamp,
    pub finished: bool,
    pub finish_reason: Option<String>,
    /// What kind of call it is, as the ledger says.
    pub operation: Operation,
}

/// When an attempt started, and its span.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp {
    pub span_id: SpanId,
    pub started: Instant,
    wall: SystemTime,
}

impl Stamp {
    pub fn now() -> Self {
        Self {
            span_id: SpanId::random(),
            started: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The same span, restarted now.
    pub fn restarted(self) -> Self {
        Self {
            started: Instant::now(),
            wall: SystemTime::now(),
            ..self
        }
    }
}

impl Attempt<'_> {
    /// Records the attempt with how it ended.
    pub fn settle(&mut self, usage: Usage, outcome: CallOutcome) {
        self.finished = true;
        record_as(
            self.operation,
            self.caller,
            self.spec,
            self.attempt,
            self.fallback_from,
            usage,
            outcome,
            self.stamp,
            self.finish_reason.take(),
        );
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.finished {
            record_as(
                self.operation,
                self.caller,
                self.spec,
                self.attempt,
                self.fallback_from,
                Usage::default(),
                CallOutcome::Cancelled,
                self.stamp,
                None,
            );
        }
    }
}

/// Records one completion attempt in the caller's ledger, priced at
/// `spec`'s rates.
#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    caller: Caller<'_>,
    spec: &ModelSpec,
    attempt: u32,
    fallback_from: Option<&str>,
    usage: Usage,
    outcome: CallOutcome,
    stamp: Stamp,
    finish_reason: Option<String>,
) {
    record_as(
        Operation::Complete,
        caller,
        spec,
        attempt,
        fallback_from,
        usage,
        outcome,
        stamp,
        finish_reason,
    );
}

/// [`record`] for an attempt of any kind of call.
#[allow(clippy::too_many_arguments)]
pub(super) fn record_as(
    operation: Operation,
    caller: Caller<'_>,
    spec: &ModelSpec,
    attempt: u32,
    fallback_from: Option<&str>,
    usage: Usage,
    outcome: CallOutcome,
    stamp: Stamp,
    finish_reason: Option<String>,
) {
    let cost = spec.price.cost(usage.input_tokens, usage.output_tokens);
    caller.ledger.record(LedgerEntry {
        node: caller.node.to_string(),
        model: spec.name.clone(),
        upstream: spec.upstream.clone(),
        attempt,
        fallback_from: fallback_from.map(str::to_string),
        outcome,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        estimated: usage.estimated,
        cost,
        cost_pusd: cost.0,
        latency_us: stamp.started.elapsed().as_micros() as u64,
        start_unix_us: stamp
            .wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
        span_id: stamp.span_id,
        parent_span_id: caller.trace.map(|t| t.span_id),
        finish_reason,
        operation,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jitters_and_honours_retry_after() {
        let p = CallPolicy {
            timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            retries: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            fallback: vec![],
        };
        for _ in 0..100 {
            assert!(backoff(&p, 0, None) <= Duration::from_millis(100));
            assert!(backoff(&p, 3, None) <= Duration::from_millis(800));
            assert!(backoff(&p, 10, None) <= Duration::from_secs(1));
            assert!(backoff(&p, 0, Some(Duration::from_millis(700))) >= Duration::from_millis(700));
            assert_eq!(
                backoff(&p, 0, Some(Duration::from_secs(30))),
                Duration::from_secs(1),
                "capped"
            );
        }
    }
}
