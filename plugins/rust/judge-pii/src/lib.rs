//! `judge-pii`: a guardrail judge node that looks for personal data in a
//! candidate output (any JSON; every string value is scanned) and rejects it
//! with masked reasons, or repairs it with `[REDACTED …]` placeholders.
//!
//! Settings (JSON text, from the manifest's `[nodes.<name>.settings]`):
//! `mode` is `"reject"` (default) or `"redact"`; `kinds` restricts the
//! detectors to a list drawn from `["email","phone","card","ssn"]`.
//!
//! It also checks windows of a streamed output (`check-window`): the same
//! detectors, and every finding in a window is redacted in the window
//! (whatever the `mode`), so the redacted text is what streams.
//!
//! The detection logic lives in [`detect`], [`walk`] and [`policy`], which do
//! not touch the WIT bindings and are unit-tested natively. This file is the
//! glue, on the `switchyard-node` kit: it reads the settings through the
//! host's `config` import, maps the policy's outcome onto `verdict`, and logs
//! the number of findings only, never the data itself.

pub mod detect;
pub mod policy;
pub mod walk;

use switchyard_node::prelude::*;

use crate::policy::{check_window, evaluate, JudgeError, Mode, Outcome, Settings};

struct JudgePii;

impl Judge for JudgePii {
    fn describe() -> Description {
        Description::judge("judge-pii", env!("CARGO_PKG_VERSION"))
            .summary(
                "Rejects or redacts e-mail addresses, phone numbers, payment card numbers \
             and SSN-like numbers in a candidate's string values; redacts them in \
             the windows of a streamed output.",
            )
            .needs(Needs::none().settings(["kinds", "mode"]))
    }

    fn judge(_task: Task, candidate: String) -> Result<Judgement, NodeError> {
        let settings = Settings::from_lookup(settings::get).map_err(node_error)?;
        let judgement = evaluate(&candidate, &settings).map_err(node_error)?;
        let mode = match settings.mode {
            Mode::Reject => "reject",
            Mode::Redact => "redact",
        };
        log::debug(&format!("{} finding(s), mode {mode}", judgement.findings));
        Ok(match judgement.outcome {
            Outcome::Accept => Verdict::Accept,
            Outcome::Reject(reasons) => Verdict::Reject(reasons),
            Outcome::Repair(json) => Verdict::Repair(json),
        }
        .into())
    }
}

impl CheckWindow for JudgePii {
    fn check_window(_task: Task, window: Window) -> Result<Judgement, NodeError> {
        let settings = Settings::from_lookup(settings::get).map_err(node_error)?;
        let judgement = check_window(&window.text, &settings);
        log::debug(&format!(
            "window {}: {} finding(s) redacted",
            window.index, judgement.findings
        ));
        Ok(match judgement.outcome {
            Outcome::Repair(text) => Judgement::repair(text),
            _ => Judgement::accept(),
        })
    }
}

fn node_error(error: JudgeError) -> NodeError {
    match error {
        JudgeError::InvalidInput(message) => NodeError::InvalidInput(message),
        JudgeError::Internal(message) => NodeError::Internal(message),
    }
}

export_judge!(JudgePii);

#[cfg(test)]
mod tests {
    #[test]
    fn judge_pii_declares_its_window_check() {
        assert!(switchyard_node::__checks_windows!(super::JudgePii));
    }
}
