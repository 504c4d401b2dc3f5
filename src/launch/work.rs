//! What the launcher is given for one row: a row to start, a row to launch again,
//! or an outcome known without a call.

use crate::model::outcome::Outcome;
use crate::model::rows::Launch;

/// What the launcher is given for one row.
pub(crate) enum Work {
    /// Start the row's execution.
    Start(Launch),
    /// `retry`: launch the row again.
    Again(Again),
    /// The outcome is known without a call (an invalid row, a row started earlier
    /// under another number).
    Known(Outcome),
}

impl Work {
    /// What the log says of a row the launch stopped before: a row to start is
    /// `not_attempted`, with its name and fields, so that the report shows it; a
    /// known outcome stands; a row to launch again keeps its last line.
    pub(crate) fn not_reached(self) -> Option<Outcome> {
        match self {
            Work::Start(launch) => Some(Outcome::not_attempted(launch)),
            Work::Known(known) => Some(known),
            Work::Again(_) => None,
        }
    }
}

/// A row launched again by `retry`, from its last log line: its closed execution
/// redriven, or else (or when it failed to start) started as `launch`.
pub(crate) struct Again {
    /// The row as planned now: what is started when it is not redriven.
    pub launch: Launch,
    /// The row's last log line.
    pub last: Outcome,
    /// Redrive the closed execution of `last`, rather than start `launch`.
    pub redrive: bool,
}
