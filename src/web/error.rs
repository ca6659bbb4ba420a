//! Errors as HTTP responses: the status a kind stands for and `{"error": {...}}` bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::{Error, ErrorKind};

/// An error of the API: the library's [`Error`] with the HTTP status it is answered with. The
/// body is `{"error": {"kind": "...", "message": "...", ...}}` (the command line's shape).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: Error,
}

impl ApiError {
    /// `error` with the status its kind stands for ([`ApiError::status_of`]).
    pub fn new(error: Error) -> Self {
        Self {
            status: Self::status_of(error.kind()),
            error,
        }
    }

    /// A request without the credentials the server needs (401).
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: Error::new(ErrorKind::PermissionDenied {
                message: message.into(),
            }),
        }
    }

    /// A missing record or file (404): `what` it is and its `id`.
    pub(crate) fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        Self::new(Error::new(ErrorKind::NotFound {
            what: what.to_owned(),
            id: id.to_string(),
        }))
    }

    /// The HTTP status of an error kind: 400 for bad input of every kind, 403 permission, 404
    /// not found, 409 conflicts (unique violation, a refused state change, a lost lease), 501
    /// unsupported, 503 for transient database trouble, 500 for the rest.
    pub fn status_of(kind: &ErrorKind) -> StatusCode {
        match kind {
            ErrorKind::NotFound { .. } => StatusCode::NOT_FOUND,
            ErrorKind::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            ErrorKind::UniqueViolation { .. }
            | ErrorKind::InvalidTransition { .. }
            | ErrorKind::LeaseLost { .. } => StatusCode::CONFLICT,
            ErrorKind::ConnectionLost { .. } | ErrorKind::Timeout { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorKind::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Database { .. }
            | ErrorKind::Migration { .. }
            | ErrorKind::MalformedRow { .. }
            | ErrorKind::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The status it is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The library error.
    pub fn error(&self) -> &Error {
        &self.error
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self::new(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            eprintln!("smsbatch serve: {}", self.error);
        }
        let body = serde_json::json!({ "error": self.error });
        (self.status, axum::Json(body)).into_response()
    }
}
