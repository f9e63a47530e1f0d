//! Signatures embedded in a component: Ed25519, in the format of the
//! WebAssembly signatures proposal (wasmsign2), so `wasmsign2 verify`
//! reads what `switchyard sign` writes. A signature covers every byte of
//! the component after its signature section; verifying needs only the
//! public key, offline. Several parties may sign the same component.

use std::path::{Path, PathBuf};

use crate::spec::TrustedKey;

/// Why signing, reading or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A key or component file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The component already carries a signature by this key.
    #[error("it is already signed with this key (key id {0}); nothing was changed")]
    AlreadySigned(String),
    /// The bytes are not a well-formed WebAssembly binary.
    #[error("not a well-formed WebAssembly component: {0}")]
    Malformed(String),
}

/// One signature found in a component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureInfo {
    /// The key id the signer stored (hex), if any.
    pub key_id: Option<String>,
}

/// A freshly generated key pair, PEM-encoded.
pub struct GeneratedKeys {
    /// The secret key (PKCS#8 PEM): keep it private.
    pub secret_pem: String,
    /// The public key (SPKI PEM): give it to whoever runs your nodes.
    pub public_pem: String,
    /// The key id signatures made with it carry (hex).
    pub key_id: String,
}

/// Generates an Ed25519 key pair.
pub fn generate() -> GeneratedKeys {
    let kp = wasmsign2::KeyPair::generate();
    let public = kp.pk.clone().attach_default_key_id();
    GeneratedKeys {
        secret_pem: kp.sk.to_pem(),
        public_pem: kp.pk.to_pem(),
        key_id: public.key_id().map(hex::encode).unwrap_or_default(),
    }
}

/// Where [`write_key_pair`] put a new key pair.
#[derive(Debug)]
pub struct KeyFiles {
    /// `NAME.key`, readable by its owner only.
    pub secret: PathBuf,
    /// `NAME.pub`.
    pub public: PathBuf,
    /// The key id its signatures carry (hex).
    pub key_id: String,
}

/// Generates a key pair into `dir/NAME.key` (mode 0600) and
/// `dir/NAME.pub`; refuses to overwrite either.
pub fn write_key_pair(dir: &Path, name: &str) -> Result<KeyFiles, SignError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !name.starts_with('.');
    let secret = dir.join(format!("{name}.key"));
    if !valid {
        return Err(SignError::File {
            path: secret,
            reason: "a key name is letters, digits, `.`, `_` and `-`".into(),
        });
    }
    let public = dir.join(format!("{name}.pub"));
    for p in [&secret, &public] {
        if p.exists() {
            return Err(SignError::File {
                path: p.clone(),
                reason: "already exists; it was left alone (choose another name, or move it away)"
                    .into(),
            });
        }
    }
    let keys = generate();
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| SignError::File {
            path,
            reason: e.to_string(),
        }
    };
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&secret).map_err(fail(&secret))?;
        f.write_all(keys.secret_pem.as_bytes())
            .map_err(fail(&secret))?;
    }
    if let Err(e) = std::fs::write(&public, keys.public_pem.as_bytes()) {
        let _ = std::fs::remove_file(&secret);
        return Err(fail(&public)(e));
    }
    Ok(KeyFiles {
        secret,
        public,
        key_id: keys.key_id,
    })
}

/// Signs the component at `input` with the secret key at `key`, writing
/// the signed component to `output` (which may be `input`) atomically;
/// returns the signed component's digest.
pub fn sign_file(input: &Path, key: &Path, output: &Path) -> Result<String, SignError> {
    let secret = secret_key(key)?;
    let bytes = std::fs::read(input).map_err(|e| SignError::File {
        path: input.into(),
        reason: e.to_string(),
    })?;
    let signed = sign(&bytes, &secret)?;
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| SignError::File {
        path: output.into(),
        reason: e.to_string(),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, &signed).map_err(fail)?;
    tmp.persist(output).map_err(|e| fail(e.error))?;
    Ok(super::digest_of(&signed))
}

/// Reads a secret key file (PEM, DER or wasmsign2's raw form).
pub fn secret_key(path: &Path) -> Result<wasmsign2::SecretKey, SignError> {
    let data = std::fs::read(path).map_err(|e| SignError::File {
        path: path.into(),
        reason: e.to_string(),
    })?;
    wasmsign2::SecretKey::from_any(&data).map_err(|_| SignError::File {
        path: path.into(),
        reason: "not an Ed25519 secret key (PEM, DER or wasmsign2 raw); make one with `switchyard keygen`".into(),
    })
}

/// Reads a public key file.
pub fn public_key(path: &Path) -> Result<TrustedKey, SignError> {
    let data = std::fs::read(path).map_err(|e| SignError::File {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let name = path
        .file_stem()
        .map_or_else(|| "key".into(), |s| s.to_string_lossy().into_owned());
    TrustedKey::parse(&name, &data).map_err(|reason| SignError::File {
        path: path.into(),
        reason,
    })
}

/// Checks that `bytes` is a WebAssembly binary whose top-level sections
/// all fit inside it, before the signature parser reads it: no declared
/// length can make it allocate more than the component's own size.
fn well_formed(bytes: &[u8]) -> Result<(), SignError> {
    let bad = |why: &str| Err(SignError::Malformed(why.into()));
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return bad("it does not start with the \\0asm magic number");
    }
    let mut at = 8;
    while at < bytes.len() {
        at += 1; // section id
        let mut size: u64 = 0;
        let mut shift = 0;
        loop {
            let Some(&b) = bytes.get(at) else {
                return bad("a section's length runs past the end");
            };
            at += 1;
            size |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return bad("a section's length is not a valid u32");
            }
        }
        if size > (bytes.len() - at) as u64 {
            return bad("a section is longer than the rest of the component");
        }
        at += size as usize;
    }
    Ok(())
}

/// Signs `bytes` with `key`, adding to any signatures already there.
pub fn sign(bytes: &[u8], key: &wasmsign2::SecretKey) -> Result<Vec<u8>, SignError> {
    let already = signatures(bytes)?;
    let module = wasmsign2::Module::deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| SignError::Malformed(e.to_string()))?;
    let public = wasmsign2::PublicKey {
        pk: key.sk.public_key(),
        key_id: None,
    }
    .attach_default_key_id();
    let id = public.key_id().map(hex::encode);
    if id.is_some() && already.iter().any(|s| s.key_id == id) {
        return Err(SignError::AlreadySigned(id.unwrap_or_default()));
    }
    let (signed, _) = key
        .sign_multi(module, public.key_id(), false, false)
        .map_err(|e| SignError::Malformed(e.to_string()))?;
    let mut out = Vec::with_capacity(bytes.len() + 128);
    signed
        .serialize(&mut out)
        .map_err(|e| SignError::Malformed(e.to_string()))?;
    Ok(out)
}

/// The signatures embedded in `bytes`, verified or not (empty: unsigned).
pub fn signatures(bytes: &[u8]) -> Result<Vec<SignatureInfo>, SignError> {
    well_formed(bytes)?;
    let mut reader = std::io::Cursor::new(bytes);
    let stream = wasmsign2::Module::init_from_reader(&mut reader)
        .map_err(|e| SignError::Malformed(e.to_string()))?;
    let mut sections =
        wasmsign2::Module::iterate(stream).map_err(|e| SignError::Malformed(e.to_string()))?;
    let Some(first) = sections.next() else {
        return Ok(Vec::new());
    };
    let first = first.map_err(|e| SignError::Malformed(e.to_string()))?;
    let wasmsign2::Section::Custom(custom) = first else {
        return Ok(Vec::new());
    };
    if !custom.is_signature_header() {
        return Ok(Vec::new());
    }
    let data = custom
        .signature_data()
        .map_err(|_| SignError::Malformed("its signature section cannot be decoded".into()))?;
    Ok(data
        .signed_hashes_set
        .iter()
        .flat_map(|s| &s.signatures)
        .map(|s| SignatureInfo {
            key_id: s.key_id.as_ref().map(hex::encode),
        })
        .collect())
}

/// The names of the `keys` with a valid signature over `bytes` (empty: no
/// key verifies, or it is unsigned).
pub fn verified_by(bytes: &[u8], keys: &[TrustedKey]) -> Result<Vec<String>, SignError> {
    well_formed(bytes)?;
    let mut names = Vec::new();
    for key in keys {
        let mut reader = std::io::Cursor::new(bytes);
        if key.public.verify(&mut reader, None).is_ok() {
            names.push(key.name.clone());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The smallest component: the header alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn key(name: &str) -> (wasmsign2::SecretKey, TrustedKey) {
        let g = generate();
        let sk = wasmsign2::SecretKey::from_pem(&g.secret_pem).unwrap();
        (
            sk,
            TrustedKey::parse(name, g.public_pem.as_bytes()).unwrap(),
        )
    }

    #[test]
    fn a_signature_verifies_with_its_key_only_and_not_after_tampering() {
        let (sk, acme) = key("acme");
        let (_, other) = key("other");
        let mut component = EMPTY_COMPONENT.to_vec();
        // A custom section standing in for the component's content.
        component.extend_from_slice(b"\x00\x06\x04name\x01");
        let signed = sign(&component, &sk).unwrap();
        assert_eq!(
            verified_by(&signed, &[acme.clone(), other.clone()]).unwrap(),
            ["acme"]
        );
        let sigs = signatures(&signed).unwrap();
        assert_eq!(
            sigs,
            [SignatureInfo {
                key_id: Some(acme.key_id())
            }]
        );
        assert!(verified_by(&component, std::slice::from_ref(&acme))
            .unwrap()
            .is_empty());
        assert!(signatures(&component).unwrap().is_empty());
        let mut tampered = signed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(verified_by(&tampered, &[acme]).unwrap().is_empty());
    }

    #[test]
    fn two_parties_can_sign_one_component() {
        let (a, ka) = key("a");
        let (b, kb) = key("b");
        let signed = sign(&sign(EMPTY_COMPONENT, &a).unwrap(), &b).unwrap();
        assert_eq!(verified_by(&signed, &[ka.clone(), kb]).unwrap(), ["a", "b"]);
        assert!(
            matches!(sign(&signed, &a), Err(SignError::AlreadySigned(id)) if id == ka.key_id())
        );
    }

    #[test]
    fn lengths_past_the_end_are_refused_before_parsing() {
        let mut lying = EMPTY_COMPONENT.to_vec();
        lying.extend_from_slice(&[0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(signatures(&lying), Err(SignError::Malformed(_))));
        assert!(matches!(
            verified_by(b"not wasm", &[]),
            Err(SignError::Malformed(_))
        ));
    }
}
