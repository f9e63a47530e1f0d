//! Who may call a served pipeline's `/v1/*` routes (`[auth]`): holders of
//! client keys, or — only when the manifest says so — anyone.

use std::path::PathBuf;

/// `[auth] clients`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClientsSpec {
    /// The manifest says nothing: `serve` refuses to start, naming the
    /// two choices.
    #[default]
    Undeclared,
    /// `clients = "none"`: anyone who reaches the port.
    Open,
    /// `clients = "keys"`: a live client key in `Authorization: Bearer`.
    Keys {
        /// `keys-file`, resolved against the manifest's folder: where keys
        /// live without a shared `[state]`.
        file: Option<PathBuf>,
    },
}
