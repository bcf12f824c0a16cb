//! Sizes, durations and times the way the docker CLI reads and prints them (go-units and Go's
//! `time` package): `-m 512m`, `--since 10m`, "1.23MB", "About a minute ago".

use std::time::{SystemTime, UNIX_EPOCH};

/// go-units `RAMInBytes`: a decimal number with an optional binary unit (b, k, m, g, t, p; an
/// `i` and/or `b` may follow), e.g. `512m`, `1.5g`, `100`, `2 GiB`.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let err = || format!("invalid size: '{s}'");
    let lower = s.to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, mut unit) = lower.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(err());
    }
    let value: f64 = num.parse().map_err(|_| err())?;
    unit = unit.strip_prefix(' ').unwrap_or(unit);
    let (mult, rest) = match unit.chars().next() {
        Some('k') => (1i64 << 10, &unit[1..]),
        Some('m') => (1 << 20, &unit[1..]),
        Some('g') => (1 << 30, &unit[1..]),
        Some('t') => (1 << 40, &unit[1..]),
        Some('p') => (1 << 50, &unit[1..]),
        _ => (1, unit),
    };
    let rest = rest.strip_prefix('i').unwrap_or(rest);
    let rest = rest.strip_prefix('b').unwrap_or(rest);
    if !rest.is_empty() {
        return Err(err());
    }
    Ok((value * mult as f64) as i64)
}

/// Go's `%.{prec}g`: `prec` significant digits, trailing zeros dropped, exponent form when the
/// exponent is below -4 or at least `prec`.
pub fn go_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

fn scaled(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// go-units `HumanSizeWithPrecision`: decimal units ("1.23MB").
pub fn human_size_prec(size: f64, prec: usize) -> String {
    let (v, unit) = scaled(size, 1000.0, &DECIMAL_UNITS);
    format!("{}{unit}", go_g(v, prec))
}

/// go-units `HumanSize` (4 significant digits), as `system df` prints.
pub fn human_size(size: f64) -> String {
    human_size_prec(size, 4)
}

/// go-units `BytesSize`: binary units ("1.944GiB"), as `info` prints total memory.
pub fn bytes_size(size: f64) -> String {
    let (v, unit) = scaled(size, 1024.0, &BINARY_UNITS);
    format!("{}{unit}", go_g(v, 4))
}

/// go-units `HumanDuration`, for "Up 3 seconds" and "2 minutes ago".
pub fn human_duration(secs: f64) -> String {
    let seconds = secs as i64;
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
    let hours = (secs / 3600.0).round() as i64;
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
    format!("{} years", seconds / 3600 / 24 / 365)
}

/// "N units ago" for a unix time, relative to now.
pub fn since(unix: i64) -> String {
    format!(
        "{} ago",
        human_duration((now_secs() - unix as f64).max(0.0))
    )
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Go's `time.ParseDuration`, in seconds: `10m`, `1h30m`, `1.5s`, `-2h`, `300ms`, `0`.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Some(if neg { -total } else { total })
}

/// docker's `timetypes.GetTimestamp`, which turns `--since`/`--until` values into what the API
/// takes: a Go duration becomes `now - d` in unix seconds, an RFC 3339 date or date-time (local
/// time when it carries no zone) becomes `seconds.nanoseconds`, and a unix timestamp passes
/// through unchanged.
pub fn api_timestamp(value: &str, now: f64) -> Result<String, String> {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            return Ok(format!("{}", (now - d).floor() as i64));
        }
    }
    if value.contains('-') {
        let (secs, nanos) = parse_datetime(value)
            .ok_or_else(|| format!("parsing time {value:?}: invalid timestamp"))?;
        return Ok(format!("{secs}.{nanos:09}"));
    }
    let mut parts = value.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    let ok = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && !matches!(frac, Some(f) if f.is_empty() || !f.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!(
            "failed to parse value as time or duration: {value:?}"
        ))
    }
}

/// `YYYY-MM-DD[THH[:MM[:SS[.frac]]]][Z|±HH:MM]` to unix seconds and nanoseconds.
fn parse_datetime(s: &str) -> Option<(i64, u32)> {
    let (date, rest) = s.split_at(s.find(['T', 't']).unwrap_or(s.len()));
    let rest = rest.get(1..).unwrap_or("");
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    // A date alone may still carry a zone suffix in docker's accepted forms; ignore that case.
    let day: u32 = d.next()?.get(..2)?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Split the time from its zone.
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let mut hms = [0u32; 3];
    let mut nanos = 0u32;
    if !time.is_empty() {
        let (clock, frac) = match time.split_once('.') {
            Some((c, f)) => (c, Some(f)),
            None => (time, None),
        };
        for (i, part) in clock.split(':').enumerate() {
            if i >= 3 || part.len() != 2 {
                return None;
            }
            hms[i] = part.parse().ok()?;
        }
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            nanos = format!("{f:0<9}").parse().ok()?;
        }
    }
    let local =
        days_from_civil(year, month, day) * 86400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    let secs = match zone {
        "" => local - local_offset(local),
        "Z" | "z" => local,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (h, m) = z[1..].split_once(':')?;
            local - sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    Some((secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The inverse of `days_from_civil`.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The local zone's offset from UTC (seconds) and abbreviation at a unix time.
fn local_zone(unix: i64) -> (i64, String) {
    // SAFETY: localtime_r only writes the tm we hand it; tm_zone points into static tz data.
    unsafe {
        let t: libc::time_t = unix as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return (0, "UTC".into());
        }
        let zone = if tm.tm_zone.is_null() {
            "UTC".to_string()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        (tm.tm_gmtoff as i64, zone)
    }
}

fn local_offset(unix: i64) -> i64 {
    local_zone(unix).0
}

/// Go's `time.Unix(s, 0).String()` in local time: `2006-01-02 15:04:05 -0700 MST`.
pub fn go_time_string(unix: i64) -> String {
    let (offset, zone) = local_zone(unix);
    let (date, clock) = civil_clock(unix + offset);
    format!("{date} {clock} {} {zone}", offset_string(offset, false))
}

/// RFC 3339 in local time, as `history --human=false` prints: `2006-01-02T15:04:05Z07:00`.
pub fn rfc3339_local(unix: i64) -> String {
    let (offset, _) = local_zone(unix);
    let (date, clock) = civil_clock(unix + offset);
    let zone = if offset == 0 {
        "Z".to_string()
    } else {
        offset_string(offset, true)
    };
    format!("{date}T{clock}{zone}")
}

fn civil_clock(t: i64) -> (String, String) {
    let (y, m, d) = civil_from_days(t.div_euclid(86400));
    let s = t.rem_euclid(86400);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
    )
}

fn offset_string(offset: i64, colon: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let o = offset.abs();
    if colon {
        format!("{sign}{:02}:{:02}", o / 3600, o / 60 % 60)
    } else {
        format!("{sign}{:02}{:02}", o / 3600, o / 60 % 60)
    }
}

/// An RFC 3339 timestamp from the API (e.g. inspect's `Created`) to unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    parse_datetime(s).map(|(secs, _)| secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_like_go_units() {
        assert_eq!(parse_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("64k"), Ok(65536));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("10b"), Ok(10));
        assert_eq!(parse_bytes("1 MB"), Ok(1 << 20));
        assert!(parse_bytes("abc").is_err());
        assert!(parse_bytes("12x").is_err());
        assert!(parse_bytes("").is_err());
    }

    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(human_size_prec(1_234_567.0, 3), "1.23MB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(999.0, 3), "999B");
        assert_eq!(human_size_prec(7_800_000.0, 3), "7.8MB");
        assert_eq!(human_size_prec(123_456_789.0, 3), "123MB");
        assert_eq!(human_size_prec(999_999.0, 3), "1e+03kB");
        assert_eq!(human_size(5_300_000.0), "5.3MB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(bytes_size(2_087_321_600.0), "1.944GiB");
    }

    #[test]
    fn durations_print_like_docker() {
        assert_eq!(human_duration(0.4), "Less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(2.0), "2 seconds");
        assert_eq!(human_duration(59.0), "59 seconds");
        assert_eq!(human_duration(60.0), "About a minute");
        assert_eq!(human_duration(119.0), "About a minute");
        assert_eq!(human_duration(120.0), "2 minutes");
        assert_eq!(human_duration(3599.0), "59 minutes");
        assert_eq!(human_duration(3600.0), "About an hour");
        assert_eq!(human_duration(5400.0), "2 hours");
        assert_eq!(human_duration(47.0 * 3600.0), "47 hours");
        assert_eq!(human_duration(3.0 * 86400.0), "3 days");
        assert_eq!(human_duration(20.0 * 86400.0), "2 weeks");
        assert_eq!(human_duration(90.0 * 86400.0), "3 months");
        assert_eq!(human_duration(800.0 * 86400.0), "2 years");
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("10m"), Some(600.0));
        assert_eq!(parse_go_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_go_duration("1.5s"), Some(1.5));
        assert_eq!(parse_go_duration("300ms"), Some(0.3));
        assert_eq!(parse_go_duration("0"), Some(0.0));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("m"), None);
        assert_eq!(parse_go_duration("2x"), None);
    }

    #[test]
    fn timestamps_convert_like_docker() {
        let now = 1_700_000_000.0;
        assert_eq!(api_timestamp("10m", now).unwrap(), "1699999400");
        assert_eq!(api_timestamp("1700000000", now).unwrap(), "1700000000");
        assert_eq!(api_timestamp("1700000000.5", now).unwrap(), "1700000000.5");
        assert_eq!(
            api_timestamp("2013-01-02T13:23:37Z", now).unwrap(),
            "1357133017.000000000"
        );
        assert_eq!(
            api_timestamp("2013-01-02T13:23:37.25+01:00", now).unwrap(),
            "1357129417.250000000"
        );
        assert!(api_timestamp("yesterday", now).is_err());
        assert!(api_timestamp("2013-13-02", now).is_err());
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1000, 0, 1, 365, 10957, 19723, 30000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.123456789Z"),
            Some(1_709_208_000)
        );
    }
}
