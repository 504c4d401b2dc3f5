//! Job files (`--job`), `SFN_BATCH_*` environment variables, and `validate`.

use crate::fixture::{PASS, Workdir, executions, numbered_rows, sfn, state_machine};
use predicates::prelude::*;

/// Today's date in UTC, as `{date}` renders it.
fn today() -> String {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .to_string()
}

#[tokio::test]
async fn a_job_file_runs_as_its_flags_would() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    std::fs::create_dir(work.path().join("jobs")).unwrap();
    work.write("jobs/rows.csv", numbered_rows(5));
    work.write("jobs/template.json", r#"{"n": "{n}", "job": "{name}"}"#);
    work.write(
        "jobs/nightly.toml",
        format!(
            r#"# tonight's batch
state_machine = "{}"
manifest = "rows.csv"
input_template = "@template.json"
batch_id = "nightly-{{date}}"
run_dir = "runs/{{date}}"
rate = 1000
progress = "none"
"#,
            sm.arn
        ),
    );
    // Run from another folder, as cron would: the paths are the job file's.
    work.sfn_batch()
        .current_dir("/")
        .args(["run", "--job"])
        .arg(work.path().join("jobs/nightly.toml"))
        .assert()
        .success();
    let run_dir = format!("jobs/runs/{}", today());
    let run_info: serde_json::Value =
        serde_json::from_str(&work.read(&format!("{run_dir}/run.json"))).unwrap();
    assert_eq!(run_info["batch_id"], format!("nightly-{}", today()));
    let held = executions(&sfn().await, &sm.arn).await;
    assert_eq!(held.len(), 5);
    for execution in held {
        let input: serde_json::Value = serde_json::from_str(&execution.input).unwrap();
        assert_eq!(input["job"], execution.name.as_str());
        assert!(execution.name.starts_with("nightly-"), "{}", execution.name);
    }
}

/// The batch id a dry run of `job.toml` uses, with these flags and environment.
fn batch_id(work: &Workdir, flags: &[&str], env: &[(&str, &str)]) -> String {
    let output = work
        .sfn_batch()
        .args([
            "run",
            "--job",
            "job.toml",
            "--dry-run",
            "--name-template",
            "{batch}-{n}",
        ])
        .args(flags)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    let first = stdout.lines().next().unwrap();
    let name = first.rsplit(": ").next().unwrap();
    name.rsplit_once('-').unwrap().0.to_string()
}

#[tokio::test]
async fn flags_win_over_the_environment_which_wins_over_the_file() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("rows.csv", numbered_rows(2));
    work.write(
        "job.toml",
        format!(
            "state_machine = \"{}\"\nmanifest = \"rows.csv\"\nbatch_id = \"file\"\n",
            sm.arn
        ),
    );
    let env = [("SFN_BATCH_BATCH_ID", "env")];
    assert_eq!(batch_id(&work, &[], &[]), "file");
    assert_eq!(batch_id(&work, &[], &env), "env");
    assert_eq!(batch_id(&work, &["--batch-id", "flag"], &env), "flag");
    // The state machine alone from the environment, the rest as flags.
    work.sfn_batch()
        .args(["run", "--manifest", "rows.csv", "--dry-run"])
        .env("SFN_BATCH_STATE_MACHINE", &sm.arn)
        .assert()
        .success()
        .stdout(predicate::str::contains("dry run: 2 rows, 2 valid"));
}

#[test]
fn a_bad_job_file_is_refused_naming_the_key_and_its_line() {
    let work = Workdir::new();
    work.write(
        "job.toml",
        "state_machine = \"etl\"\nmanifest = \"rows.csv\"\n\nconcurency = 4\n",
    );
    work.sfn_batch()
        .args(["run", "--job", "job.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "job file job.toml:4: unknown key `concurency`",
        ));
}

/// `validate` makes no call: the endpoint here is a closed port.
fn validate(work: &Workdir, job: &str) -> assert_cmd::assert::Assert {
    work.write("job.toml", job);
    work.sfn_batch()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["validate", "--job", "job.toml"])
        .assert()
}

#[test]
fn validate_checks_every_row_without_aws() {
    let work = Workdir::new();
    work.write("rows.csv", "id,path\n1,a\n2,b\n3,c\n");
    let job = "state_machine = \"etl\"\nmanifest = \"rows.csv\"\n";
    validate(&work, job)
        .success()
        .stdout(predicate::str::contains(
            "validate: 3 rows, 3 valid, 0 invalid; AWS was not called",
        ));
    let bad_names = format!("{job}name_template = \"{{path}} {{id}}\"\n");
    validate(&work, &bad_names)
        .code(2)
        .stderr(predicate::str::contains("rows.csv: row 1 (line 2)"))
        .stdout(predicate::str::contains("3 invalid"));
    validate(
        &work,
        "state_machine = \"etl\"\nmanifest = \"s3://bucket/rows.csv\"\n",
    )
    .code(2)
    .stderr(predicate::str::contains("validate does not touch AWS"));
    validate(&work, "manifest = \"rows.csv\"\n")
        .code(2)
        .stderr(predicate::str::contains("--state-machine is required"));
}
