//! Rate limits a manifest puts on a model (`rate-limit = {…}`) and where
//! shared state lives (`[state]`): requests and tokens per minute, what a
//! call over the limit does, and the Redis the replicas share.

/// What a call over a rate limit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnLimit {
    /// Wait for room, up to the run's deadline; then fail `rate-limited`.
    #[default]
    Wait,
    /// Fail `rate-limited` at once.
    Fail,
}

impl OnLimit {
    /// As written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            OnLimit::Wait => "wait",
            OnLimit::Fail => "fail",
        }
    }
}

/// `rate-limit = { requests-per-minute = …, tokens-per-minute = …, on-limit = … }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSpec {
    /// Calls per minute, if limited.
    pub requests_per_minute: Option<u32>,
    /// Tokens (prompt estimate + `max-tokens`, reserved per call) per
    /// minute, if limited.
    pub tokens_per_minute: Option<u64>,
    /// Wait or fail when over.
    pub on_limit: OnLimit,
}

/// Where state shared between replicas lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StateSpec {
    /// In this process only (the default).
    #[default]
    Local,
    /// A Redis (or Valkey) server every replica uses.
    Redis {
        /// `redis://[user:password@]host:port[/db]` (or `rediss://`).
        url: String,
        /// What spend limits do while it cannot be reached.
        budgets_when_down: super::BudgetsWhenDown,
    },
}

impl StateSpec {
    /// The Redis at `url` (`--state-url`), keeping what the manifest says
    /// budgets do while it is down.
    pub fn with_url(&self, url: &str) -> Self {
        let budgets_when_down = match self {
            StateSpec::Redis {
                budgets_when_down, ..
            } => *budgets_when_down,
            StateSpec::Local => super::BudgetsWhenDown::default(),
        };
        StateSpec::Redis {
            url: url.to_string(),
            budgets_when_down,
        }
    }
}
