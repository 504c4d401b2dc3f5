//! `sfn-batch retry` against the emulator's interpreter: rows that failed to start
//! launched again under their names, failed and aborted executions restarted under
//! `-r1` names, `--redrive` where RedriveExecution answers (a proxy stands in for
//! it: moto 5.2.5 does not have it) and the per-row fallback where it does not.

use std::collections::BTreeMap;

use crate::fixture::{self, PASS, Workdir, executions, numbered_rows, sfn, state_machine};
use crate::proxy::{Call, Fault, Proxy};
use predicates::prelude::*;
use serde_json::{Value, json};

/// Fails a row whose `outcome` is `fail` and holds one whose `outcome` is `hold`
/// for a minute, unless its execution name is a first restart (`*-r1`): so a
/// batch fails, and its retry succeeds.
const FAILS_UNTIL_RESTARTED: &str = r#"{"StartAt": "C", "States": {
  "C": {"Type": "Choice", "Choices": [
    {"Variable": "$.name", "StringMatches": "*-r1", "Next": "S"},
    {"Variable": "$.outcome", "StringEquals": "fail", "Next": "F"},
    {"Variable": "$.outcome", "StringEquals": "hold", "Next": "W"}],
    "Default": "S"},
  "F": {"Type": "Fail", "Error": "Bad.Row", "Cause": "the row asked to fail"},
  "W": {"Type": "Wait", "Seconds": 60, "Next": "S"},
  "S": {"Type": "Succeed"}}}"#;

/// The input carries the execution's name, so the state machine can see it.
const WITH_NAME: &str = r#"{"id": "{id}", "outcome": "{outcome}", "name": "{name}"}"#;

/// Each row's last line in the run log.
fn last_lines(work: &Workdir) -> BTreeMap<u64, Value> {
    work.results()
        .into_iter()
        .map(|r| (r["row"].as_u64().unwrap(), r))
        .collect()
}

/// A two-row batch followed to its end: row 1's execution FAILED, row 2's
/// SUCCEEDED.
async fn one_row_failed() -> (fixture::StateMachine, Workdir) {
    let sm = state_machine(&sfn().await, FAILS_UNTIL_RESTARTED).await;
    let work = Workdir::new();
    work.write("jobs.csv", "id,outcome\n1,fail\n2,ok\n");
    work.run(&sm.arn, "jobs.csv")
        .args(["--input-template", WITH_NAME, "--wait", "--poll", "0.3"])
        .assert()
        .code(1);
    (sm, work)
}

fn retry(work: &Workdir, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = work.sfn_batch();
    cmd.args(["retry", "run", "--progress", "none", "--rate", "1000"])
        .args(args);
    cmd
}

#[tokio::test]
async fn failed_executions_start_again_under_new_names() {
    let sm = state_machine(&sfn().await, FAILS_UNTIL_RESTARTED).await;
    let work = Workdir::new();
    work.write("jobs.csv", "id,outcome\n1,ok\n2,fail\n3,fail\n");
    let launch = || {
        let mut cmd = work.run(&sm.arn, "jobs.csv");
        cmd.args(["--input-template", WITH_NAME, "--wait", "--poll", "0.3"]);
        cmd
    };
    launch().assert().code(1);
    let first = last_lines(&work);

    retry(&work, &["--wait", "--poll", "0.3"])
        .assert()
        .code(0)
        .stderr(
            predicate::str::contains("executions ended 2 FAILED")
                .and(predicate::str::contains("launching 2 again"))
                .and(predicate::str::contains("0 RUNNING, 3 SUCCEEDED")),
        );
    let retried = last_lines(&work);
    assert_eq!(retried[&1], first[&1], "the succeeded row is left alone");
    for row in [2, 3] {
        let (before, after) = (&first[&row], &retried[&row]);
        let planned = before["name"].as_str().unwrap();
        assert_eq!(after["name"], format!("{planned}-r1"));
        assert_eq!(after["planned_name"], planned);
        assert_eq!(after["retries"], 1);
        assert_eq!(after["final_status"], "SUCCEEDED");
        assert_ne!(after["execution_arn"], before["execution_arn"]);
    }
    let held = executions(&sfn().await, &sm.arn).await;
    assert_eq!(held.len(), 5, "three first starts and two restarts");
    let restart = held.iter().find(|h| h.name.ends_with("-r1")).unwrap();
    let input: Value = serde_json::from_str(&restart.input).unwrap();
    assert_eq!(
        input["name"], restart.name,
        "the input is rendered for the new name"
    );

    // The run log is the single truth: status, the report, a resume and a second
    // retry all see the restarts, and nothing starts again.
    work.sfn_batch()
        .args(["status", "run"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("0 RUNNING, 3 SUCCEEDED"));
    let report = work.read("run/report.csv");
    assert_eq!(report.matches("-r1,started,").count(), 2, "{report}");
    launch()
        .assert()
        .code(0)
        .stderr(predicate::str::contains("3 rows already started, 0 to go"));
    retry(&work, &[])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("launching 0 again"));
    assert_eq!(executions(&sfn().await, &sm.arn).await.len(), 5);
}

#[tokio::test]
async fn rows_that_failed_to_start_start_under_their_own_names() {
    let sm = state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |call: Call| {
        call.index.is_multiple_of(2).then_some(Fault::Throttle)
    });
    let work = Workdir::new();
    work.write("jobs.csv", numbered_rows(4));
    work.run(&sm.arn, "jobs.csv")
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .args(["--concurrency", "1", "--max-attempts", "1"])
        .assert()
        .code(1);
    let first = last_lines(&work);
    let failed: Vec<u64> = first
        .iter()
        .filter(|(_, r)| r["status"] == "failed")
        .map(|(&row, _)| row)
        .collect();
    assert_eq!(failed.len(), 2);

    retry(&work, &[])
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "2 rows failed to start; executions ended 0 FAILED",
        ));
    let retried = last_lines(&work);
    for row in failed {
        assert_eq!(retried[&row]["status"], "started");
        assert_eq!(retried[&row]["name"], first[&row]["name"], "the same name");
        assert_eq!(retried[&row]["retries"], 1);
    }
    fixture::assert_each_row_started_once(&sm.arn, &work, 4).await;
}

#[tokio::test]
async fn redrive_falls_back_row_by_row_where_the_emulator_lacks_it() {
    let (_, work) = one_row_failed().await;
    // moto 5.2.5 answers RedriveExecution with a 500: each row says so, and
    // starts again under a new name once DescribeExecution shows it still FAILED.
    retry(
        &work,
        &[
            "--redrive",
            "--max-attempts",
            "2",
            "--wait",
            "--poll",
            "0.3",
        ],
    )
    .assert()
    .code(0);
    let row = &last_lines(&work)[&1];
    assert!(row["name"].as_str().unwrap().ends_with("-r1"), "{row}");
    assert_eq!(row["final_status"], "SUCCEEDED");
    let message = row["message"].as_str().unwrap();
    assert!(message.starts_with("not redriven: "), "{message}");
}

#[tokio::test]
async fn redrive_keeps_the_execution_where_aws_redrives_it() {
    let (sm, work) = one_row_failed().await;
    let before = last_lines(&work)[&1].clone();
    // The proxy answers RedriveExecution as AWS does; all else goes to moto.
    let proxy = Proxy::start(fixture::endpoint(), |_: Call| None);
    proxy.answer("RedriveExecution", "200 OK", json!({"redriveDate": 1.7e9}));
    retry(&work, &["--redrive"])
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .assert()
        .code(0);
    assert_eq!(proxy.calls_to("RedriveExecution"), 1);
    assert_eq!(proxy.calls_to("StartExecution"), 0);
    let after = &last_lines(&work)[&1];
    assert_eq!(after["status"], "started");
    for same in ["name", "execution_arn", "start_date"] {
        assert_eq!(after[same], before[same], "{same}");
    }
    assert_eq!(after["retries"], 1);
    assert_eq!(after.get("final_status"), None, "running again");
    assert_eq!(executions(&sfn().await, &sm.arn).await.len(), 2);
}

#[tokio::test]
async fn only_status_narrows_the_retry() {
    let sfn = sfn().await;
    let sm = state_machine(&sfn, FAILS_UNTIL_RESTARTED).await;
    let work = Workdir::new();
    work.write("jobs.csv", "id,outcome\n1,fail\n2,hold\n");
    work.run(&sm.arn, "jobs.csv")
        .args(["--input-template", WITH_NAME])
        .assert()
        .code(0);
    let held = last_lines(&work)[&2]["execution_arn"]
        .as_str()
        .unwrap()
        .to_string();
    sfn.stop_execution()
        .execution_arn(&held)
        .send()
        .await
        .unwrap();
    retry(&work, &["--only-status", "bogus"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--only-status: `bogus`"));
    // The retry looks at AWS first: row 1 FAILED, row 2 ABORTED.
    retry(&work, &["--only-status", "ABORTED"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "ended 1 FAILED, 0 TIMED_OUT, 1 ABORTED, 0 UNKNOWN; launching 1 again",
        ));
    let rows = last_lines(&work);
    assert_eq!(rows[&1]["final_status"], "FAILED", "not retried");
    assert!(rows[&2]["name"].as_str().unwrap().ends_with("-r1"));
    assert_eq!(executions(&sfn, &sm.arn).await.len(), 3);
}

#[tokio::test]
async fn a_throttled_redrive_launches_nothing_and_is_retried_later() {
    let (sm, work) = one_row_failed().await;
    let proxy = Proxy::start(fixture::endpoint(), |_: Call| None);
    let throttle = json!({"__type": "ThrottlingException", "message": "Rate exceeded"});
    proxy.answer("RedriveExecution", "400 Bad Request", throttle);
    retry(&work, &["--redrive", "--max-attempts", "2"])
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .assert()
        .code(1);
    assert_eq!(proxy.calls_to("StartExecution"), 0, "no restart instead");
    let row = &last_lines(&work)[&1];
    assert_eq!(row["status"], "failed");
    assert_eq!(row["final_status"], "FAILED", "the execution as it was");
    let message = row["message"].as_str().unwrap();
    assert!(message.contains("ThrottlingException"), "{message}");
    // The next retry takes the row up again (here the emulator: no redrive, so a
    // restart).
    retry(&work, &["--redrive", "--max-attempts", "2"])
        .assert()
        .code(0);
    assert!(
        last_lines(&work)[&1]["name"]
            .as_str()
            .unwrap()
            .ends_with("-r1")
    );
    assert_eq!(executions(&sfn().await, &sm.arn).await.len(), 3);
}

#[tokio::test]
async fn an_unfinished_retry_is_finished_the_same_way_first() {
    let (_, work) = one_row_failed().await;
    // What a retry with --redrive killed half way leaves behind.
    work.write("run/retrying.json", r#"{"redrive": true}"#);
    retry(&work, &[])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the last retry of run (with --redrive) did not finish",
        ));
    assert_eq!(last_lines(&work)[&1]["final_status"], "FAILED");
    retry(&work, &["--redrive", "--max-attempts", "2"])
        .assert()
        .code(0);
    assert!(!work.path().join("run/retrying.json").exists());
}

#[tokio::test]
async fn a_row_that_cannot_be_restarted_says_why_and_fails_the_retry() {
    let sm = state_machine(&sfn().await, FAILS_UNTIL_RESTARTED).await;
    let work = Workdir::new();
    work.write("jobs.csv", "id,outcome\n1,fail\n");
    // An 80-character name: no room for `-r1`.
    let name = format!("{}{{id}}", "n".repeat(79));
    work.run(&sm.arn, "jobs.csv")
        .args(["--name-template", &name, "--input-template", WITH_NAME])
        .args(["--wait", "--poll", "0.3"])
        .assert()
        .code(1);
    retry(&work, &[]).assert().code(1);
    let row = &last_lines(&work)[&1];
    assert_eq!(row["status"], "failed");
    assert_eq!(row["final_status"], "FAILED");
    let message = row["message"].as_str().unwrap();
    assert!(
        message.contains("cannot be started again under a new name"),
        "{message}"
    );
    assert_eq!(executions(&sfn().await, &sm.arn).await.len(), 1);
}
