//! Cutting a streamed output into the windows its judges check: whole
//! sentences, a number of characters or tokens, or the whole output. Pure
//! text handling, no I/O: [`Windower`] takes deltas as they arrive and
//! hands back every window that is complete.

use crate::models::estimate_tokens;
use crate::spec::WindowRule;

/// Accumulates a stream's text and cuts it into windows.
#[derive(Debug)]
pub struct Windower {
    rule: WindowRule,
    pending: String,
}

impl Windower {
    /// An empty windower for `rule`.
    pub fn new(rule: WindowRule) -> Self {
        Self {
            rule,
            pending: String::new(),
        }
    }

    /// Adds `delta`; returns the windows it completed, in order.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.pending.push_str(delta);
        let mut out = Vec::new();
        while let Some(end) = self.cut() {
            let rest = self.pending.split_off(end);
            out.push(std::mem::replace(&mut self.pending, rest));
        }
        out
    }

    /// The text not yet in a window: the last window, once the stream ends.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Drops everything pending (the stream restarted).
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// Where the first complete window of `pending` ends, if it holds one.
    fn cut(&self) -> Option<usize> {
        let text = &self.pending;
        match self.rule {
            WindowRule::Whole => None,
            WindowRule::Sentence => sentence_end(text),
            WindowRule::Chars(n) => text.char_indices().nth(n as usize).map(|(i, _)| i),
            WindowRule::Tokens(n) => {
                // The shortest prefix ending at a word boundary that the
                // host's estimate puts at `n` tokens or more.
                let mut end = None;
                for (i, c) in text.char_indices() {
                    if c.is_whitespace() && i > 0 && estimate_tokens(&text[..i]) >= u64::from(n) {
                        end = Some(i + c.len_utf8());
                        break;
                    }
                }
                end
            }
        }
    }
}

/// The end of the first sentence of `text`, trailing white space included:
/// after `.`, `!`, `?` or `…` (and any closing quotes or brackets) followed
/// by white space, or after a line break. `None` while the sentence may go
/// on (the text ends right after the mark, with no white space yet).
fn sentence_end(text: &str) -> Option<usize> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c == '\n' {
            return Some(at + 1);
        }
        if matches!(c, '.' | '!' | '?' | '…') {
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j].1, '"' | '\'' | ')' | ']' | '”' | '’') {
                j += 1;
            }
            if j < chars.len() && chars[j].1.is_whitespace() {
                // Take the run of white space with the sentence.
                while j < chars.len() && chars[j].1.is_whitespace() && chars[j].1 != '\n' {
                    j += 1;
                }
                if j < chars.len() && chars[j].1 == '\n' {
                    j += 1;
                }
                return Some(chars.get(j).map_or(text.len(), |(k, _)| *k));
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(rule: WindowRule, deltas: &[&str]) -> Vec<String> {
        let mut w = Windower::new(rule);
        let mut out: Vec<String> = deltas.iter().flat_map(|d| w.push(d)).collect();
        let last = w.finish();
        if !last.is_empty() {
            out.push(last);
        }
        out
    }

    #[test]
    fn window_sentences_are_cut_after_the_mark_and_its_space_across_deltas() {
        let got = all(
            WindowRule::Sentence,
            &["Hello th", "ere. How a", "re you?", " Fine.\nBye", " now"],
        );
        assert_eq!(
            got,
            ["Hello there. ", "How are you? ", "Fine.\n", "Bye now"]
        );
        assert_eq!(got.concat(), "Hello there. How are you? Fine.\nBye now");
    }

    #[test]
    fn window_a_mark_without_space_yet_waits_for_more_text() {
        let mut w = Windower::new(WindowRule::Sentence);
        assert!(w.push("Version 2.").is_empty());
        assert!(w.push("5 is out").is_empty());
        assert_eq!(w.push(". Next"), ["Version 2.5 is out. "]);
        assert_eq!(w.finish(), "Next");
    }

    #[test]
    fn window_chars_and_tokens_and_whole() {
        assert_eq!(
            all(WindowRule::Chars(4), &["abcdefghij"]),
            ["abcd", "efgh", "ij"]
        );
        assert_eq!(all(WindowRule::Chars(2), &["ééé"]), ["éé", "é"]);
        let t = all(WindowRule::Tokens(2), &["one two three four five six"]);
        assert_eq!(t.concat(), "one two three four five six");
        assert!(t.len() >= 2, "{t:?}");
        assert_eq!(all(WindowRule::Whole, &["a. b. ", "c"]), ["a. b. c"]);
    }

    #[test]
    fn window_reset_drops_pending_text() {
        let mut w = Windower::new(WindowRule::Sentence);
        w.push("half a sent");
        w.reset();
        assert_eq!(w.push("New one. "), ["New one. "]);
    }
}
