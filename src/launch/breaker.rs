//! One breaker for a whole launch: it tells "this row is bad" from "AWS cannot be
//! reached right now", so that an outage costs no rows.
//!
//! Every call's result is one of two kinds. AWS answered about the row (a start,
//! a name taken, `InvalidName`, `InvalidExecutionInput`, ...): the endpoint works.
//! Or the call blames the endpoint: no real answer (connection refused or reset, a
//! timeout, DNS or TLS failing), or an answer that blames the service or account
//! (5xx, a throttle, `ExecutionLimitExceeded`).
//!
//! The rule: the breaker opens when `OPEN_AFTER` calls in a row, from any rows,
//! blamed the endpoint, with no answer about a row between them. A streak of
//! throttles alone must be `THROTTLE_STORM_CALLS` long and have lasted
//! `THROTTLE_STORM`: the adaptive pace handles ordinary throttling (with 30% of
//! calls throttled, 5 in a row happen now and then, at a pace slowed to a call
//! every 2 s even over 5 seconds; 10 in a row have odds of 6 in a million). A
//! row's attempts are spent only by failures before `OPEN_AFTER`: once a streak is
//! that long, its calls spend nothing, so no row can use up its attempts (5 by
//! default) inside an outage.
//!
//! While open, no call goes but one probe at a time, after 1 s, then 2, 4, ... up
//! to 30 s, with jitter: an outage costs a handful of calls. The first answer
//! about a row closes it, and the pacer starts again from a reduced pace. An
//! outage that lasts longer than the budget stops the launch, as an interrupt
//! does: the rows not started are `not_attempted`, and a resume starts them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::aws::sfn::{CallError, ErrorClass};
use crate::model::outage::{OutageNow, Outages};

/// Calls in a row blaming the endpoint that open the breaker.
const OPEN_AFTER: u32 = 5;
/// How long, and how many calls, a streak of throttles alone must last to open it.
const THROTTLE_STORM: Duration = Duration::from_secs(5);
const THROTTLE_STORM_CALLS: u32 = 10;
/// The first wait between probes, and the longest.
const FIRST_PROBE: Duration = Duration::from_secs(1);
const LAST_PROBE: Duration = Duration::from_secs(30);

/// What a failed call says about the endpoint, if anything.
pub(crate) struct Blame {
    /// In a few words: `connection refused`, `timed out`, `HTTP503`, ...
    reason: String,
    /// Only a throttle.
    throttle: bool,
}

impl Blame {
    /// `None` when the failure is the row's own (AWS answered about it, or the
    /// request could not even be made).
    pub(crate) fn of(error: &CallError) -> Option<Blame> {
        if !matches!(error.class, ErrorClass::Throttle | ErrorClass::Transient) {
            return None;
        }
        let reason = match (error.answered, error.code.as_str()) {
            (true, code) => code.to_string(),
            (false, "Timeout") => "timed out".to_string(),
            (false, _) if error.message.contains("refused") => "connection refused".to_string(),
            (false, _) => "no answer".to_string(),
        };
        Some(Blame {
            reason,
            throttle: error.class == ErrorClass::Throttle,
        })
    }
}

/// Whether a call may go now, and whether it is the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    pub probe: bool,
}

/// The breaker, shared by every call of a launch.
pub(crate) struct Breaker {
    state: Mutex<State>,
    /// Wakes the calls waiting for the breaker when it closes or a probe failed.
    changed: Notify,
    budget: Duration,
    /// The launch's stop: it ends the waits, and an outage past the budget fires it.
    stop: CancellationToken,
}

#[derive(Default)]
struct State {
    streak: Option<Streak>,
    outage: Option<Outage>,
    outages: Outages,
}

/// Calls in a row that blamed the endpoint.
struct Streak {
    calls: u32,
    since: Instant,
    /// Whether any was more than a throttle.
    beyond_throttles: bool,
    reason: String,
}

/// An open breaker.
struct Outage {
    since: Instant,
    reason: String,
    /// The wait before the next probe (it doubles after each failed probe), and
    /// when that probe may go.
    interval: Duration,
    next_probe: Instant,
    /// A probe is out.
    probing: bool,
}

impl Breaker {
    /// A closed breaker for the launch that `stop` stops; an outage longer than
    /// `budget` cancels it.
    pub(crate) fn new(budget: Duration, stop: CancellationToken) -> Breaker {
        Breaker {
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            budget,
            stop,
        }
    }

    /// Waits until a call may go: at once while closed; while open, until it is
    /// this call's turn to probe. `None` once the launch's stop fires, or the
    /// outage outlasts the budget (which fires it).
    pub(crate) async fn admit(&self) -> Option<Admission> {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let wake = {
                let mut state = self.state();
                let Some(outage) = &mut state.outage else {
                    return Some(Admission { probe: false });
                };
                let now = Instant::now();
                let gave_up = outage.since + self.budget;
                if now >= gave_up {
                    let lasted = now - outage.since;
                    if state.outages.gave_up_after_seconds.is_none() {
                        state.outages.gave_up_after_seconds = Some(lasted.as_secs_f64());
                        tracing::error!(
                            "AWS unreachable for {lasted:.0?}, past --outage-budget: stopping"
                        );
                        self.stop.cancel();
                    }
                    return None;
                }
                if !outage.probing && now >= outage.next_probe {
                    outage.probing = true;
                    state.outages.probe_calls += 1;
                    return Some(Admission { probe: true });
                }
                match outage.probing {
                    true => gave_up,
                    false => outage.next_probe.min(gave_up),
                }
            };
            tokio::select! {
                _ = self.stop.cancelled() => return None,
                _ = changed => {}
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// AWS answered about a row: the endpoint works. Returns whether that ended
    /// an outage (the pace should then start again from low).
    pub(crate) fn answered(&self) -> bool {
        let mut state = self.state();
        state.streak = None;
        let Some(outage) = state.outage.take() else {
            return false;
        };
        let lasted = outage.since.elapsed();
        let outages = &mut state.outages;
        outages.count += 1;
        outages.paused_seconds += lasted.as_secs_f64();
        outages.longest_seconds = outages.longest_seconds.max(lasted.as_secs_f64());
        tracing::warn!(
            "AWS answers again after {lasted:.0?} ({}); resuming from a reduced pace",
            outage.reason
        );
        drop(state);
        self.changed.notify_waiters();
        true
    }

    /// A call blamed the endpoint. Returns whether the endpoint is failing for
    /// every row (the breaker is open, or about to be): then the call spends none
    /// of its row's attempts.
    pub(crate) fn failed(&self, blame: Blame, admission: Admission) -> bool {
        self.failed_at(blame, admission, Instant::now())
    }

    fn failed_at(&self, blame: Blame, admission: Admission, now: Instant) -> bool {
        let mut state = self.state();
        if let Some(outage) = &mut state.outage {
            if admission.probe {
                outage.interval = (outage.interval * 2).min(LAST_PROBE);
                outage.next_probe = now + outage.interval.mul_f64(0.8 + 0.4 * fastrand::f64());
                outage.probing = false;
                outage.reason = blame.reason;
                drop(state);
                self.changed.notify_waiters();
            }
            return true;
        }
        let streak = state.streak.get_or_insert(Streak {
            calls: 0,
            since: now,
            beyond_throttles: false,
            reason: String::new(),
        });
        streak.calls += 1;
        streak.beyond_throttles |= !blame.throttle;
        streak.reason = blame.reason;
        if streak.calls < OPEN_AFTER {
            return false;
        }
        let storm = streak.calls >= THROTTLE_STORM_CALLS && now - streak.since >= THROTTLE_STORM;
        if streak.beyond_throttles || storm {
            let streak = state.streak.take().expect("a streak");
            tracing::warn!(
                "AWS unreachable ({}: {} calls in a row): new starts paused, probing",
                streak.reason,
                streak.calls
            );
            state.outage = Some(Outage {
                since: streak.since,
                reason: streak.reason,
                interval: FIRST_PROBE,
                next_probe: now + FIRST_PROBE,
                probing: false,
            });
        }
        true
    }

    /// The outage under way, if any.
    pub(crate) fn outage(&self) -> Option<OutageNow> {
        let state = self.state();
        let outage = state.outage.as_ref()?;
        Some(OutageNow {
            lasted: outage.since.elapsed(),
            reason: outage.reason.clone(),
            probing_every: outage.interval,
            budget: self.budget,
        })
    }

    /// The outages so far, for the summary.
    pub(crate) fn outages(&self) -> Outages {
        self.state().outages
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("breaker lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: Admission = Admission { probe: false };
    const PROBE: Admission = Admission { probe: true };

    fn refused() -> Blame {
        Blame {
            reason: "connection refused".into(),
            throttle: false,
        }
    }

    fn throttled() -> Blame {
        Blame {
            reason: "ThrottlingException".into(),
            throttle: true,
        }
    }

    fn breaker() -> Breaker {
        Breaker::new(Duration::from_secs(60), CancellationToken::new())
    }

    #[test]
    fn five_calls_in_a_row_without_an_answer_open_it() {
        let breaker = breaker();
        for _ in 0..OPEN_AFTER - 1 {
            assert!(!breaker.failed(refused(), CALL), "spends the row's attempt");
        }
        assert!(breaker.outage().is_none());
        assert!(breaker.failed(refused(), CALL));
        let outage = breaker.outage().expect("open");
        assert_eq!(outage.reason, "connection refused");
        assert_eq!(outage.probing_every, FIRST_PROBE);
        // Calls in flight that fail now spend nothing.
        assert!(breaker.failed(refused(), CALL));
    }

    #[test]
    fn an_answer_between_failures_keeps_it_closed() {
        let breaker = breaker();
        for _ in 0..20 {
            breaker.failed(refused(), CALL);
            breaker.failed(refused(), CALL);
            assert!(!breaker.answered());
        }
        assert!(breaker.outage().is_none());
        assert_eq!(breaker.outages().count, 0);
    }

    #[test]
    fn throttles_alone_open_it_only_when_nothing_succeeds_for_seconds() {
        let breaker = breaker();
        let start = Instant::now();
        for n in 0..30 {
            let spent = !breaker.failed_at(throttled(), CALL, start);
            assert_eq!(spent, n < OPEN_AFTER - 1);
        }
        assert!(breaker.outage().is_none(), "30 throttles in no time");
        breaker.failed_at(throttled(), CALL, start + THROTTLE_STORM);
        assert!(breaker.outage().is_some(), "5 s of nothing but throttles");
    }

    #[test]
    fn failed_probes_wait_longer_and_an_answer_closes_it() {
        let breaker = breaker();
        for _ in 0..OPEN_AFTER {
            breaker.failed(refused(), CALL);
        }
        let mut waits = Vec::new();
        for _ in 0..8 {
            breaker.failed(refused(), PROBE);
            waits.push(breaker.outage().unwrap().probing_every.as_secs());
        }
        assert_eq!(waits, [2, 4, 8, 16, 30, 30, 30, 30]);
        assert!(breaker.answered(), "the answer ends the outage");
        assert!(breaker.outage().is_none());
        assert_eq!(breaker.outages().count, 1);
        assert!(!breaker.answered());
    }

    #[tokio::test]
    async fn while_open_one_call_at_a_time_probes() {
        let breaker = breaker();
        assert_eq!(breaker.admit().await, Some(CALL));
        for _ in 0..OPEN_AFTER {
            breaker.failed(refused(), CALL);
        }
        let waited = Instant::now();
        assert_eq!(breaker.admit().await, Some(PROBE));
        assert!(waited.elapsed() >= FIRST_PROBE.mul_f64(0.9));
        // The probe is out: the next call waits for its answer.
        let next = breaker.admit();
        tokio::pin!(next);
        assert!(futures::poll!(next.as_mut()).is_pending());
        breaker.answered();
        assert_eq!(next.await, Some(CALL));
        assert_eq!(breaker.outages().probe_calls, 1);
    }

    #[tokio::test]
    async fn an_outage_past_the_budget_stops_the_launch() {
        let stop = CancellationToken::new();
        let breaker = Breaker::new(Duration::from_millis(300), stop.clone());
        for _ in 0..OPEN_AFTER {
            breaker.failed(refused(), CALL);
        }
        assert_eq!(breaker.admit().await, None);
        assert!(stop.is_cancelled());
        assert!(breaker.outages().gave_up_after_seconds.unwrap() >= 0.3);
    }
}
