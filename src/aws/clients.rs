//! AWS configuration and clients, honouring the standard configuration (profiles,
//! environment credentials, `AWS_REGION`, `AWS_ENDPOINT_URL[_SFN|_S3]`).

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sfn::config::StalledStreamProtectionConfig;
use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Where and as whom to call AWS.
#[derive(Debug, Clone, Default)]
pub(crate) struct AwsOptions {
    /// The region to call, instead of the configured one.
    pub region: Option<String>,
    /// The named profile to take credentials and settings from.
    pub profile: Option<String>,
    /// Bound on one API call attempt: without it a hung connection hangs a row forever.
    pub call_timeout: Duration,
}

/// The clients a command uses, each set up for its kind of call.
pub(crate) struct Clients {
    /// For StartExecution: one attempt per call (the launcher retries).
    pub sfn: aws_sdk_sfn::Client,
    /// For following (List/DescribeExecution): the SDK's standard retries, with
    /// backoff on throttles.
    pub follow: aws_sdk_sfn::Client,
    /// For manifests, listings, run logs and reports: only connecting and the first
    /// byte are bounded.
    pub s3: aws_sdk_s3::Client,
    /// The region the configuration resolved, or a note that none is configured.
    pub region: String,
}

/// Loads the standard AWS configuration with `options` on top, and builds the clients.
pub(crate) async fn clients(options: &AwsOptions) -> Clients {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    let config = loader
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(options.call_timeout)
                .build(),
        )
        .load()
        .await;
    // The launcher owns retries (with its own pacing and attempt count): the SDK's
    // would multiply them, so StartExecution gets exactly one attempt per call.
    // Stalled-stream protection checks the throughput of every request and response
    // body: a few hundred bytes here, which the call timeout already bounds. Off, it
    // saves the launcher about 5% of its CPU per start.
    let sfn = aws_sdk_sfn::config::Builder::from(&config)
        .retry_config(RetryConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    let follow = aws_sdk_sfn::config::Builder::from(&config)
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .build();
    // A local endpoint (an emulator, MinIO) serves buckets by path, not by host name.
    let local_s3 =
        config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    // S3 moves whole manifests and run logs: an attempt may rightly take minutes,
    // so only connecting and waiting for a first byte are bounded.
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(local_s3)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(options.call_timeout)
                .read_timeout(options.call_timeout)
                .disable_operation_attempt_timeout()
                .build(),
        )
        .build();
    Clients {
        sfn: aws_sdk_sfn::Client::from_conf(sfn),
        follow: aws_sdk_sfn::Client::from_conf(follow),
        s3: aws_sdk_s3::Client::from_conf(s3),
        region: config
            .region()
            .map(ToString::to_string)
            .unwrap_or_else(|| "(no region configured)".to_string()),
    }
}

/// One line saying what went wrong with a call: the service's code and message, or
/// the whole chain of causes for a transport failure.
/// An answer without an AWS error code (an HTML 500 from a proxy, an endpoint
/// without the operation) says its HTTP status.
pub(crate) fn error_text<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match error {
        SdkError::ServiceError(e) => match e.err().code() {
            Some(code) => format!("{code}: {}", e.err().message().unwrap_or("no message")),
            None => format!(
                "HTTP {} without an AWS error code or message",
                e.raw().status().as_u16()
            ),
        },
        other => DisplayErrorContext(other).to_string(),
    }
}
