//! Recordings, the base of the improvement loop: every run written whole
//! (`format`) by a writer thread (`sink`: `run --record FILE`, `serve
//! --record DIR`), read back (`read`), replayed hermetically through a
//! candidate pipeline (`replay`: recorded model answers by node and
//! request hash) and compared with another recording (`compare`).

mod compare;
mod content;
mod format;
mod read;
mod replay;
mod report;
mod sink;
mod training;

use std::path::{Path, PathBuf};

pub use compare::{compare, Comparison, Figures, Flip, NodeComparison, NodeFigures};
pub use content::{apply as apply_content_rules, state as content_state};
pub use format::{
    ComponentDigest, RecordedAnswer, RecordedAttemptLine, RecordedError, RecordedInvocation,
    RecordedModelCall, RecordedRequest, RecordedRun, VERSION,
};
pub use read::{read, Recordings};
pub use replay::{book_of, replay};
pub use report::html;
pub use sink::{RecordingSink, Target, QUEUE_LINES};
pub use training::{
    check_output, cost_of_usd, export, format_time, is_validation, nodes_seen, parse_time,
    valid_path, write_export, Example, Export, ExportCounts, ExportKind, ExportOptions, Exported,
    Filter, Filters, OpenAiInput, PairPrompt, PreferenceStyle, TrainingError, VerdictFilter,
};

/// Why a recording could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordingError {
    /// A file could not be opened, read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },
    /// A line is not a recorded run.
    #[error("{}:{line}: {error}\n = help: a recording holds one JSON run per line, as `run --record` writes it", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong with it.
        error: String,
    },
}

impl RecordingError {
    fn io(path: &Path, e: impl std::fmt::Display) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            error: e.to_string(),
        }
    }

    fn line(path: &Path, line: usize, error: String) -> Self {
        Self::Line {
            path: path.to_path_buf(),
            line,
            error,
        }
    }
}
