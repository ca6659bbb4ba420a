//! Batches, their messages (the queue functions as RPC calls), exclusions and logs over
//! PostgREST.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::rows::{BatchRow, MessageRow, TotalsRow, convert};
use super::{Call, Method, Retry, SbView, eq, in_list};
use crate::batch::ExclusionReason;
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{BatchState, ErrorCategory, MessageStatus, PauseReason, StatusCounts};
use crate::store::actor::Actor;
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

/// Rows per insert request (each request is one transaction).
const CHUNK: usize = 1_000;

/// A foreign-key violation on the batch: for the service, the batch does not exist.
fn missing_batch(e: Error, batch: Uuid) -> Error {
    match e.kind() {
        ErrorKind::Database { code, .. } if code == "23503" => batch_not_found(batch),
        _ => e,
    }
}

/// The keyset condition `(column, id) > (t, id)` as a logic tree (values quoted).
fn after_tree(column: &str, t: Timestamp, id: &str) -> String {
    format!("({column}.gt.\"{t}\",and({column}.eq.\"{t}\",id.gt.\"{id}\"))")
}

/// The keyset condition `(column, id) < (t, id)` (descending pages).
fn before_tree(column: &str, t: Timestamp, id: &str) -> String {
    format!("({column}.lt.\"{t}\",and({column}.eq.\"{t}\",id.lt.\"{id}\"))")
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

impl SbView {
    async fn batch_rows(&self, call: Call) -> Result<Vec<Batch>> {
        let rows: Vec<BatchRow> = self.json(call, "sms_batches").await?;
        convert(rows, BatchRow::into_batch)
    }

    async fn message_rows(&self, call: Call) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = self.json(call, "sms_batch_messages").await?;
        convert(rows, MessageRow::into_message)
    }

    /// A fenced function's result: the message, or (no row) not found or lease lost.
    async fn fenced(&self, id: i64, call: Call) -> Result<Message> {
        if let Some(m) = self.message_rows(call).await?.pop() {
            return Ok(m);
        }
        match MessageStore::get(self, id).await? {
            Some(_) => Err(lease_lost(id)),
            None => Err(message_not_found(id)),
        }
    }

    /// Which of these messages the actor can see.
    async fn visible_messages(&self, ids: &[i64]) -> Result<HashSet<i64>> {
        #[derive(Deserialize)]
        struct Id {
            id: i64,
        }
        let keys: Vec<String> = ids.iter().map(i64::to_string).collect();
        let mut seen = HashSet::new();
        for chunk in self.key_chunks(&keys) {
            let rows: Vec<Id> = self
                .json(
                    Call::get("sms_batch_messages")
                        .param("select", "id")
                        .param("id", in_list(chunk)),
                    "sms_batch_messages",
                )
                .await?;
            seen.extend(rows.into_iter().map(|r| r.id));
        }
        Ok(seen)
    }
}

#[async_trait]
impl BatchStore for SbView {
    async fn create(&self, batch: &NewBatch, now: Timestamp) -> Result<CreatedBatch> {
        check_new_batch(batch)?;
        let b = batch;
        let mut row = Map::new();
        // Absent keys take the column defaults: a new id, the requesting user as owner, the
        // user's team.
        if let Some(id) = b.id {
            row.insert("id".into(), json!(id));
        }
        if let Some(owner) = b.owner {
            row.insert("owner".into(), json!(owner));
        }
        if let Some(team) = &b.team_id {
            row.insert("team_id".into(), json!(team));
        }
        for (k, v) in [
            ("state", json!(b.state.code())),
            ("purpose", json!(b.purpose.as_str())),
            ("template_id", json!(b.template_id)),
            ("template_body", json!(b.template_body)),
            ("sender", json!(b.sender)),
            ("filter", json!(b.filter)),
            ("options", b.options.clone()),
            ("idempotency_key", json!(b.idempotency_key)),
            ("send_at", json!(b.send_at.map(|t| t.to_string()))),
            ("currency", json!(b.currency)),
            ("budget", json!(b.budget.map(|a| a.to_string()))),
            ("created_at", json!(now.to_string())),
            ("updated_at", json!(now.to_string())),
        ] {
            row.insert(k.into(), v);
        }
        let inserted = self
            .batch_rows(
                Call::new(Method::Post, "sms_batches")
                    .body(Value::Object(row).to_string())
                    .param("select", "*"),
            )
            .await;
        match inserted {
            Ok(mut rows) => match rows.pop() {
                Some(batch) => Ok(CreatedBatch {
                    batch,
                    created: true,
                }),
                None => Err(Error::new(ErrorKind::Database {
                    code: "PGRST".into(),
                    message: "the insert returned no batch".into(),
                })),
            },
            Err(e) => match e.kind() {
                ErrorKind::Database { code, .. } if code == "23503" => {
                    Err(Error::new(ErrorKind::NotFound {
                        what: "template".into(),
                        id: b.template_id.clone().unwrap_or_default(),
                    }))
                }
                ErrorKind::UniqueViolation { constraint, .. }
                    if constraint == "sms_batches_idempotency_idx" =>
                {
                    // The batch this key made first (for the same owner).
                    let key = b.idempotency_key.clone().unwrap_or_default();
                    let owner = b.owner.or_else(|| match &self.actor {
                        Actor::User(u) => Some(u.id()),
                        _ => None,
                    });
                    let call = Call::get("sms_batches")
                        .param("select", "*")
                        .param("idempotency_key", eq(&key))
                        .param(
                            "owner",
                            match owner {
                                Some(o) => eq(o),
                                None => "is.null".to_owned(),
                            },
                        );
                    match self.batch_rows(call).await?.pop() {
                        Some(batch) => Ok(CreatedBatch {
                            batch,
                            created: false,
                        }),
                        None => Err(e),
                    }
                }
                _ => Err(e),
            },
        }
    }

    async fn get(&self, id: Uuid) -> Result<Option<Batch>> {
        Ok(self
            .batch_rows(
                Call::get("sms_batches")
                    .param("select", "*")
                    .param("id", eq(id)),
            )
            .await?
            .pop())
    }

    async fn list(&self, query: &BatchQuery) -> Result<Vec<Batch>> {
        let order = if query.newest_first {
            "created_at.desc,id.desc"
        } else {
            "created_at.asc,id.asc"
        };
        let mut call = Call::get("sms_batches")
            .param("select", "*")
            .param("order", order);
        if !query.states.is_empty() {
            call = call.param("state", in_list(query.states.iter().map(|s| s.code())));
        }
        if let Some((t, id)) = query.after {
            let tree = if query.newest_first {
                before_tree("created_at", t, &id.to_string())
            } else {
                after_tree("created_at", t, &id.to_string())
            };
            call = call.param("or", tree);
        }
        if let Some(limit) = query.limit {
            call = call.param("limit", limit.to_string());
        }
        self.batch_rows(call).await
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
            .batch_rows(Call::rpc(
                "sms_transition_batch",
                json!({"p_id": id, "p_to": to.code(), "p_reason": reason.map(PauseReason::as_sql),
                       "p_now": now.to_string()}),
            ))
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
        let rows: Vec<Value> = self
            .json(
                Call::new(Method::Patch, "sms_batches")
                    .body(json!({"progress": progress, "updated_at": now.to_string()}).to_string())
                    .param("id", eq(id))
                    .param("select", "id")
                    .retry(Retry::Safe),
                "sms_batches",
            )
            .await?;
        if rows.is_empty() {
            return Err(batch_not_found(id));
        }
        Ok(())
    }

    async fn delete(&self, id: Uuid) -> Result<bool> {
        let rows: Vec<Value> = self
            .json(
                Call::new(Method::Delete, "sms_batches")
                    .param("id", eq(id))
                    .param("select", "id"),
                "sms_batches",
            )
            .await?;
        Ok(!rows.is_empty())
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

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

#[async_trait]
impl MessageStore for SbView {
    async fn insert(&self, batch_id: Uuid, messages: &[NewMessage], now: Timestamp) -> Result<u64> {
        check_new_messages(messages)?;
        let mut inserted = 0;
        // One request per chunk (PostgREST runs one transaction per request): an interrupted
        // insert leaves whole chunks, and running it again skips what is there.
        for (c, chunk) in messages.chunks(CHUNK).enumerate() {
            let rows: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| message_json(m, c * CHUNK + i))
                .collect();
            let n: u64 = self
                .json(
                    Call::rpc(
                        "sms_insert_messages",
                        json!({"p_batch_id": batch_id, "p_rows": rows, "p_now": now.to_string()}),
                    ),
                    "sms_batch_messages",
                )
                .await
                .map_err(|e| missing_batch(e, batch_id))?;
            inserted += n;
        }
        Ok(inserted)
    }

    async fn claim(&self, claim: &Claim) -> Result<Vec<Message>> {
        let mut args = json!({
            "p_batch_id": claim.batch_id,
            "p_limit": i32::try_from(claim.limit).unwrap_or(i32::MAX),
            "p_token": claim.token,
            "p_lease_ms": lease_millis(claim.lease),
            "p_now": claim.now.to_string(),
        });
        if let Some((run_at, id)) = claim.after {
            args["p_after_run_at"] = json!(run_at.to_string());
            args["p_after_id"] = json!(id);
        }
        if claim.start_sends {
            args["p_start"] = json!(true);
        }
        let mut claimed = self
            .message_rows(Call::rpc("sms_claim_messages", args))
            .await?;
        claimed.sort_by_key(|m| (m.run_at, m.id));
        Ok(claimed)
    }

    async fn mark_send_started(&self, id: i64, token: Uuid, now: Timestamp) -> Result<Message> {
        self.fenced(
            id,
            Call::rpc(
                "sms_mark_send_started",
                json!({"p_id": id, "p_token": token, "p_now": now.to_string()}),
            ),
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
            .message_rows(Call::rpc(
                "sms_mark_send_started_many",
                json!({"p_ids": ids, "p_token": token, "p_now": now.to_string()}),
            ))
            .await?;
        group_outcomes(ids, moved, |missing| async move {
            self.visible_messages(&missing).await
        })
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
            Call::rpc(
                "sms_extend_lease",
                json!({"p_id": id, "p_token": token, "p_lease_ms": lease_millis(lease),
                       "p_now": now.to_string()}),
            ),
        )
        .await
    }

    async fn release(&self, id: i64, token: Uuid, now: Timestamp) -> Result<Message> {
        self.fenced(
            id,
            Call::rpc(
                "sms_release_message",
                json!({"p_id": id, "p_token": token, "p_now": now.to_string()}),
            ),
        )
        .await
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
            Call::rpc(
                "sms_transition_message",
                json!({"p_id": id, "p_token": token, "p_from": from,
                       "p_to": change.status.as_sql(), "p_changes": change_json(change),
                       "p_now": now.to_string()}),
            ),
        )
        .await
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
        // One request, so one transaction: all the moves or none.
        let moved = self
            .message_rows(Call::rpc(
                "sms_transition_messages",
                json!({"p_ids": ids, "p_tokens": tokens, "p_froms": froms, "p_tos": tos,
                       "p_changes": json, "p_now": now.to_string()}),
            ))
            .await?;
        group_outcomes(&ids, moved, |missing| async move {
            self.visible_messages(&missing).await
        })
        .await
    }

    async fn rescue(&self, now: Timestamp, limit: u32) -> Result<Rescued> {
        #[derive(Deserialize)]
        struct Row {
            status: String,
        }
        let rows: Vec<Row> = self
            .json(
                Call::rpc(
                    "sms_rescue_expired",
                    json!({"p_now": now.to_string(),
                           "p_limit": i32::try_from(limit).unwrap_or(i32::MAX)}),
                ),
                "sms_batch_messages",
            )
            .await?;
        let mut rescued = Rescued::default();
        for row in rows {
            match row.status.as_str() {
                "pending" => rescued.pending += 1,
                _ => rescued.in_doubt += 1,
            }
        }
        Ok(rescued)
    }

    async fn cancel_pending(&self, batch_id: Uuid, now: Timestamp) -> Result<u64> {
        let rows: Vec<Value> = self
            .json(
                Call::new(Method::Patch, "sms_batch_messages")
                    .body(json!({"status": "cancelled", "updated_at": now.to_string()}).to_string())
                    .param("batch_id", eq(batch_id))
                    .param("status", eq("pending"))
                    .param("select", "id"),
                "sms_batch_messages",
            )
            .await?;
        Ok(rows.len() as u64)
    }

    async fn get(&self, id: i64) -> Result<Option<Message>> {
        Ok(self
            .message_rows(
                Call::get("sms_batch_messages")
                    .param("select", "*")
                    .param("id", eq(id)),
            )
            .await?
            .pop())
    }

    async fn find_by_provider_id(&self, provider_id: &str) -> Result<Option<Message>> {
        Ok(self
            .message_rows(
                Call::get("sms_batch_messages")
                    .param("select", "*")
                    .param("provider_id", eq(provider_id)),
            )
            .await?
            .pop())
    }

    async fn list(&self, query: &MessageQuery) -> Result<Vec<Message>> {
        let mut call = Call::get("sms_batch_messages")
            .param("select", "*")
            .param("batch_id", eq(query.batch_id))
            .param("order", "id.asc")
            .param("limit", query.limit.to_string());
        if !query.statuses.is_empty() {
            call = call.param("status", in_list(query.statuses.iter().map(|s| s.as_sql())));
        }
        if let Some(after) = query.after {
            call = call.param("id", format!("gt.{after}"));
        }
        self.message_rows(call).await
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
            Call::rpc(
                "sms_defer_message",
                json!({"p_id": id, "p_token": token, "p_run_at": run_at.to_string(),
                       "p_now": now.to_string()}),
            ),
        )
        .await
    }

    async fn claim_checks(&self, claim: &CheckClaim) -> Result<Checks> {
        let pass: i32 = match claim.kind {
            CheckKind::Verify { pass } => i32::try_from(pass.max(1)).unwrap_or(i32::MAX),
            CheckKind::Reconcile => 0,
        };
        let mut messages = self
            .message_rows(Call::rpc(
                "sms_claim_checks",
                json!({"p_batch_id": claim.batch_id, "p_pass": pass,
                       "p_due": claim.due.to_string(),
                       "p_limit": i32::try_from(claim.limit).unwrap_or(i32::MAX),
                       "p_lease_ms": lease_millis(claim.lease), "p_now": claim.now.to_string()}),
            ))
            .await?;
        messages.sort_by_key(|m| m.id);
        // A second request (PostgREST has no transaction across two): counted after the claim,
        // the messages just claimed are among those outstanding, as in the other stores.
        let outstanding: u64 = self
            .json(
                Call::rpc(
                    "sms_outstanding_checks",
                    json!({"p_batch_id": claim.batch_id, "p_pass": pass}),
                ),
                "sms_batch_messages",
            )
            .await?;
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
            Call::rpc(
                "sms_record_check",
                json!({"p_id": id, "p_status": status.as_sql(), "p_changes": changes,
                       "p_now": now.to_string()}),
            ),
        )
        .await
    }

    async fn requeue_failed(&self, batch_id: Uuid, now: Timestamp) -> Result<Requeued> {
        #[derive(Deserialize)]
        struct Row {
            state: String,
            requeued: i64,
        }
        let rows: Vec<Row> = self
            .json(
                Call::rpc(
                    "sms_requeue_failed",
                    json!({"p_batch_id": batch_id, "p_now": now.to_string()}),
                ),
                "sms_batches",
            )
            .await?;
        let Some(row) = rows.into_iter().next() else {
            return Err(batch_not_found(batch_id));
        };
        let state = BatchState::from_sql(&row.state).map_err(|e| {
            Error::new(ErrorKind::MalformedRow {
                table: "sms_batches".into(),
                message: e.to_string(),
            })
        })?;
        if row.requeued < 0 {
            return Err(refused(state, BatchState::Sending));
        }
        Ok(Requeued {
            requeued: row.requeued as u64,
            state,
        })
    }

    async fn totals(&self, batch_id: Uuid) -> Result<Vec<MessageTotals>> {
        let rows: Vec<TotalsRow> = self
            .json(
                Call::rpc("sms_message_totals", json!({"p_batch_id": batch_id})),
                "sms_batch_messages",
            )
            .await?;
        convert(rows, TotalsRow::into_totals)
    }

    async fn count_by_error_category(&self, batch_id: Uuid) -> Result<Vec<(ErrorCategory, u64)>> {
        #[derive(Deserialize)]
        struct Row {
            error_category: String,
            n: u64,
        }
        let rows: Vec<Row> = self
            .json(
                Call::rpc(
                    "sms_count_messages_by_error_category",
                    json!({"p_batch_id": batch_id}),
                ),
                "sms_batch_messages",
            )
            .await?;
        let mut counts = rows
            .into_iter()
            .map(|row| {
                let c = ErrorCategory::from_sql(&row.error_category).map_err(|e| {
                    Error::new(ErrorKind::MalformedRow {
                        table: "sms_batch_messages".into(),
                        message: e.to_string(),
                    })
                })?;
                Ok((c, row.n))
            })
            .collect::<Result<Vec<_>>>()?;
        counts.sort_by_key(|&(c, _)| c);
        Ok(counts)
    }

    async fn next_pending_at(&self, batch_id: Uuid) -> Result<Option<Timestamp>> {
        let call = Call::get("sms_batch_messages")
            .param("select", "*")
            .param("batch_id", eq(batch_id))
            .param("status", "eq.pending")
            .param("order", "run_at.asc,id.asc")
            .param("limit", "1");
        Ok(self
            .message_rows(call)
            .await?
            .into_iter()
            .next()
            .map(|m| m.run_at))
    }

    async fn count_by_status(&self, batch_id: Uuid) -> Result<StatusCounts> {
        #[derive(Deserialize)]
        struct Row {
            status: String,
            n: u64,
        }
        let rows: Vec<Row> = self
            .json(
                Call::rpc(
                    "sms_count_messages_by_status",
                    json!({"p_batch_id": batch_id}),
                ),
                "sms_batch_messages",
            )
            .await?;
        let mut counts = StatusCounts::default();
        for row in rows {
            let status = MessageStatus::from_sql(&row.status).map_err(|e| {
                Error::new(ErrorKind::MalformedRow {
                    table: "sms_batch_messages".into(),
                    message: e.to_string(),
                })
            })?;
            counts.add(status, row.n);
        }
        Ok(counts)
    }
}

// ---------------------------------------------------------------------------------------------
// Exclusions and logs
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ExclusionRow {
    id: i64,
    batch_id: Uuid,
    customer_id: i64,
    phone: Option<String>,
    reason: String,
    detail: String,
    created_at: Timestamp,
}

#[async_trait]
impl ExclusionStore for SbView {
    async fn insert(
        &self,
        batch_id: Uuid,
        exclusions: &[NewExclusion],
        now: Timestamp,
    ) -> Result<u64> {
        check_exclusions(exclusions)?;
        let mut inserted = 0;
        for chunk in exclusions.chunks(CHUNK) {
            let rows: Vec<Value> = chunk
                .iter()
                .map(|e| {
                    json!({"batch_id": batch_id, "customer_id": e.customer_id, "phone": e.phone,
                           "reason": reason_sql(e.reason), "detail": e.detail,
                           "created_at": now.to_string()})
                })
                .collect();
            // `ON CONFLICT (batch_id, customer_id) DO NOTHING`: the rows returned are those
            // inserted.
            let added: Vec<Value> = self
                .json(
                    Call::new(Method::Post, "sms_batch_excluded")
                        .body(Value::Array(rows).to_string())
                        .prefer("resolution=ignore-duplicates")
                        .param("on_conflict", "batch_id,customer_id")
                        .param("select", "id"),
                    "sms_batch_excluded",
                )
                .await
                .map_err(|e| missing_batch(e, batch_id))?;
            inserted += added.len() as u64;
        }
        Ok(inserted)
    }

    async fn list(&self, batch_id: Uuid, after: Option<i64>, limit: u32) -> Result<Vec<Exclusion>> {
        let mut call = Call::get("sms_batch_excluded")
            .param(
                "select",
                "id,batch_id,customer_id,phone,reason,detail,created_at",
            )
            .param("batch_id", eq(batch_id))
            .param("order", "id.asc")
            .param("limit", limit.to_string());
        if let Some(after) = after {
            call = call.param("id", format!("gt.{after}"));
        }
        let rows: Vec<ExclusionRow> = self.json(call, "sms_batch_excluded").await?;
        rows.into_iter()
            .map(|r| {
                Ok(Exclusion {
                    id: r.id,
                    batch_id: r.batch_id,
                    customer_id: r.customer_id,
                    phone: r.phone,
                    reason: reason_from_sql(&r.reason)?,
                    detail: r.detail,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    async fn count_by_reason(&self, batch_id: Uuid) -> Result<BTreeMap<ExclusionReason, u64>> {
        #[derive(Deserialize)]
        struct Row {
            reason: String,
            n: u64,
        }
        let rows: Vec<Row> = self
            .json(
                Call::rpc(
                    "sms_count_exclusions_by_reason",
                    json!({"p_batch_id": batch_id}),
                ),
                "sms_batch_excluded",
            )
            .await?;
        let mut counts = BTreeMap::new();
        for row in rows {
            counts.insert(reason_from_sql(&row.reason)?, row.n);
        }
        Ok(counts)
    }
}

#[derive(Deserialize)]
struct LogRow {
    id: i64,
    batch_id: Uuid,
    at: Timestamp,
    level: String,
    event: String,
    message: String,
    data: Value,
}

#[async_trait]
impl BatchLogStore for SbView {
    async fn append(&self, batch_id: Uuid, events: &[NewBatchLog], now: Timestamp) -> Result<u64> {
        check_logs(events)?;
        if events.is_empty() {
            return Ok(0);
        }
        // An array body is inserted in its order, so ids follow the events' order.
        let rows: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({"batch_id": batch_id, "at": now.to_string(), "level": e.level.code(),
                       "event": e.event, "message": e.message, "data": e.data})
            })
            .collect();
        // The logs are append-only: users may not read back what they insert through
        // `return=representation` unless they own the batch, so only the count is asked for.
        self.send(
            Call::new(Method::Post, "sms_batch_logs")
                .body(Value::Array(rows).to_string())
                .param("select", "id"),
        )
        .await
        .map_err(|e| missing_batch(e, batch_id))?;
        Ok(events.len() as u64)
    }

    async fn list(&self, batch_id: Uuid, after: Option<i64>, limit: u32) -> Result<Vec<BatchLog>> {
        let mut call = Call::get("sms_batch_logs")
            .param("select", "id,batch_id,at,level,event,message,data")
            .param("batch_id", eq(batch_id))
            .param("order", "id.asc")
            .param("limit", limit.to_string());
        if let Some(after) = after {
            call = call.param("id", format!("gt.{after}"));
        }
        let rows: Vec<LogRow> = self.json(call, "sms_batch_logs").await?;
        rows.into_iter()
            .map(|r| {
                Ok(BatchLog {
                    id: r.id,
                    batch_id: r.batch_id,
                    at: r.at,
                    level: LogLevel::from_code(&r.level)?,
                    event: r.event,
                    message: r.message,
                    data: r.data,
                })
            })
            .collect()
    }
}
