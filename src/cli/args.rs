//! Command-line arguments: the clap definitions and nothing else. `options.rs`
//! turns them into validated settings.
//!
//! This file is longer than 500 lines: it is every flag of every command with the help
//! text `--help` shows, kept in one place so that the command line reads as a whole.

use std::path::PathBuf;

use clap::{Args, FromArgMatches, Parser, Subcommand};

use crate::output::log::LogFormat;
use crate::output::progress::ProgressMode;
use crate::output::render::ReportFormat;
use crate::plan::source::Format;

/// A clap value enum mirroring one of the core's enums (which know nothing of
/// clap), variant for variant, and converted into it with `From`. The variants'
/// doc comments are the help of the values.
macro_rules! value_enum {
    ($(#[$doc:meta])* $name:ident => $core:ident { $($(#[$vdoc:meta])* $variant:ident,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl From<$name> for $core {
            fn from(value: $name) -> $core {
                match value {
                    $($name::$variant => $core::$variant,)+
                }
            }
        }
    };
}

value_enum! {
    /// `--log-format`.
    LogFormatArg => LogFormat {
        /// Lines for people.
        Text,
        /// One JSON object per line.
        Json,
    }
}

value_enum! {
    /// `--progress`.
    ProgressArg => ProgressMode {
        /// A bar on a terminal, lines otherwise.
        Auto,
        /// A progress bar on stderr.
        Bar,
        /// A plain line every few seconds, for a log.
        Lines,
        /// Nothing.
        None,
    }
}

value_enum! {
    /// `report --format`.
    ReportFormatArg => ReportFormat {
        /// The summary and the rows that need attention, for a terminal.
        Table,
        /// The same as Markdown tables.
        Markdown,
        /// Every row, as `report.csv`.
        Csv,
        /// The summary and every row, as one JSON object.
        Json,
    }
}

value_enum! {
    /// `--format`: the manifest's syntax.
    FormatArg => Format {
        /// Comma-separated values (or another delimiter), with a header row.
        Csv,
        /// One JSON array of objects.
        Json,
        /// JSON Lines: one object per line.
        Jsonl,
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "sfn-batch",
    version,
    about = "Start AWS Step Functions executions in bulk, from a manifest",
    // A flag given twice takes its last value, so a wrapper script's defaults can
    // be overridden by appending.
    args_override_self = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// The common jobs, under `--help`.
const EXAMPLES: &str = "\
Examples:
  Backfill from a manifest, gently, and follow every execution to its end:
    sfn-batch run --state-machine preprocessing --manifest jobs.csv \\
      --input-template '{\"Input\": \"{input}\", \"Output\": \"{output}\"}' --rate 20 --wait

  Backfill by date range, one execution per day:
    sfn-batch run --state-machine daily-etl --dates 2024-01-01..2024-03-31 \\
      --input-template '{\"date\": \"{date}\"}'

  Nightly job from a job file (a crontab line), then what it did:
    sfn-batch run --job jobs/nightly.toml --log-format json
    sfn-batch report sfn-batch-runs/nightly-2026-11-28

  Look first: check every row, start nothing:
    sfn-batch validate --job jobs/nightly.toml";

/// What goes to stderr, for every command.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Say more on stderr: -v each retried call, -vv every row, -vvv the AWS SDK's
    /// own debug lines too.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Say less: -q warnings and errors only (no progress), -qq errors only.
    #[arg(
        short,
        long,
        action = clap::ArgAction::Count,
        global = true,
        conflicts_with = "verbose"
    )]
    pub quiet: u8,

    /// `text` for people; `json` for log shippers: every line on stderr one JSON
    /// object, the end-of-run summary included.
    #[arg(
        long,
        value_enum,
        default_value_t = LogFormatArg::Text,
        global = true,
        env = "SFN_BATCH_LOG_FORMAT"
    )]
    pub log_format: LogFormatArg,
}

impl LogArgs {
    /// `-v` counts up, `-q` down.
    pub fn verbosity(&self) -> i8 {
        self.verbose.min(10) as i8 - self.quiet.min(10) as i8
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start one execution per manifest row, and write a report.
    #[command(after_help = EXAMPLES)]
    Run(Box<RunArgs>),
    /// Check a job file (or `run`'s flags) and every row of its source, without
    /// touching AWS.
    Validate(Box<RunArgs>),
    /// Follow the executions of an earlier run to their end, then rewrite its report.
    Watch(WatchArgs),
    /// Show where a run stands: its run log, refreshed from AWS once.
    Status(StatusArgs),
    /// Render a run from its run log, without AWS: a table, Markdown, CSV or JSON.
    Report(ReportArgs),
    /// Print a shell completion script: `sfn-batch completions bash > /etc/bash_completion.d/sfn-batch`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (roff), one per command: `sfn-batch man ~/.local/share/man/man1`.
    Man {
        /// The folder to write `sfn-batch.1`, `sfn-batch-run.1`, ... into.
        dir: PathBuf,
    },
    /// Launch again the rows of an earlier run that failed to start, and those
    /// whose execution ended FAILED, TIMED_OUT or ABORTED.
    Retry(Box<RetryArgs>),
}

/// How long to follow, and how often to look.
#[derive(Debug, Args)]
pub struct FollowArgs {
    /// Give up following after this long (`90s`, `30m`, `2h`); the executions still
    /// running are reported as RUNNING.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Seconds between two looks at AWS.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub poll: f64,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The run directory of the run to follow.
    pub run_dir: PathBuf,

    #[command(flatten)]
    pub follow: FollowArgs,

    /// Progress display: a bar on a terminal, plain lines otherwise.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,

    /// At the end (an interrupted run's too), upload results.jsonl, report.csv and
    /// summary.json under this S3 prefix; `{date}` is today's UTC date.
    #[arg(long, value_name = "s3://BUCKET/PREFIX/", env = "SFN_BATCH_REPORT_TO")]
    pub report_to: Option<String>,

    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run directory of the run to show.
    pub run_dir: PathBuf,

    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory of the run to render.
    pub run_dir: PathBuf,

    /// `table` and `markdown` show the summary and the rows that need attention;
    /// `csv` and `json` list every row.
    #[arg(long, value_enum, default_value_t = ReportFormatArg::Table)]
    pub format: ReportFormatArg,

    /// Write one self-contained HTML page instead (charts as inline SVG).
    #[arg(long, value_name = "FILE", conflicts_with = "format")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The run directory of the run to retry.
    pub run_dir: PathBuf,

    /// Redrive each closed execution (RedriveExecution: from its failed step, under
    /// the same ARN) instead of starting it again under a new name; one AWS will
    /// not redrive is started again, with the reason in the report.
    #[arg(long)]
    pub redrive: bool,

    /// Retry only these (comma-separated): FAILED, TIMED_OUT, ABORTED (how the
    /// execution ended), UNKNOWN (not known to AWS), START_FAILED (rows that failed
    /// to start) [default: all but UNKNOWN].
    #[arg(long, value_name = "STATUS,...", value_delimiter = ',')]
    pub only_status: Vec<String>,

    #[command(flatten)]
    pub launch: LaunchArgs,

    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS region [default: the standard AWS configuration].
    #[arg(long)]
    pub region: Option<String>,

    /// AWS profile [default: the standard AWS configuration].
    #[arg(long)]
    pub profile: Option<String>,

    /// Seconds one API call may take before it is abandoned (and retried).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub call_timeout: f64,

    /// How long AWS may stay unreachable (or refuse every call) before the command
    /// gives up; meanwhile it pauses, probes, and spends no rows. A launch that
    /// gives up stops as an interrupted one does: run it again to resume.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "15m",
        env = "SFN_BATCH_OUTAGE_BUDGET"
    )]
    pub outage_budget: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Read options from this TOML job file: each key is a long flag in snake_case
    /// (`state_machine = "etl"`); flags given here win over it.
    #[arg(long, value_name = "FILE", env = "SFN_BATCH_JOB")]
    pub job: Option<PathBuf>,

    /// State machine: a full ARN (unqualified, version or alias), or a bare name
    /// (required).
    #[arg(long, value_name = "ARN|NAME", env = "SFN_BATCH_STATE_MACHINE")]
    pub state_machine: Option<String>,

    /// The manifest: a local file, `-` for stdin, or `s3://bucket/key` (or give
    /// --s3-prefix or --dates instead).
    #[arg(
        long,
        value_name = "FILE|-|s3://BUCKET/KEY",
        env = "SFN_BATCH_MANIFEST",
        conflicts_with_all = ["s3_prefix", "dates"]
    )]
    pub manifest: Option<String>,

    /// Manifest format [default: from the file extension; required for stdin].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// CSV field delimiter [default: ,]; with --s3-prefix, list one level and take
    /// the common prefixes (`/`) as items instead of objects.
    #[arg(long, value_name = "C")]
    pub delimiter: Option<String>,

    /// One item per object under this prefix (`{date}` placeholders: one listing per
    /// date of --dates).
    #[arg(long, value_name = "s3://BUCKET/PREFIX", help_heading = "S3 listing")]
    pub s3_prefix: Option<String>,

    /// Renders each item's `output` field from its fields (`s3://out/{relative}`).
    #[arg(long, value_name = "TEMPLATE", help_heading = "S3 listing")]
    pub output_template: Option<String>,

    /// Keep only keys (relative to the prefix) matching this glob; `*` crosses `/`.
    #[arg(long, value_name = "GLOB", help_heading = "S3 listing")]
    pub include: Vec<String>,

    /// Leave out keys matching this glob (excludes win over includes).
    #[arg(long, value_name = "GLOB", help_heading = "S3 listing")]
    pub exclude: Vec<String>,

    /// Keep objects modified at or after this date or RFC 3339 time.
    #[arg(long, value_name = "DATE|TIME", help_heading = "S3 listing")]
    pub modified_after: Option<String>,

    /// Keep objects modified before this date or RFC 3339 time.
    #[arg(long, value_name = "DATE|TIME", help_heading = "S3 listing")]
    pub modified_before: Option<String>,

    /// Keep objects of at least this many bytes.
    #[arg(long, value_name = "BYTES", help_heading = "S3 listing")]
    pub min_size: Option<i64>,

    /// List every object below the prefix (the default; the opposite of --delimiter).
    #[arg(long, conflicts_with = "delimiter", help_heading = "S3 listing")]
    pub recursive: bool,

    /// Start listing after this key.
    #[arg(long, value_name = "KEY", help_heading = "S3 listing")]
    pub start_after: Option<String>,

    /// One item per step from FROM to TO, inclusive, in UTC (2024-01-01..2024-03-31).
    #[arg(long, value_name = "FROM..TO", help_heading = "Date range")]
    pub dates: Option<String>,

    /// The step of --dates: 1d, 6h, 30min, 2w, 1mo [default: 1d].
    #[arg(
        long,
        value_name = "STEP",
        requires = "dates",
        help_heading = "Date range"
    )]
    pub every: Option<String>,

    /// Newest first.
    #[arg(long, requires = "dates", help_heading = "Date range")]
    pub reverse: bool,

    /// Take only the items of shard I of N (by a stable hash of each item): N hosts
    /// share one batch without overlap.
    #[arg(long, value_name = "I/N", help_heading = "Selection")]
    pub shard: Option<String>,

    /// Skip the first N items (after the shard).
    #[arg(long, value_name = "N", help_heading = "Selection")]
    pub offset: Option<u64>,

    /// Take at most N items (after the shard and offset).
    #[arg(long, value_name = "N", help_heading = "Selection")]
    pub limit: Option<u64>,

    /// Execution input as a JSON template with `{field}` placeholders, or `@FILE`
    /// to read it from a file [default: the row itself as a JSON object].
    #[arg(long, value_name = "JSON|@FILE")]
    pub input_template: Option<String>,

    /// Execution name template [default: `{batch}-` + a hash of the row's input].
    #[arg(long, value_name = "TEMPLATE")]
    pub name_template: Option<String>,

    /// Batch id: names and run dir derive from it; `{date}` is today's UTC date
    /// [default: manifest name + a hash of the manifest's content and the state
    /// machine].
    #[arg(long, value_name = "ID", env = "SFN_BATCH_BATCH_ID")]
    pub batch_id: Option<String>,

    /// Where the run log and report go; an existing one is resumed; `{date}` is
    /// today's UTC date [default: sfn-batch-runs/BATCH_ID].
    #[arg(long, value_name = "DIR", env = "SFN_BATCH_RUN_DIR")]
    pub run_dir: Option<PathBuf>,

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

    /// Render and validate every row, print a few, start nothing (with
    /// `--engine distributed-map`, print the parent state machine's definition too).
    #[arg(long)]
    pub dry_run: bool,

    /// Who starts the rows: `local`, this process under --rate; or
    /// `distributed-map`, a Step Functions Distributed Map in the account, which
    /// reads the rows staged in S3 (needs --staging and --role-arn).
    #[arg(
        long,
        value_enum,
        default_value_t = Engine::Local,
        help_heading = "Distributed Map"
    )]
    pub engine: Engine,

    /// Where the rows are staged for the Distributed Map, and where its results go.
    #[arg(
        long,
        value_name = "s3://BUCKET/PREFIX/",
        help_heading = "Distributed Map"
    )]
    pub staging: Option<String>,

    /// The IAM role the parent state machine runs as (see docs/distributed-map.md for its policy).
    #[arg(long, value_name = "ARN", help_heading = "Distributed Map")]
    pub role_arn: Option<String>,

    #[command(flatten)]
    pub launch: LaunchArgs,

    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

impl RunArgs {
    /// The command line's own defaults, without its environment variables (the
    /// library's starting point).
    pub fn defaults() -> RunArgs {
        let command =
            RunArgs::augment_args(clap::Command::new("run")).mut_args(|arg| arg.env(None));
        let matches = command.get_matches_from(["run"]);
        RunArgs::from_arg_matches(&matches).expect("the defaults parse")
    }
}

/// Who starts a batch's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// This process calls StartExecution, under the rate limit.
    Local,
    /// A Distributed Map in the account starts them from rows staged in S3.
    DistributedMap,
}

/// How rows are launched and followed: shared by `run` and `retry`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// StartExecution calls per second (fractions allowed).
    #[arg(long, default_value_t = 50.0, env = "SFN_BATCH_RATE")]
    pub rate: f64,

    /// Calls that may go at once after a quiet spell.
    #[arg(long, default_value_t = 1)]
    pub burst: u32,

    /// StartExecution calls in flight at once.
    #[arg(long, default_value_t = 16, env = "SFN_BATCH_CONCURRENCY")]
    pub concurrency: usize,

    /// Calls per row, the first included, before a throttled or failing row is given up.
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u32,

    /// Stop starting rows once this many have failed to start (a count, or a
    /// percentage of the rows this run launches); the rest are not attempted.
    #[arg(long, value_name = "N|P%")]
    pub max_failures: Option<String>,

    /// Progress display: a bar on a terminal, plain lines otherwise.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto, env = "SFN_BATCH_PROGRESS")]
    pub progress: ProgressArg,

    /// At the end (an interrupted run's too), upload results.jsonl, report.csv and
    /// summary.json under this S3 prefix; `{date}` is today's UTC date.
    #[arg(long, value_name = "s3://BUCKET/PREFIX/", env = "SFN_BATCH_REPORT_TO")]
    pub report_to: Option<String>,

    /// Follow every started execution to its end; exit 0 only if all succeeded.
    #[arg(long, help_heading = "Following")]
    pub wait: bool,

    /// Keep at most N of this run's executions open at once: a row starts only
    /// when an earlier one has closed (checked every --poll seconds).
    #[arg(
        long,
        value_name = "N",
        help_heading = "Following",
        env = "SFN_BATCH_MAX_RUNNING"
    )]
    pub max_running: Option<u64>,

    #[command(flatten, next_help_heading = "Following")]
    pub follow: FollowArgs,
}
