//! The live status page of `switchyard serve`: `GET /` is one
//! self-contained HTML page (no CDN, works offline) that polls
//! `GET /status` every two seconds and draws `GET /status/graph.svg` with
//! each node coloured by health and its figures over the last minute.
//! `window` keeps that minute per second, `swaps` the swap history,
//! `view` turns both into the JSON the page reads, `page` serves the page
//! and the graph.
//!
//! Access: with no admin token configured everything is shown to anyone
//! who can reach the port. With one, a request without the bearer token
//! gets the public health view only (pipeline, generation, health,
//! uptime), and a wrong token is refused. Nothing on the page or in the
//! JSON is message content: only counts, rates, latencies, costs, error
//! kinds, versions and digests.

mod page;
mod swaps;
mod view;
mod window;

use std::sync::Mutex;
use std::time::Instant;

use axum::http::HeaderMap;

pub use page::{graph_svg, page, status};
pub use swaps::{SwapEvent, SwapKind, SwapLog};
pub use view::{health_of, Health};
pub use window::{Figures, LatencyHistogram, NodeFigures, Window, WINDOW_SECONDS};

use super::api::{bearer_token, ApiError};
use super::AppState;
use crate::pipeline::{Pipeline, RunOutcome};

/// What a running service remembers for its status page.
#[derive(Debug)]
pub struct StatusBoard {
    started: Instant,
    window: Mutex<Window>,
    swaps: SwapLog,
}

impl StatusBoard {
    /// A board for the nodes of `pipeline` (a swap never changes them).
    pub fn new(pipeline: &Pipeline) -> Self {
        Self {
            started: Instant::now(),
            window: Mutex::new(Window::new(pipeline.nodes().keys().cloned().collect())),
            swaps: SwapLog::default(),
        }
    }

    /// Counts a finished run.
    pub fn observe(&self, run: &RunOutcome) {
        let second = self.second();
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(second, run);
    }

    /// The swap history.
    pub fn swaps(&self) -> &SwapLog {
        &self.swaps
    }

    /// Seconds since the service started.
    pub fn second(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Calls `f` with the window, locked.
    fn with_window<T>(&self, f: impl FnOnce(&Window) -> T) -> T {
        f(&self.window.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// How much of the status a request may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything: no admin token is configured, or the request has it.
    Full,
    /// Health only: a token is configured and the request has none.
    Public,
}

/// The access a request's headers give; a wrong bearer token is refused.
pub fn access(state: &AppState, headers: &HeaderMap) -> Result<Access, ApiError> {
    match (&state.admin_token, bearer_token(headers)) {
        (None, _) => Ok(Access::Full),
        (Some(_), None) => Ok(Access::Public),
        (Some(_), Some(_)) => super::api::authorize(state, headers).map(|()| Access::Full),
    }
}

/// Who asked for an admin change, as the caller named itself: the
/// `X-Switchyard-Actor` header (`switchyard swap` sends the user's name),
/// else its `User-Agent`, else `an unnamed client`; control characters
/// escaped and cut to 80 characters, so a caller cannot forge lines.
pub fn caller(headers: &HeaderMap) -> String {
    let named = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let name = named("x-switchyard-actor")
        .or_else(|| named("user-agent"))
        .unwrap_or("an unnamed client");
    crate::text::shown(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_caller_prefers_the_actor_and_cannot_forge_lines() {
        let mut h = HeaderMap::new();
        assert_eq!(caller(&h), "an unnamed client");
        h.insert("user-agent", "curl/8.5".parse().unwrap());
        assert_eq!(caller(&h), "curl/8.5");
        h.insert("x-switchyard-actor", "alice\tops".parse().unwrap());
        assert_eq!(caller(&h), "alice\\tops");
        h.insert("x-switchyard-actor", "x".repeat(500).parse().unwrap());
        assert_eq!(caller(&h), format!("{}…", "x".repeat(80)));
    }
}
