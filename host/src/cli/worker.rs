//! `switchyard worker --queue URL MANIFEST`: one of any number of
//! processes running the input lines `run --queue` put on a Redis queue.
//! Wiring of [`crate::batch::Queue::work`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use indicatif::ProgressBar;

use super::run::{flush_spend, load_pipeline, watch_signals};
use super::Cli;
use crate::batch::{stop_channel, Queue, WorkerOptions};
use crate::state::RedisState;

/// Arguments of `switchyard worker`.
#[derive(Debug, Args)]
#[command(after_help = "\
Start as many workers as you like, on any machines that reach the Redis; each takes lines
of every batch `switchyard run --queue URL MANIFEST` puts on the queue, runs them and
writes each record once. A worker that dies leaves its lines to the others: they claim
what it took after --claim-after-ms. SIGINT or SIGTERM: take nothing new, finish what
was taken, exit 0.")]
pub struct WorkerArgs {
    /// The pipeline manifest (the same pipeline `run --queue` names).
    pub manifest: PathBuf,
    /// The Redis holding the queue: `redis://host:port`.
    #[arg(long, value_name = "URL")]
    pub queue: String,
    /// Lines run at once by this worker.
    #[arg(short, long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Lines another worker took and has not finished for this long are
    /// claimed (it is taken for dead). Default: the pipeline's run
    /// deadline plus 10 s, so live work is never taken over.
    #[arg(long, value_name = "MS")]
    pub claim_after_ms: Option<u64>,
    /// After SIGINT/SIGTERM, how long lines in flight get to finish
    /// before they are cancelled (their lines go to other workers).
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub grace_ms: u64,
}

pub(super) async fn run(cli: &Cli, args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    let pipeline = load_pipeline(cli, &args.manifest).await?;
    let state = RedisState::connect(&args.queue)?;
    let queue = Queue::new(Arc::new(state), &pipeline.manifest.name);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let opts = WorkerOptions {
        concurrency: args.concurrency as usize,
        claim_after: args.claim_after_ms.map_or(
            pipeline.manifest.deadline + Duration::from_secs(10),
            Duration::from_millis,
        ),
        name: format!(
            "{host}-{}-{:06x}",
            std::process::id(),
            fastrand::u32(..1 << 24)
        ),
    };
    let (handle, stop) = stop_channel();
    let signals = watch_signals(
        handle,
        Duration::from_millis(args.grace_ms),
        ProgressBar::hidden(),
    )?;
    eprintln!(
        "switchyard: worker {} taking `{}` lines from {}",
        opts.name, pipeline.manifest.name, args.queue
    );
    let stats = queue.work(&pipeline, &opts, stop).await;
    signals.abort();
    flush_spend(pipeline.hub().spending()).await;
    let stats = stats?;
    eprintln!(
        "switchyard: worker {} stopped: {} records written, {} lines claimed from stopped workers, {} duplicates discarded",
        opts.name, stats.written, stats.claimed, stats.duplicates
    );
    Ok(ExitCode::SUCCESS)
}
