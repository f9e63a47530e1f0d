//! What a recorded run keeps of its text, as the manifest's `[recording]`
//! says: nothing (`content = false`: costs, tokens, routes, verdicts and
//! outcomes only), everything but some nodes' (`omit-nodes`), and, with
//! `redact-with`, every kept text as that judge repaired it — one
//! invocation per run, outside any run. Fails closed: text the judge
//! cannot redact is withheld whole. Text means inputs and outputs,
//! invocations' tasks and answers, prompts and model answers, and judges'
//! reasons; names, labels, ids, numbers of the ledger stay.

use serde_json::Value;

use super::format::RecordedRun;
use crate::pipeline::Pipeline;

/// How much of a run's text a recording holds (its `content` field).
pub mod state {
    /// All of it.
    pub const RAW: &str = "raw";
    /// All of it, as the redacting judge repaired it.
    pub const REDACTED: &str = "redacted";
    /// None: the manifest records no text.
    pub const OFF: &str = "off";
    /// None: the redacting judge could not redact it.
    pub const WITHHELD: &str = "withheld";
}

/// Applies `pipeline`'s `[recording]` rules to `run`.
pub async fn apply(pipeline: &Pipeline, run: &mut RecordedRun) {
    let spec = &pipeline.manifest.recording;
    if !spec.content {
        strip_all(run);
        run.content = state::OFF.into();
        return;
    }
    if !spec.omit_nodes.is_empty() {
        strip_nodes(run, &spec.omit_nodes);
        run.omitted = spec.omit_nodes.clone();
    }
    let Some(judge) = &spec.redact_with else {
        return;
    };
    let texts: Vec<String> = leaves(run).into_iter().map(|s| s.clone()).collect();
    match pipeline.redact(judge, texts).await {
        Ok(redacted) => {
            for (slot, text) in leaves(run).into_iter().zip(redacted) {
                *slot = text;
            }
            run.content = state::REDACTED.into();
        }
        Err(e) => {
            tracing::warn!(run = %run.id, error = %e, "recorded text withheld: its redaction failed");
            strip_all(run);
            run.content = state::WITHHELD.into();
        }
    }
}

/// Leaves no text: the input and output go, every other text is emptied.
fn strip_all(run: &mut RecordedRun) {
    run.input = Value::Null;
    if let Some(out) = run.record.get_mut("output") {
        *out = Value::Null;
    }
    for slot in leaves(run) {
        slot.clear();
    }
}

fn strip_nodes(run: &mut RecordedRun, nodes: &[String]) {
    let ours = |n: &str| nodes.iter().any(|x| x == n);
    for i in run.invocations.iter_mut().filter(|i| ours(&i.node)) {
        let mut slots = Vec::new();
        task_leaves(&mut i.task, &mut slots);
        if let Some(a) = &mut i.answer {
            strings(a, &mut slots);
        }
        if let Some(e) = &mut i.error {
            strings(e, &mut slots);
        }
        slots.into_iter().for_each(String::clear);
    }
    for c in run.calls.iter_mut().filter(|c| ours(&c.node)) {
        for m in &mut c.request.messages {
            m.content.clear();
        }
        if let Some(a) = &mut c.answer {
            a.content.clear();
        }
        if let Some(e) = &mut c.error {
            e.detail = None;
        }
    }
}

/// Every text of `run`, in a fixed order.
fn leaves(run: &mut RecordedRun) -> Vec<&mut String> {
    let mut out = Vec::new();
    strings(&mut run.input, &mut out);
    let record = &mut run.record;
    if let Some(obj) = record.as_object_mut() {
        for (key, value) in obj.iter_mut() {
            match key.as_str() {
                "output" => strings(value, &mut out),
                "error" => {
                    if let Some(e) = value.as_object_mut() {
                        for (k, v) in e.iter_mut() {
                            if k == "message" || k == "detail" {
                                strings(v, &mut out);
                            }
                        }
                    }
                }
                "trace" => {
                    for step in value.as_array_mut().into_iter().flatten() {
                        let Some(step) = step.as_object_mut() else {
                            continue;
                        };
                        for (k, part) in step.iter_mut() {
                            let Some(part) = part.as_object_mut() else {
                                continue;
                            };
                            let texts: &[&str] = match k.as_str() {
                                "verdict" => &["reasons", "output"],
                                "route" => &["reason"],
                                _ => &[],
                            };
                            for (pk, x) in part.iter_mut() {
                                if texts.contains(&pk.as_str()) {
                                    strings(x, &mut out);
                                }
                            }
                        }
                    }
                }
                "events" => {
                    for e in value.as_array_mut().into_iter().flatten() {
                        if let Some(r) = e.get_mut("reasons") {
                            strings(r, &mut out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    for i in &mut run.invocations {
        task_leaves(&mut i.task, &mut out);
        if let Some(a) = &mut i.answer {
            strings(a, &mut out);
        }
        if let Some(e) = &mut i.error {
            strings(e, &mut out);
        }
    }
    for c in &mut run.calls {
        for m in &mut c.request.messages {
            out.push(&mut m.content);
        }
        if let Some(a) = &mut c.answer {
            out.push(&mut a.content);
        }
        if let Some(d) = c.error.as_mut().and_then(|e| e.detail.as_mut()) {
            out.push(d);
        }
    }
    out
}

/// The texts of a recorded invocation's call: the task's input, meta and
/// feedback, and a judge's candidate.
fn task_leaves<'a>(task: &'a mut Value, out: &mut Vec<&'a mut String>) {
    let Some(obj) = task.as_object_mut() else {
        return;
    };
    for (k, v) in obj.iter_mut() {
        match k.as_str() {
            "candidate" => strings(v, out),
            "task" => {
                if let Some(t) = v.as_object_mut() {
                    for (tk, tv) in t.iter_mut() {
                        if matches!(tk.as_str(), "input" | "meta" | "feedback") {
                            strings(tv, out);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every string in `v`.
fn strings<'a>(v: &'a mut Value, out: &mut Vec<&'a mut String>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter_mut().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values_mut().for_each(|x| strings(x, out)),
        _ => {}
    }
}
