//! `serve --watch`: watches every node's component file and hot-swaps the
//! nodes using a file when it changes. Events are debounced, so a build
//! that writes a file in several steps swaps once; a file caught half
//! written fails to load, is refused, and the next event retries. The
//! directories are watched rather than the files, so replacing a file by
//! rename (as cargo and most editors do) is seen too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer, DebounceEventResult, Debouncer};

use super::live::LivePipeline;

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch `{path}` for --watch: {reason}")]
pub struct WatchError {
    path: PathBuf,
    reason: String,
}

/// Watching stops when this is dropped.
pub struct Watcher {
    _debouncer: Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The file's identity for matching events: its canonical directory plus
/// its name (the file itself may be replaced).
fn key(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// Starts watching the component files of `live`'s nodes.
pub fn watch(live: Arc<LivePipeline>, debounce: Duration) -> Result<Watcher, WatchError> {
    // component file → the nodes running it
    let mut files: BTreeMap<PathBuf, (PathBuf, Vec<String>)> = BTreeMap::new();
    // A node pulled by reference has no file to watch: swap it by reference.
    for (name, node) in live.current().nodes() {
        let Some(path) = node.spec.component.file() else {
            continue;
        };
        let entry = files
            .entry(key(path))
            .or_insert_with(|| (path.to_path_buf(), Vec::new()));
        entry.1.push(name.clone());
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    let mut debouncer = new_debouncer(debounce, move |result: DebounceEventResult| match result {
        Ok(events) => {
            let _ = tx.send(events.into_iter().map(|e| e.path).collect());
        }
        Err(e) => tracing::warn!(error = %e, "file watcher error"),
    })
    .map_err(|e| WatchError {
        path: PathBuf::from("."),
        reason: e.to_string(),
    })?;
    let mut dirs: Vec<PathBuf> = files
        .keys()
        .filter_map(|k| k.parent().map(Path::to_path_buf))
        .collect();
    dirs.dedup();
    for dir in &dirs {
        debouncer
            .watcher()
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| WatchError {
                path: dir.clone(),
                reason: e.to_string(),
            })?;
    }
    tracing::info!(files = files.len(), "watching component files for changes");
    let task = tokio::spawn(async move {
        while let Some(paths) = rx.recv().await {
            let mut changed: Vec<&(PathBuf, Vec<String>)> =
                paths.iter().filter_map(|p| files.get(&key(p))).collect();
            changed.sort_by(|a, b| a.0.cmp(&b.0));
            changed.dedup_by(|a, b| a.0 == b.0);
            for (path, nodes) in changed {
                let bytes = match tokio::fs::read(path).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "--watch: cannot read the changed component");
                        continue;
                    }
                };
                for node in nodes {
                    // `swap` logs the outcome and counts it in the metrics.
                    let _ = live.swap(node, &bytes, path).await;
                }
            }
        }
    });
    Ok(Watcher {
        _debouncer: debouncer,
        task,
    })
}
