//! tmpfs mount options: `--tmpfs /path:opts` strings and `--mount type=tmpfs` size/mode, merged
//! over Docker's defaults the way Docker merges them (a later option of a kind wins).

use crate::{Result, VolumeError};

/// Flags a tmpfs accepts, with the kind each belongs to (a later `ro` overrides an earlier
/// `rw`, and so on).
fn flag_kind(o: &str) -> Option<&'static str> {
    Some(match o {
        "ro" | "rw" => "rw",
        "exec" | "noexec" => "exec",
        "suid" | "nosuid" => "suid",
        "dev" | "nodev" => "dev",
        "atime" | "noatime" => "atime",
        "diratime" | "nodiratime" => "diratime",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        "sync" | "async" => "sync",
        "dirsync" => "dirsync",
        "mand" | "nomand" => "mand",
        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => "propagation",
        _ => return None,
    })
}

/// tmpfs's own data options.
const DATA_KEYS: &[&str] = &[
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
    "huge",
];

/// The options every container tmpfs starts from.
pub(crate) const DEFAULTS: &[&str] = &["noexec", "nosuid", "nodev", "rprivate"];

/// Merges `options` (defaults first, then the user's), keeping the last of each kind in the
/// order they were last given.
pub fn merge(options: &[&str]) -> Result<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for o in options
        .iter()
        .rev()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty() && *o != "defaults")
    {
        let kind = match flag_kind(o) {
            Some(k) => k.to_string(),
            None => match o.split_once('=') {
                Some((k, v)) if DATA_KEYS.contains(&k) && !v.is_empty() => k.to_string(),
                _ => {
                    return Err(VolumeError::InvalidSpec(format!(
                        "invalid tmpfs option \"{o}\""
                    )))
                }
            },
        };
        if seen.insert(kind) {
            out.push(o.to_string());
        }
    }
    out.reverse();
    Ok(out)
}

/// `--mount type=tmpfs` size and mode as tmpfs data: the size with the largest unit that
/// divides it (as Docker writes it), the mode in octal.
pub(crate) fn from_mount_options(
    size_bytes: Option<i64>,
    mode: Option<i64>,
    read_only: bool,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if read_only {
        out.push("ro".to_string());
    }
    match mode {
        Some(m) if !(0..=0o7777).contains(&m) => {
            return Err(VolumeError::InvalidSpec(format!(
                "invalid mount config for type \"tmpfs\": invalid tmpfs mode {m:o}"
            )))
        }
        Some(m) if m != 0 => out.push(format!("mode={m:o}")),
        _ => {}
    }
    match size_bytes {
        Some(s) if s < 0 => {
            return Err(VolumeError::InvalidSpec(format!(
                "invalid mount config for type \"tmpfs\": invalid tmpfs size {s}"
            )))
        }
        Some(s) if s != 0 => {
            let mut size = s;
            let mut suffix = "";
            for (unit, factor) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
                if s % factor == 0 {
                    size = s / factor;
                    suffix = unit;
                    break;
                }
            }
            out.push(format!("size={size}{suffix}"));
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_options_win_and_unknown_ones_are_refused() {
        let mut all = DEFAULTS.to_vec();
        all.extend(["exec", "size=64m", "size=1m", "mode=1777"]);
        assert_eq!(
            merge(&all).unwrap(),
            [
                "nosuid",
                "nodev",
                "rprivate",
                "exec",
                "size=1m",
                "mode=1777"
            ]
        );
        assert_eq!(
            merge(&["bogus"]).unwrap_err().to_string(),
            "invalid tmpfs option \"bogus\""
        );
        assert!(merge(&["size="]).is_err());
    }

    #[test]
    fn mount_sizes_use_the_largest_whole_unit() {
        assert_eq!(
            from_mount_options(Some(1 << 20), Some(0o700), false).unwrap(),
            ["mode=700", "size=1m"]
        );
        assert_eq!(
            from_mount_options(Some(3 << 30), None, true).unwrap(),
            ["ro", "size=3g"]
        );
        assert_eq!(
            from_mount_options(Some(1000), None, false).unwrap(),
            ["size=1000"]
        );
        assert!(from_mount_options(Some(-1), None, false).is_err());
        assert!(from_mount_options(None, Some(0o17777), false).is_err());
        assert!(from_mount_options(None, None, false).unwrap().is_empty());
    }
}
