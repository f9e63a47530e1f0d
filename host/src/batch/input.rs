//! Batch input: one JSON object per line,
//! `{"id": "...", "input": <any JSON>, "expect": {...}}`. Reading the lines
//! (1-based numbers, blank lines skipped but counted), parsing one, and
//! indexing an input held in memory so resume can check the id a record
//! claims for its line. A line that is not usable becomes an error record
//! for that line; it never stops the batch.

use futures::stream::{self, Stream};
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::BatchError;
use crate::pipeline::{RunError, RunInput};

/// The non-blank lines of `reader` with their 1-based line numbers.
pub fn read_lines<R>(reader: R) -> impl Stream<Item = Result<(u64, Vec<u8>), BatchError>>
where
    R: AsyncBufRead + Unpin,
{
    stream::unfold(
        (reader, 0u64, false),
        |(mut reader, mut n, failed)| async move {
            if failed {
                return None;
            }
            let mut buf = Vec::new();
            loop {
                buf.clear();
                n += 1;
                match reader.read_until(b'\n', &mut buf).await {
                    Ok(0) => return None,
                    Ok(_) if buf.trim_ascii().is_empty() => continue,
                    Ok(_) => return Some((Ok((n, buf.trim_ascii().to_vec())), (reader, n, false))),
                    Err(error) => {
                        return Some((Err(BatchError::Read { line: n, error }), (reader, n, true)))
                    }
                }
            }
        },
    )
}

/// An input held in memory, indexed by line number.
#[derive(Debug)]
pub struct InputIndex<'a> {
    bytes: &'a [u8],
    /// Byte range of each line (1-based line `n` at `n - 1`), trimmed;
    /// empty for a blank line.
    lines: Vec<(usize, usize)>,
    non_blank: u64,
}

impl<'a> InputIndex<'a> {
    /// Indexes `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        let mut lines = Vec::new();
        let mut non_blank = 0;
        let mut start = 0;
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            let end = start + piece.len();
            let trimmed = piece.trim_ascii();
            if trimmed.is_empty() {
                lines.push((start, start));
            } else {
                let lead = piece.len() - piece.trim_ascii_start().len();
                lines.push((start + lead, start + lead + trimmed.len()));
                non_blank += 1;
            }
            start = end;
        }
        Self {
            bytes,
            lines,
            non_blank,
        }
    }

    /// Non-blank lines: the number of records a complete output holds.
    pub fn records(&self) -> u64 {
        self.non_blank
    }

    /// Lines, blank ones included.
    pub fn lines(&self) -> u64 {
        self.lines.len() as u64
    }

    /// The run id of line `line` (1-based), or `None` when the input has
    /// no such line or it is blank.
    pub fn id(&self, line: u64) -> Option<String> {
        let idx = usize::try_from(line.checked_sub(1)?).ok()?;
        let &(start, end) = self.lines.get(idx)?;
        (end > start).then(|| parse_line(line, &self.bytes[start..end]).id)
    }
}

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
        input: Ok(RunInput::new(id, input)),
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

    #[test]
    fn input_index_finds_each_lines_id_and_skips_blank_lines() {
        let input =
            b"{\"id\":\"a\",\"input\":1}\n\n  {\"input\":2}  \r\n{oops\n{\"id\":5,\"input\":3}";
        let idx = InputIndex::new(input);
        assert_eq!((idx.lines(), idx.records()), (5, 4));
        let ids: Vec<Option<String>> = (0..=6).map(|n| idx.id(n)).collect();
        assert_eq!(
            ids,
            [
                None,
                Some("a".into()),
                None,
                Some("line-3".into()),
                Some("line-4".into()),
                Some("5".into()),
                None
            ]
        );
    }

    #[tokio::test]
    async fn read_lines_numbers_lines_and_skips_blank_ones() {
        use futures::StreamExt;
        let lines: Vec<(u64, Vec<u8>)> = read_lines(&b"a\n\n b \nc"[..])
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(
            lines,
            [(1, b"a".to_vec()), (3, b"b".to_vec()), (4, b"c".to_vec())]
        );
    }
}
