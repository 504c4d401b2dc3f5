//! `sfn-batch run` end to end: the real binary against the local emulator, checked
//! with the AWS SDK by what the emulator now holds.

use std::io::Write;
use std::path::Path;

use crate::fixture::{self, Held, PASS, Workdir, executions, sfn, state_machine};
use predicates::prelude::*;
use serde_json::Value;

const MANIFESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests");

fn manifest(name: &str) -> String {
    Path::new(MANIFESTS).join(name).display().to_string()
}

/// What the run log says was started: (name, status) per row, in row order.
fn logged(work: &Workdir) -> Vec<(u64, String, String)> {
    let mut rows: Vec<_> = work
        .results()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["name"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// AWS holds exactly these inputs, once each, under the names the run log gives.
async fn assert_held(arn: &str, work: &Workdir, mut inputs: Vec<String>) {
    let held = executions(&sfn().await, arn).await;
    let mut held_inputs: Vec<String> = held.iter().map(|h| h.input.clone()).collect();
    held_inputs.sort();
    inputs.sort();
    assert_eq!(held_inputs, inputs, "inputs held by AWS");
    let mut names: Vec<String> = logged(work)
        .into_iter()
        .filter(|(_, _, status)| status == "started" || status == "existing")
        .map(|(_, name, _)| name)
        .collect();
    names.sort();
    names.dedup();
    let held_names: Vec<String> = held.iter().map(|h| h.name.clone()).collect();
    assert_eq!(held_names, names, "names held by AWS");
}

#[tokio::test]
async fn csv_rows_start_the_original_preprocessing_jobs() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.run(&sm.arn, &manifest("preprocessing.csv"))
        .args([
            "--input-template",
            &format!("@{}", manifest("preprocessing.template.json")),
        ])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("10 rows: 10 started"));
    let log = work.results();
    assert_eq!(log.len(), 10);
    let expected: Vec<String> = log
        .iter()
        .map(|r| {
            let f = &r["fields"];
            format!(
                r#"{{"PreprocessingJobName":"{}","Input":"{}","Output":"{}"}}"#,
                r["name"].as_str().unwrap(),
                f["input"].as_str().unwrap(),
                f["output"].as_str().unwrap()
            )
        })
        .collect();
    assert_held(&sm.arn, &work, expected).await;
    let report = work.read("run/report.csv");
    assert!(report.starts_with(
        "row,line,name,status,execution_arn,start_date,attempts,retries,at,throttles,latency_ms,error,message,final_status,stop_date,duration_seconds,cause,input,output\n"
    ));
    assert_eq!(report.lines().count(), 11);
    let summary: Value = serde_json::from_str(&work.read("run/summary.json")).unwrap();
    assert_eq!(summary["counts"]["started"], 10);
    assert_eq!(summary["exit_code"], 0);
}

#[tokio::test]
async fn csv_quirks_bom_crlf_quotes_newlines_blank_lines() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write(
        "quirks.csv",
        "\u{feff}id,text\r\n1,\"a,b\"\r\n\r\n2,\"say \"\"hi\"\"\"\r\n3,\"line1\r\nline2\"\r\n",
    );
    work.run(&sm.arn, "quirks.csv").assert().code(0);
    assert_held(
        &sm.arn,
        &work,
        vec![
            r#"{"id":"1","text":"a,b"}"#.into(),
            r#"{"id":"2","text":"say \"hi\""}"#.into(),
            r#"{"id":"3","text":"line1\r\nline2"}"#.into(),
        ],
    )
    .await;
    let lines: Vec<u64> = work
        .results()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(lines, vec![2, 4, 5], "line where each record starts");
}

#[tokio::test]
async fn semicolon_delimited_csv() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("semi.csv", "a;b\n1;x,y\n");
    work.run(&sm.arn, "semi.csv")
        .args(["--delimiter", ";"])
        .assert()
        .code(0);
    assert_held(&sm.arn, &work, vec![r#"{"a":"1","b":"x,y"}"#.into()]).await;
}

#[tokio::test]
async fn json_array_jsonl_and_gzip_give_the_same_inputs() {
    let sfn = sfn().await;
    let expected = |names: &[String]| -> Vec<String> {
        let rows = [
            ("2024-02-01", "1"),
            ("2024-02-02", "2"),
            ("2024-02-03", "1"),
        ];
        rows.iter()
            .zip(names)
            .map(|((date, priority), name)| {
                format!(
                    r#"{{"Date":"{date}","Bucket":"demo-raw","Prefix":"dt={date}/","Priority":{priority},"Job":"{name}"}}"#
                )
            })
            .collect()
    };
    let gz = Workdir::new();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&std::fs::read(manifest("partitions.jsonl")).unwrap())
        .unwrap();
    gz.write("partitions.jsonl.gz", encoder.finish().unwrap());
    for (work, file) in [
        (Workdir::new(), manifest("partitions.json")),
        (Workdir::new(), manifest("partitions.jsonl")),
        (gz, "partitions.jsonl.gz".to_string()),
    ] {
        let sm = state_machine(&sfn, PASS).await;
        work.run(&sm.arn, &file)
            .args([
                "--input-template",
                &format!("@{}", manifest("partitions.template.json")),
            ])
            .assert()
            .code(0);
        let names: Vec<String> = logged(&work).into_iter().map(|(_, name, _)| name).collect();
        assert_held(&sm.arn, &work, expected(&names)).await;
    }
}

#[tokio::test]
async fn json_rows_are_sent_as_given() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write(
        "rows.jsonl",
        "{\"b\": 1.50, \"a\": {\"x\": [true, null]}, \"big\": 12345678901234567890}\n\n",
    );
    work.run(&sm.arn, "rows.jsonl").assert().code(0);
    assert_held(
        &sm.arn,
        &work,
        vec![r#"{"b":1.50,"a":{"x":[true,null]},"big":12345678901234567890}"#.into()],
    )
    .await;
}

#[tokio::test]
async fn stdin_needs_a_format_and_then_works() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.run(&sm.arn, "-")
        .write_stdin("k\nv\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format is required"));
    work.run(&sm.arn, "-")
        .args(["--format", "csv"])
        .write_stdin("k\nv\n")
        .assert()
        .code(0);
    assert_held(&sm.arn, &work, vec![r#"{"k":"v"}"#.into()]).await;
}

#[tokio::test]
async fn manifest_streamed_from_s3() {
    let sm = state_machine(&sfn().await, PASS).await;
    let s3 = fixture::s3().await;
    let bucket = fixture::unique("manifests");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("in/jobs.csv")
        .body(
            b"input,output\ns3://r/1,s3://o/1\ns3://r/2,s3://o/2\n"
                .to_vec()
                .into(),
        )
        .send()
        .await
        .unwrap();
    let work = Workdir::new();
    work.run(&sm.arn, &format!("s3://{bucket}/in/jobs.csv"))
        .assert()
        .code(0);
    assert_held(
        &sm.arn,
        &work,
        vec![
            r#"{"input":"s3://r/1","output":"s3://o/1"}"#.into(),
            r#"{"input":"s3://r/2","output":"s3://o/2"}"#.into(),
        ],
    )
    .await;
    work.run(&sm.arn, &format!("s3://{bucket}/in/missing.csv"))
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(format!("s3://{bucket}/in/missing.csv"))
                .and(predicate::str::contains("NoSuchKey")),
        );
}

#[tokio::test]
async fn template_values_with_quotes_backslashes_unicode_and_braces_stay_data() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write(
        "tricky.jsonl",
        concat!(
            r#"{"v": "quote \" backslash \\ brace {name} }} emoji 🚀 é", "id": "1"}"#,
            "\n",
            r#"{"v": "\",\"injected\":\"x", "id": "2"}"#,
            "\n"
        ),
    );
    work.run(&sm.arn, "tricky.jsonl")
        .args([
            "--input-template",
            r#"{"Text": "<{v}> {{literal}}", "Id": "{id}", "Row": "{row}"}"#,
        ])
        .assert()
        .code(0);
    assert_held(
        &sm.arn,
        &work,
        vec![
            r#"{"Text":"<quote \" backslash \\ brace {name} }} emoji 🚀 é> {literal}","Id":"1","Row":"1"}"#.into(),
            r#"{"Text":"<\",\"injected\":\"x> {literal}","Id":"2","Row":"2"}"#.into(),
        ],
    )
    .await;
}

#[tokio::test]
async fn invalid_rows_stop_everything_and_are_named() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write(
        "bad.csv",
        "input,output\ns3://r/1,s3://o/1\ns3://r/2\ns3://r/3,s3://o/3\n",
    );
    work.run(&sm.arn, "bad.csv")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.csv: row 2 (line 3)"));

    work.write(
        "bad2.csv",
        "input,output\ns3://r/1,s3://o/1\ns3://r/2,s3://o/2\n",
    );
    let template = [
        "--input-template",
        r#"{"In": "{input}", "Missing": "{nope}"}"#,
    ];
    // In a CSV every row has the header's fields: a template field none has is one
    // error, before any row.
    work.run(&sm.arn, "bad2.csv")
        .args(template)
        .assert()
        .code(2)
        .stderr(
            "sfn-batch: --input-template uses {nope}, a field no row of bad2.csv has; its \
             rows have: input, output\n",
        );
    // In JSON Lines each row brings its own fields: each row without it is named.
    work.write(
        "bad3.jsonl",
        "{\"input\": \"s3://r/1\"}\n{\"input\": \"s3://r/2\"}\n",
    );
    work.run(&sm.arn, "bad3.jsonl")
        .args(template)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("bad3.jsonl: row 1 (line 1): the row has no field `nope`")
                .and(predicate::str::contains("bad3.jsonl: row 2 (line 2)"))
                .and(predicate::str::contains(
                    "2 of 2 rows are invalid; nothing was started",
                )),
        );
    assert!(executions(&sfn().await, &sm.arn).await.is_empty());
    assert!(
        !work.path().join("run").exists(),
        "no run dir for a run that never started"
    );
}

#[tokio::test]
async fn skip_invalid_launches_the_rest_and_reports_the_bad_ones() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("mixed.csv", "id\nok1\nbad id\nok2\nok1\n");
    work.run(&sm.arn, "mixed.csv")
        .args(["--name-template", "job-{id}", "--skip-invalid"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("2 invalid rows will be recorded"));
    let held = executions(&sfn().await, &sm.arn).await;
    assert_eq!(
        held,
        vec![
            Held {
                name: "job-ok1".into(),
                input: r#"{"id":"ok1"}"#.into()
            },
            Held {
                name: "job-ok2".into(),
                input: r#"{"id":"ok2"}"#.into()
            },
        ]
    );
    let report = work.read("run/report.csv");
    assert!(
        report.contains("2,3,,invalid,,,0,0,,0,,InvalidRow,"),
        "{report}"
    );
    assert!(report.contains("already used by row 1"), "{report}");
}

#[tokio::test]
async fn dry_run_shows_rows_and_starts_nothing() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.run(&sm.arn, &manifest("preprocessing.csv"))
        .args([
            "--dry-run",
            "--input-template",
            &format!("@{}", manifest("preprocessing.template.json")),
        ])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("preprocessing.csv: row 1 (line 2): preprocessing-")
                .and(predicate::str::contains(
                    r#""Input":"s3://demo-raw/2024/01/01/events.csv""#,
                ))
                .and(predicate::str::contains(
                    "dry run: 10 rows, 10 valid, 0 invalid; nothing was started",
                )),
        );
    assert!(executions(&sfn().await, &sm.arn).await.is_empty());
    assert!(!work.path().join("run").exists());
}

#[tokio::test]
async fn running_the_same_command_again_starts_nothing_new() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    let again = Workdir::new();
    let run = |work: &Workdir| {
        let mut cmd = work.sfn_batch();
        cmd.args([
            "run",
            "--state-machine",
            &sm.name,
            "--manifest",
            &manifest("preprocessing.csv"),
            "--progress",
            "none",
        ]);
        cmd
    };
    run(&work).assert().code(0);
    let first = executions(&sfn().await, &sm.arn).await;
    assert_eq!(first.len(), 10);
    // A fresh folder: no run log to skip rows by, only AWS's own idempotency.
    run(&again)
        .assert()
        .code(0)
        .stderr(predicate::str::contains("0 started, 10 existing"));
    assert_eq!(executions(&sfn().await, &sm.arn).await, first);
    // The default run dir is named after the batch.
    let dirs: Vec<_> = std::fs::read_dir(work.path().join("sfn-batch-runs"))
        .unwrap()
        .collect();
    assert_eq!(dirs.len(), 1);
}

#[tokio::test]
async fn resuming_a_run_dir_skips_what_was_started_and_survives_a_torn_line() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    let template = format!("@{}", manifest("preprocessing.template.json"));
    work.run(&sm.arn, &manifest("preprocessing.csv"))
        .args(["--input-template", &template])
        .assert()
        .code(0);
    // As if the process had died after logging 6 rows, in the middle of the 7th line.
    let log = work.read("run/results.jsonl");
    let kept: Vec<&str> = log.lines().take(6).collect();
    let torn = &log.lines().nth(6).unwrap()[..40];
    work.write("run/results.jsonl", format!("{}\n{torn}", kept.join("\n")));
    work.run(&sm.arn, &manifest("preprocessing.csv"))
        .args(["--input-template", &template])
        .assert()
        .code(0)
        .stderr(
            predicate::str::contains("ignoring an incomplete last line 7")
                .and(predicate::str::contains("6 rows already started, 4 to go"))
                .and(predicate::str::contains("10 rows: 6 started, 4 existing")),
        );
    assert_eq!(executions(&sfn().await, &sm.arn).await.len(), 10);
    assert_eq!(
        work.results().len(),
        10,
        "the torn line is gone, 4 lines appended"
    );
    // A changed template is a different run: refused.
    work.run(&sm.arn, &manifest("preprocessing.csv"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "was started with a different input template",
        ));
}

#[tokio::test]
async fn state_machine_by_name_version_and_alias() {
    let sfn = sfn().await;
    let sm = state_machine(&sfn, PASS).await;
    let work = Workdir::new();
    work.write("one.csv", "k\nv\n");
    work.run(&sm.name, "one.csv").assert().code(0);
    assert_eq!(executions(&sfn, &sm.arn).await.len(), 1);
    // Resolution only: the emulator's interpreter fails StartExecution on a version
    // ARN (an AttributeError in moto 5.2.5), and it does not route aliases.
    work.run(&sm.version_arn, "one.csv")
        .arg("--dry-run")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 valid"));
    let alias = sfn
        .create_state_machine_alias()
        .name("PROD")
        .routing_configuration(
            aws_sdk_sfn::types::RoutingConfigurationListItem::builder()
                .state_machine_version_arn(&sm.version_arn)
                .weight(100)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    work.run(&alias.state_machine_alias_arn, "one.csv")
        .arg("--dry-run")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 valid"));
    work.run(&format!("{}:NOPE", sm.arn), "one.csv")
        .arg("--dry-run")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("alias NOPE cannot be used"));
}

#[tokio::test]
async fn a_missing_state_machine_fails_at_once_in_one_line() {
    let work = Workdir::new();
    work.write("one.csv", "k\nv\n");
    let out = work.run("no-such-machine", "one.csv").assert().code(2);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert_eq!(
        stderr,
        "sfn-batch: no state machine named \"no-such-machine\" in region us-east-1\n"
    );
    let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-machine";
    work.run(arn, "one.csv")
        .assert()
        .code(2)
        .stderr(format!("sfn-batch: state machine {arn} does not exist\n"));
}

#[tokio::test]
async fn a_name_taken_by_a_different_execution_is_a_failure() {
    let sfn = sfn().await;
    let sm = state_machine(&sfn, PASS).await;
    sfn.start_execution()
        .state_machine_arn(&sm.arn)
        .name("job-2")
        .input(r#"{"someone":"else"}"#)
        .send()
        .await
        .unwrap();
    let work = Workdir::new();
    work.write("jobs.csv", "id\n1\n2\n3\n");
    work.run(&sm.arn, "jobs.csv")
        .args(["--name-template", "job-{id}"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "3 rows: 2 started, 0 existing, 1 failed to start",
        ));
    let failed = logged(&work)
        .into_iter()
        .find(|(_, _, s)| s == "failed")
        .unwrap();
    assert_eq!(failed.0, 2);
    let record = work.results().into_iter().find(|r| r["row"] == 2).unwrap();
    assert_eq!(record["error"], "ExecutionAlreadyExists");
    assert!(
        record["message"]
            .as_str()
            .unwrap()
            .contains("taken by a different execution")
    );
    assert_eq!(work.read("run/failed.jsonl"), "{\"id\":\"2\"}\n");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let work = Workdir::new();
    work.write("m.txt", "k\nv\n");
    work.run("x", "m.txt")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --format"));
    work.run("x", "m.txt")
        .args(["--format", "csv", "--rate", "0"])
        .assert()
        .code(2);
    work.run("x", "m.txt")
        .args(["--format", "csv", "--input-template", "{bad"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--input-template"));
    work.sfn_batch()
        .args(["run", "--manifest", "m.txt"])
        .assert()
        .code(2);
}

/// Under pacing and concurrency, calls go out in row order, so that `--reverse`
/// (newest first) and a manifest's order mean what they say.
#[tokio::test]
async fn rows_start_in_row_order() {
    let sm = state_machine(&sfn().await, PASS).await;
    for reverse in [false, true] {
        let work = Workdir::new();
        let mut run = work.run_from(&sm.arn, &["--dates", "2024-01-01..2024-01-12"]);
        // One call every 200 ms, 16 in flight at most: each answer comes before the
        // next call, so the run log's order is the order the calls went out in.
        run.args(["--input-template", r#"{"date": "{date}"}"#])
            .args(["--rate", "5", "--burst", "1", "--concurrency", "16"]);
        if reverse {
            run.arg("--reverse");
        }
        run.assert().success();
        let dates: Vec<String> = work
            .results()
            .iter()
            .map(|r| r["fields"]["date"].as_str().unwrap().to_string())
            .collect();
        let mut expected: Vec<String> = (1..=12).map(|d| format!("2024-01-{d:02}")).collect();
        if reverse {
            expected.reverse();
        }
        assert_eq!(dates, expected, "--reverse {reverse}");
    }
}

/// The small mistakes of a first try get messages that say what to do, and exit 2.
#[test]
fn small_mistakes_say_what_to_do() {
    let work = Workdir::new();
    work.write("m.csv", "k\nv\n");
    let validate = |extra: &[&str]| {
        let mut cmd = work.sfn_batch();
        cmd.args(["validate", "--state-machine", "x"]).args(extra);
        cmd
    };
    let cases: [(&[&str], &str); 6] = [
        (
            &["--manifest", "https://example.com/a.csv"],
            "--manifest takes a path, `-` (stdin) or s3://BUCKET/KEY, not https://example.com/a.csv",
        ),
        (
            &["--manifest", "s3:/bad.csv"],
            "--manifest takes a path, `-` (stdin) or s3://BUCKET/KEY, not s3:/bad.csv",
        ),
        (
            &["--manifest", "s3://bucket"],
            "--manifest s3://bucket names a bucket, not an object: give s3://BUCKET/KEY",
        ),
        (
            &["--manifest", "m.csv", "--rate", "0"],
            "at least 0.0000116 (one a day), not 0",
        ),
        (
            &["--manifest", "m.csv", "--timeout", "1h"],
            "--timeout bounds the following of --wait",
        ),
        (&["--manifest", "missing.csv"], "missing.csv"),
    ];
    for (args, message) in cases {
        validate(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    work.sfn_batch()
        .args(["status", "no-such-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "run dir no-such-run: no such directory",
        ));
    // The AWS flags under a heading of their own, not under "Following".
    work.sfn_batch()
        .args(["run", "-h"])
        .assert()
        .success()
        .stdout(predicate::str::contains("AWS:\n      --region"));
}

/// The binary with none of the shell's AWS settings and an empty home (no
/// `~/.aws`), IMDS off: what a machine without AWS configured gives it.
fn unconfigured(work: &Workdir) -> assert_cmd::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sfn-batch"));
    fixture::without_shell_settings(cmd.current_dir(work.path()))
        .env("HOME", work.path())
        .env("AWS_EC2_METADATA_DISABLED", "true");
    assert_cmd::Command::from_std(cmd)
}

/// No credentials or no region: one line that says which and what to do, exit 2,
/// and the AWS SDK's account of it only with -v.
#[test]
fn missing_credentials_or_region_say_so_in_one_line() {
    let work = Workdir::new();
    work.write("m.csv", "k\nv\n");
    let run = ["run", "--state-machine", "sm", "--manifest", "m.csv"];
    let no_credentials = "sfn-batch: no AWS credentials were found: use a profile \
                          (--profile or AWS_PROFILE), set AWS_ACCESS_KEY_ID and \
                          AWS_SECRET_ACCESS_KEY, or sign in with `aws sso login`";
    for endpoint in [None, Some(fixture::endpoint())] {
        let mut cmd = unconfigured(&work);
        cmd.args(run).env("AWS_REGION", "us-east-1");
        if let Some(endpoint) = &endpoint {
            cmd.env("AWS_ENDPOINT_URL", endpoint);
        }
        let output = cmd.assert().code(2).get_output().clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(no_credentials), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    unconfigured(&work)
        .args(run)
        .args(["-v"])
        .env("AWS_REGION", "us-east-1")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Attempted:"));
    unconfigured(&work).args(run).assert().code(2).stderr(
        "sfn-batch: no AWS region is configured: pass --region, set AWS_REGION, \
             or give the profile a region\n",
    );
}

/// The AWS SDK's warnings (a config file named but missing) only with -v, once.
#[tokio::test]
async fn the_sdks_warnings_only_with_v_and_once() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("m.csv", "k\nv\n");
    let warning = "config file overridden via environment variable not found";
    let run = |verbose: bool| {
        let mut cmd = work.run(&sm.arn, "m.csv");
        cmd.args(["--dry-run"])
            .env("AWS_CONFIG_FILE", work.path().join("missing-config"));
        if verbose {
            cmd.arg("-v");
        }
        let output = cmd.assert().success().get_output().clone();
        String::from_utf8_lossy(&output.stderr)
            .matches(warning)
            .count()
    };
    assert_eq!(run(false), 0);
    assert_eq!(run(true), 1);
}

/// A template field no row has, where the fields are known up front, is one error
/// naming the fields there are; and a check that will fail calls its invalid rows
/// errors, a check that skips them warnings.
#[test]
fn a_field_no_row_has_is_one_error() {
    let work = Workdir::new();
    work.write("m.csv", fixture::numbered_rows(10));
    work.sfn_batch()
        .args(["validate", "--state-machine", "x", "--manifest", "m.csv"])
        .args(["--input-template", r#"{"x": "{nn}"}"#])
        .assert()
        .code(2)
        .stderr(
            "sfn-batch: --input-template uses {nn}, a field no row of m.csv has (did you \
             mean `n`?); its rows have: n\n",
        );
    // `{file.key}` is a column named so, before it is the key of a column `file`.
    work.write("k.csv", "file.key,b\nx,y\n");
    work.sfn_batch()
        .args(["validate", "--state-machine", "x", "--manifest", "k.csv"])
        .args(["--input-template", r#"{"k": "{file.key}"}"#])
        .assert()
        .code(0);
    work.write("m.jsonl", "{\"a\": \"x\"}\n{\"b\": \"y\"}\n");
    let validate = || {
        let mut cmd = work.sfn_batch();
        cmd.args(["validate", "--state-machine", "x", "--manifest", "m.jsonl"])
            .args(["--input-template", r#"{"x": "{a}"}"#]);
        cmd
    };
    validate()
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "sfn-batch: m.jsonl: row 2 (line 2): ",
        ));
    validate()
        .arg("--skip-invalid")
        .assert()
        .code(0)
        .stderr(predicate::str::starts_with(
            "warning: m.jsonl: row 2 (line 2): ",
        ));
}
