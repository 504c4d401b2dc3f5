//! sfn-batch: start AWS Step Functions executions in bulk.
//!
//! The library's API is [`Batch`]: a batch built in code and launched exactly as
//! `sfn-batch run` launches one. Everything else is internal; ARCHITECTURE.md is
//! the map of the layers below it (`model` at the bottom, then `aws`, `plan`,
//! `record`, `output`, `launch`, `fanout`, `cli`, `commands`).

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod api;
mod aws;
mod cli;
mod commands;
mod error;
mod fanout;
mod launch;
mod live;
mod model;
mod output;
mod plan;
mod record;

pub use api::Batch;
pub use error::Error;
pub use model::counts::{Calls, Counts, Ends, Followed};
pub use model::final_status::FinalStatus;
pub use model::outage::Outages;
pub use model::outcome::{Outcome, Status};
pub use model::pacing::Pacing;
pub use output::progress::ProgressMode;
pub use record::report::Attention;
pub use record::summary::{Summary, ThisRun};

/// The door to the internals that the binary, the fuzz targets and the examples
/// use. Not a stable API: it changes with the code behind it.
#[doc(hidden)]
pub mod internals {
    pub use crate::cli::{Parsed, parse};
    pub use crate::commands::{execute, exit_code};
    pub use crate::output::log::{LogFormat, init as init_logs};

    /// Planning rows without AWS.
    pub mod plan {
        pub use crate::plan::duplicates::NameSpill;
        pub use crate::plan::{MAX_INPUT_BYTES, Planner, check_name};
    }

    /// Reading manifests.
    pub mod source {
        pub use crate::model::rows::{Fields, Item};
        pub use crate::plan::source::{
            Flow, Format, Location, ManifestFile, ParseOptions, for_each_item, read_items,
        };
    }

    /// The live path: an S3 object's row, as the backfill's listing makes it.
    pub mod live {
        #[cfg(feature = "lambda")]
        pub use crate::live::event::{News, Notice, notices};
        #[cfg(feature = "lambda")]
        pub use crate::live::handler::{Invocation, Live, time_left};
        pub use crate::live::{Decision, LivePlan, NewObject};
    }

    /// Templates.
    pub mod template {
        pub use crate::plan::template::{Context, InputTemplate, TextTemplate};
    }
}
