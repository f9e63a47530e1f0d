//! How a worker's streamed output is released (`[nodes.<name>.stream]`):
//! the window its text is cut into before the window judges see it, and
//! what a whole-output judge's rejection means once windows were released.

/// Where a streamed output is cut into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "window", content = "size")]
pub enum WindowRule {
    /// At the end of each sentence (`.`, `!`, `?` or a line break, then
    /// white space), the default.
    Sentence,
    /// Every `n` characters (the last window may be shorter).
    Chars(u32),
    /// Every `n` tokens, as the host estimates them (about 4 characters).
    Tokens(u32),
    /// The whole output as one window: nothing is released before the end.
    Whole,
}

/// What a rejection by a judge that sees only the whole output (no window
/// check), or a broken output schema, means for a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LateReject {
    /// Windows are released as the window judges accept them; a late
    /// rejection ends the stream with a typed error event and
    /// `finish_reason: "content_filter"`, and the run fails `rejected`.
    ContentFilter,
    /// Nothing of this worker is released before every judge accepted the
    /// whole output: it does not stream at all, and a rejection goes
    /// through `on-reject` as for any worker.
    Buffer,
}

/// A worker's `stream` table, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StreamSpec {
    /// The window.
    pub window: WindowRule,
    /// What a late rejection means; `None` when the manifest does not say
    /// (allowed only while every judge of the worker checks windows).
    pub late_reject: Option<LateReject>,
}

impl Default for StreamSpec {
    /// Not configured: the whole output is one window (nothing streams).
    fn default() -> Self {
        Self {
            window: WindowRule::Whole,
            late_reject: None,
        }
    }
}

/// The most characters or tokens one window may span.
pub const MAX_WINDOW: u32 = 100_000;
