//! Crash safety: a run killed at any instant, interrupted, or raced by a second
//! process, and resumed with the same command, ends with every row started exactly
//! once and a complete report.

use std::time::Duration;

use crate::fixture::{
    self, PASS, Workdir, assert_each_row_started_once, numbered_rows, send_signal, sfn,
    state_machine,
};
use crate::proxy::{Call, Fault, Proxy};
use predicates::prelude::*;
use serde_json::{Value, json};

/// Starts a run slowed down by a proxy (each call takes 40 ms, 4 at a time), kills
/// it with SIGKILL at a moment of its launch drawn from `seed`, then runs the same
/// command again.
async fn killed_and_resumed(seed: u64) {
    let sm = state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(fixture::endpoint(), |_: Call| {
        Some(Fault::Delay(Duration::from_millis(40)))
    });
    let work = Workdir::new();
    let rows = 60;
    work.write("jobs.csv", numbered_rows(rows));
    let args = ["--concurrency", "4"];
    let mut child = work.spawn_run(&sm.arn, "jobs.csv", &args);
    let log = work.path().join("run/results.jsonl");
    let logged = || std::fs::metadata(&log).map_or(0, |m| m.len());
    while logged() == 0 && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Launching has begun: kill it at a random point of the launch.
    let moment = fastrand::Rng::with_seed(seed).u64(0..600);
    std::thread::sleep(Duration::from_millis(moment));
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!(
        "seed {seed}: killed {moment} ms into the launch, {} log bytes",
        logged()
    );
    work.run(&sm.arn, "jobs.csv")
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .args(args)
        .assert()
        .code(0);
    assert_each_row_started_once(&sm.arn, &work, rows as usize).await;
    let report = work.read("run/report.csv");
    assert_eq!(
        report.lines().count(),
        rows as usize + 1,
        "a complete report"
    );
}

#[tokio::test]
async fn kill_9_then_resume_seed_1() {
    killed_and_resumed(1).await;
}

#[tokio::test]
async fn kill_9_then_resume_seed_2() {
    killed_and_resumed(2).await;
}

#[tokio::test]
async fn kill_9_then_resume_seed_3() {
    killed_and_resumed(3).await;
}

#[tokio::test]
async fn kill_9_then_resume_seed_4() {
    killed_and_resumed(4).await;
}

/// Ctrl-C (SIGINT) or a stop from cron or a container (SIGTERM) mid-run: the run
/// stops starting rows, finishes the calls in flight, writes the report and exits
/// 130; the same command then finishes the job.
async fn signalled_and_resumed(signal: &str) {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("slow.csv", numbered_rows(40));
    let child = work.spawn_run(&sm.arn, "slow.csv", &["--rate", "10"]);
    // Mid-run: once the first rows are logged (40 rows at 10/s take 4 s).
    let log = work.path().join("run/results.jsonl");
    while std::fs::metadata(&log).map_or(0, |m| m.len()) == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    send_signal(child.id(), signal);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // Every row is logged: those not reached as `not_attempted`, named as planned,
    // and the tail of the manifest.
    let results = work.results();
    let started = results.iter().filter(|r| r["status"] == "started").count();
    assert!(
        started > 0 && started < 40,
        "{started} rows before the stop"
    );
    let not_reached: Vec<_> = results
        .iter()
        .filter(|r| r["status"] == "not_attempted")
        .collect();
    assert_eq!(not_reached.len(), 40 - started, "{results:?}");
    assert!(
        not_reached.iter().all(|r| r["name"].is_string()),
        "{not_reached:?}"
    );
    assert!(
        not_reached
            .iter()
            .all(|r| r["row"].as_u64() > Some(started as u64))
    );
    let summary: Value = serde_json::from_str(&work.read("run/summary.json")).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["counts"]["not_attempted"], json!(40 - started));
    let report = work.read("run/report.csv");
    let named = |line: &&str| line.split(',').nth(2).is_some_and(|name| !name.is_empty());
    assert!(report.lines().skip(1).all(|line| named(&line)), "{report}");
    work.run(&sm.arn, "slow.csv").assert().code(0);
    assert_each_row_started_once(&sm.arn, &work, 40).await;
}

#[tokio::test]
async fn sigint_stops_cleanly_and_a_resume_finishes_the_job() {
    signalled_and_resumed("INT").await;
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_a_resume_finishes_the_job() {
    signalled_and_resumed("TERM").await;
}

#[tokio::test]
async fn a_second_process_on_the_same_run_dir_is_refused() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("jobs.csv", numbered_rows(20));
    let first = work.spawn_run(&sm.arn, "jobs.csv", &["--rate", "2"]);
    let lock = work.path().join("run/lock");
    let pid = first.id().to_string();
    for _ in 0..100 {
        if std::fs::read_to_string(&lock).is_ok_and(|l| l.split_whitespace().next() == Some(&pid)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    work.run(&sm.arn, "jobs.csv")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "run dir run is in use by another sfn-batch (pid {pid})"
        )));
    send_signal(first.id(), "TERM");
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(130));
    work.run(&sm.arn, "jobs.csv").assert().code(0);
    assert_each_row_started_once(&sm.arn, &work, 20).await;
}

/// `status` while `run` is still launching: the live process is named, and the
/// run is not finished (3) rather than failed; once it is killed, the rows it never
/// reached are not attempted (1).
#[tokio::test]
async fn status_during_a_launch_names_the_launcher_and_is_not_finished() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("jobs.csv", numbered_rows(20));
    let launching = work.spawn_run(&sm.arn, "jobs.csv", &["--rate", "2", "--burst", "1"]);
    let pid = launching.id().to_string();
    let log = work.path().join("run/results.jsonl");
    for _ in 0..100 {
        if std::fs::read_to_string(&log).is_ok_and(|l| l.lines().count() >= 2) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = || work.sfn_batch().args(["status", "run"]).assert();
    status().code(3).stdout(
        predicate::str::contains(format!("pid {pid} is still launching: "))
            .and(predicate::str::contains("not reached yet"))
            .and(predicate::str::contains("not attempted").not()),
    );
    send_signal(launching.id(), "KILL");
    launching.wait_with_output().unwrap();
    status()
        .code(1)
        .stdout(predicate::str::contains("is still").not());
}

#[tokio::test]
async fn a_changed_manifest_is_refused_unless_forced() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("jobs.csv", "n\n1\n2\n3\n4\n");
    let run = || {
        let mut cmd = work.run(&sm.arn, "jobs.csv");
        cmd.args(["--batch-id", "b"]);
        cmd
    };
    run().assert().code(0);
    // Row 2 changed, row 5 added.
    work.write("jobs.csv", "n\n1\n2b\n3\n4\n5\n");
    run().assert().code(2).stderr(predicate::str::contains(
        "run dir run was started with a different manifest content",
    ));
    run()
        .arg("--force-resume")
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "5 rows: 5 started, 0 existing, 0 failed to start",
        ));
    let held = fixture::executions(&sfn().await, &sm.arn).await;
    assert_eq!(
        held.len(),
        6,
        "4 first, then the changed row 2 and the new row 5"
    );
    // The run dir now records the new manifest: a plain resume is accepted.
    run()
        .assert()
        .code(0)
        .stderr(predicate::str::contains("5 rows already started, 0 to go"));
}

#[tokio::test]
async fn force_resume_keeps_the_names_of_unchanged_rows() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write(
        "jobs.csv", "n
1
2
3
",
    );
    work.run(&sm.arn, "jobs.csv").assert().code(0);
    // The default batch id hashes the manifest: without --force-resume's reuse of
    // the recorded id, every row would get a new name and start again.
    work.write(
        "jobs.csv",
        "n
1
2
3
4
",
    );
    work.run(&sm.arn, "jobs.csv")
        .arg("--force-resume")
        .assert()
        .code(0)
        .stderr(predicate::str::contains("3 rows already started, 1 to go"));
    assert_each_row_started_once(&sm.arn, &work, 4).await;
}
