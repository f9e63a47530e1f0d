//! The swap history of a service, for its status page: every hot-swap
//! accepted, unchanged or refused (with the reason), and every experiment
//! started, refused, promoted or aborted, with the node's version, digest,
//! revision and generation afterwards, and who asked (the admin API's
//! caller as it named itself, or `--watch` and the file). The newest
//! [`SwapLog::CAPACITY`] events are kept; older ones are counted.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What happened to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwapKind {
    /// A new component serves the node.
    Swapped,
    /// The bytes were the live component's: nothing changed.
    Unchanged,
    /// The swap was refused; the old component keeps serving.
    Refused,
    /// A shadow or canary experiment started.
    ExperimentStarted,
    /// An experiment was refused.
    ExperimentRefused,
    /// An experiment's candidate was promoted (it now serves the node).
    Promoted,
    /// An experiment was aborted.
    Aborted,
}

/// One event of the history.
#[derive(Debug, Clone, Serialize)]
pub struct SwapEvent {
    /// When, in ms since the Unix epoch.
    pub at_unix_ms: u64,
    /// The node.
    pub node: String,
    /// What happened.
    pub kind: SwapKind,
    /// The node's component version afterwards (the candidate's for an
    /// experiment started), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its hex SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The node's revision afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// The pipeline generation afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Who asked: the admin API and its caller, or the watched file.
    pub by: String,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SwapEvent {
    /// An event of `kind` on `node` asked for by `by`, now, with no
    /// component details yet.
    pub fn new(node: &str, kind: SwapKind, by: &str) -> Self {
        Self {
            at_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            node: node.into(),
            kind,
            version: None,
            sha256: None,
            revision: None,
            generation: None,
            by: by.into(),
            reason: None,
        }
    }

    /// Who asked, from the origin a change was loaded under: the admin
    /// API's `<PUT /admin/nodes/x by caller>` as `PUT /admin/nodes/x by
    /// caller`, a file path (the `--watch`er's) as `--watch path`.
    pub fn by_origin(origin: &std::path::Path) -> String {
        let text = origin.to_string_lossy();
        match text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
            Some(inner) => inner.to_string(),
            None => format!("--watch {text}"),
        }
    }

    /// This event with the component it left serving (or proposed).
    pub fn component(
        mut self,
        version: &str,
        sha256: &str,
        revision: u64,
        generation: u64,
    ) -> Self {
        self.version = Some(version.into());
        self.sha256 = Some(sha256.into());
        self.revision = Some(revision);
        self.generation = Some(generation);
        self
    }

    /// This event with the reason it was refused.
    pub fn reason(mut self, reason: impl ToString) -> Self {
        self.reason = Some(reason.to_string());
        self
    }
}

/// The newest events, oldest first.
#[derive(Debug, Default)]
pub struct SwapLog {
    events: Mutex<(VecDeque<SwapEvent>, u64)>,
}

impl SwapLog {
    /// Events kept.
    pub const CAPACITY: usize = 200;

    /// Adds `event`, forgetting the oldest past the capacity.
    pub fn push(&self, event: SwapEvent) {
        let mut g = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if g.0.len() == Self::CAPACITY {
            g.0.pop_front();
            g.1 += 1;
        }
        g.0.push_back(event);
    }

    /// The events kept, oldest first, and how many older ones were
    /// forgotten.
    pub fn events(&self) -> (Vec<SwapEvent>, u64) {
        let g = self.events.lock().unwrap_or_else(|p| p.into_inner());
        (g.0.iter().cloned().collect(), g.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_swap_by_names_the_caller_or_the_watched_file() {
        use std::path::Path;
        assert_eq!(
            SwapEvent::by_origin(Path::new("<PUT /admin/nodes/x by alice>")),
            "PUT /admin/nodes/x by alice"
        );
        assert_eq!(
            SwapEvent::by_origin(Path::new("plugins/draft.wasm")),
            "--watch plugins/draft.wasm"
        );
    }

    #[test]
    fn status_swap_log_keeps_the_newest_and_counts_the_rest() {
        let log = SwapLog::default();
        for i in 0..SwapLog::CAPACITY + 3 {
            log.push(SwapEvent::new(&format!("n{i}"), SwapKind::Swapped, "watch"));
        }
        let (events, forgotten) = log.events();
        assert_eq!(events.len(), SwapLog::CAPACITY);
        assert_eq!(forgotten, 3);
        assert_eq!(events[0].node, "n3");
        assert_eq!(
            events.last().unwrap().node,
            format!("n{}", SwapLog::CAPACITY + 2)
        );
    }
}
