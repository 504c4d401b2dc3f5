use std::process::ExitCode;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches};
use sfn_batch::cli::{Cli, Command, LogArgs};
use sfn_batch::options::{RetryOptions, StatusOptions, WatchOptions};
use sfn_batch::{Error, Finished, RunOptions};
use sfn_batch::{inspect, job, log};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Clap's own errors, --help and --version exit here.
    let matches = Cli::command().get_matches_from(&args);
    let log = LogArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    log::init(log.verbosity(), log.log_format);
    let result = job::with_job_file(args, &matches).and_then(run);
    ExitCode::from(exit_code(result) as u8)
}

fn run(cli: Cli) -> Result<Finished, Error> {
    let runtime = || tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match cli.command {
        Command::Run(args) => RunOptions::from_args(*args)
            .and_then(|options| runtime().block_on(sfn_batch::run(options))),
        Command::Validate(args) => RunOptions::from_args(*args)
            .and_then(|options| runtime().block_on(sfn_batch::validate(options))),
        Command::Watch(args) => WatchOptions::from_args(args)
            .and_then(|options| runtime().block_on(inspect::watch(options))),
        Command::Status(args) => StatusOptions::from_args(args)
            .and_then(|options| runtime().block_on(inspect::status(options))),
        Command::Report(args) => inspect::report(&args),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "sfn-batch", &mut std::io::stdout());
            Ok(Finished::Printed)
        }
        Command::Man { dir } => clap_mangen::generate_to(Cli::command(), &dir)
            .map(|()| Finished::Printed)
            .map_err(Error::run(format!(
                "writing man pages into {}",
                dir.display()
            ))),
        Command::Retry(args) => RetryOptions::from_args(*args)
            .and_then(|options| runtime().block_on(sfn_batch::retry::retry(options))),
    }
}

/// The one place where how a command ended becomes an exit code.
fn exit_code(result: Result<Finished, Error>) -> i32 {
    match result {
        Ok(finished) => finished.exit_code(),
        Err(error) => {
            tracing::error!("{error}");
            error.exit_code()
        }
    }
}

/// The AWS SDK allocates a great deal per call: with mimalloc a start takes about
/// 20% less CPU than with the system allocator (295 against 370 ms per 1,000
/// starts, `SFN_BATCH_BENCH=launch cargo bench --bench launch`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
