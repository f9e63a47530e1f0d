//! Everything a guest hands back to the host is untrusted: outputs, errors,
//! verdicts and their reasons, routes, `describe` fields and log lines. This
//! module holds the one set of bounds they are checked against before the
//! host keeps or copies them, and the escaping that stops guest text from
//! breaking out of the record, log line or metric it lands in.
//!
//! The first line of defence is Wasmtime's host-call copy limit
//! ([`copy_limit`]), set per Store from the node's `output-kb`: a guest can
//! never make the host copy more than that in one crossing, whatever the
//! value is. What is left is then checked here, field by field.

use super::call::{JudgeScore, NodeOutput, Verdict};
use super::error::NodeError;
pub use crate::text::escape_control;

/// Bytes one guest error message or reject reason may hold.
pub const MAX_MESSAGE_BYTES: usize = 16 << 10;
/// Reasons one verdict may give.
pub const MAX_REASONS: usize = 64;
/// Bytes a router's reason may hold.
pub const MAX_ROUTE_REASON_BYTES: usize = 4 << 10;
/// Bytes of a `describe` name.
pub const MAX_NAME_BYTES: usize = 128;
/// Bytes of a `describe` version.
pub const MAX_VERSION_BYTES: usize = 64;
/// Bytes of a `describe` summary.
pub const MAX_SUMMARY_BYTES: usize = 1 << 10;
/// Bytes of a schema a component declares (JSON text).
pub const MAX_SCHEMA_BYTES: usize = 64 << 10;

pub use super::error::COPY_FIELD;

/// Room beyond `output-kb` for a crossing's own framing (a `result`, a
/// record of a few strings, a list of reasons): the copy limit must never
/// refuse what the field checks below would accept.
const COPY_SLACK: u64 = 64 << 10;

/// Wasmtime's host-call copy limit ("hostcall fuel") for a node whose
/// output limit is `output_bytes`: every value the guest hands to the host
/// in one crossing — an export's result or an import's arguments — must fit.
pub fn copy_limit(output_bytes: u64) -> usize {
    usize::try_from(output_bytes.saturating_add(COPY_SLACK)).unwrap_or(usize::MAX)
}

/// Whether `e` is Wasmtime refusing a crossing past the copy limit.
pub fn is_copy_limit(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|c| c.to_string().contains("fuel allocated for hostcalls"))
}

/// Checks every size an answer can carry against the node's output limit
/// and the per-field bounds above; the first one broken is an
/// `output-limit` error naming the node, the field and its size.
pub fn check_answer(
    node: &str,
    answer: &Result<NodeOutput, NodeError>,
    limit: u64,
) -> Result<(), NodeError> {
    let over = |field: &str, size: usize, bound: usize| -> Result<(), NodeError> {
        if size > bound || size as u64 > limit {
            return Err(NodeError::OutputLimit {
                node: node.into(),
                size: size as u64,
                limit: (bound as u64).min(limit),
                field: field.into(),
            });
        }
        Ok(())
    };
    let all = usize::MAX;
    match answer {
        Ok(NodeOutput::Output(s)) => over("output", s.len(), all),
        Ok(NodeOutput::Verdict(Verdict::Repair { output })) => over("repair", output.len(), all),
        Ok(NodeOutput::Verdict(Verdict::Reject { reasons })) => {
            over("reason count", reasons.len(), MAX_REASONS)?;
            for r in reasons {
                over("reason", r.len(), MAX_MESSAGE_BYTES)?;
            }
            over("reasons", reasons.iter().map(String::len).sum(), all)
        }
        Ok(NodeOutput::Verdict(Verdict::Accept)) => Ok(()),
        // A stream's text is bounded as it arrives (the gate).
        Ok(NodeOutput::Stream(_)) => Ok(()),
        Ok(NodeOutput::Route(r)) => {
            over("route target", r.target.len(), MAX_NAME_BYTES)?;
            over("route reason", r.reason.len(), MAX_ROUTE_REASON_BYTES)
        }
        Err(e) => match e.guest_message() {
            Some(m) => over("error message", m.len(), MAX_MESSAGE_BYTES),
            None => Ok(()),
        },
    }
}

/// Criteria one judgement may score.
pub const MAX_CRITERIA: usize = 32;

/// Checks a judge's scores: finite numbers, at most [`MAX_CRITERIA`]
/// criteria with plain names; anything else is an `invalid-output` error
/// naming the node.
pub fn check_score(node: &str, score: &JudgeScore) -> Result<(), NodeError> {
    let bad = |message: String| NodeError::InvalidOutput {
        node: node.into(),
        message,
    };
    if let Some(s) = score.score {
        if !s.is_finite() {
            return Err(bad(format!("its score {s} is not a finite number")));
        }
    }
    if score.criteria.len() > MAX_CRITERIA {
        return Err(bad(format!(
            "it scores {} criteria, over the bound of {MAX_CRITERIA}",
            score.criteria.len()
        )));
    }
    for (name, s) in &score.criteria {
        check_description_field("name", name)
            .map_err(|r| bad(format!("a criterion's name: {r}")))?;
        if !s.is_finite() {
            return Err(bad(format!(
                "criterion `{name}` scores {s}, not a finite number"
            )));
        }
    }
    Ok(())
}

/// Why a `describe` field is refused.
pub fn check_description_field(field: &str, value: &str) -> Result<(), String> {
    let bound = match field {
        "name" => MAX_NAME_BYTES,
        "version" => MAX_VERSION_BYTES,
        "summary" => MAX_SUMMARY_BYTES,
        _ => MAX_SCHEMA_BYTES,
    };
    if value.len() > bound {
        return Err(format!(
            "its {field} is {} bytes, over the bound of {bound} bytes",
            value.len()
        ));
    }
    match field {
        "name"
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            Err(format!(
                "its name {:?} may hold only ASCII letters, digits, `-`, `_` and `.`",
                escape_control(value)
            ))
        }
        "version" if !is_semver(value) => Err(format!(
            "its version {:?} is not a semantic version (like 1.2.0 or 0.3.1-beta.2)",
            escape_control(value)
        )),
        "summary" if value.chars().any(char::is_control) => {
            Err("its summary must be one line of text, without control characters".into())
        }
        _ => Ok(()),
    }
}

/// A semantic version: `MAJOR.MINOR.PATCH`, optionally `-pre` and `+build`
/// made of ASCII letters, digits, `.` and `-`.
pub fn is_semver(v: &str) -> bool {
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let mut parts = core.split('.');
    let numeric = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if !(numeric(parts.next()) && numeric(parts.next()) && numeric(parts.next()))
        || parts.next().is_some()
    {
        return false;
    }
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    match rest.split_once('+') {
        Some((pre, build)) => (pre.is_empty() || ident(&pre[1..])) && ident(build),
        None if rest.is_empty() => true,
        None => ident(&rest[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RouteChoice;

    #[test]
    fn returned_semver_accepts_versions_and_refuses_injection() {
        for ok in ["0.1.0", "1.2.3-beta.2", "1.0.0+build.7", "2.0.0-rc.1+x-y"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "1.2",
            "1.2.3.4",
            "1.2.3-",
            "1.2.3+",
            "1.2.3\"} 1\nswitchyard_runs_total{outcome=\"ok\"} 1000000",
            "1.2.3 ",
            "01.2.x",
        ] {
            assert!(!is_semver(bad), "{bad:?}");
        }
    }

    #[test]
    fn returned_answers_past_a_field_bound_are_output_limit_errors() {
        let kind = |a: Result<NodeOutput, NodeError>| {
            check_answer("n", &a, 1 << 20).map_err(|e| match e {
                NodeError::OutputLimit { field, .. } => field,
                other => panic!("{other}"),
            })
        };
        assert_eq!(kind(Ok(NodeOutput::Output("{}".into()))), Ok(()));
        assert_eq!(
            kind(Ok(NodeOutput::Output("x".repeat(2 << 20)))),
            Err("output".into())
        );
        let many = vec!["r".to_string(); MAX_REASONS + 1];
        assert_eq!(
            kind(Ok(NodeOutput::Verdict(Verdict::Reject { reasons: many }))),
            Err("reason count".into())
        );
        let long = vec!["r".repeat(MAX_MESSAGE_BYTES + 1)];
        assert_eq!(
            kind(Ok(NodeOutput::Verdict(Verdict::Reject { reasons: long }))),
            Err("reason".into())
        );
        let err = NodeError::Internal {
            node: "n".into(),
            message: "\u{1}".repeat(MAX_MESSAGE_BYTES + 1),
        };
        assert_eq!(kind(Err(err)), Err("error message".into()));
        let route = RouteChoice {
            target: "t".into(),
            confidence: 1.0,
            reason: "x".repeat(MAX_ROUTE_REASON_BYTES + 1),
        };
        assert_eq!(
            kind(Ok(NodeOutput::Route(route))),
            Err("route reason".into())
        );
    }
}
