//! `run --engine distributed-map`: the checked rows staged and handed to a
//! Distributed Map, then followed if asked.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::batch::{BatchPlan, Resume, spawn_reader};
use super::run_name;
use crate::cli::options::{DistributedMap, RunOptions};
use crate::commands::Finished;
use crate::commands::session::Session;
use crate::error::Error;
use crate::fanout::{
    self,
    definition::Parent,
    stage::{Staged, Stager},
};
use crate::launch::work::Work;
use crate::launch::{LaunchEnd, Target};
use crate::model::counts::Counts;
use crate::model::outage::Outages;
use crate::model::pacing::Pacing;
use crate::plan::source::ManifestError;
use crate::record::report;
use crate::record::run_dir::{RESULTS, RunDir};
use crate::record::runlog::RunLog;

/// `--engine distributed-map`: hands the batch to a Distributed Map (a run dir
/// that has handed it over already only follows it), then follows it with
/// `--wait`. Without `--wait`, the hand-off is the end: exit 0, or 1 for rows
/// skipped as invalid.
pub(super) async fn run_distributed(to_map: ToMap<'_>, resume: Resume) -> Result<Finished, Error> {
    let ToMap {
        options,
        target,
        session,
        interrupt,
        ..
    } = to_map;
    let run_dir = target.run_dir;
    let mut record = match fanout::Record::read(run_dir.path())? {
        Some(record) => {
            tracing::info!(
                "{}: handed to {} already; starting nothing new",
                run_dir.path().display(),
                record.execution_arn
            );
            record
        }
        None => match first_hand_off(&to_map, resume).await? {
            HandOff::Handed(record) => record,
            HandOff::Ended(finished) => return Ok(finished),
        },
    };
    // Once its results are read, a batch ends as they say, followed or not.
    if options.launching.wait.is_none() && !record.results_read {
        println!(
            "handed {} rows to {}; `sfn-batch watch {}` follows it and reads its results",
            record.rows,
            record.execution_arn,
            run_dir.path().display()
        );
        let counts = report::tally(run_dir.path(), target.rows).map_err(Error::run(format!(
            "reading {}",
            run_dir.file(RESULTS).display()
        )))?;
        return Ok(Finished::HandedOver {
            invalid: counts.invalid,
        });
    }
    let follow = fanout::MapFollow {
        follow: options.launching.wait.unwrap_or_default(),
        executions: options.launching.wait.is_some(),
        progress: options.launching.progress,
    };
    session
        .follow_map(
            target,
            &mut record,
            follow,
            options.launching.report_to.as_ref(),
            interrupt,
        )
        .await
}

/// A batch on its way to a Distributed Map, and what handing it over needs.
#[derive(Clone, Copy)]
pub(super) struct ToMap<'a> {
    pub(super) options: &'a RunOptions,
    pub(super) map: &'a DistributedMap,
    pub(super) batch: &'a BatchPlan,
    pub(super) target: &'a Target<'a>,
    pub(super) session: &'a Session,
    pub(super) interrupt: &'a CancellationToken,
}

/// What a first hand-off came to.
pub(super) enum HandOff {
    /// The batch is with the Distributed Map.
    Handed(fanout::Record),
    /// Nothing was handed over (no row left, or interrupted first): how the run ended.
    Ended(Finished),
}

/// The second pass stages the rows not done yet instead of launching them (the
/// invalid ones, and those done under another row number, are logged as a local
/// launch logs them), and hands them over.
pub(super) async fn first_hand_off(to_map: &ToMap<'_>, resume: Resume) -> Result<HandOff, Error> {
    let ToMap {
        options,
        map,
        batch,
        target,
        session,
        interrupt,
    } = *to_map;
    let staged = stage(batch, resume, target.run_dir).await?;
    if staged.rows == 0 {
        // Every row is done, or invalid: a Map Run would have nothing to do.
        tracing::info!("no rows to hand over");
        let launched = LaunchEnd {
            outcomes: Counts::default(),
            elapsed: Duration::ZERO,
            pacing: Pacing::default(),
            halted_at: None,
            outages: Outages::default(),
        };
        let finished = session
            .end_launch(target, launched, &options.launching, interrupt)
            .await?;
        return Ok(HandOff::Ended(finished));
    }
    let handing = fanout::Handing {
        parent: parent(options, map, batch),
        role_arn: &map.role_arn,
        run_name: &run_name(options, batch),
        max_running: options.launching.max_running.map(|(max, _)| max),
        max_failures: options.launching.max_failures,
    };
    match fanout::hand_off(&session.clients, target.run_dir, handing, staged, interrupt).await? {
        Some(record) => Ok(HandOff::Handed(record)),
        None => Ok(HandOff::Ended(Finished::Interrupted)),
    }
}

/// Stages the rows the second pass sends to start, and logs the others.
pub(super) async fn stage(
    batch: &BatchPlan,
    resume: Resume,
    run_dir: &RunDir,
) -> Result<Staged, Error> {
    let log_path = run_dir.file(RESULTS);
    let log_error = || Error::run(format!("writing {}", log_path.display()));
    let mut log = RunLog::append_to(&log_path, resume.log_intact).map_err(log_error())?;
    let staging_error = || Error::run(format!("staging the rows in {}", run_dir.path().display()));
    let mut stager = Stager::create(run_dir.path()).map_err(staging_error())?;
    let (mut work, reader) = spawn_reader(batch, resume.settled);
    while let Some(work) = work.recv().await {
        match work {
            Work::Start(launch) => stager.add(launch).map_err(staging_error())?,
            Work::Known(outcome) => log.append(&outcome).map(|_| ()).map_err(log_error())?,
            Work::Again(_) => unreachable!("only `retry` launches rows again"),
        }
    }
    reader
        .await
        .expect("manifest reader panicked")
        .map_err(Error::run::<ManifestError>("reading the manifest again"))?;
    stager.finish().map_err(staging_error())
}

/// The parent state machine of a batch handed to a Distributed Map.
pub(super) fn parent(options: &RunOptions, map: &DistributedMap, batch: &BatchPlan) -> Parent {
    Parent {
        target: batch.state_machine.clone(),
        staging: map.staging.clone(),
        sync: options.launching.wait.is_some(),
        max_attempts: options.launching.launch.max_attempts,
    }
}
