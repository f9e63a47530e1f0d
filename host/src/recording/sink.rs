//! Writing recordings: a line per run, written whole by one writer thread
//! so neither a batch's loop nor a served request waits on the disk. A
//! file target appends (cutting a torn last line a killed process left
//! first); a directory target rotates to a new file past a size, and may
//! sample a share of runs. A killed process leaves every line it finished
//! complete and readable.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use super::format::RecordedRun;
use super::RecordingError;
use crate::pipeline::{Pipeline, RunRecord};

/// Lines waiting for the writer at most; past it a served run's line is
/// dropped (and counted), a batch's waits.
pub const QUEUE_LINES: usize = 1024;

/// Where recordings go.
#[derive(Debug, Clone)]
pub enum Target {
    /// One file, appended to.
    File(PathBuf),
    /// A directory of `recording-<unix ms>.jsonl` files, each closed and
    /// a new one started once it passes `rotate_bytes`.
    Dir {
        /// The directory (created if missing).
        dir: PathBuf,
        /// Size after which the next line starts a new file.
        rotate_bytes: u64,
    },
}

/// The recording side of a process: cheap to clone.
#[derive(Clone)]
pub struct RecordingSink {
    inner: Arc<Inner>,
}

/// A run waiting for the writer: the generation that ran it (whose
/// `[recording]` rules apply) and the run.
type Job = (Arc<Pipeline>, Box<RecordedRun>);

struct Inner {
    lines: Mutex<Option<SyncSender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<Result<(), RecordingError>>>>,
    sample: f64,
    written: Arc<AtomicU64>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for RecordingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingSink").finish_non_exhaustive()
    }
}

impl RecordingSink {
    /// Starts writing to `target`, keeping a `sample` share (0 to 1) of
    /// the runs offered.
    pub fn start(target: Target, sample: f64) -> Result<Self, RecordingError> {
        let mut out = Output::open(target)?;
        let (tx, rx) = sync_channel::<Job>(QUEUE_LINES);
        let written = Arc::new(AtomicU64::new(0));
        let count = written.clone();
        let thread_error = |e: std::io::Error| RecordingError::Io {
            path: PathBuf::from("<writer thread>"),
            error: e.to_string(),
        };
        // Redacting judges run here, on the writer's own runtime.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(thread_error)?;
        let writer = std::thread::Builder::new()
            .name("switchyard-record".into())
            .spawn(move || {
                for (pipeline, mut run) in rx {
                    runtime.block_on(super::content::apply(&pipeline, &mut run));
                    let Ok(line) = serde_json::to_string(&run) else {
                        continue;
                    };
                    out.write_line(&line)?;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                out.flush()
            })
            .map_err(thread_error)?;
        Ok(Self {
            inner: Arc::new(Inner {
                lines: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                sample: sample.clamp(0.0, 1.0),
                written,
                dropped: AtomicU64::new(0),
            }),
        })
    }

    /// Whether to record the next run (drawn at the sampling share): ask
    /// before the run starts, so only sampled runs keep their content.
    pub fn wants(&self) -> bool {
        self.inner.sample >= 1.0 || fastrand::f64() < self.inner.sample
    }

    /// Records `record` (run on `pipeline`) when it kept its content;
    /// waits for room when `wait`, else drops the line (counted) when the
    /// writer is behind.
    pub fn record(&self, pipeline: &Arc<Pipeline>, record: &RunRecord, wait: bool) {
        let Some(run) = RecordedRun::of(pipeline, record) else {
            return;
        };
        let line = (pipeline.clone(), Box::new(run));
        let tx = self
            .inner
            .lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(tx) = tx else { return };
        let sent = if wait {
            tx.send(line).is_ok()
        } else {
            match tx.try_send(line) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            }
        };
        if !sent && self.inner.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!("the recording writer is behind; dropping runs' lines (counted)");
        }
    }

    /// Runs written so far.
    pub fn written(&self) -> u64 {
        self.inner.written.load(Ordering::Relaxed)
    }

    /// Runs dropped (writer behind, or stopped).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is queued and closes the file; the first write error,
    /// if any. Later runs are dropped.
    pub fn finish(&self) -> Result<(), RecordingError> {
        drop(
            self.inner
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match writer.map(std::thread::JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(RecordingError::Io {
                path: PathBuf::from("<writer thread>"),
                error: "the recording writer panicked".into(),
            }),
        }
    }
}

/// The open file of a target.
struct Output {
    target: Target,
    path: PathBuf,
    file: BufWriter<File>,
    size: u64,
}

impl Output {
    fn open(target: Target) -> Result<Self, RecordingError> {
        let path = match &target {
            Target::File(p) => p.clone(),
            Target::Dir { dir, .. } => {
                std::fs::create_dir_all(dir).map_err(|e| RecordingError::io(dir, e))?;
                next_file(dir)
            }
        };
        let file = open_append(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            target,
            path,
            file: BufWriter::new(file),
            size,
        })
    }

    fn write_line(&mut self, line: &str) -> Result<(), RecordingError> {
        if let Target::Dir { dir, rotate_bytes } = self.target.clone() {
            if self.size > 0 && self.size + line.len() as u64 + 1 > rotate_bytes {
                self.flush()?;
                self.path = next_file(&dir);
                self.file = BufWriter::new(open_append(&self.path)?);
                self.size = 0;
            }
        }
        // The whole line, then flushed: a killed process leaves complete
        // lines only (at most a torn last one, cut on the next open).
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.write_all(b"\n"))
            .and_then(|()| self.file.flush())
            .map_err(|e| RecordingError::io(&self.path, e))?;
        self.size += line.len() as u64 + 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), RecordingError> {
        self.file
            .flush()
            .map_err(|e| RecordingError::io(&self.path, e))
    }
}

/// A file name in `dir` not taken yet.
fn next_file(dir: &Path) -> PathBuf {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut n = 0u32;
    loop {
        let p = dir.join(format!("recording-{ms}-{n}.jsonl"));
        if !p.exists() {
            return p;
        }
        n += 1;
    }
}

/// Opens `path` for appending, first cutting a torn last line (one with
/// no newline) a killed writer left.
fn open_append(path: &Path) -> Result<File, RecordingError> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(|e| RecordingError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| RecordingError::io(path, e))?
        .len();
    if len > 0 {
        let mut text = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut text))
            .map_err(|e| RecordingError::io(path, e))?;
        if text.last() != Some(&b'\n') {
            let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64)
                .map_err(|e| RecordingError::io(path, e))?;
        }
    }
    Ok(file)
}
