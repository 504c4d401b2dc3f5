//! Launching a stream of work into a run dir, for `run` and `retry`: the launcher
//! turns each row into an outcome, which is logged (then shown) as it comes; the
//! window of running executions and the failure limit act on the same stream.

use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::aws;
use crate::aws::sfn::StateMachine;
use crate::error::Error;
use crate::launch::follow::{self as watch, Follow};
use crate::launch::launcher::LaunchOptions;
use crate::launch::launcher::{Launcher, Window, Work};
use crate::launch::rate::Pacer;
use crate::model::counts::Counts;
use crate::model::outcome::{Outcome, Status};
use crate::model::pacing::Pacing;
use crate::model::settings::FollowOptions;
use crate::model::settings::MaxFailures;
use crate::output::progress::{Progress, ProgressMode};
use crate::output::publish::ReportTo;
use crate::output::render;
use crate::record::batch_rows::BatchRows;
use crate::record::run_dir::{RESULTS, RunDir};
use crate::record::runlog::{OffsetReader, RunLog};
use crate::record::summary::{RunFacts, Summary, ThisRun};
use std::num::NonZeroU32;

/// How rows are launched and followed, for `run` and `retry`.
#[derive(Debug, Clone)]
pub(crate) struct Launching {
    /// `--rate`: the most StartExecution calls per second.
    pub rate: f64,
    /// `--burst`: calls that may go at once after a quiet spell.
    pub burst: NonZeroU32,
    /// How the launcher calls.
    pub launch: LaunchOptions,
    /// `--max-failures`, if given.
    pub max_failures: Option<MaxFailures>,
    /// Never `Auto`: resolved here.
    pub progress: ProgressMode,
    /// `--wait`: follow the executions to their end.
    pub wait: Option<FollowOptions>,
    /// `--max-running`, and how often to look for closed executions.
    pub max_running: Option<(u64, Duration)>,
    /// `--report-to`, `{date}` filled in.
    pub report_to: Option<ReportTo>,
}

/// What a launch did.
pub(crate) struct LaunchEnd {
    /// This launch's outcomes, per status.
    pub outcomes: Counts,
    /// How long it took.
    pub elapsed: Duration,
    /// The pace at the end, and the throttles answered on the way.
    pub pacing: Pacing,
    /// The failure count that stopped the launch (`--max-failures`), if it did.
    pub halted_at: Option<u64>,
}

/// Where a launch goes: the batch, its state machine, its rows and its run dir.
pub(crate) struct Target<'a> {
    /// The batch id.
    pub batch_id: &'a str,
    /// The state machine the rows start.
    pub state_machine: &'a StateMachine,
    /// The batch's rows.
    pub rows: &'a BatchRows,
    /// The run dir, whose log the outcomes go to.
    pub run_dir: &'a RunDir,
}

/// Launches `work` (`to_do` rows) until it ends or `interrupt` fires, logging
/// every outcome (through `log`, the run dir's) before it is shown.
pub(crate) async fn launch(
    settings: &Launching,
    clients: &aws::Clients,
    target: &Target<'_>,
    log: &mut RunLog,
    mut work: mpsc::Receiver<Work>,
    to_do: u64,
    interrupt: &CancellationToken,
) -> Result<LaunchEnd, Error> {
    let Target {
        state_machine,
        rows,
        run_dir,
        ..
    } = *target;
    let log_path = &run_dir.file(RESULTS);
    let log_error = || Error::run(format!("writing {}", log_path.display()));
    // `--max-failures` stops the launch as halted, not interrupted.
    let stop = interrupt.child_token();
    let failure_limit = settings.max_failures.map(|m| m.limit(to_do));
    let mut halted_at = None;
    let mut window = match settings.max_running {
        Some((max, poll)) => Some(
            Windowed::open(
                clients.follow.clone(),
                state_machine,
                log_path,
                rows,
                max,
                poll,
            )
            .map_err(Error::run(format!("reading {}", log_path.display())))?,
        ),
        None => None,
    };
    let launcher = Arc::new(
        Launcher::new(
            Arc::new(clients.sfn.clone()),
            state_machine.clone(),
            Pacer::new(settings.rate, settings.burst),
            settings.launch.clone(),
        )
        .with_window(window.as_ref().map(|w| w.window.clone())),
    );
    let mut progress = Progress::new(settings.progress, to_do);
    {
        let work = futures::stream::poll_fn(|cx| work.poll_recv(cx));
        let mut outcomes = pin!(launcher.launch_all(work, &stop));
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                next = outcomes.next() => match next {
                    Some(outcome) => {
                        let offset = log.append(&outcome).map_err(log_error())?;
                        tracing::trace!(
                            row = outcome.row,
                            status = outcome.status.as_str(),
                            "row {}: {} {}",
                            outcome.row,
                            outcome.status.as_str(),
                            outcome.name.as_deref().unwrap_or_default()
                        );
                        progress.record(outcome.status);
                        if let Some(window) = &mut window {
                            window.started(&outcome, offset);
                        }
                        let failed = progress.counts().failed;
                        if halted_at.is_none() && failure_limit.is_some_and(|l| failed >= l) {
                            tracing::warn!(
                                "{failed} rows failed to start (--max-failures): \
                                 no new starts, waiting for calls in flight"
                            );
                            halted_at = Some(failed);
                            stop.cancel();
                        }
                    }
                    None => break,
                },
                _ = ticker.tick() => progress.tick(launcher.pacer().pacing()),
                _ = Windowed::due(&mut window) => {
                    let window = window.as_mut().expect("due only with a window");
                    window.free_closed(log).await.map_err(log_error())?;
                }
            }
        }
    }
    progress.tick(launcher.pacer().pacing());
    progress.finish();
    Ok(LaunchEnd {
        outcomes: progress.counts(),
        elapsed: progress.elapsed(),
        pacing: launcher.pacer().pacing(),
        halted_at,
    })
}

/// The end of `run` and `retry`: follows the executions to their end if asked
/// (`--wait`, not after an interrupt), then writes the report and the summary.
pub(crate) async fn finish(
    settings: &Launching,
    clients: &aws::Clients,
    target: &Target<'_>,
    launched: LaunchEnd,
    interrupt: &CancellationToken,
) -> Result<Summary, Error> {
    let follow = match settings.wait {
        Some(follow) if !interrupt.is_cancelled() => Some((follow, settings.progress)),
        _ => None,
    };
    let this_run = ThisRun::new(launched.outcomes, launched.elapsed, launched.pacing);
    let ending = BatchEnd {
        follow,
        this_run,
        halted_at: launched.halted_at,
        report_to: settings.report_to.as_ref(),
    };
    conclude(clients, target, ending, interrupt).await
}

/// How a command that went through a batch ends.
pub(crate) struct BatchEnd<'a> {
    /// Follow the executions to their end first, with this display.
    pub follow: Option<(FollowOptions, ProgressMode)>,
    /// What this invocation did.
    pub this_run: ThisRun,
    /// The failure count that stopped the launch (`--max-failures`), if it did.
    pub halted_at: Option<u64>,
    /// `--report-to`.
    pub report_to: Option<&'a ReportTo>,
}

/// The end of every command that went through a batch (`run`, `retry`, and a
/// Distributed Map's `watch`): follows the executions if asked, writes the
/// report and the summary, logs it, and uploads the run's files if asked.
pub(crate) async fn conclude(
    clients: &aws::Clients,
    target: &Target<'_>,
    ending: BatchEnd<'_>,
    interrupt: &CancellationToken,
) -> Result<Summary, Error> {
    let followed = match ending.follow {
        Some((follow, progress)) => Some(
            watch::follow_to_end(
                clients.follow.clone(),
                target.state_machine,
                target.run_dir,
                target.rows,
                follow,
                progress,
                interrupt,
            )
            .await?,
        ),
        None => None,
    };
    let facts = RunFacts {
        batch_id: target.batch_id.to_string(),
        state_machine_arn: target.state_machine.arn.clone(),
        this_run: ending.this_run,
        followed,
        interrupted: interrupt.is_cancelled(),
        halted_at: ending.halted_at,
    };
    let summary = Summary::write(target.run_dir, target.rows, facts)?;
    render::log_summary(&summary);
    if let Some(report_to) = ending.report_to {
        report_to
            .upload_after(&clients.s3, target.run_dir, summary.exit_code)
            .await?;
    }
    Ok(summary)
}

/// `--max-running`: the window, and the follower that frees a place in it for each
/// of the run's executions it sees closed (logging how it ended).
struct Windowed {
    window: Arc<Window>,
    follow: Follow,
    lines: OffsetReader,
    poll: tokio::time::Interval,
}

impl Windowed {
    fn open(
        client: aws_sdk_sfn::Client,
        state_machine: &StateMachine,
        log_path: &Path,
        rows: &BatchRows,
        max: u64,
        poll: Duration,
    ) -> std::io::Result<Windowed> {
        // Executions still open from before the resume hold their places.
        let follow = Follow::from_log(client, state_machine, log_path, rows)?;
        // A look that took longer than --poll is not followed by a burst of looks.
        let mut poll = tokio::time::interval(poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Windowed {
            window: Arc::new(Window::new(max, follow.open_executions())),
            follow,
            lines: OffsetReader::open(log_path)?,
            poll,
        })
    }

    fn started(&mut self, outcome: &Outcome, offset: u64) {
        if let (Status::Started, Some(arn)) = (outcome.status, &outcome.execution_arn) {
            let start = outcome.start_date.as_deref();
            self.follow
                .add_open(outcome.row, arn.clone(), offset, start);
        }
    }

    /// Ready when it is time to look for closed executions; never without a window.
    async fn due(window: &mut Option<Windowed>) {
        match window {
            Some(window) => {
                window.poll.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    async fn free_closed(&mut self, log: &mut RunLog) -> std::io::Result<()> {
        for _ in 0..self.follow.log_ends(log, &mut self.lines).await? {
            self.window.closed();
        }
        Ok(())
    }
}
