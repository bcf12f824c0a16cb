//! Docker's `json-file` log format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2026-11-28T04:10:00.123456789Z"}`.
//!
//! Output is split at newlines; each message keeps its `\n`. A line that grows past
//! [`MAX_MESSAGE`] bytes without one is written in pieces of that size, and what is left when a
//! stream ends goes out as a last entry without a newline, as Docker does.

use std::io::{self, Write};

/// The longest message one entry carries (Docker's 16 KiB copy buffer).
pub const MAX_MESSAGE: usize = 16 * 1024;

/// Which of the container's outputs a message came from. A terminal's output is `Stdout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Cuts one stream's bytes into messages: whole lines, or [`MAX_MESSAGE`]-sized pieces of a line
/// too long to wait for.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Adds `data` and hands every message that is now complete to `emit`.
    pub fn feed(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) if i < MAX_MESSAGE => {
                    emit(&rest[..=i]);
                    start += i + 1;
                }
                _ if rest.len() >= MAX_MESSAGE => {
                    emit(&rest[..MAX_MESSAGE]);
                    start += MAX_MESSAGE;
                }
                _ => break,
            }
        }
        self.pending.drain(..start);
        if self.pending.is_empty() && self.pending.capacity() > 4 * MAX_MESSAGE {
            // An idle stream should not pin a burst's buffer.
            self.pending = Vec::new();
        }
    }

    /// The stream ended: hands a last partial line, if any, to `emit`.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
        }
        self.pending = Vec::new();
    }

    /// Bytes held back waiting for a newline.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Appends one log line (JSON object and `\n`) for `message` to `out`.
pub fn encode_entry(out: &mut Vec<u8>, message: &[u8], stream: Stream, time: &str) {
    out.extend_from_slice(b"{\"log\":\"");
    escape_into(out, message);
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// Writes `message` as the inside of a JSON string the way Docker's encoder does: invalid UTF-8
/// becomes U+FFFD, and `<`, `>`, `&`, U+2028 and U+2029 are escaped too, so a log line can be
/// pasted into HTML or JavaScript unchanged.
fn escape_into(out: &mut Vec<u8>, message: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let text = String::from_utf8_lossy(message);
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                let n = c as u32;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(n >> 4) as usize]);
                out.push(HEX[(n & 0xf) as usize]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c => out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
        }
    }
}

/// A json-file log: the splitters of both streams in front of one writer (the log file, opened
/// for appending).
#[derive(Debug)]
pub struct JsonLog<W: Write> {
    out: W,
    splitters: [LineSplitter; 2],
    buf: Vec<u8>,
}

impl<W: Write> JsonLog<W> {
    pub fn new(out: W) -> Self {
        JsonLog {
            out,
            splitters: Default::default(),
            buf: Vec::new(),
        }
    }

    /// Logs the bytes just read from `stream`, stamping the messages it completes with `time`.
    pub fn write(&mut self, stream: Stream, data: &[u8], time: &str) -> io::Result<()> {
        let buf = &mut self.buf;
        self.splitters[stream.index()].feed(data, |m| encode_entry(buf, m, stream, time));
        self.flush_buf()
    }

    /// `stream` reached its end: writes out its unfinished line.
    pub fn finish(&mut self, stream: Stream, time: &str) -> io::Result<()> {
        let buf = &mut self.buf;
        self.splitters[stream.index()].finish(|m| encode_entry(buf, m, stream, time));
        self.flush_buf()
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.out.write_all(&self.buf);
        self.buf.clear();
        if self.buf.capacity() > 4 * MAX_MESSAGE {
            self.buf = Vec::new();
        }
        result
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-11-28T04:10:00.123456789Z";

    fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, |m| out.push(m.to_vec()));
        }
        s.finish(|m| out.push(m.to_vec()));
        out
    }

    #[test]
    fn lines_are_split_at_newlines_across_reads() {
        let got = split(&[b"one\ntw", b"o\n", b"\nthree"]);
        let want: Vec<&[u8]> = vec![b"one\n", b"two\n", b"\n", b"three"];
        assert_eq!(got, want);
        assert!(split(&[b"", b""]).is_empty());
    }

    #[test]
    fn a_long_line_is_cut_into_16k_pieces() {
        let line = vec![b'x'; 2 * MAX_MESSAGE + 10];
        let mut input = line.clone();
        input.push(b'\n');
        let got = split(&[&input[..100], &input[100..]]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].len(), MAX_MESSAGE);
        assert_eq!(got[1].len(), MAX_MESSAGE);
        assert_eq!(got[2], [&[b'x'; 10][..], b"\n"].concat());
    }

    #[test]
    fn a_full_buffer_is_flushed_without_waiting_for_eof() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.feed(&vec![b'y'; MAX_MESSAGE - 1], |m| out.push(m.len()));
        assert!(out.is_empty());
        assert_eq!(s.pending(), MAX_MESSAGE - 1);
        s.feed(b"yz", |m| out.push(m.len()));
        assert_eq!(out, vec![MAX_MESSAGE]);
        assert_eq!(s.pending(), 1);
    }

    #[test]
    fn entries_match_dockers_encoding() {
        let mut out = Vec::new();
        encode_entry(&mut out, b"hi \"you\"\\\t<a&b>\x01\r\n", Stream::Stderr, T);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{{\"log\":\"hi \\\"you\\\"\\\\\\t\\u003ca\\u0026b\\u003e\\u0001\\r\\n\",\"stream\":\"stderr\",\"time\":\"{T}\"}}\n"
            )
        );
    }

    #[test]
    fn every_entry_is_valid_json_even_for_invalid_utf8() {
        let mut out = Vec::new();
        let nasty: &[u8] = b"caf\xc3\xa9 \xff\xfe \xe2\x80\xa8 \x1b[31m\x7f\n";
        encode_entry(&mut out, nasty, Stream::Stdout, T);
        let line = std::str::from_utf8(&out).unwrap();
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["log"], "café \u{fffd}\u{fffd} \u{2028} \x1b[31m\x7f\n");
        assert_eq!(v["stream"], "stdout");
        assert_eq!(v["time"], T);
    }

    #[test]
    fn the_log_interleaves_streams_and_ends_partial_lines() {
        let mut log = JsonLog::new(Vec::new());
        log.write(Stream::Stdout, b"out\npart", T).unwrap();
        log.write(Stream::Stderr, b"err\n", T).unwrap();
        log.finish(Stream::Stdout, T).unwrap();
        log.finish(Stream::Stderr, T).unwrap();
        let text = String::from_utf8(log.get_ref().clone()).unwrap();
        let entries: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["log"].as_str().unwrap().to_string(),
                    v["stream"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [("out\n", "stdout"), ("err\n", "stderr"), ("part", "stdout")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }
}
