//! A Map Run's results, read back: its ResultWriter writes `manifest.json`, which
//! lists JSON arrays of child workflow results (`SUCCEEDED_n.json`,
//! `FAILED_n.json`, `PENDING_n.json`); each entry's `Input` is the staged item, so
//! its `Row` says whose result it is. Each row's verdict then becomes the outcome
//! the run log records, as if the row had been launched here.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;

use serde::de::{Deserializer as _, Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::sfn::StateMachine;
use crate::model::final_status::FinalStatus;
use crate::model::outcome::{Outcome, Status};
use crate::plan::source::location::download;
use crate::plan::spill::{PARTS, Parts, Spill};

/// AWS's `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Manifest {
    destination_bucket: String,
    result_files: ResultFiles,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct ResultFiles {
    #[serde(default)]
    succeeded: Vec<ResultFile>,
    #[serde(default)]
    failed: Vec<ResultFile>,
    #[serde(default)]
    pending: Vec<ResultFile>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResultFile {
    key: String,
}

/// One child workflow's entry in a result file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResultEntry {
    /// The staged item, as JSON text.
    input: String,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

/// The part of a staged item a result is matched by.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StagedRow {
    row: u64,
}

/// How a row's step in the Map ended, kept small: what its outcome needs of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Verdict {
    /// The execution started (with `.sync:2`, and ended as `final_status` says).
    Started(ChildExecution),
    /// The name was taken: an earlier launch started it.
    Existing,
    /// StartExecution failed: the step's error and cause.
    Failed {
        /// The step's error.
        error: Option<String>,
        /// The step's cause.
        cause: Option<String>,
    },
    /// The Map Run ended before the row's turn.
    Pending,
}

/// A started execution, as a step's output (or, ended badly, its cause) describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChildExecution {
    arn: Option<String>,
    start_date: Option<String>,
    stop_date: Option<String>,
    final_status: Option<FinalStatus>,
    error: Option<String>,
    cause: Option<String>,
}

impl ChildExecution {
    /// From the JSON text of a step's output or cause (StartExecution's answer,
    /// or with `.sync:2` the execution's description).
    fn described(json: Option<&str>) -> ChildExecution {
        let value: Value = json
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        ChildExecution {
            arn: text(&value["ExecutionArn"]),
            start_date: date(&value["StartDate"]),
            stop_date: date(&value["StopDate"]),
            final_status: value["Status"].as_str().map(FinalStatus::from_word),
            error: text(&value["Error"]),
            cause: text(&value["Cause"]),
        }
    }
}

impl Verdict {
    fn of(kind: ResultKind, entry: ResultEntry) -> Verdict {
        match kind {
            ResultKind::Succeeded => {
                Verdict::Started(ChildExecution::described(entry.output.as_deref()))
            }
            ResultKind::Pending => Verdict::Pending,
            ResultKind::Failed => {
                let error = entry.error.unwrap_or_default();
                if error.contains("ExecutionAlreadyExists") {
                    return Verdict::Existing;
                }
                let described = ChildExecution::described(entry.cause.as_deref());
                match &described.final_status {
                    Some(status) if status.is_redrivable() => Verdict::Started(described),
                    _ => Verdict::Failed {
                        error: Some(error),
                        cause: entry.cause,
                    },
                }
            }
        }
    }
}

/// The kinds of result file.
#[derive(Debug, Clone, Copy)]
enum ResultKind {
    Succeeded,
    Failed,
    Pending,
}

/// Every row's verdict, as read: each one appended to a temporary file
/// (length-prefixed JSON), and where it starts spilled by row range, so that the
/// results of ten million rows are read back one range at a time, in row order.
pub(crate) struct Verdicts {
    file: BufWriter<File>,
    written: u64,
    spill: Spill,
    rows_per_part: u64,
}

impl Verdicts {
    /// Verdicts for rows 1 to `last_row`.
    fn new(last_row: u64) -> io::Result<Verdicts> {
        Ok(Verdicts {
            file: BufWriter::new(tempfile::tempfile()?),
            written: 0,
            spill: Spill::default(),
            rows_per_part: last_row.div_ceil(PARTS as u64).max(1),
        })
    }

    fn add(&mut self, row: u64, verdict: &Verdict) -> io::Result<()> {
        let json = serde_json::to_vec(verdict).expect("verdict serializes");
        self.file.write_all(&(json.len() as u32).to_le_bytes())?;
        self.file.write_all(&json)?;
        let part = ((row.max(1) - 1) / self.rows_per_part).min(PARTS as u64 - 1);
        self.spill.push(part as usize, [row, self.written]);
        self.written += 4 + json.len() as u64;
        Ok(())
    }

    /// The verdicts, to look up in increasing row order.
    pub(crate) fn lookup(self) -> io::Result<Lookup> {
        Ok(Lookup {
            file: self.file.into_inner().map_err(|e| e.into_error())?,
            parts: self.spill.finish()?,
            rows_per_part: self.rows_per_part,
            part: None,
            pairs: Vec::new(),
            offsets: HashMap::new(),
        })
    }
}

/// Verdicts read back a part (a range of rows) at a time.
pub(crate) struct Lookup {
    file: File,
    parts: Parts,
    rows_per_part: u64,
    /// The part loaded.
    part: Option<usize>,
    pairs: Vec<[u64; 2]>,
    /// The loaded part's rows, and where each one's last verdict starts.
    offsets: HashMap<u64, u64>,
}

impl Lookup {
    /// The verdict of `row`; asked in increasing row order, each part is read once.
    pub(crate) fn get(&mut self, row: u64) -> io::Result<Option<Verdict>> {
        let part = (((row.max(1) - 1) / self.rows_per_part) as usize).min(PARTS - 1);
        if self.part != Some(part) {
            self.parts.read(part, &mut self.pairs)?;
            // In the order read: a row's last verdict wins.
            self.offsets = self.pairs.iter().map(|&[row, at]| (row, at)).collect();
            self.part = Some(part);
        }
        let Some(&at) = self.offsets.get(&row) else {
            return Ok(None);
        };
        let mut length = [0; 4];
        self.file.read_exact_at(&mut length, at)?;
        let mut json = vec![0; u32::from_le_bytes(length) as usize];
        self.file.read_exact_at(&mut json, at + 4)?;
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// Reads the results the manifest at `bucket`/`key` lists, for rows 1 to
/// `last_row`. An error says why they could not be read (every row's outcome is
/// then unknown).
pub(crate) async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    last_row: u64,
) -> Result<Verdicts, String> {
    let url = |bucket: &str, key: &str| format!("s3://{bucket}/{key}");
    let spool = download(s3, bucket, key)
        .await
        .map_err(|e| format!("{}: {e}", url(bucket, key)))?;
    let manifest: Manifest = serde_json::from_reader(BufReader::new(spool))
        .map_err(|e| format!("{}: {e}", url(bucket, key)))?;
    let mut verdicts = Verdicts::new(last_row).map_err(|e| format!("a temporary file: {e}"))?;
    let files = &manifest.result_files;
    // Read so that a row listed twice (a redriven Map Run lists both tries) ends
    // as its best result: the last one read wins.
    let kinds = [
        (&files.pending, ResultKind::Pending),
        (&files.failed, ResultKind::Failed),
        (&files.succeeded, ResultKind::Succeeded),
    ];
    for (files, kind) in kinds {
        for file in files {
            let url = url(&manifest.destination_bucket, &file.key);
            let spool = download(s3, &manifest.destination_bucket, &file.key)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            for_each_entry(BufReader::new(spool), |entry| {
                let row = serde_json::from_str::<StagedRow>(&entry.input)
                    .map_err(|e| format!("an entry's Input is not a staged row: {e}"))?
                    .row;
                verdicts
                    .add(row, &Verdict::of(kind, entry))
                    .map_err(|e| format!("a temporary file: {e}"))
            })
            .map_err(|e| format!("{url}: {e}"))?;
        }
    }
    Ok(verdicts)
}

/// Calls `each` with every entry of a result file (a JSON array), one at a time.
fn for_each_entry(
    reader: impl Read,
    each: impl FnMut(ResultEntry) -> Result<(), String>,
) -> Result<(), String> {
    struct Entries<F>(F);
    impl<'de, F: FnMut(ResultEntry) -> Result<(), String>> Visitor<'de> for Entries<F> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of results")
        }

        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            while let Some(entry) = seq.next_element::<ResultEntry>()? {
                (self.0)(entry).map_err(A::Error::custom)?;
            }
            Ok(())
        }
    }
    let mut json = serde_json::Deserializer::from_reader(reader);
    json.deserialize_seq(Entries(each))
        .map_err(|e| e.to_string())
}

/// The outcome a staged row comes to: by its verdict, or unknown without one
/// (`unknown` says why). `target` names the executions, whose names the rows
/// chose.
pub(crate) fn judge(
    staged: Outcome,
    verdict: Option<&Verdict>,
    target: &StateMachine,
    unknown: &str,
) -> Outcome {
    let arn = target.execution_arn(staged.name.as_deref().unwrap_or_default());
    let outcome = Outcome {
        at: Some(format!("{:.3}", jiff::Timestamp::now())),
        attempts: 1,
        ..staged
    };
    match verdict {
        Some(Verdict::Started(execution)) => Outcome {
            status: Status::Started,
            execution_arn: Some(execution.arn.clone().unwrap_or(arn)),
            start_date: execution.start_date.clone(),
            stop_date: execution.stop_date.clone(),
            final_status: execution.final_status.clone(),
            error: execution.error.clone(),
            cause: execution.cause.clone(),
            ..outcome
        },
        Some(Verdict::Existing) => Outcome {
            status: Status::Existing,
            execution_arn: Some(arn),
            ..outcome
        },
        Some(Verdict::Failed { error, cause }) => Outcome {
            status: Status::Failed,
            error: error.clone(),
            message: cause.clone(),
            ..outcome
        },
        Some(Verdict::Pending) => Outcome {
            attempts: 0,
            message: Some("the Map Run ended before this row's turn".to_string()),
            ..outcome
        },
        None => Outcome {
            status: Status::Failed,
            attempts: 0,
            error: Some("ResultUnknown".to_string()),
            message: Some(format!("no result for this row: {unknown}")),
            final_status: Some(FinalStatus::Unknown),
            ..outcome
        },
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

/// A date as the step's output has it: text, or milliseconds since the epoch.
fn date(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => {
            let millis = n.as_f64()? as i64;
            jiff::Timestamp::from_millisecond(millis)
                .ok()
                .map(|t| format!("{t:.3}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::sfn::Kind;

    fn target() -> StateMachine {
        StateMachine {
            arn: "arn:aws:states:us-east-1:123456789012:stateMachine:etl".into(),
            kind: Kind::Standard,
        }
    }

    fn staged() -> Outcome {
        let mut outcome = Outcome::never_logged(4);
        outcome.name = Some("b-4".into());
        outcome
    }

    fn entry(output: Option<&str>, error: Option<&str>, cause: Option<&str>) -> ResultEntry {
        ResultEntry {
            input: r#"{"Row":4}"#.into(),
            output: output.map(Into::into),
            error: error.map(Into::into),
            cause: cause.map(Into::into),
        }
    }

    fn judged(kind: ResultKind, entry: ResultEntry) -> Outcome {
        judge(staged(), Some(&Verdict::of(kind, entry)), &target(), "")
    }

    #[test]
    fn verdicts_become_outcomes() {
        let output = r#"{"ExecutionArn":"arn:x","StartDate":1700000000000}"#;
        let started = judged(ResultKind::Succeeded, entry(Some(output), None, None));
        assert_eq!(started.status, Status::Started);
        assert_eq!(started.execution_arn.as_deref(), Some("arn:x"));
        assert_eq!(
            started.start_date.as_deref(),
            Some("2023-11-14T22:13:20.000Z")
        );
        assert_eq!(started.final_status, None);

        let taken = "StepFunctions.ExecutionAlreadyExistsException";
        let existing = judged(ResultKind::Failed, entry(None, Some(taken), None));
        assert_eq!(existing.status, Status::Existing);
        assert_eq!(
            existing.execution_arn.as_deref(),
            Some("arn:aws:states:us-east-1:123456789012:execution:etl:b-4")
        );

        let failed = judged(
            ResultKind::Failed,
            entry(None, Some("States.Runtime"), Some("no")),
        );
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(failed.error.as_deref(), Some("States.Runtime"));
        assert_eq!(failed.message.as_deref(), Some("no"));

        let pending = judged(ResultKind::Pending, entry(None, None, None));
        assert_eq!(pending.status, Status::NotAttempted);

        let unknown = judge(staged(), None, &target(), "no results");
        assert_eq!(unknown.status, Status::Failed);
        assert_eq!(unknown.final_status, Some(FinalStatus::Unknown));
        assert_eq!(
            unknown.message.as_deref(),
            Some("no result for this row: no results")
        );
    }

    #[test]
    fn a_followed_execution_that_failed_is_started_and_ended_badly() {
        let cause =
            r#"{"ExecutionArn":"arn:e","Status":"FAILED","Error":"Boom","Cause":"bad row"}"#;
        let outcome = judged(
            ResultKind::Failed,
            entry(None, Some("States.TaskFailed"), Some(cause)),
        );
        assert_eq!(outcome.status, Status::Started);
        assert_eq!(outcome.final_status, Some(FinalStatus::Failed));
        assert_eq!(outcome.error.as_deref(), Some("Boom"));
        assert_eq!(outcome.cause.as_deref(), Some("bad row"));
    }

    #[test]
    fn verdicts_come_back_by_row_the_last_one_winning() {
        let mut verdicts = Verdicts::new(1000).unwrap();
        verdicts.add(900, &Verdict::Existing).unwrap();
        verdicts.add(5, &Verdict::Pending).unwrap();
        verdicts.add(5, &Verdict::Existing).unwrap();
        let mut lookup = verdicts.lookup().unwrap();
        assert_eq!(lookup.get(5).unwrap(), Some(Verdict::Existing));
        assert_eq!(lookup.get(6).unwrap(), None);
        assert_eq!(lookup.get(900).unwrap(), Some(Verdict::Existing));
        assert_eq!(lookup.get(1000).unwrap(), None);
    }

    #[test]
    fn a_result_file_is_read_entry_by_entry() {
        let file = r#"[{"Input": "{\"Row\": 1}", "Output": "{}"}, {"Input": "{\"Row\": 2}"}]"#;
        let mut inputs = Vec::new();
        for_each_entry(file.as_bytes(), |entry| {
            inputs.push(entry.input);
            Ok(())
        })
        .unwrap();
        assert_eq!(inputs, [r#"{"Row": 1}"#, r#"{"Row": 2}"#]);
        assert!(for_each_entry(&b"{}"[..], |_| Ok(())).is_err());
    }
}
