//! Exit codes, as documented in the README, and the rule for a batch's own.
//! `commands::exit_code` maps every command's facts to one of these.

use crate::model::counts::{Counts, Ends};

/// Every row started (or already existed).
pub(crate) const SUCCESS: i32 = 0;
/// Some rows failed to start (or were invalid and skipped, or not attempted).
pub(crate) const FAILURES: i32 = 1;
/// Bad usage, configuration or manifest: nothing was started.
pub(crate) const USAGE: i32 = 2;
/// `status` only: not finished yet (a process still launching into the run dir,
/// or executions still running with nothing failed so far).
pub(crate) const IN_PROGRESS: i32 = 3;
/// Interrupted by Ctrl-C or SIGTERM, after a clean stop.
pub(crate) const INTERRUPTED: i32 = 130;

/// The exit code a batch's final counts call for: success only when every row
/// started and, when followed, every execution succeeded.
pub(crate) fn of_batch(counts: &Counts, ends: Option<&Ends>, interrupted: bool) -> i32 {
    if interrupted {
        INTERRUPTED
    } else if counts.all_done() && ends.is_none_or(Ends::all_succeeded) {
        SUCCESS
    } else {
        FAILURES
    }
}
