//! The JSON API under `/api/` (documented in the README): every handler acts for the request's
//! user through the store's own rules (row-level security), and answers errors as
//! `{"error": {...}}` with the status of their kind.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::app::WebApp;
use super::error::ApiError;
use crate::analytics::{ExportFormat, ExportKind, Exporter, export};
use crate::batch::{Amount, Purpose, RecipientPreview};
use crate::error::{Error, ErrorKind};
use crate::filter::{
    AudiencePreset, Document, FilterOptions, Node, Query, SavedFilter, Visibility, import_saved,
};
use crate::queue::{BatchOptions, BatchState, MessageStatus};
use crate::segment::SegmentConfig;
use crate::send::{BatchRequest as SendRequest, BatchStatus, Preparer, TemplateChoice};
use crate::store::{
    Actor, Batch, BatchQuery, CustomerScan, Message, MessageQuery, MessageScan, Store, Uuid,
};
use crate::template::{Template, TemplateRecord};
use crate::time::Timestamp;

type AppState = State<Arc<WebApp>>;
type ApiResult<T = Json<Value>> = Result<T, ApiError>;

/// The largest page of customers one request returns (the page previews audiences up to this
/// size in the browser; past it the server's preview gives the totals).
pub(crate) const MAX_PAGE: u64 = 10_000;
/// Recipients a server preview lists by default, and at most.
const DEFAULT_SHOW: usize = 25;
const MAX_SHOW: usize = 1_000;

fn bad_input(message: impl Into<String>) -> ApiError {
    ApiError::new(Error::invalid_input(message))
}

/// Reads a JSON body; a malformed one is `invalidInput` naming what was expected.
fn body<T: DeserializeOwned>(bytes: &Bytes, what: &str) -> ApiResult<T> {
    if bytes.is_empty() {
        return Err(bad_input(format!("the request needs a JSON body: {what}")));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        bad_input(format!("invalid {what}{at}: {}", e.inner()))
    })
}

fn json_value<T: serde::Serialize>(value: &T) -> ApiResult {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| bad_input(format!("cannot serialise the response: {e}")))
}

/// The audience filter of a request: a node (`{"field": ...}`, `{"and": [...]}`) or a
/// document (`{"version": 1, "where": node}`); absent or null selects everyone.
fn audience(value: Option<&Value>) -> ApiResult<Option<Node>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) if v.get("version").is_some() => Ok(Some(Document::from_value(v)?.filter)),
        Some(v) => Ok(Some(Node::from_value(v)?)),
    }
}

// --- session, schema, configuration --------------------------------------------------------

pub(crate) async fn session(State(app): AppState, headers: HeaderMap) -> ApiResult {
    let (actor, _) = app.store_for(&headers)?;
    let (user, team, role) = match &actor {
        Actor::User(u) => (
            Some(u.id().to_string()),
            u.team_id().map(str::to_owned),
            "authenticated",
        ),
        Actor::Service => (None, None, "service"),
        Actor::Anonymous => (None, None, "anon"),
    };
    Ok(Json(json!({
        "user": user,
        "team": team,
        "role": role,
        "store": app.store_name,
        "now": app.now().to_string(),
    })))
}

pub(crate) async fn schema(State(app): AppState, headers: HeaderMap) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    json_value(store.customers.schema())
}

/// The preview configuration the page must use to compute exactly what the server does:
/// the server's prices and segment options, the suppression list, E.164-only phones.
async fn preview_config_for(app: &WebApp, store: &Store) -> ApiResult<crate::PreviewConfig> {
    let mut phones = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.suppressions.list(after.as_deref(), 1000).await?;
        let full = page.len() == 1000;
        after = page.last().map(|s| s.phone.clone());
        phones.extend(page.into_iter().map(|s| s.phone));
        if !full {
            break;
        }
    }
    Ok(app.preview.clone().e164_only(true).suppress(phones))
}

pub(crate) async fn preview_config(State(app): AppState, headers: HeaderMap) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    json_value(&preview_config_for(&app, &store).await?)
}

// --- templates -------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub(crate) struct TemplateSearch {
    #[serde(default)]
    q: Option<String>,
}

/// A template record with its metadata (variables, static-text encoding, minimum segments),
/// or the compile error of a stored body that does not compile.
fn with_metadata(record: &TemplateRecord) -> ApiResult {
    let mut value = serde_json::to_value(record)
        .map_err(|e| bad_input(format!("cannot serialise a template: {e}")))?;
    let segmenter = SegmentConfig::default().build();
    let meta = match Template::compile(&record.body) {
        Ok(t) => serde_json::to_value(t.metadata(&segmenter)).unwrap_or(Value::Null),
        Err(e) => json!({ "error": e }),
    };
    value["metadata"] = meta;
    Ok(Json(value))
}

pub(crate) async fn templates(
    State(app): AppState,
    headers: HeaderMap,
    UrlQuery(search): UrlQuery<TemplateSearch>,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    let found = match search.q.as_deref().map(str::trim) {
        Some(q) if !q.is_empty() => store.templates.search(q).await?,
        _ => store.templates.list().await?,
    };
    let mut out = Vec::with_capacity(found.len());
    for record in &found {
        out.push(with_metadata(record)?.0);
    }
    Ok(Json(Value::Array(out)))
}

pub(crate) async fn template(
    State(app): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    match store.templates.get(&id).await? {
        Some(record) => with_metadata(&record),
        None => Err(ApiError::not_found("template", &id)),
    }
}

// --- customers -------------------------------------------------------------------------------

fn filter_options(app: &WebApp) -> FilterOptions {
    FilterOptions::new().with_now(app.now())
}

/// A customer query from a body: the filter module's query (`where`, `search`, `sort`, `limit`,
/// `offset`, `after`, `count`), `where` being a node or a document.
fn query_from(bytes: &Bytes) -> ApiResult<Query> {
    let mut value: Value = body(bytes, "customer query (a JSON object)")?;
    let Some(obj) = value.as_object_mut() else {
        return Err(bad_input("the customer query must be a JSON object"));
    };
    let filter = audience(obj.remove("where").as_ref())?;
    let mut query: Query = serde_path_to_error::deserialize(&value).map_err(|e| {
        ApiError::new(Error::new(ErrorKind::InvalidQuery {
            path: format!("/{}", e.path())
                .replace("/.", "/")
                .replace('.', "/"),
            message: e.inner().to_string(),
        }))
    })?;
    query.filter = filter;
    match query.limit {
        None => query.limit = Some(50),
        Some(n) if n > MAX_PAGE => {
            return Err(ApiError::new(Error::new(ErrorKind::InvalidQuery {
                path: "/limit".into(),
                message: format!("a page holds at most {MAX_PAGE} customers"),
            })));
        }
        Some(_) => {}
    }
    Ok(query)
}

pub(crate) async fn customers_query(
    State(app): AppState,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    let query = query_from(&bytes)?;
    let page = store
        .customers
        .query(&query, &filter_options(&app), None)
        .await?;
    let rows: Vec<Value> = page.rows.iter().map(|c| c.to_flat()).collect();
    Ok(Json(json!({
        "rows": rows,
        "total": page.total,
        "next": page.next,
    })))
}

pub(crate) async fn customers_count(
    State(app): AppState,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    let request: Value = body(&bytes, "count request (`{\"where\": ...}`)")?;
    let query = Query {
        filter: audience(request.get("where"))?,
        search: request
            .get("search")
            .and_then(Value::as_str)
            .map(str::to_owned),
        limit: Some(1),
        count: true,
        ..Query::default()
    };
    let page = store
        .customers
        .query(&query, &filter_options(&app), None)
        .await?;
    Ok(Json(json!({ "count": page.total.unwrap_or(0) })))
}

pub(crate) async fn filter_presets(State(app): AppState) -> ApiResult {
    let now = app.now();
    let presets = [
        (
            "New customers (last 30 days)",
            AudiencePreset::NewCustomers { days: 30 },
        ),
        (
            "Reachable for marketing",
            AudiencePreset::Reachable {
                purpose: Purpose::Marketing,
            },
        ),
        (
            "Reachable for transactional messages",
            AudiencePreset::Reachable {
                purpose: Purpose::Transactional,
            },
        ),
        ("Opted in", AudiencePreset::OptedIn),
        ("Opted out", AudiencePreset::OptedOut),
        ("No phone", AudiencePreset::NoPhone),
        ("No order in 90 days", AudiencePreset::Inactive { days: 90 }),
        (
            "Spent 1,000 or more",
            AudiencePreset::BigSpenders { min_total: 1000.0 },
        ),
        (
            "Birthday this month",
            AudiencePreset::birthday_this_month(now, now.date().year() - 110, now.date().year()),
        ),
    ];
    let mut out = Vec::new();
    for (name, preset) in presets {
        out.push(json!({
            "key": preset.key(),
            "name": name,
            "preset": preset,
            "filter": preset.document()?.to_value(),
        }));
    }
    Ok(Json(Value::Array(out)))
}

// --- saved filters ---------------------------------------------------------------------------

/// A fresh id: time and per-process randomness (std's hasher keys), as text in UUID form. Not
/// a security token; the store refuses duplicates anyway.
fn fresh_id(now: Timestamp) -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = std::collections::hash_map::RandomState::new().hash_one((now, n));
    let high = (now.as_unix_micros() as u64 as u128) << 64;
    // Version 8 (custom) UUID bits, so it parses as a UUID wherever one is expected.
    let mut bits = high | u128::from(random ^ n);
    bits = (bits & !(0xF << 76)) | (0x8 << 76);
    bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    Uuid::from_u128(bits).to_string()
}

fn owner_of(actor: &Actor) -> ApiResult<String> {
    actor.user_id().map(|u| u.to_string()).ok_or_else(|| {
        ApiError::new(Error::invalid_input(
            "saved filters belong to a user: sign in (or start the server with --user ID)",
        ))
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SavedInput {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    filter: Option<Value>,
    #[serde(default)]
    visibility: Option<Visibility>,
}

fn saved_document(filter: &Value) -> ApiResult<Document> {
    // A bare node is accepted too and wrapped in a version-1 document.
    if filter.get("version").is_some() {
        Ok(Document::from_value(filter)?)
    } else {
        Ok(Document::new(Node::from_value(filter)?))
    }
}

pub(crate) async fn saved_list(State(app): AppState, headers: HeaderMap) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    json_value(&store.saved_filters.list().await?)
}

pub(crate) async fn saved_get(
    State(app): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    match store.saved_filters.get(&id).await? {
        Some(f) => json_value(&f),
        None => Err(ApiError::not_found("saved filter", &id)),
    }
}

pub(crate) async fn saved_create(
    State(app): AppState,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (actor, store) = app.store_for(&headers)?;
    let input: SavedInput = body(&bytes, "saved filter")?;
    let owner = owner_of(&actor)?;
    let now = app.now();
    let name = input
        .name
        .ok_or_else(|| bad_input("a saved filter needs a `name`"))?;
    let filter = input
        .filter
        .as_ref()
        .ok_or_else(|| bad_input("a saved filter needs a `filter`"))?;
    let mut saved = SavedFilter::new(fresh_id(now), name, owner, saved_document(filter)?, now);
    saved.description = input.description.unwrap_or_default();
    if let Some(v) = input.visibility {
        saved.visibility = v;
    }
    store.saved_filters.create(&saved, None).await?;
    Ok((StatusCode::CREATED, json_value(&saved)?))
}

pub(crate) async fn saved_update(
    State(app): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    let input: SavedInput = body(&bytes, "saved filter changes")?;
    let now = app.now();
    let mut saved = store
        .saved_filters
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("saved filter", &id))?;
    if let Some(name) = input.name {
        saved.rename(name, now);
    }
    if let Some(description) = input.description {
        saved.description = description;
    }
    if let Some(filter) = &input.filter {
        saved.set_filter(saved_document(filter)?, now);
    }
    if let Some(visibility) = input.visibility {
        saved.set_visibility(visibility, now);
    }
    store.saved_filters.update(&saved).await?;
    json_value(&saved)
}

pub(crate) async fn saved_delete(
    State(app): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (_, store) = app.store_for(&headers)?;
    if store.saved_filters.delete(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("saved filter", &id))
    }
}

pub(crate) async fn saved_export(State(app): AppState, headers: HeaderMap) -> ApiResult<Response> {
    let (_, store) = app.store_for(&headers)?;
    let file = store.saved_filters.export(app.now()).await?;
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| bad_input(format!("cannot serialise the export: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"saved-filters.json\"",
            ),
        ],
        text,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ImportMode {
    #[serde(default)]
    mode: Option<String>,
}

/// `?mode=restore` (the default) writes the filters as they are in the file (ids, owners,
/// visibility: a backup coming back; the store refuses filters of other owners);
/// `?mode=copy` makes each a new private filter of the acting user.
pub(crate) async fn saved_import(
    State(app): AppState,
    headers: HeaderMap,
    UrlQuery(mode): UrlQuery<ImportMode>,
    bytes: Bytes,
) -> ApiResult {
    let (actor, store) = app.store_for(&headers)?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| bad_input("the export file is not UTF-8 text"))?;
    let mut filters = import_saved(text, store.customers.schema())?;
    match mode.mode.as_deref().unwrap_or("restore") {
        "restore" => {}
        "copy" => {
            let owner = owner_of(&actor)?;
            let now = app.now();
            filters = filters
                .into_iter()
                .map(|f| {
                    let mut copy =
                        SavedFilter::new(fresh_id(now), f.name, owner.clone(), f.filter, now);
                    copy.description = f.description;
                    copy
                })
                .collect();
        }
        other => {
            return Err(bad_input(format!(
                "unknown import mode `{other}` (restore or copy)"
            )));
        }
    }
    let changes = store.saved_filters.import(&filters, None).await?;
    json_value(&changes)
}

// --- preview ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PreviewRequest {
    template: String,
    #[serde(default, rename = "where")]
    filter: Option<Value>,
    #[serde(default)]
    purpose: Purpose,
    #[serde(default)]
    show: Option<usize>,
}

/// The preview of a template for an audience, computed over the store's customers in the
/// default order (the order the page receives them in, so duplicate phones resolve alike).
pub(crate) async fn preview(State(app): AppState, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    let request: PreviewRequest = body(&bytes, "preview request")?;
    let show = request.show.unwrap_or(DEFAULT_SHOW);
    if show > MAX_SHOW {
        return Err(bad_input(format!(
            "`show` lists at most {MAX_SHOW} recipients"
        )));
    }
    let template = Template::compile(&request.template)?;
    let config = preview_config_for(&app, &store)
        .await?
        .purpose(request.purpose);
    let previewer = config.build(&template)?;
    let query = Query {
        filter: audience(request.filter.as_ref())?,
        ..Query::default()
    };
    let mut scan = CustomerScan::new(
        store.customers.clone(),
        query,
        filter_options(&app),
        None,
        1000,
    )?;
    let mut run = previewer.start();
    let mut shown: Vec<RecipientPreview> = Vec::new();
    while let Some(chunk) = scan.next_chunk().await? {
        for customer in chunk {
            let result = match run.push(&customer.to_flat()) {
                Ok(r) => r,
                Err(e) => run.push_error(e),
            };
            if shown.len() < show {
                shown.push(result);
            }
        }
    }
    let summary = run.finish();
    Ok(Json(json!({ "summary": summary, "recipients": shown })))
}

// --- batches ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BatchRequest {
    #[serde(default)]
    template_id: Option<String>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default, rename = "where")]
    filter: Option<Value>,
    #[serde(default)]
    purpose: Purpose,
    #[serde(default)]
    send_at: Option<Timestamp>,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    options: Option<Value>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// Creates a batch in state `requested`: the worker (inside `smsbatch serve`, or any
/// `smsbatch worker`) prepares its messages from the template and the audience and sends them.
pub(crate) async fn batch_create(
    State(app): AppState,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (_, store) = app.store_for(&headers)?;
    let request: BatchRequest = body(&bytes, "batch")?;
    // The body as it is now: from the request, else the stored template's.
    // The text to check now; a stored template's body is copied into the batch by the preparer.
    let (choice, body_text) = match (request.template, request.template_id) {
        // The stored template, unedited: the batch keeps its id.
        (Some(text), Some(id)) => match store.templates.get(&id).await? {
            Some(stored) if stored.body == text => (TemplateChoice::Id(id), text),
            _ => (TemplateChoice::Text(text.clone()), text),
        },
        (Some(text), None) => (TemplateChoice::Text(text.clone()), text),
        (None, Some(id)) => {
            let body = store
                .templates
                .get(&id)
                .await?
                .ok_or_else(|| ApiError::not_found("template", &id))?
                .body;
            (TemplateChoice::Id(id), body)
        }
        (None, None) => {
            return Err(bad_input(
                "a batch needs a `template` (its text) or a `templateId`",
            ));
        }
    };
    Template::compile(&body_text)?;
    let filter = audience(request.filter.as_ref())?.map(Document::new);
    if let Some(doc) = &filter {
        crate::filter::validate(
            &doc.to_value(),
            store.customers.schema(),
            &filter_options(&app),
        )?;
    }
    let mut options = request.options.unwrap_or_else(|| json!({}));
    let Some(object) = options.as_object_mut() else {
        return Err(ApiError::new(Error::new(ErrorKind::InvalidOptions {
            field: String::new(),
            message: "the batch options must be a JSON object".into(),
        })));
    };
    // The batch is billed with the prices its preview showed, unless the request names others.
    if !object.contains_key("price") {
        let config = serde_json::to_value(&app.preview)
            .map_err(|e| bad_input(format!("cannot serialise the prices: {e}")))?;
        object.insert("price".into(), config["prices"].clone());
    }
    let options = BatchOptions::from_json(&options.to_string())?;
    let mut send = SendRequest::new(
        choice,
        filter.map_or(Value::Null, |d| d.to_value()),
        request.purpose,
    )
    .options(options);
    if let Some(sender) = request.sender {
        send = send.sender(sender);
    }
    if let Some(key) = request.idempotency_key {
        send = send.idempotency_key(key);
    }
    if let Some(at) = request.send_at {
        send = send.send_at(at);
    }
    // A `requested` row: the worker (inside `smsbatch serve`, or any `smsbatch worker`)
    // prepares its messages from the template and the audience, then sends them.
    let created = Preparer::new().request(&store, &send, app.now()).await?;
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, json_value(&created.batch)?))
}

#[derive(Debug, Deserialize)]
pub(crate) struct BatchList {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    /// The last batch of the previous page: the next page lists the batches older than it.
    #[serde(default)]
    after: Option<String>,
}

fn batch_state(text: &str) -> ApiResult<BatchState> {
    serde_json::from_value(Value::String(text.to_owned())).map_err(|_| {
        bad_input(format!(
            "unknown batch state `{text}` ({})",
            BatchState::ALL
                .iter()
                .filter_map(|s| serde_json::to_value(s).ok())
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

pub(crate) async fn batches(
    State(app): AppState,
    headers: HeaderMap,
    UrlQuery(list): UrlQuery<BatchList>,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    // Newest first, so a limit keeps the latest batches however many there are; `after` pages
    // on to older ones.
    let mut query = BatchQuery::new()
        .newest_first()
        .limit(list.limit.unwrap_or(200).clamp(1, 1000));
    if let Some(after) = &list.after {
        query = query.after(&visible_batch(&store, batch_id(after)?).await?);
    }
    if let Some(states) = &list.state {
        let states = states
            .split(',')
            .map(|s| batch_state(s.trim()))
            .collect::<ApiResult<Vec<_>>>()?;
        query = query.states(states);
    }
    json_value(&store.batches.list(&query).await?)
}

fn batch_id(text: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found("batch", text))
}

async fn visible_batch(store: &Store, id: Uuid) -> ApiResult<Batch> {
    store
        .batches
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("batch", id))
}

/// A batch with its status (progress with fresh counts and money, rate, ETA, errors), its
/// messages counted by status and its exclusions by reason.
async fn batch_detail(store: &Store, batch: Batch) -> ApiResult {
    let status = BatchStatus::of(store, &batch).await?;
    let counts = status.progress.counts;
    let excluded = store.exclusions.count_by_reason(batch.id).await?;
    // What the messages handed to the provider cost so far: their estimates, and what the
    // provider charged for those it priced.
    let (mut estimated, mut charged, mut priced) =
        (Amount::from_nanos(0), Amount::from_nanos(0), 0);
    for group in store.messages.totals(batch.id).await? {
        if matches!(
            group.status,
            MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Undelivered
        ) {
            estimated = estimated
                .checked_add(group.estimated_cost)
                .ok_or_else(|| bad_input("the batch's cost overflows"))?;
            charged = charged
                .checked_add(group.price)
                .ok_or_else(|| bad_input("the batch's cost overflows"))?;
            priced += group.priced;
        }
    }
    Ok(Json(json!({
        "batch": batch,
        "status": status,
        "counts": counts,
        "excluded": excluded,
        "spent": {"estimated": estimated, "charged": charged, "priced": priced},
    })))
}

pub(crate) async fn batch(
    State(app): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    let batch = visible_batch(&store, batch_id(&id)?).await?;
    batch_detail(&store, batch).await
}

/// `pause`, `resume`, `cancel` (which also cancels the pending messages) and `retry-failed`
/// (requeues the failed messages another try may deliver), as `smsbatch batch` does them.
pub(crate) async fn batch_action(
    State(app): AppState,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    let id = batch_id(&id)?;
    let now = app.now();
    let batch = match action.as_str() {
        "pause" => crate::send::pause(&store, id, now).await?,
        "resume" => crate::send::resume(&store, id, now).await?,
        "cancel" => crate::send::cancel(&store, id, now).await?,
        "retry-failed" => {
            crate::send::retry_failed(&store, id, now).await?;
            visible_batch(&store, id).await?
        }
        other => {
            return Err(ApiError::not_found(
                "batch action (pause, resume, cancel or retry-failed)",
                other,
            ));
        }
    };
    batch_detail(&store, batch).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct MessageList {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    search: Option<String>,
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    limit: Option<u32>,
}

fn message_statuses(text: &str) -> ApiResult<Vec<MessageStatus>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            MessageStatus::ALL
                .into_iter()
                .find(|m| m.code() == s || m.as_sql() == s)
                .ok_or_else(|| bad_input(format!("unknown message status `{s}`")))
        })
        .collect()
}

/// Whether a message matches a free-text search: every term is contained, case-insensitively,
/// in its phone, body, customer id, provider id or error.
fn message_matches(message: &Message, terms: &[String]) -> bool {
    let haystack = format!(
        "{} {} {} {} {} {}",
        message.phone,
        message.body,
        message.customer_id,
        message.provider_id.as_deref().unwrap_or_default(),
        message.error_code.as_deref().unwrap_or_default(),
        message.error_message.as_deref().unwrap_or_default(),
    )
    .to_lowercase();
    terms.iter().all(|t| haystack.contains(t.as_str()))
}

/// The most messages one search reads before it answers with what it found (and the cursor
/// to go on from).
const SEARCH_SCAN: usize = 50_000;

pub(crate) async fn batch_messages(
    State(app): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    UrlQuery(list): UrlQuery<MessageList>,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    let id = batch_id(&id)?;
    visible_batch(&store, id).await?;
    let limit = list.limit.unwrap_or(50).clamp(1, 1000);
    let mut query = MessageQuery::new(id, limit);
    if let Some(s) = &list.status {
        query = query.statuses(message_statuses(s)?);
    }
    if let Some(after) = list.after {
        query = query.after(after);
    }
    let terms: Vec<String> = list
        .search
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    if terms.is_empty() {
        let rows = store.messages.list(&query).await?;
        let next = (rows.len() == limit as usize).then(|| rows.last().map(|m| m.id));
        return Ok(Json(json!({ "rows": rows, "next": next.flatten() })));
    }
    let mut found = Vec::new();
    let mut scanned = 0usize;
    let mut cursor = list.after;
    let mut page = query.clone();
    page.limit = 1000;
    loop {
        if let Some(after) = cursor {
            page = page.after(after);
        }
        let rows = store.messages.list(&page).await?;
        let full = rows.len() == 1000;
        for m in rows {
            scanned += 1;
            cursor = Some(m.id);
            if message_matches(&m, &terms) {
                found.push(m);
                if found.len() == limit as usize {
                    break;
                }
            }
        }
        if found.len() == limit as usize || !full || scanned >= SEARCH_SCAN {
            let more = found.len() == limit as usize || (full && scanned >= SEARCH_SCAN);
            return Ok(Json(json!({
                "rows": found,
                "next": if more { cursor } else { None },
            })));
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogList {
    /// Entries after this id (in append order); without it, the latest entries.
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    limit: Option<u32>,
}

/// A batch's log in append order: the latest `limit` entries (default 500, at most 1000), or
/// with `after` the entries that follow that id (paging forward).
pub(crate) async fn batch_logs(
    State(app): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    UrlQuery(list): UrlQuery<LogList>,
) -> ApiResult {
    const PAGE: u32 = 1000;
    let (_, store) = app.store_for(&headers)?;
    let id = batch_id(&id)?;
    visible_batch(&store, id).await?;
    let limit = list.limit.unwrap_or(500).clamp(1, 1000);
    if let Some(after) = list.after {
        return json_value(&store.logs.list(id, Some(after), limit).await?);
    }
    // The store pages forward only: read it through, keeping the last `limit` (a log holds
    // events, not messages, so this stays small).
    let mut latest = std::collections::VecDeque::with_capacity(limit as usize);
    let mut after = None;
    loop {
        let page = store.logs.list(id, after, PAGE).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|e| e.id);
        for entry in page {
            if latest.len() == limit as usize {
                latest.pop_front();
            }
            latest.push_back(entry);
        }
        if !full {
            break;
        }
    }
    json_value(&latest)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExportQuery {
    #[serde(default)]
    what: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// A batch's messages (default), log, excluded recipients or report as a download: CSV (cells
/// made spreadsheet-safe) or JSON lines, exactly as `smsbatch export` writes them.
pub(crate) async fn batch_export(
    State(app): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    UrlQuery(query): UrlQuery<ExportQuery>,
) -> ApiResult<Response> {
    let (_, store) = app.store_for(&headers)?;
    let id = batch_id(&id)?;
    let batch = visible_batch(&store, id).await?;
    let kind: ExportKind = query.what.as_deref().unwrap_or("messages").parse()?;
    let format: ExportFormat = query.format.as_deref().unwrap_or("csv").parse()?;
    let analyzer = matches!(kind, ExportKind::Report).then(|| app.analyzer(&batch));
    let body = stream_export(store, id, kind, format, analyzer, app.now());
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        _ => ("application/x-ndjson", "jsonl"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"batch-{}-{}.{extension}\"",
                    &id.to_string()[..8],
                    kind.code()
                ),
            ),
        ],
        body,
    )
        .into_response())
}

/// Rows an export reads from the store at a time, and hands to the response together.
const EXPORT_PAGE: u32 = 1000;

/// The buffer an [`Exporter`] writes into: shared with the task that takes what a page wrote
/// and hands it to the response, so it holds about one page at a time.
#[derive(Clone, Default)]
struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Bytes {
        // A panic while the lock was held leaves bytes, not a broken invariant: keep them.
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Bytes::from(std::mem::take(&mut *buf))
    }
}

impl std::io::Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The receiving end of an export's chunks, as the stream a response body reads.
struct ExportChunks(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl futures_core::Stream for ExportChunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Where an export's task hands its chunks; `Err` when the client stopped reading.
type ChunkSender = tokio::sync::mpsc::Sender<std::io::Result<Bytes>>;

/// Hands what the exporter wrote so far to the response (waiting while the client is slower:
/// the channel is bounded); false when the client went away.
async fn hand_over(tx: &ChunkSender, buf: &SharedBuf) -> bool {
    let chunk = buf.take();
    chunk.is_empty() || tx.send(Ok(chunk)).await.is_ok()
}

/// Writes the export a page of [`EXPORT_PAGE`] rows at a time, handing each page's bytes to the
/// response before reading the next: what `smsbatch export` writes (the library's
/// [`Exporter`]), with memory that does not grow with the batch.
async fn export_pages(
    store: &Store,
    id: Uuid,
    kind: ExportKind,
    format: ExportFormat,
    analyzer: Option<crate::analytics::BatchAnalyzer>,
    now: Timestamp,
    tx: &ChunkSender,
) -> Result<(), Error> {
    let buf = SharedBuf::default();
    let mut exporter = Exporter::new(buf.clone(), kind, format)?;
    match kind {
        ExportKind::Messages => {
            let mut scan =
                MessageScan::new(store.messages.clone(), MessageQuery::new(id, EXPORT_PAGE));
            while let Some(page) = scan.next_chunk().await? {
                for m in &page {
                    exporter.message(m)?;
                }
                if !hand_over(tx, &buf).await {
                    return Ok(());
                }
            }
        }
        ExportKind::Logs => {
            let mut after = None;
            loop {
                let page = store.logs.list(id, after, EXPORT_PAGE).await?;
                for e in &page {
                    exporter.log(e)?;
                }
                if !hand_over(tx, &buf).await {
                    return Ok(());
                }
                match page.last() {
                    Some(last) if page.len() == EXPORT_PAGE as usize => after = Some(last.id),
                    _ => break,
                }
            }
        }
        ExportKind::Excluded => {
            let mut after = None;
            loop {
                let page = store.exclusions.list(id, after, EXPORT_PAGE).await?;
                for e in &page {
                    exporter.exclusion(e)?;
                }
                if !hand_over(tx, &buf).await {
                    return Ok(());
                }
                match page.last() {
                    Some(last) if page.len() == EXPORT_PAGE as usize => after = Some(last.id),
                    _ => break,
                }
            }
        }
        // One analysis, a few lines: through the library's export as it is.
        _ => {
            let (_, bytes) = export(store, id, kind, format, Vec::new(), analyzer, now).await?;
            let _ = tx.send(Ok(Bytes::from(bytes))).await;
            return Ok(());
        }
    }
    exporter.finish()?;
    hand_over(tx, &buf).await;
    Ok(())
}

/// The export as a streamed body, written by a task of its own ([`export_pages`]). An error
/// part way (the store failing) ends the body with an error, so the client sees a broken
/// download rather than a short file that looks whole.
fn stream_export(
    store: Store,
    id: Uuid,
    kind: ExportKind,
    format: ExportFormat,
    analyzer: Option<crate::analytics::BatchAnalyzer>,
    now: Timestamp,
) -> axum::body::Body {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        if let Err(e) = export_pages(&store, id, kind, format, analyzer, now, &tx).await {
            eprintln!("smsbatch serve: export of batch {id}: {e}");
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    axum::body::Body::from_stream(ExportChunks(rx))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReportQuery {
    /// The length of the error trend's and the series' windows, in seconds (default 60).
    #[serde(default)]
    window: Option<u64>,
}

/// The longest window a report request may ask for: a day.
const MAX_WINDOW_SECONDS: u64 = 86_400;

/// The batch's analysis: the report (rates, throughput, latency, cost, errors, variants, and
/// the SLA objectives' status with their violations), the error trend per category and the
/// series (throughput and cumulative cost) in windows of `?window=` seconds, credits by slice,
/// the log summary.
pub(crate) async fn batch_report(
    State(app): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    UrlQuery(query): UrlQuery<ReportQuery>,
) -> ApiResult {
    let (_, store) = app.store_for(&headers)?;
    let batch = visible_batch(&store, batch_id(&id)?).await?;
    let mut analyzer = app.analyzer(&batch);
    if let Some(seconds) = query.window {
        if !(1..=MAX_WINDOW_SECONDS).contains(&seconds) {
            return Err(bad_input(format!(
                "`window` is a number of seconds from 1 to {MAX_WINDOW_SECONDS}, not {seconds}"
            )));
        }
        analyzer = analyzer.window(std::time::Duration::from_secs(seconds));
    }
    let analysis = analyzer.run(&store, app.now()).await?;
    json_value(&analysis)
}

pub(crate) async fn no_route(Path(rest): Path<String>) -> ApiError {
    ApiError::not_found("API route (see the README)", format!("/api/{rest}"))
}
