//! The trust check every component passes before it becomes a node: at
//! load, at every hot-swap (bytes or reference), at `--watch` and for an
//! experiment's candidate. The requirement is the manifest's, never the
//! component's or the swap's, so no swap can lower it.

use super::signing::{self, SignatureInfo};
use super::store::digest_of;
use crate::spec::TrustRequirement;

/// Who signed the component a node runs, as far as the host checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// The names of the manifest's keys whose signature verified.
    pub signed_by: Vec<String>,
    /// Every embedded signature's key id (hex), verified or not.
    pub signatures: Vec<SignatureInfo>,
}

/// Why a component was refused for a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// It carries no signature at all.
    #[error("node `{node}` requires a component signed by {accepted}, but {digest} is unsigned")]
    Unsigned {
        /// The node.
        node: String,
        /// The component's digest.
        digest: String,
        /// The keys the node accepts.
        accepted: String,
    },
    /// It is signed, but by no key the node accepts (or the signature does
    /// not match the bytes).
    #[error("node `{node}` requires a component signed by {accepted}, but {digest} is signed by {found}, which does not verify with any of them")]
    Untrusted {
        /// The node.
        node: String,
        /// The component's digest.
        digest: String,
        /// The keys the node accepts.
        accepted: String,
        /// The signers found (key ids).
        found: String,
    },
    /// Its signature section cannot be read.
    #[error("node `{node}`: component {digest} cannot be checked: {reason}")]
    Malformed {
        /// The node.
        node: String,
        /// The component's digest.
        digest: String,
        /// Why.
        reason: String,
    },
}

impl TrustError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        "sign the component with the publisher's key (`switchyard sign COMPONENT --key KEY.key`) and make sure the matching public key is in the manifest's [trust] keys; `switchyard inspect` shows who signed it"
    }
}

/// Checks `bytes` against node `node`'s requirement and says who signed it.
pub fn check(
    node: &str,
    requirement: &TrustRequirement,
    bytes: &[u8],
) -> Result<Provenance, TrustError> {
    let digest = digest_of(bytes);
    let signatures = match signing::signatures(bytes) {
        Ok(s) => s,
        // A component that is not even well-formed fails at compilation
        // with a better message; only a signed node must refuse it here.
        Err(e) if matches!(requirement, TrustRequirement::Signed(_)) => {
            return Err(TrustError::Malformed {
                node: node.into(),
                digest,
                reason: e.to_string(),
            })
        }
        Err(_) => Vec::new(),
    };
    let TrustRequirement::Signed(keys) = requirement else {
        return Ok(Provenance {
            digest,
            signed_by: Vec::new(),
            signatures,
        });
    };
    let accepted = keys
        .iter()
        .map(|k| format!("`{}` ({})", k.name, k.key_id()))
        .collect::<Vec<_>>()
        .join(" or ");
    if signatures.is_empty() {
        return Err(TrustError::Unsigned {
            node: node.into(),
            digest,
            accepted,
        });
    }
    let signed_by = signing::verified_by(bytes, keys).map_err(|e| TrustError::Malformed {
        node: node.into(),
        digest: digest.clone(),
        reason: e.to_string(),
    })?;
    if signed_by.is_empty() {
        let found = signatures
            .iter()
            .map(|s| match &s.key_id {
                Some(id) => format!("key id {id}"),
                None => "a key with no id".into(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(TrustError::Untrusted {
            node: node.into(),
            digest,
            accepted,
            found,
        });
    }
    Ok(Provenance {
        digest,
        signed_by,
        signatures,
    })
}
