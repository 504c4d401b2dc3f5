//! The batch `run` and `validate` go over: its id, its state machine, and the two
//! passes over its rows (the check of every row, then the rows to launch).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::aws::sfn::StateMachine;
use crate::cli::options::{RunOptions, Sourced};
use crate::error::{Error, INVALID_ROWS_SHOWN};
use crate::launch::work::Work;
use crate::model::outcome::Outcome;
use crate::model::rows::Item;
use crate::model::rows::{Invalid, Launch, Planned};
use crate::plan::duplicates::{Duplicates, NameSpill};
use crate::plan::source::{self, Flow, ManifestError, ManifestFile, ParseOptions, Selection};
use crate::plan::suggest;
use crate::plan::template::TextTemplate;
use crate::plan::{Planner, default_batch_id};
use crate::record::batch_rows::BatchRows;
use crate::record::run_dir::read_info;
use crate::record::runlog::{Done, DoneRows};

/// A batch: its id, the checked state machine, and how to go over its rows.
pub(super) struct BatchPlan {
    pub(super) id: String,
    pub(super) state_machine: StateMachine,
    pub(super) pass: Pass,
}

/// One pass over the batch's rows: reads the manifest, selects the rows of this
/// run, plans each one. Both passes go through here, so they judge every row the
/// same way.
#[derive(Clone)]
pub(super) struct Pass {
    pub(super) manifest: Arc<ManifestFile>,
    pub(super) planner: Arc<Planner>,
    pub(super) parse: ParseOptions,
    pub(super) selection: Selection,
}

impl Pass {
    /// Calls `each` with every selected row's plan; the `duplicates` (rows whose
    /// names an earlier row took) are invalid. Blocking: run it on a blocking thread.
    pub(super) fn plan_each(
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

    pub(super) fn manifest(&self) -> &ManifestFile {
        &self.manifest
    }
}

/// Rows planned by the first pass, and a few of them to show.
pub(super) struct Checked {
    /// The rows of this run (all, or those `--shard`, `--offset`, `--limit` select).
    pub(super) rows: BatchRows,
    pub(super) invalid: u64,
    pub(super) first_invalid: Vec<Invalid>,
    pub(super) samples: Vec<Launch>,
    pub(super) settled: Settled,
}

/// What the second pass needs besides the manifest: from the first pass, what
/// only the whole batch tells; from the run log, what is done.
#[derive(Default)]
pub(super) struct Settled {
    /// Rows whose names an earlier row took: invalid.
    pub(super) duplicates: Duplicates,
    /// Rows started already, under the names they are planned under now: the
    /// second pass skips them without planning them again.
    pub(super) done_here: BatchRows,
    /// Every row the run dir's log records as started, for the rows whose number
    /// changed (`Done::Elsewhere`).
    pub(super) done: DoneRows,
}

/// A resume's starting point: what is settled about its rows, and the length of the log's intact part.
pub(super) struct Resume {
    pub(super) settled: Settled,
    pub(super) log_intact: u64,
}

impl Checked {
    /// Counts the duplicates as invalid, and shows those among the first invalid
    /// rows. The first pass finds duplicates only at its end, so the few shown are
    /// planned again for their details.
    pub(super) fn add_duplicates(
        &mut self,
        pass: &Pass,
        duplicates: Duplicates,
    ) -> Result<(), Error> {
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

pub(super) fn row_of(planned: &Planned) -> u64 {
    match planned {
        Ok(launch) => launch.row,
        Err(invalid) => invalid.row,
    }
}

/// Rows shown by `--dry-run`.
pub(super) const DRY_RUN_SAMPLES: usize = 3;

/// Planned rows waiting for the launcher: bounds memory, not speed.
pub(super) const PLANNED_BUFFER: usize = 1024;

impl BatchPlan {
    /// Settles the batch id, and how its rows are planned.
    pub(super) fn new(
        options: &RunOptions,
        state_machine: StateMachine,
        manifest: Arc<ManifestFile>,
    ) -> BatchPlan {
        // Resuming a changed batch keeps its id, so that unchanged rows keep their
        // names (the default id hashes the manifest, and would rename every row).
        let resumed_id = match (options.force_resume, &options.run_dir) {
            (true, Some(dir)) => read_info(dir).ok().map(|info| info.batch_id),
            _ => None,
        };
        let id = options.batch_id.clone().or(resumed_id).unwrap_or_else(|| {
            default_batch_id(
                manifest.short_name(),
                manifest.identity(),
                &state_machine.arn,
            )
        });
        let planner = options.planner(&state_machine.arn, &id);
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
pub(super) async fn check(
    options: &RunOptions,
    batch: &BatchPlan,
    done: DoneRows,
) -> Result<Checked, Error> {
    fields_of_templates(options, batch.pass.manifest())?;
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

/// Plans the rows again on a blocking thread (but those done here) and sends
/// those not yet done, in order, through a bounded channel. It stops by itself
/// when the channel closes.
pub(super) fn spawn_reader(
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

/// Where every row has the same fields, known up front (a CSV header, a listing's
/// or a date range's fields), a template naming a field that none has is one
/// error, with the fields there are, not the same error for every row.
fn fields_of_templates(options: &RunOptions, manifest: &ManifestFile) -> Result<(), Error> {
    let Some(mut known) = options.source.known_fields(manifest, options.parse)? else {
        return Ok(());
    };
    if options.output_template.is_some() && !known.iter().any(|k| k == "output") {
        known.push("output".to_string());
    }
    let used = [
        (
            "--output-template",
            text_fields(options.output_template.as_ref()),
        ),
        (
            "--input-template",
            (options.input_template.as_ref()).map_or(Vec::new(), |t| t.template.fields()),
        ),
        (
            "--name-template",
            text_fields(options.name_template.as_ref()),
        ),
    ];
    let is_known = |name: &str| known.iter().any(|k| k == name);
    for (flag, fields) in used {
        let unknown = fields
            .into_iter()
            .find(|(written, field)| !is_known(written) && !is_known(field));
        if let Some((written, field)) = unknown {
            let hint = match suggest::closest(field, known.iter().map(String::as_str)) {
                Some(name) => format!(" (did you mean `{name}`?)"),
                None => String::new(),
            };
            return Err(Error::Usage(format!(
                "{flag} uses {{{written}}}, a field no row of {} has{hint}; its rows have: {}",
                manifest.display_name(),
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// The fields a text template names, if it is given.
fn text_fields(template: Option<&Sourced<TextTemplate>>) -> Vec<(String, &str)> {
    template.map_or(Vec::new(), |t| t.template.fields().collect())
}
