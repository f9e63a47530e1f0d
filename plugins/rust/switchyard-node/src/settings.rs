//! The node's settings from the pipeline manifest
//! (`[nodes.<name>.settings]`), through the host's `config` import.
//!
//! Every value is JSON text: `model = "small"` in the manifest arrives as
//! `"\"small\""`, `threshold = 0.7` as `"0.7"`. [`get_as`] parses it for
//! you:
//!
//! ```no_run
//! use switchyard_node::prelude::*;
//!
//! # fn demo() -> Result<(), NodeError> {
//! let model = settings::string("model")?
//!     .ok_or_else(|| NodeError::invalid_input("setting `model` is required"))?;
//! let threshold: f64 = settings::get_as("threshold")?.unwrap_or(0.5);
//! # Ok(()) }
//! ```
//!
//! Outside a component (native unit tests) there is no host: these
//! functions must only be called from a running node.

use serde::de::DeserializeOwned;

use crate::bindings::imports::switchyard::node::config;
use crate::types::NodeError;

/// The setting `key` as JSON text, or `None` if it is not set.
pub fn get(key: &str) -> Option<String> {
    config::get(key)
}

/// The setting `key` parsed as `T`, or `Ok(None)` if it is not set.
///
/// Fails with [`NodeError::InvalidInput`] ("setting `key` is not valid: …")
/// if the value does not parse as `T`.
pub fn get_as<T: DeserializeOwned>(key: &str) -> Result<Option<T>, NodeError> {
    get(key).map(|json| parse_setting(key, &json)).transpose()
}

/// The setting `key` as a string, or `Ok(None)` if it is not set.
///
/// Fails with [`NodeError::InvalidInput`] ("setting `key` must be a string")
/// if it is set to anything but a JSON string.
pub fn string(key: &str) -> Result<Option<String>, NodeError> {
    get(key).map(|json| parse_string(key, &json)).transpose()
}

/// Every setting as `(key, JSON text)` pairs, sorted by key.
pub fn all() -> Vec<(String, String)> {
    config::all()
}

fn parse_setting<T: DeserializeOwned>(key: &str, json: &str) -> Result<T, NodeError> {
    serde_json::from_str(json)
        .map_err(|e| NodeError::InvalidInput(format!("setting `{key}` is not valid: {e}")))
}

fn parse_string(key: &str, json: &str) -> Result<String, NodeError> {
    // Through `Value` rather than `from_str::<String>`: serde's type-mismatch
    // message would pull float formatting into every component that reads a
    // string setting, and this error does not show it anyway.
    match serde_json::from_str(json) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(NodeError::InvalidInput(format!(
            "setting `{key}` must be a string"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_as_json() {
        assert_eq!(parse_setting::<f64>("t", "0.7").unwrap(), 0.7);
        assert_eq!(
            parse_setting::<Vec<String>>("k", r#"["a"]"#).unwrap(),
            vec!["a".to_string()]
        );
        let NodeError::InvalidInput(m) = parse_setting::<u32>("n", "\"x\"").unwrap_err() else {
            panic!("expected InvalidInput")
        };
        assert!(m.starts_with("setting `n` is not valid: "), "{m}");
        assert_eq!(parse_string("model", "\"small\"").unwrap(), "small");
        assert_eq!(
            parse_string("model", "3").unwrap_err(),
            NodeError::InvalidInput("setting `model` must be a string".into())
        );
    }
}
