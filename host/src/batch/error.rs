//! Why a batch refused to start or stopped early. Every message names the
//! file, flag or line at fault and says what to do; records written before
//! a stop are complete lines. I/O causes are part of each message (not a
//! separate `source`), so a front end prints them once.

use std::path::PathBuf;

/// Why a batch refused to start or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The Redis queue of a distributed batch failed.
    #[error("batch queue: {0}")]
    Queue(String),
    /// A run's task panicked (a host bug): the batch stops; records
    /// written so far are kept.
    #[error("the run of input line {line} panicked ({message}); this is a bug in switchyard, please report it; the records written so far are kept, and --resume continues the batch")]
    RunPanicked {
        /// The input line.
        line: u64,
        /// The panic's message.
        message: String,
    },
    /// The baseline model is not in the manifest.
    #[error("baseline model `{0}` is not declared in the manifest; use one of its [models.<name>] names")]
    UnknownBaselineModel(String),
    /// A baseline was asked for, but the manifest says nothing of the
    /// monolith to compare with.
    #[error("--baseline-model needs the monolith's prompt: the manifest has no [baseline] table; add one with `system` (the one prompt a monolithic deployment would send with every input, see docs/manifest.md), or drop --baseline-model")]
    NoBaseline,
    /// Reading the input failed.
    #[error("cannot read input at line {line}: {error}")]
    Read {
        /// The line being read.
        line: u64,
        /// The I/O error.
        error: std::io::Error,
    },
    /// Writing a record failed (a full disk, say). A file output was cut
    /// back to its last complete record.
    #[error("cannot write the record of input line {line} to {target}: {error}{hint}")]
    Write {
        /// Where records go (a file, or `stdout`).
        target: String,
        /// The record's input line.
        line: u64,
        /// The I/O error.
        error: std::io::Error,
        /// What to do next.
        hint: String,
    },
    /// An output path is a directory.
    #[error("{flag} {}: is a directory; give a file path, e.g. {}", path.display(), path.join("out.jsonl").display())]
    IsDirectory {
        /// The flag that named it.
        flag: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// An output path's directory does not exist (or is not a directory).
    #[error("{flag} {}: directory {} does not exist; create it first or choose another path", path.display(), dir.display())]
    NoDirectory {
        /// The flag that named it.
        flag: &'static str,
        /// The path.
        path: PathBuf,
        /// Its parent.
        dir: PathBuf,
    },
    /// An output path cannot be written.
    #[error("{flag} {}: cannot be written ({error}); choose a writable location", path.display())]
    NotWritable {
        /// The flag that named it.
        flag: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A `.partial` from an earlier run exists and neither `--resume` nor
    /// `--force` was given.
    #[error("{} exists: an earlier run of this batch stopped before it finished; add --resume to continue it (finished records are kept) or --force to start over (they are discarded)", partial.display())]
    PartialExists {
        /// The `.partial` file.
        partial: PathBuf,
    },
    /// The output file could not be created or opened.
    #[error("cannot open {} (--output): {error}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// An existing output could not be read back for `--resume`.
    #[error("cannot read {} to resume: {error}; fix the file's permissions, or use --force to start over", path.display())]
    ResumeRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A record in an existing output does not belong to this input.
    #[error("{}:{at}: {what}; {} was written for a different input; use --force to start over", path.display(), path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The line of that file.
        at: u64,
        /// What is wrong with it.
        what: String,
    },
    /// `--resume` found a finished output that lacks records, and no
    /// `.partial` to continue.
    #[error("{} holds records for {records} of the {expected} input lines and there is no {}.partial to resume; use --force to run the whole input again", path.display(), path.display())]
    Incomplete {
        /// The file.
        path: PathBuf,
        /// Records it holds.
        records: u64,
        /// Records the input calls for.
        expected: u64,
    },
    /// The finished `.partial` could not be moved into place.
    #[error("cannot move the finished records from {} to {}: {error}; every record is in {}: run the same command with --resume to try again", from.display(), to.display(), from.display())]
    Finish {
        /// The `.partial`.
        from: PathBuf,
        /// The output.
        to: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
}
