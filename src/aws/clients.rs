//! AWS configuration and clients, honouring the standard configuration (profiles,
//! environment credentials, `AWS_REGION`, `AWS_ENDPOINT_URL[_SFN|_S3]`).

use std::error::Error as StdError;
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{SharedCredentialsProvider, future};
use aws_sdk_sfn::config::ProvideCredentials;
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
    /// How long one outage (AWS unreachable, or refusing every call) may last
    /// before a command gives up.
    pub outage_budget: Duration,
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
    /// `--outage-budget`: how long one outage may last before a command gives up.
    pub outage_budget: Duration,
}

/// AWS cannot be called as configured: no region, or no credentials. Says which,
/// and how to fix it; the SDK's own account of it is logged at `-v`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotConfigured(String);

/// Loads the standard AWS configuration with `options` on top, checks that it names
/// a region and finds credentials, and builds the clients.
pub(crate) async fn clients(options: &AwsOptions) -> Result<Clients, NotConfigured> {
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
    let region = config.region().map(ToString::to_string).ok_or_else(|| {
        // A profile that does not exist gives no region either, without an error.
        let profile = (options.profile.clone())
            .or_else(|| std::env::var("AWS_PROFILE").ok())
            .map_or(String::new(), |p| format!(" (is there a profile `{p}`?)"));
        NotConfigured(format!(
            "no AWS region is configured{profile}: pass --region, set AWS_REGION, or give \
             the profile a region"
        ))
    })?;
    let credentials = check_credentials(&config).await?;
    let config = config
        .into_builder()
        .credentials_provider(credentials)
        .build();
    Ok(Clients::from_config(&config, region, options))
}

impl Clients {
    /// The clients of a configuration already loaded and checked, with the
    /// region it names.
    pub(crate) fn from_config(config: &SdkConfig, region: String, options: &AwsOptions) -> Clients {
        // The launcher owns retries (with its own pacing and attempt count): the SDK's
        // would multiply them, so StartExecution gets exactly one attempt per call.
        // Stalled-stream protection checks the throughput of every request and response
        // body: a few hundred bytes here, which the call timeout already bounds. Off, it
        // saves the launcher about 5% of its CPU per start.
        let sfn = aws_sdk_sfn::config::Builder::from(config)
            .retry_config(RetryConfig::disabled())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        let follow = aws_sdk_sfn::config::Builder::from(config)
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .build();
        // A local endpoint (an emulator, MinIO) serves buckets by path, not by host name.
        let local_s3 =
            config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        // S3 moves whole manifests and run logs: an attempt may rightly take minutes,
        // so only connecting and waiting for a first byte are bounded.
        let s3 = aws_sdk_s3::config::Builder::from(config)
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
            region,
            outage_budget: options.outage_budget,
        }
    }
}

/// Asks the configuration's credential chain for credentials once, before any
/// call: without them, every call would fail with a long chain of the SDK's
/// errors (IMDS, SSO, profiles) instead of one line that says what to do.
async fn check_credentials(
    config: &aws_config::SdkConfig,
) -> Result<SharedCredentialsProvider, NotConfigured> {
    const HOW: &str = "use a profile (--profile or AWS_PROFILE), set AWS_ACCESS_KEY_ID and \
                       AWS_SECRET_ACCESS_KEY, or sign in with `aws sso login`";
    let Some(provider) = config.credentials_provider() else {
        return Err(NotConfigured(format!(
            "no AWS credentials are configured: {HOW}"
        )));
    };
    provider
        .provide_credentials()
        .await
        .map(|first| {
            SharedCredentialsProvider::new(Checked {
                first,
                chain: provider.clone(),
            })
        })
        .map_err(|e| {
            tracing::debug!(
                "the AWS SDK found no credentials: {}",
                DisplayErrorContext(&e)
            );
            let why = match &e {
                CredentialsError::CredentialsNotLoaded(_) => {
                    "no AWS credentials were found".to_string()
                }
                CredentialsError::ProviderTimedOut(_) => {
                    "looking for AWS credentials timed out".to_string()
                }
                _ => format!("no AWS credentials could be loaded ({})", innermost(&e)),
            };
            NotConfigured(format!("{why}: {HOW} (-v shows what the AWS SDK tried)"))
        })
}

/// The credential chain, answering first with the credentials the check fetched,
/// until they are about to expire: the chain is not asked twice for them (an SSO
/// round trip, or a `credential_process` that prompts).
#[derive(Debug)]
struct Checked {
    first: Credentials,
    chain: SharedCredentialsProvider,
}

impl ProvideCredentials for Checked {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let margin = SystemTime::now() + Duration::from_secs(300);
        match self.first.expiry().is_none_or(|expiry| expiry > margin) {
            true => future::ProvideCredentials::ready(Ok(self.first.clone())),
            false => self.chain.provide_credentials(),
        }
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
            Some(code) => format!(
                "{code}: {}{}",
                e.err().message().unwrap_or("no message"),
                credentials_hint(code)
            ),
            None => format!(
                "HTTP {} without an AWS error code or message",
                e.raw().status().as_u16()
            ),
        },
        // The chain of causes in words; the SDK's full account (with its debug
        // dump) only at `-v`.
        other => {
            tracing::debug!("{}", DisplayErrorContext(other));
            let causes: Vec<String> = causes(other).map(|e| e.to_string()).collect();
            causes.join(": ")
        }
    }
}

/// An error and its causes, outermost first.
fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// The first cause of an error, in its own words.
fn innermost(error: &(dyn StdError + 'static)) -> String {
    let first = causes(error).last().expect("an error is its own cause");
    first.to_string().trim_end_matches('.').to_string()
}

/// What to do about an answer that is about the credentials, not the call.
fn credentials_hint(code: &str) -> &'static str {
    match code {
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            " (the credentials have expired: renew them, with `aws sso login` or new keys)"
        }
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch" => {
            " (AWS does not know these credentials: check the profile or the keys)"
        }
        "AccessDenied" | "AccessDeniedException" => {
            " (the credentials may not do this: check the policy of the user or role)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_about_the_credentials_say_what_to_do() {
        assert!(credentials_hint("ExpiredTokenException").contains("expired"));
        assert!(credentials_hint("UnrecognizedClientException").contains("does not know"));
        assert!(credentials_hint("AccessDeniedException").contains("may not do this"));
        assert_eq!(credentials_hint("ThrottlingException"), "");
    }

    #[test]
    fn the_first_cause_is_told_in_its_own_words() {
        let inner = std::io::Error::other("request forbidden: IMDS is disabled.");
        let outer = CredentialsError::provider_error(inner);
        assert_eq!(innermost(&outer), "request forbidden: IMDS is disabled");
    }
}
