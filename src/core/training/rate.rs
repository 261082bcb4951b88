//! Training speed in steps per second, smoothed over a sliding time window, and the ETA it
//! implies. Fed with the events' own timestamps (the cloud's clock), so a history replayed
//! in one burst after a late start still yields the real speed.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// The default smoothing window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30);
/// At most this many samples per window: one every `window / SAMPLES`, the newest always
/// kept, so memory does not depend on the event rate.
const SAMPLES: u32 = 32;

#[derive(Clone, Debug)]
pub struct StepRate {
    window: Duration,
    /// `(time, step)`, oldest first, times and steps increasing.
    samples: VecDeque<(SystemTime, u64)>,
}

impl Default for StepRate {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW)
    }
}

impl StepRate {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            samples: VecDeque::with_capacity(SAMPLES as usize + 2),
        }
    }

    /// Training reached `step` at `at`. Samples that go back in time or in steps are
    /// ignored (a clock jump, a replay).
    pub fn record(&mut self, at: SystemTime, step: u64) {
        if let Some(&(last_at, last_step)) = self.samples.back()
            && (at < last_at || step <= last_step)
        {
            return;
        }
        let spacing = self.window / SAMPLES;
        let len = self.samples.len();
        // The newest sample moves forward until it is `spacing` past the one before it;
        // then it stays, and the next record starts a new one.
        if len >= 2
            && self.samples[len - 1]
                .0
                .duration_since(self.samples[len - 2].0)
                .is_ok_and(|gap| gap < spacing)
        {
            self.samples[len - 1] = (at, step);
        } else {
            self.samples.push_back((at, step));
        }
        // Keep the newest sample that is at least `window` old, so the rate always spans
        // the whole window once there is that much history.
        while self.samples.len() > 2
            && at
                .duration_since(self.samples[1].0)
                .is_ok_and(|age| age >= self.window)
        {
            self.samples.pop_front();
        }
    }

    /// Steps per second over the window; `None` until two samples a moment apart.
    pub fn per_second(&self) -> Option<f64> {
        let (first_at, first_step) = *self.samples.front()?;
        let (last_at, last_step) = *self.samples.back()?;
        let seconds = last_at.duration_since(first_at).ok()?.as_secs_f64();
        (seconds > 0.0).then(|| (last_step - first_step) as f64 / seconds)
    }

    /// Time to reach `target` from the latest step at the current speed.
    pub fn eta(&self, target: u64) -> Option<Duration> {
        let (_, latest) = *self.samples.back()?;
        let rate = self.per_second().filter(|r| *r > 0.0)?;
        let remaining = target.saturating_sub(latest) as f64;
        Duration::try_from_secs_f64(remaining / rate).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn steady_training_gives_its_rate_and_eta() {
        let mut rate = StepRate::default();
        assert_eq!(rate.per_second(), None);
        rate.record(at(0), 1);
        assert_eq!(rate.per_second(), None, "one sample is no rate");
        for step in 2..=600 {
            rate.record(at(step * 100 - 100), step); // 10 steps/s
        }
        let r = rate.per_second().unwrap();
        assert!((r - 10.0).abs() < 1e-9, "{r}");
        assert_eq!(rate.eta(1_000), Some(Duration::from_secs(40)));
        assert_eq!(
            rate.eta(100),
            Some(Duration::ZERO),
            "already past the target"
        );
    }

    #[test]
    fn the_window_forgets_an_old_pace() {
        let mut rate = StepRate::new(Duration::from_secs(10));
        let mut t = 0;
        let mut step = 0;
        for _ in 0..100 {
            t += 100;
            step += 10; // 100 steps/s for 10 s
            rate.record(at(t), step);
        }
        for _ in 0..200 {
            t += 100;
            step += 1; // then 10 steps/s for 20 s
            rate.record(at(t), step);
        }
        let r = rate.per_second().unwrap();
        assert!((r - 10.0).abs() < 0.5, "{r}");
        assert!(
            rate.samples.len() <= SAMPLES as usize + 2,
            "{}",
            rate.samples.len()
        );
    }

    #[test]
    fn a_replayed_burst_measures_the_cloud_clock_not_arrival() {
        let mut rate = StepRate::default();
        // 2 steps/s on the cloud, all delivered at once: only the timestamps matter.
        for step in 1..=100 {
            rate.record(at(step * 500), step);
        }
        let r = rate.per_second().unwrap();
        assert!((r - 2.0).abs() < 1e-9, "{r}");
    }

    #[test]
    fn backwards_samples_are_ignored_and_a_stall_has_no_eta() {
        let mut rate = StepRate::default();
        rate.record(at(1_000), 10);
        rate.record(at(2_000), 20);
        rate.record(at(500), 30);
        rate.record(at(3_000), 15);
        assert_eq!(rate.per_second(), Some(10.0));
        let mut stalled = StepRate::default();
        stalled.record(at(0), 5);
        stalled.record(at(0), 5);
        assert_eq!(stalled.eta(10), None);
    }
}
