//! The start gate of a shim run with `--start-gate`: the shim creates the container, prints the
//! init's PID, then waits on its stdin (a unix socket) for the word to start it.
//!
//! This lets berthd do all of a start's slow work (rootfs, spec, shim spawn, namespaces, mounts,
//! cgroups) right after `create`, while the client is still on its way to `start`; the start
//! itself is then one message. One byte starts the container; sent with SCM_RIGHTS it carries
//! the first attached client's socket, which gets the live output from the first byte on. EOF
//! (berthd dropped its end, or died) deletes the created container and ends the shim.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

const START: &[u8] = b"s";

/// What arrived at the gate.
pub enum Word {
    /// Start the container, with this first attach client if any.
    Start(Option<UnixStream>),
    /// The other end is gone: delete the container.
    Abort,
}

/// Blocks until the gate's word arrives.
pub fn wait(gate: &UnixStream) -> io::Result<Word> {
    let (n, fd) = crate::os::recv_with_fd(gate)?;
    if n == 0 {
        return Ok(Word::Abort);
    }
    Ok(Word::Start(fd.map(|fd: OwnedFd| UnixStream::from(fd))))
}

/// Tells the shim at the other end of `gate` to start its container, handing it `client`.
pub fn open(gate: &mut UnixStream, client: Option<BorrowedFd<'_>>) -> io::Result<()> {
    match client {
        Some(fd) => crate::os::send_fd(gate, fd.as_raw_fd(), START),
        None => gate.write_all(START),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    #[test]
    fn a_start_carries_the_client_and_eof_aborts() {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let (client, mut peer) = UnixStream::pair().unwrap();
        open(&mut ours, Some(client.as_fd())).unwrap();
        drop(client);
        match wait(&theirs).unwrap() {
            Word::Start(Some(mut received)) => {
                received.write_all(b"hi").unwrap();
                drop(received);
                let mut got = String::new();
                peer.read_to_string(&mut got).unwrap();
                assert_eq!(got, "hi");
            }
            _ => panic!("expected a start with a client"),
        }
        open(&mut ours, None).unwrap();
        assert!(matches!(wait(&theirs).unwrap(), Word::Start(None)));
        drop(ours);
        assert!(matches!(wait(&theirs).unwrap(), Word::Abort));
    }
}
