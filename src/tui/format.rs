//! Small text formatters shared by the panels (durations, clock times, config values).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::core::events::signal_name;
use crate::core::events::{ConfigChange, ExitStatus, RestartCause, RunInfo};

/// `850ms`, `3.2s`, `12s`, `4m05s`, `2h03m`: compact and stable in width class.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 10_000 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    clock_duration(d)
}

/// Whole-second duration for uptimes and countdowns: `12s`, `4m05s`, `2h03m`.
pub fn clock_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// `d` rounded up to whole seconds: a countdown shows `30s` for 29.9 s left, and `0s` only
/// when the time is up.
pub fn ceil_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// How long until a [`clock_duration`] of `elapsed` shows a different text.
pub fn clock_duration_next_change(elapsed: Duration) -> Duration {
    let step = if elapsed.as_secs() < 3600 {
        1_000
    } else {
        60_000
    };
    let ms = elapsed.as_millis() as u64;
    Duration::from_millis(step - ms % step)
}

/// `HH:MM:SS` wall-clock time at a fixed UTC offset (the App is given the offset once).
pub fn clock_time(t: SystemTime, utc_offset_secs: i64) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let day_secs = (secs + utc_offset_secs).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        day_secs / 3600,
        (day_secs % 3600) / 60,
        day_secs % 60
    )
}

/// `2026-05-02 14:03` at a fixed UTC offset: when a cloud job was created (it may be from
/// another day).
pub fn date_time(t: SystemTime, utc_offset_secs: i64) -> String {
    let offset = Duration::from_secs(utc_offset_secs.unsigned_abs());
    let local = if utc_offset_secs >= 0 {
        t.checked_add(offset)
    } else {
        t.checked_sub(offset)
    };
    let (year, month, day, hour, minute, ..) =
        crate::core::timestamp::parts(local.unwrap_or(UNIX_EPOCH));
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

/// `0` / `1` / `SIGKILL`.
pub fn exit_status(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(c) => c.to_string(),
        ExitStatus::Signal(n) => signal_name(*n),
    }
}

/// `learningRate 0.0002 → 0.0001` (values are compact JSON; long ones are shortened).
pub fn config_change(change: &ConfigChange) -> String {
    format!(
        "{} {} → {}",
        change.key,
        config_value(change.old.as_deref()),
        config_value(change.new.as_deref())
    )
}

fn config_value(v: Option<&str>) -> String {
    const MAX: usize = 28;
    match v {
        None => "(unset)".to_string(),
        Some(v) if v.chars().count() > MAX => {
            let head: String = v.chars().take(MAX - 1).collect();
            format!("{head}…")
        }
        Some(v) => v.to_string(),
    }
}

/// `a → b, c → d` for a list of changes; empty when there is none.
pub fn config_changes(changes: &[ConfigChange]) -> String {
    changes
        .iter()
        .map(config_change)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a run holding a config change is behind by (`learningRate 0.0002 → 0.0001`), or that
/// its config changed when the difference is unknown.
pub fn pending_changes(run: &RunInfo) -> String {
    run.pending_config
        .as_deref()
        .map(config_changes)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "the job config changed".into())
}

/// Why a run replaced another: the config changes (values shortened), or the cause's words.
pub fn restart_cause(cause: &RestartCause) -> String {
    match cause {
        RestartCause::ConfigChanged { changes } if !changes.is_empty() => config_changes(changes),
        other => other.to_string(),
    }
}

/// First `n` chars of a hash (hashes are ASCII hex).
pub fn short(hash: &str, n: usize) -> &str {
    hash.get(..n).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_calendar_dates_at_the_offset() {
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(date_time(at(0), 0), "1970-01-01 00:00");
        // 2024-02-29 23:30 UTC, a leap day; an hour east is the next day.
        assert_eq!(date_time(at(1_709_249_400), 0), "2024-02-29 23:30");
        assert_eq!(date_time(at(1_709_249_400), 3600), "2024-03-01 00:30");
        assert_eq!(date_time(at(1_777_680_000), 0), "2026-05-02 00:00");
    }

    #[test]
    fn countdowns_round_up() {
        assert_eq!(
            ceil_secs(Duration::from_millis(29_990)),
            Duration::from_secs(30)
        );
        assert_eq!(ceil_secs(Duration::from_secs(30)), Duration::from_secs(30));
        assert_eq!(ceil_secs(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(38)), "38ms");
        assert_eq!(duration(Duration::from_millis(3_250)), "3.2s");
        assert_eq!(clock_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(clock_duration(Duration::from_secs(7_380)), "2h03m");
    }

    #[test]
    fn next_change_is_the_next_visible_step() {
        assert_eq!(
            clock_duration_next_change(Duration::from_millis(12_300)),
            Duration::from_millis(700)
        );
        assert_eq!(
            clock_duration_next_change(Duration::from_secs(3_600 + 30)),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn clock_time_wraps_days_and_offsets() {
        let t = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3_661);
        assert_eq!(clock_time(t, 0), "01:01:01");
        assert_eq!(clock_time(t, -7_200), "23:01:01");
    }

    #[test]
    fn config_change_text() {
        let c = ConfigChange {
            key: "learningRate".into(),
            old: Some("0.0002".into()),
            new: Some("0.0001".into()),
        };
        assert_eq!(config_change(&c), "learningRate 0.0002 → 0.0001");
        let gone = ConfigChange {
            key: "lora.r".into(),
            old: Some("16".into()),
            new: None,
        };
        assert_eq!(config_change(&gone), "lora.r 16 → (unset)");
    }
}
