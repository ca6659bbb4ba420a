//! Errors: the server's own (start-up, configuration) and the HTTP error answers, with
//! PostgREST's codes, messages, statuses and headers (`Error.hs`).

use serde_json::{Value, json};

/// Why the server could not start, reload or take its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad option or argument; the text says which and why.
    #[error("{0}")]
    Config(String),
    /// The database refused a connection or a schema query.
    #[error("database: {0}")]
    Database(#[source] tokio_postgres::Error),
    /// The connection pool could not be built or gave no connection.
    #[error("connection pool: {0}")]
    Pool(String),
    /// Binding the listening socket or starting the runtime failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server's thread stopped before it could answer.
    #[error("the server thread stopped")]
    Stopped,
}

/// An error answer: HTTP status, PostgREST's JSON body and extra headers (boxed: it travels
/// in every `Result` of the request path).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError(Box<Answer>);

/// The fields of an [`ApiError`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) details: Value,
    pub(crate) hint: Value,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl std::ops::Deref for ApiError {
    type Target = Answer;

    fn deref(&self) -> &Answer {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut Answer {
        &mut self.0
    }
}

fn text(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

impl ApiError {
    fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError(Box::new(Answer {
            status,
            code: code.to_owned(),
            message: message.into(),
            details: Value::Null,
            hint: Value::Null,
            headers: Vec::new(),
        }))
    }

    fn details(mut self, details: impl Into<String>) -> Self {
        self.details = text(details);
        self
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = text(hint);
        self
    }

    /// The JSON body, with PostgREST's four keys.
    pub(crate) fn body(&self) -> Value {
        json!({
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        })
    }

    // ---- request errors (PGRST1xx) --------------------------------------------------------

    /// PGRST100: a query parameter that does not parse.
    pub(crate) fn query_param(message: String, details: String) -> Self {
        Self::new(400, "PGRST100", message).details(details)
    }

    /// PGRST101.
    pub(crate) fn invalid_rpc_method(method: &str) -> Self {
        Self::new(
            405,
            "PGRST101",
            format!("Cannot use the {method} method on RPC"),
        )
    }

    /// PGRST102: a body that is not usable JSON, or objects with different keys.
    pub(crate) fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(400, "PGRST102", message)
    }

    /// PGRST103 with PostgREST's details.
    pub(crate) fn invalid_range(details: impl Into<String>) -> Self {
        Self::new(416, "PGRST103", "Requested range not satisfiable").details(details)
    }

    /// PGRST106: an `Accept-Profile`/`Content-Profile` naming a schema that is not served.
    pub(crate) fn unacceptable_schema(schema: &str, served: &[String]) -> Self {
        Self::new(406, "PGRST106", format!("Invalid schema: {schema}")).hint(format!(
            "Only the following schemas are exposed: {}",
            served.join(", ")
        ))
    }

    /// PGRST107: an `Accept` this server cannot produce.
    pub(crate) fn media_type(accept: &str) -> Self {
        Self::new(
            406,
            "PGRST107",
            format!("None of these media types are available: {accept}"),
        )
    }

    /// PGRST108: a filter, order or limit on an embedded resource that is not in `select`
    /// (always the case here: this server embeds nothing).
    pub(crate) fn not_embedded(resource: &str) -> Self {
        Self::new(
            400,
            "PGRST108",
            format!("'{resource}' is not an embedded resource in this request"),
        )
        .hint(format!(
            "Verify that '{resource}' is included in the 'select' query parameter."
        ))
    }

    /// PGRST116: `Accept: application/vnd.pgrst.object+json` and not exactly one row.
    pub(crate) fn singular(rows: i64) -> Self {
        Self::new(
            406,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
        )
        .details(format!("The result contains {rows} rows"))
    }

    /// PGRST117.
    pub(crate) fn unsupported_method(method: &str) -> Self {
        Self::new(
            405,
            "PGRST117",
            format!("Unsupported HTTP method: {method}"),
        )
    }

    /// PGRST122: unknown preferences with `handling=strict`.
    pub(crate) fn invalid_preferences(prefs: &[String]) -> Self {
        Self::new(
            400,
            "PGRST122",
            "Invalid preferences given with handling=strict",
        )
        .details(format!("Invalid preferences: {}", prefs.join(", ")))
    }

    /// PGRST123: aggregates are off (PostgREST's default `db-aggregates-enabled = false`).
    pub(crate) fn aggregates_not_allowed() -> Self {
        Self::new(400, "PGRST123", "Use of aggregate functions is not allowed")
    }

    /// PGRST124: `max-affected` exceeded with `handling=strict`.
    pub(crate) fn max_affected(rows: i64) -> Self {
        Self::new(
            400,
            "PGRST124",
            "Query result exceeds max-affected preference constraint",
        )
        .details(format!("The query affects {rows} rows"))
    }

    /// PGRST125.
    pub(crate) fn invalid_path() -> Self {
        Self::new(404, "PGRST125", "Invalid path specified in request URL")
    }

    /// PGRST126: this server has no OpenAPI root.
    pub(crate) fn root_disabled() -> Self {
        Self::new(404, "PGRST126", "Root endpoint metadata is disabled")
    }

    /// PGRST127: a PostgREST feature this test server does not implement, named in `details`.
    pub(crate) fn not_implemented(what: impl Into<String>) -> Self {
        Self::new(400, "PGRST127", "Feature not implemented").details(what)
    }

    // ---- schema cache errors (PGRST2xx) ---------------------------------------------------

    /// PGRST202: no function with that name takes those arguments.
    pub(crate) fn no_rpc(schema: &str, name: &str, keys: &[String]) -> Self {
        let func = format!("{schema}.{name}");
        let (message, searched) = if keys.is_empty() {
            (
                format!(
                    "Could not find the function {func} without parameters in the schema cache"
                ),
                format!("Searched for the function {func} without parameters"),
            )
        } else {
            let plural = if keys.len() > 1 { "s" } else { "" };
            (
                format!(
                    "Could not find the function {func}({}) in the schema cache",
                    keys.join(", ")
                ),
                format!(
                    "Searched for the function {func} with parameter{plural} {}",
                    keys.join(", ")
                ),
            )
        };
        Self::new(404, "PGRST202", message).details(format!(
            "{searched} or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache."
        ))
    }

    /// PGRST203: several overloads fit the arguments.
    pub(crate) fn ambiguous_rpc(candidates: &[String]) -> Self {
        Self::new(
            300,
            "PGRST203",
            format!(
                "Could not choose the best candidate function between: {}",
                candidates.join(", ")
            ),
        )
        .hint("Try renaming the parameters or the function itself in the database so function overloading can be resolved")
    }

    /// PGRST204: a body key or `columns` entry that is not a column.
    pub(crate) fn column_not_found(table: &str, column: &str) -> Self {
        Self::new(
            400,
            "PGRST204",
            format!("Could not find the '{column}' column of '{table}' in the schema cache"),
        )
    }

    /// PGRST205.
    pub(crate) fn table_not_found(schema: &str, table: &str) -> Self {
        Self::new(
            404,
            "PGRST205",
            format!("Could not find the table '{schema}.{table}' in the schema cache"),
        )
    }

    /// 42703 as PostgreSQL words it, for a column the schema cache does not have (checked here
    /// before any SQL is built, so no unknown identifier reaches the database).
    pub(crate) fn undefined_column(relation: &str, column: &str) -> Self {
        Self::new(
            400,
            "42703",
            format!("column {relation}.{column} does not exist"),
        )
    }

    // ---- JWT errors (PGRST3xx) ------------------------------------------------------------

    /// PGRST301: a token that cannot be decoded or verified.
    pub(crate) fn jwt_decode(message: &str, details: Option<&str>) -> Self {
        let mut e = Self::new(401, "PGRST301", message);
        if let Some(d) = details {
            e = e.details(d);
        }
        e.with_invalid_token_header()
    }

    /// PGRST302: no token and no anonymous role configured.
    pub(crate) fn jwt_required() -> Self {
        let mut e = Self::new(401, "PGRST302", "Anonymous access is disabled");
        e.headers.push(("www-authenticate", "Bearer".to_owned()));
        e
    }

    /// PGRST303: claims that fail validation (`exp`, `nbf`, `iat`, not a JSON object).
    pub(crate) fn jwt_claims(message: &str) -> Self {
        Self::new(401, "PGRST303", message).with_invalid_token_header()
    }

    fn with_invalid_token_header(mut self) -> Self {
        let description = serde_json::to_string(&self.message).unwrap_or_default();
        self.headers.push((
            "www-authenticate",
            format!("Bearer error=\"invalid_token\", error_description={description}"),
        ));
        self
    }

    // ---- database errors ------------------------------------------------------------------

    /// A PostgreSQL error, with PostgREST's status for its SQLSTATE. `authed` is whether the
    /// request ran as a role other than the anonymous one (42501 is then 403, else 401).
    pub(crate) fn from_db(err: &tokio_postgres::Error, authed: bool) -> Self {
        let Some(db) = err.as_db_error() else {
            return if err.is_closed() {
                Self::new(
                    503,
                    "PGRST001",
                    "Database client error. Retrying the connection.",
                )
                .details(err.to_string())
            } else {
                Self::new(503, "PGRST000", "Database connection error.").details(err.to_string())
            };
        };
        let code = db.code().code();
        if code == "PGRST" {
            return Self::raised(db.message(), db.detail());
        }
        let status = pg_status(code, db.message(), authed);
        let mut e = Self::new(status, code, db.message());
        if let Some(d) = db.detail() {
            e = e.details(d);
        }
        if let Some(h) = db.hint() {
            e = e.hint(h);
        }
        if status == 401 {
            e.headers.push(("www-authenticate", "Bearer".to_owned()));
        }
        e
    }

    /// `RAISE SQLSTATE 'PGRST' USING message = '{"code":..,"message":..}', detail =
    /// '{"status":..,"headers":{..}}'`: the function chooses the whole answer.
    fn raised(message: &str, detail: Option<&str>) -> Self {
        let parse_error = |details: String, hint: &str| {
            Self::new(
                500,
                "PGRST121",
                "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            )
            .details(details)
            .hint(hint)
        };
        let message_hint = "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.";
        let detail_hint = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
        let Some(msg) = serde_json::from_str::<Value>(message)
            .ok()
            .filter(|m| m.get("code").is_some() && m.get("message").is_some())
        else {
            return parse_error(
                format!("Invalid JSON value for MESSAGE: '{message}'"),
                message_hint,
            );
        };
        let Some(detail) = detail else {
            return parse_error(
                "DETAIL is missing in the RAISE statement".to_owned(),
                detail_hint,
            );
        };
        let Some(det) = serde_json::from_str::<Value>(detail).ok().filter(|d| {
            d.get("status").and_then(Value::as_u64).is_some() && d.get("headers").is_some()
        }) else {
            return parse_error(
                format!("Invalid JSON value for DETAIL: '{detail}'"),
                detail_hint,
            );
        };
        let as_text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let status = det
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(500);
        let mut e = Self::new(status, &as_text(&msg["code"]), as_text(&msg["message"]));
        e.details = msg.get("details").cloned().unwrap_or(Value::Null);
        e.hint = msg.get("hint").cloned().unwrap_or(Value::Null);
        if let Some(headers) = det.get("headers").and_then(Value::as_object) {
            for (k, v) in headers {
                if let Some(name) = known_header(k) {
                    e.headers.push((name, as_text(v)));
                }
            }
        }
        e
    }

    /// PGRST111/PGRST112: `response.headers` / `response.status` set to something unusable.
    pub(crate) fn guc(code: &str, message: &str) -> Self {
        Self::new(500, code, message)
    }

    /// A failure of this server itself (a bug); the text says what.
    pub(crate) fn internal(what: impl Into<String>) -> Self {
        Self::new(500, "PGRSTX00", "Internal error").details(what)
    }

    /// The pool had no connection in time.
    pub(crate) fn pool_timeout() -> Self {
        Self::new(
            504,
            "PGRST003",
            "Timed out acquiring connection from connection pool.",
        )
    }

    /// No database connection could be made.
    pub(crate) fn connection(details: impl Into<String>) -> Self {
        Self::new(503, "PGRST000", "Database connection error.").details(details)
    }
}

/// Header names a raised PGRST error may set (static names keep the response builder simple).
fn known_header(name: &str) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "cache-control",
        "location",
        "retry-after",
        "www-authenticate",
        "x-powered-by",
        "content-language",
    ];
    let lower = name.to_ascii_lowercase();
    NAMES.iter().copied().find(|n| *n == lower)
}

/// PostgREST's `mapSQLtoHTTP`.
fn pg_status(code: &str, message: &str, authed: bool) -> u16 {
    let starts = |p: &str| code.starts_with(p);
    match code {
        _ if starts("08") => 503,
        _ if starts("09") => 500,
        _ if starts("0L") || starts("0P") => 403,
        "23503" | "23505" => 409,
        "25006" => 405,
        "21000" if message.ends_with("requires a WHERE clause") => 400,
        "21000" => 500,
        "22023" if message.starts_with("role") && message.ends_with("does not exist") => 401,
        _ if starts("25") => 500,
        _ if starts("28") => 403,
        _ if starts("2D") || starts("38") || starts("39") || starts("3B") || starts("40") => 500,
        "53400" => 500,
        _ if starts("53") => 503,
        _ if starts("54") || starts("55") => 500,
        "57P01" => 503,
        _ if starts("57") || starts("58") || starts("F0") || starts("HV") => 500,
        "P0001" => 400,
        _ if starts("P0") || starts("XX") => 500,
        "42883" if message.starts_with("function xmlagg(") => 406,
        "42883" => 404,
        "42P01" => 404,
        "42P17" => 500,
        "42501" if authed => 403,
        "42501" => 401,
        _ if starts("PT") => code[2..]
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .unwrap_or(500),
        _ => 400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_postgrest() {
        assert_eq!(pg_status("22P02", "invalid input syntax", false), 400);
        assert_eq!(pg_status("23505", "duplicate key", true), 409);
        assert_eq!(pg_status("42501", "permission denied", false), 401);
        assert_eq!(pg_status("42501", "permission denied", true), 403);
        assert_eq!(pg_status("42883", "operator does not exist", true), 404);
        assert_eq!(pg_status("25006", "read-only", true), 405);
        assert_eq!(pg_status("PT402", "Payment Required", true), 402);
        assert_eq!(pg_status("22023", "role \"x\" does not exist", true), 401);
        assert_eq!(pg_status("P0001", "raised", true), 400);
        assert_eq!(pg_status("57014", "canceling statement", true), 500);
    }

    #[test]
    fn raised_pgrst_errors_choose_the_answer() {
        let e = ApiError::raised(
            r#"{"code":"123","message":"ABC","details":"DEF","hint":"XYZ"}"#,
            Some(r#"{"status":332,"headers":{"X-Powered-By":"Nerd Rage"}}"#),
        );
        assert_eq!(e.status, 332);
        assert_eq!(
            e.body(),
            json!({"code": "123", "message": "ABC", "details": "DEF", "hint": "XYZ"})
        );
        assert_eq!(e.headers, vec![("x-powered-by", "Nerd Rage".to_owned())]);
        assert_eq!(ApiError::raised("not json", None).code, "PGRST121");
    }

    #[test]
    fn jwt_errors_carry_the_www_authenticate_header() {
        let e = ApiError::jwt_claims("JWT expired");
        assert_eq!(
            e.headers,
            vec![(
                "www-authenticate",
                "Bearer error=\"invalid_token\", error_description=\"JWT expired\"".to_owned()
            )]
        );
    }
}
