//! The crash test (issue 14): a 5,000-message batch on the real PostgreSQL store, drained by
//! four `smsbatch worker` processes sending through the fake provider, which appends one line
//! per accepted send to a record file they share. Two workers are killed with SIGKILL at random
//! moments and restarted. Afterwards nothing is pending or processing, each accepted message has
//! exactly one record carrying its id, every record belongs to an accepted message, and no
//! message is missing.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smsbatch::Purpose;
use smsbatch::queue::{BatchOptions, BatchState, MessageStatus};
use smsbatch::send::{BatchRequest, Preparer, TemplateChoice};
use smsbatch::store::postgres::PgConfig;
use smsbatch::store::{Actor, Backend, Customer, MessageQuery, MessageScan};
use smsbatch::testing::read_record;

use crate::db::{Locale, TempDb};
use crate::support::TempFile;

const MESSAGES: i64 = 5_000;
const DEADLINE: Duration = Duration::from_secs(90);

/// The worker processes; every one still running is killed (and reaped) when this drops, also
/// when the test fails.
struct Fleet {
    url: String,
    record: String,
    logs: std::path::PathBuf,
    children: Vec<Child>,
    started: u64,
}

impl Fleet {
    fn spawn(&mut self) -> usize {
        self.started += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.logs)
            .expect("the worker log opens");
        let child = Command::new(env!("CARGO_BIN_EXE_smsbatch"))
            .args([
                "worker",
                "--provider",
                "fake",
                "--fake-record",
                &self.record,
                "--fake-latency-ms",
                "2-25",
                "--seed",
                &self.started.to_string(),
                "--until-idle",
                "--poll-ms",
                "100",
                "--database-url",
                &self.url,
            ])
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("a worker starts");
        self.children.push(child);
        self.children.len() - 1
    }

    /// SIGKILL: no graceful anything.
    fn kill(&mut self, i: usize) {
        let child = &mut self.children[i];
        child.kill().expect("the worker is killed");
        child.wait().expect("the killed worker is reaped");
    }

    /// Waits for every worker to exit by itself (they run until idle).
    fn wait_all(&mut self, until: Instant) -> bool {
        loop {
            let mut running = 0;
            for child in &mut self.children {
                if matches!(child.try_wait(), Ok(None)) {
                    running += 1;
                }
            }
            if running == 0 {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// A small deterministic generator for the kill moments (the seed is printed).
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_two_killed_nothing_lost_nothing_twice() {
    let Some(db) = TempDb::create("crash", Locale::CUtf8) else {
        return;
    };
    let store = PgConfig::new(db.url.clone())
        .pool_size(4)
        .connect()
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let s = store.store(Actor::Service).unwrap();
    let customers: Vec<Customer> = (1..=MESSAGES)
        .map(|i| {
            let mut c = Customer::new(i);
            c.first_name = Some(format!("C{i}"));
            c.phone = Some(format!("+4474001{i:05}"));
            c
        })
        .collect();
    for chunk in customers.chunks(2_500) {
        s.customers.upsert(chunk).await.unwrap();
    }
    let options = BatchOptions::from_json(
        &json!({"leaseSeconds": 10, "verifyAfterSeconds": 1, "concurrency": 10}).to_string(),
    )
    .unwrap();
    let request = BatchRequest::new(
        TemplateChoice::Text("Hi {{first_name}}, your parcel is on its way".into()),
        Value::Null,
        Purpose::Transactional,
    )
    .sender("ACME")
    .options(options);
    let summary = Preparer::new()
        .create(&s, &request, smsbatch_now())
        .await
        .unwrap();
    assert_eq!(summary.messages, MESSAGES as u64);

    let record = TempFile::new("crash-record", "jsonl", "");
    let logs = TempFile::new("crash-workers", "log", "");
    let start = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    eprintln!("crash test: kill-moment seed {seed}");
    let mut rng = seed;
    let mut fleet = Fleet {
        url: db.url.clone(),
        record: record.arg().to_owned(),
        logs: logs.0.clone(),
        children: Vec::new(),
        started: 0,
    };
    for _ in 0..4 {
        fleet.spawn();
    }
    // Two of them, each at a random moment while the batch is being sent, then restarted.
    let mut victims = vec![0usize, 1 + (next(&mut rng) % 3) as usize];
    let mut moments: Vec<Duration> = (0..2)
        .map(|_| Duration::from_millis(300 + next(&mut rng) % 2_500))
        .collect();
    moments.sort();
    let mut killed = 0;
    let status = loop {
        let elapsed = start.elapsed();
        assert!(
            elapsed < DEADLINE,
            "not done within {DEADLINE:?}; worker logs in {}",
            logs.0.display()
        );
        if killed < 2 && elapsed >= moments[killed] {
            let victim = victims.remove(0);
            fleet.kill(victim);
            fleet.spawn();
            killed += 1;
            eprintln!("crash test: killed worker {victim} at {elapsed:?}");
        }
        let batch = s.batches.get(summary.id).await.unwrap().unwrap();
        if batch.state.is_terminal() || batch.state == BatchState::Paused {
            break batch;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(killed, 2, "both kills happened before the batch completed");
    assert_eq!(status.state, BatchState::Completed, "{status:?}");
    let exited = fleet.wait_all(start + DEADLINE);
    assert!(exited, "the workers stop once idle");
    eprintln!("crash test: done in {:?}", start.elapsed());

    // The store: nothing pending or processing; every message accepted.
    let counts = s.messages.count_by_status(summary.id).await.unwrap();
    assert_eq!(counts.pending, 0);
    assert_eq!(counts.processing, 0);
    assert_eq!(counts.in_doubt, 0);
    assert_eq!(counts.total(), MESSAGES as u64, "no message is missing");
    let mut accepted: HashMap<String, Option<String>> = HashMap::new();
    let mut scan = MessageScan::new(s.messages.clone(), MessageQuery::new(summary.id, 2_000));
    while let Some(chunk) = scan.next_chunk().await.unwrap() {
        for m in chunk {
            assert!(
                matches!(
                    m.status,
                    MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Undelivered
                ),
                "{m:?}"
            );
            accepted.insert(m.id.to_string(), m.provider_id.clone());
        }
    }
    assert_eq!(accepted.len(), MESSAGES as usize);
    // The provider's record: exactly one line per accepted message, carrying its id (and the
    // provider id the store holds); no line for anything else.
    let lines = read_record(&record.0).unwrap();
    let mut per_message: HashMap<String, Vec<String>> = HashMap::new();
    for line in &lines {
        let id = line.message_id.to_string();
        assert!(
            accepted.contains_key(&id),
            "a record for a message that was not accepted: {line:?}"
        );
        per_message
            .entry(id)
            .or_default()
            .push(line.provider_id.clone());
    }
    for (id, provider_id) in &accepted {
        let sends = per_message.get(id).map_or(0, Vec::len);
        assert_eq!(sends, 1, "message {id} has {sends} records");
        assert_eq!(
            Some(&per_message[id][0]),
            provider_id.as_ref(),
            "message {id}"
        );
    }
    assert_eq!(lines.len(), MESSAGES as usize);
    drop(fleet);
}

fn smsbatch_now() -> smsbatch::Timestamp {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    smsbatch::Timestamp::saturating_from_unix_micros(micros)
}
