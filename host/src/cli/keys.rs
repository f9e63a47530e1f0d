//! `switchyard keys create|list|revoke`: client keys for `serve`, in a
//! keys file (`--file`, the embedded default) or in the shared Redis
//! (`--state-url` / `$SWITCHYARD_STATE_URL`). Wiring of [`crate::keys`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::Cli;
use crate::keys::{FileKeys, KeyRate, KeySpend, KeyStore, NewKey, RedisKeys};
use crate::spec::Period;

/// Arguments of `switchyard keys`.
#[derive(Debug, Args)]
#[command(after_help = "\
Keys live in a keys file (--file, what `[auth] keys-file` names) or, for replicas, in the
Redis of `[state]` (--state-url or $SWITCHYARD_STATE_URL). A key is printed once, when
created; only its SHA-256 is kept. Callers send it as `Authorization: Bearer <key>`.
A revoked key is refused by every replica within 2 seconds. See docs/serve.md#client-keys.")]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
    /// The keys file (created if missing); without it, the shared state's
    /// Redis (--state-url).
    #[arg(long, global = true, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (once).
    Create(CreateArgs),
    /// List keys: id, name, pipelines, limits, created, revoked.
    List {
        /// As JSON, one record per key.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or name; every replica refuses it within 2 s.
    Revoke {
        /// The key's id or name.
        key: String,
    },
}

/// Arguments of `keys create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A name for people (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// A pipeline the key may call (repeat for several; none: any).
    #[arg(long = "pipeline", value_name = "NAME")]
    pub pipelines: Vec<String>,
    /// What the key's runs may spend per --per, in US dollars.
    #[arg(long, value_name = "USD")]
    pub spend_usd: Option<f64>,
    /// What the key's runs may spend per --per, in tokens.
    #[arg(long, value_name = "N")]
    pub spend_tokens: Option<u64>,
    /// The spend limit's period: minute, hour, day, week or ever.
    #[arg(long, default_value = "day", value_name = "PERIOD")]
    pub per: String,
    /// Requests per minute (over it: 429 with Retry-After).
    #[arg(long, value_name = "N")]
    pub rpm: Option<u32>,
    /// Model tokens per minute over the key's runs (over it: the call
    /// fails `rate-limited`, never sent).
    #[arg(long, value_name = "N")]
    pub tpm: Option<u64>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The store `--file` or `--state-url` names.
fn store(cli: &Cli, args: &KeysArgs) -> anyhow::Result<Arc<dyn KeyStore>> {
    match (&args.file, &cli.state_url) {
        (Some(_), Some(_)) => anyhow::bail!(
            "both --file and --state-url name a key store; keys live in one: pass only one"
        ),
        (Some(f), None) => Ok(Arc::new(FileKeys::new(f))),
        (None, Some(url)) => {
            let state = crate::state::RedisState::connect(url)?;
            Ok(Arc::new(RedisKeys::new(Arc::new(state))))
        }
        (None, None) => anyhow::bail!(
            "where are the keys? pass --file FILE (the `[auth] keys-file` of a single server) or --state-url redis://… (the `[state]` replicas share)"
        ),
    }
}

pub(super) async fn run(cli: &Cli, args: &KeysArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let store = store(cli, args)?;
    let mut out = std::io::stdout();
    match &args.command {
        KeysCommand::Create(c) => {
            if Period::parse(&c.per).is_none() {
                anyhow::bail!(
                    "--per `{}` is not a period: use one of {}",
                    c.per,
                    Period::NAMES.join(", ")
                );
            }
            if c.spend_usd.is_some_and(|u| !u.is_finite() || u < 0.0) {
                anyhow::bail!("--spend-usd must be a non-negative number of dollars");
            }
            if c.rpm == Some(0) || c.tpm == Some(0) {
                anyhow::bail!("--rpm and --tpm must be at least 1 (leave them out for no limit)");
            }
            let spend_limit =
                (c.spend_usd.is_some() || c.spend_tokens.is_some()).then(|| KeySpend {
                    usd: c.spend_usd,
                    tokens: c.spend_tokens,
                    per: c.per.clone(),
                });
            let rate_limit = (c.rpm.is_some() || c.tpm.is_some()).then_some(KeyRate {
                requests_per_minute: c.rpm,
                tokens_per_minute: c.tpm,
            });
            let (key, secret) = NewKey {
                name: c.name.clone(),
                pipelines: c.pipelines.clone(),
                spend_limit,
                rate_limit,
            }
            .issue(now())?;
            store
                .add(key.clone())
                .await
                .context("the key was not created")?;
            eprintln!(
                "created client key `{}` (id {}); it is shown only now, keep it in a secret store:",
                key.name, key.id
            );
            writeln!(out, "{secret}")?;
        }
        KeysCommand::List { json } => {
            let keys = store.list().await?;
            if *json {
                for k in &keys {
                    writeln!(out, "{}", serde_json::to_string(k)?)?;
                }
            } else if keys.is_empty() {
                eprintln!("no client keys");
            } else {
                writeln!(
                    out,
                    "{:<14} {:<20} {:<16} {:<24} {:<18} STATE",
                    "ID", "NAME", "PIPELINES", "SPEND LIMIT", "RATE LIMIT"
                )?;
                for k in &keys {
                    let spend = k.spend_limit.as_ref().map_or("-".to_string(), |s| {
                        let mut parts = Vec::new();
                        if let Some(u) = s.usd {
                            parts.push(format!("${u}"));
                        }
                        if let Some(t) = s.tokens {
                            parts.push(format!("{t} tok"));
                        }
                        format!("{}/{}", parts.join("+"), s.per)
                    });
                    let rate = k.rate_limit.map_or("-".to_string(), |r| {
                        let mut parts = Vec::new();
                        if let Some(n) = r.requests_per_minute {
                            parts.push(format!("{n} rpm"));
                        }
                        if let Some(n) = r.tokens_per_minute {
                            parts.push(format!("{n} tpm"));
                        }
                        parts.join(", ")
                    });
                    let pipelines = if k.pipelines.is_empty() {
                        "any".to_string()
                    } else {
                        k.pipelines.join(",")
                    };
                    let state = match k.revoked {
                        Some(at) => format!("revoked at {at}"),
                        None => "live".to_string(),
                    };
                    writeln!(
                        out,
                        "{:<14} {:<20} {:<16} {:<24} {:<18} {state}",
                        k.id, k.name, pipelines, spend, rate
                    )?;
                }
            }
        }
        KeysCommand::Revoke { key } => {
            let k = store.revoke(key, now()).await?;
            eprintln!(
                "revoked client key `{}` (id {}); servers refuse it within 2 s",
                k.name, k.id
            );
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
