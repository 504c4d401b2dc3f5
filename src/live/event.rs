//! The events that bring new objects to the live path, in the shapes Lambda
//! delivers them (SQS batches and EventBridge events read with `aws_lambda_events`'
//! types; S3's own records leniently, see `S3Notification`):
//!
//! - S3 event notifications invoking the function directly;
//! - SQS messages carrying an S3 notification, or an SNS notification carrying one
//!   (the S3 → SNS → SQS fan-out), or an EventBridge event;
//! - EventBridge "Object Created" events.
//!
//! S3's test event (`s3:TestEvent`, sent when a notification is configured) and
//! events other than a creation are news of nothing: acknowledged and ignored. An
//! SQS message of any other shape is unreadable, on its own: the rest of its batch
//! is read.
//!
//! Keys: an S3 notification gives the key URL-encoded as a form value (`red
//! flower.jpg` becomes `red+flower.jpg`, `:` becomes `%3A`); EventBridge gives it
//! as it is (its samples hold `2023-08-08T14:03:40.532432.zip`, colons and all).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::live::NewObject;

/// What one record of an invocation tells: an SQS message (by its id, which a
/// partial batch response names) or, for a direct or EventBridge invocation, the
/// event itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The SQS message it came in, if it came by SQS.
    pub message_id: Option<String>,
    /// What it says.
    pub news: News,
}

/// What a notice says.
#[derive(Debug, Clone, PartialEq)]
pub enum News {
    /// An object was created (or overwritten).
    Created(NewObject),
    /// Nothing to start, and why: a test event, a deletion, ...
    Nothing(String),
    /// An SQS message of no shape this function reads, and why: it is delivered
    /// again and in the end lands in the dead-letter queue, where someone can look
    /// at it, while the other messages of its batch go on.
    Unreadable(String),
}

/// The notices of an invocation's event, in order. An event of no known shape is
/// an error (the invocation fails, and Lambda tries it again); so is an SQS batch
/// that is not one, but each of its messages is read on its own.
pub fn notices(event: Value) -> Result<Vec<Notice>, String> {
    let from_sqs = event["Records"][0]["eventSource"] == "aws:sqs";
    if from_sqs {
        let sqs: SqsEvent = serde_json::from_value(event).map_err(|e| e.to_string())?;
        let mut notices = Vec::new();
        for message in sqs.records {
            let body = message.body.as_deref().unwrap_or_default();
            let news = message_news(body).unwrap_or_else(|e| vec![News::Unreadable(e)]);
            let message_id = message.message_id;
            notices.extend(news.into_iter().map(|news| Notice {
                message_id: message_id.clone(),
                news,
            }));
        }
        return Ok(notices);
    }
    let news = body_news(event)?;
    Ok(news
        .into_iter()
        .map(|news| Notice {
            message_id: None,
            news,
        })
        .collect())
}

/// An SQS message's body: JSON of one of the shapes an invocation may have, or
/// an SNS notification wrapping one.
fn message_news(body: &str) -> Result<Vec<News>, String> {
    let body: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    match (&body["Type"], &body["Message"]) {
        (Value::String(kind), Value::String(message)) if kind == "Notification" => {
            let message = serde_json::from_str(message).map_err(|e| format!("not JSON: {e}"))?;
            body_news(message)
        }
        _ => body_news(body),
    }
}

/// An S3 notification, S3's test event, or an EventBridge event.
fn body_news(event: Value) -> Result<Vec<News>, String> {
    if event["Event"] == "s3:TestEvent" {
        return Ok(vec![News::Nothing("S3's test event".into())]);
    }
    if event.get("detail-type").is_some() {
        let event: EventBridgeEvent<Detail> =
            serde_json::from_value(event).map_err(|e| format!("an EventBridge event: {e}"))?;
        return Ok(vec![eventbridge_news(event)]);
    }
    if event.get("Records").is_some() {
        let s3: S3Notification =
            serde_json::from_value(event).map_err(|e| format!("an S3 notification: {e}"))?;
        return s3.records.into_iter().map(s3_news).collect();
    }
    Err("neither an S3 notification, an SQS batch nor an EventBridge event".into())
}

/// An S3 notification, read for what the live path needs of it and nothing
/// more. `aws_lambda_events`' `S3Event` also requires `userIdentity`,
/// `requestParameters` and `eventTime`, which the emulator's notifications lack
/// and nothing here reads: a notice must not fail on a field it does not use.
#[derive(Debug, Deserialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    #[serde(default)]
    event_name: String,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    bucket: Bucket,
    object: Object,
}

fn s3_news(record: S3Record) -> Result<News, String> {
    let name = record.event_name;
    if !name.starts_with("ObjectCreated:") {
        return Ok(News::Nothing(format!("{name}: not a creation")));
    }
    let (bucket, object) = (record.s3.bucket, record.s3.object);
    Ok(News::Created(NewObject {
        bucket: bucket.name,
        key: form_decoded(&object.key)?,
        size: object.size,
        etag: object.etag,
        last_modified: None,
    }))
}

/// The `detail` of an S3 event in EventBridge.
#[derive(Debug, Deserialize, serde::Serialize)]
struct Detail {
    bucket: Bucket,
    object: Object,
}

#[derive(Debug, Deserialize, serde::Serialize)]
struct Bucket {
    name: String,
}

/// An object, as an S3 notification (`eTag`) or EventBridge (`etag`) gives it.
#[derive(Debug, Deserialize, serde::Serialize)]
struct Object {
    key: String,
    #[serde(default)]
    size: i64,
    #[serde(default, alias = "eTag")]
    etag: String,
}

fn eventbridge_news(event: EventBridgeEvent<Detail>) -> News {
    if event.detail_type != "Object Created" {
        return News::Nothing(format!("{}: not a creation", event.detail_type));
    }
    let Detail { bucket, object } = event.detail;
    News::Created(NewObject {
        bucket: bucket.name,
        key: object.key,
        size: object.size,
        etag: object.etag,
        last_modified: None,
    })
}

/// A key as S3 notifications encode it: a form value, `+` for a space.
fn form_decoded(key: &str) -> Result<String, String> {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|e| format!("the key {key:?} does not decode to UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_event(name: &str, key: &str) -> Value {
        json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-12-06T02:00:00.000Z", "eventName": name,
            "userIdentity": {"principalId": "A"}, "requestParameters": {"sourceIPAddress": "1.2.3.4"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                   "bucket": {"name": "raw", "arn": "arn:aws:s3:::raw"},
                   "object": {"key": key, "size": 12, "eTag": "abc", "sequencer": "0A"}}
        }]})
    }

    fn sqs(bodies: &[Value]) -> Value {
        let records: Vec<Value> = (bodies.iter().enumerate())
            .map(|(i, body)| {
                json!({"messageId": format!("m{i}"), "receiptHandle": "h", "body": body.to_string(),
                       "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
                       "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
                       "awsRegion": "us-east-1"})
            })
            .collect();
        json!({ "Records": records })
    }

    fn created(key: &str) -> News {
        News::Created(NewObject {
            bucket: "raw".into(),
            key: key.into(),
            size: 12,
            etag: "abc".into(),
            last_modified: None,
        })
    }

    #[test]
    fn keys_of_s3_notifications_are_decoded_as_form_values() {
        let encoded = "2024/a+b%2Bc%3Dd%25e/%C3%A9+%E4%B8%AD.parquet";
        let notices = notices(s3_event("ObjectCreated:Put", encoded)).unwrap();
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].news, created("2024/a b+c=d%e/é 中.parquet"));
        assert_eq!(notices[0].message_id, None);
        assert!(form_decoded("%FF").is_err());
    }

    #[test]
    fn sqs_messages_carry_s3_notifications_sns_envelopes_and_test_events() {
        let direct = s3_event("ObjectCreated:CompleteMultipartUpload", "a/1.csv");
        let via_sns = json!({"Type": "Notification", "MessageId": "n", "TopicArn": "t",
                             "Message": s3_event("ObjectCreated:Put", "a/2.csv").to_string()});
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "raw"});
        let removed = s3_event("ObjectRemoved:Delete", "a/3.csv");
        let notices = notices(sqs(&[direct, via_sns, test, removed])).unwrap();
        let ids: Vec<_> = notices.iter().map(|n| n.message_id.as_deref()).collect();
        assert_eq!(ids, [Some("m0"), Some("m1"), Some("m2"), Some("m3")]);
        assert_eq!(notices[0].news, created("a/1.csv"));
        assert_eq!(notices[1].news, created("a/2.csv"));
        assert_eq!(notices[2].news, News::Nothing("S3's test event".into()));
        assert!(matches!(&notices[3].news, News::Nothing(why) if why.contains("ObjectRemoved")));
    }

    #[test]
    fn eventbridge_keys_are_taken_as_they_are() {
        let event = |kind: &str| {
            json!({"version": "0", "id": "e", "detail-type": kind, "source": "aws.s3",
                   "account": "1", "time": "2026-12-06T02:00:00Z", "region": "us-east-1",
                   "resources": ["arn:aws:s3:::raw"],
                   "detail": {"version": "0", "bucket": {"name": "raw"},
                              "object": {"key": "a/b+c%41:d.csv", "size": 12, "etag": "abc"}}})
        };
        let notices = notices(event("Object Created")).unwrap();
        assert_eq!(notices[0].news, created("a/b+c%41:d.csv"));
        let deleted = super::notices(event("Object Deleted")).unwrap();
        assert!(matches!(&deleted[0].news, News::Nothing(_)));
    }

    #[test]
    fn an_event_of_no_known_shape_is_an_error() {
        assert!(notices(json!({"hello": "world"})).is_err());
    }

    #[test]
    fn an_sqs_message_of_no_known_shape_is_unreadable_and_the_others_are_read() {
        let bad_key = s3_event("ObjectCreated:Put", "a/%FF.csv");
        let batch = sqs(&[
            json!("not an event"),
            bad_key,
            s3_event("ObjectCreated:Put", "a/1.csv"),
        ]);
        let notices = notices(batch).unwrap();
        assert!(matches!(&notices[0].news, News::Unreadable(why) if why.contains("neither")));
        assert!(matches!(&notices[1].news, News::Unreadable(why) if why.contains("UTF-8")));
        assert_eq!(notices[2].news, created("a/1.csv"));
    }
}
