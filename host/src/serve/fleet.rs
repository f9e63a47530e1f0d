//! Swaps that reach every replica (`[state]` on Redis). A swap accepted
//! through one replica's admin API is published: the component's bytes go
//! into Redis by SHA-256, the node's wanted digest into the pipeline's
//! `desired` table, and a message onto its channel. Every replica —
//! woken by the message, and every few seconds regardless, so one that
//! missed it (or started later) catches up — fetches the bytes, checks
//! their digest, and swaps them in through the same checks as any swap
//! (trust, role, edge schemas). Each replica reports which digest it runs
//! per node, or why it refused one, and the admin answers show it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::live::LivePipeline;
use crate::state::RedisState;

/// How often a replica reconciles without being told to.
const RECONCILE_EVERY: Duration = Duration::from_secs(2);
/// A replica not heard from for this long is left out of the answers.
const GONE_AFTER: Duration = Duration::from_secs(30);
/// A component no node wants any more is kept this long (seconds).
const KEEP_OLD_S: u64 = 86_400;

/// What one replica says it runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReplicaReport {
    /// Node → the SHA-256 of the component it runs.
    pub nodes: BTreeMap<String, String>,
    /// Node → a published digest it refused, and why.
    #[serde(default)]
    pub refused: BTreeMap<String, Refusal>,
    /// When it reported (Unix seconds).
    pub seen: u64,
}

/// A published component a replica would not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The digest refused.
    pub sha256: String,
    /// Why.
    pub reason: String,
}

/// This replica's part in the fleet.
pub struct Fleet {
    state: Arc<RedisState>,
    /// This replica's id.
    id: String,
    prefix: String,
    live: Weak<LivePipeline>,
    wake: Notify,
    refused: Mutex<BTreeMap<String, Refusal>>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").field("id", &self.id).finish()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Fleet {
    /// Joins the fleet of pipeline `pipeline` through `state`, and starts
    /// listening for swaps (needs a Tokio runtime).
    pub fn start(state: Arc<RedisState>, live: &Arc<LivePipeline>, pipeline: &str) -> Arc<Self> {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let id = format!(
            "{}{:08x}",
            if host.is_empty() {
                String::new()
            } else {
                format!("{host}-")
            },
            fastrand::u32(..)
        );
        let fleet = Arc::new(Self {
            state,
            id,
            prefix: format!("switchyard:{pipeline}"),
            live: Arc::downgrade(live),
            wake: Notify::new(),
            refused: Mutex::default(),
        });
        tokio::spawn(listen(Arc::downgrade(&fleet)));
        tokio::spawn(reconcile_loop(Arc::downgrade(&fleet)));
        fleet
    }

    /// This replica's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    fn channel(&self) -> String {
        self.key("swaps")
    }

    /// Publishes a swap this replica accepted: `bytes` (SHA-256 `sha256`)
    /// for `node`.
    pub async fn publish(&self, node: &str, bytes: &[u8], sha256: &str) -> Result<(), String> {
        let mut set = redis::cmd("SET");
        set.arg(self.key(&format!("component:{sha256}"))).arg(bytes);
        self.state.query::<()>(&set).await?;
        let mut old = redis::cmd("HGET");
        old.arg(self.key("desired")).arg(node);
        let previous: Option<String> = self.state.query(&old).await?;
        let mut want = redis::cmd("HSET");
        want.arg(self.key("desired")).arg(node).arg(sha256);
        self.state.query::<()>(&want).await?;
        if let Some(prev) = previous.filter(|p| p != sha256) {
            let mut expire = redis::cmd("EXPIRE");
            expire
                .arg(self.key(&format!("component:{prev}")))
                .arg(KEEP_OLD_S);
            self.state.query::<()>(&expire).await?;
        }
        self.report().await?;
        let mut publish = redis::cmd("PUBLISH");
        publish
            .arg(self.channel())
            .arg(serde_json::json!({ "node": node, "sha256": sha256, "by": self.id }).to_string());
        self.state.query::<()>(&publish).await
    }

    /// Writes what this replica runs now.
    pub async fn report(&self) -> Result<(), String> {
        let Some(live) = self.live.upgrade() else {
            return Ok(());
        };
        let report = ReplicaReport {
            nodes: live
                .current()
                .nodes()
                .iter()
                .map(|(n, l)| (n.clone(), l.component.load.sha256.clone()))
                .collect(),
            refused: self
                .refused
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            seen: now(),
        };
        let mut cmd = redis::cmd("HSET");
        cmd.arg(self.key("replicas"))
            .arg(&self.id)
            .arg(serde_json::to_string(&report).map_err(|e| e.to_string())?);
        self.state.query::<()>(&cmd).await
    }

    /// What every replica heard from lately runs: id → report.
    pub async fn replicas(&self) -> Result<BTreeMap<String, ReplicaReport>, String> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.key("replicas"));
        let all: BTreeMap<String, String> = self.state.query(&cmd).await?;
        let fresh = now().saturating_sub(GONE_AFTER.as_secs());
        Ok(all
            .into_iter()
            .filter_map(|(id, v)| Some((id, serde_json::from_str::<ReplicaReport>(&v).ok()?)))
            .filter(|(_, r)| r.seen >= fresh)
            .collect())
    }

    /// Per replica, the digest node `node` runs (or what it refused), as
    /// JSON for the admin answers.
    pub async fn node_view(&self, node: &str) -> Value {
        match self.replicas().await {
            Ok(all) => Value::Object(
                all.into_iter()
                    .map(|(id, r)| {
                        let mut v = serde_json::json!({ "sha256": r.nodes.get(node) });
                        if let Some(refused) = r.refused.get(node) {
                            v["refused"] = serde_json::json!(refused);
                        }
                        (id, v)
                    })
                    .collect(),
            ),
            Err(why) => serde_json::json!({ "error": why }),
        }
    }

    /// Waits (up to `limit`) until every replica heard from runs `sha256`
    /// for `node` or refused it; then what each one says.
    pub async fn settled(&self, node: &str, sha256: &str, limit: Duration) -> Value {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let done = self.replicas().await.is_ok_and(|all| {
                all.values().all(|r| {
                    r.nodes.get(node).is_some_and(|s| s == sha256)
                        || r.refused.get(node).is_some_and(|x| x.sha256 == sha256)
                })
            });
            if done || tokio::time::Instant::now() >= until {
                return self.node_view(node).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Brings this replica to the digests the fleet wants.
    async fn reconcile(&self) -> Result<(), String> {
        let Some(live) = self.live.upgrade() else {
            return Ok(());
        };
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.key("desired"));
        let desired: BTreeMap<String, String> = self.state.query(&cmd).await?;
        for (node, sha256) in desired {
            let current = live
                .current()
                .node(&node)
                .map(|n| n.component.load.sha256.clone());
            let already_refused = self
                .refused
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&node)
                .is_some_and(|r| r.sha256 == sha256);
            if current.as_deref() == Some(sha256.as_str()) || current.is_none() || already_refused {
                continue;
            }
            let mut get = redis::cmd("GET");
            get.arg(self.key(&format!("component:{sha256}")));
            let bytes: Option<Vec<u8>> = self.state.query(&get).await?;
            let refusal = match bytes {
                None => Some("its bytes are not in the shared state".to_string()),
                Some(b) if hex_sha256(&b) != sha256 => {
                    Some("the shared bytes do not match their digest".to_string())
                }
                Some(b) => {
                    let origin = PathBuf::from(format!("<fleet: {node}@{}>", &sha256[..12]));
                    match live.swap(&node, &b, &origin).await {
                        Ok(_) => {
                            tracing::info!(node, sha256, "swapped to the fleet's component");
                            None
                        }
                        Err(e) => Some(e.to_string()),
                    }
                }
            };
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            match refusal {
                Some(reason) => {
                    tracing::warn!(node, sha256, %reason, "refused the fleet's component; the old one keeps serving");
                    refused.insert(node, Refusal { sha256, reason });
                }
                None => {
                    refused.remove(&node);
                }
            }
        }
        self.report().await
    }
}

/// Wakes the reconciler on every published swap; resubscribes after a
/// lost connection.
async fn listen(fleet: Weak<Fleet>) {
    loop {
        let Some(f) = fleet.upgrade() else {
            return;
        };
        let channel = f.channel();
        let pubsub = f.state.pubsub().await;
        drop(f);
        match pubsub {
            Ok(mut ps) => {
                if ps.subscribe(&channel).await.is_ok() {
                    let mut messages = ps.on_message();
                    while messages.next().await.is_some() {
                        match fleet.upgrade() {
                            Some(f) => f.wake.notify_one(),
                            None => return,
                        }
                    }
                }
            }
            Err(why) => tracing::debug!(error = %why, "swap channel unavailable"),
        }
        tokio::time::sleep(RECONCILE_EVERY).await;
    }
}

/// Reconciles when woken, and every [`RECONCILE_EVERY`] regardless.
async fn reconcile_loop(fleet: Weak<Fleet>) {
    loop {
        let Some(f) = fleet.upgrade() else {
            return;
        };
        if let Err(why) = f.reconcile().await {
            tracing::debug!(error = %why, "cannot reconcile with the fleet now");
        }
        let woken = async { f.wake.notified().await };
        let _ = tokio::time::timeout(RECONCILE_EVERY, woken).await;
    }
}
