//! Send benches (issue 14): the queue's overhead with an instant fake provider (memory store,
//! one worker; PostgreSQL store, four workers at concurrency 50 and at 200), the efficiency of
//! one worker with a 50 ms provider at concurrency 5 (ideal: 100 messages a second), and
//! preparing a batch of 100,000 recipients on PostgreSQL. The PostgreSQL ones run on a database
//! of their own (from `DATABASE_URL`, default the local server), dropped afterwards; without a
//! server they are skipped.
//!
//! `cargo bench --bench send --features postgres,testing -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/db.rs"]
mod db;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use smsbatch::queue::{BatchOptions, BatchState, Sender};
use smsbatch::send::{BatchRequest, Preparer, RunnerConfig, Shutdown, TemplateChoice, Worker};
use smsbatch::store::postgres::PgConfig;
use smsbatch::store::{Actor, Backend, Customer, MemoryStore, Store};
use smsbatch::testing::{FakeConfig, FakeSender};
use smsbatch::{Purpose, Timestamp};

fn now() -> Timestamp {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    Timestamp::saturating_from_unix_micros(micros)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn customers(n: i64) -> Vec<Customer> {
    (1..=n)
        .map(|i| {
            let mut c = Customer::new(i);
            c.first_name = Some(format!("C{i}"));
            c.phone = Some(format!("+44740{i:07}"));
            c.opted_in = Some(i % 10 != 0);
            c
        })
        .collect()
}

async fn load(store: &Store, n: i64) {
    for chunk in customers(n).chunks(10_000) {
        store.customers.upsert(chunk).await.expect("customers");
    }
}

fn request(options: Value) -> BatchRequest {
    BatchRequest::new(
        TemplateChoice::Text("Hi {{first_name}}, your order has shipped".into()),
        Value::Null,
        Purpose::Transactional,
    )
    .sender("ACME")
    .options(BatchOptions::from_json(&options.to_string()).expect("options"))
}

async fn pg_store(rt_db: &db::TempDb, pool: usize) -> Store {
    let pg = PgConfig::new(rt_db.url.clone())
        .pool_size(pool)
        .connect()
        .await
        .expect("connect");
    pg.migrate().await.expect("migrate");
    pg.store(Actor::Service).expect("a store")
}

/// Prepares a batch, then drains it with `workers` workers until it leaves `sending` with
/// nothing pending, processing or in doubt; returns the time from the workers' start to that
/// moment (the batch is deleted afterwards).
async fn drain(store: &Store, sender: Arc<dyn Sender>, workers: usize, options: Value) -> Duration {
    let batch = Preparer::new()
        .create(store, &request(options), now())
        .await
        .expect("a batch");
    let shutdown = Shutdown::new();
    let start = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let w = Worker::new(store.clone(), Arc::clone(&sender))
                .config(
                    RunnerConfig::new()
                        .poll(Duration::from_millis(5))
                        .check_every(Duration::from_secs(3600))
                        .progress_every(Duration::from_secs(1))
                        .seed(i as u64),
                )
                .shutdown(shutdown.clone());
            tokio::spawn(async move { w.run().await })
        })
        .collect();
    // The workers move the batch out of `sending` once nothing is pending or processing: its
    // row is one primary-key read, cheap beside the workers' load, so it is polled often. The
    // counts confirm the end (a message left in doubt would keep the run going).
    loop {
        let state = store
            .batches
            .get(batch.id)
            .await
            .expect("the batch")
            .expect("the batch exists")
            .state;
        if state != BatchState::Sending {
            let counts = store
                .messages
                .count_by_status(batch.id)
                .await
                .expect("counts");
            if counts.unfinished() == 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = start.elapsed();
    shutdown.trigger();
    for h in handles {
        h.await.expect("a worker").expect("a worker run");
    }
    // Deleted (its messages with it), so every round drains a batch alone: a cancelled one
    // would still be looked at by the next round's workers, and its rows would stay in the
    // table.
    store
        .batches
        .delete(batch.id)
        .await
        .expect("the batch deleted");
    elapsed
}

/// The time of `iters` drains, each of a batch of its own.
fn drains(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    sender: &Arc<dyn Sender>,
    workers: usize,
    options: Value,
    iters: u64,
) -> Duration {
    (0..iters)
        .map(|_| rt.block_on(drain(store, Arc::clone(sender), workers, options.clone())))
        .sum()
}

fn overhead(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("send_overhead_instant_provider");
    group.sample_size(10);
    // Memory store, one worker.
    let n = 2_000;
    let store = MemoryStore::new().store(Actor::Service).expect("a store");
    rt.block_on(load(&store, n));
    let sender: Arc<dyn Sender> = Arc::new(FakeSender::new());
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("memory/1_worker", |b| {
        b.iter_custom(|iters| {
            drains(
                &rt,
                &store,
                &sender,
                1,
                json!({"concurrency": 50, "verifyAfterSeconds": 604800}),
                iters,
            )
        })
    });
    // PostgreSQL store, four workers.
    if let Some(temp) = db::TempDb::create("bench_send", db::Locale::CUtf8) {
        let n = 20_000;
        let store = rt.block_on(pg_store(&temp, 24));
        rt.block_on(load(&store, n));
        group.throughput(Throughput::Elements(n as u64));
        // Concurrency is per worker; the store's cost per message falls as more messages share
        // each claim and each group-committed write, so both a moderate and a wide setting are
        // measured.
        for concurrency in [50, 200] {
            let options = json!({"concurrency": concurrency, "verifyAfterSeconds": 604800});
            group.bench_function(
                format!("postgres/4_workers/concurrency_{concurrency}"),
                |b| b.iter_custom(|iters| drains(&rt, &store, &sender, 4, options.clone(), iters)),
            );
        }
    }
    group.finish();
}

fn efficiency(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("send_efficiency_50ms_provider_concurrency_5");
    group.sample_size(10);
    // Long enough (10 s ideal) that the worker's start and the last poll weigh little.
    let n = 1_000;
    let store = MemoryStore::new().store(Actor::Service).expect("a store");
    rt.block_on(load(&store, n));
    let sender: Arc<dyn Sender> = Arc::new(
        FakeConfig::new()
            .latency(Duration::from_millis(50), Duration::from_millis(50))
            .build()
            .expect("a fake"),
    );
    // Ideal: 5 in flight / 50 ms = 100 messages a second; the throughput criterion reports,
    // divided by 100, is the efficiency.
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("memory/1_worker", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let took = rt.block_on(drain(
                        &store,
                        Arc::clone(&sender),
                        1,
                        json!({"concurrency": 5, "verifyAfterSeconds": 604800}),
                    ));
                    eprintln!(
                        "efficiency: {:.1}% of the ideal 100 messages/s",
                        n as f64 / took.as_secs_f64()
                    );
                    took
                })
                .sum()
        })
    });
    group.finish();
}

fn prepare(c: &mut Criterion) {
    let rt = runtime();
    let Some(temp) = db::TempDb::create("bench_prepare", db::Locale::CUtf8) else {
        return;
    };
    let n = 100_000;
    let store = rt.block_on(pg_store(&temp, 8));
    rt.block_on(load(&store, n));
    let mut group = c.benchmark_group("send_prepare_100k_recipients");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("postgres", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let summary = rt
                    .block_on(Preparer::new().create(&store, &request(json!({})), now()))
                    .expect("prepared");
                total += start.elapsed();
                assert_eq!(summary.messages, n as u64);
                rt.block_on(smsbatch::send::cancel(&store, summary.id, now()))
                    .expect("cancelled");
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, overhead, efficiency, prepare);
criterion_main!(benches);
