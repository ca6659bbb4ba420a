//! The Supabase store: every repository over Supabase's REST API (PostgREST) with the `postgrest` crate, the queue functions as RPC calls.
//!
//! ```no_run
//! use smsbatch::store::supabase::SupabaseConfig;
//! use smsbatch::store::{Actor, Backend};
//!
//! # async fn demo(service_key: &str, user_jwt: &str) -> smsbatch::Result<()> {
//! let supabase = SupabaseConfig::new("https://abcdefgh.supabase.co", service_key).build()?;
//! let service = supabase.store(Actor::Service)?; // the service key bypasses row-level security
//! let user = supabase.store(Actor::from_jwt(user_jwt)?)?; // row-level security as that user
//! assert!(user.batches.list(&Default::default()).await?.is_empty());
//! # let _ = service;
//! # Ok(()) }
//! ```
//!
//! # The schema
//!
//! The database is the one the `postgres` feature's migrations make (`0001_init` and
//! `0003_supabase`, which adds what PostgREST cannot do in one request: RPC functions for the
//! upserts that report what changed, for chunk inserts of messages and for grouped counts, and
//! `customers.attributes_typed`, through which custom fields are compared without casts). Run
//! `smsbatch migrate --database-url ...` against the project's database once.
//!
//! # Who the store acts for
//!
//! Each request carries the project key as `apikey` and a bearer token, which PostgREST turns
//! into the role and the claims that row-level security reads:
//! - [`Actor::Service`]: the configured key (a `service_role` key bypasses row-level security;
//!   with the anon key the store is as anonymous);
//! - [`Actor::User`]: the user's own JWT ([`UserClaims::token`](super::UserClaims::token), as
//!   [`Actor::from_jwt`] keeps it); claims without a token cannot act as a user here, because the
//!   store holds no signing secret;
//! - [`Actor::Anonymous`]: the anon key ([`SupabaseConfig::anon_key`]), or no bearer at all, so
//!   PostgREST runs the request as `anon`.
//!
//! # Requests
//!
//! One operation may take several requests, and each request is its own transaction (PostgREST
//! has no transaction across requests): upserts of many customers go in chunks, a fenced
//! transition that changed nothing is followed by a read that tells a lost lease from a message
//! the actor cannot see. Reads and writes that may apply twice are retried on a lost connection,
//! a timeout, a gateway error (502, 503, 504) or a serialization failure, with capped full-jitter
//! backoff ([`SupabaseConfig::retries`]); claims, fenced transitions and inserts are never
//! retried. Every request has a time limit ([`SupabaseConfig::timeout`]). A request whose URL
//! would be longer than [`SupabaseConfig::max_url_length`] (16 KiB by default: proxies and
//! PostgREST itself refuse longer request lines) is refused before it is sent, with
//! [`ErrorKind::FilterTooLarge`]; lists of keys are split into requests that fit.
//!
//! # Strings are ordered by the database's collation
//!
//! PostgREST's `order=` cannot name a collation, so string sort keys follow the database's
//! default collation, where the other stores sort byte by byte. They agree on databases created
//! with a `C` or `C.UTF-8` collation (the tests' databases); on another collation, pages are still
//! stable and complete, in that collation's order. Lists that the store returns whole (templates,
//! saved filters, flags) are sorted here, byte by byte, as in every store.
//!
//! # The `postgrest` crate
//!
//! Version 1.6.0 is used as the transport (URL, headers, methods, the reqwest client) with its
//! known bugs worked around where they would bite; each workaround names the bug it avoids:
//! - it escapes nothing and `in_` splits values on commas: every filter parameter comes from the
//!   filter module's PostgREST back end (or is a plain key), added to the request as query pairs
//!   that reqwest form-encodes, never through the crate's filter methods;
//! - `limit`/`range` use the `Range` header (ignored except on GET) and `limit(0)` panics:
//!   `limit=`/`offset=` are query parameters;
//! - `exact_count` overwrites `Prefer` and forces `Range: 0-0`: `Prefer: count=exact` is a
//!   header of its own;
//! - `auth` and `insert_header` panic on a value that is not a valid header: tokens and keys are
//!   checked first;
//! - there is no timeout and a `Client` cannot be given: each request gets
//!   `RequestBuilder::timeout`;
//! - a non-2xx answer is an `Ok(Response)`: the status is checked and PostgREST's error body
//!   becomes an [`Error`] of the matching kind;
//! - `Postgrest::new("…/rest/v1/")` makes `//table` URLs: the base URL is trimmed.

mod customers;
mod messages;
mod records;
mod rows;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::actor::Actor;
use super::bundle::{Backend, Store};
use super::customer::{CUSTOMER_COLUMNS, check_customer_schema};
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{PostgrestTarget, Schema, postgrest_query_string};

/// How to reach a Supabase project: its URL and key, time limits and retries, the customer
/// schema. `SupabaseConfig::new(url, key)`, the setters you need, then [`SupabaseConfig::build`].
#[derive(Clone)]
pub struct SupabaseConfig {
    url: String,
    key: String,
    anon_key: Option<String>,
    timeout: Duration,
    retries: u32,
    max_url_length: usize,
    schema: Schema,
}

impl fmt::Debug for SupabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys are secrets: never printed.
        f.debug_struct("SupabaseConfig")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_url_length", &self.max_url_length)
            .finish_non_exhaustive()
    }
}

/// The longest request URL sent by default, in bytes.
pub const DEFAULT_MAX_URL_LENGTH: usize = 16 * 1024;

/// The longest URI the HTTP stack can represent at all (`http::Uri` keeps lengths in 16 bits);
/// [`SupabaseConfig::max_url_length`] cannot raise the limit past it.
const MAX_URI_LENGTH: usize = 65_534;

impl SupabaseConfig {
    /// A configuration for the project at `url` (`https://<ref>.supabase.co`; the store appends
    /// `/rest/v1` unless the URL already ends with it) with `key`, the service or anon key (a
    /// JWT, sent as `apikey` and, for [`Actor::Service`], as the bearer). Defaults: 30 s per
    /// request, 3 retries, URLs up to [`DEFAULT_MAX_URL_LENGTH`], the default customer schema.
    pub fn new(url: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key: key.into(),
            anon_key: None,
            timeout: Duration::from_secs(30),
            retries: 3,
            max_url_length: DEFAULT_MAX_URL_LENGTH,
            schema: Schema::customers(),
        }
    }

    /// The project's anon key, sent for [`Actor::Anonymous`] (without it, anonymous requests
    /// carry only the `apikey` and no bearer).
    pub fn anon_key(mut self, key: impl Into<String>) -> Self {
        self.anon_key = Some(key.into());
        self
    }

    /// How long one request may take.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// How many times a request that may apply twice is tried again after a transient error.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The longest request URL the store sends; a filter that would need a longer one fails
    /// with [`ErrorKind::FilterTooLarge`] before anything is sent. The HTTP stack cannot send a
    /// URL of more than 65,534 bytes, whatever this says.
    pub fn max_url_length(mut self, bytes: usize) -> Self {
        self.max_url_length = bytes;
        self
    }

    /// The schema customer queries are compiled against.
    pub fn schema(mut self, schema: Schema) -> Self {
        self.schema = schema;
        self
    }

    /// Checks the configuration and makes the store (no request is sent).
    pub fn build(self) -> Result<SupabaseStore> {
        check_customer_schema(&self.schema)?;
        let url = self.url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::invalid_input(format!(
                "the Supabase URL {url:?} is not an http(s) URL"
            )));
        }
        // postgrest 1.6.0 joins `url + "/" + table`, so a trailing `/` would make `//table`.
        let rest = if url.ends_with("/rest/v1") {
            url.to_owned()
        } else {
            format!("{url}/rest/v1")
        };
        check_header_value("the Supabase key", &self.key)?;
        if let Some(anon) = &self.anon_key {
            check_header_value("the anon key", anon)?;
        }
        if self.key.trim().is_empty() {
            return Err(Error::invalid_input("the Supabase key is empty"));
        }
        let customers = PostgrestTarget::columns().json_column(
            "attributes",
            "attributes_typed",
            CUSTOMER_COLUMNS.iter().map(|(c, _)| *c),
        );
        Ok(SupabaseStore {
            inner: Arc::new(Shared {
                client: postgrest::Postgrest::new(rest.clone()),
                rest_url: rest,
                config: self,
                customers,
                jitter: AtomicU64::new(0x2545_F491_4F6C_DD1D),
            }),
        })
    }
}

/// `auth()` and `insert_header()` of postgrest 1.6.0 panic on a value that is not a valid HTTP
/// header value; a key or token that could not be sent is refused here instead.
fn check_header_value(what: &str, value: &str) -> Result<()> {
    if value.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "{what} contains characters that cannot be sent in an HTTP header (a JWT is ASCII)"
        )))
    }
}

/// The Supabase store: the project's REST API. Clones share the HTTP client and its connections.
/// [`Backend::store`] gives the repositories acting for an [`Actor`].
#[derive(Clone, Debug)]
pub struct SupabaseStore {
    inner: Arc<Shared>,
}

struct Shared {
    client: postgrest::Postgrest,
    rest_url: String,
    config: SupabaseConfig,
    customers: PostgrestTarget,
    jitter: AtomicU64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("rest_url", &self.rest_url)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SupabaseStore {
    /// The REST API's base URL (`…/rest/v1`).
    pub fn rest_url(&self) -> &str {
        &self.inner.rest_url
    }

    /// The customer schema.
    pub fn schema(&self) -> &Schema {
        &self.inner.config.schema
    }
}

impl Backend for SupabaseStore {
    fn store(&self, actor: Actor) -> Result<Store> {
        let config = &self.inner.config;
        let (apikey, bearer) = match &actor {
            Actor::Service => (config.key.clone(), Some(config.key.clone())),
            Actor::Anonymous => match &config.anon_key {
                Some(anon) => (anon.clone(), Some(anon.clone())),
                None => (config.key.clone(), None),
            },
            Actor::User(user) => {
                let token = user.token().ok_or_else(|| {
                    Error::invalid_input(
                        "the Supabase store acts as a user with the user's JWT: build the actor \
                         with Actor::from_jwt (these claims carry no token)",
                    )
                })?;
                check_header_value("the user's JWT", token)?;
                (config.key.clone(), Some(token.to_owned()))
            }
        };
        Ok(Store::from_all(Arc::new(SbView {
            inner: Arc::clone(&self.inner),
            apikey,
            bearer,
            actor,
        })))
    }
}

/// The store acting for one actor.
struct SbView {
    inner: Arc<Shared>,
    apikey: String,
    bearer: Option<String>,
    actor: Actor,
}

impl fmt::Debug for SbView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SbView")
            .field("rest_url", &self.inner.rest_url)
            .finish_non_exhaustive()
    }
}

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Patch,
    Delete,
    Rpc,
}

/// Whether a request may be sent again after a transient error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    /// It reads, or writes something a second run leaves the same.
    Safe,
    /// A second run could apply it twice.
    Never,
}

/// One request: a table or function, query pairs (already the exact PostgREST grammar), a JSON
/// body, `Prefer` values.
#[derive(Clone, Debug)]
struct Call {
    method: Method,
    path: String,
    params: Vec<(String, String)>,
    body: Option<String>,
    prefer: Vec<&'static str>,
    retry: Retry,
}

impl Call {
    fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            params: Vec::new(),
            body: None,
            prefer: Vec::new(),
            // Reads may always be retried; writes say so.
            retry: if method == Method::Get {
                Retry::Safe
            } else {
                Retry::Never
            },
        }
    }

    fn get(table: &str) -> Self {
        Self::new(Method::Get, table)
    }

    fn rpc(function: &str, args: Value) -> Self {
        Self::new(Method::Rpc, function).body(args.to_string())
    }

    fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((key.into(), value.into()));
        self
    }

    fn params(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        self.params.extend(pairs);
        self
    }

    fn body(mut self, body: String) -> Self {
        self.body = Some(body);
        self
    }

    fn prefer(mut self, value: &'static str) -> Self {
        self.prefer.push(value);
        self
    }

    fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }
}

/// A successful answer.
#[derive(Debug)]
struct Reply {
    body: String,
    content_range: Option<String>,
}

impl Reply {
    fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_str(&self.body).map_err(|e| {
            Error::new(ErrorKind::MalformedRow {
                table: what.to_owned(),
                message: format!("the answer is not what was expected: {e}"),
            })
        })
    }

    /// The total of `Content-Range: a-b/total` (`Prefer: count=exact`).
    fn total(&self) -> Result<u64> {
        self.content_range
            .as_deref()
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.trim().parse().ok())
            .ok_or_else(|| {
                Error::new(ErrorKind::Database {
                    code: "PGRST".into(),
                    message: format!(
                        "no count in the Content-Range header ({:?})",
                        self.content_range
                    ),
                })
            })
    }
}

impl SbView {
    fn config(&self) -> &SupabaseConfig {
        &self.inner.config
    }

    /// The URL length of a call, as reqwest will form-encode it.
    fn url_length(&self, call: &Call) -> usize {
        let rpc = if call.method == Method::Rpc { 4 } else { 0 };
        let query = if call.params.is_empty() {
            0
        } else {
            1 + postgrest_query_string(&call.params).len()
        };
        self.inner.rest_url.len() + 1 + rpc + call.path.len() + query
    }

    /// Sends a call (retrying it when it may be), checks the answer's status.
    async fn send(&self, call: Call) -> Result<Reply> {
        let length = self.url_length(&call);
        let max = self.config().max_url_length.min(MAX_URI_LENGTH);
        if length > max {
            return Err(Error::new(ErrorKind::FilterTooLarge {
                path: String::new(),
                message: format!(
                    "the request to {} would have a URL of {length} bytes, more than the {max} \
                     the Supabase store sends (proxies and PostgREST refuse longer request \
                     lines); use a shorter filter (fewer values in lists, fewer conditions)",
                    call.path
                ),
            }));
        }
        let retries = match call.retry {
            Retry::Safe => self.config().retries,
            Retry::Never => 0,
        };
        let mut attempt = 0;
        loop {
            match self.attempt(&call).await {
                Err(e) if attempt < retries && transient(&e) => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let state = self
            .inner
            .jitter
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let cap = Duration::from_millis(50)
            .saturating_mul(1 << attempt.min(10))
            .min(Duration::from_secs(2));
        let micros = cap.as_micros() as u64;
        Duration::from_micros(crate::random::mix(state) % (micros + 1))
    }

    async fn attempt(&self, call: &Call) -> Result<Reply> {
        let client = &self.inner.client;
        let body = call.body.clone().unwrap_or_default();
        let builder = match call.method {
            Method::Get => client.from(&call.path),
            // insert/update/delete set `Prefer: return=representation`; the store's own `Prefer`
            // values go in further `Prefer` headers, which PostgREST reads together.
            Method::Post => client.from(&call.path).insert(body),
            Method::Patch => client.from(&call.path).update(body),
            Method::Delete => client.from(&call.path).delete(),
            Method::Rpc => client.rpc(&call.path, body),
        };
        // Checked in `store()`: `auth` would panic on a token that is not a header value.
        let builder = match &self.bearer {
            Some(token) => builder.auth(token),
            None => builder,
        };
        // postgrest 1.6.0 escapes nothing and its `in_` splits on commas, its `limit` uses the
        // `Range` header (and panics on 0), its `exact_count` clobbers `Prefer`: the query pairs
        // and headers are added to the reqwest request it builds, and it has no timeout of its
        // own, so the request gets one.
        let mut request = builder.build();
        if !call.params.is_empty() {
            request = request.query(&call.params);
        }
        for prefer in &call.prefer {
            request = request.header("Prefer", *prefer);
        }
        let response = request
            .header("apikey", self.apikey.as_str())
            .timeout(self.config().timeout)
            .send()
            .await
            // Without the URL: a long filter would make a message of many kilobytes.
            .map_err(|e| transport_error(&call.path, e.is_timeout(), e.without_url()))?;
        // postgrest 1.6.0 returns non-2xx answers as `Ok`: the status decides.
        let status = response.status().as_u16();
        let content_range = response
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| transport_error(&call.path, e.is_timeout(), e.without_url()))?;
        if (200..300).contains(&status) {
            Ok(Reply {
                body,
                content_range,
            })
        } else {
            Err(api_error(status, &body, &self.actor))
        }
    }

    /// Sends a call and reads its JSON answer.
    async fn json<T: DeserializeOwned>(&self, call: Call, what: &str) -> Result<T> {
        self.send(call).await?.json(what)
    }

    /// Splits `keys` into `in.(…)` lists whose requests stay well under the URL limit.
    fn key_chunks<'a>(&self, keys: &'a [String]) -> Vec<&'a [String]> {
        let budget = (self.config().max_url_length / 2).max(256);
        let mut out = Vec::new();
        let mut start = 0;
        let mut size = 0;
        for (i, k) in keys.iter().enumerate() {
            // Quoted and form-encoded, a character takes at most 9 bytes (`%XX` per UTF-8 byte).
            let cost = k.len() * 3 + 6;
            if i > start && size + cost > budget {
                out.push(&keys[start..i]);
                start = i;
                size = 0;
            }
            size += cost;
        }
        if start < keys.len() {
            out.push(&keys[start..]);
        }
        out
    }
}

/// `in.("a","b")`: every element quoted, `\` and `"` escaped (an unquoted element cannot hold
/// `,` or `)` and loses its leading spaces).
fn in_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut out = String::from("in.(");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.as_ref().chars() {
            if matches!(c, '\\' | '"') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push(')');
    out
}

/// `eq.<value>`: at top level a value is the rest of the parameter, verbatim (no quoting).
fn eq(value: impl fmt::Display) -> String {
    format!("eq.{value}")
}

fn transient(e: &Error) -> bool {
    match e.kind() {
        ErrorKind::ConnectionLost { .. } | ErrorKind::Timeout { .. } => true,
        ErrorKind::Database { code, .. } => {
            matches!(code.as_str(), "40001" | "40P01" | "53300" | "57P03")
        }
        _ => false,
    }
}

fn transport_error(
    path: &str,
    timeout: bool,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    let text = e.to_string();
    let kind = if timeout {
        ErrorKind::Timeout {
            message: format!("the request to {path} took too long: {text}"),
        }
    } else {
        ErrorKind::ConnectionLost {
            message: format!("the request to {path} failed: {text}"),
        }
    };
    Error::new(kind).with_source(e)
}

/// PostgREST's error body (`{"code", "message", "details", "hint"}`) as the crate's error kinds.
fn api_error(status: u16, body: &str, actor: &Actor) -> Error {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let code = field("code");
    let mut message = field("message");
    if message.is_empty() {
        message = format!("HTTP {status}: {}", crate::filter::clip(body));
    }
    let details = field("details");
    let kind = match code.as_str() {
        "23505" => ErrorKind::UniqueViolation {
            constraint: constraint_of(&message),
            message: join(&message, &details),
        },
        "23514" | "23502" => ErrorKind::CheckViolation {
            constraint: constraint_of(&message),
            message: join(&message, &details),
        },
        "42501" => ErrorKind::PermissionDenied {
            message: match actor {
                Actor::Anonymous => format!("{message} (acting anonymously)"),
                _ => message,
            },
        },
        "57014" => ErrorKind::Timeout {
            message: format!("the statement was cancelled: {message}"),
        },
        // JWT problems: missing, invalid, expired, or a role the server does not know.
        c if c.starts_with("PGRST30") => ErrorKind::PermissionDenied { message },
        c if c.starts_with("08") || matches!(c, "57P01" | "57P02") => {
            ErrorKind::ConnectionLost { message }
        }
        "" if matches!(status, 502..=504) => ErrorKind::ConnectionLost { message },
        "" if matches!(status, 401 | 403) => ErrorKind::PermissionDenied { message },
        "" => ErrorKind::Database {
            code: format!("HTTP {status}"),
            message,
        },
        _ => ErrorKind::Database {
            code,
            message: join(&message, &details),
        },
    };
    Error::new(kind)
}

fn join(message: &str, details: &str) -> String {
    if details.is_empty() {
        message.to_owned()
    } else {
        format!("{message} ({details})")
    }
}

/// The constraint a PostgreSQL message names: `... constraint "name"`.
fn constraint_of(message: &str) -> String {
    message
        .split_once("constraint \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name.to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_lists_quote_every_element() {
        assert_eq!(
            in_list(["a,b", "x)", r#"q"\"#, " s"]),
            r#"in.("a,b","x)","q\"\\"," s")"#
        );
        assert_eq!(in_list(Vec::<String>::new()), "in.()");
    }

    #[test]
    fn errors_map_to_kinds() {
        let e = api_error(
            409,
            r#"{"code":"23505","message":"duplicate key value violates unique constraint \"sms_templates_pkey\"","details":"Key (id)=(a) already exists.","hint":null}"#,
            &Actor::Service,
        );
        assert!(
            matches!(e.kind(), ErrorKind::UniqueViolation { constraint, .. } if constraint == "sms_templates_pkey"),
            "{e:?}"
        );
        let e = api_error(
            401,
            r#"{"code":"42501","message":"permission denied for table customers"}"#,
            &Actor::Anonymous,
        );
        assert!(e.is_permission_denied());
        let e = api_error(503, "upstream down", &Actor::Service);
        assert!(e.is_transient());
        let e = api_error(
            400,
            r#"{"code":"22P02","message":"invalid input syntax"}"#,
            &Actor::Service,
        );
        assert!(matches!(e.kind(), ErrorKind::Database { code, .. } if code == "22P02"));
    }

    #[test]
    fn configuration_is_checked() {
        assert!(SupabaseConfig::new("ftp://x", "k").build().is_err());
        assert!(
            SupabaseConfig::new("https://x.supabase.co", "bad key\n")
                .build()
                .is_err()
        );
        let store = SupabaseConfig::new("https://x.supabase.co/", "k")
            .build()
            .unwrap();
        assert_eq!(store.rest_url(), "https://x.supabase.co/rest/v1");
        let store = SupabaseConfig::new("http://127.0.0.1:1/rest/v1/", "k")
            .build()
            .unwrap();
        assert_eq!(store.rest_url(), "http://127.0.0.1:1/rest/v1");
        // Claims without a token cannot act as a user.
        let err = store
            .store(Actor::user(crate::store::Uuid::from_u128(1)))
            .unwrap_err();
        assert!(err.to_string().contains("JWT"), "{err}");
    }
}
