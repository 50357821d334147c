//! Exit codes of the client commands, and the failure type that carries
//! one: scripts tell "not there" and "someone else changed it" apart from
//! every other failure without parsing messages.
//!
//! | Code | Meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other failure (connection, server error, bad input file, I/O) |
//! | 2 | bad usage (from clap) |
//! | 3 | not found: no such stream (or deleted, or tombstoned, when read), no such group, an empty backup directory |
//! | 4 | conflict: wrong expected revision, partial duplicate, group exists, user exists, a write to a tombstoned stream, an import whose events differ from the target's |
//! | 5 | refused: authentication failed (no, wrong or expired credentials), or permission denied (no grant or role, or a reserved `$` stream name) |
//!
//! Not here: which command fails how (each command's file decides, with
//! [`Failure::client`] for server errors).

use std::process::ExitCode;
use strata_client::Error as ClientError;

/// Exit code of failures that are neither "not found" nor a conflict.
pub const OTHER: u8 = 1;
/// Exit code of "not found".
pub const NOT_FOUND: u8 = 3;
/// Exit code of a conflict with the server's state.
pub const CONFLICT: u8 = 4;
/// Exit code of failed authentication or a denied permission.
pub const REFUSED: u8 = 5;

/// A failed command: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// What went wrong (printed with its causes).
    pub error: anyhow::Error,
}

impl Failure {
    /// A failure with an exit code.
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code,
            error: error.into(),
        }
    }

    /// A server's error, coded by its kind. `write`: the command changes
    /// the stream, so a tombstone is a conflict rather than "not found".
    pub fn client(e: ClientError, write: bool) -> Failure {
        let code = code_of(&e, write);
        Failure::new(code, e)
    }

    /// The same failure with `context` in front of its message.
    pub fn context(self, context: impl std::fmt::Display + Send + Sync + 'static) -> Failure {
        Failure {
            code: self.code,
            error: self.error.context(context),
        }
    }

    /// Prints the failure on stderr and returns its exit code.
    pub fn report(self) -> ExitCode {
        eprintln!("strata: error: {:#}", self.error);
        ExitCode::from(self.code)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure { code: OTHER, error }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        Failure::new(OTHER, error)
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::client(e, false)
    }
}

/// The exit code of a server error.
pub fn code_of(e: &ClientError, write: bool) -> u8 {
    match e {
        ClientError::NotFound { .. }
        | ClientError::StreamDeleted { .. }
        | ClientError::GroupNotFound { .. } => NOT_FOUND,
        ClientError::StreamTombstoned { .. } if write => CONFLICT,
        ClientError::StreamTombstoned { .. } => NOT_FOUND,
        ClientError::WrongExpectedRevision { .. }
        | ClientError::PartialDuplicate { .. }
        | ClientError::GroupExists { .. }
        | ClientError::UserExists { .. } => CONFLICT,
        ClientError::Unauthenticated { .. } | ClientError::PermissionDenied { .. } => REFUSED,
        _ => OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_failure_have_their_codes() {
        let nf = ClientError::NotFound {
            message: "x".into(),
        };
        assert_eq!(code_of(&nf, false), NOT_FOUND);
        let t = ClientError::StreamTombstoned {
            message: "x".into(),
        };
        assert_eq!(code_of(&t, false), NOT_FOUND);
        assert_eq!(code_of(&t, true), CONFLICT);
        let c = ClientError::PartialDuplicate {
            message: "x".into(),
        };
        assert_eq!(code_of(&c, true), CONFLICT);
        let u = ClientError::Unavailable {
            message: "x".into(),
        };
        assert_eq!(code_of(&u, false), OTHER);
        let d = ClientError::PermissionDenied {
            message: "x".into(),
        };
        assert_eq!(code_of(&d, true), REFUSED);
    }
}
