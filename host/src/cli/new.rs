//! `switchyard new`: wires the command line to [`crate::scaffold`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Cli;
use crate::config::Role;
use crate::scaffold::{self, Lang};

/// Arguments of `switchyard new`.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  switchyard new judge no-shouting --lang python
  cd no-shouting && ./test.sh     # builds it and runs it with `switchyard test-node`")]
pub struct NewArgs {
    /// The node's role.
    #[arg(value_parser = ["router", "worker", "judge"])]
    pub role: String,
    /// The node's name (lowercase letters, digits, `-`); also the folder.
    pub name: String,
    /// The language.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// Where to create it (default: ./NAME).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The Rust authoring kit's folder (default: the one in the switchyard
    /// checkout this binary was built from).
    #[arg(long, value_name = "DIR")]
    pub kit: Option<PathBuf>,
}

pub(super) async fn run(_cli: &Cli, args: &NewArgs) -> anyhow::Result<ExitCode> {
    let role = match args.role.as_str() {
        "router" => Role::Router,
        "worker" => Role::Worker,
        _ => Role::Judge,
    };
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let kit = args.kit.clone().unwrap_or_else(scaffold::default_kit);
    let kit = std::fs::canonicalize(&kit).unwrap_or(kit);
    let files = scaffold::scaffold(args.lang, role, &args.name, &dir, &kit)?;
    eprintln!(
        "created {} ({} files): a {} {} node\nnext: cd {} && ./test.sh",
        dir.display(),
        files.len(),
        format!("{:?}", args.lang).to_lowercase(),
        args.role,
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
