//! The `guest_returns` property: whatever the nodes of a run return —
//! any [`Script`] — the run ends within its deadline with an output or a
//! typed error, its record is bounded and one-line clean, and its ledger
//! adds up, holds only granted models and stays within the run's budget.
//! And whatever a component answers to `describe`, load makes a
//! description within every bound of it, or refuses it with a typed error
//! naming the node.
//!
//! Input: a JSON [`Script`] (readable seeds in `fuzz/corpus/guest_returns`)
//! or, for anything else, a [`Script`] and a `describe` answer drawn by
//! `arbitrary` from the bytes.

use std::path::Path;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{json, Value};
use switchyard::engine::returned::{
    MAX_MESSAGE_BYTES, MAX_NAME_BYTES, MAX_REASONS, MAX_SUMMARY_BYTES, MAX_VERSION_BYTES,
};
use switchyard::engine::{check_description, ContractVersion, LoadError, Needs, RawDescription};
use switchyard::pipeline::{RunInput, RunRecord};
use switchyard::spec::Role;

use crate::fixture::{self, BUDGET_USD, DEADLINE_MS, MODEL_CALLS, OUTPUT_KB};
use crate::script::{Script, FIELD};

/// A `describe` answer, drawn by `arbitrary`.
#[derive(Debug, Arbitrary)]
struct Describe {
    role: u8,
    name: String,
    version: String,
    summary: String,
    input_schema: Option<String>,
    output_schema: Option<String>,
    models: Option<Vec<String>>,
    model_calls: Option<u32>,
    settings: Option<Vec<String>>,
    checks_windows: bool,
    loaded_as: u8,
}

fn role(i: u8) -> Role {
    match i % 3 {
        0 => Role::Router,
        1 => Role::Worker,
        _ => Role::Judge,
    }
}

/// The property (see the module's documentation).
pub fn guest_returns(data: &[u8]) {
    let script = match serde_json::from_slice::<Script>(data) {
        Ok(s) => s,
        Err(_) => {
            let mut u = Unstructured::new(data);
            let Ok(script) = Script::arbitrary(&mut u) else {
                return;
            };
            if let Ok(d) = Describe::arbitrary(&mut u) {
                describe(d);
            }
            script
        }
    };
    run_script(&script);
}

/// A `describe` answer through load's check.
fn describe(d: Describe) {
    let loaded_as = role(d.loaded_as);
    let raw = RawDescription {
        role: role(d.role),
        name: d.name,
        version: d.version,
        summary: d.summary,
        input_schema: d.input_schema,
        output_schema: d.output_schema,
        needs: Needs {
            models: d.models,
            model_calls: d.model_calls,
            settings: d.settings,
        },
        checks_windows: d.checks_windows,
    };
    let path = Path::new("/fuzz/node.wasm");
    match check_description("fuzzed", path, loaded_as, ContractVersion::V0_2, Ok(raw)) {
        Ok(desc) => {
            assert_eq!(desc.role, loaded_as, "a description of another role");
            assert!(desc.name.len() <= MAX_NAME_BYTES && desc.version.len() <= MAX_VERSION_BYTES);
            assert!(
                desc.summary.len() <= MAX_SUMMARY_BYTES && !desc.summary.contains(char::is_control)
            );
            assert!(desc
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
            for list in [&desc.needs.models, &desc.needs.settings]
                .into_iter()
                .flatten()
            {
                assert!(list.len() <= 64, "needs past their bound");
            }
            if loaded_as != Role::Judge {
                assert!(!desc.checks_windows, "a non-judge checking windows");
            }
        }
        Err(e) => {
            assert!(
                matches!(e, LoadError::Describe { .. } | LoadError::Bound { .. }),
                "a describe answer refused as {e:?}"
            );
            let message = e.to_string();
            assert!(
                message.contains("fuzzed"),
                "a refusal not naming the node: {message}"
            );
            assert_clean("describe refusal", &message);
        }
    }
}

/// A run of `script` through the fuzz pipeline, its properties checked;
/// its record.
pub fn run_script(script: &Script) -> RunRecord {
    let f = fixture::get();
    let input = json!({ FIELD: script, "text": "fuzz" });
    let pipeline = f.live.current();
    let outcome = f.rt.block_on(pipeline.run(RunInput::new("fuzz", input)));
    assert!(
        outcome.elapsed <= Duration::from_millis(DEADLINE_MS) + Duration::from_secs(2),
        "the run took {:?}, past its deadline of {DEADLINE_MS} ms",
        outcome.elapsed
    );
    let record = RunRecord::from_outcome(outcome);
    check_record(&record);
    record
}

/// What must hold of every record, whatever the nodes returned.
fn check_record(record: &RunRecord) {
    let nodes = ["route", "whole", "standby", "streamed", "judge"];
    // Bounded: each invocation hands back at most `output-kb` (reasons,
    // errors and outputs alike), and a run has few invocations.
    let text = serde_json::to_string(record).expect("a record serialises");
    assert!(
        text.len() <= 2 << 20,
        "a record of {} bytes: guest values are not bounded",
        text.len()
    );
    if let Some(output) = &record.output {
        let size = serde_json::to_string(output).expect("serialises").len();
        assert!(
            size as u64 <= (OUTPUT_KB << 10) * 2,
            "an output of {size} bytes past output-kb = {OUTPUT_KB}"
        );
    }
    if let Some(e) = &record.error {
        assert!(!e.message.is_empty(), "an error without a message");
        // A guest's message within its bound, each control character in
        // it escaped (at most six bytes each), in the host's sentence.
        assert!(
            e.message.len() <= MAX_MESSAGE_BYTES * 6 + 4096,
            "an error message of {} bytes",
            e.message.len()
        );
        assert_clean("error message", &e.message);
        if let Some(n) = &e.node {
            assert!(nodes.contains(&n.as_str()), "an error naming node `{n}`");
        }
    }
    for step in &record.trace {
        assert!(
            nodes.contains(&step.node.as_str()),
            "a step of node `{}`",
            step.node
        );
    }
    for event in &record.events {
        let v = serde_json::to_value(event).expect("serialises");
        if let Some(reasons) = v.get("reasons").and_then(Value::as_array) {
            assert!(
                reasons.len() <= MAX_REASONS,
                "{} reasons kept",
                reasons.len()
            );
            for r in reasons.iter().filter_map(Value::as_str) {
                assert!(
                    r.len() <= MAX_MESSAGE_BYTES * 6,
                    "a reason of {} bytes",
                    r.len()
                );
                assert_clean("reject reason", r);
            }
        }
    }
    for (router, label) in &record.routes {
        assert_eq!(router, "route");
        assert!(
            ["whole", "streamed"].contains(&label.as_str()),
            "route `{label}`"
        );
    }
    // The ledger adds up, holds only granted models, and stays within the
    // run's budget and the call limits.
    let mut cost = 0u64;
    let (mut input, mut output) = (0u64, 0u64);
    for e in &record.ledger {
        assert!(nodes.contains(&e.node.as_str()), "a call by `{}`", e.node);
        assert!(
            ["chat", "embedding"].contains(&e.model.as_str()),
            "a ledger entry for model `{}`, which no node is granted",
            e.model
        );
        assert_eq!(e.cost_pusd, e.cost.0, "an entry's cost in two amounts");
        cost += e.cost.0;
        input += e.input_tokens;
        output += e.output_tokens;
    }
    assert_eq!(
        record.ledger.len() as u64,
        record.usage.calls,
        "entries miscounted"
    );
    assert_eq!(
        cost, record.cost_pusd,
        "the total is not the sum of the entries"
    );
    assert_eq!(
        (input, output),
        (record.usage.input_tokens, record.usage.output_tokens)
    );
    let budget_pusd = (BUDGET_USD * 1e12) as u64;
    assert!(
        record.cost_pusd <= budget_pusd,
        "the run spent {} pUSD, past its budget of {budget_pusd}",
        record.cost_pusd
    );
    // Sim models answer at once and never fail: one attempt per call.
    let invocations = record.trace.len().max(1);
    assert!(
        record.ledger.len() <= invocations * MODEL_CALLS,
        "{} ledger entries for {invocations} invocations of at most {MODEL_CALLS} calls",
        record.ledger.len()
    );
}

/// Text the host writes into records and logs holds no control
/// characters: a guest cannot break a line or forge one.
fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\t'),
        "a {what} with a raw control character: {text:?}"
    );
}
