//! Job files: the options of `run` kept in a TOML file (`--job nightly.toml`).
//!
//! A job file is the command line written down. Each key is a long flag of `run`
//! in snake_case (`state_machine`, `input_template`, `max_running`), and becomes
//! that flag, checked by the flag's own parser, so a job file can say nothing a
//! command line cannot. A flag given on the command line, or by its `SFN_BATCH_*`
//! environment variable, wins over the file. Relative paths in the file are
//! relative to the file, so a cron job runs the same from any directory.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches, Parser};

use crate::cli::args::Cli;
use crate::error::Error;
use crate::plan::suggest;

/// The flag of `run` and `validate` that names a job file.
const JOB: &str = "job";

/// The command line, with the flags of its job file (if `--job` names one) after
/// those given. `matches` is the command line as clap parsed it from `args`.
pub(crate) fn with_job_file(args: Vec<OsString>, matches: &ArgMatches) -> Result<Cli, Error> {
    let job = matches
        .subcommand()
        .and_then(|(name, sub)| Some((name, sub, sub.try_get_one::<PathBuf>(JOB).ok()??)));
    let Some((name, sub_matches, job)) = job else {
        return Ok(Cli::from_arg_matches(matches).unwrap_or_else(|e| e.exit()));
    };
    let command = Cli::command();
    let sub_command = command
        .find_subcommand(name)
        .expect("clap found this subcommand");
    let flags = JobFile::read(job)?.flags(sub_command, sub_matches)?;
    // No flag is given twice (the file's are only those not given), and `run` has
    // no positional arguments, so the file's flags can simply follow.
    let all = args.into_iter().chain(flags);
    Cli::try_parse_from(all).map_err(|e| {
        let text = e.to_string();
        Error::Usage(text.trim().trim_start_matches("error: ").to_string())
    })
}

/// A job file, read and parsed.
struct JobFile {
    path: PathBuf,
    text: String,
    table: Vec<(String, toml::Spanned<toml::Value>)>,
}

impl JobFile {
    fn read(path: &Path) -> Result<JobFile, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("cannot read job file {}: {e}", path.display())))?;
        let table: BTreeMap<String, toml::Spanned<toml::Value>> = toml::from_str(&text)
            .map_err(|e| Error::Usage(format!("job file {}: {e}", path.display())))?;
        // In the file's order, so that the first bad key is the one reported.
        let mut table: Vec<_> = table.into_iter().collect();
        table.sort_by_key(|(_, value)| value.span().start);
        Ok(JobFile {
            path: path.to_path_buf(),
            text,
            table,
        })
    }

    /// Every key that is not a flag of `command`, one a line, with the closest
    /// flag where one is close.
    fn check_keys(&self, command: &Command) -> Result<(), Error> {
        let keys: Vec<&str> = command
            .get_arguments()
            .filter(|arg| arg.get_long().is_some() && arg.get_id() != JOB)
            .map(|arg| arg.get_id().as_str())
            .collect();
        let unknown: Vec<String> = (self.table.iter())
            .filter(|(key, _)| !keys.contains(&key.as_str()))
            .map(|(key, value)| {
                let hint = suggest::closest(key, keys.iter().copied())
                    .map_or(String::new(), |name| format!(" (did you mean `{name}`?)"));
                format!(
                    "job file {}:{}: unknown key `{key}`{hint}",
                    self.path.display(),
                    self.line(value)
                )
            })
            .collect();
        match unknown.is_empty() {
            true => Ok(()),
            false => Err(Error::Usage(format!(
                "{}\nthe keys are the long flags of `sfn-batch run`, in snake_case: \
                 state_machine, input_template, max_running...",
                unknown.join("\n")
            ))),
        }
    }

    /// The flags this file gives `command`, leaving out those `given` already has
    /// from the command line or the environment, and those a given flag excludes
    /// (`--dates` on the command line wins over the file's `manifest`).
    fn flags(&self, command: &Command, given: &ArgMatches) -> Result<Vec<OsString>, Error> {
        let given: Vec<&Arg> = command
            .get_arguments()
            .filter(|arg| {
                matches!(
                    given.value_source(arg.get_id().as_str()),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            })
            .collect();
        self.check_keys(command)?;
        let mut flags = Vec::new();
        for (key, value) in &self.table {
            let line = self.line(value);
            let error = |message: String| {
                Error::Usage(format!(
                    "job file {}:{line}: {message}",
                    self.path.display()
                ))
            };
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_id() == key.as_str() && arg.get_long().is_some())
                .expect("the keys are checked");
            if given.iter().any(|other| excludes(command, other, arg)) {
                continue;
            }
            let long = format!("--{}", arg.get_long().expect("filtered above"));
            let values = match (arg.get_action(), value.get_ref()) {
                (ArgAction::SetTrue, toml::Value::Boolean(true)) => {
                    flags.push(OsString::from(long));
                    continue;
                }
                (ArgAction::SetTrue, toml::Value::Boolean(false)) => continue,
                (ArgAction::SetTrue, _) => {
                    return Err(error(format!("`{key}` is true or false")));
                }
                (ArgAction::Append, toml::Value::Array(values)) => values.iter().collect(),
                (_, toml::Value::Array(_)) => {
                    return Err(error(format!("`{key}` takes one value, not a list")));
                }
                (_, value) => vec![value],
            };
            for value in values {
                let value = self.value_of(key, value).map_err(error)?;
                check_value(arg, &value).map_err(|e| error(format!("`{key}`: {e}")))?;
                let mut flag = OsString::from(format!("{long}="));
                flag.push(value);
                flags.push(flag);
            }
        }
        Ok(flags)
    }

    /// A value as its flag would take it: a table as JSON (an input template
    /// written as TOML), a relative path made relative to the job file.
    fn value_of(&self, key: &str, value: &toml::Value) -> Result<OsString, String> {
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Table(_) => to_json(value).to_string(),
            toml::Value::Array(_) => return Err(format!("`{key}` holds a list in a list")),
            other => other.to_string(),
        };
        let (at, path) = match (key, text.strip_prefix('@')) {
            ("input_template", Some(path)) => ("@", path),
            ("manifest" | "run_dir", _) => ("", text.as_str()),
            _ => return Ok(text.into()),
        };
        if path == "-" || path.starts_with("s3://") || Path::new(path).is_absolute() {
            return Ok(text.into());
        }
        let mut value = OsString::from(at);
        value.push(self.path.parent().unwrap_or(Path::new("")).join(path));
        Ok(value)
    }

    fn line(&self, value: &toml::Spanned<toml::Value>) -> usize {
        1 + self.text[..value.span().start].matches('\n').count()
    }
}

/// Whether `given` (on the command line or in the environment) leaves out the
/// file's `arg`: it is the same flag, or the two exclude each other.
fn excludes(command: &Command, given: &Arg, arg: &Arg) -> bool {
    let conflict = |a: &Arg, b: &Arg| {
        command
            .get_arg_conflicts_with(a)
            .iter()
            .any(|c| c.get_id() == b.get_id())
    };
    given.get_id() == arg.get_id() || conflict(given, arg) || conflict(arg, given)
}

/// Checks a value with its flag's own value parser alone (not the flags it
/// requires or excludes), so that a bad value is reported with its line.
fn check_value(arg: &Arg, value: &OsString) -> Result<(), String> {
    let mut probe = Arg::new(arg.get_id().clone())
        .value_parser(arg.get_value_parser().clone())
        .allow_hyphen_values(true)
        .required(true);
    if let Some(names) = arg.get_value_names() {
        probe = probe.value_names(names.to_vec());
    }
    Command::new("sfn-batch")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from([value])
        .map(drop)
        .map_err(|e| clap_message(&e))
}

/// Clap's message, without its `error: ` prefix and the usage lines after it.
pub(crate) fn clap_message(error: &clap::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// A TOML value as JSON, dates as their text.
fn to_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(values) => Value::Array(values.iter().map(to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(key, value)| (key.clone(), to_json(value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags `text` adds to `sfn-batch run <given>`, the file in `folder`.
    fn flags(text: &str, given: &[&str]) -> Result<Vec<String>, String> {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("job.toml");
        std::fs::write(&path, text).unwrap();
        let command = Cli::command();
        let matches = command
            .clone()
            .try_get_matches_from(["sfn-batch", "run"].iter().chain(given))
            .unwrap();
        let run = command.find_subcommand("run").unwrap();
        let job = JobFile::read(&path).map_err(|e| e.to_string())?;
        let flags = job
            .flags(run, matches.subcommand_matches("run").unwrap())
            .map_err(|e| e.to_string().replace(&path.display().to_string(), "JOB"))?;
        let folder = folder.path().display().to_string();
        Ok(flags
            .iter()
            .map(|f| f.to_string_lossy().replace(&folder, "DIR"))
            .collect())
    }

    #[test]
    fn keys_become_flags_in_file_order() {
        let text = r#"
state_machine = "etl"
rate = 2.5
concurrency = 4
wait = true
skip_invalid = false
include = ["*.csv", "*.json"]
modified_after = 2024-01-01
input_template = { Input = "{input}", Retries = 3 }
"#;
        assert_eq!(
            flags(text, &[]).unwrap(),
            [
                "--state-machine=etl",
                "--rate=2.5",
                "--concurrency=4",
                "--wait",
                "--include=*.csv",
                "--include=*.json",
                "--modified-after=2024-01-01",
                r#"--input-template={"Input":"{input}","Retries":3}"#,
            ]
        );
    }

    #[test]
    fn flags_given_leave_out_the_file_s_value() {
        let text = "rate = 2\nconcurrency = 4\n";
        assert_eq!(flags(text, &["--rate", "9"]).unwrap(), ["--concurrency=4"]);
    }

    #[test]
    fn a_source_given_leaves_out_the_file_s_source() {
        let text = "manifest = \"rows.csv\"\nrecursive = true\nrate = 2\n";
        let given = ["--dates", "2024-01-01..2024-01-02", "--delimiter", "/"];
        assert_eq!(flags(text, &given).unwrap(), ["--rate=2"]);
    }

    #[test]
    fn a_flag_that_needs_another_is_checked_alone() {
        let text = "dates = \"2024-01-01..2024-01-03\"\nevery = \"1d\"\n";
        assert_eq!(
            flags(text, &[]).unwrap(),
            ["--dates=2024-01-01..2024-01-03", "--every=1d"]
        );
        let table = "input_template = { z = \"{a}\", a = 2024-01-01 }\n";
        assert_eq!(
            flags(table, &[]).unwrap(),
            [r#"--input-template={"z":"{a}","a":"2024-01-01"}"#]
        );
    }

    #[test]
    fn relative_paths_are_the_job_file_s() {
        let text = r#"
manifest = "rows.csv"
input_template = "@template.json"
run_dir = "runs/{date}"
"#;
        assert_eq!(
            flags(text, &[]).unwrap(),
            [
                "--manifest=DIR/rows.csv",
                "--input-template=@DIR/template.json",
                "--run-dir=DIR/runs/{date}",
            ]
        );
        let kept = "manifest = \"s3://b/k.csv\"\nrun_dir = \"/var/runs\"\n";
        assert_eq!(
            flags(kept, &[]).unwrap(),
            ["--manifest=s3://b/k.csv", "--run-dir=/var/runs"]
        );
        let inline = "input_template = '{\"a\": \"{b}\"}'\n";
        assert_eq!(
            flags(inline, &[]).unwrap(),
            [r#"--input-template={"a": "{b}"}"#]
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let cases = [
            ("rate = 5\n\nrat = 5\n", "JOB:3: unknown key `rat`"),
            ("job = \"other.toml\"\n", "JOB:1: unknown key `job`"),
            (
                "rate = \"fast\"\n",
                "JOB:1: `rate`: invalid value 'fast' for '<RATE>'",
            ),
            ("wait = 1\n", "JOB:1: `wait` is true or false"),
            (
                "rate = [1, 2]\n",
                "JOB:1: `rate` takes one value, not a list",
            ),
        ];
        for (text, expected) in cases {
            let error = flags(text, &[]).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let error = flags("concurency = 4\nrate = 5\nwaitt = true\n", &[]).unwrap_err();
        let lines: Vec<&str> = error.lines().collect();
        assert!(
            lines[0].ends_with("JOB:1: unknown key `concurency` (did you mean `concurrency`?)"),
            "{error}"
        );
        assert!(
            lines[1].ends_with("JOB:3: unknown key `waitt` (did you mean `wait`?)"),
            "{error}"
        );
        let error = flags("rate = \n", &[]).unwrap_err();
        assert!(
            error.contains("job file") && error.contains("line 1"),
            "{error}"
        );
    }
}
