//! The handler in this process, on what the emulator's S3 announced: what it
//! starts, what it answers, and how it converges with a backfill.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sfn_batch::internals::live::{Decision, Live, LivePlan, News, notices};

use super::{Announced, ROWS, Route, announced, announced_through, sqs_record};
use crate::fixture::config;
use crate::proxy::{Call, Fault, Proxy};

/// Asserts that what the queue holds is a notice per object, its key decoded,
/// each planned as the backfill started it, and `test_events` test events.
async fn assert_announced_as_the_backfill_plans(announced: &Announced, test_events: usize) {
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
        test_events
    );
}

#[tokio::test]
async fn objects_announced_through_sqs_become_the_rows_a_backfill_starts() {
    assert_announced_as_the_backfill_plans(&announced("").await, 1).await;
}

#[tokio::test]
async fn through_sns_or_eventbridge_they_become_the_same_rows() {
    // S3 sends its test event to a topic as to a queue; EventBridge gets none.
    let through_sns = announced_through(Route::Topic, "").await;
    assert_announced_as_the_backfill_plans(&through_sns, 1).await;
    let through_eventbridge = announced_through(Route::EventBridge, "").await;
    assert_announced_as_the_backfill_plans(&through_eventbridge, 0).await;
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
    announced.backfill_finds_every_row_existing();
    assert_eq!(announced.held().await.len(), ROWS, "nor does the backfill");
}

#[tokio::test]
async fn an_unreadable_message_goes_back_alone_and_the_rest_of_its_batch_starts() {
    let announced = announced("").await;
    let mut event = announced.delivered().await;
    let junk = sqs_record("junk", r#"{"hello": 1}"#);
    event["Records"].as_array_mut().unwrap().insert(0, junk);
    let answer = announced.handle(&event).await;
    assert_eq!(
        answer,
        json!({ "batchItemFailures": [{ "itemIdentifier": "junk" }] })
    );
    assert_eq!(announced.held().await.len(), ROWS);
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
async fn a_template_reading_last_modified_gets_it_from_head_object_as_the_listing_has_it() {
    let template = r#"input_template = '{"Input": "{input}", "Modified": "{last_modified}"}'"#;
    let announced = announced(&format!("{template}\n")).await;
    let event = announced.delivered().await;
    let answer = announced.handle(&event).await;
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    // The name hashes the input: the backfill's is the same only if the time is.
    announced.backfill_finds_every_row_existing();
    let held = announced.held().await;
    assert!(
        held.values()
            .all(|input| input.contains(r#""Modified":"20"#)),
        "{held:?}"
    );
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

#[tokio::test]
async fn a_direct_invocation_answers_with_a_summary() {
    let announced = announced("").await;
    // S3's own notifications, as S3 would invoke the function with them.
    let bodies = announced.bodies().await.into_iter();
    let mut s3_events: Vec<Value> = bodies.filter(|b| b.get("Records").is_some()).collect();
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

#[tokio::test]
async fn a_direct_invocation_that_cannot_start_its_object_fails_so_that_lambda_retries_it() {
    let announced = announced("").await;
    let proxy = Proxy::start(crate::fixture::endpoint(), |_: Call| Some(Fault::Throttle));
    let aws = config().into_builder().endpoint_url(&proxy.url).build();
    let live = Live::with_config(&announced.job, &aws).await.unwrap();
    let s3_events = announced.bodies().await.into_iter();
    let mut answers = Vec::new();
    for event in s3_events.filter(|b| b.get("Records").is_some()) {
        answers.push(
            live.handle(event, Instant::now() + Duration::from_secs(3))
                .await,
        );
    }
    let failed: Vec<String> = answers.into_iter().filter_map(Result::err).collect();
    assert_eq!(failed.len(), ROWS, "{failed:?}");
    assert!(failed.iter().all(|e| e.contains("try again")), "{failed:?}");
    assert!(announced.held().await.is_empty());
}

#[tokio::test]
async fn an_eventbridge_rule_invoking_the_function_gets_a_summary() {
    let announced = announced_through(Route::EventBridge, "").await;
    // The emulator's EventBridge events, as a rule targeting the function passes them.
    let events = announced.bodies().await;
    let mut started = 0;
    for event in &events {
        let summary = announced.handle(event).await;
        started += summary["started"].as_array().unwrap().len();
    }
    assert_eq!(started, ROWS);
    for event in &events {
        let again = announced.handle(event).await;
        assert_eq!(again["started"], json!([]), "{again}");
    }
    assert_eq!(announced.held().await.len(), ROWS, "nothing started twice");
}
