//! The Redis (or Valkey) backend: one reconnecting connection manager per
//! process (bounded connect and response times, retried with backoff), and
//! each check-and-charge as one Lua script, so it is atomic across
//! replicas and timed by the server's clock, not the replicas': the
//! rate-limit charge (GCRA), and the spend limits' reserve and settle
//! (holds by attempt id with an expiry; money in nanodollars). It runs on
//! one Redis or Valkey primary (the scripts reach keys named in their
//! records, which Redis Cluster would refuse across slots).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::models::spend::{Counts, Hold, Over, SpendStore};
use crate::models::{BreakerStore, CacheStore, Charge, Cost, RateStore};

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

/// Lapsed holds given back first (their records name their counters),
/// then every step of a spend script. Amounts are passed on as the
/// strings they came in, so HINCRBY gets exact integers.
const PURGE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function release(id)
  local rec = redis.call('HGET', KEYS[2], id)
  if rec then
    local h = cjson.decode(rec)
    for _, k in ipairs(h.k) do
      if tonumber(h.c) ~= 0 then redis.call('HINCRBY', k, 'held', '-' .. h.c) end
      if tonumber(h.t) ~= 0 then redis.call('HINCRBY', k, 'held_tokens', '-' .. h.t) end
    end
    redis.call('HDEL', KEYS[2], id)
  end
  redis.call('ZREM', KEYS[1], id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 256)) do
  release(id)
end
";

/// Reserve: idempotent per id; every counter has room, or none is
/// touched and the answer names the first that has not.
const RESERVE: &str = r"
local id = ARGV[4]
if redis.call('HEXISTS', KEYS[2], id) == 1 or redis.call('ZSCORE', KEYS[3], id) then
  return {1}
end
local cost = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
for i = 4, #KEYS do
  local j = 4 + 3 * (i - 4)
  local lc = tonumber(ARGV[j + 1])
  local lt = tonumber(ARGV[j + 2])
  local v = redis.call('HMGET', KEYS[i], 'spent', 'held', 'spent_tokens', 'held_tokens')
  local c = (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
  local tk = (tonumber(v[3]) or 0) + (tonumber(v[4]) or 0)
  if (lc >= 0 and c + cost > lc) or (lt >= 0 and tk + tokens > lt) then
    return {0, i - 3, c, tk}
  end
end
local keys = {}
for i = 4, #KEYS do
  local j = 4 + 3 * (i - 4)
  redis.call('HINCRBY', KEYS[i], 'held', ARGV[2])
  redis.call('HINCRBY', KEYS[i], 'held_tokens', ARGV[3])
  local keep = tonumber(ARGV[j + 3])
  if keep >= 0 then redis.call('EXPIRE', KEYS[i], keep) end
  keys[#keys + 1] = KEYS[i]
end
redis.call('HSET', KEYS[2], id, cjson.encode({c = ARGV[2], t = ARGV[3], k = keys}))
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
return {1}
";

/// Settle: idempotent per id (settled ids are kept ten minutes); the
/// hold, if it has not lapsed, is given back, and the use charged.
const SETTLE: &str = r"
local id = ARGV[3]
if redis.call('ZSCORE', KEYS[3], id) then return 0 end
release(id)
for i = 4, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'spent', ARGV[1])
  redis.call('HINCRBY', KEYS[i], 'spent_tokens', ARGV[2])
end
redis.call('ZADD', KEYS[3], now, id)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 600000)
return 1
";

/// A Redis every replica shares.
pub struct RedisState {
    client: redis::Client,
    conn: ConnectionManager,
    charge: redis::Script,
    reserve: redis::Script,
    settle: redis::Script,
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
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(bad)?;
        Ok(Self {
            client,
            conn,
            charge: redis::Script::new(CHARGE),
            reserve: redis::Script::new(&format!("{PURGE}{RESERVE}")),
            settle: redis::Script::new(&format!("{PURGE}{SETTLE}")),
            url: shown(url),
        })
    }
}

impl RedisState {
    /// Runs one command, with the same bounds and one retry as scripts
    /// (for idempotent commands only).
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, String> {
        self.retried(|mut conn| async move { cmd.query_async::<T>(&mut conn).await })
            .await
    }

    /// One round trip made by `call` on the shared connection, bounded in
    /// time: a connection that broke since the last call fails once, then
    /// the manager reconnects, so it is tried once more and a Redis that
    /// came back is used at once. Callers send only idempotent work.
    async fn retried<T, F, Fut>(&self, call: F) -> Result<T, String>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let mut last = String::new();
        for _ in 0..2 {
            match tokio::time::timeout(RESPONSE_TIMEOUT * 2, call(self.conn.clone())).await {
                Ok(Ok(v)) => return Ok(v),
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

    /// A connection of its own for subscribing to channels.
    pub(crate) async fn pubsub(&self) -> Result<redis::aio::PubSub, String> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub()).await {
            Ok(Ok(ps)) => Ok(ps),
            Ok(Err(e)) => Err(format!("{}: {e}", self.url)),
            Err(_) => Err(format!(
                "{}: no connection within {} ms",
                self.url,
                CONNECT_TIMEOUT.as_millis()
            )),
        }
    }

    /// Whether it answers `PING` now.
    pub async fn ping(&self) -> Result<(), String> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Runs a script (every one is idempotent), as [`RedisState::query`]
    /// runs a command.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, String> {
        self.retried(|mut conn| async move { invocation.invoke_async::<T>(&mut conn).await })
            .await
    }

    /// The keys every spend script takes first: the holds by expiry, the
    /// hold records, the settled ids; then the hold's counters.
    fn spend_keys(invocation: &mut redis::ScriptInvocation<'_>, hold: &Hold) {
        let prefix = &hold.prefix;
        invocation
            .key(format!("{prefix}:spend-holds"))
            .key(format!("{prefix}:spend-hold-records"))
            .key(format!("{prefix}:spend-settled"));
        for c in &hold.counters {
            invocation.key(&c.key);
        }
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
        match self.invoke::<u64>(&invocation).await? {
            0 => Ok(None),
            ms => Ok(Some(Duration::from_millis(ms))),
        }
    }
}

#[async_trait::async_trait]
impl CacheStore for RedisState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        self.query(&cmd).await
    }

    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), String> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        self.query::<()>(&cmd).await
    }
}

#[async_trait::async_trait]
impl BreakerStore for RedisState {
    async fn open_for(&self, key: &str) -> Result<Option<Duration>, String> {
        let mut cmd = redis::cmd("PTTL");
        cmd.arg(key);
        let ms: i64 = self.query(&cmd).await?;
        Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
    }

    async fn set_open(&self, key: &str, cool_down: Duration) -> Result<(), String> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg("open")
            .arg("PX")
            .arg(cool_down.as_millis().max(1) as u64);
        self.query::<()>(&cmd).await
    }

    async fn set_closed(&self, key: &str) -> Result<(), String> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        self.query::<()>(&cmd).await
    }
}

/// Money in whole nanodollars, rounded up: Lua counts in doubles, exact
/// to 2^53 — $9 million in nanodollars, not $9 thousand in picodollars.
fn nanos_up(c: Cost) -> u64 {
    c.0.div_ceil(1000)
}

#[async_trait::async_trait]
impl SpendStore for RedisState {
    async fn reserve(&self, hold: &Hold) -> Result<Result<(), Over>, String> {
        let mut invocation = self.reserve.prepare_invoke();
        Self::spend_keys(&mut invocation, hold);
        invocation
            .arg(hold.ttl.as_millis() as u64)
            .arg(nanos_up(hold.cost))
            .arg(hold.tokens)
            .arg(&hold.id);
        for c in &hold.counters {
            // Limits rounded down, spend rounded up: the shared count
            // never lets through what the exact one would refuse.
            invocation
                .arg(c.spec.limit.cost.map_or(-1, |l| (l.0 / 1000) as i64))
                .arg(c.spec.limit.tokens.map_or(-1, |t| t as i64))
                .arg(c.keep_for.map_or(-1, |d| d.as_secs() as i64));
        }
        let answer: Vec<u64> = self.invoke(&invocation).await?;
        match answer.as_slice() {
            [1] => Ok(Ok(())),
            [0, counter, cost, tokens] => Ok(Err(Over {
                counter: (*counter as usize).saturating_sub(1),
                tokens: *tokens,
                cost: Cost(cost.saturating_mul(1000)),
            })),
            other => Err(format!("{}: unexpected answer {other:?}", self.url)),
        }
    }

    async fn settle(&self, hold: &Hold, tokens: u64, cost: Cost) -> Result<(), String> {
        let mut invocation = self.settle.prepare_invoke();
        Self::spend_keys(&mut invocation, hold);
        invocation.arg(nanos_up(cost)).arg(tokens).arg(&hold.id);
        self.invoke::<u64>(&invocation).await.map(|_| ())
    }

    async fn counts(&self, key: &str) -> Result<Counts, String> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(key)
            .arg(&["spent", "held", "spent_tokens", "held_tokens"][..]);
        let v: Vec<Option<i64>> = self.query(&cmd).await?;
        let at = |i: usize| v.get(i).copied().flatten().unwrap_or(0).max(0) as u64;
        Ok(Counts {
            spent: Cost(at(0).saturating_mul(1000)),
            held: Cost(at(1).saturating_mul(1000)),
            spent_tokens: at(2),
            held_tokens: at(3),
        })
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
