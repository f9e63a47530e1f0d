//! Components as artifacts: where a node's bytes come from and who signed
//! them. `store` keeps pulled components by digest; `registry` pushes and
//! pulls them as OCI artifacts; `signing` embeds and verifies Ed25519
//! signatures; `trust` is the check every component passes before it
//! becomes a node. [`Sources`] turns a manifest's `component = …` into
//! bytes: a file read, or a reference resolved through the store and, when
//! needed, the registry.

pub mod registry;
pub mod signing;
pub mod store;
pub mod trust;

use std::path::PathBuf;

pub use registry::{ComponentInfo, Pushed, RegistryClient, RegistryError};
pub use store::{digest_of, ComponentStore, StoreError};
pub use trust::{Provenance, TrustError};

use crate::spec::{ComponentSource, OciRef};

/// Why a component's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A component file could not be read.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The registry failed or served something unacceptable.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Offline (or the registry unreachable) and not in the store.
    #[error(
        "{reference} is not in the component store ({store}) and the registry was not asked: {why}"
    )]
    NotStored {
        /// The reference.
        reference: String,
        /// The store's directory.
        store: String,
        /// Why the registry was not asked.
        why: String,
    },
}

impl FetchError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Read { .. } => "the path is relative to the manifest; build the component first",
            Self::Store(_) => "check the store directory (--store or SWITCHYARD_STORE) is writable",
            Self::Registry(RegistryError::DigestMismatch { .. }) => {
                "the registry's content does not match the pinned digest; do not run it, and tell the registry's operator"
            }
            Self::Registry(_) => {
                "check the reference and that the registry is reachable; credentials come from SWITCHYARD_REGISTRY_USERNAME/PASSWORD or ~/.docker/config.json"
            }
            Self::NotStored { .. } => {
                "run `switchyard pull REFERENCE` once while the registry is reachable"
            }
        }
    }
}

/// A component's bytes and where they came from.
#[derive(Debug)]
pub struct Fetched {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The file, or the reference pinned to the manifest digest it
    /// resolved to.
    pub origin: String,
}

/// Where components come from: files, the local store, a registry.
#[derive(Debug, Clone)]
pub struct Sources {
    store: Option<ComponentStore>,
    registry: RegistryClient,
    offline: bool,
}

impl Default for Sources {
    fn default() -> Self {
        Self::from_env()
    }
}

impl Sources {
    /// The default store (`$SWITCHYARD_STORE`, else the user's cache),
    /// the registry settings from the environment, and offline when
    /// `SWITCHYARD_OFFLINE` is set to anything but `0`.
    pub fn from_env() -> Self {
        Self {
            store: ComponentStore::default_dir().map(ComponentStore::at),
            registry: RegistryClient::from_env(),
            offline: std::env::var("SWITCHYARD_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0"),
        }
    }

    /// The same, with the store at `dir`.
    pub fn with_store(mut self, dir: PathBuf) -> Self {
        self.store = Some(ComponentStore::at(dir));
        self
    }

    /// The same, never asking a registry.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// The store, if there is a directory for one.
    pub fn store(&self) -> Result<&ComponentStore, StoreError> {
        self.store.as_ref().ok_or(StoreError::NoDirectory)
    }

    /// The registry client.
    pub fn registry(&self) -> &RegistryClient {
        &self.registry
    }

    /// The bytes of `source`.
    pub async fn fetch(&self, source: &ComponentSource) -> Result<Fetched, FetchError> {
        match source {
            ComponentSource::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|source| FetchError::Read {
                        path: path.clone(),
                        source,
                    })?;
                Ok(Fetched {
                    bytes,
                    origin: path.display().to_string(),
                })
            }
            ComponentSource::Oci(r) => self.fetch_oci(r).await,
        }
    }

    /// The component `r` names: from the store when `r` pins a digest held
    /// there, else pulled (and stored). A tag is asked of the registry;
    /// offline, or when the registry cannot be reached, it falls back to
    /// the digest the tag had when last pulled.
    async fn fetch_oci(&self, r: &OciRef) -> Result<Fetched, FetchError> {
        let store = self.store()?;
        if let Some(found) = self.stored(store, r)? {
            return Ok(found);
        }
        if self.offline {
            return self.last_pulled(store, r, "offline (--offline or SWITCHYARD_OFFLINE)".into());
        }
        match self.pull(r).await {
            Ok(f) => Ok(f),
            Err(FetchError::Registry(RegistryError::Registry { message, .. }))
                if r.digest.is_none() =>
            {
                self.last_pulled(store, r, format!("the registry failed: {message}"))
            }
            Err(e) => Err(e),
        }
    }

    /// `r` from the store, when it pins a digest held there: the manifest
    /// by its digest, then the layer by the digest the manifest names, each
    /// checked as it is read.
    fn stored(&self, store: &ComponentStore, r: &OciRef) -> Result<Option<Fetched>, FetchError> {
        let Some(digest) = &r.digest else {
            return Ok(None);
        };
        let Some(manifest) = store.get(digest)? else {
            return Ok(None);
        };
        let Some(layer) = registry::parse_manifest(&manifest)
            .and_then(|m| registry::wasm_layer(&m).map(|l| l.digest.clone()))
            .ok()
        else {
            return Ok(None);
        };
        Ok(store.get(&layer)?.map(|bytes| Fetched {
            bytes,
            origin: r.to_string(),
        }))
    }

    fn last_pulled(
        &self,
        store: &ComponentStore,
        r: &OciRef,
        why: String,
    ) -> Result<Fetched, FetchError> {
        let not_stored = || FetchError::NotStored {
            reference: r.to_string(),
            store: store.root().display().to_string(),
            why: why.clone(),
        };
        if r.digest.is_some() {
            return Err(not_stored());
        }
        let manifest = store.tag(r).ok_or_else(not_stored)?;
        let pinned = r.pinned(&manifest);
        let found = self.stored(store, &pinned)?.ok_or_else(not_stored)?;
        tracing::warn!(reference = %r, pinned = %pinned, %why, "using the digest this tag had when last pulled");
        Ok(found)
    }

    /// Pulls `r` from its registry into the store (digests checked) and
    /// returns it, pinned.
    pub async fn pull(&self, r: &OciRef) -> Result<Fetched, FetchError> {
        let store = self.store()?;
        let pulled = self.registry.pull(r).await?;
        store.put(&pulled.bytes)?;
        store.put(&pulled.manifest)?;
        store.remember_tag(r, &pulled.manifest_digest)?;
        Ok(Fetched {
            bytes: pulled.bytes,
            origin: r.pinned(&pulled.manifest_digest).to_string(),
        })
    }
}
