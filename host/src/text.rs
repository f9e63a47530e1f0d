//! Untrusted text made safe to print: control characters escaped so a
//! line from a guest, an upstream or a client stays one line wherever it
//! is logged, returned or recorded, and escaped for HTML in the reports
//! the host writes as pages. A leaf, used by the engine, the model layer
//! and every page alike.

use std::borrow::Cow;

/// `write!` into a `String`, which cannot fail: the pages' writers use it
/// instead of discarding each `fmt::Result` (bring `std::fmt::Write` into
/// scope where it is used).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}
pub(crate) use w;

/// `text` with every control character escaped (`\n`, `\r`, `\t`,
/// `\u{1b}`, …), so guest text stays on one line wherever it is printed.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` safe as HTML text and as a quoted attribute value: control
/// characters escaped as [`escape_control`] does, then `& < > " '` as
/// entities.
pub fn escape_html(text: &str) -> String {
    let text = escape_control(text);
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text (a guest's model or tool name, a client's value) as a
/// host message quotes it: at most 80 characters, control characters
/// escaped, so it stays short and on one line.
pub fn shown(text: &str) -> String {
    escape_control(&clip(text, 80)).into_owned()
}

/// At most `max` characters of `text`, with `…` when cut.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_control_characters_are_escaped_onto_one_line() {
        assert!(matches!(escape_control("plain text"), Cow::Borrowed(_)));
        let forged = "ok\nERROR switchyard: host compromised\r\u{1b}[31m";
        let e = escape_control(forged);
        assert!(!e.chars().any(char::is_control), "{e}");
        assert_eq!(e, "ok\\nERROR switchyard: host compromised\\r\\u{1b}[31m");
    }

    #[test]
    fn text_html_escapes_specials_and_control_characters() {
        assert_eq!(
            escape_html("<a href='x'>\"&\"</a>\n"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;\\n"
        );
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
