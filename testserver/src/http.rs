//! The HTTP side: routes (`/TABLE`, `/rpc/FN`, both also under `/rest/v1`), request headers
//! (`Authorization`/`apikey`, `Accept-Profile`/`Content-Profile`, `Prefer`, `Range`, `Accept`),
//! the JSON body, and the answer's status, headers and body as PostgREST gives them
//! (`ApiRequest.hs`, `Response.hs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use deadpool_postgres::Pool;
use serde_json::{Map, Value};

use crate::auth::{self, Auth};
use crate::config::Config;
use crate::db::{self, Outcome, Session};
use crate::error::ApiError;
use crate::parse::{self, QueryParams, percent_decode};
use crate::prefer::{Missing, Preferences, Resolution, Return};
use crate::range::{self, Range};
use crate::schema::{Column, Resolved, Schema, SchemaCache, Table};
use crate::sql::{self, Args, Body, Call, Conditions, Insert, Read, Returning, Update};

/// The largest request body read (chunked inserts of message batches stay far below it).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What every request handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) pool: Pool,
    pub(crate) cache: RwLock<Arc<SchemaCache>>,
}

impl AppState {
    fn cache(&self) -> Arc<SchemaCache> {
        match self.cache.read() {
            Ok(c) => Arc::clone(&c),
            // A panic while swapping caches cannot leave a half-written Arc: take it anyway.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

/// An answer before it becomes an HTTP response.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_owned(), value.into()));
    }
}

fn into_response(reply: Reply) -> Response {
    let mut response = Response::new(HttpBody::from(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(n, v);
        }
    }
    response
}

fn error_reply(e: &ApiError) -> Reply {
    let mut reply = Reply {
        status: e.status,
        headers: vec![
            ("content-type".into(), JSON.into()),
            (
                "proxy-status".into(),
                format!("PostgREST; error={}", e.code),
            ),
        ],
        body: e.body().to_string().into_bytes(),
    };
    for (name, value) in &e.headers {
        reply.header(name, value.clone());
    }
    reply
}

const JSON: &str = "application/json; charset=utf-8";
const OBJECT: &str = "application/vnd.pgrst.object+json; charset=utf-8";

/// The one handler: every path and method comes here.
pub(crate) async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return into_response(error_reply(&ApiError::invalid_body(format!(
                "could not read the request body (at most {MAX_BODY_BYTES} bytes): {e}"
            ))));
        }
    };
    // Run to completion in its own task even if the client goes away, so a transaction is
    // never abandoned halfway.
    let task = tokio::spawn(async move {
        match serve(&state, &parts.method, &parts.uri, &parts.headers, &body).await {
            Ok(mut reply) => {
                // PostgREST's answers vary with these request headers.
                if !reply.headers.iter().any(|(n, _)| n == "vary") {
                    reply.header("vary", "Accept, Prefer, Range");
                }
                reply
            }
            Err(e) => error_reply(&e),
        }
    });
    match task.await {
        Ok(reply) => into_response(reply),
        Err(e) => into_response(error_reply(&ApiError::internal(format!(
            "request task failed: {e}"
        )))),
    }
}

enum Resource {
    Root,
    Table(String),
    Function(String),
}

fn resource(path: &str) -> Result<Resource, ApiError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let mut segments: Vec<String> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed
            .split('/')
            .map(|s| percent_decode(s, false))
            .collect()
    };
    // Supabase's gateway serves PostgREST under /rest/v1.
    if segments.len() >= 2 && segments[0] == "rest" && segments[1] == "v1" {
        segments.drain(..2);
    }
    match segments.as_slice() {
        [] => Ok(Resource::Root),
        [table] => Ok(Resource::Table(table.clone())),
        [rpc, name] if rpc == "rpc" => Ok(Resource::Function(name.clone())),
        _ => Err(ApiError::invalid_path()),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Authorization: Bearer TOKEN`, else the `apikey` header as Supabase's gateway passes it on.
fn token(headers: &HeaderMap) -> Option<String> {
    if let Some(auth) = header(headers, "authorization") {
        let (scheme, rest) = auth.split_once(char::is_whitespace).unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(rest.trim_start().to_owned());
        }
    }
    header(headers, "apikey").map(str::to_owned)
}

/// What the client accepts: `Ok(true)` for a single object.
fn accepts_single(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(accept) = header(headers, "accept").filter(|a| !a.trim().is_empty()) else {
        return Ok(false);
    };
    for media in accept.split(',') {
        let media = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
                return Ok(true);
            }
            "application/json" | "application/*" | "*/*" => return Ok(false),
            _ => {}
        }
    }
    Err(ApiError::media_type(accept))
}

/// A JSON request body: the raw text, whether it is one object, and its keys.
struct Payload {
    raw: String,
    is_object: bool,
    keys: BTreeSet<String>,
}

/// PostgREST's `getPayload` for JSON: an object, or an array of objects with the same keys;
/// with `columns=` the body is passed on as it is and the keys are the columns.
fn payload(
    body: &Bytes,
    headers: &HeaderMap,
    columns: Option<&[String]>,
    rpc: bool,
) -> Result<Payload, ApiError> {
    if let Some(ct) = header(headers, "content-type") {
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media != "application/json" && !media.is_empty() {
            return Err(ApiError::invalid_body(format!(
                "Content-Type not acceptable: {media}"
            )));
        }
    }
    let text = String::from_utf8_lossy(body).into_owned();
    let first_byte = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .chars()
        .next();
    if let Some(cols) = columns {
        return Ok(Payload {
            is_object: first_byte == Some('{'),
            raw: text,
            keys: cols.iter().cloned().collect(),
        });
    }
    if text.trim().is_empty() && rpc {
        return Ok(Payload {
            raw: "{}".into(),
            is_object: true,
            keys: BTreeSet::new(),
        });
    }
    let value: Value =
        serde_json::from_str(&text).map_err(|_| ApiError::invalid_body("Empty or invalid json"))?;
    let empty_array = || Payload {
        raw: "[]".into(),
        is_object: false,
        keys: BTreeSet::new(),
    };
    match &value {
        Value::Object(o) => Ok(Payload {
            keys: o.keys().cloned().collect(),
            raw: text,
            is_object: true,
        }),
        Value::Array(items) => match items.first() {
            None => Ok(empty_array()),
            Some(Value::Object(first)) => {
                let keys: BTreeSet<String> = first.keys().cloned().collect();
                let uniform = items.iter().all(|item| {
                    item.as_object().is_some_and(|o| {
                        o.len() == keys.len() && o.keys().all(|k| keys.contains(k))
                    })
                });
                if !uniform {
                    return Err(ApiError::invalid_body("All object keys must match"));
                }
                Ok(Payload {
                    raw: text,
                    is_object: false,
                    keys,
                })
            }
            Some(_) => Err(ApiError::invalid_body("All object keys must match")),
        },
        // Anything else is taken as an empty array, as in PostgREST.
        _ => Ok(empty_array()),
    }
}

/// The request's lower-cased headers (cookies apart) and cookies, as JSON objects.
fn request_settings(headers: &HeaderMap) -> (String, String) {
    let mut map = Map::new();
    let mut cookies = Map::new();
    for (name, value) in headers {
        let Ok(v) = value.to_str() else { continue };
        if name.as_str() == "cookie" {
            for pair in v.split(';') {
                if let Some((k, val)) = pair.trim().split_once('=') {
                    cookies.insert(k.to_owned(), Value::String(val.to_owned()));
                }
            }
        } else {
            map.insert(name.as_str().to_owned(), Value::String(v.to_owned()));
        }
    }
    (
        Value::Object(map).to_string(),
        Value::Object(cookies).to_string(),
    )
}

/// Applies `response.status` and `response.headers` set by SQL during the request.
fn apply_gucs(reply: &mut Reply, outcome: &Outcome) -> Result<(), ApiError> {
    if let Some(status) = &outcome.response_status {
        reply.status = status
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| {
                ApiError::guc(
                    "PGRST112",
                    "response.status guc must be a valid status code",
                )
            })?;
    }
    if let Some(headers) = &outcome.response_headers {
        let bad = || {
            ApiError::guc(
                "PGRST111",
                "response.headers guc must be a JSON array composed of objects with a single key and a string value",
            )
        };
        let parsed: Value = serde_json::from_str(headers).map_err(|_| bad())?;
        let mut extra = Vec::new();
        for item in parsed.as_array().ok_or_else(bad)? {
            let obj = item.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
            for (k, v) in obj {
                extra.push((
                    k.to_ascii_lowercase(),
                    v.as_str().ok_or_else(bad)?.to_owned(),
                ));
            }
        }
        reply
            .headers
            .retain(|(name, _)| !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)));
        reply.headers.extend(extra);
    }
    Ok(())
}

/// Everything about one request that does not depend on what it targets.
struct Context<'a> {
    state: &'a AppState,
    method: &'a Method,
    headers: &'a HeaderMap,
    auth: Auth,
    schema_name: String,
    negotiated: bool,
    prefs: Preferences,
    single: bool,
    path: String,
}

impl Context<'_> {
    fn session(&self, read_only: bool, headers_json: String, cookies_json: String) -> Session<'_> {
        Session {
            schema: &self.schema_name,
            authed: Some(self.auth.role.as_str()) != self.state.config.anon_role.as_deref(),
            auth: &self.auth,
            method: self.method.as_str(),
            path: &self.path,
            headers_json,
            cookies_json,
            timezone: self.prefs.timezone.as_deref(),
            read_only,
        }
    }

    async fn run(
        &self,
        read_only: bool,
        sql: &sql::Sql,
        check: impl FnOnce(&Outcome) -> Result<(), ApiError>,
    ) -> Result<Outcome, ApiError> {
        let (headers_json, cookies_json) = request_settings(self.headers);
        let session = self.session(read_only, headers_json, cookies_json);
        db::run(&self.state.pool, &session, sql, check).await
    }

    /// Headers every successful answer with a body carries.
    fn content_headers(&self, reply: &mut Reply) {
        reply.header("content-type", if self.single { OBJECT } else { JSON });
        if self.negotiated {
            reply.header("content-profile", self.schema_name.clone());
        }
    }

    fn singular_check(&self) -> impl FnOnce(&Outcome) -> Result<(), ApiError> + use<> {
        let single = self.single;
        move |o: &Outcome| {
            if single && o.page_total != 1 {
                Err(ApiError::singular(o.page_total))
            } else {
                Ok(())
            }
        }
    }

    fn strict_invalid_prefs(&self) -> Result<(), ApiError> {
        if self.prefs.strict == Some(true) && !self.prefs.invalid.is_empty() {
            return Err(ApiError::invalid_preferences(&self.prefs.invalid));
        }
        Ok(())
    }
}

async fn serve(
    state: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Reply, ApiError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let auth = auth::authenticate(
        &state.config.jwt_secret,
        state.config.anon_role.as_deref(),
        token(headers).as_deref(),
        now,
    )?;

    let target = resource(uri.path())?;
    let is_write = matches!(
        *method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    let profile = header(
        headers,
        if is_write {
            "content-profile"
        } else {
            "accept-profile"
        },
    );
    let served = &state.config.schemas;
    let schema_name = match profile {
        Some(p) if !served.iter().any(|s| s == p) => {
            return Err(ApiError::unacceptable_schema(p, served));
        }
        Some(p) => p.to_owned(),
        None => served.first().cloned().unwrap_or_default(),
    };
    let negotiated = profile.is_some() || served.len() != 1;
    let path = {
        let p = uri.path();
        p.strip_prefix("/rest/v1")
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .unwrap_or(p)
            .to_owned()
    };
    let prefs = Preferences::parse(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let raw_query = uri.query().unwrap_or("");

    let mut cx = Context {
        state,
        method,
        headers,
        auth,
        schema_name,
        negotiated,
        prefs,
        single: false,
        path,
    };

    match target {
        Resource::Root => match *method {
            Method::OPTIONS => Ok(options("OPTIONS,GET,HEAD")),
            _ => Err(ApiError::root_disabled()),
        },
        Resource::Table(name) => {
            let action = match *method {
                Method::GET | Method::HEAD | Method::POST | Method::PATCH | Method::DELETE => {
                    method.clone()
                }
                Method::OPTIONS => {
                    let cache = state.cache();
                    let schema = schema_of(&cache, &cx.schema_name)?;
                    table_of(schema, &cx.schema_name, &name)?;
                    return Ok(options("OPTIONS,GET,HEAD,POST,PATCH,DELETE"));
                }
                Method::PUT => {
                    return Err(ApiError::not_implemented(
                        "PUT (single-row upsert): use POST with Prefer: resolution=merge-duplicates",
                    ));
                }
                _ => return Err(ApiError::unsupported_method(method.as_str())),
            };
            let qp = parse::parse(raw_query, false)?;
            let range =
                range::requested(qp.range, header(headers, "range"), *method == Method::GET)?;
            let payload = if matches!(action, Method::POST | Method::PATCH) {
                Some(payload(body, headers, qp.columns.as_deref(), false)?)
            } else {
                None
            };
            cx.single = accepts_single(headers)?;
            let cache = state.cache();
            let schema = schema_of(&cache, &cx.schema_name)?;
            let table = table_of(schema, &cx.schema_name, &name)?;
            cx.strict_invalid_prefs()?;
            match action {
                Method::GET | Method::HEAD => read(&cx, table, &qp, range).await,
                Method::POST => insert(&cx, table, &qp, payload).await,
                Method::PATCH => update(&cx, table, &qp, payload).await,
                _ => delete(&cx, table, &qp).await,
            }
        }
        Resource::Function(name) => {
            match *method {
                Method::GET | Method::HEAD | Method::POST => {}
                Method::OPTIONS => return Ok(options("OPTIONS,GET,HEAD,POST")),
                _ => return Err(ApiError::invalid_rpc_method(method.as_str())),
            }
            let rpc_read = *method != Method::POST;
            let qp = parse::parse(raw_query, rpc_read)?;
            let range =
                range::requested(qp.range, header(headers, "range"), *method == Method::GET)?;
            let payload = if rpc_read {
                None
            } else {
                Some(payload(body, headers, qp.columns.as_deref(), true)?)
            };
            cx.single = accepts_single(headers)?;
            let cache = state.cache();
            let schema = schema_of(&cache, &cx.schema_name)?;
            cx.strict_invalid_prefs()?;
            call(&cx, schema, &name, &qp, range, payload).await
        }
    }
}

fn options(allow: &str) -> Reply {
    Reply {
        status: 200,
        headers: vec![
            ("allow".into(), allow.into()),
            ("access-control-allow-origin".into(), "*".into()),
        ],
        body: Vec::new(),
    }
}

fn schema_of<'c>(cache: &'c SchemaCache, name: &str) -> Result<&'c Schema, ApiError> {
    cache
        .schemas
        .get(name)
        .ok_or_else(|| ApiError::internal(format!("schema {name} is not in the schema cache")))
}

fn table_of<'s>(schema: &'s Schema, schema_name: &str, name: &str) -> Result<&'s Table, ApiError> {
    schema
        .tables
        .get(name)
        .ok_or_else(|| ApiError::table_not_found(schema_name, name))
}

async fn read(
    cx: &Context<'_>,
    table: &Table,
    qp: &QueryParams,
    range: Range,
) -> Result<Reply, ApiError> {
    let head = *cx.method == Method::HEAD;
    let body = if head {
        Body::None
    } else if cx.single {
        Body::Object
    } else {
        Body::Array
    };
    let statement = sql::read(
        table,
        &Read {
            select: &qp.select,
            conditions: Conditions {
                filters: &qp.filters,
                logic: &qp.logic,
            },
            order: &qp.order,
            range,
            count: cx.prefs.counts(),
            body,
        },
    )?;
    let outcome = cx.run(true, &statement, cx.singular_check()).await?;
    let (status, content_range) = range::read_status(&range, outcome.page_total, outcome.total);
    let mut reply = Reply {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    };
    reply.header("content-range", content_range);
    if status == 416 {
        let e = out_of_bounds(&range, outcome.total);
        reply.header("content-type", JSON);
        reply.body = e.body().to_string().into_bytes();
        return Ok(reply);
    }
    cx.content_headers(&mut reply);
    if let Some(applied) = cx.prefs.applied(false, false, false, false) {
        reply.header("preference-applied", applied);
    }
    if !head {
        reply.body = outcome.body.clone().into_bytes();
    }
    apply_gucs(&mut reply, &outcome)?;
    Ok(reply)
}

fn out_of_bounds(range: &Range, total: Option<i64>) -> ApiError {
    ApiError::invalid_range(format!(
        "An offset of {} was requested, but there are only {} rows.",
        range.offset(),
        total.unwrap_or(0)
    ))
}

/// The columns a body names, each checked against the table (PGRST204 otherwise).
fn body_columns<'t>(
    table: &'t Table,
    keys: &BTreeSet<String>,
) -> Result<Vec<&'t Column>, ApiError> {
    keys.iter()
        .map(|k| {
            table
                .column(k)
                .ok_or_else(|| ApiError::column_not_found(&table.name, k))
        })
        .collect()
}

/// The body a mutation returns: its rows with `return=representation` (one object when the
/// client asks for it), the primary key for `return=headers-only`, else nothing.
fn mutation_body(cx: &Context<'_>) -> Body {
    match cx.prefs.representation {
        Some(Return::Representation) if cx.single => Body::Object,
        Some(Return::Representation) => Body::Array,
        Some(Return::HeadersOnly) => Body::Array,
        _ => Body::None,
    }
}

async fn insert(
    cx: &Context<'_>,
    table: &Table,
    qp: &QueryParams,
    payload: Option<Payload>,
) -> Result<Reply, ApiError> {
    let payload = payload.ok_or_else(|| ApiError::invalid_body("Empty or invalid json"))?;
    let columns = body_columns(table, &payload.keys)?;
    let conflict_columns = match &qp.on_conflict {
        Some(cols) => {
            for c in cols {
                if table.column(c).is_none() {
                    return Err(ApiError::undefined_column(&table.name, c));
                }
            }
            cols.clone()
        }
        None => table.primary_key.clone(),
    };
    let on_conflict = cx
        .prefs
        .resolution
        .map(|r| (r == Resolution::MergeDuplicates, conflict_columns.clone()));
    let merge = matches!(&on_conflict, Some((true, cols)) if !cols.is_empty());
    let headers_only = cx.prefs.representation == Some(Return::HeadersOnly);
    let pk_select: Vec<parse::ast::SelectItem> = table
        .primary_key
        .iter()
        .map(|k| parse::ast::SelectItem::Field {
            alias: None,
            field: parse::ast::Field {
                name: k.clone(),
                path: Vec::new(),
            },
            cast: None,
        })
        .collect();
    let body = mutation_body(cx);
    let statement = sql::insert(
        table,
        &Insert {
            body: &payload.raw,
            is_object: payload.is_object,
            columns,
            on_conflict,
            defaults: cx.prefs.missing == Some(Missing::Default),
            returning: Returning {
                select: if headers_only { &pk_select } else { &qp.select },
                order: if headers_only { &[] } else { &qp.order },
                body,
            },
        },
    )?;
    let outcome = cx.run(false, &statement, cx.singular_check()).await?;
    let status = if merge && outcome.inserted.unwrap_or(0) <= 0 {
        200
    } else {
        201
    };
    let mut reply = Reply {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    };
    if let Some(location) = (headers_only && outcome.page_total == 1)
        .then(|| location(&table.name, &outcome.body))
        .flatten()
    {
        reply.header("location", location);
    }
    let total = cx.prefs.counts().then_some(outcome.page_total);
    reply.header("content-range", range::content_range(1, 0, total));
    let resolution_applies = !table.primary_key.is_empty() || qp.on_conflict.is_some();
    if let Some(applied) = cx.prefs.applied(resolution_applies, true, true, false) {
        reply.header("preference-applied", applied);
    }
    if cx.prefs.representation == Some(Return::Representation) {
        cx.content_headers(&mut reply);
        reply.body = outcome.body.clone().into_bytes();
    }
    apply_gucs(&mut reply, &outcome)?;
    Ok(reply)
}

/// `Location: /table?pk=eq.value` for the one inserted row.
fn location(table: &str, body: &str) -> Option<String> {
    let rows: Value = serde_json::from_str(body).ok()?;
    let row = rows.as_array()?.first()?.as_object()?;
    let encode = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    let pairs: Vec<String> = row
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::Null => "is.null".to_owned(),
                Value::String(s) => format!("eq.{s}"),
                other => format!("eq.{other}"),
            };
            format!("{}={}", encode(k), encode(&value))
        })
        .collect();
    Some(format!("/{table}?{}", pairs.join("&")))
}

fn max_affected_check(cx: &Context<'_>) -> impl FnOnce(&Outcome) -> Result<(), ApiError> + use<> {
    let single = cx.singular_check();
    let limit = (cx.prefs.strict == Some(true))
        .then_some(cx.prefs.max_affected)
        .flatten();
    move |o: &Outcome| {
        single(o)?;
        match limit {
            Some(n) if o.page_total > n => Err(ApiError::max_affected(o.page_total)),
            _ => Ok(()),
        }
    }
}

async fn update(
    cx: &Context<'_>,
    table: &Table,
    qp: &QueryParams,
    payload: Option<Payload>,
) -> Result<Reply, ApiError> {
    let payload = payload.ok_or_else(|| ApiError::invalid_body("Empty or invalid json"))?;
    let columns = body_columns(table, &payload.keys)?;
    let body = mutation_body(cx);
    let statement = sql::update(
        table,
        &Update {
            body: &payload.raw,
            is_object: payload.is_object,
            columns,
            defaults: cx.prefs.missing == Some(Missing::Default),
            conditions: Conditions {
                filters: &qp.filters,
                logic: &qp.logic,
            },
            returning: Returning {
                select: &qp.select,
                order: &qp.order,
                body,
            },
        },
    )?;
    let outcome = cx.run(false, &statement, max_affected_check(cx)).await?;
    let total = cx.prefs.counts().then_some(outcome.page_total);
    let mut reply = Reply {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
    };
    reply.header(
        "content-range",
        range::content_range(0, outcome.page_total - 1, total),
    );
    if let Some(applied) = cx.prefs.applied(false, true, true, true) {
        reply.header("preference-applied", applied);
    }
    if cx.prefs.representation == Some(Return::Representation) {
        reply.status = 200;
        cx.content_headers(&mut reply);
        reply.body = outcome.body.clone().into_bytes();
    }
    apply_gucs(&mut reply, &outcome)?;
    Ok(reply)
}

async fn delete(cx: &Context<'_>, table: &Table, qp: &QueryParams) -> Result<Reply, ApiError> {
    let body = mutation_body(cx);
    let statement = sql::delete(
        table,
        &Conditions {
            filters: &qp.filters,
            logic: &qp.logic,
        },
        &Returning {
            select: &qp.select,
            order: &qp.order,
            body,
        },
    )?;
    let outcome = cx.run(false, &statement, max_affected_check(cx)).await?;
    let total = cx.prefs.counts().then_some(outcome.page_total);
    let mut reply = Reply {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
    };
    reply.header("content-range", range::content_range(1, 0, total));
    if let Some(applied) = cx.prefs.applied(false, false, true, true) {
        reply.header("preference-applied", applied);
    }
    if cx.prefs.representation == Some(Return::Representation) {
        reply.status = 200;
        cx.content_headers(&mut reply);
        reply.body = outcome.body.clone().into_bytes();
    }
    apply_gucs(&mut reply, &outcome)?;
    Ok(reply)
}

async fn call(
    cx: &Context<'_>,
    schema: &Schema,
    name: &str,
    qp: &QueryParams,
    range: Range,
    payload: Option<Payload>,
) -> Result<Reply, ApiError> {
    let keys: BTreeSet<String> = match &payload {
        Some(p) => p.keys.clone(),
        None => qp.rpc_args.iter().map(|(k, _)| k.clone()).collect(),
    };
    let resolved = schema
        .find_function(name, &keys, payload.is_some())
        .map_err(|candidates| {
            if candidates.is_empty() {
                let keys: Vec<String> = keys.iter().cloned().collect();
                ApiError::no_rpc(&cx.schema_name, name, &keys)
            } else {
                let sigs: Vec<String> = candidates.iter().map(|f| f.signature()).collect();
                ApiError::ambiguous_rpc(&sigs)
            }
        })?;
    let func = match resolved {
        Resolved::Named(f) | Resolved::SingleUnnamed(f) => f,
    };
    let args = match (&resolved, &payload) {
        (Resolved::SingleUnnamed(f), Some(p)) => Args::Single {
            body: &p.raw,
            param: &f.params[0],
        },
        (_, Some(p)) => Args::Json {
            body: &p.raw,
            is_object: p.is_object,
            params: func
                .params
                .iter()
                .filter(|prm| keys.contains(&prm.name))
                .collect(),
        },
        (_, None) => {
            let mut values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for (k, v) in &qp.rpc_args {
                values.entry(k.as_str()).or_default().push(v.clone());
            }
            Args::Direct(
                func.params
                    .iter()
                    .filter_map(|prm| values.remove(prm.name.as_str()).map(|v| (prm, v)))
                    .collect(),
            )
        }
    };
    let head = *cx.method == Method::HEAD;
    let statement = sql::call(
        func,
        &Call {
            args,
            select: &qp.select,
            conditions: Conditions {
                filters: &qp.filters,
                logic: &qp.logic,
            },
            order: &qp.order,
            range,
            count: cx.prefs.counts(),
            single: cx.single,
            head,
        },
    )?;
    let read_only = *cx.method != Method::POST || !func.volatile;
    let outcome = cx
        .run(read_only, &statement, max_affected_check(cx))
        .await?;
    let void = matches!(
        func.returns,
        crate::schema::Returns::Scalar { void: true, .. }
    );
    let (status, content_range) = range::read_status(&range, outcome.page_total, outcome.total);
    let mut reply = Reply {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    };
    reply.header("content-range", content_range);
    if let Some(applied) = cx.prefs.applied(false, false, false, true) {
        reply.header("preference-applied", applied);
    }
    if void {
        reply.status = 204;
    } else if status == 416 {
        reply.header("content-type", JSON);
        reply.body = out_of_bounds(&range, outcome.total)
            .body()
            .to_string()
            .into_bytes();
    } else {
        cx.content_headers(&mut reply);
        if !head {
            reply.body = outcome.body.clone().into_bytes();
        }
    }
    apply_gucs(&mut reply, &outcome)?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(matches!(resource("/"), Ok(Resource::Root)));
        assert!(matches!(resource("/rest/v1"), Ok(Resource::Root)));
        assert!(matches!(resource("/items"), Ok(Resource::Table(t)) if t == "items"));
        assert!(
            matches!(resource("/rest/v1/my%20table"), Ok(Resource::Table(t)) if t == "my table")
        );
        assert!(
            matches!(resource("/rest/v1/rpc/claim"), Ok(Resource::Function(f)) if f == "claim")
        );
        assert!(matches!(resource("/rpc/claim"), Ok(Resource::Function(f)) if f == "claim"));
        assert!(resource("/a/b/c").is_err());
    }

    #[test]
    fn tokens_come_from_bearer_then_apikey() {
        let mut h = HeaderMap::new();
        h.insert("apikey", HeaderValue::from_static("key"));
        assert_eq!(token(&h).as_deref(), Some("key"));
        h.insert("authorization", HeaderValue::from_static("Bearer  tok"));
        assert_eq!(token(&h).as_deref(), Some("tok"));
        h.insert("authorization", HeaderValue::from_static("bearer"));
        assert_eq!(token(&h).as_deref(), Some(""));
    }

    #[test]
    fn payload_keys_must_match() {
        let h = HeaderMap::new();
        let p = |s: &'static str| payload(&Bytes::from_static(s.as_bytes()), &h, None, false);
        assert_eq!(p(r#"{"a":1,"b":2}"#).map(|p| p.keys.len()).ok(), Some(2));
        assert_eq!(
            p(r#"[{"a":1},{"a":2}]"#).map(|p| p.is_object).ok(),
            Some(false)
        );
        assert_eq!(
            p(r#"[{"a":1},{"b":2}]"#)
                .map(|_| ())
                .map_err(|e| e.message.clone()),
            Err("All object keys must match".to_owned())
        );
        assert_eq!(
            p("nope").map(|_| ()).map_err(|e| e.message.clone()),
            Err("Empty or invalid json".to_owned())
        );
        assert_eq!(p("5").map(|p| p.raw).ok().as_deref(), Some("[]"));
    }

    #[test]
    fn location_header() {
        assert_eq!(
            location("items", r#"[{"id": 7, "k": "a b"}]"#).as_deref(),
            Some("/items?id=eq.7&k=eq.a%20b")
        );
    }
}
