//! Errors of a run and the exit codes they map to, in one place.

use crate::plan::Invalid;
use crate::runlog::RunDirError;
use crate::sfn::StateMachineError;
use crate::source::{ManifestError, place};

/// Exit codes, as documented in the README.
pub mod exit {
    /// Every row started (or already existed).
    pub const SUCCESS: i32 = 0;
    /// Some rows failed to start (or were invalid and skipped, or not attempted).
    pub const FAILURES: i32 = 1;
    /// Bad usage, configuration or manifest: nothing was started.
    pub const USAGE: i32 = 2;
    /// `status` only: nothing has failed so far, but executions still run.
    pub const IN_PROGRESS: i32 = 3;
    /// Interrupted by Ctrl-C or SIGTERM, after a clean stop.
    pub const INTERRUPTED: i32 = 130;
}

/// How many invalid rows an error message lists.
pub const INVALID_ROWS_SHOWN: usize = 10;

/// Why a command failed; `exit_code` says what the process exits with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or configuration, in words for the user: nothing was started.
    #[error("{0}")]
    Usage(String),
    /// The manifest could not be read or parsed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The state machine could not be used.
    #[error(transparent)]
    StateMachine(#[from] StateMachineError),
    /// The run directory could not be opened, or holds another run.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// Some rows are invalid and `--skip-invalid` was not given: nothing was started.
    #[error("{}", invalid_rows_text(.manifest, .first, *.count, *.rows))]
    InvalidRows {
        /// The manifest, as messages name it.
        manifest: String,
        /// The first invalid rows, to list.
        first: Vec<Invalid>,
        /// How many rows are invalid.
        count: u64,
        /// How many rows the run takes (all, or those selected).
        rows: u64,
    },
    /// Something broke after launching began (the run log could not be written).
    #[error("{context}: {source}")]
    Run {
        /// What was being done.
        context: String,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// The exit code for this error: `exit::FAILURES` once launching began, else
    /// `exit::USAGE`.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Run { .. } => exit::FAILURES,
            _ => exit::USAGE,
        }
    }

    /// For `map_err`: an error after launching began, with what was being done.
    pub fn run<E>(context: impl Into<String>) -> impl FnOnce(E) -> Error
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let context = context.into();
        move |source| Error::Run {
            context,
            source: source.into(),
        }
    }
}

/// One line per invalid row, naming the file and the row.
pub fn invalid_row_line(manifest: &str, row: &Invalid) -> String {
    format!(
        "{manifest}{}: {}",
        place(Some(row.row), row.line),
        row.reason
    )
}

fn invalid_rows_text(manifest: &str, first: &[Invalid], count: u64, rows: u64) -> String {
    let more = count.saturating_sub(first.len() as u64);
    let more = if more > 0 {
        format!("... and {more} more\n")
    } else {
        String::new()
    };
    format!(
        "{}{more}{count} of {rows} rows are invalid; nothing was started \
         (fix them, or pass --skip-invalid to launch the valid rows and report the others)",
        first
            .iter()
            .map(|row| invalid_row_line(manifest, row) + "\n")
            .collect::<String>()
    )
}
