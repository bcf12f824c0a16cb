//! Block I/O byte counters: v1 `blkio.throttle.io_service_bytes_recursive` (the throttle
//! policy's counters, which every kernel with blkio keeps, unlike CFQ's), v2 `io.stat`.

use std::path::Path;

use crate::error::{CgroupError, Result};
use crate::fsutil;
use crate::stats::{BlkioEntry, BlkioStats};

fn bad(path: &Path, content: &str) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        content: content.to_string(),
    }
}

fn device(path: &Path, s: &str) -> Result<(u64, u64)> {
    let (major, minor) = s.split_once(':').ok_or_else(|| bad(path, s))?;
    Ok((
        major.parse().map_err(|_| bad(path, s))?,
        minor.parse().map_err(|_| bad(path, s))?,
    ))
}

/// "8:0 Read 4096" lines; the closing "Total N" line (no device) is skipped.
pub(crate) fn parse_v1(path: &Path, text: &str) -> Result<BlkioStats> {
    let mut out = BlkioStats::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 3 {
            continue;
        }
        let (major, minor) = device(path, fields[0])?;
        out.io_service_bytes.push(BlkioEntry {
            major,
            minor,
            op: fields[1].to_string(),
            value: fields[2].parse().map_err(|_| bad(path, line))?,
        });
    }
    Ok(out)
}

/// "8:0 rbytes=1 wbytes=2 rios=3 …" lines: rbytes and wbytes as "read" and "write".
pub(crate) fn parse_v2(path: &Path, text: &str) -> Result<BlkioStats> {
    let mut out = BlkioStats::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(dev) = fields.next() else { continue };
        let (major, minor) = device(path, dev)?;
        for kv in fields {
            let (k, v) = kv.split_once('=').ok_or_else(|| bad(path, line))?;
            let op = match k {
                "rbytes" => "read",
                "wbytes" => "write",
                _ => continue,
            };
            out.io_service_bytes.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: v.parse().map_err(|_| bad(path, line))?,
            });
        }
    }
    Ok(out)
}

pub(crate) fn read_v1(dir: &Path) -> Result<BlkioStats> {
    let f = dir.join("blkio.throttle.io_service_bytes_recursive");
    match fsutil::read_opt(&f)? {
        Some(text) => parse_v1(&f, &text),
        None => Ok(BlkioStats::default()),
    }
}

pub(crate) fn read_v2(file: &Path) -> Result<BlkioStats> {
    match fsutil::read_opt(file)? {
        Some(text) => parse_v2(file, &text),
        None => Ok(BlkioStats::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_counters() {
        let p = Path::new("f");
        let v1 = parse_v1(p, "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\nTotal 4608\n").unwrap();
        assert_eq!(v1.io_service_bytes.len(), 3);
        assert_eq!(
            v1.io_service_bytes[1],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 512
            }
        );
        assert!(parse_v1(p, "x:0 Read 1\n").is_err());
        let v2 = parse_v2(
            p,
            "259:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
        )
        .unwrap();
        let ops: Vec<(&str, u64)> = v2
            .io_service_bytes
            .iter()
            .map(|e| (e.op.as_str(), e.value))
            .collect();
        assert_eq!(ops, [("read", 100), ("write", 200)]);
        assert!(parse_v2(p, "8:0 rbytes\n").is_err());
    }
}
