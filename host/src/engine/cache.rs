//! The on-disk cache of compiled components, keyed by the engine's
//! compatibility hash plus the SHA-256 of the component's bytes, so a second
//! load skips Cranelift entirely (milliseconds instead of seconds for large
//! Python or JavaScript components).
//!
//! Files are written atomically (temp file, then rename), read-only, into a
//! directory only this user can write, and only files from that directory
//! are ever deserialized. Entries are memory-mapped when loaded, so they are
//! never rewritten in place: a corrupt entry is unlinked and replaced by a
//! new file. Delete entries to clear the cache; never edit them.

#![allow(unsafe_code)]

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Whether a load used the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    /// Loaded a precompiled artifact.
    Hit,
    /// Compiled, then stored the artifact.
    Miss,
    /// Compiled; caching is off.
    Disabled,
}

/// The compiled-artifact cache (or none).
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// A cache in `dir` (created on first store), or none.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The default location: `$SWITCHYARD_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/switchyard`, else `~/.cache/switchyard`; none if
    /// `SWITCHYARD_CACHE_DIR` is set to an empty string.
    pub fn default_dir() -> Option<PathBuf> {
        match std::env::var_os("SWITCHYARD_CACHE_DIR") {
            Some(d) if d.is_empty() => None,
            Some(d) => Some(PathBuf::from(d)),
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
                .map(|d| d.join("switchyard")),
        }
    }

    /// The cache directory, if caching is on.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The hex SHA-256 of `bytes`: a component's identity in the cache,
    /// traces and metrics.
    pub fn digest(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// The component for `bytes` (whose [`digest`](Self::digest) is
    /// `digest`), from the cache or freshly compiled.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(path) = self.entry_path(engine, digest) else {
            return Ok((Component::new(engine, bytes)?, CacheOutcome::Disabled));
        };
        if path.is_file() {
            // SAFETY: `deserialize_file` trusts the file to be an artifact
            // produced by `serialize` for a compatible engine, and maps it:
            // it must not be modified while the component lives. The file
            // name carries this engine's compatibility hash and the content
            // hash; files here are only created by `store` below, atomically
            // (a new inode renamed into place, so a live mapping never sees
            // a rewrite), read-only, in a directory only this user may
            // write. Wasmtime also checks the artifact's header and engine
            // settings before using it. Mapping instead of reading saves a
            // copy: ~30 ms against ~65 ms for an 18 MB Python component.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok((c, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached component");
                    // Unlink rather than overwrite: another process may map it.
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = store(&path, &component.serialize()?) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write compiled component to cache");
        }
        Ok((component, CacheOutcome::Miss))
    }

    fn entry_path(&self, engine: &Engine, digest: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = format!("{:016x}", h.finish());
        Some(dir.join(engine_key).join(format!("{digest}.cwasm")))
    }
}

fn store(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("entry paths have a parent");
    create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(artifact)?;
    tmp.as_file().sync_all()?;
    // Read-only: entries are mapped while in use and must never be edited.
    let mut perms = tmp.as_file().metadata()?.permissions();
    perms.set_readonly(true);
    tmp.as_file().set_permissions(perms)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}
