//! A batch's status and progress, read from the store, and what an operator does to a batch:
//! pause, resume, cancel, retry the failed.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::prepare::{batch_currency, batch_options};
use crate::analytics::observe;
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{
    BatchState, ErrorStats, MessageStatus, Pace, PauseReason, Progress, Rate, VariantProgress,
};
use crate::store::{Batch, LogLevel, NewBatchLog, Requeued, Store};
use crate::time::Timestamp;

/// A batch as `smsbatch batch status` prints it (JSON: `{"id", "state", "pauseReason"?,
/// "progress": {...}}`): its row, with the counts in its progress read fresh from the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BatchStatus {
    /// The batch's id.
    pub id: Uuid,
    /// Its state.
    pub state: BatchState,
    /// Why it is paused, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<PauseReason>,
    /// Its progress: the counts (per status and per error category) and money as the store
    /// has them now; rates, ETA and error samples as a worker last wrote them.
    pub progress: Progress,
}

fn not_found(id: Uuid) -> Error {
    Error::new(ErrorKind::NotFound {
        what: "batch".into(),
        id: id.to_string(),
    })
}

impl BatchStatus {
    /// The status of batch `id` ([`ErrorKind::NotFound`] when the actor cannot see it).
    pub async fn load(store: &Store, id: Uuid) -> Result<Self> {
        let batch = store.batches.get(id).await?.ok_or_else(|| not_found(id))?;
        Self::of(store, &batch).await
    }

    /// The status of `batch`, its counts read fresh.
    pub async fn of(store: &Store, batch: &Batch) -> Result<Self> {
        let mut progress: Progress =
            serde_json::from_value(batch.progress.clone()).unwrap_or_default();
        let fresh = totals_progress(store, batch).await?;
        progress.counts = fresh.counts;
        progress.messages = fresh.messages;
        progress.success_rate = fresh.success_rate;
        progress.credits = fresh.credits;
        progress.cost = fresh.cost;
        progress.variants = fresh.variants;
        progress
            .errors
            .set_counts(&store.messages.count_by_error_category(batch.id).await?);
        Ok(Self {
            id: batch.id,
            state: batch.state,
            pause_reason: batch.pause_reason,
            progress,
        })
    }
}

/// The part of a batch's progress the store's totals give: counts, credits, cost, variants
/// (the rate, ETA and errors left empty).
pub(crate) async fn totals_progress(store: &Store, batch: &Batch) -> Result<Progress> {
    let totals = store.messages.totals(batch.id).await?;
    let mut p = Progress::new(batch_currency(batch));
    let overflow = || {
        Error::new(ErrorKind::AmountOverflow {
            message: "the batch's cost".into(),
        })
    };
    for t in &totals {
        p.counts.add(t.status, t.messages);
        if t.status != MessageStatus::Cancelled {
            p.credits.estimated += t.segments;
            p.cost.estimated = p
                .cost
                .estimated
                .checked_add(t.estimated_cost)
                .ok_or_else(overflow)?;
        }
        if matches!(
            t.status,
            MessageStatus::Pending | MessageStatus::Processing | MessageStatus::InDoubt
        ) {
            p.credits.remaining += t.segments;
        }
        p.credits.actual += t.provider_segments;
        p.cost.actual = p.cost.actual.checked_add(t.price).ok_or_else(overflow)?;
        p.cost.priced += t.priced;
        if let Some(variant) = &t.variant {
            let v: &mut VariantProgress = p.variants.entry(variant.clone()).or_default();
            v.counts.add(t.status, t.messages);
            v.segments += t.segments;
        }
    }
    p.messages = p.counts.total();
    p.success_rate = p.counts.success_rate();
    Ok(p)
}

/// Recomputes a batch's progress document at `now`: the store's totals, the error stats
/// given, and the rate and ETA (within the batch's rate limit and send window). The runner's
/// (feature `tokio`), hence unused in a build without it such as the WebAssembly package's.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) async fn compute_progress(
    store: &Store,
    batch: &Batch,
    errors: &ErrorStats,
    messages_per_second: f64,
    zones: Option<&dyn crate::queue::ZoneSource>,
    now: Timestamp,
) -> Result<Progress> {
    let mut p = totals_progress(store, batch).await?;
    p.errors = errors.clone();
    p.errors
        .set_counts(&store.messages.count_by_error_category(batch.id).await?);
    let options = batch_options(batch).ok();
    let rate: Option<Rate> = options.as_ref().and_then(|o| o.rate());
    let window = options.as_ref().and_then(|o| o.send_window.clone());
    let zone = match (&window, zones) {
        (Some(w), Some(z)) => z.zone(w.time_zone()).ok(),
        _ => None,
    };
    let send_window = window.as_ref().map(|w| w.window());
    let mut pace = Pace::new(messages_per_second).rate(rate, 1);
    if let (Some(w), Some(z)) = (send_window.as_ref(), zone.as_ref()) {
        pace = pace.window(w, &**z);
    }
    p.refresh(now, pace);
    Ok(p)
}

async fn log(store: &Store, batch: Uuid, event: &str, message: String, now: Timestamp) {
    // The log is a record for people; the change itself has happened either way.
    let _ = store
        .logs
        .append(
            batch,
            &[NewBatchLog::new(LogLevel::Info, event, message)],
            now,
        )
        .await;
}

/// Pauses a batch (reason `operator`): workers claim nothing more; sends already claimed
/// finish. [`ErrorKind::InvalidTransition`] for a batch that cannot pause (ended, preparing).
pub async fn pause(store: &Store, id: Uuid, now: Timestamp) -> Result<Batch> {
    let batch = store
        .batches
        .transition(id, BatchState::Paused, Some(PauseReason::Operator), now)
        .await?;
    observe::batch_moved(id, batch.state);
    log(store, id, "paused", "paused by an operator".into(), now).await;
    Ok(batch)
}

/// Resumes a paused batch: `sending` again (or `scheduled` when its `send_at` is still ahead).
pub async fn resume(store: &Store, id: Uuid, now: Timestamp) -> Result<Batch> {
    let batch = store.batches.get(id).await?.ok_or_else(|| not_found(id))?;
    let to = match batch.send_at {
        Some(at) if at > now => BatchState::Scheduled,
        _ => BatchState::Sending,
    };
    let batch = store.batches.transition(id, to, None, now).await?;
    observe::batch_moved(id, batch.state);
    log(store, id, "resumed", format!("resumed ({})", to), now).await;
    Ok(batch)
}

/// Cancels a batch: it ends, and its pending messages are cancelled (sends already claimed
/// finish; nothing else is sent).
pub async fn cancel(store: &Store, id: Uuid, now: Timestamp) -> Result<Batch> {
    // The batch first: from then on no claim takes its messages, so none is sent after the
    // pending ones are cancelled.
    let batch = store
        .batches
        .transition(id, BatchState::Cancelled, None, now)
        .await?;
    observe::batch_moved(id, batch.state);
    let cancelled = store.messages.cancel_pending(id, now).await?;
    observe::messages_moved(Some(id), MessageStatus::Cancelled, cancelled);
    log(
        store,
        id,
        "cancelled",
        format!("cancelled; {cancelled} pending messages will not be sent"),
        now,
    )
    .await;
    Ok(batch)
}

/// Requeues the failed messages that may succeed on another try
/// ([`MessageStore::requeue_failed`](crate::store::MessageStore::requeue_failed)).
pub async fn retry_failed(store: &Store, id: Uuid, now: Timestamp) -> Result<Requeued> {
    let requeued = store.messages.requeue_failed(id, now).await?;
    observe::messages_moved(Some(id), MessageStatus::Pending, requeued.requeued);
    log(
        store,
        id,
        "retryFailed",
        format!("{} failed messages requeued", requeued.requeued),
        now,
    )
    .await;
    Ok(requeued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::StatusCounts;

    #[test]
    fn counts_json_has_every_state() {
        let mut counts = StatusCounts::default();
        counts.add(MessageStatus::InDoubt, 2);
        let json = serde_json::to_value(counts).unwrap();
        for key in [
            "pending",
            "processing",
            "sent",
            "delivered",
            "undelivered",
            "failed",
            "inDoubt",
            "cancelled",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
