//! What a manifest may say of recordings (`[recording]`): whether runs'
//! text is recorded at all, which nodes' text is left out, and which judge
//! redacts what is recorded. Where recordings go is the command line's
//! (`run --record`, `serve --record`).

/// The manifest's `[recording]` table, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingSpec {
    /// Record text (inputs, prompts, answers, reasons). Off, a recording
    /// keeps costs, tokens, routes, verdicts and outcomes only.
    pub content: bool,
    /// Nodes whose invocations' and model calls' text is left out.
    pub omit_nodes: Vec<String>,
    /// The judge whose `repair` of the recorded text is written instead;
    /// text it cannot redact is withheld.
    pub redact_with: Option<String>,
}

impl Default for RecordingSpec {
    fn default() -> Self {
        Self {
            content: true,
            omit_nodes: Vec::new(),
            redact_with: None,
        }
    }
}
