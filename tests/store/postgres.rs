//! The contract on the PostgreSQL store (each test in its own database), and what only a
//! database has: migrations, the SQL state machines, JWT roles, an ICU collation.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use smsbatch::filter::{FilterOptions, Query, Schema};
use smsbatch::queue::{BatchState, MessageStatus};
use smsbatch::store::postgres::{MIGRATIONS, PgConfig, PgStore};
use smsbatch::store::{Actor, Backend, Customer};

use super::contract::{Fixture, Harness};
use crate::db::{Locale, TempDb};

/// A migrated database per test.
pub struct PgHarness;

/// A connected, migrated store on a new database (dropped with the guard).
pub async fn migrated(tag: &str, locale: Locale, schema: Schema) -> Option<(PgStore, TempDb)> {
    let db = TempDb::create(tag, locale)?;
    let store = PgConfig::new(db.url.clone())
        .schema(schema)
        .pool_size(8)
        .connect()
        .await
        .expect("connect to the test database");
    store.migrate().await.expect("the migrations apply");
    Some((store, db))
}

#[async_trait]
impl Harness for PgHarness {
    async fn fresh(&self, schema: Schema) -> Option<Fixture> {
        let (store, db) = migrated("store", Locale::CUtf8, schema).await?;
        Some(Fixture::new(Arc::new(store), Some(Box::new(db))))
    }
}

crate::contract_tests!(PgHarness);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_are_idempotent_and_race_free() {
    let Some(db) = TempDb::create("migrate", Locale::CUtf8) else {
        return;
    };
    let store = PgConfig::new(db.url.clone()).connect().await.unwrap();
    assert_eq!(store.current_migration().await.unwrap(), None);
    // Four runs at once: each migration is applied by exactly one of them.
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        let report = run.await.unwrap().unwrap();
        assert_eq!(
            report.current.as_deref(),
            MIGRATIONS.last().map(|m| m.version)
        );
        applied.extend(report.applied);
    }
    let all: Vec<String> = MIGRATIONS.iter().map(|m| m.version.to_owned()).collect();
    assert_eq!(applied, all);
    let again = store.migrate().await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        json!({"applied": [], "current": "0001_init"})
    );
}

/// The SQL state machines are the library's.
#[tokio::test]
async fn sql_state_machines_match_the_rust_ones() {
    let Some((store, _db)) = migrated("machines", Locale::CUtf8, Schema::customers()).await else {
        return;
    };
    let client = raw_client(&_db).await;
    for from in MessageStatus::ALL {
        for to in MessageStatus::ALL {
            let row = client
                .query_one(
                    "SELECT sms_message_can_become($1, $2)",
                    &[&from.as_sql(), &to.as_sql()],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, bool>(0), from.can_become(to), "{from} -> {to}");
        }
    }
    for from in BatchState::ALL {
        for to in BatchState::ALL {
            let row = client
                .query_one(
                    "SELECT sms_batch_can_become($1, $2)",
                    &[&from.code(), &to.code()],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, bool>(0), from.can_become(to), "{from} -> {to}");
        }
    }
    drop(store);
}

async fn raw_client(db: &TempDb) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// Sorting and keyset pages agree with the in-memory store on an ICU database, whose own
/// collation would order `bob` before `JOANNE` and ignore case and accents at first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorts_and_keyset_pages_agree_on_an_icu_database() {
    let Some((pg, _db)) = migrated("icu", Locale::Icu, Schema::customers()).await else {
        return;
    };
    let memory = smsbatch::store::MemoryStore::new();
    let words = [
        "", " ", "a", "A", "b", "B", "bob", "Bob", "JOANNE", "joanne", "Zoë", "zoe", "Zoe", "é",
        "e", "E", "é", "Ä", "ä", "a-b", "ab", "a b", "a_b", "1", "10", "9", "東京", "🚀", "ß",
        "ss", "Å", "å", "z", "Z", "_", "-", "'", "\"",
    ];
    let rows: Vec<Customer> = (0..400)
        .map(|i: i64| {
            let mut c = Customer::new(i + 1);
            if i % 13 != 0 {
                c.first_name = Some(words[(i as usize * 7) % words.len()].to_owned());
            }
            if i % 11 != 0 {
                c.last_name = Some(format!(
                    "{}{}",
                    words[(i as usize * 3) % words.len()],
                    words[(i as usize / 3) % words.len()]
                ));
            }
            c.city = Some(words[i as usize % words.len()].to_owned());
            c
        })
        .collect();
    let stores = [
        pg.store(Actor::Service).unwrap(),
        memory.store(Actor::Service).unwrap(),
    ];
    for s in &stores {
        s.customers.upsert(&rows).await.unwrap();
    }
    let options = FilterOptions::new();
    for sort in [
        json!([{"field": "first_name"}]),
        json!([{"field": "first_name", "direction": "desc", "nulls": "first"}]),
        json!([{"field": "last_name"}, {"field": "first_name", "direction": "desc"}]),
        json!([{"field": "city", "direction": "desc"}, {"field": "id", "direction": "desc"}]),
    ] {
        let mut pages: Vec<Vec<Vec<i64>>> = Vec::new();
        for s in &stores {
            let mut q: Query =
                serde_json::from_value(json!({"sort": sort, "limit": 37, "where": {"field": "city", "op": "notEquals", "value": "a"}}))
                    .unwrap();
            let mut all = Vec::new();
            loop {
                let page = s.customers.query(&q, &options, None).await.unwrap();
                all.push(page.rows.iter().map(|c| c.id).collect::<Vec<_>>());
                match page.next {
                    Some(next) => q.after = Some(next),
                    None => break,
                }
            }
            pages.push(all);
        }
        assert_eq!(pages[0], pages[1], "sort {sort}");
        let total: usize = pages[0].iter().map(Vec::len).sum();
        assert!(total > 350, "{total}");
    }
}
