//! The judge's decision, independent of the WIT bindings: reads the `mode`
//! and `kinds` settings (JSON text, as the host's `config.get` returns them),
//! parses the candidate, and turns the findings of [`crate::walk`] into an
//! accept, reject or repair outcome. A window of a streamed output
//! ([`check_window`]) goes through the same detectors and is redacted in
//! place: the text already streamed cannot be taken back, so a window is
//! never rejected.

use serde_json::Value;

use crate::detect::{redact_text, Kind, KindSet};
use crate::walk::{redact_value, scan_value};

/// What to do when PII is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Reject the candidate with one reason per finding (the default).
    Reject,
    /// Repair the candidate by replacing each finding with a placeholder.
    Redact,
}

/// The node's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Reject or redact.
    pub mode: Mode,
    /// Which detectors run.
    pub kinds: KindSet,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Reject,
            kinds: KindSet::ALL,
        }
    }
}

/// Why the judge could not decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JudgeError {
    /// The candidate or a setting is malformed.
    InvalidInput(String),
    /// Something that should not fail did.
    Internal(String),
}

impl Settings {
    /// Reads the settings through `get`, which returns a setting's JSON text
    /// or `None` when it is not set.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, JudgeError> {
        let mut settings = Settings::default();
        if let Some(raw) = get("mode") {
            settings.mode = parse_mode(&raw)?;
        }
        if let Some(raw) = get("kinds") {
            settings.kinds = parse_kinds(&raw)?;
        }
        Ok(settings)
    }
}

fn invalid(message: String) -> JudgeError {
    JudgeError::InvalidInput(message)
}

/// Parses the `mode` setting: the JSON string `"reject"` or `"redact"`.
pub fn parse_mode(raw: &str) -> Result<Mode, JudgeError> {
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| invalid(format!("setting `mode` is not valid JSON ({e}): {raw}")))?;
    match value.as_str() {
        Some("reject") => Ok(Mode::Reject),
        Some("redact") => Ok(Mode::Redact),
        _ => Err(invalid(format!(
            "setting `mode` must be \"reject\" or \"redact\", got {value}"
        ))),
    }
}

/// Parses the `kinds` setting: a non-empty JSON list of kind names.
pub fn parse_kinds(raw: &str) -> Result<KindSet, JudgeError> {
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| invalid(format!("setting `kinds` is not valid JSON ({e}): {raw}")))?;
    let Value::Array(items) = value else {
        return Err(invalid(format!(
            "setting `kinds` must be a list such as [\"email\",\"phone\",\"card\",\"ssn\"], got {value}"
        )));
    };
    if items.is_empty() {
        return Err(invalid(
            "setting `kinds` is empty; list at least one of email, phone, card, ssn".to_owned(),
        ));
    }
    items
        .iter()
        .map(|item| {
            item.as_str().and_then(Kind::from_name).ok_or_else(|| {
                invalid(format!(
                    "setting `kinds` names unknown kind {item}; known kinds are email, phone, card, ssn"
                ))
            })
        })
        .collect()
}

/// The judge's decision about one candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No PII found.
    Accept,
    /// PII found in reject mode: one masked reason per finding.
    Reject(Vec<String>),
    /// PII found in redact mode: the candidate with placeholders (JSON text).
    Repair(String),
}

/// An outcome and how many findings led to it (for logging).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// The decision.
    pub outcome: Outcome,
    /// How many pieces of PII were found.
    pub findings: usize,
}

/// Judges `candidate` (JSON text) under `settings`.
pub fn evaluate(candidate: &str, settings: &Settings) -> Result<Judgement, JudgeError> {
    let mut value: Value = serde_json::from_str(candidate)
        .map_err(|e| invalid(format!("candidate is not valid JSON: {e}")))?;
    match settings.mode {
        Mode::Reject => {
            let reasons: Vec<String> = scan_value(&value, settings.kinds)
                .iter()
                .map(|f| f.reason())
                .collect();
            let findings = reasons.len();
            let outcome = if reasons.is_empty() {
                Outcome::Accept
            } else {
                Outcome::Reject(reasons)
            };
            Ok(Judgement { outcome, findings })
        }
        Mode::Redact => {
            let findings = redact_value(&mut value, settings.kinds);
            let outcome = if findings == 0 {
                Outcome::Accept
            } else {
                let json = serde_json::to_string(&value).map_err(|e| {
                    JudgeError::Internal(format!("cannot serialise the repaired candidate: {e}"))
                })?;
                Outcome::Repair(json)
            };
            Ok(Judgement { outcome, findings })
        }
    }
}

/// Judges one window of a streamed output (plain text, not JSON): the
/// same detectors as [`evaluate`], limited by the `kinds` setting; every
/// finding is replaced by its placeholder (`[REDACTED EMAIL]`, …) whatever
/// the `mode`, so the redacted window is what streams.
pub fn check_window(text: &str, settings: &Settings) -> Judgement {
    let (redacted, findings) = redact_text(text, settings.kinds);
    let outcome = if findings == 0 {
        Outcome::Accept
    } else {
        Outcome::Repair(redacted)
    };
    Judgement { outcome, findings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, JudgeError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Settings::from_lookup(|key| map.get(key).cloned())
    }

    fn message(result: Result<impl std::fmt::Debug, JudgeError>) -> String {
        match result {
            Err(JudgeError::InvalidInput(m)) => m,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_reject_and_every_kind() {
        assert_eq!(settings(&[]).unwrap(), Settings::default());
        assert_eq!(Settings::default().mode, Mode::Reject);
        assert_eq!(Settings::default().kinds, KindSet::ALL);
    }

    #[test]
    fn mode_setting() {
        assert_eq!(
            settings(&[("mode", "\"redact\"")]).unwrap().mode,
            Mode::Redact
        );
        assert_eq!(
            settings(&[("mode", "\"reject\"")]).unwrap().mode,
            Mode::Reject
        );
        let m = message(settings(&[("mode", "\"erase\"")]));
        assert!(m.contains("mode") && m.contains("erase"), "{m}");
        let m = message(settings(&[("mode", "redact")]));
        assert!(m.contains("not valid JSON"), "{m}");
    }

    #[test]
    fn kinds_setting() {
        let s = settings(&[("kinds", r#"["email","ssn"]"#)]).unwrap();
        assert!(s.kinds.contains(Kind::Email) && s.kinds.contains(Kind::Ssn));
        assert!(!s.kinds.contains(Kind::Phone) && !s.kinds.contains(Kind::Card));
        let s = settings(&[("kinds", r#"["email","phone","card","ssn","card"]"#)]).unwrap();
        assert_eq!(s.kinds, KindSet::ALL);
    }

    #[test]
    fn unknown_kind_is_named() {
        let m = message(settings(&[("kinds", r#"["email","iban"]"#)]));
        assert!(m.contains("\"iban\""), "{m}");
        let m = message(settings(&[("kinds", r#"["email",3]"#)]));
        assert!(m.contains("unknown kind 3"), "{m}");
    }

    #[test]
    fn malformed_kinds() {
        assert!(message(settings(&[("kinds", r#""email""#)])).contains("must be a list"));
        assert!(message(settings(&[("kinds", "[]")])).contains("empty"));
        assert!(message(settings(&[("kinds", "[email]")])).contains("not valid JSON"));
    }

    #[test]
    fn invalid_candidate() {
        let m = message(evaluate("{\"reply\": ", &Settings::default()));
        assert!(m.starts_with("candidate is not valid JSON"), "{m}");
    }

    #[test]
    fn clean_candidate_is_accepted_in_both_modes() {
        let candidate = r#"{"reply":"Your order #884213 ships on 2024-03-15 (v3.14.2)."}"#;
        for mode in [Mode::Reject, Mode::Redact] {
            let s = Settings {
                mode,
                ..Settings::default()
            };
            assert_eq!(
                evaluate(candidate, &s).unwrap(),
                Judgement {
                    outcome: Outcome::Accept,
                    findings: 0
                }
            );
        }
    }

    #[test]
    fn reject_lists_one_masked_reason_per_finding() {
        let candidate = r#"{"reply":"Mail jane@example.com or call 555-123-4567","meta":{"ssn":"123-45-6789"}}"#;
        let judgement = evaluate(candidate, &Settings::default()).unwrap();
        assert_eq!(judgement.findings, 3);
        assert_eq!(
            judgement.outcome,
            Outcome::Reject(vec![
                "e-mail address at $.reply: j***@example.com".to_owned(),
                "phone number at $.reply: 5***".to_owned(),
                "SSN-like number at $.meta.ssn: 1***".to_owned(),
            ])
        );
    }

    #[test]
    fn redact_repairs_in_place() {
        let s = Settings {
            mode: Mode::Redact,
            ..Settings::default()
        };
        let candidate = r#"{"reply":"Card 4111 1111 1111 1111, ring +44 20 7946 0958","n":7}"#;
        let judgement = evaluate(candidate, &s).unwrap();
        assert_eq!(judgement.findings, 2);
        assert_eq!(
            judgement.outcome,
            Outcome::Repair(
                r#"{"reply":"Card [REDACTED CARD], ring [REDACTED PHONE]","n":7}"#.to_owned()
            )
        );
    }

    #[test]
    fn kinds_restrict_detection() {
        let s = Settings {
            mode: Mode::Reject,
            kinds: KindSet::NONE.with(Kind::Card),
        };
        let candidate = r#"{"reply":"jane@example.com 123-45-6789"}"#;
        assert_eq!(evaluate(candidate, &s).unwrap().outcome, Outcome::Accept);
    }

    #[test]
    fn any_json_candidate() {
        let s = Settings::default();
        assert_eq!(
            evaluate(r#""a@b.io""#, &s).unwrap().outcome,
            Outcome::Reject(vec!["e-mail address at $: a***@b.io".to_owned()])
        );
        assert_eq!(evaluate("42", &s).unwrap().outcome, Outcome::Accept);
        assert_eq!(evaluate("null", &s).unwrap().outcome, Outcome::Accept);
        assert_eq!(
            evaluate(r#"["x", ["4111111111111111"]]"#, &s)
                .unwrap()
                .outcome,
            Outcome::Reject(vec!["payment card number at $[1][0]: 4***".to_owned()])
        );
    }

    #[test]
    fn windows_are_redacted_in_either_mode() {
        for mode in [Mode::Reject, Mode::Redact] {
            let s = Settings {
                mode,
                ..Settings::default()
            };
            let j = check_window("Write to jane@example.com or call 555-123-4567. ", &s);
            assert_eq!(j.findings, 2);
            assert_eq!(
                j.outcome,
                Outcome::Repair("Write to [REDACTED EMAIL] or call [REDACTED PHONE]. ".to_owned())
            );
            assert_eq!(
                check_window("Your order ships today. ", &s),
                Judgement {
                    outcome: Outcome::Accept,
                    findings: 0
                }
            );
        }
        let emails_only = Settings {
            mode: Mode::Reject,
            kinds: KindSet::NONE.with(Kind::Email),
        };
        assert_eq!(
            check_window("call 555-123-4567", &emails_only).outcome,
            Outcome::Accept
        );
    }

    #[test]
    fn luhn_failure_is_accepted() {
        let candidate = r#"{"reply":"ref 4111 1111 1111 1112"}"#;
        assert_eq!(
            evaluate(candidate, &Settings::default()).unwrap().outcome,
            Outcome::Accept
        );
    }
}
