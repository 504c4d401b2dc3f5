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
use crate::sfn::{self, Kind};
use crate::summary::{self, Summary, ThisRun};
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
    let counts = report::write(&run_dir, &rows).map_err(Error::run(format!(
        "writing the report in {}",
        run_dir.path().display()
    )))?;
    let interrupted = interrupt.is_cancelled();
    let summary = Summary {
        batch_id: info.batch_id,
        state_machine_arn: info.state_machine_arn,
        run_dir: run_dir.path().display().to_string(),
        rows: rows.len(),
        counts,
        this_run: ThisRun::new(Counts::default(), started.elapsed(), Pacing::default()),
        followed: Some(followed),
        interrupted,
        halted_at: None,
        exit_code: summary::exit_code(&counts, Some(&followed.ends), interrupted),
    };
    summary.save(&run_dir)?;
    eprint!("{}", summary.human());
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
        eprintln!("could not refresh from AWS ({e}): as the run log last recorded it");
    }
    let ends = follow.ends();
    println!(
        "run dir {}: batch {}, state machine {}",
        options.run_dir.display(),
        info.batch_id,
        info.state_machine_arn
    );
    println!(
        "{} rows: {} started, {} existing, {} failed, {} invalid, {} not attempted",
        rows.len(),
        counts.started,
        counts.existing,
        counts.failed,
        counts.invalid,
        counts.not_attempted
    );
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

/// The unqualified state machine ARN to list executions of; Express executions
/// cannot be followed.
async fn followable(clients: &aws::Clients, arn: &str) -> Result<String, Error> {
    let state_machine = sfn::resolve(&clients.sfn, arn, &clients.region).await?;
    if state_machine.kind == Kind::Express {
        return Err(Error::Usage(format!(
            "{arn} is an Express state machine: AWS does not list or describe Express \
             executions, so they cannot be followed (their results are in CloudWatch Logs)"
        )));
    }
    Ok(state_machine.arn)
}

fn batch_rows(run_dir: &std::path::Path) -> Result<BatchRows, Error> {
    let path = run_dir.join(ROWS);
    BatchRows::load(&path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}
