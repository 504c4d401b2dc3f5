//! Shared helpers of the integration tests: AWS clients for the local emulator
//! that `scripts/test` starts, unique state machines, and the binary under test.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use assert_cmd::Command;
use aws_config::BehaviorVersion;

/// The emulator's endpoint, set by `scripts/test`.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run the integration tests with scripts/test")
}

pub async fn config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .load()
        .await
}

pub async fn sfn() -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(&config().await)
}

pub async fn s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&config().await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A name no other test (or earlier test run against the same emulator) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A state machine that passes its input through and succeeds.
pub const PASS: &str = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#;
/// A state machine that waits long enough to stay RUNNING during a test.
pub const WAIT: &str =
    r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}}"#;

pub struct StateMachine {
    pub name: String,
    pub arn: String,
    /// The version published with it.
    pub version_arn: String,
}

pub async fn state_machine(sfn: &aws_sdk_sfn::Client, definition: &str) -> StateMachine {
    let name = unique("sm");
    let out = sfn
        .create_state_machine()
        .name(&name)
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/sfn-batch-test")
        .publish(true)
        .send()
        .await
        .expect("create state machine");
    StateMachine {
        name,
        arn: out.state_machine_arn,
        version_arn: out.state_machine_version_arn.expect("published version"),
    }
}

/// An execution as AWS now holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub name: String,
    pub input: String,
}

/// Every execution of the state machine, sorted by name, with its input.
pub async fn executions(sfn: &aws_sdk_sfn::Client, state_machine_arn: &str) -> Vec<Held> {
    let mut held = Vec::new();
    let mut pages = sfn
        .list_executions()
        .state_machine_arn(state_machine_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for e in page.expect("list executions").executions {
            let described = sfn
                .describe_execution()
                .execution_arn(&e.execution_arn)
                .send()
                .await
                .expect("describe execution");
            held.push(Held {
                name: e.name,
                input: described.input.unwrap_or_default(),
            });
        }
    }
    held.sort_by(|a, b| a.name.cmp(&b.name));
    held
}

/// A temporary working folder for one test; the binary runs inside it, so the
/// default run dir lands there too.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write test file");
        path
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    /// The binary, run in this folder, against the emulator.
    pub fn sfn_batch(&self) -> Command {
        Command::from_std(self.process())
    }

    fn process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sfn-batch"));
        cmd.current_dir(self.path())
            .env("AWS_ENDPOINT_URL", endpoint());
        cmd
    }

    /// `sfn-batch run` with the usual arguments, the run dir `run` in this folder.
    pub fn run(&self, state_machine: &str, manifest: &str) -> Command {
        self.run_from(state_machine, &["--manifest", manifest])
    }

    /// The same, with another source (`--s3-prefix ...`, `--dates ...`).
    pub fn run_from(&self, state_machine: &str, source: &[&str]) -> Command {
        Command::from_std(self.run_process(state_machine, source))
    }

    /// The same, as a child process to signal or kill; stderr is piped.
    pub fn spawn_run(
        &self,
        state_machine: &str,
        manifest: &str,
        args: &[&str],
    ) -> std::process::Child {
        self.run_process(state_machine, &["--manifest", manifest])
            .args(args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sfn-batch")
    }

    fn run_process(&self, state_machine: &str, source: &[&str]) -> std::process::Command {
        let mut cmd = self.process();
        cmd.args(["run", "--state-machine", state_machine])
            .args(source)
            .args(["--run-dir", "run", "--progress", "none", "--rate", "1000"]);
        cmd
    }

    /// The run log's records.
    pub fn results(&self) -> Vec<serde_json::Value> {
        self.read("run/results.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("run log line is JSON"))
            .collect()
    }
}

/// Sends a signal by name with the system's `kill`, keeping the tests free of
/// unsafe code and of a libc dependency.
pub fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A manifest of `rows` rows with one column `n` counting from 1.
pub fn numbered_rows(rows: u32) -> String {
    let body: String = (1..=rows).map(|i| format!("{i}\n")).collect();
    format!("n\n{body}")
}

/// Asserts that AWS holds exactly one execution per row of the run, and that the
/// run log records every row as started or existing.
pub async fn assert_each_row_started_once(state_machine_arn: &str, work: &Workdir, rows: usize) {
    let held = executions(&sfn().await, state_machine_arn).await;
    assert_eq!(held.len(), rows, "one execution per row");
    let mut last: std::collections::BTreeMap<u64, serde_json::Value> = Default::default();
    for record in work.results() {
        last.insert(record["row"].as_u64().unwrap(), record);
    }
    assert_eq!(last.len(), rows, "every row logged");
    for record in last.values() {
        let status = record["status"].as_str().unwrap();
        assert!(status == "started" || status == "existing", "{record}");
        let name = record["name"].as_str().unwrap();
        assert!(held.iter().any(|h| h.name == name), "{record} not held");
    }
}
