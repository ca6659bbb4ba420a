//! A batch sent through the fake provider: the report's totals and the metrics (through a local
//! test recorder) and spans (through a local test subscriber) agree with the provider's record.
//!
//! Until the send runner is on main, the batch is sent by [`send_all`], a plain loop doing what
//! the runner does (claim, mark the send started, send, record the outcome, then check every
//! sent message with the provider); it drives the real stores and the real fake provider.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smsbatch::analytics::BatchAnalyzer;
use smsbatch::queue::{
    BatchState, MessageId, MessageStatus, OutboundMessage, ProviderStatus, SendOutcome, Sender,
};
use smsbatch::store::{
    Actor, Backend, Claim, Fence, MemoryStore, NewBatch, NewMessage, Store, Transition, Uuid,
};
use smsbatch::testing::{FakeConfig, FakeFailure, read_record};
use smsbatch::{Amount, Purpose, Segmenter};

use super::fixture::t0;

/// Sends every message of `batch` with `sender` until none is pending, then looks up each sent
/// one; `now` advances a millisecond per step.
pub async fn send_all(store: &Store, batch: Uuid, sender: &dyn Sender) {
    let mut clock = 0u64;
    let mut now = || {
        clock += 1;
        t0().saturating_add(Duration::from_millis(clock))
    };
    store
        .batches
        .transition(batch, BatchState::Sending, None, now())
        .await
        .unwrap();
    let token = Uuid::from_u128(7);
    loop {
        let claimed = store
            .messages
            .claim(&Claim::new(10, token, Duration::from_secs(60), now()).batch(batch))
            .await
            .unwrap();
        if claimed.is_empty() {
            break;
        }
        for m in claimed {
            store
                .messages
                .mark_send_started(m.id, token, now())
                .await
                .unwrap();
            let out = OutboundMessage::new(MessageId::from(m.id), &m.phone, "Shop", &m.body)
                .segments(m.segments);
            let change = match sender.send(&out).await {
                SendOutcome::Accepted(a) => {
                    let mut t = Transition::sent(&a.provider_id);
                    if let Some(s) = a.segments {
                        t = t.provider_segments(s);
                    }
                    t
                }
                SendOutcome::Retry { .. } => Transition::retry(now()),
                SendOutcome::Failed(f) => {
                    let mut t = Transition::failed(f.category).error_message(&f.message);
                    if let Some(code) = &f.code {
                        t = t.error_code(code);
                    }
                    t
                }
                other => panic!("the fake is not set up for {other:?}"),
            };
            store
                .messages
                .transition(m.id, Fence::Claim(token), &change, now())
                .await
                .unwrap();
        }
    }
    // Verification: the provider's view of every sent message.
    let sent = store
        .messages
        .list(&smsbatch::store::MessageQuery::new(batch, 10_000).statuses([MessageStatus::Sent]))
        .await
        .unwrap();
    for m in sent {
        let seen = sender
            .lookup(m.provider_id.as_deref().unwrap())
            .await
            .unwrap();
        let change = match seen.status {
            ProviderStatus::Delivered => Transition::to(MessageStatus::Delivered).price(
                Amount::from_nanos(79 * 100_000 * u128::from(m.segments)),
                "USD",
            ),
            ProviderStatus::Undelivered => Transition::to(MessageStatus::Undelivered)
                .category(smsbatch::queue::ErrorCategory::Unreachable)
                .error_code(seen.error_code.clone().unwrap_or_default()),
            other => panic!("unexpected status {other:?}"),
        };
        store
            .messages
            .transition(m.id, Fence::Status(MessageStatus::Sent), &change, now())
            .await
            .unwrap();
    }
}

/// A batch of `n` messages, one to three segments, ready to send.
async fn batch_of(store: &Store, n: usize) -> Uuid {
    let mut new = NewBatch::new(Purpose::Transactional);
    new.currency = Some("USD".into());
    let batch = store.batches.create(&new, t0()).await.unwrap().batch.id;
    let segmenter = Segmenter::default();
    let messages: Vec<NewMessage> = (0..n)
        .map(|i| {
            let body = format!("Order {i} is ready. {}", "More text. ".repeat(i % 3 * 15));
            let count = segmenter.count(&body);
            let mut m = NewMessage::new(
                i as i64 + 1,
                format!("+4474009{i:05}"),
                body,
                count.encoding,
            );
            m.segments = count.segments;
            m.estimated_cost = Amount::from_nanos(7_900_000 * u128::from(count.segments));
            m
        })
        .collect();
    store.messages.insert(batch, &messages, t0()).await.unwrap();
    batch
}

/// The record file of one test, removed at the end (also when it fails).
struct Record(std::path::PathBuf);

impl Drop for Record {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn record(tag: &str) -> Record {
    let path = std::env::temp_dir().join(format!("smsbatch-{tag}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    Record(path)
}

fn fake(record: &Record) -> smsbatch::testing::FakeSender {
    FakeConfig::new()
        .seed(11)
        .latency(Duration::from_millis(20), Duration::from_millis(80))
        .record_file(&record.0)
        .fail_one_in(6, FakeFailure::Code("30007".into()))
        .fail_one_in(9, FakeFailure::RateLimited { retry_after: None })
        .undelivered_one_in(5)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn report_totals_agree_with_the_fake_providers_record() {
    let record = record("analytics-sent");
    let sender = fake(&record);
    let store = MemoryStore::new().store(Actor::Service).unwrap();
    let batch = batch_of(&store, 120).await;
    send_all(&store, batch, &sender).await;

    let lines = read_record(&record.0).unwrap();
    let b = store.batches.get(batch).await.unwrap().unwrap();
    let analysis = BatchAnalyzer::for_batch(&b)
        .run(&store, t0())
        .await
        .unwrap();
    let r = &analysis.report;
    let s = r.by_state;
    // Every message the provider recorded is accepted in the report, and no other.
    assert_eq!(s.sent + s.delivered + s.undelivered, lines.len() as u64);
    assert_eq!(r.throughput.messages, lines.len() as u64);
    assert_eq!(r.messages, 120);
    assert_eq!(s.pending + s.processing + s.in_doubt + s.cancelled, 0);
    assert_eq!(s.failed + lines.len() as u64, 120);
    assert!(
        s.failed > 0 && s.undelivered > 0,
        "the fake failed some: {s:?}"
    );
    // Segments: the provider's count of what it recorded.
    let recorded_segments: u64 = lines
        .iter()
        .map(|l| u64::from(smsbatch::count(&l.body).segments))
        .sum();
    assert_eq!(r.throughput.segments, recorded_segments);
    // The provider ids and recipients match message by message.
    let by_id: BTreeMap<String, (String, String)> = lines
        .iter()
        .map(|l| {
            (
                l.message_id.as_str().to_owned(),
                (l.provider_id.clone(), l.to.clone()),
            )
        })
        .collect();
    for m in super::fixture::all_messages(&store, batch).await {
        match by_id.get(&m.id.to_string()) {
            Some((provider_id, to)) => {
                assert_eq!(m.provider_id.as_ref(), Some(provider_id));
                assert_eq!(&m.phone, to);
            }
            None => assert_eq!(m.status, MessageStatus::Failed),
        }
    }
    // Errors: the 30007s the fake answered are the failed messages, filtered.
    let filtered = r
        .errors
        .get(smsbatch::queue::ErrorCategory::Filtered)
        .unwrap();
    assert_eq!(filtered.count, s.failed);
    assert_eq!(filtered.samples[0].code.as_deref(), Some("30007"));
    // Cost: 0.0079 a segment for the delivered ones.
    let delivered_segments: u64 = super::fixture::all_messages(&store, batch)
        .await
        .iter()
        .filter(|m| m.status == MessageStatus::Delivered)
        .map(|m| u64::from(m.segments))
        .sum();
    assert_eq!(
        r.cost.actual,
        Amount::from_nanos(7_900_000 * u128::from(delivered_segments))
    );
    assert_eq!(r.cost.currency, "USD");
}

#[cfg(all(feature = "metrics", feature = "tracing"))]
mod observed {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use smsbatch::analytics::ObservedSender;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record as SpanRecord};
    use tracing::{Event, Metadata, Subscriber};

    /// A metric's name and labels.
    type MetricKey = (String, Vec<(String, String)>);

    /// Counters and histograms by name and labels.
    type Snapshot = (BTreeMap<MetricKey, u64>, BTreeMap<MetricKey, Vec<f64>>);

    fn snapshot(snapshotter: &metrics_util::debugging::Snapshotter) -> Snapshot {
        let mut counters: BTreeMap<MetricKey, u64> = BTreeMap::new();
        let mut histograms: BTreeMap<MetricKey, Vec<f64>> = BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            let name = key.key().name().to_owned();
            match value {
                DebugValue::Counter(n) => {
                    counters.insert((name, labels), n);
                }
                DebugValue::Histogram(v) => {
                    histograms.insert(
                        (name, labels),
                        v.into_iter().map(|f| f.into_inner()).collect(),
                    );
                }
                DebugValue::Gauge(_) => {}
            }
        }
        (counters, histograms)
    }

    /// A counter's value (0 when it was never incremented).
    fn counter_of(counters: &BTreeMap<MetricKey, u64>, name: &str, labels: &[(&str, &str)]) -> u64 {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        counters
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0)
    }

    /// A subscriber that keeps every span's name and fields, and every event's fields.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Captured>>);

    #[derive(Default)]
    struct Captured {
        spans: Vec<(&'static str, BTreeMap<String, String>)>,
        events: Vec<BTreeMap<String, String>>,
        /// Each span's parent (by index into `spans`), explicit or the one entered.
        parents: Vec<Option<usize>>,
        /// Each event's span (by index into `spans`): the one entered when it happened.
        event_spans: Vec<Option<usize>>,
        /// The spans entered on this (the only) thread, innermost last.
        stack: Vec<usize>,
    }

    impl Captured {
        /// Whether span `i` is `ancestor` or lies under it.
        fn under(&self, mut i: usize, ancestor: usize) -> bool {
            loop {
                if i == ancestor {
                    return true;
                }
                match self.parents[i] {
                    Some(p) => i = p,
                    None => return false,
                }
            }
        }
    }

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut fields = BTreeMap::new();
            span.record(&mut Fields(&mut fields));
            let mut c = self.0.lock().unwrap();
            let parent = if span.is_root() {
                None
            } else if let Some(p) = span.parent() {
                Some(p.into_u64() as usize - 1)
            } else {
                c.stack.last().copied()
            };
            c.parents.push(parent);
            c.spans.push((span.metadata().name(), fields));
            Id::from_u64(c.spans.len() as u64)
        }
        fn record(&self, span: &Id, values: &SpanRecord<'_>) {
            let mut c = self.0.lock().unwrap();
            let i = span.into_u64() as usize - 1;
            values.record(&mut Fields(&mut c.spans[i].1));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            let mut c = self.0.lock().unwrap();
            let within = c.stack.last().copied();
            c.events.push(fields);
            c.event_spans.push(within);
        }
        fn enter(&self, span: &Id) {
            self.0
                .lock()
                .unwrap()
                .stack
                .push(span.into_u64() as usize - 1);
        }
        fn exit(&self, span: &Id) {
            let mut c = self.0.lock().unwrap();
            let i = span.into_u64() as usize - 1;
            // Spans exit in the reverse order they were entered on one thread.
            if let Some(at) = c.stack.iter().rposition(|&s| s == i) {
                c.stack.remove(at);
            }
        }
    }

    #[test]
    fn metrics_and_spans_agree_with_the_fake_providers_record() {
        let record = record("analytics-metrics");
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let capture = Capture::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let store = MemoryStore::new().store(Actor::Service).unwrap();
        let fake = Arc::new(fake(&record));
        let sender = ObservedSender::new(fake.clone());
        // A local recorder and a local subscriber, on this thread only: nothing global.
        let batch = metrics::with_local_recorder(&recorder, || {
            tracing::subscriber::with_default(capture.clone(), || {
                runtime.block_on(async {
                    let batch = batch_of(&store, 60).await;
                    send_all(&store, batch, &sender).await;
                    batch
                })
            })
        });
        let lines = read_record(&record.0).unwrap();
        let messages = super::super::fixture::all_messages(&store, batch).await_blocking();
        let failed = messages
            .iter()
            .filter(|m| m.status == MessageStatus::Failed)
            .count() as u64;

        let (counters, histograms) = snapshot(&snapshotter);
        let counter = |name: &str, labels: &[(&str, &str)]| counter_of(&counters, name, labels);
        let fake_label = [("sender", "fake")];
        let accepted = counter(
            "smsbatch_sends_total",
            &[("sender", "fake"), ("outcome", "accepted")],
        );
        assert_eq!(accepted, lines.len() as u64);
        let retried = counter(
            "smsbatch_sends_total",
            &[("sender", "fake"), ("outcome", "retry")],
        );
        let refused = counter(
            "smsbatch_sends_total",
            &[("sender", "fake"), ("outcome", "failed")],
        );
        assert_eq!(refused, failed);
        assert!(retried > 0, "the fake rate-limited some");
        assert_eq!(accepted + retried + refused, fake.calls());
        assert_eq!(
            counter(
                "smsbatch_send_errors_total",
                &[("sender", "fake"), ("category", "filtered")]
            ),
            failed
        );
        assert_eq!(
            counter(
                "smsbatch_send_errors_total",
                &[("sender", "fake"), ("category", "rateLimited")]
            ),
            retried
        );
        let segments: u64 = lines
            .iter()
            .map(|l| u64::from(smsbatch::count(&l.body).segments))
            .sum();
        assert_eq!(counter("smsbatch_segments_total", &fake_label), segments);
        let delivered = messages
            .iter()
            .filter(|m| m.status != MessageStatus::Failed)
            .count() as u64;
        assert_eq!(
            counter(
                "smsbatch_lookups_total",
                &[("sender", "fake"), ("result", "found")]
            ),
            delivered
        );
        // Durations on the paused clock: each call took the fake's latency, 20 to 80 ms.
        let accepted_seconds = &histograms[&(
            "smsbatch_send_seconds".to_owned(),
            vec![
                ("sender".into(), "fake".into()),
                ("outcome".into(), "accepted".into()),
            ],
        )];
        assert_eq!(accepted_seconds.len() as u64, accepted);
        assert!(
            accepted_seconds.iter().all(|s| (0.02..=0.08).contains(s)),
            "{accepted_seconds:?}"
        );

        // One span per provider call, with its message id and outcome; no phone number or text.
        let captured = capture.0.lock().unwrap();
        let sends: Vec<_> = captured
            .spans
            .iter()
            .filter(|(n, _)| *n == "smsbatch.send")
            .collect();
        assert_eq!(sends.len() as u64, fake.calls());
        let accepted_ids: std::collections::BTreeSet<&str> =
            lines.iter().map(|l| l.message_id.as_str()).collect();
        let span_accepted: std::collections::BTreeSet<&str> = sends
            .iter()
            .filter(|(_, f)| f.get("outcome").map(String::as_str) == Some("accepted"))
            .map(|(_, f)| f["message_id"].as_str())
            .collect();
        assert_eq!(span_accepted, accepted_ids);
        assert!(
            sends
                .iter()
                .all(|(_, f)| f["sender"] == "fake" && f.contains_key("segments"))
        );
        let warnings = captured
            .events
            .iter()
            .filter(|e| e.get("category").is_some())
            .count() as u64;
        assert_eq!(warnings, retried + refused);
        for (_, fields) in &captured.spans {
            for value in fields.values() {
                assert!(
                    !value.contains("+4474009"),
                    "no phone number in spans: {value}"
                );
            }
        }
    }

    /// The send runner itself (a [`Worker`] on the paused clock) with the fake behind an
    /// [`ObservedSender`]: the state counters agree with the store and with the fake's record,
    /// and the spans carry the batch.
    #[test]
    fn worker_state_counters_and_batch_spans_agree_with_the_fake_providers_record() {
        use smsbatch::send::{BatchRequest, Preparer, RunnerConfig, TemplateChoice, TokioClock};
        use smsbatch::send::{Clock, Worker};
        use smsbatch::store::Customer;

        const N: i64 = 48;
        let record = record("analytics-worker-metrics");
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let capture = Capture::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let store = MemoryStore::new().store(Actor::Service).unwrap();
        let fake = Arc::new(fake(&record));
        let sender: Arc<dyn Sender> = Arc::new(ObservedSender::new(fake.clone()));
        // A local recorder and a local subscriber on this thread; the runtime is single-threaded,
        // so the worker's spawned tasks run here too. Nothing global is installed.
        let batch = metrics::with_local_recorder(&recorder, || {
            tracing::subscriber::with_default(capture.clone(), || {
                runtime.block_on(async {
                    let customers: Vec<Customer> = (1..=N)
                        .map(|i| {
                            let mut c = Customer::new(i);
                            c.phone = Some(format!("+4474009{i:05}"));
                            c.first_name = Some(format!("C{i}"));
                            c
                        })
                        .collect();
                    store.customers.upsert(&customers).await.unwrap();
                    let clock = Arc::new(TokioClock::new(t0()));
                    let request = BatchRequest::new(
                        TemplateChoice::Text("Hello {{first_name}}, your order ships".into()),
                        serde_json::Value::Null,
                        Purpose::Transactional,
                    )
                    .sender("Shop");
                    let batch = Preparer::new()
                        .create(&store, &request, clock.now())
                        .await
                        .unwrap();
                    Worker::new(store.clone(), sender)
                        .clock(clock)
                        .config(RunnerConfig::new().poll(Duration::from_millis(200)).seed(3))
                        .run_until_idle()
                        .await
                        .unwrap();
                    batch.id
                })
            })
        });
        let messages = super::super::fixture::all_messages(&store, batch).await_blocking();
        let lines = read_record(&record.0).unwrap();
        let in_store =
            |status: MessageStatus| messages.iter().filter(|m| m.status == status).count() as u64;
        // The fake's own answer about each message it recorded: delivered or undelivered.
        let mut delivered = 0u64;
        let mut undelivered = 0u64;
        for line in &lines {
            match fake
                .lookup(&line.provider_id)
                .await_blocking()
                .unwrap()
                .status
            {
                ProviderStatus::Delivered => delivered += 1,
                ProviderStatus::Undelivered => undelivered += 1,
                other => panic!("the fake left {} as {other:?}", line.provider_id),
            }
        }
        assert!(
            delivered > 0 && undelivered > 0,
            "{delivered} {undelivered}"
        );
        assert_eq!(in_store(MessageStatus::Delivered), delivered);
        assert_eq!(in_store(MessageStatus::Undelivered), undelivered);
        let failed = in_store(MessageStatus::Failed);
        assert!(failed > 0, "the fake refused some");
        assert_eq!(failed + lines.len() as u64, N as u64);

        let (counters, _) = snapshot(&snapshotter);
        let state = |name: &str, state: &str| counter_of(&counters, name, &[("state", state)]);
        let messages_total = |s: &str| state("smsbatch_messages_total", s);
        let retried = counter_of(
            &counters,
            "smsbatch_sends_total",
            &[("sender", "fake"), ("outcome", "retry")],
        );
        assert!(retried > 0, "the fake rate-limited some");
        // Every recorded message was accepted once (sent), then settled as the fake says.
        assert_eq!(messages_total("sent"), lines.len() as u64);
        assert_eq!(messages_total("delivered"), delivered);
        assert_eq!(messages_total("undelivered"), undelivered);
        assert_eq!(messages_total("failed"), failed);
        // Claimed once per provider call (no window, no shutdown, no lease expired).
        assert_eq!(messages_total("processing"), fake.calls());
        // Pending: inserted by the preparation, then once per rate-limited retry.
        assert_eq!(messages_total("pending"), N as u64 + retried);
        assert_eq!(messages_total("inDoubt"), 0);
        assert_eq!(messages_total("cancelled"), 0);
        // The batch: created preparing, then sending, verifying and completed, once each.
        for s in ["preparing", "sending", "verifying", "completed"] {
            assert_eq!(state("smsbatch_batches_total", s), 1, "{s}");
        }
        assert_eq!(state("smsbatch_batches_total", "paused"), 0);

        // Spans: one `smsbatch.batch` per run with the batch id, and every send under it with
        // the batch id too.
        let captured = capture.0.lock().unwrap();
        let batch_id = batch.to_string();
        let runs: Vec<usize> = (0..captured.spans.len())
            .filter(|&i| captured.spans[i].0 == "smsbatch.batch")
            .collect();
        assert_eq!(runs.len(), 1, "one run of one batch");
        let run = runs[0];
        assert_eq!(captured.spans[run].1["batch_id"], batch_id);
        assert_eq!(captured.spans[run].1["sender"], "fake");
        let sends: Vec<usize> = (0..captured.spans.len())
            .filter(|&i| captured.spans[i].0 == "smsbatch.send")
            .collect();
        assert_eq!(sends.len() as u64, fake.calls());
        for &i in &sends {
            assert_eq!(captured.spans[i].1["batch_id"], batch_id);
            assert!(
                captured.under(i, run),
                "send span {i} is not under the batch's"
            );
        }
        // Look-ups of the verification run under the batch's span too.
        let lookups = (0..captured.spans.len())
            .filter(|&i| captured.spans[i].0 == "smsbatch.lookup")
            .inspect(|&i| assert!(captured.under(i, run)))
            .count();
        assert_eq!(lookups, lines.len());
        // The state events carry the batch id and add up to the counters.
        let mut moved: BTreeMap<String, u64> = BTreeMap::new();
        for (i, e) in captured.events.iter().enumerate() {
            if e.get("message").map(String::as_str) == Some("messages moved") {
                assert_eq!(e["batch_id"], batch_id);
                *moved.entry(e["state"].clone()).or_default() += e["count"].parse::<u64>().unwrap();
            }
            if e.get("message").map(String::as_str) == Some("batch state") {
                assert_eq!(e["batch_id"], batch_id);
                // The run's own moves happen inside its span (creation and preparation do not).
                if matches!(e["state"].as_str(), "verifying" | "completed") {
                    let within = captured.event_spans[i].expect("inside a span");
                    assert!(captured.under(within, run));
                }
            }
        }
        for (s, n) in &moved {
            assert_eq!(messages_total(s), *n, "{s}");
        }
        assert_eq!(moved["delivered"], delivered);
    }

    trait Blocking: std::future::Future + Sized {
        fn await_blocking(self) -> Self::Output {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(self)
        }
    }
    impl<F: std::future::Future> Blocking for F {}
}
