//! The JSON rows PostgREST returns (column names verbatim), read into the crate's types.
//!
//! `numeric` columns arrive as JSON numbers with PostgreSQL's exact digits; they are read from
//! the raw text (serde_json's `RawValue`), never through `f64`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::batch::{Amount, Purpose};
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{BatchState, ErrorCategory, MessageStatus, PauseReason};
use crate::segment::Encoding;
use crate::store::batch::Batch;
use crate::store::message::{Message, MessageTotals};
use crate::time::Timestamp;

fn amount_text(raw: &RawValue) -> std::result::Result<Amount, String> {
    let text = raw.get().trim().trim_matches('"');
    text.parse::<Amount>()
        .map_err(|e| format!("the numeric {text} is not an amount: {e}"))
}

fn amount<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Amount, D::Error> {
    let raw: Box<RawValue> = Deserialize::deserialize(d)?;
    amount_text(&raw).map_err(serde::de::Error::custom)
}

fn opt_amount<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Amount>, D::Error> {
    let raw: Option<Box<RawValue>> = Deserialize::deserialize(d)?;
    match raw {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        Some(r) => amount_text(&r).map(Some).map_err(serde::de::Error::custom),
    }
}

fn malformed(table: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::MalformedRow {
        table: table.into(),
        message: message.into(),
    })
}

fn decode<T>(table: &str, r: Result<T>) -> Result<T> {
    r.map_err(|e| malformed(table, e.to_string()))
}

fn count(table: &str, column: &str, n: i64) -> Result<u32> {
    u32::try_from(n).map_err(|_| malformed(table, format!("{column} is out of range: {n}")))
}

/// A row of `sms_batches`.
#[derive(Debug, Deserialize)]
pub(super) struct BatchRow {
    id: Uuid,
    owner: Option<Uuid>,
    team_id: Option<String>,
    state: String,
    pause_reason: Option<String>,
    purpose: String,
    template_id: Option<String>,
    template_body: Option<String>,
    sender: Option<String>,
    filter: Option<Value>,
    options: Value,
    idempotency_key: Option<String>,
    send_at: Option<Timestamp>,
    progress: Value,
    currency: Option<String>,
    #[serde(default, deserialize_with = "opt_amount")]
    budget: Option<Amount>,
    #[serde(deserialize_with = "amount")]
    budget_reserved: Amount,
    #[serde(deserialize_with = "amount")]
    budget_spent: Amount,
    created_at: Timestamp,
    updated_at: Timestamp,
    started_at: Option<Timestamp>,
    completed_at: Option<Timestamp>,
}

impl BatchRow {
    pub(super) fn into_batch(self) -> Result<Batch> {
        let t = "sms_batches";
        Ok(Batch {
            id: self.id,
            owner: self.owner,
            team_id: self.team_id,
            state: decode(t, BatchState::from_sql(&self.state))?,
            pause_reason: self
                .pause_reason
                .map(|r| decode(t, PauseReason::from_sql(&r)))
                .transpose()?,
            purpose: match self.purpose.as_str() {
                "marketing" => Purpose::Marketing,
                "transactional" => Purpose::Transactional,
                other => return Err(malformed(t, format!("unknown purpose {other:?}"))),
            },
            template_id: self.template_id,
            template_body: self.template_body,
            sender: self.sender,
            filter: self.filter,
            options: self.options,
            idempotency_key: self.idempotency_key,
            send_at: self.send_at,
            progress: self.progress,
            currency: self.currency,
            budget: self.budget,
            budget_reserved: self.budget_reserved,
            budget_spent: self.budget_spent,
            created_at: self.created_at,
            updated_at: self.updated_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
        })
    }
}

/// A row of `sms_batch_messages`.
#[derive(Debug, Deserialize)]
pub(super) struct MessageRow {
    id: i64,
    batch_id: Uuid,
    customer_id: i64,
    phone: String,
    sender: Option<String>,
    country_code: Option<String>,
    body: String,
    encoding: String,
    segments: i64,
    #[serde(deserialize_with = "amount")]
    estimated_cost: Amount,
    variant: Option<String>,
    time_zone: Option<String>,
    status: String,
    claim_token: Option<Uuid>,
    lease_expires_at: Option<Timestamp>,
    attempts: i64,
    max_attempts: Option<i64>,
    run_at: Timestamp,
    claimed_at: Option<Timestamp>,
    send_started_at: Option<Timestamp>,
    accepted_at: Option<Timestamp>,
    delivered_at: Option<Timestamp>,
    provider_id: Option<String>,
    provider_status: Option<String>,
    provider_segments: Option<i64>,
    error_category: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    #[serde(default, deserialize_with = "opt_amount")]
    price: Option<Amount>,
    price_currency: Option<String>,
    #[serde(default)]
    verified: i64,
    #[serde(default)]
    verified_at: Option<Timestamp>,
    #[serde(default)]
    check_after: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl MessageRow {
    pub(super) fn into_message(self) -> Result<Message> {
        let t = "sms_batch_messages";
        Ok(Message {
            id: self.id,
            batch_id: self.batch_id,
            customer_id: self.customer_id,
            phone: self.phone,
            sender: self.sender,
            country_code: self.country_code,
            body: self.body,
            encoding: match self.encoding.as_str() {
                "GSM-7" => Encoding::Gsm7,
                "UCS-2" => Encoding::Ucs2,
                other => return Err(malformed(t, format!("unknown encoding {other:?}"))),
            },
            segments: count(t, "segments", self.segments)?,
            estimated_cost: self.estimated_cost,
            variant: self.variant,
            time_zone: self.time_zone,
            status: decode(t, MessageStatus::from_sql(&self.status))?,
            claim_token: self.claim_token,
            lease_expires_at: self.lease_expires_at,
            attempts: count(t, "attempts", self.attempts)?,
            max_attempts: self
                .max_attempts
                .map(|n| count(t, "max_attempts", n))
                .transpose()?,
            run_at: self.run_at,
            claimed_at: self.claimed_at,
            send_started_at: self.send_started_at,
            accepted_at: self.accepted_at,
            delivered_at: self.delivered_at,
            provider_id: self.provider_id,
            provider_status: self.provider_status,
            provider_segments: self
                .provider_segments
                .map(|n| count(t, "provider_segments", n))
                .transpose()?,
            error_category: self
                .error_category
                .map(|c| decode(t, ErrorCategory::from_sql(&c)))
                .transpose()?,
            error_code: self.error_code,
            error_message: self.error_message,
            price: self.price,
            price_currency: self.price_currency,
            verified: count(t, "verified", self.verified)?,
            verified_at: self.verified_at,
            check_after: self.check_after,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A row of `sms_message_totals`.
#[derive(Debug, Deserialize)]
pub(super) struct TotalsRow {
    status: String,
    variant: Option<String>,
    messages: u64,
    segments: u64,
    provider_segments: u64,
    #[serde(deserialize_with = "amount")]
    estimated_cost: Amount,
    #[serde(deserialize_with = "amount")]
    price: Amount,
    priced: u64,
}

impl TotalsRow {
    pub(super) fn into_totals(self) -> Result<MessageTotals> {
        let t = "sms_batch_messages";
        let mut totals = MessageTotals::new(
            decode(t, MessageStatus::from_sql(&self.status))?,
            self.variant,
        );
        totals.messages = self.messages;
        totals.segments = self.segments;
        totals.provider_segments = self.provider_segments;
        totals.estimated_cost = self.estimated_cost;
        totals.price = self.price;
        totals.priced = self.priced;
        Ok(totals)
    }
}

/// Reads an array of rows and converts each.
pub(super) fn convert<R, T>(rows: Vec<R>, f: impl Fn(R) -> Result<T>) -> Result<Vec<T>> {
    rows.into_iter().map(f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_keep_their_digits() {
        #[derive(Deserialize)]
        struct R {
            #[serde(deserialize_with = "amount")]
            a: Amount,
            #[serde(default, deserialize_with = "opt_amount")]
            b: Option<Amount>,
            #[serde(default, deserialize_with = "opt_amount")]
            c: Option<Amount>,
        }
        let r: R = serde_json::from_str(r#"{"a": 0.0079, "b": null, "c": 12.50}"#).unwrap();
        assert_eq!(r.a.to_string(), "0.0079");
        assert_eq!(r.b, None);
        assert_eq!(r.c.map(|c| c.to_string()).as_deref(), Some("12.5"));
        let r: R = serde_json::from_str(r#"{"a": 3}"#).unwrap();
        assert_eq!(r.a.to_string(), "3");
        assert_eq!(r.c, None);
    }
}
