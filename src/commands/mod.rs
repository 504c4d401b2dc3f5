//! The commands: `run`, `validate`, `watch`, `status`, `report` and `retry`,
//! and the one place where how a command ended becomes an exit code.

pub(crate) mod inspect;
pub(crate) mod retry;
pub(crate) mod run;
mod session;

use crate::cli;
use crate::cli::args::{Cli, Command};
use crate::cli::options::{RetryOptions, RunOptions, StatusOptions, WatchOptions};
use crate::error::Error;
use crate::model::counts::Standing;
use crate::model::exit;
use crate::record::summary::Summary;
pub(crate) use run::{run, validate};

/// Runs the command `cli` names.
pub fn execute(cli: Cli) -> Result<Finished, Error> {
    let runtime = || tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match cli.command {
        Command::Run(args) => {
            RunOptions::from_args(*args).and_then(|options| runtime().block_on(run(options)))
        }
        Command::Validate(args) => {
            RunOptions::from_args(*args).and_then(|options| runtime().block_on(validate(options)))
        }
        Command::Watch(args) => WatchOptions::from_args(args)
            .and_then(|options| runtime().block_on(inspect::watch(options))),
        Command::Status(args) => StatusOptions::from_args(args)
            .and_then(|options| runtime().block_on(inspect::status(options))),
        Command::Report(args) => inspect::report(&args),
        Command::Completions { shell } => {
            cli::completions(shell);
            Ok(Finished::Printed)
        }
        Command::Man { dir } => {
            cli::man_pages(&dir)
                .map(|()| Finished::Printed)
                .map_err(Error::run(format!(
                    "writing man pages into {}",
                    dir.display()
                )))
        }
        Command::Retry(args) => RetryOptions::from_args(*args)
            .and_then(|options| runtime().block_on(retry::retry(options))),
    }
}

/// How a command ended: facts, never an exit code (`exit_code` maps them).
#[derive(Debug)]
pub enum Finished {
    /// `--dry-run` or `validate`: the rows were checked, nothing was started.
    Checked {
        /// How many rows are invalid.
        invalid: u64,
        /// Whether `--skip-invalid` was given: then invalid rows do not fail the check.
        skip_invalid: bool,
    },
    /// `run`, `retry` or `watch` went through the batch: its summary.
    Batch(Box<Summary>),
    /// `run` handed the batch to a Distributed Map and did not wait for it.
    HandedOver {
        /// Rows left out as invalid (`--skip-invalid`).
        invalid: u64,
    },
    /// Following a batch handed to a Distributed Map stopped before its parent
    /// execution ended: the batch goes on in AWS.
    StillInAws {
        /// Whether a signal (or the embedding program) stopped it.
        interrupted: bool,
    },
    /// Interrupted before a batch was handed to a Distributed Map.
    Interrupted,
    /// `retry` redrove a Distributed Map's parent and did not wait for it.
    Redriven,
    /// `status`: how the batch stands now.
    Status(Standing),
    /// A command that only printed something (`report`, `completions`).
    Printed,
}

/// The one place where how a command ended becomes the process's exit code.
pub fn exit_code(result: Result<Finished, Error>) -> i32 {
    let finished = match result {
        Ok(finished) => finished,
        Err(error) => {
            tracing::error!("{error}");
            return match error {
                Error::Run { .. } => exit::FAILURES,
                _ => exit::USAGE,
            };
        }
    };
    match finished {
        Finished::Checked {
            invalid,
            skip_invalid,
        } if invalid > 0 && !skip_invalid => exit::USAGE,
        Finished::Checked { .. } => exit::SUCCESS,
        Finished::Batch(summary) => summary.exit_code,
        Finished::HandedOver { invalid: 0 } => exit::SUCCESS,
        Finished::HandedOver { .. } => exit::FAILURES,
        Finished::StillInAws { interrupted: true } => exit::INTERRUPTED,
        Finished::StillInAws { interrupted: false } => exit::FAILURES,
        Finished::Interrupted => exit::INTERRUPTED,
        Finished::Redriven => exit::SUCCESS,
        Finished::Status(Standing::Running) => exit::IN_PROGRESS,
        Finished::Status(Standing::Succeeded) => exit::SUCCESS,
        Finished::Status(Standing::Failing) => exit::FAILURES,
        Finished::Printed => exit::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::counts::{Counts, Ends};

    #[test]
    fn checked_rows_exit_2_only_when_invalid_rows_stop_the_run() {
        let checked = |invalid, skip_invalid| {
            exit_code(Ok(Finished::Checked {
                invalid,
                skip_invalid,
            }))
        };
        assert_eq!(checked(0, false), exit::SUCCESS);
        assert_eq!(checked(3, false), exit::USAGE);
        assert_eq!(checked(3, true), exit::SUCCESS);
    }

    #[test]
    fn errors_before_launching_are_usage_and_after_are_failures() {
        assert_eq!(exit_code(Err(Error::Usage("bad".into()))), exit::USAGE);
        let broken = Error::run("writing the log")(std::io::Error::other("disk full"));
        assert_eq!(exit_code(Err(broken)), exit::FAILURES);
    }

    #[test]
    fn a_distributed_map_still_in_aws_fails_unless_interrupted() {
        let still = |interrupted| exit_code(Ok(Finished::StillInAws { interrupted }));
        assert_eq!(still(true), exit::INTERRUPTED);
        assert_eq!(still(false), exit::FAILURES);
        let handed = |invalid| exit_code(Ok(Finished::HandedOver { invalid }));
        assert_eq!(handed(0), exit::SUCCESS);
        assert_eq!(handed(1), exit::FAILURES);
    }

    #[test]
    fn status_is_3_while_executions_run_and_nothing_failed() {
        let counts = Counts {
            started: 2,
            ..Counts::default()
        };
        let status = |ends: Ends| exit_code(Ok(Finished::Status(Standing::of(&counts, &ends))));
        let running = Ends {
            succeeded: 1,
            running: 1,
            ..Ends::default()
        };
        assert_eq!(status(running), exit::IN_PROGRESS);
        let done = Ends {
            succeeded: 2,
            ..Ends::default()
        };
        assert_eq!(status(done), exit::SUCCESS);
        let failed = Ends {
            failed: 1,
            running: 1,
            ..Ends::default()
        };
        assert_eq!(status(failed), exit::FAILURES);
    }
}
