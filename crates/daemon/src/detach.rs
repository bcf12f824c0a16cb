//! The detach key sequence of an attached terminal (ctrl-p ctrl-q unless the client names
//! another): typed into a tty session, it ends the attachment and leaves the container running.

/// ctrl-p, ctrl-q.
pub const DEFAULT_KEYS: [u8; 2] = [16, 17];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid detach keys ({0}) provided")]
pub struct InvalidKeys(String);

/// Parses Docker's notation: a comma-separated list of single characters or `ctrl-<x>`, where
/// x is a letter or one of `@ [ \ ] ^ _`.
pub fn parse_keys(spec: &str) -> Result<Vec<u8>, InvalidKeys> {
    let invalid = || InvalidKeys(spec.to_string());
    let mut keys = Vec::new();
    for key in spec.split(',') {
        let key = key.trim();
        let byte = match key.strip_prefix("ctrl-") {
            Some(rest) if rest.len() == 1 => {
                let c = rest.as_bytes()[0].to_ascii_lowercase();
                match c {
                    b'a'..=b'z' => c - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => return Err(invalid()),
                }
            }
            None if key.len() == 1 && key.is_ascii() => key.as_bytes()[0],
            _ => return Err(invalid()),
        };
        keys.push(byte);
    }
    if keys.is_empty() {
        return Err(invalid());
    }
    Ok(keys)
}

/// Watches a byte stream for the sequence. Bytes that might begin it are held back until the
/// next bytes show whether they do, so a detach never leaks a half sequence to the container.
#[derive(Debug)]
pub struct Scanner {
    keys: Vec<u8>,
    matched: usize,
}

/// What a chunk of input amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// Pass these bytes on.
    Forward(Vec<u8>),
    /// The sequence was typed; pass these bytes (typed before it) on, then detach.
    Detach(Vec<u8>),
}

impl Scanner {
    pub fn new(keys: Vec<u8>) -> Scanner {
        Scanner { keys, matched: 0 }
    }

    pub fn push(&mut self, input: &[u8]) -> Scan {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return Scan::Detach(out);
                }
                continue;
            }
            // A broken partial match goes through as typed, and this byte may start a new one.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return Scan::Detach(out);
                }
            } else {
                out.push(b);
            }
        }
        Scan::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_notation_parses() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q").unwrap(), DEFAULT_KEYS);
        assert_eq!(parse_keys("ctrl-@,ctrl-[,ctrl-_").unwrap(), [0, 27, 31]);
        assert_eq!(parse_keys("a,ctrl-A").unwrap(), [b'a', 1]);
        for bad in ["", "ctrl-", "ctrl-pq", "abc", "ctrl-1", "a,,b"] {
            assert_eq!(
                parse_keys(bad).unwrap_err().to_string(),
                format!("Invalid detach keys ({bad}) provided")
            );
        }
    }

    #[test]
    fn the_sequence_detaches_across_chunks_and_is_never_forwarded() {
        let mut s = Scanner::new(DEFAULT_KEYS.to_vec());
        assert_eq!(s.push(b"ls\x10"), Scan::Forward(b"ls".to_vec()));
        assert_eq!(s.push(b"\x11rest"), Scan::Detach(Vec::new()));
        let mut s = Scanner::new(DEFAULT_KEYS.to_vec());
        assert_eq!(s.push(b"a\x10\x11"), Scan::Detach(b"a".to_vec()));
    }

    #[test]
    fn a_broken_prefix_is_passed_on() {
        let mut s = Scanner::new(DEFAULT_KEYS.to_vec());
        assert_eq!(s.push(b"\x10x"), Scan::Forward(b"\x10x".to_vec()));
        assert_eq!(s.push(b"\x10\x10"), Scan::Forward(b"\x10".to_vec()));
        assert_eq!(s.push(b"\x11"), Scan::Detach(Vec::new()));
    }
}
