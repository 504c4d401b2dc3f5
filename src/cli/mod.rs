//! The command line: clap's definitions (the only place that knows clap), job
//! files, and their conversion into validated, typed options.

pub(crate) mod args;
pub(crate) mod job;
pub(crate) mod options;
mod sources;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches};

use crate::error::Error;
use crate::output::log::LogFormat;
use args::{Cli, LogArgs};

/// The command line, parsed: how to log, and the command (with its job file's
/// flags), or why it is unusable.
pub struct Parsed {
    /// `-v`/`-q`, as a level: 0 is the default.
    pub verbosity: i8,
    /// `--log-format`.
    pub log_format: LogFormat,
    /// The command to run.
    pub cli: Result<Cli, Error>,
}

/// Parses the process's arguments. Clap's own errors, `--help` and `--version`
/// exit here.
pub fn parse(args: Vec<OsString>) -> Parsed {
    let matches = Cli::command().get_matches_from(&args);
    let log = LogArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    Parsed {
        verbosity: log.verbosity(),
        log_format: log.log_format.into(),
        cli: job::with_job_file(args, &matches),
    }
}

/// `sfn-batch completions SHELL`: the completion script, on stdout.
pub(crate) fn completions(shell: clap_complete::Shell) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "sfn-batch", &mut std::io::stdout());
}

/// `sfn-batch man DIR`: a man page per command, written into `dir`.
pub(crate) fn man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
}
