//! The live path against the emulator: each new object, as S3's own notification
//! brings it, becomes the very row (name and input) that `run --job` over the
//! prefix starts, or is left out as the listing leaves it out; the handler starts
//! it once, whichever of the two paths comes first.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sfn_batch::internals::live::{Decision, LivePlan, NewObject};

use crate::fixture::{
    ODD_KEYS, PASS, StateMachine, Workdir, executions, s3, sfn, state_machine, strings, unique,
};

/// A bucket that announces each new object to an SQS queue (with the `lambda`
/// feature), holding the odd keys and one key outside the job's prefix, and the
/// job file over that prefix.
struct Announced {
    bucket: String,
    #[cfg(feature = "lambda")]
    queue_url: String,
    keys: Vec<String>,
    job: PathBuf,
    sm: StateMachine,
    work: Workdir,
}

/// The .parquet keys of `2024/`, but `part_tmp/`.
const ROWS: usize = 4;

async fn announced(extra_job_lines: &str) -> Announced {
    let sm = state_machine(&sfn().await, PASS).await;
    let (s3, bucket) = (s3().await, unique("raw"));
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    #[cfg(feature = "lambda")]
    let queue_url = announcing(&s3, &bucket).await;
    let mut keys = strings(&ODD_KEYS);
    keys.push("elsewhere/z.parquet".to_string());
    for key in &keys {
        let body = vec![b'x'; 10].into();
        (s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(body)
            .send()
            .await)
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
{extra_job_lines}"#,
            sm.arn
        ),
    );
    Announced {
        bucket,
        #[cfg(feature = "lambda")]
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

#[cfg(feature = "lambda")]
mod handler {
    use std::time::{Duration, Instant};

    use aws_config::SdkConfig;
    use serde_json::{Value, json};
    use sfn_batch::internals::live::{Live, News, notices};

    use super::*;
    use crate::fixture::config;
    use crate::proxy::{Call, Fault, Proxy};

    /// A new queue the bucket sends its ObjectCreated notifications to: its URL.
    pub(super) async fn announcing(s3: &aws_sdk_s3::Client, bucket: &str) -> String {
        use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
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
        let arn = &attributes.attributes().unwrap()[&QueueAttributeName::QueueArn];
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

    impl Announced {
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
                records.extend(received.messages().iter().map(|m| {
                    json!({
                        "messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                        "body": m.body(), "attributes": {}, "messageAttributes": {},
                        "md5OfBody": m.md5_of_body(), "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:new",
                        "awsRegion": "us-east-1"
                    })
                }));
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
    }

    #[tokio::test]
    async fn objects_announced_through_sqs_become_the_rows_a_backfill_starts() {
        let announced = announced("").await;
        assert_eq!(announced.backfill(), 0);
        let held = announced.held().await;
        let plan = LivePlan::from_job(&announced.job, &announced.sm.arn).unwrap();
        let notices = notices(announced.delivered().await).unwrap();
        let (mut created, mut rows) = (Vec::new(), 0);
        for notice in &notices {
            assert!(notice.message_id.is_some());
            if let News::Created(object) = &notice.news {
                created.push(object.key.clone());
                rows += usize::from(announced.same_as_the_backfill(&plan, &held, object));
            }
        }
        created.sort();
        let mut keys = announced.keys.clone();
        keys.sort();
        assert_eq!(created, keys, "one notice per object, its key decoded");
        assert_eq!(rows, ROWS);
        let test_event = |n: &&News| matches!(n, News::Nothing(_));
        assert_eq!(
            notices.iter().map(|n| &n.news).filter(test_event).count(),
            1
        );
    }

    #[tokio::test]
    async fn after_a_backfill_the_events_find_every_execution_existing() {
        let announced = announced("").await;
        assert_eq!(announced.backfill(), 0);
        let answer = announced.handle(&announced.delivered().await).await;
        assert_eq!(answer, json!({ "batchItemFailures": [] }));
        assert_eq!(announced.held().await.len(), ROWS, "nothing started twice");
    }

    #[tokio::test]
    async fn events_first_then_the_backfill_finds_them_existing_and_redeliveries_too() {
        let announced = announced("").await;
        let event = announced.delivered().await;
        assert_eq!(
            announced.handle(&event).await,
            json!({ "batchItemFailures": [] })
        );
        assert_eq!(announced.held().await.len(), ROWS);
        // SQS delivers a message again: the same executions.
        announced.handle(&event).await;
        assert_eq!(
            announced.held().await.len(),
            ROWS,
            "a redelivery starts nothing"
        );
        assert_eq!(announced.backfill(), 0);
        let results = announced.work.results();
        assert_eq!(results.len(), ROWS);
        assert!(
            results.iter().all(|r| r["status"] == "existing"),
            "{results:?}"
        );
        assert_eq!(announced.held().await.len(), ROWS, "nor does the backfill");
    }

    #[tokio::test]
    async fn an_object_that_cannot_be_started_is_acknowledged_not_retried() {
        // An execution name may not hold a space: `é ü 中` and `a b+c=d%20e` cannot be.
        let announced = announced("name_template = \"{stem}\"\n").await;
        let answer = announced.handle(&announced.delivered().await).await;
        assert_eq!(answer, json!({ "batchItemFailures": [] }));
        let held = announced.held().await;
        let names: Vec<&str> = held.keys().map(String::as_str).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_row_throttled_until_the_deadline_is_the_one_message_to_deliver_again() {
        let announced = announced("").await;
        let event = announced.delivered().await;
        let plan = LivePlan::from_job(&announced.job, &announced.sm.arn).unwrap();
        // AWS throttles every start of one object's execution.
        let (message, name) = notices(event.clone())
            .unwrap()
            .into_iter()
            .find_map(|notice| match (&notice.news, notice.message_id) {
                (News::Created(o), Some(id)) if o.key == "2024/01/a.parquet" => {
                    let Decision::Row(Ok(launch)) = plan.decide(o) else {
                        panic!("{o:?} is a row")
                    };
                    Some((id, launch.name))
                }
                _ => None,
            })
            .unwrap();
        let proxy = Proxy::start(crate::fixture::endpoint(), move |call: Call| {
            (call.name == name).then_some(Fault::Throttle)
        });
        let aws = config().into_builder().endpoint_url(&proxy.url).build();
        let answer = announced
            .handle_through(&aws, &event, Duration::from_secs(5))
            .await;
        assert_eq!(
            answer,
            json!({ "batchItemFailures": [{ "itemIdentifier": message }] })
        );
        assert_eq!(announced.held().await.len(), ROWS - 1);
        assert!(proxy.throttled() > 1, "tried until the deadline");
    }

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
        // before it listens, an invocation fails at once and is sent again.
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
        drop(runtime_api);
        assert_eq!(answer, json!({ "batchItemFailures": [] }));
        assert_eq!(announced.held().await.len(), ROWS);
    }

    #[tokio::test]
    async fn a_direct_invocation_answers_with_a_summary() {
        let announced = announced("").await;
        // S3's own notifications, as S3 would invoke the function with them.
        let delivered = announced.delivered().await;
        let bodies = delivered["Records"].as_array().unwrap().iter();
        let mut s3_events: Vec<Value> = bodies
            .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
            .filter(|body: &Value| body.get("Records").is_some())
            .collect();
        let is_a_row = |event: &Value| {
            let news = notices(event.clone()).unwrap().remove(0).news;
            matches!(news, News::Created(o) if o.key == "2024/01/a.parquet")
        };
        let first = s3_events.iter().position(is_a_row).unwrap();
        s3_events.swap(0, first);
        let first = announced.handle(&s3_events[0]).await;
        assert_eq!(first["started"].as_array().unwrap().len(), 1, "{first}");
        for event in &s3_events {
            announced.handle(event).await;
        }
        let again = announced.handle(&s3_events[0]).await;
        assert_eq!(again["existing"], 1, "{again}");
        assert_eq!(again["started"], json!([]), "{again}");
        assert_eq!(announced.held().await.len(), ROWS);
    }
}

#[cfg(feature = "lambda")]
use handler::announcing;

/// The job file that deploy/template.yaml ships is a job the live path takes.
#[test]
fn the_shipped_job_file_is_a_live_job() {
    let job = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/job.toml");
    let arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:preprocessing";
    LivePlan::from_job(&job, arn).unwrap();
}
