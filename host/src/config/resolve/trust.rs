//! `[trust]` and each node's `component`, `trust` and `signers`: where a
//! component comes from (a file or an `oci://` reference), the public keys
//! the manifest accepts (read from their files), and what each node
//! requires of its component's bytes.

use std::collections::BTreeMap;

use toml::Spanned;

use super::{normalize, Resolver};
use crate::config::schema::{NodeSection, TrustSection};
use crate::config::source::did_you_mean;
use crate::spec::{ComponentSource, OciRef, TrustRequirement, TrustedKey, OCI_SCHEME};

/// `[trust]` resolved: the keys by name, and the defaults for nodes.
#[derive(Debug, Default)]
pub(super) struct TrustTable {
    keys: BTreeMap<String, TrustedKey>,
    /// `require = "signed"`.
    signed_by_default: bool,
    /// `signers = [...]`, when given.
    signers: Option<Spanned<Vec<Spanned<String>>>>,
}

impl Resolver<'_> {
    /// Reads `[trust]`: every key file, and the defaults.
    pub(super) fn trust_table(&mut self, section: &TrustSection) -> TrustTable {
        let mut keys = BTreeMap::new();
        for (name, path) in &section.keys {
            let full = self.src.dir().join(path.get_ref());
            let data = match std::fs::read(&full) {
                Ok(d) => d,
                Err(e) => {
                    self.error(
                        path,
                        format!(
                            "`[trust] keys.{}`: cannot read {}: {e}",
                            name.get_ref(),
                            full.display()
                        ),
                        "the path is relative to the manifest; `switchyard keygen NAME` writes NAME.pub",
                    );
                    continue;
                }
            };
            match TrustedKey::parse(name.get_ref(), &data) {
                Ok(k) => {
                    keys.insert(name.get_ref().clone(), k);
                }
                Err(why) => self.error(
                    path,
                    format!(
                        "`[trust] keys.{}`: {} is unusable: {why}",
                        name.get_ref(),
                        full.display()
                    ),
                    "give the public key (.pub), never the secret key",
                ),
            }
        }
        let signed_by_default = section
            .require
            .as_ref()
            .and_then(|r| self.requirement("`[trust] require`", r))
            .unwrap_or(false);
        TrustTable {
            keys,
            signed_by_default,
            signers: section.signers.clone(),
        }
    }

    /// `"any"` → false, `"signed"` → true.
    fn requirement(&mut self, owner: &str, value: &Spanned<String>) -> Option<bool> {
        match value.get_ref().as_str() {
            "any" => Some(false),
            "signed" => Some(true),
            other => {
                self.error(
                    value,
                    format!("{owner}: unknown trust requirement `{other}`"),
                    "use \"signed\" (only components signed by a [trust] key) or \"any\"",
                );
                None
            }
        }
    }

    /// Where node `name`'s component comes from.
    pub(super) fn component_source(&mut self, name: &str, n: &NodeSection) -> ComponentSource {
        let text = n.component.get_ref();
        if text.starts_with(OCI_SCHEME) {
            match OciRef::parse(text) {
                Ok(r) => ComponentSource::Oci(r),
                Err(e) => {
                    self.error(
                        &n.component,
                        format!("node `{name}`: {e}"),
                        "pin a digest (`switchyard push` prints it), e.g. oci://localhost:5000/guards/pii@sha256:…",
                    );
                    ComponentSource::File(Default::default())
                }
            }
        } else if text.contains("://") {
            self.error(
                &n.component,
                format!(
                    "node `{name}`: component `{text}` uses a scheme switchyard does not pull from"
                ),
                "give a path to a .wasm file (relative to the manifest) or an oci:// reference",
            );
            ComponentSource::File(Default::default())
        } else {
            ComponentSource::File(normalize(&self.src.dir().join(text)))
        }
    }

    /// What node `name` requires of its component's bytes.
    pub(super) fn node_trust(
        &mut self,
        table: &TrustTable,
        name: &str,
        n: &NodeSection,
    ) -> TrustRequirement {
        let owner = format!("node `{name}`: `trust`");
        let signed = match &n.trust {
            Some(t) => match self.requirement(&owner, t) {
                Some(s) => s,
                None => return TrustRequirement::Any,
            },
            None => table.signed_by_default,
        };
        if !signed {
            if let Some(s) = &n.signers {
                self.error(
                    s,
                    format!("node `{name}` names `signers` but does not require a signature"),
                    "add `trust = \"signed\"` to the node (or `require = \"signed\"` to [trust])",
                );
            }
            return TrustRequirement::Any;
        }
        if table.keys.is_empty() {
            let at = n.trust.as_ref().unwrap_or(&n.component);
            self.error(
                at,
                format!(
                    "node `{name}` requires a signed component, but `[trust] keys` names no key"
                ),
                "add `[trust] keys = { name = \"keys/name.pub\" }` with the signer's public key",
            );
            return TrustRequirement::Any;
        }
        let names = n.signers.as_ref().or(table.signers.as_ref());
        let keys: Vec<TrustedKey> = match names {
            None => table.keys.values().cloned().collect(),
            Some(list) => list
                .get_ref()
                .iter()
                .filter_map(|k| match table.keys.get(k.get_ref()) {
                    Some(key) => Some(key.clone()),
                    None => {
                        let known = table.keys.keys().map(String::as_str);
                        let hint = match did_you_mean(k.get_ref(), known) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!(
                                "the keys in [trust] are: {}",
                                table.keys.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        };
                        self.error(
                            k,
                            format!(
                                "node `{name}`: signer `{}` is not a `[trust] keys` entry",
                                k.get_ref()
                            ),
                            hint,
                        );
                        None
                    }
                })
                .collect(),
        };
        if keys.is_empty() {
            // Every name was unknown (reported above) or the list is empty.
            if let Some(s) = names.filter(|s| s.get_ref().is_empty()) {
                self.error(
                    s,
                    format!("node `{name}`: `signers` is empty, so nothing could ever be accepted"),
                    "name at least one `[trust] keys` entry, or drop `signers` to accept every key",
                );
            }
            return TrustRequirement::Any;
        }
        TrustRequirement::Signed(keys)
    }
}
