//! AWS: the clients, the narrow Step Functions trait the launcher and following
//! call through (tests wrap it to inject faults), and S3 URLs.

mod clients;
pub(crate) mod sfn;

pub(crate) use clients::{AwsOptions, Clients, NotConfigured, clients, error_text};
pub(crate) mod s3_url;
