//! The live path against the emulator: each new object, as S3's own notification
//! brings it, becomes the very row (name and input) that `run --job` over the
//! prefix starts, or is left out as the listing leaves it out; the handler starts
//! it once, whichever of the two paths comes first.

mod handler;
mod runtime_api;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::{Value, json};
use sfn_batch::internals::live::{Decision, Live, LivePlan, NewObject};

use crate::fixture::{
    ODD_KEYS, PASS, StateMachine, Workdir, config, executions, put_objects, s3, sfn, state_machine,
    strings, unique,
};

/// A bucket that announces each new object to an SQS queue (directly, or through
/// SNS or EventBridge), holding the odd keys and one key outside the job's prefix,
/// and the job file over that prefix.
struct Announced {
    bucket: String,
    queue_url: String,
    keys: Vec<String>,
    job: PathBuf,
    sm: StateMachine,
    work: Workdir,
}

/// The .parquet keys of `2024/`, except those under `part_tmp/`.
const ROWS: usize = 4;

async fn announced(extra_job_lines: &str) -> Announced {
    announced_through(Route::Queue, extra_job_lines).await
}

/// How S3's notifications reach the queue.
#[derive(Debug, Clone, Copy)]
enum Route {
    Queue,
    /// S3 → SNS → SQS, the fan-out.
    Topic,
    /// S3 → EventBridge → SQS, by a rule on the bucket's "Object Created" events.
    EventBridge,
}

async fn announced_through(route: Route, extra_job_lines: &str) -> Announced {
    let sm = state_machine(&sfn().await, PASS).await;
    let (s3, bucket) = (s3().await, unique("raw"));
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let queue_url = announcing(&s3, &bucket, route).await;
    let mut keys = strings(&ODD_KEYS);
    keys.push("elsewhere/z.parquet".to_string());
    put_objects(&bucket, &keys, 10).await;
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
{extra_job_lines}"#,
            sm.arn
        ),
    );
    Announced {
        bucket,
        queue_url,
        keys,
        job,
        sm,
        work,
    }
}

impl Announced {
    /// `run --job` over the prefix: its exit code.
    fn backfill(&self) -> i32 {
        let out = self
            .work
            .sfn_batch()
            .args(["run", "--job", "job.toml"])
            .output();
        out.unwrap().status.code().unwrap()
    }

    /// Asserts that a backfill now starts nothing: it finds each row's execution.
    fn backfill_finds_every_row_existing(&self) {
        assert_eq!(self.backfill(), 0);
        let results = self.work.results();
        assert_eq!(results.len(), ROWS);
        let existing = |r: &serde_json::Value| r["status"] == "existing";
        assert!(results.iter().all(existing), "{results:?}");
    }

    /// The executions of the state machine: name, input.
    async fn held(&self) -> BTreeMap<String, String> {
        (executions(&sfn().await, &self.sm.arn).await)
            .into_iter()
            .map(|h| (h.name, h.input))
            .collect()
    }

    /// Asserts that the live plan makes of `object` what the backfill made of it
    /// (`held`): the same name and input, or nothing; returns whether it is a row.
    fn same_as_the_backfill(
        &self,
        plan: &LivePlan,
        held: &BTreeMap<String, String>,
        object: &NewObject,
    ) -> bool {
        let key = &object.key;
        match plan.decide(object) {
            Decision::Row(Ok(launch)) => {
                let held = held.get(&launch.name);
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

    /// Every message the queue holds, wrapped as Lambda delivers an SQS batch.
    async fn delivered(&self) -> Value {
        let sqs = crate::fixture::sqs().await;
        let mut records = Vec::new();
        loop {
            let received = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if received.messages().is_empty() {
                return json!({ "Records": records });
            }
            records.extend(
                received
                    .messages()
                    .iter()
                    .map(|m| sqs_record(m.message_id().unwrap(), m.body().unwrap())),
            );
        }
    }

    /// The handler, in this process, on `event`, with 30 s to go.
    async fn handle(&self, event: &Value) -> Value {
        self.handle_through(&config(), event, Duration::from_secs(30))
            .await
    }

    /// The handler with AWS at `aws`, on `event`, with `left` to go.
    async fn handle_through(&self, aws: &SdkConfig, event: &Value, left: Duration) -> Value {
        let live = Live::with_config(&self.job, aws).await.unwrap();
        live.handle(event.clone(), Instant::now() + left)
            .await
            .unwrap()
    }

    /// The bodies of the messages the queue holds: what S3, SNS or EventBridge
    /// would have invoked the function with directly.
    async fn bodies(&self) -> Vec<Value> {
        let delivered = self.delivered().await;
        let records = delivered["Records"].as_array().unwrap().iter();
        let body = |r: &Value| serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        records.map(body).collect()
    }
}

#[tokio::test]
async fn an_object_becomes_the_row_a_backfill_starts() {
    let announced = announced("").await;
    assert_eq!(announced.backfill(), 0);
    let held = announced.held().await;
    assert_eq!(held.len(), ROWS, "{held:?}");
    let plan = LivePlan::from_job(&announced.job, &announced.sm.arn).unwrap();
    assert!(!plan.needs_last_modified());
    let s3 = s3().await;
    let mut rows = 0;
    for key in &announced.keys {
        let head = s3.head_object().bucket(&announced.bucket).key(key);
        let head = head.send().await.unwrap();
        let object = NewObject {
            bucket: announced.bucket.clone(),
            key: key.clone(),
            size: head.content_length().unwrap(),
            etag: head.e_tag().unwrap().to_string(),
            last_modified: None,
        };
        rows += usize::from(announced.same_as_the_backfill(&plan, &held, &object));
    }
    assert_eq!(rows, ROWS);
}

/// A new queue that the bucket's ObjectCreated notifications reach by `route`: its
/// URL.
async fn announcing(s3: &aws_sdk_s3::Client, bucket: &str, route: Route) -> String {
    use aws_sdk_s3::types::{
        Event, EventBridgeConfiguration, NotificationConfiguration, QueueConfiguration,
        TopicConfiguration,
    };
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = crate::fixture::sqs().await;
    let queue = sqs.create_queue().queue_name(unique("new")).send().await;
    let url = queue.unwrap().queue_url().unwrap().to_string();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = &attributes.attributes().unwrap()[&QueueAttributeName::QueueArn];
    let notifications = NotificationConfiguration::builder();
    let notifications = match route {
        Route::Queue => notifications.queue_configurations(
            QueueConfiguration::builder()
                .queue_arn(queue_arn)
                .events(Event::S3ObjectCreated)
                .build()
                .unwrap(),
        ),
        Route::Topic => {
            let sns = aws_sdk_sns::Client::new(&config());
            let topic = sns.create_topic().name(unique("new")).send().await.unwrap();
            let topic_arn = topic.topic_arn().unwrap();
            (sns.subscribe().topic_arn(topic_arn).protocol("sqs"))
                .endpoint(queue_arn)
                .send()
                .await
                .unwrap();
            notifications.topic_configurations(
                TopicConfiguration::builder()
                    .topic_arn(topic_arn)
                    .events(Event::S3ObjectCreated)
                    .build()
                    .unwrap(),
            )
        }
        Route::EventBridge => {
            use aws_sdk_eventbridge::types::Target;
            let events = aws_sdk_eventbridge::Client::new(&config());
            // On the emulator's one default bus: this bucket's objects only.
            let pattern = json!({
                "source": ["aws.s3"], "detail-type": ["Object Created"],
                "detail": { "bucket": { "name": [bucket] } }
            });
            let rule = unique("new");
            (events.put_rule().name(&rule))
                .event_pattern(pattern.to_string())
                .send()
                .await
                .unwrap();
            let target = Target::builder().id("queue").arn(queue_arn).build();
            (events.put_targets().rule(&rule))
                .targets(target.unwrap())
                .send()
                .await
                .unwrap();
            notifications.event_bridge_configuration(EventBridgeConfiguration::builder().build())
        }
    };
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notifications.build())
        .send()
        .await
        .unwrap();
    url
}

/// An SQS message as Lambda's event source mapping delivers it (its receipt
/// handle and checksum are stand-ins: the handler reads neither).
fn sqs_record(message_id: &str, body: &str) -> Value {
    json!({
        "messageId": message_id, "receiptHandle": "h", "body": body,
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:new",
        "awsRegion": "us-east-1"
    })
}

/// `dry_run = true` cannot be ignored as `rate` is: the live path would start
/// executions that the job says not to.
#[test]
fn a_job_asking_for_a_dry_run_is_refused() {
    let work = Workdir::new();
    let job = work.write(
        "job.toml",
        "state_machine = \"etl\"\ns3_prefix = \"s3://raw/in/\"\ndry_run = true\n",
    );
    let arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:etl";
    let refused = LivePlan::from_job(&job, arn).err().unwrap().to_string();
    assert!(refused.contains("no dry run"), "{refused}");
}

/// The job file that deploy/template.yaml ships is a job the live path takes.
#[test]
fn the_shipped_job_file_is_a_live_job() {
    let job = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/job.toml");
    let arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:preprocessing";
    LivePlan::from_job(&job, arn).unwrap();
}
