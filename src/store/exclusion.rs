//! Recipients left out of a batch: the `sms_batch_excluded` table.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::customer::check_text;
use crate::batch::ExclusionReason;
use crate::error::{Error, ErrorKind, Result};
use crate::time::Timestamp;

/// A recipient to record as left out of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NewExclusion {
    /// The customer's id.
    pub customer_id: i64,
    /// The phone as the customer row had it.
    pub phone: Option<String>,
    /// Why.
    pub reason: ExclusionReason,
    /// The particulars (which variable is missing, why the number is invalid...).
    pub detail: String,
}

impl NewExclusion {
    /// Customer `customer_id`, left out for `reason`.
    pub fn new(customer_id: i64, reason: ExclusionReason, detail: impl Into<String>) -> Self {
        Self {
            customer_id,
            phone: None,
            reason,
            detail: detail.into(),
        }
    }
}

/// One row of `sms_batch_excluded` (JSON in camelCase).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Exclusion {
    /// The id (increasing in insertion order).
    pub id: i64,
    /// The batch.
    pub batch_id: Uuid,
    /// The customer's id.
    pub customer_id: i64,
    /// The phone as the customer row had it.
    pub phone: Option<String>,
    /// Why.
    pub reason: ExclusionReason,
    /// The particulars.
    pub detail: String,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// The `sms_batch_excluded` table. A user sees those of its own batches.
#[async_trait]
pub trait ExclusionStore: Send + Sync {
    /// Records exclusions for a batch; a customer already recorded for it is skipped. Returns
    /// how many were inserted.
    async fn insert(
        &self,
        batch_id: Uuid,
        exclusions: &[NewExclusion],
        now: Timestamp,
    ) -> Result<u64>;

    /// A page of a batch's exclusions in id order, after an id.
    async fn list(&self, batch_id: Uuid, after: Option<i64>, limit: u32) -> Result<Vec<Exclusion>>;

    /// How many of a batch's recipients were left out for each reason (reasons with none are
    /// absent).
    async fn count_by_reason(&self, batch_id: Uuid) -> Result<BTreeMap<ExclusionReason, u64>>;
}

/// The snake_case name of a reason in the database.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn reason_sql(reason: ExclusionReason) -> &'static str {
    match reason {
        ExclusionReason::NoPhone => "no_phone",
        ExclusionReason::InvalidPhone => "invalid_phone",
        ExclusionReason::DuplicatePhone => "duplicate_phone",
        ExclusionReason::OptedOut => "opted_out",
        ExclusionReason::NoConsent => "no_consent",
        ExclusionReason::MissingVariable => "missing_variable",
        ExclusionReason::EmptyBody => "empty_body",
        ExclusionReason::TooManySegments => "too_many_segments",
    }
}

/// Reads a reason's database name back.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn reason_from_sql(text: &str) -> Result<ExclusionReason> {
    ExclusionReason::ALL
        .into_iter()
        .find(|r| reason_sql(*r) == text)
        .ok_or_else(|| {
            Error::new(ErrorKind::MalformedRow {
                table: "sms_batch_excluded".into(),
                message: format!("unknown exclusion reason {text:?}"),
            })
        })
}

/// What every store checks before recording exclusions.
pub(crate) fn check_exclusions(exclusions: &[NewExclusion]) -> Result<()> {
    for (i, e) in exclusions.iter().enumerate() {
        check_text(&e.detail, &format!("/{i}/detail"))?;
        if let Some(phone) = &e.phone {
            check_text(phone, &format!("/{i}/phone"))?;
        }
    }
    Ok(())
}
