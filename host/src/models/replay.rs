//! Hermetic replay: the answers of a recording's model calls, by calling
//! node and canonical request hash. A call that matches is answered from
//! the book — its recorded attempts entered in the ledger again, priced at
//! the current manifest's prices — without any provider being asked. What
//! happens to a call that does not match is the replay's choice
//! ([`Unrecorded`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::ledger::CallOutcome;
use super::types::{ChatResponse, ModelError, Usage};

/// What a replay does with a model call the recording does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unrecorded {
    /// Send it to the model the manifest names.
    Live,
    /// Answer it with a deterministic simulated model.
    #[default]
    Sim,
    /// Fail it (as `unavailable`): the replay makes no call at all.
    Fail,
}

/// One recorded attempt at a call.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedAttempt {
    /// Manifest model tried.
    pub model: String,
    /// Attempt number at that model.
    pub attempt: u32,
    /// The model asked for, when this one was a fallback.
    pub fallback_from: Option<String>,
    /// How it ended.
    pub outcome: CallOutcome,
    /// Tokens billed.
    pub usage: Usage,
    /// The upstream's finish reason.
    pub finish_reason: Option<String>,
}

/// One recorded call: its attempts and what the node got.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    /// Its attempts, in order.
    pub attempts: Vec<RecordedAttempt>,
    /// The answer or error.
    pub result: Result<ChatResponse, ModelError>,
}

/// Recorded calls by node and request hash.
#[derive(Debug, Default)]
pub struct ReplayBook {
    calls: Mutex<HashMap<(String, String), VecDeque<RecordedCall>>>,
    unrecorded: Unrecorded,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ReplayBook {
    /// An empty book; calls it lacks go to `unrecorded`.
    pub fn new(unrecorded: Unrecorded) -> Self {
        Self {
            unrecorded,
            ..Self::default()
        }
    }

    /// Adds a recorded call of `node` whose request hashed to `hash`.
    /// Equal requests are answered in the order recorded.
    pub fn insert(&self, node: &str, hash: &str, call: RecordedCall) {
        self.lock()
            .entry((node.to_string(), hash.to_string()))
            .or_default()
            .push_back(call);
    }

    /// The recorded answer to `node`'s request hashing to `hash`: the
    /// next in recorded order, the last one again once they are used up.
    pub fn take(&self, node: &str, hash: &str) -> Option<RecordedCall> {
        let mut calls = self.lock();
        let found = calls
            .get_mut(&(node.to_string(), hash.to_string()))
            .and_then(|q| {
                if q.len() > 1 {
                    q.pop_front()
                } else {
                    q.front().cloned()
                }
            });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// What calls it lacks get.
    pub fn unrecorded(&self) -> Unrecorded {
        self.unrecorded
    }

    /// Calls answered from the book so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Calls the book did not have.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), VecDeque<RecordedCall>>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(text: &str) -> RecordedCall {
        RecordedCall {
            attempts: Vec::new(),
            result: Ok(ChatResponse {
                content: text.into(),
                usage: Usage::default(),
                model: String::new(),
                finish_reason: None,
                tool_calls: Vec::new(),
            }),
        }
    }

    #[test]
    fn equal_requests_are_answered_in_order_then_the_last_again() {
        let book = ReplayBook::new(Unrecorded::Fail);
        book.insert("w", "h", call("a"));
        book.insert("w", "h", call("b"));
        let text = |c: Option<RecordedCall>| c.unwrap().result.unwrap().content;
        assert_eq!(text(book.take("w", "h")), "a");
        assert_eq!(text(book.take("w", "h")), "b");
        assert_eq!(text(book.take("w", "h")), "b");
        assert!(book.take("other", "h").is_none());
        assert_eq!((book.hits(), book.misses()), (3, 1));
    }
}
