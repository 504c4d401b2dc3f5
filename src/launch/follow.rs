//! Following a run's executions to their end (`run --wait`, `watch`, `status`).
//!
//! Cost is what matters: DescribeExecution is throttled at 15/s and ListExecutions
//! at 5/s (1,000 executions a page), so one DescribeExecution per row per sweep
//! would take hours on a large batch. A sweep therefore pages ListExecutions of the
//! state machine once per terminal status, newest first, matches the ARNs against
//! the run's open rows, and stops paging at executions older than the oldest open
//! row: its calls grow with pages, not rows. DescribeExecution is used only when few
//! rows are open, and for the error and cause of each failure.
//!
//! This file is longer than 500 lines: following one run's executions, whether by
//! ListExecutions sweeps or DescribeExecution look-ups, is one piece of bookkeeping.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::ExecutionStatus;

use tokio_util::sync::CancellationToken;

use crate::aws::sfn::{StateMachine, final_status};
use crate::aws::{Clients, error_text};
use crate::error::Error;
use crate::model::counts::Calls;
use crate::model::counts::Ends;
use crate::model::counts::Followed;
use crate::model::event::{Consumer, Event};
use crate::model::final_status::FinalStatus;
use crate::model::outcome::Outcome;
use crate::model::settings::FollowOptions;
use crate::output::log::RowLog;
use crate::output::progress::{FollowProgress, ProgressMode};
use crate::record::batch_rows::BatchRows;
use crate::record::report::LastOutcomes;
use crate::record::run_dir::{RESULTS, RunDir};
use crate::record::runlog::{OffsetReader, RunLog};

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

/// An open execution, in 16 bytes: where the log line that started it begins
/// (the line holds its row and ARN), and when it started.
#[derive(Debug, Clone, Copy)]
struct OpenExecution {
    offset: u64,
    /// Seconds since the epoch; `UNKNOWN_START` when the log does not say.
    started: i64,
}

const UNKNOWN_START: i64 = i64::MIN;

/// The open executions, by ARN key: 24 bytes each, in a vector sorted by key (a
/// hash table, half to seven-eighths full and doubling as it grows, took about
/// 100 B an entry at its peak). Those added since the last look wait unsorted in
/// `added`; one taken off stays as a tombstone until then (`tidy`, once a look).
#[derive(Default)]
struct OpenSet {
    sorted: Vec<(u64, OpenExecution)>,
    added: Vec<(u64, OpenExecution)>,
    len: usize,
}

/// The offset of a tombstone: no log line starts there.
const TAKEN: u64 = u64::MAX;

impl OpenSet {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds an execution. Each comes once: a row's last line in the log, or an
    /// execution AWS has just started (a name taken is `existing`, never added).
    fn insert(&mut self, key: u64, execution: OpenExecution) {
        self.added.push((key, execution));
        self.len += 1;
    }

    fn get(&self, key: u64) -> Option<&OpenExecution> {
        let at = self.sorted.binary_search_by_key(&key, |(k, _)| *k);
        let sorted = at.ok().map(|at| &self.sorted[at].1);
        let added = || self.added.iter().find(|(k, _)| *k == key).map(|(_, e)| e);
        sorted.filter(|e| e.offset != TAKEN).or_else(added)
    }

    fn remove(&mut self, key: u64) -> Option<OpenExecution> {
        if let Ok(at) = self.sorted.binary_search_by_key(&key, |(k, _)| *k)
            && self.sorted[at].1.offset != TAKEN
        {
            self.len -= 1;
            let taken = self.sorted[at].1;
            self.sorted[at].1.offset = TAKEN;
            return Some(taken);
        }
        let at = self.added.iter().position(|(k, _)| *k == key)?;
        self.len -= 1;
        Some(self.added.swap_remove(at).1)
    }

    fn iter(&self) -> impl Iterator<Item = (u64, &OpenExecution)> {
        (self.sorted.iter().chain(&self.added))
            .filter(|(_, e)| e.offset != TAKEN)
            .map(|(k, e)| (*k, e))
    }

    /// Sorts in what was added and drops the tombstones; in place, once a look.
    fn tidy(&mut self) {
        self.sorted.retain(|(_, e)| e.offset != TAKEN);
        if self.sorted.is_empty() {
            std::mem::swap(&mut self.sorted, &mut self.added);
        } else {
            self.sorted.append(&mut self.added);
        }
        self.sorted.sort_unstable_by_key(|(k, _)| *k);
    }
}

/// The key of an execution among the open ones: a 64-bit hash of its ARN. Two
/// ARNs sharing one (odds near 1 in 10^7 at a million open) cannot end the wrong
/// row: an end is checked against the ARN on the execution's own log line.
fn arn_key(arn: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(arn)
}

/// The run's started rows, as the log has them: those still open, and how the
/// closed ones ended. What it keeps per open execution is small, for a run may have
/// millions open: 24 bytes in a sorted vector (`OpenSet`), and a bit for its row.
/// The ARN and row are read back from the log when needed: for a look-up, an end,
/// or the oldest one.
pub(crate) struct Follow {
    client: aws_sdk_sfn::Client,
    /// Unqualified: ListExecutions of it covers every version and alias.
    state_machine_arn: String,
    open: OpenSet,
    /// The rows whose last line is an open execution.
    open_rows: BatchRows,
    /// Rows launched again under a new name while an earlier execution of theirs
    /// was open (a changed manifest resumed with `--force-resume`), with the key of
    /// the one that is theirs now: the earlier one holds a place in the window
    /// only, and its end ends no row. Empty in a run of one manifest.
    relaunched: HashMap<u64, u64>,
    log: PathBuf,
    /// Opened on first need: a run killed before its first outcome has no log.
    lines: Option<OffsetReader>,
    ends: Ends,
    failures: Vec<String>,
    /// Since when every look at AWS has failed, if the last one did.
    failing_since: Option<Instant>,
    /// `--outage-budget`: how long looks may fail before following gives up.
    outage_budget: Duration,
    /// The length of the log's intact part when it was read.
    intact: u64,
    /// The API calls made so far.
    pub calls: Calls,
}

/// One execution seen closed.
pub(crate) struct Closed {
    arn: String,
    status: FinalStatus,
    stop: Option<DateTime>,
    failure: Option<Failure>,
}

/// DescribeExecution calls a sweep may make, and the gap between two: its quota
/// refills at 15/s, shared with everyone in the account.
const DESCRIBES_PER_SWEEP: usize = 100;
const DESCRIBE_GAP: Duration = Duration::from_millis(100);

impl Follow {
    /// Reads the run log for the started rows of the batch and where each one
    /// stands. Rows started on another state machine (before a `--force-resume`)
    /// are not this batch's any more. Each row's last line is read in row order
    /// (`LastOutcomes`), so only the open executions are kept. Looks at AWS go
    /// through the clients' `follow`, and may fail for their `outage_budget`
    /// before following gives up.
    pub(crate) fn from_log(
        clients: &Clients,
        state_machine: &StateMachine,
        log: &Path,
        rows: &BatchRows,
    ) -> std::io::Result<Follow> {
        let last = LastOutcomes::read(log, rows)?;
        let mut follow = Follow {
            client: clients.follow.clone(),
            state_machine_arn: state_machine.unqualified_arn(),
            open: OpenSet::default(),
            open_rows: BatchRows::default(),
            relaunched: HashMap::new(),
            log: log.to_path_buf(),
            lines: None,
            ends: Ends::default(),
            failures: Vec::new(),
            failing_since: None,
            outage_budget: clients.outage_budget,
            intact: last.intact(),
            calls: Calls::default(),
        };
        let ours = state_machine.execution_arn("");
        last.for_each_line(rows, |offset, outcome| {
            let (Some(offset), Some(arn)) = (offset, &outcome.execution_arn) else {
                return Ok(());
            };
            if !arn.starts_with(&ours) || !outcome.status.is_done() {
                return Ok(());
            }
            match &outcome.final_status {
                Some(status) if *status != FinalStatus::Running => {
                    follow.ends.add(status);
                    if *status != FinalStatus::Succeeded {
                        let failure = Failure {
                            error: outcome.error.clone(),
                            cause: outcome.cause.clone(),
                        };
                        follow.note_failure(arn, status, &failure);
                    }
                }
                _ => follow.add_open(outcome.row, arn, offset, outcome.start_date.as_deref()),
            }
            Ok(())
        })?;
        follow.open.tidy();
        Ok(follow)
    }

    /// How the rows' executions stand now.
    pub(crate) fn ends(&self) -> Ends {
        Ends {
            running: self.open_rows.len(),
            ..self.ends
        }
    }

    /// Executions open, whether or not a row's last line is theirs.
    pub(crate) fn open_executions(&self) -> u64 {
        self.open.len() as u64
    }

    /// Whether no execution is open any more.
    pub(crate) fn is_done(&self) -> bool {
        self.open.is_empty()
    }

    /// A row whose last line, at `offset`, is an open execution. A row launched
    /// again under a new name leaves its earlier execution to the window only.
    pub(crate) fn add_open(&mut self, row: u64, arn: &str, offset: u64, start_date: Option<&str>) {
        let key = arn_key(arn);
        if self.open_rows.contains(row) {
            self.relaunched.insert(row, key);
        }
        self.open_rows.insert(row);
        let started = start_date
            .and_then(|d| d.parse::<jiff::Timestamp>().ok())
            .map_or(UNKNOWN_START, |t| t.as_second());
        self.open.insert(key, OpenExecution { offset, started });
    }

    /// The log line that started an open execution.
    fn line_at(&mut self, offset: u64) -> std::io::Result<Outcome> {
        let lines = match &mut self.lines {
            Some(lines) => lines,
            none => none.insert(OffsetReader::open(&self.log)?),
        };
        lines.outcome_at(offset)
    }

    /// The ARN of an open execution, from its log line.
    fn arn_of(&mut self, key: u64) -> std::io::Result<String> {
        let offset = self.open.get(key).expect("an open execution").offset;
        let line = self.line_at(offset)?;
        line.execution_arn.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the run log's line at byte {offset} has no execution ARN"),
            )
        })
    }

    /// Whether an open execution (by key) is its row's: a row launched again
    /// under a new name has a newer one.
    fn is_rows(&self, key: u64, row: u64) -> bool {
        self.relaunched.get(&row).is_none_or(|&now| now == key)
    }

    /// One look at AWS, each end appended to the log, then given to `on`; returns
    /// how many executions ended. A look that fails is a warning and the next one
    /// tries again: AWS unreachable for a while (a network blip, an endpoint
    /// failing over) costs nothing; looks failing for longer than the outage
    /// budget are an error.
    pub(crate) async fn log_ends(
        &mut self,
        log: &mut RunLog,
        on: &mut impl Consumer,
    ) -> std::io::Result<u64> {
        let (closed, error) = self.sweep().await?;
        self.failing_since = match error.is_some() && closed.is_empty() {
            true => Some(self.failing_since.unwrap_or_else(Instant::now)),
            false => None,
        };
        if let Some(error) = error {
            if let Some(since) = self.failing_since
                && since.elapsed() > self.outage_budget
            {
                return Err(std::io::Error::other(format!(
                    "AWS unreachable for {:.0?}, past --outage-budget; the last error: {error}",
                    since.elapsed()
                )));
            }
            tracing::warn!("following the executions: {error}; trying again");
        }
        let mut ended = 0;
        for (line, closed) in self.take_closed(&closed)? {
            ended += 1;
            let Some(mut outcome) = line else {
                continue;
            };
            end(&mut outcome, closed);
            log.append(&outcome)?;
            on.consume(&Event::Ended { outcome: &outcome });
        }
        Ok(ended)
    }

    /// One look at AWS, each end appended to the log `from_log` read; returns how
    /// many executions ended.
    pub(crate) async fn log_ends_once(&mut self) -> std::io::Result<u64> {
        let mut log = RunLog::append_to(&self.log, self.intact)?;
        self.log_ends(&mut log, &mut ()).await
    }

    /// One look at AWS without logging (`status`).
    pub(crate) async fn refresh(&mut self) -> std::io::Result<Option<String>> {
        let (closed, error) = self.sweep().await?;
        self.take_closed(&closed)?;
        Ok(error)
    }

    /// Takes closed executions off the open ones. Returns each one taken, with
    /// the log line of the row it ends (none for an execution its row left behind).
    fn take_closed<'a>(
        &mut self,
        closed: &'a [Closed],
    ) -> std::io::Result<Vec<(Option<Outcome>, &'a Closed)>> {
        let mut taken = Vec::new();
        for closed in closed {
            let key = arn_key(&closed.arn);
            let Some(execution) = self.open.get(key) else {
                continue;
            };
            let line = self.line_at(execution.offset)?;
            if line.execution_arn.as_deref() != Some(closed.arn.as_str()) {
                continue; // Another execution sharing the key: not ours.
            }
            self.open.remove(key);
            if let Some(failure) = &closed.failure {
                self.note_failure(&closed.arn, &closed.status, failure);
            }
            let ends_row = self.is_rows(key, line.row);
            if ends_row {
                self.open_rows.remove(line.row);
                self.relaunched.remove(&line.row);
                self.ends.add(&closed.status);
            }
            taken.push((ends_row.then_some(line), closed));
        }
        Ok(taken)
    }

    fn note_failure(&mut self, arn: &str, status: &FinalStatus, failure: &Failure) {
        if self.failures.len() < FAILURES_NOTED {
            self.failures.push(format!(
                "{arn}: {status}: {}: {}",
                failure.error.as_deref().unwrap_or("-"),
                failure.cause.as_deref().unwrap_or("-")
            ));
        }
    }

    /// The first failures seen: ARN, status, error and cause.
    pub(crate) fn failures(&self) -> &[String] {
        &self.failures
    }

    /// The open execution that started first (of those whose start is known): its
    /// ARN and start (seconds since the epoch).
    pub(crate) fn oldest_running(&mut self) -> std::io::Result<Option<(String, i64)>> {
        let oldest = (self.open.iter())
            .filter(|(_, e)| e.started != UNKNOWN_START)
            .min_by_key(|(_, e)| e.started)
            .map(|(key, e)| (key, e.started));
        oldest
            .map(|(key, started)| Ok((self.arn_of(key)?, started)))
            .transpose()
    }

    /// One look at AWS: the executions seen closed, with a failure's error and
    /// cause, and the first error met on the way (what was found is kept).
    async fn sweep(&mut self) -> std::io::Result<(Vec<Closed>, Option<String>)> {
        self.calls.sweeps += 1;
        let mut closed = Vec::new();
        let mut error = None;
        // Executions to describe one by one: all, when few are open; else those
        // whose start is unknown (no page of a listing can be stopped at them).
        let mut to_describe = Vec::new();
        self.open.tidy();
        if self.open.len() <= DESCRIBE_AT_MOST {
            to_describe.extend(self.open.iter().map(|(key, _)| key));
        } else {
            match self.list_closed().await {
                Ok(listed) => closed = listed,
                Err(e) => error = Some(e),
            }
            let unknown = self.open.iter().filter(|(_, e)| e.started == UNKNOWN_START);
            to_describe.extend(unknown.map(|(key, _)| key).take(DESCRIBES_PER_SWEEP));
        }
        // A listed failure still needs its error and cause: within the budget; the
        // rest stay open, to be found again by the next look.
        let mut listed_failures = Vec::new();
        closed.retain(|c| match c.status {
            FinalStatus::Succeeded => true,
            _ => {
                listed_failures.push(arn_key(&c.arn));
                false
            }
        });
        to_describe.splice(0..0, listed_failures);
        to_describe.truncate(DESCRIBES_PER_SWEEP);
        for key in to_describe {
            let arn = self.arn_of(key)?;
            match self.describe(&arn).await {
                Ok(Some(found)) => closed.push(found),
                Ok(None) => {}
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
            tokio::time::sleep(DESCRIBE_GAP).await;
        }
        Ok((closed, error))
    }

    /// The execution, if it has closed. One that AWS does not know (past its 90
    /// days, or never started) is closed as UNKNOWN, so that nothing waits for it.
    async fn describe(&mut self, arn: &str) -> Result<Option<Closed>, String> {
        self.calls.describe_execution += 1;
        let out = match self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                return Ok(Some(Closed {
                    arn: arn.to_string(),
                    status: FinalStatus::Unknown,
                    stop: None,
                    failure: Some(Failure {
                        error: Some("ExecutionDoesNotExist".to_string()),
                        cause: Some("AWS does not know this execution (any more)".to_string()),
                    }),
                }));
            }
            Err(e) => return Err(error_text(&e)),
        };
        if !TERMINAL.contains(&out.status) {
            return Ok(None);
        }
        let succeeded = out.status == ExecutionStatus::Succeeded;
        Ok(Some(Closed {
            arn: arn.to_string(),
            status: final_status(&out.status),
            stop: out.stop_date,
            failure: (!succeeded).then_some(Failure {
                error: out.error,
                cause: out.cause,
            }),
        }))
    }

    /// Pages ListExecutions per terminal status, newest first, back to the oldest
    /// open execution whose start is known.
    async fn list_closed(&mut self) -> Result<Vec<Closed>, String> {
        let known = self.open.iter().map(|(_, e)| e.started);
        let Some(oldest) = known.filter(|&s| s != UNKNOWN_START).min() else {
            return Ok(Vec::new());
        };
        let mut closed = Vec::new();
        let mut seen = std::collections::HashSet::new();
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
                    // Newest first: past the oldest open execution, nothing is ours.
                    if e.start_date().secs() < oldest - 1 {
                        older = true;
                        break;
                    }
                    let arn = e.execution_arn();
                    if self.open.get(arn_key(arn)).is_some() && seen.insert(arn.to_string()) {
                        closed.push(Closed {
                            arn: arn.to_string(),
                            status: final_status(&status),
                            stop: e.stop_date().cloned(),
                            failure: None,
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
    /// the rows still open as RUNNING. `on` takes each end once it is logged, and
    /// the picture after each sweep. The log `from_log` read is appended to, after
    /// its intact part.
    pub(crate) async fn run(
        &mut self,
        poll: Duration,
        deadline: Option<Instant>,
        stop: &CancellationToken,
        on: &mut impl Consumer,
    ) -> std::io::Result<()> {
        let mut log = RunLog::append_to(&self.log, self.intact)?;
        while !self.is_done() {
            self.log_ends(&mut log, on).await?;
            on.consume(&Event::Swept(self.ends()));
            let past_deadline = deadline.is_some_and(|d| Instant::now() + poll > d);
            if self.is_done() || past_deadline {
                break;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(poll) => {}
            }
        }
        // Still running: say so in the log, so the report does. In log order,
        // which reads the log once, forwards.
        let mut offsets: Vec<u64> = self.open.iter().map(|(_, e)| e.offset).collect();
        offsets.sort_unstable();
        for offset in offsets {
            let mut outcome = self.line_at(offset)?;
            let key = arn_key(outcome.execution_arn.as_deref().unwrap_or_default());
            if self.is_rows(key, outcome.row) {
                outcome.final_status = Some(FinalStatus::Running);
                log.append(&outcome)?;
                on.consume(&Event::Ended { outcome: &outcome });
            }
        }
        Ok(())
    }
}

/// A closed execution's error and cause, as AWS gives them.
pub(crate) struct Failure {
    error: Option<String>,
    cause: Option<String>,
}

fn end(outcome: &mut Outcome, closed: &Closed) {
    outcome.final_status = Some(closed.status.clone());
    if let Some(stop) = &closed.stop {
        outcome.stop_date = Some(crate::aws::sfn::rfc3339(stop));
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
    if let Some(failure) = &closed.failure {
        outcome.error = failure.error.clone();
        outcome.cause = failure.cause.clone();
    }
}

/// Follows a run's started executions to their end (or the timeout, or a signal),
/// logging each end, with the progress display; returns how they stand.
pub(crate) async fn follow_to_end(
    clients: &Clients,
    state_machine: &StateMachine,
    run_dir: &RunDir,
    rows: &BatchRows,
    options: FollowOptions,
    progress: ProgressMode,
    stop: &CancellationToken,
) -> Result<Followed, Error> {
    let log_path = run_dir.file(RESULTS);
    let context = format!("following the executions of {}", log_path.display());
    let mut follow =
        Follow::from_log(clients, state_machine, &log_path, rows).map_err(Error::run(&context))?;
    let ends = follow.ends();
    let mut display = FollowProgress::new(progress, ends.running + ends.ended());
    let deadline = options.timeout.and_then(|t| Instant::now().checked_add(t));
    follow
        .run(options.poll, deadline, stop, &mut (RowLog, &mut display))
        .await
        .map_err(Error::run(&context))?;
    display.finish();
    Ok(Followed {
        ends: follow.ends(),
        calls: follow.calls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsOptions;
    use crate::model::outcome::Status;

    const SM: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:sm";

    fn arn(name: &str) -> String {
        format!("arn:aws:states:us-east-1:123456789012:execution:sm:{name}")
    }

    fn started(row: u64, name: &str, end: Option<FinalStatus>) -> Outcome {
        let mut outcome = Outcome::never_logged(row);
        outcome.status = Status::Started;
        outcome.name = Some(name.to_string());
        outcome.execution_arn = Some(arn(name));
        outcome.final_status = end;
        outcome
    }

    fn closed(name: &str, status: FinalStatus) -> Closed {
        Closed {
            arn: arn(name),
            failure: (status != FinalStatus::Succeeded).then_some(Failure {
                error: Some("Boom".into()),
                cause: None,
            }),
            status,
            stop: None,
        }
    }

    /// A follow of a log with these lines, for rows 1 to `rows`, and the folder
    /// holding the log. No call is made.
    fn follow_of(lines: &[Outcome], rows: u64) -> (tempfile::TempDir, Follow) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS);
        let mut log = RunLog::append_to(&path, 0).unwrap();
        lines.iter().for_each(|line| {
            log.append(line).unwrap();
        });
        let mut batch = BatchRows::default();
        (1..=rows).for_each(|row| batch.insert(row));
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let options = AwsOptions {
            outage_budget: Duration::from_secs(60),
            ..AwsOptions::default()
        };
        let clients = Clients::from_config(&config, "us-east-1".into(), &options);
        let state_machine = StateMachine::offline(SM).unwrap();
        let follow = Follow::from_log(&clients, &state_machine, &path, &batch).unwrap();
        (dir, follow)
    }

    /// The rows the closed executions end.
    fn rows_ended(follow: &mut Follow, seen: &[Closed]) -> Vec<u64> {
        let taken = follow.take_closed(seen).unwrap();
        taken
            .iter()
            .filter_map(|(line, _)| Some(line.as_ref()?.row))
            .collect()
    }

    #[test]
    fn the_log_says_which_executions_are_open_and_how_the_others_ended() {
        let (_dir, follow) = follow_of(
            &[
                started(1, "a", None),
                started(2, "b", None),
                started(2, "b", Some(FinalStatus::Succeeded)),
                started(3, "c", Some(FinalStatus::TimedOut)),
                started(4, "d", Some(FinalStatus::Running)),
            ],
            5,
        );
        let ends = follow.ends();
        assert_eq!((ends.running, ends.succeeded, ends.timed_out), (2, 1, 1));
        assert_eq!(follow.open_executions(), 2);
        assert_eq!(follow.failures().len(), 1);
        assert!(!follow.is_done());
    }

    #[test]
    fn closed_executions_end_their_rows_once() {
        let (_dir, mut follow) = follow_of(&[started(1, "a", None), started(2, "b", None)], 2);
        let seen = [
            closed("a", FinalStatus::Failed),
            closed("a", FinalStatus::Failed),
        ];
        assert_eq!(rows_ended(&mut follow, &seen), [1]);
        let ends = follow.ends();
        assert_eq!((ends.failed, ends.running), (1, 1));
        assert_eq!(follow.failures().len(), 1);
        assert_eq!(
            rows_ended(&mut follow, &[closed("b", FinalStatus::Succeeded)]),
            [2]
        );
        assert!(follow.is_done());
        assert!(!follow.ends().all_succeeded_so_far());
    }

    #[test]
    fn an_execution_is_found_again_by_its_log_line() {
        let (_dir, mut follow) = follow_of(&[started(1, "a", None), started(2, "b", None)], 2);
        assert_eq!(follow.arn_of(arn_key(&arn("b"))).unwrap(), arn("b"));
        // Not open: ends nothing.
        assert!(rows_ended(&mut follow, &[closed("z", FinalStatus::Failed)]).is_empty());
        assert_eq!(follow.open_executions(), 2);
    }

    #[test]
    fn a_row_launched_again_leaves_its_earlier_execution_to_the_window() {
        let (dir, mut follow) = follow_of(&[started(1, "a", None)], 1);
        let path = dir.path().join(RESULTS);
        let mut log = RunLog::append_to(&path, follow.intact).unwrap();
        let offset = log.append(&started(1, "a-r1", None)).unwrap();
        follow.add_open(1, &arn("a-r1"), offset, None);
        // Two executions hold places in the window; one row is open.
        assert_eq!(follow.open_executions(), 2);
        assert_eq!(follow.ends().running, 1);
        // The earlier one closing ends no row.
        assert!(rows_ended(&mut follow, &[closed("a", FinalStatus::Failed)]).is_empty());
        assert_eq!(follow.ends().failed, 0);
        assert_eq!(follow.open_executions(), 1);
        // The row's own one ends it.
        assert_eq!(
            rows_ended(&mut follow, &[closed("a-r1", FinalStatus::Succeeded)]),
            [1]
        );
        assert_eq!((follow.ends().running, follow.ends().succeeded), (0, 1));
    }

    #[test]
    fn the_open_set_finds_adds_and_takes_off_before_and_after_a_tidy() {
        let execution = |offset| OpenExecution {
            offset,
            started: UNKNOWN_START,
        };
        let mut open = OpenSet::default();
        for key in [30, 10, 20] {
            open.insert(key, execution(key));
        }
        open.tidy();
        open.insert(5, execution(5));
        assert_eq!(open.len(), 4);
        assert_eq!(open.get(20).map(|e| e.offset), Some(20));
        assert_eq!(
            open.get(5).map(|e| e.offset),
            Some(5),
            "added, not yet sorted in"
        );
        assert_eq!(open.remove(20).map(|e| e.offset), Some(20));
        assert_eq!(open.remove(20).map(|e| e.offset), None, "taken once");
        assert!(open.get(20).is_none());
        assert_eq!(open.remove(5).map(|e| e.offset), Some(5));
        open.tidy();
        let keys: Vec<u64> = open.iter().map(|(key, _)| key).collect();
        assert_eq!(keys, [10, 30]);
        assert_eq!(open.len(), 2);
        assert!(!open.is_empty());
    }

    #[test]
    fn an_open_execution_takes_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<OpenExecution>(), 16);
    }
}
