//! The live path: one new S3 object at a time, as S3's event notifications bring
//! them, with the same job file as `run --job` over the prefix. Each object becomes
//! exactly the row a backfill's listing would make of it, rendered by the same
//! templates under the same batch id, so that both find the same execution name:
//! whichever comes second finds it `existing`.
//!
//! This module decides the row of an object (`LivePlan`); with the feature
//! `lambda`, `event` reads the events that bring objects and `handler` starts
//! them, for the function `sfn-batch-lambda` (src/bin/sfn-batch-lambda.rs).

#[cfg(feature = "lambda")]
pub(crate) mod event;
#[cfg(feature = "lambda")]
pub(crate) mod handler;

use std::ffi::OsString;
use std::path::Path;

use jiff::Timestamp;

use crate::cli::args::Command;
use crate::cli::options::RunOptions;
use crate::error::Error;
use crate::model::rows::{Item, Planned};
use crate::plan::source::{Entry, Listing, Object, SkipReason, Source, identity_of};
use crate::plan::{Planner, default_batch_id};

/// A new object, as an event tells of it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewObject {
    /// Its bucket.
    pub bucket: String,
    /// Decoded: S3 notifications encode keys as URLs, with `+` for a space.
    pub key: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its ETag, quoted or not.
    pub etag: String,
    /// Events do not carry it (their time is the event's, not the object's):
    /// HeadObject gives it, when `LivePlan::needs_last_modified` says it matters.
    pub last_modified: Option<Timestamp>,
}

/// What becomes of a new object.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The row, planned: start it (an invalid row is `Planned`'s error).
    Row(Planned),
    /// Not a row of this job, and why (outside its prefix, left out by a filter).
    Skipped(String),
}

/// The job's listing and planner, for one object at a time.
pub struct LivePlan {
    listing: Listing,
    planner: Planner,
}

impl LivePlan {
    /// The job file's plan for `state_machine_arn` (resolved, as a run resolves
    /// `state_machine`): it must list an S3 prefix (`s3_prefix`), without a
    /// delimiter, and not ask for a dry run. Keys that mean nothing here (rate,
    /// concurrency, run dir, wait) are read and checked as for `run`, then ignored.
    pub fn from_job(job: &Path, state_machine_arn: &str) -> Result<LivePlan, Error> {
        LivePlan::new(&run_options(job)?, state_machine_arn)
    }

    pub(crate) fn new(options: &RunOptions, state_machine_arn: &str) -> Result<LivePlan, Error> {
        let Source::Listing(listing) = &options.source else {
            return Err(Error::Usage(
                "the live path takes the objects of an S3 prefix: the job needs s3_prefix".into(),
            ));
        };
        if listing.delimiter.is_some() {
            return Err(Error::Usage(
                "the live path starts objects, not common prefixes: drop delimiter".into(),
            ));
        }
        // Refused, not ignored as `rate` is: ignoring it would start executions
        // that the job file says not to.
        if options.dry_run {
            return Err(Error::Usage(
                "the live path has no dry run, and would start executions: drop dry_run \
                 (`sfn-batch validate --job` checks a job without AWS)"
                    .into(),
            ));
        }
        let batch_id = options.batch_id.clone().unwrap_or_else(|| {
            let identity = identity_of(&listing.identity);
            default_batch_id(&listing.short_name, &identity, state_machine_arn)
        });
        Ok(LivePlan {
            planner: options.planner(state_machine_arn, &batch_id),
            listing: (**listing).clone(),
        })
    }

    /// Whether an object's LastModified decides anything (a template or a
    /// `modified_after`/`modified_before` filter uses it): then HeadObject must
    /// give it, since events do not.
    pub fn needs_last_modified(&self) -> bool {
        let filter = &self.listing.filter;
        filter.modified_after.is_some()
            || filter.modified_before.is_some()
            || self.planner.uses_field("last_modified")
    }

    /// The row a listing of the job's prefix makes of `object`, planned; or why
    /// the listing would leave it out.
    pub fn decide(&self, object: &NewObject) -> Decision {
        let listing = &self.listing;
        if object.bucket != listing.bucket {
            return Decision::Skipped(format!("not in bucket {}", listing.bucket));
        }
        let Some((prefix, extra)) =
            (listing.prefixes.iter()).find(|(p, _)| object.key.starts_with(p))
        else {
            return Decision::Skipped(format!("outside {}", listing.description));
        };
        if listing
            .start_after
            .as_ref()
            .is_some_and(|after| object.key <= *after)
        {
            return Decision::Skipped("not after start_after".into());
        }
        let entry = Entry {
            key: &object.key,
            object: Some(Object {
                size: object.size,
                // Only a filter or a template could read it: `needs_last_modified`.
                last_modified: object.last_modified.unwrap_or(Timestamp::UNIX_EPOCH),
                etag: &object.etag,
            }),
        };
        let mut fields = match listing.item(prefix, extra, &entry) {
            Ok(fields) => fields,
            Err(reason) => return Decision::Skipped(skipped(reason).into()),
        };
        if object.last_modified.is_none() {
            fields.remove("last_modified");
        }
        let item = Item {
            row: 1,
            line: None,
            fields,
        };
        Decision::Row(self.planner.plan(item))
    }
}

/// The job file at `job`, read as `run --job` reads it (the `SFN_BATCH_*`
/// variables over it).
pub(crate) fn run_options(job: &Path) -> Result<RunOptions, Error> {
    let args = ["sfn-batch", "run", "--job"].map(OsString::from);
    let job = job.as_os_str().to_owned();
    let Command::Run(run) = crate::cli::parse(args.into_iter().chain([job]).collect())
        .cli?
        .command
    else {
        unreachable!("parsed as `run`")
    };
    RunOptions::from_args(*run)
}

fn skipped(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::Glob => "left out by include/exclude",
        SkipReason::Modified => "left out by modified_after/modified_before",
        SkipReason::Size => "left out by min_size",
    }
}
