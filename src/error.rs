//! Why a command failed. `commands::exit_code` maps each error to an exit code.

use crate::aws::NotConfigured;
use crate::aws::sfn::StateMachineError;
use crate::model::rows::Invalid;
use crate::plan::source::{ManifestError, place};
use crate::record::WriteError;
use crate::record::run_dir::RunDirError;

/// How many invalid rows an error message lists.
pub(crate) const INVALID_ROWS_SHOWN: usize = 10;

/// Why a command failed; `exit_code` says what the process exits with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or configuration, in words for the user: nothing was started.
    #[error("{0}")]
    Usage(String),
    /// The manifest could not be read or parsed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// AWS cannot be called as configured (no region, no credentials).
    #[error(transparent)]
    Aws(#[from] NotConfigured),
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

impl From<WriteError> for Error {
    fn from(error: WriteError) -> Error {
        Error::Run {
            context: error.context,
            source: error.source.into(),
        }
    }
}

impl Error {
    /// For `map_err`: an error after launching began, with what was being done.
    pub(crate) fn run<E>(context: impl Into<String>) -> impl FnOnce(E) -> Error
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
pub(crate) fn invalid_row_line(manifest: &str, row: &Invalid) -> String {
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
