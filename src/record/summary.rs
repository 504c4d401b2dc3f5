//! The end-of-run summary: `summary.json` in the run dir and a few human lines.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::counts::Counts;
use crate::model::counts::{Calls, Followed};
use crate::model::exit;
use crate::model::outage::Outages;
use crate::model::pacing::Pacing;
use crate::record::WriteError;
use crate::record::batch_rows::BatchRows;
use crate::record::report::{self, Attention, Tally};
use crate::record::run_dir::{RunDir, RunInfo, SUMMARY, write_atomically};

/// What a run came to: `summary.json`, and the lines shown at its end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// The batch id.
    pub batch_id: String,
    /// The state machine's ARN.
    pub state_machine_arn: String,
    /// The run dir's path.
    pub run_dir: String,
    /// Rows in the manifest.
    pub rows: u64,
    /// Final status of every row, earlier runs of this run dir included.
    pub counts: Counts,
    /// The rows to look at, and the first of them (absent from a summary.json
    /// written before there was such a field).
    #[serde(default)]
    pub attention: Attention,
    /// `None` in a view of a run that never wrote its summary (killed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub this_run: Option<ThisRun>,
    /// How the started executions ended, when followed (`--wait`, `watch`), and
    /// the API calls that took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followed: Option<Followed>,
    /// Whether a signal (or the embedding program) stopped the run.
    pub interrupted: bool,
    /// The failure count that made the run stop starting rows (`--max-failures`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted_at: Option<u64>,
    /// The exit code the run's outcome calls for.
    pub exit_code: i32,
    /// The length of the run log this summary was written from: a summary whose
    /// log has grown since (a resume under way, or killed) no longer describes it.
    #[serde(default)]
    pub log_bytes: u64,
}

/// What this invocation did (a resume does only the rest).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThisRun {
    /// This invocation's outcomes, per status.
    pub outcomes: Counts,
    /// How long this invocation took.
    pub elapsed_seconds: f64,
    /// Rows sent (started, existing or failed) per second.
    pub calls_per_second: f64,
    /// The pace at the end, and the throttles answered on the way.
    pub pacing: Pacing,
    /// The spells in which AWS could not be reached (absent from a summary.json
    /// written before there was such a field).
    #[serde(default)]
    pub outages: Outages,
}

impl ThisRun {
    /// What this invocation did, with its rate worked out.
    pub(crate) fn new(outcomes: Counts, elapsed: Duration, pacing: Pacing) -> ThisRun {
        let secs = elapsed.as_secs_f64();
        let sent = outcomes.started + outcomes.existing + outcomes.failed;
        ThisRun {
            outcomes,
            elapsed_seconds: secs,
            calls_per_second: if secs > 0.0 { sent as f64 / secs } else { 0.0 },
            pacing,
            outages: Outages::default(),
        }
    }
}

/// What a command (`run`, `watch`) did to a run dir, beyond what its log holds.
pub(crate) struct RunFacts {
    /// The batch id.
    pub batch_id: String,
    /// The state machine's ARN.
    pub state_machine_arn: String,
    /// What this invocation did.
    pub this_run: ThisRun,
    /// How the executions ended and what following cost, if the command followed.
    pub followed: Option<Followed>,
    /// Whether a signal (or the embedding program) stopped the command.
    pub interrupted: bool,
    /// The failure count that made the run stop starting rows (`--max-failures`).
    pub halted_at: Option<u64>,
}

impl Summary {
    /// Writes the report and the failed rows from the run log, then
    /// `summary.json`; returns the summary.
    pub(crate) fn write(
        run_dir: &RunDir,
        rows: &BatchRows,
        facts: RunFacts,
    ) -> Result<Summary, WriteError> {
        let tally = report::write(run_dir, rows).map_err(WriteError::context(format!(
            "writing the report in {}",
            run_dir.path().display()
        )))?;
        let ends = facts.followed.as_ref().map(|f| &f.ends);
        let summary = Summary {
            exit_code: exit::of_batch(&tally.counts, ends, facts.interrupted),
            batch_id: facts.batch_id,
            state_machine_arn: facts.state_machine_arn,
            run_dir: run_dir.path().display().to_string(),
            rows: rows.len(),
            counts: tally.counts,
            attention: tally.attention,
            this_run: Some(facts.this_run),
            followed: facts.followed,
            interrupted: facts.interrupted,
            halted_at: facts.halted_at,
            log_bytes: tally.log_bytes,
        };
        summary.save(run_dir)?;
        Ok(summary)
    }

    /// A run's summary from its run log, which is the truth. The last
    /// `summary.json` is taken whole when it was written from the log as it is
    /// now (it alone knows this run's pace, what following cost, an interrupt);
    /// otherwise (the run is going on, or was killed) the log alone speaks.
    pub(crate) fn from_log(
        dir: &Path,
        info: &RunInfo,
        rows: &BatchRows,
        tally: Tally,
        saved: Option<Summary>,
    ) -> Summary {
        if let Some(saved) = saved.filter(|s| s.log_bytes == tally.log_bytes) {
            return Summary {
                run_dir: dir.display().to_string(),
                counts: tally.counts,
                attention: tally.attention,
                ..saved
            };
        }
        let ends = tally.ends();
        let followed = ends.map(|ends| Followed {
            ends,
            calls: Calls::default(),
        });
        let (this_run, interrupted, halted_at) = (None, false, None);
        Summary {
            log_bytes: tally.log_bytes,
            exit_code: exit::of_batch(&tally.counts, ends.as_ref(), interrupted),
            batch_id: info.batch_id.clone(),
            state_machine_arn: info.state_machine_arn.clone(),
            run_dir: dir.display().to_string(),
            rows: rows.len(),
            counts: tally.counts,
            attention: tally.attention,
            this_run,
            followed,
            interrupted,
            halted_at,
        }
    }

    /// Writes `summary.json`.
    fn save(&self, run_dir: &RunDir) -> Result<(), WriteError> {
        let path = run_dir.file(SUMMARY);
        let json = serde_json::to_vec_pretty(self).expect("summary serializes");
        write_atomically(&path, &json)
            .map_err(WriteError::context(format!("writing {}", path.display())))
    }
}
