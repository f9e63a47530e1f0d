//! Cutting a streamed output into the windows its judges check: whole
//! sentences, a number of characters or tokens, or the whole output. Pure
//! text handling, no I/O: [`Windower`] takes deltas as they arrive and
//! hands back every window that is complete.

use crate::spec::WindowRule;

/// Accumulates a stream's text and cuts it into windows. Each push scans
/// only the text it added (plus the few characters a sentence end may
/// straddle), so a stream costs time linear in its length.
#[derive(Debug)]
pub struct Windower {
    rule: WindowRule,
    pending: String,
    /// Byte offset in `pending` scanned so far.
    scanned: usize,
    /// Characters in `pending[..scanned]`.
    chars: usize,
}

impl Windower {
    /// An empty windower for `rule`.
    pub fn new(rule: WindowRule) -> Self {
        Self {
            rule,
            pending: String::new(),
            scanned: 0,
            chars: 0,
        }
    }

    /// Adds `delta`; returns the windows it completed, in order.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.pending.push_str(delta);
        let mut out = Vec::new();
        while let Some(end) = self.cut() {
            let rest = self.pending.split_off(end);
            out.push(std::mem::replace(&mut self.pending, rest));
            self.scanned = 0;
            self.chars = 0;
        }
        out
    }

    /// The text not yet in a window: the last window, once the stream ends.
    pub fn finish(&mut self) -> String {
        self.scanned = 0;
        self.chars = 0;
        std::mem::take(&mut self.pending)
    }

    /// Drops everything pending (the stream restarted).
    pub fn reset(&mut self) {
        self.finish();
    }

    /// Where the first complete window of `pending` ends, if it holds one;
    /// remembers how far it scanned when it does not.
    fn cut(&mut self) -> Option<usize> {
        let text = &self.pending;
        match self.rule {
            WindowRule::Whole => None,
            WindowRule::Sentence => {
                // A sentence end found now may start in text scanned before:
                // step back over a trailing run of marks and closers.
                let mut from = self.scanned;
                while let Some(c) = text[..from].chars().next_back() {
                    if !is_mark_or_closer(c) {
                        break;
                    }
                    from -= c.len_utf8();
                }
                let end = sentence_end(text, from);
                if end.is_none() {
                    self.scanned = text.len();
                }
                end
            }
            // The window's `n`th character, or, for tokens, the first white
            // space once the host's estimate (a token per 4 characters,
            // rounded up) reaches `n`.
            WindowRule::Chars(n) | WindowRule::Tokens(n) => {
                let (target, at_space) = match self.rule {
                    WindowRule::Chars(_) => (n as usize, false),
                    _ => ((n as usize).saturating_sub(1) * 4 + 1, true),
                };
                let mut chars = self.chars;
                for (i, c) in text[self.scanned..].char_indices() {
                    let at = self.scanned + i;
                    if chars >= target && (!at_space || c.is_whitespace()) {
                        return Some(if at_space { at + c.len_utf8() } else { at });
                    }
                    chars += 1;
                }
                self.scanned = text.len();
                self.chars = chars;
                None
            }
        }
    }
}

fn is_mark_or_closer(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | '…' | '"' | '\'' | ')' | ']' | '”' | '’'
    )
}

/// The end of the first sentence of `text` at or after byte `from`,
/// trailing white space included:
/// after `.`, `!`, `?` or `…` (and any closing quotes or brackets) followed
/// by white space, or after a line break. `None` while the sentence may go
/// on (the text ends right after the mark, with no white space yet).
fn sentence_end(text: &str, from: usize) -> Option<usize> {
    let chars: Vec<(usize, char)> = text[from..]
        .char_indices()
        .map(|(i, c)| (from + i, c))
        .collect();
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
    fn window_tokens_match_the_host_estimate_at_the_cut() {
        let text = "aaaa bbbb cccc dddd eeee ffff gggg";
        for deltas in [vec![text], text.split_inclusive(' ').collect::<Vec<_>>()] {
            let mut w = Windower::new(WindowRule::Tokens(3));
            let windows: Vec<String> = deltas.iter().flat_map(|d| w.push(d)).collect();
            assert!(!windows.is_empty());
            for win in &windows {
                let t = crate::models::estimate_tokens(win.trim_end());
                assert!(t >= 3, "{win:?} is {t} tokens");
            }
            assert_eq!(windows.concat() + &w.finish(), text);
        }
    }

    #[test]
    fn window_sentence_end_straddling_deltas_is_found() {
        let mut w = Windower::new(WindowRule::Sentence);
        assert!(w.push("He said \"stop.").is_empty());
        assert!(w.push("\"").is_empty());
        assert_eq!(w.push(" Then"), ["He said \"stop.\" "]);
        assert_eq!(w.finish(), "Then");
    }

    #[test]
    fn window_reset_drops_pending_text() {
        let mut w = Windower::new(WindowRule::Sentence);
        w.push("half a sent");
        w.reset();
        assert_eq!(w.push("New one. "), ["New one. "]);
    }
}
