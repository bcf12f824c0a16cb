//! Parsers for `run`/`create` flag values, each mirroring the docker CLI function named in its
//! comment, with docker's error wording.

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// `--memory-swap`: a size, or -1 for unlimited swap.
pub fn parse_memory_swap(s: &str) -> std::result::Result<i64, String> {
    if s == "-1" {
        Ok(-1)
    } else {
        crate::units::parse_bytes(s)
    }
}

/// `--cpus 1.5` to nano-CPUs, exactly (docker refuses more than 9 decimals).
pub fn parse_nano_cpus(s: &str) -> std::result::Result<i64, String> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits_ok = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits_ok(whole) || !digits_ok(frac) {
        return Err(format!("failed to parse {s} as a rational number"));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > 9 {
        return Err("value is too precise".into());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| "value is too large".to_string())?
    };
    let frac_nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().unwrap_or(0)
    };
    whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(frac_nanos))
        .ok_or_else(|| "value is too large".to_string())
}

/// Docker's capability spelling: upper case with the `CAP_` prefix (but `ALL` stays `ALL`).
pub fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn parse_restart(s: &str) -> std::result::Result<(String, i64), String> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [name] => Ok((name.to_string(), 0)),
        [name, n] => {
            if *name != "on-failure" {
                return Err("maximum retry count can only be used with 'on-failure'".into());
            }
            let n: i64 = n.parse().map_err(|_| {
                "invalid restart policy format: maximum retry count must be an integer".to_string()
            })?;
            Ok((name.to_string(), n))
        }
        _ => Err(format!("invalid restart policy format: {s}")),
    }
}

const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// go-units `ParseUlimit`: `name=soft[:hard]`.
pub fn parse_ulimit(s: &str) -> std::result::Result<Value, String> {
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let parse = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("invalid ulimit value: {v}"))
    };
    let (soft, hard) = (parse(soft)?, parse(hard)?);
    if soft > hard && hard != -1 {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

/// docker's `parseSecurityOpts`: `key=value` (or `key:value`); a seccomp profile path is read
/// and sent inline, as the daemon cannot read the client's files.
pub fn parse_security_opt(opt: &str) -> Result<String> {
    let (k, val) = match opt.split_once('=') {
        Some(kv) => kv,
        None if opt == "no-new-privileges" => return Ok(opt.to_string()),
        None => opt.split_once(':').unwrap_or((opt, "")),
    };
    if val.is_empty() && k != "no-new-privileges" {
        return Err(Error::client(format!("Invalid --security-opt: {opt:?}")));
    }
    if k == "seccomp" && val != "unconfined" && val != "builtin" {
        let data = std::fs::read(val)
            .map_err(|e| Error::client(format!("opening seccomp profile ({val}) failed: {e}")))?;
        let profile = crate::value::V::parse(&data).map_err(|e| {
            Error::client(format!(
                "compacting json for seccomp profile ({val}) failed: {e}"
            ))
        })?;
        return Ok(format!("seccomp={}", profile.to_json()));
    }
    Ok(opt.to_string())
}

fn valid_device_mode(m: &str) -> bool {
    !m.is_empty() && m.len() <= 3 && m.chars().all(|c| "rwm".contains(c)) && {
        let mut seen = m.chars().collect::<Vec<_>>();
        seen.sort();
        seen.dedup();
        seen.len() == m.len()
    }
}

/// docker's `parseDevice`: `host[:container][:perms]`, perms default `rwm`.
pub fn parse_device(s: &str) -> std::result::Result<Value, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, mut dst, mut perms) = (parts[0], "", "rwm");
    match parts.len() {
        1 => {}
        2 if valid_device_mode(parts[1]) => perms = parts[1],
        2 => dst = parts[1],
        3 => {
            dst = parts[1];
            perms = parts[2];
        }
        _ => return Err(format!("invalid device specification: {s}")),
    }
    if !src.starts_with('/') {
        return Err(format!("bad format for path: {src}"));
    }
    if dst.is_empty() {
        dst = src;
    }
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}))
}

pub fn expand_range(r: &str) -> std::result::Result<Vec<u32>, String> {
    let parse = |p: &str| {
        p.parse::<u32>()
            .ok()
            .filter(|n| *n <= 65535)
            .ok_or_else(|| format!("invalid port: {p}"))
    };
    match r.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if b < a {
                return Err(format!("invalid range: {r}"));
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![parse(r)?]),
    }
}

/// `[ip:][hostPort:]containerPort[/proto]`, ranges allowed: port key → `{HostIp, HostPort}`.
pub fn parse_publish(s: &str) -> std::result::Result<Vec<(String, Value)>, String> {
    let (addr, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
    let (rest, container) = match addr.rsplit_once(':') {
        Some((r, c)) => (Some(r), c),
        None => (None, addr),
    };
    let (ip, host_port) = match rest {
        None => ("", ""),
        Some(r) => match r.rsplit_once(':') {
            Some((ip, hp)) => (ip.trim_start_matches('[').trim_end_matches(']'), hp),
            None => ("", r),
        },
    };
    let cports = expand_range(container)?;
    let hports: Vec<String> = if host_port.is_empty() {
        vec![String::new(); cports.len()]
    } else {
        let h = expand_range(host_port)?;
        if h.len() == cports.len() {
            h.iter().map(|p| p.to_string()).collect()
        } else if cports.len() == 1 {
            // One container port on a host range: docker lets the daemon pick within it.
            vec![host_port.to_string()]
        } else {
            return Err("port ranges don't match in size".into());
        }
    };
    Ok(cports
        .iter()
        .zip(hports)
        .map(|(c, h)| (format!("{c}/{proto}"), json!({"HostIp": ip, "HostPort": h})))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_parsers() {
        assert_eq!(parse_nano_cpus("2"), Ok(2_000_000_000));
        assert_eq!(parse_nano_cpus("0.5"), Ok(500_000_000));
        assert_eq!(parse_nano_cpus(".25"), Ok(250_000_000));
        assert!(parse_nano_cpus("x").is_err());
        assert_eq!(parse_restart("no"), Ok(("no".into(), 0)));
        assert!(parse_restart("on-failure:x").is_err());
        assert_eq!(
            parse_device("/dev/a:rw").unwrap()["CgroupPermissions"],
            "rw"
        );
        assert_eq!(parse_publish("8000-8001:80-81").unwrap().len(), 2);
    }
}
