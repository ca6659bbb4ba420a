//! Store benches: a 10-condition customer query (page + exact count) over 100,000 customers on
//! each store (the Supabase one through the PostgREST test server over the same PostgreSQL), and
//! the queue's claim + fenced update throughput with 1, 4 and 8 concurrent claimers. The
//! PostgreSQL ones run on a database of their own (from `DATABASE_URL`, default the local
//! server), dropped afterwards; without a server they are skipped.

#[path = "../tests/db.rs"]
mod db;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use smsbatch::filter::{FilterOptions, Query};
use smsbatch::queue::{BatchState, MessageStatus};
use smsbatch::store::postgres::PgConfig;
use smsbatch::store::supabase::SupabaseConfig;
use smsbatch::store::{
    Actor, Backend, Claim, Customer, Fence, MemoryStore, NewBatch, NewMessage, Store, Transition,
};
use smsbatch::{Encoding, Purpose, Timestamp};
use smsbatch_postgrest_testserver::{Config as ServerConfig, Server};
use uuid::Uuid;

const CUSTOMERS: i64 = 100_000;
/// Messages drained per measured iteration of the queue bench.
const MESSAGES: usize = 2_000;
/// Messages per claim.
const CLAIM: u32 = 50;

fn now() -> Timestamp {
    "2024-06-01T12:00:00Z".parse().expect("a timestamp")
}

/// Customers spread over cities, spends, dates and consent, as a shop's list looks.
fn customers() -> Vec<Customer> {
    let cities = [
        "Lyon", "Paris", "Nice", "London", "Leeds", "Berlin", "Madrid", "Rome",
    ];
    (1..=CUSTOMERS)
        .map(|i| {
            let n = i as u64;
            let mut c = Customer::new(i);
            c.first_name = Some(format!("Name{}", n % 997));
            c.last_name = Some(format!("Family{}", (n * 31) % 1_009));
            c.email = (!n.is_multiple_of(10))
                .then(|| format!("c{i}@example.{}", ["com", "fr", "co.uk"][(n % 3) as usize]));
            c.phone = (!n.is_multiple_of(7)).then(|| format!("+4474{:08}", n));
            c.city = Some(cities[(n % cities.len() as u64) as usize].to_owned());
            c.country = Some(["FR", "GB", "DE"][(n % 3) as usize].to_owned());
            c.language = Some(["fr", "en", "de"][(n % 3) as usize].to_owned());
            c.total_spent = Some((n % 500) as f64 + 0.25);
            c.orders_count = Some((n % 30) as i64);
            c.opted_in = match n % 5 {
                0 => None,
                1 => Some(false),
                _ => Some(true),
            };
            c.date_create =
                Timestamp::from_unix_seconds(1_640_995_200 + (n as i64 * 977) % 75_000_000);
            c.birthday = (!n.is_multiple_of(4))
                .then(|| {
                    format!("19{:02}-{:02}-{:02}", 50 + n % 50, 1 + n % 12, 1 + n % 28)
                        .parse()
                        .ok()
                })
                .flatten();
            c
        })
        .collect()
}

/// Ten conditions, as the customer page builds them.
fn query() -> Query {
    serde_json::from_value(json!({
        "where": {"and": [
            {"field": "opted_in", "op": "isTrue"},
            {"field": "phone", "op": "isNotEmpty"},
            {"field": "city", "op": "in", "value": ["Lyon", "Paris", "Nice", "London"]},
            {"field": "total_spent", "op": "gte", "value": 50},
            {"field": "orders_count", "op": "between", "value": [1, 20]},
            {"field": "date_create", "op": "withinLastDays", "value": 730},
            {"field": "last_name", "op": "notContains", "value": "test"},
            {"field": "email", "op": "endsWith", "value": ".com"},
            {"field": "language", "op": "notEquals", "value": "de"},
            {"field": "birthday", "op": "isNotEmpty"}
        ]},
        "limit": 50,
        "count": true
    }))
    .expect("a query")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// What keeps a store alive (its database, its server).
type Guard = Option<Box<dyn std::any::Any>>;

/// A migrated database of its own and its store.
fn postgres(rt: &tokio::runtime::Runtime) -> Option<(Store, db::TempDb, PgConfig)> {
    let temp = db::TempDb::create("bench", db::Locale::CUtf8)?;
    let config = PgConfig::new(temp.url.clone()).pool_size(16);
    let store = rt.block_on(async {
        let pg = config.clone().connect().await.expect("connect");
        pg.migrate().await.expect("migrate");
        pg.store(Actor::Service).expect("a store")
    });
    Some((store, temp, config))
}

/// The stores to measure: memory always, PostgreSQL when a server is there, and with
/// `supabase` the Supabase store through the PostgREST test server on a database of its own.
fn stores(rt: &tokio::runtime::Runtime, supabase: bool) -> Vec<(&'static str, Store, Guard)> {
    let mut out: Vec<(&'static str, Store, Guard)> = vec![(
        "memory",
        MemoryStore::new().store(Actor::Service).expect("a store"),
        None,
    )];
    if let Some((store, temp, _)) = postgres(rt) {
        out.push(("postgres", store, Some(Box::new(temp))));
    }
    if supabase && let Some((pg, temp, _)) = postgres(rt) {
        drop(pg);
        // The server reads the catalogs when it starts: after the migrations.
        let server = Server::start(ServerConfig::new(temp.url.clone()).pool_size(16))
            .expect("the PostgREST test server");
        let store = SupabaseConfig::new(server.url(), server.service_role_key())
            .build()
            .expect("a configuration")
            .store(Actor::Service)
            .expect("a store");
        // The server stops before its database is dropped.
        out.push(("supabase", store, Some(Box::new((server, temp)))));
    }
    out
}

fn filter_query(c: &mut Criterion) {
    let rt = runtime();
    let rows = customers();
    let options = FilterOptions::new().with_now(now());
    let q = query();
    let mut group = c.benchmark_group("store_query_10_conditions_100k");
    group.sample_size(20);
    for (name, store, _guard) in stores(&rt, true) {
        rt.block_on(async {
            for chunk in rows.chunks(10_000) {
                store.customers.upsert(chunk).await.expect("upsert");
            }
        });
        let total = rt
            .block_on(store.customers.query(&q, &options, None))
            .expect("query")
            .total;
        eprintln!("{name}: the query selects {total:?} of {CUSTOMERS}");
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(store.customers.query(&q, &options, None))
                    .expect("query")
            })
        });
    }
    group.finish();
}

/// Claims and completes `MESSAGES` messages of a fresh batch with `claimers` concurrent tasks,
/// each claiming `CLAIM` at a time and marking each one sent (fenced by its claim token): one
/// update per message, or one `transition_many` per claim when `batched`.
async fn drain(store: &Store, claimers: usize, round: u64, batched: bool) -> Duration {
    let batch = store
        .batches
        .create(&NewBatch::new(Purpose::Marketing), now())
        .await
        .expect("batch")
        .batch
        .id;
    let messages: Vec<NewMessage> = (0..MESSAGES)
        .map(|i| {
            NewMessage::new(
                i as i64,
                format!("+4474{round:04}{i:05}"),
                "Hello",
                Encoding::Gsm7,
            )
        })
        .collect();
    store
        .messages
        .insert(batch, &messages, now())
        .await
        .expect("insert");
    store
        .batches
        .transition(batch, BatchState::Sending, None, now())
        .await
        .expect("sending");
    let start = Instant::now();
    let tasks: Vec<_> = (0..claimers)
        .map(|w| {
            let messages = Arc::clone(&store.messages);
            tokio::spawn(async move {
                let token = Uuid::from_u128(((round as u128) << 32) | w as u128);
                loop {
                    let claimed = messages
                        .claim(
                            &Claim::new(CLAIM, token, Duration::from_secs(300), now()).batch(batch),
                        )
                        .await
                        .expect("claim");
                    if claimed.is_empty() {
                        break;
                    }
                    if batched {
                        let changes: Vec<_> = claimed
                            .iter()
                            .map(|m| {
                                (
                                    m.id,
                                    Fence::Claim(token),
                                    Transition::sent(format!("P{}", m.id)),
                                )
                            })
                            .collect();
                        let results = messages
                            .transition_many(&changes, now())
                            .await
                            .expect("updates");
                        assert!(results.iter().all(Result::is_ok));
                        continue;
                    }
                    for m in claimed {
                        let sent = messages
                            .transition(
                                m.id,
                                Fence::Claim(token),
                                &Transition::sent(format!("P{}", m.id)),
                                now(),
                            )
                            .await
                            .expect("a fenced update");
                        debug_assert_eq!(sent.status, MessageStatus::Sent);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a claimer");
    }
    start.elapsed()
}

fn claim_throughput(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("store_claim_and_fenced_update");
    group.sample_size(10);
    group.throughput(Throughput::Elements(MESSAGES as u64));
    let mut round = 0u64;
    for (name, store, _guard) in stores(&rt, false) {
        for batched in [false, true] {
            for claimers in [1usize, 4, 8] {
                let mode = if batched { "batched" } else { "each" };
                group.bench_function(format!("{name}/{mode}/{claimers}_claimers"), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            round += 1;
                            total += rt.block_on(drain(&store, claimers, round, batched));
                        }
                        total
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, filter_query, claim_throughput);
criterion_main!(benches);
