//! Outages: spells in which AWS could not be reached, or refused every call, as
//! the launch's breaker saw them (`launch/breaker.rs`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::counts::count;

/// The outages of one launch, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Outages {
    /// How many times the breaker opened.
    pub count: u64,
    /// The longest, in seconds.
    pub longest_seconds: f64,
    /// Time with new starts paused, in seconds, all outages together.
    pub paused_seconds: f64,
    /// Calls made to probe whether AWS answers again.
    pub probe_calls: u64,
    /// Set when an outage outlasted `--outage-budget` and the launch stopped: how
    /// long it had lasted, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gave_up_after_seconds: Option<f64>,
}

impl Outages {
    /// One line for the summary, when there was an outage: `AWS unreachable: 1
    /// outage, the longest 31s, 31s paused in all, 5 probe calls`.
    pub(crate) fn human(&self) -> Option<String> {
        if self.count == 0 && self.gave_up_after_seconds.is_none() {
            return None;
        }
        let secs = |s: f64| seconds(Duration::from_secs_f64(s));
        Some(format!(
            "AWS unreachable: {}, the longest {}, {} paused in all, {}",
            count(self.count, "outage"),
            secs(self.longest_seconds),
            secs(self.paused_seconds),
            count(self.probe_calls, "probe call")
        ))
    }

    /// When the launch gave up: `AWS unreachable for 10m, past --outage-budget`.
    pub(crate) fn gave_up(&self) -> Option<String> {
        let lasted = Duration::from_secs_f64(self.gave_up_after_seconds?);
        Some(format!(
            "AWS unreachable for {}, past --outage-budget",
            seconds(lasted)
        ))
    }
}

/// An outage under way, for the progress display.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutageNow {
    /// How long since the first call that failed.
    pub lasted: Duration,
    /// What the calls met: `connection refused`, `HTTP503`, ...
    pub reason: String,
    /// The wait between two probes now.
    pub probing_every: Duration,
    /// `--outage-budget`.
    pub budget: Duration,
}

impl OutageNow {
    /// One line: `AWS unreachable for 42s (connection refused); probing every 8s;
    /// no rows spent; budget 15m`.
    pub(crate) fn human(&self) -> String {
        format!(
            "AWS unreachable for {} ({}); probing every {}; no rows spent; budget {}",
            seconds(self.lasted),
            self.reason,
            seconds(self.probing_every),
            seconds(self.budget)
        )
    }
}

/// `42s`, `15m`, `2h`, `1m30s`: whole seconds, in the largest units that fit.
fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64().round() as u64;
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_reads_in_one_line() {
        let now = OutageNow {
            lasted: Duration::from_millis(42_400),
            reason: "connection refused".into(),
            probing_every: Duration::from_secs(8),
            budget: Duration::from_secs(900),
        };
        assert_eq!(
            now.human(),
            "AWS unreachable for 42s (connection refused); probing every 8s; no rows spent; budget 15m"
        );
        assert_eq!(seconds(Duration::from_secs(90)), "1m30s");
        assert_eq!(Outages::default().human(), None);
        let outages = Outages {
            count: 2,
            longest_seconds: 31.2,
            paused_seconds: 40.0,
            probe_calls: 1,
            gave_up_after_seconds: Some(600.4),
        };
        assert_eq!(
            outages.human().unwrap(),
            "AWS unreachable: 2 outages, the longest 31s, 40s paused in all, 1 probe call"
        );
        assert_eq!(
            outages.gave_up().unwrap(),
            "AWS unreachable for 10m, past --outage-budget"
        );
        assert_eq!(seconds(Duration::from_secs(7200)), "2h");
    }
}
