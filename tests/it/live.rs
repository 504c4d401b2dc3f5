//! The live path's rows: each new object, as an event brings it, becomes the very
//! row (name and input) that `run --job` over the prefix starts, or is left out as
//! the listing leaves it out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sfn_batch::internals::live::{Decision, LivePlan, NewObject};

use crate::fixture::{
    ODD_KEYS, PASS, StateMachine, Workdir, executions, s3, sfn, state_machine, strings, unique,
};

/// A bucket that announces each new object to an SQS queue, holding the odd keys
/// and one key outside the job's prefix, and a backfill over the prefix by `run
/// --job`, done.
struct Backfilled {
    bucket: String,
    #[cfg(feature = "lambda")]
    queue_url: String,
    keys: Vec<String>,
    job: PathBuf,
    sm: StateMachine,
    /// The executions the backfill started: name, input.
    held: BTreeMap<String, String>,
    _work: Workdir,
}

async fn backfilled() -> Backfilled {
    let sm = state_machine(&sfn().await, PASS).await;
    let (s3, bucket) = (s3().await, unique("raw"));
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    #[cfg(feature = "lambda")]
    let queue_url = announcing(&s3, &bucket).await;
    let mut keys = strings(&ODD_KEYS);
    keys.push("elsewhere/z.parquet".to_string());
    for key in &keys {
        let body = vec![b'x'; 10].into();
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .unwrap();
    }
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
    assert_eq!(
        held.len(),
        4,
        "the .parquet keys of 2024/ but part_tmp: {held:?}"
    );
    Backfilled {
        bucket,
        #[cfg(feature = "lambda")]
        queue_url,
        keys,
        job,
        sm,
        held,
        _work: work,
    }
}

/// A new queue the bucket sends its ObjectCreated notifications to: its URL.
#[cfg(feature = "lambda")]
async fn announcing(s3: &aws_sdk_s3::Client, bucket: &str) -> String {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let sqs = crate::fixture::sqs().await;
    let queue = sqs
        .create_queue()
        .queue_name(unique("new"))
        .send()
        .await
        .unwrap();
    let url = queue.queue_url().unwrap().to_string();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = &attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn];
    let to_queue = QueueConfiguration::builder()
        .queue_arn(arn)
        .events(Event::S3ObjectCreated)
        .build()
        .unwrap();
    let notifications = NotificationConfiguration::builder()
        .queue_configurations(to_queue)
        .build();
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notifications)
        .send()
        .await
        .unwrap();
    url
}

impl Backfilled {
    /// Asserts that the live plan makes of `object` what the backfill made of it:
    /// the same name and input, or nothing; returns whether it is a row.
    fn same_as_the_backfill(&self, plan: &LivePlan, object: &NewObject) -> bool {
        let key = &object.key;
        match plan.decide(object) {
            Decision::Row(Ok(launch)) => {
                let held = self.held.get(&launch.name);
                let held = held.unwrap_or_else(|| panic!("{key}: {launch:?} not started"));
                let held: serde_json::Value = serde_json::from_str(held).unwrap();
                let live: serde_json::Value = serde_json::from_str(&launch.input).unwrap();
                assert_eq!(live, held, "{key}");
                true
            }
            Decision::Row(Err(invalid)) => panic!("{key}: {invalid:?}"),
            Decision::Skipped(why) => {
                let left_out = key.ends_with(".txt")
                    || key.contains("part_tmp")
                    || key.starts_with("elsewhere");
                assert!(left_out, "{key}: {why}");
                false
            }
        }
    }
}

#[tokio::test]
async fn an_object_becomes_the_row_a_backfill_starts() {
    let backfill = backfilled().await;
    let plan = LivePlan::from_job(&backfill.job, &backfill.sm.arn).unwrap();
    assert!(!plan.needs_last_modified());
    let s3 = s3().await;
    let mut rows = 0;
    for key in &backfill.keys {
        let head = (s3
            .head_object()
            .bucket(&backfill.bucket)
            .key(key)
            .send()
            .await)
            .unwrap();
        let object = NewObject {
            bucket: backfill.bucket.clone(),
            key: key.clone(),
            size: head.content_length().unwrap(),
            etag: head.e_tag().unwrap().to_string(),
            last_modified: None,
        };
        rows += usize::from(backfill.same_as_the_backfill(&plan, &object));
    }
    assert_eq!(rows, 4);
}

/// The notifications the emulator sent for the objects, received from the queue
/// and wrapped as Lambda delivers an SQS batch, make the backfill's rows.
#[cfg(feature = "lambda")]
#[tokio::test]
async fn objects_announced_through_sqs_become_the_rows_a_backfill_starts() {
    use sfn_batch::internals::live::{News, notices};
    let backfill = backfilled().await;
    let plan = LivePlan::from_job(&backfill.job, &backfill.sm.arn).unwrap();
    let sqs = crate::fixture::sqs().await;
    let mut records = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&backfill.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if received.messages().is_empty() {
            break;
        }
        records.extend(received.messages().iter().map(|m| {
            serde_json::json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                "body": m.body(), "attributes": {}, "messageAttributes": {},
                "md5OfBody": m.md5_of_body(), "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:new",
                "awsRegion": "us-east-1"
            })
        }));
    }
    let notices = notices(serde_json::json!({ "Records": records })).unwrap();
    let (mut created, mut rows) = (Vec::new(), 0);
    for notice in &notices {
        assert!(notice.message_id.is_some());
        if let News::Created(object) = &notice.news {
            created.push(object.key.clone());
            rows += usize::from(backfill.same_as_the_backfill(&plan, object));
        }
    }
    created.sort();
    let mut keys = backfill.keys.clone();
    keys.sort();
    assert_eq!(created, keys, "one notice per object, its key decoded");
    assert_eq!(rows, 4);
    let test_event = |n: &&_| matches!(n, &&News::Nothing(_));
    assert_eq!(
        notices.iter().map(|n| &n.news).filter(test_event).count(),
        1
    );
}
