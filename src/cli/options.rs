//! Validated, typed settings for a run, made once from the command-line arguments.
//! Terminal-dependent defaults are decided here and nowhere else.
//!
//! This file is longer than 500 lines: it turns the arguments of every command into
//! that command's options, each with its checks, and 55 of the lines are unit tests.
//! The source options are in `sources.rs`.

use std::io::IsTerminal;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::aws::AwsOptions;
use crate::aws::s3_url::S3Prefix;
use crate::cli::args::{
    AwsArgs, Engine, FollowArgs, LaunchArgs, RetryArgs, RunArgs, StatusArgs, WatchArgs,
};
use crate::cli::sources;
use crate::error::Error;
use crate::launch::Launching;
use crate::model::final_status::FinalStatus;
use crate::model::settings::FollowOptions;
use crate::model::settings::MaxFailures;
use crate::model::settings::{Backoff, LaunchOptions};
use crate::output::progress::ProgressMode;
use crate::output::publish::ReportTo;
use crate::plan::source::{ParseOptions, Selection, Source};
use crate::plan::template::{InputTemplate, TextTemplate};
use crate::plan::{MAX_BATCH_ID_CHARS, Planner, check_name};

/// A template with the text it was parsed from (recorded in the run dir).
#[derive(Debug, Clone)]
pub(crate) struct Sourced<T> {
    /// The text as given.
    pub text: String,
    /// The parsed template.
    pub template: T,
}

/// What `sfn-batch run` and `validate` are to do, checked.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    /// `--state-machine`: an ARN or a bare name, resolved when the run starts.
    pub state_machine: String,
    /// Where the items come from.
    pub source: Source,
    /// How the manifest is parsed.
    pub parse: ParseOptions,
    /// Which items this run takes.
    pub selection: Selection,
    /// `--output-template`.
    pub output_template: Option<Sourced<TextTemplate>>,
    /// `--input-template` (a listing has a default one).
    pub input_template: Option<Sourced<InputTemplate>>,
    /// `--name-template`.
    pub name_template: Option<Sourced<TextTemplate>>,
    /// `--batch-id`, `{date}` filled in; `None`: derived from the manifest and the state
    /// machine.
    pub batch_id: Option<String>,
    /// `--run-dir`, `{date}` filled in; `None`: `sfn-batch-runs/BATCH_ID`.
    pub run_dir: Option<PathBuf>,
    /// How rows are launched and followed.
    pub launching: Launching,
    /// `--force-resume`: resume a run dir started with other settings.
    pub force_resume: bool,
    /// `--allow-empty`: a source without rows is not an error.
    pub allow_empty: bool,
    /// `--skip-invalid`: launch the valid rows and report the invalid ones.
    pub skip_invalid: bool,
    /// `--dry-run`: check every row, start nothing.
    pub dry_run: bool,
    /// `--engine distributed-map`: where the rows are staged, and the parent's role.
    pub distributed_map: Option<DistributedMap>,
    /// Where and as whom to call AWS.
    pub aws: AwsOptions,
    /// Cancelled to stop the run as a signal would. `None`: Ctrl-C and SIGTERM do
    /// (the command line); a program embedding the library brings its own.
    pub interrupt: Option<CancellationToken>,
}

/// `names_identify_inputs`: default names, a hash of the input (see
/// `LaunchOptions`).
fn launching(args: LaunchArgs, names_identify_inputs: bool) -> Result<Launching, Error> {
    let usage = |m: String| Error::Usage(m);
    // One call a day is the slowest pace that means anything; a burst of a
    // million calls is already far past any account's bucket.
    if !(args.rate.is_finite() && args.rate >= MIN_RATE) {
        return Err(usage(format!(
            "--rate must be a number of calls per second of at least {MIN_RATE:.7} \
             (one a day), not {}",
            args.rate
        )));
    }
    if args.follow.timeout.is_some() && !args.wait {
        return Err(usage(
            "--timeout bounds the following of --wait: give --wait too, or drop --timeout".into(),
        ));
    }
    if args.burst > MAX_BURST {
        return Err(usage(format!("--burst must be at most {MAX_BURST}")));
    }
    let positive = |name: &str, value: u64| {
        if value == 0 {
            Err(usage(format!("{name} must be at least 1")))
        } else {
            Ok(())
        }
    };
    positive("--burst", args.burst.into())?;
    positive("--concurrency", args.concurrency as u64)?;
    positive("--max-attempts", args.max_attempts.into())?;
    Ok(Launching {
        rate: args.rate,
        burst: NonZeroU32::new(args.burst).expect("checked above"),
        launch: LaunchOptions {
            concurrency: args.concurrency,
            max_attempts: args.max_attempts,
            backoff: Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_secs(20),
            },
            names_identify_inputs,
        },
        max_failures: args
            .max_failures
            .as_deref()
            .map(MaxFailures::parse)
            .transpose()
            .map_err(|e| usage(format!("--max-failures: {e}")))?,
        progress: resolve_progress(args.progress.into()),
        wait: args
            .wait
            .then(|| follow_options(&args.follow))
            .transpose()?,
        max_running: match args.max_running {
            Some(n) if n == 0 || n > MAX_RUNNING => {
                return Err(usage(format!(
                    "--max-running must be between 1 and {MAX_RUNNING}"
                )));
            }
            Some(n) => Some((n, follow_options(&args.follow)?.poll)),
            None => None,
        },
        report_to: report_to(args.report_to)?,
    })
}

impl RunOptions {
    /// The planner of the batch `batch_id` on `state_machine_arn`, with these
    /// templates.
    pub(crate) fn planner(&self, state_machine_arn: &str, batch_id: &str) -> Planner {
        let text = |t: &Option<Sourced<TextTemplate>>| t.as_ref().map(|t| t.template.clone());
        Planner::new(
            state_machine_arn.to_string(),
            batch_id.to_string(),
            self.input_template.as_ref().map(|t| t.template.clone()),
            text(&self.name_template),
        )
        .with_output(text(&self.output_template))
    }

    /// Checks the command-line arguments of `run` or `validate`.
    pub(crate) fn from_args(args: RunArgs) -> Result<RunOptions, Error> {
        let source = sources::source(&args)?;
        RunOptions::with_source(args, source)
    }

    /// The options of `args`, with items from `source` rather than from its flags
    /// (the library's `Batch::items`).
    pub(crate) fn with_source(
        args: RunArgs,
        (source, parse): (Source, ParseOptions),
    ) -> Result<RunOptions, Error> {
        let usage = |m: String| Error::Usage(m);
        let selection = sources::selection(&args, &source)?;
        let Templates {
            output: output_template,
            input: input_template,
            name: name_template,
        } = templates(&args, &source)?;
        let batch_id = args.batch_id.as_deref().map(with_today);
        if let Some(batch) = &batch_id {
            check_name(batch).map_err(|e| usage(format!("--batch-id: {e}")))?;
            if name_template.is_none() && batch.chars().count() > MAX_BATCH_ID_CHARS {
                return Err(usage(format!(
                    "--batch-id is longer than {MAX_BATCH_ID_CHARS} characters: default execution names would exceed 80"
                )));
            }
        }
        let names_identify_inputs = name_template.is_none();
        let distributed_map = DistributedMap::from_args(
            args.engine,
            args.staging,
            args.role_arn,
            args.launch.max_running,
        )?;
        let state_machine = args.state_machine.ok_or_else(|| {
            usage("--state-machine is required (or state_machine in the --job file)".into())
        })?;
        Ok(RunOptions {
            state_machine,
            source,
            parse,
            selection,
            output_template,
            input_template,
            name_template,
            batch_id,
            run_dir: args.run_dir.map(|dir| match dir.to_str() {
                Some(text) => PathBuf::from(with_today(text)),
                None => dir,
            }),
            launching: launching(args.launch, names_identify_inputs)?,
            force_resume: args.force_resume,
            allow_empty: args.allow_empty,
            skip_invalid: args.skip_invalid,
            dry_run: args.dry_run,
            distributed_map,
            aws: aws_options(args.aws)?,
            interrupt: None,
        })
    }
}

/// The templates of a run, with the text each was parsed from.
struct Templates {
    output: Option<Sourced<TextTemplate>>,
    input: Option<Sourced<InputTemplate>>,
    name: Option<Sourced<TextTemplate>>,
}

/// `--output-template`, `--input-template` (a listing has a default one) and
/// `--name-template`, parsed.
fn templates(args: &RunArgs, source: &Source) -> Result<Templates, Error> {
    let usage = |m: String| Error::Usage(m);
    let text_template = |flag: &str, text: &Option<String>| {
        text.clone()
            .map(|text| {
                let template =
                    TextTemplate::parse(&text).map_err(|e| usage(format!("{flag}: {e}")))?;
                Ok::<_, Error>(Sourced { text, template })
            })
            .transpose()
    };
    let output = text_template("--output-template", &args.output_template)?;
    let input = match &args.input_template {
        Some(arg) => Some(read_arg_file(arg)?),
        // A listing's items have many fields; the state machine wants the pair.
        None if matches!(source, Source::Listing(_)) => {
            let output = match output {
                Some(_) => r#", "output": "{output}""#,
                None => "",
            };
            Some(format!(r#"{{"input": "{{input}}"{output}}}"#))
        }
        None => None,
    }
    .map(|text| {
        let template =
            InputTemplate::parse(&text).map_err(|e| usage(format!("--input-template: {e}")))?;
        Ok::<_, Error>(Sourced { text, template })
    })
    .transpose()?;
    let name = text_template("--name-template", &args.name_template)?;
    if name.as_ref().is_some_and(|name| name.template.uses_name()) {
        return Err(usage(
            "--name-template cannot contain {name}, the name itself".into(),
        ));
    }
    Ok(Templates {
        output,
        input,
        name,
    })
}

/// `--engine distributed-map`: what the Distributed Map needs beyond a local
/// launch's settings (which it maps: `--max-running` to MaxConcurrency,
/// `--max-failures` to the tolerated failures, `--wait` to `.sync:2`).
#[derive(Debug, Clone)]
pub(crate) struct DistributedMap {
    /// `--staging`: the staged rows go under it, and the Map Run's results.
    pub staging: S3Prefix,
    /// `--role-arn`: the role the parent state machine runs as.
    pub role_arn: String,
}

impl DistributedMap {
    fn from_args(
        engine: Engine,
        staging: Option<String>,
        role_arn: Option<String>,
        max_running: Option<u64>,
    ) -> Result<Option<DistributedMap>, Error> {
        let usage = |m: &str| Err(Error::Usage(m.to_string()));
        let (staging, role_arn) = match (engine, staging, role_arn) {
            (Engine::Local, None, None) => return Ok(None),
            (Engine::Local, ..) => {
                return usage("--staging and --role-arn go with --engine distributed-map");
            }
            (Engine::DistributedMap, Some(staging), Some(role_arn)) => (staging, role_arn),
            (Engine::DistributedMap, ..) => {
                return usage("--engine distributed-map needs --staging and --role-arn");
            }
        };
        let staging = S3Prefix::parse(&with_today(&staging))
            .map_err(|e| Error::Usage(format!("--staging: {e}")))?;
        if !(role_arn.starts_with("arn:") && role_arn.contains(":role/")) {
            return usage("--role-arn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)");
        }
        if max_running.is_some_and(|n| n > MAX_MAP_CONCURRENCY) {
            return Err(Error::Usage(format!(
                "--max-running must be at most {MAX_MAP_CONCURRENCY} with --engine \
                 distributed-map (a Distributed Map's largest MaxConcurrency)"
            )));
        }
        Ok(Some(DistributedMap { staging, role_arn }))
    }
}

/// A Distributed Map runs at most this many child workflows at once.
const MAX_MAP_CONCURRENCY: u64 = 10_000;

/// `sfn-batch watch`.
#[derive(Debug, Clone)]
pub(crate) struct WatchOptions {
    /// The run dir of the run to follow.
    pub run_dir: PathBuf,
    /// How long to follow, and how often to look.
    pub follow: FollowOptions,
    /// The progress display, never `Auto`.
    pub progress: ProgressMode,
    /// `--report-to`, `{date}` filled in.
    pub report_to: Option<ReportTo>,
    /// Where and as whom to call AWS.
    pub aws: AwsOptions,
}

impl WatchOptions {
    /// Checks the command-line arguments of `watch`.
    pub(crate) fn from_args(args: WatchArgs) -> Result<WatchOptions, Error> {
        Ok(WatchOptions {
            run_dir: args.run_dir,
            follow: follow_options(&args.follow)?,
            progress: resolve_progress(args.progress.into()),
            report_to: report_to(args.report_to)?,
            aws: aws_options(args.aws)?,
        })
    }
}

/// `--report-to`, `{date}` filled in.
fn report_to(arg: Option<String>) -> Result<Option<ReportTo>, Error> {
    arg.map(|url| {
        ReportTo::parse(&with_today(&url)).map_err(|e| Error::Usage(format!("--report-to: {e}")))
    })
    .transpose()
}

/// `sfn-batch retry`.
#[derive(Debug, Clone)]
pub(crate) struct RetryOptions {
    /// The run dir of the run to retry.
    pub run_dir: PathBuf,
    /// `--redrive`: redrive closed executions rather than start them again.
    pub redrive: bool,
    /// `--only-status`: which rows to launch again.
    pub only: RetrySet,
    /// How rows are launched and followed.
    pub launching: Launching,
    /// Where and as whom to call AWS.
    pub aws: AwsOptions,
}

/// Which rows `retry` launches again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetrySet {
    /// Rows that failed to start.
    pub start_failed: bool,
    /// Executions that ended FAILED.
    pub failed: bool,
    /// Executions that ended TIMED_OUT.
    pub timed_out: bool,
    /// Executions that ended ABORTED.
    pub aborted: bool,
    /// Executions AWS does not know.
    pub unknown: bool,
}

impl RetrySet {
    pub(crate) fn parse(statuses: &[String]) -> Result<RetrySet, String> {
        if statuses.is_empty() {
            return Ok(RetrySet {
                start_failed: true,
                failed: true,
                timed_out: true,
                aborted: true,
                unknown: false,
            });
        }
        let mut set = RetrySet {
            start_failed: false,
            failed: false,
            timed_out: false,
            aborted: false,
            unknown: false,
        };
        for status in statuses {
            let flag = match status.trim().to_ascii_uppercase().as_str() {
                "START_FAILED" => &mut set.start_failed,
                "FAILED" => &mut set.failed,
                "TIMED_OUT" => &mut set.timed_out,
                "ABORTED" => &mut set.aborted,
                "UNKNOWN" => &mut set.unknown,
                _ => {
                    return Err(format!(
                        "`{status}` is not one of FAILED, TIMED_OUT, ABORTED, UNKNOWN, START_FAILED"
                    ));
                }
            };
            *flag = true;
        }
        Ok(set)
    }

    /// Whether an execution that ended so (AWS's word) is retried.
    pub(crate) fn has_ended(&self, final_status: &FinalStatus) -> bool {
        match final_status {
            FinalStatus::Failed => self.failed,
            FinalStatus::TimedOut => self.timed_out,
            FinalStatus::Aborted => self.aborted,
            FinalStatus::Unknown => self.unknown,
            _ => false,
        }
    }
}

impl RetryOptions {
    /// Checks the command-line arguments of `retry`.
    pub(crate) fn from_args(args: RetryArgs) -> Result<RetryOptions, Error> {
        Ok(RetryOptions {
            run_dir: args.run_dir,
            redrive: args.redrive,
            only: RetrySet::parse(&args.only_status)
                .map_err(|e| Error::Usage(format!("--only-status: {e}")))?,
            // The run dir's names are checked again before each launch; whether
            // they are default names is settled there.
            launching: launching(args.launch, false)?,
            aws: aws_options(args.aws)?,
        })
    }
}

/// `sfn-batch status`.
#[derive(Debug, Clone)]
pub(crate) struct StatusOptions {
    /// The run dir of the run to show.
    pub run_dir: PathBuf,
    /// Where and as whom to call AWS.
    pub aws: AwsOptions,
}

impl StatusOptions {
    /// Checks the command-line arguments of `status`.
    pub(crate) fn from_args(args: StatusArgs) -> Result<StatusOptions, Error> {
        Ok(StatusOptions {
            run_dir: args.run_dir,
            aws: aws_options(args.aws)?,
        })
    }
}

fn aws_options(args: AwsArgs) -> Result<AwsOptions, Error> {
    Ok(AwsOptions {
        region: args.region,
        profile: args.profile,
        call_timeout: seconds("--call-timeout", args.call_timeout)?,
        outage_budget: parse_duration(&args.outage_budget)
            .map_err(|e| Error::Usage(format!("--outage-budget: {e}")))?,
    })
}

/// `auto` becomes a bar when stderr is a terminal read by a person, plain lines
/// otherwise. Under `--log-format json` or `-q` there is never a bar: every line
/// must be JSON, or nothing but warnings.
pub(crate) fn resolve_progress(mode: ProgressMode) -> ProgressMode {
    match mode {
        ProgressMode::Auto | ProgressMode::Bar if !crate::output::log::for_people() => {
            ProgressMode::Lines
        }
        ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
        ProgressMode::Auto => ProgressMode::Lines,
        other => other,
    }
}

/// A positive number of seconds.
fn seconds(flag: &str, value: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{flag} must be a positive number of seconds, not {value}"
            ))
        })
}

/// `90s`, `30m`, `2h`, `1h 30m`, or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("expected a duration such as 90s, 30m or 2h, not `{text}`");
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let duration: jiff::SignedDuration = text.parse().map_err(|_| bad())?;
    Duration::try_from(duration).map_err(|_| bad())
}

/// The slowest `--rate`: one call a day.
const MIN_RATE: f64 = 1.0 / 86_400.0;
/// The largest `--max-running` (AWS allows a million open executions).
const MAX_RUNNING: u64 = 1_000_000;
/// The largest `--burst`.
const MAX_BURST: u32 = 1_000_000;

/// `{date}` in a batch id, run dir or `--report-to` becomes today's date in UTC (2026-11-28), so
/// that a nightly job file gets a new batch and run dir each night.
/// The date is taken once per process, so a job started just before midnight
/// does not get two dates.
fn with_today(text: &str) -> String {
    static TODAY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let today = TODAY.get_or_init(|| {
        let now = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now());
        now.date().to_string()
    });
    text.replace("{date}", today)
}

/// `@path` → the file's content; anything else as given.
fn read_arg_file(arg: &str) -> Result<String, Error> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("cannot read {path}: {e}"))),
        None => Ok(arg.to_string()),
    }
}

/// `--timeout` and `--poll`, checked.
fn follow_options(args: &FollowArgs) -> Result<FollowOptions, Error> {
    let timeout = args
        .timeout
        .as_deref()
        .map(|t| parse_duration(t).map_err(|e| Error::Usage(format!("--timeout: {e}"))))
        .transpose()?;
    Ok(FollowOptions {
        timeout,
        poll: seconds("--poll", args.poll)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_failures_is_a_count_or_a_percentage() {
        assert_eq!(MaxFailures::parse("10"), Ok(MaxFailures::Count(10)));
        assert_eq!(MaxFailures::parse("2.5%"), Ok(MaxFailures::Percent(2.5)));
        for bad in ["0", "0%", "101%", "-1", "x", "%"] {
            assert!(MaxFailures::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(MaxFailures::Count(3).limit(1000), 3);
        assert_eq!(MaxFailures::Percent(1.0).limit(1000), 10);
        assert_eq!(MaxFailures::Percent(1.0).limit(150), 2);
        assert_eq!(MaxFailures::Percent(1.0).limit(10), 1);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
    }
}
