//! Batch creation and preparation: a request becomes a `preparing` batch, the audience is
//! streamed through the store and previewed chunk by chunk, and the messages and exclusions are
//! written in chunks; the batch becomes `scheduled` or `sending` (visible to workers) only when
//! every chunk is in.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::analytics::observe;
use crate::batch::{Amount, ExclusionReason, Previewer, Purpose, RecipientPreview, calling_code};
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{Document, Filter, FilterOptions, Node, Query};
use crate::flags::Engine;
use crate::queue::{BatchOptions, BatchState, MessageStatus, TemplateSource, VariantAssigner};
use crate::store::{
    Batch, CreatedBatch, CustomerScan, LogLevel, NewBatch, NewBatchLog, NewExclusion, NewMessage,
    Store,
};
use crate::template::Template;
use crate::time::Timestamp;

/// The template a batch is sent with: a stored template by id, or the text itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateChoice {
    /// A template of the store (its body is copied into the batch when it is created).
    Id(String),
    /// The handlebars text.
    Text(String),
}

/// A request for a batch: what `smsbatch batch create` reads from its flags.
///
/// ```
/// use serde_json::json;
/// use smsbatch::Purpose;
/// use smsbatch::send::{BatchRequest, TemplateChoice};
///
/// let request = BatchRequest::new(
///     TemplateChoice::Text("Hi {{first_name}}, your order has shipped".into()),
///     json!({"version": 1, "where": {"field": "city", "op": "equals", "value": "Leeds"}}),
///     Purpose::Transactional,
/// )
/// .sender("ACME")
/// .idempotency_key("shipped-2025-05-01");
/// assert_eq!(request.idempotency_key.as_deref(), Some("shipped-2025-05-01"));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BatchRequest {
    /// The template.
    pub template: TemplateChoice,
    /// The audience: a filter document (`{"version": 1, "where": ...}`) or a bare node, as
    /// `smsbatch filter` takes; `null` selects every customer.
    pub filter: Value,
    /// Marketing or transactional (which consent recipients need).
    pub purpose: Purpose,
    /// The sender (a number or an alphanumeric id).
    pub sender: Option<String>,
    /// The batch's options.
    pub options: BatchOptions,
    /// The same key (for the same owner) returns the batch it created first.
    pub idempotency_key: Option<String>,
    /// When to start sending (now when absent or past).
    pub send_at: Option<Timestamp>,
    /// The team whose customers are the audience (the service's batches); `None` for the acting
    /// user's team.
    pub team_id: Option<String>,
}

impl BatchRequest {
    /// A request with default options and no sender, key or schedule.
    pub fn new(template: TemplateChoice, filter: Value, purpose: Purpose) -> Self {
        Self {
            template,
            filter,
            purpose,
            sender: None,
            options: BatchOptions::default(),
            idempotency_key: None,
            send_at: None,
            team_id: None,
        }
    }

    /// The sender.
    pub fn sender(mut self, sender: impl Into<String>) -> Self {
        self.sender = Some(sender.into());
        self
    }

    /// The options.
    pub fn options(mut self, options: BatchOptions) -> Self {
        self.options = options;
        self
    }

    /// The idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// When to start sending.
    pub fn send_at(mut self, at: Timestamp) -> Self {
        self.send_at = Some(at);
        self
    }

    /// The audience's team.
    pub fn team(mut self, team_id: impl Into<String>) -> Self {
        self.team_id = Some(team_id.into());
        self
    }
}

/// A batch as `smsbatch batch create` prints it (JSON: `{"id", "state", "messages",
/// "excluded": {reason: n}, "segments", "estimatedCost", "currency"}`), read from the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BatchSummary {
    /// The batch's id.
    pub id: Uuid,
    /// Its state.
    pub state: BatchState,
    /// Its messages (one per included recipient).
    pub messages: u64,
    /// Recipients left out, by reason.
    pub excluded: BTreeMap<ExclusionReason, u64>,
    /// The messages' segments.
    pub segments: u64,
    /// Their estimated cost.
    pub estimated_cost: Amount,
    /// The currency of the cost.
    pub currency: String,
}

impl BatchSummary {
    /// Reads the summary of `batch` from the store.
    pub async fn load(store: &Store, batch: &Batch) -> Result<Self> {
        let totals = store.messages.totals(batch.id).await?;
        let excluded = store.exclusions.count_by_reason(batch.id).await?;
        let mut summary = Self {
            id: batch.id,
            state: batch.state,
            messages: 0,
            excluded,
            segments: 0,
            estimated_cost: Amount::ZERO,
            currency: batch_currency(batch),
        };
        for t in totals {
            summary.messages += t.messages;
            summary.segments += t.segments;
            summary.estimated_cost = summary
                .estimated_cost
                .checked_add(t.estimated_cost)
                .ok_or_else(|| {
                    Error::new(ErrorKind::AmountOverflow {
                        message: "the batch's estimated cost".into(),
                    })
                })?;
        }
        Ok(summary)
    }
}

/// The currency of a batch's costs: its own, else its price table's.
pub(crate) fn batch_currency(batch: &Batch) -> String {
    batch.currency.clone().unwrap_or_else(|| {
        batch_options(batch)
            .map(|o| o.price.currency().to_owned())
            .unwrap_or_else(|_| BatchOptions::default().price.currency().to_owned())
    })
}

/// A batch's options, read back from its row.
pub(crate) fn batch_options(batch: &Batch) -> Result<BatchOptions> {
    BatchOptions::from_json(&batch.options.to_string())
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput {
        message: message.into(),
    })
}

/// The node of a filter value (a document or a bare node); `None` for `null` (everyone).
fn filter_node(filter: &Value) -> Result<Option<Node>> {
    match filter {
        Value::Null => Ok(None),
        v if v.get("version").is_some() => Document::from_value(v).map(|d| Some(d.filter)),
        v => Node::from_value(v).map(Some),
    }
}

/// What a request becomes in the store, checked: the template found and compiled, the filter
/// valid against the store's schema, the options valid.
async fn new_batch(
    store: &Store,
    request: &BatchRequest,
    state: BatchState,
    now: Timestamp,
) -> Result<NewBatch> {
    request.options.validate()?;
    if !request.filter.is_null() {
        Filter::from_value(
            &request.filter,
            store.customers.schema(),
            // A filter relative to now (`withinLastDays`) is checked against the time of the
            // request; preparation evaluates it again at its own time.
            &FilterOptions::new().with_now(now),
        )?;
    }
    let (template_id, body) = match &request.template {
        TemplateChoice::Id(id) => {
            let record = store.templates.get(id).await?.ok_or_else(|| {
                Error::new(ErrorKind::NotFound {
                    what: "template".into(),
                    id: id.clone(),
                })
            })?;
            (Some(record.id), record.body)
        }
        TemplateChoice::Text(text) => (None, text.clone()),
    };
    Template::compile(&body)?;
    let mut batch = NewBatch::new(request.purpose);
    batch.state = state;
    batch.team_id = request.team_id.clone();
    batch.template_id = template_id;
    batch.template_body = Some(body);
    batch.sender = request.sender.clone();
    batch.filter = (!request.filter.is_null()).then(|| request.filter.clone());
    batch.options = serde_json::to_value(&request.options)
        .map_err(|e| invalid(format!("the batch options cannot be written: {e}")))?;
    batch.idempotency_key = request.idempotency_key.clone();
    batch.send_at = request.send_at;
    batch.budget = request.options.budget;
    batch.currency = Some(request.options.price.currency().to_owned());
    Ok(batch)
}

/// Creates a batch and prepares it at once (what `smsbatch batch create` does): the returned
/// summary is of a `scheduled` or `sending` batch. A request with an idempotency key already
/// used returns that batch's summary (preparing it first if an earlier run was interrupted);
/// nothing is created twice.
///
/// ```
/// use serde_json::json;
/// use smsbatch::{Purpose, Timestamp};
/// use smsbatch::queue::BatchState;
/// use smsbatch::send::{BatchRequest, Preparer, TemplateChoice};
/// use smsbatch::store::{Actor, Backend, Customer, MemoryStore};
///
/// # async fn demo() -> smsbatch::Result<()> {
/// let store = MemoryStore::new().store(Actor::Service)?;
/// let mut ana = Customer::new(1);
/// ana.first_name = Some("Ana".into());
/// ana.phone = Some("+447400123401".into());
/// let mut bo = Customer::new(2);
/// bo.phone = Some("+447400123402".into());
/// bo.opted_out = Some(true);
/// store.customers.upsert(&[ana, bo]).await?;
/// let now: Timestamp = "2025-05-01T09:00:00Z".parse().unwrap();
/// let request = BatchRequest::new(
///     TemplateChoice::Text("Hi {{first_name}}, your order has shipped".into()),
///     json!(null),
///     Purpose::Transactional,
/// )
/// .idempotency_key("shipped-1");
/// let summary = Preparer::new().create(&store, &request, now).await?;
/// assert_eq!((summary.state, summary.messages, summary.segments), (BatchState::Sending, 1, 1));
/// assert_eq!(serde_json::to_value(&summary.excluded).unwrap(), json!({"optedOut": 1}));
/// // The same key: the same batch.
/// let again = Preparer::new().create(&store, &request, now).await?;
/// assert_eq!(again.id, summary.id);
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Preparer {
    chunk: u32,
    stale_after: std::time::Duration,
}

impl Default for Preparer {
    fn default() -> Self {
        Self::new()
    }
}

impl Preparer {
    /// Customers read, previewed and written per round trip by default.
    pub const DEFAULT_CHUNK: u32 = 2_000;

    /// Chunks of [`Preparer::DEFAULT_CHUNK`]; a `preparing` batch untouched for 60 s is taken
    /// over (its preparer died).
    pub const fn new() -> Self {
        Self {
            chunk: Self::DEFAULT_CHUNK,
            stale_after: std::time::Duration::from_secs(60),
        }
    }

    /// Customers per chunk (at least 1): memory stays flat in the audience size, bounded by
    /// the chunk.
    pub const fn chunk(mut self, chunk: u32) -> Self {
        self.chunk = if chunk == 0 { 1 } else { chunk };
        self
    }

    /// How long a `preparing` batch may go untouched before another worker takes it over.
    pub const fn stale_after(mut self, after: std::time::Duration) -> Self {
        self.stale_after = after;
        self
    }

    /// Creates a batch from `request` and prepares it (see the type's example).
    pub async fn create(
        &self,
        store: &Store,
        request: &BatchRequest,
        now: Timestamp,
    ) -> Result<BatchSummary> {
        let new = new_batch(store, request, BatchState::Preparing, now).await?;
        let CreatedBatch { batch, created } = store.batches.create(&new, now).await?;
        if created {
            observe::batch_moved(batch.id, batch.state);
        }
        if created || matches!(batch.state, BatchState::Requested | BatchState::Preparing) {
            // A key reused while the first run was interrupted: finish what it started
            // (preparation is idempotent).
            return self.prepare_now(store, &batch, now).await;
        }
        BatchSummary::load(store, &batch).await
    }

    /// Inserts a `requested` batch (what a frontend does through Supabase): a worker prepares
    /// it. A reused idempotency key returns the existing batch (`created` false).
    pub async fn request(
        &self,
        store: &Store,
        request: &BatchRequest,
        now: Timestamp,
    ) -> Result<CreatedBatch> {
        let new = new_batch(store, request, BatchState::Requested, now).await?;
        let created = store.batches.create(&new, now).await?;
        if created.created {
            observe::batch_moved(created.batch.id, created.batch.state);
        }
        Ok(created)
    }

    /// Prepares a `requested` batch, or a `preparing` one whose preparer stopped (untouched for
    /// [`Preparer::stale_after`]); returns `None` when another worker is preparing it or it
    /// was prepared already. What a worker calls for each batch waiting to be prepared.
    pub async fn prepare_due(
        &self,
        store: &Store,
        batch: &Batch,
        now: Timestamp,
    ) -> Result<Option<BatchSummary>> {
        match batch.state {
            BatchState::Requested => {
                match store
                    .batches
                    .transition(batch.id, BatchState::Preparing, None, now)
                    .await
                {
                    Ok(b) => {
                        observe::batch_moved(b.id, b.state);
                        self.prepare_now(store, &b, now).await.map(Some)
                    }
                    // Another worker took it.
                    Err(e) if e.kind().code() == "invalidTransition" => Ok(None),
                    Err(e) => Err(e),
                }
            }
            BatchState::Preparing if batch.updated_at.saturating_add(self.stale_after) <= now => {
                self.prepare_now(store, batch, now).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Prepares the batch now, whatever its state says: a `requested` one is moved to
    /// `preparing` first; a batch past preparation only gets its summary.
    async fn prepare_now(
        &self,
        store: &Store,
        batch: &Batch,
        now: Timestamp,
    ) -> Result<BatchSummary> {
        let batch = match batch.state {
            BatchState::Requested => {
                let b = store
                    .batches
                    .transition(batch.id, BatchState::Preparing, None, now)
                    .await?;
                observe::batch_moved(b.id, b.state);
                b
            }
            BatchState::Preparing => batch.clone(),
            _ => return BatchSummary::load(store, batch).await,
        };
        match self.fill(store, &batch, now).await {
            Ok(()) => {}
            Err(e) => {
                // A batch that cannot be prepared (a missing variable under `"missing":
                // "fail"`, a template gone, bad options) fails, with the reason in its log;
                // a store error leaves it preparing, to be taken over.
                if is_batch_error(&e) {
                    let log = NewBatchLog::new(LogLevel::Error, "prepareFailed", e.to_string())
                        .data(json!({ "error": e }));
                    let _ = store.logs.append(batch.id, &[log], now).await;
                    if let Ok(b) = store
                        .batches
                        .transition(batch.id, BatchState::Failed, None, now)
                        .await
                    {
                        observe::batch_moved(b.id, b.state);
                    }
                }
                return Err(e);
            }
        }
        let ready = match batch.send_at {
            Some(at) if at > now => BatchState::Scheduled,
            _ => BatchState::Sending,
        };
        let batch = match store.batches.transition(batch.id, ready, None, now).await {
            Ok(b) => {
                observe::batch_moved(b.id, b.state);
                b
            }
            // Another preparer of the same batch (a takeover) finished first.
            Err(e) if e.kind().code() == "invalidTransition" => {
                store.batches.get(batch.id).await?.ok_or_else(|| {
                    Error::new(ErrorKind::NotFound {
                        what: "batch".into(),
                        id: batch.id.to_string(),
                    })
                })?
            }
            Err(e) => return Err(e),
        };
        let summary = BatchSummary::load(store, &batch).await?;
        let log = NewBatchLog::new(
            LogLevel::Info,
            "prepared",
            format!(
                "{} messages, {} recipients left out",
                summary.messages,
                summary.excluded.values().sum::<u64>()
            ),
        )
        .data(serde_json::to_value(&summary).unwrap_or(Value::Null));
        store.logs.append(batch.id, &[log], now).await?;
        Ok(summary)
    }

    /// Streams the audience and writes the messages and exclusions, chunk by chunk.
    async fn fill(&self, store: &Store, batch: &Batch, now: Timestamp) -> Result<()> {
        let options = batch_options(batch)?;
        let body = match (&batch.template_body, &batch.template_id) {
            (Some(body), _) => body.clone(),
            (None, Some(id)) => {
                store
                    .templates
                    .get(id)
                    .await?
                    .ok_or_else(|| {
                        Error::new(ErrorKind::NotFound {
                            what: "template".into(),
                            id: id.clone(),
                        })
                    })?
                    .body
            }
            (None, None) => return Err(invalid("the batch has no template")),
        };
        let config = options.preview_config().purpose(batch.purpose);
        let main = config.clone().build(&Template::compile(&body)?)?;
        // A/B variants: one previewer per variant template; the flag decides who gets which.
        let mut variant_previewers: BTreeMap<String, Previewer> = BTreeMap::new();
        let mut engine = None;
        // The kill switch exists from the start, off, so an operator can find and enable it.
        if let Some(flag) = &options.kill_switch {
            store.flags.ensure(std::slice::from_ref(flag), now).await?;
        }
        if let Some(variants) = &options.variants {
            store
                .flags
                .ensure(std::slice::from_ref(&variants.flag), now)
                .await?;
            engine = Some(Engine::compile(&store.flags.load().await?));
            for (name, source) in &variants.templates {
                let text = match source {
                    TemplateSource::Text(text) => text.clone(),
                    TemplateSource::Id(id) => {
                        store
                            .templates
                            .get(id)
                            .await?
                            .ok_or_else(|| {
                                Error::new(ErrorKind::NotFound {
                                    what: "template".into(),
                                    id: id.clone(),
                                })
                            })?
                            .body
                    }
                };
                variant_previewers.insert(
                    name.clone(),
                    config.clone().build(&Template::compile(&text)?)?,
                );
            }
        }
        let mut main_run = main.start();
        let mut runs: BTreeMap<&str, crate::batch::PreviewRun<'_>> = variant_previewers
            .iter()
            .map(|(name, p)| (name.as_str(), p.start()))
            .collect();
        let assigner = match (&options.variants, &engine) {
            (Some(v), Some(e)) => Some(VariantAssigner::new(e, v, now)),
            _ => None,
        };
        // Across variant runs a phone may repeat (each run only sees its own): 8 bytes per
        // included number, as the preview's own duplicate check.
        let mut seen: HashSet<u64> = HashSet::new();
        let query = Query {
            filter: filter_node(batch.filter.as_ref().unwrap_or(&Value::Null))?,
            ..Query::default()
        };
        let filter_options = FilterOptions::new().with_now(now);
        let mut scan = CustomerScan::new(
            store.customers.clone(),
            query,
            filter_options,
            batch.team_id.clone(),
            self.chunk,
        )?;
        let mut failed_rows = 0u64;
        let mut written = 0u64;
        while let Some(chunk) = scan.next_chunk().await? {
            let mut messages: Vec<NewMessage> = Vec::with_capacity(chunk.len());
            let mut exclusions: Vec<NewExclusion> = Vec::new();
            let mut failures: Vec<NewBatchLog> = Vec::new();
            for customer in &chunk {
                let row = customer.to_flat();
                let (variant, run) = match &assigner {
                    Some(a) => {
                        let assignment = a.assign(&customer.id.to_string());
                        let run = if assignment.template.is_some() {
                            runs.get_mut(assignment.variant.as_str())
                        } else {
                            None
                        };
                        (Some(assignment.variant), run)
                    }
                    None => (None, None),
                };
                let result = match run {
                    Some(run) => run.push(&row)?,
                    None => main_run.push(&row)?,
                };
                match result {
                    RecipientPreview::Included(r) => {
                        if assigner.is_some() && !seen.insert(phone_key(&r.phone)) {
                            let mut e = NewExclusion::new(
                                customer.id,
                                ExclusionReason::DuplicatePhone,
                                "an earlier recipient has the same number",
                            );
                            e.phone = customer.phone.clone();
                            exclusions.push(e);
                            continue;
                        }
                        let country = calling_code(&r.phone).map(str::to_owned);
                        let mut m = NewMessage::new(customer.id, r.phone, r.text, r.encoding);
                        m.country_code = country;
                        m.segments = r.segments;
                        m.estimated_cost = r.cost;
                        m.variant = variant;
                        m.time_zone = customer
                            .attributes
                            .get("time_zone")
                            .and_then(Value::as_str)
                            .filter(|z| !z.trim().is_empty())
                            .map(str::to_owned);
                        messages.push(m);
                    }
                    RecipientPreview::Excluded(r) => {
                        let mut e = NewExclusion::new(customer.id, r.reason, r.detail);
                        e.phone = customer.phone.clone();
                        exclusions.push(e);
                    }
                    RecipientPreview::Failed(r) => {
                        failed_rows += 1;
                        if failed_rows <= 100 {
                            failures.push(
                                NewBatchLog::new(
                                    LogLevel::Warn,
                                    "recipientFailed",
                                    format!(
                                        "customer {} left out: {}",
                                        customer.id,
                                        Error::new(r.error.clone())
                                    ),
                                )
                                .data(json!({
                                    "customerId": customer.id,
                                    "error": Error::new(r.error),
                                })),
                            );
                        }
                    }
                }
            }
            // The suppression list: numbers that must never get a text.
            if !messages.is_empty() {
                let phones: Vec<String> = messages.iter().map(|m| m.phone.clone()).collect();
                let suppressed: HashSet<String> = store
                    .suppressions
                    .check(&phones)
                    .await?
                    .into_iter()
                    .collect();
                if !suppressed.is_empty() {
                    messages.retain(|m| {
                        if suppressed.contains(&m.phone) {
                            let mut e = NewExclusion::new(
                                m.customer_id,
                                ExclusionReason::OptedOut,
                                "the number is on the suppression list",
                            );
                            e.phone = Some(m.phone.clone());
                            exclusions.push(e);
                            false
                        } else {
                            true
                        }
                    });
                }
            }
            if !messages.is_empty() {
                let inserted = store.messages.insert(batch.id, &messages, now).await?;
                observe::messages_moved(Some(batch.id), MessageStatus::Pending, inserted);
            }
            if !exclusions.is_empty() {
                store.exclusions.insert(batch.id, &exclusions, now).await?;
            }
            if !failures.is_empty() {
                store.logs.append(batch.id, &failures, now).await?;
            }
            written += chunk.len() as u64;
            // Touches the batch, so other workers see this preparation is alive.
            store
                .batches
                .set_progress(
                    batch.id,
                    &json!({ "preparing": { "customers": written } }),
                    now,
                )
                .await?;
        }
        if failed_rows > 0 {
            let log = NewBatchLog::new(
                LogLevel::Warn,
                "recipientsFailed",
                format!("{failed_rows} customers could not be previewed and were left out"),
            )
            .data(json!({ "count": failed_rows }));
            store.logs.append(batch.id, &[log], now).await?;
        }
        Ok(())
    }
}

/// Whether a preparation error is the batch's own (it can never be prepared as it is: the batch
/// fails), not the store's (a lost connection: another try may succeed).
fn is_batch_error(e: &Error) -> bool {
    !(e.is_transient()
        || matches!(
            e.kind(),
            ErrorKind::Database { .. } | ErrorKind::PermissionDenied { .. } | ErrorKind::Io { .. }
        ))
}

/// A phone number's key for the cross-variant duplicate check.
fn phone_key(phone: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    phone.hash(&mut h);
    h.finish()
}
