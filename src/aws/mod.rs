//! AWS: the clients, the narrow Step Functions trait the launcher and following
//! call through (tests wrap it to inject faults), and S3 URLs.

mod clients;
pub(crate) mod sfn;

pub(crate) use clients::{AwsOptions, Clients, NotConfigured, clients, error_text};
pub(crate) mod s3_url;

/// An AWS SDK time (an object's LastModified, an execution's start) as a
/// `jiff` timestamp; `None` outside jiff's range.
pub(crate) fn timestamp(t: &aws_sdk_s3::primitives::DateTime) -> Option<jiff::Timestamp> {
    jiff::Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok()
}
