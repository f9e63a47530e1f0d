//! Walks a JSON document and runs the text scanners of [`crate::detect`] on
//! every string value (object keys are not scanned), naming each finding by
//! a JSONPath-like location such as `$.items[2].text`, and rewrites the
//! document with placeholders in redact mode.

use std::fmt::Write as _;

use serde_json::Value;

use crate::detect::{mask, redact_text, scan_text, Kind, KindSet};

/// One piece of PII found in a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What was found.
    pub kind: Kind,
    /// Where: `$` for the root, `$.key`, `$["odd key"]`, `$.list[0]`.
    pub path: String,
    /// The value masked so it can be echoed safely (see [`mask`]).
    pub masked: String,
}

impl Finding {
    /// The rejection reason, e.g. `e-mail address at $.reply: j***@example.com`.
    pub fn reason(&self) -> String {
        format!("{} at {}: {}", self.kind.label(), self.path, self.masked)
    }
}

/// Every finding in `value`, in document order.
pub fn scan_value(value: &Value, kinds: KindSet) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut path = String::from("$");
    collect(value, kinds, &mut path, &mut findings);
    findings
}

fn collect(value: &Value, kinds: KindSet, path: &mut String, out: &mut Vec<Finding>) {
    match value {
        Value::String(text) => {
            out.extend(scan_text(text, kinds).into_iter().map(|span| Finding {
                kind: span.kind,
                path: path.clone(),
                masked: mask(span.kind, &text[span.start..span.end]),
            }));
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                let _ = write!(path, "[{index}]");
                collect(item, kinds, path, out);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                push_key(path, key);
                collect(item, kinds, path, out);
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Appends `.key` when `key` is an identifier, `["key"]` otherwise.
fn push_key(path: &mut String, key: &str) {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_owned()).to_string());
        path.push(']');
    }
}

/// Replaces every finding in the string values of `value` by its kind's
/// placeholder, leaving keys, other values and the structure alone. Returns
/// how many findings were replaced.
pub fn redact_value(value: &mut Value, kinds: KindSet) -> usize {
    match value {
        Value::String(text) => {
            let (redacted, count) = redact_text(text, kinds);
            if count > 0 {
                *text = redacted;
            }
            count
        }
        Value::Array(items) => items.iter_mut().map(|v| redact_value(v, kinds)).sum(),
        Value::Object(map) => map.values_mut().map(|v| redact_value(v, kinds)).sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(value: &Value) -> Vec<(Kind, String)> {
        scan_value(value, KindSet::ALL)
            .into_iter()
            .map(|f| (f.kind, f.path))
            .collect()
    }

    #[test]
    fn root_string() {
        let findings = scan_value(&json!("mail me: a@b.io"), KindSet::ALL);
        assert_eq!(
            findings,
            [Finding {
                kind: Kind::Email,
                path: "$".into(),
                masked: "a***@b.io".into()
            }]
        );
    }

    #[test]
    fn nested_paths_in_document_order() {
        let doc: Value = serde_json::from_str(
            r#"{
                "reply": "call 555-123-4567",
                "items": [
                    {"text": "nothing"},
                    {"text": "SSN 123-45-6789", "n": 5},
                    ["deep", {"x": "card 4111 1111 1111 1111"}]
                ],
                "contact": {"e-mail": "j@example.com", "weird\"key": "k@example.com"}
            }"#,
        )
        .unwrap();
        assert_eq!(
            paths(&doc),
            [
                (Kind::Phone, "$.reply".to_owned()),
                (Kind::Ssn, "$.items[1].text".to_owned()),
                (Kind::Card, "$.items[2][1].x".to_owned()),
                (Kind::Email, r#"$.contact["e-mail"]"#.to_owned()),
                (Kind::Email, r#"$.contact["weird\"key"]"#.to_owned()),
            ]
        );
    }

    #[test]
    fn several_findings_in_one_string_share_a_path() {
        let doc = json!({"reply": "a@b.io or c@d.io"});
        assert_eq!(
            paths(&doc),
            [
                (Kind::Email, "$.reply".to_owned()),
                (Kind::Email, "$.reply".to_owned())
            ]
        );
    }

    #[test]
    fn keys_and_non_strings_are_not_scanned() {
        let doc = json!({
            "jane@example.com": "fine",
            "123-45-6789": [1, 2.5, true, null],
            "n": 4111111111111111u64
        });
        assert_eq!(paths(&doc), []);
    }

    #[test]
    fn reasons_mask_the_value() {
        let doc = json!({"reply": "Reach jane@example.com or 4111-1111-1111-1111"});
        let reasons: Vec<String> = scan_value(&doc, KindSet::ALL)
            .iter()
            .map(Finding::reason)
            .collect();
        assert_eq!(
            reasons,
            [
                "e-mail address at $.reply: j***@example.com",
                "payment card number at $.reply: 4***",
            ]
        );
        assert!(reasons.iter().all(|r| !r.contains("jane")));
        assert!(reasons.iter().all(|r| !r.contains("1111")));
    }

    #[test]
    fn path_keys() {
        let mut path = String::from("$");
        push_key(&mut path, "reply");
        push_key(&mut path, "_x9");
        push_key(&mut path, "9x");
        push_key(&mut path, "");
        push_key(&mut path, "a b");
        assert_eq!(path, r#"$.reply._x9["9x"][""]["a b"]"#);
    }

    #[test]
    fn redact_keeps_structure_and_order() {
        let mut doc: Value = serde_json::from_str(
            r#"{"z": "SSN 123-45-6789", "a": ["x@y.com", 3, {"k": "(555) 123-4567"}], "m": null}"#,
        )
        .unwrap();
        assert_eq!(redact_value(&mut doc, KindSet::ALL), 3);
        assert_eq!(
            doc.to_string(),
            r#"{"z":"SSN [REDACTED SSN]","a":["[REDACTED EMAIL]",3,{"k":"[REDACTED PHONE]"}],"m":null}"#
        );
    }

    #[test]
    fn redact_respects_kinds() {
        let mut doc = json!({"reply": "x@y.com 123-45-6789"});
        let count = redact_value(&mut doc, KindSet::NONE.with(Kind::Ssn));
        assert_eq!(count, 1);
        assert_eq!(doc, json!({"reply": "x@y.com [REDACTED SSN]"}));
    }

    #[test]
    fn redact_clean_document_is_unchanged() {
        let original = json!({"reply": "Order #884213, v3.14.2, 2024-03-15"});
        let mut doc = original.clone();
        assert_eq!(redact_value(&mut doc, KindSet::ALL), 0);
        assert_eq!(doc, original);
    }
}
