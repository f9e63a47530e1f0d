//! Source text of a manifest and rustc-style rendering of errors that point
//! into it (`file:line:col`, the offending line, a caret underline, a hint).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A byte range in a manifest's text.
pub type Span = Range<usize>;

/// A manifest file's path and text, kept so later errors can point into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it.
    pub path: PathBuf,
    /// The whole file.
    pub text: String,
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl SourceFile {
    /// Wraps a file's text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// The directory relative paths in the manifest are resolved against.
    pub fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    /// The line and column of a byte offset (clamped to the text).
    pub fn location(&self, offset: usize) -> Location {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        Location { line, column }
    }

    /// The text of 1-based line `line`, without its newline.
    fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line - 1).unwrap_or("")
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// An error located in a manifest, rendered like rustc renders errors.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// What is wrong, lowercase, naming the thing at fault.
    pub message: String,
    /// The manifest path.
    pub path: PathBuf,
    /// Where, if known.
    pub location: Option<Location>,
    /// Underline width in characters (at least 1).
    underline: usize,
    /// The offending line's text.
    line_text: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `span` in `source`; with no span (a problem of the
    /// whole file, such as a missing table), at its first line.
    pub fn at(source: &SourceFile, span: Option<Span>, message: impl Into<String>) -> Self {
        let span = span.unwrap_or(0..0);
        let loc = source.location(span.start);
        let line_text = source.line_text(loc.line).to_string();
        let end = source.location(span.end.max(span.start));
        let underline = if end.line == loc.line {
            end.column.saturating_sub(loc.column).max(1)
        } else {
            line_text
                .chars()
                .count()
                .saturating_sub(loc.column - 1)
                .max(1)
        };
        let location = Some(loc);
        Self {
            message: message.into(),
            path: source.path.clone(),
            location,
            underline,
            line_text,
            hint: None,
        }
    }

    /// Adds a hint saying what to do.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        match self.location {
            Some(loc) => {
                let gutter = loc.line.to_string().len();
                let pad = " ".repeat(gutter);
                writeln!(
                    f,
                    "{pad}--> {}:{}:{}",
                    self.path.display(),
                    loc.line,
                    loc.column
                )?;
                writeln!(f, "{pad} |")?;
                writeln!(f, "{} | {}", loc.line, self.line_text)?;
                write!(
                    f,
                    "{pad} | {}{}",
                    " ".repeat(loc.column - 1),
                    "^".repeat(self.underline)
                )?;
            }
            None => write!(f, " --> {}", self.path.display())?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n = help: {hint}")?;
        }
        Ok(())
    }
}

/// Suggests the candidate closest to `word`, if one is close enough to be a
/// likely misspelling.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_columns_from_one() {
        let src = SourceFile::new("p.toml", "a = 1\nbé = 2\n");
        assert_eq!(src.location(0), Location { line: 1, column: 1 });
        assert_eq!(src.location(6), Location { line: 2, column: 1 });
        // 'é' is two bytes; the '=' after "bé " is column 4.
        assert_eq!(src.location(10), Location { line: 2, column: 4 });
    }

    #[test]
    fn diagnostic_renders_rustc_style() {
        let src = SourceFile::new("p.toml", "[nodes.a]\nrole = \"wroker\"\n");
        let d = Diagnostic::at(&src, Some(17..25), "unknown role `wroker`").with_hint("use worker");
        let text = d.to_string();
        assert!(text.contains("--> p.toml:2:8"), "{text}");
        assert!(text.contains("2 | role = \"wroker\""), "{text}");
        assert!(text.contains("       ^^^^^^^^"), "{text}");
        assert!(text.ends_with("= help: use worker"), "{text}");
    }

    #[test]
    fn did_you_mean_finds_close_names_only() {
        assert_eq!(did_you_mean("answr", ["answer", "triage"]), Some("answer"));
        assert_eq!(did_you_mean("zzz", ["answer", "triage"]), None);
    }
}
