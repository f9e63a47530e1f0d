//! The Redis (or Valkey) backend: one reconnecting connection manager per
//! process (bounded connect and response times, retried with backoff), and
//! the rate-limit charge as one Lua script, so checking and charging every
//! limit of a call is atomic across replicas and timed by the server's
//! clock, not the replicas'.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::models::{Charge, RateStore};

/// How long one round trip to Redis may take before the caller falls back.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the state backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The URL is not a usable Redis URL.
    #[error("state backend `{url}`: {reason}")]
    BadUrl {
        /// The URL, password removed.
        url: String,
        /// Why.
        reason: String,
    },
}

/// GCRA over every key at once: all charged, or none and the wait (ms)
/// until the last of them has room. TIME is the server's clock.
const CHARGE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = tonumber(ARGV[1])
local news = {}
local wait = 0
for i = 1, #KEYS do
  local cost = tonumber(ARGV[2 * i])
  local interval = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new = tat + cost * interval
  local allow_at = new - window
  if allow_at > now and allow_at - now > wait then wait = allow_at - now end
  news[i] = new
end
if wait > 0 then return math.ceil(wait) end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], tostring(news[i]), 'PX', math.ceil(news[i] - now) + 1000)
end
return 0
";

/// A Redis every replica shares.
pub struct RedisState {
    conn: ConnectionManager,
    charge: redis::Script,
    url: String,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisState({})", self.url)
    }
}

/// `url` without its password, for messages.
fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

impl RedisState {
    /// A lazily connecting, reconnecting client of the Redis at `url`.
    pub fn connect(url: &str) -> Result<Self, StateError> {
        let bad = |e: redis::RedisError| StateError::BadUrl {
            url: shown(url),
            reason: e.to_string(),
        };
        let client = redis::Client::open(url).map_err(bad)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(bad)?;
        Ok(Self {
            conn,
            charge: redis::Script::new(CHARGE),
            url: shown(url),
        })
    }
}

#[async_trait::async_trait]
impl RateStore for RedisState {
    async fn charge(
        &self,
        charges: &[Charge],
        window: Duration,
    ) -> Result<Option<Duration>, String> {
        let mut invocation = self.charge.prepare_invoke();
        invocation.arg(window.as_secs_f64() * 1e3);
        for c in charges {
            invocation
                .key(&c.key)
                .arg(c.cost)
                .arg(c.interval.as_secs_f64() * 1e3);
        }
        // A connection that broke since the last call fails once, then
        // the manager reconnects: one more try, so a Redis that came back
        // is used at once.
        let mut last = String::new();
        for _ in 0..2 {
            let mut conn = self.conn.clone();
            let call = invocation.invoke_async::<u64>(&mut conn);
            match tokio::time::timeout(RESPONSE_TIMEOUT * 2, call).await {
                Ok(Ok(0)) => return Ok(None),
                Ok(Ok(ms)) => return Ok(Some(Duration::from_millis(ms))),
                Ok(Err(e))
                    if e.is_io_error()
                        || e.is_connection_dropped()
                        || e.is_connection_refusal() =>
                {
                    last = format!("{}: {e}", self.url);
                }
                Ok(Err(e)) => return Err(format!("{}: {e}", self.url)),
                Err(_) => {
                    return Err(format!(
                        "{}: no answer within {} ms",
                        self.url,
                        (RESPONSE_TIMEOUT * 2).as_millis()
                    ))
                }
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            super::shown("redis://:s3cret@10.0.0.1:6379/0"),
            "redis://…@10.0.0.1:6379/0"
        );
        assert_eq!(
            super::shown("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
