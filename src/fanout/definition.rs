//! The parent state machine of `--engine distributed-map`: one Distributed Map
//! over the staged rows, whose one step starts the target with the row's name and
//! input. Its name and definition depend only on the target, the staging folder
//! and how rows start (`--wait`, `--max-attempts`); what differs per batch (the
//! staged object, MaxConcurrency, the tolerated failures) comes in the parent
//! execution's input, so that batches of one target with the same staging, role
//! and way of starting share one definition without updating it.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::aws::s3_url::S3Prefix;
use crate::aws::sfn::StateMachine;

/// The Map state's label: the Map Run ARN is `...:mapRun:<parent>/rows:<id>`.
const LABEL: &str = "rows";
/// The errors a `states:startExecution` step reports for throttles, quotas and
/// the service's own faults (AWS names an integration's errors
/// `StepFunctions.<exception>`; not verified against a real account).
const SERVICE_FAULTS: [&str; 4] = [
    "StepFunctions.AWSStepFunctionsException",
    "StepFunctions.ExecutionLimitExceededException",
    "StepFunctions.SdkClientException",
    "States.Timeout",
];
/// The longest state machine name AWS takes.
const MAX_NAME: usize = 80;

/// What shapes the parent state machine.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    /// The target: each row starts one of its executions (its ARN as given:
    /// unqualified, version or alias).
    pub target: StateMachine,
    /// `--staging`: the Map Run writes its results under `results/` in it.
    pub staging: S3Prefix,
    /// `--wait`: each row's step waits for its execution to end (`.sync:2`), so
    /// the results say how every execution ended, and MaxConcurrency bounds the
    /// executions running rather than the starts in flight.
    pub sync: bool,
    /// `--max-attempts`: StartExecution calls per row, inside the Map.
    pub max_attempts: u32,
}

/// What the parent execution is given: the batch's part of the Map's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ParentInput {
    /// The staged rows: a JSON array in S3.
    pub items: S3Object,
    /// `--max-running`; 0 is AWS's own bound (10,000 children).
    pub max_concurrency: u64,
    /// One less than the failures `--max-failures` halts at, or every row.
    pub tolerated_failure_count: u64,
}

/// A bucket and key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct S3Object {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
}

impl Parent {
    /// The folder the Map Run writes its results into (`<map run id>/manifest.json`
    /// and the SUCCEEDED_n, FAILED_n, PENDING_n files).
    pub(crate) fn results(&self) -> String {
        self.staging.key("results")
    }

    /// `<target name>[-<qualifier>]-sfn-batch[-sync]`, cut to AWS's 80 characters
    /// with a hash of the target's ARN in place of the cut.
    pub(crate) fn name(&self) -> String {
        let target = self
            .target
            .arn
            .split(':')
            .skip(6)
            .collect::<Vec<_>>()
            .join("-");
        let suffix = match self.sync {
            true => "-sfn-batch-sync",
            false => "-sfn-batch",
        };
        fit_name(&target, suffix, &self.target.arn)
    }

    /// The Amazon States Language definition.
    pub(crate) fn definition(&self) -> Value {
        let resource = match self.sync {
            true => "arn:aws:states:::states:startExecution.sync:2",
            false => "arn:aws:states:::states:startExecution",
        };
        let mut start = json!({
            "Type": "Task",
            "Resource": resource,
            "Parameters": {
                "StateMachineArn": self.target.arn,
                "Name.$": "$.Name",
                "Input.$": "$.Input",
            },
            "End": true,
        });
        if self.max_attempts > 1 {
            // A taken name is an answer, not a fault: never called again. With
            // `.sync:2` an execution that ended badly fails the step as
            // States.TaskFailed, and `States.ALL` (like `States.TaskFailed` in a
            // retrier) would start it again: only the service's own faults are
            // retried then, by name.
            let retried = match self.sync {
                true => json!(SERVICE_FAULTS),
                false => json!(["States.ALL"]),
            };
            start["Retry"] = json!([
                {
                    "ErrorEquals": ["StepFunctions.ExecutionAlreadyExistsException"],
                    "MaxAttempts": 0,
                },
                {
                    "ErrorEquals": retried,
                    "IntervalSeconds": 1,
                    "BackoffRate": 2.0,
                    "MaxDelaySeconds": 20,
                    "JitterStrategy": "FULL",
                    "MaxAttempts": self.max_attempts - 1,
                },
            ]);
        }
        json!({
            "Comment": format!(
                "sfn-batch: starts {} once per staged row (generated by sfn-batch; edits are overwritten)",
                self.target.arn
            ),
            "StartAt": "StartRows",
            "States": {
                "StartRows": {
                    "Type": "Map",
                    "Label": LABEL,
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:getObject",
                        "ReaderConfig": {"InputType": "JSON"},
                        "Parameters": {"Bucket.$": "$.Items.Bucket", "Key.$": "$.Items.Key"},
                    },
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        "StartAt": "StartExecution",
                        "States": {"StartExecution": start},
                    },
                    "MaxConcurrencyPath": "$.MaxConcurrency",
                    "ToleratedFailureCountPath": "$.ToleratedFailureCount",
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Parameters": {"Bucket": self.staging.bucket(), "Prefix": self.results()},
                    },
                    "End": true,
                },
            },
        })
    }
}

/// `base` + `suffix`, at most 80 characters: a longer `base` is cut, and the first
/// 8 hex digits of the SHA-256 of `identity` keep two cut names apart.
pub(crate) fn fit_name(base: &str, suffix: &str, identity: &str) -> String {
    if base.chars().count() + suffix.chars().count() <= MAX_NAME {
        return format!("{base}{suffix}");
    }
    let hash = &hex::encode(Sha256::digest(identity.as_bytes()))[..8];
    let room = MAX_NAME - suffix.chars().count() - hash.len() - 1;
    let cut: String = base.chars().take(room).collect();
    format!("{cut}-{hash}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::sfn::Kind;

    fn parent(sync: bool, max_attempts: u32) -> Parent {
        Parent {
            target: StateMachine {
                arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:preprocessing".into(),
                kind: Kind::Standard,
            },
            staging: S3Prefix::parse("s3://staging-bucket/sfn-batch/").unwrap(),
            sync,
            max_attempts,
        }
    }

    #[test]
    fn the_definition_starts_the_target_once_per_staged_row() {
        let definition = serde_json::to_string_pretty(&parent(false, 5).definition()).unwrap();
        insta::assert_snapshot!(definition);
    }

    fn start_step(parent: Parent) -> Value {
        let definition = parent.definition();
        definition["States"]["StartRows"]["ItemProcessor"]["States"]["StartExecution"].clone()
    }

    #[test]
    fn following_waits_for_each_execution_and_never_starts_a_failed_one_again() {
        let start = start_step(parent(true, 3));
        assert_eq!(
            start["Resource"],
            "arn:aws:states:::states:startExecution.sync:2"
        );
        assert_eq!(start["Retry"][1]["ErrorEquals"], json!(SERVICE_FAULTS));
        assert!(start_step(parent(true, 1)).get("Retry").is_none());
    }

    #[test]
    fn the_name_follows_the_target_and_fits() {
        assert_eq!(parent(false, 5).name(), "preprocessing-sfn-batch");
        assert_eq!(parent(true, 5).name(), "preprocessing-sfn-batch-sync");
        let mut alias = parent(false, 5);
        alias.target.arn += ":live";
        assert_eq!(alias.name(), "preprocessing-live-sfn-batch");
        let long = fit_name(&"a".repeat(80), "-sfn-batch", "arn");
        assert_eq!(long.len(), 80);
        assert_ne!(long, fit_name(&"a".repeat(80), "-sfn-batch", "another arn"));
    }
}
