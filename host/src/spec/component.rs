//! Where a node's component comes from — a local file or an OCI artifact
//! (`oci://REGISTRY/REPO:TAG` or `oci://REGISTRY/REPO@sha256:…`) — and the
//! trust a node requires of it: any bytes, or bytes signed by one of the
//! manifest's `[trust]` keys.

use std::fmt;
use std::path::PathBuf;

/// The scheme of a component held in an OCI registry.
pub const OCI_SCHEME: &str = "oci://";

/// Where a node's component bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// A local `.wasm` file (absolute, or resolved against the manifest).
    File(PathBuf),
    /// An artifact in an OCI registry, pulled into the local store.
    Oci(OciRef),
}

impl ComponentSource {
    /// The file, for a file source.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Self::File(p) => Some(p),
            Self::Oci(_) => None,
        }
    }

    /// A short label: the file name, or `repo:tag` / `repo@sha256:…12`.
    pub fn label(&self) -> String {
        match self {
            Self::File(p) => p
                .file_name()
                .unwrap_or(p.as_os_str())
                .to_string_lossy()
                .into_owned(),
            Self::Oci(r) => {
                let repo = r.repository.rsplit('/').next().unwrap_or(&r.repository);
                match (&r.digest, &r.tag) {
                    (Some(d), _) => format!("{repo}@{}", &d[..d.len().min(19)]),
                    (None, Some(t)) => format!("{repo}:{t}"),
                    (None, None) => repo.to_string(),
                }
            }
        }
    }
}

impl fmt::Display for ComponentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Oci(r) => r.fmt(f),
        }
    }
}

impl serde::Serialize for ComponentSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A reference to a component in an OCI registry: the registry, the
/// repository, and a tag, a digest, or both (the digest wins).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciRef {
    /// `host[:port]`.
    pub registry: String,
    /// `path/to/repo`, lowercase.
    pub repository: String,
    /// A tag: it may move.
    pub tag: Option<String>,
    /// `sha256:<64 hex>`: it never moves.
    pub digest: Option<String>,
}

/// Why a text is not an OCI reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an OCI component reference: {reason} (expected oci://REGISTRY/REPO:TAG or oci://REGISTRY/REPO@sha256:<64 hex digits>)")]
pub struct OciRefError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl OciRef {
    /// Parses `oci://REGISTRY/REPO[:TAG][@sha256:HEX]`.
    pub fn parse(text: &str) -> Result<Self, OciRefError> {
        let fail = |reason: &str| OciRefError {
            text: text.chars().take(300).collect(),
            reason: reason.into(),
        };
        let rest = text
            .strip_prefix(OCI_SCHEME)
            .ok_or_else(|| fail("it does not start with oci://"))?;
        let (name, digest) = match rest.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (rest, None),
        };
        let (registry, path) = name
            .split_once('/')
            .ok_or_else(|| fail("it names no repository after the registry"))?;
        if registry.is_empty()
            || !registry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        {
            return Err(fail(
                "the registry must be a host name or address, with an optional :port",
            ));
        }
        // A tag follows the last `:` after the last `/`.
        let last = path.rsplit('/').next().unwrap_or(path);
        let (repository, tag) = match last.split_once(':') {
            Some((_, t)) => (&path[..path.len() - t.len() - 1], Some(t)),
            None => (path, None),
        };
        if repository.is_empty()
            || repository.len() > 255
            || !repository.split('/').all(valid_path_component)
        {
            return Err(fail("the repository must be lowercase letters, digits and `.`, `_`, `-` separators, in `/`-separated parts"));
        }
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && !t.starts_with(['.', '-'])
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !ok {
                return Err(fail("a tag is 1 to 128 letters, digits, `.`, `_` or `-`, not starting with `.` or `-`"));
            }
        }
        if let Some(d) = digest {
            let hex = d
                .strip_prefix("sha256:")
                .ok_or_else(|| fail("only sha256 digests are accepted"))?;
            if hex.len() != 64
                || !hex
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            {
                return Err(fail("a sha256 digest is 64 lowercase hexadecimal digits"));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(fail("it names neither a tag nor a digest"));
        }
        Ok(Self {
            registry: registry.into(),
            repository: repository.into(),
            tag: tag.map(Into::into),
            digest: digest.map(Into::into),
        })
    }

    /// This reference pinned to `digest` (the tag kept for messages).
    pub fn pinned(&self, digest: &str) -> Self {
        Self {
            digest: Some(digest.into()),
            ..self.clone()
        }
    }

    /// `REGISTRY/REPO`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

fn valid_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    !part.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{OCI_SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// A public key the manifest trusts, by the name the `[trust]` table gives it.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The name in `[trust] keys`.
    pub name: String,
    /// The Ed25519 public key.
    pub public: wasmsign2::PublicKey,
}

impl TrustedKey {
    /// Reads a public key file's contents: PEM (what `switchyard keygen`
    /// writes), DER, or wasmsign2's raw form.
    pub fn parse(name: &str, data: &[u8]) -> Result<Self, String> {
        match wasmsign2::PublicKey::from_any(data) {
            Ok(public) => Ok(Self {
                name: name.into(),
                public: public.attach_default_key_id(),
            }),
            Err(_) => Err("it is not an Ed25519 public key (PEM, DER or wasmsign2 raw); make one with `switchyard keygen`".into()),
        }
    }

    /// The key id signatures made with this key carry (hex).
    pub fn key_id(&self) -> String {
        self.public.key_id().map(hex::encode).unwrap_or_default()
    }
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedKey({}, {})", self.name, self.key_id())
    }
}

/// What a node requires of its component's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustRequirement {
    /// Any component (the default for a local file).
    #[default]
    Any,
    /// Signed by at least one of these keys; never empty.
    Signed(Vec<TrustedKey>),
}

impl TrustRequirement {
    /// `any` or `signed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Signed(_) => "signed",
        }
    }

    /// The names of the keys it accepts.
    pub fn signers(&self) -> Vec<&str> {
        match self {
            Self::Any => Vec::new(),
            Self::Signed(keys) => keys.iter().map(|k| k.name.as_str()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_tag_digest_or_both() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = OciRef::parse("oci://127.0.0.1:5000/guards/pii:1.0").unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.tag.as_deref(),
                r.digest
            ),
            ("127.0.0.1:5000", "guards/pii", Some("1.0"), None)
        );
        let r = OciRef::parse(&format!("oci://ghcr.io/acme/judge@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.to_string(), format!("oci://ghcr.io/acme/judge@{d}"));
        let r = OciRef::parse(&format!("oci://localhost:5000/a/b:v2@{d}")).unwrap();
        assert_eq!(
            (r.tag.as_deref(), r.repository.as_str()),
            (Some("v2"), "a/b")
        );
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        for (text, says) in [
            ("oci://reg/repo", "neither a tag nor a digest"),
            ("http://reg/repo:1", "oci://"),
            ("oci://reg", "no repository"),
            ("oci://reg/Repo:1", "lowercase"),
            ("oci://reg/repo:-x", "tag"),
            ("oci://reg/repo@md5:00", "sha256"),
            ("oci://reg/repo@sha256:ABC", "64 lowercase"),
            ("oci:///repo:1", "registry"),
        ] {
            let e = OciRef::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
