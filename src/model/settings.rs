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

/// How the launcher calls: in flight at once, attempts, backoff.
#[derive(Debug, Clone)]
pub(crate) struct LaunchOptions {
    /// StartExecution calls in flight at once.
    pub concurrency: usize,
    /// Calls per row, the first included, besides those made while AWS could not
    /// be reached at all (`launch/breaker.rs`).
    pub max_attempts: u32,
    /// The wait before each retry.
    pub backoff: Backoff,
    /// Default names are a hash of the state machine and the input: a name taken
    /// can only be this very row's execution, and needs no DescribeExecution
    /// (whose quota, 15/s, a re-run of a large batch would exhaust).
    pub names_identify_inputs: bool,
}

/// Exponential backoff with full jitter: attempt n waits a random time up to
/// `min(max, base × 2^(n-1))`, so retries of many rows spread out instead of
/// arriving together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// The ceiling of the first retry's random wait; it doubles with each attempt.
    pub base: Duration,
    /// No wait is longer than this.
    pub max: Duration,
}

impl Backoff {
    /// The wait before the retry that follows attempt `attempt`.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        let ceiling = self.base.saturating_mul(1 << doublings).min(self.max);
        ceiling.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_ceiling() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for attempt in 1..40 {
            let d = b.delay(attempt);
            assert!(d <= Duration::from_secs(2), "{d:?}");
            assert!(d <= Duration::from_millis(100) * 2u32.pow(attempt.min(5)));
        }
    }
}
