//! `switchyard swap`: hot-swaps one node of a running `switchyard serve`
//! through its admin endpoint, and reports what the server did.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Cli;
use crate::serve::ADMIN_TOKEN_ENV;

/// Arguments of `switchyard swap`.
#[derive(Debug, Args)]
pub struct SwapArgs {
    /// The node to replace.
    pub node: String,
    /// The new component (.wasm).
    pub component: PathBuf,
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
    let bytes = tokio::fs::read(&args.component)
        .await
        .with_context(|| format!("cannot read {}", args.component.display()))?;
    let url = format!(
        "{}/admin/nodes/{}",
        args.url.trim_end_matches('/'),
        args.node
    );
    let response = reqwest::Client::new()
        .put(&url)
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if status.is_success() {
        if body["unchanged"] == true {
            eprintln!(
                "node `{}`: unchanged (the server already runs this component)",
                args.node
            );
        } else {
            let sha = body["sha256"].as_str().unwrap_or("?");
            eprintln!(
                "node `{}`: swapped to revision {} (version {}, sha256 {}…), generation {}, loaded in {:.1} ms",
                args.node,
                body["revision"],
                body["version"].as_str().unwrap_or("?"),
                sha.get(..12).unwrap_or(sha),
                body["generation"],
                body["load_ms"].as_f64().unwrap_or(0.0)
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        eprintln!("error: swap refused ({status}): {message}");
        Ok(ExitCode::from(2))
    }
}
