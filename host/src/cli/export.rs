//! `switchyard export`: one node's model calls in recordings as training
//! data — SFT chat examples or preference pairs — wiring for
//! `recording::export` (the rules are documented there and in
//! docs/improve.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::recording::{
    check_output, cost_of_usd, export, parse_time, read, valid_path, write_export, ExportKind,
    ExportOptions, Filters, PairPrompt, PreferenceStyle, TrainingError, VerdictFilter,
};

/// `switchyard export`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  switchyard export --node answer-small --output sft.jsonl base.jsonl
  switchyard export --node answer-small --format preference --preference-format openai \\
      --judge factuality --validation 0.1 --output pairs.jsonl base.jsonl

An answer is accepted when the node's output at that attempt passed every judge
gating the node (no reject verdict) and the run did not fail because of the node;
for a node without judges, when its invocation succeeded. A preference pair is a
rejected answer of the node and the accepted answer of the very next attempt at
the same task in the same run: its retry, or the escalation target's answer.")]
pub struct ExportArgs {
    /// Recordings to read: `run --record` files, or directories whose
    /// `*.jsonl` files are read in name order.
    #[arg(required = true, value_name = "RECORDING")]
    pub recordings: Vec<PathBuf>,
    /// The node whose model calls become training data, as the manifest
    /// names it (e.g. `answer-small`). An unknown name lists the nodes the
    /// recordings hold.
    #[arg(long, value_name = "NODE")]
    pub node: String,
    /// `sft`: one `{"messages": [...]}` line per model call — the request's
    /// messages, then the answer as an assistant turn (OpenAI fine-tuning,
    /// TRL SFTTrainer, Axolotl `chat_template`). `preference`: one line per
    /// rejected answer whose next attempt was accepted.
    #[arg(long, value_enum, default_value_t = FormatArg::Sft)]
    pub format: FormatArg,
    /// Preference pairs only: `trl` writes `{"prompt", "chosen",
    /// "rejected"}` (TRL's conversational preference format, for
    /// DPOTrainer); `openai` writes `{"input": {"messages"},
    /// "preferred_output", "non_preferred_output"}` (OpenAI preference
    /// fine-tuning). Default: trl.
    #[arg(long, value_enum, value_name = "STYLE")]
    pub preference_format: Option<PreferenceFormatArg>,
    /// Preference pairs only: the prompt of a pair. `original` (default):
    /// the node's first request for the task in that run, without the
    /// judges' feedback a retry carries — the prompt the node sees when it
    /// answers first. `accepted`: the accepted answer's request without its
    /// assistant turns (it includes the feedback on the rejected answer).
    #[arg(long, value_enum, value_name = "WHICH")]
    pub pair_prompt: Option<PairPromptArg>,
    /// SFT only: which answers to export. `accepted` (default): answers
    /// that passed every judge gating the node; `rejected`: answers a judge
    /// or schema rejected; `any`: every answered call of the node.
    #[arg(long, value_enum)]
    pub verdict: Option<VerdictArg>,
    /// Only answers and pairs decided by this judge: an accepted answer it
    /// passed, a rejected answer (or a pair's rejected side) it rejected.
    #[arg(long, value_name = "NAME")]
    pub judge: Option<String>,
    /// Only runs in which a router chose this branch label (e.g. `simple`).
    #[arg(long, value_name = "LABEL")]
    pub route: Option<String>,
    /// Only model calls that cost at most this many US dollars, all
    /// attempts of the call included (both calls of a pair).
    #[arg(long, value_name = "USD")]
    pub max_cost_usd: Option<f64>,
    /// Only runs that started at or after this time: an RFC 3339 date
    /// (`2025-06-01`, midnight UTC) or date-time (`2025-06-01T12:00:00Z`).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<String>,
    /// Only runs that started before this time (RFC 3339, as --since).
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<String>,
    /// Share of examples for validation, from 0 (none, the default) to
    /// below 1. Chosen by hashing each example's request hash, so a
    /// re-export puts every example on the same side. The validation set
    /// goes to FILE with `.valid` before its extension: `--output
    /// train.jsonl` writes `train.valid.jsonl` too.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub validation: f64,
    /// The JSONL file to write (replaced whole: written to a temporary
    /// file beside it and renamed into place once complete).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Chat examples for supervised fine-tuning.
    Sft,
    /// Rejected/accepted answer pairs (DPO and similar).
    Preference,
}

/// `--preference-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreferenceFormatArg {
    /// TRL conversational preference.
    Trl,
    /// OpenAI preference fine-tuning.
    Openai,
}

/// `--pair-prompt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PairPromptArg {
    /// The node's first request for the task.
    Original,
    /// The accepted answer's request.
    Accepted,
}

/// `--verdict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerdictArg {
    /// Passed every judge.
    Accepted,
    /// Rejected by a judge or schema.
    Rejected,
    /// Every answered call.
    Any,
}

fn kind(args: &ExportArgs) -> anyhow::Result<ExportKind> {
    match args.format {
        FormatArg::Sft => {
            anyhow::ensure!(
                args.preference_format.is_none() && args.pair_prompt.is_none(),
                "--preference-format and --pair-prompt apply to --format preference only"
            );
            let verdict = match args.verdict {
                None | Some(VerdictArg::Accepted) => VerdictFilter::Accepted,
                Some(VerdictArg::Rejected) => VerdictFilter::Rejected,
                Some(VerdictArg::Any) => VerdictFilter::Any,
            };
            Ok(ExportKind::Sft { verdict })
        }
        FormatArg::Preference => {
            anyhow::ensure!(
                args.verdict.is_none(),
                "--verdict applies to --format sft only (a pair is always a rejected and an accepted answer)"
            );
            let style = match args.preference_format {
                None | Some(PreferenceFormatArg::Trl) => PreferenceStyle::Trl,
                Some(PreferenceFormatArg::Openai) => PreferenceStyle::OpenAi,
            };
            let prompt = match args.pair_prompt {
                None | Some(PairPromptArg::Original) => PairPrompt::Original,
                Some(PairPromptArg::Accepted) => PairPrompt::Accepted,
            };
            Ok(ExportKind::Preference { style, prompt })
        }
    }
}

fn options(args: &ExportArgs) -> anyhow::Result<ExportOptions> {
    Ok(ExportOptions {
        node: args.node.clone(),
        kind: kind(args)?,
        filters: Filters {
            judge: args.judge.clone(),
            route: args.route.clone(),
            max_cost: args.max_cost_usd.map(cost_of_usd).transpose()?,
            since_unix_us: args
                .since
                .as_deref()
                .map(|t| parse_time("--since", t))
                .transpose()?,
            until_unix_us: args
                .until
                .as_deref()
                .map(|t| parse_time("--until", t))
                .transpose()?,
        },
        validation: args.validation,
    })
}

pub(super) async fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let options = options(args)?;
    check_output(&args.output, &args.recordings)?;
    let recordings = read(&args.recordings)?;
    for torn in &recordings.torn {
        eprintln!(
            "warning: {}: its last line is incomplete (a writer was killed mid-line); skipped",
            torn.display()
        );
    }
    anyhow::ensure!(
        !recordings.runs.is_empty(),
        "no recorded runs in {}",
        args.recordings
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let exported = match export(&recordings.runs, &options) {
        Ok(e) => e,
        Err(e) => {
            if let TrainingError::Empty { counts, .. } = &e {
                eprintln!("{counts}");
            }
            return Err(e.into());
        }
    };
    let written = write_export(&args.output, &exported, options.validation > 0.0)?;
    eprintln!("{}", exported.counts);
    let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    eprintln!("wrote {}", files.join(" and "));
    if options.validation > 0.0 && exported.counts.valid == 0 {
        eprintln!(
            "note: {} is empty: no example's hash fell in the validation share",
            valid_path(&args.output).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
