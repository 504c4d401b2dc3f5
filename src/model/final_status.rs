//! How an execution stands, in AWS's own words, as following records it.

use serde::{Deserialize, Serialize};

/// An execution's status: AWS's word for it (`SUCCEEDED`, `FAILED`, ...), or
/// `UNKNOWN` when AWS does not know the execution (any more). Written as the run
/// log's `final_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FinalStatus {
    /// Still running, or following stopped before it ended.
    Running,
    /// Ended well.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Ran past its timeout.
    TimedOut,
    /// Stopped by someone.
    Aborted,
    /// Redriven, and not yet running again.
    PendingRedrive,
    /// AWS does not know it: past its 90 days, or never started.
    Unknown,
}

impl FinalStatus {
    /// The statuses an execution ends in.
    pub const ENDED: [FinalStatus; 5] = [
        FinalStatus::Succeeded,
        FinalStatus::Failed,
        FinalStatus::TimedOut,
        FinalStatus::Aborted,
        FinalStatus::Unknown,
    ];

    /// The word, as AWS (and the run log) spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FinalStatus::Running => "RUNNING",
            FinalStatus::Succeeded => "SUCCEEDED",
            FinalStatus::Failed => "FAILED",
            FinalStatus::TimedOut => "TIMED_OUT",
            FinalStatus::Aborted => "ABORTED",
            FinalStatus::PendingRedrive => "PENDING_REDRIVE",
            FinalStatus::Unknown => "UNKNOWN",
        }
    }

    /// The status a word names (AWS's spelling, any case); `None` for another word.
    pub fn parse(word: &str) -> Option<FinalStatus> {
        let word = word.trim().to_ascii_uppercase();
        [FinalStatus::Running, FinalStatus::PendingRedrive]
            .into_iter()
            .chain(FinalStatus::ENDED)
            .find(|status| status.as_str() == word)
    }

    /// Ended otherwise than SUCCEEDED: FAILED, TIMED_OUT, ABORTED or UNKNOWN.
    pub fn ended_badly(self) -> bool {
        FinalStatus::ENDED.contains(&self) && self != FinalStatus::Succeeded
    }

    /// Ended FAILED, TIMED_OUT or ABORTED: what a redrive takes.
    pub fn is_redrivable(self) -> bool {
        matches!(
            self,
            FinalStatus::Failed | FinalStatus::TimedOut | FinalStatus::Aborted
        )
    }
}

impl std::fmt::Display for FinalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_it_is_written() {
        let all = [FinalStatus::Running, FinalStatus::PendingRedrive]
            .into_iter()
            .chain(FinalStatus::ENDED);
        for status in all {
            assert_eq!(FinalStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(serde_json::from_str::<FinalStatus>(&json).unwrap(), status);
        }
        assert_eq!(FinalStatus::parse("timed_out"), Some(FinalStatus::TimedOut));
        assert_eq!(FinalStatus::parse("START_FAILED"), None);
    }

    #[test]
    fn only_unsuccessful_ends_are_bad() {
        let bad: Vec<_> = FinalStatus::ENDED
            .into_iter()
            .filter(|s| s.ended_badly())
            .collect();
        assert_eq!(
            bad,
            [
                FinalStatus::Failed,
                FinalStatus::TimedOut,
                FinalStatus::Aborted,
                FinalStatus::Unknown
            ]
        );
        assert!(!FinalStatus::Running.ended_badly());
        assert!(!FinalStatus::Unknown.is_redrivable());
    }
}
