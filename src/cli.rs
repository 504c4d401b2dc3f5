//! Command-line arguments: the clap definitions and nothing else. `options.rs`
//! turns them into validated settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::progress::ProgressMode;
use crate::source::Format;

#[derive(Debug, Parser)]
#[command(
    name = "sfn-batch",
    version,
    about = "Start AWS Step Functions executions in bulk, from a manifest",
    // A flag given twice takes its last value, so a wrapper script's defaults can
    // be overridden by appending.
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start one execution per manifest row, and write a report.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// State machine: a full ARN (unqualified, version or alias), or a bare name.
    #[arg(long, value_name = "ARN|NAME")]
    pub state_machine: String,

    /// The manifest: a local file, `-` for stdin, or `s3://bucket/key`.
    #[arg(long, value_name = "FILE|-|s3://BUCKET/KEY")]
    pub manifest: String,

    /// Manifest format [default: from the file extension; required for stdin].
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// CSV field delimiter.
    #[arg(long, default_value_t = ',')]
    pub delimiter: char,

    /// Execution input as a JSON template with `{field}` placeholders, or `@FILE`
    /// to read it from a file [default: the row itself as a JSON object].
    #[arg(long, value_name = "JSON|@FILE")]
    pub input_template: Option<String>,

    /// Execution name template [default: `{batch}-` + a hash of the row's input].
    #[arg(long, value_name = "TEMPLATE")]
    pub name_template: Option<String>,

    /// Batch id: names and run dir derive from it [default: manifest name + a hash
    /// of the manifest's content and the state machine].
    #[arg(long, value_name = "ID")]
    pub batch_id: Option<String>,

    /// Where the run log and report go; an existing one is resumed
    /// [default: sfn-batch-runs/<batch id>].
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,

    /// StartExecution calls per second (fractions allowed).
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,

    /// Calls that may go at once after a quiet spell.
    #[arg(long, default_value_t = 1)]
    pub burst: u32,

    /// StartExecution calls in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,

    /// Calls per row, the first included, before a throttled or failing row is given up.
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u32,

    /// Seconds one API call may take before it is abandoned (and retried).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub call_timeout: f64,

    /// Stop starting rows once this many have failed to start (a count, or a
    /// percentage of the rows this run launches); the rest are not attempted.
    #[arg(long, value_name = "N|P%")]
    pub max_failures: Option<String>,

    /// Resume a run dir even though the manifest, templates or state machine have
    /// changed since it was started: rows whose name is unchanged and already
    /// started are skipped, all others are launched.
    #[arg(long)]
    pub force_resume: bool,

    /// Succeed on a manifest without rows, instead of refusing it.
    #[arg(long)]
    pub allow_empty: bool,

    /// Launch the valid rows and record the invalid ones in the report, instead of
    /// starting nothing.
    #[arg(long)]
    pub skip_invalid: bool,

    /// Render and validate every row, print a few, start nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Progress display: a bar on a terminal, plain lines otherwise.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// AWS region [default: the standard AWS configuration].
    #[arg(long)]
    pub region: Option<String>,

    /// AWS profile [default: the standard AWS configuration].
    #[arg(long)]
    pub profile: Option<String>,
}
