//! The launch and follow settings that engines share, made by `cli/options`.

use std::time::Duration;

/// `--timeout` and `--poll`, for `run --wait` and `watch`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FollowOptions {
    /// `--timeout`: how long to follow at most.
    pub timeout: Option<Duration>,
    /// `--poll`: the time between two looks at AWS.
    pub poll: Duration,
}

/// Followed without a deadline, looking every 10 s (`--poll`'s default).
impl Default for FollowOptions {
    fn default() -> FollowOptions {
        FollowOptions {
            timeout: None,
            poll: Duration::from_secs(10),
        }
    }
}

/// `--max-failures`: how many rows may fail to start before the run stops starting
/// new ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MaxFailures {
    /// A number of rows.
    Count(u64),
    /// A percentage (above 0, at most 100) of the rows the run launches.
    Percent(f64),
}

impl MaxFailures {
    /// `10` or `2.5%`.
    pub(crate) fn parse(text: &str) -> Result<MaxFailures, String> {
        let bad = || format!("expected a count (10) or a percentage (2.5%), not `{text}`");
        match text.strip_suffix('%') {
            Some(percent) => match percent.trim().parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => Ok(MaxFailures::Percent(p)),
                _ => Err(bad()),
            },
            None => match text.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(MaxFailures::Count(n)),
                _ => Err(bad()),
            },
        }
    }

    /// The number of failures that stops a run launching `rows` rows (at least 1).
    pub(crate) fn limit(self, rows: u64) -> u64 {
        match self {
            MaxFailures::Count(n) => n,
            MaxFailures::Percent(p) => ((rows as f64 * p / 100.0).ceil() as u64).max(1),
        }
    }
}
