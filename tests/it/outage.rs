//! Outages: the endpoint unreachable (the proxy in front of the emulator closes its
//! port, then listens again on the same one), a storm of 5xx or of throttles in
//! which nothing succeeds. The launch pauses, probes, and spends no rows; row-level
//! errors still fail only their rows.

use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::fixture::{self, PASS, Workdir, assert_each_row_started_once, numbered_rows, sfn};
use crate::proxy::{Call, Fault, Proxy, throttle_fraction};
use serde_json::Value;

/// `run` of `rows` numbered rows through `proxy`, as a child process.
fn spawn_through(proxy: &Proxy, work: &Workdir, arn: &str, rows: u32, args: &[&str]) -> Child {
    work.write("jobs.csv", numbered_rows(rows));
    work.run_process(arn, &["--manifest", "jobs.csv"])
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sfn-batch")
}

/// Waits for the child's end: its exit code, with its stderr shown.
fn finish(child: Child) -> i32 {
    finish_saying(child).0
}

/// The same, with its stderr.
fn finish_saying(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{stderr}");
    (out.status.code().unwrap(), stderr)
}

/// Waits until the run log has `lines` lines.
fn wait_for_lines(work: &Workdir, lines: usize) {
    let log = work.path().join("run/results.jsonl");
    while std::fs::read_to_string(&log).map_or(0, |l| l.lines().count()) < lines {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn outages(work: &Workdir) -> Value {
    let summary: Value = serde_json::from_str(&work.read("run/summary.json")).unwrap();
    summary["this_run"]["outages"].clone()
}

fn with_status(work: &Workdir, status: &str) -> usize {
    let results = work.results();
    let mut last = std::collections::BTreeMap::new();
    for record in &results {
        last.insert(record["row"].as_u64(), record["status"].clone());
    }
    last.values().filter(|s| *s == status).count()
}

/// `rows` rows at `--rate 20` through a storm: every call answered `fault` from
/// 1 s after the first call until `ends`. The breaker opens once, and every row
/// starts once.
async fn through_a_storm(fault: Fault, ends: Duration, rows: u32) {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let first = OnceLock::new();
    let proxy = Proxy::start(fixture::endpoint(), move |_| {
        let since = first.get_or_init(Instant::now).elapsed();
        (Duration::from_secs(1) <= since && since < ends).then_some(fault)
    });
    let work = Workdir::new();
    let child = spawn_through(&proxy, &work, &sm.arn, rows, &["--rate", "20"]);
    assert_eq!(finish(child), 0);
    assert_each_row_started_once(&sm.arn, &work, rows as usize).await;
    assert_eq!(outages(&work)["count"], 1, "{}", outages(&work));
}

/// 300 rows at `--rate 20` with `args`, through a proxy that goes down once 60
/// rows are logged.
async fn down_mid_run(args: &[&str]) -> (fixture::StateMachine, Proxy, Workdir, Child) {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |_| None);
    let work = Workdir::new();
    let args = [&["--rate", "20"], args].concat();
    let child = spawn_through(&proxy, &work, &sm.arn, 300, &args);
    wait_for_lines(&work, 60);
    proxy.go_down();
    (sm, proxy, work, child)
}

#[tokio::test]
async fn an_outage_mid_run_pauses_the_launch_and_costs_no_rows() {
    let (sm, proxy, work, child) = down_mid_run(&["--progress", "lines"]).await;
    std::thread::sleep(Duration::from_secs(30));
    proxy.come_back();
    let (code, stderr) = finish_saying(child);
    assert_eq!(code, 0);
    // The progress lines say what is happening.
    assert!(
        stderr.contains("(connection refused); probing every "),
        "{stderr}"
    );
    assert!(stderr.contains("s; no rows spent; budget 15m"), "{stderr}");
    assert!(
        stderr.contains("AWS unreachable: 1 outage, the longest "),
        "{stderr}"
    );
    assert_each_row_started_once(&sm.arn, &work, 300).await;
    let outages = outages(&work);
    assert_eq!(outages["count"], 1, "{outages}");
    assert!(
        outages["paused_seconds"].as_f64().unwrap() >= 25.0,
        "{outages}"
    );
    // A handful of probes, not a call per row: 1 s, 2 s, 4 s ... apart.
    assert!(outages["probe_calls"].as_u64().unwrap() <= 15, "{outages}");
    // Every call the proxy saw got through; none for a row twice.
    assert_eq!(proxy.total_calls(), 300);
}

#[tokio::test]
async fn an_outage_past_its_budget_stops_the_run_and_the_same_command_resumes() {
    let (sm, proxy, work, child) = down_mid_run(&["--outage-budget", "5s"]).await;
    let (code, stderr) = finish_saying(child);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("past --outage-budget"), "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    assert_eq!(with_status(&work, "failed"), 0);
    assert!(with_status(&work, "not_attempted") >= 200);
    assert!(outages(&work)["gave_up_after_seconds"].as_f64().unwrap() >= 5.0);
    proxy.come_back();
    let resume = spawn_through(&proxy, &work, &sm.arn, 300, &["--rate", "50"]);
    assert_eq!(finish(resume), 0);
    assert_each_row_started_once(&sm.arn, &work, 300).await;
}

#[tokio::test]
async fn a_storm_of_server_errors_opens_the_breaker() {
    through_a_storm(Fault::ServerError, Duration::from_secs(5), 100).await;
}

#[tokio::test]
async fn a_storm_of_throttles_opens_the_breaker_and_ordinary_throttling_does_not() {
    through_a_storm(Fault::Throttle, Duration::from_secs(9), 60).await;

    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), throttle_fraction(0.3));
    let work = Workdir::new();
    let child = spawn_through(&proxy, &work, &sm.arn, 40, &["--max-attempts", "8"]);
    assert_eq!(finish(child), 0);
    assert!(proxy.throttled() > 5, "{} throttled", proxy.throttled());
    assert_eq!(outages(&work)["count"], 0, "{}", outages(&work));
}

#[tokio::test]
async fn row_level_errors_fail_their_own_rows_even_many_in_a_row() {
    let sm = fixture::state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |call: Call| {
        (call.index < 30).then_some(Fault::RejectRow)
    });
    let work = Workdir::new();
    let child = spawn_through(&proxy, &work, &sm.arn, 60, &["--concurrency", "1"]);
    assert_eq!(finish(child), 1);
    assert_eq!(with_status(&work, "failed"), 30);
    assert_eq!(with_status(&work, "started"), 30);
    assert_eq!(outages(&work)["count"], 0);
}

#[tokio::test]
async fn an_outage_while_waiting_is_followed_through() {
    let sm = fixture::state_machine(&sfn().await, &fixture::waiting(3)).await;
    let proxy = Proxy::start(fixture::endpoint(), |_| None);
    let work = Workdir::new();
    let args = ["--wait", "--poll", "0.5"];
    let child = spawn_through(&proxy, &work, &sm.arn, 10, &args);
    wait_for_lines(&work, 10);
    proxy.go_down();
    // Ten looks at AWS fail meanwhile.
    std::thread::sleep(Duration::from_secs(5));
    proxy.come_back();
    assert_eq!(finish(child), 0);
    let ended = work.results();
    let ended: Vec<_> = ended
        .iter()
        .filter(|r| r["final_status"].is_string())
        .collect();
    assert_eq!(ended.len(), 10, "{ended:?}");
    assert!(
        ended.iter().all(|r| r["final_status"] == "SUCCEEDED"),
        "{ended:?}"
    );
}
