//! From a source to checked rows: manifests, S3 listings and date ranges yield
//! items; templates render each one's name and input; the planner checks them
//! against AWS's rules. Pure apart from reading the source.

pub(crate) mod duplicates;
mod planner;
pub(crate) mod source;
pub(crate) mod spill;
pub(crate) mod suggest;
pub(crate) mod template;

pub use planner::*;
