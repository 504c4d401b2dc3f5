//! The integration tests, one binary with a module per area (as ripgrep's are):
//! one link of the test code instead of one per file, one set of shared helpers
//! compiled once, and one emulator for the whole run.

mod fixture;
mod proxy;

mod bad_input;
mod distributed_map;
mod examples;
mod faults;
mod follow;
mod job;
// The live path's function and its events need the feature (scripts/test has it).
#[cfg(feature = "lambda")]
mod live;
mod outage;
mod output;
mod report;
mod resume;
mod retry;
mod run;
mod sources;
