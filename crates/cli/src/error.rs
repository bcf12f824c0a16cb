//! The CLI's one error type. How an error is printed and which exit code it gives follow the
//! `docker` CLI: daemon errors and client errors exit 125, a container command that cannot be
//! run exits 126 or 127.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon answered 4xx/5xx with `{"message": …}`.
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    /// Nothing listens on the daemon's socket.
    #[error("Cannot connect to the berth daemon at {host}. Is berthd running?")]
    CannotConnect { host: String },
    /// Bad command line: the message, then a pointer to the command's help.
    #[error("berth: {message}\nSee '{command} --help'.")]
    Usage { command: String, message: String },
    /// The daemon spoke something that is not the HTTP or JSON we expect.
    #[error("berth: protocol error: {0}")]
    Protocol(String),
    #[error("berth: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// Any other client-side failure, already worded for the user.
    #[error("berth: {0}")]
    Client(String),
    /// A failure docker prints with its own `Error: ` prefix (e.g. inspect's "No such object").
    #[error("Error: {0}")]
    Plain(String),
    /// Leave quietly with this status (the message, if any, was already printed).
    #[error("")]
    Exit(i32),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn client(message: impl Into<String>) -> Error {
        Error::Client(message.into())
    }

    pub fn usage(command: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Usage {
            command: command.into(),
            message: message.into(),
        }
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exit(code) => *code,
            _ => 125,
        }
    }

    /// True for "no such container/image" answers, so callers can try another object type.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Daemon { status: 404, .. })
    }
}

pub type Result<T> = std::result::Result<T, Error>;
