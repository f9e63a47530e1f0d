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
    /// Fail (exit 2) when any node is granted models, model calls or
    /// settings beyond what its component declares it needs in
    /// `describe` (contract 0.2), or is granted models with no needs
    /// declared at all.
    #[arg(long)]
    pub strict: bool,
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
    for node in manifest.nodes.values() {
        if let crate::spec::ComponentSource::Oci(r) = &node.component {
            if r.digest.is_none() {
                eprintln!(
                    "warning: node `{}`: {r} names a tag, and tags move: pin the digest `switchyard pull {r}` prints",
                    node.name
                );
            }
        }
    }
    // Checking components needs no model hub and no keys.
    let engine = cli.engine_for(manifest.engine)?;
    let pipeline = Pipeline::load_from(&engine, manifest, &cli.sources()).await?;
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
    let reviews = crate::review::review(&pipeline.manifest, pipeline.nodes());
    eprintln!("capabilities: what each component asks for, what the manifest grants");
    for r in &reviews {
        eprint!("{r}");
    }
    let excess: usize = reviews.iter().map(|r| r.excess.len()).sum();
    if args.strict && excess > 0 {
        eprintln!(
            "error: --strict: {excess} grant(s) beyond what the components declare they need (the `beyond` lines above); narrow the grants, or use a component that declares them"
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
