//! The run directory and its run log, the source of truth of a run.
//!
//! `run.json` records what the run was started with; `results.jsonl` gets one line
//! per outcome, written and flushed as it happens. A process killed mid-write can
//! leave a torn last line: reading ignores an incomplete final line (and says so),
//! and the next run cuts it off before it appends.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::model::outcome::{Outcome, Status};

/// The append-only log of outcomes.
pub(crate) struct RunLog {
    file: File,
    /// Where the next line starts.
    len: u64,
}

impl RunLog {
    /// Opens the log for appending after its first `intact` bytes (what `read`
    /// found whole): a torn last line left by a killed run is cut off.
    pub(crate) fn append_to(path: &Path, intact: u64) -> io::Result<RunLog> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        if file.metadata()?.len() > intact {
            file.set_len(intact)?;
        }
        // A whole last record whose newline never made it to disk.
        let mut len = intact;
        if intact > 0 && last_byte(&mut file, intact)? != b'\n' {
            file.write_all(b"\n")?;
            len += 1;
        }
        Ok(RunLog { file, len })
    }

    /// Writes one outcome as one line, in one write, and hands it to the OS at once:
    /// a process killed a moment later loses nothing it has logged. Returns where
    /// the line starts.
    pub(crate) fn append(&mut self, outcome: &Outcome) -> io::Result<u64> {
        let mut line = serde_json::to_vec(outcome).expect("outcome serializes");
        line.push(b'\n');
        self.file.write_all(&line)?;
        let offset = self.len;
        self.len += line.len() as u64;
        Ok(offset)
    }
}

fn last_byte(file: &mut File, len: u64) -> io::Result<u8> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0];
    file.read_exact(&mut last)?;
    Ok(last[0])
}

/// Reads a run log, calling `each` with every outcome and the byte offset of its
/// line, and returns the length of the intact part. A missing log is an empty one.
/// An unreadable line is an error, except the last one when it is incomplete (a
/// write cut short): that one is skipped, with a warning, and the row it was about
/// is treated as never logged.
pub(crate) fn read(path: &Path, each: impl FnMut(u64, Outcome)) -> io::Result<u64> {
    read_as(path, each)
}

/// `read`, with each line parsed as `T`: a view of the few fields a reader needs.
pub(crate) fn read_as<T: DeserializeOwned + HasRow>(
    path: &Path,
    mut each: impl FnMut(u64, T),
) -> io::Result<u64> {
    read_lines(path, |offset, line| {
        each(offset, parse(line)?);
        Ok(())
    })
}

/// The length of a log's intact part (its whole lines): where appending resumes.
pub(crate) fn intact_length(path: &Path) -> io::Result<u64> {
    #[derive(Deserialize)]
    struct Row {
        row: u64,
    }
    impl HasRow for Row {
        fn row(&self) -> u64 {
            self.row
        }
    }
    read_as(path, |_, _: Row| {})
}

/// More rows than any batch has: a row number past it is a corrupt file.
pub(crate) const MAX_ROW: u64 = 1 << 36;

/// A log line as `T`, which has the outcome's `row` (and may skip the rest: the
/// readers that need a few fields of a million lines parse only those).
fn parse<'a, T: Deserialize<'a> + HasRow>(line: &'a [u8]) -> Result<T, String> {
    let parsed: T = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    match parsed.row() {
        0 => Err("rows count from 1".to_string()),
        row if row > MAX_ROW => Err(format!("row {row} is past any batch's last row")),
        _ => Ok(parsed),
    }
}

/// A view of a log line, with its row.
pub(crate) trait HasRow {
    /// The outcome's row.
    fn row(&self) -> u64;
}

impl HasRow for Outcome {
    fn row(&self) -> u64 {
        self.row
    }
}

/// `read`, handing `each` each non-blank line to parse (`each` says why it cannot).
fn read_lines(
    path: &Path,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> io::Result<u64> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let (mut offset, mut number) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(offset);
        }
        number += 1;
        let complete = line.ends_with(b"\n");
        if line.iter().all(u8::is_ascii_whitespace) {
            offset += n as u64;
            continue;
        }
        match each(offset, &line) {
            Ok(()) => {}
            Err(_) if !complete => {
                tracing::warn!(
                    "{}: ignoring an incomplete last line {number} (a write cut short)",
                    path.display()
                );
                return Ok(offset);
            }
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} line {number}: {e}", path.display()),
                ));
            }
        }
        offset += n as u64;
    }
}

/// What a resume needs from an earlier run's log.
#[derive(Default)]
pub(crate) struct Previous {
    /// Rows already started (or found existing), by the name they are planned
    /// under.
    pub done: DoneRows,
    /// Length of the log's intact part.
    pub intact: u64,
}

/// What a resume reads of a log line: a million of them are read before the
/// first start, so the rest of the line is skipped, not parsed into an `Outcome`.
#[derive(Deserialize)]
struct Started<'a> {
    row: u64,
    status: Status,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    planned_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    execution_arn: Option<Cow<'a, str>>,
}

impl HasRow for Started<'_> {
    fn row(&self) -> u64 {
        self.row
    }
}

/// Reads the log of a run dir for a resume. Only executions whose ARN starts with
/// `executions` (those of the batch's state machine) count: names are unique per
/// state machine, and a batch resumed onto another state machine starts its rows
/// there.
pub(crate) fn previous(path: &Path, executions: &str) -> io::Result<Previous> {
    let mut done = DoneRows::default();
    let intact = read_lines(path, |_, line| {
        let line: Started = parse(line)?;
        let ours = (line.execution_arn.as_deref()).is_some_and(|arn| arn.starts_with(executions));
        // A row restarted by `retry` is done under the name it is planned under
        // (`Outcome::planned_name`).
        let name = line.planned_name.as_deref().or(line.name.as_deref());
        if let (true, true, Some(name)) = (line.status.is_done(), ours, name) {
            done.insert(line.row, name);
        }
        Ok(())
    })?;
    // A row's last line counts: latest first, then a stable sort keeps it first.
    done.by_row.reverse();
    done.by_row.sort_by_key(|&[row, _]| row);
    done.by_row.dedup_by_key(|&mut [row, _]| row);
    done.names.sort_unstable();
    done.names.dedup();
    Ok(Previous { done, intact })
}

/// Rows already started. A row is skipped without a call when it is planned under
/// the name it was started under; a row planned under a name some other row was
/// started under (its number changed: a listing gained an object, a manifest was
/// edited and resumed with `--force-resume`) is known to exist, also without a
/// call. 24 bytes a started row: 24 MB for a million (nothing for a new run).
#[derive(Default)]
pub(crate) struct DoneRows {
    /// `[row, hash of the name it was started under]`, by row: as many as rows
    /// started, whatever their numbers (a log line's row is not trusted to size
    /// anything).
    by_row: Vec<[u64; 2]>,
    /// Every name started in this run dir, sorted.
    names: Vec<u64>,
}

/// Whether a planned row was started already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    /// Under this row number and name.
    Here,
    /// Under this name, as another row.
    Elsewhere,
    /// Not at all.
    No,
}

impl DoneRows {
    fn insert(&mut self, row: u64, name: &str) {
        let hash = name_hash(name);
        self.by_row.push([row, hash]);
        self.names.push(hash);
    }

    /// Whether the row, planned under `name`, was started already, and as which row.
    pub(crate) fn check(&self, row: u64, name: &str) -> Done {
        // A new run's check passes here for every row: no hashing.
        if self.names.is_empty() {
            return Done::No;
        }
        let hash = name_hash(name);
        let here = (self.by_row.binary_search_by_key(&row, |&[row, _]| row))
            .is_ok_and(|at| self.by_row[at][1] == hash);
        if here {
            Done::Here
        } else if self.names.binary_search(&hash).is_ok() {
            Done::Elsewhere
        } else {
            Done::No
        }
    }
}

/// A 64-bit hash of a name.
fn name_hash(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Reads log lines by offset, cheaply when offsets come in order.
pub(crate) struct OffsetReader {
    reader: BufReader<File>,
    position: u64,
    line: Vec<u8>,
}

impl OffsetReader {
    /// Opens the log at `path`.
    pub(crate) fn open(path: &Path) -> io::Result<OffsetReader> {
        Ok(OffsetReader {
            reader: BufReader::with_capacity(1 << 16, File::open(path)?),
            position: 0,
            line: Vec::new(),
        })
    }

    /// The outcome on the line that starts at `offset`.
    pub(crate) fn outcome_at(&mut self, offset: u64) -> io::Result<Outcome> {
        self.reader
            .seek_relative(offset as i64 - self.position as i64)?;
        self.line.clear();
        let n = self.reader.read_until(b'\n', &mut self.line)?;
        self.position = offset + n as u64;
        serde_json::from_slice(&self.line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const EXECUTIONS: &str = "arn:aws:states:us-east-1:123456789012:execution:sm:";

    fn started(row: u64, name: &str) -> Outcome {
        let mut outcome = Outcome::never_logged(row);
        outcome.status = Status::Started;
        outcome.name = Some(name.to_string());
        outcome.execution_arn = Some(format!("{EXECUTIONS}{name}"));
        outcome
    }

    /// A run log holding `lines`, in a folder that lives as long as the first value.
    fn log_of(lines: &[Outcome]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let mut log = RunLog::append_to(&path, 0).unwrap();
        for line in lines {
            log.append(line).unwrap();
        }
        (dir, path)
    }

    fn rows_read(path: &Path) -> (Vec<(u64, u64)>, u64) {
        let mut rows = Vec::new();
        let intact = read(path, |offset, outcome| rows.push((outcome.row, offset))).unwrap();
        (rows, intact)
    }

    #[test]
    fn appended_lines_read_back_where_they_were_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let mut log = RunLog::append_to(&path, 0).unwrap();
        let offsets: Vec<u64> = (1..=3)
            .map(|row| log.append(&started(row, &format!("n{row}"))).unwrap())
            .collect();
        let (rows, intact) = rows_read(&path);
        assert_eq!(
            rows,
            vec![(1, offsets[0]), (2, offsets[1]), (3, offsets[2])]
        );
        assert_eq!(intact, fs::metadata(&path).unwrap().len());
        let mut lines = OffsetReader::open(&path).unwrap();
        assert_eq!(lines.outcome_at(offsets[1]).unwrap().row, 2);
        assert_eq!(lines.outcome_at(offsets[0]).unwrap().row, 1);
    }

    #[test]
    fn a_torn_last_line_is_skipped_then_cut_off_before_the_next_append() {
        let (_dir, path) = log_of(&[started(1, "n1"), started(2, "n2")]);
        let whole = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(br#"{"row":3,"sta"#)
            .unwrap();
        let (rows, intact) = rows_read(&path);
        assert_eq!(rows.len(), 2);
        assert_eq!(intact, whole);
        let mut log = RunLog::append_to(&path, intact).unwrap();
        assert_eq!(log.append(&started(4, "n4")).unwrap(), whole);
        let (rows, _) = rows_read(&path);
        let numbers: Vec<u64> = rows.iter().map(|&(row, _)| row).collect();
        assert_eq!(numbers, vec![1, 2, 4]);
    }

    #[test]
    fn a_resume_knows_each_row_by_the_name_it_started_under() {
        let mut failed = started(3, "c");
        failed.status = Status::Failed;
        failed.execution_arn = None;
        let mut elsewhere = started(4, "d");
        elsewhere.execution_arn = Some("arn:aws:states:us-east-1:1:execution:other:d".into());
        let (_dir, path) = log_of(&[started(1, "a"), started(2, "b"), failed, elsewhere]);
        let previous = previous(&path, EXECUTIONS).unwrap();
        let done = previous.done;
        assert_eq!(previous.intact, fs::metadata(&path).unwrap().len());
        assert_eq!(done.check(1, "a"), Done::Here);
        // Row numbers moved (a listing gained an object): known, but not here.
        assert_eq!(done.check(2, "a"), Done::Elsewhere);
        assert_eq!(done.check(2, "renamed"), Done::No);
        // Failed to start, or started on another state machine: not done.
        assert_eq!(done.check(3, "c"), Done::No);
        assert_eq!(done.check(4, "d"), Done::No);
    }
}
