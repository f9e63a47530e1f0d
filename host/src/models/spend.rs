//! Spend limits over periods (`spend-limit`, per pipeline, node and client
//! key): money and tokens counted across runs, in this process or in a
//! shared [`SpendStore`] (Redis) so any number of replicas enforce one
//! limit. A call reserves its worst case against every limit covering it
//! before it is sent — all of them at once, or none — and settles to what
//! it used afterwards. Reservations carry an attempt id (reserving or
//! settling twice changes nothing) and expire, so a crashed replica's
//! holds come back. Settling goes through one background queue per
//! process: off the request path, retried until the store takes it, and
//! flushed before the process exits. The invariant: what is settled
//! never exceeds a limit, because nothing is sent that did not fit in
//! spent + held.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, Notify};

use crate::spec::{BudgetsWhenDown, Cost, Period, SpendLimitSpec};

/// How long a settle the store refused waits before it is tried again.
const SETTLE_RETRY: Duration = Duration::from_millis(500);

/// One limit a call is charged against, in the period it falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Store key: scope and period bucket.
    pub key: String,
    /// Whose limit, for messages ("the pipeline's", "client key `k`'s").
    pub label: String,
    /// The limit.
    pub spec: SpendLimitSpec,
    /// How long the counter must outlive its last write (its period's
    /// end, plus a day to read it back); `None`: forever.
    pub keep_for: Option<Duration>,
}

/// A reservation against one or more counters, named by an attempt id.
#[derive(Debug, Clone)]
pub struct Hold {
    /// The attempt's id: the same id reserves and settles once.
    pub id: String,
    /// The service's key prefix in a shared store.
    pub prefix: String,
    /// The limits charged.
    pub counters: Vec<Counter>,
    /// Tokens reserved.
    pub tokens: u64,
    /// Money reserved.
    pub cost: Cost,
    /// After this long the hold lapses (a crashed replica's holds return).
    pub ttl: Duration,
}

/// Which limit a reservation would break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Over {
    /// Index into the hold's counters.
    pub counter: usize,
    /// Tokens spent and held there now.
    pub tokens: u64,
    /// Money spent and held there now.
    pub cost: Cost,
}

/// What a counter holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Settled tokens.
    pub spent_tokens: u64,
    /// Settled money.
    pub spent: Cost,
    /// Tokens reserved by calls in flight.
    pub held_tokens: u64,
    /// Money reserved by calls in flight.
    pub held: Cost,
}

/// Where spend limits are counted: this process ([`LocalSpend`]) or a
/// store every replica shares.
#[async_trait::async_trait]
pub trait SpendStore: Send + Sync + std::fmt::Debug {
    /// Reserves `hold` on every counter or none: `Ok(Ok(()))` when held
    /// (or already held under this id), `Ok(Err(over))` when a limit
    /// would be broken, `Err(why)` when the store cannot answer.
    async fn reserve(&self, hold: &Hold) -> Result<Result<(), Over>, String>;
    /// Replaces `hold` by what the call used; a second settle of the same
    /// id changes nothing, and a lapsed hold is still charged.
    async fn settle(&self, hold: &Hold, tokens: u64, cost: Cost) -> Result<(), String>;
    /// What the counter `key` holds.
    async fn counts(&self, key: &str) -> Result<Counts, String>;
}

/// Spend counted in this process: the default, and the fallback of
/// `count-locally` while the shared store is down.
#[derive(Debug, Default)]
pub struct LocalSpend {
    inner: Mutex<LocalInner>,
}

#[derive(Debug, Default)]
struct LocalInner {
    counters: HashMap<String, Counts>,
    /// Live holds: id → (hold, lapses at).
    holds: HashMap<String, (Hold, Instant)>,
    /// Ids settled recently (a second settle is a no-op), with when.
    done: HashMap<String, Instant>,
}

impl LocalInner {
    /// Gives back lapsed holds; forgets old settled ids.
    fn purge(&mut self, now: Instant) {
        let lapsed: Vec<String> = self
            .holds
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in lapsed {
            if let Some((hold, _)) = self.holds.remove(&id) {
                self.release(&hold);
            }
        }
        self.done
            .retain(|_, at| now.duration_since(*at) < Duration::from_secs(600));
    }

    fn release(&mut self, hold: &Hold) {
        for c in &hold.counters {
            let n = self.counters.entry(c.key.clone()).or_default();
            n.held_tokens = n.held_tokens.saturating_sub(hold.tokens);
            n.held = Cost(n.held.0.saturating_sub(hold.cost.0));
        }
    }
}

#[async_trait::async_trait]
impl SpendStore for LocalSpend {
    async fn reserve(&self, hold: &Hold) -> Result<Result<(), Over>, String> {
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.purge(now);
        if g.holds.contains_key(&hold.id) || g.done.contains_key(&hold.id) {
            return Ok(Ok(()));
        }
        for (i, c) in hold.counters.iter().enumerate() {
            let n = g.counters.get(&c.key).copied().unwrap_or_default();
            let tokens = n.spent_tokens + n.held_tokens;
            let cost = Cost(n.spent.0 + n.held.0);
            let over_tokens = c
                .spec
                .limit
                .tokens
                .is_some_and(|l| tokens + hold.tokens > l);
            let over_cost = c
                .spec
                .limit
                .cost
                .is_some_and(|l| cost.0 + hold.cost.0 > l.0);
            if over_tokens || over_cost {
                return Ok(Err(Over {
                    counter: i,
                    tokens,
                    cost,
                }));
            }
        }
        for c in &hold.counters {
            let n = g.counters.entry(c.key.clone()).or_default();
            n.held_tokens += hold.tokens;
            n.held += hold.cost;
        }
        g.holds
            .insert(hold.id.clone(), (hold.clone(), now + hold.ttl));
        Ok(Ok(()))
    }

    async fn settle(&self, hold: &Hold, tokens: u64, cost: Cost) -> Result<(), String> {
        self.settle_now(hold, tokens, cost);
        Ok(())
    }

    async fn counts(&self, key: &str) -> Result<Counts, String> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.purge(Instant::now());
        Ok(g.counters.get(key).copied().unwrap_or_default())
    }
}

impl LocalSpend {
    /// [`SpendStore::settle`], which here never waits.
    fn settle_now(&self, hold: &Hold, tokens: u64, cost: Cost) {
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.purge(now);
        if g.done.contains_key(&hold.id) {
            return;
        }
        if let Some((held, _)) = g.holds.remove(&hold.id) {
            g.release(&held);
        }
        for c in &hold.counters {
            let n = g.counters.entry(c.key.clone()).or_default();
            n.spent_tokens += tokens;
            n.spent += cost;
        }
        g.done.insert(hold.id.clone(), now);
    }
}

/// One settle waiting for the shared store.
struct Settle {
    hold: Hold,
    tokens: u64,
    cost: Cost,
}

/// The spend limits of one service: where they are counted, what happens
/// while a shared store is down, and the queue that settles.
pub struct Spending {
    store: Arc<dyn SpendStore>,
    /// Counts while a shared store is down (`count-locally`).
    local: Arc<LocalSpend>,
    shared: bool,
    when_down: BudgetsWhenDown,
    prefix: String,
    degraded: AtomicBool,
    queue: OnceLock<mpsc::UnboundedSender<Settle>>,
    /// Settles queued and not yet taken by the store.
    pending: Arc<AtomicUsize>,
    drained: Arc<Notify>,
}

impl std::fmt::Debug for Spending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spending")
            .field("store", &self.store)
            .field("shared", &self.shared)
            .finish()
    }
}

impl Default for Spending {
    fn default() -> Self {
        Self::local()
    }
}

/// Why a call does not fit its spend limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpendRefused {
    /// A limit would be exceeded.
    #[error("{label} spend limit of {limit} per {per} would be exceeded ({used} used or reserved, this call needs up to {needs})")]
    Over {
        /// Whose limit.
        label: String,
        /// The limit, written out.
        limit: String,
        /// Its period.
        per: &'static str,
        /// What is used or reserved.
        used: String,
        /// What the call reserves.
        needs: String,
    },
    /// The shared store cannot be reached and budgets fail closed.
    #[error("{label} spend limit cannot be checked: the shared state is unreachable ({why}); refused, as `[state] budgets-when-down = \"fail-closed\"` says")]
    Unavailable {
        /// Whose limit.
        label: String,
        /// The store's error.
        why: String,
    },
}

impl Spending {
    /// Spend counted in this process only.
    pub fn local() -> Self {
        let local = Arc::new(LocalSpend::default());
        Self::new(
            local.clone(),
            local,
            false,
            BudgetsWhenDown::CountLocally,
            "switchyard",
        )
    }

    /// Spend counted in a `store` every replica shares, under keys starting
    /// with `prefix`.
    pub fn shared(store: Arc<dyn SpendStore>, when_down: BudgetsWhenDown, prefix: &str) -> Self {
        Self::new(store, Arc::default(), true, when_down, prefix)
    }

    fn new(
        store: Arc<dyn SpendStore>,
        local: Arc<LocalSpend>,
        shared: bool,
        when_down: BudgetsWhenDown,
        prefix: &str,
    ) -> Self {
        Self {
            store,
            local,
            shared,
            when_down,
            prefix: prefix.to_string(),
            degraded: AtomicBool::new(false),
            queue: OnceLock::new(),
            pending: Arc::new(AtomicUsize::new(0)),
            drained: Arc::new(Notify::new()),
        }
    }

    /// Whether the last reservation found the shared store unreachable.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// The counter of `spec` for scope `scope` (`pipeline`, `node:NAME`,
    /// `client:ID`) in the period `now` falls in.
    pub fn counter(
        &self,
        scope: &str,
        label: &str,
        spec: SpendLimitSpec,
        now: SystemTime,
    ) -> Counter {
        let unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let bucket = spec.per.bucket(unix);
        let keep_for = spec.per.seconds().map(|len| {
            let end = match spec.per {
                Period::Week => (bucket + 1) * len - 3 * 86_400,
                _ => (bucket + 1) * len,
            };
            Duration::from_secs(end.saturating_sub(unix) + 86_400)
        });
        Counter {
            key: format!(
                "{}:spend:{scope}:{}:{bucket}",
                self.prefix,
                spec.per.as_str()
            ),
            label: label.to_string(),
            spec,
            keep_for,
        }
    }

    /// What `counter` holds now.
    pub async fn counts(&self, counter: &Counter) -> Result<Counts, String> {
        self.store.counts(&counter.key).await
    }

    /// Reserves `tokens` and `cost` on every one of `counters` for up to
    /// `ttl`, or says which limit it would break.
    pub async fn reserve(
        self: &Arc<Self>,
        counters: Vec<Counter>,
        tokens: u64,
        cost: Cost,
        ttl: Duration,
    ) -> Result<SpendHold, SpendRefused> {
        let hold = Hold {
            id: format!("{:032x}", fastrand::u128(..)),
            prefix: self.prefix.clone(),
            counters,
            tokens,
            cost,
            ttl,
        };
        let (answer, local) = match self.store.reserve(&hold).await {
            Ok(answer) => {
                if self.shared && self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("spend limits are shared again");
                }
                (answer, false)
            }
            Err(why) => {
                // The store may have taken the hold and lost the answer:
                // release it there (settling an id at zero is idempotent).
                self.enqueue(hold.clone(), 0, Cost::ZERO, false);
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %why, policy = self.when_down.as_str(), "the shared state cannot be reached: spend limits cannot be checked across replicas");
                }
                match self.when_down {
                    BudgetsWhenDown::FailClosed => {
                        return Err(SpendRefused::Unavailable {
                            label: hold
                                .counters
                                .first()
                                .map_or_else(String::new, |c| c.label.clone()),
                            why,
                        })
                    }
                    BudgetsWhenDown::CountLocally => {
                        let answer = self.local.reserve(&hold).await.unwrap_or(Ok(()));
                        (answer, true)
                    }
                }
            }
        };
        match answer {
            Ok(()) => Ok(SpendHold {
                spending: Some(self.clone()),
                hold,
                local,
                settling: None,
            }),
            Err(over) => {
                let c = &hold.counters[over.counter];
                let limit = match (c.spec.limit.cost, c.spec.limit.tokens) {
                    (Some(cost), Some(t)) => format!("{cost} and {t} tokens"),
                    (Some(cost), None) => cost.to_string(),
                    (None, Some(t)) => format!("{t} tokens"),
                    (None, None) => "nothing".into(),
                };
                Err(SpendRefused::Over {
                    label: c.label.clone(),
                    limit,
                    per: c.spec.per.as_str(),
                    used: format!("{} and {} tokens", over.cost, over.tokens),
                    needs: format!("{cost} and {tokens} tokens"),
                })
            }
        }
    }

    /// Settles `hold` at `tokens` and `cost`: at once when it is counted
    /// locally, else through the queue.
    fn enqueue(&self, hold: Hold, tokens: u64, cost: Cost, local: bool) {
        // This process's own count never waits; the queue keeps a shared
        // store's round trips off the request path.
        if local || !self.shared {
            self.local.settle_now(&hold, tokens, cost);
            return;
        }
        let settle = Settle { hold, tokens, cost };
        let Some(tx) = self.sender() else {
            // No runtime (a hold dropped at exit): the hold lapses.
            return;
        };
        self.pending.fetch_add(1, Ordering::SeqCst);
        if tx.send(settle).is_err() {
            self.done_one();
        }
    }

    fn done_one(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.notify_waiters();
        }
    }

    /// The settle queue, its worker started on first use.
    fn sender(&self) -> Option<&mpsc::UnboundedSender<Settle>> {
        if let Some(tx) = self.queue.get() {
            return Some(tx);
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (tx, rx) = mpsc::unbounded_channel();
        if self.queue.set(tx).is_ok() {
            runtime.spawn(settle_worker(
                rx,
                self.store.clone(),
                self.pending.clone(),
                self.drained.clone(),
            ));
        }
        self.queue.get()
    }

    /// Waits until every queued settle reached its store, up to `limit`;
    /// false if some are still waiting (the store is down).
    pub async fn flush(&self, limit: Duration) -> bool {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let drained = self.drained.notified();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, drained).await.is_err() {
                return self.pending.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

/// Settles in order, keeping the ones the store refused until it takes
/// them (each is idempotent, so a settle that reached the store but whose
/// answer was lost is safely sent again).
async fn settle_worker(
    mut rx: mpsc::UnboundedReceiver<Settle>,
    store: Arc<dyn SpendStore>,
    pending: Arc<AtomicUsize>,
    drained: Arc<Notify>,
) {
    let mut waiting: VecDeque<Settle> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match rx.recv().await {
                Some(s) => waiting.push_back(s),
                None => return,
            }
        }
        while let Ok(s) = rx.try_recv() {
            waiting.push_back(s);
        }
        while let Some(s) = waiting.front() {
            match store.settle(&s.hold, s.tokens, s.cost).await {
                Ok(()) => {
                    waiting.pop_front();
                    if pending.fetch_sub(1, Ordering::SeqCst) == 1 {
                        drained.notify_waiters();
                    }
                }
                Err(why) => {
                    tracing::warn!(error = %why, waiting = waiting.len(), "cannot settle spend in the shared state yet; retrying");
                    tokio::time::sleep(SETTLE_RETRY).await;
                    break;
                }
            }
        }
    }
}

/// A reservation on spend limits: settle it with what the call used. A
/// hold dropped unsettled (its call cancelled) settles at zero, as its
/// ledger entry says.
#[derive(Debug)]
#[must_use]
pub struct SpendHold {
    spending: Option<Arc<Spending>>,
    hold: Hold,
    local: bool,
    /// What it is being settled at, once known: a hold dropped while its
    /// settlement is under way still settles at this, not at zero.
    settling: Option<(u64, Cost)>,
}

impl SpendHold {
    /// Replaces the hold by `tokens` and `cost` actually used, through the
    /// settle queue (for callers that cannot wait).
    pub fn settle(mut self, tokens: u64, cost: Cost) {
        if let Some(s) = self.spending.take() {
            s.enqueue(self.hold.clone(), tokens, cost, self.local);
        }
    }

    /// [`SpendHold::settle`], waiting for the shared store to take it, so
    /// the next call sees the room it gave back; queued if the store
    /// cannot answer.
    pub async fn settle_now(mut self, tokens: u64, cost: Cost) {
        let Some(s) = self.spending.clone() else {
            return;
        };
        if self.local || !s.shared {
            self.spending = None;
            s.local.settle_now(&self.hold, tokens, cost);
            return;
        }
        // Dropped mid-way (its run cancelled), Drop queues this settlement.
        self.settling = Some((tokens, cost));
        let settled = s.store.settle(&self.hold, tokens, cost).await;
        self.spending = None;
        if settled.is_err() {
            s.enqueue(self.hold.clone(), tokens, cost, false);
        }
    }
}

impl Drop for SpendHold {
    fn drop(&mut self) {
        if let Some(s) = self.spending.take() {
            let (tokens, cost) = self.settling.unwrap_or((0, Cost::ZERO));
            s.enqueue(self.hold.clone(), tokens, cost, self.local);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::BudgetSpec;

    fn spec(usd_pico: u64) -> SpendLimitSpec {
        SpendLimitSpec {
            limit: BudgetSpec {
                tokens: None,
                cost: Some(Cost(usd_pico)),
            },
            per: Period::Day,
        }
    }

    #[tokio::test]
    async fn holds_count_until_settled_and_settled_spend_never_passes_the_limit() {
        let s = Arc::new(Spending::local());
        let c = s.counter("pipeline", "the pipeline's", spec(100), SystemTime::now());
        let ttl = Duration::from_secs(60);
        let a = s.reserve(vec![c.clone()], 10, Cost(60), ttl).await.unwrap();
        let refused = s
            .reserve(vec![c.clone()], 10, Cost(60), ttl)
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("the pipeline's spend limit"),
            "{refused}"
        );
        a.settle(10, Cost(30));
        assert!(s.flush(Duration::from_secs(5)).await);
        let counts = s.counts(&c).await.unwrap();
        assert_eq!((counts.spent, counts.held), (Cost(30), Cost::ZERO));
        let b = s.reserve(vec![c.clone()], 10, Cost(60), ttl).await.unwrap();
        drop(b);
        assert!(s.flush(Duration::from_secs(5)).await);
        let counts = s.counts(&c).await.unwrap();
        assert_eq!(
            (counts.spent, counts.held),
            (Cost(30), Cost::ZERO),
            "dropped: zero"
        );
    }

    #[tokio::test]
    async fn reserving_and_settling_are_idempotent_and_holds_lapse() {
        let store = LocalSpend::default();
        let s = Spending::local();
        let c = s.counter("pipeline", "p", spec(100), SystemTime::now());
        let hold = Hold {
            id: "a1".into(),
            prefix: "t".into(),
            counters: vec![c.clone()],
            tokens: 1,
            cost: Cost(40),
            ttl: Duration::from_millis(30),
        };
        store.reserve(&hold).await.unwrap().unwrap();
        store.reserve(&hold).await.unwrap().unwrap();
        assert_eq!(
            store.counts(&c.key).await.unwrap().held,
            Cost(40),
            "held once"
        );
        store.settle(&hold, 1, Cost(25)).await.unwrap();
        store.settle(&hold, 1, Cost(25)).await.unwrap();
        assert_eq!(
            store.counts(&c.key).await.unwrap().spent,
            Cost(25),
            "settled once"
        );
        // A hold nobody settles lapses and gives its room back.
        let crashed = Hold {
            id: "a2".into(),
            ..hold.clone()
        };
        store.reserve(&crashed).await.unwrap().unwrap();
        let third = Hold {
            id: "a3".into(),
            cost: Cost(50),
            ..hold.clone()
        };
        assert!(
            store.reserve(&third).await.unwrap().is_err(),
            "25 + 40 + 50 > 100"
        );
        let until = Instant::now() + Duration::from_secs(5);
        while store.reserve(&third).await.unwrap().is_err() {
            assert!(Instant::now() < until, "the lapsed hold never came back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn counters_are_per_scope_and_period() {
        let s = Spending::local();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_169_600);
        let a = s.counter("pipeline", "p", spec(1), t);
        let b = s.counter("pipeline", "p", spec(1), t + Duration::from_secs(86_399));
        let c = s.counter("pipeline", "p", spec(1), t + Duration::from_secs(86_400));
        assert_eq!(a.key, b.key);
        assert_ne!(a.key, c.key);
        assert_eq!(a.keep_for, Some(Duration::from_secs(2 * 86_400)));
        assert_ne!(a.key, s.counter("node:x", "x", spec(1), t).key);
    }
}
