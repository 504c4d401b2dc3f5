//! `--max-running`: the window of this run's open executions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

/// `--max-running`: at most N of the run's executions open at once. A row takes a
/// place before its start; a started execution keeps it until the follower sees it
/// closed. Executions still open from before a resume hold places too.
pub(crate) struct Window {
    pub(super) places: Arc<Semaphore>,
    /// Closes that free no place: the executions open from before beyond N.
    owed: AtomicU64,
}

impl Window {
    /// A window of `max` places, with `open` executions from before a resume already
    /// open.
    pub(crate) fn new(max: u64, open: u64) -> Window {
        Window {
            places: Arc::new(Semaphore::new(max.saturating_sub(open) as usize)),
            owed: AtomicU64::new(open.saturating_sub(max)),
        }
    }

    /// One of the run's executions closed.
    pub(crate) fn closed(&self) {
        let paid = self
            .owed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| o.checked_sub(1));
        if paid.is_err() {
            self.places.add_permits(1);
        }
    }
}
