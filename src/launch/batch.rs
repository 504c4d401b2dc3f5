//! Launching a stream of work into a run dir, for `run` and `retry`: the launcher
//! turns each row into an outcome, which is logged, then emitted as an event to
//! the consumers of a launch (the row log, the progress display, the window of
//! running executions, the failure limit); and the end of every command that went
//! through a batch (`conclude`).

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
use crate::launch::breaker::Breaker;
use crate::launch::follow::{self as watch, Follow};
use crate::launch::launcher::Launcher;
use crate::launch::rate::Pacer;
use crate::launch::window::Window;
use crate::launch::work::Work;
use crate::model::counts::Counts;
use crate::model::event::{Consumer, Event};
use crate::model::outage::Outages;
use crate::model::outcome::Status;
use crate::model::pacing::Pacing;
use crate::model::settings::FollowOptions;
use crate::model::settings::LaunchOptions;
use crate::model::settings::MaxFailures;
use crate::output::log::RowLog;
use crate::output::progress::{Progress, ProgressMode};
use crate::output::publish::ReportTo;
use crate::record::batch_rows::BatchRows;
use crate::record::run_dir::{RESULTS, RunDir};
use crate::record::runlog::RunLog;
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
    /// The spells in which AWS could not be reached.
    pub outages: Outages,
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
    let window = match settings.max_running {
        Some((max, poll)) => Some(
            Windowed::open(clients, state_machine, log_path, rows, max, poll)
                .map_err(Error::run(format!("reading {}", log_path.display())))?,
        ),
        None => None,
    };
    let launcher = Arc::new(
        Launcher::new(
            Arc::new(clients.sfn.clone()),
            state_machine.clone(),
            Pacer::new(settings.rate, settings.burst),
            Breaker::new(clients.outage_budget, stop.clone()),
            settings.launch.clone(),
        )
        .with_window(window.as_ref().map(|w| w.window.clone())),
    );
    let mut consumers = LaunchConsumers {
        row_log: RowLog,
        progress: Progress::new(settings.progress, to_do),
        window,
        limit: FailureLimit {
            limit: settings.max_failures.map(|m| m.limit(to_do)),
            failed: 0,
            halted_at: None,
            stop: stop.clone(),
        },
    };
    {
        let work = futures::stream::poll_fn(|cx| work.poll_recv(cx));
        let mut outcomes = pin!(launcher.launch_all(work, &stop));
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                next = outcomes.next() => match next {
                    Some(outcome) => {
                        let offset = log.append(&outcome).map_err(log_error())?;
                        consumers.consume(&Event::Launched { outcome: &outcome, offset });
                    }
                    None => break,
                },
                _ = ticker.tick() => match launcher.breaker().outage() {
                    Some(outage) => consumers.consume(&Event::Paused(&outage)),
                    None => consumers.consume(&Event::Paced(launcher.pacer().pacing())),
                },
                _ = Windowed::due(&mut consumers.window) => {
                    let window = consumers.window.as_mut().expect("due only with a window");
                    window.free_closed(log).await.map_err(log_error())?;
                }
            }
        }
    }
    // Stopped early: the rows not reached are logged `not_attempted`, with their
    // names and fields, so that the report lists them as planned; a resume starts
    // them. This reads the rest of the plan, at validation's speed, with no call.
    if stop.is_cancelled() {
        while let Some(work) = work.recv().await {
            if let Some(outcome) = work.not_reached() {
                let offset = log.append(&outcome).map_err(log_error())?;
                consumers.consume(&Event::Launched {
                    outcome: &outcome,
                    offset,
                });
            }
        }
    }
    let LaunchConsumers {
        mut progress,
        limit,
        ..
    } = consumers;
    progress.consume(&Event::Paced(launcher.pacer().pacing()));
    progress.finish();
    Ok(LaunchEnd {
        outcomes: progress.counts(),
        elapsed: progress.elapsed(),
        pacing: launcher.pacer().pacing(),
        halted_at: limit.halted_at,
        outages: launcher.breaker().outages(),
    })
}

/// What a launch's outcomes feed, in this order, each once its line is logged.
struct LaunchConsumers {
    row_log: RowLog,
    progress: Progress,
    window: Option<Windowed>,
    limit: FailureLimit,
}

impl Consumer for LaunchConsumers {
    fn consume(&mut self, event: &Event<'_>) {
        self.row_log.consume(event);
        self.progress.consume(event);
        self.window.consume(event);
        self.limit.consume(event);
    }
}

/// `--max-failures`: once this many rows failed to start, no new starts (the
/// launch ends halted, not interrupted).
struct FailureLimit {
    limit: Option<u64>,
    failed: u64,
    /// The failure count that stopped the launch, once it did.
    halted_at: Option<u64>,
    stop: CancellationToken,
}

impl Consumer for FailureLimit {
    fn consume(&mut self, event: &Event<'_>) {
        let Event::Launched { outcome, .. } = event else {
            return;
        };
        if outcome.status != Status::Failed {
            return;
        }
        self.failed += 1;
        let failed = self.failed;
        if self.halted_at.is_none() && self.limit.is_some_and(|l| failed >= l) {
            tracing::warn!(
                "{failed} rows failed to start (--max-failures): \
                 no new starts, waiting for calls in flight"
            );
            self.halted_at = Some(failed);
            self.stop.cancel();
        }
    }
}

impl LaunchEnd {
    /// How `run` and `retry` end after this launch: the executions followed to
    /// their end if asked (`--wait`, not after an interrupt), then the report and
    /// the summary.
    pub(crate) fn batch_end(self, settings: &Launching, interrupt: &CancellationToken) -> BatchEnd {
        let gave_up = self.outages.gave_up_after_seconds.is_some();
        let follow = match settings.wait {
            Some(follow) if !interrupt.is_cancelled() && !gave_up => {
                Some((follow, settings.progress))
            }
            _ => None,
        };
        BatchEnd {
            follow,
            this_run: ThisRun {
                outages: self.outages,
                ..ThisRun::new(self.outcomes, self.elapsed, self.pacing)
            },
            halted_at: self.halted_at,
        }
    }
}

/// How a command that went through a batch ends.
pub(crate) struct BatchEnd {
    /// Follow the executions to their end first, with this display.
    pub follow: Option<(FollowOptions, ProgressMode)>,
    /// What this invocation did.
    pub this_run: ThisRun,
    /// The failure count that stopped the launch (`--max-failures`), if it did.
    pub halted_at: Option<u64>,
}

/// The end of every command that went through a batch (`run`, `retry`, and a
/// Distributed Map's `watch`): follows the executions if asked, writes the
/// report and the summary from the run log, and returns the summary.
pub(crate) async fn conclude(
    clients: &aws::Clients,
    target: &Target<'_>,
    ending: BatchEnd,
    interrupt: &CancellationToken,
) -> Result<Summary, Error> {
    if ending.follow.is_some() {
        target.run_dir.now_doing("following");
    }
    let followed = match ending.follow {
        Some((follow, progress)) => Some(
            watch::follow_to_end(
                clients,
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
    Ok(Summary::write(target.run_dir, target.rows, facts)?)
}

/// `--max-running`: the window, and the follower that frees a place in it for each
/// of the run's executions it sees closed (logging how it ended).
struct Windowed {
    window: Arc<Window>,
    follow: Follow,
    poll: tokio::time::Interval,
}

impl Windowed {
    fn open(
        clients: &aws::Clients,
        state_machine: &StateMachine,
        log_path: &Path,
        rows: &BatchRows,
        max: u64,
        poll: Duration,
    ) -> std::io::Result<Windowed> {
        // Executions still open from before the resume hold their places.
        let follow = Follow::from_log(clients, state_machine, log_path, rows)?;
        // A look that took longer than --poll is not followed by a burst of looks.
        let mut poll = tokio::time::interval(poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Windowed {
            window: Arc::new(Window::new(max, follow.open_executions())),
            follow,
            poll,
        })
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
        for _ in 0..self.follow.log_ends(log, &mut ()).await? {
            self.window.closed();
        }
        Ok(())
    }
}

/// A started row holds a place in the window until its execution is seen closed.
impl Consumer for Windowed {
    fn consume(&mut self, event: &Event<'_>) {
        let Event::Launched { outcome, offset } = event else {
            return;
        };
        if let (Status::Started, Some(arn)) = (outcome.status, &outcome.execution_arn) {
            let start = outcome.start_date.as_deref();
            self.follow.add_open(outcome.row, arn, *offset, start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::outcome::Outcome;

    #[test]
    fn the_failure_limit_stops_new_starts_once_and_says_when() {
        let stop = CancellationToken::new();
        let mut limit = FailureLimit {
            limit: Some(2),
            failed: 0,
            halted_at: None,
            stop: stop.clone(),
        };
        let mut outcome = Outcome::never_logged(1);
        for status in [
            Status::Failed,
            Status::Started,
            Status::Failed,
            Status::Failed,
        ] {
            outcome.status = status;
            limit.consume(&Event::Launched {
                outcome: &outcome,
                offset: 0,
            });
            if limit.failed < 2 {
                assert!(!stop.is_cancelled());
            }
        }
        assert!(stop.is_cancelled());
        assert_eq!(limit.halted_at, Some(2));
        assert_eq!(limit.failed, 3);
    }
}
