//! The report, derived from the run log alone: `report.csv` (every row's final
//! outcome, in row order, with the row's fields) and `failed.jsonl` (the failed
//! rows' original fields: itself a manifest for the next run).
//!
//! A row logged more than once (failed, then started by a resume) counts by its
//! last line. Memory: one offset per row, never the outcomes themselves.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::outcome::{Outcome, Status};
use crate::runlog::{self, FAILED, OffsetReader, REPORT, RESULTS, RunDir};

/// Rows per final status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub started: u64,
    pub existing: u64,
    pub failed: u64,
    pub invalid: u64,
    pub not_attempted: u64,
}

impl Counts {
    pub fn add(&mut self, status: Status) {
        *self.get_mut(status) += 1;
    }

    pub fn get(mut self, status: Status) -> u64 {
        *self.get_mut(status)
    }

    fn get_mut(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Started => &mut self.started,
            Status::Existing => &mut self.existing,
            Status::Failed => &mut self.failed,
            Status::Invalid => &mut self.invalid,
            Status::NotAttempted => &mut self.not_attempted,
        }
    }

    pub fn total(&self) -> u64 {
        Status::ALL.iter().map(|&s| self.get(s)).sum()
    }

    /// `10 rows: 8 started, 1 existing, 1 failed, 0 invalid, 0 not attempted`.
    pub fn human(&self, rows: u64) -> String {
        format!(
            "{rows} rows: {} started, {} existing, {} failed, {} invalid, {} not attempted",
            self.started, self.existing, self.failed, self.invalid, self.not_attempted
        )
    }

    /// Every row was started or already existed.
    pub fn all_done(&self) -> bool {
        self.started + self.existing == self.total()
    }
}

/// More rows than any batch has: a row number past it is a corrupt file.
const MAX_ROW: u64 = 1 << 36;

/// The rows of a batch, by number: every row of the manifest, or those a run
/// selects (`--shard`, `--offset`, `--limit`). A bitmap: 10 million rows take 1.25 MB.
#[derive(Debug, Default, Clone)]
pub struct BatchRows {
    bits: Vec<u64>,
    count: u64,
}

impl BatchRows {
    pub fn insert(&mut self, row: u64) {
        let (word, bit) = ((row / 64) as usize, row % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) == 0 {
            self.count += 1;
        }
        self.bits[word] |= 1 << bit;
    }

    pub fn contains(&self, row: u64) -> bool {
        let (word, bit) = ((row / 64) as usize, row % 64);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The highest row number, 0 when empty.
    pub fn last(&self) -> u64 {
        (0..self.bits.len() as u64 * 64)
            .rev()
            .find(|&row| self.contains(row))
            .unwrap_or(0)
    }

    /// Row numbers in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..=self.last()).filter(|&row| self.contains(row))
    }

    /// Saves the rows as ranges (`[[1, 1000]]` for a whole manifest), so that
    /// `watch` and `status` know the batch without its manifest.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut ranges: Vec<[u64; 2]> = Vec::new();
        for row in self.iter() {
            match ranges.last_mut() {
                Some(last) if last[1] + 1 == row => last[1] = row,
                _ => ranges.push([row, row]),
            }
        }
        runlog::write_atomically(
            path,
            &serde_json::to_vec(&ranges).expect("ranges serialize"),
        )
    }

    pub fn load(path: &Path) -> io::Result<BatchRows> {
        let ranges: Vec<[u64; 2]> = serde_json::from_slice(&std::fs::read(path)?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut rows = BatchRows::default();
        for [first, last] in ranges {
            if first == 0 || last < first || last > MAX_ROW {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not a range of rows: [{first}, {last}]"),
                ));
            }
            (first..=last).for_each(|row| rows.insert(row));
        }
        Ok(rows)
    }
}

const COLUMNS: [&str; 14] = [
    "row",
    "line",
    "name",
    "status",
    "execution_arn",
    "start_date",
    "attempts",
    "retries",
    "error",
    "message",
    "final_status",
    "stop_date",
    "duration_seconds",
    "cause",
];

/// What a reader keeps of each batch row's last run-log line.
pub struct LastLines<T> {
    /// By row (row 1 first); `None` for a row the log never mentions.
    by_row: Vec<Option<T>>,
    /// The length of the log's intact part.
    pub intact: u64,
}

impl<T> LastLines<T> {
    /// Reads the run log at `log`, keeping what `keep` makes of each line (and its
    /// offset) as its row's last. A row outside the batch was logged by a run with
    /// another selection, or belongs to a longer manifest resumed with
    /// --force-resume: it is left out.
    pub fn read(
        log: &Path,
        rows: &BatchRows,
        mut keep: impl FnMut(u64, Outcome) -> T,
    ) -> io::Result<LastLines<T>> {
        let mut by_row: Vec<Option<T>> = (0..rows.last()).map(|_| None).collect();
        let intact = runlog::read(log, |offset, outcome| {
            if rows.contains(outcome.row) {
                let row = outcome.row as usize - 1;
                by_row[row] = Some(keep(offset, outcome));
            }
        })?;
        Ok(LastLines { by_row, intact })
    }

    /// Each row of the batch, in order, with what was kept of its last line.
    pub fn each<'a>(&'a self, rows: &'a BatchRows) -> impl Iterator<Item = (u64, Option<&'a T>)> {
        rows.iter()
            .map(|row| (row, self.by_row[row as usize - 1].as_ref()))
    }
}

/// The final counts of a batch's rows, from the run log, writing nothing.
pub fn tally(run_dir: &Path, rows: &BatchRows) -> io::Result<Counts> {
    let last = LastLines::read(&run_dir.join(RESULTS), rows, |_, outcome| outcome.status)?;
    let mut counts = Counts::default();
    for (_, status) in last.each(rows) {
        counts.add(status.copied().unwrap_or(Status::NotAttempted));
    }
    Ok(counts)
}

/// Writes `report.csv` and `failed.jsonl` for the rows of a batch and returns the
/// final counts. Rows the log never mentions are `not_attempted`.
pub fn write(run_dir: &RunDir, rows: &BatchRows) -> io::Result<Counts> {
    let log_path = run_dir.file(RESULTS);
    let mut field_names: Vec<String> = Vec::new();
    let last = LastLines::read(&log_path, rows, |offset, outcome| {
        for key in outcome.fields.keys() {
            if !field_names.contains(key) {
                field_names.push(key.clone());
            }
        }
        offset
    })?;

    let mut log = OffsetReader::open(&log_path)?;
    let mut csv = csv::Writer::from_writer(BufWriter::new(File::create(run_dir.file(REPORT))?));
    let mut failed = BufWriter::new(File::create(run_dir.file(FAILED))?);
    let header = COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(field_names.iter().map(|f| {
            if COLUMNS.contains(&f.as_str()) {
                format!("field.{f}")
            } else {
                f.clone()
            }
        }));
    csv.write_record(header)?;
    let mut counts = Counts::default();
    for (row, offset) in last.each(rows) {
        let outcome = match offset {
            Some(&offset) => log.outcome_at(offset)?,
            None => Outcome::never_logged(row),
        };
        counts.add(outcome.status);
        csv.write_record(csv_record(&outcome, &field_names))?;
        if outcome.status == Status::Failed {
            serde_json::to_writer(&mut failed, &outcome.fields)?;
            failed.write_all(b"\n")?;
        }
    }
    csv.flush()?;
    failed.flush()?;
    Ok(counts)
}

fn csv_record(o: &Outcome, field_names: &[String]) -> Vec<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut record = vec![
        o.row.to_string(),
        o.line.map(|l| l.to_string()).unwrap_or_default(),
        text(&o.name),
        o.status.as_str().to_string(),
        text(&o.execution_arn),
        text(&o.start_date),
        o.attempts.to_string(),
        o.retries.to_string(),
        text(&o.error),
        text(&o.message),
        text(&o.final_status),
        text(&o.stop_date),
        o.duration_seconds
            .map(|d| d.to_string())
            .unwrap_or_default(),
        text(&o.cause),
    ];
    record.extend(field_names.iter().map(|f| match o.fields.get(f) {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }));
    record
}
