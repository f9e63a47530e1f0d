//! Client keys in the Redis every replica shares (`[state]`): one hash,
//! `switchyard:keys`, from each key's SHA-256 to its record as JSON, so a
//! replica finds a presented key in one round trip and a key created or
//! revoked on any machine counts on all of them at once.

use std::sync::Arc;

use super::{pick, ClientKey, KeyError, KeyStore};
use crate::state::RedisState;

/// The hash holding every key.
const KEYS: &str = "switchyard:keys";

/// Adds a key unless a live key has its name: all in one step.
const ADD: &str = r"
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  local k = cjson.decode(v)
  if k.name == ARGV[3] and k.revoked == nil then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
";

/// Keys in Redis.
#[derive(Debug, Clone)]
pub struct RedisKeys {
    state: Arc<RedisState>,
}

impl RedisKeys {
    /// Keys in the Redis `state` talks to.
    pub fn new(state: Arc<RedisState>) -> Self {
        Self { state }
    }
}

fn decode(v: &str) -> Result<ClientKey, KeyError> {
    serde_json::from_str(v).map_err(|e| KeyError::State(format!("a malformed key record: {e}")))
}

#[async_trait::async_trait]
impl KeyStore for RedisKeys {
    async fn find(&self, sha256: &str) -> Result<Option<ClientKey>, KeyError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(KEYS).arg(sha256);
        let v: Option<String> = self.state.query(&cmd).await.map_err(KeyError::State)?;
        v.as_deref().map(decode).transpose()
    }

    async fn list(&self) -> Result<Vec<ClientKey>, KeyError> {
        let mut cmd = redis::cmd("HVALS");
        cmd.arg(KEYS);
        let values: Vec<String> = self.state.query(&cmd).await.map_err(KeyError::State)?;
        let mut keys = values
            .iter()
            .map(|v| decode(v))
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
        Ok(keys)
    }

    async fn add(&self, key: ClientKey) -> Result<(), KeyError> {
        let record = serde_json::to_string(&key).map_err(|e| KeyError::State(e.to_string()))?;
        let script = redis::Script::new(ADD);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(KEYS)
            .arg(&key.sha256)
            .arg(record)
            .arg(&key.name);
        let added: u64 = self
            .state
            .invoke(&invocation)
            .await
            .map_err(KeyError::State)?;
        if added == 0 {
            return Err(KeyError::Taken(key.name));
        }
        Ok(())
    }

    async fn revoke(&self, id_or_name: &str, now: u64) -> Result<ClientKey, KeyError> {
        let mut keys = self.list().await?;
        let key =
            pick(&mut keys, id_or_name).ok_or_else(|| KeyError::Unknown(id_or_name.to_string()))?;
        key.revoked.get_or_insert(now);
        let record = serde_json::to_string(&*key).map_err(|e| KeyError::State(e.to_string()))?;
        let mut cmd = redis::cmd("HSET");
        cmd.arg(KEYS).arg(&key.sha256).arg(record);
        let _: u64 = self.state.query(&cmd).await.map_err(KeyError::State)?;
        Ok(key.clone())
    }
}
