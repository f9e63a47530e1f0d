//! `switchyard keygen`, `sign`, `verify`, `push` and `pull`: the node
//! author's and the operator's path for components from outside — keys,
//! embedded signatures, OCI registries and the local store. Wiring only:
//! the work is in `crate::artifact`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Cli;
use crate::artifact::signing;
use crate::spec::{OciRef, TrustedKey};

/// Arguments of `switchyard keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key's name: writes NAME.key (secret, mode 0600) and NAME.pub.
    pub name: String,
    /// The directory to write them in.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
}

/// Arguments of `switchyard sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The component (.wasm) to sign.
    pub component: PathBuf,
    /// The secret key (`switchyard keygen` writes NAME.key).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Where to write the signed component (default: in place).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Arguments of `switchyard verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The component (.wasm), or an oci:// reference.
    pub component: String,
    /// A public key to accept (repeat for several): exits 0 when any of
    /// them signed the component, 2 when none did.
    #[arg(long = "key", value_name = "FILE", required = true)]
    pub keys: Vec<PathBuf>,
}

/// Arguments of `switchyard push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The component (.wasm) to publish; sign it first.
    pub component: PathBuf,
    /// Where: oci://REGISTRY/REPO:TAG.
    pub reference: String,
    /// An annotation on the artifact's manifest, KEY=VALUE (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
}

/// Arguments of `switchyard pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// What: oci://REGISTRY/REPO:TAG or oci://REGISTRY/REPO@sha256:….
    pub reference: String,
}

pub(super) async fn keygen(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let files = signing::write_key_pair(&args.dir, &args.name)?;
    eprintln!(
        "wrote {} (secret: keep it private) and {} (public: give it to operators; key id {})",
        files.secret.display(),
        files.public.display(),
        files.key_id
    );
    eprintln!(
        "sign with `switchyard sign COMPONENT --key {}`; operators accept it with `[trust] keys = {{ {} = \"{}\" }}`",
        files.secret.display(),
        args.name,
        files.public.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn sign(args: &SignArgs) -> anyhow::Result<ExitCode> {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.component.clone());
    let digest = signing::sign_file(&args.component, &args.key, &output)?;
    eprintln!("signed {} ({digest})", output.display());
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn verify(cli: &Cli, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let keys = args
        .keys
        .iter()
        .map(|k| signing::public_key(k))
        .collect::<Result<Vec<TrustedKey>, _>>()?;
    let (bytes, origin) = read_component(cli, &args.component).await?;
    let found = signing::signatures(&bytes).with_context(|| origin.clone())?;
    let signed_by = signing::verified_by(&bytes, &keys)?;
    let digest = crate::artifact::digest_of(&bytes);
    if signed_by.is_empty() {
        let found = if found.is_empty() {
            "it is unsigned".to_string()
        } else {
            let ids: Vec<&str> = found.iter().filter_map(|s| s.key_id.as_deref()).collect();
            format!("it is signed by key id(s) {}", ids.join(", "))
        };
        eprintln!("error: {origin} ({digest}): no given key verifies it; {found}");
        return Ok(ExitCode::from(2));
    }
    eprintln!("{origin} ({digest}): signed by {}", signed_by.join(", "));
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn push(cli: &Cli, args: &PushArgs) -> anyhow::Result<ExitCode> {
    let r = OciRef::parse(&args.reference)?;
    if r.digest.is_some() {
        anyhow::bail!(
            "push to a tag (oci://REGISTRY/REPO:TAG); the digest is computed and printed"
        );
    }
    let bytes = tokio::fs::read(&args.component)
        .await
        .with_context(|| format!("cannot read {}", args.component.display()))?;
    let inspection =
        crate::inspect::inspect_bytes(&cli.engine()?, &args.component, bytes.clone(), &[]).await?;
    if let Some(e) = &inspection.load_error {
        anyhow::bail!(
            "{} cannot serve as a node, so it was not pushed: {e}",
            args.component.display()
        );
    }
    if inspection.signatures.is_empty() {
        eprintln!("warning: {} is unsigned: nodes with `trust = \"signed\"` will refuse it (`switchyard sign` first)", args.component.display());
    }
    let mut annotations = std::collections::BTreeMap::new();
    for a in &args.annotations {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("--annotation `{a}`: expected KEY=VALUE"))?;
        annotations.insert(k.to_string(), v.to_string());
    }
    if let Some(d) = &inspection.description {
        annotations
            .entry("org.opencontainers.image.title".into())
            .or_insert_with(|| d.name.clone());
        annotations
            .entry("org.opencontainers.image.version".into())
            .or_insert_with(|| d.version.clone());
        annotations
            .entry("org.opencontainers.image.description".into())
            .or_insert_with(|| d.summary.clone());
    }
    let pushed = cli
        .sources()
        .registry()
        .push(&r, &bytes, inspection.artifact_info(), annotations)
        .await?;
    eprintln!(
        "pushed {} (component {}); pin it in a manifest with\n  component = \"{}\"",
        r, pushed.content_digest, pushed.reference
    );
    println_out(&pushed.reference).await
}

pub(super) async fn pull(cli: &Cli, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let r = OciRef::parse(&args.reference)?;
    let sources = cli.sources();
    let fetched = sources.pull(&r).await?;
    eprintln!(
        "pulled {} ({} bytes, component {}) into {}",
        fetched.origin,
        fetched.bytes.len(),
        crate::artifact::digest_of(&fetched.bytes),
        sources.store()?.root().display()
    );
    println_out(&fetched.origin).await
}

/// A component's bytes from a file or a reference (through the store).
pub(super) async fn read_component(cli: &Cli, text: &str) -> anyhow::Result<(Vec<u8>, String)> {
    let source = if text.starts_with(crate::spec::OCI_SCHEME) {
        crate::spec::ComponentSource::Oci(OciRef::parse(text)?)
    } else {
        crate::spec::ComponentSource::File(text.into())
    };
    let fetched = cli.sources().fetch(&source).await?;
    Ok((fetched.bytes, fetched.origin))
}

/// Prints `line` on stdout (the one thing scripts read).
async fn println_out(line: &str) -> anyhow::Result<ExitCode> {
    use tokio::io::AsyncWriteExt;
    tokio::io::stdout()
        .write_all(format!("{line}\n").as_bytes())
        .await?;
    Ok(ExitCode::SUCCESS)
}
