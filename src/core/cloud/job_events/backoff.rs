//! Reconnect delays: exponential from `initial` to `max`, with ±`jitter` spread so many
//! clients do not reconnect in step when the cloud comes back. The cap applies after the
//! jitter, so no wait is ever longer than `max`.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// Fraction of the delay added or removed at random (0.25 = ±25 %).
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    /// 1 s doubling to 60 s, ±25 %: what the SDK's own runner uses.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.25,
        }
    }
}

impl BackoffPolicy {
    /// The wait before retry number `attempt` (0 = the first retry). `unit` in `[0, 1]`
    /// picks the jitter: 0 is the shortest, 0.5 none, 1 the longest.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        let exp = self.initial.saturating_mul(factor).min(self.max);
        let spread = self.jitter * (unit.clamp(0.0, 1.0) * 2.0 - 1.0);
        exp.mul_f64((1.0 + spread).max(0.0)).min(self.max)
    }
}

/// The consecutive-failure counter of one follower.
#[derive(Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, attempt: 0 }
    }

    /// The next wait, with random jitter; each call counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.policy.delay(self.attempt, rand::random::<f64>());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// A connection delivered events: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The wait before reconnecting after a stream that worked and then closed cleanly.
    pub fn initial(&self) -> Duration {
        self.policy.initial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_the_sixty_second_cap() {
        let policy = BackoffPolicy::default();
        let plain: Vec<u64> = (0..9)
            .map(|a| policy.delay(a, 0.5).as_millis() as u64)
            .collect();
        assert_eq!(
            plain,
            vec![1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        );
        assert_eq!(
            policy.delay(500, 0.5),
            Duration::from_secs(60),
            "no overflow"
        );
    }

    #[test]
    fn jitter_stays_within_a_quarter_and_never_passes_the_cap() {
        let policy = BackoffPolicy::default();
        assert_eq!(policy.delay(0, 0.0), Duration::from_millis(750));
        assert_eq!(policy.delay(0, 1.0), Duration::from_millis(1250));
        assert_eq!(policy.delay(3, 0.0), Duration::from_secs(6));
        assert_eq!(policy.delay(3, 1.0), Duration::from_secs(10));
        assert_eq!(policy.delay(10, 0.0), Duration::from_secs(45));
        assert_eq!(policy.delay(10, 1.0), Duration::from_secs(60));
    }

    #[test]
    fn random_delays_grow_within_bounds_and_reset() {
        let mut backoff = Backoff::new(BackoffPolicy::default());
        for attempt in 0..12u32 {
            let exp = (1000u64 << attempt.min(6)).min(60_000) as f64;
            let got = backoff.next_delay().as_millis() as f64;
            assert!(
                got >= exp * 0.75 - 1.0 && got <= (exp * 1.25).min(60_000.0) + 1.0,
                "{attempt}: {got}"
            );
        }
        backoff.reset();
        let got = backoff.next_delay();
        assert!(got >= Duration::from_millis(750) && got <= Duration::from_millis(1250));
    }
}
