//! Per-node training data from recordings, behind `switchyard export`:
//! the model calls one node made, as chat fine-tuning examples (SFT) or as
//! preference pairs (a rejected answer and the accepted retry or
//! escalation of the same task), filtered, deduplicated by request hash
//! and split into train and validation sets by that hash, so re-exports
//! are stable. Pure functions from recorded runs to examples, apart from
//! [`write_export`], which writes them through temporary files renamed
//! into place. Documented in `docs/improve.md` ("Export training data").
//!
//! A recording does not say which attempt a model call answered, so it is
//! reconstructed: a call belongs to the invocation whose span is the parent
//! of its ledger entries; a worker's invocations form its gate's attempts
//! (attempt 0 by the node itself; each later one carries the previous
//! rejection's reasons as feedback, by the same node after a `retry`, by
//! another after an `escalate`); the run's `on-reject` events, one per
//! rejected attempt in order, say which attempts were rejected, by whom,
//! and what the gate did next.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::format::{RecordedInvocation, RecordedModelCall, RecordedRun};
use crate::models::{ChatMessage, ChatRole, Cost};

/// Why training data could not be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainingError {
    /// The node is in none of the recordings.
    #[error("no node `{node}` in the recordings (nodes seen: {})\n = help: {}", seen.join(", "), unknown_hint(suggestion.as_deref()))]
    UnknownNode {
        /// The node asked for.
        node: String,
        /// Every node the recordings name.
        seen: Vec<String>,
        /// The closest name, when one is close.
        suggestion: Option<String>,
    },
    /// Nothing is left to export.
    #[error("nothing to export for node `{node}`: {reason}")]
    Empty {
        /// The node.
        node: String,
        /// Why: which filter removed the last candidates, or what the
        /// recordings lack.
        reason: String,
        /// What was read and left out on the way.
        counts: Box<ExportCounts>,
    },
    /// A flag's value is not usable.
    #[error("{flag} `{value}`: {error}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        error: String,
    },
    /// An output file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },
}

fn unknown_hint(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => "name a node of the recorded pipeline, as its manifest does".into(),
    }
}

impl TrainingError {
    fn flag(flag: &'static str, value: impl ToString, error: impl ToString) -> Self {
        Self::Flag {
            flag,
            value: value.to_string(),
            error: error.to_string(),
        }
    }

    fn write(path: &Path, error: impl std::fmt::Display) -> Self {
        Self::Write {
            path: path.to_path_buf(),
            error: error.to_string(),
        }
    }
}

/// Which answers an SFT export takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerdictFilter {
    /// Answers that passed every judge gating the node.
    #[default]
    Accepted,
    /// Answers a judge or schema rejected.
    Rejected,
    /// Every answered call of the node.
    Any,
}

/// How a preference pair is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreferenceStyle {
    /// TRL's conversational preference format: `prompt`, `chosen`,
    /// `rejected`.
    #[default]
    Trl,
    /// OpenAI preference fine-tuning: `input.messages`,
    /// `preferred_output`, `non_preferred_output`.
    OpenAi,
}

/// Which request a preference pair's prompt is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PairPrompt {
    /// The node's first request for the task in the run: the prompt
    /// without any judge feedback, the one the node will see again.
    #[default]
    Original,
    /// The accepted answer's request, without its assistant turns (it
    /// carries the judges' feedback on the rejected answer).
    Accepted,
}

/// What kind of examples to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// Chat fine-tuning examples: a request's messages and its answer.
    Sft {
        /// Which answers.
        verdict: VerdictFilter,
    },
    /// Preference pairs.
    Preference {
        /// The line format.
        style: PreferenceStyle,
        /// Where the prompt comes from.
        prompt: PairPrompt,
    },
}

/// Filters; each unset one lets everything through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Only answers and pairs judged by this judge: an accepted answer it
    /// passed, a rejected one (or the rejected side of a pair) it rejected.
    pub judge: Option<String>,
    /// Only runs in which a router chose this branch label.
    pub route: Option<String>,
    /// Only model calls that cost at most this much (each call of a pair).
    pub max_cost: Option<Cost>,
    /// Only runs that started at or after this time (µs since the epoch).
    pub since_unix_us: Option<u64>,
    /// Only runs that started before this time (µs since the epoch).
    pub until_unix_us: Option<u64>,
}

/// Everything an export needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// The node whose model calls are exported.
    pub node: String,
    /// SFT or preference pairs.
    pub kind: ExportKind,
    /// The filters.
    pub filters: Filters,
    /// Share of examples for validation, in `[0, 1)`, chosen by request
    /// hash.
    pub validation: f64,
}

/// One training example, as one line of the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Example {
    /// `{"messages": [...]}`.
    Sft {
        /// The request's messages, then the answer as an assistant turn.
        messages: Vec<ChatMessage>,
    },
    /// `{"prompt", "chosen", "rejected"}` (TRL).
    Trl {
        /// The prompt.
        prompt: Vec<ChatMessage>,
        /// The accepted answer.
        chosen: Vec<ChatMessage>,
        /// The rejected answer.
        rejected: Vec<ChatMessage>,
    },
    /// `{"input": {"messages"}, "preferred_output", "non_preferred_output"}`
    /// (OpenAI).
    OpenAi {
        /// The prompt.
        input: OpenAiInput,
        /// The accepted answer.
        preferred_output: Vec<ChatMessage>,
        /// The rejected answer.
        non_preferred_output: Vec<ChatMessage>,
    },
}

/// The `input` of an OpenAI preference example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenAiInput {
    /// The prompt.
    pub messages: Vec<ChatMessage>,
}

/// An example and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The run's id.
    pub run_id: String,
    /// The request hash it is deduplicated and split by: the call's (SFT),
    /// the rejected call's (a pair).
    pub request_hash: String,
    /// The example.
    pub example: Example,
}

/// A filter, in the order they apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Filter {
    /// `--verdict` (SFT).
    Verdict,
    /// The pair rule: a rejected answer whose next attempt was accepted.
    Pair,
    /// `--judge`.
    Judge,
    /// `--route`.
    Route,
    /// `--since` / `--until`.
    Time,
    /// `--max-cost-usd`.
    Cost,
}

impl Filter {
    /// Its name in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::Verdict => "--verdict",
            Filter::Pair => "next not accepted",
            Filter::Judge => "--judge",
            Filter::Route => "--route",
            Filter::Time => "--since/--until",
            Filter::Cost => "--max-cost-usd",
        }
    }
}

/// What an export read, kept and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportCounts {
    /// Runs read.
    pub runs: usize,
    /// Model calls the node made.
    pub calls: usize,
    /// Of those, calls that got an error instead of an answer.
    pub unanswered: usize,
    /// Of those, answered calls whose text the recording does not hold
    /// (recorded with content off, withheld, or the node omitted).
    pub textless: usize,
    /// Of those, answered calls not traced to an invocation of the node.
    pub unmatched: usize,
    /// Preference pairs: the node's answers that were rejected.
    pub rejections: usize,
    /// Candidates before the filters: answered calls (SFT) or rejected
    /// answers (pairs).
    pub candidates: usize,
    /// Candidates each filter removed, in the order they apply.
    pub skipped: BTreeMap<Filter, usize>,
    /// Examples dropped because an earlier one had the same request hash.
    pub duplicates: usize,
    /// Examples in the training set.
    pub train: usize,
    /// Examples in the validation set.
    pub valid: usize,
}

impl ExportCounts {
    /// Examples exported.
    pub fn exported(&self) -> usize {
        self.train + self.valid
    }
}

impl std::fmt::Display for ExportCounts {
    /// One line per figure, for stderr.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let row = |f: &mut std::fmt::Formatter<'_>, label: &str, value: String| {
            writeln!(f, "{label:<28} {value}")
        };
        row(f, "runs read", self.runs.to_string())?;
        row(
            f,
            "calls of the node",
            format!(
                "{} ({} unanswered, {} without recorded text, {} not traced to an invocation)",
                self.calls, self.unanswered, self.textless, self.unmatched
            ),
        )?;
        if self.rejections > 0 || self.skipped.contains_key(&Filter::Pair) {
            row(f, "rejected answers", self.rejections.to_string())?;
        }
        row(f, "candidates", self.candidates.to_string())?;
        for (filter, n) in &self.skipped {
            row(f, &format!("skipped: {}", filter.as_str()), n.to_string())?;
        }
        row(f, "duplicates", self.duplicates.to_string())?;
        write!(
            f,
            "{:<28} {} (train {}, validation {})",
            "exported",
            self.exported(),
            self.train,
            self.valid
        )
    }
}

/// What an export produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Export {
    /// The training set.
    pub train: Vec<Exported>,
    /// The validation set.
    pub valid: Vec<Exported>,
    /// The counts.
    pub counts: ExportCounts,
}

/// Exports `options.node`'s model calls in `runs` as training examples.
/// Fails when the node is in no run, or when nothing is left (saying why).
pub fn export(runs: &[RecordedRun], options: &ExportOptions) -> Result<Export, TrainingError> {
    check_options(options)?;
    check_node(runs, &options.node)?;
    let judges = judge_sets(runs);
    let mut counts = ExportCounts {
        runs: runs.len(),
        ..ExportCounts::default()
    };
    let mut candidates = Vec::new();
    for run in runs {
        let view = RunView::new(run, &judges);
        count_calls(&view, &options.node, &mut counts);
        match options.kind {
            ExportKind::Sft { verdict } => {
                sft_candidates(&view, &options.node, verdict, &mut candidates)
            }
            ExportKind::Preference { style, prompt } => pair_candidates(
                &view,
                &options.node,
                (style, prompt),
                &mut counts,
                &mut candidates,
            ),
        }
    }
    counts.candidates = candidates.len();
    let kept = apply_filters(candidates, options, &mut counts)?;
    let kept = dedupe(kept, &mut counts);
    let (train, valid) = split(kept, options.validation);
    counts.train = train.len();
    counts.valid = valid.len();
    Ok(Export {
        train,
        valid,
        counts,
    })
}

fn check_options(options: &ExportOptions) -> Result<(), TrainingError> {
    let v = options.validation;
    if !(0.0..1.0).contains(&v) {
        return Err(TrainingError::flag(
            "--validation",
            v,
            "the validation share must be at least 0 and below 1 (e.g. 0.1)",
        ));
    }
    if let (Some(since), Some(until)) =
        (options.filters.since_unix_us, options.filters.until_unix_us)
    {
        if since >= until {
            return Err(TrainingError::flag(
                "--until",
                format_time(until),
                format!("it is not after --since {}", format_time(since)),
            ));
        }
    }
    Ok(())
}

/// Every node the runs name: in their traces, invocations and calls.
pub fn nodes_seen(runs: &[RecordedRun]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for run in runs {
        seen.extend(run.invocations.iter().map(|i| i.node.clone()));
        seen.extend(run.calls.iter().map(|c| c.node.clone()));
        for step in run.record["trace"].as_array().into_iter().flatten() {
            if let Some(n) = step["node"].as_str() {
                seen.insert(n.to_string());
            }
        }
    }
    seen
}

fn check_node(runs: &[RecordedRun], node: &str) -> Result<(), TrainingError> {
    let seen = nodes_seen(runs);
    if seen.contains(node) {
        return Ok(());
    }
    let suggestion =
        crate::config::did_you_mean(node, seen.iter().map(String::as_str)).map(str::to_string);
    Err(TrainingError::UnknownNode {
        node: node.to_string(),
        seen: seen.into_iter().collect(),
        suggestion,
    })
}

/// Judges seen gating each node, per pipeline: every judge a gate runs
/// must pass an attempt for it to count as accepted.
type JudgeSets = HashMap<(String, String), BTreeSet<String>>;

fn judge_sets(runs: &[RecordedRun]) -> JudgeSets {
    let mut sets = JudgeSets::new();
    for run in runs {
        for inv in &run.invocations {
            if let Some(gate) = &inv.gates {
                sets.entry((run.pipeline.clone(), gate.clone()))
                    .or_default()
                    .insert(inv.node.clone());
            }
        }
    }
    sets
}

/// What became of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate<'a> {
    /// Passed every judge gating it; these judged it.
    Accepted { judges: Vec<&'a str> },
    /// Rejected by this judge, or by a schema (`None`).
    Rejected { judge: Option<&'a str> },
    /// Neither: it failed, the run failed because of it, or its gate
    /// never decided.
    Undecided,
}

/// One attempt at a gated node's task.
#[derive(Debug, Clone)]
struct Attempt<'a> {
    /// The producer's invocation (an index into `run.invocations`).
    invocation: usize,
    fate: Fate<'a>,
    /// What the gate did after rejecting it.
    action: Option<&'a str>,
}

/// One `on-reject` event of a run's record.
#[derive(Debug, Clone)]
struct Event<'a> {
    node: &'a str,
    producer: &'a str,
    by: &'a str,
    reasons: Vec<&'a str>,
    action: &'a str,
}

/// A run, read for export: its gates' attempts, the fate of each
/// invocation and the invocation of each model call.
struct RunView<'a> {
    run: &'a RecordedRun,
    /// Each gate's attempts, in order.
    loops: Vec<Vec<Attempt<'a>>>,
    /// The fate of each invocation.
    fates: Vec<Fate<'a>>,
    /// The invocation each call belongs to, when known.
    call_invocations: Vec<Option<usize>>,
}

impl<'a> RunView<'a> {
    fn new(run: &'a RecordedRun, judges: &JudgeSets) -> Self {
        let loops = gate_loops(run, judges);
        let fates = invocation_fates(run, &loops);
        let call_invocations = call_invocations(run);
        Self {
            run,
            loops,
            fates,
            call_invocations,
        }
    }

    /// The answered calls of invocation `inv` whose text was recorded, in
    /// order.
    fn answered_calls(&self, inv: usize) -> impl Iterator<Item = &'a RecordedModelCall> + '_ {
        let run = self.run;
        self.call_invocations
            .iter()
            .zip(&run.calls)
            .filter(move |(i, c)| **i == Some(inv) && has_text(c))
            .map(|(_, c)| c)
    }

    /// The last answered call of invocation `inv` (with its text): the one
    /// standing for the attempt in a pair.
    fn last_answered(&self, inv: usize) -> Option<&'a RecordedModelCall> {
        self.answered_calls(inv).last()
    }

    fn invocation(&self, i: usize) -> Option<&'a RecordedInvocation> {
        self.run.invocations.get(i)
    }
}

fn events(run: &RecordedRun) -> Vec<Event<'_>> {
    run.record["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(Event {
                node: e["node"].as_str()?,
                producer: e["producer"].as_str()?,
                by: e["by"].as_str()?,
                reasons: e["reasons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect(),
                action: e["action"].as_str()?,
            })
        })
        .collect()
}

/// `run`, `route` or `judge`.
fn call_kind(inv: &RecordedInvocation) -> Option<&str> {
    inv.task["call"].as_str()
}

fn feedback(inv: &RecordedInvocation) -> Vec<&str> {
    inv.task["task"]["feedback"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The judge's name in an event's `by` (``judge `x` ``); `None` for a
/// schema.
fn judge_of(by: &str) -> Option<&str> {
    by.strip_prefix("judge `")?.split('`').next()
}

/// Every gate's attempts: each worker invocation at attempt 0 starts its
/// node's gate; each rejection followed by `retry` or `escalate` leads to
/// the invocation at the next attempt that carries its reasons as
/// feedback.
fn gate_loops<'a>(run: &'a RecordedRun, judges: &JudgeSets) -> Vec<Vec<Attempt<'a>>> {
    let events = events(run);
    let mut claimed = vec![false; run.invocations.len()];
    let starts: Vec<usize> = run
        .invocations
        .iter()
        .enumerate()
        .filter(|(_, i)| call_kind(i) == Some("run") && i.attempt == 0)
        .map(|(n, _)| n)
        .collect();
    for &s in &starts {
        claimed[s] = true;
    }
    starts
        .into_iter()
        .map(|start| gate_loop(run, start, &events, judges, &mut claimed))
        .collect()
}

fn gate_loop<'a>(
    run: &'a RecordedRun,
    start: usize,
    events: &[Event<'a>],
    judges: &JudgeSets,
    claimed: &mut [bool],
) -> Vec<Attempt<'a>> {
    let Some(first) = run.invocations.get(start) else {
        return Vec::new();
    };
    let gate = first.node.as_str();
    let gate_events: Vec<&Event<'a>> = events.iter().filter(|e| e.node == gate).collect();
    let no_judges = BTreeSet::new();
    let gate_judges = judges
        .get(&(run.pipeline.clone(), gate.to_string()))
        .unwrap_or(&no_judges);
    let mut attempts = Vec::new();
    let mut current = Some(start);
    let mut index = 0u32;
    while let Some(inv_index) = current {
        let Some(inv) = run.invocations.get(inv_index) else {
            break;
        };
        let event = gate_events.get(index as usize).copied();
        let fate = match event {
            // The events are the gate's own account; one whose producer is
            // not this invocation's node means the attempts were not
            // reconstructed, so nothing is claimed about this one.
            Some(e) if e.producer != inv.node => Fate::Undecided,
            Some(e) => Fate::Rejected {
                judge: judge_of(e.by),
            },
            None => final_fate(run, gate, index, inv, gate_judges),
        };
        let action = event.map(|e| e.action);
        let consistent = fate != Fate::Undecided;
        attempts.push(Attempt {
            invocation: inv_index,
            fate,
            action,
        });
        current = match (event, consistent) {
            (Some(e), true) => next_attempt(run, gate, inv, index.saturating_add(1), e, claimed),
            _ => None,
        };
        index = index.saturating_add(1);
    }
    attempts
}

/// The invocation that made attempt `index` after event `e` on an
/// attempt by `prev`, if the gate made one.
fn next_attempt(
    run: &RecordedRun,
    gate: &str,
    prev: &RecordedInvocation,
    index: u32,
    e: &Event<'_>,
    claimed: &mut [bool],
) -> Option<usize> {
    let wanted = |i: &RecordedInvocation| match e.action {
        "retry" => i.node == prev.node,
        "escalate" => i.node != gate,
        _ => false,
    };
    let found = run.invocations.iter().enumerate().find(|(n, i)| {
        !claimed.get(*n).copied().unwrap_or(true)
            && call_kind(i) == Some("run")
            && i.attempt == index
            && wanted(i)
            && feedback(i) == e.reasons
    });
    let (n, _) = found?;
    if let Some(c) = claimed.get_mut(n) {
        *c = true;
    }
    Some(n)
}

/// The fate of the attempt the gate did not reject: accepted when the
/// invocation answered, every judge seen gating `gate` passed it, and the
/// run did not fail because of the node.
fn final_fate<'a>(
    run: &'a RecordedRun,
    gate: &str,
    index: u32,
    inv: &'a RecordedInvocation,
    gate_judges: &BTreeSet<String>,
) -> Fate<'a> {
    if inv.error.is_some() || failed_because_of(run, &[gate, &inv.node]) {
        return Fate::Undecided;
    }
    let mut passed = Vec::new();
    for j in run
        .invocations
        .iter()
        .filter(|j| j.gates.as_deref() == Some(gate) && j.attempt == index)
    {
        match j
            .answer
            .as_ref()
            .and_then(|a| a["verdict"]["verdict"].as_str())
        {
            Some("accept" | "repair") => passed.push(j.node.as_str()),
            _ => return Fate::Undecided,
        }
    }
    if gate_judges.iter().all(|j| passed.contains(&j.as_str())) {
        Fate::Accepted { judges: passed }
    } else {
        Fate::Undecided
    }
}

/// True when the run ended in an error naming one of `nodes`.
fn failed_because_of(run: &RecordedRun, nodes: &[&str]) -> bool {
    run.record["error"]["node"]
        .as_str()
        .is_some_and(|n| nodes.contains(&n))
}

/// The fate of every invocation: a worker's from its gate; a router's or
/// judge's is accepted when it answered and the run did not fail because
/// of it.
fn invocation_fates<'a>(run: &'a RecordedRun, loops: &[Vec<Attempt<'a>>]) -> Vec<Fate<'a>> {
    let mut fates: Vec<Fate<'a>> = run
        .invocations
        .iter()
        .map(|inv| {
            let ungated = call_kind(inv) != Some("run");
            if ungated && inv.error.is_none() && !failed_because_of(run, &[&inv.node]) {
                Fate::Accepted { judges: Vec::new() }
            } else {
                Fate::Undecided
            }
        })
        .collect();
    for a in loops.iter().flatten() {
        if let Some(f) = fates.get_mut(a.invocation) {
            *f = a.fate.clone();
        }
    }
    fates
}

/// The invocation each call belongs to: its ledger entries (matched on
/// node, model, attempt, outcome, tokens, cost and latency) name their
/// invocation's span. A call that cannot be matched belongs to its node's
/// only invocation, if it has exactly one.
fn call_invocations(run: &RecordedRun) -> Vec<Option<usize>> {
    let ledger: Vec<&Value> = run.record["ledger"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut used = vec![false; ledger.len()];
    let by_span: HashMap<&str, usize> = run
        .invocations
        .iter()
        .enumerate()
        .map(|(n, i)| (i.span_id.as_str(), n))
        .collect();
    run.calls
        .iter()
        .map(|call| {
            parent_span(call, &ledger, &mut used)
                .and_then(|s| by_span.get(s).copied())
                .or_else(|| only_invocation(run, &call.node))
        })
        .collect()
}

/// The span of the invocation that made `call`, from the ledger entries
/// of its attempts.
fn parent_span<'v>(
    call: &RecordedModelCall,
    ledger: &[&'v Value],
    used: &mut [bool],
) -> Option<&'v str> {
    let mut span = None;
    for a in &call.attempts {
        let found = ledger.iter().enumerate().find(|(n, e)| {
            !used.get(*n).copied().unwrap_or(true)
                && e["node"] == call.node.as_str()
                && e["model"] == a.model.as_str()
                && e["attempt"] == a.attempt
                && e["outcome"] == a.outcome.as_str()
                && e["input_tokens"] == a.input_tokens
                && e["output_tokens"] == a.output_tokens
                && e["cost_pusd"] == a.cost_pusd
                && e["latency_us"] == a.latency_us
        });
        let (n, e) = found?;
        if let Some(u) = used.get_mut(n) {
            *u = true;
        }
        span = e["parent_span_id"].as_str();
    }
    span
}

fn only_invocation(run: &RecordedRun, node: &str) -> Option<usize> {
    let mut of_node = run
        .invocations
        .iter()
        .enumerate()
        .filter(|(_, i)| i.node == node)
        .map(|(n, _)| n);
    match (of_node.next(), of_node.next()) {
        (Some(n), None) => Some(n),
        _ => None,
    }
}

/// An example before the filters.
struct Candidate<'a> {
    run: &'a RecordedRun,
    /// The request hash it is deduplicated and split by.
    key: &'a str,
    /// The calls whose cost `--max-cost-usd` checks.
    calls: Vec<&'a RecordedModelCall>,
    /// Passes `--judge NAME` when NAME is among these.
    judged_by: Vec<&'a str>,
    /// `None` when the verdict or pair rule leaves it out.
    example: Option<Example>,
    /// The rule it is left out by.
    rule: Filter,
}

fn assistant(content: &str) -> ChatMessage {
    ChatMessage::new(ChatRole::Assistant, content.to_string())
}

/// True when the call was answered and the recording holds its text: a
/// recording made with content off, or withholding a run's text, or
/// omitting the node, keeps the call with its texts emptied.
fn has_text(call: &RecordedModelCall) -> bool {
    call.answer.as_ref().is_some_and(|a| !a.content.is_empty())
        && call.request.messages.iter().any(|m| !m.content.is_empty())
}

fn answer_text(call: &RecordedModelCall) -> &str {
    call.answer.as_ref().map_or("", |a| a.content.as_str())
}

fn sft_example(call: &RecordedModelCall) -> Example {
    let mut messages = call.request.messages.clone();
    messages.push(assistant(answer_text(call)));
    Example::Sft { messages }
}

fn verdict_matches(fate: &Fate<'_>, verdict: VerdictFilter) -> bool {
    match verdict {
        VerdictFilter::Accepted => matches!(fate, Fate::Accepted { .. }),
        VerdictFilter::Rejected => matches!(fate, Fate::Rejected { .. }),
        VerdictFilter::Any => true,
    }
}

fn judges_of<'a>(fate: &Fate<'a>) -> Vec<&'a str> {
    match fate {
        Fate::Accepted { judges } => judges.clone(),
        Fate::Rejected { judge } => judge.iter().copied().collect(),
        Fate::Undecided => Vec::new(),
    }
}

/// Counts the node's calls, unanswered and not traced to an invocation.
fn count_calls(view: &RunView<'_>, node: &str, counts: &mut ExportCounts) {
    for (call, inv) in view.run.calls.iter().zip(&view.call_invocations) {
        if call.node != node {
            continue;
        }
        counts.calls += 1;
        if call.answer.is_none() {
            counts.unanswered += 1;
        } else if !has_text(call) {
            counts.textless += 1;
        } else if inv.is_none() {
            counts.unmatched += 1;
        }
    }
}

fn sft_candidates<'a>(
    view: &RunView<'a>,
    node: &str,
    verdict: VerdictFilter,
    out: &mut Vec<Candidate<'a>>,
) {
    let run = view.run;
    for (call, inv) in run.calls.iter().zip(&view.call_invocations) {
        if call.node != node || !has_text(call) {
            continue;
        }
        let Some(fate) = inv.and_then(|i| view.fates.get(i)) else {
            continue;
        };
        out.push(Candidate {
            run,
            key: &call.request_hash,
            calls: vec![call],
            judged_by: judges_of(fate),
            example: verdict_matches(fate, verdict).then(|| sft_example(call)),
            rule: Filter::Verdict,
        });
    }
}

fn pair_candidates<'a>(
    view: &RunView<'a>,
    node: &str,
    (style, prompt): (PreferenceStyle, PairPrompt),
    counts: &mut ExportCounts,
    out: &mut Vec<Candidate<'a>>,
) {
    for attempts in &view.loops {
        let by_node = |a: &&Attempt<'a>| {
            view.invocation(a.invocation)
                .is_some_and(|i| i.node == node)
        };
        let first_by_node = attempts.iter().find(by_node);
        for (k, rejected) in attempts.iter().enumerate() {
            let Fate::Rejected { judge } = rejected.fate else {
                continue;
            };
            if !by_node(&rejected) {
                continue;
            }
            counts.rejections += 1;
            let r_call = view.last_answered(rejected.invocation);
            let chosen = attempts
                .get(k + 1)
                .filter(|next| {
                    matches!(rejected.action, Some("retry" | "escalate"))
                        && matches!(next.fate, Fate::Accepted { .. })
                })
                .and_then(|next| view.last_answered(next.invocation));
            let example = r_call.zip(chosen).map(|(r_call, c_call)| {
                let original = first_by_node.and_then(|a| view.last_answered(a.invocation));
                let prompt = pair_prompt(prompt, original.unwrap_or(r_call), c_call);
                pair_example(style, prompt, answer_text(c_call), answer_text(r_call))
            });
            out.push(Candidate {
                run: view.run,
                key: r_call.map_or("", |c| c.request_hash.as_str()),
                calls: r_call.into_iter().chain(chosen).collect(),
                judged_by: judge.into_iter().collect(),
                example,
                rule: Filter::Pair,
            });
        }
    }
}

/// The prompt of a pair: the node's original request's messages, or the
/// accepted request's without its assistant turns.
fn pair_prompt(
    which: PairPrompt,
    original: &RecordedModelCall,
    accepted: &RecordedModelCall,
) -> Vec<ChatMessage> {
    match which {
        PairPrompt::Original => original.request.messages.clone(),
        PairPrompt::Accepted => accepted
            .request
            .messages
            .iter()
            .filter(|m| m.role != ChatRole::Assistant)
            .cloned()
            .collect(),
    }
}

fn pair_example(
    style: PreferenceStyle,
    prompt: Vec<ChatMessage>,
    chosen: &str,
    rejected: &str,
) -> Example {
    let (chosen, rejected) = (vec![assistant(chosen)], vec![assistant(rejected)]);
    match style {
        PreferenceStyle::Trl => Example::Trl {
            prompt,
            chosen,
            rejected,
        },
        PreferenceStyle::OpenAi => Example::OpenAi {
            input: OpenAiInput { messages: prompt },
            preferred_output: chosen,
            non_preferred_output: rejected,
        },
    }
}

fn routes(run: &RecordedRun) -> Vec<&str> {
    run.record["routes"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_str)
        .collect()
}

fn started_us(run: &RecordedRun) -> Option<u64> {
    run.record["span"]["start_unix_us"].as_u64()
}

fn call_cost(call: &RecordedModelCall) -> Cost {
    call.attempts.iter().map(|a| Cost(a.cost_pusd)).sum()
}

fn in_window(run: &RecordedRun, f: &Filters) -> bool {
    if f.since_unix_us.is_none() && f.until_unix_us.is_none() {
        return true;
    }
    started_us(run).is_some_and(|t| {
        f.since_unix_us.is_none_or(|s| t >= s) && f.until_unix_us.is_none_or(|u| t < u)
    })
}

/// Whether `c` passes `filter`.
fn passes(c: &Candidate<'_>, filter: Filter, f: &Filters) -> bool {
    match filter {
        Filter::Verdict | Filter::Pair => c.rule != filter || c.example.is_some(),
        Filter::Judge => f.judge.as_deref().is_none_or(|j| c.judged_by.contains(&j)),
        Filter::Route => f
            .route
            .as_deref()
            .is_none_or(|r| routes(c.run).contains(&r)),
        Filter::Time => in_window(c.run, f),
        Filter::Cost => f
            .max_cost
            .is_none_or(|max| c.calls.iter().all(|call| call_cost(call) <= max)),
    }
}

const FILTERS: [Filter; 6] = [
    Filter::Verdict,
    Filter::Pair,
    Filter::Judge,
    Filter::Route,
    Filter::Time,
    Filter::Cost,
];

/// Applies every filter in order, counting what each removes; fails,
/// naming the filter, when one removes the last candidates.
fn apply_filters<'a>(
    mut candidates: Vec<Candidate<'a>>,
    options: &ExportOptions,
    counts: &mut ExportCounts,
) -> Result<Vec<Candidate<'a>>, TrainingError> {
    if candidates.is_empty() {
        return Err(empty(options, counts, nothing_to_filter(options, counts)));
    }
    for filter in FILTERS {
        let before = candidates.len();
        let (kept, removed): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|c| passes(c, filter, &options.filters));
        if !removed.is_empty() {
            counts.skipped.insert(filter, removed.len());
        }
        if kept.is_empty() {
            let reason = why_removed(filter, before, &removed, options);
            return Err(empty(options, counts, reason));
        }
        candidates = kept;
    }
    Ok(candidates)
}

fn empty(options: &ExportOptions, counts: &ExportCounts, reason: String) -> TrainingError {
    TrainingError::Empty {
        node: options.node.clone(),
        reason,
        counts: Box::new(counts.clone()),
    }
}

/// Why there were no candidates at all.
fn nothing_to_filter(options: &ExportOptions, counts: &ExportCounts) -> String {
    let node = &options.node;
    let runs = counts.runs;
    if counts.calls == 0 {
        return format!(
            "`{node}` made no model calls in these {runs} runs (only a node that calls a model has answers to train on)"
        );
    }
    if matches!(options.kind, ExportKind::Preference { .. }) && counts.rejections == 0 {
        return format!(
            "no answer of `{node}` was rejected in these {runs} runs, so there is nothing to pair; export --format sft instead"
        );
    }
    format!(
        "none of its {} model calls was answered, recorded with its text and traced to an invocation ({} unanswered, {} without text, {} not traced)",
        counts.calls, counts.unanswered, counts.textless, counts.unmatched
    )
}

/// Why `filter` removed the last `before` candidates (`removed`).
fn why_removed(
    filter: Filter,
    before: usize,
    removed: &[Candidate<'_>],
    options: &ExportOptions,
) -> String {
    let f = &options.filters;
    let what = match options.kind {
        ExportKind::Sft { .. } => "answers",
        ExportKind::Preference { .. } => "rejected answers",
    };
    match filter {
        Filter::Verdict => format!(
            "--verdict: none of its {before} answers {}; try --verdict any",
            match options.kind {
                ExportKind::Sft {
                    verdict: VerdictFilter::Rejected,
                } => "was rejected",
                _ => "was accepted (passed every judge gating it, in a run the node did not fail)",
            }
        ),
        Filter::Pair => format!(
            "none of its {before} rejected answers was followed by an accepted retry or escalation (the next attempt was rejected too, fell back to the fixed reply, or failed)"
        ),
        Filter::Judge => format!(
            "--judge {}: none of the {before} remaining {what} was decided by that judge (judges seen: {})",
            f.judge.as_deref().unwrap_or_default(),
            list(removed.iter().flat_map(|c| c.judged_by.iter().copied()))
        ),
        Filter::Route => format!(
            "--route {}: none of the {before} remaining {what} comes from a run routed there (routes seen: {})",
            f.route.as_deref().unwrap_or_default(),
            list(removed.iter().flat_map(|c| routes(c.run)))
        ),
        Filter::Time => {
            let starts = removed.iter().filter_map(|c| started_us(c.run));
            let range = match (starts.clone().min(), starts.max()) {
                (Some(a), Some(b)) => format!("{} to {}", format_time(a), format_time(b)),
                _ => "unknown".into(),
            };
            format!(
                "--since/--until: none of the {before} remaining {what} comes from a run started in that window (runs started {range})"
            )
        }
        Filter::Cost => format!(
            "--max-cost-usd: each of the {before} remaining {what} has a call costing more (the cheapest costs {})",
            removed
                .iter()
                .flat_map(|c| c.calls.iter().map(|call| call_cost(call)))
                .min()
                .unwrap_or_default()
        ),
    }
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let set: BTreeSet<&str> = names.collect();
    if set.is_empty() {
        "none".into()
    } else {
        set.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// Keeps the first example of each request hash.
fn dedupe(candidates: Vec<Candidate<'_>>, counts: &mut ExportCounts) -> Vec<Exported> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for c in candidates {
        let Some(example) = c.example else {
            continue;
        };
        if !seen.insert(c.key) {
            counts.duplicates += 1;
            continue;
        }
        out.push(Exported {
            run_id: c.run.id.clone(),
            request_hash: c.key.to_string(),
            example,
        });
    }
    out
}

/// Splits into (train, validation) by request hash.
fn split(examples: Vec<Exported>, validation: f64) -> (Vec<Exported>, Vec<Exported>) {
    examples
        .into_iter()
        .partition(|e| !is_validation(&e.request_hash, validation))
}

/// True when the example of `request_hash` goes to the validation set:
/// the first 8 bytes of the SHA-256 of the hash, as a share of 2⁶⁴, fall
/// below `share`. Stable across exports and machines.
pub fn is_validation(request_hash: &str, share: f64) -> bool {
    let digest = Sha256::digest(request_hash.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) as f64 / 2f64.powi(64)) < share
}

/// The validation file of `output`: `.valid` before its extension
/// (`train.jsonl` → `train.valid.jsonl`; `train` → `train.valid`).
pub fn valid_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match output.extension() {
        Some(ext) => format!("{stem}.valid.{}", ext.to_string_lossy()),
        None => format!("{stem}.valid"),
    };
    output.with_file_name(name)
}

/// Checks, before any work, that `output` can be written: its directory
/// takes a new file, it is not a directory, and it is not one of the
/// recordings being read.
pub fn check_output(output: &Path, recordings: &[PathBuf]) -> Result<(), TrainingError> {
    scratch_file(output)?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    for out in [output.to_path_buf(), valid_path(output)] {
        if recordings.iter().any(|r| same(&out, r)) {
            return Err(TrainingError::write(
                &out,
                "it is one of the recordings being read; choose another output file",
            ));
        }
    }
    Ok(())
}

/// Writes the training set to `output` and, when `with_valid`, the
/// validation set to [`valid_path`]. Each is written to a temporary file
/// beside it and renamed into place once complete, so a failure never
/// leaves a partial file under either name. Returns the files written.
pub fn write_export(
    output: &Path,
    export: &Export,
    with_valid: bool,
) -> Result<Vec<PathBuf>, TrainingError> {
    let mut files = vec![(output.to_path_buf(), &export.train)];
    if with_valid {
        files.push((valid_path(output), &export.valid));
    }
    let staged = files
        .into_iter()
        .map(|(path, examples)| Ok((stage(&path, examples)?, path)))
        .collect::<Result<Vec<_>, TrainingError>>()?;
    let mut written = Vec::new();
    for (tmp, path) in staged.into_iter().rev() {
        tmp.persist(&path)
            .map_err(|e| TrainingError::write(&path, e.error))?;
        written.push(path);
    }
    written.reverse();
    Ok(written)
}

/// A complete temporary file beside `path` holding `examples`, one JSON
/// line each.
fn stage(path: &Path, examples: &[Exported]) -> Result<tempfile::NamedTempFile, TrainingError> {
    use std::io::Write;
    let mut tmp = scratch_file(path)?;
    let mut out = std::io::BufWriter::new(tmp.as_file_mut());
    for e in examples {
        let line = serde_json::to_string(&e.example).map_err(|e| TrainingError::write(path, e))?;
        writeln!(out, "{line}").map_err(|e| TrainingError::write(path, e))?;
    }
    out.flush().map_err(|e| TrainingError::write(path, e))?;
    drop(out);
    tmp.as_file()
        .sync_all()
        .map_err(|e| TrainingError::write(path, e))?;
    Ok(tmp)
}

/// A new temporary file beside `path` (removed on drop unless persisted).
fn scratch_file(path: &Path) -> Result<tempfile::NamedTempFile, TrainingError> {
    if path.is_dir() {
        return Err(TrainingError::write(path, "it is a directory"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".switchyard-export")
        .tempfile_in(dir)
        .map_err(|e| {
            // tempfile appends its random file's name; the cause is what
            // matters.
            let text = e.to_string();
            let cause = text.split(" at path ").next().unwrap_or_default();
            TrainingError::write(
                path,
                format!("cannot create a file in {}: {cause}", dir.display()),
            )
        })
}

/// USD to an exact cost, for `--max-cost-usd`.
pub fn cost_of_usd(usd: f64) -> Result<Cost, TrainingError> {
    if !usd.is_finite() || usd < 0.0 {
        return Err(TrainingError::flag(
            "--max-cost-usd",
            usd,
            "a cost is a non-negative number of US dollars, e.g. 0.001",
        ));
    }
    Ok(Cost((usd * 1e12).round().min(u64::MAX as f64) as u64))
}

/// Parses an RFC 3339 date (`2025-06-01`, midnight UTC) or date-time
/// with its offset (`2025-06-01T12:00:00Z`, `2025-06-01T14:00:00.5+02:00`)
/// into µs since the Unix epoch; `flag` names it in errors.
pub fn parse_time(flag: &'static str, text: &str) -> Result<u64, TrainingError> {
    let bad = |why: String| {
        TrainingError::flag(
            flag,
            text,
            format!("{why}; expected an RFC 3339 date or date-time such as 2025-06-01 or 2025-06-01T12:00:00Z"),
        )
    };
    let t = text.trim();
    let at = if t.len() == 10 {
        t.parse::<jiff::civil::Date>()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
            .map(|z| z.timestamp())
    } else {
        t.parse::<jiff::Timestamp>()
    }
    .map_err(|e| bad(e.to_string()))?;
    u64::try_from(at.as_microsecond()).map_err(|_| bad("before 1970".into()))
}

/// µs since the epoch as RFC 3339 UTC, to the second.
pub fn format_time(unix_us: u64) -> String {
    let secs = i64::try_from(unix_us / 1_000_000).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::MAX)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_time_reads_dates_and_date_times() {
        assert_eq!(parse_time("--since", "1970-01-01").unwrap(), 0);
        assert_eq!(
            parse_time("--since", "2025-06-01T12:00:00Z").unwrap(),
            1_748_779_200_000_000
        );
        assert_eq!(
            parse_time("--since", "2025-06-01T14:00:00.5+02:00").unwrap(),
            1_748_779_200_500_000
        );
        assert_eq!(
            parse_time("--since", "2024-02-29").unwrap(),
            1_709_164_800_000_000
        );
        for bad in [
            "",
            "2025",
            "2025-13-01",
            "2025-02-29",
            "2025-06-01T25:00:00Z",
            "2025-06-01T12:00:00",
            "1969-12-31",
            "2025-06-01Tx",
            "２０２５-06-01",
        ] {
            assert!(parse_time("--since", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_time_round_trips_whole_seconds() {
        for t in [
            "1970-01-01T00:00:00Z",
            "2025-06-01T12:34:56Z",
            "2000-02-29T23:59:59Z",
        ] {
            assert_eq!(format_time(parse_time("--since", t).unwrap()), t);
        }
    }

    #[test]
    fn valid_path_puts_valid_before_the_extension() {
        assert_eq!(
            valid_path(Path::new("out/train.jsonl")),
            Path::new("out/train.valid.jsonl")
        );
        assert_eq!(valid_path(Path::new("train")), Path::new("train.valid"));
    }

    #[test]
    fn is_validation_is_stable_and_near_the_share() {
        let hashes: Vec<String> = (0..2000).map(|i| format!("{i:064x}")).collect();
        let valid = hashes.iter().filter(|h| is_validation(h, 0.1)).count();
        assert!((120..=280).contains(&valid), "{valid}");
        assert!(hashes.iter().all(|h| !is_validation(h, 0.0)));
        assert_eq!(is_validation("abc", 0.5), is_validation("abc", 0.5));
    }

    #[test]
    fn cost_of_usd_refuses_negative_and_nan() {
        assert_eq!(cost_of_usd(0.001).unwrap(), Cost(1_000_000_000));
        assert!(cost_of_usd(-1.0).is_err());
        assert!(cost_of_usd(f64::NAN).is_err());
    }

    #[test]
    fn judge_of_reads_the_judge_name() {
        assert_eq!(judge_of("judge `factuality`"), Some("factuality"));
        assert_eq!(judge_of("output-schema"), None);
    }
}
