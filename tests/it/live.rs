//! The live path's rows: each new object, as an event would bring it, becomes the
//! very row (name and input) that `run --job` over the prefix starts, or is left
//! out as the listing leaves it out.

use std::collections::BTreeMap;

use sfn_batch::internals::live::{Decision, LivePlan, NewObject};

use crate::fixture::{
    ODD_KEYS, PASS, Workdir, bucket_with, executions, s3, sfn, state_machine, strings,
};

#[tokio::test]
async fn an_object_becomes_the_row_a_backfill_starts() {
    let sm = state_machine(&sfn().await, PASS).await;
    let mut keys = strings(&ODD_KEYS);
    keys.push("elsewhere/z.parquet".to_string());
    let bucket = bucket_with(&keys, 10).await;
    let work = Workdir::new();
    let job = work.write(
        "job.toml",
        format!(
            r#"state_machine = "{}"
s3_prefix = "s3://{bucket}/2024/"
include = ["**/*.parquet"]
exclude = ["**/part_tmp/**"]
output_template = "s3://processed/{{relative}}"
run_dir = "run"
"#,
            sm.arn
        ),
    );
    work.sfn_batch()
        .args(["run", "--job", "job.toml"])
        .assert()
        .code(0);
    let held: BTreeMap<String, String> = (executions(&sfn().await, &sm.arn).await)
        .into_iter()
        .map(|h| (h.name, h.input))
        .collect();
    assert_eq!(held.len(), 4, "{held:?}");

    let plan = LivePlan::from_job(&job, &sm.arn).unwrap();
    assert!(!plan.needs_last_modified());
    let s3 = s3().await;
    let mut rows = 0;
    for key in &keys {
        let head = s3
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let object = NewObject {
            bucket: bucket.clone(),
            key: key.clone(),
            size: head.content_length().unwrap(),
            etag: head.e_tag().unwrap().to_string(),
            last_modified: None,
        };
        match plan.decide(&object) {
            Decision::Row(Ok(launch)) => {
                rows += 1;
                let input = held
                    .get(&launch.name)
                    .unwrap_or_else(|| panic!("{key}: {launch:?}"));
                let held: serde_json::Value = serde_json::from_str(input).unwrap();
                let live: serde_json::Value = serde_json::from_str(&launch.input).unwrap();
                assert_eq!(live, held, "{key}");
            }
            Decision::Row(Err(invalid)) => panic!("{key}: {invalid:?}"),
            Decision::Skipped(why) => {
                assert!(
                    key.ends_with(".txt")
                        || key.contains("part_tmp")
                        || key.starts_with("elsewhere"),
                    "{key}: {why}"
                );
            }
        }
    }
    assert_eq!(rows, 4);
}
