//! One request, one transaction: the role, the JWT claims and the request's settings first
//! (PostgREST's `txVarQuery`, all `set_config(.., true)` so they end with the transaction), then
//! the statement, then the checks that may still roll it back.

use deadpool_postgres::{Pool, PoolError};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::sql::{Sql, quote_ident};

/// Who runs the statement, and what PostgreSQL functions may read about the request.
pub(crate) struct Session<'a> {
    /// The request's schema (first on the `search_path`; `public` follows, as PostgREST's
    /// default `db-extra-search-path`).
    pub(crate) schema: &'a str,
    pub(crate) auth: &'a Auth,
    /// Whether the role is not the anonymous one (PostgREST answers 403 rather than 401 to a
    /// permission error then).
    pub(crate) authed: bool,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    /// `request.headers`: a JSON object of the lower-cased request headers.
    pub(crate) headers_json: String,
    /// `request.cookies`: a JSON object.
    pub(crate) cookies_json: String,
    /// `Prefer: timezone=`.
    pub(crate) timezone: Option<&'a str>,
    pub(crate) read_only: bool,
}

/// The one row every statement gives.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) total: Option<i64>,
    pub(crate) page_total: i64,
    pub(crate) body: String,
    pub(crate) response_headers: Option<String>,
    pub(crate) response_status: Option<String>,
    pub(crate) inserted: Option<i32>,
}

fn pool_error(e: PoolError) -> ApiError {
    match e {
        PoolError::Timeout(_) => ApiError::pool_timeout(),
        PoolError::Backend(e) => ApiError::connection(e.to_string()),
        other => ApiError::connection(other.to_string()),
    }
}

/// Runs `sql` in its own transaction as the session's role. `check` sees the outcome before
/// the commit; an error from it rolls the transaction back (a single-object response that got
/// several rows, `max-affected` exceeded).
pub(crate) async fn run(
    pool: &Pool,
    session: &Session<'_>,
    sql: &Sql,
    check: impl FnOnce(&Outcome) -> Result<(), ApiError>,
) -> Result<Outcome, ApiError> {
    let db = |e: tokio_postgres::Error| ApiError::from_db(&e, session.authed);
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client
        .build_transaction()
        .read_only(session.read_only)
        .start()
        .await
        .map_err(db)?;

    let search_path = format!("{}, {}", quote_ident(session.schema), quote_ident("public"));
    let claims = serde_json::Value::Object(session.auth.claims.clone()).to_string();
    let mut pre = Sql::default();
    pre.push("SELECT set_config('search_path', ")
        .param(search_path)
        .push(", true), set_config('role', ")
        .param(session.auth.role.as_str())
        .push(", true), set_config('request.jwt.claims', ")
        .param(claims)
        .push(", true), set_config('request.method', ")
        .param(session.method)
        .push(", true), set_config('request.path', ")
        .param(session.path)
        .push(", true), set_config('request.headers', ")
        .param(session.headers_json.as_str())
        .push(", true), set_config('request.cookies', ")
        .param(session.cookies_json.as_str())
        .push(", true)");
    if let Some(tz) = session.timezone {
        pre.push(", set_config('timezone', ")
            .param(tz)
            .push(", true)");
    }
    tx.query(&pre.text, &pre.refs()).await.map_err(db)?;

    let row = tx.query_one(&sql.text, &sql.refs()).await.map_err(db)?;
    let get_err =
        |e: tokio_postgres::Error| ApiError::internal(format!("reading the result row: {e}"));
    let outcome = Outcome {
        total: row.try_get(0).map_err(get_err)?,
        page_total: row.try_get(1).map_err(get_err)?,
        body: row.try_get(2).map_err(get_err)?,
        response_headers: row.try_get(3).map_err(get_err)?,
        response_status: row.try_get(4).map_err(get_err)?,
        inserted: row.try_get(5).map_err(get_err)?,
    };
    // Dropping `tx` on an error rolls it back.
    check(&outcome)?;
    tx.commit().await.map_err(db)?;
    Ok(outcome)
}
