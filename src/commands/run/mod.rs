//! `sfn-batch run`: source → plan → launcher → outcomes → sinks. `batch` holds the
//! batch and its two passes, `distributed` the hand-off to a Distributed Map.
//!
//! The manifest is read twice. The first pass renders and checks every row, so
//! that a bad row stops the batch before anything starts, and marks the rows a
//! resume finds done; the second pass renders the others again
//! (deterministically, to the same bytes) and launches them. (When rows turn out
//! to share a name, the few shown in the error are read a third time.)

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::aws;
use crate::aws::sfn::{Kind, StateMachine};
use crate::cli::options::RunOptions;
use crate::commands::Finished;
use crate::commands::session::{self, Session};
use crate::error::{Error, invalid_row_line};
use crate::fanout;
use crate::launch::{self, LaunchEnd, Target};
use crate::model::rows::Invalid;
use crate::plan::source::{self, ManifestError};
use crate::record::run_dir::{Locked, RESULTS, ROWS, RunDir, RunInfo};
use crate::record::runlog::{DoneRows, RunLog};

mod batch;
mod distributed;

use batch::{BatchPlan, Checked, Resume, check, spawn_reader};
use distributed::{ToMap, parent, run_distributed};

/// `sfn-batch run`: checks every row, then launches the rows into the run dir (a
/// resume skips those started), follows them if asked, and writes the summary.
/// With `--dry-run`, stops after the check.
pub(crate) async fn run(options: RunOptions) -> Result<Finished, Error> {
    let session = Session::new(&options.aws).await?;
    let batch = prepare(&options, &session).await?;
    if options.dry_run {
        return dry_run(&options, &batch).await;
    }
    let (run_dir, checked, resume) = open_run_dir(&options, &batch).await?;
    // A signal (or the embedding program) stops the run as interrupted, launching
    // or following.
    let interrupt = session::interrupt(options.interrupt.clone());
    let target = Target {
        batch_id: &batch.id,
        state_machine: &batch.state_machine,
        rows: &checked.rows,
        run_dir: &run_dir,
    };
    if let Some(map) = &options.distributed_map {
        let to_map = ToMap {
            options: &options,
            map,
            batch: &batch,
            target: &target,
            session: &session,
            interrupt: &interrupt,
        };
        return run_distributed(to_map, resume).await;
    }
    let clients = &session.clients;
    let launched = launch(&options, &batch, &target, resume, clients, &interrupt).await?;
    session
        .end_launch(&target, launched, &options.launching, &interrupt)
        .await
}

/// `--dry-run`: every row checked and a few shown (with a Distributed Map, the
/// parent's definition too); nothing started.
async fn dry_run(options: &RunOptions, batch: &BatchPlan) -> Result<Finished, Error> {
    let checked = check(options, batch, DoneRows::default()).await?;
    let manifest = batch.pass.manifest().display_name();
    print_checked(
        manifest,
        &checked,
        options.skip_invalid,
        "dry run",
        "nothing was started",
    );
    if let Some(map) = &options.distributed_map {
        let parent = parent(options, map, batch);
        println!(
            "parent state machine {} (created, or updated if it differs), role {}:",
            parent.name(),
            map.role_arn
        );
        let definition = serde_json::to_string_pretty(&parent.definition());
        println!("{}", definition.expect("definition serializes"));
    }
    Ok(Finished::Checked {
        invalid: checked.invalid,
        skip_invalid: options.skip_invalid,
    })
}

/// Locks the run dir, checks every row against what its log says is done, and
/// opens it for the launch: invalid rows stop here unless `--skip-invalid`.
async fn open_run_dir(
    options: &RunOptions,
    batch: &BatchPlan,
) -> Result<(RunDir, Checked, Resume), Error> {
    // A resume reads what is done first, so that the check marks the rows to skip.
    let run_dir_path = run_dir_path(options, batch);
    let locked = Locked::new(
        &run_dir_path,
        run_info(options, batch),
        options.force_resume,
    )?;
    if options.distributed_map.is_none() && fanout::Record::read(&run_dir_path)?.is_some() {
        return Err(Error::Usage(format!(
            "{} was handed to a Distributed Map: resume it with --engine distributed-map, \
             follow it with `sfn-batch watch`, or use another --run-dir",
            run_dir_path.display()
        )));
    }
    let previous = locked
        .previous(&batch.state_machine.execution_arn(""))
        .map_err(Error::run(format!(
            "reading {}",
            run_dir_path.join(RESULTS).display()
        )))?;
    let mut checked = check(options, batch, previous.done).await?;
    let manifest = batch.pass.manifest().display_name();
    if checked.invalid > 0 && !options.skip_invalid {
        return Err(Error::InvalidRows {
            manifest: manifest.to_string(),
            first: checked.first_invalid,
            count: checked.invalid,
            rows: checked.rows.len(),
        });
    }
    if checked.invalid > 0 {
        log_invalid_rows(manifest, &checked.first_invalid, true);
        tracing::warn!(
            "{} invalid rows will be recorded in the report, not started",
            checked.invalid
        );
    }
    let run_dir = locked.open()?;
    let rows_path = run_dir.file(ROWS);
    checked
        .rows
        .save(&rows_path)
        .map_err(Error::run(format!("writing {}", rows_path.display())))?;
    let resume = Resume {
        settled: std::mem::take(&mut checked.settled),
        log_intact: previous.intact,
    };
    Ok((run_dir, checked, resume))
}

/// `sfn-batch validate`: `run --dry-run` without AWS. The state machine is taken
/// as given, and a source in S3 is refused: nothing here makes a call.
pub(crate) async fn validate(options: RunOptions) -> Result<Finished, Error> {
    let state_machine = StateMachine::offline(&options.state_machine)?;
    let manifest = options.source.materialize(None).await?;
    let batch = BatchPlan::new(&options, state_machine, manifest);
    let mut checked = check(&options, &batch, DoneRows::default()).await?;
    // Default names hash a stand-in ARN here: not worth showing.
    checked.samples.clear();
    let manifest = batch.pass.manifest().display_name();
    print_checked(
        manifest,
        &checked,
        options.skip_invalid,
        "validate",
        "AWS was not called",
    );
    Ok(Finished::Checked {
        invalid: checked.invalid,
        skip_invalid: options.skip_invalid,
    })
}

/// Resolves the state machine, fetches the manifest, and settles the batch id.
async fn prepare(options: &RunOptions, session: &Session) -> Result<BatchPlan, Error> {
    // Under a Distributed Map, --max-running is its MaxConcurrency: nothing to follow.
    let windowed = options.launching.max_running.is_some() && options.distributed_map.is_none();
    let following = match (options.launching.wait.is_some(), windowed) {
        (true, _) => Some("--wait"),
        (false, true) => Some("--max-running"),
        (false, false) => None,
    };
    // The state machine first: a typo fails at once, before a large manifest downloads.
    let state_machine = session
        .state_machine(&options.state_machine, following)
        .await?;
    if state_machine.kind == Kind::Express {
        tracing::warn!(
            "{} is an Express state machine: Express executions are not idempotent by name, \
             so only the run log (not AWS) keeps a resume from starting a row twice",
            state_machine.arn
        );
    }
    let manifest = options
        .source
        .materialize(Some(&session.clients.s3))
        .await?;
    Ok(BatchPlan::new(options, state_machine, manifest))
}

/// `--run-dir`, or `sfn-batch-runs/<run name>`.
fn run_dir_path(options: &RunOptions, batch: &BatchPlan) -> PathBuf {
    let default = || PathBuf::from("sfn-batch-runs").join(run_name(options, batch));
    options.run_dir.clone().unwrap_or_else(default)
}

/// The batch id, and the shard: the shards of a batch share its names but not a
/// run dir (they may run on one host at once), nor a Distributed Map.
fn run_name(options: &RunOptions, batch: &BatchPlan) -> String {
    match options.selection.shard {
        Some(shard) => format!("{}-shard-{}-of-{}", batch.id, shard.index, shard.count),
        None => batch.id.clone(),
    }
}

fn run_info(options: &RunOptions, batch: &BatchPlan) -> RunInfo {
    RunInfo {
        batch_id: batch.id.clone(),
        state_machine_arn: batch.state_machine.arn.clone(),
        manifest: batch.pass.manifest().display_name().to_string(),
        manifest_sha256: batch.pass.manifest().sha256().to_string(),
        input_template: options.input_template.as_ref().map(|t| t.text.clone()),
        name_template: options.name_template.as_ref().map(|t| t.text.clone()),
        output_template: options.output_template.as_ref().map(|t| t.text.clone()),
    }
}

/// The second pass: plans the rows again and launches those the run log does not
/// already record as started, logging each outcome as it comes.
async fn launch(
    options: &RunOptions,
    batch: &BatchPlan,
    target: &Target<'_>,
    resume: Resume,
    clients: &aws::Clients,
    interrupt: &CancellationToken,
) -> Result<LaunchEnd, Error> {
    let (rows, run_dir) = (target.rows, target.run_dir);
    let log_path = run_dir.file(RESULTS);
    let mut log = RunLog::append_to(&log_path, resume.log_intact)
        .map_err(Error::run(format!("opening {}", log_path.display())))?;
    let started = resume.settled.done_here.len();
    let to_do = rows.len() - started;
    if started > 0 {
        tracing::info!(
            "resuming {}: {started} rows already started, {to_do} to go",
            run_dir.path().display(),
        );
    }
    let (work, reader) = spawn_reader(batch, resume.settled);
    let launched = launch::launch(
        &options.launching,
        clients,
        target,
        &mut log,
        work,
        to_do,
        interrupt,
    )
    .await?;
    // The reader stops by itself once the launcher no longer takes rows.
    reader
        .await
        .expect("manifest reader panicked")
        .map_err(Error::run::<ManifestError>("reading the manifest again"))?;
    Ok(launched)
}

/// What the first pass found: a few rows, the first invalid ones, the counts.
/// The rows a check shows, and its verdict. Invalid rows are errors when they will
/// fail the check (exit 2), warnings under `--skip-invalid`.
fn print_checked(manifest: &str, checked: &Checked, skip_invalid: bool, title: &str, ending: &str) {
    for launch in &checked.samples {
        println!(
            "{manifest}{}: {}",
            source::place(Some(launch.row), launch.line),
            launch.name
        );
        println!("  {}", launch.input);
    }
    log_invalid_rows(manifest, &checked.first_invalid, skip_invalid);
    println!(
        "{title}: {} rows, {} valid, {} invalid; {ending}",
        checked.rows.len(),
        checked.rows.len() - checked.invalid,
        checked.invalid
    );
}

/// One line per invalid row shown, naming the file, row and line: a warning when
/// the rows are `skipped` (`--skip-invalid`), else an error.
fn log_invalid_rows(manifest: &str, rows: &[Invalid], skipped: bool) {
    for row in rows.iter().map(|row| invalid_row_line(manifest, row)) {
        match skipped {
            true => tracing::warn!("{row}"),
            false => tracing::error!("{row}"),
        }
    }
}
