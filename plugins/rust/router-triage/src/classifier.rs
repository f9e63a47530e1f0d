//! The embedded naive-Bayes classifier: sums per-token log-likelihoods from
//! the table `build.rs` learned from labelled tickets.

use crate::features::features;

mod model {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}

/// A classification.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// P(complex | text), 0..=1.
    pub p_complex: f32,
    /// Tokens that pushed hardest toward the winning class.
    pub cues: Vec<String>,
}

/// Training examples (simple, complex) the model saw.
pub fn training_size() -> (u32, u32) {
    (model::DOCS[0], model::DOCS[1])
}

/// Classifies a ticket text.
pub fn classify(text: &str) -> Prediction {
    let mut score = model::PRIOR;
    let mut evidence: Vec<(f32, String)> = Vec::new();
    for f in features(text) {
        // Tokens never seen in training carry no evidence either way;
        // scoring them with the smoothed unseen probability would penalise
        // the class with more training tokens (complex) for every new word.
        let Ok(i) = model::VOCAB.binary_search_by(|(t, _, _)| (*t).cmp(f.as_str())) else {
            continue;
        };
        let (s, c) = (model::VOCAB[i].1, model::VOCAB[i].2);
        score[0] += s;
        score[1] += c;
        if !f.starts_with('<') {
            evidence.push((c - s, f));
        }
    }
    // Softmax over two classes, computed stably.
    let p_complex = 1.0 / (1.0 + (score[0] - score[1]).exp());
    let complex = p_complex >= 0.5;
    evidence.sort_by(|a, b| {
        let (x, y) = if complex { (b.0, a.0) } else { (a.0, b.0) };
        x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
    });
    evidence.dedup_by(|a, b| a.1 == b.1);
    Prediction {
        p_complex,
        cues: evidence.into_iter().take(3).map(|(_, f)| f).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accuracy on the example's held-out tickets, which the training set
    /// does not contain (run with `--nocapture` to see it).
    #[test]
    fn classify_is_accurate_on_held_out_tickets() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../examples/support-triage/tickets.jsonl"
        );
        let text =
            std::fs::read_to_string(path).expect("the example's tickets are in the repository");
        let (mut right, mut n) = (0, 0);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = crate::ticket_text(&v["input"]).unwrap();
            let want = v["expect"]["route"].as_str().unwrap() == "complex";
            right += usize::from((classify(&t).p_complex >= 0.5) == want);
            n += 1;
        }
        println!("held-out accuracy: {right}/{n}");
        assert!(
            right * 100 >= n * 88,
            "held-out accuracy fell to {right}/{n}"
        );
    }

    #[test]
    fn classify_separates_obvious_cases() {
        let simple = classify("How do I reset my password? I forgot it.");
        let complex = classify(
            "After migrating to the new region our webhooks fail signature verification intermittently \
             and we see 502 errors in the API logs with stack traces; data from last week is missing.",
        );
        assert!(simple.p_complex < 0.5, "{simple:?}");
        assert!(complex.p_complex > 0.5, "{complex:?}");
        assert!(!complex.cues.is_empty());
    }
}
