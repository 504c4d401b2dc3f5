//! sfn-batch: start AWS Step Functions executions in bulk.
//!
//! The flow runs one way: a manifest `source` yields items, the `plan` renders
//! and checks each one, the `launcher` starts them under a rate limit, and the
//! `outcome`s feed the sinks (`runlog`, `report`, `progress`, `summary`). With
//! `--engine distributed-map`, `fanout` hands the planned rows to a Step Functions
//! Distributed Map instead of the launcher, and reads its results back as outcomes.

#![warn(missing_docs)]

pub mod api;
pub mod aws;
// Serves the binary (src/main.rs) only.
#[doc(hidden)]
pub mod cli;
pub mod duplicates;
pub mod error;
pub mod fanout;
pub mod html;
// Serves the binary (src/main.rs) only.
#[doc(hidden)]
pub mod inspect;
// Serves the binary (src/main.rs) only.
#[doc(hidden)]
pub mod job;
pub mod launch;
pub mod launcher;
pub mod log;
pub mod options;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod publish;
pub mod rate;
pub mod render;
pub mod report;
// Serves the binary (src/main.rs) only.
#[doc(hidden)]
pub mod retry;
pub mod run;
pub mod runlog;
pub mod sfn;
pub mod source;
pub mod spill;
pub mod summary;
pub mod template;
pub mod watch;

pub use api::Batch;
pub use error::Error;
pub use options::RunOptions;
pub use run::{Finished, run, validate};
