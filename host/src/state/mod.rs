//! State shared between replicas of one service (`[state]` or
//! `--state-url`): the models' and client keys' rate limits and the spend
//! limits, counted in Redis (or Valkey) so three replicas enforce one
//! limit. With no `[state]` every
//! count stays in the process, as before.

mod redis;

pub use self::redis::{RedisState, StateError};

use std::sync::Arc;

use crate::models::ModelHub;
use crate::spec::StateSpec;

/// `hub` with its rate and spend limits counted where `spec` says:
/// unchanged for `local`; in Redis for `redis`, under keys of pipeline
/// `pipeline` — and that Redis, for what else the service keeps there
/// (client keys, readiness). Connecting is lazy: a Redis that is down at
/// start is retried on use, and until it answers rate limits are counted
/// per process and spend limits do what `budgets-when-down` says.
pub fn share(
    hub: ModelHub,
    spec: &StateSpec,
    pipeline: &str,
) -> Result<(ModelHub, Option<Arc<RedisState>>), StateError> {
    match spec {
        StateSpec::Local => Ok((hub, None)),
        StateSpec::Redis {
            url,
            budgets_when_down,
        } => {
            let state = Arc::new(RedisState::connect(url)?);
            let prefix = format!("switchyard:{pipeline}");
            let hub = hub
                .with_rate_store(state.clone(), &prefix)
                .with_spend_store(state.clone(), *budgets_when_down, &prefix)
                .with_cache_store(state.clone(), &prefix)
                .with_breaker_store(state.clone(), &prefix);
            Ok((hub, Some(state)))
        }
    }
}
