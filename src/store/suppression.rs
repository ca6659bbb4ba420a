//! Suppressed numbers: the `sms_suppressions` table.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::bundle::Changes;
use super::customer::check_text;
use crate::error::{Error, ErrorKind, Result};
use crate::time::Timestamp;

/// A number that must never get a text (JSON in camelCase).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Suppression {
    /// The number, as stored (E.164 when it was normalised).
    pub phone: String,
    /// Why (`STOP reply`, `provider 21610`...).
    pub reason: Option<String>,
    /// When it was added.
    pub created_at: Timestamp,
}

/// The `sms_suppressions` table: numbers that are never sent to. Everyone signed in may read it
/// and add to it (a suppression only ever stops texts); only the service removes one.
#[async_trait]
pub trait SuppressionStore: Send + Sync {
    /// Adds numbers (with an optional reason each); `created` lists those added, `unchanged`
    /// those already there.
    async fn add(&self, phones: &[(String, Option<String>)], now: Timestamp) -> Result<Changes>;

    /// Removes numbers; returns those that were there.
    async fn remove(&self, phones: &[String]) -> Result<Vec<String>>;

    /// Which of these numbers are suppressed (in input order).
    async fn check(&self, phones: &[String]) -> Result<Vec<String>>;

    /// Whether this number is suppressed.
    async fn contains(&self, phone: &str) -> Result<bool> {
        Ok(!self.check(&[phone.to_owned()]).await?.is_empty())
    }

    /// A page of the list in number order (byte order), after a number.
    async fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<Suppression>>;
}

/// What every store checks before adding numbers.
pub(crate) fn check_phones<'a>(phones: impl IntoIterator<Item = &'a str>) -> Result<()> {
    for (i, phone) in phones.into_iter().enumerate() {
        if phone.trim().is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput {
                message: format!("suppression {i} has no phone number"),
            }));
        }
        check_text(phone, &format!("/{i}"))?;
    }
    Ok(())
}
