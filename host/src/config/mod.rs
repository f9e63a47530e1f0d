//! The pipeline manifest (`pipeline.toml`): its schema as written, its
//! checks, and the resolved [`Manifest`] every other layer reads. Errors
//! point at `file:line:col` with a hint, like rustc.

mod limits;
mod manifest;
mod resolve;
mod schema;
mod source;

use std::path::Path;
use std::sync::Arc;

pub use manifest::{BaselineSpec, ChatSpec, Manifest, NodeSpec, OnReject};
pub use resolve::ANTHROPIC_BASE_URL;
// The resolved vocabulary lives in the leaf `spec` module; re-exported here
// for readers of a manifest.
pub use crate::spec::{
    CallPolicy, Limits, ModelSpec, PolicyOverride, ProviderSpec, Role, SimSpec, DEFAULT_BACKOFF,
    DEFAULT_DEADLINE, DEFAULT_MAX_BACKOFF, DEFAULT_MODEL_TIMEOUT, DEFAULT_RETRIES,
    DEFAULT_STACK_KB, MAX_STACK_KB, MIN_STACK_KB,
};
pub use source::{did_you_mean, Diagnostic, Location, SourceFile, Span};

/// The manifest format version this host reads (`version = 1`, or no
/// `version` key). A manifest written for another version is refused with
/// a clear error rather than misread.
pub const MANIFEST_VERSION: u32 = 1;

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read manifest {path}: {source}\n = help: check the path; manifests are usually named pipeline.toml")]
    Read {
        /// The path given.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file has errors; each is rendered with its location.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The individual problems, if the file was read.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(d) => d,
        }
    }
}

fn render(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str("error: ");
        out.push_str(&d.to_string());
    }
    if diags.len() > 1 {
        out.push_str(&format!("\n\n{} errors in the manifest", diags.len()));
    }
    out
}

/// Reads and resolves the manifest at `path`.
pub fn load(path: &Path) -> Result<Manifest, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(SourceFile::new(path, text))
}

/// Parses and resolves manifest text (the path is used for messages and to
/// resolve relative component paths).
pub fn parse(source: SourceFile) -> Result<Manifest, ConfigError> {
    let source = Arc::new(source);
    if let Ok(probe) = toml::from_str::<schema::VersionProbe>(&source.text) {
        if let Some(v) = probe.version {
            if v.get_ref().as_integer() != Some(i64::from(MANIFEST_VERSION)) {
                let (message, hint) = match v.get_ref().as_integer() {
                    Some(n) => (
                        format!("manifest format version {n} is not supported; this switchyard reads version {MANIFEST_VERSION}"),
                        format!("upgrade switchyard, or write the manifest in format version {MANIFEST_VERSION} (docs/manifest.md)"),
                    ),
                    None => (
                        "`version` must be an integer, the manifest format version".into(),
                        format!("write version = {MANIFEST_VERSION}, or leave it out"),
                    ),
                };
                let d = Diagnostic::at(&source, Some(v.span()), message).with_hint(hint);
                return Err(ConfigError::Invalid(vec![d]));
            }
        }
    }
    let file: schema::ManifestFile = match toml::from_str(&source.text) {
        Ok(f) => f,
        Err(e) => return Err(ConfigError::Invalid(vec![toml_diagnostic(&source, &e)])),
    };
    resolve::resolve(source, file).map_err(ConfigError::Invalid)
}

/// Turns a TOML/serde error into a located diagnostic with a hint.
fn toml_diagnostic(source: &SourceFile, e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    let hint = if message.starts_with("unknown field `") {
        // serde: "unknown field `x`, expected one of `a`, `b`": quoted words
        // sit at the odd indices; the first is the field.
        let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
        let (field, expected) = quoted.split_first().unwrap_or((&"", &[]));
        match did_you_mean(field, expected.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if expected.is_empty() => "remove it; see docs/manifest.md".to_string(),
            None => format!("remove it; this table takes: {}", expected.join(", ")),
        }
    } else if message.starts_with("missing field") {
        "add the field; see docs/manifest.md".to_string()
    } else if message.starts_with("unknown variant") {
        "use one of the values listed".to_string()
    } else {
        "see docs/manifest.md for the manifest format".to_string()
    };
    Diagnostic::at(source, e.span(), format!("invalid manifest: {message}")).with_hint(hint)
}
