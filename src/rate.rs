//! Pacing of StartExecution calls: a GCRA rate limiter (governor). Over any window
//! of T seconds at most `burst + rate × T` calls pass, so the pace stays smooth.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub struct Pacer {
    limiter: DefaultDirectRateLimiter,
}

impl Pacer {
    /// `rate` calls per second (fractions allowed; a huge rate is effectively no
    /// pacing), of which up to `burst` may go at once after a quiet spell.
    pub fn new(rate: f64, burst: NonZeroU32) -> Pacer {
        let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .expect("period is positive")
            .allow_burst(burst);
        Pacer {
            limiter: RateLimiter::direct(quota),
        }
    }

    /// Waits for this call's turn.
    pub async fn ready(&self) {
        self.limiter.until_ready().await;
    }
}
