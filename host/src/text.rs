//! Untrusted text made safe to print: control characters escaped so a
//! line from a guest, an upstream or a client stays one line wherever it
//! is logged, returned or recorded. A leaf, used by the engine and the
//! model layer alike.

use std::borrow::Cow;

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
}
