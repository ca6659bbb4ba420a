//! Batches: the `sms_batches` table.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::customer::check_text;
use crate::batch::{Amount, Purpose};
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{BatchState, PauseReason};
use crate::time::Timestamp;

/// A batch to create. Start from [`NewBatch::new`] and set what you need.
///
/// ```
/// use smsbatch::Purpose;
/// use smsbatch::store::NewBatch;
///
/// let mut batch = NewBatch::new(Purpose::Transactional);
/// batch.template_id = Some("order-shipped".into());
/// batch.idempotency_key = Some("order-42".into());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NewBatch {
    /// The id to give it; the store makes one when `None`.
    pub id: Option<Uuid>,
    /// The owning user; `None` means the acting user (no owner for the service).
    pub owner: Option<Uuid>,
    /// The team; `None` means the acting user's team (no team for the service).
    pub team_id: Option<String>,
    /// `requested` (a worker will prepare it) or `preparing` (the default: the caller prepares it).
    pub state: BatchState,
    /// Marketing or transactional.
    pub purpose: Purpose,
    /// The template it is sent with, by id.
    pub template_id: Option<String>,
    /// The template's body as it was when the batch was made.
    pub template_body: Option<String>,
    /// The sender (a number or an alphanumeric id).
    pub sender: Option<String>,
    /// The audience: a filter document.
    pub filter: Option<Value>,
    /// Sending options (a JSON object).
    pub options: Value,
    /// A key that makes creation idempotent: the same key (for the same owner) returns the batch
    /// it created first.
    pub idempotency_key: Option<String>,
    /// When to start sending.
    pub send_at: Option<Timestamp>,
    /// The most the batch may spend.
    pub budget: Option<Amount>,
    /// The currency of its costs and budget.
    pub currency: Option<String>,
}

impl NewBatch {
    /// A batch for `purpose`, `preparing`, with nothing else set.
    pub fn new(purpose: Purpose) -> Self {
        Self {
            id: None,
            owner: None,
            team_id: None,
            state: BatchState::Preparing,
            purpose,
            template_id: None,
            template_body: None,
            sender: None,
            filter: None,
            options: Value::Object(Map::new()),
            idempotency_key: None,
            send_at: None,
            budget: None,
            currency: None,
        }
    }
}

/// One row of `sms_batches` (JSON in camelCase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Batch {
    /// The id.
    pub id: Uuid,
    /// The owning user (none for the service's batches).
    pub owner: Option<Uuid>,
    /// The team.
    pub team_id: Option<String>,
    /// Where it is in its life.
    pub state: BatchState,
    /// Why it is paused, when it is.
    pub pause_reason: Option<PauseReason>,
    /// Marketing or transactional.
    pub purpose: Purpose,
    /// The template's id.
    pub template_id: Option<String>,
    /// The template's body when the batch was made.
    pub template_body: Option<String>,
    /// The sender.
    pub sender: Option<String>,
    /// The audience filter document.
    pub filter: Option<Value>,
    /// Sending options.
    pub options: Value,
    /// The idempotency key it was created with.
    pub idempotency_key: Option<String>,
    /// When to start sending.
    pub send_at: Option<Timestamp>,
    /// Progress (counts, rates, costs), as the sender last wrote it.
    pub progress: Value,
    /// The currency of its costs.
    pub currency: Option<String>,
    /// The most it may spend.
    pub budget: Option<Amount>,
    /// What claimed messages have reserved of the budget.
    pub budget_reserved: Amount,
    /// What it has spent.
    pub budget_spent: Amount,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it first started sending.
    pub started_at: Option<Timestamp>,
    /// When it ended (completed, cancelled or failed).
    pub completed_at: Option<Timestamp>,
}

/// The result of [`BatchStore::create`].
#[derive(Clone, Debug, PartialEq)]
pub struct CreatedBatch {
    /// The batch.
    pub batch: Batch,
    /// `false` when an earlier batch with the same idempotency key was returned instead.
    pub created: bool,
}

/// Which batches to list: by state (any when empty), in creation order (then id), oldest or
/// newest first, after a keyset cursor.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct BatchQuery {
    /// Only batches in these states (every state when empty).
    pub states: Vec<BatchState>,
    /// Only batches after this one in the listing's order: later in `(created_at, id)` order,
    /// or earlier with [`newest_first`](Self::newest_first()).
    pub after: Option<(Timestamp, Uuid)>,
    /// At most this many.
    pub limit: Option<u32>,
    /// Newest first (descending `(created_at, id)`): a screen of recent batches with a limit
    /// then shows the latest ones, however many there are.
    pub newest_first: bool,
}

impl BatchQuery {
    /// Every batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only batches in these states.
    pub fn states(mut self, states: impl IntoIterator<Item = BatchState>) -> Self {
        self.states = states.into_iter().collect();
        self
    }

    /// Only batches after `batch` in the listing's order (the next page's keyset cursor).
    pub fn after(mut self, batch: &Batch) -> Self {
        self.after = Some((batch.created_at, batch.id));
        self
    }

    /// At most `limit` batches.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Lists the newest batches first.
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }
}

/// The `sms_batches` table. A user sees and changes only its own batches.
#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Creates a batch, or returns the one created earlier with the same idempotency key and
    /// owner (`created` is then false).
    async fn create(&self, batch: &NewBatch, now: Timestamp) -> Result<CreatedBatch>;

    /// The batch, if the actor can see it.
    async fn get(&self, id: Uuid) -> Result<Option<Batch>>;

    /// The batches the query selects, in `(created_at, id)` order (descending with
    /// [`BatchQuery::newest_first()`]).
    async fn list(&self, query: &BatchQuery) -> Result<Vec<Batch>>;

    /// Moves the batch to `to` if its state machine allows it ([`BatchState::can_become`]);
    /// `reason` is required for (and only kept by) `paused`. Sets `startedAt` when it first
    /// sends and `completedAt` when it ends. [`ErrorKind::NotFound`] for a batch the actor cannot
    /// see, [`ErrorKind::InvalidTransition`] for a move the state machine refuses (a concurrent
    /// change included: the move is a compare-and-set).
    async fn transition(
        &self,
        id: Uuid,
        to: BatchState,
        reason: Option<PauseReason>,
        now: Timestamp,
    ) -> Result<Batch>;

    /// Replaces the batch's progress document.
    async fn set_progress(&self, id: Uuid, progress: &Value, now: Timestamp) -> Result<()>;

    /// Deletes the batch with its messages, exclusions and logs; `false` if the actor cannot
    /// see it.
    async fn delete(&self, id: Uuid) -> Result<bool>;
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput {
        message: message.into(),
    })
}

/// What every store checks before creating a batch.
pub(crate) fn check_new_batch(batch: &NewBatch) -> Result<()> {
    if !matches!(batch.state, BatchState::Requested | BatchState::Preparing) {
        return Err(invalid(format!(
            "a batch starts as requested or preparing, not {}",
            batch.state
        )));
    }
    if !batch.options.is_object() {
        return Err(invalid("batch options must be a JSON object"));
    }
    for (what, text) in [
        ("/teamId", &batch.team_id),
        ("/templateId", &batch.template_id),
        ("/templateBody", &batch.template_body),
        ("/sender", &batch.sender),
        ("/idempotencyKey", &batch.idempotency_key),
        ("/currency", &batch.currency),
    ] {
        if let Some(text) = text {
            check_text(text, what)?;
        }
    }
    for (what, doc) in [
        ("filter", batch.filter.as_ref()),
        ("options", Some(&batch.options)),
    ] {
        if doc.is_some_and(|d| d.to_string().contains("\\u0000")) {
            return Err(invalid(format!(
                "the batch {what} contains a NUL character, which PostgreSQL cannot store"
            )));
        }
    }
    Ok(())
}

/// What every store checks before a transition.
pub(crate) fn check_transition(to: BatchState, reason: Option<PauseReason>) -> Result<()> {
    if to == BatchState::Paused && reason.is_none() {
        return Err(invalid("pausing a batch needs a reason"));
    }
    Ok(())
}

/// The error for a transition that did not happen on a batch in state `from`.
pub(crate) fn refused(from: BatchState, to: BatchState) -> Error {
    Error::new(ErrorKind::InvalidTransition {
        from: from.to_string(),
        to: to.to_string(),
    })
}

/// The error for a batch the actor cannot see.
pub(crate) fn batch_not_found(id: Uuid) -> Error {
    Error::new(ErrorKind::NotFound {
        what: "batch".into(),
        id: id.to_string(),
    })
}
