//! The pace of a launch, as measured at its end.

use serde::{Deserialize, Serialize};

/// What the pacer is doing, for the progress display and the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pacing {
    /// Calls per second allowed now: the ceiling, or lower after throttles.
    pub pace: f64,
    /// ThrottlingException answers so far.
    pub throttles: u64,
}
