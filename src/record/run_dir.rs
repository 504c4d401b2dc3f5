//! The run directory: what the run was started with (`run.json`), its lock (one
//! process at a time), and the names of its files.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::record::runlog::{self, Previous};

/// What the run was started with (`RunInfo`).
pub(crate) const RUN_INFO: &str = "run.json";

/// The run log: one `Outcome` a line.
pub(crate) const RESULTS: &str = "results.jsonl";

/// Every row's final outcome, as CSV.
pub(crate) const REPORT: &str = "report.csv";

/// The run's summary, as JSON.
pub(crate) const SUMMARY: &str = "summary.json";

/// The failed rows' fields: a manifest for the next run.
pub(crate) const FAILED: &str = "failed.jsonl";

/// The run dir's lock; holds the pid of the process that has it.
pub(crate) const LOCK: &str = "lock";

/// The batch's rows, as ranges, so that `watch` and `status` need no manifest.
pub(crate) const ROWS: &str = "rows.json";

/// While a `retry` launches: how it does (see `retry`).
pub(crate) const RETRYING: &str = "retrying.json";

/// What a run was started with. A resume must match it, or it would skip and
/// start rows of a different batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunInfo {
    /// The batch id.
    pub batch_id: String,
    /// The state machine's ARN, as resolved.
    pub state_machine_arn: String,
    /// The manifest, as messages name it.
    pub manifest: String,
    /// The SHA-256 of the manifest's bytes, in hex.
    pub manifest_sha256: String,
    /// `--input-template`, as given.
    pub input_template: Option<String>,
    /// `--name-template`, as given.
    pub name_template: Option<String>,
    /// `--output-template`, as given.
    #[serde(default)]
    pub output_template: Option<String>,
}

/// Why a run directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// Reading or writing it failed.
    #[error("run dir {path}: {source}")]
    Io {
        /// The run dir.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// It holds a run started with something else, and `--force-resume` was not given.
    #[error(
        "run dir {path} was started with a different {what}; resume it with the same \
         command, use another --run-dir, or pass --force-resume to go on with the change"
    )]
    Mismatch {
        /// The run dir.
        path: PathBuf,
        /// What differs: batch id, state machine, manifest content, templates.
        what: String,
    },
    /// Another process holds its lock.
    #[error("run dir {path} is in use by another sfn-batch (pid {holder}); wait for it to end")]
    Locked {
        /// The run dir.
        path: PathBuf,
        /// The pid written in the lock file, or `unknown`.
        holder: String,
    },
}

/// An open run directory. It holds the directory's lock as long as it lives: a
/// second process on the same folder is refused. The lock is the OS's (flock), so
/// it is released when the process ends in any way, SIGKILL included.
pub(crate) struct RunDir {
    path: PathBuf,
    lock: File,
}

/// A run dir about to be opened: locked and checked against the run if it exists,
/// created only by `open`. A resume reads its log before the manifest is checked
/// (the check then marks the rows already done), and a batch refused by the check
/// leaves no folder behind.
pub(crate) struct Locked {
    path: PathBuf,
    /// The lock of a folder that existed when it was taken.
    lock: Option<File>,
    info: RunInfo,
    /// Whether `run.json` is to be written: a new run, or one changed by force.
    write_info: bool,
}

impl Locked {
    /// Locks the run dir at `path` if the folder exists (creating nothing), and
    /// checks that it holds the same run. With `force`, a different run is accepted
    /// (with a warning) and `open` records the new one in `run.json`.
    pub(crate) fn new(path: &Path, info: RunInfo, force: bool) -> Result<Locked, RunDirError> {
        let lock = match path.is_dir() {
            true => Some(lock(path, LAUNCHING)?),
            false => None,
        };
        let recorded = match path.join(RUN_INFO).exists() {
            true => Some(read_info(path)?),
            false => None,
        };
        let changed = recorded.as_ref().and_then(|r| difference(r, &info));
        match &changed {
            Some(what) if !force => {
                return Err(RunDirError::Mismatch {
                    path: path.to_path_buf(),
                    what: what.clone(),
                });
            }
            Some(what) => tracing::warn!(
                "{}: --force-resume: the run was started with a different {what}; rows whose \
                 name changed will be launched",
                path.display()
            ),
            None => {}
        }
        Ok(Locked {
            path: path.to_path_buf(),
            lock,
            info,
            write_info: recorded.is_none() || changed.is_some(),
        })
    }

    /// What an earlier run in this folder logged, for a resume of a batch of the
    /// state machine whose executions' ARNs start with `executions` (see
    /// `previous`). Nothing, for a new folder.
    pub(crate) fn previous(&self, executions: &str) -> io::Result<Previous> {
        match self.lock {
            Some(_) => runlog::previous(&self.path.join(RESULTS), executions),
            None => Ok(Previous::default()),
        }
    }

    /// Creates the folder, or takes it over for a resume.
    pub(crate) fn open(self) -> Result<RunDir, RunDirError> {
        let path = self.path.as_path();
        let io_error = |source| RunDirError::Io {
            path: path.to_path_buf(),
            source,
        };
        let lock = match self.lock {
            Some(lock) => lock,
            None => {
                fs::create_dir_all(path).map_err(io_error)?;
                let lock = lock(path, LAUNCHING)?;
                // Neither checked nor read: it must hold no run.
                if path.join(RUN_INFO).exists() || path.join(RESULTS).exists() {
                    return Err(io_error(io::Error::other(
                        "another sfn-batch created it while this one checked the manifest; \
                         run the command again to resume it",
                    )));
                }
                lock
            }
        };
        if self.write_info {
            let json = serde_json::to_vec_pretty(&self.info).expect("run info serializes");
            write_atomically(&path.join(RUN_INFO), &json).map_err(io_error)?;
        }
        Ok(RunDir {
            path: path.to_path_buf(),
            lock,
        })
    }
}

impl RunDir {
    /// Reopens the run dir of an earlier run, locked, with what it was started with.
    /// `doing`: what this process does with it, for `status` to tell (`following`).
    pub(crate) fn reopen(path: &Path, doing: &str) -> Result<(RunDir, RunInfo), RunDirError> {
        let info = read_info(path)?;
        let lock = lock(path, doing)?;
        let dir = RunDir {
            path: path.to_path_buf(),
            lock,
        };
        Ok((dir, info))
    }

    /// The folder.
    /// Says in the lock file what this process does with the run dir now
    /// (`following`), for `status`; best effort, as nothing else reads it.
    pub(crate) fn now_doing(&self, doing: &str) {
        let _ = say_doing(&self.lock, doing);
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the file `name` (`RESULTS`, `REPORT`, ...) in the folder.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Writes a whole file so that a reader (`status`, while a run goes on) never sees
/// it half written: to a temporary name, then renamed over.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("tmp");
    fs::write(&temporary, bytes)?;
    fs::rename(&temporary, path)
}

/// What the run in `dir` was started with; read without the lock.
pub(crate) fn read_info(dir: &Path) -> Result<RunInfo, RunDirError> {
    let error = |source| RunDirError::Io {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.exists() {
        return Err(error(io::Error::new(
            io::ErrorKind::NotFound,
            "no such directory: give the run dir of an earlier run",
        )));
    }
    let bytes = fs::read(dir.join(RUN_INFO)).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => error(io::Error::new(
            e.kind(),
            format!("no {RUN_INFO}: not the run dir of an sfn-batch run"),
        )),
        _ => error(e),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        error(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{RUN_INFO}: {e}"),
        ))
    })
}

/// What `run` does with its run dir while it holds the lock, until it follows.
const LAUNCHING: &str = "launching";
/// What a process holding the lock does, when the lock file does not say.
const IN_USE: &str = "using the run dir";

/// Takes the run dir's lock, and writes our pid and what we do (`launching`) into
/// the lock file, for the message a second process gives and for `status`.
fn lock(dir: &Path, doing: &str) -> Result<File, RunDirError> {
    let path = dir.join(LOCK);
    let io_error = |source| RunDirError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_error)?;
    match try_lock(&file) {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = Holder::read(&path).map_or("unknown".to_string(), |h| h.pid);
            return Err(RunDirError::Locked {
                path: dir.to_path_buf(),
                holder,
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_error(e)),
    }
    say_doing(&file, doing).map_err(io_error)?;
    Ok(file)
}

/// Writes our pid and what we do into the lock file `file`, over what it held.
fn say_doing(file: &File, doing: &str) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let text = format!("{} {doing}\n", std::process::id());
    file.set_len(0)?;
    file.write_all_at(text.as_bytes(), 0)
}

/// Takes the lock, waiting a moment for it: `status` holds it (shared) for an
/// instant to see whether a process is at work.
fn try_lock(file: &File) -> Result<(), fs::TryLockError> {
    for _ in 0..10 {
        match file.try_lock() {
            Err(fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            done => return done,
        }
    }
    file.try_lock()
}

/// The live process that holds a run dir's lock.
pub(crate) struct Holder {
    /// Its pid.
    pub pid: String,
    /// What it does with the run dir: `launching`, `following`, `retrying`.
    pub doing: String,
}

impl Holder {
    /// The process holding the lock of the run dir `dir`, if one does. Probed with
    /// a shared lock, taken and given back at once.
    pub(crate) fn of(dir: &Path) -> Option<Holder> {
        let path = dir.join(LOCK);
        let file = File::open(&path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => None,
            Err(fs::TryLockError::WouldBlock) => Some(Holder::read(&path).unwrap_or(Holder {
                pid: "unknown".to_string(),
                doing: IN_USE.to_string(),
            })),
            Err(fs::TryLockError::Error(_)) => None,
        }
    }

    /// What the lock file at `path` says (an older sfn-batch wrote its pid alone).
    fn read(path: &Path) -> Option<Holder> {
        let text = fs::read_to_string(path).ok()?;
        let mut words = text.split_whitespace();
        Some(Holder {
            pid: words.next()?.to_string(),
            doing: words.next().unwrap_or(IN_USE).to_string(),
        })
    }
}

fn difference(recorded: &RunInfo, now: &RunInfo) -> Option<String> {
    let checks = [
        ("batch id", recorded.batch_id != now.batch_id),
        (
            "state machine",
            recorded.state_machine_arn != now.state_machine_arn,
        ),
        (
            "manifest content",
            recorded.manifest_sha256 != now.manifest_sha256,
        ),
        (
            "input template",
            recorded.input_template != now.input_template,
        ),
        ("name template", recorded.name_template != now.name_template),
        (
            "output template",
            recorded.output_template != now.output_template,
        ),
    ];
    let changed: Vec<&str> = checks.iter().filter(|c| c.1).map(|c| c.0).collect();
    (!changed.is_empty()).then(|| changed.join(", "))
}
