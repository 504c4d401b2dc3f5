//! Throttles, server errors and dropped connections, injected by a real HTTP proxy
//! in front of the emulator: retried by the launcher, within the attempt budget,
//! and never turned into a second execution.

mod common;

use common::proxy::{Fault, Proxy};
use common::{PASS, Workdir, executions, sfn, state_machine};
use predicates::prelude::*;

#[tokio::test]
async fn faults_are_retried_and_every_row_starts_exactly_once() {
    let sm = state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(common::endpoint(), |_, nth| match nth {
        1 => Some(Fault::Throttle),
        2 => Some(Fault::ServerError),
        3 => Some(Fault::DropRequest),
        // The execution starts, its answer is lost: the next attempt must find it.
        4 => Some(Fault::LoseResponse),
        _ => None,
    });
    let work = Workdir::new();
    let rows: String = (1..=8).map(|i| format!("{i}\n")).collect();
    work.write("jobs.csv", format!("n\n{rows}"));
    work.run(&sm.arn, "jobs.csv")
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .args(["--max-attempts", "6", "--call-timeout", "5"])
        .assert()
        .code(0);
    let held = executions(&sfn().await, &sm.arn).await;
    assert_eq!(held.len(), 8, "each row exactly once");
    for record in work.results() {
        let status = record["status"].as_str().unwrap();
        assert!(status == "started" || status == "existing", "{record}");
        let name = record["name"].as_str().unwrap();
        let attempts = record["attempts"].as_u64().unwrap();
        assert!((5..=6).contains(&attempts), "{record}");
        assert_eq!(
            u64::from(proxy.calls(name)),
            attempts,
            "one call per attempt: {record}"
        );
    }
}

#[tokio::test]
async fn max_attempts_bounds_the_calls_of_a_row() {
    let sm = state_machine(&sfn().await, PASS).await;
    let proxy = Proxy::start(common::endpoint(), |_, _| Some(Fault::Throttle));
    let work = Workdir::new();
    work.write("jobs.csv", "n\n1\n2\n3\n");
    work.run(&sm.arn, "jobs.csv")
        .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
        .args(["--max-attempts", "3"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "3 rows: 0 started, 0 existing, 3 failed",
        ));
    assert!(executions(&sfn().await, &sm.arn).await.is_empty());
    assert_eq!(
        proxy.total_calls(),
        9,
        "3 rows × 3 attempts, no SDK retries on top"
    );
    for record in work.results() {
        assert_eq!(record["attempts"], 3);
        assert_eq!(record["error"], "ThrottlingException");
    }
    assert_eq!(work.read("run/failed.jsonl").lines().count(), 3);
}
