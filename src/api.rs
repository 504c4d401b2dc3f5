//! The library API: a batch built in code and launched exactly as `sfn-batch run`
//! launches one, with the same templates, checks, pacing, run dir and report.
//!
//! ```no_run
//! # async fn nightly() -> Result<(), sfn_batch::Error> {
//! use serde_json::json;
//!
//! let days = (1..=31).map(|day| json!({"date": format!("2024-01-{day:02}")}));
//! let summary = sfn_batch::Batch::new("arn:aws:states:eu-west-1:123456789012:stateMachine:etl")
//!     .items("january", days)?
//!     .input_template(r#"{"date": "{date}"}"#)
//!     .run_dir("runs/january")
//!     .rate(20.0)
//!     .run()
//!     .await?;
//! println!("{}", summary.counts.human(summary.rows));
//! # Ok(())
//! # }
//! ```
//!
//! Items from code are written once to a temporary JSON Lines file, so a batch of
//! millions is never held in memory, and every item is checked before the first
//! execution starts. The defaults are those of the command line, with no
//! progress display and no signal handlers (see [`Batch::cancel_on`]); logs go
//! to whatever `tracing` subscriber the program installs.

use std::path::PathBuf;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cli::args::RunArgs;
use crate::cli::options::{RunOptions, resolve_progress};
use crate::commands::Finished;
use crate::error::Error;
use crate::output::progress::ProgressMode;
use crate::plan::source::{ParseOptions, Source};
use crate::record::summary::Summary;

/// A batch to launch: a state machine, where its items come from, and how.
pub struct Batch {
    args: RunArgs,
    items: Option<Source>,
    progress: ProgressMode,
    interrupt: CancellationToken,
}

impl Batch {
    /// A batch of executions of `state_machine` (a full ARN, or a bare name looked
    /// up in the configured account and region).
    pub fn new(state_machine: impl Into<String>) -> Batch {
        let mut args = RunArgs::defaults();
        args.state_machine = Some(state_machine.into());
        Batch {
            args,
            items: None,
            progress: ProgressMode::None,
            interrupt: CancellationToken::new(),
        }
    }

    /// The items, one execution each: anything that serializes to a JSON object.
    /// `name` names them in messages and starts the default batch id.
    pub fn items<T: Serialize>(
        mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Batch, Error> {
        let mut bad = None;
        let fields =
            items
                .into_iter()
                .enumerate()
                .map_while(|(i, item)| match serde_json::to_value(item) {
                    Ok(serde_json::Value::Object(fields)) => Some(fields),
                    Ok(other) => {
                        bad = Some(format!("item {} is not a JSON object: {other}", i + 1));
                        None
                    }
                    Err(e) => {
                        bad = Some(format!("item {} does not serialize: {e}", i + 1));
                        None
                    }
                });
        let source = Source::items(name, fields)
            .map_err(|e| Error::Usage(format!("{name}: cannot spool the items: {e}")))?;
        if let Some(bad) = bad {
            return Err(Error::Usage(format!("{name}: {bad}")));
        }
        self.items = Some(source);
        Ok(self)
    }

    /// Items from a manifest instead: a local file, `-` for stdin, or
    /// `s3://bucket/key` (the format from its extension).
    pub fn manifest(mut self, location: impl Into<String>) -> Batch {
        self.args.manifest = Some(location.into());
        self.items = None;
        self
    }

    /// The execution input: a JSON template with `{field}` placeholders, or
    /// `@FILE` [default: the item itself].
    pub fn input_template(mut self, template: impl Into<String>) -> Batch {
        self.args.input_template = Some(template.into());
        self
    }

    /// The execution name [default: `{batch}-` and a hash of the input].
    pub fn name_template(mut self, template: impl Into<String>) -> Batch {
        self.args.name_template = Some(template.into());
        self
    }

    /// The batch id, which default names and the default run dir derive from.
    pub fn batch_id(mut self, id: impl Into<String>) -> Batch {
        self.args.batch_id = Some(id.into());
        self
    }

    /// Where the run log and report go; an existing one is resumed.
    pub fn run_dir(mut self, dir: impl Into<PathBuf>) -> Batch {
        self.args.run_dir = Some(dir.into());
        self
    }

    /// StartExecution calls per second at most [default: 50].
    pub fn rate(mut self, per_second: f64) -> Batch {
        self.args.launch.rate = per_second;
        self
    }

    /// StartExecution calls in flight at once [default: 16].
    pub fn concurrency(mut self, calls: usize) -> Batch {
        self.args.launch.concurrency = calls;
        self
    }

    /// Calls per row, the first included [default: 5].
    pub fn max_attempts(mut self, attempts: u32) -> Batch {
        self.args.launch.max_attempts = attempts;
        self
    }

    /// Stop starting rows once this many failed: a count (`10`) or a percentage
    /// (`2.5%`).
    pub fn max_failures(mut self, limit: impl Into<String>) -> Batch {
        self.args.launch.max_failures = Some(limit.into());
        self
    }

    /// Follow every started execution to its end before `run` returns.
    pub fn wait(mut self, wait: bool) -> Batch {
        self.args.launch.wait = wait;
        self
    }

    /// Keep at most this many of the batch's executions open at once.
    pub fn max_running(mut self, executions: u64) -> Batch {
        self.args.launch.max_running = Some(executions);
        self
    }

    /// Launch the valid items and report the invalid ones, instead of starting
    /// nothing when one is invalid.
    pub fn skip_invalid(mut self, skip: bool) -> Batch {
        self.args.skip_invalid = skip;
        self
    }

    /// At the end, upload the run log, report and summary under this S3 prefix.
    pub fn report_to(mut self, prefix: impl Into<String>) -> Batch {
        self.args.launch.report_to = Some(prefix.into());
        self
    }

    /// The AWS region [default: the standard AWS configuration].
    pub fn region(mut self, region: impl Into<String>) -> Batch {
        self.args.aws.region = Some(region.into());
        self
    }

    /// A progress display on stderr [default: none].
    pub fn progress(mut self, mode: ProgressMode) -> Batch {
        self.progress = mode;
        self
    }

    /// Cancelling `token` stops the batch as Ctrl-C stops the command: no new
    /// starts, the calls in flight finish, the run log and report are written, and
    /// `run` returns a summary with `interrupted` set.
    pub fn cancel_on(mut self, token: CancellationToken) -> Batch {
        self.interrupt = token;
        self
    }

    /// Checks every item, launches them, and returns the summary (also written to
    /// the run dir). Errors are those of `sfn-batch run`: bad options or items
    /// (nothing started), or a run log that could not be written.
    pub async fn run(self) -> Result<Summary, Error> {
        let mut options = match self.items {
            Some(items) => RunOptions::with_source(self.args, (items, ParseOptions::GENERATED))?,
            None => RunOptions::from_args(self.args)?,
        };
        options.interrupt = Some(self.interrupt);
        options.launching.progress = resolve_progress(self.progress);
        match crate::commands::run(options).await? {
            Finished::Batch(summary) => Ok(*summary),
            other => unreachable!("a batch without --dry-run runs: {other:?}"),
        }
    }
}
