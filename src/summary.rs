//! The end-of-run summary: `summary.json` in the run dir and a few human lines.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, exit};
use crate::rate::Pacing;
use crate::report::{self, BatchRows, Counts};
use crate::runlog::{FAILED, REPORT, RunDir, SUMMARY, write_atomically};
use crate::watch::{Ends, Followed};

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub batch_id: String,
    pub state_machine_arn: String,
    pub run_dir: String,
    /// Rows in the manifest.
    pub rows: u64,
    /// Final status of every row, earlier runs of this run dir included.
    pub counts: Counts,
    pub this_run: ThisRun,
    /// How the started executions ended, when followed (`--wait`, `watch`), and
    /// the API calls that took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followed: Option<Followed>,
    pub interrupted: bool,
    /// The failure count that made the run stop starting rows (`--max-failures`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted_at: Option<u64>,
    pub exit_code: i32,
}

/// What this invocation did (a resume does only the rest).
#[derive(Debug, Clone, Serialize)]
pub struct ThisRun {
    pub outcomes: Counts,
    pub elapsed_seconds: f64,
    pub calls_per_second: f64,
    /// The pace at the end, and the throttles answered on the way.
    pub pacing: Pacing,
}

impl ThisRun {
    pub fn new(outcomes: Counts, elapsed: Duration, pacing: Pacing) -> ThisRun {
        let secs = elapsed.as_secs_f64();
        let sent = outcomes.started + outcomes.existing + outcomes.failed;
        ThisRun {
            outcomes,
            elapsed_seconds: secs,
            calls_per_second: if secs > 0.0 { sent as f64 / secs } else { 0.0 },
            pacing,
        }
    }
}

/// The exit code a run's final counts call for: success only when every row
/// started and, when followed, every execution succeeded.
pub fn exit_code(counts: &Counts, ends: Option<&Ends>, interrupted: bool) -> i32 {
    if interrupted {
        exit::INTERRUPTED
    } else if counts.all_done() && ends.is_none_or(Ends::all_succeeded) {
        exit::SUCCESS
    } else {
        exit::FAILURES
    }
}

/// What a command (`run`, `watch`) did to a run dir, beyond what its log holds.
pub struct Facts {
    pub batch_id: String,
    pub state_machine_arn: String,
    pub this_run: ThisRun,
    pub followed: Option<Followed>,
    pub interrupted: bool,
    pub halted_at: Option<u64>,
}

impl Summary {
    /// Writes the report and the failed rows from the run log, then
    /// `summary.json`; returns the summary.
    pub fn write(run_dir: &RunDir, rows: &BatchRows, facts: Facts) -> Result<Summary, Error> {
        let counts = report::write(run_dir, rows).map_err(Error::run(format!(
            "writing the report in {}",
            run_dir.path().display()
        )))?;
        let ends = facts.followed.as_ref().map(|f| &f.ends);
        let summary = Summary {
            exit_code: exit_code(&counts, ends, facts.interrupted),
            batch_id: facts.batch_id,
            state_machine_arn: facts.state_machine_arn,
            run_dir: run_dir.path().display().to_string(),
            rows: rows.len(),
            counts,
            this_run: facts.this_run,
            followed: facts.followed,
            interrupted: facts.interrupted,
            halted_at: facts.halted_at,
        };
        summary.save(run_dir)?;
        Ok(summary)
    }

    /// Writes `summary.json`.
    fn save(&self, run_dir: &RunDir) -> Result<(), Error> {
        let path = run_dir.file(SUMMARY);
        let json = serde_json::to_vec_pretty(self).expect("summary serializes");
        write_atomically(&path, &json).map_err(Error::run(format!("writing {}", path.display())))
    }

    /// On stderr: a few lines for a person, or with `--log-format json` one line
    /// holding the whole summary as `summary.json` does.
    pub fn log(&self) {
        let json = serde_json::to_string(self).expect("summary serializes");
        tracing::info!(summary = %json, "{}", self.human().trim_end());
    }

    /// A few lines for a person: counts, elapsed, rate, where the report is.
    pub fn human(&self) -> String {
        let c = &self.counts;
        let mut text = format!(
            "{}\n\
             this run: {} rows in {:.1}s ({:.1} starts/s; pace {:.1}/s, {} throttles)\n\
             report: {}\n",
            c.human(self.rows),
            self.this_run.outcomes.total(),
            self.this_run.elapsed_seconds,
            self.this_run.calls_per_second,
            self.this_run.pacing.pace,
            self.this_run.pacing.throttles,
            Path::new(&self.run_dir).join(REPORT).display(),
        );
        if let Some(followed) = &self.followed {
            let calls = &followed.calls;
            text += &format!(
                "executions: {}\nfollowing took {} ListExecutions and {} DescribeExecution calls in {} sweeps\n",
                followed.ends.human(),
                calls.list_executions,
                calls.describe_execution,
                calls.sweeps
            );
        }
        let unsuccessful = self
            .followed
            .is_some_and(|f| f.ends.failed + f.ends.timed_out + f.ends.aborted > 0);
        if c.failed > 0 {
            text += &format!(
                "failed rows: {}\n",
                Path::new(&self.run_dir).join(FAILED).display()
            );
        }
        if c.failed > 0 || unsuccessful {
            text += &format!(
                "to launch what failed again: sfn-batch retry {}\n",
                self.run_dir
            );
        }
        if let Some(failed) = self.halted_at {
            text += &format!(
                "stopped after {failed} rows failed to start (--max-failures): \
                 the rows after them were not attempted\n"
            );
        }
        if self.interrupted {
            text += "interrupted: run the same command again to resume\n";
        }
        text
    }
}
