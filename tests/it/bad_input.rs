//! Hostile manifests and templates, each with its exact expectation: the real
//! binary against the local emulator, checked by what the emulator holds.
//!
//! - Refused: exit 2, a message naming the file and the row (and line where it
//!   applies), and nothing started.
//! - Skipped: with `--skip-invalid`, rows that cannot be rendered, named or sized
//!   are recorded as `invalid`, the other rows start, and the exit code is 1.

use std::io::Write;

use crate::fixture::{PASS, StateMachine, Workdir, executions, sfn, state_machine};
use assert_cmd::Command;
use serde_json::Value;

/// StartExecution's input limit, in bytes.
const MAX_INPUT: usize = 262_144;

/// One case: a manifest in a folder of its own, and a state machine of its own.
struct Case {
    manifest: &'static str,
    sm: StateMachine,
    work: Workdir,
}

/// A row a case expects to be invalid: where it is, and a piece of the reason.
struct Bad<'a> {
    row: u64,
    line: u64,
    reason: &'a str,
}

impl Case {
    async fn new(manifest: &'static str, content: impl AsRef<[u8]>) -> Case {
        let work = Workdir::new();
        work.write(manifest, content);
        Case {
            manifest,
            sm: state_machine(&sfn().await, PASS).await,
            work,
        }
    }

    /// `sfn-batch run` on this case's manifest and state machine.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.work.run(&self.sm.arn, self.manifest);
        cmd.args(args);
        cmd
    }

    /// Runs `cmd`; its exit code and stderr.
    fn output(&self, mut cmd: Command) -> (Option<i32>, String) {
        let out = cmd.output().expect("run sfn-batch");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Refused: exit 2, stderr holds every `expected` piece, nothing started.
    async fn refused(&self, cmd: Command, expected: &[&str]) {
        let (code, stderr) = self.output(cmd);
        let case = self.manifest;
        assert_eq!(code, Some(2), "{case}: exit code; stderr:\n{stderr}");
        for piece in expected {
            assert!(
                stderr.contains(piece),
                "{case}: stderr lacks {piece:?}:\n{stderr}"
            );
        }
        assert!(
            executions(&sfn().await, &self.sm.arn).await.is_empty(),
            "{case}: executions were started"
        );
        assert!(
            !self.work.path().join("run").exists(),
            "{case}: a run dir for a run that never started"
        );
    }

    /// A manifest that cannot be read is refused, `--skip-invalid` or not.
    async fn unreadable(&self, expected: &[&str]) {
        let variants: [&[&str]; 2] = [&[], &["--skip-invalid"]];
        for args in variants {
            self.refused(self.cmd(args), expected).await;
        }
    }

    /// Rows that cannot be started: refused, each named with its reason; then with
    /// `--skip-invalid` recorded as `invalid` while the rows `started` start.
    async fn invalid_rows(&self, args: &[&str], bad: &[Bad<'_>], started: &[u64]) {
        let case = self.manifest;
        let named: Vec<String> = bad
            .iter()
            .map(|b| format!("{case}: row {} (line {}): {}", b.row, b.line, b.reason))
            .collect();
        let total = format!(
            "{} of {} rows are invalid; nothing was started",
            bad.len(),
            bad.len() + started.len()
        );
        let mut expected: Vec<&str> = named.iter().map(String::as_str).collect();
        expected.push(&total);
        self.refused(self.cmd(args), &expected).await;

        let (code, stderr) = self.output(self.cmd(&[args, &["--skip-invalid"]].concat()));
        assert_eq!(code, Some(1), "{case} --skip-invalid: exit code:\n{stderr}");
        let log = self.work.results();
        let status = |row: u64| {
            log.iter()
                .find(|r| r["row"] == row)
                .unwrap_or_else(|| panic!("{case}: row {row} is not in the run log"))
        };
        for b in bad {
            let record = status(b.row);
            assert_eq!(record["status"], "invalid", "{case}: row {}", b.row);
            assert_eq!(record["error"], "InvalidRow", "{case}: row {}", b.row);
            let message = record["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(b.reason),
                "{case}: row {}: {message:?} lacks {:?}",
                b.row,
                b.reason
            );
        }
        let mut names: Vec<String> = started
            .iter()
            .map(|&row| {
                let record = status(row);
                assert_eq!(record["status"], "started", "{case}: row {row}");
                record["name"].as_str().unwrap().to_string()
            })
            .collect();
        names.sort();
        let held: Vec<String> = executions(&sfn().await, &self.sm.arn)
            .await
            .into_iter()
            .map(|h| h.name)
            .collect();
        assert_eq!(held, names, "{case}: executions held by AWS");
        let report = self.work.read("run/report.csv");
        for b in bad {
            let start = format!("{},{},,invalid,", b.row, b.line);
            assert!(
                report.lines().any(|l| l.starts_with(&start)),
                "{case}: report.csv has no line starting {start:?}"
            );
        }
        let summary: Value = serde_json::from_str(&self.work.read("run/summary.json")).unwrap();
        assert_eq!(summary["counts"]["invalid"], bad.len(), "{case}: summary");
        assert_eq!(
            summary["counts"]["started"],
            started.len(),
            "{case}: summary"
        );
    }
}

/// CSV: a header `id,v`, then one row per value.
fn csv(values: &[String]) -> String {
    let rows: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{},{v}\n", i + 1))
        .collect();
    format!("id,v\n{rows}")
}

#[tokio::test]
async fn non_utf8_bytes_in_a_csv_field() {
    Case::new("latin1.csv", b"id,v\n1,ok\n2,caf\xe9\n3,ok\n")
        .await
        .unreadable(&["latin1.csv: row 2 (line 3): is not valid UTF-8 (field 2)"])
        .await;
}

/// `"a\u0000b"` would be valid JSON, but a NUL byte in a text manifest means a
/// binary or UTF-16 file, and breaks consumers downstream.
#[tokio::test]
async fn a_nul_byte_in_a_csv_field() {
    let case = Case::new("nul.csv", b"id,v\n1,ok\n2,a\0b\n3,ok\n").await;
    case.refused(case.cmd(&[]), &["nul.csv: row 2 (line 3)"])
        .await;
}

#[tokio::test]
async fn a_csv_row_with_too_few_fields() {
    Case::new("short.csv", "id,v\n1,a\n2\n3,c\n")
        .await
        .unreadable(&["short.csv: row 2 (line 3): has 1 fields, the header has 2"])
        .await;
}

#[tokio::test]
async fn a_csv_row_with_too_many_fields() {
    Case::new("long.csv", "id,v\n1,a\n2,b,extra\n3,c\n")
        .await
        .unreadable(&["long.csv: row 2 (line 3): has 3 fields, the header has 2"])
        .await;
}

#[tokio::test]
async fn a_csv_header_naming_a_column_twice() {
    Case::new("dup.csv", "id,v,id\n1,a,2\n")
        .await
        .unreadable(&["dup.csv: line 1: column `id` appears twice in the header"])
        .await;
}

/// Header-only and empty manifests: refused unless `--allow-empty`.
async fn assert_no_rows(case: Case) {
    case.refused(case.cmd(&[]), &[case.manifest, "no rows"])
        .await;
    let (code, stderr) = case.output(case.cmd(&["--allow-empty"]));
    assert_eq!(code, Some(0), "{} --allow-empty:\n{stderr}", case.manifest);
    assert!(executions(&sfn().await, &case.sm.arn).await.is_empty());
}

#[tokio::test]
async fn a_csv_header_without_rows() {
    assert_no_rows(Case::new("header-only.csv", "id,v\n").await).await;
}

#[tokio::test]
async fn an_empty_manifest() {
    assert_no_rows(Case::new("empty.csv", "").await).await;
}

/// A 1 MiB field, in row 1.
fn big_field_csv() -> String {
    csv(&["x".repeat(1 << 20), "small".into()])
}

#[tokio::test]
async fn a_1_mib_field_the_template_does_not_use_launches() {
    let case = Case::new("big-unused.csv", big_field_csv()).await;
    let (code, stderr) = case.output(case.cmd(&["--input-template", r#"{"Id": "{id}"}"#]));
    assert_eq!(code, Some(0), "{stderr}");
    let mut inputs: Vec<String> = executions(&sfn().await, &case.sm.arn)
        .await
        .into_iter()
        .map(|h| h.input)
        .collect();
    inputs.sort();
    assert_eq!(inputs, [r#"{"Id":"1"}"#, r#"{"Id":"2"}"#]);
}

#[tokio::test]
async fn a_1_mib_field_the_template_uses_makes_its_row_invalid() {
    let size = r#"{"Id":"1","V":""}"#.len() + (1 << 20);
    let reason = format!("input is {size} bytes, more than StartExecution's limit of 262144");
    Case::new("big-used.csv", big_field_csv())
        .await
        .invalid_rows(
            &["--input-template", r#"{"Id": "{id}", "V": "{v}"}"#],
            &[Bad {
                row: 1,
                line: 2,
                reason: &reason,
            }],
            &[2],
        )
        .await;
}

/// The row itself is the input, `{"id":"N","v":"…"}`: 17 bytes around the value.
/// The limit counts bytes of the rendered JSON, where `é` and an escaped `\` take
/// 2 each: rows 3 and 4 have fewer characters than the limit, one byte too many.
#[tokio::test]
async fn inputs_past_256_kib_are_invalid_to_the_byte() {
    let room = MAX_INPUT - r#"{"id":"1","v":""}"#.len();
    let case = Case::new(
        "limit.csv",
        csv(&[
            "a".repeat(room),
            "a".repeat(room + 1),
            "é".repeat(room / 2 + 1),
            "\\".repeat(room / 2 + 1),
        ]),
    )
    .await;
    let over = format!("input is {} bytes, more than", MAX_INPUT + 1);
    let bad: Vec<Bad> = (2..=4)
        .map(|row| Bad {
            row,
            line: row + 1,
            reason: &over,
        })
        .collect();
    case.invalid_rows(&[], &bad, &[1]).await;
    let held = executions(&sfn().await, &case.sm.arn).await;
    assert_eq!(held[0].input.len(), MAX_INPUT, "the row at the limit");
}

#[tokio::test]
async fn a_json_array_with_a_trailing_comma() {
    Case::new("trailing.json", "[\n{\"a\": 1},\n{\"a\": 2},\n]\n")
        .await
        .unreadable(&["trailing.json: line 4: invalid JSON: trailing comma"])
        .await;
}

#[tokio::test]
async fn a_json_array_of_non_objects() {
    Case::new("scalars.json", r#"["a", "b"]"#)
        .await
        .unreadable(&["scalars.json: row 1: is a string, expected a JSON object"])
        .await;
}

/// Rows 1 and 2 are fine, yet nothing starts; the blank line 3 makes row and line
/// differ.
#[tokio::test]
async fn a_bad_json_line_in_the_middle() {
    Case::new(
        "middle.jsonl",
        "{\"a\": 1}\n{\"a\": 2}\n\n{\"a\": nope}\n{\"a\": 5}\n",
    )
    .await
    .unreadable(&["middle.jsonl: row 3 (line 4): invalid JSON at column 8: expected ident"])
    .await;
}

#[tokio::test]
async fn placeholders_naming_missing_fields() {
    Case::new(
        "missing.jsonl",
        "{\"id\": 1, \"input\": \"s3://b/1\"}\n{\"id\": 2}\n{\"id\": 3, \"input\": \"s3://b/3\"}\n",
    )
    .await
    .invalid_rows(
        &["--input-template", r#"{"Id": "{id}", "In": "{input}"}"#],
        &[Bad {
            row: 2,
            line: 2,
            reason: "the row has no field `input`",
        }],
        &[1, 3],
    )
    .await;
}

/// Row 1 and the last row (exactly 80 characters) are valid names.
#[tokio::test]
async fn names_with_forbidden_characters_or_past_80_characters() {
    let mut bad_names: Vec<(String, String)> = [' ', '/', ':', '\t', '*', '#', '\u{7f}']
        .iter()
        .map(|c| {
            let name = format!("a{c}b");
            let reason = format!("name {name:?} contains {c:?}, which execution names may not");
            (name, reason)
        })
        .collect();
    for name in ["x".repeat(81), String::new()] {
        let reason = format!(
            "name {name:?} is {} characters; execution names are 1 to 80",
            name.len()
        );
        bad_names.push((name, reason));
    }
    let values: Vec<String> = std::iter::once("ok-1".to_string())
        .chain(bad_names.iter().map(|(name, _)| name.clone()))
        .chain(["x".repeat(80)])
        .collect();
    let bad: Vec<Bad> = bad_names
        .iter()
        .zip(2..)
        .map(|((_, reason), row)| Bad {
            row,
            line: row + 1,
            reason,
        })
        .collect();
    Case::new("names.csv", csv(&values))
        .await
        .invalid_rows(&["--name-template", "{v}"], &bad, &[1, values.len() as u64])
        .await;
}

/// Rows that render a name an earlier row took, among other invalid rows: each one
/// is named, in row order, with the row that took the name first.
#[tokio::test]
async fn names_an_earlier_row_took() {
    let values: Vec<String> = ["a", "b", "a", "c d", "b", "e"]
        .iter()
        .map(|v| v.to_string())
        .collect();
    let bad = [
        Bad {
            row: 3,
            line: 4,
            reason: "execution name \"a\" is already used by row 1",
        },
        Bad {
            row: 4,
            line: 5,
            reason: "name \"c d\" contains ' '",
        },
        Bad {
            row: 5,
            line: 6,
            reason: "execution name \"b\" is already used by row 2",
        },
    ];
    Case::new("taken.csv", csv(&values))
        .await
        .invalid_rows(&["--name-template", "{v}"], &bad, &[1, 2, 6])
        .await;
}

/// The emulator runs us-east-1; a namesake there must not be taken instead.
#[tokio::test]
async fn a_state_machine_arn_from_another_region() {
    let case = Case::new("one.csv", "k\nv\n").await;
    let elsewhere = case.sm.arn.replace(":us-east-1:", ":eu-west-3:");
    case.refused(
        case.work.run(&elsewhere, case.manifest),
        &[&elsewhere, "us-east-1"],
    )
    .await;
}

#[tokio::test]
async fn a_truncated_gzip_file() {
    let rows: String = (1..=1000).map(|i| format!("{i},v{i}\n")).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(format!("id,v\n{rows}").as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    Case::new("truncated.csv.gz", &gz[..gz.len() / 2])
        .await
        .unreadable(&[
            "truncated.csv.gz: row ",
            "cannot decompress gzip, the file is truncated or corrupt",
        ])
        .await;
}

/// A quote never closed swallows the rest of the file: named where it starts, not
/// as a row with too few fields.
#[tokio::test]
async fn an_unterminated_quote() {
    Case::new(
        "quote.csv",
        "input,output\ns3://a/1.csv,s3://b/1/\n\"s3://a/2.csv,s3://b/2/\ns3://a/3.csv,s3://b/3/\n",
    )
    .await
    .unreadable(&[
        "quote.csv: row 2 (line 3): has an unterminated quote starting on line 3: it runs \
         to the end of the file",
    ])
    .await;
}

/// A ragged file: every bad record up to 20 is named, then how many there are.
#[tokio::test]
async fn every_ragged_record_up_to_twenty() {
    Case::new("ragged.csv", "id,v\n1,a\n2\n3,c\n4,d,e\n5,e\n")
        .await
        .unreadable(&[
            "ragged.csv: row 2 (line 3): has 1 fields, the header has 2\n\
             ragged.csv: row 4 (line 5): has 3 fields, the header has 2\n\
             2 records do not have as many fields as the header",
        ])
        .await;
}
