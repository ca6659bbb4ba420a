//! Batch creation with filters relative to the time of the request.

use serde_json::json;
use smsbatch::send::{BatchRequest, Preparer, TemplateChoice};
use smsbatch::store::{Actor, Backend, MemoryStore};
use smsbatch::testing::sample_customers;
use smsbatch::{Purpose, Timestamp};

// Regression: `withinLastDays` was checked without a `now` when the batch was created, so every
// relative filter failed with `missingNow` before preparation (which has its `now`) could run.
#[tokio::test]
async fn a_filter_relative_to_now_makes_a_batch() {
    let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
    let memory = MemoryStore::new();
    let store = Backend::store(&memory, Actor::Service).unwrap();
    let customers = sample_customers(300, 3, now);
    store.customers.upsert(&customers).await.unwrap();
    let filter = json!({"version": 1, "where": {"and": [
        {"field": "opted_out", "op": "isNotTrue"},
        {"field": "date_create", "op": "withinLastDays", "value": 200}
    ]}});
    let request = BatchRequest::new(
        TemplateChoice::Text("Hi {{default first_name \"there\"}}".into()),
        filter,
        Purpose::Transactional,
    );
    let summary = Preparer::new().create(&store, &request, now).await.unwrap();
    let recent = customers
        .iter()
        .filter(|c| c.opted_out != Some(true))
        .filter(|c| {
            c.date_create
                .is_some_and(|t| t >= now.checked_sub_days(200).unwrap() && t <= now)
        })
        .count() as u64;
    assert!(recent > 20, "the sample has recent customers: {recent}");
    let excluded: u64 = summary.excluded.values().sum();
    assert_eq!(summary.messages + excluded, recent);
}
