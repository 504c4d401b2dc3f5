//! The record of a run: the run dir and its log (the source of truth), the
//! tallies read from it, and the report and summary written as views of it.

pub(crate) mod batch_rows;
pub(crate) mod report;
pub(crate) mod run_dir;
pub(crate) mod runlog;
pub(crate) mod summary;

use std::io;

/// A file of the run dir that could not be written, and what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct WriteError {
    /// What was being done.
    pub context: String,
    /// What went wrong.
    pub source: io::Error,
}

impl WriteError {
    /// For `map_err`: the error, with what was being done.
    pub fn context(context: impl Into<String>) -> impl FnOnce(io::Error) -> WriteError {
        let context = context.into();
        move |source| WriteError { context, source }
    }
}
