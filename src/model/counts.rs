//! Rows counted by status, and executions by how they ended.

use serde::{Deserialize, Serialize};

use crate::model::final_status::FinalStatus;
use crate::model::outcome::Status;

/// Rows per final status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Rows started.
    pub started: u64,
    /// Rows whose execution already existed.
    pub existing: u64,
    /// Rows that failed to start.
    pub failed: u64,
    /// Invalid rows, never sent.
    pub invalid: u64,
    /// Rows the run never reached.
    pub not_attempted: u64,
}

impl Counts {
    /// Counts one row with this status.
    pub(crate) fn add(&mut self, status: Status) {
        *self.get_mut(status) += 1;
    }

    /// Rows with this status.
    pub fn get(mut self, status: Status) -> u64 {
        *self.get_mut(status)
    }

    fn get_mut(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Started => &mut self.started,
            Status::Existing => &mut self.existing,
            Status::Failed => &mut self.failed,
            Status::Invalid => &mut self.invalid,
            Status::NotAttempted => &mut self.not_attempted,
        }
    }

    /// All rows counted.
    pub fn total(&self) -> u64 {
        Status::ALL.iter().map(|&s| self.get(s)).sum()
    }

    /// `10 rows: 8 started, 1 existing, 1 failed to start, 0 invalid, 0 not
    /// attempted` ("failed to start", never the bare word an execution ends with).
    pub fn human(&self, rows: u64) -> String {
        self.line(rows, "not attempted")
    }

    /// The same while a process is still at work on the batch: the rows it has
    /// not come to are not reached yet, rather than not attempted.
    pub(crate) fn human_so_far(&self, rows: u64) -> String {
        self.line(rows, "not reached yet")
    }

    fn line(&self, rows: u64, not_attempted: &str) -> String {
        format!(
            "{rows} rows: {} started, {} existing, {} failed to start, {} invalid, {} {not_attempted}",
            self.started, self.existing, self.failed, self.invalid, self.not_attempted
        )
    }

    /// Every row was started or already existed.
    pub fn all_done(&self) -> bool {
        self.started + self.existing == self.total()
    }
}

/// How a run's started executions stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ends {
    /// Ended SUCCEEDED.
    pub succeeded: u64,
    /// Ended FAILED.
    pub failed: u64,
    /// Ended TIMED_OUT.
    pub timed_out: u64,
    /// Ended ABORTED.
    pub aborted: u64,
    /// Executions AWS does not know (any more): past their 90 days, or never started.
    pub unknown: u64,
    /// Not seen closed yet.
    pub running: u64,
}

impl Ends {
    pub(crate) fn add(&mut self, status: &FinalStatus) {
        match status {
            FinalStatus::Succeeded => self.succeeded += 1,
            FinalStatus::Failed => self.failed += 1,
            FinalStatus::TimedOut => self.timed_out += 1,
            FinalStatus::Aborted => self.aborted += 1,
            FinalStatus::Unknown => self.unknown += 1,
            FinalStatus::Running | FinalStatus::PendingRedrive | FinalStatus::Other(_) => {
                self.running += 1
            }
        }
    }

    /// Executions seen closed.
    pub fn ended(&self) -> u64 {
        self.succeeded + self.failed + self.timed_out + self.aborted + self.unknown
    }

    /// No execution has ended otherwise than SUCCEEDED (some may still run).
    pub fn all_succeeded_so_far(&self) -> bool {
        self.failed + self.timed_out + self.aborted + self.unknown == 0
    }

    /// Every execution ended, and SUCCEEDED.
    pub fn all_succeeded(&self) -> bool {
        self.failed + self.timed_out + self.aborted + self.unknown + self.running == 0
    }

    /// One line for a person, in AWS's words: `3 RUNNING, 5 SUCCEEDED, 1 FAILED, ...`.
    pub fn human(&self) -> String {
        let mut text = format!(
            "{} RUNNING, {} SUCCEEDED, {} FAILED, {} TIMED_OUT, {} ABORTED",
            self.running, self.succeeded, self.failed, self.timed_out, self.aborted
        );
        if self.unknown > 0 {
            text += &format!(", {} unknown to AWS", self.unknown);
        }
        text
    }
}

/// API calls a follow made, to show (and test) what it cost.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Calls {
    /// ListExecutions calls (pages).
    pub list_executions: u64,
    /// DescribeExecution calls.
    pub describe_execution: u64,
    /// Looks at AWS.
    pub sweeps: u64,
}

/// What following found, and what it cost.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Followed {
    /// How the executions stand at the end.
    pub ends: Ends,
    /// The API calls following made.
    pub calls: Calls,
}

/// How a batch stands, for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Every row started, and every execution followed so far succeeded, but
    /// some still run.
    Running,
    /// Every row started and every execution succeeded.
    Succeeded,
    /// Some row failed to start, or some execution did not succeed.
    Failing,
}

impl Standing {
    /// How a batch with these counts and these executions stands.
    pub fn of(counts: &Counts, ends: &Ends) -> Standing {
        if ends.running > 0 && ends.all_succeeded_so_far() && counts.all_done() {
            Standing::Running
        } else if counts.all_done() && ends.all_succeeded() {
            Standing::Succeeded
        } else {
            Standing::Failing
        }
    }
}

/// `1 row`, `2 rows`.
pub(crate) fn count(n: u64, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}
