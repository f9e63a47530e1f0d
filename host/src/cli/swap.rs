//! `switchyard swap`: hot-swaps one node of a running `switchyard serve`
//! through its admin endpoint, or runs a shadow or canary experiment on it
//! (start, status, promote, abort), and reports what the server did.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgGroup, Args};
use serde_json::Value;

use super::Cli;
use crate::serve::ADMIN_TOKEN_ENV;

/// Arguments of `switchyard swap`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("experiment").args(["shadow", "canary"])))]
#[command(group(ArgGroup::new("end").args(["promote", "abort", "status"])))]
pub struct SwapArgs {
    /// The node to replace.
    pub node: String,
    /// The new component: a .wasm file sent to the server, or an oci://
    /// reference the server pulls (digests checked) and checks against
    /// the node's trust requirement. Swapped in, or the experiment's
    /// candidate with --shadow or --canary.
    #[arg(required_unless_present = "end", conflicts_with = "end")]
    pub component: Option<String>,
    /// Run the component beside the live node on a sample of live runs
    /// (--percent, default 100), in the background; never served.
    #[arg(long, conflicts_with = "end")]
    pub shadow: bool,
    /// Serve --percent of the runs from the component.
    #[arg(long, requires = "percent", conflicts_with = "end")]
    pub canary: bool,
    /// The share of runs (0 to 100) the experiment samples or serves.
    #[arg(long, value_name = "N", requires = "experiment")]
    pub percent: Option<f64>,
    /// Stop giving the candidate runs once its runs have spent this much.
    #[arg(long, value_name = "USD", requires = "experiment")]
    pub budget_usd: Option<f64>,
    /// End the node's experiment by hot-swapping its candidate in.
    #[arg(long)]
    pub promote: bool,
    /// End the node's experiment, discarding its candidate.
    #[arg(long)]
    pub abort: bool,
    /// Show the node's experiment and its statistics.
    #[arg(long)]
    pub status: bool,
    /// Print the server's JSON answer on stdout as well.
    #[arg(long)]
    pub json: bool,
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub url: String,
    /// Environment variable holding the admin bearer token.
    #[arg(long, default_value = ADMIN_TOKEN_ENV, value_name = "VAR")]
    pub token_env: String,
}

pub(super) async fn run(_cli: &Cli, args: &SwapArgs) -> anyhow::Result<ExitCode> {
    let token = std::env::var(&args.token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .with_context(|| format!("set ${} to the server's admin token", args.token_env))?;
    let base = format!(
        "{}/admin/nodes/{}",
        args.url.trim_end_matches('/'),
        args.node
    );
    let client = reqwest::Client::new();
    let (request, url) = if args.status {
        (client.get(&base), base.clone())
    } else if args.promote || args.abort {
        let url = format!("{base}/{}", if args.promote { "promote" } else { "abort" });
        (client.post(&url), url)
    } else {
        let component = args.component.as_ref().expect("clap requires it");
        let body = if component.starts_with(crate::spec::OCI_SCHEME) {
            // The server pulls it: what runs is what the server verified.
            crate::spec::OciRef::parse(component)?;
            Body::Reference(component.clone())
        } else {
            let path = PathBuf::from(component);
            Body::Bytes(
                tokio::fs::read(&path)
                    .await
                    .with_context(|| format!("cannot read {}", path.display()))?,
            )
        };
        let mut query = Vec::new();
        if args.shadow || args.canary {
            query.push((
                "mode",
                if args.shadow { "shadow" } else { "canary" }.to_string(),
            ));
        }
        if let Some(p) = args.percent {
            query.push(("percent", p.to_string()));
        }
        if let Some(b) = args.budget_usd {
            query.push(("budget-usd", b.to_string()));
        }
        let request = client.put(&base).query(&query);
        let request = match body {
            Body::Bytes(bytes) => request.body(bytes),
            Body::Reference(r) => request.json(&serde_json::json!({ "component": r })),
        };
        (request, base.clone())
    };
    // Who asked, for the swap history on the status page.
    let actor = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .map_or_else(
            |_| "switchyard swap".to_string(),
            |u| format!("{u} (switchyard swap)"),
        )
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect::<String>();
    let response = request
        .bearer_auth(token)
        .header("x-switchyard-actor", actor)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if args.json {
        use std::io::Write;
        writeln!(std::io::stdout().lock(), "{body}").context("writing to stdout")?;
    }
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        let what = if args.status {
            "status"
        } else if args.promote {
            "promotion"
        } else if args.abort {
            "abort"
        } else if args.shadow || args.canary {
            "experiment"
        } else {
            "swap"
        };
        eprintln!("error: {what} refused ({status}): {message}");
        return Ok(ExitCode::from(2));
    }
    let node = &args.node;
    if args.status {
        match body.get("experiment").filter(|e| !e.is_null()) {
            Some(e) => eprint!("{}", describe(node, e)),
            None => eprintln!(
                "node `{node}`: revision {} (version {}, sha256 {}), no experiment",
                body["revision"],
                body["version"].as_str().unwrap_or("?"),
                short(&body["sha256"])
            ),
        }
    } else if args.abort {
        eprint!("{}", describe(node, &body["experiment"]));
        eprintln!("node `{node}`: experiment aborted; the live component keeps serving");
    } else if args.shadow || args.canary {
        let c = &body["candidate"];
        eprintln!(
            "node `{node}`: {} experiment started on {}% of runs with candidate version {} (sha256 {}…); follow it with `switchyard swap {node} --status`",
            body["mode"].as_str().unwrap_or("?"),
            percent(&body["percent"]),
            c["version"].as_str().unwrap_or("?"),
            short(&c["sha256"])
        );
    } else {
        if args.promote {
            eprint!("{}", describe(node, &body["experiment"]));
        }
        if body["unchanged"] == true {
            eprintln!("node `{node}`: unchanged (the server already runs this component)");
        } else {
            eprintln!(
                "node `{node}`: {} to revision {} (version {}, sha256 {}…), generation {}, loaded in {:.1} ms",
                if args.promote { "promoted" } else { "swapped" },
                body["revision"],
                body["version"].as_str().unwrap_or("?"),
                short(&body["sha256"]),
                body["generation"],
                body["load_ms"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a swap sends: the component's bytes, or a reference to pull.
enum Body {
    Bytes(Vec<u8>),
    Reference(String),
}

/// A share as the operator wrote it: `30`, `0.5`.
fn percent(v: &Value) -> String {
    v.as_f64().map_or("?".into(), |p| format!("{p}"))
}

fn short(sha: &Value) -> &str {
    let sha = sha.as_str().unwrap_or("?");
    sha.get(..12).unwrap_or(sha)
}

/// An experiment's status as a few lines of text: state, shadow runs, and
/// the two arms side by side.
fn describe(node: &str, e: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "node `{node}`: {} experiment on {}% of runs, {}{} (candidate {} sha256 {}…)",
        e["mode"].as_str().unwrap_or("?"),
        percent(&e["percent"]),
        e["state"].as_str().unwrap_or("?"),
        e["reason"]
            .as_str()
            .map(|r| format!(": {r}"))
            .unwrap_or_default(),
        e["candidate"]["version"].as_str().unwrap_or("?"),
        short(&e["candidate"]["sha256"])
    );
    if let Some(s) = e.get("shadow").filter(|s| !s.is_null()) {
        let _ = writeln!(
            out,
            "shadow runs: {} sampled, {} started, {} finished; skipped {} busy, {} no room, {} over budget",
            s["sampled"],
            s["started"],
            s["finished"],
            s["skipped"]["busy"],
            s["skipped"]["no_room"],
            s["skipped"]["budget"]
        );
    }
    let (live, cand) = (&e["arms"]["live"], &e["arms"]["candidate"]);
    let pct = |v: &Value| {
        v.as_f64()
            .map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0))
    };
    let usd = |v: &Value| format!("${:.6}", v.as_u64().unwrap_or(0) as f64 / 1e12);
    let ms = |v: &Value| {
        let f = |x: &Value| x.as_f64().map_or("-".to_string(), |x| format!("{x:.1}"));
        format!("{}/{}", f(&v["p50"]), f(&v["p95"]))
    };
    let errors = |v: &Value| {
        let parts: Vec<String> = v
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if parts.is_empty() {
            "-".to_string()
        } else {
            parts.join(", ")
        }
    };
    let table = [
        ("runs", live["runs"].to_string(), cand["runs"].to_string()),
        (
            "run success",
            pct(&live["success_rate"]),
            pct(&cand["success_rate"]),
        ),
        (
            "node pass rate",
            pct(&live["node"]["pass_rate"]),
            pct(&cand["node"]["pass_rate"]),
        ),
        (
            "node rejections",
            live["node"]["rejected"].to_string(),
            cand["node"]["rejected"].to_string(),
        ),
        (
            "run errors",
            errors(&live["errors"]),
            errors(&cand["errors"]),
        ),
        (
            "node errors",
            errors(&live["node"]["errors"]),
            errors(&cand["node"]["errors"]),
        ),
        (
            "node cost",
            usd(&live["node"]["cost_pusd"]),
            usd(&cand["node"]["cost_pusd"]),
        ),
        ("run cost", usd(&live["cost_pusd"]), usd(&cand["cost_pusd"])),
        (
            "node p50/p95 ms",
            ms(&live["node"]["latency_ms"]),
            ms(&cand["node"]["latency_ms"]),
        ),
        (
            "run p50/p95 ms",
            ms(&live["latency_ms"]),
            ms(&cand["latency_ms"]),
        ),
    ];
    let _ = writeln!(out, "{:<18} {:>20} {:>20}", "", "live", "candidate");
    for (name, l, c) in table {
        let _ = writeln!(out, "{name:<18} {l:>20} {c:>20}");
    }
    out
}
