//! Reading back what an earlier run of a batch left, for `--resume`: every
//! complete record of `FILE.partial` (a line ending in `\n` that parses as
//! a record whose `line` and `id` match the input line it claims) is kept
//! and counted into the summary; a torn last line is marked to be cut; a
//! record that belongs to another input, or a second record for one line,
//! is refused with the file and line. The batch then runs only the input
//! lines without a record. A completed `FILE` means nothing is left to do.

use std::path::{Path, PathBuf};

use tokio::io::AsyncBufReadExt;

use super::input::InputIndex;
use super::output::OutputPaths;
use super::view::RecordView;
use super::{BatchError, Summary};
use crate::text::escape_control;

/// The complete records of a `.partial`, checked against the input.
#[derive(Debug)]
pub struct Resumed {
    path: PathBuf,
    kept: u64,
    torn: u64,
    done: Vec<bool>,
    records: u64,
    last_line: u64,
    ordered: bool,
    summary: Summary,
}

impl Resumed {
    /// The `.partial` read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Complete records kept.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes of the complete records: where a torn last line is cut.
    pub fn kept_bytes(&self) -> u64 {
        self.kept
    }

    /// Bytes of a torn last line (0 when there is none).
    pub fn torn_bytes(&self) -> u64 {
        self.torn
    }

    /// True when input line `line` already has its record.
    pub fn is_done(&self, line: u64) -> bool {
        usize::try_from(line)
            .ok()
            .and_then(|l| self.done.get(l))
            .copied()
            .unwrap_or(false)
    }

    /// The highest input line with a record.
    pub fn last_line(&self) -> u64 {
        self.last_line
    }

    /// True when the records are in input order (possibly with gaps).
    pub fn is_ordered(&self) -> bool {
        self.ordered
    }

    /// Takes the summary of the kept records (without a pipeline name).
    pub fn take_summary(&mut self) -> Summary {
        std::mem::replace(&mut self.summary, Summary::new(""))
    }
}

/// What an earlier run left for `--resume`.
#[derive(Debug)]
pub enum Existing {
    /// Neither `FILE.partial` nor `FILE`: start from the first line.
    Nothing,
    /// A `.partial` to continue.
    Partial(Box<Resumed>),
    /// A completed `FILE` with a record for each of this many input lines.
    Complete(u64),
}

/// Reads what an earlier run of this batch left at `paths`, checked
/// against `input`. Changes nothing.
pub async fn inspect(paths: &OutputPaths, input: &InputIndex<'_>) -> Result<Existing, BatchError> {
    if paths.partial().exists() {
        return Ok(Existing::Partial(Box::new(
            read(paths.partial(), input).await?,
        )));
    }
    if !paths.output().exists() {
        return Ok(Existing::Nothing);
    }
    let done = read(paths.output(), input).await?;
    if done.records == input.records() && done.torn == 0 {
        Ok(Existing::Complete(done.records))
    } else {
        Err(BatchError::Incomplete {
            path: paths.output().to_path_buf(),
            records: done.records,
            expected: input.records(),
        })
    }
}

/// Reads the records of `path` and checks each against `input`.
pub async fn read(path: &Path, input: &InputIndex<'_>) -> Result<Resumed, BatchError> {
    let io = |error| BatchError::ResumeRead {
        path: path.to_path_buf(),
        error,
    };
    let foreign = |at: u64, what: String| BatchError::Foreign {
        path: path.to_path_buf(),
        at,
        what,
    };
    let file = tokio::fs::File::open(path).await.map_err(io)?;
    let size = file.metadata().await.map_err(io)?.len();
    let mut reader = tokio::io::BufReader::new(file);
    let mut r = Resumed {
        path: path.to_path_buf(),
        kept: 0,
        torn: 0,
        done: vec![false; input.lines() as usize + 1],
        records: 0,
        last_line: 0,
        ordered: true,
        summary: Summary::new(""),
    };
    let mut buf = Vec::new();
    for at in 1u64.. {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).await.map_err(io)? as u64;
        if n == 0 {
            break;
        }
        let last = r.kept + n >= size;
        if !buf.ends_with(b"\n") {
            r.torn = n;
            break;
        }
        let view: RecordView = match serde_json::from_slice(&buf) {
            Ok(v) => v,
            // A last line that is not JSON is torn, whatever ends it.
            Err(_) if last => {
                r.torn = n;
                break;
            }
            Err(e) => return Err(foreign(at, format!("not a JSON run record ({e})"))),
        };
        let Some(line) = view.line else {
            return Err(foreign(
                at,
                "a record without `line`: not written by `switchyard run --output`".into(),
            ));
        };
        let id = escape_control(&view.id);
        match input.id(line) {
            None => {
                return Err(foreign(
                    at,
                    format!("record `{id}` claims input line {line}, which is blank or missing in the input"),
                ))
            }
            Some(want) if want != view.id => {
                return Err(foreign(
                    at,
                    format!(
                        "record `{id}` claims input line {line}, whose id is `{}`",
                        escape_control(&want)
                    ),
                ))
            }
            Some(_) => {}
        }
        let slot = &mut r.done[line as usize];
        if *slot {
            return Err(foreign(
                at,
                format!("a second record for input line {line} (`{id}`)"),
            ));
        }
        *slot = true;
        r.records += 1;
        r.ordered &= line > r.last_line;
        r.last_line = r.last_line.max(line);
        r.kept += n;
        r.summary.add_record(&view);
    }
    r.summary.resumed = r.records;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUT: &[u8] =
        b"{\"id\":\"a\",\"input\":1}\n{\"id\":\"b\",\"input\":2}\n\n{\"input\":3}\n";

    fn rec(id: &str, line: u64) -> String {
        format!("{{\"id\":\"{id}\",\"line\":{line},\"ok\":true,\"cost_pusd\":5,\"ledger\":[{{\"node\":\"w\",\"outcome\":\"ok\",\"cost_pusd\":5}}]}}\n")
    }

    async fn read_text(text: &str) -> Result<Resumed, BatchError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl.partial");
        std::fs::write(&path, text).unwrap();
        read(&path, &InputIndex::new(INPUT)).await
    }

    #[tokio::test]
    async fn resume_keeps_complete_records_and_marks_a_torn_tail() {
        let whole = rec("a", 1) + &rec("line-4", 4);
        let torn = format!("{whole}{}", &rec("b", 2)[..20]);
        let mut r = read_text(&torn).await.unwrap();
        assert_eq!((r.records(), r.kept_bytes()), (2, whole.len() as u64));
        assert_eq!(r.torn_bytes(), 20);
        assert!(r.is_done(1) && !r.is_done(2) && r.is_done(4) && !r.is_done(9));
        assert!(r.is_ordered());
        let s = r.take_summary();
        assert_eq!((s.runs, s.resumed, s.ok, s.cost_pusd), (2, 2, 2, 10));
        // A last line ending in a newline but not JSON is torn too.
        let r = read_text(&format!("{}{{\"id\":\n", rec("b", 2)))
            .await
            .unwrap();
        assert_eq!((r.records(), r.torn_bytes()), (1, 7));
        // Out of order (gaps filled by an earlier resume) is kept.
        let r = read_text(&(rec("b", 2) + &rec("a", 1))).await.unwrap();
        assert!(!r.is_ordered());
    }

    #[tokio::test]
    async fn resume_refuses_records_of_another_input() {
        for (text, needle) in [
            (
                rec("x", 1),
                ":1: record `x` claims input line 1, whose id is `a`",
            ),
            (
                rec("a", 1) + &rec("c", 3),
                ":2: record `c` claims input line 3, which is blank",
            ),
            (
                rec("a", 1) + &rec("a", 1),
                ":2: a second record for input line 1",
            ),
            ("{\"id\":\"a\",\"ok\":true}\n".to_string(), "without `line`"),
            (
                "nope\n".to_string() + &rec("a", 1),
                ":1: not a JSON run record",
            ),
        ] {
            let e = read_text(&text).await.unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert!(
                e.ends_with("was written for a different input; use --force to start over"),
                "{e}"
            );
        }
    }

    #[tokio::test]
    async fn inspect_finds_a_partial_a_complete_output_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let paths = OutputPaths::new(dir.path().join("out.jsonl"));
        let input = InputIndex::new(INPUT);
        assert!(matches!(
            inspect(&paths, &input).await,
            Ok(Existing::Nothing)
        ));
        std::fs::write(paths.output(), rec("a", 1)).unwrap();
        let e = inspect(&paths, &input).await.unwrap_err().to_string();
        assert!(
            e.contains("holds records for 1 of the 3 input lines"),
            "{e}"
        );
        std::fs::write(
            paths.output(),
            rec("a", 1) + &rec("b", 2) + &rec("line-4", 4),
        )
        .unwrap();
        assert!(matches!(
            inspect(&paths, &input).await,
            Ok(Existing::Complete(3))
        ));
        std::fs::write(paths.partial(), rec("a", 1)).unwrap();
        assert!(
            matches!(inspect(&paths, &input).await, Ok(Existing::Partial(r)) if r.records() == 1)
        );
    }
}
