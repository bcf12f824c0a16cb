//! RFC 3339 timestamps in UTC with nanoseconds, as Docker's json-file log and its API print them
//! (`2026-11-28T04:10:00.123456789Z`). The civil-date conversion is done here so the shim needs no
//! date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;

/// A proleptic Gregorian date: (year, month 1..=12, day 1..=31) for a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01 so that the leap day is the last day of the (March-based) year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0 = March … 11 = February
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Formats seconds and nanoseconds since the epoch (UTC), always with nine fractional digits.
pub fn format_unix(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(SECS_PER_DAY);
    let rem = secs.rem_euclid(SECS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Formats a point in time; times before 1970 are clamped to the epoch.
pub fn format(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    format_unix(d.as_secs() as i64, d.subsec_nanos())
}

/// The current time, formatted.
pub fn now() -> String {
    format(SystemTime::now())
}

/// Parses an RFC 3339 timestamp (any number of fractional digits up to nine, `Z` or a numeric
/// offset) into seconds and nanoseconds since the epoch. `None` when it is not one.
pub fn parse(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month as u32)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start || end - start > 9 {
            return None;
        }
        let digits = num(start..end)? as u32;
        nanos = digits * 10u32.pow(9 - (end - start) as u32);
        i = end;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && sep(i + 3, b":") => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *c == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month as u32, day as u32) * SECS_PER_DAY
        + hour * 3600
        + min * 60
        + sec
        - offset;
    Some((secs, nanos))
}

fn days_in_month(year: i64, month: u32) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format() {
        assert_eq!(format_unix(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_unix(951_782_400, 5),
            "2000-02-29T00:00:00.000000005Z"
        );
        // 2026-11-28T04:10:00Z
        assert_eq!(
            format_unix(1_795_839_000, 123_456_789),
            "2026-11-28T04:10:00.123456789Z"
        );
        assert_eq!(format_unix(-1, 0), "1969-12-31T23:59:59.000000000Z");
        assert_eq!(
            format_unix(253_402_300_799, 999_999_999),
            "9999-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn day_conversion_round_trips_over_centuries() {
        let mut expected = civil_from_days(-800_000);
        for days in -800_000..800_000 {
            let civil = civil_from_days(days);
            assert_eq!(days_from_civil(civil.0, civil.1, civil.2), days);
            if days > -800_000 {
                // Consecutive days are consecutive dates.
                let (y, m, d) = expected;
                let next = if i64::from(d) < days_in_month(y, m) {
                    (y, m, d + 1)
                } else if m < 12 {
                    (y, m + 1, 1)
                } else {
                    (y + 1, 1, 1)
                };
                assert_eq!(civil, next, "day {days}");
            }
            expected = civil;
        }
    }

    #[test]
    fn parse_accepts_what_format_prints_and_offsets() {
        for (secs, nanos) in [(0, 0), (1_795_839_000, 123_456_789), (951_782_400, 1)] {
            assert_eq!(parse(&format_unix(secs, nanos)), Some((secs, nanos)));
        }
        assert_eq!(parse("1970-01-01T01:00:00+01:00"), Some((0, 0)));
        assert_eq!(parse("1970-01-01T00:00:00.5Z"), Some((0, 500_000_000)));
        assert_eq!(parse("1969-12-31T19:00:00-05:00"), Some((0, 0)));
    }

    #[test]
    fn parse_rejects_malformed_timestamps() {
        for bad in [
            "",
            "2026-11-28",
            "2026-11-28T04:10:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T04:10:00.Z",
            "2026-11-28T04:10:00.1234567890Z",
            "2026-11-28T04:10:00Zjunk",
            "2026-11-28T04:10:00+0100",
            "２026-11-28T04:10:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
