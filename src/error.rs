//! The crate's one error type.
//!
//! [`Error`] is opaque on purpose: callers branch on [`Error::kind`], and the representation can grow
//! (a source, a span) without breaking anyone. Every kind has a stable camelCase [`ErrorKind::code`]
//! that the command line and the WebAssembly package hand to JavaScript.

use std::fmt;

/// An error from any part of smsbatch.
///
/// Inspect it with [`Error::kind`]; its `Display` is a sentence a person can act on.
///
/// ```
/// use smsbatch::{ErrorKind, Segmenter};
///
/// let err = Segmenter::default().validate("").unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::EmptyMessage);
/// assert_eq!(err.kind().code(), "emptyMessage");
/// ```
pub struct Error {
    // Boxed so `Result<T, Error>` stays one pointer wide on the hot paths.
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// Creates an error of the given kind.
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner { kind, source: None }),
        }
    }

    /// Attaches the lower-level error that caused this one (reported through `source()`).
    // The PostgreSQL store wraps driver errors and the fake provider's record file its I/O
    // errors; other builds only exercise it in the unit test below.
    #[cfg_attr(
        not(any(feature = "postgres", feature = "testing", feature = "export")),
        allow(dead_code)
    )]
    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// An [`ErrorKind::InvalidInput`] error: for what reads input before the library sees it
    /// (a command line, a binding, a service reading a file), so that its errors have the same
    /// kind, wording and JSON as the library's own.
    ///
    /// ```
    /// let err = smsbatch::Error::invalid_input("line 3 is not JSON");
    /// assert_eq!(err.kind().code(), "invalidInput");
    /// assert_eq!(err.to_string(), "invalid input: line 3 is not JSON");
    /// ```
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput {
            message: message.into(),
        })
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// Consumes the error and returns its kind.
    pub fn into_kind(self) -> ErrorKind {
        self.inner.kind
    }

    /// True for [`ErrorKind::EmptyMessage`].
    pub fn is_empty_message(&self) -> bool {
        matches!(self.kind(), ErrorKind::EmptyMessage)
    }

    /// True for the kinds that reject a filter: [`ErrorKind::InvalidFilter`],
    /// [`ErrorKind::UnknownField`], [`ErrorKind::FilterTooLarge`] and [`ErrorKind::MissingNow`].
    pub fn is_filter_error(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::InvalidFilter { .. }
                | ErrorKind::UnknownField { .. }
                | ErrorKind::FilterTooLarge { .. }
                | ErrorKind::MissingNow { .. }
        )
    }

    /// True for the kinds that reject flag input: [`ErrorKind::InvalidFlagState`],
    /// [`ErrorKind::InvalidFlagContext`] and [`ErrorKind::InvalidFlagRow`].
    pub fn is_flag_error(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::InvalidFlagState { .. }
                | ErrorKind::InvalidFlagContext { .. }
                | ErrorKind::InvalidFlagRow { .. }
        )
    }

    /// True for the kinds that say a store could not be reached or did not answer in time:
    /// [`ErrorKind::ConnectionLost`] and [`ErrorKind::Timeout`]. An operation that failed this way
    /// may or may not have been applied.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::ConnectionLost { .. } | ErrorKind::Timeout { .. }
        )
    }

    /// True for [`ErrorKind::LeaseLost`]: a fenced update found the message no longer in the
    /// claim or state it was fenced on, and changed nothing.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self.kind(), ErrorKind::LeaseLost { .. })
    }

    /// True for [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind(), ErrorKind::NotFound { .. })
    }

    /// True for [`ErrorKind::PermissionDenied`].
    pub fn is_permission_denied(&self) -> bool {
        matches!(self.kind(), ErrorKind::PermissionDenied { .. })
    }

    /// True for [`ErrorKind::TooManySegments`].
    pub fn is_too_many_segments(&self) -> bool {
        matches!(self.kind(), ErrorKind::TooManySegments { .. })
    }

    /// True for [`ErrorKind::TemplateSyntax`].
    pub fn is_template_syntax(&self) -> bool {
        matches!(self.kind(), ErrorKind::TemplateSyntax { .. })
    }

    /// True for [`ErrorKind::MissingVariable`].
    pub fn is_missing_variable(&self) -> bool {
        matches!(self.kind(), ErrorKind::MissingVariable { .. })
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner.kind, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The kinds of [`Error`].
///
/// New kinds may be added in any release, so match with a wildcard arm.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The message body is empty; providers reject it or bill it as one segment for nothing.
    #[error("the message body is empty")]
    EmptyMessage,
    /// The message needs more segments than the configured maximum.
    #[error("the message needs {segments} segments, more than the maximum of {max}")]
    TooManySegments {
        /// Segments the message needs.
        segments: u32,
        /// The configured maximum.
        max: u32,
    },
    /// An input (a JSON line, a file, an option) could not be understood.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong with it.
        message: String,
    },
    /// A filter node is malformed: bad shape, unknown operator, or a value of the wrong type.
    #[error("invalid filter at {}: {message}", pointer(path))]
    InvalidFilter {
        /// JSON Pointer of the bad node (`""` is the root).
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A filter condition names a field the schema does not have.
    #[error("unknown field `{field}` at {}", pointer(path))]
    UnknownField {
        /// JSON Pointer of the condition.
        path: String,
        /// The field it names.
        field: String,
    },
    /// A filter exceeds a limit set for untrusted input (depth, node count, value or list length).
    #[error("filter too large at {}: {message}", pointer(path))]
    FilterTooLarge {
        /// JSON Pointer of the node where the limit was crossed.
        path: String,
        /// Which limit, and its value.
        message: String,
    },
    /// A condition is relative to "now" (`withinLastDays`), but the caller passed no `now`.
    #[error(
        "the condition at {} is relative to now, but no `now` was given",
        pointer(path)
    )]
    MissingNow {
        /// JSON Pointer of the condition.
        path: String,
    },
    /// A field schema is malformed.
    #[error("invalid schema at {}: {message}", pointer(path))]
    InvalidSchema {
        /// JSON Pointer into the schema document.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A query's search, sort, pagination or cursor is malformed.
    #[error("invalid query at {}: {message}", pointer(path))]
    InvalidQuery {
        /// JSON Pointer into the query.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A row holds a value of the wrong type for its field: a row given to the in-memory
    /// evaluator, or a customer to store (a missing or unusable `id` included).
    #[error("invalid row value at {}: {message}", pointer(path))]
    InvalidRow {
        /// JSON Pointer of the value (`/<row index>/<field>`, or `/<field>` for a single row).
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A saved filter, or an export file of them, is malformed.
    #[error("invalid saved filter at {}: {message}", pointer(path))]
    InvalidSavedFilter {
        /// JSON Pointer into the saved filter or export file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A feature-flag state document is not JSON or not shaped like an Unleash client-API state.
    #[error("invalid flag state: {message}")]
    InvalidFlagState {
        /// What is wrong, with the line and column.
        message: String,
    },
    /// A flag evaluation context is not shaped like an Unleash context.
    #[error("invalid flag context: {message}")]
    InvalidFlagContext {
        /// What is wrong, naming the field.
        message: String,
    },
    /// A stored flag or segment row does not hold valid Unleash rules.
    #[error("invalid flag row {}: {message}", crate::json::quote(name))]
    InvalidFlagRow {
        /// The flag's name (or `segment <id>`).
        name: String,
        /// What is wrong, naming the column.
        message: String,
    },
    /// A template does not parse, or uses a helper, partial or decorator that does not exist.
    #[error("template syntax error at line {line}, column {column}: {message}")]
    TemplateSyntax {
        /// Line of the offending tag, from 1.
        line: u32,
        /// Column of the offending tag, from 1 (in characters).
        column: u32,
        /// What is wrong.
        message: String,
    },
    /// A template body is longer than [`Template::MAX_BYTES`](crate::Template::MAX_BYTES).
    #[error("the template is {bytes} bytes long, more than the maximum of {max}")]
    TemplateTooLarge {
        /// Its length in bytes.
        bytes: u32,
        /// The maximum.
        max: u32,
    },
    /// A variable the template uses is absent or null in a recipient's data.
    #[error("{}missing variable {}", recipient_prefix(id.as_ref()), crate::json::quote(variable))]
    MissingVariable {
        /// The recipient's `id`, when the error comes from a preview.
        id: Option<serde_json::Value>,
        /// The variable as written in the template (`first_name`, `order.total`...).
        variable: String,
    },
    /// A template could not be rendered for some data (a helper rejected its input).
    #[error("{}cannot render the template: {message}", recipient_prefix(id.as_ref()))]
    TemplateRender {
        /// The recipient's `id`, when the error comes from a preview.
        id: Option<serde_json::Value>,
        /// What went wrong.
        message: String,
    },
    /// Rendering one message stopped because its output passed
    /// [`Template::MAX_OUTPUT_BYTES`](crate::Template::MAX_OUTPUT_BYTES); a preview excludes the
    /// recipient as `tooManySegments`.
    #[error(
        "{}the rendered message passed the cap of {max_bytes} bytes",
        recipient_prefix(id.as_ref())
    )]
    RenderTooLong {
        /// The recipient's `id`, when the error comes from a preview.
        id: Option<serde_json::Value>,
        /// The cap.
        max_bytes: u64,
    },
    /// Rendering one message stopped after
    /// [`Template::MAX_RENDER_STEPS`](crate::Template::MAX_RENDER_STEPS) steps (loops nested over
    /// long lists); a preview excludes the recipient as `tooManySegments`.
    #[error(
        "{}rendering the message took more than the budget of {max_steps} steps",
        recipient_prefix(id.as_ref())
    )]
    RenderBudget {
        /// The recipient's `id`, when the error comes from a preview.
        id: Option<serde_json::Value>,
        /// The budget.
        max_steps: u64,
    },
    /// A phone number cannot be normalised to E.164.
    #[error("invalid phone number {}: {reason}", crate::json::quote(phone))]
    InvalidPhone {
        /// The number as given.
        phone: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A default region for phone numbers is not an ISO 3166-1 alpha-2 code libphonenumber knows.
    #[error(
        "unknown region {}: expected a two-letter ISO 3166-1 code such as \"GB\"",
        crate::json::quote(region)
    )]
    InvalidRegion {
        /// The region as given.
        region: String,
    },
    /// A price table is malformed (a negative or over-precise price, a bad calling code...).
    #[error("invalid price table: {message}")]
    InvalidPrice {
        /// What is wrong with it.
        message: String,
    },
    /// A cost or a total passed the largest [`Amount`](crate::Amount) (about 3.4 × 10^29 units);
    /// money is never rounded or saturated instead.
    #[error("amount overflow: {message}")]
    AmountOverflow {
        /// Which sum or product, and where.
        message: String,
    },
    /// The connection to a store was lost or could not be made; the operation may or may not
    /// have been applied.
    #[error("the connection to the store was lost: {message}")]
    ConnectionLost {
        /// What the driver reported.
        message: String,
    },
    /// A store did not answer within the configured time; the operation may or may not have
    /// been applied.
    #[error("the store did not answer in time: {message}")]
    Timeout {
        /// Which operation, and the limit.
        message: String,
    },
    /// A write would have duplicated a unique key (an id, an idempotency key, a provider id).
    #[error("duplicate key ({constraint}): {message}")]
    UniqueViolation {
        /// The constraint or index that refused it.
        constraint: String,
        /// What the store reported.
        message: String,
    },
    /// A write broke a check constraint of the schema (a status outside the state machine, a
    /// negative count...).
    #[error("check constraint {constraint} violated: {message}")]
    CheckViolation {
        /// The constraint that refused it.
        constraint: String,
        /// What the store reported.
        message: String,
    },
    /// The acting user may not do this: row-level security refused the row, or the role has no
    /// privilege on the table (the anonymous role has none).
    #[error("permission denied: {message}")]
    PermissionDenied {
        /// What was refused.
        message: String,
    },
    /// A fenced message update changed nothing: the message is no longer held under that claim
    /// token (its lease expired and it was rescued or claimed again) or no longer in the status
    /// the update expected.
    #[error("message {id}: the update lost its lease or fence and changed nothing")]
    LeaseLost {
        /// The message id.
        id: i64,
    },
    /// A row read from a store does not hold what the schema says (an unknown status, a bad
    /// JSON document).
    #[error("malformed row in {table}: {message}")]
    MalformedRow {
        /// The table it came from.
        table: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such record, or the acting user cannot see it.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of record (`batch`, `template`, `saved filter`...).
        what: String,
        /// Its id as text.
        id: String,
    },
    /// A batch cannot move from its current state to the requested one.
    #[error("a {from} batch cannot become {to}")]
    InvalidTransition {
        /// The batch's current state.
        from: String,
        /// The requested state.
        to: String,
    },
    /// Any other error reported by the database, with its SQLSTATE.
    #[error("database error {code}: {message}")]
    Database {
        /// The five-character SQLSTATE (empty when the driver gave none).
        code: String,
        /// What the database reported.
        message: String,
    },
    /// A migration cannot be applied, or an applied one was changed since.
    #[error("migration {version}: {message}")]
    Migration {
        /// The migration's version (`0001_init`).
        version: String,
        /// What is wrong.
        message: String,
    },
    /// The operation needs something this build or this store does not have.
    #[error("unsupported: {message}")]
    Unsupported {
        /// What is missing, and what to do instead.
        message: String,
    },
    /// A batch's options are malformed: an unknown field, a value of the wrong type or out of
    /// range, an unknown time zone.
    #[error("invalid batch options at `{field}`: {message}")]
    InvalidOptions {
        /// The field, as a dotted path (`rate.burst`, `variants.templates.b`); `""` for the whole
        /// document.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A provider's webhook request was refused: its signature does not match (it did not come
    /// from the provider, or it was changed on the way), or it lacks what the webhook needs.
    #[error("webhook refused: {message}")]
    InvalidWebhook {
        /// Why.
        message: String,
    },
    /// A file could not be read or written (the fake provider's record file).
    #[error("{message}")]
    Io {
        /// What was being done, and to which file; the operating system's error is the source.
        message: String,
    },
}

/// Shows a JSON Pointer in a message; the empty pointer (the whole document) reads as "the root".
fn pointer(path: &str) -> String {
    if path.is_empty() {
        "the root".to_owned()
    } else {
        format!("`{path}`")
    }
}

/// `"recipient <id>: "` for errors tied to a recipient, with the id as JSON (`42`, `"c-1"`).
fn recipient_prefix(id: Option<&serde_json::Value>) -> String {
    match id {
        // A long id is shortened like every value an error repeats.
        Some(id) => format!("recipient {}: ", crate::json::clip(&id.to_string())),
        None => String::new(),
    }
}

impl ErrorKind {
    /// The kind's stable camelCase name, as the command line and the WebAssembly package report it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyMessage => "emptyMessage",
            Self::TooManySegments { .. } => "tooManySegments",
            Self::InvalidInput { .. } => "invalidInput",
            Self::TemplateSyntax { .. } => "templateSyntax",
            Self::TemplateTooLarge { .. } => "templateTooLarge",
            Self::MissingVariable { .. } => "missingVariable",
            Self::TemplateRender { .. } => "templateRender",
            Self::RenderTooLong { .. } => "renderTooLong",
            Self::RenderBudget { .. } => "renderBudget",
            Self::InvalidPhone { .. } => "invalidPhone",
            Self::InvalidRegion { .. } => "invalidRegion",
            Self::InvalidPrice { .. } => "invalidPrice",
            Self::AmountOverflow { .. } => "amountOverflow",
            Self::InvalidFilter { .. } => "invalidFilter",
            Self::UnknownField { .. } => "unknownField",
            Self::FilterTooLarge { .. } => "filterTooLarge",
            Self::MissingNow { .. } => "missingNow",
            Self::InvalidSchema { .. } => "invalidSchema",
            Self::InvalidQuery { .. } => "invalidQuery",
            Self::InvalidRow { .. } => "invalidRow",
            Self::InvalidSavedFilter { .. } => "invalidSavedFilter",
            Self::InvalidFlagState { .. } => "invalidFlagState",
            Self::InvalidFlagContext { .. } => "invalidFlagContext",
            Self::InvalidFlagRow { .. } => "invalidFlagRow",
            Self::ConnectionLost { .. } => "connectionLost",
            Self::Timeout { .. } => "timeout",
            Self::UniqueViolation { .. } => "uniqueViolation",
            Self::CheckViolation { .. } => "checkViolation",
            Self::PermissionDenied { .. } => "permissionDenied",
            Self::LeaseLost { .. } => "leaseLost",
            Self::MalformedRow { .. } => "malformedRow",
            Self::NotFound { .. } => "notFound",
            Self::InvalidTransition { .. } => "invalidTransition",
            Self::Database { .. } => "database",
            Self::Migration { .. } => "migration",
            Self::Unsupported { .. } => "unsupported",
            Self::InvalidOptions { .. } => "invalidOptions",
            Self::InvalidWebhook { .. } => "invalidWebhook",
            Self::Io { .. } => "io",
        }
    }

    /// The JSON Pointer of the bad node or value, for the kinds that have one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::InvalidFilter { path, .. }
            | Self::UnknownField { path, .. }
            | Self::FilterTooLarge { path, .. }
            | Self::MissingNow { path }
            | Self::InvalidSchema { path, .. }
            | Self::InvalidQuery { path, .. }
            | Self::InvalidRow { path, .. }
            | Self::InvalidSavedFilter { path, .. } => Some(path),
            Self::EmptyMessage
            | Self::TooManySegments { .. }
            | Self::InvalidInput { .. }
            | Self::InvalidFlagState { .. }
            | Self::InvalidFlagContext { .. }
            | Self::InvalidFlagRow { .. }
            | Self::TemplateSyntax { .. }
            | Self::TemplateTooLarge { .. }
            | Self::MissingVariable { .. }
            | Self::TemplateRender { .. }
            | Self::RenderTooLong { .. }
            | Self::RenderBudget { .. }
            | Self::InvalidPhone { .. }
            | Self::InvalidRegion { .. }
            | Self::InvalidPrice { .. }
            | Self::AmountOverflow { .. }
            | Self::ConnectionLost { .. }
            | Self::Timeout { .. }
            | Self::UniqueViolation { .. }
            | Self::CheckViolation { .. }
            | Self::PermissionDenied { .. }
            | Self::LeaseLost { .. }
            | Self::MalformedRow { .. }
            | Self::NotFound { .. }
            | Self::InvalidTransition { .. }
            | Self::Database { .. }
            | Self::Migration { .. }
            | Self::Unsupported { .. }
            | Self::InvalidOptions { .. }
            | Self::InvalidWebhook { .. }
            | Self::Io { .. } => None,
        }
    }
}

impl serde::Serialize for Error {
    /// Serializes as `{"kind": "<code>", "message": "<Display>", ...}` plus the kind's own fields
    /// (camelCase), the shape the command line prints inside `{"error": ...}` and the WebAssembly
    /// package throws.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let kind = self.kind();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", kind.code())?;
        map.serialize_entry("message", &kind.to_string())?;
        match kind {
            ErrorKind::EmptyMessage
            | ErrorKind::InvalidInput { .. }
            | ErrorKind::InvalidFlagState { .. }
            | ErrorKind::InvalidFlagContext { .. }
            | ErrorKind::InvalidPrice { .. }
            | ErrorKind::AmountOverflow { .. }
            | ErrorKind::Io { .. }
            | ErrorKind::InvalidWebhook { .. }
            | ErrorKind::ConnectionLost { .. }
            | ErrorKind::Timeout { .. }
            | ErrorKind::PermissionDenied { .. }
            | ErrorKind::Unsupported { .. } => {}
            ErrorKind::UniqueViolation { constraint, .. }
            | ErrorKind::CheckViolation { constraint, .. } => {
                map.serialize_entry("constraint", constraint)?;
            }
            ErrorKind::LeaseLost { id } => {
                map.serialize_entry("id", id)?;
            }
            ErrorKind::MalformedRow { table, .. } => {
                map.serialize_entry("table", table)?;
            }
            ErrorKind::NotFound { what, id } => {
                map.serialize_entry("what", what)?;
                map.serialize_entry("id", id)?;
            }
            ErrorKind::InvalidTransition { from, to } => {
                map.serialize_entry("from", from)?;
                map.serialize_entry("to", to)?;
            }
            ErrorKind::Database { code, .. } => {
                map.serialize_entry("code", code)?;
            }
            ErrorKind::Migration { version, .. } => {
                map.serialize_entry("version", version)?;
            }
            ErrorKind::InvalidOptions { field, .. } => {
                map.serialize_entry("field", field)?;
            }
            ErrorKind::InvalidFlagRow { name, .. } => {
                map.serialize_entry("name", name)?;
            }
            ErrorKind::TooManySegments { segments, max } => {
                map.serialize_entry("segments", segments)?;
                map.serialize_entry("max", max)?;
            }
            ErrorKind::UnknownField { path, field } => {
                map.serialize_entry("path", path)?;
                map.serialize_entry("field", field)?;
            }
            ErrorKind::InvalidFilter { path, .. }
            | ErrorKind::FilterTooLarge { path, .. }
            | ErrorKind::MissingNow { path }
            | ErrorKind::InvalidSchema { path, .. }
            | ErrorKind::InvalidQuery { path, .. }
            | ErrorKind::InvalidRow { path, .. }
            | ErrorKind::InvalidSavedFilter { path, .. } => {
                map.serialize_entry("path", path)?;
            }
            ErrorKind::TemplateTooLarge { bytes, max } => {
                map.serialize_entry("bytes", bytes)?;
                map.serialize_entry("max", max)?;
            }
            ErrorKind::TemplateSyntax { line, column, .. } => {
                map.serialize_entry("line", line)?;
                map.serialize_entry("column", column)?;
            }
            ErrorKind::MissingVariable { id, variable } => {
                if let Some(id) = id {
                    map.serialize_entry("id", id)?;
                }
                map.serialize_entry("variable", variable)?;
            }
            ErrorKind::TemplateRender { id, .. } => {
                if let Some(id) = id {
                    map.serialize_entry("id", id)?;
                }
            }
            ErrorKind::RenderTooLong { id, max_bytes } => {
                if let Some(id) = id {
                    map.serialize_entry("id", id)?;
                }
                map.serialize_entry("maxBytes", max_bytes)?;
            }
            ErrorKind::RenderBudget { id, max_steps } => {
                if let Some(id) = id {
                    map.serialize_entry("id", id)?;
                }
                map.serialize_entry("maxSteps", max_steps)?;
            }
            ErrorKind::InvalidPhone { phone, reason } => {
                map.serialize_entry("phone", phone)?;
                map.serialize_entry("reason", reason)?;
            }
            ErrorKind::InvalidRegion { region } => {
                map.serialize_entry("region", region)?;
            }
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Error {
    /// Reads the shape [`Serialize`](serde::Serialize) writes, back into the same kind with the
    /// same fields, so a stored result (a failed recipient kept in a JSONB column) reads back as
    /// it was. A kind's own text that is only part of `message` (`invalidInput`'s, for instance)
    /// is recovered by removing the kind's fixed wording; a cause attached with `source()` is not
    /// serialised and does not come back.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::deserialize(deserializer)?;
        kind_from_map(&map)
            .map(Error::new)
            .map_err(serde::de::Error::custom)
    }
}

/// A kind with every field empty, from its [`ErrorKind::code`].
fn blank(code: &str) -> Option<ErrorKind> {
    let s = String::new;
    Some(match code {
        "emptyMessage" => ErrorKind::EmptyMessage,
        "tooManySegments" => ErrorKind::TooManySegments {
            segments: 0,
            max: 0,
        },
        "invalidInput" => ErrorKind::InvalidInput { message: s() },
        "invalidFilter" => ErrorKind::InvalidFilter {
            path: s(),
            message: s(),
        },
        "unknownField" => ErrorKind::UnknownField {
            path: s(),
            field: s(),
        },
        "filterTooLarge" => ErrorKind::FilterTooLarge {
            path: s(),
            message: s(),
        },
        "missingNow" => ErrorKind::MissingNow { path: s() },
        "invalidSchema" => ErrorKind::InvalidSchema {
            path: s(),
            message: s(),
        },
        "invalidQuery" => ErrorKind::InvalidQuery {
            path: s(),
            message: s(),
        },
        "invalidRow" => ErrorKind::InvalidRow {
            path: s(),
            message: s(),
        },
        "invalidSavedFilter" => ErrorKind::InvalidSavedFilter {
            path: s(),
            message: s(),
        },
        "invalidFlagState" => ErrorKind::InvalidFlagState { message: s() },
        "invalidFlagContext" => ErrorKind::InvalidFlagContext { message: s() },
        "invalidFlagRow" => ErrorKind::InvalidFlagRow {
            name: s(),
            message: s(),
        },
        "templateSyntax" => ErrorKind::TemplateSyntax {
            line: 0,
            column: 0,
            message: s(),
        },
        "templateTooLarge" => ErrorKind::TemplateTooLarge { bytes: 0, max: 0 },
        "missingVariable" => ErrorKind::MissingVariable {
            id: None,
            variable: s(),
        },
        "templateRender" => ErrorKind::TemplateRender {
            id: None,
            message: s(),
        },
        "renderTooLong" => ErrorKind::RenderTooLong {
            id: None,
            max_bytes: 0,
        },
        "renderBudget" => ErrorKind::RenderBudget {
            id: None,
            max_steps: 0,
        },
        "invalidPhone" => ErrorKind::InvalidPhone {
            phone: s(),
            reason: s(),
        },
        "invalidRegion" => ErrorKind::InvalidRegion { region: s() },
        "invalidPrice" => ErrorKind::InvalidPrice { message: s() },
        "amountOverflow" => ErrorKind::AmountOverflow { message: s() },
        "connectionLost" => ErrorKind::ConnectionLost { message: s() },
        "timeout" => ErrorKind::Timeout { message: s() },
        "uniqueViolation" => ErrorKind::UniqueViolation {
            constraint: s(),
            message: s(),
        },
        "checkViolation" => ErrorKind::CheckViolation {
            constraint: s(),
            message: s(),
        },
        "permissionDenied" => ErrorKind::PermissionDenied { message: s() },
        "leaseLost" => ErrorKind::LeaseLost { id: 0 },
        "malformedRow" => ErrorKind::MalformedRow {
            table: s(),
            message: s(),
        },
        "notFound" => ErrorKind::NotFound { what: s(), id: s() },
        "invalidTransition" => ErrorKind::InvalidTransition { from: s(), to: s() },
        "database" => ErrorKind::Database {
            code: s(),
            message: s(),
        },
        "migration" => ErrorKind::Migration {
            version: s(),
            message: s(),
        },
        "unsupported" => ErrorKind::Unsupported { message: s() },
        "invalidOptions" => ErrorKind::InvalidOptions {
            field: s(),
            message: s(),
        },
        "io" => ErrorKind::Io { message: s() },
        "invalidWebhook" => ErrorKind::InvalidWebhook { message: s() },
        _ => return None,
    })
}

fn kind_from_map(map: &serde_json::Map<String, serde_json::Value>) -> Result<ErrorKind, String> {
    let text = |key: &str| match map.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("an error needs a string `{key}`")),
    };
    let number = |key: &str| {
        map.get(key)
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("an error of this kind needs a number `{key}`"))
    };
    let code = text("kind")?;
    let message = text("message")?;
    let mut kind = blank(&code).ok_or_else(|| format!("unknown error kind {code:?}"))?;
    // Every field the serialiser writes, then the kind's own text (last: its wording may show
    // the other fields).
    let own_text = match &mut kind {
        ErrorKind::EmptyMessage => None,
        ErrorKind::TooManySegments { segments, max } => {
            *segments = number("segments")?;
            *max = number("max")?;
            None
        }
        ErrorKind::TemplateTooLarge { bytes, max } => {
            *bytes = number("bytes")?;
            *max = number("max")?;
            None
        }
        ErrorKind::InvalidInput { message }
        | ErrorKind::InvalidFlagState { message }
        | ErrorKind::InvalidFlagContext { message }
        | ErrorKind::InvalidPrice { message }
        | ErrorKind::AmountOverflow { message }
        | ErrorKind::Io { message }
        | ErrorKind::InvalidWebhook { message }
        | ErrorKind::ConnectionLost { message }
        | ErrorKind::Timeout { message }
        | ErrorKind::PermissionDenied { message }
        | ErrorKind::Unsupported { message } => Some(message),
        ErrorKind::UniqueViolation {
            constraint,
            message,
        }
        | ErrorKind::CheckViolation {
            constraint,
            message,
        } => {
            *constraint = text("constraint")?;
            Some(message)
        }
        ErrorKind::LeaseLost { id } => {
            *id = map
                .get("id")
                .and_then(serde_json::Value::as_i64)
                .ok_or("an error of this kind needs a number `id`")?;
            None
        }
        ErrorKind::MalformedRow { table, message } => {
            *table = text("table")?;
            Some(message)
        }
        ErrorKind::NotFound { what, id } => {
            *what = text("what")?;
            *id = text("id")?;
            None
        }
        ErrorKind::InvalidTransition { from, to } => {
            *from = text("from")?;
            *to = text("to")?;
            None
        }
        ErrorKind::Database { code, message } => {
            *code = text("code")?;
            Some(message)
        }
        ErrorKind::Migration { version, message } => {
            *version = text("version")?;
            Some(message)
        }
        ErrorKind::InvalidOptions { field, message } => {
            *field = text("field")?;
            Some(message)
        }
        ErrorKind::InvalidFilter { path, message }
        | ErrorKind::FilterTooLarge { path, message }
        | ErrorKind::InvalidSchema { path, message }
        | ErrorKind::InvalidQuery { path, message }
        | ErrorKind::InvalidRow { path, message }
        | ErrorKind::InvalidSavedFilter { path, message } => {
            *path = text("path")?;
            Some(message)
        }
        ErrorKind::UnknownField { path, field } => {
            *path = text("path")?;
            *field = text("field")?;
            None
        }
        ErrorKind::MissingNow { path } => {
            *path = text("path")?;
            None
        }
        ErrorKind::InvalidFlagRow { name, message } => {
            *name = text("name")?;
            Some(message)
        }
        ErrorKind::TemplateSyntax {
            line,
            column,
            message,
        } => {
            *line = number("line")?;
            *column = number("column")?;
            Some(message)
        }
        ErrorKind::MissingVariable { id, variable } => {
            *id = map.get("id").cloned();
            *variable = text("variable")?;
            None
        }
        ErrorKind::TemplateRender { id, message } => {
            *id = map.get("id").cloned();
            Some(message)
        }
        ErrorKind::RenderTooLong { id, max_bytes } => {
            *id = map.get("id").cloned();
            *max_bytes = u64::from(number("maxBytes")?);
            None
        }
        ErrorKind::RenderBudget { id, max_steps } => {
            *id = map.get("id").cloned();
            *max_steps = u64::from(number("maxSteps")?);
            None
        }
        ErrorKind::InvalidPhone { phone, reason } => {
            *phone = text("phone")?;
            *reason = text("reason")?;
            None
        }
        ErrorKind::InvalidRegion { region } => {
            *region = text("region")?;
            None
        }
    }
    .is_some();
    if own_text {
        // With its own text still empty, the kind displays exactly the wording before it.
        let wording = kind.to_string();
        let own = message
            .strip_prefix(&wording)
            .unwrap_or(&message)
            .to_owned();
        set_own_text(&mut kind, own);
    }
    Ok(kind)
}

/// Sets the free text of the kinds that have one (`message`).
fn set_own_text(kind: &mut ErrorKind, text: String) {
    match kind {
        ErrorKind::InvalidInput { message }
        | ErrorKind::InvalidFlagState { message }
        | ErrorKind::InvalidFlagContext { message }
        | ErrorKind::InvalidPrice { message }
        | ErrorKind::AmountOverflow { message }
        | ErrorKind::ConnectionLost { message }
        | ErrorKind::Timeout { message }
        | ErrorKind::PermissionDenied { message }
        | ErrorKind::Unsupported { message }
        | ErrorKind::UniqueViolation { message, .. }
        | ErrorKind::CheckViolation { message, .. }
        | ErrorKind::MalformedRow { message, .. }
        | ErrorKind::Database { message, .. }
        | ErrorKind::Migration { message, .. }
        | ErrorKind::Io { message }
        | ErrorKind::InvalidWebhook { message }
        | ErrorKind::InvalidOptions { message, .. }
        | ErrorKind::InvalidFilter { message, .. }
        | ErrorKind::FilterTooLarge { message, .. }
        | ErrorKind::InvalidSchema { message, .. }
        | ErrorKind::InvalidQuery { message, .. }
        | ErrorKind::InvalidRow { message, .. }
        | ErrorKind::InvalidSavedFilter { message, .. }
        | ErrorKind::InvalidFlagRow { message, .. }
        | ErrorKind::TemplateSyntax { message, .. }
        | ErrorKind::TemplateRender { message, .. } => *message = text,
        ErrorKind::EmptyMessage
        | ErrorKind::TooManySegments { .. }
        | ErrorKind::TemplateTooLarge { .. }
        | ErrorKind::RenderTooLong { .. }
        | ErrorKind::RenderBudget { .. }
        | ErrorKind::UnknownField { .. }
        | ErrorKind::MissingNow { .. }
        | ErrorKind::MissingVariable { .. }
        | ErrorKind::InvalidPhone { .. }
        | ErrorKind::InvalidRegion { .. }
        | ErrorKind::LeaseLost { .. }
        | ErrorKind::NotFound { .. }
        | ErrorKind::InvalidTransition { .. } => {}
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn error_is_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
    }

    #[test]
    fn display_and_source() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::new(ErrorKind::InvalidInput {
            message: "line 3 is not JSON".into(),
        })
        .with_source(io);
        assert_eq!(err.to_string(), "invalid input: line 3 is not JSON");
        assert_eq!(
            std::error::Error::source(&err).map(|s| s.to_string()),
            Some("disk on fire".to_string())
        );
        assert_eq!(err.kind().code(), "invalidInput");
    }

    #[test]
    fn template_errors_serialize_their_fields() {
        let err = Error::new(ErrorKind::TemplateSyntax {
            line: 2,
            column: 7,
            message: "unclosed tag".into(),
        });
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            serde_json::json!({
                "kind": "templateSyntax",
                "message": "template syntax error at line 2, column 7: unclosed tag",
                "line": 2,
                "column": 7,
            })
        );
        let err = Error::new(ErrorKind::MissingVariable {
            id: Some(serde_json::json!(42)),
            variable: "first_name".into(),
        });
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            serde_json::json!({
                "kind": "missingVariable",
                "message": "recipient 42: missing variable \"first_name\"",
                "id": 42,
                "variable": "first_name",
            })
        );
        let err = Error::new(ErrorKind::MissingVariable {
            id: None,
            variable: "x".into(),
        });
        assert_eq!(err.to_string(), "missing variable \"x\"");
        assert!(err.is_missing_variable());
    }

    /// One error of every kind, with awkward text (the wording of another kind inside, quotes,
    /// a path that is not the root).
    fn every_kind() -> Vec<ErrorKind> {
        let t = || "bad: \"x\" at `/a`: invalid input: y".to_owned();
        let kinds = vec![
            ErrorKind::EmptyMessage,
            ErrorKind::TooManySegments {
                segments: 12,
                max: 10,
            },
            ErrorKind::InvalidInput { message: t() },
            ErrorKind::InvalidFilter {
                path: "/and/0".into(),
                message: t(),
            },
            ErrorKind::UnknownField {
                path: "".into(),
                field: "fax".into(),
            },
            ErrorKind::FilterTooLarge {
                path: "/not".into(),
                message: t(),
            },
            ErrorKind::MissingNow {
                path: "/or/1".into(),
            },
            ErrorKind::InvalidSchema {
                path: "/fields/0".into(),
                message: t(),
            },
            ErrorKind::InvalidQuery {
                path: "/sort".into(),
                message: t(),
            },
            ErrorKind::InvalidRow {
                path: "/3/city".into(),
                message: t(),
            },
            ErrorKind::InvalidSavedFilter {
                path: "/name".into(),
                message: t(),
            },
            ErrorKind::InvalidFlagState { message: t() },
            ErrorKind::InvalidFlagContext { message: t() },
            ErrorKind::InvalidFlagRow {
                name: "f\"1".into(),
                message: t(),
            },
            ErrorKind::TemplateSyntax {
                line: 2,
                column: 7,
                message: t(),
            },
            ErrorKind::TemplateTooLarge {
                bytes: 70_000,
                max: 65_536,
            },
            ErrorKind::MissingVariable {
                id: Some(serde_json::json!({"a": [1]})),
                variable: "x".into(),
            },
            ErrorKind::MissingVariable {
                id: None,
                variable: "order.total".into(),
            },
            ErrorKind::TemplateRender {
                id: Some(serde_json::json!("c-1")),
                message: t(),
            },
            ErrorKind::TemplateRender {
                id: None,
                message: t(),
            },
            ErrorKind::InvalidPhone {
                phone: "0770".into(),
                reason: t(),
            },
            ErrorKind::InvalidRegion {
                region: "ZZ".into(),
            },
            ErrorKind::InvalidPrice { message: t() },
            ErrorKind::AmountOverflow { message: t() },
            ErrorKind::ConnectionLost { message: t() },
            ErrorKind::Timeout { message: t() },
            ErrorKind::UniqueViolation {
                constraint: "sms_batches_pkey".into(),
                message: t(),
            },
            ErrorKind::CheckViolation {
                constraint: "c".into(),
                message: t(),
            },
            ErrorKind::PermissionDenied { message: t() },
            ErrorKind::LeaseLost { id: -42 },
            ErrorKind::MalformedRow {
                table: "sms_batches".into(),
                message: t(),
            },
            ErrorKind::NotFound {
                what: "batch".into(),
                id: "x y".into(),
            },
            ErrorKind::InvalidTransition {
                from: "sending".into(),
                to: "completed".into(),
            },
            ErrorKind::Database {
                code: "40001".into(),
                message: t(),
            },
            ErrorKind::Migration {
                version: "0001_init".into(),
                message: t(),
            },
            ErrorKind::Unsupported { message: t() },
            ErrorKind::InvalidOptions {
                field: "rate.burst".into(),
                message: t(),
            },
            ErrorKind::InvalidOptions {
                field: String::new(),
                message: t(),
            },
            ErrorKind::Io { message: t() },
            ErrorKind::RenderTooLong {
                id: Some(serde_json::json!(7)),
                max_bytes: 262_144,
            },
            ErrorKind::RenderBudget {
                id: None,
                max_steps: 100_000,
            },
            ErrorKind::InvalidWebhook { message: t() },
        ];
        // A new kind fails to compile here until it has a sample above (and a `blank` entry).
        for kind in &kinds {
            match kind {
                ErrorKind::EmptyMessage
                | ErrorKind::TooManySegments { .. }
                | ErrorKind::InvalidInput { .. }
                | ErrorKind::InvalidFilter { .. }
                | ErrorKind::UnknownField { .. }
                | ErrorKind::FilterTooLarge { .. }
                | ErrorKind::MissingNow { .. }
                | ErrorKind::InvalidSchema { .. }
                | ErrorKind::InvalidQuery { .. }
                | ErrorKind::InvalidRow { .. }
                | ErrorKind::InvalidSavedFilter { .. }
                | ErrorKind::InvalidFlagState { .. }
                | ErrorKind::InvalidFlagContext { .. }
                | ErrorKind::InvalidFlagRow { .. }
                | ErrorKind::TemplateSyntax { .. }
                | ErrorKind::TemplateTooLarge { .. }
                | ErrorKind::MissingVariable { .. }
                | ErrorKind::TemplateRender { .. }
                | ErrorKind::RenderTooLong { .. }
                | ErrorKind::RenderBudget { .. }
                | ErrorKind::InvalidPhone { .. }
                | ErrorKind::InvalidRegion { .. }
                | ErrorKind::InvalidPrice { .. }
                | ErrorKind::AmountOverflow { .. }
                | ErrorKind::ConnectionLost { .. }
                | ErrorKind::Timeout { .. }
                | ErrorKind::UniqueViolation { .. }
                | ErrorKind::CheckViolation { .. }
                | ErrorKind::PermissionDenied { .. }
                | ErrorKind::LeaseLost { .. }
                | ErrorKind::MalformedRow { .. }
                | ErrorKind::NotFound { .. }
                | ErrorKind::InvalidTransition { .. }
                | ErrorKind::Database { .. }
                | ErrorKind::Migration { .. }
                | ErrorKind::Unsupported { .. }
                | ErrorKind::InvalidOptions { .. }
                | ErrorKind::InvalidWebhook { .. }
                | ErrorKind::Io { .. } => {}
            }
        }
        kinds
    }

    #[test]
    fn every_kind_reads_back_from_its_json() {
        let kinds = every_kind();
        let codes: std::collections::HashSet<_> = kinds.iter().map(ErrorKind::code).collect();
        assert_eq!(codes.len(), 39, "one sample or more of each kind");
        for kind in kinds {
            let json = serde_json::to_value(Error::new(kind.clone())).unwrap();
            let back: Error = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back.kind(), &kind, "{json}");
            let text = serde_json::to_string(&json).unwrap();
            assert_eq!(serde_json::from_str::<Error>(&text).unwrap().kind(), &kind);
        }
        for bad in [
            serde_json::json!({"kind": "noSuchKind", "message": "x"}),
            serde_json::json!({"message": "x"}),
            serde_json::json!({"kind": "tooManySegments", "message": "x"}),
            serde_json::json!("invalidInput"),
        ] {
            assert!(
                serde_json::from_value::<Error>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
