//! The `timestamp` of a job event (`2026-05-01T00:00:01.250Z`, as JavaScript's
//! `toISOString` writes it, or any RFC 3339 offset) as a [`SystemTime`]. Rates and ETAs are
//! computed on the cloud's clock, so a replayed history does not look like a burst.

use std::time::{Duration, SystemTime};

/// `None` for anything that is not an RFC 3339 date-time at or after 1970.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos: u64 = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        for (i, c) in frac[..len].iter().enumerate().take(9) {
            nanos += u64::from(c - b'0') * 10u64.pow(8 - i as u32);
        }
        rest = &frac[len..];
    }
    let offset_seconds: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let seconds = u64::try_from(seconds).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_nanos(nanos))
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> Option<u128> {
        parse_rfc3339(text).map(|t| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        })
    }

    #[test]
    fn javascript_iso_strings_parse_to_the_right_instant() {
        // Date.parse("2026-05-01T00:00:01.250Z")
        assert_eq!(millis("2026-05-01T00:00:01.250Z"), Some(1_777_593_601_250));
        assert_eq!(millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(millis("2000-02-29T12:00:00.5Z"), Some(951_825_600_500));
        assert_eq!(
            millis("2026-05-01T02:00:01.250+02:00"),
            Some(1_777_593_601_250)
        );
        assert_eq!(millis("2026-04-30T23:00:00-01:00"), Some(1_777_593_600_000));
    }

    #[test]
    fn malformed_or_impossible_dates_are_rejected() {
        for bad in [
            "",
            "2026-05-01",
            "2026-05-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-05-01T24:00:00Z",
            "2026-05-01T00:00:00.Z",
            "2026-05-01T00:00:00+2:00",
            "1969-12-31T23:59:59Z",
            "２０２６-05-01T00:00:00Z",
            "not a timestamp at all",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
