//! The send queue's core against the fake provider: a batch driven through the policies on
//! tokio's paused clock, the record file shared by threads and by processes, options and
//! windows in real time zones, and the backoff's full-jitter bounds.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use smsbatch::Timestamp;
use smsbatch::queue::{
    Backoff, BatchOptions, ErrorCategory, ErrorStats, FindQuery, Lookup, MessageId, MessageStatus,
    Next, OutboundMessage, Pacer, Progress, RateMeter, Resolution, RetryBudget, SampleLimits,
    SendOutcome, SendWindow, Sender, StatusCounts, TzdbZones, ZoneSource, backoff_ceiling,
};
use smsbatch::testing::{FakeConfig, FakeFailure, FakeSender, FakeStep, read_record};

use crate::support::TempFile;

/// One message row, as a store keeps it.
struct Row {
    message: OutboundMessage,
    status: MessageStatus,
    attempts: u32,
    run_at: Timestamp,
    started_at: Option<Timestamp>,
    provider_id: Option<String>,
    category: Option<ErrorCategory>,
}

/// What the simulated batch ended with.
struct Run {
    rows: Vec<Row>,
    suppressed: HashSet<String>,
    halted: bool,
    sent_at: HashMap<String, Vec<Duration>>,
    progress: Progress,
}

/// A single worker's loop over an in-memory batch, written only with the queue's public core
/// API: what the runner does around a store.
async fn drive(fake: &FakeSender, recipients: &[&str], options: &BatchOptions) -> Run {
    let start = tokio::time::Instant::now();
    let now = || Timestamp::UNIX_EPOCH.saturating_add(start.elapsed());
    let policy = options.retry_policy();
    let pacer = Pacer::new(options.rate());
    let mut budget = RetryBudget::default();
    let mut errors = ErrorStats::new(SampleLimits::new());
    let mut meter = RateMeter::new(Duration::from_secs(60));
    let mut rows: Vec<Row> = recipients
        .iter()
        .enumerate()
        .map(|(i, to)| Row {
            message: OutboundMessage::new(
                i as i64,
                *to,
                "ACME",
                format!("Hi {i}, your order ships"),
            ),
            status: MessageStatus::Pending,
            attempts: 0,
            run_at: Timestamp::UNIX_EPOCH,
            started_at: None,
            provider_id: None,
            category: None,
        })
        .collect();
    let mut suppressed = HashSet::new();
    let mut halted = false;
    let mut sent_at: HashMap<String, Vec<Duration>> = HashMap::new();
    let mut draws = 0u64;
    loop {
        if halted {
            break;
        }
        let t = now();
        let due = rows.iter().position(|r| {
            matches!(r.status, MessageStatus::Pending | MessageStatus::InDoubt) && r.run_at <= t
        });
        let Some(i) = due else {
            let next = rows
                .iter()
                .filter(|r| matches!(r.status, MessageStatus::Pending | MessageStatus::InDoubt))
                .map(|r| r.run_at)
                .min();
            match next {
                Some(at) if !halted => {
                    tokio::time::sleep(at.duration_since(t)).await;
                    continue;
                }
                _ => break,
            }
        };
        let row = &mut rows[i];
        draws += 1;
        if row.status == MessageStatus::InDoubt {
            // Reconcile: look for it at the provider, never resend blindly.
            let started = row.started_at.expect("in doubt only after a send started");
            let query = FindQuery::around(&row.message, started, options.lease());
            let answer = fake.find(&query).await;
            match policy.in_doubt.resolve(
                started,
                t,
                Lookup::from_find(&query, &answer),
                policy.timing,
            ) {
                Resolution::Found { message, status } => {
                    row.status = status;
                    row.provider_id = Some(message.provider_id);
                }
                Resolution::Resend => {
                    assert!(MessageStatus::InDoubt.can_become(MessageStatus::Pending));
                    row.status = MessageStatus::Pending;
                    row.run_at = t;
                }
                Resolution::Fail(failure) => {
                    row.status = MessageStatus::Failed;
                    row.category = Some(failure.category);
                }
                Resolution::CheckAt(at) => row.run_at = at,
                other => panic!("{other:?}"),
            }
            continue;
        }
        if suppressed.contains(&row.message.to) {
            row.status = MessageStatus::Cancelled;
            continue;
        }
        row.attempts += 1;
        row.status = MessageStatus::Processing;
        if row.attempts == 1 {
            budget.deposit(t);
        }
        pacer
            .until_ready(&row.message.from, row.message.segments)
            .await;
        row.started_at = Some(now());
        sent_at
            .entry(row.message.to.clone())
            .or_default()
            .push(start.elapsed());
        let outcome: SendOutcome = fake.send(&row.message).await;
        let t = now();
        if outcome.is_accepted() {
            meter.record(t, 1);
        }
        match policy.next(outcome, row.attempts, t, smsbatch_draw(draws), &mut budget) {
            Next::Sent(accepted) => {
                row.status = MessageStatus::Sent;
                row.provider_id = Some(accepted.provider_id);
            }
            Next::Retry {
                run_at, failure, ..
            } => {
                errors.record(row.message.id.clone(), &failure, t);
                row.status = MessageStatus::Pending;
                row.run_at = run_at;
                row.category = Some(failure.category);
            }
            Next::Fail { failure, suppress } => {
                errors.record(row.message.id.clone(), &failure, t);
                if suppress {
                    suppressed.insert(row.message.to.clone());
                }
                row.status = MessageStatus::Failed;
                row.category = Some(failure.category);
            }
            Next::InDoubt { failure, check_at } => {
                errors.record(row.message.id.clone(), &failure, t);
                row.status = MessageStatus::InDoubt;
                row.run_at = check_at;
            }
            Next::HaltBatch(failure) => {
                errors.record(row.message.id.clone(), &failure, t);
                row.status = MessageStatus::Pending;
                row.attempts -= 1;
                halted = true;
            }
            other => panic!("{other:?}"),
        }
    }
    let mut progress = Progress::new("credits");
    let mut counts = StatusCounts::new();
    for r in &rows {
        counts.add(r.status, 1);
    }
    progress.counts = counts;
    progress.errors = errors;
    progress.credits.estimated = rows.iter().map(|r| u64::from(r.message.segments)).sum();
    let t = now();
    progress.refresh(t, smsbatch::queue::Pace::new(meter.per_second(t)));
    Run {
        rows,
        suppressed,
        halted,
        sent_at,
        progress,
    }
}

fn smsbatch_draw(n: u64) -> u64 {
    // Any uniform-looking 64-bit draw will do; the queue never picks its own.
    n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

#[tokio::test(start_paused = true)]
async fn every_outcome_through_the_policies() {
    let fake = FakeConfig::new()
        .seed(42)
        .latency(Duration::from_millis(20), Duration::from_millis(80))
        .script(
            "+15550000001",
            [
                FakeStep::Fail(FakeFailure::RateLimited {
                    retry_after: Some(Duration::from_secs(7)),
                }),
                FakeStep::Accept,
            ],
        )
        .script(
            "+15550000002",
            [FakeStep::Fail(FakeFailure::Unavailable), FakeStep::Accept],
        )
        .always("+15550000003", FakeFailure::TimeoutAfterSend)
        .script(
            "+15550000004",
            [FakeStep::Fail(FakeFailure::LostRequest), FakeStep::Accept],
        )
        .always("+15550000005", FakeFailure::Code("21211".into()))
        .always("+15550000006", FakeFailure::Code("21610".into()))
        .always("+15550000007", FakeFailure::ServerErrorAfterSend)
        .build()
        .unwrap();
    let recipients = [
        "+15550000000",
        "+15550000001",
        "+15550000002",
        "+15550000003",
        "+15550000004",
        "+15550000005",
        "+15550000006",
        "+15550000007",
        "+15550000006",
    ];
    let options = BatchOptions::from_json(
        r#"{"maxAttempts": 3, "verifyAfterSeconds": 5, "leaseSeconds": 30}"#,
    )
    .unwrap();
    let run = drive(&fake, &recipients, &options).await;
    let status = |to: &str| run.rows.iter().find(|r| r.message.to == to).unwrap().status;
    let accepted = |to: &str| status(to).was_accepted();
    assert_eq!(status("+15550000000"), MessageStatus::Sent);
    // 429 with Retry-After 7: the retry waited at least 7 s.
    let times = &run.sent_at["+15550000001"];
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= Duration::from_secs(7), "{times:?}");
    assert_eq!(status("+15550000001"), MessageStatus::Sent);
    // 503: retried with backoff, then accepted.
    assert_eq!(status("+15550000002"), MessageStatus::Sent);
    // A timeout after the request was sent: in doubt, reconciled, and no second send.
    // (The reconciliation found it and took the provider's status: delivered.)
    assert_eq!(status("+15550000003"), MessageStatus::Delivered);
    assert_eq!(fake.attempts(&MessageId::from(3_i64)), 1);
    // A 500 after the message was created: the same.
    assert!(accepted("+15550000007"));
    assert_eq!(fake.attempts(&MessageId::from(7_i64)), 1);
    // A request lost on the way: the provider never had it, so after the settling time it is
    // sent again, once.
    assert_eq!(status("+15550000004"), MessageStatus::Sent);
    assert_eq!(fake.attempts(&MessageId::from(4_i64)), 2);
    // Permanent errors: no retry.
    assert_eq!(status("+15550000005"), MessageStatus::Failed);
    assert_eq!(fake.attempts(&MessageId::from(5_i64)), 1);
    // An opt-out: failed, added to the suppression list, and the second message to that number
    // is never sent.
    assert!(run.suppressed.contains("+15550000006"));
    assert_eq!(fake.attempts(&MessageId::from(6_i64)), 1);
    assert_eq!(fake.attempts(&MessageId::from(8_i64)), 0);
    assert!(!run.halted);
    // The record holds each accepted message exactly once, and every accepted row's id is there.
    let records = fake.records().unwrap();
    let mut per_message: HashMap<String, usize> = HashMap::new();
    for line in &records {
        *per_message.entry(line.message_id.to_string()).or_default() += 1;
    }
    assert!(per_message.values().all(|&n| n == 1), "{per_message:?}");
    for row in run.rows.iter().filter(|r| r.status.was_accepted()) {
        let id = row.provider_id.as_deref().unwrap();
        assert!(
            records
                .iter()
                .any(|l| l.provider_id == id && l.message_id == row.message.id)
        );
    }
    // Progress: counts and categories.
    let p = &run.progress;
    assert_eq!(p.counts.sent + p.counts.delivered, 6);
    assert_eq!((p.counts.failed, p.counts.cancelled), (2, 1));
    assert_eq!(p.errors.get(ErrorCategory::OptedOut).unwrap().count, 1);
    assert_eq!(
        p.errors.get(ErrorCategory::InvalidRecipient).unwrap().count,
        1
    );
    assert_eq!(p.errors.get(ErrorCategory::RateLimited).unwrap().count, 1);
    assert_eq!(p.success_rate, Some(6.0 / 8.0));
}

#[tokio::test(start_paused = true)]
async fn halt_batch_stops_sending() {
    let fake = FakeConfig::new()
        .always("+15550000002", FakeFailure::Code("20003".into()))
        .build()
        .unwrap();
    let recipients = ["+15550000001", "+15550000002", "+15550000003"];
    let run = drive(&fake, &recipients, &BatchOptions::default()).await;
    assert!(run.halted);
    assert_eq!(fake.calls(), 2, "nothing after the halt");
    assert_eq!(
        run.rows[1].status,
        MessageStatus::Pending,
        "back to pending, not failed"
    );
    assert_eq!(run.rows[2].status, MessageStatus::Pending);
}

#[tokio::test(start_paused = true)]
async fn pacing_counts_segments() {
    // 1 segment a second, burst 1; each message is 2 segments (161 GSM-7 characters).
    let fake = FakeConfig::new().build().unwrap();
    let pacer = Pacer::new(
        BatchOptions::from_json(r#"{"rate": {"segmentsPerSecond": 1, "burst": 1}}"#)
            .unwrap()
            .rate(),
    );
    let start = tokio::time::Instant::now();
    for id in 0..4_i64 {
        let m = OutboundMessage::new(id, "+15550000001", "ACME", "x".repeat(161));
        assert_eq!(m.segments, 2);
        pacer.until_ready(&m.from, m.segments).await;
        assert!(fake.send(&m).await.is_accepted());
    }
    // 2 + 2 + 2 segments after the first message: 6 s.
    assert_eq!(start.elapsed(), Duration::from_secs(6));
}

#[test]
fn record_file_shared_by_threads() {
    let file = TempFile::new("record-threads", "jsonl", "");
    let path = file.0.clone();
    let threads: Vec<_> = (0..2)
        .map(|worker| {
            let path = path.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let fake = Arc::new(
                        FakeConfig::new()
                            .seed(worker)
                            .latency(Duration::ZERO, Duration::from_micros(300))
                            .record_file(&path)
                            .build()
                            .unwrap(),
                    );
                    let tasks: Vec<_> = (0..400_i64)
                        .map(|i| {
                            let fake = fake.clone();
                            let id = worker as i64 * 1000 + i;
                            tokio::spawn(async move {
                                let m = OutboundMessage::new(
                                    id,
                                    format!("+1555{id:07}"),
                                    "ACME",
                                    format!("body {id}"),
                                );
                                fake.send(&m).await.is_accepted()
                            })
                        })
                        .collect();
                    for t in tasks {
                        assert!(t.await.unwrap());
                    }
                    // Each sender finds the other's messages through the shared file.
                    let other = (1 - worker as i64) * 1000 + 7;
                    let m = OutboundMessage::new(
                        other,
                        format!("+1555{other:07}"),
                        "ACME",
                        format!("body {other}"),
                    );
                    let q = FindQuery::around(&m, Timestamp::UNIX_EPOCH, Duration::from_secs(1));
                    // Both threads may still be writing; the other's message 7 is written early.
                    for _ in 0..100 {
                        if !fake.find(&q).await.unwrap().is_empty() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    panic!("worker {worker} never saw message {other}");
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    check_record(&path, 800);
}

/// Every line parses, and each message id appears once.
fn check_record(path: &std::path::Path, expected: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'));
    let lines = read_record(path).unwrap();
    assert_eq!(lines.len(), expected);
    assert_eq!(text.lines().count(), expected, "no line split or merged");
    let ids: HashSet<&MessageId> = lines.iter().map(|l| &l.message_id).collect();
    assert_eq!(ids.len(), expected);
    let providers: HashSet<&str> = lines.iter().map(|l| l.provider_id.as_str()).collect();
    assert_eq!(
        providers.len(),
        expected,
        "provider ids are unique across senders"
    );
    for line in text.lines() {
        assert!(line.starts_with(r#"{"messageId":"#), "{line}");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["body", "messageId", "providerId", "to"]);
    }
}

/// Kills and reaps child processes when the test ends, also when it fails.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn record_file_shared_by_processes() {
    let file = TempFile::new("record-processes", "jsonl", "");
    let exe = std::env::current_exe().unwrap();
    let mut children = Children(Vec::new());
    for worker in 0..2 {
        children.0.push(
            Command::new(&exe)
                .args([
                    "--exact",
                    "queue::fake_record_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("SMSBATCH_FAKE_RECORD", &file.0)
                .env("SMSBATCH_FAKE_WORKER", worker.to_string())
                .spawn()
                .unwrap(),
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for child in &mut children.0 {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "child failed: {status}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "children took more than 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    check_record(&file.0, 1200);
}

/// The child side of `record_file_shared_by_processes` (run by it, with the record file's path
/// in the environment).
#[test]
#[ignore = "run as a child process by record_file_shared_by_processes"]
fn fake_record_child() {
    let path =
        std::env::var_os("SMSBATCH_FAKE_RECORD").expect("run by record_file_shared_by_processes");
    let worker: i64 = std::env::var("SMSBATCH_FAKE_WORKER")
        .unwrap()
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = Arc::new(FakeConfig::new().seed(9).record_file(path).build().unwrap());
        let tasks: Vec<_> = (0..600_i64)
            .map(|i| {
                let fake = fake.clone();
                let id = worker * 10_000 + i;
                tokio::spawn(async move {
                    let m = OutboundMessage::new(
                        id,
                        format!("+1555{id:07}"),
                        "ACME",
                        format!("body {id} — with a dash and ünïcode"),
                    );
                    fake.send(&m).await.is_accepted()
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
    });
}

#[test]
fn send_window_across_dst_in_real_zones() {
    let zones = TzdbZones::new();
    let options = BatchOptions::from_json(
        r#"{"sendWindow": {"start": "09:00", "end": "20:00", "timeZone": "Europe/London"}}"#,
    )
    .unwrap();
    options.validate_zones(&zones).unwrap();
    let window: SendWindow = options.send_window.as_ref().unwrap().window();
    let london = zones.zone("Europe/London").unwrap();
    let t = |s: &str| s.parse::<Timestamp>().unwrap();
    // Autumn: the clocks go back on 26 October 2025; 09:00 is 08:00 UTC on Saturday, 09:00 UTC on Sunday.
    assert_eq!(
        window.next_open(t("2025-10-25T19:30:00Z"), &*london),
        Some(t("2025-10-26T09:00:00Z"))
    );
    assert!(
        !window.contains(t("2025-10-25T19:30:00Z"), &*london),
        "20:30 BST"
    );
    assert!(
        window.contains(t("2025-10-25T18:59:59Z"), &*london),
        "19:59 BST"
    );
    // The customer's own zone replaces the batch's: New York springs forward on 9 March.
    let new_york = zones.zone("America/New_York").unwrap();
    assert_eq!(
        window.next_open(t("2025-03-09T02:00:00Z"), &*new_york),
        Some(t("2025-03-09T13:00:00Z"))
    );
    assert_eq!(
        window.next_close(t("2025-03-09T13:00:00Z"), &*new_york),
        Some(t("2025-03-10T00:00:00Z"))
    );
    // Unknown zones are refused when the options are checked.
    let bad = BatchOptions::from_json(
        r#"{"sendWindow": {"start": "09:00", "end": "20:00", "timeZone": "Europe/Atlantis"}}"#,
    )
    .unwrap();
    let err = bad.validate_zones(&zones).unwrap_err();
    assert_eq!(err.kind().code(), "invalidOptions");
    assert!(err.to_string().contains("sendWindow.timeZone"), "{err}");
}

proptest! {
    /// Full jitter stays within [0, min(cap, base·2^(n−1))]; with a Retry-After, never below it
    /// and never above max(ceiling, retry-after + spread).
    #[test]
    fn backoff_within_full_jitter_bounds(
        attempt in 1u32..80,
        base_ms in 1u64..10_000,
        cap_ms in 1u64..600_000,
        retry_after_ms in proptest::option::of(0u64..900_000),
        draw in any::<u64>(),
    ) {
        let base = Duration::from_millis(base_ms);
        let cap = Duration::from_millis(cap_ms);
        let backoff = Backoff::new(base, cap);
        let ceiling = backoff_ceiling(attempt, base, cap);
        prop_assert!(ceiling <= cap);
        let exact = base.as_nanos().saturating_mul(1u128 << (attempt - 1).min(100));
        prop_assert_eq!(ceiling.as_nanos(), exact.min(cap.as_nanos()));
        let retry_after = retry_after_ms.map(Duration::from_millis);
        let delay = backoff.delay(attempt, retry_after, draw);
        match retry_after {
            None => prop_assert!(delay <= ceiling),
            Some(floor) => {
                prop_assert!(delay >= floor);
                prop_assert!(delay <= ceiling.max(floor + backoff.spread));
            }
        }
    }

    /// The jitter is spread over its whole range: the draw's top maps to the ceiling.
    #[test]
    fn full_jitter_reaches_both_ends(attempt in 1u32..20) {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(30));
        prop_assert_eq!(smsbatch::queue::full_jitter(attempt, base, cap, 0), Duration::ZERO);
        prop_assert_eq!(smsbatch::queue::full_jitter(attempt, base, cap, u64::MAX), backoff_ceiling(attempt, base, cap));
    }
}
