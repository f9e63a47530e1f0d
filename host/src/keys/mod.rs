//! Client keys for `serve`: who may call `/v1/*`, each key with its own
//! spend limit, rate limit and allowed pipelines. A key is shown once,
//! when created (`sy-<id>-<secret>`); only its SHA-256 is kept, in a JSON
//! file (the embedded default, [`FileKeys`]) or in the Redis every replica
//! shares ([`RedisKeys`]). `switchyard keys create|list|revoke` manage
//! them; `serve` looks presented keys up by hash.

mod file;
mod redis;

pub use self::file::FileKeys;
pub use self::redis::RedisKeys;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::{Cost, OnLimit, Period, RateLimitSpec, SpendLimitSpec};

/// Why a key store failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The keys file cannot be read or written.
    #[error("keys file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The shared state cannot be reached or answered oddly.
    #[error("client keys in the shared state: {0}")]
    State(String),
    /// No key has this id or name.
    #[error("no client key `{0}`; `switchyard keys list` shows them")]
    Unknown(String),
    /// A key with this name exists.
    #[error("a client key named `{0}` exists; revoke it first or pick another name")]
    Taken(String),
    /// The operating system gave no randomness.
    #[error("no randomness for a new key: {0}")]
    Random(String),
    /// A name that cannot be used.
    #[error("client key name `{0}`: use 1-64 letters, digits, `-`, `_` or `.`")]
    BadName(String),
}

/// `spend-limit` of a key, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KeySpend {
    /// US dollars per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
    /// Tokens per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// `minute`, `hour`, `day`, `week` or `ever`.
    pub per: String,
}

/// `rate-limit` of a key, as stored: its requests are counted where they
/// arrive (over the limit: `429`), its tokens at each model call of its
/// runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KeyRate {
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Model tokens per minute (reserved per call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
}

/// One client key, as stored: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClientKey {
    /// Public id (part of the key, shown in logs and records).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// SHA-256 of the whole key, hex.
    pub sha256: String,
    /// Pipelines it may call; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipelines: Vec<String>,
    /// What its runs may spend per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_limit: Option<KeySpend>,
    /// Its request and token rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<KeyRate>,
    /// When it was created (Unix seconds).
    pub created: u64,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<u64>,
}

impl ClientKey {
    /// Its spend limit, resolved (`None` when it has none or it is
    /// malformed — checked when created).
    pub fn spend(&self) -> Option<SpendLimitSpec> {
        let s = self.spend_limit.as_ref()?;
        Some(SpendLimitSpec {
            limit: crate::spec::BudgetSpec {
                tokens: s.tokens,
                cost: s
                    .usd
                    .filter(|u| u.is_finite() && *u >= 0.0)
                    .map(|u| Cost((u * 1e12).round() as u64)),
            },
            per: Period::parse(&s.per)?,
        })
    }

    /// Its rate limit, resolved: over it, requests fail at once (`429`)
    /// and model calls fail `rate-limited`.
    pub fn rate(&self) -> Option<RateLimitSpec> {
        let r = self.rate_limit?;
        (r.requests_per_minute.is_some() || r.tokens_per_minute.is_some()).then_some(
            RateLimitSpec {
                requests_per_minute: r.requests_per_minute,
                tokens_per_minute: r.tokens_per_minute,
                on_limit: OnLimit::Fail,
            },
        )
    }

    /// Whether it may call pipeline `name`.
    pub fn allows(&self, pipeline: &str) -> bool {
        self.pipelines.is_empty() || self.pipelines.iter().any(|p| p == pipeline)
    }
}

/// What `keys create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    /// Its name.
    pub name: String,
    /// Pipelines it may call; empty: any.
    pub pipelines: Vec<String>,
    /// Its spend limit.
    pub spend_limit: Option<KeySpend>,
    /// Its rates.
    pub rate_limit: Option<KeyRate>,
}

impl NewKey {
    /// The key and its secret (shown once): checked, with a fresh id.
    pub fn issue(self, now: u64) -> Result<(ClientKey, String), KeyError> {
        let ok_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok_name {
            return Err(KeyError::BadName(self.name));
        }
        let mut random = [0u8; 38];
        getrandom::fill(&mut random).map_err(|e| KeyError::Random(e.to_string()))?;
        let id = hex::encode(&random[..6]);
        let key = format!("sy-{id}-{}", hex::encode(&random[6..]));
        Ok((
            ClientKey {
                id,
                name: self.name,
                sha256: hash(&key),
                pipelines: self.pipelines,
                spend_limit: self.spend_limit,
                rate_limit: self.rate_limit,
                created: now,
                revoked: None,
            },
            key,
        ))
    }
}

/// The SHA-256 of a presented key, hex: what stores are looked up by. A
/// key's secret is 256 random bits, so a fast hash is enough.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Where client keys are kept.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// The key whose SHA-256 is `sha256`, revoked or not.
    async fn find(&self, sha256: &str) -> Result<Option<ClientKey>, KeyError>;
    /// Every key.
    async fn list(&self) -> Result<Vec<ClientKey>, KeyError>;
    /// Adds `key` (its name must be free among live keys).
    async fn add(&self, key: ClientKey) -> Result<(), KeyError>;
    /// Revokes the key with this id or name; returns it.
    async fn revoke(&self, id_or_name: &str, now: u64) -> Result<ClientKey, KeyError>;
}

/// The key in `keys` whose id or (live) name is `id_or_name`.
fn pick<'k>(keys: &'k mut [ClientKey], id_or_name: &str) -> Option<&'k mut ClientKey> {
    let by_id = keys.iter().position(|k| k.id == id_or_name);
    let i = by_id.or_else(|| {
        keys.iter()
            .position(|k| k.name == id_or_name && k.revoked.is_none())
    })?;
    keys.get_mut(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_checked_and_stored_hashed() {
        let (a, secret_a) = NewKey {
            name: "team-a".into(),
            ..NewKey::default()
        }
        .issue(1)
        .unwrap();
        let (b, secret_b) = NewKey {
            name: "team-a".into(),
            ..NewKey::default()
        }
        .issue(1)
        .unwrap();
        assert_ne!(secret_a, secret_b);
        assert!(secret_a.starts_with(&format!("sy-{}-", a.id)));
        assert_eq!(a.sha256, hash(&secret_a));
        assert!(!serde_json::to_string(&a).unwrap().contains(&secret_a[16..]));
        assert_ne!(a.id, b.id);
        for bad in ["", "a b", "x/y", &"n".repeat(65)] {
            assert!(NewKey {
                name: bad.into(),
                ..NewKey::default()
            }
            .issue(1)
            .is_err());
        }
        let mut scoped = a.clone();
        assert!(scoped.allows("any"));
        scoped.pipelines = vec!["p".into()];
        assert!(scoped.allows("p") && !scoped.allows("q"));
    }
}
