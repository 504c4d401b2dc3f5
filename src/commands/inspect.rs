//! Commands on the run dir of an earlier run: `watch` follows its executions to
//! their end and rewrites its report; `status` shows where it stands, once.

use std::time::Instant;

use crate::cli::args::ReportArgs;
use crate::cli::options::{StatusOptions, WatchOptions};
use crate::commands::Finished;
use crate::commands::session::{self, EarlierRun, Session, batch_rows};
use crate::error::Error;
use crate::fanout;
use crate::launch::follow::{self as watch, Follow};
use crate::model::counts::Counts;
use crate::model::counts::Standing;
use crate::model::pacing::Pacing;
use crate::output::html;
use crate::output::{self, render};
use crate::record::report::{self, LastOutcomes};
use crate::record::run_dir::{Holder, RESULTS, SUMMARY, read_info};
use crate::record::summary::{RunFacts, Summary, ThisRun};

pub(crate) async fn watch(options: WatchOptions) -> Result<Finished, Error> {
    let session = Session::new(&options.aws).await?;
    let mut earlier = EarlierRun::open(&options.run_dir, "following")?;
    let rows = earlier.rows()?;
    let interrupt = session::interrupt(None);
    let arn = &earlier.info.state_machine_arn;
    if let Some(mut record) = earlier.map.take() {
        let state_machine = session.state_machine(arn, None).await?;
        let follow = fanout::MapFollow {
            follow: options.follow,
            executions: true,
            progress: options.progress,
        };
        let target = earlier.target(&state_machine, &rows);
        return session
            .follow_map(
                &target,
                &mut record,
                follow,
                options.report_to.as_ref(),
                &interrupt,
            )
            .await;
    }
    let state_machine = session.state_machine(arn, Some("watch")).await?;
    let EarlierRun { run_dir, info, .. } = earlier;
    let started = Instant::now();
    let followed = watch::follow_to_end(
        &session.clients,
        &state_machine,
        &run_dir,
        &rows,
        options.follow,
        options.progress,
        &interrupt,
    )
    .await?;
    let facts = RunFacts {
        batch_id: info.batch_id,
        state_machine_arn: info.state_machine_arn,
        this_run: ThisRun::new(Counts::default(), started.elapsed(), Pacing::default()),
        followed: Some(followed),
        interrupted: interrupt.is_cancelled(),
        halted_at: None,
    };
    let summary = Summary::write(&run_dir, &rows, facts)?;
    session
        .end_batch(summary, &run_dir, options.report_to.as_ref())
        .await
}

/// Prints the run's picture from its log, refreshed from AWS once; writes nothing,
/// so it works while the run is still going.
pub(crate) async fn status(options: StatusOptions) -> Result<Finished, Error> {
    // A live process still at work on the run dir: not finished, whatever its log
    // says so far. Asked first, so that a run ending meanwhile is not taken for
    // one that stopped short.
    let holder = Holder::of(&options.run_dir);
    let info = read_info(&options.run_dir)?;
    let rows = batch_rows(&options.run_dir)?;
    let counts = report::tally(&options.run_dir, &rows).map_err(Error::run(format!(
        "reading the run log in {}",
        options.run_dir.display()
    )))?;
    let session = Session::new(&options.aws).await?;
    let mut out = String::new();
    if let Some(holder) = &holder {
        out += &format!(
            "pid {} is still {}: {} of {} rows started\n",
            holder.pid,
            holder.doing,
            counts.started + counts.existing,
            rows.len()
        );
    }
    let standing = |standing| match holder {
        Some(_) => Standing::Running,
        None => standing,
    };
    if let Some(record) = fanout::Record::read(&options.run_dir)? {
        let map = fanout::status(&session.clients.follow, &record, counts.invalid).await?;
        out += &format!(
            "handed to a Distributed Map: {} rows staged at {}\n",
            record.rows, record.items
        );
        out += &format!(
            "parent execution {}: {}\n",
            record.execution_arn, map.parent
        );
        if let Some((map_run, ends)) = &map.map_run {
            out += &format!("Map Run {map_run}: {}\n", ends.human());
        }
        if let Some(unread) = map.unread {
            if !map.running {
                out += "its results are not read yet: `sfn-batch watch` reads them\n";
            }
            print(&out)?;
            return Ok(Finished::Status(standing(unread)));
        }
    }
    let state_machine = session
        .state_machine(&info.state_machine_arn, Some("status"))
        .await?;
    let log = options.run_dir.join(RESULTS);
    let reading = || Error::run(format!("reading {}", log.display()));
    let mut follow =
        Follow::from_log(&session.clients, &state_machine, &log, &rows).map_err(reading())?;
    if let Some(e) = follow.refresh().await.map_err(reading())? {
        tracing::warn!("could not refresh from AWS ({e}): as the run log last recorded it");
    }
    let ends = follow.ends();
    out += &format!(
        "run dir {}: batch {}, state machine {}\n",
        options.run_dir.display(),
        info.batch_id,
        info.state_machine_arn
    );
    out += &match holder {
        Some(_) => counts.human_so_far(rows.len()),
        None => counts.human(rows.len()),
    };
    out += &format!("\nexecutions: {}\n", ends.human());
    if let Some((arn, since)) = follow.oldest_running().map_err(reading())? {
        let since =
            jiff::Timestamp::from_second(since).map_or(since.to_string(), |t| t.to_string());
        out += &format!("oldest running: {arn}, since {since}\n");
    }
    for failure in follow.failures() {
        out += &format!("failed: {failure}\n");
    }
    print(&out)?;
    Ok(Finished::Status(standing(Standing::of(&counts, &ends))))
}

/// `status`'s picture on stdout, at once: a reader that leaves early is no error.
fn print(text: &str) -> Result<(), Error> {
    output::to_stdout(|out| out.write_all(text.as_bytes()))
        .map_err(Error::run("writing the status"))
}

/// `sfn-batch report`: the run's picture from its run log, on stdout. No AWS, no
/// lock: it works on a run still going, or on a copy of a run dir.
pub(crate) fn report(args: &ReportArgs) -> Result<Finished, Error> {
    let run_dir = args.run_dir.as_path();
    let info = read_info(run_dir)?;
    let rows = batch_rows(run_dir)?;
    let reading = |what: &str| Error::run(format!("reading {}", run_dir.join(what).display()));
    let outcomes = LastOutcomes::read(&run_dir.join(RESULTS), &rows).map_err(reading(RESULTS))?;
    let tally = outcomes.tally(&rows).map_err(reading(RESULTS))?;
    // What only the last summary knows (this run's pace, following's cost); a run
    // killed before its end has none, or an older one.
    let saved = std::fs::read(run_dir.join(SUMMARY))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let summary = Summary::from_log(run_dir, &info, &rows, tally, saved);
    match &args.html {
        Some(path) => {
            let page = html::page(&summary, &outcomes, &rows).map_err(reading(RESULTS))?;
            std::fs::write(path, page)
                .map_err(Error::run(format!("writing {}", path.display())))?;
            tracing::info!("wrote {}", path.display());
        }
        None => output::to_stdout(|out| {
            render::write(args.format.into(), &summary, &outcomes, &rows, out)
        })
        .map_err(Error::run("writing the report"))?,
    }
    Ok(Finished::Printed)
}
