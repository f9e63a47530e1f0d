//! The response cache, opt-in per node: exact match on the normalised
//! request (model, messages, generation settings), with a TTL and a bound
//! on entries (oldest evicted first). A hit costs nothing and is recorded in
//! the ledger as `cache-hit`. With a shared [`CacheStore`] (Redis, for
//! replicas) entries live only there — keyed by pipeline, node, the
//! component digest that made them and the request — so an answer cached by
//! one replica is a hit on every other, and no replica reads a local copy
//! first. A store that cannot answer is skipped: the call goes upstream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::types::{ChatRequest, ChatResponse, ResponseFormat, ToolCall, Usage};
use crate::spec::CacheSpec;

/// The largest cached answer read back from a shared store.
pub const MAX_SHARED_ENTRY: usize = 4 << 20;

/// Where replicas share cached answers.
#[async_trait::async_trait]
pub trait CacheStore: Send + Sync + std::fmt::Debug {
    /// The entry `key`, if present.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Stores `value` under `key` for `ttl`.
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), String>;
}

/// An answer as a shared store keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    content: String,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
    input_tokens: u64,
    output_tokens: u64,
}

impl Stored {
    fn of(r: &ChatResponse) -> Self {
        Self {
            content: r.content.clone(),
            finish_reason: r.finish_reason.clone(),
            tool_calls: r.tool_calls.clone(),
            input_tokens: r.usage.input_tokens,
            output_tokens: r.usage.output_tokens,
        }
    }

    fn answer(self, model: &str) -> ChatResponse {
        ChatResponse {
            content: self.content,
            usage: Usage {
                input_tokens: self.input_tokens,
                output_tokens: self.output_tokens,
                estimated: false,
            },
            model: model.to_string(),
            finish_reason: self.finish_reason,
            tool_calls: self.tool_calls,
        }
    }
}

/// Answers by key, and keys in insertion order (for eviction).
type Entries = (
    HashMap<[u8; 32], (Instant, ChatResponse)>,
    VecDeque<[u8; 32]>,
);

/// One node's cache.
#[derive(Debug)]
pub struct ResponseCache {
    spec: CacheSpec,
    inner: Mutex<Entries>,
    /// `node:component-digest`: whose entries these are, in a shared store.
    scope: RwLock<String>,
}

/// The cache key: a digest of everything that shapes the answer, with
/// message text trimmed (so trailing whitespace does not miss).
pub fn key(req: &ChatRequest) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(req.model.as_bytes());
    for m in &req.messages {
        h.update([0, m.role as u8]);
        h.update(m.content.trim().as_bytes());
    }
    h.update(req.max_tokens.unwrap_or(0).to_le_bytes());
    h.update(req.temperature.map_or(-1.0f32, |t| t).to_le_bytes());
    match &req.format {
        ResponseFormat::Text => h.update([1]),
        ResponseFormat::JsonObject => h.update([2]),
        ResponseFormat::JsonSchema(s) => {
            h.update([3]);
            h.update(s.as_bytes());
        }
    }
    if let Some(extra) = &req.extra {
        h.update(serde_json::to_vec(extra).unwrap_or_default());
    }
    // Tools and tool calls shape the answer too (nothing is added for a
    // request without them, so older keys are unchanged).
    for m in req
        .messages
        .iter()
        .filter(|m| !m.tool_calls.is_empty() || m.tool_call_id.is_some())
    {
        h.update([5]);
        h.update(serde_json::to_vec(&(&m.tool_calls, &m.tool_call_id)).unwrap_or_default());
    }
    if !req.tools.is_empty() {
        h.update([4]);
        h.update(serde_json::to_vec(&req.tools).unwrap_or_default());
        h.update(req.tool_choice.to_json().to_string().as_bytes());
    }
    h.finalize().into()
}

impl ResponseCache {
    /// An empty cache.
    pub fn new(spec: CacheSpec) -> Self {
        Self {
            spec,
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
            scope: RwLock::new(String::new()),
        }
    }

    /// Names whose entries these are in a shared store: node `node`
    /// running the component with SHA-256 `digest`.
    pub fn scoped(self, node: &str, digest: &str) -> Self {
        self.rescope(node, digest);
        self
    }

    /// [`ResponseCache::scoped`] after a swap: new entries are the new
    /// component's.
    pub fn rescope(&self, node: &str, digest: &str) {
        *self.scope.write().unwrap_or_else(|p| p.into_inner()) =
            format!("{node}:{}", &digest[..digest.len().min(16)]);
    }

    /// The shared store's key of `req`'s entry, under `prefix`.
    fn shared_key(&self, prefix: &str, req: &ChatRequest) -> String {
        let hex = hex::encode(key(req));
        let scope = self.scope.read().unwrap_or_else(|p| p.into_inner());
        format!("{prefix}:cache:{scope}:{hex}")
    }

    /// A fresh answer for `req` from `store` (under `prefix`); `None` on a
    /// miss, an unusable entry, or a store that cannot answer.
    pub async fn get_shared(
        &self,
        store: &dyn CacheStore,
        prefix: &str,
        req: &ChatRequest,
    ) -> Option<ChatResponse> {
        let key = self.shared_key(prefix, req);
        let bytes = match store.get(&key).await {
            Ok(found) => found?,
            Err(why) => {
                tracing::debug!(error = %why, "shared cache skipped");
                return None;
            }
        };
        if bytes.len() > MAX_SHARED_ENTRY {
            return None;
        }
        let stored: Stored = serde_json::from_slice(&bytes).ok()?;
        let answer = stored.answer(&req.model);
        super::tools::check_answer(&answer).ok()?;
        Some(answer)
    }

    /// Stores `resp` for `req` in `store` (under `prefix`) for the TTL; a
    /// store that cannot take it is skipped.
    pub async fn put_shared(
        &self,
        store: &dyn CacheStore,
        prefix: &str,
        req: &ChatRequest,
        resp: &ChatResponse,
    ) {
        if self.spec.max_entries == 0 {
            return;
        }
        let Ok(value) = serde_json::to_vec(&Stored::of(resp)) else {
            return;
        };
        let key = self.shared_key(prefix, req);
        if let Err(why) = store.put(&key, value, self.spec.ttl).await {
            tracing::debug!(error = %why, "shared cache not written");
        }
    }

    /// A fresh cached answer for `req`, if any.
    pub fn get(&self, req: &ChatRequest) -> Option<ChatResponse> {
        let k = key(req);
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match g.0.get(&k) {
            Some((at, resp)) if at.elapsed() < self.spec.ttl => Some(resp.clone()),
            Some(_) => {
                g.0.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Stores an answer, evicting the oldest past the bound.
    pub fn put(&self, req: &ChatRequest, resp: &ChatResponse) {
        if self.spec.max_entries == 0 {
            return;
        }
        let k = key(req);
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.0.insert(k, (Instant::now(), resp.clone())).is_none() {
            g.1.push_back(k);
        }
        while g.0.len() > self.spec.max_entries {
            match g.1.pop_front() {
                Some(old) => {
                    g.0.remove(&old);
                }
                None => break,
            }
        }
        // Keep the order queue from growing with keys already evicted by TTL.
        if g.1.len() > self.spec.max_entries * 2 {
            let live: Vec<[u8; 32]> =
                g.1.iter()
                    .filter(|k| g.0.contains_key(*k))
                    .copied()
                    .collect();
            g.1 = live.into();
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ChatMessage, ChatRole, Usage};
    use std::time::Duration;

    fn req(t: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::new(ChatRole::User, t)],
            ..Default::default()
        }
    }
    fn resp(t: &str) -> ChatResponse {
        ChatResponse {
            content: t.into(),
            usage: Usage::default(),
            model: "m".into(),
            finish_reason: None,
            tool_calls: Vec::new(),
        }
    }

    #[test]
    fn cache_hits_normalised_requests_and_expires() {
        let c = ResponseCache::new(CacheSpec {
            ttl: Duration::from_millis(40),
            max_entries: 10,
        });
        c.put(&req("hello"), &resp("a"));
        assert_eq!(
            c.get(&req("hello  ")).unwrap().content,
            "a",
            "trailing space still hits"
        );
        assert!(c.get(&req("other")).is_none());
        std::thread::sleep(Duration::from_millis(50));
        assert!(c.get(&req("hello")).is_none(), "expired");
    }

    #[test]
    fn cache_is_bounded_oldest_first() {
        let c = ResponseCache::new(CacheSpec {
            ttl: Duration::from_secs(60),
            max_entries: 2,
        });
        for t in ["a", "b", "c"] {
            c.put(&req(t), &resp(t));
        }
        assert_eq!(c.len(), 2);
        assert!(c.get(&req("a")).is_none());
        assert!(c.get(&req("c")).is_some());
    }
}
