//! Text features shared by the build-time trainer and the runtime
//! classifier: lowercase word unigrams and bigrams, plus a length bucket.
//! Kept free of any binding so `build.rs` can include it verbatim.

/// The features of a ticket text.
pub fn features(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            // Collapse numbers: their values carry no class signal, their
            // presence (error codes, versions, amounts) does.
            if w.chars().all(|c| c.is_ascii_digit()) {
                format!("<num{}>", w.len().min(4))
            } else {
                w
            }
        })
        .collect();
    let mut out: Vec<String> = words.iter().filter(|w| w.len() > 1).cloned().collect();
    out.extend(words.windows(2).map(|p| format!("{} {}", p[0], p[1])));
    let bucket = match words.len() {
        0..=15 => 0,
        16..=40 => 1,
        41..=90 => 2,
        _ => 3,
    };
    out.push(format!("<len{bucket}>"));
    out
}
