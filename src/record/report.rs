//! The report, derived from the run log alone: `report.csv` (every row's final
//! outcome, in row order, with the row's fields) and `failed.jsonl` (the failed
//! rows' original fields: itself a manifest for the next run).
//!
//! A row logged more than once (failed, then started by a resume) counts by its
//! last line. Memory: a fixed amount; the offsets of the rows' last lines are
//! spilled to temporary files (16 bytes a line).

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::counts::Counts;
use crate::model::counts::Ends;
use crate::model::final_status::FinalStatus;
use crate::model::outcome::{Outcome, Status};
use crate::plan::spill::{PARTS, Parts, Spill};
use crate::record::batch_rows::BatchRows;
use crate::record::run_dir::{FAILED, REPORT, RESULTS, RunDir};
use crate::record::runlog::{self, HasRow, OffsetReader};

const COLUMNS: [&str; 17] = [
    "row",
    "line",
    "name",
    "status",
    "execution_arn",
    "start_date",
    "attempts",
    "retries",
    "at",
    "throttles",
    "latency_ms",
    "error",
    "message",
    "final_status",
    "stop_date",
    "duration_seconds",
    "cause",
];

/// Where each batch row's last run-log line starts. The rows' offsets are spilled
/// by row range to temporary files (`spill`) and read back one range at a time,
/// so memory does not grow with the batch.
struct LastLines {
    parts: Parts,
    /// Rows per part of the spill: part `p` holds rows `p * rows_per_part + 1` on.
    rows_per_part: u64,
    /// The length of the log's intact part.
    intact: u64,
}

impl LastLines {
    /// Reads the run log at `log`, handing `each` the field names of every line
    /// about a batch row. A row outside the batch was logged by a run with another
    /// selection, or belongs to a longer manifest resumed with --force-resume: it is
    /// left out.
    pub(crate) fn read(
        log: &Path,
        rows: &BatchRows,
        mut each: impl FnMut(Vec<String>),
    ) -> io::Result<LastLines> {
        let rows_per_part = rows.last().div_ceil(PARTS as u64).max(1);
        let mut spill = Spill::default();
        let intact = runlog::read_as(log, |offset, line: RowFields| {
            if rows.contains(line.row) {
                each(line.fields.0);
                let part = (line.row - 1) / rows_per_part;
                spill.push(part as usize, [line.row, offset]);
            }
        })?;
        Ok(LastLines {
            parts: spill.finish()?,
            rows_per_part,
            intact,
        })
    }

    /// Calls `each` with every row of the batch (the `rows` given to `read`), in
    /// order, and where its last line starts (`None` for a row the log never
    /// mentions).
    pub(crate) fn for_each(
        &self,
        rows: &BatchRows,
        mut each: impl FnMut(u64, Option<u64>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut rows = rows.iter().peekable();
        let mut offsets: Vec<Option<u64>> = Vec::new();
        self.parts.for_each(|part, pairs| {
            let first = part as u64 * self.rows_per_part + 1;
            while let Some(row) = rows.next_if(|&row| row < first) {
                each(row, None)?;
            }
            offsets.clear();
            offsets.resize(self.rows_per_part as usize, None);
            // In log order: the last line about a row wins.
            for &[row, offset] in pairs.iter() {
                offsets[(row - first) as usize] = Some(offset);
            }
            while let Some(row) = rows.next_if(|&row| row < first + self.rows_per_part) {
                each(row, offsets[(row - first) as usize])?;
            }
            Ok(())
        })?;
        rows.try_for_each(|row| each(row, None))
    }
}

/// What `LastLines` reads of each log line: its row and the names of the row's
/// fields (the report's columns). The rest is skipped, not parsed.
#[derive(Deserialize)]
struct RowFields {
    row: u64,
    fields: FieldNames,
}

impl HasRow for RowFields {
    fn row(&self) -> u64 {
        self.row
    }
}

/// The keys of a row's fields, in order; their values are skipped.
struct FieldNames(Vec<String>);

impl<'de> Deserialize<'de> for FieldNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FieldNames, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = FieldNames;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldNames, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(FieldNames(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// The final counts of a batch's rows, from the run log, writing nothing.
pub(crate) fn tally(run_dir: &Path, rows: &BatchRows) -> io::Result<Counts> {
    let mut counts = Counts::default();
    LastOutcomes::read(&run_dir.join(RESULTS), rows)?.for_each(rows, |outcome| {
        counts.add(outcome.status);
        Ok(())
    })?;
    Ok(counts)
}

/// Rows shown by name where a person looks: the end-of-run summary, `report`.
pub(crate) const ATTENTION_SHOWN: usize = 20;

/// The rows that need a person: those that did not start (failed, invalid, not
/// attempted), and executions that ended otherwise than SUCCEEDED.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attention {
    /// How many rows need a person.
    pub rows: u64,
    /// The first `ATTENTION_SHOWN` of them, in row order.
    pub first: Vec<Outcome>,
}

/// What a batch's rows add up to in its run log.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Rows per final status.
    pub counts: Counts,
    /// The rows that need a person.
    pub attention: Attention,
    /// How the started rows' executions stand, by their last logged status: one
    /// never seen to end is running.
    ends: Ends,
    /// Whether any execution was followed.
    followed: bool,
    /// The length of the run log's intact part these rows were read from.
    pub log_bytes: u64,
}

impl Tally {
    /// How the executions stand, if the run was followed.
    pub(crate) fn ends(&self) -> Option<Ends> {
        self.followed.then_some(self.ends)
    }

    fn add(&mut self, outcome: &Outcome) {
        self.counts.add(outcome.status);
        if outcome.status.is_done() {
            self.ends.add(
                outcome
                    .final_status
                    .as_ref()
                    .unwrap_or(&FinalStatus::Running),
            );
            self.followed |= outcome.final_status.is_some();
        }
        let ended_badly = (outcome.final_status.as_ref()).is_some_and(FinalStatus::needs_attention);
        if !outcome.status.is_done() || ended_badly {
            self.attention.rows += 1;
            if self.attention.first.len() < ATTENTION_SHOWN {
                self.attention.first.push(outcome.clone());
            }
        }
    }
}

/// Every batch row's last outcome in the run log, read one at a time, in row
/// order. Rows the log never mentions are `not_attempted`.
pub(crate) struct LastOutcomes {
    log: PathBuf,
    offsets: LastLines,
    /// The rows' own fields, in the order first seen.
    field_names: Vec<String>,
}

impl LastOutcomes {
    /// Reads the run log at `log`: where each batch row's last line is, and the rows'
    /// field names.
    pub(crate) fn read(log: &Path, rows: &BatchRows) -> io::Result<LastOutcomes> {
        let mut field_names: Vec<String> = Vec::new();
        let offsets = LastLines::read(log, rows, |names| {
            for name in names {
                if !field_names.contains(&name) {
                    field_names.push(name);
                }
            }
        })?;
        Ok(LastOutcomes {
            log: log.to_path_buf(),
            offsets,
            field_names,
        })
    }

    /// The length of the run log's intact part.
    pub(crate) fn intact(&self) -> u64 {
        self.offsets.intact
    }

    /// Hands `each` every batch row's last outcome, in row order (`not_attempted` for a
    /// row the log never mentions).
    pub(crate) fn for_each(
        &self,
        rows: &BatchRows,
        mut each: impl FnMut(&Outcome) -> io::Result<()>,
    ) -> io::Result<()> {
        self.for_each_line(rows, |_, outcome| each(outcome))
    }

    /// `for_each`, with where each outcome's line starts (`None` for a row the log
    /// never mentions).
    pub(crate) fn for_each_line(
        &self,
        rows: &BatchRows,
        mut each: impl FnMut(Option<u64>, &Outcome) -> io::Result<()>,
    ) -> io::Result<()> {
        // A run killed before its first outcome has no log.
        let mut log = match self.offsets.intact {
            0 => None,
            _ => Some(OffsetReader::open(&self.log)?),
        };
        self.offsets.for_each(rows, |row, offset| {
            let outcome = match (offset, &mut log) {
                (Some(offset), Some(log)) => log.outcome_at(offset)?,
                _ => Outcome::never_logged(row),
            };
            each(offset, &outcome)
        })
    }

    /// What the rows add up to.
    pub(crate) fn tally(&self, rows: &BatchRows) -> io::Result<Tally> {
        let mut tally = Tally {
            log_bytes: self.intact(),
            ..Tally::default()
        };
        self.for_each(rows, |outcome| {
            tally.add(outcome);
            Ok(())
        })?;
        Ok(tally)
    }

    /// Every row as CSV, a header first: `report.csv`.
    pub(crate) fn write_csv(
        &self,
        rows: &BatchRows,
        out: impl Write,
        mut also: impl FnMut(&Outcome) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        let header = COLUMNS
            .iter()
            .map(|c| c.to_string())
            .chain(self.field_names.iter().map(|f| {
                if COLUMNS.contains(&f.as_str()) {
                    format!("field.{f}")
                } else {
                    f.clone()
                }
            }));
        csv.write_record(header)?;
        self.for_each(rows, |outcome| {
            write_csv_record(&mut csv, outcome, &self.field_names)?;
            also(outcome)
        })?;
        csv.flush()
    }
}

/// Writes `report.csv` and `failed.jsonl` for the rows of a batch and returns
/// what they add up to.
pub(crate) fn write(run_dir: &RunDir, rows: &BatchRows) -> io::Result<Tally> {
    let outcomes = LastOutcomes::read(&run_dir.file(RESULTS), rows)?;
    let report = BufWriter::new(File::create(run_dir.file(REPORT))?);
    let mut failed = BufWriter::new(File::create(run_dir.file(FAILED))?);
    let mut tally = Tally {
        log_bytes: outcomes.intact(),
        ..Tally::default()
    };
    outcomes.write_csv(rows, report, |outcome| {
        tally.add(outcome);
        if outcome.status == Status::Failed {
            serde_json::to_writer(&mut failed, &outcome.fields)?;
            failed.write_all(b"\n")?;
        }
        Ok(())
    })?;
    failed.flush()?;
    Ok(tally)
}

/// Writes one row of `report.csv`, field by field: a million rows are written
/// at the end of every run, so nothing is copied that can be borrowed.
fn write_csv_record(
    csv: &mut csv::Writer<impl Write>,
    o: &Outcome,
    field_names: &[String],
) -> csv::Result<()> {
    fn text(v: &Option<String>) -> Cow<'_, str> {
        Cow::Borrowed(v.as_deref().unwrap_or(""))
    }
    fn number(n: Option<impl ToString>) -> Cow<'static, str> {
        Cow::Owned(n.map(|n| n.to_string()).unwrap_or_default())
    }
    let columns: [Cow<str>; COLUMNS.len()] = [
        Cow::Owned(o.row.to_string()),
        number(o.line),
        text(&o.name),
        Cow::Borrowed(o.status.as_str()),
        text(&o.execution_arn),
        text(&o.start_date),
        Cow::Owned(o.attempts.to_string()),
        Cow::Owned(o.retries.to_string()),
        text(&o.at),
        Cow::Owned(o.throttles.to_string()),
        number(o.latency_ms),
        text(&o.error),
        text(&o.message),
        Cow::Borrowed(o.final_status.as_ref().map_or("", FinalStatus::as_str)),
        text(&o.stop_date),
        number(o.duration_seconds),
        text(&o.cause),
    ];
    for column in &columns {
        csv.write_field(column.as_bytes())?;
    }
    for name in field_names {
        match o.fields.get(name) {
            None => csv.write_field("")?,
            Some(Value::String(s)) => csv.write_field(s)?,
            Some(other) => csv.write_field(other.to_string())?,
        }
    }
    csv.write_record(None::<&[u8]>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::final_status::FinalStatus;
    use crate::record::runlog::RunLog;

    fn outcome(row: u64, status: Status, end: Option<FinalStatus>) -> Outcome {
        let mut outcome = Outcome::never_logged(row);
        outcome.status = status;
        outcome.final_status = end;
        outcome
    }

    #[test]
    fn a_tally_counts_each_rows_last_line_and_what_needs_a_person() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS);
        let mut log = RunLog::append_to(&path, 0).unwrap();
        // Row 1 failed to start, then started and succeeded; row 2 ended FAILED;
        // row 3 still runs; row 4 failed to start; row 5 was never logged.
        for line in [
            outcome(1, Status::Failed, None),
            outcome(2, Status::Started, None),
            outcome(1, Status::Started, None),
            outcome(3, Status::Existing, None),
            outcome(4, Status::Failed, None),
            outcome(1, Status::Started, Some(FinalStatus::Succeeded)),
            outcome(2, Status::Started, Some(FinalStatus::Failed)),
            outcome(3, Status::Existing, Some(FinalStatus::Running)),
        ] {
            log.append(&line).unwrap();
        }
        let mut rows = BatchRows::default();
        (1..=5).for_each(|row| rows.insert(row));
        let tally = LastOutcomes::read(&path, &rows)
            .unwrap()
            .tally(&rows)
            .unwrap();
        assert_eq!(
            tally.counts,
            Counts {
                started: 2,
                existing: 1,
                failed: 1,
                invalid: 0,
                not_attempted: 1,
            }
        );
        let ends = tally.ends().expect("followed");
        assert_eq!((ends.succeeded, ends.failed, ends.running), (1, 1, 1));
        let attention: Vec<u64> = tally.attention.first.iter().map(|o| o.row).collect();
        assert_eq!(attention, vec![2, 4, 5]);
        assert_eq!(tally.attention.rows, 3);
    }

    #[test]
    fn a_run_never_followed_has_no_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS);
        let mut log = RunLog::append_to(&path, 0).unwrap();
        log.append(&outcome(1, Status::Started, None)).unwrap();
        let mut rows = BatchRows::default();
        rows.insert(1);
        let tally = LastOutcomes::read(&path, &rows)
            .unwrap()
            .tally(&rows)
            .unwrap();
        assert_eq!(tally.ends(), None);
        assert_eq!(tally.attention.rows, 0);
    }
}
