//! Commands on the run dir of an earlier run: `watch` follows its executions to
//! their end and rewrites its report; `status` shows where it stands, once.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::aws;
use crate::error::{Error, exit};
use crate::options::{StatusOptions, WatchOptions};
use crate::rate::Pacing;
use crate::report::{self, BatchRows, Counts};
use crate::run::{Finished, watch_signals};
use crate::runlog::{self, ROWS, RunDir};
use crate::sfn::{self, Kind, StateMachine};
use crate::summary::{self, Facts, Summary, ThisRun};
use crate::watch::{self, Follow};

pub async fn watch(options: WatchOptions) -> Result<Finished, Error> {
    let clients = aws::clients(&options.aws).await;
    let (run_dir, info) = RunDir::reopen(&options.run_dir)?;
    let state_machine = followable(&clients, &info.state_machine_arn).await?;
    let rows = batch_rows(&options.run_dir)?;
    let interrupt = CancellationToken::new();
    watch_signals(interrupt.clone());
    let started = Instant::now();
    let followed = watch::follow_to_end(
        clients.follow,
        &state_machine,
        &run_dir,
        &rows,
        options.follow,
        options.progress,
        &interrupt,
    )
    .await?;
    let facts = Facts {
        batch_id: info.batch_id,
        state_machine_arn: info.state_machine_arn,
        this_run: ThisRun::new(Counts::default(), started.elapsed(), Pacing::default()),
        followed: Some(followed),
        interrupted: interrupt.is_cancelled(),
        halted_at: None,
    };
    let summary = Summary::write(&run_dir, &rows, facts)?;
    summary.log();
    Ok(Finished::Run(Box::new(summary)))
}

/// Prints the run's picture from its log, refreshed from AWS once; writes nothing,
/// so it works while the run is still going.
pub async fn status(options: StatusOptions) -> Result<Finished, Error> {
    let clients = aws::clients(&options.aws).await;
    let info = runlog::read_info(&options.run_dir)?;
    let state_machine = followable(&clients, &info.state_machine_arn).await?;
    let rows = batch_rows(&options.run_dir)?;
    let counts = report::tally(&options.run_dir, &rows).map_err(Error::run(format!(
        "reading the run log in {}",
        options.run_dir.display()
    )))?;
    let log = options.run_dir.join(runlog::RESULTS);
    let mut follow = Follow::from_log(clients.follow, &state_machine, &log, Some(&rows))
        .map_err(Error::run(format!("reading {}", log.display())))?;
    if let Some(e) = follow.refresh().await {
        tracing::warn!("could not refresh from AWS ({e}): as the run log last recorded it");
    }
    let ends = follow.ends();
    println!(
        "run dir {}: batch {}, state machine {}",
        options.run_dir.display(),
        info.batch_id,
        info.state_machine_arn
    );
    println!("{}", counts.human(rows.len()));
    println!("executions: {}", ends.human());
    if let Some((arn, since)) = follow.oldest_running() {
        let since =
            jiff::Timestamp::from_second(since).map_or(since.to_string(), |t| t.to_string());
        println!("oldest running: {arn}, since {since}");
    }
    for failure in follow.failures() {
        println!("failed: {failure}");
    }
    // Nothing failed yet, but executions still run: neither success nor failure.
    let still_running = ends.running > 0 && ends.all_succeeded_so_far() && counts.all_done();
    Ok(Finished::Status {
        exit_code: match still_running {
            true => exit::IN_PROGRESS,
            false => summary::exit_code(&counts, Some(&ends), false),
        },
    })
}

/// The run's state machine, checked; Express executions cannot be followed.
async fn followable(clients: &aws::Clients, arn: &str) -> Result<StateMachine, Error> {
    let state_machine = sfn::resolve(&clients.sfn, arn, &clients.region).await?;
    if state_machine.kind == Kind::Express {
        return Err(Error::Usage(format!(
            "{arn} is an Express state machine: AWS does not list or describe Express \
             executions, so they cannot be followed (their results are in CloudWatch Logs)"
        )));
    }
    Ok(state_machine)
}

pub(crate) fn batch_rows(run_dir: &std::path::Path) -> Result<BatchRows, Error> {
    let path = run_dir.join(ROWS);
    BatchRows::load(&path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}
