//! The preamble the commands share: AWS clients, the interrupt, the state
//! machine resolved and checked, an earlier run's dir reopened, and following a
//! batch handed to a Distributed Map. Each command is then its own steps only.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::aws::sfn::{self, Kind, StateMachine};
use crate::aws::{self, AwsOptions};
use crate::commands::Finished;
use crate::error::Error;
use crate::fanout::{self, MapEnd, MapFollow};
use crate::launch::{self, LaunchEnd, Launching, Target};
use crate::output::publish::ReportTo;
use crate::output::render;
use crate::record::batch_rows::BatchRows;
use crate::record::run_dir::{ROWS, RunDir, RunInfo};
use crate::record::summary::Summary;

/// A command's AWS clients.
pub(crate) struct Session {
    pub clients: aws::Clients,
}

impl Session {
    /// Clients for `aws`, as the standard AWS configuration and the flags say;
    /// an error when it names no region or finds no credentials.
    pub(crate) async fn new(aws: &AwsOptions) -> Result<Session, Error> {
        Ok(Session {
            clients: aws::clients(aws).await?,
        })
    }

    /// The state machine `arn` (or bare name) names. `following` names what would
    /// follow its executions (`--wait`, `watch`, ...): refused for an Express state
    /// machine, whose executions AWS neither lists nor describes.
    pub(crate) async fn state_machine(
        &self,
        arn: &str,
        following: Option<&str>,
    ) -> Result<StateMachine, Error> {
        let clients = &self.clients;
        let state_machine = sfn::resolve(&clients.sfn, arn, &clients.region).await?;
        if let (Kind::Express, Some(what)) = (state_machine.kind, following) {
            return Err(Error::Usage(format!(
                "{what} cannot follow {}: it is an Express state machine, and AWS does not \
                 list or describe Express executions (their results are in CloudWatch Logs)",
                state_machine.arn
            )));
        }
        Ok(state_machine)
    }

    /// The end of a command that went through a batch: its summary on stderr,
    /// then the run's files uploaded if `--report-to` asks.
    pub(crate) async fn end_batch(
        &self,
        summary: Summary,
        run_dir: &RunDir,
        report_to: Option<&ReportTo>,
    ) -> Result<Finished, Error> {
        render::log_summary(&summary);
        if let Some(report_to) = report_to {
            report_to
                .upload_after(&self.clients.s3, run_dir, summary.exit_code)
                .await?;
        }
        Ok(Finished::Batch(Box::new(summary)))
    }

    /// The end of `run` and `retry` after a launch: the executions followed if
    /// asked, then the summary shown and the run's files uploaded if asked.
    pub(crate) async fn end_launch(
        &self,
        target: &Target<'_>,
        launched: LaunchEnd,
        settings: &Launching,
        interrupt: &CancellationToken,
    ) -> Result<Finished, Error> {
        let end = launched.batch_end(settings, interrupt);
        let summary = launch::conclude(&self.clients, target, end, interrupt).await?;
        self.end_batch(summary, target.run_dir, settings.report_to.as_ref())
            .await
    }

    /// The end of a command that follows a batch handed to a Distributed Map.
    pub(crate) async fn follow_map(
        &self,
        target: &Target<'_>,
        record: &mut fanout::Record,
        follow: MapFollow,
        report_to: Option<&ReportTo>,
        interrupt: &CancellationToken,
    ) -> Result<Finished, Error> {
        match fanout::finish(&self.clients, target, record, follow, interrupt).await? {
            MapEnd::Concluded(summary) => self.end_batch(*summary, target.run_dir, report_to).await,
            MapEnd::StillInAws => Ok(Finished::StillInAws {
                interrupted: interrupt.is_cancelled(),
            }),
        }
    }
}

/// What stops a command cleanly (no new starts, calls in flight finished, the
/// run log flushed): `given` (a program embedding the library brings its own), or
/// else Ctrl-C and SIGTERM from here on. Taken where a clean stop starts to
/// matter, so that a signal before then ends the process at once.
pub(crate) fn interrupt(given: Option<CancellationToken>) -> CancellationToken {
    given.unwrap_or_else(|| {
        let interrupt = CancellationToken::new();
        watch_signals(interrupt.clone());
        interrupt
    })
}

/// Ctrl-C or SIGTERM (cron, a container stop): stop starting rows, let the calls in
/// flight finish. A second signal abandons them; every logged outcome is already
/// on disk.
fn watch_signals(stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::warn!(
            "stopping: no new starts, waiting for calls in flight (again to abandon them)"
        );
        stop.cancel();
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::warn!("abandoning calls in flight");
        std::process::exit(crate::model::exit::INTERRUPTED);
    });
}

/// The run dir of an earlier run, for `watch` and `retry`: reopened, with what it
/// was started with, and its Distributed Map record if it was handed to one.
pub(crate) struct EarlierRun {
    pub run_dir: RunDir,
    pub info: RunInfo,
    pub map: Option<fanout::Record>,
}

impl EarlierRun {
    /// Reopens the run dir at `path`, to do `doing` with it (`following`).
    pub(crate) fn open(path: &Path, doing: &str) -> Result<EarlierRun, Error> {
        let (run_dir, info) = RunDir::reopen(path, doing)?;
        Ok(EarlierRun {
            map: fanout::Record::read(path)?,
            run_dir,
            info,
        })
    }

    /// The run's rows (`rows.json`), read when a command gets to them.
    pub(crate) fn rows(&self) -> Result<BatchRows, Error> {
        batch_rows(self.run_dir.path())
    }

    /// Where the run's launches and ends go, with its state machine and rows.
    pub(crate) fn target<'a>(
        &'a self,
        state_machine: &'a StateMachine,
        rows: &'a BatchRows,
    ) -> Target<'a> {
        Target {
            batch_id: &self.info.batch_id,
            state_machine,
            rows,
            run_dir: &self.run_dir,
        }
    }
}

/// The rows of the run in `run_dir` (`rows.json`).
pub(crate) fn batch_rows(run_dir: &Path) -> Result<BatchRows, Error> {
    let path = run_dir.join(ROWS);
    BatchRows::load(&path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}
