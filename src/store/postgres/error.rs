//! Driver and pool errors as the crate's error kinds.

use deadpool_postgres::PoolError;

use crate::error::{Error, ErrorKind};

/// SQLSTATEs worth another try for an operation that cannot apply twice: serialization failures,
/// deadlocks, a server starting up or out of connections.
const TRANSIENT_STATES: &[&str] = &["40001", "40P01", "53300", "57P03"];

/// Maps a driver error to its kind, keeping it as the source.
pub(crate) fn db_error(e: tokio_postgres::Error) -> Error {
    let kind = match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let message = db.message().to_owned();
            let constraint = db.constraint().unwrap_or_default().to_owned();
            match code {
                "23505" => ErrorKind::UniqueViolation {
                    constraint,
                    message,
                },
                "23514" | "23502" => ErrorKind::CheckViolation {
                    constraint,
                    message,
                },
                "42501" => ErrorKind::PermissionDenied { message },
                "57014" => ErrorKind::Timeout {
                    message: format!("the statement was cancelled: {message}"),
                },
                c if c.starts_with("08") || matches!(c, "57P01" | "57P02") => {
                    ErrorKind::ConnectionLost { message }
                }
                _ => ErrorKind::Database {
                    code: code.to_owned(),
                    message,
                },
            }
        }
        None if e.is_closed() || is_io(&e) => ErrorKind::ConnectionLost {
            message: e.to_string(),
        },
        None => ErrorKind::Database {
            code: String::new(),
            message: e.to_string(),
        },
    };
    Error::new(kind).with_source(e)
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Maps a pool error: a wait past the pool's timeout, or a connection that could not be made.
pub(crate) fn pool_error(e: PoolError) -> Error {
    match e {
        PoolError::Backend(e) => db_error(e),
        PoolError::Timeout(kind) => Error::new(ErrorKind::Timeout {
            message: format!("no database connection became free in time ({kind:?})"),
        }),
        other => Error::new(ErrorKind::ConnectionLost {
            message: format!("the connection pool failed: {other}"),
        }),
    }
}

/// Whether another try may succeed (for operations that cannot apply twice).
pub(crate) fn is_transient(e: &Error) -> bool {
    match e.kind() {
        ErrorKind::ConnectionLost { .. } | ErrorKind::Timeout { .. } => true,
        ErrorKind::Database { code, .. } => TRANSIENT_STATES.contains(&code.as_str()),
        _ => false,
    }
}
