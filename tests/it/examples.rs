//! The examples of the library API, built by `cargo build --examples` (as
//! `scripts/test` does), run against the emulator.

use std::path::PathBuf;
use std::process::Command;

use crate::fixture::{self, PASS, Workdir, executions, sfn, state_machine};

/// An example's binary: `target/<profile>/examples/<name>`, beside the folder
/// of this test's own binary.
fn example(name: &str) -> Command {
    let test = std::env::current_exe().unwrap();
    let profile = test.parent().and_then(|deps| deps.parent()).unwrap();
    let path: PathBuf = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --examples` first (scripts/test does)",
        path.display()
    );
    let mut command = Command::new(path);
    fixture::against_emulator(&mut command);
    command
}

#[tokio::test]
async fn launch_vec_starts_one_execution_per_item_built_in_code() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    let run_dir = work.path().join("run");
    let output = example("launch_vec")
        .arg(&sm.arn)
        .arg(&run_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let held = executions(&sfn().await, &sm.arn).await;
    let names: Vec<&str> = held.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "partition-eu-2024-01-01",
            "partition-eu-2024-01-02",
            "partition-eu-2024-01-03",
            "partition-us-2024-01-01",
            "partition-us-2024-01-02",
            "partition-us-2024-01-03",
        ]
    );
    assert_eq!(
        held[0].input,
        r#"{"Input":"s3://raw/eu/2024-01-01/","Output":"s3://out/eu/2024-01-01/"}"#
    );
    // Run again: the run dir resumes, nothing starts twice.
    let again = example("launch_vec")
        .arg(&sm.arn)
        .arg(&run_dir)
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("6 rows: 6 started"));
    assert_eq!(executions(&sfn().await, &sm.arn).await.len(), 6);
}

#[tokio::test]
async fn custom_source_walks_a_folder_and_waits_for_the_ends() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    std::fs::create_dir_all(work.path().join("data/2024/01")).unwrap();
    work.write("data/2024/01/a.parquet", "aaaa");
    work.write("data/2024/01/b.parquet", "bb");
    work.write("data/readme.txt", "r");
    let output = example("custom_source")
        .arg(&sm.arn)
        .arg(work.path().join("data"))
        .arg(work.path().join("run"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut inputs: Vec<String> = executions(&sfn().await, &sm.arn)
        .await
        .into_iter()
        .map(|h| h.input)
        .collect();
    inputs.sort();
    assert_eq!(
        inputs,
        [
            r#"{"File":"2024/01/a.parquet","Bytes":4}"#,
            r#"{"File":"2024/01/b.parquet","Bytes":2}"#,
            r#"{"File":"readme.txt","Bytes":1}"#,
        ]
    );
    let summary = std::fs::read_to_string(work.path().join("run/summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["followed"]["ends"]["succeeded"], 3, "{summary}");
}
