//! Views of a run, all made from its run log (the source of truth): `table` for a
//! terminal (the end-of-run summary is this view), `markdown` for a ticket or a CI
//! job's summary page, `csv` and `json` for programs. The first two show the rows
//! that need a person; the last two list every row.

use std::io::{self, Write};
use std::path::Path;

use crate::model::counts::count;
use crate::model::final_status::FinalStatus;
use crate::model::outcome::Outcome;
use crate::record::batch_rows::BatchRows;
use crate::record::report::LastOutcomes;
use crate::record::run_dir::{FAILED, REPORT};
use crate::record::summary::Summary;

/// `report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    /// The summary and the rows that need attention, for a terminal.
    Table,
    /// The same as Markdown tables.
    Markdown,
    /// Every row, as `report.csv`.
    Csv,
    /// The summary and every row, as one JSON object.
    Json,
}

/// Characters of an error message shown in a table cell.
const CELL_CHARS: usize = 100;

/// Writes the view of a run in `format`.
pub(crate) fn write(
    format: ReportFormat,
    summary: &Summary,
    outcomes: &LastOutcomes,
    rows: &BatchRows,
    mut out: impl Write,
) -> io::Result<()> {
    match format {
        ReportFormat::Table => out.write_all(table(summary).as_bytes()),
        ReportFormat::Markdown => out.write_all(markdown(summary).as_bytes()),
        ReportFormat::Csv => outcomes.write_csv(rows, out, |_| Ok(())),
        ReportFormat::Json => {
            out.write_all(b"{\"summary\": ")?;
            serde_json::to_writer(&mut out, summary)?;
            out.write_all(b",\n\"rows\": [")?;
            let mut first = true;
            outcomes.for_each(rows, |outcome| {
                out.write_all(if first { b"\n" } else { b",\n" })?;
                first = false;
                serde_json::to_writer(&mut out, outcome).map_err(io::Error::from)
            })?;
            out.write_all(b"\n]}\n")
        }
    }
}

/// The summary for a person: counts, this run's pace, how the executions ended,
/// the rows that need attention, and what to do next.
pub(crate) fn table(summary: &Summary) -> String {
    let s = summary;
    let mut text = format!("{}\n", s.counts.human(s.rows));
    if let Some(this_run) = &s.this_run {
        text += &match this_run.outcomes.total() {
            0 => format!(
                "this run: no row launched, {:.1}s\n",
                this_run.elapsed_seconds
            ),
            rows => format!(
                "this run: {} in {:.1}s ({:.1} rows/s; pace {:.1}/s, {})\n",
                count(rows, "row"),
                this_run.elapsed_seconds,
                this_run.calls_per_second,
                this_run.pacing.pace,
                count(this_run.pacing.throttles, "throttle"),
            ),
        };
        if let Some(outages) = this_run.outages.human() {
            text += &format!("{outages}\n");
        }
    }
    // A killed run (or one still going) has no report yet: `report` is its view.
    if let Some(report) = written(s, REPORT) {
        text += &format!("report: {report}\n");
    }
    if let Some(followed) = &s.followed {
        text += &format!("executions: {}\n", followed.ends.human());
    }
    if !s.attention.first.is_empty() {
        text += &format!("rows that need attention: {}\n", s.attention.rows);
        let cells: Vec<[String; 5]> = s.attention.first.iter().map(row_cells).collect();
        text += &aligned(&ROW_HEADER, &cells);
        text += &more_rows(s, "  ");
    }
    text += &next_steps(s);
    text
}

/// The same view in Markdown (GitHub's `$GITHUB_STEP_SUMMARY`, a ticket).
pub(crate) fn markdown(summary: &Summary) -> String {
    let s = summary;
    let c = &s.counts;
    let mut text = format!(
        "## sfn-batch: batch `{}`\n\nState machine `{}`, run dir `{}`.\n\n\
         | rows | started | existing | failed to start | invalid | not attempted |\n\
         |---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {} | {} |\n",
        s.batch_id,
        s.state_machine_arn,
        s.run_dir,
        s.rows,
        c.started,
        c.existing,
        c.failed,
        c.invalid,
        c.not_attempted
    );
    if let Some(outages) = s.this_run.as_ref().and_then(|r| r.outages.human()) {
        text += &format!("\n{outages}.\n");
    }
    if let Some(gave_up) = s.this_run.as_ref().and_then(|r| r.outages.gave_up()) {
        text += &format!("\n**Stopped**: {gave_up}: run the same command again to resume.\n");
    }
    if let Some(followed) = &s.followed {
        let e = &followed.ends;
        text += &format!(
            "\n| executions | RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | unknown to AWS |\n\
             |---|---:|---:|---:|---:|---:|---:|\n\
             | {} | {} | {} | {} | {} | {} | {} |\n",
            e.ended() + e.running,
            e.running,
            e.succeeded,
            e.failed,
            e.timed_out,
            e.aborted,
            e.unknown
        );
    }
    if !s.attention.first.is_empty() {
        text += &format!(
            "\n### Rows that need attention: {}\n\n| {} |\n|---:|---|---|---|---|\n",
            s.attention.rows,
            ROW_HEADER.join(" | ")
        );
        for cells in s.attention.first.iter().map(row_cells) {
            // A cell is text, never Markdown or HTML of its own.
            let cells = cells.map(|c| {
                c.replace('&', "&amp;")
                    .replace('|', "&#124;")
                    .replace('<', "&lt;")
                    .replace('`', "&#96;")
            });
            text += &format!("| {} |\n", cells.join(" | "));
        }
        text += &more_rows(s, "\n");
    }
    text
}

const ROW_HEADER: [&str; 5] = ["row", "name", "status", "final status", "error"];

fn row_cells(outcome: &Outcome) -> [String; 5] {
    let error = [&outcome.error, &outcome.message, &outcome.cause]
        .into_iter()
        .flatten()
        .map(|part| part.as_str())
        .collect::<Vec<_>>()
        .join(": ");
    // One line, and no terminal control sequence from an execution's output.
    let mut error: String = error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if error.chars().count() > CELL_CHARS {
        error = error.chars().take(CELL_CHARS - 1).collect::<String>() + "…";
    }
    [
        outcome.row.to_string(),
        outcome.name.clone().unwrap_or_default(),
        outcome.status.as_str().to_string(),
        (outcome.final_status.as_ref()).map_or(String::new(), FinalStatus::to_string),
        error,
    ]
}

/// Columns padded to their widest cell, indented by two spaces.
fn aligned(header: &[&str; 5], rows: &[[String; 5]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut text = line(*header);
    for row in rows {
        text += &line(row.each_ref().map(|c| c.as_str()));
    }
    text
}

/// `... and N more`, when the rows shown are not all.
fn more_rows(summary: &Summary, before: &str) -> String {
    let more = summary.attention.rows - summary.attention.first.len() as u64;
    match more {
        0 => String::new(),
        _ => format!(
            "{before}... and {more} more (every row: sfn-batch report {} --format csv)\n",
            summary.run_dir
        ),
    }
}

/// A file of the run dir, if it is there.
fn written(summary: &Summary, name: &str) -> Option<String> {
    let path = Path::new(&summary.run_dir).join(name);
    path.exists().then(|| path.display().to_string())
}

fn next_steps(s: &Summary) -> String {
    let mut text = String::new();
    let unsuccessful = s
        .followed
        .is_some_and(|f| f.ends.failed + f.ends.timed_out + f.ends.aborted > 0);
    if let Some(failed) = written(s, FAILED).filter(|_| s.counts.failed > 0) {
        text += &format!("rows that failed to start: {failed}\n");
    }
    if s.counts.failed > 0 || unsuccessful {
        text += &format!(
            "to launch what failed again: sfn-batch retry {}\n",
            s.run_dir
        );
    }
    if let Some(failed) = s.halted_at {
        text += &format!(
            "stopped after {failed} rows failed to start (--max-failures): \
             the rows after them were not attempted\n"
        );
    }
    if let Some(gave_up) = s.this_run.as_ref().and_then(|r| r.outages.gave_up()) {
        text += &format!("stopped: {gave_up}: run the same command again to resume\n");
    }
    if s.interrupted {
        text += "interrupted: run the same command again to resume\n";
    }
    text
}

/// On stderr, at the end of a command: the `table` view for a person, or with
/// `--log-format json` one line holding the whole summary as `summary.json` does;
/// at `-v`, what following cost in API calls.
pub(crate) fn log_summary(summary: &Summary) {
    let json = serde_json::to_string(summary).expect("summary serializes");
    tracing::info!(summary = %json, "{}", table(summary).trim_end());
    if let Some(calls) = summary.followed.map(|f| f.calls).filter(|c| c.sweeps > 0) {
        tracing::debug!(
            "following took {} and {} in {}",
            count(calls.list_executions, "ListExecutions call"),
            count(calls.describe_execution, "DescribeExecution call"),
            count(calls.sweeps, "sweep"),
        );
    }
}
