//! Volume names: Docker's rule for the local driver, random ids for anonymous volumes, and the
//! RFC 3339 timestamps inspect shows.

use crate::{Result, VolumeError};

/// Checks a local volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so at least two characters and
/// never a path (which is what keeps `<root>/<name>` inside the volume root).
pub fn validate_name(name: &str) -> Result<()> {
    let ok_first = |c: char| c.is_ascii_alphanumeric();
    let ok_rest = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut chars = name.chars();
    let valid = match chars.next() {
        Some(first) => ok_first(first) && chars.all(ok_rest),
        None => false,
    };
    if valid && name.len() == 1 {
        return Err(VolumeError::NameTooShort);
    }
    if !valid || name.len() < 2 {
        return Err(VolumeError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// A new 64-hex-digit name, as Docker gives anonymous volumes.
pub fn generate_name() -> String {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `bytes`.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // getrandom(2) only fails this way before the entropy pool is up at early boot,
            // long before a daemon starts: nothing sensible remains but to stop.
            panic!("getrandom failed: {}", std::io::Error::last_os_error());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds since the epoch as RFC 3339 in UTC ("2024-05-01T12:00:00Z").
pub(crate) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["ab", "my-vol", "a.b_c-1", "0volume", "A9"] {
            validate_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert_eq!(
            validate_name("a b").unwrap_err().to_string(),
            "\"a b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        for bad in ["", "-ab", ".x", "a/b", "../x", "x:y", "é1"] {
            assert!(
                matches!(validate_name(bad), Err(VolumeError::InvalidName(_))),
                "{bad}"
            );
        }
        assert_eq!(
            validate_name("a").unwrap_err().to_string(),
            "volume name is too short, names should be at least two alphanumeric characters"
        );
    }

    #[test]
    fn generated_names_are_64_hex_and_differ() {
        let (a, b) = (generate_name(), generate_name());
        assert_eq!(a.len(), 64);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        validate_name(&a).unwrap();
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800 + 3723), "2024-05-01T13:02:03Z");
    }
}
