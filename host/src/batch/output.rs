//! Where records go. [`OutputPaths`] checks every output path before a
//! batch starts; [`RecordWriter`] writes each record as one whole line —
//! gathering records into one write of up to [`FLUSH_BYTES`], written at
//! the latest [`FLUSH_AFTER`] after the first of them (the batch loop keeps
//! that appointment), so a file costs one write per chunk, not per record —
//! and, for a file, keeps it ending at its last complete record: records go to
//! `FILE.partial`, a failed write (a full disk) cuts it back to the last
//! complete record, and [`RecordWriter::finish`] moves it to `FILE` once
//! every input line has its record — renamed when its records are in input
//! order, rewritten in input order when a resumed batch filled gaps.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::resume::Resumed;
use super::BatchError;

/// How a batch treats an existing `FILE.partial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Refuse it (it holds finished work).
    Fresh,
    /// Discard it and start over (`--force`).
    Force,
    /// Continue it (`--resume`).
    Resume,
}

/// The output file of a batch and its `.partial`.
#[derive(Debug, Clone)]
pub struct OutputPaths {
    output: PathBuf,
    partial: PathBuf,
}

impl OutputPaths {
    /// `output` and `output.partial`.
    pub fn new(output: impl Into<PathBuf>) -> Self {
        let output = output.into();
        let mut partial = output.clone().into_os_string();
        partial.push(".partial");
        Self {
            output,
            partial: partial.into(),
        }
    }

    /// The finished output.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// Where records go until the batch completes.
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    /// Checks, changing nothing, that both paths can be written and, for
    /// [`Start::Fresh`], that no `.partial` holds earlier work.
    pub fn check(&self, start: Start) -> Result<(), BatchError> {
        check_target("--output", &self.output)?;
        check_target("--output", &self.partial)?;
        if start == Start::Fresh && self.partial.exists() {
            return Err(BatchError::PartialExists {
                partial: self.partial.clone(),
            });
        }
        Ok(())
    }
}

/// Checks, changing nothing, that `path` (given with `flag`) can be
/// written: not a directory, in a directory that exists, writable there.
pub fn check_target(flag: &'static str, path: &Path) -> Result<(), BatchError> {
    if path.is_dir() {
        return Err(BatchError::IsDirectory {
            flag,
            path: path.to_path_buf(),
        });
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(BatchError::NoDirectory {
            flag,
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        });
    }
    let not_writable = |error| BatchError::NotWritable {
        flag,
        path: path.to_path_buf(),
        error,
    };
    if path.exists() {
        // Opening for writing without truncating proves it, changing nothing.
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(not_writable)?;
    } else {
        // A scratch file, removed on drop, proves the directory writable.
        tempfile::Builder::new()
            .prefix(".switchyard-check")
            .tempfile_in(dir)
            .map_err(not_writable)?;
    }
    Ok(())
}

/// Writes `bytes` to `path` whole: into a temporary file beside it
/// (`.NAME.PID.tmp`), synced, then renamed over `path`, so a reader never
/// sees half a file, and a failed write leaves any earlier file in place
/// and no temporary file behind. For the one-piece outputs of a command
/// (an HTML report), not for records.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// Records gathered before they are written together.
pub const FLUSH_BYTES: usize = 64 << 10;
/// The longest a gathered record waits to be written.
pub const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// Writes records, each as one whole line, and knows where the last
/// complete one ends.
#[derive(Debug)]
pub struct RecordWriter<W> {
    out: W,
    target: String,
    /// A second handle on a file output, to cut it back after a failed write.
    cut: Option<tokio::fs::File>,
    /// Bytes of complete records written.
    len: u64,
    /// Whole records not yet written.
    pending: Vec<u8>,
    /// When the first of them was gathered, and its input line.
    first_pending: Option<(Instant, u64)>,
    last_line: u64,
    ordered: bool,
    written: u64,
}

impl<W: AsyncWrite + Unpin> RecordWriter<W> {
    /// Records to a stream (stdout, a buffer), named `target` in messages.
    /// A stream cannot be cut back after a failed write.
    pub fn stream(out: W, target: &str) -> Self {
        Self {
            out,
            target: target.to_string(),
            cut: None,
            len: 0,
            pending: Vec::new(),
            first_pending: None,
            last_line: 0,
            ordered: true,
            written: 0,
        }
    }

    /// Takes one record (`bytes`, ending in `\n`) of input line `line`,
    /// writing what is gathered once it reaches [`FLUSH_BYTES`]. On failure
    /// a file is cut back to its last complete record.
    pub async fn write(&mut self, line: u64, bytes: &[u8]) -> Result<(), BatchError> {
        debug_assert!(bytes.ends_with(b"\n"));
        self.first_pending.get_or_insert((Instant::now(), line));
        self.pending.extend_from_slice(bytes);
        self.ordered &= line > self.last_line;
        self.last_line = self.last_line.max(line);
        self.written += 1;
        if self.pending.len() >= FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// When what is gathered must be written ([`RecordWriter::flush`]):
    /// [`FLUSH_AFTER`] after its first record; `None` when nothing waits.
    pub fn flush_due(&self) -> Option<Instant> {
        self.first_pending.map(|(t, _)| t + FLUSH_AFTER)
    }

    /// Writes what is gathered and flushes it. A failure names the first
    /// record not written.
    pub async fn flush(&mut self) -> Result<(), BatchError> {
        let result = async {
            if !self.pending.is_empty() {
                self.out.write_all(&self.pending).await?;
            }
            // A file reports a failed write on the next operation; make
            // that this one, so the error names these records.
            self.out.flush().await
        }
        .await;
        match result {
            Ok(()) => {
                self.len += self.pending.len() as u64;
                self.pending.clear();
                self.first_pending = None;
                Ok(())
            }
            Err(error) => {
                let line = self.first_pending.map_or(self.last_line, |(_, l)| l);
                Err(self.failed(line, error).await)
            }
        }
    }

    /// Records taken by this writer (on the file once flushed).
    pub fn written(&self) -> u64 {
        self.written
    }

    async fn failed(&mut self, line: u64, error: std::io::Error) -> BatchError {
        let hint = match &mut self.cut {
            None => String::new(),
            Some(file) => match file.set_len(self.len).await {
                Ok(()) => format!(
                    "; {} ends at its last complete record: make room, then run the same command with --resume",
                    self.target
                ),
                Err(e) => {
                    tracing::warn!(file = %self.target, error = %e, "cannot cut a torn record");
                    format!(
                        "; {} may end in a torn record, which --resume drops: make room, then run the same command with --resume",
                        self.target
                    )
                }
            },
        };
        BatchError::Write {
            target: self.target.clone(),
            line,
            error,
            hint,
        }
    }
}

impl RecordWriter<tokio::fs::File> {
    /// Starts `FILE.partial` afresh; with `force`, over an earlier one.
    pub async fn create(paths: &OutputPaths, force: bool) -> Result<Self, BatchError> {
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true);
        if force {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let file = opts.open(&paths.partial).await.map_err(|error| {
            if error.kind() == std::io::ErrorKind::AlreadyExists {
                BatchError::PartialExists {
                    partial: paths.partial.clone(),
                }
            } else {
                BatchError::Open {
                    path: paths.partial.clone(),
                    error,
                }
            }
        })?;
        Self::file(paths, file, 0, 0, true).await
    }

    /// Continues `FILE.partial` after the records `resumed` keeps, cutting
    /// a torn last line off first.
    pub async fn append(paths: &OutputPaths, resumed: &Resumed) -> Result<Self, BatchError> {
        let open = |error| BatchError::Open {
            path: paths.partial.clone(),
            error,
        };
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&paths.partial)
            .await
            .map_err(open)?;
        if resumed.torn_bytes() > 0 {
            file.set_len(resumed.kept_bytes()).await.map_err(open)?;
            tracing::info!(
                file = %paths.partial.display(),
                bytes = resumed.torn_bytes(),
                "cut a torn last record; its line runs again"
            );
        }
        Self::file(
            paths,
            file,
            resumed.kept_bytes(),
            resumed.last_line(),
            resumed.is_ordered(),
        )
        .await
    }

    async fn file(
        paths: &OutputPaths,
        file: tokio::fs::File,
        len: u64,
        last_line: u64,
        ordered: bool,
    ) -> Result<Self, BatchError> {
        let cut = file.try_clone().await.map_err(|error| BatchError::Open {
            path: paths.partial.clone(),
            error,
        })?;
        Ok(Self {
            out: file,
            target: paths.partial.display().to_string(),
            cut: Some(cut),
            len,
            pending: Vec::new(),
            first_pending: None,
            last_line,
            ordered,
            written: 0,
        })
    }

    /// Every input line has its record: moves `FILE.partial` to `FILE`,
    /// in input order.
    pub async fn finish(mut self, paths: &OutputPaths) -> Result<(), BatchError> {
        self.flush().await?;
        let failed = |error| BatchError::Finish {
            from: paths.partial.clone(),
            to: paths.output.clone(),
            error,
        };
        self.out.sync_all().await.map_err(failed)?;
        drop(self.cut.take());
        drop(self.out);
        if self.ordered {
            return tokio::fs::rename(&paths.partial, &paths.output)
                .await
                .map_err(failed);
        }
        let (partial, output) = (paths.partial.clone(), paths.output.clone());
        tokio::task::spawn_blocking(move || rewrite_in_order(&partial, &output))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(failed)
    }
}

/// Writes the records of `partial` (complete, one per line, in any order)
/// to `output` sorted by input line, through a scratch file renamed into
/// place, then removes `partial`. Memory holds an index, not the records.
fn rewrite_in_order(partial: &Path, output: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;

    #[derive(Deserialize)]
    struct Line {
        line: u64,
    }
    let file = std::fs::File::open(partial)?;
    let mut index = Vec::new();
    let mut reader = std::io::BufReader::new(&file);
    let (mut buf, mut offset) = (Vec::new(), 0u64);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        let Line { line } = serde_json::from_slice(&buf).map_err(std::io::Error::other)?;
        index.push((line, offset, n));
        offset += n as u64;
    }
    index.sort_unstable();
    let mut scratch = output.as_os_str().to_owned();
    scratch.push(".sorting");
    let scratch = PathBuf::from(scratch);
    let out = std::fs::File::create(&scratch)?;
    let mut w = std::io::BufWriter::new(&out);
    for (_, offset, len) in index {
        buf.resize(len, 0);
        file.read_exact_at(&mut buf, offset)?;
        w.write_all(&buf)?;
    }
    w.flush()?;
    drop(w);
    out.sync_all()?;
    std::fs::rename(&scratch, output)?;
    std::fs::remove_file(partial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_target_refuses_directories_missing_parents_and_names_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_target("--output", dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--output ") && e.contains("is a directory"),
            "{e}"
        );
        let missing = dir.path().join("nope/out.jsonl");
        let e = check_target("--summary-json", &missing)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--summary-json") && e.contains("does not exist"),
            "{e}"
        );
        let fine = dir.path().join("out.jsonl");
        check_target("--output", &fine).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "checks leave nothing behind"
        );
    }

    #[tokio::test]
    async fn writer_refuses_an_existing_partial_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let paths = OutputPaths::new(dir.path().join("out.jsonl"));
        std::fs::write(paths.partial(), b"{}\n").unwrap();
        assert!(matches!(
            paths.check(Start::Fresh),
            Err(BatchError::PartialExists { .. })
        ));
        assert!(matches!(
            RecordWriter::create(&paths, false).await,
            Err(BatchError::PartialExists { .. })
        ));
        assert_eq!(
            std::fs::read(paths.partial()).unwrap(),
            b"{}\n",
            "untouched"
        );
        paths.check(Start::Force).unwrap();
        let w = RecordWriter::create(&paths, true).await.unwrap();
        drop(w);
        assert_eq!(std::fs::read(paths.partial()).unwrap(), b"");
    }

    #[tokio::test]
    async fn writer_gathers_records_into_one_write_and_names_when_it_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let paths = OutputPaths::new(dir.path().join("out.jsonl"));
        let mut w = RecordWriter::create(&paths, false).await.unwrap();
        assert_eq!(w.flush_due(), None, "nothing gathered");
        let before = Instant::now();
        w.write(1, b"{\"line\":1}\n").await.unwrap();
        w.write(2, b"{\"line\":2}\n").await.unwrap();
        let due = w.flush_due().expect("records wait");
        assert!(due >= before + FLUSH_AFTER && due <= Instant::now() + FLUSH_AFTER);
        assert_eq!(
            std::fs::read(paths.partial()).unwrap(),
            b"",
            "not written yet"
        );
        w.flush().await.unwrap();
        assert_eq!(w.flush_due(), None);
        assert_eq!(
            std::fs::read(paths.partial()).unwrap(),
            b"{\"line\":1}\n{\"line\":2}\n"
        );
        // Past FLUSH_BYTES the gathered records are written at once.
        let big = format!("{{\"line\":3,\"pad\":\"{}\"}}\n", "x".repeat(FLUSH_BYTES));
        w.write(3, big.as_bytes()).await.unwrap();
        assert_eq!(w.flush_due(), None, "written");
        assert_eq!(
            std::fs::metadata(paths.partial()).unwrap().len() as usize,
            22 + big.len()
        );
        assert_eq!(w.written(), 3);
    }

    #[tokio::test]
    async fn finish_renames_ordered_records_and_sorts_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let paths = OutputPaths::new(dir.path().join("out.jsonl"));
        let mut w = RecordWriter::create(&paths, false).await.unwrap();
        for line in [1, 3, 2] {
            w.write(line, format!("{{\"line\":{line}}}\n").as_bytes())
                .await
                .unwrap();
        }
        w.finish(&paths).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(paths.output()).unwrap(),
            "{\"line\":1}\n{\"line\":2}\n{\"line\":3}\n"
        );
        assert!(!paths.partial().exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no scratch file left"
        );
    }
}
