//! `--engine distributed-map`: the batch handed to a Step Functions Distributed Map
//! in the account, for batches too long for one host to stay up through.
//!
//! The rows are rendered and checked as for a local launch, then staged in S3
//! (`stage`); a parent state machine (`definition`) is created or updated, and one
//! parent execution, named after the batch and the staged bytes, reads them and
//! starts one execution of the target per row. The run dir records the hand-off
//! (`map-run.json`); following watches the Map Run's item counts, and at its end
//! the Map Run's results are read back (`results`) into the run log, so that the
//! report looks the same whichever engine ran the batch.
//!
//! This file is longer than 500 lines: the hand-off, following the parent, redrive
//! and status of a Map Run all work on its `Record`, and read as one story.

pub(crate) mod definition;
pub(crate) mod results;
pub(crate) mod stage;

use std::io;
use std::path::Path;
use std::time::Duration;

use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::types::{ExecutionRedriveStatus, ExecutionStatus, StateMachineType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aws::sfn::{Kind, StateMachine};
use crate::aws::{self, error_text};
use crate::error::Error;
use crate::launch::{self, BatchEnd, Target};
use crate::model::counts::Counts;
use crate::model::counts::Ends;
use crate::model::counts::Standing;
use crate::model::event::{Consumer, Event};
use crate::model::pacing::Pacing;
use crate::model::settings::{FollowOptions, MaxFailures};
use crate::output::log::RowLog;
use crate::output::progress::{FollowProgress, ProgressMode};
use crate::output::publish::upload_file;
use crate::record::run_dir::{RESULTS, RunDir, write_atomically};
use crate::record::runlog::{self, RunLog};
use crate::record::summary::Summary;
use crate::record::summary::ThisRun;

use definition::{Parent, ParentInput, S3Object, fit_name};
use stage::{ITEMS, STAGED, Staged};

/// The run dir's record of the hand-off.
pub(crate) const MAP_RUN: &str = "map-run.json";

/// What the run dir records of a batch handed to a Distributed Map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The parent state machine.
    pub parent_state_machine_arn: String,
    /// The parent execution: one per batch.
    pub execution_arn: String,
    /// Its Map Run, once AWS has one.
    pub map_run_arn: Option<String>,
    /// The staged rows: `s3://BUCKET/KEY`.
    pub items: String,
    /// The bucket this run's definition has the Map Run write its results to.
    pub results_bucket: String,
    /// The folder in `results_bucket`: the results go to
    /// `<prefix>/<map run id>/manifest.json` and the files it lists.
    pub results_prefix: String,
    /// How many rows were staged.
    pub rows: u64,
    /// Whether each row's step waits for its execution's end (`--wait`).
    pub sync: bool,
    /// Whether the Map Run's results are in the run log (a redrive clears it).
    pub results_read: bool,
    /// Times the results were read into the run log.
    #[serde(default)]
    pub reads: u32,
    /// Times the parent execution was redriven, as AWS counted after the last
    /// redrive `retry` made.
    #[serde(default)]
    pub redrives: u32,
}

impl Record {
    /// The record in `dir`, if the batch there was handed to a Distributed Map.
    pub(crate) fn read(dir: &Path) -> Result<Option<Record>, Error> {
        let path = dir.join(MAP_RUN);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(Error::run(format!("reading {}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::run(format!("reading {}", path.display()))(e)),
        }
    }

    /// Writes the record, whole or not at all.
    pub(crate) fn save(&self, run_dir: &RunDir) -> Result<(), Error> {
        let path = run_dir.file(MAP_RUN);
        let json = serde_json::to_vec_pretty(self).expect("record serializes");
        write_atomically(&path, &json).map_err(Error::run(format!("writing {}", path.display())))
    }
}

/// What the hand-off needs beyond the staged rows.
pub(crate) struct Handing<'a> {
    /// The parent state machine.
    pub parent: Parent,
    /// `--role-arn`.
    pub role_arn: &'a str,
    /// The batch id (and shard): the parent execution's name starts with it.
    pub run_name: &'a str,
    /// `--max-running`, if given.
    pub max_running: Option<u64>,
    /// `--max-failures`, if given.
    pub max_failures: Option<MaxFailures>,
}

/// Uploads the staged rows, deploys the parent state machine and starts its one
/// execution for the batch (or finds it started), and records it all in the run
/// dir. Run again for the same rows, it starts nothing new: the execution's name
/// is the batch's and the staged bytes', and AWS keeps a name for 90 days.
pub(crate) async fn hand_off(
    clients: &aws::Clients,
    run_dir: &RunDir,
    handing: Handing<'_>,
    staged: Staged,
    interrupt: &CancellationToken,
) -> Result<Option<Record>, Error> {
    let parent = &handing.parent;
    let deployed = deploy(&clients.follow, parent, handing.role_arn).await?;
    let name = fit_name(
        handing.run_name,
        &format!("-{}", &staged.sha256[..8]),
        handing.run_name,
    );
    let items = S3Object {
        bucket: parent.staging.bucket().to_string(),
        key: parent.staging.key(&format!("{name}/{ITEMS}")),
    };
    let items_url = format!("s3://{}/{}", items.bucket, items.key);
    upload_file(&clients.s3, &items.bucket, &items.key, &run_dir.file(ITEMS))
        .await
        .map_err(|message| Error::Run {
            context: format!("staging the rows at {items_url}"),
            source: message.into(),
        })?;
    // Locally the batch halts at its Nth failure (N from a count or a percentage
    // of the rows); the Map fails past the count it tolerates, so N-1. A count,
    // not ToleratedFailurePercentage: AWS rounds that its own way.
    let tolerated_failure_count = handing
        .max_failures
        .map_or(staged.rows, |max| max.limit(staged.rows) - 1);
    let input = ParentInput {
        items,
        max_concurrency: handing.max_running.unwrap_or(0),
        tolerated_failure_count,
    };
    // Stopped while staging: nothing is started.
    if interrupt.is_cancelled() {
        return Ok(None);
    }
    let execution_arn = start(&clients.follow, &deployed, &name, &input).await?;
    let mut record = Record {
        parent_state_machine_arn: deployed.arn,
        execution_arn,
        map_run_arn: None,
        items: items_url,
        results_bucket: parent.staging.bucket().to_string(),
        results_prefix: parent.results(),
        rows: staged.rows,
        sync: parent.sync,
        results_read: false,
        reads: 0,
        redrives: 0,
    };
    // Recorded at once: a run dir that knows its parent never starts the rows again.
    record.save(run_dir)?;
    // The Map Run shows up a moment after the parent starts; `watch` and `status`
    // look again if it has not by then, or if the wait was cut short.
    record.map_run_arn = tokio::select! {
        found = find_map_run(&clients.follow, &record.execution_arn, 10) => found,
        _ = interrupt.cancelled() => None,
    };
    record.save(run_dir)?;
    tracing::info!(
        "handed {} rows to the Distributed Map of {} (Map Run {})",
        record.rows,
        record.execution_arn,
        record.map_run_arn.as_deref().unwrap_or("not started yet"),
    );
    Ok(Some(record))
}

/// Creates the parent state machine, or updates it when its definition or role
/// differ from this run's; returns it.
async fn deploy(
    client: &aws_sdk_sfn::Client,
    parent: &Parent,
    role_arn: &str,
) -> Result<StateMachine, Error> {
    let name = parent.name();
    let arn = parent.target.sibling_arn(&name);
    let deployed = |arn: String| StateMachine {
        arn,
        kind: Kind::Standard,
    };
    let definition = parent.definition();
    let text = serde_json::to_string_pretty(&definition).expect("definition serializes");
    let failed = |what: &str| Error::run(format!("{what} the parent state machine {arn}"));
    // Twice at most: another batch of the target may create it between the looks.
    for _ in 0..2 {
        let described = client
            .describe_state_machine()
            .state_machine_arn(&arn)
            .send()
            .await;
        let found = match described {
            Ok(found) => found,
            Err(e) if e.code() == Some("StateMachineDoesNotExist") => {
                let created = client
                    .create_state_machine()
                    .name(&name)
                    .definition(&text)
                    .role_arn(role_arn)
                    .r#type(StateMachineType::Standard)
                    .send()
                    .await;
                match created {
                    Ok(_) => {
                        tracing::info!("created the parent state machine {arn}");
                        return Ok(deployed(arn));
                    }
                    Err(e) if e.code() == Some("StateMachineAlreadyExists") => continue,
                    Err(e) => return Err(failed("creating")(error_text(&e))),
                }
            }
            Err(e) => return Err(failed("describing")(error_text(&e))),
        };
        let same = serde_json::from_str::<Value>(found.definition()).ok() == Some(definition)
            && found.role_arn() == role_arn;
        if !same {
            client
                .update_state_machine()
                .state_machine_arn(&arn)
                .definition(&text)
                .role_arn(role_arn)
                .send()
                .await
                .map_err(|e| failed("updating")(error_text(&e)))?;
            tracing::info!("updated the parent state machine {arn}");
        }
        return Ok(deployed(arn));
    }
    Err(failed("deploying")(
        "it was created and then deleted while being deployed".to_string(),
    ))
}

/// Starts the parent execution; one of that name (ours: the name holds the
/// staged bytes' hash) is taken as started.
async fn start(
    client: &aws_sdk_sfn::Client,
    parent: &StateMachine,
    name: &str,
    input: &ParentInput,
) -> Result<String, Error> {
    let started = client
        .start_execution()
        .state_machine_arn(&parent.arn)
        .name(name)
        .input(serde_json::to_string(input).expect("parent input serializes"))
        .send()
        .await;
    match started {
        Ok(out) => Ok(out.execution_arn),
        Err(e) if e.code() == Some("ExecutionAlreadyExists") => {
            let arn = parent.execution_arn(name);
            tracing::info!("{arn} was started before: following it, starting nothing new");
            Ok(arn)
        }
        Err(e) => Err(Error::run(format!("starting the parent execution {name}"))(
            error_text(&e),
        )),
    }
}

/// The parent execution's Map Run: AWS lists it a moment after the execution
/// starts, so this looks up to `looks` times, a second apart.
/// The parent's Map Run: as recorded, or as one look at ListMapRuns finds it.
async fn map_run_of(client: &aws_sdk_sfn::Client, record: &Record) -> Option<String> {
    match &record.map_run_arn {
        Some(arn) => Some(arn.clone()),
        None => find_map_run(client, &record.execution_arn, 1).await,
    }
}

async fn find_map_run(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
    looks: u32,
) -> Option<String> {
    for look in 0..looks {
        if look > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let listed = client
            .list_map_runs()
            .execution_arn(execution_arn)
            .send()
            .await;
        match listed {
            Ok(out) => {
                if let Some(run) = out.map_runs().first() {
                    return Some(run.map_run_arn().to_string());
                }
            }
            Err(e) => tracing::debug!("ListMapRuns {execution_arn}: {}", error_text(&e)),
        }
    }
    None
}

/// How `finish` follows.
#[derive(Clone, Copy)]
pub(crate) struct MapFollow {
    /// How long to follow, and how often to look.
    pub follow: FollowOptions,
    /// Whether the rows' executions are followed to their end too, once the Map
    /// Run's results are read (`watch`, `--wait`): with `.sync:2` only those it
    /// did not start (by an earlier local run into the run dir) still run.
    pub executions: bool,
    /// The progress display.
    pub progress: ProgressMode,
}

/// How following a batch handed to a Distributed Map ended.
pub(crate) enum MapEnd {
    /// The parent ended, its results were read: the batch's summary.
    Concluded(Box<Summary>),
    /// Following stopped first (a timeout, a signal): the batch goes on in AWS.
    StillInAws,
}

/// The end of `run --wait` and `watch` for a batch handed to a Distributed Map:
/// follows the parent execution to its end, reads the Map Run's results back into
/// the run log (once), follows the executions if asked, and writes the report and
/// summary as a local launch does. When following the parent stops first, the
/// batch goes on in AWS: nothing is written.
pub(crate) async fn finish(
    clients: &aws::Clients,
    batch: &Target<'_>,
    record: &mut Record,
    map_follow: MapFollow,
    stop: &CancellationToken,
) -> Result<MapEnd, Error> {
    let started = std::time::Instant::now();
    let (run_dir, follow, progress) = (batch.run_dir, map_follow.follow, map_follow.progress);
    let mut outcomes = Counts::default();
    if !record.results_read {
        let end = follow_parent(&clients.follow, run_dir, record, follow, progress, stop).await?;
        let Some(end) = end else {
            tracing::warn!(
                "the Map Run goes on in AWS: `sfn-batch watch {}` follows it to its end",
                run_dir.path().display()
            );
            return Ok(MapEnd::StillInAws);
        };
        if let Some(failure) = &end.failure {
            tracing::warn!("the parent execution ended {}: {failure}", end.status);
        }
        outcomes = read_back(clients, batch, record, &end).await?;
    }
    // Express executions cannot be followed (and `.sync:2` is not used for them).
    let follow_executions = map_follow.executions && batch.state_machine.kind == Kind::Standard;
    let ending = BatchEnd {
        follow: follow_executions.then_some((follow, progress)),
        // The Map made the calls, not this process.
        this_run: ThisRun {
            outcomes,
            elapsed_seconds: started.elapsed().as_secs_f64(),
            calls_per_second: 0.0,
            pacing: Pacing::default(),
            outages: Default::default(),
        },
        halted_at: None,
    };
    let summary = launch::conclude(clients, batch, ending, stop).await?;
    Ok(MapEnd::Concluded(Box::new(summary)))
}

/// `retry` of a batch handed to a Distributed Map: redrives the parent execution
/// (its Map Run takes up the rows that failed or never ran, under the same ARNs);
/// its results are read back again at the end.
pub(crate) async fn redrive(
    client: &aws_sdk_sfn::Client,
    run_dir: &RunDir,
    record: &mut Record,
) -> Result<(), Error> {
    // Recorded first: a retry killed after the call leaves results to read again.
    record.results_read = false;
    record.save(run_dir)?;
    // One token per redrive of this execution, numbered by AWS's count rather
    // than ours: a retry cut after its call (or a redrive from the console) must
    // not make the next one reuse a token, which AWS would answer without redriving.
    let described = describe_parent(client, record).await?;
    let this_redrive = described.redrive_count().unwrap_or(0).max(0) as u32 + 1;
    let execution = hex::encode(Sha256::digest(record.execution_arn.as_bytes()));
    let token = format!("sfn-batch-{}-redrive-{this_redrive}", &execution[..16]);
    client
        .redrive_execution()
        .execution_arn(&record.execution_arn)
        .client_token(token)
        .send()
        .await
        .map_err(|e| Error::run(format!("redriving {}", record.execution_arn))(error_text(&e)))?;
    record.redrives = this_redrive;
    record.save(run_dir)?;
    tracing::info!("redrove {}", record.execution_arn);
    Ok(())
}

/// How a batch handed to a Distributed Map stands, for `status`.
pub(crate) struct MapStatus {
    /// The parent execution's status, in AWS's word.
    pub parent: String,
    /// The Map Run and its item counts, when it has one and AWS described it.
    pub map_run: Option<(String, Ends)>,
    /// Whether the parent still runs (or a redrive of it is still to take effect).
    pub running: bool,
    /// Until the results are read into the run log, how the batch stands:
    /// running while nothing has failed, failing once a row has (in the Map Run,
    /// or as invalid here); `None` once they are read, when the run log speaks.
    pub unread: Option<Standing>,
}

/// `status` of a batch handed to a Distributed Map: its parent execution and its
/// Map Run's item counts; `invalid_rows`: the rows the run log has as invalid.
pub(crate) async fn status(
    client: &aws_sdk_sfn::Client,
    record: &Record,
    invalid_rows: u64,
) -> Result<MapStatus, Error> {
    let parent = describe_parent(client, record).await?;
    let map_run = map_run_of(client, record).await;
    let ended_badly = matches!(
        parent.status,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
    );
    let running = still_runs(&parent, record);
    // A parent that ended badly before its Map Run failed a row (its role cannot
    // read the items, say) fails the batch as much as a failed row does.
    let mut failing = invalid_rows > 0 || (ended_badly && !running);
    let map_run = match map_run {
        Some(map_run) => match item_counts(client, &map_run).await {
            Ok(ends) => {
                failing |= !ends.all_succeeded_so_far();
                Some((map_run, ends))
            }
            Err(e) => {
                tracing::warn!("DescribeMapRun {map_run}: {e}");
                None
            }
        },
        None => None,
    };
    Ok(MapStatus {
        parent: parent.status.as_str().to_string(),
        map_run,
        running,
        unread: (!record.results_read).then_some(match failing {
            true => Standing::Failing,
            false => Standing::Running,
        }),
    })
}

/// How `retry` takes up what failed in a batch handed to a Distributed Map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Redrive the parent execution: it ended FAILED, TIMED_OUT or ABORTED.
    Redrive,
    /// Launch the rows that failed, or that the Map Run never reached, from this
    /// host: the parent SUCCEEDED (its failures within the tolerance), or AWS
    /// marks it NOT_REDRIVABLE (closed more than 14 days ago, say).
    LaunchHere,
}

/// How `retry` takes up what failed; an error while the parent still runs, or
/// while the results of its Map Run are not read yet (`watch` reads them): a
/// redriven Map Run lists only the rows it ran again, and the rest must already
/// have their outcomes.
pub(crate) async fn how_to_retry(
    client: &aws_sdk_sfn::Client,
    run_dir: &Path,
    record: &Record,
) -> Result<Retry, Error> {
    let parent = describe_parent(client, record).await?;
    if still_runs(&parent, record) {
        return Err(Error::Usage(format!(
            "{} still runs: follow it with `sfn-batch watch`, then retry what failed",
            record.execution_arn
        )));
    }
    let retry = match parent.status {
        ExecutionStatus::Succeeded => {
            tracing::info!(
                "{} succeeded (its failures within the tolerance): it cannot be redriven",
                record.execution_arn
            );
            Retry::LaunchHere
        }
        _ if parent.redrive_status() == Some(&ExecutionRedriveStatus::NotRedrivable) => {
            tracing::warn!(
                "{} cannot be redriven: {}",
                record.execution_arn,
                parent
                    .redrive_status_reason()
                    .unwrap_or("AWS gives no reason")
            );
            Retry::LaunchHere
        }
        _ => Retry::Redrive,
    };
    let read = match retry {
        Retry::LaunchHere => record.results_read,
        // Read before, and cut since by a retry: redriving again is that retry's
        // to finish. A parent that started no Map Run has no results to read.
        Retry::Redrive => record.reads > 0 || map_run_of(client, record).await.is_none(),
    };
    match read {
        true => Ok(retry),
        false => Err(Error::Usage(format!(
            "the Map Run's results are not read yet: `sfn-batch watch {}` first",
            run_dir.display()
        ))),
    }
}

/// Whether the parent execution still runs, as far as this run knows: RUNNING,
/// PENDING_REDRIVE, or still showing the end before the last redrive `retry` made
/// (AWS applies a redrive after answering it), whose results are not the last.
fn still_runs(parent: &DescribeExecutionOutput, record: &Record) -> bool {
    let redrives = parent.redrive_count().unwrap_or(0).max(0) as u32;
    matches!(
        parent.status,
        ExecutionStatus::Running | ExecutionStatus::PendingRedrive
    ) || redrives < record.redrives
}

async fn describe_parent(
    client: &aws_sdk_sfn::Client,
    record: &Record,
) -> Result<DescribeExecutionOutput, Error> {
    client
        .describe_execution()
        .execution_arn(&record.execution_arn)
        .send()
        .await
        .map_err(|e| Error::run(format!("describing {}", record.execution_arn))(error_text(&e)))
}

/// How the parent execution ended.
pub(crate) struct ParentEnd {
    /// SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
    pub status: ExecutionStatus,
    /// Its output (the Map's: the Map Run and where its results are).
    pub output: Option<String>,
    /// Its error and cause, when it failed.
    pub failure: Option<String>,
}

/// The Map Run's item counts, as following counts executions.
async fn item_counts(client: &aws_sdk_sfn::Client, map_run_arn: &str) -> Result<Ends, String> {
    let described = client
        .describe_map_run()
        .map_run_arn(map_run_arn)
        .send()
        .await
        .map_err(|e| error_text(&e))?;
    let counts = described.item_counts();
    let n = |count: i64| count.max(0) as u64;
    Ok(counts.map_or_else(Ends::default, |c| Ends {
        succeeded: n(c.succeeded()),
        failed: n(c.failed()),
        timed_out: n(c.timed_out()),
        aborted: n(c.aborted()),
        unknown: 0,
        running: n(c.pending()) + n(c.running()),
    }))
}

/// Follows the parent execution to its end (or the timeout, or a signal), showing
/// its Map Run's item counts; `None` when it did not end.
pub(crate) async fn follow_parent(
    client: &aws_sdk_sfn::Client,
    run_dir: &RunDir,
    record: &mut Record,
    options: FollowOptions,
    progress: ProgressMode,
    stop: &CancellationToken,
) -> Result<Option<ParentEnd>, Error> {
    let mut display = FollowProgress::new(progress, record.rows);
    let deadline = options.timeout.map(|t| Instant::now() + t);
    loop {
        let parent = describe_parent(client, record).await?;
        if record.map_run_arn.is_none() {
            record.map_run_arn = find_map_run(client, &record.execution_arn, 1).await;
            if record.map_run_arn.is_some() {
                record.save(run_dir)?;
            }
        }
        if let Some(map_run) = &record.map_run_arn {
            match item_counts(client, map_run).await {
                Ok(ends) => display.consume(&Event::Swept(ends)),
                Err(e) => tracing::warn!("DescribeMapRun {map_run}: {e}"),
            }
        }
        if !still_runs(&parent, record) {
            display.finish();
            let failure = parent.error().map(|error| match parent.cause() {
                Some(cause) => format!("{error}: {cause}"),
                None => error.to_string(),
            });
            return Ok(Some(ParentEnd {
                status: parent.status,
                output: parent.output,
                failure,
            }));
        }
        let wake = Instant::now() + options.poll;
        let until = deadline.map_or(wake, |d| d.min(wake));
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = stop.cancelled() => {}
        }
        if stop.is_cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
            display.finish();
            return Ok(None);
        }
    }
}

/// Reads the Map Run's results back into the run log, one outcome per staged row
/// (unknown when its result cannot be found); returns the outcomes per status.
async fn read_back(
    clients: &aws::Clients,
    batch: &Target<'_>,
    record: &mut Record,
    end: &ParentEnd,
) -> Result<Counts, Error> {
    let last_row = batch.rows.last();
    let verdicts = match manifest_location(&clients.follow, record, end).await {
        Some((bucket, key)) => results::read(&clients.s3, &bucket, &key, last_row).await,
        None => Err("the parent execution started no Map Run".to_string()),
    };
    let (mut lookup, unknown) = match verdicts {
        Ok(verdicts) => {
            let lookup = verdicts
                .lookup()
                .map_err(Error::run("reading the results back"))?;
            (
                Some(lookup),
                "the Map Run's results do not list it".to_string(),
            )
        }
        // Read before (and redriven since, or about to be): the rows keep what
        // that read gave them rather than turn unknown.
        Err(e) if record.reads > 0 => {
            tracing::warn!(
                "the Map Run's results cannot be read again ({e}): the rows keep their \
                 outcomes from the last read; the next `watch` reads them again"
            );
            (None, String::new())
        }
        Err(e) => {
            tracing::warn!(
                "the Map Run's results cannot be read: the rows are unknown until the next \
                 `watch` reads them: {e}"
            );
            (None, format!("the Map Run's results cannot be read ({e})"))
        }
    };
    let run_dir = batch.run_dir;
    let log_path = run_dir.file(RESULTS);
    let writing = || Error::run(format!("writing {}", log_path.display()));
    let intact = runlog::intact_length(&log_path).map_err(writing())?;
    let mut log = RunLog::append_to(&log_path, intact).map_err(writing())?;
    let staged_path = run_dir.file(STAGED);
    // The outcomes, counted for this run's summary, and at `-vv` one line each.
    let mut counts = Counts::default();
    let mut consumers = (RowLog, &mut counts);
    let mut failure = None;
    // Staged in row order: the verdicts are looked up in row order too.
    runlog::read(&staged_path, |_, staged| {
        if failure.is_some() {
            return;
        }
        let verdict = match &mut lookup {
            Some(lookup) => match lookup.get(staged.row) {
                Ok(verdict) => verdict,
                Err(e) => {
                    failure = Some(Error::run("reading the results back")(e));
                    return;
                }
            },
            None => None,
        };
        // Read again (after a redrive), a row the new results do not list keeps
        // the outcome the last read gave it.
        if verdict.is_none() && record.reads > 0 {
            return;
        }
        let outcome = results::judge(staged, verdict.as_ref(), batch.state_machine, &unknown);
        match log.append(&outcome) {
            Ok(offset) => consumers.consume(&Event::Launched {
                outcome: &outcome,
                offset,
            }),
            Err(e) => failure = Some(writing()(e)),
        }
    })
    .map_err(Error::run(format!("reading {}", staged_path.display())))?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    // Unreadable results are read again by the next `watch`.
    if lookup.is_some() {
        record.results_read = true;
        record.reads += 1;
        record.save(run_dir)?;
    }
    Ok(counts)
}

/// Where the Map Run's `manifest.json` is: as the parent's output says, or where
/// the ResultWriter of the definition it ran puts it (`<prefix>/<map run id>/...`:
/// another batch may have updated the parent since), or, failing that, where this
/// run's definition does.
async fn manifest_location(
    client: &aws_sdk_sfn::Client,
    record: &Record,
    end: &ParentEnd,
) -> Option<(String, String)> {
    let output: Value = end
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or_default();
    let details = &output["ResultWriterDetails"];
    if let (Some(bucket), Some(key)) = (details["Bucket"].as_str(), details["Key"].as_str()) {
        return Some((bucket.to_string(), key.to_string()));
    }
    let id = record.map_run_arn.as_deref()?.rsplit(':').next()?;
    let ran = client
        .describe_state_machine_for_execution()
        .execution_arn(&record.execution_arn)
        .send()
        .await;
    let definition: Value = match ran {
        Ok(ran) => serde_json::from_str(ran.definition()).unwrap_or_default(),
        Err(e) => {
            tracing::debug!("DescribeStateMachineForExecution: {}", error_text(&e));
            Value::Null
        }
    };
    let writer = &definition["States"]["StartRows"]["ResultWriter"]["Parameters"];
    let (bucket, prefix) = match (writer["Bucket"].as_str(), writer["Prefix"].as_str()) {
        (Some(bucket), Some(prefix)) => (bucket, prefix),
        _ => (
            record.results_bucket.as_str(),
            record.results_prefix.as_str(),
        ),
    };
    let prefix = prefix.trim_end_matches('/');
    Some((bucket.to_string(), format!("{prefix}/{id}/manifest.json")))
}
