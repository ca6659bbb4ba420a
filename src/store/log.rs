//! Batch logs: the append-only `sms_batch_logs` table.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::customer::check_text;
use crate::error::{Error, ErrorKind, Result};
use crate::time::Timestamp;

/// How much a log event matters.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal progress.
    #[default]
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// The name, the same in JSON and in the database.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// Reads the name back.
    pub fn from_code(text: &str) -> Result<Self> {
        match text {
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" => Ok(Self::Warn),
            "error" => Ok(Self::Error),
            other => Err(Error::new(ErrorKind::MalformedRow {
                table: "sms_batch_logs".into(),
                message: format!("unknown log level {other:?}"),
            })),
        }
    }
}

/// An event to append to a batch's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NewBatchLog {
    /// How much it matters.
    pub level: LogLevel,
    /// A short machine-readable name (`paused`, `providerError`...).
    pub event: String,
    /// A sentence for people.
    pub message: String,
    /// Details (a JSON object).
    pub data: Value,
}

impl NewBatchLog {
    /// An event with no data.
    pub fn new(level: LogLevel, event: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            level,
            event: event.into(),
            message: message.into(),
            data: Value::Object(Map::new()),
        }
    }

    /// With these details.
    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

/// One row of `sms_batch_logs` (JSON in camelCase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BatchLog {
    /// The id (increasing in append order).
    pub id: i64,
    /// The batch.
    pub batch_id: Uuid,
    /// When it happened.
    pub at: Timestamp,
    /// How much it matters.
    pub level: LogLevel,
    /// Its name.
    pub event: String,
    /// The sentence.
    pub message: String,
    /// Details.
    pub data: Value,
}

/// The `sms_batch_logs` table: append and read, never change. A user sees (and appends to) the
/// logs of its own batches.
#[async_trait]
pub trait BatchLogStore: Send + Sync {
    /// Appends events at `now`, in order; returns how many.
    async fn append(&self, batch_id: Uuid, events: &[NewBatchLog], now: Timestamp) -> Result<u64>;

    /// A page of a batch's log in append order, after an id.
    async fn list(&self, batch_id: Uuid, after: Option<i64>, limit: u32) -> Result<Vec<BatchLog>>;
}

/// What every store checks before appending.
pub(crate) fn check_logs(events: &[NewBatchLog]) -> Result<()> {
    for (i, e) in events.iter().enumerate() {
        if e.event.trim().is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput {
                message: format!("log event {i} has no name"),
            }));
        }
        if !e.data.is_object() {
            return Err(Error::new(ErrorKind::InvalidInput {
                message: format!("the data of log event {i} must be a JSON object"),
            }));
        }
        check_text(&e.event, &format!("/{i}/event"))?;
        check_text(&e.message, &format!("/{i}/message"))?;
        if e.data.to_string().contains("\\u0000") {
            return Err(Error::new(ErrorKind::InvalidInput {
                message: format!(
                    "the data of log event {i} contains a NUL character, which PostgreSQL cannot store"
                ),
            }));
        }
    }
    Ok(())
}
