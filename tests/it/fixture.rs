//! Shared helpers of the integration tests: the emulator they run against, AWS
//! clients for it, unique state machines, and the binary under test.
//!
//! The emulator is a moto server this test binary starts on first use, from the
//! `.venv` that `scripts/test` (or `scripts/emulator install`) creates, and that
//! exits with it; or, when `AWS_ENDPOINT_URL` is set (`eval "$(scripts/emulator
//! start)"`, whose moto keeps its log), the emulator there. Nothing else is taken
//! from the environment: every process the tests start, and every client they
//! build, is given the endpoint, dummy credentials and the region explicitly.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::{Credentials, SharedCredentialsProvider};
use futures::StreamExt;

/// The region of every client and process, as the emulator's ARNs have it.
pub const REGION: &str = "us-east-1";

/// The emulator's endpoint: `AWS_ENDPOINT_URL`'s if set, else that of the moto
/// server started for this test binary (on the first call; later calls wait for
/// it or return at once).
pub fn endpoint() -> String {
    static EMULATOR: LazyLock<Result<Emulator, String>> =
        LazyLock::new(|| match std::env::var("AWS_ENDPOINT_URL") {
            Ok(url) if !url.is_empty() => Ok(Emulator {
                url,
                _server_stdin: None,
            }),
            _ => Emulator::start(),
        });
    match &*EMULATOR {
        Ok(emulator) => emulator.url.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// The emulator the tests talk to. It lives in a static, which is never dropped.
struct Emulator {
    url: String,
    /// For a moto server started here, the write end of the pipe on its stdin,
    /// held and never written: when this process exits, however it exits, the
    /// kernel closes it, and the server (`--exit-on-eof`) exits too. No signal, no
    /// destructor, nothing tied to the thread that happened to start it; and std
    /// opens pipes close-on-exec, so no process a test starts keeps it open.
    _server_stdin: Option<ChildStdin>,
}

impl Emulator {
    /// How long moto may take to answer, on a loaded machine.
    const STARTUP: Duration = Duration::from_secs(90);

    fn start() -> Result<Emulator, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(format!(
                "{} is missing: the integration tests start the emulator (moto) from it; \
                 run scripts/test (or scripts/emulator install) once to create it",
                python.display()
            ));
        }
        // The free port is found by binding and letting go: should another socket
        // take it meanwhile, moto exits, and another port is tried.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Emulator::start_on(&python, &root.join("scripts/moto_server.py")) {
                Ok(emulator) => return Ok(emulator),
                Err(e) => failures.push(e),
            }
        }
        Err(format!(
            "the emulator (moto) did not start:\n{}",
            failures.join("\n")
        ))
    }

    fn start_on(python: &Path, script: &Path) -> Result<Emulator, String> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let log_path = std::env::temp_dir().join(format!("sfn-batch-moto-{port}.log"));
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let stderr = log.try_clone().map_err(|e| e.to_string())?;
        let mut child = std::process::Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg("--exit-on-eof")
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("run {}: {e}", python.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let deadline = Instant::now() + Emulator::STARTUP;
        let failure = loop {
            if answers(port) {
                // moto goes on writing to the file, unlinked: it takes no room once
                // the tests end, and none is left behind in the temp folder.
                let _ = std::fs::remove_file(&log_path);
                return Ok(Emulator {
                    url: format!("http://127.0.0.1:{port}"),
                    _server_stdin: Some(stdin),
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                break format!("moto exited ({status})");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break format!("moto did not answer within {:?}", Emulator::STARTUP);
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let output = std::fs::read_to_string(&log_path).unwrap_or_default();
        let _ = std::fs::remove_file(&log_path);
        Err(format!("{failure} on port {port}; its output:\n{output}"))
    }
}

/// Whether moto answers on `port`, as `scripts/emulator` checks it: its data
/// endpoint returns 200 once the server is up.
fn answers(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut status = [0; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut status).is_ok()
        && status.starts_with(b"HTTP/1.")
        && status.ends_with(b" 200")
}

/// Takes out the shell's `AWS_*` and `SFN_BATCH_*` variables, so that a
/// developer's profile, region, endpoint or default flags cannot change a test.
pub fn without_shell_settings(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("AWS_") || key_str.starts_with("SFN_BATCH_") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// Points a process at the emulator: its endpoint, dummy credentials and the
/// region, and nothing else from the shell's AWS settings.
pub fn against_emulator(cmd: &mut std::process::Command) -> &mut std::process::Command {
    without_shell_settings(cmd)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
}

/// The SDK's settings for the emulator, built without reading the environment or
/// the AWS config files.
pub fn config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .retry_config(RetryConfig::standard())
        .build()
}

pub async fn sfn() -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(&config())
}

pub async fn s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&config())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// SQS, for the S3 event notifications the emulator sends to a queue.
#[cfg(feature = "lambda")]
pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&config())
}

/// The binary under test, with none of the shell's AWS or sfn-batch settings and
/// no emulator: for the commands that never call AWS (`report`).
pub fn sfn_batch() -> Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sfn-batch"));
    without_shell_settings(&mut cmd);
    Command::from_std(cmd)
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

/// A state machine whose executions stay open for `seconds`, then succeed.
pub fn waiting(seconds: u32) -> String {
    format!(
        r#"{{"StartAt": "W", "States": {{"W": {{"Type": "Wait", "Seconds": {seconds}, "End": true}}}}}}"#
    )
}

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
        against_emulator(cmd.current_dir(self.path()));
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

    /// The `run` command as a process, to add to and spawn.
    pub fn run_process(&self, state_machine: &str, source: &[&str]) -> std::process::Command {
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

/// A new bucket holding `keys`, each object `size` bytes.
pub async fn bucket_with(keys: &[String], size: usize) -> String {
    let bucket = unique("raw");
    s3().await
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    put_objects(&bucket, keys, size).await;
    bucket
}

/// Puts `keys` into `bucket`, each object `size` bytes.
pub async fn put_objects(bucket: &str, keys: &[String], size: usize) {
    let s3 = s3().await;
    futures::stream::iter(keys)
        .map(|key| {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(vec![b'x'; size].into())
                .send()
        })
        .buffer_unordered(16)
        .for_each(|put| async {
            put.expect("put object");
        })
        .await;
}

/// Keys a listing test has to get right: unicode, spaces, `+`, `=`, `%`, nesting.
pub const ODD_KEYS: [&str; 6] = [
    "2024/01/a.parquet",
    "2024/01/deep/er/b.parquet",
    "2024/02/é ü 中.parquet",
    "2024/02/a b+c=d%20e.parquet",
    "2024/02/part_tmp/c.parquet",
    "2024/02/notes.txt",
];

/// Owned strings.
pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
