//! JSON in and out of a node, through serde.
//!
//! The contract carries all node data as JSON text: the task's `input` and
//! `meta`, a judge's candidate, a worker's output. These helpers parse and
//! produce that text and map failures onto [`NodeError`] with messages that
//! say which part was wrong:
//!
//! ```
//! use switchyard_node::prelude::*;
//!
//! # fn demo(task: Task) -> Result<String, NodeError> {
//! let input: Value = task.input_as()?;          // NodeError::InvalidInput if not JSON
//! let subject = input["subject"].as_str().unwrap_or("(none)");
//! to_output(&json!({ "subject": subject }))
//! # }
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::{NodeError, Task};

/// Parses `text` as `T`, naming `what` in the error: "`what` is not JSON: …"
/// for malformed text, "`what` does not have the expected shape: …" for
/// well-formed JSON that does not fit `T`.
fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, NodeError> {
    serde_json::from_str(text).map_err(|e| {
        NodeError::InvalidInput(match e.classify() {
            serde_json::error::Category::Data => {
                format!("{what} does not have the expected shape: {e}")
            }
            _ => format!("{what} is not JSON: {e}"),
        })
    })
}

impl Task {
    /// Parses the task's input (JSON text) as `T`: a
    /// [`serde_json::Value`], or any type implementing `Deserialize`.
    ///
    /// Fails with [`NodeError::InvalidInput`]: "task input is not JSON: …"
    /// or "task input does not have the expected shape: …".
    pub fn input_as<T: DeserializeOwned>(&self) -> Result<T, NodeError> {
        parse("task input", &self.input)
    }

    /// Parses the task's run context (`meta`, a JSON object such as
    /// `{"route": "complex", "pipeline": ..}`) as `T`.
    ///
    /// Fails with [`NodeError::InvalidInput`] like [`Task::input_as`].
    pub fn meta_as<T: DeserializeOwned>(&self) -> Result<T, NodeError> {
        parse("task meta", &self.meta)
    }
}

/// Parses a judge's candidate (another node's output, JSON text) as `T`.
///
/// Fails with [`NodeError::InvalidInput`]: "candidate is not JSON: …" or
/// "candidate does not have the expected shape: …".
pub fn parse_candidate<T: DeserializeOwned>(candidate: &str) -> Result<T, NodeError> {
    parse("candidate", candidate)
}

/// Serialises a worker's output (or a repaired candidate) to JSON text.
///
/// Fails with [`NodeError::Internal`] only if `value` cannot be represented
/// as JSON (e.g. a map with non-string keys).
pub fn to_output<T: Serialize + ?Sized>(value: &T) -> Result<String, NodeError> {
    serde_json::to_string(value)
        .map_err(|e| NodeError::Internal(format!("cannot serialise the output as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn task(input: &str) -> Task {
        Task {
            id: "1".into(),
            input: input.into(),
            meta: r#"{"route":"simple"}"#.into(),
            attempt: 0,
            feedback: vec![],
        }
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Ticket {
        subject: String,
    }

    #[test]
    fn input_as_parses_and_explains_failures() {
        let t: Ticket = task(r#"{"subject":"hi"}"#).input_as().unwrap();
        assert_eq!(t.subject, "hi");
        let NodeError::InvalidInput(m) = task("{").input_as::<Ticket>().unwrap_err() else {
            panic!("expected InvalidInput")
        };
        assert!(m.starts_with("task input is not JSON: "), "{m}");
        let NodeError::InvalidInput(m) = task("{}").input_as::<Ticket>().unwrap_err() else {
            panic!("expected InvalidInput")
        };
        assert!(
            m.starts_with("task input does not have the expected shape: "),
            "{m}"
        );
        assert!(m.contains("subject"), "{m}");
        let meta: serde_json::Value = task("1").meta_as().unwrap();
        assert_eq!(meta["route"], "simple");
    }

    #[test]
    fn candidates_and_outputs() {
        assert_eq!(parse_candidate::<Vec<u8>>("[1,2]").unwrap(), vec![1, 2]);
        let NodeError::InvalidInput(m) = parse_candidate::<Vec<u8>>("nope").unwrap_err() else {
            panic!("expected InvalidInput")
        };
        assert!(m.starts_with("candidate is not JSON"), "{m}");
        assert_eq!(
            to_output(&serde_json::json!({"a": [1]})).unwrap(),
            r#"{"a":[1]}"#
        );
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        assert!(matches!(to_output(&bad), Err(NodeError::Internal(_))));
    }
}
