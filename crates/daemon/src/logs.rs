//! Reading the json-file log the shim writes (one `{"log","stream","time"}` object per line, see
//! `berth_runtime::shim::log`) as Docker's json-file reader serves `logs` and `attach`. Only
//! complete lines are read: a torn last line is left for the next read, and every function
//! returns the offset of the first byte it did not consume. `tail` counts the last N lines
//! *before* stream selection and `since`/`until`, as Docker does; they are found by reading
//! backwards in blocks, so `--tail 10` of a 1 GB log reads a few kilobytes. `since` keeps
//! entries at or after it; the first entry after `until` ends the read. A missing file has no
//! entries (the container never started); a file shorter than the offset was replaced and is
//! read from the start.
//!
//! [`follow`] waits on an inotify watch of the log's directory (which also sees the file being
//! created or replaced): new lines go out within a millisecond and an idle follower sleeps,
//! re-checking every 2 s in case an event was lost. Without inotify (e.g. the per-user instance
//! limit is reached) it polls every 10 ms while output flows, 50 ms after a second of silence.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use crate::stream::{self, StreamType};

/// Bytes read per step when reading backwards for `tail`.
const BLOCK: u64 = 64 * 1024;
/// A follower reads at most about this much per step, so one far behind sends as it reads.
const FOLLOW_BATCH: u64 = 1024 * 1024;
/// The safety re-check of an inotify follower.
const SAFETY_TICK: Duration = Duration::from_secs(2);
/// Polling intervals without inotify: while output flows, and at most when idle.
const POLL_FAST: Duration = Duration::from_millis(10);
const POLL_IDLE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    /// Entries at or after this time (seconds, nanoseconds since the epoch).
    pub since: Option<(i64, u32)>,
    /// Entries at or before this time; the first later entry ends the read.
    pub until: Option<(i64, u32)>,
    /// The last N lines of the log; None for all.
    pub tail: Option<usize>,
    pub timestamps: bool,
    pub follow: bool,
}

impl LogOptions {
    /// Both streams, everything.
    pub fn all() -> LogOptions {
        LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Stdout or Stderr.
    pub stream: StreamType,
    /// Seconds and nanoseconds since the epoch.
    pub time: (i64, u32),
    pub message: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("reading log {path}: {1}", path = .0.display())]
    Read(PathBuf, #[source] std::io::Error),
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |e| LogError::Read(path.to_path_buf(), e)
}

#[derive(Deserialize)]
struct Line<'a> {
    log: String,
    stream: &'a str,
    time: &'a str,
}

/// One log line (without its newline); `None` when it is not a valid entry.
pub fn parse_line(line: &[u8]) -> Option<LogEntry> {
    let l: Line = serde_json::from_slice(line).ok()?;
    let stream = match l.stream {
        "stdout" => StreamType::Stdout,
        "stderr" => StreamType::Stderr,
        _ => return None,
    };
    let time = berth_runtime::shim::time::parse(l.time)?;
    Some(LogEntry {
        stream,
        time,
        message: l.log.into_bytes(),
    })
}

/// The wire bytes of an entry: the message, after `2026-11-28T06:00:00.123456789Z ` with
/// `timestamps`, framed unless the container has a tty.
pub fn encode(entry: &LogEntry, timestamps: bool, tty: bool) -> Bytes {
    let mut payload = Vec::with_capacity(entry.message.len() + if timestamps { 31 } else { 0 });
    if timestamps {
        let (secs, nanos) = entry.time;
        payload.extend_from_slice(berth_runtime::shim::time::format_unix(secs, nanos).as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(&entry.message);
    if tty {
        Bytes::from(payload)
    } else {
        stream::frame(entry.stream, &payload)
    }
}

fn stream_wanted(e: &LogEntry, opts: &LogOptions) -> bool {
    match e.stream {
        StreamType::Stdout => opts.stdout,
        StreamType::Stderr => opts.stderr,
        _ => false,
    }
}

/// Why a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// No more complete lines (up to the limit given).
    Eof,
    /// An entry after `until`.
    Until,
    /// The soft byte budget was used up; more lines may follow.
    Budget,
}

/// Reads complete lines from `start` up to `end` (or the end of the file), handing the entries
/// the options select to `f`. Stops before a line that begins past `budget` bytes. Returns the
/// offset after the last line consumed and why it stopped.
fn scan(
    file: &mut File,
    start: u64,
    end: Option<u64>,
    budget: Option<u64>,
    opts: &LogOptions,
    f: &mut dyn FnMut(LogEntry),
) -> std::io::Result<(u64, End)> {
    file.seek(SeekFrom::Start(start))?;
    let limit = end.map_or(u64::MAX, |e| e.saturating_sub(start));
    let mut reader = BufReader::with_capacity(BLOCK as usize, (&*file).take(limit));
    let mut offset = start;
    let mut line = Vec::new();
    loop {
        if budget.is_some_and(|b| offset - start >= b) {
            return Ok((offset, End::Budget));
        }
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok((offset, End::Eof));
        }
        let Some(entry) = parse_line(&line[..n - 1]) else {
            offset += n as u64;
            continue;
        };
        if opts.until.is_some_and(|u| entry.time > u) {
            return Ok((offset, End::Until));
        }
        offset += n as u64;
        if opts.since.is_some_and(|s| entry.time < s) || !stream_wanted(&entry, opts) {
            continue;
        }
        f(entry);
    }
}

fn open(path: &Path) -> Result<Option<File>, LogError> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_err(path)(e)),
    }
}

/// Where the last `n` complete lines begin, and where the complete lines end (the start of a
/// torn last line, or the file's length).
fn tail_bounds(file: &mut File, n: usize) -> std::io::Result<(u64, u64)> {
    let len = file.metadata()?.len();
    let mut end = None;
    let mut count = 0usize;
    let mut pos = len;
    let mut block = vec![0u8; BLOCK.min(len) as usize];
    while pos > 0 {
        let step = pos.min(BLOCK);
        pos -= step;
        let buf = &mut block[..step as usize];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(buf)?;
        for (i, b) in buf.iter().enumerate().rev() {
            if *b != b'\n' {
                continue;
            }
            let after = pos + i as u64 + 1;
            match end {
                None => {
                    end = Some(after);
                    if n == 0 {
                        return Ok((after, after));
                    }
                }
                Some(e) => {
                    count += 1;
                    if count == n {
                        return Ok((after, e));
                    }
                }
            }
        }
    }
    Ok((0, end.unwrap_or(0)))
}

/// The entries the options select (stream, since/until, tail), and the offset after the last
/// complete line read, where a follower goes on.
pub fn read_entries(path: &Path, opts: &LogOptions) -> Result<(Vec<LogEntry>, u64), LogError> {
    let Some(n) = opts.tail else {
        return read_from(path, 0, opts);
    };
    let Some(mut file) = open(path)? else {
        return Ok((Vec::new(), 0));
    };
    let (start, end) = tail_bounds(&mut file, n).map_err(read_err(path))?;
    let mut entries = Vec::new();
    let (offset, _) = scan(&mut file, start, Some(end), None, opts, &mut |e| {
        entries.push(e)
    })
    .map_err(read_err(path))?;
    // Past `until` the rest is not for this reader; a follower still goes on from the end.
    Ok((entries, offset.max(end)))
}

/// The complete lines after `offset` that the options select (`tail` is ignored), and the
/// offset after the last one consumed.
pub fn read_from(
    path: &Path,
    offset: u64,
    opts: &LogOptions,
) -> Result<(Vec<LogEntry>, u64), LogError> {
    let mut entries = Vec::new();
    let (next, _) = read_some(path, offset, None, opts, &mut |e| entries.push(e))?;
    Ok((entries, next))
}

/// Like [`read_from`], but stops after about `budget` bytes of log, so a big log can be sent
/// in pieces; the flag is true when there is nothing more to read for now (or `until` passed).
pub fn read_chunk(
    path: &Path,
    offset: u64,
    budget: u64,
    opts: &LogOptions,
) -> Result<(Vec<LogEntry>, u64, bool), LogError> {
    let mut entries = Vec::new();
    let (next, end) = read_some(path, offset, Some(budget), opts, &mut |e| entries.push(e))?;
    Ok((entries, next, end != End::Budget))
}

/// Reads on from `offset` (from 0 if the log is now shorter), at most about `budget` bytes.
fn read_some(
    path: &Path,
    offset: u64,
    budget: Option<u64>,
    opts: &LogOptions,
    f: &mut dyn FnMut(LogEntry),
) -> Result<(u64, End), LogError> {
    let Some(mut file) = open(path)? else {
        return Ok((offset, End::Eof));
    };
    let len = file.metadata().map_err(read_err(path))?.len();
    let start = if len < offset { 0 } else { offset };
    scan(&mut file, start, None, budget, opts, f).map_err(read_err(path))
}

/// Streams the entries appended after `offset` into `tx`, encoded with [`encode`], until `stop`
/// turns true (or its sender goes away), `until` passes, or `tx` closes. After a stop it reads
/// once more, so what was written before the stop goes out too. Returns the offset reached.
pub async fn follow(
    path: &Path,
    offset: u64,
    opts: &LogOptions,
    stop: watch::Receiver<bool>,
    tx: &mpsc::Sender<Bytes>,
    tty: bool,
) -> Result<u64, LogError> {
    let waker = Waker::new(path);
    follow_with(path, offset, opts, stop, tx, tty, waker).await
}

#[allow(clippy::too_many_arguments)]
async fn follow_with(
    path: &Path,
    mut offset: u64,
    opts: &LogOptions,
    mut stop: watch::Receiver<bool>,
    tx: &mpsc::Sender<Bytes>,
    tty: bool,
    mut waker: Waker,
) -> Result<u64, LogError> {
    let deadline = opts.until.map(|u| {
        let left = crate::timefmt::to_system_time(u)
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        tokio::time::Instant::now() + left
    });
    let mut stopping = false;
    loop {
        stopping |= *stop.borrow_and_update();
        stopping |= deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        let (p, o) = (path.to_path_buf(), opts.clone());
        let read = tokio::task::spawn_blocking(move || {
            let mut entries = Vec::new();
            read_some(&p, offset, Some(FOLLOW_BATCH), &o, &mut |e| entries.push(e))
                .map(|(next, end)| (entries, next, end))
        })
        .await;
        let (entries, next, end) = match read {
            Ok(r) => r?,
            Err(_) => return Ok(offset), // the runtime is shutting down
        };
        let progressed = next != offset;
        offset = next;
        for e in &entries {
            if tx.send(encode(e, opts.timestamps, tty)).await.is_err() {
                return Ok(offset);
            }
        }
        match end {
            End::Until => return Ok(offset),
            End::Budget => continue,
            End::Eof if stopping => return Ok(offset),
            End::Eof => {}
        }
        if progressed {
            waker.active();
        }
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    stopping = true;
                }
            }
            _ = tx.closed() => return Ok(offset),
            _ = waker.wait() => {}
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

/// Wakes a follower when the log may have grown: inotify if it can, else a timer.
struct Waker {
    inotify: Option<Inotify>,
    last_active: Instant,
}

impl Waker {
    fn new(path: &Path) -> Waker {
        let inotify = Inotify::watch(path)
            .inspect_err(|e| tracing::debug!("following {} by polling: {e}", path.display()))
            .ok();
        Waker {
            inotify,
            last_active: Instant::now(),
        }
    }

    /// Output just arrived: poll fast for a while.
    fn active(&mut self) {
        self.last_active = Instant::now();
    }

    async fn wait(&self) {
        if let Some(w) = &self.inotify {
            let _ = tokio::time::timeout(SAFETY_TICK, w.wait()).await;
        } else if self.last_active.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(POLL_FAST).await;
        } else {
            tokio::time::sleep(POLL_IDLE).await;
        }
    }
}

/// An inotify watch on the log's directory, reporting events for the log's name only.
struct Inotify {
    fd: tokio::io::unix::AsyncFd<File>,
    name: Vec<u8>,
}

impl Inotify {
    fn watch(path: &Path) -> std::io::Result<Inotify> {
        use std::os::fd::{AsRawFd, FromRawFd};
        use std::os::unix::ffi::OsStrExt;
        let invalid = || std::io::Error::from(std::io::ErrorKind::InvalidInput);
        let name = path.file_name().ok_or_else(invalid)?.as_bytes().to_vec();
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let c_dir = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|_| invalid())?;
        // SAFETY: plain system calls; the fd is owned (as a File, for `read`) once created.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = unsafe { File::from_raw_fd(raw) };
        let mask = libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_CREATE | libc::IN_MOVED_TO;
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c_dir.as_ptr(), mask) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the AsyncFd owns the fd; nothing else registers or closes it.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)?
        };
        Ok(Inotify { fd, name })
    }

    /// Whether a buffer of events holds one for the log (or a queue overflow, which may hide one).
    fn relevant(&self, mut buf: &[u8]) -> bool {
        const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
        while buf.len() >= HEADER {
            let mask = u32::from_ne_bytes(buf[4..8].try_into().expect("4 bytes"));
            let len = u32::from_ne_bytes(buf[12..16].try_into().expect("4 bytes")) as usize;
            let name = buf.get(HEADER..HEADER + len).unwrap_or_default();
            let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
            if mask & libc::IN_Q_OVERFLOW != 0 || name == self.name.as_slice() {
                return true;
            }
            buf = buf.get(HEADER + len..).unwrap_or_default();
        }
        false
    }

    /// Returns after the next event for the log.
    async fn wait(&self) {
        let mut buf = [0u8; 4096];
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            let mut hit = false;
            loop {
                match self.fd.get_ref().read(&mut buf) {
                    Ok(n) if n > 0 => hit |= self.relevant(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    // A broken watch: leave waking to the safety tick rather than spin.
                    _ => return std::future::pending().await,
                }
            }
            guard.clear_ready();
            if hit {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const T0: i64 = 1_795_845_600; // 2026-11-28T06:00:00Z

    fn line(stream: &str, msg: &str, sec: u32) -> String {
        let msg = serde_json::to_string(msg).unwrap();
        format!(
            "{{\"log\":{msg},\"stream\":\"{stream}\",\"time\":\"2026-11-28T06:00:{sec:02}Z\"}}\n"
        )
    }

    fn all() -> LogOptions {
        LogOptions::all()
    }

    /// All entries, changed by `f`.
    fn opts(f: impl FnOnce(&mut LogOptions)) -> LogOptions {
        let mut o = LogOptions::all();
        f(&mut o);
        o
    }

    fn msgs(r: Result<(Vec<LogEntry>, u64), LogError>) -> Vec<String> {
        let e = r.unwrap().0;
        let text = |e: &LogEntry| String::from_utf8_lossy(&e.message).into_owned();
        e.iter().map(text).collect()
    }

    fn log_with(lines: &[(&str, &str, u32)]) -> (tempfile::TempDir, PathBuf, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut f = File::create(&path).unwrap();
        for (s, m, t) in lines {
            f.write_all(line(s, m, *t).as_bytes()).unwrap();
        }
        (dir, path, f)
    }

    #[test]
    fn streams_times_and_torn_lines() {
        let lines = [
            ("stdout", "a\n", 1),
            ("stderr", "b\n", 2),
            ("stdout", "c\n", 3),
        ];
        let (dir, path, mut f) = log_with(&lines);
        f.write_all(b"{\"log\":\"torn").unwrap();
        let (e, off) = read_entries(&path, &all()).unwrap();
        let second = (e.len(), e[1].stream, e[1].time);
        assert_eq!(second, (3, StreamType::Stderr, (T0 + 2, 0)));
        assert_eq!(off, 3 * line("stdout", "a\n", 1).len() as u64);
        let only_err = opts(|o| o.stdout = false);
        assert_eq!(msgs(read_entries(&path, &only_err)), ["b\n"]);
        let window = opts(|o| (o.since, o.until) = (Some((T0 + 2, 0)), Some((T0 + 2, 0))));
        assert_eq!(msgs(read_entries(&path, &window)), ["b\n"]);
        // The torn line completes: a follower reads it from the offset. Junk lines are skipped.
        f.write_all(b"\",\"stream\":\"stdout\",\"time\":\"2026-11-28T06:00:04Z\"}\nnot json\n")
            .unwrap();
        let (more, end) = read_from(&path, off, &all()).unwrap();
        assert_eq!((more.len(), &more[0].message[..]), (1, &b"torn"[..]));
        assert_eq!(end, std::fs::metadata(&path).unwrap().len());
        assert_eq!(read_from(&path, end, &all()).unwrap(), (vec![], end));
        let (some, next, done) = read_chunk(&path, 0, 1, &all()).unwrap();
        assert_eq!(
            (some.len(), next, done),
            (1, line("stdout", "a\n", 1).len() as u64, false)
        );
        // Truncated under the reader: read again from the start.
        std::fs::write(&path, line("stdout", "new\n", 5)).unwrap();
        assert_eq!(msgs(read_from(&path, end, &all())), ["new\n"]);
        // No file: no entries.
        let none = dir.path().join("none");
        assert_eq!(read_entries(&none, &all()).unwrap(), (vec![], 0));
        let e = read_entries(dir.path(), &all()).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("reading log {}: ", dir.path().display())),
            "{e}"
        );
        let tail = opts(|o| o.tail = Some(5));
        assert_eq!(read_entries(&none, &tail).unwrap(), (vec![], 0));
    }

    #[test]
    fn tail_reads_backwards_across_blocks() {
        let (_dir, path, mut f) = log_with(&[]);
        let mut body = String::new();
        for i in 0..20000 {
            let stream = if i % 2 == 0 { "stdout" } else { "stderr" };
            body.push_str(&line(stream, &format!("{i}"), i % 60));
        }
        f.write_all(body.as_bytes()).unwrap();
        f.write_all(b"{\"log\":\"half").unwrap();
        let tail = |n, o: LogOptions| read_entries(&path, &LogOptions { tail: Some(n), ..o });
        assert_eq!(msgs(tail(3, all())), ["19997", "19998", "19999"]);
        assert_eq!(tail(3, all()).unwrap().1, body.len() as u64);
        // Docker counts lines before picking streams: the last 3 lines hold 1 from stdout.
        assert_eq!(msgs(tail(3, opts(|o| o.stderr = false))), ["19998"]);
        assert_eq!(tail(0, all()).unwrap(), (vec![], body.len() as u64));
        let got = msgs(tail(15000, all()));
        assert_eq!((got.len(), got[0].as_str()), (15000, "5000"));
        assert_eq!(msgs(tail(50000, all())).len(), 20000);
        // since applies after tail.
        let recent = opts(|o| o.since = Some((T0 + 18, 0)));
        assert_eq!(msgs(tail(3, recent)), ["19998", "19999"]);
    }

    #[test]
    fn until_ends_the_read() {
        let (_dir, path, _f) =
            log_with(&[("stdout", "a", 1), ("stdout", "b", 5), ("stdout", "c", 2)]);
        let (got, off) = read_from(&path, 0, &opts(|o| o.until = Some((T0 + 3, 0)))).unwrap();
        assert_eq!((got.len(), off), (1, line("stdout", "a", 1).len() as u64));
    }

    #[test]
    fn encoding() {
        let message = b"x\n".to_vec();
        let e = LogEntry {
            stream: StreamType::Stderr,
            time: (T0, 123_456_789),
            message,
        };
        let stamped = b"2026-11-28T06:00:00.123456789Z x\n";
        assert_eq!(&encode(&e, false, true)[..], b"x\n");
        assert_eq!(&encode(&e, true, true)[..], stamped);
        assert_eq!(&encode(&e, false, false)[..], b"\x02\0\0\0\0\0\0\x02x\n");
        assert_eq!(stream::demux(&encode(&e, true, false)).unwrap().1, stamped);
    }

    async fn within<F: std::future::Future>(f: F) -> F::Output {
        let limit = Duration::from_secs(2);
        tokio::time::timeout(limit, f).await.expect("timed out")
    }

    async fn follow_case(poll: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late-json.log");
        let (stop_tx, stop) = watch::channel(false);
        let (tx, mut rx) = mpsc::channel(16);
        let mut waker = Waker::new(&path);
        assert!(waker.inotify.is_some());
        if poll {
            waker.inotify = None;
        }
        let p = path.clone();
        let task =
            tokio::spawn(async move { follow_with(&p, 0, &all(), stop, &tx, true, waker).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        // The file appears after the follower started, and is written in pieces.
        let mut f = File::create(&path).unwrap();
        let first = line("stdout", "one\n", 1).into_bytes();
        f.write_all(&first[..10]).unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let sent = Instant::now();
        f.write_all(&first[10..]).unwrap();
        assert_eq!(&within(rx.recv()).await.unwrap()[..], b"one\n");
        let latency = sent.elapsed();
        assert!(latency < Duration::from_millis(500), "{latency:?}");
        // Written just before the stop: still delivered.
        f.write_all(line("stderr", "two\n", 2).as_bytes()).unwrap();
        stop_tx.send(true).unwrap();
        let end = within(task).await.unwrap();
        assert_eq!(&rx.recv().await.unwrap()[..], b"two\n");
        assert!(rx.recv().await.is_none());
        assert_eq!(end.unwrap(), std::fs::metadata(&path).unwrap().len());
    }

    #[tokio::test]
    async fn follow_with_inotify() {
        follow_case(false).await;
    }

    #[tokio::test]
    async fn follow_by_polling() {
        follow_case(true).await;
    }

    #[tokio::test]
    async fn follow_ends_at_until_and_when_the_reader_leaves() {
        let (_dir, path, mut f) = log_with(&[]);
        f.write_all(b"{\"log\":\"a\",\"stream\":\"stdout\",\"time\":\"2000-01-01T00:00:00Z\"}\n")
            .unwrap();
        let (_stop_tx, stop) = watch::channel(false);
        let (tx, mut rx) = mpsc::channel(16);
        // An until in the past: what is there goes out, then the follower ends.
        let past = opts(|o| o.until = Some((978_307_200, 0)));
        let end = within(follow(&path, 0, &past, stop.clone(), &tx, true)).await;
        assert!(end.unwrap() > 0);
        assert_eq!(&rx.recv().await.unwrap()[..], b"a");
        drop(rx);
        within(follow(&path, 0, &all(), stop, &tx, true))
            .await
            .unwrap();
    }
}
