//! `switchyard validate`: checks a manifest and loads every component it
//! names (world, role, self-description) without running anything.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Cli;
use crate::config::ProviderSpec;
use crate::pipeline::Pipeline;

/// Arguments of `switchyard validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The pipeline manifest.
    pub manifest: PathBuf,
}

pub(super) async fn run(cli: &Cli, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let manifest = crate::config::load(&args.manifest)?;
    for m in manifest.models.values() {
        if let ProviderSpec::OpenAi {
            api_key_env: Some(var),
            ..
        }
        | ProviderSpec::Anthropic {
            api_key_env: Some(var),
            ..
        } = &m.provider
        {
            if std::env::var_os(var).is_none() {
                eprintln!("warning: model `{}`: environment variable `{var}` is not set; `run` will refuse to start without it", m.name);
            }
        }
    }
    // Checking components needs no model hub and no keys.
    let engine = cli.engine_for(manifest.engine)?;
    let pipeline = Pipeline::load(&engine, manifest).await?;
    eprintln!(
        "{}: ok ({} models, {} nodes)",
        args.manifest.display(),
        pipeline.manifest.models.len(),
        pipeline.nodes().len()
    );
    let (peak, slots) = (pipeline.peak_slots(), pipeline.engine().pool_slots());
    eprintln!(
        "  a run holds up to {peak} of the {slots} instance slots ([engine] max-instances): {} runs at once, the rest queue",
        (slots / peak.max(1)).max(1)
    );
    for (name, node) in pipeline.nodes() {
        let d = &node.component.description;
        eprintln!(
            "  {name:<18} {:<7} {} {} (switchyard:node@{}, {} KiB, {})",
            node.spec.role.as_str(),
            d.name,
            d.version,
            d.contract,
            node.component.load.bytes / 1024,
            match node.component.load.cache {
                crate::engine::CacheOutcome::Hit => "cached",
                crate::engine::CacheOutcome::Miss => "compiled",
                crate::engine::CacheOutcome::Disabled => "compiled, cache off",
            }
        );
    }
    for plan in crate::pipeline::stream_plans(pipeline.nodes()) {
        eprintln!("  {}", plan.explain());
    }
    Ok(ExitCode::SUCCESS)
}
