//! One invocation of the live path: the event's new objects planned as the
//! backfill plans them, and started by the same launcher (its retries, its
//! `existing`, its breaker), until the invocation's deadline, less a margin.
//!
//! What becomes of a record:
//! - started, or `existing` (the name is taken by the same input: a redelivery, or
//!   a backfill that came first): done;
//! - not a row of the job (outside the prefix, filtered out, a test event, not a
//!   creation): done, nothing to start;
//! - invalid (a name or input that breaks AWS's rules, a template field the object
//!   lacks): logged with the reason and done, since it would fail forever;
//! - anything else (throttled or failing until the deadline, not reached, an SQS
//!   message of no shape it reads): to be tried again. From SQS, its message is
//!   listed in `batchItemFailures`, so that SQS delivers it again and, in the end,
//!   to the dead-letter queue; from a direct or EventBridge invocation, the
//!   invocation fails, so that Lambda retries it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use aws_config::SdkConfig;

use crate::aws::sfn::{Kind, StateMachine};
use crate::aws::{Clients, clients, sfn};
use crate::cli::options::RunOptions;
use crate::error::Error;
use crate::launch::breaker::Breaker;
use crate::launch::launcher::Launcher;
use crate::launch::rate::Pacer;
use crate::launch::work::Work;
use crate::live::event::{News, Notice, notices};
use crate::live::{Decision, LivePlan, NewObject, run_options};
use crate::model::outcome::{Outcome, Status};
use crate::model::settings::{Backoff, LaunchOptions};

/// What an invocation leaves for its end: this long before the deadline, calls
/// stop, so that the answer is written in time.
const MARGIN: Duration = Duration::from_secs(2);
/// Lambda's longest timeout: the time an invocation has when its deadline means
/// nothing (`time_left`).
const LONGEST_INVOCATION: Duration = Duration::from_secs(15 * 60);
/// StartExecution calls in flight at once, within one invocation. The live path's
/// rate is bounded by the number of invocations at once (the event source
/// mapping's `MaximumConcurrency`), not here.
const CONCURRENCY: usize = 16;
/// Job-file keys that mean nothing to the live path, which takes one event at a
/// time, as it comes: accepted (a backfill's job file is the live path's) and
/// ignored, with a line at init saying so.
const IGNORED: [&str; 19] = [
    "rate",
    "burst",
    "concurrency",
    "max_attempts",
    "max_failures",
    "max_running",
    "progress",
    "wait",
    "timeout",
    "poll",
    "run_dir",
    "report_to",
    "skip_invalid",
    "allow_empty",
    "force_resume",
    "shard",
    "offset",
    "limit",
    "outage_budget",
];

/// Codes of a start that can never succeed: the row is invalid.
const INVALID: [&str; 2] = ["InvalidName", "InvalidExecutionInput"];

/// The live path, ready for invocations: the job's plan, the clients, the state
/// machine.
pub struct Live {
    plan: LivePlan,
    clients: Clients,
    state_machine: StateMachine,
    names_identify_inputs: bool,
}

/// How an invocation went.
#[derive(Debug, Default, Serialize)]
pub struct Invocation {
    /// Executions started, by ARN.
    pub started: Vec<String>,
    /// Records whose execution existed already.
    pub existing: u64,
    /// Records that are not rows of the job.
    pub skipped: u64,
    /// Records that can never start.
    pub invalid: u64,
    /// Records to be tried again.
    pub to_retry: u64,
    /// The SQS messages to be delivered again.
    #[serde(skip)]
    failed_messages: BTreeSet<String>,
    /// Whether the event came by SQS.
    #[serde(skip)]
    from_sqs: bool,
}

impl Live {
    /// The live path of the job file at `job`, for the configured AWS account
    /// and region: its state machine is resolved once, here.
    pub async fn from_job(job: &Path) -> Result<Live, Error> {
        let options = run_options(job)?;
        let ignored = ignored_keys(job);
        if !ignored.is_empty() {
            tracing::info!(
                "the live path ignores these keys of {}: {}",
                job.display(),
                ignored.join(", ")
            );
        }
        let clients = clients(&options.aws).await?;
        Live::with_clients(options, clients).await
    }

    /// The same, with an AWS configuration of the caller's (a test's emulator).
    pub async fn with_config(job: &Path, config: &SdkConfig) -> Result<Live, Error> {
        let options = run_options(job)?;
        let region = config.region().map_or(String::new(), ToString::to_string);
        let clients = Clients::from_config(config, region, &options.aws);
        Live::with_clients(options, clients).await
    }

    async fn with_clients(options: RunOptions, clients: Clients) -> Result<Live, Error> {
        let state_machine =
            sfn::resolve(&clients.sfn, &options.state_machine, &clients.region).await?;
        if state_machine.kind == Kind::Express {
            return Err(Error::Usage(format!(
                "{} is an Express state machine: AWS does not make its executions \
                 idempotent by name, so the live path and a backfill could start an \
                 object twice",
                state_machine.arn
            )));
        }
        let names_identify_inputs = options.launching.launch.names_identify_inputs;
        Ok(Live {
            plan: LivePlan::new(&options, &state_machine.arn)?,
            clients,
            state_machine,
            names_identify_inputs,
        })
    }

    /// Handles one event, starting its objects' executions before `deadline`:
    /// the answer for Lambda (a partial batch response for SQS, else a summary),
    /// or an error when a direct invocation must be retried.
    pub async fn handle(&self, event: Value, deadline: Instant) -> Result<Value, String> {
        let notices = notices(event)?;
        let summary = self.start(notices, deadline).await;
        if summary.from_sqs {
            let failures: Vec<Value> = (summary.failed_messages.iter())
                .map(|id| json!({ "itemIdentifier": id }))
                .collect();
            return Ok(json!({ "batchItemFailures": failures }));
        }
        if summary.to_retry > 0 {
            return Err(format!(
                "{} of the event's objects could not be started yet: try again",
                summary.to_retry
            ));
        }
        Ok(serde_json::to_value(&summary).expect("a summary serializes"))
    }

    /// Plans each notice's object and starts the rows, in one launch.
    async fn start(&self, notices: Vec<Notice>, deadline: Instant) -> Invocation {
        let mut summary = Invocation {
            from_sqs: notices.iter().any(|n| n.message_id.is_some()),
            ..Invocation::default()
        };
        let mut work = Vec::new();
        // Row n of this launch is `launched[n - 1]`: its notice.
        let mut launched = Vec::new();
        for notice in notices {
            let object = match &notice.news {
                News::Created(object) => object,
                News::Nothing(why) => {
                    log(&notice, None, "skipped", why);
                    summary.skipped += 1;
                    continue;
                }
                News::Unreadable(why) => {
                    log(&notice, None, "to_retry", &format!("unreadable: {why}"));
                    summary.retry(&notice);
                    continue;
                }
            };
            let object = match self.with_last_modified(object).await {
                Ok(object) => object,
                Err(why) => {
                    log(&notice, None, "to_retry", &why);
                    summary.retry(&notice);
                    continue;
                }
            };
            match self.plan.decide(&object) {
                Decision::Skipped(why) => {
                    log(&notice, None, "skipped", &why);
                    summary.skipped += 1;
                }
                Decision::Row(Err(invalid)) => {
                    log(&notice, None, "invalid", &invalid.reason);
                    summary.invalid += 1;
                }
                Decision::Row(Ok(mut launch)) => {
                    launch.row = launched.len() as u64 + 1;
                    work.push(Work::Start(launch));
                    launched.push(notice);
                }
            }
        }
        let mut ended = vec![None; launched.len()];
        for outcome in self.launch(work, deadline).await {
            let row = (outcome.row - 1) as usize;
            ended[row] = Some(outcome);
        }
        for (notice, outcome) in launched.iter().zip(ended) {
            summary.count(notice, outcome);
        }
        summary
    }

    /// The object with its LastModified, from HeadObject, when the job uses it.
    async fn with_last_modified(&self, object: &NewObject) -> Result<NewObject, String> {
        let mut object = object.clone();
        if !self.plan.needs_last_modified() {
            return Ok(object);
        }
        let head = (self.clients.s3.head_object())
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
            .map_err(|e| format!("HeadObject: {}", crate::aws::error_text(&e)))?;
        let modified = head.last_modified().and_then(crate::aws::timestamp);
        object.last_modified = Some(modified.ok_or("HeadObject gave no LastModified")?);
        Ok(object)
    }

    /// Starts the rows with the launcher, until `deadline` less the margin.
    async fn launch(&self, work: Vec<Work>, deadline: Instant) -> Vec<Outcome> {
        let stop = CancellationToken::new();
        let until = deadline.checked_sub(MARGIN).unwrap_or(deadline);
        let budget = until.saturating_duration_since(Instant::now());
        let launcher = Arc::new(Launcher::new(
            Arc::new(self.clients.sfn.clone()),
            self.state_machine.clone(),
            Pacer::new(1e9, std::num::NonZeroU32::MIN),
            Breaker::new(budget, stop.clone()),
            LaunchOptions {
                concurrency: CONCURRENCY,
                // The deadline bounds the attempts.
                max_attempts: u32::MAX,
                backoff: Backoff {
                    base: Duration::from_millis(100),
                    max: Duration::from_secs(5),
                },
                names_identify_inputs: self.names_identify_inputs,
            },
        ));
        let timer = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(until.into()).await;
                stop.cancel();
            })
        };
        let outcomes = launcher
            .launch_all(futures::stream::iter(work), &stop)
            .collect()
            .await;
        timer.abort();
        outcomes
    }
}

impl Invocation {
    /// A record to be tried again.
    fn retry(&mut self, notice: &Notice) {
        self.to_retry += 1;
        if let Some(id) = &notice.message_id {
            self.failed_messages.insert(id.clone());
        }
    }

    /// Counts a launched record by its outcome (`None`: its call got no answer
    /// before the deadline), and logs it.
    fn count(&mut self, notice: &Notice, outcome: Option<Outcome>) {
        let Some(outcome) = outcome else {
            log(notice, None, "to_retry", "no answer before the deadline");
            return self.retry(notice);
        };
        let name = outcome.name.as_deref();
        let error = outcome.error.as_deref().unwrap_or_default();
        match (outcome.status, &outcome.execution_arn) {
            (Status::Started, Some(arn)) => {
                log(notice, name, "started", arn);
                self.started.push(arn.clone());
            }
            (Status::Existing, Some(arn)) => {
                log(notice, name, "existing", arn);
                self.existing += 1;
            }
            (Status::Failed, _) if INVALID.contains(&error) => {
                let message = outcome.message.as_deref().unwrap_or(error);
                log(notice, name, "invalid", message);
                self.invalid += 1;
            }
            _ => {
                let why = outcome
                    .message
                    .as_deref()
                    .unwrap_or("not started before the deadline");
                log(notice, name, "to_retry", why);
                self.retry(notice);
            }
        }
    }
}

/// The time an invocation has, from its deadline (`Lambda-Runtime-Deadline-Ms`) and
/// the time it arrived. Lambda's deadline is always ahead then; one already past is
/// a Runtime API emulator's stand-in (`cargo lambda watch` sends 600000, ten
/// minutes after the Unix epoch), under which every start would stop at once. Such
/// an invocation gets Lambda's longest timeout instead.
pub fn time_left(deadline: SystemTime, now: SystemTime) -> Duration {
    deadline.duration_since(now).unwrap_or(LONGEST_INVOCATION)
}

/// The keys of the job file at `job` that the live path ignores (`IGNORED`). The
/// file was read and checked whole already, as `run --job` reads it.
fn ignored_keys(job: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(job).unwrap_or_default();
    let table: toml::Table = toml::from_str(&text).unwrap_or_default();
    (table.keys())
        .filter(|key| IGNORED.contains(&key.as_str()))
        .cloned()
        .collect()
}

/// One line per record: bucket, key, name, outcome, and the ARN or the reason.
fn log(notice: &Notice, name: Option<&str>, outcome: &str, detail: &str) {
    let (bucket, key) = match &notice.news {
        News::Created(object) => (object.bucket.as_str(), object.key.as_str()),
        News::Nothing(_) | News::Unreadable(_) => ("", ""),
    };
    tracing::info!(
        message_id = notice.message_id.as_deref().unwrap_or_default(),
        bucket,
        key,
        name = name.unwrap_or_default(),
        outcome,
        detail,
        "{outcome}: s3://{bucket}/{key}: {detail}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_a_live_path_ignores_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        let text = "state_machine = \"sm\"\nrate = 5\ns3_prefix = \"s3://b/p/\"\nrun_dir = \"r\"\n";
        std::fs::write(&job, text).unwrap();
        assert_eq!(ignored_keys(&job), ["rate", "run_dir"]);
    }

    #[test]
    fn a_deadline_already_past_gets_lambdas_longest_timeout() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_000_000);
        let ahead = now + Duration::from_secs(30);
        assert_eq!(time_left(ahead, now), Duration::from_secs(30));
        let cargo_lambda_watch = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(time_left(cargo_lambda_watch, now), LONGEST_INVOCATION);
    }
}
