//! The typed events of a run, and the consumers that take them.
//!
//! Launching, following and reading a Distributed Map's results back each append
//! a line to the run log (the source of truth) and only then emit an event for
//! it. The consumers (the progress display, the `--max-running` window, the
//! `--max-failures` limit, the row log of `-vv`, tallies) see one stream and never
//! write the log themselves.

use crate::model::counts::{Counts, Ends};
use crate::model::outage::OutageNow;
use crate::model::outcome::Outcome;
use crate::model::pacing::Pacing;

/// Something that happened to a run, after the run log recorded it.
pub(crate) enum Event<'a> {
    /// A row came to an outcome (started, existing, failed, invalid, not
    /// attempted), logged at `offset`: launched here, or read back from a Map Run.
    Launched { outcome: &'a Outcome, offset: u64 },
    /// Following logged how a row's execution ended, or that it still ran when
    /// following stopped.
    Ended { outcome: &'a Outcome },
    /// Following looked at AWS: how the executions stand now.
    Swept(Ends),
    /// Launching: a second went by; how the pacer stands.
    Paced(Pacing),
    /// Launching: a second went by with new starts paused, AWS unreachable.
    Paused(&'a OutageNow),
}

/// Takes a run's events, in order.
pub(crate) trait Consumer {
    /// Takes one event.
    fn consume(&mut self, event: &Event<'_>);
}

/// Nothing listens.
impl Consumer for () {
    fn consume(&mut self, _: &Event<'_>) {}
}

/// A consumer lent for a while.
impl<C: Consumer + ?Sized> Consumer for &mut C {
    fn consume(&mut self, event: &Event<'_>) {
        (**self).consume(event);
    }
}

/// Two consumers, the first first.
impl<A: Consumer, B: Consumer> Consumer for (A, B) {
    fn consume(&mut self, event: &Event<'_>) {
        self.0.consume(event);
        self.1.consume(event);
    }
}

/// A consumer that may be absent (`--max-running` not given, say).
impl<C: Consumer> Consumer for Option<C> {
    fn consume(&mut self, event: &Event<'_>) {
        if let Some(consumer) = self {
            consumer.consume(event);
        }
    }
}

/// Outcomes counted by status.
impl Consumer for Counts {
    fn consume(&mut self, event: &Event<'_>) {
        if let Event::Launched { outcome, .. } = event {
            self.add(outcome.status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::outcome::Status;

    #[test]
    fn counts_take_the_outcomes_and_nothing_else() {
        let mut outcome = Outcome::never_logged(1);
        outcome.status = Status::Failed;
        let mut counts = Counts::default();
        let mut maybe: Option<Counts> = None;
        for event in [
            Event::Launched {
                outcome: &outcome,
                offset: 0,
            },
            Event::Ended { outcome: &outcome },
            Event::Swept(Ends::default()),
            Event::Paced(Pacing::default()),
        ] {
            counts.consume(&event);
            maybe.consume(&event);
        }
        assert_eq!(counts.failed, 1);
        assert_eq!(counts.total(), 1);
        assert!(maybe.is_none());
    }
}
