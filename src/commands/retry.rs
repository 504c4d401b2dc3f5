//! `sfn-batch retry RUN_DIR`: launches again, into the same run log, the rows of
//! an earlier run that failed to start (under the same name) and those whose
//! execution ended FAILED, TIMED_OUT or ABORTED: redriven (`--redrive`, same ARN)
//! or started again under a new deterministic name, `<name>-r1`, `-r2`, ...
//!
//! Everything comes from the run dir: the rows' fields from the run log, the
//! templates and batch id from `run.json`, so that the inputs render to the same
//! bytes as the first time. A retry killed half way is retried again safely: a
//! restart's name is the same on every attempt (ExecutionAlreadyExists finds it),
//! and a redrive is checked before anything is started in its place.
//!
//! This file is longer than 500 lines: about 95 of them are its unit tests.

use std::io;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::aws::sfn::Kind;
use crate::cli::options::{RetryOptions, RetrySet};
use crate::commands::Finished;
use crate::commands::session::{self, EarlierRun, Session};
use crate::error::Error;
use crate::fanout;
use crate::launch;
use crate::launch::follow::Follow;
use crate::launch::work::{Again, Work};
use crate::model::counts::Ends;
use crate::model::final_status::FinalStatus;
use crate::model::outcome::{Outcome, Status};
use crate::model::rows::Item;
use crate::plan::Planner;
use crate::plan::template::{InputTemplate, TextTemplate};
use crate::record::batch_rows::BatchRows;
use crate::record::report::LastOutcomes;
use crate::record::run_dir::{RESULTS, RETRYING, RUN_INFO, RunDir, RunInfo, write_atomically};
use crate::record::runlog::{OffsetReader, RunLog};

/// Rows waiting for the launcher: bounds memory, not speed.
const WORK_BUFFER: usize = 1024;

pub(crate) async fn retry(mut options: RetryOptions) -> Result<Finished, Error> {
    let session = Session::new(&options.aws).await?;
    let mut earlier = EarlierRun::open(&options.run_dir, "retrying")?;
    // Rows its Map Run never reached: `run` cannot resume them there (it would
    // stage every row again), so `retry` launches them.
    let unattempted_too = earlier.map.is_some();
    if let Some(mut record) = earlier.map.take() {
        let client = &session.clients.follow;
        match fanout::how_to_retry(client, earlier.run_dir.path(), &record).await? {
            fanout::Retry::Redrive => {
                return redrive_map(&session, &options, &earlier, &mut record).await;
            }
            fanout::Retry::LaunchHere => {
                tracing::info!("the rows that failed are launched again from here")
            }
        }
    }
    let following = if options.redrive {
        Some("retry --redrive")
    } else if options.launching.wait.is_some() {
        Some("--wait")
    } else if options.launching.max_running.is_some() {
        Some("--max-running")
    } else {
        None
    };
    let state_machine = session
        .state_machine(&earlier.info.state_machine_arn, following)
        .await?;
    let clients = &session.clients;
    let rows = &earlier.rows()?;
    let EarlierRun { run_dir, info, .. } = &earlier;
    let planner = planner(info)?;
    options.launching.launch.names_identify_inputs = info.name_template.is_none();
    let log_path = run_dir.file(RESULTS);
    let log_error = |doing: &str| Error::run(format!("{doing} {}", log_path.display()));

    // How the executions stand now, not when the log last looked.
    if state_machine.kind == Kind::Standard {
        let mut follow = Follow::from_log(clients, &state_machine, &log_path, rows)
            .map_err(log_error("reading"))?;
        if !follow.is_done() {
            follow.log_ends_once().await.map_err(log_error("writing"))?;
        }
    }
    let executions = state_machine.execution_arn("");
    let picked = pick(&log_path, rows, options.only, unattempted_too, &executions)
        .map_err(log_error("reading"))?;
    tracing::info!("{}", picked.human(run_dir.path(), options.redrive));
    let mut log = RunLog::append_to(&log_path, picked.intact).map_err(log_error("opening"))?;

    let interrupt = session::interrupt(None);
    let retrying = Retrying::begin(run_dir, options.redrive)?;
    let to_do = picked.offsets.len() as u64;
    let (work, reader) = spawn_reader(planner, log_path.clone(), picked.offsets, options.redrive);
    let target = earlier.target(&state_machine, rows);
    let launched = launch::launch(
        &options.launching,
        clients,
        &target,
        &mut log,
        work,
        to_do,
        &interrupt,
    )
    .await?;
    reader
        .await
        .expect("run log reader panicked")
        .map_err(log_error("reading"))?;
    // Every launch is logged (or was never made): nothing is left unaccounted.
    retrying.end()?;
    session
        .end_launch(&target, launched, &options.launching, &interrupt)
        .await
}

/// `retry` of a batch handed to a Distributed Map: its parent execution is
/// redriven (the Map Run takes up what failed or never ran), then followed with
/// `--wait`, or by `watch`.
async fn redrive_map(
    session: &Session,
    options: &RetryOptions,
    earlier: &EarlierRun,
    record: &mut fanout::Record,
) -> Result<Finished, Error> {
    fanout::redrive(&session.clients.follow, &earlier.run_dir, record).await?;
    let Some(follow) = options.launching.wait else {
        return Ok(Finished::Redriven);
    };
    let state_machine = session
        .state_machine(&earlier.info.state_machine_arn, None)
        .await?;
    let rows = earlier.rows()?;
    let interrupt = session::interrupt(None);
    let follow = fanout::MapFollow {
        follow,
        executions: true,
        progress: options.launching.progress,
    };
    let target = earlier.target(&state_machine, &rows);
    session
        .follow_map(
            &target,
            record,
            follow,
            options.launching.report_to.as_ref(),
            &interrupt,
        )
        .await
}

/// A retry under way: `retrying.json` in the run dir says how it launches (redrive
/// or restart) until every launch it made is logged. A retry killed before that
/// may have launched rows it did not log. Launched again the same way, they are
/// found (a running execution is not redriven twice; a restart's name is taken),
/// but the other way would launch them a second time: that is refused until the
/// unfinished retry is run again as it was.
struct Retrying {
    path: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Way {
    redrive: bool,
}

impl Retrying {
    fn begin(run_dir: &RunDir, redrive: bool) -> Result<Retrying, Error> {
        let path = run_dir.file(RETRYING);
        let failed = |e: io::Error| Error::run(path.display().to_string())(e);
        let unfinished = match std::fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice::<Way>(&bytes).map_err(|e| failed(e.into()))?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(failed(e)),
        };
        if let Some(way) = unfinished.filter(|w| w.redrive != redrive) {
            let (then, now) = match way.redrive {
                true => ("with", "without"),
                false => ("without", "with"),
            };
            return Err(Error::Usage(format!(
                "the last retry of {} ({then} --redrive) did not finish: rows it launched \
                 may not be logged yet, and a retry {now} --redrive would launch them again; \
                 run the retry {then} --redrive first",
                run_dir.path().display()
            )));
        }
        let json = serde_json::to_vec(&Way { redrive }).expect("serializes");
        write_atomically(&path, &json).map_err(failed)?;
        Ok(Retrying { path })
    }

    fn end(self) -> Result<(), Error> {
        std::fs::remove_file(&self.path)
            .map_err(Error::run(format!("removing {}", self.path.display())))
    }
}

/// The planner the run was started with, from `run.json`.
fn planner(info: &RunInfo) -> Result<Planner, Error> {
    let bad = |what: &str, e: String| Error::Usage(format!("{RUN_INFO}: {what}: {e}"));
    let text = |what: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| TextTemplate::parse(t).map_err(|e| bad(what, e.to_string())))
            .transpose()
    };
    let input = info
        .input_template
        .as_deref()
        .map(|t| InputTemplate::parse(t).map_err(|e| bad("input_template", e.to_string())))
        .transpose()?;
    Ok(Planner::new(
        info.state_machine_arn.clone(),
        info.batch_id.clone(),
        input,
        text("name_template", &info.name_template)?,
    )
    .with_output(text("output_template", &info.output_template)?))
}

/// Why a row is (or is not) launched again, by its last log line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RetryReason {
    StartFailed,
    /// Its execution ended so: FAILED, TIMED_OUT, ABORTED, UNKNOWN.
    Ended(FinalStatus),
    /// Never logged, or logged `not_attempted`: left to a resume of `run`.
    NotAttempted,
    Other,
}

impl RetryReason {
    /// `executions`: the start of the ARNs of the batch's state machine's
    /// executions (one started on another, before a `--force-resume`, is not ours).
    fn of(outcome: &Outcome, executions: &str) -> RetryReason {
        let ours = outcome
            .execution_arn
            .as_deref()
            .is_none_or(|arn| arn.starts_with(executions));
        match (outcome.status, &outcome.final_status) {
            _ if !ours => RetryReason::Other,
            (Status::NotAttempted, _) => RetryReason::NotAttempted,
            (Status::Failed, None) => RetryReason::StartFailed,
            // A failed line with a final status: a retry that launched nothing.
            (Status::Started | Status::Existing | Status::Failed, Some(end))
                if end.ended_badly() =>
            {
                RetryReason::Ended(end.clone())
            }
            _ => RetryReason::Other,
        }
    }

    fn is_in(&self, set: RetrySet) -> bool {
        match self {
            RetryReason::StartFailed => set.start_failed,
            RetryReason::Ended(end) => set.has_ended(end),
            RetryReason::NotAttempted | RetryReason::Other => false,
        }
    }
}

/// The rows to launch again: where their last log lines start, in row order.
struct Picked {
    offsets: Vec<u64>,
    /// Rows by reason, picked or not.
    start_failed: u64,
    ended: Ends,
    not_attempted: u64,
    /// Whether the rows logged `not_attempted` are among those picked.
    unattempted_too: bool,
    /// The log's intact length.
    intact: u64,
}

/// `unattempted_too`: rows logged `not_attempted` are picked as well.
fn pick(
    log_path: &Path,
    rows: &BatchRows,
    only: RetrySet,
    unattempted_too: bool,
    executions: &str,
) -> io::Result<Picked> {
    let last = LastOutcomes::read(log_path, rows)?;
    let mut picked = Picked {
        unattempted_too,
        offsets: Vec::new(),
        start_failed: 0,
        ended: Ends::default(),
        not_attempted: 0,
        intact: last.intact(),
    };
    last.for_each_line(rows, |offset, outcome| {
        let reason = match offset {
            Some(_) => RetryReason::of(outcome, executions),
            None => RetryReason::NotAttempted,
        };
        match &reason {
            RetryReason::StartFailed => picked.start_failed += 1,
            RetryReason::Ended(end) => picked.ended.add(end),
            RetryReason::NotAttempted => picked.not_attempted += 1,
            RetryReason::Other => {}
        }
        let chosen = reason.is_in(only) || (unattempted_too && reason == RetryReason::NotAttempted);
        if let (true, Some(offset)) = (chosen, offset) {
            picked.offsets.push(offset);
        }
        Ok(())
    })?;
    Ok(picked)
}

impl Picked {
    fn human(&self, run_dir: &Path, redrive: bool) -> String {
        let mut text = format!(
            "retry {}: {} rows failed to start; executions ended {} FAILED, {} TIMED_OUT, \
             {} ABORTED, {} UNKNOWN; launching {} again",
            run_dir.display(),
            self.start_failed,
            self.ended.failed,
            self.ended.timed_out,
            self.ended.aborted,
            self.ended.unknown,
            self.offsets.len(),
        );
        if redrive {
            text += " (closed executions redriven)";
        }
        if self.not_attempted > 0 {
            text += &match self.unattempted_too {
                true => format!(
                    "\n{} rows the Map Run never reached are launched too",
                    self.not_attempted
                ),
                false => format!(
                    "\n{} rows were never attempted: the `sfn-batch run` command of this run \
                     dir, run again, resumes them",
                    self.not_attempted
                ),
            };
        }
        text
    }
}

/// Reads the picked rows' last log lines on a blocking thread, and sends how to
/// launch each one again through a bounded channel. It stops by itself when the
/// channel closes.
fn spawn_reader(
    planner: Planner,
    log_path: PathBuf,
    offsets: Vec<u64>,
    redrive: bool,
) -> (
    mpsc::Receiver<Work>,
    tokio::task::JoinHandle<io::Result<()>>,
) {
    let (work_tx, work_rx) = mpsc::channel::<Work>(WORK_BUFFER);
    let reader = tokio::task::spawn_blocking(move || {
        let mut lines = OffsetReader::open(&log_path)?;
        for offset in offsets {
            let last = lines.outcome_at(offset)?;
            // A row that cannot be launched again is logged so, with the reason.
            let work = match again(&planner, &last, redrive) {
                Ok(again) => Work::Again(again),
                Err(reason) => Work::Known(Outcome::not_launched_again(last, reason)),
            };
            if work_tx.blocking_send(work).is_err() {
                break;
            }
        }
        Ok(())
    });
    (work_rx, reader)
}

/// How to launch a row again, from its last log line: a row that failed to start
/// under the same name; a closed execution redriven, or restarted under the next
/// `-rN` name.
fn again(planner: &Planner, last: &Outcome, redrive: bool) -> Result<Again, String> {
    let item = Item {
        row: last.row,
        line: last.line,
        fields: last.fields.clone(),
    };
    let planned_name = planner.plan(item.clone()).map_err(|i| i.reason)?.name;
    let logged = last.planned_name().unwrap_or_default();
    if logged != planned_name {
        return Err(format!(
            "its fields render to the name {planned_name}, but it was launched as \
             {logged:?} ({RUN_INFO} edited?)"
        ));
    }
    let name = last.name.clone().unwrap_or_default();
    let again = |launch| Again {
        launch,
        last: last.clone(),
        // AWS cannot redrive an execution it does not know.
        redrive: redrive && last.final_status != Some(FinalStatus::Unknown),
    };
    if last.final_status.is_none() {
        // It failed to start: the same name again.
        let launch = planner.plan_named(item, &name).map_err(|i| i.reason)?;
        return Ok(Again {
            redrive: false,
            ..again(launch)
        });
    }
    let restarts: u32 = match name == planned_name {
        true => 0,
        false => name
            .strip_prefix(&planned_name)
            .and_then(|suffix| suffix.strip_prefix("-r"))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{name} is not {planned_name} or a restart of it"))?,
    };
    let restart_name = format!("{planned_name}-r{}", restarts + 1);
    let launch = planner
        .plan_named(item, &restart_name)
        .map_err(|i| format!("cannot be started again under a new name: {}", i.reason))?;
    Ok(again(launch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn planner() -> Planner {
        let info = RunInfo {
            batch_id: "b".into(),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:sm".into(),
            manifest: "m.csv".into(),
            manifest_sha256: String::new(),
            input_template: Some(r#"{"k": "{k}", "name": "{name}"}"#.into()),
            name_template: None,
            output_template: None,
        };
        super::planner(&info).unwrap()
    }

    /// The row's last log line, launched under `name` with `status`.
    fn logged(name: &str, status: Status, final_status: Option<FinalStatus>) -> Outcome {
        let planned = planner()
            .plan(Item {
                row: 1,
                line: Some(2),
                fields: json!({"k": "v"}).as_object().unwrap().clone(),
            })
            .unwrap();
        let mut outcome = Outcome::existing(planned.clone(), String::new(), 1);
        outcome.status = status;
        outcome.final_status = final_status;
        outcome.execution_arn = Some(format!("arn:x:{name}"));
        if name != planned.name {
            outcome.planned_name = Some(planned.name.clone());
        }
        outcome.name = Some(name.to_string());
        outcome
    }

    fn planned_name() -> String {
        logged("x", Status::Started, None).planned_name.unwrap()
    }

    #[test]
    fn restarts_count_up_from_the_logged_name() {
        let base = planned_name();
        let first = logged(&base, Status::Started, Some(FinalStatus::Failed));
        let first = again(&planner(), &first, false).unwrap();
        assert_eq!(first.launch.name, format!("{base}-r1"));
        assert!(first.launch.input.contains(&format!("{base}-r1")));
        assert!(!first.redrive);
        let second = logged(
            &format!("{base}-r1"),
            Status::Started,
            Some(FinalStatus::TimedOut),
        );
        let second = again(&planner(), &second, true).unwrap();
        assert_eq!(second.launch.name, format!("{base}-r2"));
        assert!(second.redrive, "redrives the -r1 execution");
        let unknown = logged(&base, Status::Existing, Some(FinalStatus::Unknown));
        assert!(!again(&planner(), &unknown, true).unwrap().redrive);
    }

    #[test]
    fn a_row_that_failed_to_start_keeps_its_name() {
        let base = planned_name();
        let name = format!("{base}-r1");
        let again = again(&planner(), &logged(&name, Status::Failed, None), true).unwrap();
        assert_eq!(again.launch.name, name);
        assert!(!again.redrive, "nothing to redrive");
    }

    #[test]
    fn a_relaunch_that_launched_nothing_is_retried_as_the_execution_it_left() {
        let executions = "arn:x:";
        let not_now = logged(&planned_name(), Status::Failed, Some(FinalStatus::Failed));
        assert_eq!(
            RetryReason::of(&not_now, executions),
            RetryReason::Ended(FinalStatus::Failed)
        );
        let start_failed = logged(&planned_name(), Status::Failed, None);
        assert_eq!(
            RetryReason::of(&start_failed, executions),
            RetryReason::StartFailed
        );
        let elsewhere = logged(&planned_name(), Status::Started, Some(FinalStatus::Failed));
        assert_eq!(
            RetryReason::of(&elsewhere, "arn:other:"),
            RetryReason::Other
        );
    }

    #[test]
    fn a_name_the_fields_do_not_render_is_refused() {
        let mut edited = logged(&planned_name(), Status::Started, Some(FinalStatus::Failed));
        edited.fields.insert("k".into(), json!("changed"));
        let error = again(&planner(), &edited, false).err().unwrap();
        assert!(error.contains("edited?"), "{error}");
    }

    #[test]
    fn only_status_names_what_is_retried() {
        let all = RetrySet::parse(&[]).unwrap();
        assert!(all.start_failed && all.failed && all.timed_out && all.aborted && !all.unknown);
        let some = RetrySet::parse(&["timed_out".into(), "START_FAILED".into()]).unwrap();
        assert!(
            some.start_failed
                && some.has_ended(&FinalStatus::TimedOut)
                && !some.has_ended(&FinalStatus::Failed)
        );
        assert!(RetrySet::parse(&["SUCCEEDED".into()]).is_err());
    }
}
