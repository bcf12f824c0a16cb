//! `berth cp` and `berth export`: files between a container and the host, as `docker cp` moves
//! them (the daemon's archive endpoints carry a tar; the client decides the names), and a
//! container's whole filesystem as a tar.
//!
//! The naming rules are docker's: copying to a path that exists as a directory puts the source
//! inside it; to a path that does not exist creates it with the source's content; `dir/.`
//! means the directory's contents; a trailing `/` asserts a directory.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use super::cp_tar::{extract, tar_local, ExtractError};
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::{check, Query};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::value::V;

pub const CP_SPEC: Spec = Spec {
    command: "berth cp",
    args: "CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    about: "Copy files/folders between a container and the local filesystem",
    flags: &[
        b(Some('a'), "archive", "Archive mode (copy all uid/gid information)"),
        b(Some('L'), "follow-link", "Always follow symbol link in SRC_PATH"),
        b(
            Some('q'),
            "quiet",
            "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached",
        ),
    ],
    aliases: &[],
    min_args: 2,
    max_args: Some(2),
    stop_at_positional: false,
};

pub const EXPORT_SPEC: Spec = Spec {
    command: "berth export",
    args: "CONTAINER",
    about: "Export a container's filesystem as a tar archive",
    flags: &[v(
        Some('o'),
        "output",
        "string",
        "Write to a file, instead of STDOUT",
    )],
    aliases: &[],
    min_args: 1,
    max_args: Some(1),
    stop_at_positional: false,
};

/// Docker's `X-Docker-Container-Path-Stat`, decoded.
struct PathStat {
    mode: u32,
    link_target: String,
}

const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
/// Every type bit of Go's FileMode: none set means a regular file.
const MODE_TYPE: u32 = 0x8f28_0000 | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21);

impl PathStat {
    fn is_dir(&self) -> bool {
        self.mode & MODE_DIR != 0
    }
    fn is_symlink(&self) -> bool {
        self.mode & MODE_SYMLINK != 0
    }
    fn is_regular(&self) -> bool {
        self.mode & MODE_TYPE == 0
    }
}

/// docker's `splitCpArg`: `name:path` is a container path unless the argument is absolute or
/// starts with `.` (`./file:with:colons`).
fn split_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

pub fn cp(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let (src, dst) = (&p.args[0], &p.args[1]);
    let opts = Options {
        archive: p.bool("archive"),
        follow: p.bool("follow-link"),
    };
    let result = match (split_arg(src), split_arg(dst)) {
        ((Some(_), _), (Some(_), _)) => {
            Err(Error::client("copying between containers is not supported"))
        }
        ((None, _), (None, _)) => Err(Error::client("must specify at least one container source")),
        ((Some(c), path), (None, local)) => from_container(ctx, c, path, local, &opts),
        ((None, local), (Some(c), path)) => to_container(ctx, local, c, path, &opts),
    };
    match result {
        Ok(()) => Ok(0),
        // docker cp ends with status 1 on any failure, not the 125 of other commands.
        Err(e) => {
            let _ = io::stdout().flush();
            eprintln!("{e}");
            Err(Error::Exit(1))
        }
    }
}

struct Options {
    archive: bool,
    follow: bool,
}

fn archive_query(path: &str) -> Query {
    let mut q = Query::new();
    q.add("path", path);
    q
}

fn stat(ctx: &Ctx, c: &str, path: &str) -> Result<PathStat> {
    let resp = check(ctx.client.send(
        "HEAD",
        &format!("/containers/{}/archive", crate::client::escape(c)),
        &archive_query(path),
        Body::Empty,
    )?);
    match resp {
        Ok(resp) => decode_stat(resp.head.header("x-docker-container-path-stat")),
        // HEAD has no body: say what docker says for a 404.
        Err(Error::Daemon {
            status: 404,
            message,
        }) if message.starts_with("request failed") => Err(Error::Daemon {
            status: 404,
            message: format!("Could not find the file {path} in container {c}"),
        }),
        Err(e) => Err(e),
    }
}

fn decode_stat(header: Option<&str>) -> Result<PathStat> {
    let bad =
        |why: &str| Error::Protocol(format!("bad X-Docker-Container-Path-Stat header: {why}"));
    let raw = header.ok_or_else(|| bad("missing"))?;
    let json = base64_decode(raw).ok_or_else(|| bad("not base64"))?;
    let v = V::parse(&json).map_err(|e| bad(&e.to_string()))?;
    Ok(PathStat {
        mode: v.get("mode").i64() as u32,
        link_target: v.get("linkTarget").str().to_string(),
    })
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim().trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    Some(out)
}

/// docker's `SplitPathDirEntry`: the parent and the last component, `.` kept.
fn split_dir_entry(path: &str) -> (String, String) {
    let cleaned = clean(path);
    let cleaned = if path == "." || path.ends_with("/.") {
        if cleaned == "/" {
            "/.".to_string()
        } else {
            format!("{cleaned}/.")
        }
    } else {
        cleaned
    };
    let p = Path::new(&cleaned);
    let base = match cleaned.as_str() {
        "/" => "/".to_string(),
        s if s.ends_with("/.") || s == "." => ".".to_string(),
        _ => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into()),
    };
    let dir = match cleaned.rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((d, _)) => d.to_string(),
        None => ".".to_string(),
    };
    (dir, base)
}

/// Go's `filepath.Clean`.
fn clean(path: &str) -> String {
    let abs = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if abs => {}
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Joins a relative link target with the directory of `path`, as docker does for `-L`.
fn link_path(path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_string();
    }
    let (dir, _) = split_dir_entry(path);
    clean(&format!("{dir}/{target}"))
}

fn from_container(ctx: &Ctx, c: &str, path: &str, local: &str, opts: &Options) -> Result<()> {
    if path.is_empty() {
        return Err(Error::client("source path must not be empty"));
    }
    let mut src = path.to_string();
    // With -L a symlink is replaced by what it points at, keeping the link's name.
    let mut rebase = None;
    if opts.follow {
        if let Ok(st) = stat(ctx, c, path) {
            if st.is_symlink() {
                src = link_path(path, &st.link_target);
                rebase = Some(split_dir_entry(path).1);
            }
        }
    }
    if local != "-" {
        let parent = Path::new(&clean(local)).parent().map(Path::to_path_buf);
        if let Some(parent) = parent.filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                return Err(Error::client(format!(
                    "invalid output path: directory {:?} does not exist",
                    parent.display().to_string()
                )));
            }
        }
    }
    let resp = ctx.client.call(
        "GET",
        &format!("/containers/{}/archive", crate::client::escape(c)),
        &archive_query(&src),
        Body::Empty,
    )?;
    let st = decode_stat(resp.head.header("x-docker-container-path-stat"))?;
    let mut body = resp.body;
    if local == "-" {
        let mut out = io::stdout().lock();
        io::copy(&mut body, &mut out)
            .and_then(|_| out.flush())
            .map_err(|e| Error::io("writing the archive to stdout", e))?;
        return Ok(());
    }
    // The daemon names the top entry after what it archived (the link's target with -L).
    let (_, src_base) = split_dir_entry(&src);
    let dst = resolve_local_dst(local)?;
    let (dst_dir, dst_base) = split_dir_entry(&dst.path);
    let (dir, from, to) = if dst.exists && dst.is_dir {
        // Into the directory, under the name the user gave the source.
        (dst.path.clone(), Some(src_base), rebase)
    } else if dst.exists && st.is_dir() {
        return Err(Error::client("cannot copy a directory to a file"));
    } else if !dst.exists && !st.is_dir() && asserts_dir(&dst.path) {
        return Err(Error::client("no such directory"));
    } else {
        (dst_dir, Some(src_base), Some(dst_base))
    };
    let to = to.filter(|t| from.as_ref() != Some(t));
    extract(&mut body, Path::new(&dir), from.as_deref(), to.as_deref()).map_err(|e| match e {
        ExtractError::Io(context, e) => Error::io(context, e),
        ExtractError::Refused(m) => Error::client(m),
    })
}

fn asserts_dir(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.") || path == "."
}

struct LocalDst {
    path: String,
    exists: bool,
    is_dir: bool,
}

/// docker's `CopyInfoDestinationPath`: a local destination that is a symlink is followed.
fn resolve_local_dst(path: &str) -> Result<LocalDst> {
    let mut path = path.to_string();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (parent, _) = split_dir_entry(&path);
                if !Path::new(&parent).is_dir() {
                    return Err(Error::client(format!(
                        "invalid output path: directory {parent:?} does not exist"
                    )));
                }
                return Ok(LocalDst {
                    path,
                    exists: false,
                    is_dir: false,
                });
            }
            Err(e) => return Err(Error::io(format!("lstat {path}"), e)),
            Ok(md) if md.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)
                    .map_err(|e| Error::io(format!("readlink {path}"), e))?;
                path = link_path(&path, &target.to_string_lossy());
            }
            Ok(md) => {
                return Ok(LocalDst {
                    path,
                    exists: true,
                    is_dir: md.is_dir(),
                })
            }
        }
    }
    Err(Error::client(format!("too many links in {path}")))
}

fn to_container(ctx: &Ctx, local: &str, c: &str, path: &str, opts: &Options) -> Result<()> {
    if path.is_empty() {
        return Err(Error::client("destination path must not be empty"));
    }
    let mut dst_path = path.to_string();
    let mut st = stat(ctx, c, path);
    if let Ok(s) = &st {
        if s.is_symlink() {
            dst_path = link_path(path, &s.link_target);
            st = stat(ctx, c, &dst_path);
        }
    }
    if let Ok(s) = &st {
        if !s.is_dir() && !s.is_regular() {
            return Err(Error::client(format!(
                "destination \"{c}:{path}\" must be a directory or a regular file"
            )));
        }
    }
    // A stat failure is not fatal: the parent may exist, and the daemon says if it does not.
    let (exists, is_dir) = match &st {
        Ok(s) => (true, s.is_dir()),
        Err(Error::Daemon { status: 404, .. }) => (false, false),
        Err(_) => (false, false),
    };
    let mut q = Query::new();
    q.flag("noOverwriteDirNonDir", true);
    q.flag("copyUIDGID", opts.archive);
    let body = if local == "-" {
        if !is_dir {
            return Err(Error::client(format!(
                "destination \"{c}:{path}\" must be a directory"
            )));
        }
        q.add("path", dst_path.as_str());
        Body::Reader(Box::new(io::stdin()), "application/x-tar", None)
    } else {
        let src = resolve_local_src(local, opts.follow)?;
        let (_, dst_base) = split_dir_entry(&dst_path);
        let (dst_dir, _) = split_dir_entry(&dst_path);
        let (target_dir, root_name) = if exists && is_dir {
            (dst_path.clone(), src.base.clone())
        } else if exists && src.is_dir {
            return Err(Error::client("cannot copy a directory to a file"));
        } else if !exists && !src.is_dir && asserts_dir(&dst_path) {
            return Err(Error::client("no such directory"));
        } else {
            (dst_dir, dst_base)
        };
        q.add("path", target_dir.as_str());
        // The tar is built in memory-bounded chunks on a thread, streamed as it is written.
        let (reader, mut writer) = pipe()?;
        let path = src.path.clone();
        std::thread::spawn(move || {
            let _ = tar_local(&path, &root_name, &mut writer);
        });
        Body::Reader(Box::new(reader), "application/x-tar", None)
    };
    ctx.client.call(
        "PUT",
        &format!("/containers/{}/archive", crate::client::escape(c)),
        &q,
        body,
    )?;
    Ok(())
}

struct LocalSrc {
    path: PathBuf,
    /// The name the source has in the tar: its base name, or `.` for `dir/.`.
    base: String,
    is_dir: bool,
}

/// docker's `CopyInfoSourcePath`: the parent's symlinks are followed, the last component only
/// with -L (keeping the name it was given).
fn resolve_local_src(local: &str, follow: bool) -> Result<LocalSrc> {
    let (dir, base) = split_dir_entry(local);
    let dir_real =
        std::fs::canonicalize(&dir).map_err(|e| Error::io(format!("lstat {local}"), e))?;
    let mut path = if base == "." {
        dir_real.clone()
    } else {
        dir_real.join(&base)
    };
    if follow {
        path = std::fs::canonicalize(&path).map_err(|e| Error::io(format!("lstat {local}"), e))?;
    }
    let md =
        std::fs::symlink_metadata(&path).map_err(|e| Error::io(format!("lstat {local}"), e))?;
    if base != "." && local.ends_with('/') && !md.is_dir() {
        return Err(Error::client(format!("lstat {local}: not a directory")));
    }
    Ok(LocalSrc {
        path,
        base,
        is_dir: md.is_dir(),
    })
}

/// An OS pipe: the tar writer thread feeds the request body.
fn pipe() -> Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::io("pipe", io::Error::last_os_error()));
    }
    use std::os::fd::FromRawFd;
    // SAFETY: both fds are new and ours.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

pub fn export(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let output = p.value("output").filter(|o| !o.is_empty());
    if output.is_none() && io::stdout().is_terminal() {
        return Err(Error::client(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let resp = ctx.client.call(
        "GET",
        &format!("/containers/{}/export", crate::client::escape(&p.args[0])),
        &Query::new(),
        Body::Empty,
    )?;
    let mut body = resp.body;
    match output {
        None => {
            let mut out = io::stdout().lock();
            io::copy(&mut body, &mut out)
                .and_then(|_| out.flush())
                .map_err(|e| Error::io("writing the archive to stdout", e))?;
        }
        Some(path) => super::archive::copy_to_file(&mut body as &mut dyn Read, Path::new(path))?,
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_docker() {
        assert_eq!(split_arg("c:/etc"), (Some("c"), "/etc"));
        assert_eq!(split_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_arg("file"), (None, "file"));
    }

    #[test]
    fn dir_entries_keep_dot() {
        let s = |p: &str| split_dir_entry(p);
        assert_eq!(s("/tmp/tree/."), ("/tmp/tree".into(), ".".into()));
        assert_eq!(s("/tmp/tree/"), ("/tmp".into(), "tree".into()));
        assert_eq!(s("tree"), (".".into(), "tree".into()));
        assert_eq!(s("/f"), ("/".into(), "f".into()));
        assert_eq!(link_path("/c/evil", "/etc"), "/etc");
        assert_eq!(link_path("/c/rel", "../x"), "/x");
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert!(base64_decode("!!").is_none());
    }
}
