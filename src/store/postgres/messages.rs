//! Batches, their messages (the queue functions), exclusions and logs on PostgreSQL.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{PgView, Retry, Stmt, get, malformed};
use crate::batch::{ExclusionReason, Purpose};
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{BatchState, ErrorCategory, MessageStatus, PauseReason, StatusCounts};
use crate::segment::Encoding;
use crate::store::batch::{
    Batch, BatchQuery, BatchStore, CreatedBatch, NewBatch, batch_not_found, check_new_batch,
    check_transition, refused,
};
use crate::store::exclusion::{
    Exclusion, ExclusionStore, NewExclusion, check_exclusions, reason_from_sql, reason_sql,
};
use crate::store::log::{BatchLog, BatchLogStore, LogLevel, NewBatchLog, check_logs};
use crate::store::message::{
    CheckClaim, CheckKind, CheckResult, Checks, Claim, Fence, Message, MessageQuery, MessageStore,
    MessageTotals, NewMessage, Requeued, Rescued, Transition, check_change, check_changes,
    check_check, check_new_messages, group_outcomes, lease_lost, lease_millis, message_not_found,
};
use crate::time::Timestamp;

/// Rows per insert statement (a call's rows go in one transaction).
const CHUNK: usize = 5_000;

/// A foreign-key violation on the batch: for the service, the batch does not exist.
fn missing_batch(e: Error, batch: Uuid) -> Error {
    match e.kind() {
        ErrorKind::Database { code, .. } if code == "23503" => batch_not_found(batch),
        _ => e,
    }
}

fn decode<T>(table: &str, r: Result<T>) -> Result<T> {
    r.map_err(|e| malformed(table, &e))
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

/// The columns of a batch (a macro, for `&'static str` statements).
macro_rules! batch_columns {
    () => {
        "id, owner, team_id, state, pause_reason, purpose, template_id, template_body, sender, \
         filter, options, idempotency_key, send_at, progress, currency, budget, budget_reserved, \
         budget_spent, created_at, updated_at, started_at, completed_at"
    };
}

fn batch_from_row(row: &Row) -> Result<Batch> {
    let t = "sms_batches";
    let state: String = get(row, t, "state")?;
    let reason: Option<String> = get(row, t, "pause_reason")?;
    let purpose: String = get(row, t, "purpose")?;
    Ok(Batch {
        id: get(row, t, "id")?,
        owner: get(row, t, "owner")?,
        team_id: get(row, t, "team_id")?,
        state: decode(t, BatchState::from_sql(&state))?,
        pause_reason: reason
            .map(|r| decode(t, PauseReason::from_sql(&r)))
            .transpose()?,
        purpose: match purpose.as_str() {
            "marketing" => Purpose::Marketing,
            "transactional" => Purpose::Transactional,
            other => {
                return Err(Error::new(ErrorKind::MalformedRow {
                    table: t.into(),
                    message: format!("unknown purpose {other:?}"),
                }));
            }
        },
        template_id: get(row, t, "template_id")?,
        template_body: get(row, t, "template_body")?,
        sender: get(row, t, "sender")?,
        filter: get(row, t, "filter")?,
        options: get(row, t, "options")?,
        idempotency_key: get(row, t, "idempotency_key")?,
        send_at: get(row, t, "send_at")?,
        progress: get(row, t, "progress")?,
        currency: get(row, t, "currency")?,
        budget: get(row, t, "budget")?,
        budget_reserved: get(row, t, "budget_reserved")?,
        budget_spent: get(row, t, "budget_spent")?,
        created_at: get(row, t, "created_at")?,
        updated_at: get(row, t, "updated_at")?,
        started_at: get(row, t, "started_at")?,
        completed_at: get(row, t, "completed_at")?,
    })
}

impl PgView {
    async fn batch_rows(&self, stmt: Stmt, retry: Retry) -> Result<Vec<Batch>> {
        self.rows(stmt, retry)
            .await?
            .iter()
            .map(batch_from_row)
            .collect()
    }
}

#[async_trait]
impl BatchStore for PgView {
    async fn create(&self, batch: &NewBatch, now: Timestamp) -> Result<CreatedBatch> {
        check_new_batch(batch)?;
        let b = batch;
        let insert = Stmt::new(concat!("INSERT INTO sms_batches (id, owner, team_id, state, purpose, template_id, \
             template_body, sender, filter, options, idempotency_key, send_at, currency, budget, \
             created_at, updated_at) \
             VALUES (coalesce($1, gen_random_uuid()), coalesce($2, auth.uid()), \
             coalesce($3, sms_team_id()), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) \
             ON CONFLICT DO NOTHING RETURNING ", batch_columns!()))
        .arg(b.id)
        .arg(b.owner)
        .arg(b.team_id.clone())
        .arg(b.state.code())
        .arg(b.purpose.as_str())
        .arg(b.template_id.clone())
        .arg(b.template_body.clone())
        .arg(b.sender.clone())
        .arg(b.filter.clone())
        .arg(b.options.clone())
        .arg(b.idempotency_key.clone())
        .arg(b.send_at)
        .arg(b.currency.clone())
        .arg(b.budget)
        .arg(now);
        let existing = Stmt::new(concat!(
            "SELECT ",
            batch_columns!(),
            " FROM sms_batches \
             WHERE $2::text IS NOT NULL AND idempotency_key = $2 \
             AND coalesce(owner, '00000000-0000-0000-0000-000000000000') \
               = coalesce($1, auth.uid(), '00000000-0000-0000-0000-000000000000')"
        ))
        .arg(b.owner)
        .arg(b.idempotency_key.clone());
        // With a key, a second run returns the batch the first made; without one it could make
        // two.
        let retry = if b.idempotency_key.is_some() {
            Retry::Safe
        } else {
            Retry::Never
        };
        let results = self
            .run(&[insert, existing], retry)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::Database { code, .. } if code == "23503" => {
                    Error::new(ErrorKind::NotFound {
                        what: "template".into(),
                        id: b.template_id.clone().unwrap_or_default(),
                    })
                }
                _ => e,
            })?;
        if let Some(row) = results[0].first() {
            return Ok(CreatedBatch {
                batch: batch_from_row(row)?,
                created: true,
            });
        }
        match results[1].first() {
            Some(row) => Ok(CreatedBatch {
                batch: batch_from_row(row)?,
                created: false,
            }),
            None => Err(Error::new(ErrorKind::UniqueViolation {
                constraint: "sms_batches_pkey".into(),
                message: format!(
                    "the batch {} exists",
                    b.id.map(|id| id.to_string()).unwrap_or_default()
                ),
            })),
        }
    }

    async fn get(&self, id: Uuid) -> Result<Option<Batch>> {
        Ok(self
            .batch_rows(
                Stmt::new(concat!(
                    "SELECT ",
                    batch_columns!(),
                    " FROM sms_batches WHERE id = $1"
                ))
                .arg(id),
                Retry::Safe,
            )
            .await?
            .pop())
    }

    async fn list(&self, query: &BatchQuery) -> Result<Vec<Batch>> {
        let states: Vec<&'static str> = query.states.iter().map(|s| s.code()).collect();
        let sql = if query.newest_first {
            concat!(
                "SELECT ",
                batch_columns!(),
                " FROM sms_batches \
                 WHERE (cardinality($1::text[]) = 0 OR state = ANY($1)) \
                 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid)) \
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            )
        } else {
            concat!(
                "SELECT ",
                batch_columns!(),
                " FROM sms_batches \
                 WHERE (cardinality($1::text[]) = 0 OR state = ANY($1)) \
                 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid)) \
                 ORDER BY created_at, id LIMIT $4"
            )
        };
        self.batch_rows(
            Stmt::new(sql)
                .arg(states)
                .arg(query.after.map(|(t, _)| t))
                .arg(query.after.map(|(_, id)| id))
                .arg(query.limit.map(i64::from)),
            Retry::Safe,
        )
        .await
    }

    async fn transition(
        &self,
        id: Uuid,
        to: BatchState,
        reason: Option<PauseReason>,
        now: Timestamp,
    ) -> Result<Batch> {
        check_transition(to, reason)?;
        let moved = self
            .batch_rows(
                Stmt::new(concat!(
                    "SELECT ",
                    batch_columns!(),
                    " FROM sms_transition_batch($1, $2, $3, $4)"
                ))
                .arg(id)
                .arg(to.code())
                .arg(reason.map(PauseReason::as_sql))
                .arg(now),
                Retry::Never,
            )
            .await?;
        if let Some(batch) = moved.into_iter().next() {
            return Ok(batch);
        }
        match BatchStore::get(self, id).await? {
            Some(batch) => Err(refused(batch.state, to)),
            None => Err(batch_not_found(id)),
        }
    }

    async fn set_progress(&self, id: Uuid, progress: &Value, now: Timestamp) -> Result<()> {
        let rows = self
            .rows(
                Stmt::new(
                    "UPDATE sms_batches SET progress = $2, updated_at = $3 WHERE id = $1 RETURNING id",
                )
                .arg(id)
                .arg(progress.clone())
                .arg(now),
                Retry::Safe,
            )
            .await?;
        if rows.is_empty() {
            return Err(batch_not_found(id));
        }
        Ok(())
    }

    async fn delete(&self, id: Uuid) -> Result<bool> {
        let rows = self
            .rows(
                Stmt::new("DELETE FROM sms_batches WHERE id = $1 RETURNING id").arg(id),
                Retry::Never,
            )
            .await?;
        Ok(!rows.is_empty())
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// The columns of a message, in a macro so that statements are `&'static str` and prepared once
/// per connection.
macro_rules! message_columns {
    () => {
        "id, batch_id, customer_id, phone, sender, country_code, body, encoding, segments, \
         estimated_cost, variant, time_zone, status, claim_token, lease_expires_at, attempts, \
         max_attempts, run_at, claimed_at, send_started_at, accepted_at, delivered_at, \
         provider_id, provider_status, provider_segments, error_category, error_code, \
         error_message, price, price_currency, verified, verified_at, check_after, created_at, \
         updated_at"
    };
}

fn count(table: &str, column: &str, n: Option<i32>) -> Result<Option<u32>> {
    n.map(|n| {
        u32::try_from(n).map_err(|_| {
            Error::new(ErrorKind::MalformedRow {
                table: table.into(),
                message: format!("{column} is negative: {n}"),
            })
        })
    })
    .transpose()
}

fn message_from_row(row: &Row) -> Result<Message> {
    let t = "sms_batch_messages";
    let encoding = match get::<String>(row, t, "encoding")?.as_str() {
        "GSM-7" => Encoding::Gsm7,
        "UCS-2" => Encoding::Ucs2,
        other => {
            return Err(Error::new(ErrorKind::MalformedRow {
                table: t.into(),
                message: format!("unknown encoding {other:?}"),
            }));
        }
    };
    let status: String = get(row, t, "status")?;
    let category: Option<String> = get(row, t, "error_category")?;
    Ok(Message {
        id: get(row, t, "id")?,
        batch_id: get(row, t, "batch_id")?,
        customer_id: get(row, t, "customer_id")?,
        phone: get(row, t, "phone")?,
        sender: get(row, t, "sender")?,
        country_code: get(row, t, "country_code")?,
        body: get(row, t, "body")?,
        encoding,
        segments: count(t, "segments", Some(get(row, t, "segments")?))?.unwrap_or(0),
        estimated_cost: get(row, t, "estimated_cost")?,
        variant: get(row, t, "variant")?,
        time_zone: get(row, t, "time_zone")?,
        status: decode(t, MessageStatus::from_sql(&status))?,
        claim_token: get(row, t, "claim_token")?,
        lease_expires_at: get(row, t, "lease_expires_at")?,
        attempts: count(t, "attempts", Some(get(row, t, "attempts")?))?.unwrap_or(0),
        max_attempts: count(t, "max_attempts", get(row, t, "max_attempts")?)?,
        run_at: get(row, t, "run_at")?,
        claimed_at: get(row, t, "claimed_at")?,
        send_started_at: get(row, t, "send_started_at")?,
        accepted_at: get(row, t, "accepted_at")?,
        delivered_at: get(row, t, "delivered_at")?,
        provider_id: get(row, t, "provider_id")?,
        provider_status: get(row, t, "provider_status")?,
        provider_segments: count(t, "provider_segments", get(row, t, "provider_segments")?)?,
        error_category: category
            .map(|c| decode(t, ErrorCategory::from_sql(&c)))
            .transpose()?,
        error_code: get(row, t, "error_code")?,
        error_message: get(row, t, "error_message")?,
        price: get(row, t, "price")?,
        price_currency: get(row, t, "price_currency")?,
        verified: count(t, "verified", Some(get(row, t, "verified")?))?.unwrap_or(0),
        verified_at: get(row, t, "verified_at")?,
        check_after: get(row, t, "check_after")?,
        created_at: get(row, t, "created_at")?,
        updated_at: get(row, t, "updated_at")?,
    })
}

fn message_json(m: &NewMessage, order: usize) -> Value {
    json!({
        "ord": order,
        "customer_id": m.customer_id,
        "phone": m.phone,
        "sender": m.sender,
        "country_code": m.country_code,
        "body": m.body,
        "encoding": m.encoding.as_str(),
        "segments": m.segments,
        "estimated_cost": m.estimated_cost.to_string(),
        "variant": m.variant,
        "time_zone": m.time_zone,
        "max_attempts": m.max_attempts,
        "run_at": m.run_at.map(|t| t.to_string()),
    })
}

fn change_json(change: &Transition) -> Value {
    let mut map = Map::new();
    let mut put = |k: &str, v: Value| {
        map.insert(k.to_owned(), v);
    };
    if let Some(t) = change.run_at {
        put("run_at", Value::String(t.to_string()));
    }
    if let Some(p) = &change.provider_id {
        put("provider_id", Value::String(p.clone()));
    }
    if let Some(p) = &change.provider_status {
        put("provider_status", Value::String(p.clone()));
    }
    if let Some(s) = change.provider_segments {
        put("provider_segments", Value::from(s));
    }
    if let Some(c) = change.error.category {
        put("error_category", Value::String(c.as_sql().to_owned()));
    }
    if let Some(c) = &change.error.code {
        put("error_code", Value::String(c.clone()));
    }
    if let Some(m) = &change.error.message {
        put("error_message", Value::String(m.clone()));
    }
    if let Some(price) = &change.price {
        put("price", Value::String(price.amount.to_string()));
        put("price_currency", Value::String(price.currency.clone()));
    }
    Value::Object(map)
}

impl PgView {
    /// Which of these ids the store sees (for a group write's messages that did not move).
    async fn visible_messages(&self, ids: Vec<i64>) -> Result<HashSet<i64>> {
        self.rows(
            Stmt::new("SELECT id FROM sms_batch_messages WHERE id = ANY($1)").arg(ids),
            Retry::Safe,
        )
        .await?
        .iter()
        .map(|r| get::<i64>(r, "sms_batch_messages", "id"))
        .collect()
    }

    async fn message_rows(&self, stmt: Stmt, retry: Retry) -> Result<Vec<Message>> {
        self.rows(stmt, retry)
            .await?
            .iter()
            .map(message_from_row)
            .collect()
    }

    /// A fenced function's result: the message, or (no row) not found or lease lost.
    async fn fenced(&self, id: i64, stmt: Stmt) -> Result<Message> {
        if let Some(m) = self.message_rows(stmt, Retry::Never).await?.pop() {
            return Ok(m);
        }
        match MessageStore::get(self, id).await? {
            Some(_) => Err(lease_lost(id)),
            None => Err(message_not_found(id)),
        }
    }
}

#[async_trait]
impl MessageStore for PgView {
    async fn insert(&self, batch_id: Uuid, messages: &[NewMessage], now: Timestamp) -> Result<u64> {
        check_new_messages(messages)?;
        let stmts: Vec<Stmt> = messages
            .chunks(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                let rows: Vec<Value> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, m)| message_json(m, c * CHUNK + i))
                    .collect();
                Stmt::new(
                    "WITH ins AS (INSERT INTO sms_batch_messages (batch_id, customer_id, phone, \
                     sender, country_code, body, encoding, segments, estimated_cost, variant, \
                     time_zone, max_attempts, run_at, created_at, updated_at) \
                     SELECT $1, r.customer_id, r.phone, r.sender, r.country_code, r.body, \
                     r.encoding, r.segments, r.estimated_cost::numeric, r.variant, r.time_zone, \
                     r.max_attempts, coalesce(r.run_at, $2), $2, $2 \
                     FROM jsonb_to_recordset($3) AS r(ord bigint, customer_id bigint, phone text, \
                     sender text, country_code text, body text, encoding text, segments integer, \
                     estimated_cost text, variant text, time_zone text, max_attempts integer, \
                     run_at timestamptz) \
                     ORDER BY r.ord \
                     ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM ins",
                )
                .arg(batch_id)
                .arg(now)
                .arg(Value::Array(rows))
            })
            .collect();
        if stmts.is_empty() {
            return Ok(0);
        }
        let results = self
            .run(&stmts, Retry::Never)
            .await
            .map_err(|e| missing_batch(e, batch_id))?;
        let mut inserted = 0;
        for rows in &results {
            if let Some(row) = rows.first() {
                inserted += get::<i64>(row, "sms_batch_messages", "count")? as u64;
            }
        }
        Ok(inserted)
    }

    async fn claim(&self, claim: &Claim) -> Result<Vec<Message>> {
        let mut claimed = self
            .message_rows(
                Stmt::new(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM sms_claim_messages($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .arg(claim.batch_id)
                .arg(i32::try_from(claim.limit).unwrap_or(i32::MAX))
                .arg(claim.token)
                .arg(lease_millis(claim.lease))
                .arg(claim.now)
                .arg(claim.after.map(|(run_at, _)| run_at))
                .arg(claim.after.map(|(_, id)| id))
                .arg(claim.start_sends),
                Retry::Never,
            )
            .await?;
        claimed.sort_by_key(|m| (m.run_at, m.id));
        Ok(claimed)
    }

    async fn mark_send_started(&self, id: i64, token: Uuid, now: Timestamp) -> Result<Message> {
        self.fenced(
            id,
            Stmt::new(concat!(
                "SELECT ",
                message_columns!(),
                " FROM sms_mark_send_started($1, $2, $3)"
            ))
            .arg(id)
            .arg(token)
            .arg(now),
        )
        .await
    }

    async fn extend_lease(
        &self,
        id: i64,
        token: Uuid,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Message> {
        self.fenced(
            id,
            Stmt::new(concat!(
                "SELECT ",
                message_columns!(),
                " FROM sms_extend_lease($1, $2, $3, $4)"
            ))
            .arg(id)
            .arg(token)
            .arg(lease_millis(lease))
            .arg(now),
        )
        .await
    }

    async fn release(&self, id: i64, token: Uuid, now: Timestamp) -> Result<Message> {
        self.fenced(
            id,
            Stmt::new(concat!(
                "SELECT ",
                message_columns!(),
                " FROM sms_release_message($1, $2, $3)"
            ))
            .arg(id)
            .arg(token)
            .arg(now),
        )
        .await
    }

    async fn mark_send_started_many(
        &self,
        ids: &[i64],
        token: Uuid,
        now: Timestamp,
    ) -> Result<Vec<Result<Message>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let moved = self
            .rows(
                Stmt::new(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM sms_mark_send_started_many($1, $2, $3)"
                ))
                .arg(ids.to_vec())
                .arg(token)
                .arg(now),
                Retry::Never,
            )
            .await?;
        let moved = moved
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>>>()?;
        group_outcomes(ids, moved, |missing| self.visible_messages(missing)).await
    }

    async fn transition_many(
        &self,
        changes: &[(i64, Fence, Transition)],
        now: Timestamp,
    ) -> Result<Vec<Result<Message>>> {
        check_changes(changes)?;
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = changes.iter().map(|(id, _, _)| *id).collect();
        let tokens: Vec<Option<Uuid>> = changes
            .iter()
            .map(|(_, f, _)| match f {
                Fence::Claim(t) => Some(*t),
                Fence::Status(_) => None,
            })
            .collect();
        let froms: Vec<Option<&'static str>> = changes
            .iter()
            .map(|(_, f, _)| match f {
                Fence::Claim(_) => None,
                Fence::Status(s) => Some(s.as_sql()),
            })
            .collect();
        let tos: Vec<&'static str> = changes.iter().map(|(_, _, c)| c.status.as_sql()).collect();
        let json: Vec<Value> = changes.iter().map(|(_, _, c)| change_json(c)).collect();
        let moved = self
            .rows(
                Stmt::new(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM sms_transition_messages($1, $2, $3, $4, $5, $6)"
                ))
                .arg(ids.clone())
                .arg(tokens)
                .arg(froms)
                .arg(tos)
                .arg(json)
                .arg(now),
                Retry::Never,
            )
            .await?;
        let moved = moved
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>>>()?;
        group_outcomes(&ids, moved, |missing| self.visible_messages(missing)).await
    }

    async fn transition(
        &self,
        id: i64,
        fence: Fence,
        change: &Transition,
        now: Timestamp,
    ) -> Result<Message> {
        check_change(change)?;
        let (token, from) = match fence {
            Fence::Claim(token) => (Some(token), None),
            Fence::Status(status) => (None, Some(status.as_sql())),
        };
        self.fenced(
            id,
            Stmt::new(concat!(
                "SELECT ",
                message_columns!(),
                " FROM sms_transition_message($1, $2, $3, $4, $5, $6)"
            ))
            .arg(id)
            .arg(token)
            .arg(from)
            .arg(change.status.as_sql())
            .arg(change_json(change))
            .arg(now),
        )
        .await
    }

    async fn rescue(&self, now: Timestamp, limit: u32) -> Result<Rescued> {
        let rows = self
            .rows(
                Stmt::new(
                    "SELECT r.status, count(*) AS n FROM sms_rescue_expired($1, $2) AS r \
                     GROUP BY r.status",
                )
                .arg(now)
                .arg(i32::try_from(limit).unwrap_or(i32::MAX)),
                Retry::Never,
            )
            .await?;
        let mut rescued = Rescued::default();
        for row in &rows {
            let status: String = get(row, "sms_batch_messages", "status")?;
            let n = get::<i64>(row, "sms_batch_messages", "n")? as u64;
            match status.as_str() {
                "pending" => rescued.pending += n,
                _ => rescued.in_doubt += n,
            }
        }
        Ok(rescued)
    }

    async fn cancel_pending(&self, batch_id: Uuid, now: Timestamp) -> Result<u64> {
        let rows = self
            .rows(
                Stmt::new(
                    "WITH u AS (UPDATE sms_batch_messages SET status = 'cancelled', updated_at = $2 \
                     WHERE batch_id = $1 AND status = 'pending' RETURNING 1) SELECT count(*) FROM u",
                )
                .arg(batch_id)
                .arg(now),
                Retry::Never,
            )
            .await?;
        match rows.first() {
            Some(row) => Ok(get::<i64>(row, "sms_batch_messages", "count")? as u64),
            None => Ok(0),
        }
    }

    async fn get(&self, id: i64) -> Result<Option<Message>> {
        Ok(self
            .message_rows(
                Stmt::new(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM sms_batch_messages WHERE id = $1"
                ))
                .arg(id),
                Retry::Safe,
            )
            .await?
            .pop())
    }

    async fn find_by_provider_id(&self, provider_id: &str) -> Result<Option<Message>> {
        Ok(self
            .message_rows(
                Stmt::new(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM sms_batch_messages WHERE provider_id = $1"
                ))
                .arg(provider_id.to_owned()),
                Retry::Safe,
            )
            .await?
            .pop())
    }

    async fn list(&self, query: &MessageQuery) -> Result<Vec<Message>> {
        let statuses: Vec<&'static str> = query.statuses.iter().map(|s| s.as_sql()).collect();
        self.message_rows(
            Stmt::new(concat!(
                "SELECT ",
                message_columns!(),
                " FROM sms_batch_messages \
                 WHERE batch_id = $1 AND (cardinality($2::text[]) = 0 OR status = ANY($2)) \
                 AND id > $3 ORDER BY id LIMIT $4"
            ))
            .arg(query.batch_id)
            .arg(statuses)
            .arg(query.after.unwrap_or(i64::MIN))
            .arg(i64::from(query.limit)),
            Retry::Safe,
        )
        .await
    }

    async fn count_by_status(&self, batch_id: Uuid) -> Result<StatusCounts> {
        let rows = self
            .rows(
                Stmt::new(
                    "SELECT status, count(*) AS n FROM sms_batch_messages WHERE batch_id = $1 \
                     GROUP BY status",
                )
                .arg(batch_id),
                Retry::Safe,
            )
            .await?;
        let mut counts = StatusCounts::default();
        for row in &rows {
            let t = "sms_batch_messages";
            let status: String = get(row, t, "status")?;
            counts.add(
                decode(t, MessageStatus::from_sql(&status))?,
                get::<i64>(row, t, "n")? as u64,
            );
        }
        Ok(counts)
    }

    async fn count_unfinished(&self, batch_id: Uuid) -> Result<StatusCounts> {
        // Each count reads a partial index (what the queue holds), not the batch's rows: the
        // pending and in-doubt ones per batch, the claims in flight of every batch (as many as
        // the workers have permits) on the lease index.
        let rows = self
            .rows(
                Stmt::new(
                    "SELECT \
                     (SELECT count(*) FROM sms_batch_messages \
                       WHERE batch_id = $1 AND status = 'pending') AS pending, \
                     (SELECT count(*) FROM sms_batch_messages \
                       WHERE lease_expires_at IS NOT NULL AND lease_expires_at > '-infinity' \
                         AND batch_id = $1 AND status = 'processing') AS processing, \
                     (SELECT count(*) FROM sms_batch_messages \
                       WHERE batch_id = $1 AND status = 'in_doubt') AS in_doubt",
                )
                .arg(batch_id),
                Retry::Safe,
            )
            .await?;
        let mut counts = StatusCounts::default();
        if let Some(row) = rows.first() {
            let t = "sms_batch_messages";
            counts.add(
                MessageStatus::Pending,
                get::<i64>(row, t, "pending")? as u64,
            );
            counts.add(
                MessageStatus::Processing,
                get::<i64>(row, t, "processing")? as u64,
            );
            counts.add(
                MessageStatus::InDoubt,
                get::<i64>(row, t, "in_doubt")? as u64,
            );
        }
        Ok(counts)
    }

    async fn count_by_error_category(&self, batch_id: Uuid) -> Result<Vec<(ErrorCategory, u64)>> {
        let rows = self
            .rows(
                Stmt::new("SELECT error_category, n FROM sms_count_messages_by_error_category($1)")
                    .arg(batch_id),
                Retry::Safe,
            )
            .await?;
        let t = "sms_batch_messages";
        let mut counts = rows
            .iter()
            .map(|row| {
                let c: String = get(row, t, "error_category")?;
                Ok((
                    decode(t, ErrorCategory::from_sql(&c))?,
                    get::<i64>(row, t, "n")? as u64,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        counts.sort_by_key(|&(c, _)| c);
        Ok(counts)
    }

    async fn next_pending_at(&self, batch_id: Uuid) -> Result<Option<Timestamp>> {
        let rows = self
            .rows(
                Stmt::new(
                    "SELECT min(run_at) AS at FROM sms_batch_messages \
                     WHERE batch_id = $1 AND status = 'pending'",
                )
                .arg(batch_id),
                Retry::Safe,
            )
            .await?;
        match rows.first() {
            Some(row) => get(row, "sms_batch_messages", "at"),
            None => Ok(None),
        }
    }

    async fn defer(
        &self,
        id: i64,
        token: Uuid,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<Message> {
        self.fenced(
            id,
            Stmt::new(concat!(
                "SELECT ",
                message_columns!(),
                " FROM sms_defer_message($1, $2, $3, $4)"
            ))
            .arg(id)
            .arg(token)
            .arg(run_at)
            .arg(now),
        )
        .await
    }

    async fn claim_checks(&self, claim: &CheckClaim) -> Result<Checks> {
        let pass: i32 = match claim.kind {
            CheckKind::Verify { pass } => i32::try_from(pass.max(1)).unwrap_or(i32::MAX),
            CheckKind::Reconcile => 0,
        };
        let results = self
            .run(
                &[
                    Stmt::new(concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM sms_claim_checks($1, $2, $3, $4, $5, $6)"
                    ))
                    .arg(claim.batch_id)
                    .arg(pass)
                    .arg(claim.due)
                    .arg(i32::try_from(claim.limit).unwrap_or(i32::MAX))
                    .arg(lease_millis(claim.lease))
                    .arg(claim.now),
                    Stmt::new("SELECT sms_outstanding_checks($1, $2) AS n")
                        .arg(claim.batch_id)
                        .arg(pass),
                ],
                Retry::Never,
            )
            .await?;
        let mut messages: Vec<Message> = results[0]
            .iter()
            .map(message_from_row)
            .collect::<Result<_>>()?;
        messages.sort_by_key(|m| m.id);
        let outstanding = match results[1].first() {
            Some(row) => get::<i64>(row, "sms_batch_messages", "n")? as u64,
            None => 0,
        };
        Ok(Checks {
            messages,
            outstanding,
        })
    }

    async fn record_check(
        &self,
        id: i64,
        status: MessageStatus,
        check: &CheckResult,
        now: Timestamp,
    ) -> Result<Message> {
        check_check(status, check)?;
        let mut changes = Map::new();
        if let Some(pass) = check.verified {
            changes.insert("verified".into(), Value::from(pass));
        }
        if let Some(p) = &check.provider_status {
            changes.insert("provider_status".into(), Value::String(p.clone()));
        }
        if let Some(n) = check.provider_segments {
            changes.insert("provider_segments".into(), Value::from(n));
        }
        if let Some(price) = &check.price {
            changes.insert("price".into(), Value::String(price.amount.to_string()));
            changes.insert(
                "price_currency".into(),
                Value::String(price.currency.clone()),
            );
        }
        if let Some(after) = check.check_after {
            changes.insert(
                "check_after".into(),
                after.map_or(Value::Null, |t| Value::String(t.to_string())),
            );
        }
        self.fenced(
            id,
            Stmt::new(concat!(
                "SELECT ",
                message_columns!(),
                " FROM sms_record_check($1, $2, $3, $4)"
            ))
            .arg(id)
            .arg(status.as_sql())
            .arg(Value::Object(changes))
            .arg(now),
        )
        .await
    }

    async fn requeue_failed(&self, batch_id: Uuid, now: Timestamp) -> Result<Requeued> {
        let rows = self
            .rows(
                Stmt::new("SELECT state, requeued FROM sms_requeue_failed($1, $2)")
                    .arg(batch_id)
                    .arg(now),
                Retry::Never,
            )
            .await?;
        let t = "sms_batches";
        let Some(row) = rows.first() else {
            return Err(batch_not_found(batch_id));
        };
        let state: String = get(row, t, "state")?;
        let state = decode(t, BatchState::from_sql(&state))?;
        let requeued: i64 = get(row, t, "requeued")?;
        if requeued < 0 {
            return Err(refused(state, BatchState::Sending));
        }
        Ok(Requeued {
            requeued: requeued as u64,
            state,
        })
    }

    async fn totals(&self, batch_id: Uuid) -> Result<Vec<MessageTotals>> {
        let rows = self
            .rows(
                Stmt::new(
                    "SELECT status, variant, count(*) AS messages, \
                     coalesce(sum(segments), 0)::bigint AS segments, \
                     coalesce(sum(provider_segments), 0)::bigint AS provider_segments, \
                     coalesce(sum(estimated_cost), 0) AS estimated_cost, \
                     coalesce(sum(price), 0) AS price, count(price) AS priced \
                     FROM sms_batch_messages WHERE batch_id = $1 \
                     GROUP BY status, variant ORDER BY status, variant NULLS FIRST",
                )
                .arg(batch_id),
                Retry::Safe,
            )
            .await?;
        let t = "sms_batch_messages";
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: String = get(row, t, "status")?;
            let mut totals = MessageTotals::new(
                decode(t, MessageStatus::from_sql(&status))?,
                get(row, t, "variant")?,
            );
            totals.messages = get::<i64>(row, t, "messages")? as u64;
            totals.segments = get::<i64>(row, t, "segments")? as u64;
            totals.provider_segments = get::<i64>(row, t, "provider_segments")? as u64;
            totals.estimated_cost = get(row, t, "estimated_cost")?;
            totals.price = get(row, t, "price")?;
            totals.priced = get::<i64>(row, t, "priced")? as u64;
            out.push(totals);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Exclusions and logs
// ---------------------------------------------------------------------------------------------

fn exclusion_from_row(row: &Row) -> Result<Exclusion> {
    let t = "sms_batch_excluded";
    let reason: String = get(row, t, "reason")?;
    Ok(Exclusion {
        id: get(row, t, "id")?,
        batch_id: get(row, t, "batch_id")?,
        customer_id: get(row, t, "customer_id")?,
        phone: get(row, t, "phone")?,
        reason: reason_from_sql(&reason)?,
        detail: get(row, t, "detail")?,
        created_at: get(row, t, "created_at")?,
    })
}

#[async_trait]
impl ExclusionStore for PgView {
    async fn insert(
        &self,
        batch_id: Uuid,
        exclusions: &[NewExclusion],
        now: Timestamp,
    ) -> Result<u64> {
        check_exclusions(exclusions)?;
        let stmts: Vec<Stmt> = exclusions
            .chunks(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                let rows: Vec<Value> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        json!({"ord": c * CHUNK + i, "customer_id": e.customer_id,
                               "phone": e.phone, "reason": reason_sql(e.reason),
                               "detail": e.detail})
                    })
                    .collect();
                Stmt::new(
                    "WITH ins AS (INSERT INTO sms_batch_excluded (batch_id, customer_id, phone, \
                     reason, detail, created_at) \
                     SELECT $1, r.customer_id, r.phone, r.reason, r.detail, $2 \
                     FROM jsonb_to_recordset($3) AS r(ord bigint, customer_id bigint, phone text, \
                     reason text, detail text) ORDER BY r.ord \
                     ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM ins",
                )
                .arg(batch_id)
                .arg(now)
                .arg(Value::Array(rows))
            })
            .collect();
        if stmts.is_empty() {
            return Ok(0);
        }
        let results = self
            .run(&stmts, Retry::Never)
            .await
            .map_err(|e| missing_batch(e, batch_id))?;
        let mut inserted = 0;
        for rows in &results {
            if let Some(row) = rows.first() {
                inserted += get::<i64>(row, "sms_batch_excluded", "count")? as u64;
            }
        }
        Ok(inserted)
    }

    async fn list(&self, batch_id: Uuid, after: Option<i64>, limit: u32) -> Result<Vec<Exclusion>> {
        self.rows(
            Stmt::new(
                "SELECT id, batch_id, customer_id, phone, reason, detail, created_at \
                 FROM sms_batch_excluded WHERE batch_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .arg(batch_id)
            .arg(after.unwrap_or(i64::MIN))
            .arg(i64::from(limit)),
            Retry::Safe,
        )
        .await?
        .iter()
        .map(exclusion_from_row)
        .collect()
    }

    async fn count_by_reason(&self, batch_id: Uuid) -> Result<BTreeMap<ExclusionReason, u64>> {
        let rows = self
            .rows(
                Stmt::new(
                    "SELECT reason, count(*) AS n FROM sms_batch_excluded WHERE batch_id = $1 \
                     GROUP BY reason",
                )
                .arg(batch_id),
                Retry::Safe,
            )
            .await?;
        let mut counts = BTreeMap::new();
        for row in &rows {
            let reason: String = get(row, "sms_batch_excluded", "reason")?;
            counts.insert(
                reason_from_sql(&reason)?,
                get::<i64>(row, "sms_batch_excluded", "n")? as u64,
            );
        }
        Ok(counts)
    }
}

fn log_from_row(row: &Row) -> Result<BatchLog> {
    let t = "sms_batch_logs";
    let level: String = get(row, t, "level")?;
    Ok(BatchLog {
        id: get(row, t, "id")?,
        batch_id: get(row, t, "batch_id")?,
        at: get(row, t, "at")?,
        level: LogLevel::from_code(&level)?,
        event: get(row, t, "event")?,
        message: get(row, t, "message")?,
        data: get(row, t, "data")?,
    })
}

#[async_trait]
impl BatchLogStore for PgView {
    async fn append(&self, batch_id: Uuid, events: &[NewBatchLog], now: Timestamp) -> Result<u64> {
        check_logs(events)?;
        if events.is_empty() {
            return Ok(0);
        }
        let rows: Vec<Value> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                json!({"ord": i, "level": e.level.code(), "event": e.event,
                       "message": e.message, "data": e.data})
            })
            .collect();
        let result = self
            .rows(
                Stmt::new(
                    "WITH ins AS (INSERT INTO sms_batch_logs (batch_id, at, level, event, message, data) \
                     SELECT $1, $2, r.level, r.event, r.message, r.data \
                     FROM jsonb_to_recordset($3) AS r(ord bigint, level text, event text, \
                     message text, data jsonb) ORDER BY r.ord RETURNING 1) \
                     SELECT count(*) FROM ins",
                )
                .arg(batch_id)
                .arg(now)
                .arg(Value::Array(rows)),
                Retry::Never,
            )
            .await
            .map_err(|e| missing_batch(e, batch_id))?;
        match result.first() {
            Some(row) => Ok(get::<i64>(row, "sms_batch_logs", "count")? as u64),
            None => Ok(0),
        }
    }

    async fn list(&self, batch_id: Uuid, after: Option<i64>, limit: u32) -> Result<Vec<BatchLog>> {
        self.rows(
            Stmt::new(
                "SELECT id, batch_id, at, level, event, message, data FROM sms_batch_logs \
                 WHERE batch_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .arg(batch_id)
            .arg(after.unwrap_or(i64::MIN))
            .arg(i64::from(limit)),
            Retry::Safe,
        )
        .await?
        .iter()
        .map(log_from_row)
        .collect()
    }
}
