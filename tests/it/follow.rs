//! Following a batch to its end against the emulator's interpreter: `run --wait`,
//! `watch` and `status` after the launch ended, a timeout, the cost in API calls,
//! and Express state machines, which cannot be followed.

use std::collections::BTreeMap;

use crate::fixture::{self, PASS, Workdir, numbered_rows, sfn, state_machine, waiting};
use crate::proxy::{Call, Proxy};
use predicates::prelude::*;
use serde_json::Value;

/// Branches on the row: `fail` fails with an error and a cause, `wait` takes two
/// seconds, anything else succeeds.
const MIXED: &str = r#"{"StartAt": "C", "States": {
  "C": {"Type": "Choice", "Choices": [
    {"Variable": "$.outcome", "StringEquals": "fail", "Next": "F"},
    {"Variable": "$.outcome", "StringEquals": "wait", "Next": "W"}],
    "Default": "S"},
  "F": {"Type": "Fail", "Error": "Bad.Row", "Cause": "the row asked to fail"},
  "W": {"Type": "Wait", "Seconds": 2, "Next": "S"},
  "S": {"Type": "Succeed"}}}"#;

/// Each row's final status, error and cause in `report.csv`, by row.
fn final_statuses(work: &Workdir) -> BTreeMap<u64, (String, String, String)> {
    let report = work.read("run/report.csv");
    let mut reader = csv::Reader::from_reader(report.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[column("row")].parse().unwrap(),
                (
                    r[column("final_status")].to_string(),
                    r[column("error")].to_string(),
                    r[column("cause")].to_string(),
                ),
            )
        })
        .collect()
}

fn summary(work: &Workdir) -> Value {
    serde_json::from_str(&work.read("run/summary.json")).unwrap()
}

fn entry(status: &str, error: &str, cause: &str) -> (String, String, String) {
    (status.into(), error.into(), cause.into())
}

#[tokio::test]
async fn wait_records_how_each_execution_ended() {
    let sm = state_machine(&sfn().await, MIXED).await;
    let work = Workdir::new();
    work.write("mixed.csv", "outcome\nok\nfail\nwait\n");
    work.run(&sm.arn, "mixed.csv")
        .args(["--wait", "--poll", "0.5"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("executions: 0 RUNNING, 2 SUCCEEDED, 1 FAILED")
                .and(predicate::str::contains(
                    "3 rows: 3 started, 0 existing, 0 failed to start",
                ))
                .and(predicate::str::contains("following took").not()),
        );
    assert_eq!(
        final_statuses(&work),
        BTreeMap::from([
            (1, entry("SUCCEEDED", "", "")),
            (2, entry("FAILED", "Bad.Row", "the row asked to fail")),
            (3, entry("SUCCEEDED", "", "")),
        ])
    );
    let waited = work
        .results()
        .into_iter()
        .filter(|r| r["fields"]["outcome"] == "wait" && r["final_status"] == "SUCCEEDED")
        .map(|r| r["duration_seconds"].as_f64().unwrap())
        .next()
        .unwrap();
    assert!(waited >= 2.0, "the Wait state's two seconds: {waited}");

    // Every execution succeeding is exit 0.
    let all_ok = Workdir::new();
    all_ok.write("ok.csv", "outcome\nok\nwait\n");
    all_ok
        .run(&sm.arn, "ok.csv")
        .args(["--wait", "--poll", "0.5"])
        .assert()
        .code(0);
}

#[tokio::test]
async fn watch_and_status_follow_an_earlier_run() {
    // Long enough to be still running when `status` looks, on a busy machine.
    let sm = state_machine(&sfn().await, &waiting(5)).await;
    let work = Workdir::new();
    work.write("later.csv", numbered_rows(3));
    work.run(&sm.arn, "later.csv").assert().code(0);
    let status = || {
        let mut cmd = work.sfn_batch();
        cmd.args(["status", "run"]);
        cmd.assert()
    };
    // Right after the launch, the waits are still running: in progress, exit 3.
    status().code(3).stdout(
        predicate::str::contains("3 rows: 3 started")
            .and(predicate::str::contains("oldest running")),
    );
    // `watch` launches nothing: it says so, without a rate; at -v, what following
    // cost, in plural where it is plural.
    work.sfn_batch()
        .args(["watch", "run", "--poll", "0.5", "--progress", "none", "-v"])
        .assert()
        .code(0)
        .stderr(
            predicate::str::contains("executions: 0 RUNNING, 3 SUCCEEDED")
                .and(predicate::str::contains("this run: no row launched, "))
                .and(predicate::str::contains("rows/s").not())
                .and(
                    predicate::str::is_match(r"following took \d+ ListExecutions calls? and")
                        .unwrap(),
                ),
        );
    status().code(0).stdout(predicate::str::contains(
        "executions: 0 RUNNING, 3 SUCCEEDED",
    ));
    let finals: Vec<String> = final_statuses(&work).into_values().map(|e| e.0).collect();
    assert_eq!(finals, ["SUCCEEDED"; 3]);
}

#[tokio::test]
async fn a_timeout_reports_what_still_runs() {
    let sm = state_machine(&sfn().await, fixture::WAIT).await;
    let work = Workdir::new();
    work.write("long.csv", numbered_rows(2));
    work.run(&sm.arn, "long.csv")
        .args(["--wait", "--timeout", "1s", "--poll", "0.5"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("executions: 2 RUNNING"));
    let finals: Vec<String> = final_statuses(&work).into_values().map(|e| e.0).collect();
    assert_eq!(finals, ["RUNNING"; 2]);
}

#[tokio::test]
async fn following_costs_pages_not_rows() {
    let sm = state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |_: Call| None);
    let work = Workdir::new();
    let rows = 2000;
    work.write("many.csv", numbered_rows(rows));
    work.run(&sm.arn, "many.csv")
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .args(["--wait", "--poll", "1", "--concurrency", "32"])
        .assert()
        .code(0);
    let calls = &summary(&work)["followed"]["calls"];
    let (lists, describes) = (
        proxy.calls_to("ListExecutions"),
        proxy.calls_to("DescribeExecution"),
    );
    eprintln!("following {rows} executions: {calls}");
    assert_eq!(calls["list_executions"], lists);
    assert_eq!(calls["describe_execution"], describes);
    assert_eq!(describes, 0, "no failure to describe");
    // Four statuses, two pages of 1,000 at most for the succeeded ones.
    let sweeps = calls["sweeps"].as_u64().unwrap();
    assert!(
        lists <= 5 * sweeps,
        "{lists} ListExecutions in {sweeps} sweeps"
    );
    assert!(lists < u64::from(rows) / 100);
}

#[tokio::test]
async fn express_state_machines_cannot_be_followed() {
    let sfn = sfn().await;
    let name = fixture::unique("express");
    let arn = sfn
        .create_state_machine()
        .name(&name)
        .definition(PASS)
        .role_arn("arn:aws:iam::123456789012:role/sfn-batch-test")
        .r#type(aws_sdk_sfn::types::StateMachineType::Express)
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    let work = Workdir::new();
    work.write("x.csv", numbered_rows(1));
    work.run(&arn, "x.csv")
        .arg("--wait")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Express").and(predicate::str::contains("cannot follow")));
}

/// Runs `child` to its end while counting the state machine's running executions
/// every 100 ms; returns the exit code and the most seen at once.
async fn most_running(arn: &str, mut child: std::process::Child) -> (Option<i32>, usize) {
    let sfn = sfn().await;
    let mut most = 0;
    loop {
        let running = sfn
            .list_executions()
            .state_machine_arn(arn)
            .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
            .send()
            .await
            .unwrap()
            .executions
            .len();
        most = most.max(running);
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), most);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn max_running_keeps_the_window() {
    let sm = state_machine(&sfn().await, &waiting(1)).await;
    let work = Workdir::new();
    work.write("jobs.csv", numbered_rows(8));
    let child = work.spawn_run(
        &sm.arn,
        "jobs.csv",
        &["--max-running", "3", "--poll", "0.3"],
    );
    let (code, most) = most_running(&sm.arn, child).await;
    assert_eq!(code, Some(0));
    eprintln!("at most {most} running at once");
    assert!((1..=3).contains(&most), "{most} running at once");
    fixture::assert_each_row_started_once(&sm.arn, &work, 8).await;
}

#[tokio::test]
async fn executions_open_from_before_count_against_the_window() {
    let sm = state_machine(&sfn().await, &waiting(2)).await;
    let work = Workdir::new();
    work.write("jobs.csv", numbered_rows(6));
    work.run(&sm.arn, "jobs.csv")
        .args(["--limit", "3"])
        .assert()
        .code(0);
    // Three are open: the resume waits for them before starting any other.
    let child = work.spawn_run(
        &sm.arn,
        "jobs.csv",
        &["--max-running", "3", "--poll", "0.3"],
    );
    let (code, most) = most_running(&sm.arn, child).await;
    assert_eq!(code, Some(0));
    assert!(most <= 3, "{most} running at once");
    fixture::assert_each_row_started_once(&sm.arn, &work, 6).await;
}
