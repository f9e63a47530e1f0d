//! The JSON the status page reads (`GET /status`): the public health view
//! (pipeline, generation, health, uptime), and for full access the last
//! minute of the pipeline and of every node (health, p50/p95 latency,
//! invocations per second, error and judge-rejection rates, cost per
//! minute), totals since the start, each router's branch split, every
//! budget against the most one run spent under it, the swap history and
//! the node experiments.
//!
//! A node's health over the last minute: `idle` without invocations;
//! `failing` when 10% or more of its invocations failed, or a judge
//! rejected half or more of its outputs; `degraded` from 1% failed or 20%
//! rejected; else `ok`. A judge's own rejections describe the node it
//! gates, not the judge. The pipeline's health is its worst node's, and
//! `failing` when 10% or more of its runs failed.

use serde::Serialize;
use serde_json::{json, Value};

use super::window::{Figures, NodeFigures, WINDOW_SECONDS};
use super::{Access, StatusBoard};
use crate::config::Role;
use crate::pipeline::Pipeline;
use crate::serve::LivePipeline;
use crate::spec::BudgetSpec;

/// How a node or the pipeline is doing over the last minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// Nothing ran.
    Idle,
    /// Below every threshold.
    Ok,
    /// 1% or more failed, or 20% or more rejected.
    Degraded,
    /// 10% or more failed, or 50% or more rejected.
    Failing,
}

/// A node's health from its figures; `gated` when a judge's rejections of
/// its outputs count against it (workers and routers, not judges).
pub fn health_of(f: &NodeFigures, gated: bool) -> Health {
    if f.invocations == 0 {
        return Health::Idle;
    }
    let failed = ratio(f.failures, f.invocations);
    let rejected = if gated {
        ratio(f.rejections, f.judged)
    } else {
        0.0
    };
    if failed >= 0.10 || rejected >= 0.50 {
        Health::Failing
    } else if failed >= 0.01 || rejected >= 0.20 {
        Health::Degraded
    } else {
        Health::Ok
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn usd(pusd: u64) -> f64 {
    pusd as f64 / 1e12
}

/// Rounds to 4 significant digits, so the JSON stays short.
fn short(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// The status of `live` as `access` may see it.
pub fn status_json(live: &LivePipeline, board: &StatusBoard, access: Access) -> Value {
    let pipeline = live.current();
    let now = board.second();
    let (minute, total, history, names) = board.with_window(|w| {
        (
            w.last_minute(now),
            w.since_start().clone(),
            w.runs_per_second(now),
            w.names().to_vec(),
        )
    });
    let nodes: Vec<(String, Health, Value)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| node_json(&pipeline, name, &minute.nodes[i], &total.nodes[i], now))
        .collect();
    let health = pipeline_health(&minute, nodes.iter().map(|(_, h, _)| *h));
    let mut out = json!({
        "view": "public",
        "pipeline": pipeline.manifest.name,
        "generation": pipeline.generation,
        "health": health,
        "uptime_s": now,
    });
    if access == Access::Public {
        out["auth"] = json!("token-required");
        return out;
    }
    let seconds = (now + 1).min(WINDOW_SECONDS) as f64;
    let (swaps, forgotten) = board.swaps().events();
    out["view"] = json!("full");
    out["window_s"] = json!(seconds);
    out["runs"] = json!({
        "total": total.runs,
        "failed_total": total.failed,
        "window": minute.runs,
        "failed": minute.failed,
        "errors": minute.errors,
        "per_s": short(minute.runs as f64 / seconds),
        "error_rate": short(ratio(minute.failed, minute.runs)),
        "p50_ms": minute.latency.quantile_ms(0.5).map(short),
        "p95_ms": minute.latency.quantile_ms(0.95).map(short),
        "cost_pusd_total": total.cost_pusd,
        "cost_usd_total": usd(total.cost_pusd),
        "cost_per_min_usd": short(usd(minute.cost_pusd) * 60.0 / seconds),
        "history": history,
        "in_flight": live.metrics().in_flight(),
        "queued": live.metrics().queued(),
    });
    out["nodes"] = nodes.into_iter().map(|(_, _, v)| v).collect();
    out["routers"] = routers_json(&pipeline, &names, &minute, &total);
    out["budgets"] = budgets_json(&pipeline, &names, &minute);
    out["swaps"] = json!({"events": swaps, "forgotten": forgotten});
    out["experiments"] = names
        .iter()
        .filter_map(|n| live.experiment(n))
        .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
        .collect();
    out
}

/// The pipeline's health: its worst node's, or `failing` when 10% or more
/// of its runs failed (a run can fail outside any node: a deadline).
fn pipeline_health(minute: &Figures, nodes: impl Iterator<Item = Health>) -> Health {
    if minute.runs == 0 {
        return Health::Idle;
    }
    let worst = nodes.max().unwrap_or(Health::Ok).max(Health::Ok);
    let failed = ratio(minute.failed, minute.runs);
    if failed >= 0.10 {
        Health::Failing
    } else if failed >= 0.01 {
        worst.max(Health::Degraded)
    } else {
        worst
    }
}

fn node_json(
    pipeline: &Pipeline,
    name: &str,
    minute: &NodeFigures,
    total: &NodeFigures,
    now: u64,
) -> (String, Health, Value) {
    let seconds = (now + 1).min(WINDOW_SECONDS) as f64;
    let node = pipeline.node(name);
    let role = node.map(|n| n.spec.role);
    let gated = role != Some(Role::Judge);
    let health = health_of(minute, gated);
    let value = json!({
        "name": name,
        "role": role,
        "standby": node.is_some_and(|n| n.spec.standby),
        "version": node.map(|n| &n.component.description.version),
        "sha256": node.map(|n| &n.component.load.sha256),
        "revision": node.map(|n| n.revision),
        "health": health,
        "invocations": minute.invocations,
        "per_s": short(minute.invocations as f64 / seconds),
        "p50_ms": minute.latency.quantile_ms(0.5).map(short),
        "p95_ms": minute.latency.quantile_ms(0.95).map(short),
        "error_rate": short(ratio(minute.failures, minute.invocations)),
        "rejection_rate": short(ratio(minute.rejections, minute.judged)),
        "judged": minute.judged,
        "calls": minute.calls,
        "tokens": minute.tokens,
        "cost_per_min_usd": short(usd(minute.cost_pusd) * 60.0 / seconds),
        "invocations_total": total.invocations,
        "failures_total": total.failures,
        "cost_pusd_total": total.cost_pusd,
        "cost_usd_total": usd(total.cost_pusd),
    });
    (name.to_string(), health, value)
}

fn routers_json(pipeline: &Pipeline, names: &[String], minute: &Figures, total: &Figures) -> Value {
    names
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            pipeline
                .node(n)
                .is_some_and(|n| n.spec.role == Role::Router)
        })
        .map(|(i, n)| {
            let branches: serde_json::Map<String, Value> = total.nodes[i]
                .branches
                .iter()
                .map(|(label, all)| {
                    let recent = minute.nodes[i].branches.get(label).copied().unwrap_or(0);
                    (label.clone(), json!({"window": recent, "total": all}))
                })
                .collect();
            json!({"node": n, "branches": branches})
        })
        .collect()
}

/// The run's budget and each node's, with what the most expensive run of
/// the last minute spent under it and how many calls it refused.
fn budgets_json(pipeline: &Pipeline, names: &[String], minute: &Figures) -> Value {
    let limit = |b: &BudgetSpec| {
        json!({
            "tokens_limit": b.tokens,
            "cost_limit_usd": b.cost.map(crate::spec::Cost::usd),
        })
    };
    let mut out = Vec::new();
    let run = &pipeline.manifest.budget;
    if !run.is_unlimited() {
        let mut v = limit(run);
        v["scope"] = json!("run");
        v["max_run_tokens"] = json!(minute.max_run_tokens);
        v["max_run_cost_usd"] = json!(usd(minute.max_run_cost_pusd));
        v["refused"] = json!(minute.budget_refused);
        out.push(v);
    }
    for (i, name) in names.iter().enumerate() {
        let Some(node) = pipeline.node(name) else {
            continue;
        };
        if node.spec.budget.is_unlimited() {
            continue;
        }
        let f = &minute.nodes[i];
        let mut v = limit(&node.spec.budget);
        v["scope"] = json!(format!("node {name}"));
        v["node"] = json!(name);
        v["max_run_tokens"] = json!(f.max_run_tokens);
        v["max_run_cost_usd"] = json!(usd(f.max_run_cost_pusd));
        v["refused"] = json!(f.budget_refused);
        out.push(v);
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(invocations: u64, failures: u64, judged: u64, rejections: u64) -> NodeFigures {
        NodeFigures {
            invocations,
            failures,
            judged,
            rejections,
            ..NodeFigures::default()
        }
    }

    #[test]
    fn status_health_follows_the_documented_thresholds() {
        assert_eq!(health_of(&figures(0, 0, 0, 0), true), Health::Idle);
        assert_eq!(health_of(&figures(100, 0, 100, 19), true), Health::Ok);
        assert_eq!(health_of(&figures(100, 1, 0, 0), true), Health::Degraded);
        assert_eq!(health_of(&figures(100, 0, 100, 20), true), Health::Degraded);
        assert_eq!(health_of(&figures(100, 10, 0, 0), true), Health::Failing);
        assert_eq!(health_of(&figures(100, 0, 10, 5), true), Health::Failing);
        assert_eq!(
            health_of(&figures(100, 0, 100, 90), false),
            Health::Ok,
            "a judge rejecting is the gated node's health"
        );
        let mut minute = Figures::default();
        assert_eq!(
            pipeline_health(&minute, [Health::Ok].into_iter()),
            Health::Idle
        );
        minute.runs = 100;
        minute.failed = 10;
        assert_eq!(
            pipeline_health(&minute, [Health::Ok].into_iter()),
            Health::Failing
        );
        minute.failed = 0;
        assert_eq!(
            pipeline_health(&minute, [Health::Idle, Health::Degraded].into_iter()),
            Health::Degraded
        );
    }

    #[test]
    fn status_numbers_are_kept_short() {
        assert_eq!(short(0.000123456), 0.0001235);
        assert_eq!(short(123456.0), 123500.0);
        assert_eq!(short(0.0), 0.0);
    }
}
