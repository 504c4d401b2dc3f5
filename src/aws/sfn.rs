//! The narrow surface of Step Functions the launcher needs, as a trait (so tests can
//! wrap the real client to inject faults), its AWS SDK implementation, and the
//! one-time check of the state machine.

use std::future::Future;

use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::primitives::{DateTime, DateTimeFormat};
use aws_sdk_sfn::types::{ExecutionStatus, StateMachineType};

use crate::aws::error_text;
use crate::model::final_status::FinalStatus;
use crate::model::outcome::Execution;

/// How the launcher should treat a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// ThrottlingException, KmsThrottlingException: retry, and slow down.
    Throttle,
    /// 5xx, timeouts, dropped connections: retry with backoff.
    Transient,
    /// The name is taken: look at the execution that holds it.
    AlreadyExists,
    /// Anything else: retrying cannot help.
    Permanent,
}

/// A failed call, sorted for the launcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallError {
    /// What the launcher does about it.
    pub class: ErrorClass,
    /// The AWS error code, or what happened instead (`Timeout`, `ConnectionError`,
    /// `HTTP503`, ...).
    pub code: String,
    /// The whole error, in one line.
    pub message: String,
    /// AWS answered with an error. A call without an answer (a timeout, a dropped
    /// connection) may still have taken effect.
    pub answered: bool,
}

/// An execution as DescribeExecution shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    /// Its ARN and start.
    pub execution: Execution,
    /// Its input, when AWS returns it.
    pub input: Option<String>,
    /// AWS's word: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE.
    pub status: FinalStatus,
}

impl Described {
    /// Closed otherwise than SUCCEEDED: what a redrive takes.
    pub(crate) fn is_unsuccessful(&self) -> bool {
        self.status.is_redrivable()
    }
}

/// The Step Functions calls the launcher makes: the AWS SDK client, or a test's
/// wrapper around it.
pub(crate) trait StepFunctions: Send + Sync + 'static {
    /// StartExecution: one attempt (the launcher retries).
    fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> impl Future<Output = Result<Execution, CallError>> + Send;

    /// DescribeExecution: how the execution stands, and its input.
    fn describe_execution(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = Result<Described, CallError>> + Send;

    /// RedriveExecution: runs a closed, unsuccessful execution again from its
    /// failed step, under the same ARN. The same `client_token` within 15 minutes
    /// answers the first redrive's answer again instead of redriving twice.
    fn redrive_execution(
        &self,
        execution_arn: &str,
        client_token: &str,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
}

impl StepFunctions for aws_sdk_sfn::Client {
    async fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<Execution, CallError> {
        let out = self
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(call_error)?;
        Ok(Execution {
            arn: out.execution_arn,
            start_date: rfc3339(&out.start_date),
        })
    }

    async fn describe_execution(&self, execution_arn: &str) -> Result<Described, CallError> {
        let out = self
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(call_error)?;
        Ok(Described {
            execution: Execution {
                arn: out.execution_arn,
                start_date: rfc3339(&out.start_date),
            },
            input: out.input,
            status: final_status(&out.status),
        })
    }

    async fn redrive_execution(
        &self,
        execution_arn: &str,
        client_token: &str,
    ) -> Result<(), CallError> {
        self.redrive_execution()
            .execution_arn(execution_arn)
            .client_token(client_token)
            .send()
            .await
            .map_err(call_error)?;
        Ok(())
    }
}

pub(crate) fn rfc3339(date: &DateTime) -> String {
    date.fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| date.to_string())
}

/// Sorts an SDK error into what the launcher does about it. Codes are read with
/// `ProvideErrorMetadata::code()`: ThrottlingException is not a modelled error, and
/// the SDK does not count KmsThrottlingException as throttling.
fn call_error<E>(error: SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = error_text(&error);
    let (class, code) = match &error {
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            let code = e
                .err()
                .code()
                .map_or_else(|| format!("HTTP{status}"), str::to_string);
            let class = match code.as_str() {
                "ThrottlingException" | "KmsThrottlingException" => ErrorClass::Throttle,
                "ExecutionAlreadyExists" => ErrorClass::AlreadyExists,
                // A million executions open in the account: a later call may pass.
                "ExecutionLimitExceeded" => ErrorClass::Transient,
                _ if status >= 500 => ErrorClass::Transient,
                _ => ErrorClass::Permanent,
            };
            (class, code)
        }
        SdkError::TimeoutError(_) => (ErrorClass::Transient, "Timeout".to_string()),
        SdkError::DispatchFailure(e) if e.is_user() => {
            (ErrorClass::Permanent, "DispatchFailure".to_string())
        }
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (ErrorClass::Transient, "ConnectionError".to_string())
        }
        _ => (ErrorClass::Permanent, "RequestFailed".to_string()),
    };
    CallError {
        class,
        code,
        message,
        answered: matches!(error, SdkError::ServiceError(_)),
    }
}

/// Standard or Express: only Standard executions are idempotent by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Kind {
    /// Standard workflows: a name starts at most one execution.
    Standard,
    /// Express workflows: not idempotent by name, and their executions cannot be
    /// listed or described.
    Express,
}

/// The state machine a batch starts, checked once before the first row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateMachine {
    /// As given (or found): unqualified, version or alias ARN.
    pub arn: String,
    /// Standard or Express.
    pub kind: Kind,
}

impl StateMachine {
    /// The ARN without a version or alias qualifier: ListExecutions of it covers
    /// every version and alias.
    pub(crate) fn unqualified_arn(&self) -> String {
        self.arn.split(':').take(7).collect::<Vec<_>>().join(":")
    }

    /// `arn:<partition>:states:<region>:<account>:execution:<stateMachineName>:<name>`;
    /// a version or alias qualifier is not part of it.
    pub(crate) fn execution_arn(&self, name: &str) -> String {
        let state_machine = self.arn.split(':').nth(6).unwrap_or_default();
        self.arn_of(&format!("execution:{state_machine}:{name}"))
    }

    /// The ARN of another state machine, `name`, in the same account and region.
    pub(crate) fn sibling_arn(&self, name: &str) -> String {
        self.arn_of(&format!("stateMachine:{name}"))
    }

    /// `arn:<partition>:states:<region>:<account>:<resource>`.
    fn arn_of(&self, resource: &str) -> String {
        let parts: Vec<&str> = self.arn.split(':').collect();
        format!(
            "arn:{}:states:{}:{}:{resource}",
            parts[1], parts[3], parts[4]
        )
    }
}

/// Why the state machine could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StateMachineError(String);

/// Resolves `--state-machine` (a full ARN, possibly version- or alias-qualified, or
/// a bare name looked up in the configured account and region) and checks that it
/// exists, so a typo fails at once, not once per row.
pub(crate) async fn resolve(
    client: &aws_sdk_sfn::Client,
    given: &str,
    region: &str,
) -> Result<StateMachine, StateMachineError> {
    let arn = if given.starts_with("arn:") {
        given.to_string()
    } else {
        find_by_name(client, given, region).await?
    };
    let parts = arn_parts(given, &arn)?;
    // A client talks to one region: an ARN of another would only be "not found".
    if parts[3] != region {
        return Err(StateMachineError(format!(
            "state machine {arn} is in region {}, but the AWS region in use is {region}: \
             pass --region {}",
            parts[3], parts[3]
        )));
    }
    let unqualified = parts[..7].join(":");
    let qualifier = parts.get(7).copied();
    let failed = |e: String| StateMachineError(format!("state machine {arn}: {e}"));
    if let Some(alias) = qualifier.filter(|q| !q.chars().all(|c| c.is_ascii_digit())) {
        client
            .describe_state_machine_alias()
            .state_machine_alias_arn(&arn)
            .send()
            .await
            .map_err(|e| failed(format!("alias {alias} cannot be used: {}", error_text(&e))))?;
    }
    // A version ARN is described as itself; an alias through its state machine.
    let described = if qualifier.is_some_and(|q| q.chars().all(|c| c.is_ascii_digit())) {
        arn.clone()
    } else {
        unqualified
    };
    let out = client
        .describe_state_machine()
        .state_machine_arn(&described)
        .send()
        .await
        .map_err(|e| match e.as_service_error().and_then(|s| s.code()) {
            Some("StateMachineDoesNotExist") => {
                StateMachineError(format!("state machine {described} does not exist"))
            }
            _ => failed(error_text(&e)),
        })?;
    let kind = match out.r#type {
        StateMachineType::Express => Kind::Express,
        _ => Kind::Standard,
    };
    Ok(StateMachine { arn, kind })
}

impl StateMachine {
    /// `--state-machine` as given, without asking AWS (for `validate`): a bare name
    /// stands in as an ARN of account 000000000000. Default execution names hash
    /// the ARN, so they differ from the real ones; whether they are valid does not.
    pub(crate) fn offline(given: &str) -> Result<StateMachine, StateMachineError> {
        let arn = match given.starts_with("arn:") {
            true => given.to_string(),
            false => format!("arn:aws:states:us-east-1:000000000000:stateMachine:{given}"),
        };
        arn_parts(given, &arn)?;
        Ok(StateMachine {
            arn,
            kind: Kind::Standard,
        })
    }
}

/// The parts of a state machine ARN, checked for their shape.
fn arn_parts<'a>(given: &str, arn: &'a str) -> Result<Vec<&'a str>, StateMachineError> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts.len() > 8 || parts[2] != "states" || parts[5] != "stateMachine" {
        return Err(StateMachineError(format!(
            "{given:?} is not a state machine ARN \
             (arn:<partition>:states:<region>:<account>:stateMachine:<name>[:<version or alias>])"
        )));
    }
    Ok(parts)
}

async fn find_by_name(
    client: &aws_sdk_sfn::Client,
    name: &str,
    region: &str,
) -> Result<String, StateMachineError> {
    let mut pages = client.list_state_machines().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            StateMachineError(format!("cannot list state machines: {}", error_text(&e)))
        })?;
        if let Some(found) = page.state_machines.into_iter().find(|sm| sm.name == name) {
            return Ok(found.state_machine_arn);
        }
    }
    Err(StateMachineError(format!(
        "no state machine named {name:?} in region {region}"
    )))
}

/// AWS's status of an execution, as following records it.
pub(crate) fn final_status(status: &ExecutionStatus) -> FinalStatus {
    FinalStatus::from_word(status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arn_drops_the_qualifier() {
        for arn in [
            "arn:aws:states:eu-west-1:123456789012:stateMachine:sm",
            "arn:aws:states:eu-west-1:123456789012:stateMachine:sm:10",
            "arn:aws:states:eu-west-1:123456789012:stateMachine:sm:PROD",
        ] {
            let sm = StateMachine {
                arn: arn.into(),
                kind: Kind::Standard,
            };
            assert_eq!(
                sm.execution_arn("x"),
                "arn:aws:states:eu-west-1:123456789012:execution:sm:x"
            );
        }
    }
}
