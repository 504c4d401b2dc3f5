//! Backfill sources against the emulator, with real objects in a real bucket: S3
//! prefix listings (pages, filters, one level, per date), date ranges, and the
//! selection of a batch's rows by shard, offset and limit.

use std::collections::BTreeSet;

use crate::fixture::{
    ODD_KEYS, PASS, Workdir, bucket_with, executions, numbered_rows, s3, sfn, state_machine,
    strings, unique,
};
use predicates::prelude::*;
use serde_json::Value;

/// The inputs AWS holds for the state machine, as JSON.
async fn held_inputs(arn: &str) -> Vec<Value> {
    executions(&sfn().await, arn)
        .await
        .into_iter()
        .map(|h| serde_json::from_str(&h.input).unwrap())
        .collect()
}

#[tokio::test]
async fn a_listing_of_several_pages_with_filters_and_odd_keys() {
    let sm = state_machine(&sfn().await, PASS).await;
    let mut keys: Vec<String> = (0..2100).map(|i| format!("bulk/{i:04}.csv")).collect();
    keys.extend(strings(&ODD_KEYS));
    let bucket = bucket_with(&keys, 10).await;
    let work = Workdir::new();
    // Three pages of 1,000: every object, in key order.
    work.run_from(
        &sm.arn,
        &["--s3-prefix", &format!("s3://{bucket}/bulk/"), "--dry-run"],
    )
    .assert()
    .code(0)
    .stdout(predicate::str::contains("dry run: 2100 rows, 2100 valid"));
    let prefix = format!("s3://{bucket}/2024/");
    work.run_from(
        &sm.arn,
        &[
            "--s3-prefix",
            &prefix,
            "--output-template",
            "s3://out/{relative}",
            "--include",
            "*.parquet",
            "--exclude",
            "*_tmp*",
        ],
    )
    .assert()
    .code(0)
    .stderr(predicate::str::contains(
        "6 listed, 2 left out by --include/--exclude",
    ));
    let mut inputs: Vec<String> = held_inputs(&sm.arn)
        .await
        .iter()
        .map(|i| i.to_string())
        .collect();
    inputs.sort();
    let mut expected: Vec<String> = [
        "01/a.parquet",
        "01/deep/er/b.parquet",
        "02/é ü 中.parquet",
        "02/a b+c=d%20e.parquet",
    ]
    .iter()
    .map(|relative| {
        serde_json::json!({
            "input": format!("{prefix}{relative}"),
            "output": format!("s3://out/{relative}"),
        })
        .to_string()
    })
    .collect();
    expected.sort();
    assert_eq!(inputs, expected, "keys as S3 returns them, not URL-encoded");
}

#[tokio::test]
async fn every_field_of_an_object_reaches_the_template() {
    let sm = state_machine(&sfn().await, PASS).await;
    let bucket = bucket_with(&strings(&["in/x/data.tar.gz"]), 7).await;
    let work = Workdir::new();
    let template = r#"{"i": "{input}", "b": "{bucket}", "k": "{key}", "r": "{relative}", "n": "{basename}", "s": "{stem}", "e": "{ext}", "z": "{size}", "m": "{last_modified:%Y}", "t": "{etag}"}"#;
    work.run_from(
        &sm.arn,
        &[
            "--s3-prefix",
            &format!("s3://{bucket}/in/"),
            "--input-template",
            template,
        ],
    )
    .assert()
    .code(0);
    let input = &held_inputs(&sm.arn).await[0];
    assert_eq!(input["i"], format!("s3://{bucket}/in/x/data.tar.gz"));
    assert_eq!(input["b"], bucket.as_str());
    assert_eq!(input["k"], "in/x/data.tar.gz");
    assert_eq!(input["r"], "x/data.tar.gz");
    assert_eq!(input["n"], "data.tar.gz");
    assert_eq!(input["s"], "data.tar");
    assert_eq!(input["e"], "gz");
    assert_eq!(input["z"], 7, "a lone placeholder keeps the number");
    assert_eq!(input["m"].as_str().unwrap().len(), 4);
    assert_eq!(
        input["t"].as_str().unwrap().len(),
        32,
        "the MD5 etag, unquoted"
    );
}

#[tokio::test]
async fn one_level_with_a_delimiter_gives_prefixes() {
    let sm = state_machine(&sfn().await, PASS).await;
    let keys = strings(&["t/dt=1/a", "t/dt=1/b", "t/dt=2/c", "t/top.csv"]);
    let bucket = bucket_with(&keys, 1).await;
    let work = Workdir::new();
    work.run_from(
        &sm.arn,
        &[
            "--s3-prefix",
            &format!("s3://{bucket}/t/"),
            "--delimiter",
            "/",
        ],
    )
    .assert()
    .code(0);
    let mut inputs: Vec<String> = held_inputs(&sm.arn)
        .await
        .iter()
        .map(|i| i["input"].as_str().unwrap().to_string())
        .collect();
    inputs.sort();
    assert_eq!(
        inputs,
        [
            format!("s3://{bucket}/t/dt=1/"),
            format!("s3://{bucket}/t/dt=2/")
        ]
    );
}

#[tokio::test]
async fn size_time_and_start_after_filters() {
    let sm = state_machine(&sfn().await, PASS).await;
    let s3 = s3().await;
    let bucket = bucket_with(&strings(&["p/a", "p/b", "p/c"]), 5).await;
    s3.put_object()
        .bucket(&bucket)
        .key("p/empty")
        .body(Vec::new().into())
        .send()
        .await
        .unwrap();
    let work = Workdir::new();
    let prefix = format!("s3://{bucket}/p/");
    let dry = |args: &[&str]| {
        let mut all = vec!["--s3-prefix", prefix.as_str(), "--dry-run"];
        all.extend(args);
        work.run_from(&sm.arn, &all).assert()
    };
    dry(&["--min-size", "1"])
        .code(0)
        .stdout(predicate::str::contains("3 rows"));
    dry(&["--start-after", "p/b"])
        .code(0)
        .stdout(predicate::str::contains("2 rows"));
    dry(&["--modified-after", "2020-01-01"])
        .code(0)
        .stdout(predicate::str::contains("4 rows"));
    dry(&["--modified-before", "2020-01-01T00:00:00Z"])
        .code(2)
        .stderr(
        predicate::str::contains(
            "4 listed, 0 left out by --include/--exclude, 4 by --modified-after/--modified-before",
        )
        .and(predicate::str::contains("no rows to start")),
    );
    dry(&["--modified-before", "2020-01-01", "--allow-empty"]).code(0);
}

#[tokio::test]
async fn an_empty_listing_and_a_missing_bucket_are_refused() {
    let sm = state_machine(&sfn().await, PASS).await;
    let bucket = bucket_with(&strings(&["a/x"]), 1).await;
    let work = Workdir::new();
    work.run_from(
        &sm.arn,
        &["--s3-prefix", &format!("s3://{bucket}/nothing/")],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("0 listed").and(predicate::str::contains("--allow-empty")));
    work.run_from(
        &sm.arn,
        &[
            "--s3-prefix",
            &format!("s3://{bucket}/nothing/"),
            "--allow-empty",
        ],
    )
    .assert()
    .code(0);
    let missing = unique("no-such-bucket");
    work.run_from(&sm.arn, &["--s3-prefix", &format!("s3://{missing}/x/")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "bucket {missing} does not exist"
        )));
    assert!(executions(&sfn().await, &sm.arn).await.is_empty());
}

#[tokio::test]
async fn a_date_range_renders_one_execution_per_day() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    let template = r#"{"Input": "s3://raw/dt={date}/", "Output": "s3://out/{date:%Y/%m/%d}/"}"#;
    work.run_from(
        &sm.arn,
        &[
            "--dates",
            "2024-02-27..2024-03-01",
            "--input-template",
            template,
            "--reverse",
        ],
    )
    .assert()
    .code(0);
    let mut held: Vec<String> = held_inputs(&sm.arn)
        .await
        .iter()
        .map(|i| i.to_string())
        .collect();
    held.sort();
    let expected: Vec<String> = ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]
        .iter()
        .map(|d| {
            let path = d.replace('-', "/");
            format!(r#"{{"Input":"s3://raw/dt={d}/","Output":"s3://out/{path}/"}}"#)
        })
        .collect();
    assert_eq!(held, expected);
    // Newest first: row 1 is the last day.
    let first = &work.results().into_iter().find(|r| r["row"] == 1).unwrap();
    assert_eq!(first["fields"]["date"], "2024-03-01");
    // Hourly over one day: 24 steps.
    work.run_from(
        &sm.arn,
        &[
            "--dates",
            "2024-03-31..2024-03-31",
            "--every",
            "1h",
            "--dry-run",
        ],
    )
    .assert()
    .code(0)
    .stdout(predicate::str::contains("dry run: 24 rows"));
}

#[tokio::test]
async fn a_listing_per_date() {
    let sm = state_machine(&sfn().await, PASS).await;
    let keys = strings(&[
        "ev/dt=2024-01-01/a",
        "ev/dt=2024-01-01/b",
        "ev/dt=2024-01-03/c",
        "ev/dt=2024-01-04/d",
    ]);
    let bucket = bucket_with(&keys, 1).await;
    let work = Workdir::new();
    let prefix = format!("s3://{bucket}/ev/dt={{date}}/");
    let template = r#"{"in": "{input}", "day": "{date}"}"#;
    work.run_from(
        &sm.arn,
        &[
            "--s3-prefix",
            &prefix,
            "--dates",
            "2024-01-01..2024-01-03",
            "--input-template",
            template,
        ],
    )
    .assert()
    .code(0);
    let mut held: Vec<(String, String)> = held_inputs(&sm.arn)
        .await
        .iter()
        .map(|i| {
            (
                i["day"].as_str().unwrap().into(),
                i["in"].as_str().unwrap().into(),
            )
        })
        .collect();
    held.sort();
    let expected: Vec<(String, String)> = [
        ("2024-01-01", "a"),
        ("2024-01-01", "b"),
        ("2024-01-03", "c"),
    ]
    .iter()
    .map(|(d, k)| (d.to_string(), format!("s3://{bucket}/ev/dt={d}/{k}")))
    .collect();
    assert_eq!(held, expected);
}

#[tokio::test]
async fn shards_start_every_item_exactly_once() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("jobs.csv", numbered_rows(60));
    for shard in ["1/3", "2/3", "3/3"] {
        let mut cmd = work.sfn_batch();
        cmd.args(["run", "--state-machine", &sm.arn, "--manifest", "jobs.csv"])
            .args(["--shard", shard, "--rate", "1000", "--progress", "none"])
            .assert()
            .code(0);
    }
    let held = executions(&sfn().await, &sm.arn).await;
    let names: BTreeSet<&str> = held.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(held.len(), 60, "every row once");
    assert_eq!(names.len(), 60);
    // One default run dir per shard, each reporting only its own rows.
    let dirs = std::fs::read_dir(work.path().join("sfn-batch-runs")).unwrap();
    let mut reported = 0;
    for dir in dirs {
        let summary = std::fs::read_to_string(dir.unwrap().path().join("summary.json")).unwrap();
        let summary: Value = serde_json::from_str(&summary).unwrap();
        assert_eq!(summary["rows"], summary["counts"]["started"]);
        reported += summary["rows"].as_u64().unwrap();
    }
    assert_eq!(reported, 60);
}

#[tokio::test]
async fn offset_and_limit_try_the_first_rows_then_the_rest() {
    let sm = state_machine(&sfn().await, PASS).await;
    let work = Workdir::new();
    work.write("jobs.csv", numbered_rows(10));
    work.run(&sm.arn, "jobs.csv")
        .args(["--offset", "2", "--limit", "3"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("3 rows: 3 started"));
    let mut first: Vec<u64> = work
        .results()
        .iter()
        .map(|r| r["row"].as_u64().unwrap())
        .collect();
    first.sort();
    assert_eq!(first, [3, 4, 5]);
    // The whole batch in the same run dir: the three are skipped.
    work.run(&sm.arn, "jobs.csv")
        .assert()
        .code(0)
        .stderr(predicate::str::contains("10 rows: 10 started"));
    assert_eq!(executions(&sfn().await, &sm.arn).await.len(), 10);
}

#[tokio::test]
async fn a_listing_run_resumes_and_refuses_a_changed_listing() {
    let sm = state_machine(&sfn().await, PASS).await;
    let keys: Vec<String> = (0..30).map(|i| format!("r/{i:02}")).collect();
    let bucket = bucket_with(&keys, 1).await;
    let work = Workdir::new();
    let prefix = format!("s3://{bucket}/r/");
    let source = ["--s3-prefix", prefix.as_str()];
    work.run_from(&sm.arn, &source)
        .args(["--limit", "12"])
        .assert()
        .code(0);
    work.run_from(&sm.arn, &source)
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "12 rows already started, 18 to go",
        ));
    assert_eq!(executions(&sfn().await, &sm.arn).await.len(), 30);
    // A new object, listed first: the listing is not the batch the run dir holds.
    bucket_put(&bucket, "r/0").await;
    work.run_from(&sm.arn, &source)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("different manifest content"));
    work.run_from(&sm.arn, &source)
        .arg("--force-resume")
        .assert()
        .code(0)
        // Every other row moved one down: known by its name, not started again.
        .stderr(predicate::str::contains("31 rows: 1 started, 30 existing"));
    assert_eq!(executions(&sfn().await, &sm.arn).await.len(), 31);
}

async fn bucket_put(bucket: &str, key: &str) {
    s3().await
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
}
