//! Throttles, server errors, stalls and dropped connections, injected by a real
//! HTTP proxy in front of the emulator: retried by the launcher within the attempt
//! budget, paced down by throttles only, and never turned into a second execution.

use std::time::Duration;

use crate::fixture::{self, PASS, WAIT, Workdir, assert_each_row_started_once, numbered_rows, sfn};
use crate::proxy::{Call, Fault, Proxy, throttle_fraction, token_bucket};
use predicates::prelude::*;
use serde_json::Value;

/// A run of `rows` numbered rows through `proxy`, with extra arguments.
fn run_through(proxy: &Proxy, work: &Workdir, arn: &str, rows: u32, args: &[&str]) -> i32 {
    work.write("jobs.csv", numbered_rows(rows));
    let out = work
        .run(arn, "jobs.csv")
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .args(args)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out.status.code().unwrap()
}

fn summary(work: &Workdir) -> Value {
    serde_json::from_str(&work.read("run/summary.json")).unwrap()
}

#[tokio::test]
async fn every_kind_of_fault_is_retried_and_each_row_starts_once() {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |call: Call| match call.nth {
        1 => Some(Fault::Throttle),
        2 => Some(Fault::ServerError),
        3 => Some(Fault::DropRequest),
        // The execution starts, its answer is lost: the next attempt must find it.
        4 => Some(Fault::LoseResponse),
        _ => None,
    });
    let work = Workdir::new();
    let code = run_through(&proxy, &work, &sm.arn, 8, &["--max-attempts", "6"]);
    assert_eq!(code, 0);
    assert_each_row_started_once(&sm.arn, &work, 8).await;
    for record in work.results() {
        let name = record["name"].as_str().unwrap();
        let attempts = record["attempts"].as_u64().unwrap();
        assert!((5..=6).contains(&attempts), "{record}");
        assert_eq!(
            u64::from(proxy.calls(name)),
            attempts,
            "one call per attempt"
        );
    }
}

/// Rows 1 and 3 are throttled at every call, row 2 (the fourth call, one at a
/// time) is not: fewer than five calls in a row fail, so this is the rows' own
/// trouble, not an outage, and each spends its attempts.
#[tokio::test]
async fn max_attempts_bounds_the_calls_of_a_row() {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |call: Call| {
        (call.index != 3).then_some(Fault::Throttle)
    });
    let work = Workdir::new();
    work.write("jobs.csv", numbered_rows(3));
    work.run(&sm.arn, "jobs.csv")
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .args(["--max-attempts", "3", "--concurrency", "1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "3 rows: 1 started, 0 existing, 2 failed to start",
        ));
    assert_eq!(fixture::executions(&sfn().await, &sm.arn).await.len(), 1);
    assert_eq!(
        proxy.total_calls(),
        7,
        "2 rows × 3 attempts and 1, no SDK retries on top"
    );
    for record in work.results().iter().filter(|r| r["status"] == "failed") {
        assert_eq!(record["attempts"], 3);
        assert_eq!(record["error"], "ThrottlingException");
    }
    assert_eq!(work.read("run/failed.jsonl").lines().count(), 2);
    assert_eq!(summary(&work)["this_run"]["outages"]["count"], 0);
}

#[tokio::test]
async fn thirty_percent_throttling_for_the_whole_run() {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), throttle_fraction(0.3));
    let work = Workdir::new();
    let code = run_through(&proxy, &work, &sm.arn, 20, &["--max-attempts", "15"]);
    assert_eq!(code, 0);
    assert_each_row_started_once(&sm.arn, &work, 20).await;
    let pacing = &summary(&work)["this_run"]["pacing"];
    assert_eq!(pacing["throttles"], proxy.throttled(), "{pacing}");
    assert!(
        pacing["pace"].as_f64().unwrap() < 1000.0,
        "throttles lowered the pace"
    );
}

#[tokio::test]
async fn a_token_bucket_of_20_per_second_under_rate_100() {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), token_bucket(20.0, 20.0));
    let work = Workdir::new();
    let rows = 150;
    let args = ["--rate", "100", "--max-attempts", "10"];
    let code = run_through(&proxy, &work, &sm.arn, rows, &args);
    assert_eq!(code, 0);
    assert_each_row_started_once(&sm.arn, &work, rows as usize).await;
    // A client holding 100/s against a bucket granting 20/s would be throttled
    // about 4 times per row; the adaptive pace keeps it to a fraction of a row.
    let throttled = proxy.throttled();
    eprintln!(
        "{throttled} throttles for {rows} rows; {:.1} calls/s let through",
        proxy.passed_per_second()
    );
    assert!(throttled < u64::from(rows) / 3, "{throttled} throttles");
}

/// Every other call answered 503, one call at a time: AWS answers in between, so
/// this is no outage (outage.rs has the storms).
#[tokio::test]
async fn server_errors_between_answers_are_retried_without_slowing_down() {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |call: Call| {
        (call.index < 40 && call.index.is_multiple_of(2)).then_some(Fault::ServerError)
    });
    let work = Workdir::new();
    let args = ["--max-attempts", "10", "--concurrency", "1"];
    let code = run_through(&proxy, &work, &sm.arn, 30, &args);
    assert_eq!(code, 0);
    assert_each_row_started_once(&sm.arn, &work, 30).await;
    let pacing = &summary(&work)["this_run"]["pacing"];
    assert_eq!(pacing["throttles"], 0);
    assert_eq!(pacing["pace"], 1000.0, "5xx leave the pace alone");
}

#[tokio::test]
async fn lost_answers_of_running_executions_are_the_same_execution() {
    let sm = fixture::state_machine(&sfn().await, WAIT).await;
    let proxy = Proxy::start(fixture::endpoint(), |call: Call| {
        (call.nth == 1).then_some(Fault::LoseResponse)
    });
    let work = Workdir::new();
    assert_eq!(run_through(&proxy, &work, &sm.arn, 6, &[]), 0);
    assert_each_row_started_once(&sm.arn, &work, 6).await;
    for record in work.results() {
        // Same name, same input, still running: AWS answers with the same ARN.
        assert_eq!(record["status"], "started", "{record}");
        assert_eq!(record["attempts"], 2, "{record}");
    }
}

#[tokio::test]
async fn stalls_longer_than_the_call_timeout_are_retried() {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |call: Call| match call.nth {
        1 => Some(Fault::Stall),
        2 => Some(Fault::Delay(Duration::from_millis(200))),
        _ => None,
    });
    let work = Workdir::new();
    let code = run_through(&proxy, &work, &sm.arn, 5, &["--call-timeout", "1"]);
    assert_eq!(code, 0);
    assert_each_row_started_once(&sm.arn, &work, 5).await;
    for record in work.results() {
        assert_eq!(record["attempts"], 2, "{record}");
    }
}

#[tokio::test]
async fn max_failures_stops_starting_and_leaves_the_rest_not_attempted() {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |_| Some(Fault::Throttle));
    let work = Workdir::new();
    let args = [
        "--max-failures",
        "3",
        "--max-attempts",
        "1",
        "--concurrency",
        "1",
    ];
    assert_eq!(run_through(&proxy, &work, &sm.arn, 50, &args), 1);
    assert_eq!(
        proxy.total_calls(),
        3,
        "nothing sent after the third failure"
    );
    let summary = summary(&work);
    assert_eq!(summary["halted_at"], 3);
    assert_eq!(summary["counts"]["failed"], 3);
    assert_eq!(summary["counts"]["not_attempted"], 47);
    let report = work.read("run/report.csv");
    assert_eq!(report.matches(",not_attempted,").count(), 47);
}
