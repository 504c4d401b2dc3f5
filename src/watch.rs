//! Following a run's executions to their end (`run --wait`, `watch`, `status`).
//!
//! Cost is what matters: DescribeExecution is throttled at 15/s and ListExecutions
//! at 5/s (1,000 executions a page), so one DescribeExecution per row per sweep
//! would take hours on a large batch. A sweep therefore pages ListExecutions of the
//! state machine once per terminal status, newest first, matches the ARNs against
//! the run's open rows, and stops paging at executions older than the oldest open
//! row: its calls grow with pages, not rows. DescribeExecution is used only when few
//! rows are open, and for the error and cause of each failure.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::ExecutionStatus;
use serde::Serialize;

use tokio_util::sync::CancellationToken;

use crate::aws::error_text;
use crate::error::Error;
use crate::options::FollowOptions;
use crate::outcome::Outcome;
use crate::progress::{FollowProgress, ProgressMode};
use crate::runlog::{self, OffsetReader, RESULTS, RunDir, RunLog};

/// Terminal statuses, in AWS's words.
const TERMINAL: [ExecutionStatus; 4] = [
    ExecutionStatus::Succeeded,
    ExecutionStatus::Failed,
    ExecutionStatus::TimedOut,
    ExecutionStatus::Aborted,
];
/// At most this many open rows are followed with DescribeExecution, one call each.
const DESCRIBE_AT_MOST: usize = 20;
/// Failures kept to show.
const FAILURES_NOTED: usize = 5;
/// ListExecutions' largest page.
const PAGE: i32 = 1000;

/// How a run's started executions stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ends {
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub aborted: u64,
    pub running: u64,
}

impl Ends {
    fn add(&mut self, status: &str) {
        match status {
            "SUCCEEDED" => self.succeeded += 1,
            "FAILED" => self.failed += 1,
            "TIMED_OUT" => self.timed_out += 1,
            "ABORTED" => self.aborted += 1,
            _ => self.running += 1,
        }
    }

    /// Executions seen closed.
    pub fn ended(&self) -> u64 {
        self.succeeded + self.failed + self.timed_out + self.aborted
    }

    pub fn all_succeeded(&self) -> bool {
        self.failed + self.timed_out + self.aborted + self.running == 0
    }

    pub fn human(&self) -> String {
        format!(
            "{} running, {} succeeded, {} failed, {} timed out, {} aborted",
            self.running, self.succeeded, self.failed, self.timed_out, self.aborted
        )
    }
}

/// A started row whose execution has not been seen closed.
#[derive(Debug, Clone)]
pub struct Open {
    /// Where its last log line starts.
    offset: u64,
    /// Its start, in seconds since the epoch.
    started: i64,
}

/// API calls a follow made, to show (and test) what it cost.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Calls {
    pub list_executions: u64,
    pub describe_execution: u64,
    pub sweeps: u64,
}

/// The run's started rows, as the log has them: those still open, and how the
/// closed ones ended.
pub struct Follow {
    client: aws_sdk_sfn::Client,
    /// Unqualified: ListExecutions of it covers every version and alias.
    state_machine_arn: String,
    open: HashMap<String, Open>,
    ends: Ends,
    failures: Vec<String>,
    pub calls: Calls,
}

/// One execution seen closed.
pub struct Closed {
    arn: String,
    status: String,
    stop: Option<DateTime>,
}

impl Follow {
    /// Reads the run log for the started rows and where each one stands.
    pub fn from_log(
        client: aws_sdk_sfn::Client,
        state_machine_arn: &str,
        log: &Path,
    ) -> std::io::Result<Follow> {
        let mut last: HashMap<u64, (u64, Outcome)> = HashMap::new();
        runlog::read(log, |offset, outcome| {
            last.insert(outcome.row, (offset, outcome));
        })?;
        let mut follow = Follow {
            client,
            state_machine_arn: state_machine_arn
                .split(':')
                .take(7)
                .collect::<Vec<_>>()
                .join(":"),
            open: HashMap::new(),
            ends: Ends::default(),
            failures: Vec::new(),
            calls: Calls::default(),
        };
        for (offset, outcome) in last.into_values() {
            let (Some(arn), true) = (outcome.execution_arn, outcome.status.is_done()) else {
                continue;
            };
            match outcome.final_status.as_deref() {
                Some(status) if status != "RUNNING" => {
                    follow.ends.add(status);
                    if status != "SUCCEEDED" {
                        let failure = Failure {
                            error: outcome.error.clone(),
                            cause: outcome.cause.clone(),
                        };
                        follow.note_failure(&arn, status, &failure);
                    }
                }
                _ => {
                    let started = outcome
                        .start_date
                        .as_deref()
                        .and_then(|d| d.parse::<jiff::Timestamp>().ok())
                        .map_or(0, |t| t.as_second());
                    follow.open.insert(arn, Open { offset, started });
                }
            }
        }
        Ok(follow)
    }

    pub fn ends(&self) -> Ends {
        Ends {
            running: self.open.len() as u64,
            ..self.ends
        }
    }

    pub fn is_done(&self) -> bool {
        self.open.is_empty()
    }

    /// A row started by the run that is following it (`--max-running`).
    pub fn add_open(&mut self, arn: String, offset: u64, start_date: Option<&str>) {
        let started = start_date
            .and_then(|d| d.parse::<jiff::Timestamp>().ok())
            .map_or(0, |t| t.as_second());
        self.open.insert(arn, Open { offset, started });
    }

    /// One look at AWS, each end appended to the log (`lines` reads it); returns
    /// how many ended. A failed look is a warning: the next one tries again.
    pub async fn log_ends(
        &mut self,
        log: &mut RunLog,
        lines: &mut OffsetReader,
    ) -> std::io::Result<u64> {
        let ended = match self.refresh().await {
            Ok(ended) => ended,
            Err(e) => {
                tracing::warn!("following the executions: {e}; trying again");
                return Ok(0);
            }
        };
        for (open, closed, failure) in &ended {
            let mut outcome = lines.outcome_at(open.offset)?;
            end(&mut outcome, closed, failure);
            log.append(&outcome)?;
        }
        Ok(ended.len() as u64)
    }

    /// One look at AWS: takes the executions seen closed off the open rows, and
    /// returns them.
    pub async fn refresh(&mut self) -> Result<Vec<(Open, Closed, Option<Failure>)>, String> {
        let mut ended = Vec::new();
        for (closed, failure) in self.sweep().await? {
            let open = self
                .open
                .remove(&closed.arn)
                .expect("closed rows were open");
            self.ends.add(&closed.status);
            if let Some(failure) = &failure {
                self.note_failure(&closed.arn, &closed.status, failure);
            }
            ended.push((open, closed, failure));
        }
        Ok(ended)
    }

    fn note_failure(&mut self, arn: &str, status: &str, failure: &Failure) {
        if self.failures.len() < FAILURES_NOTED {
            self.failures.push(format!(
                "{arn}: {status}: {}: {}",
                failure.error.as_deref().unwrap_or("-"),
                failure.cause.as_deref().unwrap_or("-")
            ));
        }
    }

    /// The first failures seen: ARN, status, error and cause.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// The open execution that started first: its ARN and start (seconds since the
    /// epoch).
    pub fn oldest_running(&self) -> Option<(&str, i64)> {
        self.open
            .iter()
            .min_by_key(|(_, o)| o.started)
            .map(|(arn, o)| (arn.as_str(), o.started))
    }

    /// One look at AWS: the executions seen closed since the last sweep, with a
    /// failure's error and cause.
    async fn sweep(&mut self) -> Result<Vec<(Closed, Option<Failure>)>, String> {
        self.calls.sweeps += 1;
        if self.open.len() <= DESCRIBE_AT_MOST {
            return self.describe_open().await;
        }
        let mut out = Vec::new();
        for closed in self.list_closed().await? {
            let failure = match closed.status.as_str() {
                "SUCCEEDED" => None,
                _ => Some(self.describe(&closed.arn).await?.1),
            };
            out.push((closed, failure));
        }
        Ok(out)
    }

    /// Few open rows: one DescribeExecution each, which also gives a failure's
    /// error and cause.
    async fn describe_open(&mut self) -> Result<Vec<(Closed, Option<Failure>)>, String> {
        let arns: Vec<String> = self.open.keys().cloned().collect();
        let mut out = Vec::new();
        for arn in arns {
            let (closed, failure) = self.describe(&arn).await?;
            match closed.status.as_str() {
                "SUCCEEDED" => out.push((closed, None)),
                "FAILED" | "TIMED_OUT" | "ABORTED" => out.push((closed, Some(failure))),
                _ => {}
            }
        }
        Ok(out)
    }

    async fn describe(&mut self, arn: &str) -> Result<(Closed, Failure), String> {
        self.calls.describe_execution += 1;
        let out = self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        let closed = Closed {
            arn: arn.to_string(),
            status: out.status.as_str().to_string(),
            stop: out.stop_date,
        };
        let failure = Failure {
            error: out.error,
            cause: out.cause,
        };
        Ok((closed, failure))
    }

    async fn list_closed(&mut self) -> Result<Vec<Closed>, String> {
        let oldest = self.open.values().map(|o| o.started).min().unwrap_or(0);
        let mut closed = Vec::new();
        for status in TERMINAL {
            let mut token = None;
            loop {
                self.calls.list_executions += 1;
                let page = self
                    .client
                    .list_executions()
                    .state_machine_arn(&self.state_machine_arn)
                    .status_filter(status.clone())
                    .max_results(PAGE)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| error_text(&e))?;
                let mut older = false;
                for e in page.executions() {
                    // Newest first: past the oldest open row, nothing is ours.
                    if e.start_date().secs() < oldest - 1 {
                        older = true;
                        break;
                    }
                    if self.open.contains_key(e.execution_arn()) {
                        closed.push(Closed {
                            arn: e.execution_arn().to_string(),
                            status: status.as_str().to_string(),
                            stop: e.stop_date().cloned(),
                        });
                    }
                }
                token = page.next_token().map(str::to_string);
                if older || token.is_none() {
                    break;
                }
            }
        }
        Ok(closed)
    }

    /// Sweeps every `poll` until every started row has ended, the `deadline`
    /// passes, or `stop` fires; logs each end as it is seen, and at the end marks
    /// the rows still open as RUNNING. `on_sweep` sees the picture after each sweep.
    pub async fn run(
        &mut self,
        log_path: &Path,
        poll: Duration,
        deadline: Option<Instant>,
        stop: &CancellationToken,
        mut on_sweep: impl FnMut(Ends),
    ) -> std::io::Result<()> {
        let intact = runlog::read(log_path, |_, _| {})?;
        let mut log = RunLog::append_to(log_path, intact)?;
        let mut lines = OffsetReader::open(log_path)?;
        while !self.is_done() {
            self.log_ends(&mut log, &mut lines).await?;
            on_sweep(self.ends());
            if self.is_done() || deadline.is_some_and(|d| Instant::now() + poll > d) {
                break;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(poll) => {}
            }
        }
        // Still running: say so in the log, so the report does.
        for open in self.open.values() {
            let mut outcome = lines.outcome_at(open.offset)?;
            outcome.final_status = Some("RUNNING".to_string());
            log.append(&outcome)?;
        }
        Ok(())
    }
}

pub struct Failure {
    error: Option<String>,
    cause: Option<String>,
}

fn end(outcome: &mut Outcome, closed: &Closed, failure: &Option<Failure>) {
    outcome.final_status = Some(closed.status.clone());
    if let Some(stop) = &closed.stop {
        outcome.stop_date = Some(crate::sfn::rfc3339(stop));
        let started = outcome
            .start_date
            .as_deref()
            .and_then(|d| d.parse::<jiff::Timestamp>().ok());
        if let Some(started) = started {
            let stopped = stop.secs() as f64 + f64::from(stop.subsec_nanos()) / 1e9;
            let started = started.as_second() as f64 + f64::from(started.subsec_nanosecond()) / 1e9;
            outcome.duration_seconds = Some(((stopped - started) * 1000.0).round() / 1000.0);
        }
    }
    if let Some(failure) = failure {
        outcome.error = failure.error.clone();
        outcome.cause = failure.cause.clone();
    }
}

/// Follows a run's started executions to their end (or the timeout, or a signal),
/// logging each end, with the progress display; returns how they stand.
pub async fn follow_to_end(
    client: aws_sdk_sfn::Client,
    state_machine_arn: &str,
    run_dir: &RunDir,
    options: FollowOptions,
    progress: ProgressMode,
    stop: &CancellationToken,
) -> Result<Followed, Error> {
    let log_path = run_dir.file(RESULTS);
    let context = format!("following the executions of {}", log_path.display());
    let mut follow =
        Follow::from_log(client, state_machine_arn, &log_path).map_err(Error::run(&context))?;
    let ends = follow.ends();
    let mut display = FollowProgress::new(progress, ends.running + ends.ended());
    let deadline = options.timeout.map(|t| Instant::now() + t);
    follow
        .run(&log_path, options.poll, deadline, stop, |ends| {
            display.show(ends)
        })
        .await
        .map_err(Error::run(&context))?;
    display.finish();
    Ok(Followed {
        ends: follow.ends(),
        calls: follow.calls,
    })
}

/// What following found, and what it cost.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Followed {
    pub ends: Ends,
    pub calls: Calls,
}
