//! A batch written straight into a store in final states, with hostile text everywhere.

use std::time::Duration;

use serde_json::json;
use smsbatch::queue::{BatchState, ErrorCategory, MessageStatus};
use smsbatch::store::{
    Claim, Fence, LogLevel, Message, MessageQuery, NewBatch, NewBatchLog, NewExclusion, NewMessage,
    Store, Transition, Uuid,
};
use smsbatch::{Amount, ExclusionReason, Purpose, Segmenter, Timestamp};

/// Bodies with commas, quotes, newlines and cells a spreadsheet would run.
pub const BODIES: [&str; 14] = [
    "Hello, \"friend\"\nsecond line",
    "=1+1",
    "@SUM(A1:A2)",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "\tTabbed",
    "\rCarriage",
    "'quoted already",
    "plain text",
    "-5",
    "+447400123456",
    "Zoë 🎉, ünïcödé",
    "a,b;c\r\nd",
    "=HYPERLINK(\"http://evil\", \"click\")",
];

pub fn t0() -> Timestamp {
    "2025-05-01T10:00:00Z".parse().unwrap()
}

pub fn at(millis: u64) -> Timestamp {
    t0().saturating_add(Duration::from_millis(millis))
}

/// A batch of `BODIES.len()` messages: by index mod 4 delivered (priced), failed (filtered, a
/// formula as its message), undelivered, or sent and unconfirmed; with logs and exclusions.
pub async fn fill(store: &Store) -> Uuid {
    let mut new = NewBatch::new(Purpose::Transactional);
    new.currency = Some("USD".into());
    new.template_body = Some("=unused".into());
    let batch = store.batches.create(&new, t0()).await.unwrap().batch.id;
    let segmenter = Segmenter::default();
    let messages: Vec<NewMessage> = BODIES
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let count = segmenter.count(body);
            let mut m = NewMessage::new(
                i as i64 + 1,
                format!("+4474001234{i:02}"),
                *body,
                count.encoding,
            );
            m.segments = count.segments;
            m.estimated_cost = Amount::from_nanos(40_000_000 * u128::from(count.segments));
            m.country_code = Some(if i % 3 == 0 { "1".into() } else { "44".into() });
            m.variant = Some(if i % 2 == 0 { "-A".into() } else { "@B".into() });
            m
        })
        .collect();
    store.messages.insert(batch, &messages, t0()).await.unwrap();
    store
        .batches
        .transition(batch, BatchState::Sending, None, at(0))
        .await
        .unwrap();
    let token = Uuid::from_u128(42);
    let claimed = store
        .messages
        .claim(&Claim::new(100, token, Duration::from_secs(600), at(0)).batch(batch))
        .await
        .unwrap();
    assert_eq!(claimed.len(), BODIES.len());
    for (i, m) in claimed.iter().enumerate() {
        let i = i as u64;
        store
            .messages
            .mark_send_started(m.id, token, at(i * 100))
            .await
            .unwrap();
        let accepted = at(i * 100 + 250);
        if i % 4 == 1 {
            let failed = Transition::failed(ErrorCategory::Filtered)
                .error_code("30007")
                .error_message("=cmd(\"filtered\"), really\nyes");
            store
                .messages
                .transition(m.id, Fence::Claim(token), &failed, accepted)
                .await
                .unwrap();
            continue;
        }
        let sent = Transition::sent(format!("SM{i:03}"))
            .provider_status("queued")
            .provider_segments(m.segments);
        store
            .messages
            .transition(m.id, Fence::Claim(token), &sent, accepted)
            .await
            .unwrap();
        let done = at(i * 100 + 2000);
        match i % 4 {
            0 => {
                let delivered = Transition::to(MessageStatus::Delivered)
                    .provider_status("delivered")
                    .price(Amount::from_nanos(45_000_000), "USD");
                store
                    .messages
                    .transition(m.id, Fence::Status(MessageStatus::Sent), &delivered, done)
                    .await
                    .unwrap();
            }
            2 => {
                let undelivered = Transition::to(MessageStatus::Undelivered)
                    .category(ErrorCategory::Unreachable)
                    .error_code("30003")
                    .error_message("-unreachable handset")
                    .provider_status("undelivered");
                store
                    .messages
                    .transition(m.id, Fence::Status(MessageStatus::Sent), &undelivered, done)
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    store
        .logs
        .append(
            batch,
            &[
                NewBatchLog::new(LogLevel::Info, "started", "=start, \"now\"\nok")
                    .data(json!({"note": "-1+1", "n": 3})),
                NewBatchLog::new(LogLevel::Warn, "@paused", "+paused by operator"),
            ],
            at(5),
        )
        .await
        .unwrap();
    let mut excluded = NewExclusion::new(100, ExclusionReason::OptedOut, "@said STOP, \"twice\"");
    excluded.phone = Some("+447400999999".into());
    store
        .exclusions
        .insert(
            batch,
            &[
                excluded,
                NewExclusion::new(101, ExclusionReason::NoPhone, "=no phone"),
            ],
            at(0),
        )
        .await
        .unwrap();
    batch
}

/// Every message of the batch, in id order.
pub async fn all_messages(store: &Store, batch: Uuid) -> Vec<Message> {
    store
        .messages
        .list(&MessageQuery::new(batch, 10_000))
        .await
        .unwrap()
}

/// A connected, migrated PostgreSQL store on a new database (dropped with the guard).
#[cfg(feature = "postgres")]
pub async fn migrated(
    tag: &str,
) -> Option<(smsbatch::store::postgres::PgStore, crate::db::TempDb)> {
    let db = crate::db::TempDb::create(tag, crate::db::Locale::CUtf8)?;
    let store = smsbatch::store::postgres::PgStore::connect(db.url.clone())
        .await
        .expect("connect to the test database");
    store.migrate().await.expect("the migrations apply");
    Some((store, db))
}
