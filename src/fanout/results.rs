//! A Map Run's results, read back: its ResultWriter writes `manifest.json`, which
//! lists JSON arrays of child workflow results (`SUCCEEDED_n.json`,
//! `FAILED_n.json`, `PENDING_n.json`); each entry's `Input` is the staged item, so
//! its `Row` says whose result it is. Each row's verdict then becomes the outcome
//! the run log records, as if the row had been launched here.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::aws::error_text;
use crate::outcome::{Outcome, Status};
use crate::sfn::StateMachine;

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
struct Entry {
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
struct Item {
    row: u64,
}

/// How a row's step in the Map ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// StartExecution answered (with `.sync:2`: the execution ended SUCCEEDED);
    /// the step's output.
    Succeeded(Option<String>),
    /// The step failed: its error and cause.
    Failed(Option<String>, Option<String>),
    /// The Map Run ended before the row's turn.
    Pending,
}

/// Every row's verdict, by row.
pub type Verdicts = HashMap<u64, Verdict>;

/// Reads the results the manifest at `bucket`/`key` lists. An error says why
/// they could not be read (every row's outcome is then unknown).
pub async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Verdicts, String> {
    let manifest: Manifest = serde_json::from_slice(&get(s3, bucket, key).await?)
        .map_err(|e| format!("s3://{bucket}/{key}: {e}"))?;
    let mut verdicts = Verdicts::new();
    let files = &manifest.result_files;
    let kinds = [
        (&files.succeeded, "SUCCEEDED"),
        (&files.failed, "FAILED"),
        (&files.pending, "PENDING"),
    ];
    for (files, kind) in kinds {
        for file in files {
            let bucket = &manifest.destination_bucket;
            let url = format!("s3://{bucket}/{}", file.key);
            let bytes = get(s3, bucket, &file.key).await?;
            let entries: Vec<Entry> =
                serde_json::from_slice(&bytes).map_err(|e| format!("{url}: {e}"))?;
            for entry in entries {
                let row = serde_json::from_str::<Item>(&entry.input)
                    .map_err(|e| format!("{url}: an entry's Input is not a staged row: {e}"))?
                    .row;
                let verdict = match kind {
                    "SUCCEEDED" => Verdict::Succeeded(entry.output),
                    "FAILED" => Verdict::Failed(entry.error, entry.cause),
                    _ => Verdict::Pending,
                };
                verdicts.insert(row, verdict);
            }
        }
    }
    Ok(verdicts)
}

/// A whole object. Result files are read one at a time; AWS cuts them at 5 GB,
/// but a file holds at most the entries of the rows staged.
async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let url = format!("s3://{bucket}/{key}");
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", error_text(&e)))?;
    let body = object
        .body
        .collect()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    Ok(body.into_bytes().to_vec())
}

/// The outcome a staged row comes to: by its verdict, or unknown without one
/// (`unknown` says why). `target` names the executions, whose names the rows
/// chose.
pub fn judge(
    staged: Outcome,
    verdict: Option<&Verdict>,
    target: &StateMachine,
    unknown: &str,
) -> Outcome {
    let name = staged.name.clone().unwrap_or_default();
    let arn = target.execution_arn(&name);
    let at = Some(format!("{:.3}", jiff::Timestamp::now()));
    let outcome = Outcome {
        at,
        attempts: 1,
        ..staged
    };
    match verdict {
        Some(Verdict::Succeeded(output)) => {
            let output: Value = output
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or_default();
            Outcome {
                status: Status::Started,
                execution_arn: Some(text(&output["ExecutionArn"]).unwrap_or(arn)),
                start_date: date(&output["StartDate"]),
                final_status: text(&output["Status"]),
                stop_date: date(&output["StopDate"]),
                ..outcome
            }
        }
        Some(Verdict::Failed(error, cause)) => failed(outcome, arn, error, cause),
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
            final_status: Some("UNKNOWN".to_string()),
            ..outcome
        },
    }
}

/// A failed step: the name was taken (the execution exists), the execution ended
/// badly (`.sync:2`: the cause is its description), or StartExecution failed.
fn failed(
    outcome: Outcome,
    arn: String,
    error: &Option<String>,
    cause: &Option<String>,
) -> Outcome {
    let error_text = error.clone().unwrap_or_default();
    if error_text.contains("ExecutionAlreadyExists") {
        return Outcome {
            status: Status::Existing,
            execution_arn: Some(arn),
            ..outcome
        };
    }
    let described: Value = cause
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    match text(&described["Status"]) {
        Some(status) if ["FAILED", "TIMED_OUT", "ABORTED"].contains(&status.as_str()) => Outcome {
            status: Status::Started,
            execution_arn: Some(text(&described["ExecutionArn"]).unwrap_or(arn)),
            start_date: date(&described["StartDate"]),
            stop_date: date(&described["StopDate"]),
            final_status: Some(status),
            error: text(&described["Error"]),
            cause: text(&described["Cause"]),
            ..outcome
        },
        _ => Outcome {
            status: Status::Failed,
            error: Some(error_text),
            message: cause.clone(),
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
    use crate::sfn::Kind;

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

    #[test]
    fn verdicts_become_outcomes() {
        let started = judge(
            staged(),
            Some(&Verdict::Succeeded(Some(
                r#"{"ExecutionArn":"arn:x","StartDate":1700000000000}"#.into(),
            ))),
            &target(),
            "",
        );
        assert_eq!(started.status, Status::Started);
        assert_eq!(started.execution_arn.as_deref(), Some("arn:x"));
        assert_eq!(
            started.start_date.as_deref(),
            Some("2023-11-14T22:13:20.000Z")
        );
        assert_eq!(started.final_status, None);

        let taken = Verdict::Failed(
            Some("StepFunctions.ExecutionAlreadyExistsException".into()),
            None,
        );
        let existing = judge(staged(), Some(&taken), &target(), "");
        assert_eq!(existing.status, Status::Existing);
        assert_eq!(
            existing.execution_arn.as_deref(),
            Some("arn:aws:states:us-east-1:123456789012:execution:etl:b-4")
        );

        let refused = Verdict::Failed(Some("States.Runtime".into()), Some("no".into()));
        let failed = judge(staged(), Some(&refused), &target(), "");
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(failed.error.as_deref(), Some("States.Runtime"));

        let unknown = judge(staged(), None, &target(), "no results");
        assert_eq!(unknown.status, Status::Failed);
        assert_eq!(unknown.final_status.as_deref(), Some("UNKNOWN"));
        assert_eq!(
            unknown.message.as_deref(),
            Some("no result for this row: no results")
        );
    }

    #[test]
    fn a_followed_execution_that_failed_is_started_and_ended_badly() {
        let cause =
            r#"{"ExecutionArn":"arn:e","Status":"FAILED","Error":"Boom","Cause":"bad row"}"#;
        let verdict = Verdict::Failed(Some("States.TaskFailed".into()), Some(cause.into()));
        let outcome = judge(staged(), Some(&verdict), &target(), "");
        assert_eq!(outcome.status, Status::Started);
        assert_eq!(outcome.final_status.as_deref(), Some("FAILED"));
        assert_eq!(outcome.error.as_deref(), Some("Boom"));
        assert_eq!(outcome.cause.as_deref(), Some("bad row"));
    }
}
