//! Parsing batch input: one JSON object per line,
//! `{"id": "...", "input": <any JSON>, "expect": {...}}`. A line that is not
//! usable becomes an error record for that line; it never stops the batch.

use serde_json::Value;

use crate::pipeline::{RunError, RunInput};

/// One input line, parsed or not.
#[derive(Debug, Clone)]
pub struct InputLine {
    /// 1-based line number.
    pub line: u64,
    /// The run id: the record's `id`, else `line-<n>`.
    pub id: String,
    /// The record's `expect` object (labels for evaluation), if any.
    pub expect: Option<Value>,
    /// The run input, or why the line is unusable.
    pub input: Result<RunInput, RunError>,
}

/// Parses line `line` (1-based) of a JSONL input.
pub fn parse_line(line: u64, bytes: &[u8]) -> InputLine {
    let fallback_id = format!("line-{line}");
    let invalid = |id: String, message: String| InputLine {
        line,
        id,
        expect: None,
        input: Err(RunError::InvalidInput {
            message: format!("line {line}: {message}"),
        }),
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return invalid(fallback_id, format!("not UTF-8 ({e})")),
    };
    let mut value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return invalid(fallback_id, format!("not valid JSON: {e}")),
    };
    let Some(obj) = value.as_object_mut() else {
        return invalid(
            fallback_id,
            "expected a JSON object like {\"id\": \"t1\", \"input\": {...}}".into(),
        );
    };
    let id = match obj.get("id") {
        None | Some(Value::Null) => fallback_id,
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return invalid(
                fallback_id,
                "`id` must be a non-empty string or a number".into(),
            )
        }
    };
    let expect = obj.remove("expect");
    let Some(input) = obj.remove("input") else {
        return invalid(
            id,
            "missing field `input` (the task's input, any JSON)".into(),
        );
    };
    if let Some(extra) = obj.keys().find(|k| *k != "id") {
        return invalid(
            id,
            format!("unknown field `{extra}`; a line holds only `id`, `input` and `expect`"),
        );
    }
    InputLine {
        line,
        id: id.clone(),
        expect,
        input: Ok(RunInput { id, input }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_line_takes_id_input_and_expect() {
        let l = parse_line(
            3,
            br#"{"id":"t1","input":{"text":"hi"},"expect":{"route":"simple"}}"#,
        );
        assert_eq!(l.id, "t1");
        assert_eq!(l.expect.unwrap()["route"], "simple");
        assert_eq!(l.input.unwrap().input["text"], "hi");
    }

    #[test]
    fn parse_line_reports_each_kind_of_bad_line() {
        for (bytes, needle) in [
            (&b"{not json"[..], "not valid JSON"),
            (b"[1,2]", "expected a JSON object"),
            (b"{\"id\":\"x\"}", "missing field `input`"),
            (b"{\"input\":1,\"inptu\":2}", "unknown field `inptu`"),
            (b"\xff\xfe", "not UTF-8"),
        ] {
            let l = parse_line(7, bytes);
            let err = l.input.unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("line 7"), "{err}");
        }
        assert_eq!(parse_line(9, b"{\"input\":1}").id, "line-9");
    }
}
