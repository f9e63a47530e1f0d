//! The local content-addressed component store: components pulled from a
//! registry and their OCI manifests, each kept by the SHA-256 of its bytes
//! and checked again on every read (so nothing in the store can stand in
//! for a pinned digest), plus the digest each tag had when last pulled. A
//! manifest pinned to a digest loads offline once pulled.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::spec::OciRef;

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("component store {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// No store directory: no `$SWITCHYARD_STORE`, `$XDG_CACHE_HOME` or `$HOME`.
    #[error("no component store directory: set SWITCHYARD_STORE (or HOME) or pass --store DIR")]
    NoDirectory,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A directory of components by digest.
#[derive(Debug, Clone)]
pub struct ComponentStore {
    root: PathBuf,
}

impl ComponentStore {
    /// `$SWITCHYARD_STORE`, else `$XDG_CACHE_HOME/switchyard/components`,
    /// else `~/.cache/switchyard/components`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("SWITCHYARD_STORE") {
            return Some(dir.into());
        }
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .map(|c| c.join("switchyard").join("components"))
    }

    /// The store at `root` (created on first write).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("sha256").join(hex)
    }

    fn index_path(&self, kind: &str, r: &OciRef, key: &str) -> PathBuf {
        // `host:port` is a valid directory name on every Unix.
        let mut p = self
            .root
            .join(kind)
            .join(r.registry.replace(['/', '\\'], "_"));
        for part in r.repository.split('/') {
            p.push(part);
        }
        p.join(key.replace(':', "-"))
    }

    /// The blob (a component or a manifest) with this digest, if held and intact. A file
    /// whose bytes no longer match its digest is removed and reported as
    /// absent, so it is fetched again.
    pub fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.blob_path(digest);
        match std::fs::read(&path) {
            Ok(bytes) if digest_of(&bytes) == digest => Ok(Some(bytes)),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "a stored component does not match its digest; removed");
                let _ = std::fs::remove_file(&path);
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Stores `bytes` under their digest (atomically: a temporary file,
    /// then a rename) and returns the digest.
    pub fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let digest = digest_of(bytes);
        let path = self.blob_path(&digest);
        if path.exists() && self.get(&digest)?.is_some() {
            return Ok(digest);
        }
        self.write_atomically(&path, bytes)?;
        Ok(digest)
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let dir = path.parent().expect("store paths have a parent");
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
        tmp.write_all(bytes).map_err(io(path))?;
        tmp.as_file().sync_all().map_err(io(path))?;
        tmp.persist(path).map_err(|e| StoreError::Io {
            path: path.to_path_buf(),
            source: e.error,
        })?;
        Ok(())
    }

    /// Remembers that `r`'s tag pointed at `manifest_digest` when last pulled.
    pub fn remember_tag(&self, r: &OciRef, manifest_digest: &str) -> Result<(), StoreError> {
        let Some(tag) = &r.tag else { return Ok(()) };
        let path = self.index_path("tags", r, tag);
        self.write_atomically(&path, manifest_digest.as_bytes())
    }

    /// The manifest digest `r`'s tag pointed at when last pulled.
    pub fn tag(&self, r: &OciRef) -> Option<String> {
        read_digest(&self.index_path("tags", r, r.tag.as_deref()?))
    }
}

fn read_digest(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let d = text.trim();
    let ok = d
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then(|| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_blob_is_read_back_and_a_corrupted_one_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = ComponentStore::at(dir.path());
        let d = store.put(b"\0asm component").unwrap();
        assert_eq!(d, digest_of(b"\0asm component"));
        assert_eq!(
            store.get(&d).unwrap().as_deref(),
            Some(&b"\0asm component"[..])
        );
        std::fs::write(store.blob_path(&d), b"tampered").unwrap();
        assert_eq!(store.get(&d).unwrap(), None);
        assert!(!store.blob_path(&d).exists());
    }

    #[test]
    fn tags_are_remembered_per_repository() {
        let dir = tempfile::tempdir().unwrap();
        let store = ComponentStore::at(dir.path());
        let r = OciRef::parse("oci://127.0.0.1:5000/guards/pii:1.0").unwrap();
        let m = format!("sha256:{}", "b".repeat(64));
        store.remember_tag(&r, &m).unwrap();
        assert_eq!(store.tag(&r), Some(m.clone()));
        let other = OciRef::parse("oci://127.0.0.1:5000/guards/tone:1.0").unwrap();
        assert_eq!(store.tag(&other), None);
    }
}
