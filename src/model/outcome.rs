//! What became of a row: one `Outcome` per run-log line. The run log is a file of
//! them; the report and the summary are read from it, and `model::event` carries
//! each one to the consumers once it is logged.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::final_status::FinalStatus;

use crate::model::rows::Fields;
use crate::model::rows::{Invalid, Launch};

/// How a row's launch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// StartExecution answered with an execution ARN.
    Started,
    /// An execution of that name and input already existed (an earlier run started it).
    Existing,
    /// StartExecution refused, or kept failing until the attempts ran out.
    Failed,
    /// The row could not be rendered or breaks AWS's rules; it was not sent.
    Invalid,
    /// The run stopped before this row's turn.
    NotAttempted,
}

impl Status {
    /// Every status, in the order reports list them.
    pub const ALL: [Status; 5] = [
        Status::Started,
        Status::Existing,
        Status::Failed,
        Status::Invalid,
        Status::NotAttempted,
    ];

    /// A row with this status needs nothing more: a resume skips it.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Started | Status::Existing)
    }

    /// The status as the run log spells it (`not_attempted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Started => "started",
            Status::Existing => "existing",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::NotAttempted => "not_attempted",
        }
    }
}

/// What happened to one row: a line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The manifest's data row, from 1.
    pub row: u64,
    /// The manifest line where the row starts, where lines mean something.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The execution's name, once the row is planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The name the row is planned under, when the execution's name is another:
    /// a restart by `retry` (`<planned_name>-r1`, `-r2`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_name: Option<String>,
    /// How the row's launch ended.
    pub status: Status,
    /// The execution's ARN, once started or found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    /// When the execution started (RFC 3339), as AWS answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Calls made for the row: StartExecution (RedriveExecution for a redrive by
    /// `retry`); 0 for a row never sent.
    #[serde(default)]
    pub attempts: u32,
    /// Times `retry` launched the row again (restarted or redrove it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// When the row's calls ended (RFC 3339, UTC, in ms): the launch timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Calls answered with a throttle.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttles: u32,
    /// How long the row's last call took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// An AWS error code (`ExecutionAlreadyExists`, `ThrottlingException`, ...) or
    /// `InvalidRow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What went wrong, in words: AWS's message, or why the row is invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Following (`--wait`, `watch`): AWS's own word for how the execution ended
    /// (`SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`), or `RUNNING` when the
    /// following stopped first. A failure's error is in `error`, its cause here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_status: Option<FinalStatus>,
    /// Following: when the execution ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<String>,
    /// Following: how long the execution ran, in seconds (to the millisecond).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Following: why the execution failed, as AWS says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The row as read from the manifest, so the log alone can rebuild the report
    /// and the manifest of failed rows.
    pub fields: Fields,
}

impl Outcome {
    /// A row whose execution a call answered with: started, or found to exist.
    pub(crate) fn executed(
        launch: Launch,
        status: Status,
        execution: Execution,
        attempts: u32,
    ) -> Outcome {
        Outcome {
            execution_arn: Some(execution.arn),
            start_date: Some(execution.start_date),
            attempts,
            ..Outcome::of(launch, status)
        }
    }

    /// Started before, by this run dir or an attempt whose answer was lost: known
    /// by its name, without a call (so without its start date).
    pub(crate) fn existing(launch: Launch, execution_arn: String, attempts: u32) -> Outcome {
        Outcome {
            execution_arn: Some(execution_arn),
            attempts,
            ..Outcome::of(launch, Status::Existing)
        }
    }

    /// Redriven by `retry`: the execution of `last` (same ARN, same first start)
    /// runs again.
    pub(crate) fn redriven(last: Outcome, attempts: u32) -> Outcome {
        Outcome {
            row: last.row,
            line: last.line,
            name: last.name,
            planned_name: last.planned_name,
            execution_arn: last.execution_arn,
            start_date: last.start_date,
            attempts,
            fields: last.fields,
            at: Some(now()),
            ..Outcome::blank(last.row, Status::Started)
        }
    }

    /// `retry` could not launch the row again: it stays as `last` had it (its
    /// execution, how that ended), logged as failed with the reason.
    pub(crate) fn not_launched_again(last: Outcome, reason: String) -> Outcome {
        Outcome {
            status: Status::Failed,
            message: Some(format!("not launched again: {reason}")),
            ..last
        }
    }

    /// Planned, with its name and fields, but not started by this process: staged
    /// for a Distributed Map (the Map Run's results tell how it went), or not
    /// reached by a launch that stopped early (a resume starts it).
    pub(crate) fn not_attempted(launch: Launch) -> Outcome {
        Outcome {
            at: None,
            ..Outcome::of(launch, Status::NotAttempted)
        }
    }

    /// A row that could not be started: the last call's error code and message.
    pub(crate) fn failed(launch: Launch, attempts: u32, error: String, message: String) -> Outcome {
        Outcome {
            attempts,
            error: Some(error),
            message: Some(message),
            ..Outcome::of(launch, Status::Failed)
        }
    }

    /// A row that was not sent, and why.
    pub(crate) fn invalid(invalid: Invalid) -> Outcome {
        Outcome {
            line: invalid.line,
            error: Some("InvalidRow".to_string()),
            message: Some(invalid.reason),
            fields: invalid.fields,
            ..Outcome::blank(invalid.row, Status::Invalid)
        }
    }

    /// A row the log never mentions: the run stopped before its turn.
    pub(crate) fn never_logged(row: u64) -> Outcome {
        Outcome::blank(row, Status::NotAttempted)
    }

    /// What the calls of a launched row cost, beyond their count.
    pub(crate) fn with_calls(self, throttles: u32, last_call: Duration) -> Outcome {
        Outcome {
            throttles,
            latency_ms: Some(last_call.as_millis() as u64),
            ..self
        }
    }

    fn of(launch: Launch, status: Status) -> Outcome {
        Outcome {
            line: launch.line,
            name: Some(launch.name),
            fields: launch.fields,
            at: Some(now()),
            ..Outcome::blank(launch.row, status)
        }
    }

    fn blank(row: u64, status: Status) -> Outcome {
        Outcome {
            row,
            line: None,
            name: None,
            planned_name: None,
            status,
            execution_arn: None,
            start_date: None,
            attempts: 0,
            retries: 0,
            at: None,
            throttles: 0,
            latency_ms: None,
            error: None,
            message: None,
            final_status: None,
            stop_date: None,
            duration_seconds: None,
            cause: None,
            fields: Fields::default(),
        }
    }

    /// The name the row is planned under (a restart's execution has another).
    pub(crate) fn planned_name(&self) -> Option<&str> {
        self.planned_name.as_deref().or(self.name.as_deref())
    }
}

/// Now, as `at` records it.
fn now() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A started execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Execution {
    /// The execution's ARN.
    pub arn: String,
    /// RFC 3339.
    pub start_date: String,
}
