//! State shared between replicas of one service (`[state]` or
//! `--state-url`): today the models' rate limits, counted in Redis (or
//! Valkey) so three replicas enforce one limit. With no `[state]` every
//! count stays in the process, as before.

mod redis;

pub use self::redis::{RedisState, StateError};

use std::sync::Arc;

use crate::models::ModelHub;
use crate::spec::StateSpec;

/// `hub` with its rate limits counted where `spec` says: unchanged for
/// `local`; in Redis for `redis`, under keys of pipeline `pipeline`.
/// Connecting is lazy: a Redis that is down at start is retried on use,
/// and until it answers each process counts alone (and says so).
pub fn share(hub: ModelHub, spec: &StateSpec, pipeline: &str) -> Result<ModelHub, StateError> {
    match spec {
        StateSpec::Local => Ok(hub),
        StateSpec::Redis { url } => {
            let state = Arc::new(RedisState::connect(url)?);
            Ok(hub.with_rate_store(state, &format!("switchyard:{pipeline}")))
        }
    }
}
