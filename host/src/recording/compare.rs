//! Comparing two recordings of the same inputs — a baseline and a
//! candidate (a replay through a changed pipeline, or another recording)
//! — for the whole pipeline and per node: outputs changed, judges' pass
//! rates and reasons, router accuracy against `expect.route`, cost and
//! tokens, latency, retries, escalations and fallbacks, and the runs that
//! flipped between pass and fail. Runs are matched by id.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::format::RecordedRun;

/// One side's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Runs.
    pub runs: u64,
    /// Runs with an output.
    pub ok: u64,
    /// Exact cost in picodollars.
    pub cost_pusd: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Model-call attempts.
    pub model_calls: u64,
    /// Median run latency, ms.
    pub p50_ms: f64,
    /// 95th-percentile run latency, ms.
    pub p95_ms: f64,
    /// `on-reject` retries.
    pub retries: u64,
    /// Escalations.
    pub escalations: u64,
    /// Fixed fallbacks.
    pub fallbacks: u64,
    /// Router decisions matching `expect.route`, of those labelled.
    pub routed_right: u64,
    /// Labelled router decisions.
    pub routed_labelled: u64,
}

/// A node's figures on one side.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeFigures {
    /// Invocations.
    pub invocations: u64,
    /// Failed invocations.
    pub failed: u64,
    /// For a judge: verdicts by label (`accept`, `reject`, `repair`).
    pub verdicts: BTreeMap<String, u64>,
    /// For a judge: rejection reasons by text (most frequent first in
    /// the report).
    pub reasons: BTreeMap<String, u64>,
    /// Exact cost of its model calls.
    pub cost_pusd: u64,
    /// Tokens of its model calls.
    pub tokens: u64,
}

impl NodeFigures {
    /// Share of verdicts that let the output through (accept or repair).
    pub fn pass_rate(&self) -> Option<f64> {
        let all: u64 = self.verdicts.values().sum();
        let pass = self.verdicts.get("accept").copied().unwrap_or(0)
            + self.verdicts.get("repair").copied().unwrap_or(0);
        (all > 0).then(|| pass as f64 / all as f64)
    }
}

/// A node, both sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeComparison {
    /// Baseline.
    pub baseline: NodeFigures,
    /// Candidate.
    pub candidate: NodeFigures,
    /// Matched runs in which this node's answers differ.
    pub answers_changed: u64,
}

/// A run whose pass/fail differs between the sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flip {
    /// The run's id.
    pub id: String,
    /// `pass→fail` or `fail→pass`.
    pub direction: &'static str,
    /// The candidate's error kind, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// Baseline figures.
    pub baseline: Figures,
    /// Candidate figures.
    pub candidate: Figures,
    /// Runs matched by id.
    pub matched: u64,
    /// Matched runs whose output differs.
    pub outputs_changed: u64,
    /// Matched runs whose exact cost differs.
    pub costs_changed: u64,
    /// Per node.
    pub nodes: BTreeMap<String, NodeComparison>,
    /// Runs that flipped.
    pub flips: Vec<Flip>,
}

/// Compares `baseline` with `candidate`.
pub fn compare(baseline: &[RecordedRun], candidate: &[RecordedRun]) -> Comparison {
    let mut c = Comparison {
        baseline: figures(baseline),
        candidate: figures(candidate),
        ..Comparison::default()
    };
    for (side, runs) in [(0, baseline), (1, candidate)] {
        for run in runs {
            node_figures(run, &mut c.nodes, side);
        }
    }
    let by_id: BTreeMap<&str, &RecordedRun> =
        candidate.iter().map(|r| (r.id.as_str(), r)).collect();
    for b in baseline {
        let Some(k) = by_id.get(b.id.as_str()) else {
            continue;
        };
        c.matched += 1;
        if b.record["output"] != k.record["output"] {
            c.outputs_changed += 1;
        }
        if b.record["cost_pusd"] != k.record["cost_pusd"] {
            c.costs_changed += 1;
        }
        let (was, now) = (b.record["ok"] == true, k.record["ok"] == true);
        if was != now {
            c.flips.push(Flip {
                id: b.id.clone(),
                direction: if was { "pass→fail" } else { "fail→pass" },
                error: k.record["error"]["kind"].as_str().map(str::to_string),
            });
        }
        for (node, n) in c.nodes.iter_mut() {
            if answers(b, node) != answers(k, node) {
                n.answers_changed += 1;
            }
        }
    }
    c
}

/// A node's answers in a run, in order.
fn answers<'a>(run: &'a RecordedRun, node: &str) -> Vec<&'a Value> {
    run.invocations
        .iter()
        .filter(|i| i.node == node)
        .map(|i| {
            i.answer
                .as_ref()
                .or(i.error.as_ref())
                .unwrap_or(&Value::Null)
        })
        .collect()
}

fn figures(runs: &[RecordedRun]) -> Figures {
    let mut f = Figures::default();
    let mut latencies: Vec<f64> = Vec::new();
    for run in runs {
        let r = &run.record;
        f.runs += 1;
        f.ok += u64::from(r["ok"] == true);
        f.cost_pusd += r["cost_pusd"].as_u64().unwrap_or(0);
        f.input_tokens += r["usage"]["input_tokens"].as_u64().unwrap_or(0);
        f.output_tokens += r["usage"]["output_tokens"].as_u64().unwrap_or(0);
        f.model_calls += r["usage"]["calls"].as_u64().unwrap_or(0);
        latencies.push(r["latency_ms"].as_f64().unwrap_or(0.0));
        for e in r["events"].as_array().into_iter().flatten() {
            match e["action"].as_str() {
                Some("retry") => f.retries += 1,
                Some("escalate") => f.escalations += 1,
                Some("fallback") => f.fallbacks += 1,
                _ => {}
            }
        }
        if let (Some(want), Some(routes)) = (
            run.expect.as_ref().and_then(|e| e["route"].as_str()),
            r["routes"].as_object(),
        ) {
            if routes.len() == 1 {
                f.routed_labelled += 1;
                f.routed_right += u64::from(routes.values().next() == Some(&Value::from(want)));
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    f.p50_ms = at(0.5);
    f.p95_ms = at(0.95);
    f
}

/// Node `node`'s figures on side `side` (0 the baseline, 1 the
/// candidate).
fn side_of<'a>(
    nodes: &'a mut BTreeMap<String, NodeComparison>,
    node: &str,
    side: usize,
) -> &'a mut NodeFigures {
    let entry = nodes.entry(node.to_string()).or_default();
    if side == 0 {
        &mut entry.baseline
    } else {
        &mut entry.candidate
    }
}

fn node_figures(run: &RecordedRun, nodes: &mut BTreeMap<String, NodeComparison>, side: usize) {
    for step in run.record["trace"].as_array().into_iter().flatten() {
        let Some(node) = step["node"].as_str() else {
            continue;
        };
        let f = side_of(nodes, node, side);
        f.invocations += 1;
        f.failed += u64::from(step["outcome"] != "ok");
        if let Some(label) = step["verdict"]["verdict"].as_str() {
            *f.verdicts.entry(label.to_string()).or_default() += 1;
            for reason in step["verdict"]["reasons"].as_array().into_iter().flatten() {
                if let Some(text) = reason.as_str() {
                    *f.reasons.entry(text.to_string()).or_default() += 1;
                }
            }
        }
    }
    for e in run.record["ledger"].as_array().into_iter().flatten() {
        let Some(node) = e["node"].as_str() else {
            continue;
        };
        let f = side_of(nodes, node, side);
        f.cost_pusd += e["cost_pusd"].as_u64().unwrap_or(0);
        f.tokens +=
            e["input_tokens"].as_u64().unwrap_or(0) + e["output_tokens"].as_u64().unwrap_or(0);
    }
}

fn usd(pusd: u64) -> String {
    format!("${:.6}", pusd as f64 / 1e12)
}

fn rate(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))
}

impl std::fmt::Display for Comparison {
    /// The terminal table: the pipeline, then each node, then the flips.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (b, k) = (&self.baseline, &self.candidate);
        writeln!(
            f,
            "{:<22} {:>16} {:>16}",
            "pipeline", "baseline", "candidate"
        )?;
        let rows: [(&str, String, String); 9] = [
            (
                "runs ok",
                format!("{}/{}", b.ok, b.runs),
                format!("{}/{}", k.ok, k.runs),
            ),
            ("cost", usd(b.cost_pusd), usd(k.cost_pusd)),
            (
                "tokens in/out",
                format!("{}/{}", b.input_tokens, b.output_tokens),
                format!("{}/{}", k.input_tokens, k.output_tokens),
            ),
            (
                "model calls",
                b.model_calls.to_string(),
                k.model_calls.to_string(),
            ),
            (
                "latency p50 ms",
                format!("{:.1}", b.p50_ms),
                format!("{:.1}", k.p50_ms),
            ),
            (
                "latency p95 ms",
                format!("{:.1}", b.p95_ms),
                format!("{:.1}", k.p95_ms),
            ),
            (
                "retries/esc/fallback",
                format!("{}/{}/{}", b.retries, b.escalations, b.fallbacks),
                format!("{}/{}/{}", k.retries, k.escalations, k.fallbacks),
            ),
            (
                "router accuracy",
                format!("{}/{}", b.routed_right, b.routed_labelled),
                format!("{}/{}", k.routed_right, k.routed_labelled),
            ),
            (
                "outputs changed",
                String::new(),
                format!("{}/{}", self.outputs_changed, self.matched),
            ),
        ];
        for (name, x, y) in rows {
            writeln!(f, "{name:<22} {x:>16} {y:>16}")?;
        }
        writeln!(
            f,
            "\n{:<20} {:>12} {:>12} {:>10} {:>10} {:>13} {:>13} {:>8}",
            "node", "calls b", "calls c", "pass b", "pass c", "cost b", "cost c", "changed"
        )?;
        for (name, n) in &self.nodes {
            writeln!(
                f,
                "{:<20} {:>12} {:>12} {:>10} {:>10} {:>13} {:>13} {:>8}",
                name,
                n.baseline.invocations,
                n.candidate.invocations,
                rate(n.baseline.pass_rate()),
                rate(n.candidate.pass_rate()),
                usd(n.baseline.cost_pusd),
                usd(n.candidate.cost_pusd),
                n.answers_changed
            )?;
        }
        if self.flips.is_empty() {
            write!(f, "\nno run flipped between pass and fail")
        } else {
            write!(f, "\nflipped ({}):", self.flips.len())?;
            for flip in &self.flips {
                write!(f, "\n  {} {}", flip.id, flip.direction)?;
                if let Some(e) = &flip.error {
                    write!(f, " ({e})")?;
                }
            }
            Ok(())
        }
    }
}
