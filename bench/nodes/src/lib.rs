//! The benchmark shape's logic, shared by its three components and kept
//! plain so `bench/four-node/asyncio_baseline.py` can do exactly the same
//! work: route on keywords, build one prompt per worker, check the answer.

/// Words that send a ticket to the `billing` branch.
pub const BILLING_WORDS: [&str; 4] = ["invoice", "refund", "charge", "billing"];

/// The branch for a ticket's text: `billing` when it names a billing word,
/// else `general`.
pub fn route(text: &str) -> &'static str {
    let lower = text.to_lowercase();
    if BILLING_WORDS.iter().any(|w| lower.contains(w)) {
        "billing"
    } else {
        "general"
    }
}

/// A word no answer may contain.
pub const BANNED: &str = "password:";

/// Reasons to reject an answer: empty, or holding the banned word.
pub fn check(answer: &str) -> Vec<String> {
    let mut reasons = Vec::new();
    if answer.trim().is_empty() {
        reasons.push("the answer is empty".to_string());
    }
    if answer.to_lowercase().contains(BANNED) {
        reasons.push(format!("the answer contains `{BANNED}`"));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_on_keywords_and_checks_answers() {
        assert_eq!(route("Where is my REFUND?"), "billing");
        assert_eq!(route("The app crashes"), "general");
        assert!(check("Here is how.").is_empty());
        assert_eq!(check("  ").len(), 1);
        assert_eq!(check("Password: hunter2").len(), 1);
    }
}
