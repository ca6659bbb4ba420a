//! Messages: the `sms_batch_messages` table and the queue operations on it (claim with a lease,
//! fenced transitions, rescue of expired leases).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::customer::check_text;
use crate::batch::Amount;
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{ErrorCategory, MessageStatus, Price, StatusCounts};
use crate::segment::Encoding;
use crate::time::Timestamp;

/// A message to insert into a batch (one per included recipient), `pending` from `run_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NewMessage {
    /// The customer's id.
    pub customer_id: i64,
    /// The number in E.164.
    pub phone: String,
    /// The sender, when it is not the batch's.
    pub sender: Option<String>,
    /// The country calling code of `phone` (`"44"`).
    pub country_code: Option<String>,
    /// The rendered text.
    pub body: String,
    /// Its encoding.
    pub encoding: Encoding,
    /// Segments billed.
    pub segments: u32,
    /// The estimated cost.
    pub estimated_cost: Amount,
    /// The A/B template variant it was rendered with.
    pub variant: Option<String>,
    /// The customer's IANA time zone, for send windows.
    pub time_zone: Option<String>,
    /// Attempts allowed (the batch's option when `None`).
    pub max_attempts: Option<u32>,
    /// When it may be sent first (the insert's `now` when `None`).
    pub run_at: Option<Timestamp>,
}

impl NewMessage {
    /// A message to `phone` for customer `customer_id` with this text; the other fields empty,
    /// one segment at no cost.
    pub fn new(
        customer_id: i64,
        phone: impl Into<String>,
        body: impl Into<String>,
        encoding: Encoding,
    ) -> Self {
        Self {
            customer_id,
            phone: phone.into(),
            sender: None,
            country_code: None,
            body: body.into(),
            encoding,
            segments: 1,
            estimated_cost: Amount::ZERO,
            variant: None,
            time_zone: None,
            max_attempts: None,
            run_at: None,
        }
    }
}

/// One row of `sms_batch_messages` (JSON in camelCase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Message {
    /// The id (increasing in insertion order).
    pub id: i64,
    /// Its batch.
    pub batch_id: Uuid,
    /// The customer's id.
    pub customer_id: i64,
    /// The number in E.164.
    pub phone: String,
    /// The sender, when it is not the batch's.
    pub sender: Option<String>,
    /// The country calling code of `phone`.
    pub country_code: Option<String>,
    /// The rendered text.
    pub body: String,
    /// Its encoding.
    pub encoding: Encoding,
    /// Segments billed (estimated).
    pub segments: u32,
    /// The estimated cost.
    pub estimated_cost: Amount,
    /// The A/B template variant.
    pub variant: Option<String>,
    /// The customer's IANA time zone.
    pub time_zone: Option<String>,
    /// Where it is in the state machine.
    pub status: MessageStatus,
    /// The token of the claim holding it (while `processing`).
    pub claim_token: Option<Uuid>,
    /// When that claim's lease ends.
    pub lease_expires_at: Option<Timestamp>,
    /// Claims so far.
    pub attempts: u32,
    /// Attempts allowed (the batch's option when `None`).
    pub max_attempts: Option<u32>,
    /// When it may be claimed.
    pub run_at: Timestamp,
    /// When it was last claimed.
    pub claimed_at: Option<Timestamp>,
    /// When the provider was about to be called, in the current claim.
    pub send_started_at: Option<Timestamp>,
    /// When the provider accepted it.
    pub accepted_at: Option<Timestamp>,
    /// When delivery was confirmed.
    pub delivered_at: Option<Timestamp>,
    /// The provider's id for it.
    pub provider_id: Option<String>,
    /// The provider's last status word.
    pub provider_status: Option<String>,
    /// Segments the provider reported.
    pub provider_segments: Option<u32>,
    /// The category of the last failure.
    pub error_category: Option<ErrorCategory>,
    /// The provider's error code.
    pub error_code: Option<String>,
    /// The failure's description.
    pub error_message: Option<String>,
    /// What the provider charged.
    pub price: Option<Amount>,
    /// The currency of `price`.
    pub price_currency: Option<String>,
    /// Verification passes done on it while `sent` ([`MessageStore::record_check`]).
    #[serde(default)]
    pub verified: u32,
    /// When it was last verified.
    #[serde(default)]
    pub verified_at: Option<Timestamp>,
    /// No check with the provider before this time: a check's lease, or when the next is due.
    #[serde(default)]
    pub check_after: Option<Timestamp>,
    /// When it was inserted.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A request to claim messages: up to `limit` pending messages whose `run_at` has come, of
/// `sending` batches (one batch, or any), held under `token` until `now + lease`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Claim {
    /// Only this batch's messages (any sending batch's when `None`).
    pub batch_id: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
    /// The claim token every later update must present.
    pub token: Uuid,
    /// How long the claim holds.
    pub lease: Duration,
    /// The current time.
    pub now: Timestamp,
    /// Only messages after this `(run_at, id)` in the queue's order (see [`Claim::after`]).
    pub after: Option<(Timestamp, i64)>,
    /// Record the claimed messages' sends as started in the claim itself (see
    /// [`Claim::start_sends`]).
    pub start_sends: bool,
}

impl Claim {
    /// Claims up to `limit` messages of any sending batch.
    pub fn new(limit: u32, token: Uuid, lease: Duration, now: Timestamp) -> Self {
        Self {
            batch_id: None,
            limit,
            token,
            lease,
            now,
            after: None,
            start_sends: false,
        }
    }

    /// Only messages of this batch.
    pub fn batch(mut self, batch_id: Uuid) -> Self {
        self.batch_id = Some(batch_id);
        self
    }

    /// Only messages after the one due at `run_at` with this id, in the queue's order
    /// (`run_at`, then id): where the claimer's last claim ended. A database queue keeps an
    /// entry for every claimed message until it is vacuumed, so a claim from the head of a
    /// large batch steps over every claim before it; one that starts where the last ended does
    /// not. Messages before that point (given back, rescued) are not taken by such a claim:
    /// the claimer must also claim from the head now and then.
    pub fn after(mut self, run_at: Timestamp, id: i64) -> Self {
        self.after = Some((run_at, id));
        self
    }

    /// Records the claimed messages' sends as started (`send_started_at = now`) in the claim's
    /// own write, for a claimer that calls the provider at once, with nothing (a rate limit, a
    /// send window) that could hold a message back in between: one write less per message. A
    /// claim that then expires makes its messages in doubt rather than pending, and such claims
    /// cannot be given back with `release`; so use it only when an in-doubt message the
    /// provider never got is sent again (the runner does when the batch's in-doubt policy
    /// resends, or reconciles through a sender that [can find](crate::queue::Sender::can_find)
    /// messages), never where it would be marked failed.
    pub fn start_sends(mut self) -> Self {
        self.start_sends = true;
        self
    }
}

/// What a fenced update requires to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// The message is `processing` under this claim token.
    Claim(Uuid),
    /// The message is in this status (for changes outside a claim: verification, status
    /// callbacks, reconciliation, cancellation).
    Status(MessageStatus),
}

/// A category, code and description of a failure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageError {
    /// The category (what the queue does about it).
    pub category: Option<ErrorCategory>,
    /// The provider's code.
    pub code: Option<String>,
    /// A description.
    pub message: Option<String>,
}

/// A move of one message to a new status, with what to record. Fields left `None` keep their
/// value. `acceptedAt` is set when the message first becomes sent, delivered or undelivered,
/// `deliveredAt` when it becomes delivered; leaving `processing` ends the claim.
///
/// ```
/// use smsbatch::queue::MessageStatus;
/// use smsbatch::store::Transition;
///
/// let sent = Transition::sent("SM123").provider_status("queued");
/// assert_eq!(sent.status, MessageStatus::Sent);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// The new status.
    pub status: MessageStatus,
    /// When it may be claimed again (a retry).
    pub run_at: Option<Timestamp>,
    /// The provider's id.
    pub provider_id: Option<String>,
    /// The provider's status word.
    pub provider_status: Option<String>,
    /// Segments the provider reported.
    pub provider_segments: Option<u32>,
    /// The failure.
    pub error: MessageError,
    /// What the provider charged.
    pub price: Option<Price>,
}

impl Transition {
    /// A move to `status` recording nothing else.
    pub fn to(status: MessageStatus) -> Self {
        Self {
            status,
            run_at: None,
            provider_id: None,
            provider_status: None,
            provider_segments: None,
            error: MessageError::default(),
            price: None,
        }
    }

    /// Accepted by the provider under `provider_id`.
    pub fn sent(provider_id: impl Into<String>) -> Self {
        let mut t = Self::to(MessageStatus::Sent);
        t.provider_id = Some(provider_id.into());
        t
    }

    /// Back to pending, to be claimed again at `run_at`.
    pub fn retry(run_at: Timestamp) -> Self {
        let mut t = Self::to(MessageStatus::Pending);
        t.run_at = Some(run_at);
        t
    }

    /// Failed for good, in `category`.
    pub fn failed(category: ErrorCategory) -> Self {
        Self::to(MessageStatus::Failed).category(category)
    }

    /// The send may have reached the provider; it will be reconciled.
    pub fn in_doubt() -> Self {
        Self::to(MessageStatus::InDoubt).category(ErrorCategory::InDoubt)
    }

    /// Records the provider's status word.
    pub fn provider_status(mut self, status: impl Into<String>) -> Self {
        self.provider_status = Some(status.into());
        self
    }

    /// Records the provider's id.
    pub fn provider_id(mut self, id: impl Into<String>) -> Self {
        self.provider_id = Some(id.into());
        self
    }

    /// Records the segments the provider reported.
    pub fn provider_segments(mut self, segments: u32) -> Self {
        self.provider_segments = Some(segments);
        self
    }

    /// Records the failure's category.
    pub fn category(mut self, category: ErrorCategory) -> Self {
        self.error.category = Some(category);
        self
    }

    /// Records the provider's error code.
    pub fn error_code(mut self, code: impl Into<String>) -> Self {
        self.error.code = Some(code.into());
        self
    }

    /// Records a description of the failure.
    pub fn error_message(mut self, message: impl Into<String>) -> Self {
        self.error.message = Some(message.into());
        self
    }

    /// Records what the provider charged.
    pub fn price(mut self, amount: Amount, currency: impl Into<String>) -> Self {
        self.price = Some(Price::new(amount, currency));
        self
    }
}

/// Which checks with the provider a [`CheckClaim`] takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// Verification pass `pass` (from 1) of `sent` messages: those with fewer passes done.
    Verify {
        /// The pass.
        pass: u32,
    },
    /// Reconciliation of `in_doubt` messages.
    Reconcile,
}

/// A request to claim a batch's messages for a check with the provider
/// ([`MessageStore::claim_checks`]): messages of the kind whose check is due (accepted, or for
/// in-doubt ones started, at or before `due`) and not leased by another check. Each claimed
/// message's `checkAfter` becomes `now + lease`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CheckClaim {
    /// The batch.
    pub batch_id: Uuid,
    /// Which checks.
    pub kind: CheckKind,
    /// Only messages accepted (verification) or whose send started (reconciliation) at or
    /// before this time.
    pub due: Timestamp,
    /// At most this many.
    pub limit: u32,
    /// How long the check holds the messages.
    pub lease: Duration,
    /// The current time.
    pub now: Timestamp,
}

impl CheckClaim {
    /// Claims up to `limit` messages of `batch_id` for `kind` checks due by `due`.
    pub fn new(
        batch_id: Uuid,
        kind: CheckKind,
        due: Timestamp,
        limit: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Self {
        Self {
            batch_id,
            kind,
            due,
            limit,
            lease,
            now,
        }
    }
}

/// What [`MessageStore::claim_checks`] returns.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Checks {
    /// The messages claimed for checking, in id order.
    pub messages: Vec<Message>,
    /// The batch's messages that still need a check of that kind (those just claimed, those
    /// not yet due and those another worker is checking): zero means the kind is done.
    pub outstanding: u64,
}

/// What a check that left the message in its status found ([`MessageStore::record_check`]).
/// Fields left `None` keep their value.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct CheckResult {
    /// The verification pass now done (never lowers the count).
    pub verified: Option<u32>,
    /// The provider's status word.
    pub provider_status: Option<String>,
    /// Segments the provider reported.
    pub provider_segments: Option<u32>,
    /// What the provider charged.
    pub price: Option<Price>,
    /// When the next check may be made: `Some(None)` clears it, `None` keeps it.
    pub check_after: Option<Option<Timestamp>>,
}

impl CheckResult {
    /// Nothing recorded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Verification pass `pass` is done.
    pub fn verified(mut self, pass: u32) -> Self {
        self.verified = Some(pass);
        self
    }

    /// The provider's status word.
    pub fn provider_status(mut self, status: impl Into<String>) -> Self {
        self.provider_status = Some(status.into());
        self
    }

    /// The segments the provider reported.
    pub fn provider_segments(mut self, segments: u32) -> Self {
        self.provider_segments = Some(segments);
        self
    }

    /// What the provider charged.
    pub fn price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }

    /// No check before `at` (`None`: whenever a check is due).
    pub fn check_after(mut self, at: Option<Timestamp>) -> Self {
        self.check_after = Some(at);
        self
    }
}

/// One group of [`MessageStore::totals`]: a batch's messages of one status and variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MessageTotals {
    /// The status.
    pub status: MessageStatus,
    /// The A/B variant (`None` for a batch without variants).
    pub variant: Option<String>,
    /// How many messages.
    pub messages: u64,
    /// Their estimated segments.
    pub segments: u64,
    /// The segments the provider reported (for those where it did).
    pub provider_segments: u64,
    /// Their estimated cost.
    pub estimated_cost: Amount,
    /// What the provider charged (for those priced).
    pub price: Amount,
    /// How many are priced.
    pub priced: u64,
}

impl MessageTotals {
    /// An empty group.
    pub fn new(status: MessageStatus, variant: Option<String>) -> Self {
        Self {
            status,
            variant,
            messages: 0,
            segments: 0,
            provider_segments: 0,
            estimated_cost: Amount::ZERO,
            price: Amount::ZERO,
            priced: 0,
        }
    }
}

/// What [`MessageStore::requeue_failed`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Requeued {
    /// Messages back to pending.
    pub requeued: u64,
    /// The batch's state afterwards (a completed or verifying batch sends again when some
    /// message was requeued).
    pub state: crate::queue::BatchState,
}

/// What a rescue of expired leases did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rescued {
    /// Claims whose send never started, back to pending.
    pub pending: u64,
    /// Claims whose send started, now in doubt.
    pub in_doubt: u64,
}

/// Which of a batch's messages to list: in id order, after an id (keyset), by status.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MessageQuery {
    /// The batch.
    pub batch_id: Uuid,
    /// Only these statuses (every status when empty).
    pub statuses: Vec<MessageStatus>,
    /// Only ids greater than this.
    pub after: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

impl MessageQuery {
    /// The first `limit` messages of a batch.
    pub fn new(batch_id: Uuid, limit: u32) -> Self {
        Self {
            batch_id,
            statuses: Vec::new(),
            after: None,
            limit,
        }
    }

    /// Only these statuses.
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = MessageStatus>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Only messages after this id.
    pub fn after(mut self, id: i64) -> Self {
        self.after = Some(id);
        self
    }
}

/// The `sms_batch_messages` table: the durable send queue.
///
/// Every change after the claim is fenced: by the claim token while a worker holds the message,
/// otherwise by the status it must still be in. A fenced update that finds the message moved on
/// changes nothing and fails with [`ErrorKind::LeaseLost`]; the caller must then do nothing more
/// with the message. Status only moves forward ([`MessageStatus::can_become`]).
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Inserts messages into a batch (in chunks of the caller's choosing), `pending`. A message
    /// for a customer or a number the batch already has is skipped (so an interrupted preparation
    /// can run again); returns how many were inserted.
    async fn insert(&self, batch_id: Uuid, messages: &[NewMessage], now: Timestamp) -> Result<u64>;

    /// Claims messages ([`Claim`]): each becomes `processing` under the claim token, with its
    /// attempts counted and its `sendStartedAt` cleared. Concurrent claims never take the same
    /// message (`FOR UPDATE SKIP LOCKED`).
    async fn claim(&self, claim: &Claim) -> Result<Vec<Message>>;

    /// Records that the provider is about to be called (before the call, always).
    async fn mark_send_started(&self, id: i64, token: Uuid, now: Timestamp) -> Result<Message>;

    /// [`MessageStore::mark_send_started`] for many messages of one claim, in one round trip:
    /// one result per id, in order ([`ErrorKind::LeaseLost`] or [`ErrorKind::NotFound`] for those
    /// not held). The outer error means nothing was recorded.
    async fn mark_send_started_many(
        &self,
        ids: &[i64],
        token: Uuid,
        now: Timestamp,
    ) -> Result<Vec<Result<Message>>>;

    /// Extends the claim's lease to `now + lease`.
    async fn extend_lease(
        &self,
        id: i64,
        token: Uuid,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Message>;

    /// Gives back a claim whose send never started (graceful shutdown): pending again, the
    /// attempt not counted. [`ErrorKind::LeaseLost`] also when the send had started.
    async fn release(&self, id: i64, token: Uuid, now: Timestamp) -> Result<Message>;

    /// Moves the message, fenced ([`Fence`], [`Transition`]).
    async fn transition(
        &self,
        id: i64,
        fence: Fence,
        change: &Transition,
        now: Timestamp,
    ) -> Result<Message>;

    /// Many fenced moves in one round trip (one transaction): each applies on its own fence, and
    /// its result (the message, or [`ErrorKind::LeaseLost`] / [`ErrorKind::NotFound`]) comes back
    /// in order. Ids must be distinct. An outer error (a refused change, a duplicate provider id,
    /// a lost connection) means none was applied.
    async fn transition_many(
        &self,
        changes: &[(i64, Fence, Transition)],
        now: Timestamp,
    ) -> Result<Vec<Result<Message>>>;

    /// Ends up to `limit` expired leases: a claim whose send never started goes back to
    /// pending, one whose send started to in doubt (to be reconciled, never blindly resent).
    async fn rescue(&self, now: Timestamp, limit: u32) -> Result<Rescued>;

    /// Cancels the batch's pending messages; returns how many.
    async fn cancel_pending(&self, batch_id: Uuid, now: Timestamp) -> Result<u64>;

    /// The message, if the actor can see it.
    async fn get(&self, id: i64) -> Result<Option<Message>>;

    /// The message the provider knows by this id.
    async fn find_by_provider_id(&self, provider_id: &str) -> Result<Option<Message>>;

    /// A page of a batch's messages in id order.
    async fn list(&self, query: &MessageQuery) -> Result<Vec<Message>>;

    /// How many of a batch's messages are in each status.
    async fn count_by_status(&self, batch_id: Uuid) -> Result<StatusCounts>;

    /// How many of a batch's messages are still to be settled: pending, processing and in
    /// doubt (every other status counts zero). What a runner asks while it waits for the
    /// batch's last messages; a store can answer from its queue indexes without reading every
    /// message of the batch, which the default (from [`MessageStore::count_by_status`]) does.
    async fn count_unfinished(&self, batch_id: Uuid) -> Result<StatusCounts> {
        let all = self.count_by_status(batch_id).await?;
        let mut open = StatusCounts::default();
        for status in [
            MessageStatus::Pending,
            MessageStatus::Processing,
            MessageStatus::InDoubt,
        ] {
            open.add(status, all.get(status));
        }
        Ok(open)
    }

    /// How many of a batch's messages have each error category (their latest error, whatever
    /// their status now), in the order of [`ErrorCategory::ALL`]; categories without messages
    /// are left out. Counted by the store, so several workers' failures all count.
    async fn count_by_error_category(&self, batch_id: Uuid) -> Result<Vec<(ErrorCategory, u64)>>;

    /// When the batch's earliest pending message is due (its `run_at`), `None` when nothing is
    /// pending: how long a batch whose messages all wait for their send window can rest.
    async fn next_pending_at(&self, batch_id: Uuid) -> Result<Option<Timestamp>>;

    /// Gives back a claim whose send never started, to be claimed again from `run_at` (a
    /// message outside its send window): pending, the attempt not counted, its budget
    /// reservation given back. [`ErrorKind::LeaseLost`] also when the send had started.
    async fn defer(
        &self,
        id: i64,
        token: Uuid,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<Message>;

    /// Claims a batch's messages for a check with the provider ([`CheckClaim`]): `sent` ones
    /// for a verification pass, or `in_doubt` ones for reconciliation. Concurrent checkers
    /// never take the same message (`checkAfter` is the check's lease). The result also counts
    /// what is left to check ([`Checks::outstanding`]).
    async fn claim_checks(&self, claim: &CheckClaim) -> Result<Checks>;

    /// Records a check that left the message in `status` (`sent` or `in_doubt`), fenced by that
    /// status: [`ErrorKind::LeaseLost`] when it moved on meanwhile. A check that changes the
    /// status is a [`MessageStore::transition`] instead.
    async fn record_check(
        &self,
        id: i64,
        status: MessageStatus,
        check: &CheckResult,
        now: Timestamp,
    ) -> Result<Message>;

    /// "Retry the failed": the batch's failed messages whose category may succeed on another
    /// try ([`ErrorCategory::is_retryable`]) and that the provider never accepted go back to
    /// pending, due now, as new attempts of the same messages (their attempts counted from zero
    /// again; never new messages). This is the one move out of `failed`, and a completed or
    /// verifying batch with requeued messages goes back to `sending` (its `completedAt`
    /// cleared), the one move out of `completed`. [`ErrorKind::NotFound`] for a batch the actor
    /// cannot see, [`ErrorKind::InvalidTransition`] for one that is not sending, paused,
    /// verifying or completed.
    async fn requeue_failed(&self, batch_id: Uuid, now: Timestamp) -> Result<Requeued>;

    /// A batch's messages grouped by status and variant, with their segments and costs: what
    /// progress and reports are computed from.
    async fn totals(&self, batch_id: Uuid) -> Result<Vec<MessageTotals>>;
}

/// A batch's messages in chunks, in id order, with flat memory (keyset pages of
/// [`MessageStore::list`]).
pub struct MessageScan {
    store: Arc<dyn MessageStore>,
    query: MessageQuery,
    done: bool,
}

impl std::fmt::Debug for MessageScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageScan")
            .field("query", &self.query)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl MessageScan {
    /// Scans what `query` selects, `query.limit` messages at a time (at least one).
    pub fn new(store: Arc<dyn MessageStore>, mut query: MessageQuery) -> Self {
        query.limit = query.limit.max(1);
        Self {
            store,
            query,
            done: false,
        }
    }

    /// The next chunk, or `None` after the last.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<Message>>> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.list(&self.query).await?;
        if page.len() < self.query.limit as usize {
            self.done = true;
        }
        match page.last() {
            Some(last) => self.query.after = Some(last.id),
            None => return Ok(None),
        }
        Ok(Some(page))
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput {
        message: message.into(),
    })
}

/// What every store checks before inserting messages.
pub(crate) fn check_new_messages(messages: &[NewMessage]) -> Result<()> {
    for (i, m) in messages.iter().enumerate() {
        let at = |field: &str| format!("/{i}/{field}");
        if m.phone.trim().is_empty() {
            return Err(invalid(format!("message {i} has no phone number")));
        }
        if m.segments == 0 {
            return Err(invalid(format!("message {i} has no segment")));
        }
        if m.max_attempts == Some(0) {
            return Err(invalid(format!("message {i} allows no attempt")));
        }
        check_text(&m.phone, &at("phone"))?;
        check_text(&m.body, &at("body"))?;
        for (field, text) in [
            ("sender", &m.sender),
            ("countryCode", &m.country_code),
            ("variant", &m.variant),
            ("timeZone", &m.time_zone),
        ] {
            if let Some(text) = text {
                check_text(text, &at(field))?;
            }
        }
    }
    Ok(())
}

/// What every store checks before a transition.
pub(crate) fn check_change(change: &Transition) -> Result<()> {
    if change.status == MessageStatus::Processing {
        return Err(invalid(
            "a message becomes processing only by being claimed",
        ));
    }
    for (field, text) in [
        ("providerId", &change.provider_id),
        ("providerStatus", &change.provider_status),
        ("errorCode", &change.error.code),
        ("errorMessage", &change.error.message),
    ] {
        if let Some(text) = text {
            check_text(text, &format!("/{field}"))?;
        }
    }
    if let Some(price) = &change.price {
        check_text(&price.currency, "/priceCurrency")?;
    }
    Ok(())
}

/// Checks a batch of transitions: each change valid, each id once.
pub(crate) fn check_changes(changes: &[(i64, Fence, Transition)]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (id, _, change) in changes {
        check_change(change)?;
        if !seen.insert(*id) {
            return Err(invalid(format!("message {id} is listed twice")));
        }
    }
    Ok(())
}

/// The error for a message the actor cannot see.
pub(crate) fn message_not_found(id: i64) -> Error {
    Error::new(ErrorKind::NotFound {
        what: "message".into(),
        id: id.to_string(),
    })
}

/// The answers of a group write, per id in order: the message that moved, else lease lost
/// (the caller sees the message: its fence did not hold) or not found. `visible` says which of
/// the ids that did not move the caller sees; it is asked only when some did not move, so the
/// usual group costs the store one round trip.
#[cfg(any(feature = "postgres", feature = "supabase"))]
pub(crate) async fn group_outcomes<Fut>(
    ids: &[i64],
    moved: Vec<Message>,
    visible: impl FnOnce(Vec<i64>) -> Fut,
) -> Result<Vec<Result<Message>>>
where
    Fut: std::future::Future<Output = Result<std::collections::HashSet<i64>>>,
{
    let mut by_id: std::collections::HashMap<i64, Message> =
        moved.into_iter().map(|m| (m.id, m)).collect();
    let missing: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| !by_id.contains_key(id))
        .collect();
    let seen = if missing.is_empty() {
        std::collections::HashSet::new()
    } else {
        visible(missing).await?
    };
    Ok(ids
        .iter()
        .map(|id| match by_id.remove(id) {
            Some(m) => Ok(m),
            None if seen.contains(id) => Err(lease_lost(*id)),
            None => Err(message_not_found(*id)),
        })
        .collect())
}

/// The error of a fenced update that changed nothing.
pub(crate) fn lease_lost(id: i64) -> Error {
    Error::new(ErrorKind::LeaseLost { id })
}

/// A lease in milliseconds, at least one.
pub(crate) fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// What every store checks before recording a check.
pub(crate) fn check_check(status: MessageStatus, check: &CheckResult) -> Result<()> {
    if !matches!(status, MessageStatus::Sent | MessageStatus::InDoubt) {
        return Err(invalid(format!(
            "checks are recorded on sent and in-doubt messages, not {status}"
        )));
    }
    if let Some(text) = &check.provider_status {
        check_text(text, "/providerStatus")?;
    }
    if let Some(price) = &check.price {
        check_text(&price.currency, "/priceCurrency")?;
    }
    Ok(())
}
