//! `sfn-batch-lambda`: the live path as an AWS Lambda function. It speaks the
//! Lambda Runtime API (a `provided.al2023` function on AWS, or any Runtime API
//! emulator), reads the job file that `SFN_BATCH_JOB` names, as `run --job` does,
//! and starts each new object's execution under the name a backfill gives it
//! (docs/live-path.md).
//!
//! It keeps the system allocator, not the command line's mimalloc: side by side
//! under the live benchmark (three alternating runs, 1,000 records each), mimalloc
//! took 90-110 ms of CPU against 140-150, but peaked at 25 MiB against 15. A batch
//! of ten records costs a millisecond of CPU either way; the memory is a
//! function's whole size.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use sfn_batch::internals::live::{Live, time_left};
use sfn_batch::internals::{LogFormat, init_logs};

#[tokio::main]
async fn main() -> ExitCode {
    init_logs(verbosity(), LogFormat::Json);
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        // One JSON line at level ERROR, as every other line: a bad job file (its
        // file and line in the message) fails the init, and Lambda's logs show why.
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the job, then answers invocations until the Runtime API goes away.
async fn serve() -> Result<(), lambda_runtime::Error> {
    let job = std::env::var_os("SFN_BATCH_JOB").ok_or("SFN_BATCH_JOB names no job file")?;
    let live = Live::from_job(&PathBuf::from(job)).await?;
    let live: &'static Live = Box::leak(Box::new(live));
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let left = time_left(event.context.deadline(), SystemTime::now());
        live.handle(event.payload, Instant::now() + left).await
    }))
    .await
}

/// Lambda's log level (`AWS_LAMBDA_LOG_LEVEL`, set by its logging controls) as
/// sfn-batch's verbosity.
fn verbosity() -> i8 {
    match std::env::var("AWS_LAMBDA_LOG_LEVEL").as_deref() {
        Ok("ERROR" | "FATAL") => -2,
        Ok("WARN") => -1,
        Ok("DEBUG") => 1,
        Ok("TRACE") => 2,
        _ => 0,
    }
}
