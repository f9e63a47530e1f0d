//! `switchyard inspect`: what a component is and what it asks for, without
//! a manifest — the role (world) it targets, its imports and exports, its
//! self-description and schemas, its size and digest, and every import that
//! goes beyond the switchyard contract.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::artifact::signing::{self, SignatureInfo};
use crate::artifact::ComponentInfo;
use crate::config::Role;
use crate::engine::{exported_roles, ContractVersion, Description, LoadError, NodeEngine};
use crate::spec::TrustedKey;

/// How an import relates to the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportKind {
    /// `switchyard:node/*`: the contract itself.
    Contract,
    /// WASI that carries no capability here (I/O plumbing, clocks, random,
    /// exit, empty environment and arguments, closed stdio).
    WasiInert,
    /// WASI for files or the network: linked, but this host grants nothing
    /// through it (no preopened directories, sockets denied).
    WasiDenied,
    /// Not provided by the host: the component cannot be loaded.
    Unsupported,
}

/// One import.
#[derive(Debug, Clone, Serialize)]
pub struct Import {
    /// The fully qualified interface name.
    pub name: String,
    /// How it relates to the contract.
    pub kind: ImportKind,
}

/// What `inspect` found.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The file.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// The roles whose interface it exports (normally exactly one).
    pub roles: Vec<Role>,
    /// The contract version(s) of those interfaces (normally exactly one).
    pub contract: Vec<ContractVersion>,
    /// Every import.
    pub imports: Vec<Import>,
    /// Every export.
    pub exports: Vec<String>,
    /// Its self-description, when it loads for its role.
    pub description: Option<Description>,
    /// Why it does not load, if it does not.
    pub load_error: Option<String>,
    /// Its embedded signatures (key ids), verified or not.
    pub signatures: Vec<SignatureInfo>,
    /// The names of the given public keys whose signature verifies.
    pub signed_by: Vec<String>,
    /// The names of the public keys it was checked against.
    pub keys_given: Vec<String>,
}

impl Inspection {
    /// Imports beyond the contract (anything but `Contract` and `WasiInert`).
    pub fn beyond_contract(&self) -> impl Iterator<Item = &Import> {
        self.imports
            .iter()
            .filter(|i| !matches!(i.kind, ImportKind::Contract | ImportKind::WasiInert))
    }
}

/// How the import `name` relates to the contract.
pub fn classify(name: &str) -> ImportKind {
    let iface = name.split('@').next().unwrap_or(name);
    if iface.starts_with("switchyard:node/") {
        return ImportKind::Contract;
    }
    match iface {
        "wasi:io/error"
        | "wasi:io/poll"
        | "wasi:io/streams"
        | "wasi:clocks/monotonic-clock"
        | "wasi:clocks/wall-clock"
        | "wasi:random/random"
        | "wasi:random/insecure"
        | "wasi:random/insecure-seed"
        | "wasi:cli/environment"
        | "wasi:cli/exit"
        | "wasi:cli/stdin"
        | "wasi:cli/stdout"
        | "wasi:cli/stderr"
        | "wasi:cli/terminal-input"
        | "wasi:cli/terminal-output"
        | "wasi:cli/terminal-stdin"
        | "wasi:cli/terminal-stdout"
        | "wasi:cli/terminal-stderr" => ImportKind::WasiInert,
        _ if iface.starts_with("wasi:filesystem/") || iface.starts_with("wasi:sockets/") => {
            ImportKind::WasiDenied
        }
        _ => ImportKind::Unsupported,
    }
}

/// Inspects the component at `path`.
pub async fn inspect(engine: &NodeEngine, path: &Path) -> Result<Inspection, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        node: "<inspect>".into(),
        path: path.into(),
        source,
    })?;
    inspect_bytes(engine, path, bytes, &[]).await
}

/// Inspects a component's `bytes` (from `path`, a file or a reference,
/// for messages), checking its signatures against `keys`.
pub async fn inspect_bytes(
    engine: &NodeEngine,
    path: &Path,
    bytes: Vec<u8>,
    keys: &[TrustedKey],
) -> Result<Inspection, LoadError> {
    let component = engine.compile_bytes("<inspect>", path, &bytes)?;
    let signatures = signing::signatures(&bytes).unwrap_or_default();
    let signed_by = signing::verified_by(&bytes, keys).unwrap_or_default();
    let ty = component.component_type();
    let imports = ty
        .imports(engine.wasmtime())
        .map(|(n, _)| Import {
            name: n.to_string(),
            kind: classify(n),
        })
        .collect();
    let exports = ty
        .exports(engine.wasmtime())
        .map(|(n, _)| n.to_string())
        .collect();
    let found = exported_roles(engine.wasmtime(), &component);
    let roles: Vec<Role> = found.iter().map(|(_, r)| *r).collect();
    let mut contract: Vec<ContractVersion> = found.iter().map(|(v, _)| *v).collect();
    contract.dedup();
    let (description, load_error) = match roles.as_slice() {
        [role] => match engine
            .load_component_bytes(
                "<inspect>",
                *role,
                path,
                &bytes,
                crate::engine::DEFAULT_WASM_STACK,
            )
            .await
        {
            Ok(c) => (Some(c.description.clone()), None),
            Err(e) => (None, Some(e.to_string())),
        },
        [] => (
            None,
            Some("it exports none of the node interfaces (router, worker, judge)".into()),
        ),
        _ => (None, Some("it exports more than one role interface".into())),
    };
    Ok(Inspection {
        path: path.into(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        roles,
        contract,
        imports,
        exports,
        description,
        load_error,
        signatures,
        signed_by,
        keys_given: keys.iter().map(|k| k.name.clone()).collect(),
    })
}

impl Inspection {
    /// Its imports and exports as the Wasm OCI artifact config lists them.
    pub fn artifact_info(&self) -> ComponentInfo {
        ComponentInfo {
            exports: self.exports.clone(),
            imports: self.imports.iter().map(|i| i.name.clone()).collect(),
            target: match (self.roles.as_slice(), self.contract.as_slice()) {
                ([role], [version]) => Some(format!("switchyard:node/{role}-node@{version}")),
                _ => None,
            },
        }
    }
}

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.path.display())?;
        writeln!(f, "  size     {} bytes, sha256 {}", self.bytes, self.sha256)?;
        let roles: Vec<String> = self
            .roles
            .iter()
            .map(|r| format!("{r} (world {r}-node)"))
            .collect();
        writeln!(
            f,
            "  role     {}",
            if roles.is_empty() {
                "none".to_string()
            } else {
                roles.join(", ")
            }
        )?;
        let contract: Vec<String> = self
            .contract
            .iter()
            .map(|v| format!("switchyard:node@{v}"))
            .collect();
        writeln!(
            f,
            "  contract {}",
            if contract.is_empty() {
                "none".to_string()
            } else {
                contract.join(", ")
            }
        )?;
        if let Some(d) = &self.description {
            writeln!(f, "  describe {} {}: {}", d.name, d.version, d.summary)?;
            if d.checks_windows {
                writeln!(f, "  windows  checks stream windows (check-window)")?;
            }
            let list = |l: &Option<Vec<String>>| match l {
                None => "(not declared)".to_string(),
                Some(l) if l.is_empty() => "none".to_string(),
                Some(l) => l.join(", "),
            };
            writeln!(
                f,
                "  needs    models: {}; model calls: {}; settings: {}",
                list(&d.needs.models),
                d.needs
                    .model_calls
                    .map_or("(not declared)".to_string(), |n| n.to_string()),
                list(&d.needs.settings)
            )?;
            for (which, s) in [("input ", &d.input_schema), ("output", &d.output_schema)] {
                writeln!(
                    f,
                    "  {which}   {}",
                    s.as_ref()
                        .map_or("(no schema)".to_string(), |s| s.to_string())
                )?;
            }
        }
        if self.signatures.is_empty() {
            writeln!(f, "  signed   no")?;
        } else {
            let ids: Vec<String> = self
                .signatures
                .iter()
                .map(|s| format!("key id {}", s.key_id.as_deref().unwrap_or("(none)")))
                .collect();
            writeln!(
                f,
                "  signed   {} signature(s): {}",
                ids.len(),
                ids.join(", ")
            )?;
        }
        if !self.keys_given.is_empty() {
            if self.signed_by.is_empty() {
                writeln!(
                    f,
                    "  signer   none of the given keys ({}) verifies it",
                    self.keys_given.join(", ")
                )?;
            } else {
                writeln!(f, "  signer   verified: {}", self.signed_by.join(", "))?;
            }
        }
        if let Some(e) = &self.load_error {
            writeln!(f, "  loads    no: {e}")?;
        } else {
            writeln!(f, "  loads    yes")?;
        }
        writeln!(f, "  exports")?;
        for e in &self.exports {
            writeln!(f, "    {e}")?;
        }
        writeln!(f, "  imports")?;
        for i in &self.imports {
            let note = match i.kind {
                ImportKind::Contract => "contract",
                ImportKind::WasiInert => "wasi, no capability",
                ImportKind::WasiDenied => "wasi, linked but grants nothing (no files, no network)",
                ImportKind::Unsupported => "NOT PROVIDED: the component cannot load",
            };
            writeln!(f, "    {:<44} {note}", i.name)?;
        }
        let beyond: Vec<&str> = self.beyond_contract().map(|i| i.name.as_str()).collect();
        if beyond.is_empty() {
            write!(f, "  beyond the contract: nothing")
        } else {
            write!(f, "  beyond the contract: {}", beyond.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_separates_contract_inert_denied_and_unsupported() {
        assert_eq!(
            classify("switchyard:node/models@0.1.0"),
            ImportKind::Contract
        );
        assert_eq!(
            classify("wasi:cli/environment@0.2.6"),
            ImportKind::WasiInert
        );
        assert_eq!(
            classify("wasi:filesystem/preopens@0.2.0"),
            ImportKind::WasiDenied
        );
        assert_eq!(classify("wasi:sockets/tcp@0.2.0"), ImportKind::WasiDenied);
        assert_eq!(
            classify("acme:secrets/vault@1.0.0"),
            ImportKind::Unsupported
        );
        assert_eq!(
            classify("wasi:http/outgoing-handler@0.2.0"),
            ImportKind::Unsupported
        );
    }
}
