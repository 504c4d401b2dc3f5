//! Launching and following: the pacer, the launcher (the only caller of
//! StartExecution), a batch launched into its run dir, and following executions
//! to their end.

mod batch;
pub(crate) mod breaker;
pub(crate) mod follow;
pub(crate) mod launcher;
pub(crate) mod rate;
pub(crate) mod window;
pub(crate) mod work;

pub(crate) use batch::{BatchEnd, LaunchEnd, Launching, Target, conclude, launch};
