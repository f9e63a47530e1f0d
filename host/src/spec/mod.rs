//! The resolved vocabulary every layer shares: money and prices, model
//! specs and call policies, budgets, cache and breaker settings, node roles
//! and limits, and their defaults. A leaf: it depends on nothing else in
//! the crate. `config` produces these from a manifest; `models`, `engine`
//! and `pipeline` read them, so none of those needs `config`'s parser.

mod auth;
mod component;
mod engine;
mod model;
mod money;
mod node;
mod rate;
mod recording;
mod spend;
mod stream;
mod telemetry;
mod trace;

pub use auth::ClientsSpec;
pub use component::{
    ComponentSource, OciRef, OciRefError, TrustRequirement, TrustedKey, OCI_SCHEME,
};
pub use engine::{EngineSpec, DEFAULT_MAX_INSTANCES, MAX_INSTANCES};
pub use model::{
    BreakerSpec, BudgetSpec, CacheSpec, CallPolicy, ModelKind, ModelSpec, PolicyOverride,
    ProviderSpec, SimSpec, DEFAULT_BACKOFF, DEFAULT_DEADLINE, DEFAULT_MAX_BACKOFF,
    DEFAULT_MODEL_TIMEOUT, DEFAULT_RETRIES, DEFAULT_SIM_DIMENSIONS, DEFAULT_STREAM_IDLE_TIMEOUT,
    MAX_DIMENSIONS,
};
pub use money::{Cost, Price};
pub use node::{Limits, Role, DEFAULT_STACK_KB, MAX_STACK_KB, MIN_STACK_KB};
pub use rate::{OnLimit, RateLimitSpec, StateSpec};
pub use recording::RecordingSpec;
pub use spend::{BudgetsWhenDown, Period, SpendLimitSpec};
pub use stream::{LateReject, StreamSpec, WindowRule, MAX_WINDOW};
pub use telemetry::TelemetrySpec;
pub use trace::{SpanId, SpanParent, TraceId};
