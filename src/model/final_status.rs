//! How an execution stands, in AWS's own words, as following records it.

use serde::{Deserialize, Serialize};

/// An execution's status: AWS's word for it (`SUCCEEDED`, `FAILED`, ...), or
/// `UNKNOWN` when AWS does not know the execution (any more). Written as the run
/// log's `final_status`; a word this version does not know (a status AWS adds
/// later, say) is kept as it is written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
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
    /// Another word, as AWS or the run log gave it.
    Other(String),
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
    pub fn as_str(&self) -> &str {
        match self {
            FinalStatus::Running => "RUNNING",
            FinalStatus::Succeeded => "SUCCEEDED",
            FinalStatus::Failed => "FAILED",
            FinalStatus::TimedOut => "TIMED_OUT",
            FinalStatus::Aborted => "ABORTED",
            FinalStatus::PendingRedrive => "PENDING_REDRIVE",
            FinalStatus::Unknown => "UNKNOWN",
            FinalStatus::Other(word) => word,
        }
    }

    /// The status a word names, as AWS spells it.
    pub fn from_word(word: &str) -> FinalStatus {
        [FinalStatus::Running, FinalStatus::PendingRedrive]
            .into_iter()
            .chain(FinalStatus::ENDED)
            .find(|status| status.as_str() == word)
            .unwrap_or_else(|| FinalStatus::Other(word.to_string()))
    }

    /// Ended otherwise than SUCCEEDED: FAILED, TIMED_OUT, ABORTED or UNKNOWN.
    pub fn ended_badly(&self) -> bool {
        FinalStatus::ENDED.contains(self) && *self != FinalStatus::Succeeded
    }

    /// Neither SUCCEEDED nor RUNNING: a person should look at the row.
    pub fn needs_attention(&self) -> bool {
        !matches!(self, FinalStatus::Succeeded | FinalStatus::Running)
    }

    /// Ended FAILED, TIMED_OUT or ABORTED: what a redrive takes.
    pub fn is_redrivable(&self) -> bool {
        matches!(
            self,
            FinalStatus::Failed | FinalStatus::TimedOut | FinalStatus::Aborted
        )
    }
}

impl From<String> for FinalStatus {
    fn from(word: String) -> FinalStatus {
        FinalStatus::from_word(&word)
    }
}

impl From<FinalStatus> for String {
    fn from(status: FinalStatus) -> String {
        status.as_str().to_string()
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
            assert_eq!(FinalStatus::from_word(status.as_str()), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(serde_json::from_str::<FinalStatus>(&json).unwrap(), status);
        }
    }

    #[test]
    fn a_word_it_does_not_know_is_kept_and_needs_a_person() {
        let later: FinalStatus = serde_json::from_str("\"EXPIRED\"").unwrap();
        assert_eq!(later, FinalStatus::Other("EXPIRED".into()));
        assert_eq!(serde_json::to_string(&later).unwrap(), "\"EXPIRED\"");
        assert!(later.needs_attention() && !later.ended_badly());
        assert!(FinalStatus::PendingRedrive.needs_attention());
        assert!(!FinalStatus::Running.needs_attention());
    }

    #[test]
    fn only_unsuccessful_ends_are_bad() {
        let bad: Vec<_> = FinalStatus::ENDED
            .into_iter()
            .filter(FinalStatus::ended_badly)
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
