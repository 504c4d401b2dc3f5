//! Validated, typed settings for a run, made once from the command-line arguments.
//! Terminal-dependent defaults are decided here and nowhere else.

use std::io::IsTerminal;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use crate::aws::AwsOptions;
use crate::cli::RunArgs;
use crate::error::Error;
use crate::launcher::{Backoff, LaunchOptions};
use crate::plan::{MAX_BATCH_ID_CHARS, check_name};
use crate::progress::ProgressMode;
use crate::source::{Format, Location, ParseOptions};
use crate::template::{InputTemplate, TextTemplate};

/// A template with the text it was parsed from (recorded in the run dir).
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub text: String,
    pub template: T,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub state_machine: String,
    pub manifest: Location,
    pub parse: ParseOptions,
    pub input_template: Option<Sourced<InputTemplate>>,
    pub name_template: Option<Sourced<TextTemplate>>,
    pub batch_id: Option<String>,
    pub run_dir: Option<PathBuf>,
    pub rate: f64,
    pub burst: NonZeroU32,
    pub launch: LaunchOptions,
    pub max_failures: Option<MaxFailures>,
    pub force_resume: bool,
    pub allow_empty: bool,
    pub skip_invalid: bool,
    pub dry_run: bool,
    /// Never `Auto`: resolved here.
    pub progress: ProgressMode,
    pub aws: AwsOptions,
}

impl RunOptions {
    pub fn from_args(args: RunArgs) -> Result<RunOptions, Error> {
        let usage = |m: String| Error::Usage(m);
        let manifest = Location::parse(&args.manifest);
        let format = match (args.format, &manifest) {
            (Some(format), _) => format,
            (None, Location::Stdin) => {
                return Err(usage(
                    "--format is required when the manifest is stdin".into(),
                ));
            }
            (None, location) => Format::from_name(&location.display_name()).ok_or_else(|| {
                usage(format!(
                    "cannot tell the format of {} from its name; pass --format csv|json|jsonl",
                    location.display_name()
                ))
            })?,
        };
        if !args.delimiter.is_ascii() {
            return Err(usage(format!(
                "--delimiter {:?} must be one ASCII character",
                args.delimiter
            )));
        }
        let input_template = args
            .input_template
            .map(|arg| {
                let text = read_arg_file(&arg)?;
                let template = InputTemplate::parse(&text)
                    .map_err(|e| usage(format!("--input-template: {e}")))?;
                Ok::<_, Error>(Sourced { text, template })
            })
            .transpose()?;
        let name_template = args
            .name_template
            .map(|text| {
                let template = TextTemplate::parse(&text)
                    .map_err(|e| usage(format!("--name-template: {e}")))?;
                if template.uses_name() {
                    return Err(usage(
                        "--name-template cannot contain {name}, the name itself".into(),
                    ));
                }
                Ok(Sourced { text, template })
            })
            .transpose()?;
        if let Some(batch) = &args.batch_id {
            check_name(batch).map_err(|e| usage(format!("--batch-id: {e}")))?;
            if name_template.is_none() && batch.chars().count() > MAX_BATCH_ID_CHARS {
                return Err(usage(format!(
                    "--batch-id is longer than {MAX_BATCH_ID_CHARS} characters: default execution names would exceed 80"
                )));
            }
        }
        if !(args.rate.is_finite() && args.rate > 0.0) {
            return Err(usage(format!(
                "--rate must be a positive number, not {}",
                args.rate
            )));
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
        if !(args.call_timeout.is_finite() && args.call_timeout > 0.0) {
            return Err(usage(format!(
                "--call-timeout must be a positive number of seconds, not {}",
                args.call_timeout
            )));
        }
        let progress = match args.progress {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        };
        Ok(RunOptions {
            state_machine: args.state_machine,
            manifest,
            parse: ParseOptions {
                format,
                delimiter: args.delimiter as u8,
            },
            input_template,
            name_template,
            batch_id: args.batch_id,
            run_dir: args.run_dir,
            rate: args.rate,
            burst: NonZeroU32::new(args.burst).expect("checked above"),
            launch: LaunchOptions {
                concurrency: args.concurrency,
                max_attempts: args.max_attempts,
                backoff: Backoff {
                    base: Duration::from_millis(100),
                    max: Duration::from_secs(20),
                },
            },
            max_failures: args
                .max_failures
                .as_deref()
                .map(MaxFailures::parse)
                .transpose()
                .map_err(|e| usage(format!("--max-failures: {e}")))?,
            force_resume: args.force_resume,
            allow_empty: args.allow_empty,
            skip_invalid: args.skip_invalid,
            dry_run: args.dry_run,
            progress,
            aws: AwsOptions {
                region: args.region,
                profile: args.profile,
                call_timeout: Duration::from_secs_f64(args.call_timeout),
            },
        })
    }
}

/// `--max-failures`: how many rows may fail to start before the run stops starting
/// new ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFailures {
    Count(u64),
    Percent(f64),
}

impl MaxFailures {
    fn parse(text: &str) -> Result<MaxFailures, String> {
        let bad = || format!("expected a count (10) or a percentage (2.5%), not `{text}`");
        match text.strip_suffix('%') {
            Some(percent) => match percent.trim().parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => Ok(MaxFailures::Percent(p)),
                _ => Err(bad()),
            },
            None => match text.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(MaxFailures::Count(n)),
                _ => Err(bad()),
            },
        }
    }

    /// The number of failures that stops a run launching `rows` rows (at least 1).
    pub fn limit(self, rows: u64) -> u64 {
        match self {
            MaxFailures::Count(n) => n,
            MaxFailures::Percent(p) => ((rows as f64 * p / 100.0).ceil() as u64).max(1),
        }
    }
}

/// `@path` → the file's content; anything else as given.
fn read_arg_file(arg: &str) -> Result<String, Error> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("cannot read {path}: {e}"))),
        None => Ok(arg.to_string()),
    }
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
}
