//! Hand-written scanners that find PII in one piece of text: e-mail
//! addresses, phone numbers, payment card numbers (Luhn-checked) and
//! SSN-like numbers. Nothing here knows about JSON or the WIT bindings; the
//! scanners work on byte offsets of ASCII patterns, so every span they
//! return starts and ends on a `char` boundary.

/// One kind of PII the judge can detect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An e-mail address such as `jane@example.com`.
    Email,
    /// A phone number in international (`+CC …`) or North-American form.
    Phone,
    /// A 13–19 digit payment card number that passes the Luhn check.
    Card,
    /// A US social security number shaped `NNN-NN-NNNN`.
    Ssn,
}

impl Kind {
    /// Every kind, in the order overlapping matches are resolved: an earlier
    /// kind wins over a later one.
    pub const PRIORITY: [Kind; 4] = [Kind::Email, Kind::Ssn, Kind::Card, Kind::Phone];

    /// The name used in the `kinds` setting.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Ssn => "ssn",
        }
    }

    /// Parses a name from the `kinds` setting.
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "email" => Some(Kind::Email),
            "phone" => Some(Kind::Phone),
            "card" => Some(Kind::Card),
            "ssn" => Some(Kind::Ssn),
            _ => None,
        }
    }

    /// A human-readable label used in rejection reasons.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Email => "e-mail address",
            Kind::Phone => "phone number",
            Kind::Card => "payment card number",
            Kind::Ssn => "SSN-like number",
        }
    }

    /// The text that replaces a match in redact mode.
    pub fn placeholder(self) -> &'static str {
        match self {
            Kind::Email => "[REDACTED EMAIL]",
            Kind::Phone => "[REDACTED PHONE]",
            Kind::Card => "[REDACTED CARD]",
            Kind::Ssn => "[REDACTED SSN]",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Kind::Email => 1,
            Kind::Phone => 2,
            Kind::Card => 4,
            Kind::Ssn => 8,
        }
    }
}

/// A set of kinds: which detectors run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindSet(u8);

impl KindSet {
    /// No detector.
    pub const NONE: KindSet = KindSet(0);
    /// Every detector (the default).
    pub const ALL: KindSet = KindSet(1 | 2 | 4 | 8);

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// The set with `kind` added.
    pub fn with(self, kind: Kind) -> KindSet {
        KindSet(self.0 | kind.bit())
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Kind> for KindSet {
    fn from_iter<I: IntoIterator<Item = Kind>>(iter: I) -> Self {
        iter.into_iter().fold(KindSet::NONE, KindSet::with)
    }
}

/// One match in a piece of text: `text[start..end]` is the PII.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// What was found.
    pub kind: Kind,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
}

/// Finds every PII match of the enabled kinds in `text`, sorted by position
/// and never overlapping (see [`Kind::PRIORITY`]).
pub fn scan_text(text: &str, kinds: KindSet) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    for kind in Kind::PRIORITY {
        if !kinds.contains(kind) {
            continue;
        }
        let found = match kind {
            Kind::Email => find_emails(text),
            Kind::Ssn => find_ssns(text),
            Kind::Card => find_cards(text),
            Kind::Phone => find_phones(text),
        };
        for (start, end) in found {
            let overlaps = spans.iter().any(|s| start < s.end && s.start < end);
            if !overlaps {
                spans.push(Span { kind, start, end });
            }
        }
    }
    spans.sort_by_key(|s| s.start);
    spans
}

/// Replaces every match in `text` by its kind's placeholder. Returns the new
/// text and how many matches were replaced.
pub fn redact_text(text: &str, kinds: KindSet) -> (String, usize) {
    let spans = scan_text(text, kinds);
    if spans.is_empty() {
        return (text.to_owned(), 0);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in &spans {
        out.push_str(&text[last..span.start]);
        out.push_str(span.kind.placeholder());
        last = span.end;
    }
    out.push_str(&text[last..]);
    (out, spans.len())
}

/// A masked form of a match that is safe to echo back: the first character
/// and `***`, plus the domain for an e-mail address (`j***@example.com`).
pub fn mask(kind: Kind, matched: &str) -> String {
    let first: String = matched.chars().take(1).collect();
    match (kind, matched.rsplit_once('@')) {
        (Kind::Email, Some((_, domain))) => format!("{first}***@{domain}"),
        _ => format!("{first}***"),
    }
}

/// Whether `digits` (ASCII `0`–`9` only) pass the Luhn checksum.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

// ---------------------------------------------------------------------------
// Boundaries shared by the numeric detectors.

/// Whether a number may start at byte `i`: the character before it must not
/// be a letter, digit, `_`, `#` (order numbers), `+` or `@`, nor a `-`, `.`
/// or `/` glued to a digit (that would make it part of a longer number).
/// `text[i]` must be ASCII.
fn left_ok(text: &str, i: usize) -> bool {
    let mut before = text[..i].chars().rev();
    match before.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || matches!(c, '_' | '#' | '+' | '@') => false,
        Some('-' | '.' | '/' | ':') => !before.next().is_some_and(|c| c.is_ascii_digit()),
        Some(_) => true,
    }
}

/// Whether a number may end just before byte `end`: the next character must
/// not be a letter, digit, `_` or `@`, nor a `-`, `.` or `/` followed by a
/// digit.
fn right_ok(text: &str, end: usize) -> bool {
    let mut after = text[end..].chars();
    match after.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || matches!(c, '_' | '@') => false,
        Some('-' | '.' | '/' | ':') => !after.next().is_some_and(|c| c.is_ascii_digit()),
        Some(_) => true,
    }
}

/// Length of the run of ASCII digits starting at `i`.
fn digits_at(bytes: &[u8], i: usize) -> usize {
    bytes.get(i..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

/// Digit groups starting at `i`, each joined to the next by exactly one byte
/// from `seps`. Returns `(start, end)` byte ranges of the groups.
fn groups(bytes: &[u8], i: usize, seps: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut j = i;
    loop {
        let n = digits_at(bytes, j);
        if n == 0 {
            break;
        }
        out.push((j, j + n));
        j += n;
        let joined = bytes.get(j).is_some_and(|b| seps.contains(b))
            && bytes.get(j + 1).is_some_and(u8::is_ascii_digit);
        if !joined {
            break;
        }
        j += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// E-mail addresses.

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-')
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic))
}

/// E-mail addresses: a local part of letters, digits and `._%+-` (any
/// script), `@`, then a domain of at least two dot-separated labels ending in
/// an alphabetic top-level label.
fn find_emails(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut resume = 0;
    for (at, _) in text.match_indices('@') {
        if at < resume {
            continue;
        }
        let start = text[resume..at]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_local_char(c))
            .last()
            .map_or(at, |(i, _)| resume + i);
        let local = text[start..at].trim_start_matches('.');
        let start = at - local.len();
        let tail = &text[at + 1..];
        let domain_len = tail
            .char_indices()
            .find(|&(_, c)| !is_domain_char(c))
            .map_or(tail.len(), |(i, _)| i);
        let domain = tail[..domain_len].trim_end_matches(['.', '-']);
        let end = at + 1 + domain.len();
        if !local.is_empty()
            && !local.ends_with('.')
            && !local.contains("..")
            && valid_domain(domain)
        {
            out.push((start, end));
            resume = end;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// SSN-like numbers.

fn find_ssns(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || !left_ok(text, i) {
            i += 1;
            continue;
        }
        let g = groups(bytes, i, b"-");
        let end = g.last().map_or(i + 1, |&(_, e)| e);
        let shape: Vec<usize> = g.iter().map(|&(s, e)| e - s).collect();
        if shape == [3, 2, 4] && right_ok(text, end) {
            out.push((i, end));
        }
        i = end;
    }
    out
}

// ---------------------------------------------------------------------------
// Payment card numbers.

fn find_cards(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || !left_ok(text, i) {
            i += 1;
            continue;
        }
        let g = groups(bytes, i, b" -");
        let run_end = g.last().map_or(i + 1, |&(_, e)| e);
        out.extend(cards_in_run(text, &g));
        i = run_end;
    }
    out
}

/// Card numbers inside one run of digit groups. A card may be the whole run
/// or a window of it cut at spaces (a run can swallow a neighbouring number
/// through a space); windows are tried longest first, left to right.
fn cards_in_run(text: &str, g: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let last = g.len() - 1;
    let mut out = Vec::new();
    let mut s = 0;
    while s <= last {
        let cut_before = s == 0 || bytes[g[s].0 - 1] == b' ';
        let mut found = None;
        if cut_before {
            for e in (s..=last).rev() {
                let cut_after = if e == last {
                    right_ok(text, g[e].1)
                } else {
                    bytes[g[e].1] == b' '
                };
                if cut_after && is_card(bytes, &g[s..=e]) {
                    found = Some(e);
                    break;
                }
            }
        }
        match found {
            Some(e) => {
                out.push((g[s].0, g[e].1));
                s = e + 1;
            }
            None => s += 1,
        }
    }
    out
}

fn is_card(bytes: &[u8], window: &[(usize, usize)]) -> bool {
    // Separated groups of one or two digits are lists of small numbers, not
    // the way card numbers are written.
    if window.len() > 1 && window.iter().any(|&(s, e)| e - s < 3) {
        return false;
    }
    let digits: Vec<u8> = window
        .iter()
        .flat_map(|&(s, e)| bytes[s..e].iter().copied())
        .collect();
    (13..=19).contains(&digits.len()) && luhn_valid(&digits)
}

// ---------------------------------------------------------------------------
// Phone numbers.

fn find_phones(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let starts = b == b'+' || b == b'(' || b.is_ascii_digit();
        let found = if starts && left_ok(text, i) {
            if b == b'+' {
                international_at(text, i)
            } else {
                north_american_at(text, i)
            }
        } else {
            None
        };
        match found {
            Some(end) => {
                out.push((i, end));
                i = end;
            }
            None => i += 1,
        }
    }
    out
}

/// `+CC` followed by digit groups joined by one space, dash or dot, with at
/// most one parenthesised group such as `(0)` or `(20)`; 10–15 digits in
/// all. Returns the end of the match.
fn international_at(text: &str, i: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    // (end of group, digits so far) for every group read.
    let mut ends: Vec<(usize, usize)> = Vec::new();
    let mut digits = 0;
    let mut paren_used = false;
    let mut j = i + 1;
    loop {
        let paren = bytes.get(j) == Some(&b'(');
        if paren {
            if paren_used || ends.is_empty() {
                break;
            }
            let n = digits_at(bytes, j + 1);
            if !(1..=4).contains(&n) || bytes.get(j + 1 + n) != Some(&b')') {
                break;
            }
            paren_used = true;
            digits += n;
            j += n + 2;
        } else {
            let n = digits_at(bytes, j);
            if n == 0 {
                break;
            }
            digits += n;
            j += n;
        }
        ends.push((j, digits));
        let next = bytes.get(j).copied();
        let after = bytes.get(j + 1).copied();
        let continues_after = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_digit() || b == b'(');
        if matches!(next, Some(b' ' | b'-' | b'.')) && continues_after(after) {
            j += 1;
        } else if next == Some(b'(') || (paren && next.is_some_and(|b| b.is_ascii_digit())) {
            // `+44(0)20…` or `+44 (0)20…`: no separator around the parens.
        } else {
            break;
        }
    }
    let last = ends.last().copied()?;
    ends.iter().rev().find_map(|&(end, count)| {
        let clean_end = if end == last.0 {
            right_ok(text, end)
        } else {
            bytes[end] == b' '
        };
        ((10..=15).contains(&count) && clean_end).then_some(end)
    })
}

/// `(NNN) NNN-NNNN`, `NNN-NNN-NNNN`, `NNN.NNN.NNNN` or `NNN NNN NNNN`,
/// optionally after a `1` country prefix (`1-800-555-0199`). Returns the end
/// of the match.
fn north_american_at(text: &str, i: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let core = |j: usize| -> Option<usize> {
        let end = if bytes.get(j) == Some(&b'(') {
            // (NNN) NNN-NNNN, (NNN)NNN-NNNN, (NNN)-NNN-NNNN
            if digits_at(bytes, j + 1) != 3 || bytes.get(j + 4) != Some(&b')') {
                return None;
            }
            let mut k = j + 5;
            if matches!(bytes.get(k), Some(b' ' | b'-')) {
                k += 1;
            }
            if digits_at(bytes, k) != 3 || !matches!(bytes.get(k + 3), Some(b'-' | b'.' | b' ')) {
                return None;
            }
            k += 4;
            (digits_at(bytes, k) == 4).then_some(k + 4)?
        } else {
            // NNN-NNN-NNNN with one separator used twice.
            if digits_at(bytes, j) != 3 {
                return None;
            }
            let sep = *bytes.get(j + 3)?;
            if !matches!(sep, b'-' | b'.' | b' ')
                || digits_at(bytes, j + 4) != 3
                || bytes.get(j + 7) != Some(&sep)
                || digits_at(bytes, j + 8) != 4
            {
                return None;
            }
            j + 12
        };
        right_ok(text, end).then_some(end)
    };
    let prefixed = bytes[i] == b'1' && matches!(bytes.get(i + 1), Some(b'-' | b'.' | b' '));
    if prefixed {
        if let Some(end) = core(i + 2) {
            return Some(end);
        }
    }
    core(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matched substrings of `text`, with their kinds.
    fn found(text: &str, kinds: KindSet) -> Vec<(Kind, &str)> {
        scan_text(text, kinds)
            .into_iter()
            .map(|s| (s.kind, &text[s.start..s.end]))
            .collect()
    }

    fn only(kind: Kind, text: &str) -> Vec<&str> {
        found(text, KindSet::NONE.with(kind))
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    fn all(text: &str) -> Vec<(Kind, &str)> {
        found(text, KindSet::ALL)
    }

    // --- kinds -----------------------------------------------------------

    #[test]
    fn kind_names_round_trip() {
        for kind in Kind::PRIORITY {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(Kind::from_name("Email"), None);
        assert_eq!(Kind::from_name("iban"), None);
    }

    #[test]
    fn kind_set_membership() {
        let set: KindSet = [Kind::Email, Kind::Card].into_iter().collect();
        assert!(set.contains(Kind::Email));
        assert!(set.contains(Kind::Card));
        assert!(!set.contains(Kind::Phone));
        assert!(!set.contains(Kind::Ssn));
        assert!(KindSet::NONE.is_empty());
        assert!(Kind::PRIORITY.iter().all(|&k| KindSet::ALL.contains(k)));
    }

    // --- e-mail ------------------------------------------------------------

    #[test]
    fn email_plain() {
        assert_eq!(
            only(Kind::Email, "write to jane.doe@example.com today"),
            ["jane.doe@example.com"]
        );
    }

    #[test]
    fn email_with_plus_subdomain_and_trailing_period() {
        assert_eq!(
            only(Kind::Email, "Mail j.o_h-n+tag@mail.corp.example.co.uk."),
            ["j.o_h-n+tag@mail.corp.example.co.uk"]
        );
    }

    #[test]
    fn email_in_brackets_and_several() {
        assert_eq!(
            only(Kind::Email, "<a@b.io>, (c1@d-e.org); x@y.com"),
            ["a@b.io", "c1@d-e.org", "x@y.com"]
        );
    }

    #[test]
    fn email_false_positives() {
        for text in [
            "@handle on social",
            "user@localhost",
            "foo@bar",
            "a@b.c",
            "price @ 5.00",
            "name@domain.123",
            "x@-bad.com",
            "bad..dots@example.com trailing@.com",
            "email@",
        ] {
            assert_eq!(only(Kind::Email, text), Vec::<&str>::new(), "{text}");
        }
    }

    #[test]
    fn email_strips_leading_dots_of_local_part() {
        assert_eq!(only(Kind::Email, "...bob@example.com"), ["bob@example.com"]);
    }

    #[test]
    fn email_double_at_takes_the_valid_tail() {
        assert_eq!(only(Kind::Email, "a@b@c.com"), ["b@c.com"]);
    }

    #[test]
    fn email_next_to_unicode_text() {
        assert_eq!(
            only(Kind::Email, "écrivez à marie@exemple.fr, merci"),
            ["marie@exemple.fr"]
        );
        assert_eq!(
            only(Kind::Email, "José.Núñez@correo.es"),
            ["José.Núñez@correo.es"]
        );
    }

    // --- phone ---------------------------------------------------------

    #[test]
    fn phone_north_american_forms() {
        for (text, want) in [
            ("call (555) 123-4567 now", "(555) 123-4567"),
            ("call (555)123-4567", "(555)123-4567"),
            ("call 555-123-4567.", "555-123-4567"),
            ("call 555.123.4567", "555.123.4567"),
            ("call 555 123 4567", "555 123 4567"),
            ("toll free 1-800-555-0199", "1-800-555-0199"),
            ("555-123-4567", "555-123-4567"),
        ] {
            assert_eq!(only(Kind::Phone, text), [want], "{text}");
        }
    }

    #[test]
    fn phone_international_forms() {
        for (text, want) in [
            ("ring +44 20 7946 0958 please", "+44 20 7946 0958"),
            ("ring +1 555 123 4567", "+1 555 123 4567"),
            ("ring +1-555-123-4567", "+1-555-123-4567"),
            ("ring +49.30.1234.5678", "+49.30.1234.5678"),
            ("ring +442079460958", "+442079460958"),
            ("ring +44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
            ("ring +44(0)20 7946 0958", "+44(0)20 7946 0958"),
            ("ring +1 (555) 123-4567", "+1 (555) 123-4567"),
            ("ring +33 1 23 45 67 89", "+33 1 23 45 67 89"),
        ] {
            assert_eq!(only(Kind::Phone, text), [want], "{text}");
        }
    }

    #[test]
    fn phone_international_trims_a_trailing_number() {
        // The run continues through a space into "2024"; the match stops at
        // the longest prefix that is a valid length.
        assert_eq!(
            only(Kind::Phone, "+44 20 7946 0958 2024"),
            ["+44 20 7946 0958"]
        );
    }

    #[test]
    fn phone_false_positives() {
        for text in [
            "I have 42 apples and 7 pears",
            "in 1999 and 2024",
            "on 2024-03-15 at 10:30",
            "15.03.2024",
            "version 3.14.2 and v10.0.19041",
            "order #884213 shipped",
            "order #555-123-4567",
            "+12 345",
            "3+5551234567",
            "5555-123-4567",
            "555-123-45678",
            "555-123.4567",
            "ip 192.168.100.1",
            "+1234567",
            "+1234567890123456",
            "abc555-123-4567",
            "555-123-4567x",
            "12555-123-4567",
            "1.555-123-4567.9",
        ] {
            assert_eq!(only(Kind::Phone, text), Vec::<&str>::new(), "{text}");
        }
    }

    #[test]
    fn phone_two_in_a_row() {
        assert_eq!(
            only(Kind::Phone, "555-123-4567 or (555) 987-6543"),
            ["555-123-4567", "(555) 987-6543"]
        );
    }

    // --- card ----------------------------------------------------------

    #[test]
    fn luhn_known_values() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"5555555555554444"));
        assert!(luhn_valid(b"378282246310005"));
        assert!(luhn_valid(b"79927398713"));
        assert!(luhn_valid(b"0"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(!luhn_valid(b"1234567812345678"));
        assert!(!luhn_valid(b"79927398710"));
        assert!(!luhn_valid(b""));
        assert!(!luhn_valid(b"4111-1111"));
    }

    #[test]
    fn card_passing_luhn_is_found() {
        for (text, want) in [
            ("card 4111111111111111 ok", "4111111111111111"),
            ("card 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),
            ("card 4111-1111-1111-1111.", "4111-1111-1111-1111"),
            ("amex 3782 822463 10005", "3782 822463 10005"),
            ("mc 5555 5555 5555 4444", "5555 5555 5555 4444"),
            ("13 digits 4222222222222", "4222222222222"),
            (
                "19 digits 6011 0000 0000 0000 001",
                "6011 0000 0000 0000 001",
            ),
        ] {
            assert_eq!(only(Kind::Card, text), [want], "{text}");
        }
    }

    #[test]
    fn card_failing_luhn_is_not_found() {
        for text in [
            "4111111111111112",
            "4111 1111 1111 1112",
            "1234-5678-1234-5678",
        ] {
            assert_eq!(only(Kind::Card, text), Vec::<&str>::new(), "{text}");
        }
    }

    #[test]
    fn card_length_limits() {
        // 12 digits (Luhn-valid) and 20 digits (Luhn-valid) are not cards.
        assert!(luhn_valid(b"411111111117"));
        assert_eq!(only(Kind::Card, "411111111117"), Vec::<&str>::new());
        assert!(luhn_valid(b"41111111111111111115"));
        assert_eq!(only(Kind::Card, "41111111111111111115"), Vec::<&str>::new());
    }

    #[test]
    fn card_separators_must_be_single() {
        assert_eq!(
            only(Kind::Card, "4111  1111  1111  1111"),
            Vec::<&str>::new()
        );
        assert_eq!(
            only(Kind::Card, "4111--1111--1111--1111"),
            Vec::<&str>::new()
        );
        assert_eq!(only(Kind::Card, "4111.1111.1111.1111"), Vec::<&str>::new());
    }

    #[test]
    fn card_window_inside_a_longer_spaced_run() {
        assert_eq!(
            only(Kind::Card, "qty 1 4111 1111 1111 1111 2"),
            ["4111 1111 1111 1111"]
        );
    }

    #[test]
    fn card_not_glued_to_letters_or_order_marks() {
        for text in [
            "x4111111111111111",
            "4111111111111111abc",
            "#4111111111111111",
        ] {
            assert_eq!(only(Kind::Card, text), Vec::<&str>::new(), "{text}");
        }
    }

    #[test]
    fn card_ignores_lists_of_small_numbers() {
        // 7 9 9 2 7 3 9 8 7 1 3 0 0 8 passes Luhn as one run of digits.
        assert!(luhn_valid(b"79927398713008"));
        assert_eq!(
            only(Kind::Card, "7 9 9 2 7 3 9 8 7 1 3 0 0 8"),
            Vec::<&str>::new()
        );
    }

    // --- ssn ----------------------------------------------------------

    #[test]
    fn ssn_found() {
        assert_eq!(only(Kind::Ssn, "SSN: 123-45-6789."), ["123-45-6789"]);
        assert_eq!(only(Kind::Ssn, "(078-05-1120)"), ["078-05-1120"]);
    }

    #[test]
    fn ssn_false_positives() {
        for text in [
            "1234-56-7890",
            "123-456-7890",
            "123-45-67890",
            "9123-45-6789",
            "123-45-6789-1234",
            "1-123-45-6789",
            "123 45 6789",
            "123.45.6789",
            "A123-45-6789",
            "2024-03-15",
            "123-45-6789.5",
        ] {
            assert_eq!(only(Kind::Ssn, text), Vec::<&str>::new(), "{text}");
        }
    }

    // --- combined --------------------------------------------------------

    #[test]
    fn plain_numbers_are_not_pii() {
        for text in [
            "I have 42 apples.",
            "Released in 2024, see 2024-03-15.",
            "Upgrade to 3.14.2 or 10.0.1.",
            "Your order #884213 ships soon.",
            "Pi is 3.14159265358979.",
            "Total: 1,234,567.89 USD",
            "Timestamp 1710460800000 and 1710460800",
        ] {
            assert_eq!(all(text), Vec::<(Kind, &str)>::new(), "{text}");
        }
    }

    #[test]
    fn everything_in_one_text() {
        let text = "Mail j@example.com, call +1 555 123 4567, \
                    card 4111 1111 1111 1111, SSN 123-45-6789.";
        assert_eq!(
            all(text),
            [
                (Kind::Email, "j@example.com"),
                (Kind::Phone, "+1 555 123 4567"),
                (Kind::Card, "4111 1111 1111 1111"),
                (Kind::Ssn, "123-45-6789"),
            ]
        );
    }

    #[test]
    fn email_wins_over_digits_inside_it() {
        assert_eq!(
            all("555-123-4567@example.com"),
            [(Kind::Email, "555-123-4567@example.com")]
        );
    }

    #[test]
    fn card_wins_over_phone() {
        // 15 digits after '+' could be a phone; without '+' it is only a card.
        assert_eq!(all("378282246310005"), [(Kind::Card, "378282246310005")]);
    }

    #[test]
    fn disabled_kinds_do_not_run() {
        let text = "j@example.com 123-45-6789";
        let ssn_only = KindSet::NONE.with(Kind::Ssn);
        assert_eq!(found(text, ssn_only), [(Kind::Ssn, "123-45-6789")]);
        assert_eq!(found(text, KindSet::NONE), []);
    }

    #[test]
    fn random_text_never_panics_and_spans_are_sound() {
        // A tiny xorshift generator keeps the test deterministic.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: Vec<char> = "0123456789 -.()+@#/:_ab.ZéΩ→\n".chars().collect();
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let spans = scan_text(&text, KindSet::ALL);
            for pair in spans.windows(2) {
                assert!(pair[0].end <= pair[1].start, "{text:?}");
            }
            for span in &spans {
                assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
                assert!(span.start < span.end);
            }
            let (redacted, count) = redact_text(&text, KindSet::ALL);
            assert_eq!(count, spans.len());
            assert_eq!(redact_text(&redacted, KindSet::ALL).1, 0, "{text:?}");
        }
    }

    // --- masking and redaction -------------------------------------------

    #[test]
    fn masks_never_echo_the_value() {
        assert_eq!(mask(Kind::Email, "jane@example.com"), "j***@example.com");
        assert_eq!(mask(Kind::Phone, "+44 20 7946 0958"), "+***");
        assert_eq!(mask(Kind::Card, "4111 1111 1111 1111"), "4***");
        assert_eq!(mask(Kind::Ssn, "123-45-6789"), "1***");
    }

    #[test]
    fn redact_replaces_each_match() {
        let (out, n) = redact_text(
            "Hi, I'm Ann (ann@x.org, 555-123-4567). Card 4111111111111111, SSN 123-45-6789!",
            KindSet::ALL,
        );
        assert_eq!(n, 4);
        assert_eq!(
            out,
            "Hi, I'm Ann ([REDACTED EMAIL], [REDACTED PHONE]). \
             Card [REDACTED CARD], SSN [REDACTED SSN]!"
        );
    }

    #[test]
    fn redact_leaves_clean_text_alone() {
        let text = "Nothing here but 2024-03-15 and #884213.";
        assert_eq!(redact_text(text, KindSet::ALL), (text.to_owned(), 0));
    }

    #[test]
    fn redact_keeps_unicode_around_matches() {
        let (out, n) = redact_text("→ née: zoë@exemple.fr ←", KindSet::ALL);
        assert_eq!(n, 1);
        assert_eq!(out, "→ née: [REDACTED EMAIL] ←");
    }
}
