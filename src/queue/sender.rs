//! The provider interface: [`Sender`] sends one message and answers look-ups, with every
//! outcome classified so the queue knows what to do next.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize};

use super::category::ErrorCategory;
use super::state::MessageStatus;
use crate::batch::Amount;
use crate::time::Timestamp;

/// Our id of a message (a row of the batch's messages), as text.
///
/// Stores may number messages (`bigint`) or use UUIDs; the queue only passes the id around, so it
/// keeps it as text. JSON: a string; an integer is read too (`42` and `"42"` are the same id).
///
/// ```
/// use smsbatch::queue::MessageId;
///
/// let id = MessageId::from(42_i64);
/// assert_eq!(id.as_str(), "42");
/// assert_eq!(serde_json::from_str::<MessageId>("42")?, id);
/// assert_eq!(serde_json::to_string(&id)?, r#""42""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<i64> for MessageId {
    fn from(id: i64) -> Self {
        Self(id.to_string())
    }
}

impl From<String> for MessageId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for MessageId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = MessageId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message id (a string or an integer)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MessageId, E> {
                Ok(MessageId::from(v))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<MessageId, E> {
                Ok(MessageId(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<MessageId, E> {
                Ok(MessageId::from(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<MessageId, E> {
                Ok(MessageId(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// An amount the provider charged, in its currency (Twilio reports prices as negative numbers;
/// adapters store the amount charged, which is never negative).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    /// How much.
    pub amount: Amount,
    /// ISO 4217 code as the provider gives it (`"USD"`).
    pub currency: String,
}

impl Price {
    /// A price of `amount` in `currency`.
    pub fn new(amount: Amount, currency: impl Into<String>) -> Self {
        Self {
            amount,
            currency: currency.into(),
        }
    }
}

/// One message to send: what a [`Sender`] receives.
///
/// ```
/// use smsbatch::queue::OutboundMessage;
///
/// let m = OutboundMessage::new(7_i64, "+447700900123", "+15005550006", "Hi Ana, your order ships today")
///     .status_callback("https://example.com/twilio/status?mid=7");
/// assert_eq!((m.id.as_str(), m.segments), ("7", 1));
/// assert_eq!(m.batch_id, None, "the send runner sets it; a message sent by hand may have none");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OutboundMessage {
    /// Our id of the message. Providers that accept a callback URL put it there (Twilio's
    /// `StatusCallback`), so status updates map back even after a crash.
    pub id: MessageId,
    /// The recipient, in E.164.
    pub to: String,
    /// The sender: a phone number, an alphanumeric sender id, or a provider's sender pool (a
    /// Twilio Messaging Service SID, `MG...`). Rate limits are kept per sender.
    pub from: String,
    /// The rendered text.
    pub body: String,
    /// The segments we counted (for pacing and the estimated cost); the provider may bill
    /// another number, which [`Accepted::segments`] reports.
    pub segments: u32,
    /// Where the provider should post status updates about this message, when the caller wants
    /// them; a provider without callbacks ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
    /// The batch the message belongs to, when it is sent as part of one (the send runner always
    /// sets it). Providers ignore it; it is there so that what observes a send (the
    /// `smsbatch.send` span of `analytics::ObservedSender`, a provider's own logs) can name the
    /// batch. Added after the first release: JSON omits it when `None` and reads its absence
    /// as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<uuid::Uuid>,
}

impl OutboundMessage {
    /// A message with its segments counted by the default [`Segmenter`](crate::Segmenter) and no
    /// status callback.
    pub fn new(
        id: impl Into<MessageId>,
        to: impl Into<String>,
        from: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        let body = body.into();
        let segments = crate::segment::count(&body).segments;
        Self {
            id: id.into(),
            to: to.into(),
            from: from.into(),
            body,
            segments,
            status_callback: None,
            batch_id: None,
        }
    }

    /// The segments the message was counted at (by the preview, with the batch's segmenter).
    pub fn segments(mut self, segments: u32) -> Self {
        self.segments = segments;
        self
    }

    /// A status-callback URL for the provider.
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// The batch the message belongs to ([`OutboundMessage::batch_id`]).
    pub fn batch(mut self, batch_id: uuid::Uuid) -> Self {
        self.batch_id = Some(batch_id);
        self
    }
}

/// The provider accepted the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Accepted {
    /// The provider's id of the message (Twilio's SID, `SM...`).
    pub provider_id: String,
    /// The provider's status in its answer (Twilio answers `queued` or `accepted`).
    pub status: ProviderStatus,
    /// Segments the provider counted, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    /// What the provider charged, when it said (Twilio fills the price in later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
}

impl Accepted {
    /// Accepted under `provider_id`, status `queued`, segments and price unknown.
    pub fn new(provider_id: impl Into<String>) -> Self {
        Self {
            provider_id: provider_id.into(),
            status: ProviderStatus::Queued,
            segments: None,
            price: None,
        }
    }

    /// The provider's status in the answer.
    pub fn status(mut self, status: ProviderStatus) -> Self {
        self.status = status;
        self
    }

    /// The segments the provider counted.
    pub fn segments(mut self, segments: u32) -> Self {
        self.segments = Some(segments);
        self
    }

    /// The price the provider charged.
    pub fn price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }
}

/// Why a send did not succeed: the category that decides what happens next, and the provider's
/// own words for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SendFailure {
    /// What kind of failure.
    pub category: ErrorCategory,
    /// The provider's error code (`"21610"`), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The HTTP status of the provider's answer, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The provider's (or the network's) message.
    pub message: String,
}

impl SendFailure {
    /// A failure of `category` with a message, no code and no HTTP status.
    pub fn new(category: ErrorCategory, message: impl Into<String>) -> Self {
        Self {
            category,
            code: None,
            http_status: None,
            message: message.into(),
        }
    }

    /// The provider's error code.
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// The HTTP status of the answer.
    pub fn http_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }
}

impl fmt::Display for SendFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.category)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What became of one send, classified. The queue decides the next step from it (see
/// [`RetryPolicy::next`](super::RetryPolicy::next)); a sender never retries on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendOutcome {
    /// The provider accepted the message.
    Accepted(Accepted),
    /// Certainly not processed, and worth trying again later: HTTP 429, a 503, a connection that
    /// never reached the provider, a full queue. `retry_after` is a floor for the delay (the
    /// provider's `Retry-After`, or the minimum its error code calls for).
    Retry {
        /// Why.
        failure: SendFailure,
        /// Wait at least this long.
        retry_after: Option<Duration>,
    },
    /// Refused for good for this message: an invalid number, an opt-out, content the provider
    /// will not carry.
    Failed(SendFailure),
    /// The request may have been processed (a timeout after the request was sent, an HTTP 500
    /// from a provider whose create is not idempotent). The message is reconciled, never resent
    /// blindly.
    InDoubt(SendFailure),
    /// A problem with the account or its configuration that every other message would meet too
    /// (authentication, suspension, a sender not allowed): the batch pauses.
    HaltBatch(SendFailure),
}

impl SendOutcome {
    /// The failure, unless the message was accepted.
    pub fn failure(&self) -> Option<&SendFailure> {
        match self {
            Self::Accepted(_) => None,
            Self::Retry { failure, .. }
            | Self::Failed(failure)
            | Self::InDoubt(failure)
            | Self::HaltBatch(failure) => Some(failure),
        }
    }

    /// True for [`SendOutcome::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted(_))
    }
}

/// A message's status as a provider reports it (Twilio's `status` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderStatus {
    /// Waiting in a Messaging Service before a sender is picked.
    Accepted,
    /// Scheduled for later.
    Scheduled,
    /// In the provider's queue.
    Queued,
    /// Being handed to the carrier.
    Sending,
    /// Handed to the carrier; no delivery report (yet).
    Sent,
    /// The carrier confirmed delivery.
    Delivered,
    /// The recipient read it (channels with read receipts).
    Read,
    /// The carrier could not deliver it.
    Undelivered,
    /// The provider could not send it.
    Failed,
    /// A scheduled message was cancelled.
    Canceled,
    /// A status this library does not know.
    Unknown,
}

impl ProviderStatus {
    /// Reads Twilio's status text; an unrecognised status is [`ProviderStatus::Unknown`] (Twilio
    /// adds statuses now and then).
    ///
    /// ```
    /// use smsbatch::queue::{MessageStatus, ProviderStatus};
    ///
    /// let status = ProviderStatus::from_provider("delivered");
    /// assert_eq!(status.message_status(), MessageStatus::Delivered);
    /// assert_eq!(ProviderStatus::from_provider("sending").message_status(), MessageStatus::Sent);
    /// ```
    pub fn from_provider(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "accepted" => Self::Accepted,
            "scheduled" => Self::Scheduled,
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "undelivered" => Self::Undelivered,
            "failed" => Self::Failed,
            "canceled" | "cancelled" => Self::Canceled,
            _ => Self::Unknown,
        }
    }

    /// The provider's word for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Unknown => "unknown",
        }
    }

    /// Our status for a message the provider has in this status: `sent` while it is on its way
    /// (or unknown), `delivered`, `undelivered`, or `failed` (failed or cancelled at the
    /// provider: it never reached the handset).
    pub const fn message_status(self) -> MessageStatus {
        match self {
            Self::Delivered | Self::Read => MessageStatus::Delivered,
            Self::Undelivered => MessageStatus::Undelivered,
            Self::Failed | Self::Canceled => MessageStatus::Failed,
            Self::Accepted
            | Self::Scheduled
            | Self::Queued
            | Self::Sending
            | Self::Sent
            | Self::Unknown => MessageStatus::Sent,
        }
    }
}

impl fmt::Display for ProviderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message as the provider has it: the answer to a look-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProviderMessage {
    /// The provider's id.
    pub provider_id: String,
    /// Its status there.
    pub status: ProviderStatus,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// When the provider created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Segments the provider counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    /// What it cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// The provider's error code for a failed or undelivered message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The provider's error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl ProviderMessage {
    /// A message known only by its id and status.
    pub fn new(provider_id: impl Into<String>, status: ProviderStatus) -> Self {
        Self {
            provider_id: provider_id.into(),
            status,
            to: None,
            from: None,
            body: None,
            created_at: None,
            segments: None,
            price: None,
            error_code: None,
            error_message: None,
        }
    }

    /// Recipient, sender and text.
    pub fn addressed(
        mut self,
        to: impl Into<String>,
        from: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        self.to = Some(to.into());
        self.from = Some(from.into());
        self.body = Some(body.into());
        self
    }

    /// When the provider created it.
    pub fn created_at(mut self, at: Timestamp) -> Self {
        self.created_at = Some(at);
        self
    }

    /// The segments the provider counted.
    pub fn segments(mut self, segments: u32) -> Self {
        self.segments = Some(segments);
        self
    }

    /// What it cost.
    pub fn price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }

    /// The provider's error code and message.
    pub fn error(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.error_code = Some(code.into());
        self.error_message = Some(message.into());
        self
    }
}

/// Which message to look for when we do not know the provider's id: the request may have
/// reached the provider, but its answer never reached us. Providers search by recipient and
/// sender (Twilio's `To` and `From` filters; not its `DateSent`, which is empty while a message
/// is still queued); [`FindQuery::matches`] and [`FindQuery::best_match`] then compare the text
/// and the creation time with the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FindQuery {
    /// Our id of the message (providers cannot search by it; fakes and logs can).
    pub message_id: MessageId,
    /// The recipient.
    pub to: String,
    /// The sender.
    pub from: String,
    /// The text that was sent.
    pub body: String,
    /// The earliest creation time that can match.
    pub sent_after: Timestamp,
    /// The latest creation time that can match.
    pub sent_before: Timestamp,
}

impl FindQuery {
    /// How far the provider's clock may be from ours, on either side of the window.
    pub const CLOCK_SLACK: Duration = Duration::from_secs(300);

    /// The query for `message`, whose send started at `started_at` and could not have reached
    /// the provider later than `longest` after it (the lease), widened by
    /// [`FindQuery::CLOCK_SLACK`] on both sides.
    ///
    /// ```
    /// use std::time::Duration;
    /// use smsbatch::Timestamp;
    /// use smsbatch::queue::{FindQuery, OutboundMessage};
    ///
    /// let m = OutboundMessage::new(1_i64, "+447700900123", "+15005550006", "Hi");
    /// let started: Timestamp = "2025-03-01T10:00:00Z".parse()?;
    /// let q = FindQuery::around(&m, started, Duration::from_secs(120));
    /// assert_eq!(q.sent_after.to_string(), "2025-03-01T09:55:00Z");
    /// assert_eq!(q.sent_before.to_string(), "2025-03-01T10:07:00Z");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn around(message: &OutboundMessage, started_at: Timestamp, longest: Duration) -> Self {
        Self {
            message_id: message.id.clone(),
            to: message.to.clone(),
            from: message.from.clone(),
            body: message.body.clone(),
            sent_after: started_at.saturating_sub(Self::CLOCK_SLACK),
            sent_before: started_at
                .saturating_add(longest)
                .saturating_add(Self::CLOCK_SLACK),
        }
    }

    /// Whether `candidate` can be the message: same recipient, sender and text where the
    /// provider reported them, and created within the window when it reported a time.
    pub fn matches(&self, candidate: &ProviderMessage) -> bool {
        let same =
            |ours: &str, theirs: &Option<String>| theirs.as_deref().is_none_or(|t| t == ours);
        same(&self.to, &candidate.to)
            && same(&self.from, &candidate.from)
            && same(&self.body, &candidate.body)
            && candidate
                .created_at
                .is_none_or(|at| self.sent_after <= at && at <= self.sent_before)
    }

    /// The matching candidate created nearest the middle of the window (a recipient may have had
    /// the same text twice, e.g. from an earlier batch), or `None`. A store that keeps provider
    /// ids unique refuses a candidate another message already claimed; try the next then.
    pub fn best_match<'a>(&self, candidates: &'a [ProviderMessage]) -> Option<&'a ProviderMessage> {
        let middle = self.sent_after.as_unix_micros() / 2 + self.sent_before.as_unix_micros() / 2;
        candidates
            .iter()
            .filter(|c| self.matches(c))
            .min_by_key(|c| {
                c.created_at
                    .map_or(0, |at| at.as_unix_micros().abs_diff(middle))
            })
    }
}

/// Why a look-up gave no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LookupError {
    /// The provider has no message with that id.
    NotFound,
    /// This sender cannot look messages up (the default of [`Sender::lookup`] and
    /// [`Sender::find`]).
    Unsupported,
    /// The look-up itself failed (network, rate limit, provider error); try again later.
    Unavailable {
        /// What went wrong.
        message: String,
        /// When to try again, if the provider said.
        retry_after: Option<Duration>,
    },
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("the provider has no such message"),
            Self::Unsupported => f.write_str("this sender cannot look messages up"),
            Self::Unavailable { message, .. } => write!(f, "look-up failed: {message}"),
        }
    }
}

impl std::error::Error for LookupError {}

/// An SMS provider, as the queue uses it: send one message and say what became of it, look a
/// message up by the provider's id, and find one whose id we never learned.
///
/// Object-safe (through the `async-trait` crate) and `Send + Sync`, so a worker holds an
/// `Arc<dyn Sender>` and calls it from many tasks. The returned futures are `Send`.
///
/// Rules for implementations:
/// - **Never retry inside `send`.** The queue owns retries, so it can count attempts, pace them,
///   respect a retry budget and keep them durable.
/// - **Classify honestly.** A request that may have reached the provider (a read timeout after
///   the body was sent, a connection reset mid-answer, an HTTP 500 from a create that is not
///   idempotent) is [`SendOutcome::InDoubt`], never [`SendOutcome::Retry`]: a retry there can text
///   the customer twice. [`ErrorTable`](super::ErrorTable) maps provider codes and HTTP statuses.
/// - `lookup` and `find` are optional (their defaults answer [`LookupError::Unsupported`]), but
///   without `find` an in-doubt message can only be marked failed or resent after a delay. A
///   sender that implements `find` also returns `true` from [`Sender::can_find`].
///
/// # Example
///
/// A complete sender that accepts every message and remembers it, so that it can answer both
/// look-ups:
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use async_trait::async_trait;
/// use smsbatch::queue::{
///     Accepted, ErrorCategory, FindQuery, LookupError, OutboundMessage, ProviderMessage,
///     ProviderStatus, SendFailure, SendOutcome, Sender,
/// };
///
/// #[derive(Default)]
/// struct Memory {
///     sent: Mutex<Vec<ProviderMessage>>,
/// }
///
/// #[async_trait]
/// impl Sender for Memory {
///     fn name(&self) -> &str {
///         "memory"
///     }
///
///     async fn send(&self, message: &OutboundMessage) -> SendOutcome {
///         if !message.to.starts_with('+') {
///             let failure = SendFailure::new(ErrorCategory::InvalidRecipient, "not E.164");
///             return SendOutcome::Failed(failure.code("21211"));
///         }
///         // OK because a poisoned lock means another send panicked: a bug, not an outcome.
///         let mut sent = self.sent.lock().unwrap();
///         let id = format!("MM{:032}", sent.len());
///         sent.push(
///             ProviderMessage::new(&id, ProviderStatus::Delivered)
///                 .addressed(&message.to, &message.from, &message.body),
///         );
///         SendOutcome::Accepted(Accepted::new(id).segments(message.segments))
///     }
///
///     async fn lookup(&self, provider_id: &str) -> Result<ProviderMessage, LookupError> {
///         let sent = self.sent.lock().unwrap();
///         sent.iter().find(|m| m.provider_id == provider_id).cloned().ok_or(LookupError::NotFound)
///     }
///
///     async fn find(&self, query: &FindQuery) -> Result<Vec<ProviderMessage>, LookupError> {
///         let sent = self.sent.lock().unwrap();
///         Ok(sent.iter().filter(|m| query.matches(m)).cloned().collect())
///     }
///
///     fn can_find(&self) -> bool {
///         true
///     }
/// }
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// # runtime.block_on(async {
/// let sender: Arc<dyn Sender> = Arc::new(Memory::default());
/// let message = OutboundMessage::new(1_i64, "+447700900123", "ACME", "Your code is 1234");
/// let SendOutcome::Accepted(accepted) = sender.send(&message).await else { panic!() };
/// let found = sender.lookup(&accepted.provider_id).await?;
/// assert_eq!(found.status, ProviderStatus::Delivered);
/// let bad = OutboundMessage::new(2_i64, "07700900123", "ACME", "Your code is 1234");
/// assert!(matches!(sender.send(&bad).await, SendOutcome::Failed(f) if f.category == ErrorCategory::InvalidRecipient));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[async_trait]
pub trait Sender: Send + Sync {
    /// A short name for logs and records (`"twilio"`, `"fake"`).
    fn name(&self) -> &str;

    /// Sends one message, once, and classifies what happened.
    async fn send(&self, message: &OutboundMessage) -> SendOutcome;

    /// The provider's current view of a message we sent (the verification pass, in-doubt
    /// reconciliation once an id is known).
    async fn lookup(&self, provider_id: &str) -> Result<ProviderMessage, LookupError> {
        let _ = provider_id;
        Err(LookupError::Unsupported)
    }

    /// The provider's messages that may be `query`'s: same recipient and sender, created in its
    /// window. An empty list means the provider has none; callers pick with
    /// [`FindQuery::best_match`].
    async fn find(&self, query: &FindQuery) -> Result<Vec<ProviderMessage>, LookupError> {
        let _ = query;
        Err(LookupError::Unsupported)
    }

    /// Whether [`Sender::find`] answers (a sender that implements it says so here; the default
    /// is `false`). With it, the default in-doubt policy sends a message the provider never got
    /// again instead of failing it, so a runner may let its claims record the send start
    /// themselves (one write less per message), where a crash right after a claim leaves the
    /// messages in doubt.
    fn can_find(&self) -> bool {
        false
    }
}

#[async_trait]
impl<S: Sender + ?Sized> Sender for Arc<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn can_find(&self) -> bool {
        (**self).can_find()
    }

    async fn send(&self, message: &OutboundMessage) -> SendOutcome {
        (**self).send(message).await
    }

    async fn lookup(&self, provider_id: &str) -> Result<ProviderMessage, LookupError> {
        (**self).lookup(provider_id).await
    }

    async fn find(&self, query: &FindQuery) -> Result<Vec<ProviderMessage>, LookupError> {
        (**self).find(query).await
    }
}

#[async_trait]
impl<S: Sender + ?Sized> Sender for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn can_find(&self) -> bool {
        (**self).can_find()
    }

    async fn send(&self, message: &OutboundMessage) -> SendOutcome {
        (**self).send(message).await
    }

    async fn lookup(&self, provider_id: &str) -> Result<ProviderMessage, LookupError> {
        (**self).lookup(provider_id).await
    }

    async fn find(&self, query: &FindQuery) -> Result<Vec<ProviderMessage>, LookupError> {
        (**self).find(query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only `send`: the look-ups fall back to `Unsupported`.
    struct Refuses;

    #[async_trait]
    impl Sender for Refuses {
        fn name(&self) -> &str {
            "refuses"
        }

        async fn send(&self, _message: &OutboundMessage) -> SendOutcome {
            SendOutcome::HaltBatch(
                SendFailure::new(ErrorCategory::Account, "authenticate")
                    .code("20003")
                    .http_status(401),
            )
        }
    }

    #[test]
    fn sender_is_object_safe_and_shareable() {
        fn _object_safe(_: &dyn Sender) {}
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<dyn Sender>();
        let sender: Arc<dyn Sender> = Arc::new(Refuses);
        let boxed: Box<dyn Sender> = Box::new(Arc::clone(&sender));
        assert_eq!(boxed.name(), "refuses");
    }

    #[tokio::test]
    async fn futures_are_send_and_defaults_are_unsupported() {
        let sender: Arc<dyn Sender> = Arc::new(Refuses);
        let message = OutboundMessage::new(1_i64, "+447700900123", "ACME", "hello");
        // Spawning proves the futures are Send.
        let outcome = tokio::spawn({
            let sender = Arc::clone(&sender);
            async move { sender.send(&message).await }
        })
        .await
        .unwrap();
        let failure = outcome.failure().unwrap();
        assert_eq!(
            failure.to_string(),
            "account (code 20003) (HTTP 401): authenticate"
        );
        assert_eq!(sender.lookup("SM1").await, Err(LookupError::Unsupported));
        let query = FindQuery::around(
            &OutboundMessage::new(1_i64, "+1", "x", "y"),
            Timestamp::UNIX_EPOCH,
            Duration::from_secs(1),
        );
        assert_eq!(sender.find(&query).await, Err(LookupError::Unsupported));
    }

    #[test]
    fn best_match_compares_text_and_time() {
        let started: Timestamp = "2025-03-01T10:00:00Z".parse().unwrap();
        let m = OutboundMessage::new(5_i64, "+447700900123", "ACME", "Your code is 1234");
        let q = FindQuery::around(&m, started, Duration::from_secs(60));
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let candidates = [
            ProviderMessage::new("SMold", ProviderStatus::Delivered)
                .addressed("+447700900123", "ACME", "Your code is 1234")
                .created_at(at("2025-02-28T10:00:00Z")),
            ProviderMessage::new("SMother", ProviderStatus::Sent)
                .addressed("+447700900123", "ACME", "Your code is 9999")
                .created_at(at("2025-03-01T10:00:01Z")),
            ProviderMessage::new("SMfar", ProviderStatus::Sent)
                .addressed("+447700900123", "ACME", "Your code is 1234")
                .created_at(at("2025-03-01T09:56:00Z")),
            ProviderMessage::new("SMnear", ProviderStatus::Sent)
                .addressed("+447700900123", "ACME", "Your code is 1234")
                .created_at(at("2025-03-01T10:00:02Z")),
        ];
        assert_eq!(q.best_match(&candidates).unwrap().provider_id, "SMnear");
        assert!(!q.matches(&candidates[0]), "outside the window");
        assert!(!q.matches(&candidates[1]), "another text");
        assert!(q.best_match(&candidates[..2]).is_none());
    }

    #[test]
    fn provider_statuses_map_forward() {
        for (text, ours) in [
            ("queued", MessageStatus::Sent),
            ("accepted", MessageStatus::Sent),
            ("sent", MessageStatus::Sent),
            ("delivered", MessageStatus::Delivered),
            ("read", MessageStatus::Delivered),
            ("undelivered", MessageStatus::Undelivered),
            ("failed", MessageStatus::Failed),
            ("canceled", MessageStatus::Failed),
            ("partially_delivered", MessageStatus::Sent),
        ] {
            assert_eq!(
                ProviderStatus::from_provider(text).message_status(),
                ours,
                "{text}"
            );
        }
        let json = serde_json::to_string(&ProviderStatus::Undelivered).unwrap();
        assert_eq!(json, r#""undelivered""#);
    }
}
