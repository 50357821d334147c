//! The crate's typed errors: [`Error`] for the runner and stores, and
//! [`HandlerError`] for what a projection's handler returns. Owns no I/O and
//! no retry logic (that is the runner's).

use std::fmt;
use std::path::PathBuf;

/// Everything the runner, the stores and the rebuild can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A call to the server failed (after the client's own retries).
    #[error("strata client: {0}")]
    Client(#[from] strata_client::Error),
    /// The sled read-model database failed.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A file operation (checkpoint file, generation pointer) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A stored checkpoint, pointer or status file could not be parsed.
    #[error("{path}: corrupt ({detail})")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A handler failed on an event and the policy stopped the projection.
    #[error("projection {projection} stopped at the event at {position} ({stream}): {message}")]
    HandlerStopped {
        /// The projection's name.
        projection: String,
        /// Revision (stream source) or global position of the event.
        position: u64,
        /// The event's stream.
        stream: String,
        /// The handler's last error.
        message: String,
    },
    /// An at-least-once projection could not make its effects durable
    /// before a checkpoint; the checkpoint was not advanced.
    #[error("projection {projection}: flush failed: {message}")]
    Flush {
        /// The projection's name.
        projection: String,
        /// The flush error.
        message: String,
    },
    /// Two projections in one runner share a name.
    #[error("duplicate projection name {0:?}")]
    DuplicateName(String),
    /// A projection name that cannot be used as a directory or key.
    #[error("invalid projection name {0:?}: use 1..=100 of [A-Za-z0-9_.-]")]
    InvalidName(String),
    /// The runner task of a projection panicked or was cancelled.
    #[error("projection {0} task ended abnormally: {1}")]
    Task(String, String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a projection handler returns when it cannot apply an event. Any
/// `std::error::Error` converts into it with `?`.
///
/// ```
/// use strata_projections::HandlerError;
/// fn parse(b: &[u8]) -> Result<u64, HandlerError> {
///     Ok(std::str::from_utf8(b)?.parse::<u64>()?)
/// }
/// assert!(parse(b"x").is_err());
/// assert_eq!(HandlerError::new("boom").to_string(), "boom");
/// ```
pub struct HandlerError {
    message: String,
}

impl HandlerError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: std::error::Error> From<E> for HandlerError {
    fn from(e: E) -> Self {
        Self::new(e.to_string())
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandlerError({:?})", self.message)
    }
}

/// Checks a projection name: it names directories and keys.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_owned()))
    }
}
