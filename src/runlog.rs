//! The run directory and its run log, the source of truth of a run.
//!
//! `run.json` records what the run was started with; `results.jsonl` gets one line
//! per outcome, written and flushed as it happens. A process killed mid-write can
//! leave a torn last line: reading ignores an incomplete final line (and says so),
//! and the next run cuts it off before it appends.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;

pub const RUN_INFO: &str = "run.json";
pub const RESULTS: &str = "results.jsonl";
pub const REPORT: &str = "report.csv";
pub const SUMMARY: &str = "summary.json";
pub const FAILED: &str = "failed.jsonl";

/// What a run was started with. A resume must match it, or it would skip and
/// start rows of a different batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub batch_id: String,
    pub state_machine_arn: String,
    pub manifest: String,
    pub manifest_sha256: String,
    pub input_template: Option<String>,
    pub name_template: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("run dir {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("run dir {path} belongs to a different run ({what} changed); use another --run-dir")]
    Mismatch { path: PathBuf, what: String },
}

pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates the folder or reopens it for a resume, checking that it holds the
    /// same run.
    pub fn open(path: &Path, info: &RunInfo) -> Result<RunDir, RunDirError> {
        let io_error = |source| RunDirError::Io {
            path: path.to_path_buf(),
            source,
        };
        fs::create_dir_all(path).map_err(io_error)?;
        let info_path = path.join(RUN_INFO);
        match fs::read(&info_path) {
            Ok(bytes) => {
                let recorded: RunInfo = serde_json::from_slice(&bytes).map_err(|e| {
                    io_error(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{RUN_INFO}: {e}"),
                    ))
                })?;
                if let Some(what) = difference(&recorded, info) {
                    return Err(RunDirError::Mismatch {
                        path: path.to_path_buf(),
                        what,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let json = serde_json::to_vec_pretty(info).expect("run info serializes");
                fs::write(&info_path, json).map_err(io_error)?;
            }
            Err(e) => return Err(io_error(e)),
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

fn difference(recorded: &RunInfo, now: &RunInfo) -> Option<String> {
    let checks = [
        ("the batch id", recorded.batch_id != now.batch_id),
        (
            "the state machine",
            recorded.state_machine_arn != now.state_machine_arn,
        ),
        (
            "the manifest's content",
            recorded.manifest_sha256 != now.manifest_sha256,
        ),
        (
            "the input template",
            recorded.input_template != now.input_template,
        ),
        (
            "the name template",
            recorded.name_template != now.name_template,
        ),
    ];
    let changed: Vec<&str> = checks.iter().filter(|c| c.1).map(|c| c.0).collect();
    (!changed.is_empty()).then(|| changed.join(", "))
}

/// The append-only log of outcomes.
pub struct RunLog {
    file: File,
}

impl RunLog {
    /// Opens the log for appending after its first `intact` bytes (what `read`
    /// found whole): a torn last line left by a killed run is cut off.
    pub fn append_to(path: &Path, intact: u64) -> io::Result<RunLog> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        if file.metadata()?.len() > intact {
            file.set_len(intact)?;
        }
        // A whole last record whose newline never made it to disk.
        if intact > 0 && last_byte(&mut file, intact)? != b'\n' {
            file.write_all(b"\n")?;
        }
        Ok(RunLog { file })
    }

    /// Writes one outcome as one line, in one write, and hands it to the OS at once:
    /// a process killed a moment later loses nothing it has logged.
    pub fn append(&mut self, outcome: &Outcome) -> io::Result<()> {
        let mut line = serde_json::to_vec(outcome).expect("outcome serializes");
        line.push(b'\n');
        self.file.write_all(&line)
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
pub fn read(path: &Path, mut each: impl FnMut(u64, Outcome)) -> io::Result<u64> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
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
        match serde_json::from_slice::<Outcome>(&line) {
            Ok(outcome) => each(offset, outcome),
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
pub struct Previous {
    /// Rows already started (or found existing): skipped without an API call.
    pub done_rows: HashSet<u64>,
    /// Length of the log's intact part.
    pub intact: u64,
}

pub fn previous(path: &Path) -> io::Result<Previous> {
    let mut done_rows = HashSet::new();
    let intact = read(path, |_, outcome| {
        if outcome.status.is_done() {
            done_rows.insert(outcome.row);
        }
    })?;
    Ok(Previous { done_rows, intact })
}
