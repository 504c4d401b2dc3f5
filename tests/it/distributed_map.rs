//! `--engine distributed-map` against the emulator, within what moto 5.2.5 does: it
//! runs the parent's DISTRIBUTED Map over the staged JSON array and reports its
//! Map Run, but every `states:startExecution` step fails inside it, and its
//! ResultWriter writes a manifest.json that lists no result files. So the tests
//! check what sfn-batch deploys, stages and starts, and feed the reading back with
//! result files written here in AWS's documented layout.

use std::time::Duration;

use crate::fixture::{self, PASS, Workdir};
use crate::proxy::{Call, Proxy};
use assert_cmd::Command;
use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::{Value, json};

/// `watch` of the run dir the tests hand over.
const WATCH: [&str; 6] = ["watch", "run", "--poll", "0.3", "--progress", "none"];
const ROLE: &str = "arn:aws:iam::123456789012:role/sfn-batch-fanout";
const TEMPLATE: &str =
    r#"{"PreprocessingJobName": "job-{n}", "Input": "s3://in/{n}.csv", "Note": "a \"quoted\" é"}"#;

/// A target state machine, a staging bucket, and a manifest of `rows` rows.
struct Setup {
    work: Workdir,
    target: fixture::StateMachine,
    bucket: String,
}

async fn setup(rows: u32) -> Setup {
    setup_with(&fixture::numbered_rows(rows)).await
}

/// A target, a staging bucket, and `rows.csv` holding `manifest`.
async fn setup_with(manifest: &str) -> Setup {
    let target = fixture::state_machine(&fixture::sfn().await, PASS).await;
    let bucket = fixture::unique("staging");
    let s3 = fixture::s3().await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let work = Workdir::new();
    work.write("rows.csv", manifest);
    Setup {
        work,
        target,
        bucket,
    }
}

impl Setup {
    /// `run --engine distributed-map` into the run dir `run`.
    fn hand_off(&self, args: &[&str]) -> Command {
        let mut cmd = self.work.run(&self.target.arn, "rows.csv");
        cmd.args(["--input-template", TEMPLATE])
            .args(["--engine", "distributed-map", "--role-arn", ROLE])
            .args(["--staging", &format!("s3://{}/sfn-batch/", self.bucket)])
            .args(["--max-attempts", "1", "--poll", "0.3"])
            .args(args);
        cmd
    }

    fn record(&self) -> Value {
        serde_json::from_str(&self.work.read("run/map-run.json")).unwrap()
    }

    fn parent_name(&self) -> String {
        format!("{}-sfn-batch", self.target.name)
    }

    async fn parent_definition(&self) -> (Value, String) {
        let arn = self.record()["parent_state_machine_arn"]
            .as_str()
            .unwrap()
            .to_string();
        let described = fixture::sfn()
            .await
            .describe_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .unwrap();
        let definition = serde_json::from_str(described.definition()).unwrap();
        (definition, described.role_arn().to_string())
    }

    /// Waits for the parent execution to end; returns its input.
    async fn parent_ended(&self) -> Value {
        let arn = self.record()["execution_arn"].as_str().unwrap().to_string();
        let sfn = fixture::sfn().await;
        for _ in 0..300 {
            let described = sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            if described.status != ExecutionStatus::Running {
                return serde_json::from_str(described.input().unwrap()).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the parent execution {arn} did not end");
    }

    /// Writes the Map Run's results as AWS lays them out: manifest.json, listing
    /// one file per kind, each a JSON array of entries. The rows it says started
    /// (or found started) are started here, as the Map would have.
    async fn write_results(&self, succeeded: &[u64], failed: &[(u64, &str, &str)]) {
        self.write_results_reaching(succeeded, failed, &[]).await
    }

    /// As `write_results`, with the rows the Map Run stopped before (`PENDING`).
    async fn write_results_reaching(
        &self,
        succeeded: &[u64],
        failed: &[(u64, &str, &str)],
        pending: &[u64],
    ) {
        let record = self.record();
        let map_run = record["map_run_arn"].as_str().unwrap();
        let id = map_run.rsplit(':').next().unwrap();
        let folder = format!("{}/{id}", record["results_prefix"].as_str().unwrap());
        let items = self.staged_items().await;
        let item = |row: u64| {
            items
                .iter()
                .find(|item| item["Row"] == row)
                .unwrap()
                .clone()
        };
        let child =
            |row: u64| format!("{}-child-{row}", map_run.replace(":mapRun:", ":execution:"));
        let taken = failed
            .iter()
            .filter(|f| f.1.contains("ExecutionAlreadyExists"));
        let mut outputs = std::collections::BTreeMap::new();
        for row in succeeded.iter().copied().chain(taken.map(|f| f.0)) {
            let item = item(row);
            let started = fixture::sfn()
                .await
                .start_execution()
                .state_machine_arn(&self.target.arn)
                .name(item["Name"].as_str().unwrap())
                .input(item["Input"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            let output =
                json!({"ExecutionArn": started.execution_arn, "StartDate": 1700000000000u64});
            outputs.insert(row, output.to_string());
        }
        let succeeded: Vec<Value> = (succeeded.iter())
            .map(|&row| {
                json!({"ExecutionArn": child(row), "Input": item(row).to_string(), "Name": format!("child-{row}"),
                       "Output": outputs[&row], "Status": "SUCCEEDED"})
            })
            .collect();
        let failed: Vec<Value> = (failed.iter())
            .map(|&(row, error, cause)| {
                json!({"ExecutionArn": child(row), "Input": item(row).to_string(), "Name": format!("child-{row}"),
                       "Status": "FAILED", "Error": error, "Cause": cause})
            })
            .collect();
        let pending: Vec<Value> = (pending.iter())
            .map(|&row| json!({"Input": item(row).to_string(), "Status": "PENDING"}))
            .collect();
        let manifest = json!({
            "DestinationBucket": self.bucket,
            "MapRunArn": map_run,
            "ResultFiles": {
                "FAILED": [{"Key": format!("{folder}/FAILED_0.json"), "Size": 1}],
                "PENDING": [{"Key": format!("{folder}/PENDING_0.json"), "Size": 1}],
                "SUCCEEDED": [{"Key": format!("{folder}/SUCCEEDED_0.json"), "Size": 1}],
            },
        });
        self.put(&format!("{folder}/SUCCEEDED_0.json"), &json!(succeeded))
            .await;
        self.put(&format!("{folder}/FAILED_0.json"), &json!(failed))
            .await;
        self.put(&format!("{folder}/PENDING_0.json"), &json!(pending))
            .await;
        self.put(&format!("{folder}/manifest.json"), &manifest)
            .await;
    }

    /// `retry` where the parent FAILED. The emulator has no RedriveExecution, and
    /// its parent never fails: a proxy answers as AWS does for a Map Run past its
    /// tolerance, and passes the rest on.
    /// AWS counts the redrives the parent has had: `redriven`.
    fn retry_with_a_failed_parent(&self, redriven: u32) -> Proxy {
        let (proxy, retry) = self.retry_with_a_parent_described(json!({"redriveCount": redriven}));
        retry.code(0);
        proxy
    }

    /// `retry`, through a proxy that describes the parent as FAILED with these
    /// fields besides (the emulator's parent always succeeds).
    fn retry_with_a_parent_described(&self, fields: Value) -> (Proxy, assert_cmd::assert::Assert) {
        let proxy = Proxy::start(fixture::endpoint(), |_: Call| None);
        self.describe_parent(&proxy, "FAILED", fields);
        proxy.answer("RedriveExecution", "200 OK", json!({"redriveDate": 1.7e9}));
        let retry = (self.work.sfn_batch())
            .args(["retry", "run", "--progress", "none"])
            .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
            .assert();
        (proxy, retry)
    }

    /// Has `proxy` describe the parent execution in this `status`, with these
    /// fields besides; the other executions are described by the emulator.
    fn describe_parent(&self, proxy: &Proxy, status: &str, fields: Value) {
        let record = self.record();
        let arn = record["execution_arn"].as_str().unwrap();
        let mut parent = json!({"executionArn": arn, "status": status,
            "stateMachineArn": record["parent_state_machine_arn"], "startDate": 1.7e9});
        parent
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        proxy.answer_about("DescribeExecution", Some(arn), "200 OK", parent);
    }

    /// `watch`, through a proxy that describes the parent in this `status`, with
    /// these fields besides; it gives up after 2 s.
    fn watch_with_the_parent(&self, status: &str, fields: Value) -> assert_cmd::assert::Assert {
        let proxy = Proxy::start(fixture::endpoint(), |_: Call| None);
        self.describe_parent(&proxy, status, fields);
        (self.work.sfn_batch())
            .args(WATCH)
            .args(["--timeout", "2s"])
            .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
            .assert()
    }

    /// `status`, through a proxy whose Map Run reports every row succeeded (the
    /// emulator's children never do), and that describes the parent as `parent`
    /// when given.
    fn status_when_every_row_succeeded(&self, parent: Option<&str>) -> assert_cmd::assert::Assert {
        let proxy = Proxy::start(fixture::endpoint(), |_: Call| None);
        if let Some(status) = parent {
            self.describe_parent(&proxy, status, json!({}));
        }
        let record = self.record();
        let rows = record["rows"].clone();
        let counts = json!({"pending": 0, "running": 0, "succeeded": rows, "failed": 0,
            "timedOut": 0, "aborted": 0, "total": rows, "resultsWritten": rows});
        let map_run = json!({"mapRunArn": record["map_run_arn"],
            "executionArn": record["execution_arn"], "status": "SUCCEEDED",
            "startDate": 1.7e9, "maxConcurrency": 0, "toleratedFailurePercentage": 0.0,
            "toleratedFailureCount": 0, "itemCounts": counts, "executionCounts": counts});
        proxy.answer("DescribeMapRun", "200 OK", map_run);
        (self.work.sfn_batch())
            .args(["status", "run"])
            .env("AWS_ENDPOINT_URL_SFN", &proxy.url)
            .assert()
    }

    async fn delete_manifest(&self) {
        let record = self.record();
        let map_run = record["map_run_arn"].as_str().unwrap();
        let id = map_run.rsplit(':').next().unwrap();
        let manifest = format!(
            "{}/{id}/manifest.json",
            record["results_prefix"].as_str().unwrap()
        );
        fixture::s3()
            .await
            .delete_object()
            .bucket(&self.bucket)
            .key(&manifest)
            .send()
            .await
            .unwrap();
    }

    async fn put(&self, key: &str, body: &Value) {
        fixture::s3()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.to_string().into_bytes().into())
            .send()
            .await
            .unwrap();
    }

    async fn staged_items(&self) -> Vec<Value> {
        let url = self.record()["items"].as_str().unwrap().to_string();
        let key = url.trim_start_matches(&format!("s3://{}/", self.bucket));
        let object = fixture::s3()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn last_lines(&self) -> std::collections::BTreeMap<u64, Value> {
        (self.work.results().into_iter())
            .map(|line| (line["row"].as_u64().unwrap(), line))
            .collect()
    }
}

#[tokio::test]
async fn staged_rows_are_byte_equal_to_what_a_local_launch_starts() {
    let setup = setup(5).await;
    setup.hand_off(&[]).assert().code(0);
    let mut staged: Vec<(String, String)> = (setup.staged_items().await.iter())
        .map(|item| {
            let name = item["Name"].as_str().unwrap().to_string();
            (name, item["Input"].as_str().unwrap().to_string())
        })
        .collect();
    staged.sort();
    // The same manifest launched here: the same names, the same input bytes.
    (setup.work.run(&setup.target.arn, "rows.csv"))
        .args(["--input-template", TEMPLATE, "--run-dir", "local"])
        .assert()
        .code(0);
    let held = fixture::executions(&fixture::sfn().await, &setup.target.arn).await;
    let held: Vec<(String, String)> = held.into_iter().map(|h| (h.name, h.input)).collect();
    assert_eq!(staged, held);
}

#[tokio::test]
async fn the_parent_is_deployed_and_started_once_per_batch() {
    let setup = setup(3).await;
    let args = ["--max-running", "7", "--max-failures", "50%"];
    setup.hand_off(&args).assert().code(0);
    let record = setup.record();
    let execution = record["execution_arn"].as_str().unwrap().to_string();
    assert!(
        record["map_run_arn"].as_str().unwrap().contains(":mapRun:"),
        "{record}"
    );
    assert_eq!(record["rows"], 3);

    let (definition, role) = setup.parent_definition().await;
    assert_eq!(role, ROLE);
    let map = &definition["States"]["StartRows"];
    assert_eq!(
        map["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "DISTRIBUTED"
    );
    assert_eq!(map["ItemReader"]["ReaderConfig"]["InputType"], "JSON");
    let start = &map["ItemProcessor"]["States"]["StartExecution"];
    assert_eq!(start["Resource"], "arn:aws:states:::states:startExecution");
    assert_eq!(
        start["Parameters"]["StateMachineArn"],
        setup.target.arn.as_str()
    );
    assert_eq!(
        map["ResultWriter"]["Parameters"]["Bucket"],
        setup.bucket.as_str()
    );
    assert_eq!(map["MaxConcurrencyPath"], "$.MaxConcurrency");

    let input = setup.parent_ended().await;
    assert_eq!(input["MaxConcurrency"], 7);
    // Locally 50% of 3 rows halts at the 2nd failure: the Map tolerates 1.
    assert_eq!(input["ToleratedFailureCount"], 1);
    assert_eq!(input["Items"]["Bucket"], setup.bucket.as_str());

    // Again into the same run dir, and into a new one: no second fan-out.
    setup.hand_off(&args).assert().code(0);
    std::fs::remove_dir_all(setup.work.path().join("run")).unwrap();
    setup.hand_off(&args).assert().code(0);
    assert_eq!(setup.record()["execution_arn"], execution.as_str());
    let sfn = fixture::sfn().await;
    let parent = record["parent_state_machine_arn"].as_str().unwrap();
    let executions = sfn
        .list_executions()
        .state_machine_arn(parent)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);
    assert_eq!(parent.rsplit(':').next().unwrap(), setup.parent_name());

    // A changed definition updates the parent.
    std::fs::remove_dir_all(setup.work.path().join("run")).unwrap();
    setup.hand_off(&["--max-attempts", "3"]).assert().code(0);
    let (definition, _) = setup.parent_definition().await;
    let start = &definition["States"]["StartRows"]["ItemProcessor"]["States"]["StartExecution"];
    assert_eq!(start["Retry"][1]["MaxAttempts"], 2);
}

#[tokio::test]
async fn dry_run_prints_the_definition_and_creates_nothing() {
    let setup = setup(2).await;
    let output = setup
        .hand_off(&["--dry-run"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains(&setup.parent_name()), "{stdout}");
    assert!(stdout.contains("\"Mode\": \"DISTRIBUTED\""), "{stdout}");
    assert!(stdout.contains(&setup.target.arn), "{stdout}");
    let sfn = fixture::sfn().await;
    let machines = sfn.list_state_machines().send().await.unwrap();
    let parent = setup.parent_name();
    assert!(machines.state_machines().iter().all(|m| m.name() != parent));
    let staged = fixture::s3()
        .await
        .list_objects_v2()
        .bucket(&setup.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(staged.key_count(), Some(0));
    assert!(!setup.work.path().join("run").exists());
}

#[tokio::test]
async fn results_in_the_aws_layout_become_the_report() {
    let setup = setup(4).await;
    setup.hand_off(&[]).assert().code(0);
    setup.parent_ended().await;
    let taken = "StepFunctions.ExecutionAlreadyExistsException";
    let failed = [
        (2, taken, "taken"),
        (
            3,
            "StepFunctions.InvalidExecutionInputException",
            "bad input",
        ),
    ];
    setup.write_results(&[1], &failed).await;
    // Row 4 is in no result file: unknown, so not a success.
    setup.work.sfn_batch().args(WATCH).assert().code(1);
    let rows = setup.last_lines();
    // The started rows' executions are followed to their end, as `watch` does.
    assert_eq!(rows[&1]["status"], "started");
    assert_eq!(rows[&1]["final_status"], "SUCCEEDED");
    assert_eq!(rows[&2]["status"], "existing");
    assert_eq!(rows[&2]["final_status"], "SUCCEEDED");
    assert_eq!(rows[&3]["status"], "failed");
    assert_eq!(
        rows[&3]["error"],
        "StepFunctions.InvalidExecutionInputException"
    );
    assert_eq!(rows[&3]["message"], "bad input");
    assert_eq!(rows[&4]["status"], "failed");
    assert_eq!(rows[&4]["final_status"], "UNKNOWN");
    let failed_rows = setup.work.read("run/failed.jsonl");
    let failed_rows: Vec<Value> = failed_rows
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(failed_rows, vec![json!({"n": "3"}), json!({"n": "4"})]);
    let report = setup.work.read("run/report.csv");
    assert_eq!(report.lines().count(), 5, "{report}");
}

#[tokio::test]
async fn every_row_started_by_the_map_is_a_success() {
    let setup = setup(2).await;
    setup.hand_off(&[]).assert().code(0);
    setup.parent_ended().await;
    setup.write_results(&[1, 2], &[]).await;
    setup.work.sfn_batch().args(WATCH).assert().code(0);
    let summary: Value = serde_json::from_str(&setup.work.read("run/summary.json")).unwrap();
    assert_eq!(summary["counts"]["started"], 2);
    assert_eq!(summary["followed"]["ends"]["succeeded"], 2);
}

#[tokio::test]
async fn wait_never_trusts_the_parent_alone_when_results_are_missing() {
    let setup = setup(3).await;
    // The emulator's parent ends SUCCEEDED with a manifest that lists no results.
    setup.hand_off(&["--wait"]).assert().code(1);
    let rows = setup.last_lines();
    assert_eq!(rows.len(), 3);
    for row in rows.values() {
        assert_eq!(row["final_status"], "UNKNOWN", "{row}");
    }
    let (definition, _) = setup.parent_definition().await;
    let start = &definition["States"]["StartRows"]["ItemProcessor"]["States"]["StartExecution"];
    assert_eq!(
        start["Resource"],
        "arn:aws:states:::states:startExecution.sync:2"
    );
}

#[tokio::test]
async fn retry_redrives_the_parent() {
    let setup = setup(2).await;
    setup.hand_off(&[]).assert().code(0);
    setup.parent_ended().await;
    // Not before its results are read: the redriven Map Run would list only the
    // rows it ran again, and the others would have no outcome.
    let (proxy, retry) = setup.retry_with_a_parent_described(json!({}));
    retry.code(2);
    assert_eq!(proxy.calls_to("RedriveExecution"), 0);
    setup
        .write_results(&[1], &[(2, "States.TaskFailed", "boom")])
        .await;
    setup.work.sfn_batch().args(WATCH).assert().code(1);
    // Redriven once already (from the console, or by a retry cut before it
    // recorded it): this is the second redrive, with a token of its own.
    let proxy = setup.retry_with_a_failed_parent(1);
    assert_eq!(proxy.calls_to("RedriveExecution"), 1);
    let token = proxy.answered("RedriveExecution").unwrap()["clientToken"].clone();
    assert!(token.as_str().unwrap().ends_with("-redrive-2"), "{token}");
    assert_eq!(proxy.calls_to("StartExecution"), 0);
    assert_eq!(setup.record()["redrives"], 2);
    assert_eq!(setup.record()["results_read"], false);
    // Until AWS shows the redrive running, the old results are not the last:
    // `watch` follows the parent until its `--timeout`.
    let not_yet = [("FAILED", 1), ("PENDING_REDRIVE", 2)];
    for (status, redrives) in not_yet {
        let fields = json!({"redriveCount": redrives});
        setup.watch_with_the_parent(status, fields).code(1);
        assert_eq!(setup.record()["results_read"], false, "{status}");
    }
}

#[tokio::test]
async fn after_a_redrive_the_new_results_are_read_and_the_rest_keep_theirs() {
    let setup = setup(3).await;
    setup.hand_off(&[]).assert().code(0);
    setup.parent_ended().await;
    setup
        .write_results(&[1, 2], &[(3, "States.TaskFailed", "boom")])
        .await;
    setup.work.sfn_batch().args(WATCH).assert().code(1);
    setup.retry_with_a_failed_parent(0);
    // The redriven Map Run lists only the row it ran again.
    setup.write_results(&[3], &[]).await;
    let redriven = json!({"redriveCount": 1});
    setup.watch_with_the_parent("SUCCEEDED", redriven).code(0);
    let rows = setup.last_lines();
    for row in 1..=3 {
        assert_eq!(rows[&row]["status"], "started", "{}", rows[&row]);
        assert_eq!(rows[&row]["final_status"], "SUCCEEDED", "{}", rows[&row]);
    }
}

#[tokio::test]
async fn a_retry_cut_before_its_redrive_loses_no_outcome() {
    let setup = setup(2).await;
    setup.hand_off(&[]).assert().code(0);
    setup.parent_ended().await;
    setup.write_results(&[1, 2], &[]).await;
    setup.work.sfn_batch().args(WATCH).assert().code(0);
    // `retry` marks the results to be read again before it redrives: cut between
    // the two, the parent was not redriven, and its results are gone meanwhile.
    let mut record = setup.record();
    record["results_read"] = json!(false);
    setup.work.write("run/map-run.json", record.to_string());
    setup.delete_manifest().await;
    setup.work.sfn_batch().args(WATCH).assert().code(0);
    for row in setup.last_lines().values() {
        assert_eq!(row["final_status"], "SUCCEEDED", "{row}");
    }
}

#[tokio::test]
async fn status_calls_nothing_a_success_before_the_results_are_read() {
    let setup = setup(2).await;
    setup.hand_off(&[]).assert().code(0);
    setup.parent_ended().await;
    let status = setup.status_when_every_row_succeeded(None).code(3);
    let stdout = String::from_utf8(status.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("2 SUCCEEDED"), "{stdout}");
    assert!(stdout.contains("results are not read yet"), "{stdout}");
    // A parent that ended badly fails the batch, whatever its Map Run counted.
    setup
        .status_when_every_row_succeeded(Some("FAILED"))
        .code(1);
    setup.write_results(&[1, 2], &[]).await;
    setup.work.sfn_batch().args(WATCH).assert().code(0);
    setup.status_when_every_row_succeeded(None).code(0);

    // A row left out as invalid is a failure, whatever the Map Run says.
    let setup = setup_with("n\n1\nnot a name\n").await;
    let args = ["--name-template", "{n}", "--skip-invalid"];
    setup.hand_off(&args).assert().code(1);
    setup.status_when_every_row_succeeded(None).code(1);
}

#[test]
fn the_engine_needs_staging_and_a_role() {
    let work = Workdir::new();
    work.write("rows.csv", fixture::numbered_rows(1));
    let run = |args: &[&str]| {
        let mut cmd = work.sfn_batch();
        cmd.args(["run", "--state-machine", "x", "--manifest", "rows.csv"])
            .args(args);
        cmd
    };
    let stderr = |cmd: &mut Command| {
        let out = cmd.assert().code(2).get_output().clone();
        String::from_utf8(out.stderr).unwrap()
    };
    let text = stderr(&mut run(&["--engine", "distributed-map"]));
    assert!(text.contains("needs --staging and --role-arn"), "{text}");
    let text = stderr(&mut run(&["--staging", "s3://b/p/"]));
    assert!(text.contains("go with --engine distributed-map"), "{text}");
    let args = [
        "--engine",
        "distributed-map",
        "--staging",
        "s3://b/",
        "--role-arn",
        "role",
    ];
    let text = stderr(&mut run(&args));
    assert!(
        text.contains("--role-arn must be an IAM role ARN"),
        "{text}"
    );
}

#[tokio::test]
async fn rows_started_here_already_are_not_handed_over() {
    let setup = setup(2).await;
    (setup.work.run(&setup.target.arn, "rows.csv"))
        .args(["--input-template", TEMPLATE])
        .assert()
        .code(0);
    setup.hand_off(&[]).assert().code(0);
    assert!(!setup.work.path().join("run/map-run.json").exists());
    let machines = fixture::sfn()
        .await
        .list_state_machines()
        .send()
        .await
        .unwrap();
    let parent = setup.parent_name();
    assert!(machines.state_machines().iter().all(|m| m.name() != parent));
    fixture::assert_each_row_started_once(&setup.target.arn, &setup.work, 2).await;
}

/// The result of a row whose StartExecution the account throttled: its
/// execution never started.
fn throttled(row: u64) -> (u64, &'static str, &'static str) {
    let error = "StepFunctions.AWSStepFunctionsException";
    (row, error, "Rate exceeded")
}

#[tokio::test]
async fn failed_rows_of_a_parent_that_succeeded_are_launched_again_from_here() {
    let setup = setup(3).await;
    setup.hand_off(&[]).assert().code(0);
    setup.parent_ended().await;
    setup.write_results(&[1, 2], &[throttled(3)]).await;
    setup.work.sfn_batch().args(WATCH).assert().code(1);
    // A local run into the handed-over run dir would start the staged rows again.
    setup
        .work
        .run(&setup.target.arn, "rows.csv")
        .args(["--input-template", TEMPLATE])
        .assert()
        .code(2);
    // The emulator's parent SUCCEEDED: it cannot be redriven, so row 3 starts here.
    setup
        .work
        .sfn_batch()
        .args(["retry", "run", "--progress", "none"])
        .assert()
        .code(0);
    let rows = setup.last_lines();
    assert_eq!(rows[&3]["status"], "started");
    fixture::assert_each_row_started_once(&setup.target.arn, &setup.work, 3).await;
}

#[tokio::test]
async fn failed_rows_of_a_parent_aws_will_not_redrive_are_launched_again_from_here() {
    let setup = setup(3).await;
    setup.hand_off(&[]).assert().code(0);
    setup.parent_ended().await;
    // Past its tolerance, the Map Run stopped before row 3.
    (setup.write_results_reaching(&[1], &[throttled(2)], &[3])).await;
    setup.work.sfn_batch().args(WATCH).assert().code(1);
    assert_eq!(setup.last_lines()[&3]["status"], "not_attempted");
    // Closed more than 14 days ago, say: AWS refuses to redrive it.
    let (proxy, retry) = setup
        .retry_with_a_parent_described(json!({"redriveStatus": "NOT_REDRIVABLE",
        "redriveStatusReason": "Execution redrivable period exceeded"}));
    retry.code(0);
    assert_eq!(proxy.calls_to("RedriveExecution"), 0);
    assert_eq!(proxy.calls_to("StartExecution"), 2);
    let rows = setup.last_lines();
    assert_eq!(rows[&2]["status"], "started");
    assert_eq!(rows[&3]["status"], "started");
    fixture::assert_each_row_started_once(&setup.target.arn, &setup.work, 3).await;
}

#[tokio::test]
async fn unreadable_results_are_unknown_until_a_later_watch_reads_them() {
    let setup = setup(2).await;
    setup.hand_off(&["--max-failures", "3"]).assert().code(0);
    let input = setup.parent_ended().await;
    assert_eq!(
        input["ToleratedFailureCount"], 2,
        "the 3rd failure stops it, as locally"
    );
    // The emulator's children all fail: the Map Run's counts say so.
    let status = setup
        .work
        .sfn_batch()
        .args(["status", "run"])
        .assert()
        .code(1);
    let stdout = String::from_utf8(status.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("Map Run arn:"), "{stdout}");
    assert!(stdout.contains("results are not read yet"), "{stdout}");
    // The manifest is gone: every row is unknown, and the run fails.
    setup.delete_manifest().await;
    setup.work.sfn_batch().args(WATCH).assert().code(1);
    for row in setup.last_lines().values() {
        assert_eq!(row["final_status"], "UNKNOWN", "{row}");
        let message = row["message"].as_str().unwrap();
        assert!(message.contains("cannot be read"), "{message}");
    }
    // Readable later: the next watch reads them, and the rows end as they say.
    setup.write_results(&[1, 2], &[]).await;
    setup.work.sfn_batch().args(WATCH).assert().code(0);
    for row in setup.last_lines().values() {
        assert_eq!(row["final_status"], "SUCCEEDED", "{row}");
    }
}
