//! Client keys in a JSON file (`[auth] keys-file`, the embedded default):
//! `{"version": 1, "keys": [...]}`, written whole (temporary file, synced,
//! renamed; mode 0600), and read again by `serve` when it changes, so
//! `keys create` and `keys revoke` take effect without a restart.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{pick, ClientKey, KeyError, KeyStore};

/// The file's format version.
const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    version: u32,
    keys: Vec<ClientKey>,
}

/// Keys in a file.
#[derive(Debug)]
pub struct FileKeys {
    path: PathBuf,
    /// The keys as last read, and which file they were read from.
    cached: Mutex<Option<(Stamp, Vec<ClientKey>)>>,
}

impl FileKeys {
    /// Keys in `path` (created on the first `add`).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cached: Mutex::new(None),
        }
    }

    fn fail(&self, reason: impl std::fmt::Display) -> KeyError {
        KeyError::File {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// The keys now in the file (none if it does not exist yet).
    fn read(&self) -> Result<Vec<ClientKey>, KeyError> {
        let stamp = Stamp::of(&self.path);
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, keys)) = cached.as_ref() {
            if stamp.is_some() && *at == stamp {
                return Ok(keys.clone());
            }
        }
        let keys = match std::fs::read(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(self.fail(e)),
            Ok(bytes) => {
                let file: KeysFile = serde_json::from_slice(&bytes).map_err(|e| {
                    self.fail(format!(
                        "not a keys file ({e}); it is written by `switchyard keys create`"
                    ))
                })?;
                if file.version != VERSION {
                    return Err(self.fail(format!(
                        "version {} is not the version {VERSION} this switchyard reads",
                        file.version
                    )));
                }
                file.keys
            }
        };
        *cached = Some((stamp, keys.clone()));
        Ok(keys)
    }

    fn write(&self, keys: Vec<ClientKey>) -> Result<(), KeyError> {
        let text = serde_json::to_vec_pretty(&KeysFile {
            version: VERSION,
            keys,
        })
        .map_err(|e| self.fail(e))?;
        write_private(&self.path, &text).map_err(|e| self.fail(e))?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }
}

/// Which version of the file was read: every write renames a new file
/// into place, so its inode changes even when the clock does not tick
/// between two writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp(Option<(u64, u64, Option<SystemTime>)>);

impl Stamp {
    fn of(path: &Path) -> Self {
        Self(std::fs::metadata(path).ok().map(|m| {
            #[cfg(unix)]
            let inode = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let inode = 0;
            (inode, m.len(), m.modified().ok())
        }))
    }

    fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

/// Writes `bytes` to `path` whole, readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[async_trait::async_trait]
impl KeyStore for FileKeys {
    async fn find(&self, sha256: &str) -> Result<Option<ClientKey>, KeyError> {
        Ok(self.read()?.into_iter().find(|k| k.sha256 == sha256))
    }

    async fn list(&self) -> Result<Vec<ClientKey>, KeyError> {
        self.read()
    }

    async fn add(&self, key: ClientKey) -> Result<(), KeyError> {
        let mut keys = self.read()?;
        if keys
            .iter()
            .any(|k| k.name == key.name && k.revoked.is_none())
        {
            return Err(KeyError::Taken(key.name));
        }
        keys.push(key);
        self.write(keys)
    }

    async fn revoke(&self, id_or_name: &str, now: u64) -> Result<ClientKey, KeyError> {
        let mut keys = self.read()?;
        let key =
            pick(&mut keys, id_or_name).ok_or_else(|| KeyError::Unknown(id_or_name.to_string()))?;
        key.revoked.get_or_insert(now);
        let revoked = key.clone();
        self.write(keys)?;
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewKey;
    use super::*;

    #[tokio::test]
    async fn keys_are_added_found_by_hash_revoked_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let store = FileKeys::new(&path);
        assert!(store.list().await.unwrap().is_empty());
        let (key, secret) = NewKey {
            name: "a".into(),
            ..NewKey::default()
        }
        .issue(10)
        .unwrap();
        store.add(key.clone()).await.unwrap();
        let (again, _) = NewKey {
            name: "a".into(),
            ..NewKey::default()
        }
        .issue(10)
        .unwrap();
        assert!(matches!(store.add(again).await, Err(KeyError::Taken(_))));
        // Another process (serve) reads what this one wrote.
        let other = FileKeys::new(&path);
        let found = other.find(&super::super::hash(&secret)).await.unwrap();
        assert_eq!(found.as_ref().map(|k| &k.id), Some(&key.id));
        assert!(!std::fs::read_to_string(&path).unwrap().contains(&secret));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.revoke("a", 20).await.unwrap();
        let found = other.find(&key.sha256).await.unwrap().unwrap();
        assert_eq!(found.revoked, Some(20));
        assert!(matches!(
            store.revoke("nobody", 20).await,
            Err(KeyError::Unknown(_))
        ));
        std::fs::write(&path, "{").unwrap();
        let err = FileKeys::new(&path).list().await.unwrap_err().to_string();
        assert!(
            err.contains("keys.json") && err.contains("not a keys file"),
            "{err}"
        );
    }
}
