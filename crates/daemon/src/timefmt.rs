//! Docker's time arguments (`since`, `until`, the `until` filter) and the human `Status` text
//! of `ps`.
//!
//! [`parse_time`] follows Docker's `GetTimestamp`: a Go duration counts back from now (to the
//! whole second, as Docker does), then RFC 3339 and its shortenings (`2026-11-28`,
//! `2026-11-28T06`, `2026-11-28T06:00`, with or without fraction and zone), then a unix timestamp
//! `secs[.nanos]`. A time without a zone is in the daemon's local zone, at the offset it has now
//! (Go's `time.FixedZone(now.Zone())`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_runtime::shim::time;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Neither a time, a timestamp nor a duration.
    #[error("failed to parse value as time or duration: {0:?}")]
    Unparsable(String),
    /// Looked like a date (it has a `-`) but is not a valid one.
    #[error("parsing time {0:?}: not a valid RFC 3339 date or time")]
    BadDate(String),
}

/// Seconds and nanoseconds since the epoch of a point in time (negative before 1970).
pub fn unix(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            match d.subsec_nanos() {
                0 => (-(d.as_secs() as i64), 0),
                n => (-(d.as_secs() as i64) - 1, 1_000_000_000 - n),
            }
        }
    }
}

/// The point in time of seconds and nanoseconds since the epoch.
pub fn to_system_time((secs, nanos): (i64, u32)) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

/// Parses a Go duration (`10m`, `1h30m`, `1.5h`, `300ms`, `-2s`, `0`) into signed nanoseconds,
/// as Go's `time.ParseDuration` does; `None` when it is not one or does not fit 64 bits.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let unit: i128 = match &after[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        total = total.checked_add(whole.checked_mul(unit)?)?;
        // Go keeps about 18 significant fractional digits; more cannot change the result.
        let frac = &frac[..frac.len().min(18)];
        if !frac.is_empty() {
            let f: i128 = frac.parse().ok()?;
            total += f * unit / 10i128.pow(frac.len() as u32);
        }
        if total > i64::MAX as i128 + i128::from(neg) {
            return None;
        }
        rest = &after[unit_len..];
    }
    let total = if neg { -total } else { total };
    i64::try_from(total).ok()
}

/// A non-negative Go duration as a [`Duration`].
pub fn parse_duration(s: &str) -> Option<Duration> {
    let n = parse_go_duration(s)?;
    u64::try_from(n).ok().map(Duration::from_nanos)
}

/// The local zone's offset from UTC, in seconds east, at `at`.
pub fn local_offset(at: SystemTime) -> i64 {
    let t = unix(at).0 as libc::time_t;
    // SAFETY: localtime_r only writes the tm it is given; an all-zero tm is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        tm.tm_gmtoff
    } else {
        0
    }
}

/// `since`/`until` as Docker takes them, relative to `now`, with zone-less times in the local
/// zone.
pub fn parse_time(s: &str, now: SystemTime) -> Result<(i64, u32), TimeError> {
    parse_time_in(s, now, local_offset(now))
}

/// [`parse_time`] with zone-less times at `local_offset` seconds east of UTC.
pub fn parse_time_in(s: &str, now: SystemTime, local_offset: i64) -> Result<(i64, u32), TimeError> {
    if s != "0" {
        if let Some(nanos) = parse_go_duration(s) {
            let (secs, sub) = unix(now);
            // Docker keeps whole seconds here (Go's Time.Unix floors).
            let at = i128::from(secs) * 1_000_000_000 + i128::from(sub) - i128::from(nanos);
            return Ok((at.div_euclid(1_000_000_000) as i64, 0));
        }
    }
    if s.contains('-') {
        return parse_date_time(s, local_offset).ok_or_else(|| TimeError::BadDate(s.to_string()));
    }
    parse_unix(s).ok_or_else(|| TimeError::Unparsable(s.to_string()))
}

/// `secs` or `secs.fraction` (fraction digits past nine are cut off).
fn parse_unix(s: &str) -> Option<(i64, u32)> {
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let secs_digits = secs.strip_prefix('+').unwrap_or(secs);
    if !digits(secs_digits) {
        return None;
    }
    let secs: i64 = secs_digits.parse().ok()?;
    let nanos = match frac {
        None => 0,
        Some(f) if digits(f) => {
            let nine: String = f.chars().chain(std::iter::repeat('0')).take(9).collect();
            nine.parse().ok()?
        }
        Some(_) => return None,
    };
    Some((secs, nanos))
}

/// `YYYY-MM-DD`, then optionally `Thh`, `:mm`, `:ss`, `.fraction`, then optionally a zone (`Z`
/// or `±hh:mm`); a missing zone is `local_offset`.
fn parse_date_time(s: &str, local_offset: i64) -> Option<(i64, u32)> {
    if s.len() < 10 || !s.is_char_boundary(10) {
        return None;
    }
    let (date, mut rest) = s.split_at(10);
    let mut clock = String::from("00:00:00");
    if let Some(r) = rest.strip_prefix(['T', 't']) {
        // hh, hh:mm or hh:mm:ss, each field two digits; then an optional fraction.
        let end = r.find(['Z', 'z', '+', '-']).unwrap_or(r.len());
        let (time_part, zone) = r.split_at(end);
        let (hms, frac) = match time_part.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (time_part, None),
        };
        let fields: Vec<&str> = hms.split(':').collect();
        if fields.len() > 3 || fields.iter().any(|f| f.len() != 2) {
            return None;
        }
        if frac.is_some() && fields.len() != 3 {
            return None;
        }
        clock = (0..3)
            .map(|i| fields.get(i).copied().unwrap_or("00"))
            .collect::<Vec<_>>()
            .join(":");
        if let Some(f) = frac {
            clock.push('.');
            clock.push_str(f);
        }
        rest = zone;
    }
    let (zone, offset) = match rest {
        "" => ("Z".to_string(), local_offset),
        z => (z.to_string(), 0),
    };
    let (secs, nanos) = time::parse(&format!("{date}T{clock}{zone}"))?;
    Some((secs - offset, nanos))
}

/// go-units' `HumanDuration`, the wording of `ps` and `images`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours_f = d.as_secs_f64() / 3600.0;
    let hours = (hours_f + 0.5) as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours_f as u64 / 24 / 365)
}

/// A stored RFC 3339 time; Go's zero time (`0001-01-01T00:00:00Z`) and garbage count as unset.
fn stored_time(at: Option<&str>) -> Option<(i64, u32)> {
    let t = time::parse(at?)?;
    // Anything before 1900 is a zero value, not a real start or finish.
    (t.0 > -2_208_988_800).then_some(t)
}

fn ago(at: Option<(i64, u32)>, now: SystemTime) -> String {
    let elapsed = match at {
        Some(t) => now.duration_since(to_system_time(t)).unwrap_or_default(),
        None => Duration::ZERO,
    };
    human_duration(elapsed)
}

/// The `Status` text of `GET /containers/json`, as Docker words it: `Up 3 seconds`,
/// `Up 2 hours (Paused)`, `Restarting (1) 2 seconds ago`, `Exited (0) 5 seconds ago`,
/// `Created`, `Dead`, `Removal In Progress`. `status` is the API's `State` string.
pub fn status_text(
    status: &str,
    exit_code: i64,
    started_at: Option<&str>,
    finished_at: Option<&str>,
    now: SystemTime,
) -> String {
    status_text_health(status, exit_code, started_at, finished_at, None, now)
}

/// [`status_text`] with the health status of a running container (`starting`, `healthy`,
/// `unhealthy`; `none` or `None` adds nothing): `Up 5 minutes (healthy)`,
/// `Up 3 seconds (health: starting)`.
pub fn status_text_health(
    status: &str,
    exit_code: i64,
    started_at: Option<&str>,
    finished_at: Option<&str>,
    health: Option<&str>,
    now: SystemTime,
) -> String {
    let (started, finished) = (stored_time(started_at), stored_time(finished_at));
    match status {
        "running" => {
            let up = ago(started, now);
            match health.filter(|h| !h.is_empty() && *h != "none") {
                Some("starting") => format!("Up {up} (health: starting)"),
                Some(h) => format!("Up {up} ({h})"),
                None => format!("Up {up}"),
            }
        }
        "paused" => format!("Up {} (Paused)", ago(started, now)),
        "restarting" => format!("Restarting ({exit_code}) {} ago", ago(finished, now)),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        _ if started.is_none() => "Created".into(),
        _ if finished.is_none() => String::new(),
        _ => format!("Exited ({exit_code}) {} ago", ago(finished, now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn at(s: &str) -> Result<(i64, u32), TimeError> {
        parse_time_in(s, now(), 0)
    }

    #[test]
    fn go_durations() {
        let s = 1_000_000_000i64;
        assert_eq!(parse_go_duration("10m"), Some(600 * s));
        assert_eq!(parse_go_duration("1h30m"), Some(5400 * s));
        assert_eq!(parse_go_duration("1.5h"), Some(5400 * s));
        assert_eq!(parse_go_duration(".5s"), Some(s / 2));
        assert_eq!(parse_go_duration("1.s"), Some(s));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("2us"), Some(2000));
        assert_eq!(parse_go_duration("2µs"), Some(2000));
        assert_eq!(parse_go_duration("-2s"), Some(-2 * s));
        assert_eq!(parse_go_duration("+2s"), Some(2 * s));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(
            parse_go_duration("1h2m3s4ms5us6ns"),
            Some(3723 * s + 4_005_006)
        );
        for bad in ["", "10", "m", ".s", "10x", "1h 2m", "-", "1e3s", "3000000h"] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn durations_count_back_from_now() {
        assert_eq!(at("10m").unwrap(), (NOW as i64 - 600, 0));
        assert_eq!(at("1h30m").unwrap(), (NOW as i64 - 5400, 0));
        assert_eq!(at("1.5h").unwrap(), (NOW as i64 - 5400, 0));
        // Whole seconds, floored, as Docker sends them.
        assert_eq!(at("300ms").unwrap(), (NOW as i64 - 1, 0));
        assert_eq!(at("-10s").unwrap(), (NOW as i64 + 10, 0));
    }

    #[test]
    fn unix_timestamps() {
        assert_eq!(at("1700000000").unwrap(), (1_700_000_000, 0));
        assert_eq!(at("1700000000.5").unwrap(), (1_700_000_000, 500_000_000));
        assert_eq!(
            at("1700000000.123456789").unwrap(),
            (1_700_000_000, 123_456_789)
        );
        assert_eq!(
            at("1700000000.1234567891").unwrap(),
            (1_700_000_000, 123_456_789)
        );
        assert_eq!(at("0").unwrap(), (0, 0));
        for bad in ["yesterday", "10x", "1.2.3", "1.", ".5", "", "12abc"] {
            assert_eq!(at(bad), Err(TimeError::Unparsable(bad.into())), "{bad:?}");
        }
        assert_eq!(
            at("yesterday").unwrap_err().to_string(),
            "failed to parse value as time or duration: \"yesterday\""
        );
    }

    #[test]
    fn rfc3339_and_shortenings() {
        let t = 1_700_000_000;
        assert_eq!(at("2023-11-14T22:13:20Z").unwrap(), (t, 0));
        assert_eq!(at("2023-11-14T22:13:20.25Z").unwrap(), (t, 250_000_000));
        assert_eq!(at("2023-11-14T23:13:20+01:00").unwrap(), (t, 0));
        assert_eq!(at("2023-11-14T17:13:20-05:00").unwrap(), (t, 0));
        assert_eq!(at("2023-11-14T22:13:20").unwrap(), (t, 0));
        assert_eq!(at("2023-11-14T22:13:20.5").unwrap(), (t, 500_000_000));
        assert_eq!(at("2023-11-14T22:13").unwrap(), (t - 20, 0));
        assert_eq!(at("2023-11-14T22").unwrap(), (t - 13 * 60 - 20, 0));
        assert_eq!(at("2023-11-14T22Z").unwrap(), (t - 13 * 60 - 20, 0));
        assert_eq!(at("2023-11-14T23:13+01:00").unwrap(), (t - 20, 0));
        assert_eq!(at("2023-11-14").unwrap(), (1_699_920_000, 0));
        assert_eq!(at("2023-11-14Z").unwrap(), (1_699_920_000, 0));
        assert_eq!(at("2023-11-14+02:00").unwrap(), (1_699_920_000 - 7200, 0));
        // Zone-less values are local time.
        let east2 = parse_time_in("2023-11-14T22:13:20", now(), 7200).unwrap();
        assert_eq!(east2, (t - 7200, 0));
        assert_eq!(
            parse_time_in("2023-11-14T22:13:20Z", now(), 7200).unwrap(),
            (t, 0)
        );
        for bad in [
            "2023-13-01",
            "2023-11-14T25",
            "2023-11-14T1",
            "2023-11-14T22:13.5",
            "2023-11",
            "-5",
            "2023-11-14T22:13:20+0100",
            "2023-11-1é",
        ] {
            assert_eq!(at(bad), Err(TimeError::BadDate(bad.into())), "{bad:?}");
        }
    }

    #[test]
    fn local_offset_is_sane() {
        assert!(local_offset(now()).abs() <= 14 * 3600);
        // Smoke test the real entry point: an explicit zone does not depend on it.
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now()).unwrap(),
            (1_700_000_000, 0)
        );
    }

    #[test]
    fn unix_conversions() {
        assert_eq!(
            unix(UNIX_EPOCH - Duration::from_millis(1500)),
            (-2, 500_000_000)
        );
        assert_eq!(unix(UNIX_EPOCH - Duration::from_secs(3)), (-3, 0));
        for t in [(-2, 500_000_000), (5, 7), (0, 0)] {
            assert_eq!(unix(to_system_time(t)), t);
        }
    }

    #[test]
    fn human_durations_match_go_units() {
        let d = Duration::from_secs;
        let (min, hour, day) = (60, 3600, 86_400);
        let (week, month, year) = (7 * day, 30 * day, 365 * day);
        let cases: &[(u64, &str)] = &[
            (1, "1 second"),
            (45, "45 seconds"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (119, "About a minute"),
            (3 * min, "3 minutes"),
            (35 * min + 40, "35 minutes"),
            (59 * min, "59 minutes"),
            (hour, "About an hour"),
            (hour + 29 * min, "About an hour"),
            (hour + 31 * min, "2 hours"),
            (3 * hour + 29 * min, "3 hours"),
            (3 * hour + 31 * min, "4 hours"),
            (day, "24 hours"),
            (day + 12 * hour, "36 hours"),
            (2 * day, "2 days"),
            (13 * day + 5 * hour, "13 days"),
            (2 * week, "2 weeks"),
            (4 * week + 3 * day, "4 weeks"),
            (month, "4 weeks"),
            (month + 2 * week, "6 weeks"),
            (2 * month, "2 months"),
            (5 * month + 2 * week, "5 months"),
            (24 * month, "24 months"),
            (24 * month + 2 * week, "2 years"),
            (3 * year + 2 * month, "3 years"),
        ];
        assert_eq!(
            human_duration(Duration::from_millis(450)),
            "Less than a second"
        );
        for (secs, want) in cases {
            assert_eq!(human_duration(d(*secs)), *want, "{secs}s");
        }
    }

    #[test]
    fn status_texts() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_010);
        let t = Some("2023-11-14T22:13:20.000000000Z");
        let zero = Some("0001-01-01T00:00:00Z");
        assert_eq!(status_text("running", 0, t, zero, now), "Up 10 seconds");
        assert_eq!(
            status_text("running", 0, Some("2023-11-14T22:12:10Z"), None, now),
            "Up About a minute"
        );
        assert_eq!(
            status_text("paused", 0, t, None, now),
            "Up 10 seconds (Paused)"
        );
        assert_eq!(
            status_text("restarting", 1, t, t, now),
            "Restarting (1) 10 seconds ago"
        );
        assert_eq!(
            status_text("exited", 3, t, t, now),
            "Exited (3) 10 seconds ago"
        );
        assert_eq!(
            status_text("exited", 137, t, Some("2023-11-14T20:13:20Z"), now),
            "Exited (137) 2 hours ago"
        );
        assert_eq!(status_text("created", 0, None, None, now), "Created");
        assert_eq!(status_text("created", 0, zero, zero, now), "Created");
        assert_eq!(status_text("exited", 0, t, zero, now), "");
        assert_eq!(status_text("dead", 0, t, t, now), "Dead");
        assert_eq!(status_text("removing", 0, t, t, now), "Removal In Progress");
        // A start a little in the future (clock skew) is not negative.
        assert_eq!(
            status_text("running", 0, Some("2023-11-14T22:13:40Z"), None, now),
            "Up Less than a second"
        );
        let h = |health| status_text_health("running", 0, t, None, health, now);
        assert_eq!(h(Some("healthy")), "Up 10 seconds (healthy)");
        assert_eq!(h(Some("unhealthy")), "Up 10 seconds (unhealthy)");
        assert_eq!(h(Some("starting")), "Up 10 seconds (health: starting)");
        assert_eq!(h(Some("none")), "Up 10 seconds");
    }
}
