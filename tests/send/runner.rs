//! The runner and the worker on the in-memory store and the fake provider, on tokio's paused
//! clock: every outcome, backoff bounds, the retry budget, the budget guard, send windows
//! across a day boundary and a DST change, A/B variants, pause / cancel / kill switch, graceful
//! shutdown, verification, retry of the failed, requested and scheduled batches.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use smsbatch::flags::State;
use smsbatch::queue::{
    BatchOptions, BatchState, ErrorCategory, FindQuery, LookupError, MessageStatus,
    OutboundMessage, PauseReason, ProviderMessage, SendOutcome, Sender, backoff_ceiling,
};
use smsbatch::send::{
    BatchRequest, BatchStatus, BatchSummary, Clock, Preparer, RunnerConfig, Shutdown,
    TemplateChoice, TokioClock, Worker,
};
use smsbatch::store::{Actor, Backend, Customer, MemoryStore, Message, MessageQuery, Store};
use smsbatch::testing::{FakeConfig, FakeFailure, FakeSender, FakeStep};
use smsbatch::{Purpose, Timestamp};

/// A sender that remembers when each message was sent (on the clock the runner uses).
#[derive(Debug)]
struct Timed {
    inner: Arc<FakeSender>,
    clock: Arc<TokioClock>,
    sends: Mutex<Vec<(String, Timestamp)>>,
}

impl Timed {
    fn new(inner: FakeSender, clock: Arc<TokioClock>) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(inner),
            clock,
            sends: Mutex::new(Vec::new()),
        })
    }

    fn times(&self, to: &str) -> Vec<Timestamp> {
        self.sends
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == to)
            .map(|(_, at)| *at)
            .collect()
    }

    fn calls(&self) -> usize {
        self.sends.lock().unwrap().len()
    }
}

#[async_trait]
impl Sender for Timed {
    fn name(&self) -> &str {
        "timed-fake"
    }

    async fn send(&self, message: &OutboundMessage) -> SendOutcome {
        self.sends
            .lock()
            .unwrap()
            .push((message.to.clone(), self.clock.now()));
        self.inner.send(message).await
    }

    async fn lookup(&self, provider_id: &str) -> Result<ProviderMessage, LookupError> {
        self.inner.lookup(provider_id).await
    }

    async fn find(&self, query: &FindQuery) -> Result<Vec<ProviderMessage>, LookupError> {
        self.inner.find(query).await
    }

    fn can_find(&self) -> bool {
        self.inner.can_find()
    }
}

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn phone(i: i64) -> String {
    format!("+4474001{i:05}")
}

fn customers(n: i64) -> Vec<Customer> {
    (1..=n)
        .map(|i| {
            let mut c = Customer::new(i);
            c.first_name = Some(format!("C{i}"));
            c.phone = Some(phone(i));
            c.opted_in = Some(true);
            c
        })
        .collect()
}

async fn store_with(customers: &[Customer]) -> Store {
    let store = MemoryStore::new().store(Actor::Service).unwrap();
    store.customers.upsert(customers).await.unwrap();
    store
}

async fn create(store: &Store, clock: &TokioClock, options: Value) -> BatchSummary {
    let request = BatchRequest::new(
        TemplateChoice::Text("Hello {{first_name}}".into()),
        Value::Null,
        Purpose::Transactional,
    )
    .sender("ACME")
    .options(BatchOptions::from_json(&options.to_string()).unwrap());
    Preparer::new()
        .create(store, &request, clock.now())
        .await
        .unwrap()
}

fn config() -> RunnerConfig {
    RunnerConfig::new()
        .poll(Duration::from_millis(200))
        .send_timeout(Duration::from_secs(10))
        .seed(42)
}

fn worker(store: &Store, sender: Arc<dyn Sender>, clock: &Arc<TokioClock>) -> Worker {
    Worker::new(store.clone(), sender)
        .clock(clock.clone())
        .config(config())
}

async fn message_to(store: &Store, batch: uuid::Uuid, to: &str) -> Message {
    all_messages(store, batch)
        .await
        .into_iter()
        .find(|m| m.phone == to)
        .unwrap_or_else(|| panic!("no message to {to}"))
}

async fn all_messages(store: &Store, batch: uuid::Uuid) -> Vec<Message> {
    store
        .messages
        .list(&MessageQuery::new(batch, 100_000))
        .await
        .unwrap()
}

fn start() -> Arc<TokioClock> {
    Arc::new(TokioClock::new(t("2025-05-01T09:00:00Z")))
}

#[tokio::test(start_paused = true)]
async fn each_outcome_is_handled_as_its_class_requires() {
    let clock = start();
    let store = store_with(&customers(8)).await;
    let fake = FakeConfig::new()
        .seed(1)
        .latency(Duration::from_millis(50), Duration::from_millis(80))
        .script(
            phone(1),
            [
                FakeStep::Fail(FakeFailure::RateLimited {
                    retry_after: Some(Duration::from_secs(30)),
                }),
                FakeStep::Accept,
            ],
        )
        .script(
            phone(2),
            [
                FakeStep::Fail(FakeFailure::Unavailable),
                FakeStep::Fail(FakeFailure::Unavailable),
                FakeStep::Accept,
            ],
        )
        .script(phone(3), [FakeStep::Fail(FakeFailure::TimeoutAfterSend)])
        .script(
            phone(4),
            [FakeStep::Fail(FakeFailure::ServerErrorAfterSend)],
        )
        .script(phone(5), [FakeStep::Fail(FakeFailure::LostRequest)])
        .always(phone(6), FakeFailure::Code("21211".into()))
        .always(phone(7), FakeFailure::Code("21610".into()))
        .build()
        .unwrap();
    let sender = Timed::new(fake, clock.clone());
    let batch = create(
        &store,
        &clock,
        json!({"verifyAfterSeconds": 1, "secondVerifyAfterSeconds": 3}),
    )
    .await;
    assert_eq!(batch.messages, 8);
    worker(&store, sender.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();

    let status = BatchStatus::load(&store, batch.id).await.unwrap();
    assert_eq!(status.state, BatchState::Completed);
    // 429 with Retry-After: sent again no earlier than 30 s later, then accepted.
    let times = sender.times(&phone(1));
    assert_eq!(times.len(), 2);
    assert!(
        times[1].duration_since(times[0]) >= Duration::from_secs(30),
        "{times:?}"
    );
    let m1 = message_to(&store, batch.id, &phone(1)).await;
    assert_eq!((m1.status, m1.attempts), (MessageStatus::Delivered, 2));
    // 503 twice: retried with backoff, then accepted.
    let m2 = message_to(&store, batch.id, &phone(2)).await;
    assert_eq!((m2.status, m2.attempts), (MessageStatus::Delivered, 3));
    // A timeout after the request went out, and an HTTP 500 after the provider took it: in
    // doubt, reconciled from the provider's own record, never sent a second time.
    for i in [3, 4] {
        let m = message_to(&store, batch.id, &phone(i)).await;
        assert_eq!(sender.times(&phone(i)).len(), 1, "no second send to {i}");
        assert!(m.status.was_accepted(), "{i}: {:?}", m.status);
        assert!(m.provider_id.is_some());
    }
    // A request lost on the way: in doubt, the provider does not have it after the settle
    // time, so it is sent once more (and only once).
    let m5 = message_to(&store, batch.id, &phone(5)).await;
    assert_eq!(sender.times(&phone(5)).len(), 2);
    assert!(m5.status.was_accepted());
    // Permanent errors: no retry.
    let m6 = message_to(&store, batch.id, &phone(6)).await;
    assert_eq!(
        (m6.status, m6.error_category, m6.error_code.as_deref()),
        (
            MessageStatus::Failed,
            Some(ErrorCategory::InvalidRecipient),
            Some("21211")
        )
    );
    assert_eq!(sender.times(&phone(6)).len(), 1);
    // An opt-out: failed, no retry, and the number is suppressed from now on.
    let m7 = message_to(&store, batch.id, &phone(7)).await;
    assert_eq!(
        (m7.status, m7.error_category),
        (MessageStatus::Failed, Some(ErrorCategory::OptedOut))
    );
    assert_eq!(sender.times(&phone(7)).len(), 1);
    assert!(store.suppressions.contains(&phone(7)).await.unwrap());
    // Every record belongs to a message that was accepted, once.
    let records = sender.inner.records().unwrap();
    let mut per_message: HashMap<String, usize> = HashMap::new();
    for r in &records {
        *per_message.entry(r.message_id.to_string()).or_default() += 1;
    }
    assert!(per_message.values().all(|&n| n == 1), "{per_message:?}");
    assert_eq!(records.len(), 6);
    // Progress: counts, errors by category with samples, cost.
    let p = &status.progress;
    assert_eq!(p.counts.delivered, 6);
    assert_eq!(p.counts.failed, 2);
    assert_eq!(p.cost.estimated.to_string(), "8");
    let categories: HashSet<ErrorCategory> =
        p.errors.categories().iter().map(|c| c.category).collect();
    for c in [
        ErrorCategory::RateLimited,
        ErrorCategory::InvalidRecipient,
        ErrorCategory::OptedOut,
    ] {
        assert!(categories.contains(&c), "{c} in {categories:?}");
    }
    // The log says what happened.
    let logs = store.logs.list(batch.id, None, 100).await.unwrap();
    let events: Vec<&str> = logs.iter().map(|l| l.event.as_str()).collect();
    assert!(events.contains(&"reconciled"), "{events:?}");
    assert!(events.contains(&"completed"), "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn retries_wait_within_the_full_jitter_bounds() {
    let clock = start();
    // Two messages, four throttled answers each: within the retry budget's free allowance.
    let store = store_with(&customers(2)).await;
    let mut fake = FakeConfig::new().seed(9);
    let throttled = || FakeStep::Fail(FakeFailure::RateLimited { retry_after: None });
    for i in 1..=2 {
        fake = fake.script(
            phone(i),
            [
                throttled(),
                throttled(),
                throttled(),
                throttled(),
                FakeStep::Accept,
            ],
        );
    }
    let sender = Timed::new(fake.build().unwrap(), clock.clone());
    let batch = create(&store, &clock, json!({"verifyAfterSeconds": 1})).await;
    worker(&store, sender.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    let poll = config().poll;
    let mut gaps_seen = 0;
    for i in 1..=2 {
        let times = sender.times(&phone(i));
        assert_eq!(times.len(), 5);
        for (n, pair) in times.windows(2).enumerate() {
            let attempt = n as u32 + 1;
            let gap = pair[1].duration_since(pair[0]);
            let ceiling = backoff_ceiling(attempt, Duration::from_secs(1), Duration::from_secs(60));
            // Full jitter: anywhere in [0, ceiling], plus at most one poll before the claim.
            assert!(
                gap <= ceiling + poll,
                "attempt {attempt}: {gap:?} > {ceiling:?}"
            );
            gaps_seen += 1;
        }
    }
    assert_eq!(gaps_seen, 8);
    let status = BatchStatus::load(&store, batch.id).await.unwrap();
    assert_eq!(status.progress.counts.delivered, 2);
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_stops_a_retry_storm() {
    let clock = start();
    let store = store_with(&customers(60)).await;
    // Every attempt is throttled (429 without Retry-After), for ever.
    let fake = FakeConfig::new()
        .fail_one_in(1, FakeFailure::RateLimited { retry_after: None })
        .build()
        .unwrap();
    let sender = Timed::new(fake, clock.clone());
    create(
        &store,
        &clock,
        json!({"maxAttempts": 100, "concurrency": 20}),
    )
    .await;
    let shutdown = Shutdown::new();
    let w = worker(&store, sender.clone(), &clock).shutdown(shutdown.clone());
    let run = tokio::spawn(async move { w.run().await });
    tokio::time::sleep(Duration::from_secs(30)).await;
    shutdown.trigger();
    run.await.unwrap().unwrap();
    // Without a budget, 60 messages backing off 1, 2, 4, 8, 16 s would make about 300 retries
    // in 30 s. The budget (10% of sends plus 1 a second over 10 s) allows a few dozen; the
    // rest wait for the cap.
    let calls = sender.calls();
    assert!(calls >= 60, "{calls}");
    assert!(calls - 60 <= 100, "{} retries in 30 s", calls - 60);
}

#[tokio::test(start_paused = true)]
async fn the_budget_guard_pauses_before_the_spend_would_pass_the_budget() {
    let clock = start();
    let store = store_with(&customers(10)).await;
    let fake = Arc::new(FakeSender::new());
    // One credit per segment; 3.5 credits: three messages fit, the fourth would pass.
    let batch = create(
        &store,
        &clock,
        json!({"budget": "3.5", "verifyAfterSeconds": 1}),
    )
    .await;
    worker(&store, fake.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    let b = store.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(
        (b.state, b.pause_reason),
        (BatchState::Paused, Some(PauseReason::Budget))
    );
    assert_eq!(fake.calls(), 3);
    assert_eq!(b.budget_reserved.to_string(), "3");
    let counts = store.messages.count_by_status(batch.id).await.unwrap();
    assert_eq!(counts.pending, 7);
}

#[tokio::test(start_paused = true)]
async fn the_error_rate_pauses_the_batch() {
    let clock = start();
    let store = store_with(&customers(60)).await;
    let mut fake = FakeConfig::new();
    for i in (1..=60).filter(|i| i % 2 == 0) {
        fake = fake.always(phone(i), FakeFailure::Code("21211".into()));
    }
    let fake = Arc::new(fake.build().unwrap());
    let batch = create(&store, &clock, json!({"errorRatePause": 0.3})).await;
    worker(&store, fake.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    let b = store.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(
        (b.state, b.pause_reason),
        (BatchState::Paused, Some(PauseReason::ErrorRate))
    );
    // Paused once 20 sends were seen, with at most the claimed ones finishing after.
    assert!(fake.calls() < 30, "{}", fake.calls());
}

#[tokio::test(start_paused = true)]
async fn the_send_window_defers_across_a_day_boundary_and_a_dst_change() {
    // Saturday 29 March 2025, 19:59:50 in London (GMT); the clocks go forward that night, so
    // Sunday's 09:00 is 08:00 UTC. One message a second: about ten go before 20:00, the rest
    // wait for Sunday morning. A customer in New York (16:00 there) is inside their own window.
    let clock = Arc::new(TokioClock::new(t("2025-03-29T19:59:50Z")));
    let mut people = customers(20);
    people[19]
        .attributes
        .insert("time_zone".into(), json!("America/New_York"));
    people[18]
        .attributes
        .insert("time_zone".into(), json!("Asia/Tokyo"));
    let store = store_with(&people).await;
    let sender = Timed::new(FakeSender::new(), clock.clone());
    let batch = create(
        &store,
        &clock,
        json!({
            "sendWindow": {"start": "09:00", "end": "20:00", "timeZone": "Europe/London"},
            "rate": {"segmentsPerSecond": 1, "burst": 1},
            "verifyAfterSeconds": 1
        }),
    )
    .await;
    // Until idle: once every pending message waits for its window, the batch pauses (reason
    // `sendWindow`) and the worker stops, instead of polling through the night; run again
    // later, it resumes the batch when the first message is due.
    let mut pauses = Vec::new();
    for _ in 0..48 {
        Worker::new(store.clone(), sender.clone())
            .clock(clock.clone())
            .config(config().poll(Duration::from_secs(30)))
            .run_until_idle()
            .await
            .unwrap();
        let b = store.batches.get(batch.id).await.unwrap().unwrap();
        if b.state == BatchState::Completed {
            break;
        }
        assert_eq!(
            (b.state, b.pause_reason),
            (BatchState::Paused, Some(PauseReason::SendWindow))
        );
        pauses.push(clock.now());
        let status = BatchStatus::load(&store, batch.id).await.unwrap();
        assert_eq!(
            serde_json::to_value(&status).unwrap()["pauseReason"],
            "sendWindow"
        );
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    // Paused on Saturday evening (the rest wait for Tokyo's morning and London's), and again
    // after Tokyo's message went out in the small hours.
    assert!(pauses.len() >= 2, "{pauses:?}");
    assert!(pauses[0] < t("2025-03-29T21:00:00Z"), "{pauses:?}");
    let close = t("2025-03-29T20:00:00Z");
    let sunday_open = t("2025-03-30T08:00:00Z");
    let mut before = 0;
    let mut after = 0;
    for i in 1..=18 {
        let times = sender.times(&phone(i));
        assert_eq!(times.len(), 1, "{i}");
        let at = times[0];
        assert!(at < close || at >= sunday_open, "customer {i} sent at {at}");
        if at < close {
            before += 1;
        } else {
            after += 1;
        }
    }
    assert!(before >= 5 && after >= 5, "{before} before, {after} after");
    // Tokyo: 04:59 on Sunday there at the start; its window opens at 09:00 JST = 00:00 UTC.
    let tokyo = sender.times(&phone(19))[0];
    assert!(
        tokyo >= t("2025-03-30T00:00:00Z") && tokyo < sunday_open,
        "{tokyo}"
    );
    // New York: 16:00 EDT, inside its own window: sent on Saturday evening with the rest of
    // the paced messages, even after London closed.
    let new_york = sender.times(&phone(20))[0];
    assert!(new_york < t("2025-03-29T21:00:00Z"), "{new_york}");
    let status = BatchStatus::load(&store, batch.id).await.unwrap();
    assert_eq!(status.state, BatchState::Completed);
    assert_eq!(status.progress.counts.delivered, 20);
}

#[tokio::test(start_paused = true)]
async fn ab_variants_are_sticky_by_customer_id_and_reported() {
    let clock = start();
    let store = store_with(&customers(40)).await;
    let state: State = serde_json::from_value(json!({"version": 1, "features": [{
        "name": "copy", "enabled": true,
        "strategies": [{"name": "default"}],
        "variants": [{"name": "a", "weight": 500, "stickiness": "default"},
                     {"name": "b", "weight": 500, "stickiness": "default"}]}]}))
    .unwrap();
    store.flags.import(&state, clock.now()).await.unwrap();
    let options = json!({
        "verifyAfterSeconds": 1,
        "variants": {"flag": "copy", "templates": {"a": {"text": "A: hi {{first_name}}"},
                                                    "b": {"text": "B: hello {{first_name}}"}}}
    });
    let first = create(&store, &clock, options.clone()).await;
    let second = create(&store, &clock, options).await;
    let variant_of = |messages: Vec<Message>| -> BTreeMap<i64, String> {
        messages
            .into_iter()
            .map(|m| {
                let v = m.variant.clone().unwrap();
                assert!(
                    m.body.starts_with(&format!("{}:", v.to_uppercase())),
                    "{m:?}"
                );
                (m.customer_id, v)
            })
            .collect()
    };
    let a = variant_of(all_messages(&store, first.id).await);
    let b = variant_of(all_messages(&store, second.id).await);
    assert_eq!(a.len(), 40);
    assert_eq!(a, b, "the same customer gets the same variant every time");
    let counts: HashMap<&str, usize> = a.values().fold(HashMap::new(), |mut m, v| {
        *m.entry(v.as_str()).or_default() += 1;
        m
    });
    assert!(counts["a"] >= 8 && counts["b"] >= 8, "{counts:?}");
    let fake = Arc::new(FakeSender::new());
    worker(&store, fake, &clock).run_until_idle().await.unwrap();
    let status = BatchStatus::load(&store, first.id).await.unwrap();
    assert_eq!(
        status.progress.variants["a"].counts.delivered,
        counts["a"] as u64
    );
    assert_eq!(
        status.progress.variants["b"].counts.delivered,
        counts["b"] as u64
    );
}

/// Drives a batch of slow sends with `WORKERS` workers on one store and applies `change` once
/// some are done: afterwards the workers send at most the messages they had claimed (five
/// permits each). For `cancel`, some sends end in doubt around the change (an HTTP 500 after
/// the provider took the message, a request lost on the way): they are still reconciled after
/// the cancel, none left in doubt, and the lost one is cancelled, never sent again.
async fn at_most_the_claimed_after(change: &str) {
    const WORKERS: usize = 3;
    const PERMITS: usize = 5;
    let clock = start();
    let store = store_with(&customers(60)).await;
    let mut fake = FakeConfig::new().latency(Duration::from_secs(1), Duration::from_secs(1));
    if change == "cancel" {
        // In flight when the change comes: the first fifteen are claimed at once.
        for i in [3, 8, 13] {
            fake = fake.script(
                phone(i),
                [FakeStep::Fail(FakeFailure::ServerErrorAfterSend)],
            );
        }
        fake = fake.script(phone(11), [FakeStep::Fail(FakeFailure::LostRequest)]);
    }
    let fake = Arc::new(fake.build().unwrap());
    let batch = create(
        &store,
        &clock,
        json!({"killSwitch": "stop-sms", "verifyAfterSeconds": 1, "concurrency": PERMITS}),
    )
    .await;
    let shutdown = Shutdown::new();
    let runs: Vec<_> = (0..WORKERS)
        .map(|n| {
            let w = Worker::new(store.clone(), fake.clone())
                .clock(clock.clone())
                .config(config().seed(42 + n as u64))
                .shutdown(shutdown.clone());
            tokio::spawn(async move { w.run().await })
        })
        .collect();
    // Every worker busy with its permits.
    while fake.calls() < (WORKERS * PERMITS) as u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = fake.calls() as usize;
    let now = clock.now();
    match change {
        "pause" => {
            smsbatch::send::pause(&store, batch.id, now).await.unwrap();
        }
        "cancel" => {
            smsbatch::send::cancel(&store, batch.id, now).await.unwrap();
        }
        "kill" => store
            .flags
            .set_enabled("stop-sms", true, now)
            .await
            .unwrap(),
        other => unreachable!("{other}"),
    }
    // Long enough for the in-doubt messages' settle time (twice the verification delay).
    tokio::time::sleep(Duration::from_secs(30)).await;
    let after = fake.calls() as usize;
    assert!(
        after <= before + WORKERS * PERMITS,
        "{change}: {before} sends before, {after} after, {WORKERS} workers of {PERMITS} permits"
    );
    let b = store.batches.get(batch.id).await.unwrap().unwrap();
    let counts = store.messages.count_by_status(batch.id).await.unwrap();
    assert_eq!(counts.processing, 0, "{change}: nothing left claimed");
    match change {
        "pause" => assert_eq!(b.pause_reason, Some(PauseReason::Operator)),
        "cancel" => {
            assert_eq!(b.state, BatchState::Cancelled);
            assert_eq!(counts.pending, 0);
            assert_eq!(
                counts.in_doubt, 0,
                "in-doubt messages reconciled after the cancel"
            );
            let messages = all_messages(&store, batch.id).await;
            let doubtful: Vec<&Message> = messages
                .iter()
                .filter(|m| [3, 8, 11, 13].map(phone).contains(&m.phone))
                .collect();
            assert!(
                doubtful.iter().all(|m| m.attempts > 0),
                "the scripted ones were sent before the cancel took effect: {doubtful:?}"
            );
            for m in &doubtful {
                if m.phone == phone(11) {
                    // The provider never had it: cancelled, not sent again.
                    assert_eq!(m.status, MessageStatus::Cancelled, "{m:?}");
                } else {
                    assert!(m.status.was_accepted() && m.provider_id.is_some(), "{m:?}");
                }
            }
            let records = fake.records().unwrap();
            let sent = (counts.sent + counts.delivered) as usize;
            assert_eq!(records.len(), sent, "every record is a sent message");
            // Every send but the lost one left a message sent; the rest are cancelled.
            assert_eq!(sent, after - 1);
            assert_eq!(counts.cancelled as usize, 60 - sent);
            let logs = store.logs.list(batch.id, None, 1000).await.unwrap();
            assert!(
                logs.iter()
                    .any(|l| l.event == "reconciled" && l.message.contains("cancelled")),
                "{:?}",
                logs.iter().map(|l| &l.message).collect::<Vec<_>>()
            );
        }
        _ => {
            assert_eq!(b.pause_reason, Some(PauseReason::KillSwitch));
            // Turned off again, the workers resume the batch by themselves.
            store
                .flags
                .set_enabled("stop-sms", false, clock.now())
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
            let b = store.batches.get(batch.id).await.unwrap().unwrap();
            assert_eq!(b.state, BatchState::Completed);
            assert_eq!(fake.calls(), 60);
        }
    }
    shutdown.trigger();
    for run in runs {
        run.await.unwrap().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn pause_stops_sending_beyond_the_claimed() {
    at_most_the_claimed_after("pause").await;
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_sending_beyond_the_claimed() {
    at_most_the_claimed_after("cancel").await;
}

#[tokio::test(start_paused = true)]
async fn the_kill_switch_stops_sending_while_enabled() {
    at_most_the_claimed_after("kill").await;
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_finishes_sends_and_gives_back_claims() {
    let clock = start();
    let store = store_with(&customers(30)).await;
    let fake = Arc::new(
        FakeConfig::new()
            .latency(Duration::from_secs(2), Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    // A slow rate too, so claimed messages wait on the pacer when the signal comes.
    let batch = create(
        &store,
        &clock,
        json!({"rate": {"segmentsPerSecond": 2, "burst": 1}}),
    )
    .await;
    let shutdown = Shutdown::new();
    let w = worker(&store, fake.clone(), &clock).shutdown(shutdown.clone());
    let run = tokio::spawn(async move { w.run().await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    shutdown.trigger();
    run.await.unwrap().unwrap();
    let counts = store.messages.count_by_status(batch.id).await.unwrap();
    assert_eq!(counts.processing, 0, "claims given back or finished");
    assert_eq!(counts.in_doubt, 0, "every send under way finished");
    assert_eq!(counts.sent + counts.delivered, fake.calls());
    assert_eq!(counts.pending + counts.sent + counts.delivered, 30);
    // Nothing is lost: another worker finishes the batch.
    let fake2 = Arc::new(FakeSender::new());
    worker(&store, fake2.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(fake.calls() + fake2.calls(), 30);
}

#[tokio::test(start_paused = true)]
async fn verification_refines_sent_and_retry_failed_requeues() {
    let clock = start();
    let store = store_with(&customers(24)).await;
    let fake = FakeConfig::new()
        .seed(3)
        .undelivered_one_in(4)
        .script(
            phone(1),
            [
                FakeStep::Fail(FakeFailure::RateLimited { retry_after: None }),
                FakeStep::Accept,
            ],
        )
        .build()
        .unwrap();
    let sender = Timed::new(fake, clock.clone());
    let batch = create(
        &store,
        &clock,
        json!({"maxAttempts": 1, "verifyAfterSeconds": 2, "secondVerifyAfterSeconds": 10}),
    )
    .await;
    worker(&store, sender.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    let status = BatchStatus::load(&store, batch.id).await.unwrap();
    assert_eq!(status.state, BatchState::Completed);
    let c = status.progress.counts;
    assert_eq!(
        c.failed, 1,
        "429 with one attempt allowed: failed, retryable"
    );
    assert!(c.undelivered > 0 && c.delivered > 0, "{c:?}");
    assert_eq!(c.delivered + c.undelivered, 23);
    // Retry the failed: the same message again, not a new one; the batch sends again.
    let requeued = smsbatch::send::retry_failed(&store, batch.id, clock.now())
        .await
        .unwrap();
    assert_eq!(
        (requeued.requeued, requeued.state),
        (1, BatchState::Sending)
    );
    worker(&store, sender.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    let status = BatchStatus::load(&store, batch.id).await.unwrap();
    assert_eq!(status.state, BatchState::Completed);
    assert_eq!(status.progress.messages, 24);
    let m1 = message_to(&store, batch.id, &phone(1)).await;
    assert!(m1.status.was_accepted());
    assert_eq!(sender.times(&phone(1)).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn requested_batches_are_prepared_by_a_worker_and_wait_for_send_at() {
    let clock = start();
    let store = store_with(&customers(5)).await;
    let send_at = t("2025-05-01T10:00:00Z");
    let request = BatchRequest::new(
        TemplateChoice::Text("Hi {{first_name}}".into()),
        json!({"version": 1, "where": {"field": "id", "op": "lte", "value": 3}}),
        Purpose::Transactional,
    )
    .send_at(send_at)
    .idempotency_key("k1")
    .options(BatchOptions::from_json(r#"{"verifyAfterSeconds": 1}"#).unwrap());
    let created = Preparer::new()
        .request(&store, &request, clock.now())
        .await
        .unwrap();
    assert_eq!(created.batch.state, BatchState::Requested);
    let again = Preparer::new()
        .request(&store, &request, clock.now())
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.batch.id, created.batch.id);
    let sender = Timed::new(FakeSender::new(), clock.clone());
    // Prepared, then scheduled: not due yet, so an until-idle worker stops.
    worker(&store, sender.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    let b = store.batches.get(created.batch.id).await.unwrap().unwrap();
    assert_eq!(b.state, BatchState::Scheduled);
    assert_eq!(sender.calls(), 0);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    worker(&store, sender.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    let b = store.batches.get(created.batch.id).await.unwrap().unwrap();
    assert_eq!(b.state, BatchState::Completed);
    let times: Vec<Timestamp> = (1..=3).flat_map(|i| sender.times(&phone(i))).collect();
    assert_eq!(times.len(), 3, "the filter selected three");
    assert!(times.iter().all(|at| *at >= send_at), "{times:?}");
}

#[tokio::test(start_paused = true)]
async fn preparation_is_chunked_and_records_exclusions() {
    let clock = start();
    let mut people = customers(25);
    for c in &mut people {
        c.attributes.insert("nickname".into(), json!("Zed"));
    }
    people[0].opted_out = Some(true);
    people[1].phone = None;
    people[2].phone = Some(phone(4)); // customer 4 then has a duplicate of its number
    people[5].opted_in = Some(false);
    people[8].attributes.remove("nickname");
    let store = store_with(&people).await;
    store
        .suppressions
        .add(&[(phone(7), Some("STOP".into()))], clock.now())
        .await
        .unwrap();
    let request = BatchRequest::new(
        TemplateChoice::Text("Hi {{first_name}}, aka {{nickname}}".into()),
        Value::Null,
        Purpose::Marketing,
    );
    let summary = Preparer::new()
        .chunk(4)
        .create(&store, &request, clock.now())
        .await
        .unwrap();
    let excluded = serde_json::to_value(&summary.excluded).unwrap();
    assert_eq!(
        excluded,
        json!({"noPhone": 1, "duplicatePhone": 1, "optedOut": 2, "noConsent": 1,
               "missingVariable": 1})
    );
    assert_eq!(summary.messages, 19);
    assert_eq!(summary.segments, 19);
    assert_eq!(summary.estimated_cost.to_string(), "19");
    assert_eq!(summary.state, BatchState::Sending);
    let json = serde_json::to_value(&summary).unwrap();
    for key in [
        "id",
        "state",
        "messages",
        "excluded",
        "segments",
        "estimatedCost",
        "currency",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let exclusions = store.exclusions.list(summary.id, None, 100).await.unwrap();
    assert_eq!(exclusions.len(), 6);
    let suppressed = exclusions.iter().find(|e| e.customer_id == 7).unwrap();
    assert!(suppressed.detail.contains("suppression"), "{suppressed:?}");
}

/// A provider answer that refuses the account (Twilio 20003, authentication failed) halts the
/// batch through the real runner: paused with reason `provider`, the message that got it pending
/// again (it waits for the operator's resume), and no more than the worker's permits sent after.
#[tokio::test(start_paused = true)]
async fn a_halting_answer_pauses_the_batch_for_the_provider() {
    let clock = start();
    let store = store_with(&customers(40)).await;
    let fake = FakeConfig::new()
        .latency(Duration::from_secs(1), Duration::from_secs(1))
        .script(
            phone(12),
            [FakeStep::Fail(FakeFailure::Code("20003".into()))],
        )
        .build()
        .unwrap();
    let sender = Timed::new(fake, clock.clone());
    let concurrency = 5;
    let batch = create(
        &store,
        &clock,
        json!({"concurrency": concurrency, "verifyAfterSeconds": 1}),
    )
    .await;
    worker(&store, sender.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    let b = store.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(
        (b.state, b.pause_reason),
        (BatchState::Paused, Some(PauseReason::Provider))
    );
    let halted = message_to(&store, batch.id, &phone(12)).await;
    assert_eq!(halted.status, MessageStatus::Pending, "{halted:?}");
    assert_eq!(halted.error_code.as_deref(), Some("20003"));
    assert_eq!(halted.error_category, Some(ErrorCategory::Account));
    // The halting answer came a second (the latency) after its send started; sends started
    // from then on are at most the permits that were free.
    let answered = sender.times(&phone(12))[0].saturating_add(Duration::from_secs(1));
    let after = sender
        .sends
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at >= answered)
        .count();
    assert!(after <= concurrency, "{after} sends after the halt");
    assert!(
        (12..40).contains(&sender.calls()),
        "{} sends in all",
        sender.calls()
    );
    let counts = store.messages.count_by_status(batch.id).await.unwrap();
    assert_eq!(counts.processing, 0);
    assert_eq!(counts.in_doubt, 0);
    assert_eq!(counts.pending, 40 - (sender.calls() as u64 - 1));
    let logs = store.logs.list(batch.id, None, 100).await.unwrap();
    assert!(
        logs.iter().any(|l| l.event == "paused:provider"),
        "{:?}",
        logs.iter().map(|l| &l.event).collect::<Vec<_>>()
    );
}

/// Two workers draining one batch on PostgreSQL, each writing the batch's progress often: the
/// error counts per category are the store's (messages by error category), so none of either
/// worker's failures is lost to the other's write (each worker once merged its own counts into
/// the shared document, read-modify-write, and one of two writes in the same instant lost the
/// other's).
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_counts_per_category_add_up_across_workers() {
    let Some(db) = crate::db::TempDb::create("send_error_counts", crate::db::Locale::CUtf8) else {
        return;
    };
    let pg = smsbatch::store::postgres::PgStore::connect(db.url.clone())
        .await
        .unwrap();
    pg.migrate().await.unwrap();
    let store = pg.store(Actor::Service).unwrap();
    store.customers.upsert(&customers(80)).await.unwrap();
    let mut fake = FakeConfig::new()
        .seed(5)
        .latency(Duration::from_millis(2), Duration::from_millis(10));
    let (mut invalid, mut filtered) = (0, 0);
    for i in 1..=80 {
        if i % 4 == 0 {
            fake = fake.always(phone(i), FakeFailure::Code("21211".into()));
            invalid += 1;
        } else if i % 7 == 0 {
            fake = fake.always(phone(i), FakeFailure::Code("30007".into()));
            filtered += 1;
        }
    }
    let fake = Arc::new(fake.build().unwrap());
    let request = BatchRequest::new(
        TemplateChoice::Text("Hello {{first_name}}".into()),
        Value::Null,
        Purpose::Transactional,
    )
    .sender("ACME")
    .options(
        BatchOptions::from_json(
            r#"{"verifyAfterSeconds": 1, "errorRatePause": 0.9, "concurrency": 4}"#,
        )
        .unwrap(),
    );
    let now = smsbatch::send::SystemClock.now();
    let batch = Preparer::new().create(&store, &request, now).await.unwrap();
    let runs: Vec<_> = (0..2)
        .map(|n| {
            let w = Worker::new(store.clone(), fake.clone()).config(
                RunnerConfig::new()
                    .poll(Duration::from_millis(20))
                    .progress_every(Duration::ZERO)
                    .seed(n),
            );
            tokio::spawn(async move { w.run_until_idle().await })
        })
        .collect();
    for run in runs {
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the workers finish within a minute")
            .unwrap()
            .unwrap();
    }
    let b = store.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(b.state, BatchState::Completed);
    // What the workers wrote into the batch's progress.
    let written: smsbatch::queue::ErrorStats =
        serde_json::from_value(b.progress["errors"].clone()).unwrap();
    let count = |s: &smsbatch::queue::ErrorStats, c| s.get(c).map_or(0, |c| c.count);
    assert_eq!(count(&written, ErrorCategory::InvalidRecipient), invalid);
    assert_eq!(count(&written, ErrorCategory::Filtered), filtered);
    assert_eq!(written.total(), invalid + filtered);
    let samples = &written
        .get(ErrorCategory::InvalidRecipient)
        .unwrap()
        .samples;
    assert!(!samples.is_empty() && samples.len() <= 10);
    // And what the status reads.
    let status = BatchStatus::load(&store, batch.id).await.unwrap();
    assert_eq!(
        count(&status.progress.errors, ErrorCategory::InvalidRecipient),
        invalid
    );
    assert_eq!(status.progress.counts.failed, invalid + filtered);
}

/// The rate limit is per sender across a worker's batches: two batches from one sender at two
/// segments a second take twice as long together as one, not the same time (each batch once
/// had its own pacer, so together they went at twice the sender's rate).
#[tokio::test(start_paused = true)]
async fn two_batches_from_one_sender_share_its_rate() {
    let clock = start();
    let store = store_with(&customers(20)).await;
    let sender = Timed::new(FakeSender::new(), clock.clone());
    let options = json!({"rate": {"segmentsPerSecond": 2, "burst": 1}, "verifyAfterSeconds": 1});
    let first = create(&store, &clock, options.clone()).await;
    let second = create(&store, &clock, options).await;
    let began = clock.now();
    worker(&store, sender.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    for id in [first.id, second.id] {
        let status = BatchStatus::load(&store, id).await.unwrap();
        assert_eq!(status.state, BatchState::Completed);
        assert_eq!(status.progress.counts.delivered, 20);
    }
    let mut times: Vec<Timestamp> = sender
        .sends
        .lock()
        .unwrap()
        .iter()
        .map(|(_, at)| *at)
        .collect();
    times.sort();
    assert_eq!(times.len(), 40);
    // Burst 1, then one every 500 ms for the sender: the k-th send no earlier than k / 2 s
    // after the start, whichever batch it belongs to.
    for (k, at) in times.iter().enumerate() {
        let earliest = began.saturating_add(Duration::from_millis(500 * k as u64));
        assert!(*at >= earliest, "send {k} at {at}, before {earliest}");
    }
    let took = times[39].duration_since(times[0]);
    assert!(took >= Duration::from_millis(19_500), "{took:?}");
}

/// A provider without delivery reports for a while: look-ups say `sent`, except that the
/// message to `late` reads `delivered` from its second look-up on.
#[derive(Debug)]
struct NoReports {
    inner: FakeSender,
    clock: Arc<TokioClock>,
    late: String,
    lookups: Mutex<HashMap<String, Vec<Timestamp>>>,
}

#[async_trait]
impl Sender for NoReports {
    fn name(&self) -> &str {
        "no-reports"
    }

    async fn send(&self, message: &OutboundMessage) -> SendOutcome {
        self.inner.send(message).await
    }

    async fn lookup(&self, provider_id: &str) -> Result<ProviderMessage, LookupError> {
        let mut found = self.inner.lookup(provider_id).await?;
        let seen = {
            let mut lookups = self.lookups.lock().unwrap();
            let times = lookups.entry(provider_id.to_owned()).or_default();
            times.push(self.clock.now());
            times.len()
        };
        if !(seen >= 2 && found.to.as_deref() == Some(self.late.as_str())) {
            found.status = smsbatch::queue::ProviderStatus::Sent;
        }
        Ok(found)
    }

    async fn find(&self, query: &FindQuery) -> Result<Vec<ProviderMessage>, LookupError> {
        self.inner.find(query).await
    }
}

/// Verification in two passes: the first `verifyAfterSeconds` after each send, the second
/// `secondVerifyAfterSeconds` after it; a message still `sent` after the first is looked up
/// again and may then be delivered; the batch completes only after the second pass.
#[tokio::test(start_paused = true)]
async fn the_second_verification_pass_looks_again() {
    let clock = start();
    let store = store_with(&customers(6)).await;
    let sender = Arc::new(NoReports {
        inner: FakeSender::new(),
        clock: clock.clone(),
        late: phone(1),
        lookups: Mutex::new(HashMap::new()),
    });
    let batch = create(
        &store,
        &clock,
        json!({"verifyAfterSeconds": 2, "secondVerifyAfterSeconds": 10}),
    )
    .await;
    worker(&store, sender.clone(), &clock)
        .run_until_idle()
        .await
        .unwrap();
    let b = store.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(b.state, BatchState::Completed);
    let lookups = sender.lookups.lock().unwrap().clone();
    assert_eq!(lookups.len(), 6);
    for m in all_messages(&store, batch.id).await {
        let provider_id = m.provider_id.clone().unwrap();
        let times = &lookups[&provider_id];
        assert_eq!(times.len(), 2, "two passes for {}", m.phone);
        let accepted = m.accepted_at.unwrap();
        assert!(times[0] >= accepted.saturating_add(Duration::from_secs(2)));
        assert!(times[1] >= accepted.saturating_add(Duration::from_secs(10)));
        if m.phone == phone(1) {
            // Delivered at the second look.
            assert_eq!(m.status, MessageStatus::Delivered, "{m:?}");
        } else {
            // Still `sent` (no report): both passes recorded.
            assert_eq!((m.status, m.verified), (MessageStatus::Sent, 2), "{m:?}");
        }
    }
    let completed = store
        .logs
        .list(batch.id, None, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.event == "completed")
        .unwrap();
    let last_lookup = lookups.values().flatten().max().copied().unwrap();
    assert!(completed.at >= last_lookup, "{completed:?}");
}

/// Expired leases are looked for at most once per `rescue_every` (every poll would only load
/// the store): claims left by a dead worker come back at the first rescue after they expire,
/// not at the next poll.
#[tokio::test(start_paused = true)]
async fn expired_leases_are_rescued_at_the_rescue_interval() {
    let clock = start();
    let store = store_with(&customers(3)).await;
    let batch = create(&store, &clock, json!({})).await;
    // A worker that died holding every message's claim, never started, for 2 s.
    let claim = smsbatch::store::Claim::new(
        10,
        uuid::Uuid::from_u128(7),
        Duration::from_secs(2),
        clock.now(),
    )
    .batch(batch.id);
    assert_eq!(store.messages.claim(&claim).await.unwrap().len(), 3);
    // Paused, so the live worker only rescues.
    smsbatch::send::pause(&store, batch.id, clock.now())
        .await
        .unwrap();
    let started = clock.now();
    let rescued: Arc<Mutex<Vec<(Timestamp, u64)>>> = Arc::default();
    let seen = Arc::clone(&rescued);
    let events_clock = clock.clone();
    let shutdown = Shutdown::new();
    let w = worker(&store, Timed::new(FakeSender::new(), clock.clone()), &clock)
        .config(config().rescue_every(Duration::from_secs(10)))
        .shutdown(shutdown.clone())
        .events(Arc::new(move |e: &smsbatch::send::WorkerEvent| {
            if let smsbatch::send::WorkerEvent::Rescued { pending, .. } = e {
                seen.lock().unwrap().push((events_clock.now(), *pending));
            }
        }));
    let run = tokio::spawn(async move { w.run().await });
    tokio::time::sleep(Duration::from_secs(15)).await;
    shutdown.trigger();
    run.await.unwrap().unwrap();
    let rescued = rescued.lock().unwrap().clone();
    assert_eq!(rescued.len(), 1, "{rescued:?}");
    let (at, pending) = rescued[0];
    assert_eq!(pending, 3);
    // Expired at 2 s; the worker's first look was at 0 s, its next one 10 s later.
    let after = at.duration_since(started);
    assert!(
        after >= Duration::from_secs(10) && after < Duration::from_secs(11),
        "{after:?}"
    );
    let counts = store.messages.count_by_status(batch.id).await.unwrap();
    assert_eq!(counts.pending, 3);
}

/// Without a rate limit or a send window nothing stands between a claim and the provider call,
/// so the claim records the send start itself (one write less per message); with a rate limit
/// a claimed message may wait for the pacer, and its start is written when it goes. (A crash
/// after such a claim leaves the messages in doubt: the store contract and the crash test with
/// killed workers cover that.)
#[tokio::test(start_paused = true)]
async fn a_claim_records_the_start_when_nothing_holds_the_send_back() {
    // (When a lost message would be failed rather than resent, claims do not record the start
    // either: `claims_start_sends`' unit test.)
    for (options, started_at_claim) in [
        (json!({}), true),
        (json!({"inDoubt": {"resendAfterSeconds": 600}}), true),
        (json!({"rate": {"segmentsPerSecond": 1, "burst": 1}}), false),
    ] {
        let clock = start();
        let store = store_with(&customers(8)).await;
        let fake = Arc::new(
            FakeConfig::new()
                .latency(Duration::from_secs(4), Duration::from_secs(4))
                .build()
                .unwrap(),
        );
        let batch = create(&store, &clock, options.clone()).await;
        let shutdown = Shutdown::new();
        let w = worker(&store, fake.clone(), &clock).shutdown(shutdown.clone());
        let run = tokio::spawn(async move { w.run().await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let claimed: Vec<Message> = all_messages(&store, batch.id)
            .await
            .into_iter()
            .filter(|m| m.status == MessageStatus::Processing)
            .collect();
        assert_eq!(claimed.len(), 5, "{options}: the default concurrency");
        let at_claim = claimed
            .iter()
            .filter(|m| m.send_started_at.is_some() && m.send_started_at == m.claimed_at)
            .count();
        if started_at_claim {
            assert_eq!(at_claim, 5, "{options}");
        } else {
            // The first went at once (its own start write); the others wait for the pacer.
            assert!(at_claim <= 1, "{options}: {claimed:?}");
            assert!(
                claimed
                    .iter()
                    .filter(|m| m.send_started_at.is_none())
                    .count()
                    >= 3,
                "{options}: {claimed:?}"
            );
        }
        shutdown.trigger();
        run.await.unwrap().unwrap();
        let counts = store.messages.count_by_status(batch.id).await.unwrap();
        assert_eq!((counts.processing, counts.in_doubt), (0, 0), "{options}");
    }
}
