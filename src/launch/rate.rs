//! Pacing of StartExecution calls. Two limits; the tighter one governs.
//!
//! - The ceiling, `--rate` with `--burst`: a GCRA limiter (governor). Over any
//!   window of T seconds at most `burst + rate × T` calls pass.
//! - The adaptive pace, after botocore's adaptive retry mode: off until the first
//!   throttle, then it drops to 0.7 × the rate actually sent, and while calls
//!   succeed it climbs back along a cubic curve (CUBIC, as in TCP) toward the rate
//!   that was throttled and carefully past it. The quota is shared with everyone
//!   else in the account, so the pace is lowered for every row, not only the row
//!   that was throttled.
//!
//! With many calls in flight, one overload answers many of them with a throttle at
//! once. Only a throttle of a call sent after the last decrease lowers the pace
//! again (TCP's one decrease per window): otherwise a burst of throttles would
//! multiply 0.7 by itself and collapse the pace far below what the account grants.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::model::pacing::Pacing;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;

/// Paces StartExecution calls: the `--rate` ceiling and the adaptive pace, shared by
/// every call in flight.
pub(crate) struct Pacer {
    ceiling: DefaultDirectRateLimiter,
    /// The ceiling's cells a call takes.
    cells: NonZeroU32,
    adaptive: Mutex<Adaptive>,
    throttles: AtomicU64,
    /// Wakes the calls waiting for a slot under the old pace when it restarts.
    restarted: Notify,
}

impl Pacer {
    /// `rate` calls per second (fractions allowed; a huge rate is effectively no
    /// pacing), of which up to `burst` may go at once after a quiet spell.
    pub(crate) fn new(rate: f64, burst: NonZeroU32) -> Pacer {
        let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        // The limiter counts in cells of about LATENESS, a call taking `cells`, and
        // allows one cell more than the burst: a waiter woken a little after its
        // turn (timers are not exact) keeps its place in the schedule, instead of
        // losing the delay for good, which left the pace about 5% short of `rate`
        // (measured at --rate 300). Over any second that is at most a fraction of
        // a call more than `rate + burst`.
        let cells = (period.as_secs_f64() / LATENESS.as_secs_f64()).clamp(1.0, 1000.0) as u32;
        let cells = NonZeroU32::new(cells).expect("clamped to at least 1");
        let quota = Quota::with_period(period / cells.get())
            .expect("period is positive")
            .allow_burst(burst.saturating_mul(cells).saturating_add(1));
        Pacer {
            ceiling: RateLimiter::direct(quota),
            cells,
            adaptive: Mutex::new(Adaptive::new(rate, Instant::now())),
            throttles: AtomicU64::new(0),
            restarted: Notify::new(),
        }
    }

    /// Waits for this call's turn and returns when it was sent.
    pub(crate) async fn ready(&self) -> Instant {
        loop {
            let restarted = self.restarted.notified();
            let mut restarted = std::pin::pin!(restarted);
            restarted.as_mut().enable();
            let Some(slot) = self.adaptive().slot(Instant::now()) else {
                break;
            };
            // A slot reserved at a pace that has since restarted is taken again.
            tokio::select! {
                _ = tokio::time::sleep_until(slot.into()) => break,
                _ = restarted => {}
            }
        }
        self.ceiling
            .until_n_ready(self.cells)
            .await
            .expect("a call's cells fit in the burst");
        let now = Instant::now();
        self.adaptive().sent(now);
        now
    }

    /// The account throttled a call sent at `sent`.
    pub(crate) fn throttled(&self, sent: Instant) {
        self.throttles.fetch_add(1, Ordering::Relaxed);
        self.adaptive().throttled(sent, Instant::now());
    }

    /// A call got an answer that was not a throttle.
    pub(crate) fn answered(&self) {
        self.adaptive().answered(Instant::now());
    }

    /// AWS answers again after an outage: the pace starts again from below the
    /// ceiling, and climbs back as calls succeed.
    pub(crate) fn restart(&self) {
        self.adaptive().restart(Instant::now());
        self.restarted.notify_waiters();
    }

    /// The pace now and the throttles so far.
    pub(crate) fn pacing(&self) -> Pacing {
        Pacing {
            pace: self.adaptive().pace(),
            throttles: self.throttles.load(Ordering::Relaxed),
        }
    }

    fn adaptive(&self) -> std::sync::MutexGuard<'_, Adaptive> {
        self.adaptive.lock().expect("pacer lock")
    }
}

/// How late a waiter may be woken without losing its turn.
const LATENESS: Duration = Duration::from_millis(1);

/// CUBIC's constants, as in botocore: the decrease factor and the scaling constant.
const BETA: f64 = 0.7;
const SCALE: f64 = 0.4;
/// The pace never drops below one call every two seconds.
const MIN_RATE: f64 = 0.5;
/// The sent rate is measured over buckets of this length, smoothed.
const MEASURE_EVERY: Duration = Duration::from_millis(500);
const SMOOTHING: f64 = 0.8;

/// The adaptive controller: pure arithmetic over the times it is given.
#[derive(Debug)]
struct Adaptive {
    ceiling: f64,
    /// The adaptive pace; `None` until the first throttle.
    rate: Option<f64>,
    /// When the next call may go, under the adaptive pace.
    next_slot: Instant,
    /// The rate that was throttled last, and when it was lowered from it.
    last_max: f64,
    last_decrease: Instant,
    /// The sent rate, smoothed over buckets of `MEASURE_EVERY`.
    measured: f64,
    bucket_start: Instant,
    bucket_sends: u32,
}

impl Adaptive {
    fn new(ceiling: f64, now: Instant) -> Adaptive {
        Adaptive {
            ceiling,
            rate: None,
            next_slot: now,
            last_max: ceiling,
            last_decrease: now,
            measured: 0.0,
            bucket_start: now,
            bucket_sends: 0,
        }
    }

    fn pace(&self) -> f64 {
        self.rate.unwrap_or(self.ceiling)
    }

    /// Reserves the next slot under the adaptive pace: the time to wait for, if any.
    fn slot(&mut self, now: Instant) -> Option<Instant> {
        let rate = self.rate?;
        let period = Duration::from_secs_f64(1.0 / rate);
        // A call a little late for its slot keeps its place in the schedule, as
        // under the ceiling, so that timer lateness is not lost.
        let late = LATENESS.min(period);
        let slot = self.next_slot.max(now.checked_sub(late).unwrap_or(now));
        self.next_slot = slot + period;
        (slot > now).then_some(slot)
    }

    fn sent(&mut self, now: Instant) {
        self.bucket_sends += 1;
        let elapsed = now.duration_since(self.bucket_start);
        // A bucket that stayed open through a stall (every call waiting on a
        // timeout or a backoff) says nothing about the rate calls go out at.
        if elapsed >= 4 * MEASURE_EVERY {
            self.bucket_start = now;
            self.bucket_sends = 0;
        } else if elapsed >= MEASURE_EVERY {
            let rate = f64::from(self.bucket_sends) / elapsed.as_secs_f64();
            self.measured = SMOOTHING * rate + (1.0 - SMOOTHING) * self.measured;
            self.bucket_start = now;
            self.bucket_sends = 0;
        }
    }

    /// The rate calls were sent at lately; before a whole bucket was measured, the
    /// current bucket's.
    fn sending_rate(&self, now: Instant) -> f64 {
        if self.measured > 0.0 {
            return self.measured;
        }
        let elapsed = now.duration_since(self.bucket_start).as_secs_f64();
        match elapsed > 0.0 && self.bucket_sends > 0 {
            true => f64::from(self.bucket_sends) / elapsed,
            false => self.pace(),
        }
    }

    fn throttled(&mut self, sent: Instant, now: Instant) {
        if self.rate.is_some() && sent < self.last_decrease {
            return; // sent before the last decrease: already answered by it
        }
        let throttled_at = self.sending_rate(now).min(self.pace());
        self.last_max = throttled_at;
        self.last_decrease = now;
        self.set_rate(throttled_at * BETA);
    }

    /// As after a throttle at the ceiling, whatever was sent lately (nothing, in an
    /// outage) and however low throttles had brought the pace (a throttle storm
    /// brings it to its floor): it climbs back to the ceiling within seconds,
    /// never above twice what is being sent, and throttles lower it again.
    fn restart(&mut self, now: Instant) {
        self.next_slot = now;
        self.last_max = self.ceiling;
        self.last_decrease = now;
        self.set_rate(self.last_max * BETA);
    }

    fn answered(&mut self, now: Instant) {
        if self.rate.is_none() {
            return;
        }
        // CUBIC: W(t) = SCALE (t - K)³ + W_max, where K is the time the curve takes
        // to climb from BETA × W_max back to W_max.
        let k = (self.last_max * (1.0 - BETA) / SCALE).cbrt();
        let t = now.duration_since(self.last_decrease).as_secs_f64();
        let cubic = SCALE * (t - k).powi(3) + self.last_max;
        // Never more than twice what is actually being sent: a pace nobody uses
        // says nothing about what the account grants.
        let sending = self.sending_rate(now);
        self.set_rate(cubic.min(2.0 * sending.max(MIN_RATE)));
    }

    fn set_rate(&mut self, rate: f64) {
        self.rate = Some(rate.clamp(MIN_RATE.min(self.ceiling), self.ceiling));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An account's token bucket: `capacity` tokens, refilled at `refill` per second.
    struct Account {
        tokens: f64,
        capacity: f64,
        refill: f64,
        at: Instant,
    }

    impl Account {
        fn take(&mut self, now: Instant) -> bool {
            let secs = now.duration_since(self.at).as_secs_f64();
            self.tokens = (self.tokens + secs * self.refill).min(self.capacity);
            self.at = now;
            let granted = self.tokens >= 1.0;
            if granted {
                self.tokens -= 1.0;
            }
            granted
        }
    }

    /// Sends calls as the controller paces them (and the ceiling allows), each
    /// answered 50 ms after it was sent, for `secs` seconds of simulated time.
    /// Returns (calls granted per second over the second half, throttles).
    fn simulate(ceiling: f64, refill: f64, secs: u64) -> (f64, u64) {
        let start = Instant::now();
        let mut pacer = Adaptive::new(ceiling, start);
        let mut account = Account {
            tokens: refill,
            capacity: refill,
            refill,
            at: start,
        };
        let latency = Duration::from_millis(50);
        let mut pending: std::collections::VecDeque<(Instant, Instant, bool)> = Default::default();
        let (mut now, mut throttles, mut late_grants) = (start, 0, 0);
        let end = start + Duration::from_secs(secs);
        let half = start + Duration::from_secs(secs / 2);
        let ceiling_gap = Duration::from_secs_f64(1.0 / ceiling);
        while now < end {
            let slot = pacer.slot(now).unwrap_or(now);
            now = slot.max(now);
            while let Some(&(answer_at, sent, granted)) = pending.front() {
                if answer_at > now {
                    break;
                }
                pending.pop_front();
                match granted {
                    true => pacer.answered(answer_at),
                    false => {
                        throttles += 1;
                        pacer.throttled(sent, answer_at);
                    }
                }
            }
            pacer.sent(now);
            let granted = account.take(now);
            if granted && now >= half {
                late_grants += 1;
            }
            pending.push_back((now + latency, now, granted));
            now += ceiling_gap;
        }
        (late_grants as f64 / (secs / 2) as f64, throttles)
    }

    #[test]
    fn settles_near_the_rate_the_account_grants() {
        let (granted, throttles) = simulate(100.0, 20.0, 120);
        assert!((15.0..=20.5).contains(&granted), "granted {granted}/s");
        // A client pacing at its 100/s ceiling would be throttled 80 times a second.
        assert!(throttles < 120, "{throttles} throttles in 120 s");
    }

    #[test]
    fn a_burst_of_throttles_lowers_the_pace_once() {
        let start = Instant::now();
        let mut pacer = Adaptive::new(100.0, start);
        let mut later = start;
        for _ in 0..50 {
            later += Duration::from_millis(20);
            pacer.sent(later);
        }
        pacer.throttled(start, later);
        let once = pacer.pace();
        for _ in 0..15 {
            pacer.throttled(start, later);
        }
        assert_eq!(pacer.pace(), once);
        assert!((25.0..=40.0).contains(&once), "{once}");
    }

    #[test]
    fn recovers_to_the_ceiling_without_passing_it() {
        let start = Instant::now();
        let mut pacer = Adaptive::new(50.0, start);
        pacer.throttled(start, start);
        assert!(pacer.pace() < 50.0);
        let mut now = start;
        for _ in 0..600 {
            now += Duration::from_millis(100);
            for _ in 0..10 {
                pacer.sent(now);
            }
            pacer.answered(now);
        }
        assert_eq!(pacer.pace(), 50.0);
    }
}
