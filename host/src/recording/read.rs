//! Reading recordings back: every complete line of one or more files (a
//! directory means its `*.jsonl` files, oldest name first). A torn last
//! line — a process killed mid-write — is skipped and reported; any other
//! line that is not a version-1 recorded run is an error naming its file
//! and line.

use std::path::{Path, PathBuf};

use super::format::{RecordedRun, VERSION};
use super::RecordingError;

/// What was read.
#[derive(Debug, Default)]
pub struct Recordings {
    /// The runs, in file and line order.
    pub runs: Vec<RecordedRun>,
    /// Files whose last line was torn (skipped).
    pub torn: Vec<PathBuf>,
}

/// Reads every run in `paths` (files, or directories of `*.jsonl`).
pub fn read(paths: &[PathBuf]) -> Result<Recordings, RecordingError> {
    let mut out = Recordings::default();
    for p in paths {
        for file in files(p)? {
            read_file(&file, &mut out)?;
        }
    }
    Ok(out)
}

fn files(p: &Path) -> Result<Vec<PathBuf>, RecordingError> {
    if !p.is_dir() {
        return Ok(vec![p.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| RecordingError::io(p, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

fn read_file(path: &Path, out: &mut Recordings) -> Result<(), RecordingError> {
    let text = std::fs::read_to_string(path).map_err(|e| RecordingError::io(path, e))?;
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let last = i + 1 == lines.len();
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if last && !complete => {
                out.torn.push(path.to_path_buf());
                continue;
            }
            Err(e) => return Err(RecordingError::line(path, i + 1, e.to_string())),
        };
        let version = value.get("recording").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(VERSION)) {
            return Err(RecordingError::line(
                path,
                i + 1,
                format!(
                    "not a version-{VERSION} recording line (its `recording` is {})",
                    version.map_or("missing".into(), |v| v.to_string())
                ),
            ));
        }
        let run: RecordedRun = serde_json::from_value(value)
            .map_err(|e| RecordingError::line(path, i + 1, e.to_string()))?;
        out.runs.push(run);
    }
    Ok(())
}
