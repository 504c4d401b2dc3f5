//! `sfn-batch run`: source → plan → launcher → outcomes → sinks.
//!
//! The manifest is read twice. The first pass renders and checks every row, so
//! that a bad row stops the batch before anything starts, and marks the rows a
//! resume finds done; the second pass renders the others again
//! (deterministically, to the same bytes) and launches them. (When rows turn out
//! to share a name, the few shown in the error are read a third time.)
//!
//! This file is longer than 500 lines: the two passes over the manifest and the
//! hand-off to a Distributed Map share its private types (`BatchPlan`, `Pass`, `Checked`,
//! `Settled`); they are the next part to split into modules of their own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::aws;
use crate::aws::sfn::{Kind, StateMachine};
use crate::cli::options::{DistributedMap, RunOptions};
use crate::commands::Finished;
use crate::commands::session::{self, Session};
use crate::error::{Error, INVALID_ROWS_SHOWN, invalid_row_line};
use crate::fanout::{
    self,
    definition::Parent,
    stage::{Staged, Stager},
};
use crate::launch::launcher::Work;
use crate::launch::{self, LaunchEnd, Target};
use crate::model::counts::Counts;
use crate::model::outcome::Outcome;
use crate::model::pacing::Pacing;
use crate::model::rows::Item;
use crate::model::rows::{Invalid, Launch, Planned};
use crate::plan::Planner;
use crate::plan::duplicates::{Duplicates, NameSpill};
use crate::plan::source::{self, Flow, ManifestError, ManifestFile, ParseOptions, Selection};
use crate::record::batch_rows::BatchRows;
use crate::record::report;
use crate::record::run_dir::{Locked, RESULTS, ROWS, RunDir, RunInfo};
use crate::record::runlog::{Done, DoneRows, RunLog};

/// A batch: its id, the checked state machine, and how to go over its rows.
struct BatchPlan {
    id: String,
    state_machine: StateMachine,
    pass: Pass,
}

/// One pass over the batch's rows: reads the manifest, selects the rows of this
/// run, plans each one. Both passes go through here, so they judge every row the
/// same way.
#[derive(Clone)]
struct Pass {
    manifest: Arc<ManifestFile>,
    planner: Arc<Planner>,
    parse: ParseOptions,
    selection: Selection,
}

impl Pass {
    /// Calls `each` with every selected row's plan; the `duplicates` (rows whose
    /// names an earlier row took) are invalid. Blocking: run it on a blocking thread.
    fn plan_each(
        &self,
        duplicates: &Duplicates,
        each: impl FnMut(Planned) -> Flow,
    ) -> Result<(), ManifestError> {
        self.plan_each_except(duplicates, |_| false, each)
    }

    /// `plan_each`, passing over the rows `skip` names without planning them.
    fn plan_each_except(
        &self,
        duplicates: &Duplicates,
        skip: impl Fn(u64) -> bool,
        mut each: impl FnMut(Planned) -> Flow,
    ) -> Result<(), ManifestError> {
        let plan = |item: Item| match skip(item.row) {
            true => Flow::Continue,
            false => each(duplicates.check(self.planner.plan(item))),
        };
        source::for_each_item(&self.manifest, self.parse, self.selection.apply(plan))
    }

    fn manifest(&self) -> &ManifestFile {
        &self.manifest
    }
}

/// Rows planned by the first pass, and a few of them to show.
struct Checked {
    /// The rows of this run (all, or those `--shard`, `--offset`, `--limit` select).
    rows: BatchRows,
    invalid: u64,
    first_invalid: Vec<Invalid>,
    samples: Vec<Launch>,
    settled: Settled,
}

/// What the second pass needs besides the manifest: from the first pass, what
/// only the whole batch tells; from the run log, what is done.
#[derive(Default)]
struct Settled {
    /// Rows whose names an earlier row took: invalid.
    duplicates: Duplicates,
    /// Rows started already, under the names they are planned under now: the
    /// second pass skips them without planning them again.
    done_here: BatchRows,
    /// Every row the run dir's log records as started, for the rows whose number
    /// changed (`Done::Elsewhere`).
    done: DoneRows,
}

/// A resume's starting point: what is settled about its rows, and the length of the log's intact part.
struct Resume {
    settled: Settled,
    log_intact: u64,
}

impl Checked {
    /// Counts the duplicates as invalid, and shows those among the first invalid
    /// rows. The first pass finds duplicates only at its end, so the few shown are
    /// planned again for their details.
    fn add_duplicates(&mut self, pass: &Pass, duplicates: Duplicates) -> Result<(), Error> {
        self.invalid += duplicates.len();
        for row in duplicates.rows() {
            self.settled.done_here.remove(row);
        }
        self.samples
            .retain(|launch| duplicates.first_row(launch.row).is_none());
        self.samples.truncate(DRY_RUN_SAMPLES);
        let mut shown: Vec<u64> = (self.first_invalid.iter().map(|invalid| invalid.row))
            .chain(duplicates.rows().take(INVALID_ROWS_SHOWN))
            .collect();
        shown.sort_unstable();
        shown.truncate(INVALID_ROWS_SHOWN);
        shown.retain(|&row| duplicates.first_row(row).is_some());
        if let Some(&last) = shown.last() {
            pass.plan_each(&duplicates, |planned| {
                let row = row_of(&planned);
                match planned {
                    Err(invalid) if shown.contains(&row) => self.first_invalid.push(invalid),
                    _ => {}
                }
                match row < last {
                    true => Flow::Continue,
                    false => Flow::Stop,
                }
            })?;
            self.first_invalid.sort_by_key(|invalid| invalid.row);
            self.first_invalid.truncate(INVALID_ROWS_SHOWN);
        }
        self.settled.duplicates = duplicates;
        Ok(())
    }
}

fn row_of(planned: &Planned) -> u64 {
    match planned {
        Ok(launch) => launch.row,
        Err(invalid) => invalid.row,
    }
}

/// Rows shown by `--dry-run`.
const DRY_RUN_SAMPLES: usize = 3;
/// Planned rows waiting for the launcher: bounds memory, not speed.
const PLANNED_BUFFER: usize = 1024;

/// `sfn-batch run`: checks every row, then launches the rows into the run dir (a
/// resume skips those started), follows them if asked, and writes the summary.
/// With `--dry-run`, stops after the check.
pub(crate) async fn run(options: RunOptions) -> Result<Finished, Error> {
    let session = Session::new(&options.aws).await;
    let batch = prepare(&options, &session).await?;
    let clients = &session.clients;
    let manifest = batch.pass.manifest().display_name();
    if options.dry_run {
        let checked = check(&options, &batch, DoneRows::default()).await?;
        print_checked(manifest, &checked, "dry run", "nothing was started");
        if let Some(map) = &options.distributed_map {
            let parent = parent(&options, map, &batch);
            println!(
                "parent state machine {} (created, or updated if it differs), role {}:",
                parent.name(),
                map.role_arn
            );
            let definition = serde_json::to_string_pretty(&parent.definition());
            println!("{}", definition.expect("definition serializes"));
        }
        return Ok(Finished::Checked {
            invalid: checked.invalid,
            skip_invalid: options.skip_invalid,
        });
    }
    // A resume reads what is done first, so that the check marks the rows to skip.
    let run_dir_path = run_dir_path(&options, &batch);
    let locked = Locked::new(
        &run_dir_path,
        run_info(&options, &batch),
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
    let mut checked = check(&options, &batch, previous.done).await?;
    if checked.invalid > 0 && !options.skip_invalid {
        return Err(Error::InvalidRows {
            manifest: manifest.to_string(),
            first: checked.first_invalid,
            count: checked.invalid,
            rows: checked.rows.len(),
        });
    }
    if checked.invalid > 0 {
        warn_invalid_rows(manifest, &checked.first_invalid);
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
    // A signal (or the embedding program) stops the run as interrupted, launching
    // or following.
    let interrupt = session::interrupt(options.interrupt.clone());
    let target = Target {
        batch_id: &batch.id,
        state_machine: &batch.state_machine,
        rows: &checked.rows,
        run_dir: &run_dir,
    };
    let resume = Resume {
        settled: std::mem::take(&mut checked.settled),
        log_intact: previous.intact,
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
    let launched = launch(&options, &batch, &target, resume, clients, &interrupt).await?;
    let summary =
        launch::finish(&options.launching, clients, &target, launched, &interrupt).await?;
    let report_to = options.launching.report_to.as_ref();
    session.end_batch(summary, &run_dir, report_to).await
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
    print_checked(manifest, &checked, "validate", "AWS was not called");
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

impl BatchPlan {
    /// Settles the batch id, and how its rows are planned.
    fn new(
        options: &RunOptions,
        state_machine: StateMachine,
        manifest: Arc<ManifestFile>,
    ) -> BatchPlan {
        // Resuming a changed batch keeps its id, so that unchanged rows keep their
        // names (the default id hashes the manifest, and would rename every row).
        let resumed_id = match (options.force_resume, &options.run_dir) {
            (true, Some(dir)) => crate::record::run_dir::read_info(dir)
                .ok()
                .map(|info| info.batch_id),
            _ => None,
        };
        let id = options
            .batch_id
            .clone()
            .or(resumed_id)
            .unwrap_or_else(|| default_batch_id(&manifest, &state_machine.arn));
        let planner = Planner::new(
            state_machine.arn.clone(),
            id.clone(),
            options.input_template.as_ref().map(|t| t.template.clone()),
            options.name_template.as_ref().map(|t| t.template.clone()),
        )
        .with_output(options.output_template.as_ref().map(|t| t.template.clone()));
        BatchPlan {
            id,
            state_machine,
            pass: Pass {
                manifest,
                planner: Arc::new(planner),
                parse: options.parse,
                selection: options.selection,
            },
        }
    }
}

/// The first pass: renders and checks every row without starting anything, and
/// marks those `done` (an earlier run's) already started under their names. A
/// source without rows is refused unless `--allow-empty`.
async fn check(options: &RunOptions, batch: &BatchPlan, done: DoneRows) -> Result<Checked, Error> {
    let pass = batch.pass.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let mut checked = Checked {
            rows: BatchRows::default(),
            invalid: 0,
            first_invalid: Vec::new(),
            samples: Vec::new(),
            settled: Settled {
                done,
                ..Settled::default()
            },
        };
        let mut names = NameSpill::default();
        pass.plan_each(&Duplicates::default(), |planned| {
            checked.rows.insert(row_of(&planned));
            match planned {
                Ok(launch) => {
                    names.add(launch.row, &launch.name);
                    if checked.settled.done.check(launch.row, &launch.name) == Done::Here {
                        checked.settled.done_here.insert(launch.row);
                    }
                    // A few spare, in case some turn out to be duplicates.
                    if checked.samples.len() < 2 * DRY_RUN_SAMPLES {
                        checked.samples.push(launch);
                    }
                }
                Err(invalid) => {
                    checked.invalid += 1;
                    if checked.first_invalid.len() < INVALID_ROWS_SHOWN {
                        checked.first_invalid.push(invalid);
                    }
                }
            }
            Flow::Continue
        })?;
        let duplicates = names
            .finish()
            .map_err(Error::run("spilling the rows' names to a temporary file"))?;
        checked.add_duplicates(&pass, duplicates)?;
        Ok::<_, Error>(checked)
    })
    .await
    .expect("manifest check panicked")?;
    if checked.rows.is_empty() && !options.allow_empty {
        return Err(Error::Usage(format!(
            "{}: no rows to start (pass --allow-empty to accept that)",
            batch.pass.manifest().display_name()
        )));
    }
    Ok(checked)
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

/// `--engine distributed-map`: hands the batch to a Distributed Map (a run dir
/// that has handed it over already only follows it), then follows it with
/// `--wait`. Without `--wait`, the hand-off is the end: exit 0, or 1 for rows
/// skipped as invalid.
async fn run_distributed(to_map: ToMap<'_>, resume: Resume) -> Result<Finished, Error> {
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
struct ToMap<'a> {
    options: &'a RunOptions,
    map: &'a DistributedMap,
    batch: &'a BatchPlan,
    target: &'a Target<'a>,
    session: &'a Session,
    interrupt: &'a CancellationToken,
}

/// What a first hand-off came to.
enum HandOff {
    /// The batch is with the Distributed Map.
    Handed(fanout::Record),
    /// Nothing was handed over (no row left, or interrupted first): how the run ended.
    Ended(Finished),
}

/// The second pass stages the rows not done yet instead of launching them (the
/// invalid ones, and those done under another row number, are logged as a local
/// launch logs them), and hands them over.
async fn first_hand_off(to_map: &ToMap<'_>, resume: Resume) -> Result<HandOff, Error> {
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
        };
        let summary = launch::finish(
            &options.launching,
            &session.clients,
            target,
            launched,
            interrupt,
        )
        .await?;
        let report_to = options.launching.report_to.as_ref();
        let finished = session
            .end_batch(summary, target.run_dir, report_to)
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
async fn stage(batch: &BatchPlan, resume: Resume, run_dir: &RunDir) -> Result<Staged, Error> {
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
fn parent(options: &RunOptions, map: &DistributedMap, batch: &BatchPlan) -> Parent {
    Parent {
        target: batch.state_machine.clone(),
        staging: map.staging.clone(),
        sync: options.launching.wait.is_some(),
        max_attempts: options.launching.launch.max_attempts,
    }
}

/// Plans the rows again on a blocking thread (but those done here) and sends
/// those not yet done, in order, through a bounded channel. It stops by itself
/// when the channel closes.
fn spawn_reader(
    batch: &BatchPlan,
    settled: Settled,
) -> (
    mpsc::Receiver<Work>,
    tokio::task::JoinHandle<Result<(), ManifestError>>,
) {
    let (work_tx, work_rx) = mpsc::channel::<Work>(PLANNED_BUFFER);
    let (pass, state_machine) = (batch.pass.clone(), batch.state_machine.clone());
    let reader = tokio::task::spawn_blocking(move || {
        let done_here = |row| settled.done_here.contains(row);
        pass.plan_each_except(&settled.duplicates, done_here, |planned| {
            let work = match planned {
                Ok(launch) => match settled.done.check(launch.row, &launch.name) {
                    // Not met: the first pass marked these, and they were skipped.
                    Done::Here => return Flow::Continue,
                    Done::Elsewhere => {
                        let arn = state_machine.execution_arn(&launch.name);
                        Work::Known(Outcome::existing(launch, arn, 0))
                    }
                    Done::No => Work::Start(launch),
                },
                Err(invalid) => Work::Known(Outcome::invalid(invalid)),
            };
            match work_tx.blocking_send(work) {
                Ok(()) => Flow::Continue,
                Err(_) => Flow::Stop,
            }
        })
    });
    (work_rx, reader)
}

/// What the first pass found: a few rows, the first invalid ones, the counts.
fn print_checked(manifest: &str, checked: &Checked, title: &str, ending: &str) {
    for launch in &checked.samples {
        println!(
            "{manifest}{}: {}",
            source::place(Some(launch.row), launch.line),
            launch.name
        );
        println!("  {}", launch.input);
    }
    warn_invalid_rows(manifest, &checked.first_invalid);
    println!(
        "{title}: {} rows, {} valid, {} invalid; {ending}",
        checked.rows.len(),
        checked.rows.len() - checked.invalid,
        checked.invalid
    );
}

/// One warning per invalid row shown, naming the file, row and line.
fn warn_invalid_rows(manifest: &str, rows: &[Invalid]) {
    for row in rows {
        tracing::warn!("{}", invalid_row_line(manifest, row));
    }
}

/// `<manifest name>-<8 hex>`: the hash covers the manifest's bytes and the state
/// machine, so the same command on the same manifest finds the same run dir and
/// the same names, and a changed manifest is a new batch.
fn default_batch_id(manifest: &ManifestFile, state_machine_arn: &str) -> String {
    let short_name = manifest.short_name();
    let base = short_name.split('.').next().unwrap_or(short_name);
    // Characters a name may not hold (or CloudWatch would not like) become one `-`.
    let mut stem = String::new();
    for c in base.chars() {
        match c.is_ascii_alphanumeric() || c == '_' {
            true => stem.push(c),
            false if !stem.ends_with('-') => stem.push('-'),
            false => {}
        }
    }
    let mut stem: String = stem.trim_matches('-').chars().take(24).collect();
    if stem.is_empty() {
        stem = "batch".to_string();
    }
    let mut hasher = Sha256::new();
    hasher.update(state_machine_arn.as_bytes());
    hasher.update(b"\n");
    hasher.update(manifest.identity().as_bytes());
    format!("{stem}-{}", &hex::encode(hasher.finalize())[..8])
}
