//! End to end through a real Lambda Runtime API: `cargo lambda watch` serves it,
//! and the function's own binary polls it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ROWS, announced};

/// A process, killed when dropped.
struct Running(Option<std::process::Child>);

impl Running {
    fn spawn(command: &mut std::process::Command) -> Running {
        Running(Some(command.spawn().expect("spawn")))
    }

    /// Its output once it ends, or `None` (and it is killed) at `deadline`.
    fn output_by(mut self, deadline: Instant) -> Option<std::process::Output> {
        while Instant::now() < deadline {
            let child = self.0.as_mut().expect("running");
            if child.try_wait().unwrap().is_some() {
                let child = self.0.take().expect("running");
                return Some(child.wait_with_output().unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// cargo-lambda, from the project's .venv (scripts/tools install).
fn cargo_lambda() -> std::process::Command {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut command = std::process::Command::new(format!("{root}/.venv/bin/cargo-lambda"));
    command.arg("lambda");
    command
}

/// End to end through a real Lambda Runtime API: `cargo lambda watch` serves
/// it, the function's own binary polls it, and `cargo lambda invoke` hands it
/// the emulator's SQS batch.
#[tokio::test]
async fn the_function_answers_through_the_lambda_runtime_api() {
    let announced = announced("").await;
    let event = announced
        .work
        .write("event.json", announced.delivered().await.to_string());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
        .to_string();
    let address = ["--invoke-address", "127.0.0.1", "--invoke-port", &port];
    let runtime_api = Running::spawn(
        cargo_lambda()
            .args(["watch", "--only-lambda-apis"])
            .args(address)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    // The function asks for its first invocation at once: the API must listen.
    let listening = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
        assert!(
            Instant::now() < listening,
            "cargo lambda watch did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut function = std::process::Command::new(env!("CARGO_BIN_EXE_sfn-batch-lambda"));
    crate::fixture::against_emulator(&mut function)
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("SFN_BATCH_JOB", &announced.job)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(announced.work.path().join("function.log")).unwrap());
    let _function = Running::spawn(&mut function);
    // The Runtime API holds an invocation until the function asks for the next;
    // before the function polls, an invocation fails at once and is sent again.
    let logs = || announced.work.read("function.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        assert!(
            Instant::now() < deadline,
            "no answer in 60 s; the function said:\n{}",
            logs()
        );
        let invoke = Running::spawn(
            cargo_lambda()
                .args(["invoke", "_", "--data-file"])
                .arg(&event)
                .args(address)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null()),
        );
        match invoke.output_by(deadline) {
            Some(out) if out.status.success() => {
                break serde_json::from_slice::<Value>(&out.stdout).unwrap();
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    // Read while the function runs: once the Runtime API is gone, its next poll
    // fails and it exits with an error line.
    let logs = logs();
    drop(runtime_api);
    assert_eq!(
        answer,
        json!({ "batchItemFailures": [] }),
        "the function said:\n{logs}"
    );
    assert_eq!(announced.held().await.len(), ROWS);
    // One JSON line per record, and no input in any.
    let lines: Vec<Value> = (logs.lines())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let started = |line: &&Value| line["outcome"] == "started";
    assert_eq!(lines.iter().filter(started).count(), ROWS, "{lines:?}");
    assert!(!logs.contains("processed/"), "an input was logged");
}

/// A job file the live path cannot take stops the function before its first
/// poll, with a log line naming the file and the line.
#[test]
fn a_bad_job_file_fails_the_init_naming_its_file_and_line() {
    let work = crate::fixture::Workdir::new();
    let job = work.write(
        "job.toml",
        "state_machine = \"etl\"\ns3_prefix = \"s3://raw/in/\"\nconcurency = 4\n",
    );
    let mut function = std::process::Command::new(env!("CARGO_BIN_EXE_sfn-batch-lambda"));
    let out = crate::fixture::without_shell_settings(&mut function)
        .env("SFN_BATCH_JOB", &job)
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!out.status.success());
    // One JSON line, at level error, as the function logs everything.
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    let line: Value = serde_json::from_str(said.trim()).unwrap_or_else(|_| panic!("{said}"));
    assert_eq!(line["level"], "error", "{said}");
    let message = line["message"].as_str().unwrap();
    assert!(
        message.contains("job.toml:3: unknown key `concurency`"),
        "{said}"
    );
}
