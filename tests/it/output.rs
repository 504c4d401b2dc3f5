//! What goes to stderr: JSON log lines, `-q`, and the progress bar only on a
//! terminal (run under a pseudo-terminal with util-linux's `script`).

use crate::fixture::{self, PASS, Workdir, numbered_rows, sfn, state_machine};
use predicates::prelude::*;
use serde_json::Value;

#[tokio::test]
async fn json_logs_are_one_object_per_line_the_summary_included() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    // An invalid row makes warnings too: every line must still be JSON.
    work.write("rows.csv", "n\n1\n2\nnot a name\n");
    let output = work
        .run(&sm.arn, "rows.csv")
        .args([
            "--log-format",
            "json",
            "--progress",
            "lines",
            "--skip-invalid",
        ])
        .args(["--name-template", "row-{n}"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for line in &lines {
        assert!(
            line["time"].is_string() && line["level"].is_string(),
            "{line}"
        );
        assert!(line["message"].is_string(), "{line}");
    }
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["counts"]["started"], 2, "{stderr}");
    assert_eq!(summary["counts"]["invalid"], 1);
    assert_eq!(summary["exit_code"], 1);
    assert!(lines.iter().any(|l| l["level"] == "warn"), "{stderr}");
    let saved: Value = serde_json::from_str(&work.read("run/summary.json")).unwrap();
    assert_eq!(summary["counts"], saved["counts"]);

    // An error is a JSON line too.
    let output = work
        .sfn_batch()
        .args(["--log-format", "json", "run", "--state-machine", "no-such"])
        .args(["--manifest", "rows.csv"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let error: Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(error["level"], "error");
    assert!(error["message"].as_str().unwrap().contains("no-such"));
}

#[tokio::test]
async fn quiet_says_nothing_when_all_went_well() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("rows.csv", numbered_rows(2));
    work.run(&sm.arn, "rows.csv")
        .args(["-q", "--progress", "lines"])
        .assert()
        .success()
        .stderr("");
    // Without -q, the same (resumed) run reports; with nothing left to do, it
    // shows no progress of 0/0 rows.
    work.run(&sm.arn, "rows.csv")
        .args(["--progress", "lines"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("resuming run: 2 rows already started")
                .and(predicate::str::contains("this run: no row launched"))
                .and(predicate::str::contains("progress:").not()),
        );
}

/// stderr of `sfn-batch ARGS`, run on a pseudo-terminal when `terminal`.
fn stderr_of(work: &Workdir, args: &str, terminal: bool) -> String {
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_sfn-batch"));
    let mut process = match terminal {
        true => {
            let mut script = std::process::Command::new("script");
            // A terminal that draws, whatever the caller's TERM (cron and CI may
            // set none).
            script
                .args(["-qec", &command, "/dev/null"])
                .env("TERM", "xterm-256color");
            script
        }
        false => {
            let mut shell = std::process::Command::new("sh");
            shell.args(["-c", &command]);
            shell
        }
    };
    let output = fixture::against_emulator(process.current_dir(work.path()))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    // On a terminal, stderr arrives through the terminal, with stdout.
    let stream = if terminal {
        output.stdout
    } else {
        output.stderr
    };
    String::from_utf8_lossy(&stream).into_owned()
}

#[tokio::test]
async fn a_bar_on_a_terminal_plain_lines_otherwise() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("rows.csv", numbered_rows(6));
    // Slow enough (6 rows at 8/s) for the bar to be drawn.
    let args = |dir: &str| {
        format!(
            "run --state-machine {} --manifest rows.csv --run-dir {dir} --rate 8",
            sm.arn
        )
    };
    let bar = predicate::str::is_match(r"\[=+").unwrap();
    let on_terminal = stderr_of(&work, &args("a"), true);
    assert!(bar.eval(&on_terminal), "{on_terminal}");
    assert!(on_terminal.contains("6 rows: 6 started"), "{on_terminal}");
    let piped = stderr_of(&work, &args("b"), false);
    assert!(!bar.eval(&piped), "{piped}");
    assert!(piped.contains("progress: 6/6 rows"), "{piped}");
    // JSON logs on a terminal: no bar, every line JSON.
    let json = stderr_of(&work, &format!("--log-format json {}", args("c")), true);
    assert!(!bar.eval(&json), "{json}");
    for line in json.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_same_flags() {
    let work = Workdir::new();
    for shell in ["bash", "zsh", "fish"] {
        let output = work
            .sfn_batch()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains("max-running"), "{shell}: {script}");
    }
    let bash = work
        .sfn_batch()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let checked = std::process::Command::new("bash")
        .args(["-n", "-c", &String::from_utf8(bash.stdout).unwrap()])
        .status()
        .unwrap();
    assert!(checked.success(), "the bash completion script parses");
    work.sfn_batch().args(["man", "."]).assert().success();
    assert!(work.read("sfn-batch.1").contains(".TH sfn-batch 1"));
    assert!(work.read("sfn-batch-run.1").contains("max\\-running"));
    work.sfn_batch()
        .args(["run", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Backfill by date range"));
}

#[tokio::test]
async fn report_to_uploads_the_run_log_report_and_summary() {
    let sm = state_machine(&sfn().await, PASS).await;
    let s3 = fixture::s3().await;
    let bucket = fixture::unique("reports");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let work = Workdir::new();
    work.write("rows.csv", numbered_rows(3));
    work.run(&sm.arn, "rows.csv")
        .args(["--report-to", &format!("s3://{bucket}/nightly/{{date}}")])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "uploaded to s3://{bucket}/nightly/"
        )));
    let today = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date();
    for name in ["results.jsonl", "report.csv", "summary.json"] {
        let object = s3
            .get_object()
            .bucket(&bucket)
            .key(format!("nightly/{today}/{name}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let bytes = object.body.collect().await.unwrap().into_bytes();
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            work.read(&format!("run/{name}"))
        );
    }
    // A run log past one upload part (64 MiB) goes up in parts: rows of another,
    // longer selection pad it here (a run leaves them out of its batch).
    let padding = format!(
        "{{\"row\":9999999,\"status\":\"failed\",\"attempts\":1,\"message\":\"{}\",\"fields\":{{}}}}\n",
        "x".repeat(1000)
    );
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(work.path().join("run/results.jsonl"))
        .unwrap();
    for _ in 0..70_000 {
        std::io::Write::write_all(&mut log, padding.as_bytes()).unwrap();
    }
    work.run(&sm.arn, "rows.csv")
        .args(["--report-to", &format!("s3://{bucket}/big/")])
        .assert()
        .success();
    let local = std::fs::metadata(work.path().join("run/results.jsonl"))
        .unwrap()
        .len();
    assert!(local > 64 << 20);
    let uploaded = s3
        .head_object()
        .bucket(&bucket)
        .key("big/results.jsonl")
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.content_length(), Some(local as i64));
    assert!(
        uploaded.e_tag().unwrap().contains("-2"),
        "a multipart ETag: {uploaded:?}"
    );

    // A bucket that is not there: the run's record stays local, and the exit code says so.
    work.run(&sm.arn, "rows.csv")
        .args(["--report-to", "s3://no-such-bucket-for-reports/x/"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--report-to: uploading s3://no-such-bucket-for-reports/x/results.jsonl",
        ));
}
