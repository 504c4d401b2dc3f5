//! The shared types at the bottom of the layers: what a row is, what became of
//! it, how rows are counted, and the exit codes. Nothing here calls AWS or does
//! I/O beyond reading and writing its own small files.

pub(crate) mod counts;
pub(crate) mod event;
pub(crate) mod exit;
pub(crate) mod final_status;
pub(crate) mod outage;
pub(crate) mod outcome;
pub(crate) mod pacing;
pub(crate) mod rows;
pub(crate) mod settings;
