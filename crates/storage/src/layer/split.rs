//! Tar-split: how to give back, byte for byte, the tar a layer was registered from.
//!
//! While a layer tar is applied, [`SplitReader`] watches the bytes go by and records every one
//! of them except the contents of regular files: headers, PAX and GNU long-name records,
//! padding, the end-of-archive blocks and whatever follows them. For a regular file it records
//! only the path the applier wrote it to and its size. [`export`] replays the record, reading
//! file contents from the mounted layer, and checks that what it wrote hashes to the diff ID.
//!
//! Whenever the parser is unsure (an unparsable header, a GNU sparse entry, an extension record
//! too big to keep), it records the bytes raw: that is always correct, only bigger.
//!
//! The record is zstd-compressed. After the magic, it is a sequence of items:
//! `0 <len> <bytes>` (raw bytes), `1 <path len> <path> <size>` (a file's content), and `2`
//! (the end); numbers are LEB128.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::Digest;
use crate::{Driver, Result, StorageError};

/// The record's name in a layer's metadata directory.
pub const FILE_NAME: &str = "tar-split.zst";

const MAGIC: &[u8; 8] = b"BERTHTS1";
const TAG_RAW: u8 = 0;
const TAG_PAYLOAD: u8 = 1;
const TAG_END: u8 = 2;
const BLOCK: usize = 512;
/// Raw bytes are written out as an item once this many have gathered.
const RAW_CHUNK: usize = 64 * 1024;
/// The most of a PAX or GNU long-name record kept for finding the next entry's path.
const EXT_CAP: usize = 1 << 20;
/// No path in a record is longer than this (the applier refuses PATH_MAX and more).
const PATH_CAP: u64 = 4096;

enum State {
    /// Gathering a 512-byte header block.
    Header,
    /// The data of a PAX 'x' or GNU 'L' record: kept for the next entry's path, recorded raw.
    Ext { kind: u8, remaining: u64 },
    /// A regular file's content: not recorded.
    Payload { remaining: u64 },
    /// Other entry data and padding: recorded.
    Raw { remaining: u64 },
    /// After the end-of-archive block, or once the framing is in doubt: all recorded.
    Rest,
}

/// Parses tar framing as bytes arrive and writes the record.
struct Recorder<W: Write> {
    out: Option<zstd::stream::write::Encoder<'static, W>>,
    error: Option<io::Error>,
    state: State,
    header: Vec<u8>,
    raw: Vec<u8>,
    /// Padding owed after the data being read now.
    pad: u64,
    ext: Vec<u8>,
    ext_overflow: bool,
    long_name: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

impl<W: Write> Recorder<W> {
    fn emit(&mut self, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
        if self.error.is_some() {
            return;
        }
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = f(out) {
                self.error = Some(e);
            }
        }
    }

    fn flush_raw(&mut self) {
        if self.raw.is_empty() {
            return;
        }
        let raw = std::mem::take(&mut self.raw);
        self.emit(|w| {
            w.write_all(&[TAG_RAW])?;
            write_num(w, raw.len() as u64)?;
            w.write_all(&raw)
        });
        self.raw = raw;
        self.raw.clear();
    }

    fn record(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        if self.raw.len() >= RAW_CHUNK {
            self.flush_raw();
        }
    }

    fn payload(&mut self, path: &[u8], size: u64) {
        self.flush_raw();
        self.emit(|w| {
            w.write_all(&[TAG_PAYLOAD])?;
            write_num(w, path.len() as u64)?;
            w.write_all(path)?;
            write_num(w, size)
        });
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Rest => {
                    self.record(bytes);
                    return;
                }
                State::Header => {
                    let n = (BLOCK - self.header.len()).min(bytes.len());
                    self.header.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if self.header.len() == BLOCK {
                        let header = std::mem::take(&mut self.header);
                        self.record(&header);
                        self.state = self.next_state(&header);
                    }
                }
                State::Ext { remaining, .. }
                | State::Payload { remaining }
                | State::Raw { remaining } => {
                    let n = (*remaining).min(bytes.len() as u64) as usize;
                    *remaining -= n as u64;
                    let done = *remaining == 0;
                    let (chunk, rest) = bytes.split_at(n);
                    bytes = rest;
                    match self.state {
                        State::Payload { .. } => {}
                        State::Ext { .. } => {
                            let room = EXT_CAP.saturating_sub(self.ext.len());
                            if chunk.len() > room {
                                self.ext_overflow = true;
                            }
                            self.ext.extend_from_slice(&chunk[..chunk.len().min(room)]);
                            self.record(chunk);
                        }
                        _ => self.record(chunk),
                    }
                    if done {
                        self.end_data();
                    }
                }
            }
        }
    }

    /// The data of an entry (or its padding) has been read in full.
    fn end_data(&mut self) {
        if let State::Ext { kind, .. } = self.state {
            self.end_ext(kind);
        }
        let pad = std::mem::take(&mut self.pad);
        self.state = match pad {
            0 => State::Header,
            _ => State::Raw { remaining: pad },
        };
    }

    fn end_ext(&mut self, kind: u8) {
        let data = std::mem::take(&mut self.ext);
        if kind == b'x' {
            self.pax = Some(data);
        } else {
            self.long_name = Some(data);
        }
    }

    /// Decides what follows a header block.
    fn next_state(&mut self, h: &[u8]) -> State {
        if h.iter().all(|b| *b == 0) {
            // The applier stops at the first zero block; everything after it is trailing.
            return State::Rest;
        }
        let Some(mut size) = parse_size(&h[124..136]) else {
            return State::Rest;
        };
        let kind = h[156];
        let recognized = &h[257..265] == b"ustar\x0000" || &h[257..265] == b"ustar  \x00";
        // As the applier's tar reader does: 'x', 'L' and 'K' records describe the next entry
        // (and are not entries themselves); a PAX size applies to no extension header.
        let extension = recognized && matches!(kind, b'x' | b'L' | b'K');
        if !matches!(kind, b'x' | b'L' | b'K' | b'g') {
            if let Some(s) = self.pax.as_deref().and_then(|p| pax_value(p, b"size")) {
                match std::str::from_utf8(s).ok().and_then(|s| s.parse().ok()) {
                    Some(s) => size = s,
                    None => return State::Rest,
                }
            }
        }
        let Some(padded) = size.checked_add(BLOCK as u64 - 1) else {
            return State::Rest;
        };
        let pad = (padded & !(BLOCK as u64 - 1)) - size;
        if recognized && (kind == b'x' || kind == b'L') {
            self.ext.clear();
            self.pad = pad;
            if size == 0 {
                self.end_ext(kind);
                return State::Header;
            }
            return State::Ext {
                kind,
                remaining: size,
            };
        }
        if kind == b'S' {
            // GNU sparse: extension blocks may follow the header; keep it all raw.
            return State::Rest;
        }
        let path = if extension {
            None
        } else {
            let path = self.entry_path(h);
            self.long_name = None;
            self.pax = None;
            let overflow = std::mem::take(&mut self.ext_overflow);
            path.filter(|_| !overflow)
        };
        let payload = matches!(kind, b'0' | b'\0' | b'7') && size > 0;
        match path {
            Some(p) if payload => {
                self.payload(&p, size);
                self.pad = pad;
                State::Payload { remaining: size }
            }
            _ if size + pad > 0 => State::Raw {
                remaining: size + pad,
            },
            _ => State::Header,
        }
    }

    /// The cleaned path the applier gives this entry, or None when its content had better be
    /// kept raw (no usable path, or a whiteout-like name the applier does not write as a file).
    fn entry_path(&self, h: &[u8]) -> Option<Vec<u8>> {
        let name = if let Some(long) = &self.long_name {
            long.strip_suffix(b"\0").unwrap_or(long).to_vec()
        } else if let Some(p) = self.pax.as_deref().and_then(|p| pax_value(p, b"path")) {
            p.to_vec()
        } else {
            let field = |r: std::ops::Range<usize>| {
                let f = &h[r];
                &f[..f.iter().position(|b| *b == 0).unwrap_or(f.len())]
            };
            let (name, prefix) = (&h[0..100], &h[345..500]);
            let ustar = &h[257..265] == b"ustar\x0000";
            if ustar && (prefix[0] != 0 || name.contains(&b'\\')) {
                let mut v = field(345..500).to_vec();
                if !v.is_empty() {
                    v.push(b'/');
                }
                v.extend_from_slice(field(0..100));
                v
            } else {
                field(0..100).to_vec()
            }
        };
        let clean = clean_path(&name)?;
        if clean.split(|b| *b == b'/').any(|c| c.starts_with(b".wh.")) {
            return None;
        }
        Some(clean)
    }
}

/// A tar size field: octal text, or GNU base-256 when the high bit of the first byte is set.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        if field[0] != 0x80 {
            return None;
        }
        let mut n: u64 = 0;
        for b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(n);
    }
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    let text = std::str::from_utf8(&field[..end]).ok()?.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// The value of `key` in PAX records ("<len> <key>=<value>\n"); the first one wins, as in the
/// applier's tar reader.
fn pax_value<'a>(mut data: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    while !data.is_empty() {
        let space = data.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..space]).ok()?.parse().ok()?;
        if len <= space || len > data.len() {
            return None;
        }
        let record = &data[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            if &record[..eq] == key {
                return Some(&record[eq + 1..]);
            }
        }
        data = &data[len..];
    }
    None
}

/// Cleans a tar path as the applier does: no leading `/`, no `.` or empty components, `..`
/// resolved lexically. None for a path that climbs out, holds a nul, or names the root.
fn clean_path(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.contains(&0) {
        return None;
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join(&b'/'))
}

fn write_num(w: &mut dyn Write, mut n: u64) -> io::Result<()> {
    let mut buf = [0u8; 10];
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf[i] = byte;
            i += 1;
            break;
        }
        buf[i] = byte | 0x80;
        i += 1;
    }
    w.write_all(&buf[..i])
}

fn read_num(r: &mut dyn Read) -> io::Result<u64> {
    let mut n: u64 = 0;
    for shift in (0..64).step_by(7) {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)?;
        n |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "number too long",
    ))
}

/// Passes a layer tar through unchanged while recording its tar-split into `out`.
pub struct SplitReader<R: Read, W: Write> {
    inner: R,
    rec: Recorder<W>,
}

impl<R: Read, W: Write> SplitReader<R, W> {
    pub fn new(inner: R, out: W) -> io::Result<Self> {
        let mut enc = zstd::stream::write::Encoder::new(out, 3)?;
        enc.write_all(MAGIC)?;
        Ok(SplitReader {
            inner,
            rec: Recorder {
                out: Some(enc),
                error: None,
                state: State::Header,
                header: Vec::with_capacity(BLOCK),
                raw: Vec::new(),
                pad: 0,
                ext: Vec::new(),
                ext_overflow: false,
                long_name: None,
                pax: None,
            },
        })
    }

    /// Ends the record (call once the whole stream has been read) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let partial = std::mem::take(&mut self.rec.header);
        self.rec.record(&partial);
        self.rec.flush_raw();
        self.rec.emit(|w| w.write_all(&[TAG_END]));
        if let Some(e) = self.rec.error.take() {
            return Err(e);
        }
        self.rec
            .out
            .take()
            .expect("the encoder is there until finish")
            .finish()
    }
}

impl<R: Read, W: Write> Read for SplitReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.rec.feed(&buf[..n]);
        Ok(n)
    }
}

/// Records the tar-split of the stream `inner` into the file `path` (created, synced at
/// [`finish_file`]).
pub fn to_file<R: Read>(inner: R, path: &Path) -> Result<SplitReader<R, BufWriter<File>>> {
    let file = File::create(path).map_err(|e| StorageError::io("create", path, e))?;
    SplitReader::new(inner, BufWriter::new(file)).map_err(|e| StorageError::io("write", path, e))
}

/// Ends a record started with [`to_file`] and syncs it.
pub fn finish_file<R: Read>(split: SplitReader<R, BufWriter<File>>, path: &Path) -> Result<()> {
    let err = |e| StorageError::io("write", path, e);
    let file = split
        .finish()
        .map_err(err)?
        .into_inner()
        .map_err(|e| err(e.into_error()))?;
    file.sync_all()
        .map_err(|e| StorageError::io("sync", path, e))
}

/// A writer that hashes what it passes on.
struct HashingWriter<'a> {
    out: &'a mut dyn Write,
    hasher: Sha256,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes the layer tar recorded in `split` to `out`, reading file contents from driver layer
/// `cache_id` (mounted only if needed), and checks that it hashes to `diff_id`.
pub fn export(
    split: &Path,
    driver: &dyn Driver,
    cache_id: &str,
    diff_id: &Digest,
    out: &mut dyn Write,
) -> Result<()> {
    let file = File::open(split).map_err(|e| StorageError::io("open", split, e))?;
    let mut replay = Replay {
        split,
        driver,
        cache_id,
        root: None,
        mounted: false,
    };
    let mut out = HashingWriter {
        out,
        hasher: Sha256::new(),
    };
    let played = replay.run(file, &mut out);
    let put = match replay.mounted {
        true => driver.put(cache_id),
        false => Ok(()),
    };
    played?;
    put?;
    let got: Digest = format!("sha256:{:x}", out.hasher.finalize())
        .parse()
        .expect("a sha256 digest");
    if &got != diff_id {
        return Err(StorageError::Archive(format!(
            "exported layer {diff_id} does not match its diff ID (got {got}): \
             its files changed after it was registered"
        )));
    }
    Ok(())
}

struct Replay<'a> {
    split: &'a Path,
    driver: &'a dyn Driver,
    cache_id: &'a str,
    root: Option<OwnedFd>,
    mounted: bool,
}

impl Replay<'_> {
    fn corrupt(&self, what: impl std::fmt::Display) -> StorageError {
        StorageError::Archive(format!(
            "tar-split {} is corrupt: {what}",
            self.split.display()
        ))
    }

    fn run(&mut self, file: File, out: &mut dyn Write) -> Result<()> {
        let mut r = zstd::stream::read::Decoder::with_buffer(BufReader::new(file))
            .map_err(|e| self.corrupt(e))?;
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic).map_err(|e| self.corrupt(e))?;
        if &magic != MAGIC {
            return Err(self.corrupt("unknown format"));
        }
        let write_err = |e| StorageError::io("write exported layer", "", e);
        loop {
            let mut tag = [0u8; 1];
            r.read_exact(&mut tag).map_err(|e| self.corrupt(e))?;
            match tag[0] {
                TAG_RAW => {
                    let len = read_num(&mut r).map_err(|e| self.corrupt(e))?;
                    let copied = copy_exact(&mut r, out, len);
                    match copied {
                        Ok(n) if n == len => {}
                        Ok(_) => return Err(self.corrupt("truncated")),
                        Err((true, e)) => return Err(self.corrupt(e)),
                        Err((false, e)) => return Err(write_err(e)),
                    }
                }
                TAG_PAYLOAD => {
                    let len = read_num(&mut r).map_err(|e| self.corrupt(e))?;
                    if len > PATH_CAP {
                        return Err(self.corrupt("path too long"));
                    }
                    let mut path = vec![0u8; len as usize];
                    r.read_exact(&mut path).map_err(|e| self.corrupt(e))?;
                    let size = read_num(&mut r).map_err(|e| self.corrupt(e))?;
                    self.payload(&path, size, out)?;
                }
                TAG_END => return Ok(()),
                t => return Err(self.corrupt(format!("unknown item {t}"))),
            }
        }
    }

    /// Copies the content of the file at `path` (clean and relative) in the layer to `out`.
    fn payload(&mut self, path: &[u8], size: u64, out: &mut dyn Write) -> Result<()> {
        let shown = String::from_utf8_lossy(path).into_owned();
        let parts: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == b"." || *p == b".." || p.contains(&0))
        {
            return Err(StorageError::UnsafeEntry {
                path: shown,
                reason: "tar-split names a path that is not clean and relative".into(),
            });
        }
        if self.root.is_none() {
            let mount = self.driver.get(self.cache_id)?;
            self.mounted = true;
            let fd = open_dir(libc::AT_FDCWD, mount.as_os_str().as_bytes(), false)
                .map_err(|e| StorageError::io("open layer", &mount, e))?;
            self.root = Some(fd);
        }
        let root = self.root.as_ref().expect("mounted").as_raw_fd();
        let layer_err = |op, e| StorageError::io(op, format!("layer file /{shown}"), e);
        let (name, dirs) = parts.split_last().expect("a path has a component");
        let dir = open_parent(root, &dirs.join(&b'/')).map_err(|e| layer_err("open", e))?;
        let cname = CString::new(*name).expect("no nul in the path");
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: cname is NUL-terminated; the fd is checked.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), cname.as_ptr(), flags) };
        if fd < 0 {
            return Err(layer_err("open", io::Error::last_os_error()));
        }
        // SAFETY: openat returned a fresh fd we now own.
        let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let meta = file.metadata().map_err(|e| layer_err("stat", e))?;
        if !meta.is_file() {
            return Err(StorageError::Archive(format!(
                "cannot export layer: /{shown} is no longer a regular file"
            )));
        }
        if meta.len() != size {
            return Err(StorageError::Archive(format!(
                "cannot export layer: /{shown} is {} bytes, but was {size} when the layer was \
                 registered (the layer's files were changed)",
                meta.len()
            )));
        }
        match copy_exact(&mut file, out, size) {
            Ok(n) if n == size => Ok(()),
            Ok(n) => Err(StorageError::Archive(format!(
                "cannot export layer: /{shown} ended after {n} of {size} bytes"
            ))),
            Err((true, e)) => Err(layer_err("read", e)),
            Err((false, e)) => Err(StorageError::io("write exported layer", "", e)),
        }
    }
}

/// Copies up to `len` bytes; an error says whether reading (true) or writing failed.
fn copy_exact(
    r: &mut dyn Read,
    w: &mut dyn Write,
    len: u64,
) -> std::result::Result<u64, (bool, io::Error)> {
    let mut buf = vec![0u8; (len as usize).clamp(1, 64 * 1024)];
    let mut done = 0;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as usize;
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((true, e)),
        };
        w.write_all(&buf[..n]).map_err(|e| (false, e))?;
        done += n as u64;
    }
    Ok(done)
}

fn open_dir(dir: RawFd, name: &[u8], nofollow: bool) -> io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if nofollow {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: c is NUL-terminated; the fd is checked.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a fresh fd we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens directory `rel` (clean, relative; empty for the root) under `root` the way the
/// applier resolved it: symlinks resolve as if `root` were `/` (openat2 RESOLVE_IN_ROOT), or,
/// without openat2, one component at a time refusing symlinks.
fn open_parent(root: RawFd, rel: &[u8]) -> io::Result<OwnedFd> {
    if rel.is_empty() {
        return open_dir(root, b".", true);
    }
    let c = CString::new(rel).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    match crate::archive::sys::openat2_in_root(root, &c) {
        Ok(fd) => return Ok(fd),
        // No openat2 (old kernel, or a seccomp filter): walk the path step by step below.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {}
        Err(e) => return Err(e),
    }
    let mut fd = open_dir(root, b".", true)?;
    for part in rel.split(|b| *b == b'/') {
        fd = open_dir(fd.as_raw_fd(), part, true)?;
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tar: &[u8], chunk: usize) -> Vec<u8> {
        let mut r = SplitReader::new(tar, Vec::new()).unwrap();
        let mut buf = vec![0u8; chunk];
        let mut seen = Vec::new();
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        assert_eq!(seen, tar);
        zstd::decode_all(&r.finish().unwrap()[..]).unwrap()
    }

    #[test]
    fn sizes_parse_in_octal_and_base_256() {
        assert_eq!(parse_size(b"00000001750\0"), Some(0o1750));
        assert_eq!(parse_size(b"     17 \0\0\0\0"), Some(0o17));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[7] = 0x02;
        assert_eq!(parse_size(&big), Some(2u64 << 32));
        assert_eq!(parse_size(b"12x\0\0\0\0\0\0\0\0\0"), None);
    }

    #[test]
    fn pax_values_and_clean_paths() {
        let pax = b"18 path=a/b/c.txt\n10 x=yyyy\n";
        assert_eq!(pax_value(pax, b"path"), Some(&b"a/b/c.txt"[..]));
        assert_eq!(pax_value(pax, b"size"), None);
        assert_eq!(clean_path(b"/./a//b/../c"), Some(b"a/c".to_vec()));
        assert_eq!(clean_path(b"../x"), None);
        assert_eq!(clean_path(b"./"), None);
    }

    #[test]
    fn the_record_leaves_out_file_contents_whatever_the_chunking() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(1000);
        let data = vec![7u8; 1000];
        b.append_data(&mut h, "./dir/file", &data[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let whole = record(&tar, 1 << 20);
        for chunk in [1, 7, 511, 512, 513] {
            assert_eq!(record(&tar, chunk), whole);
        }
        assert!(!whole.windows(1000).any(|w| w == &data[..]));
        let needle = b"dir/file";
        assert!(whole.windows(needle.len()).any(|w| w == needle));
        // header + padding + 2 end blocks raw, 1000 bytes left out.
        assert!(whole.len() < tar.len() - 900);
    }
}
