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
    // Each exactly once; the runs take turns, so one run's list may skip a version another
    // applied in between (versions sort in order).
    applied.sort();
    let all: Vec<String> = MIGRATIONS.iter().map(|m| m.version.to_owned()).collect();
    assert_eq!(applied, all);
    let again = store.migrate().await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        json!({"applied": [], "current": MIGRATIONS.last().map(|m| m.version)})
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
    // 0002: the categories "retry the failed" requeues.
    for category in smsbatch::queue::ErrorCategory::ALL {
        let row = client
            .query_one(
                "SELECT sms_category_is_retryable($1)",
                &[&category.as_sql()],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, bool>(0), category.is_retryable(), "{category}");
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

/// A connection the server dropped is never handed out: the pool checks each one first.
#[tokio::test]
async fn dropped_connections_are_replaced() {
    let Some(db) = TempDb::create("dropped", Locale::CUtf8) else {
        return;
    };
    let pg = PgConfig::new(db.url.clone())
        .pool_size(2)
        .connect()
        .await
        .unwrap();
    pg.migrate().await.unwrap();
    let store = pg.store(Actor::Service).unwrap();
    store.customers.upsert(&[Customer::new(1)]).await.unwrap();
    let admin = raw_client(&db).await;
    for round in 0..3 {
        let killed: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'smsbatch'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(killed >= 1, "round {round}: a pooled connection was open");
        assert_eq!(store.customers.get(1).await.unwrap().map(|c| c.id), Some(1));
    }
}

/// An operation past its time limit is cancelled on the server and reported as a timeout; the
/// store keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_operations_time_out_and_are_cancelled() {
    let Some((pg, db)) = migrated("timeout", Locale::CUtf8, Schema::customers()).await else {
        return;
    };
    let admin = raw_client(&db).await;
    admin
        .batch_execute(
            "INSERT INTO customers (id, first_name, last_name, city, email)
             SELECT g, md5(g::text), md5((g * 7)::text), md5((g * 3)::text), md5((g * 5)::text)
             FROM generate_series(1, 200000) AS g",
        )
        .await
        .unwrap();
    let impatient = PgConfig::new(db.url.clone())
        .timeout(std::time::Duration::from_millis(5))
        .retries(0)
        .connect()
        .await
        .unwrap()
        .store(Actor::Service)
        .unwrap();
    let slow: Query = serde_json::from_value(json!({
        "search": "zz yy xx", "count": true,
        "sort": [{"field": "last_name"}, {"field": "email", "direction": "desc"}], "limit": 5
    }))
    .unwrap();
    let err = impatient
        .customers
        .query(&slow, &FilterOptions::new(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind().code(), "timeout", "{err}");
    assert!(err.is_transient());
    // The server stops the statement (the cancel request), and the store still answers.
    let mut stopped = false;
    for _ in 0..50 {
        let active: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'smsbatch' AND state = 'active'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if active == 0 {
            stopped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(stopped, "the timed-out statement was cancelled");
    let service = pg.store(Actor::Service).unwrap();
    assert_eq!(
        service.customers.get(7).await.unwrap().map(|c| c.id),
        Some(7)
    );
}

/// A row that does not hold what the schema says is reported as malformed, naming the table.
#[tokio::test]
async fn malformed_rows_are_reported() {
    let Some((pg, db)) = migrated("malformed", Locale::CUtf8, Schema::customers()).await else {
        return;
    };
    let admin = raw_client(&db).await;
    admin
        .batch_execute(
            "INSERT INTO sms_saved_filters (id, owner, name, filter, created_at, updated_at)
             VALUES ('broken', '00000000-0000-0000-0000-000000000001', 'Broken',
                     '{\"version\": 1, \"where\": 5}', now(), now());
             INSERT INTO customers (id, attributes) VALUES (1, '{\"points\": \"many\"}')",
        )
        .await
        .unwrap();
    let store = pg.store(Actor::Service).unwrap();
    let err = store.saved_filters.get("broken").await.unwrap_err();
    assert!(
        matches!(err.kind(), smsbatch::ErrorKind::MalformedRow { table, .. } if table == "sms_saved_filters"),
        "{err:?}"
    );
    // A custom field whose stored value does not cast to its type.
    let schema = Schema::from_json(
        r#"{"fields": [{"name": "id", "type": "number", "sortable": true},
                       {"name": "points", "type": "number"}]}"#,
    )
    .unwrap();
    let typed = PgConfig::new(db.url.clone())
        .schema(schema)
        .connect()
        .await
        .unwrap()
        .store(Actor::Service)
        .unwrap();
    let q: Query =
        serde_json::from_value(json!({"where": {"field": "points", "op": "gt", "value": 1}}))
            .unwrap();
    let err = typed
        .customers
        .query(&q, &FilterOptions::new(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind().code(), "malformedRow", "{err}");
}

/// `--jwt` tokens: the store acts as the token's user, with its team from `app_metadata` or a
/// top-level `team_id` claim.
#[tokio::test]
async fn jwt_claims_reach_row_level_security() {
    let Some((pg, _db)) = migrated("jwt", Locale::CUtf8, Schema::customers()).await else {
        return;
    };
    let service = pg.store(Actor::Service).unwrap();
    let mut rows = vec![Customer::new(1), Customer::new(2), Customer::new(3)];
    rows[0].team_id = Some("t1".into());
    rows[1].team_id = Some("42".into());
    service.customers.upsert(&rows).await.unwrap();
    let user = |claims: serde_json::Value| {
        let claims = match claims {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        Actor::User(smsbatch::store::UserClaims::from_claims(claims, None).unwrap())
    };
    let sub = "6f1c1f40-8a3e-4f6b-9c5d-3a2b1c0d9e8f";
    for (claims, expected) in [
        (
            json!({"sub": sub, "role": "authenticated", "app_metadata": {"team_id": "t1"}}),
            vec![1],
        ),
        (
            json!({"sub": sub, "role": "authenticated", "team_id": 42}),
            vec![2],
        ),
        (
            json!({"sub": sub, "role": "authenticated", "user_metadata": {"team_id": "t1"}}),
            vec![],
        ),
    ] {
        let store = pg.store(user(claims.clone())).unwrap();
        let page = store
            .customers
            .query(&Query::default(), &FilterOptions::new(), None)
            .await
            .unwrap();
        let ids: Vec<i64> = page.rows.iter().map(|c| c.id).collect();
        assert_eq!(ids, expected, "{claims}");
    }
}

/// Every name the library writes is one the schema's check constraints accept.
#[tokio::test]
async fn check_constraints_accept_every_name_the_library_writes() {
    use smsbatch::ExclusionReason;
    use smsbatch::queue::{ErrorCategory, PauseReason};
    let Some((_pg, db)) = migrated("names", Locale::CUtf8, Schema::customers()).await else {
        return;
    };
    let client = raw_client(&db).await;
    let constraint = |name: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1",
                    &[&name],
                )
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            row.get::<_, String>(0)
        }
    };
    let quoted = |s: &str| format!("'{s}'");
    let def = constraint("sms_batch_messages_status").await;
    for s in MessageStatus::ALL {
        assert!(def.contains(&quoted(s.as_sql())), "{s}: {def}");
    }
    let def = constraint("sms_batch_messages_error_category").await;
    for c in ErrorCategory::ALL {
        assert!(def.contains(&quoted(c.as_sql())), "{c}: {def}");
    }
    let def = constraint("sms_batches_state").await;
    for s in BatchState::ALL {
        assert!(def.contains(&quoted(s.code())), "{s}: {def}");
    }
    let def = constraint("sms_batches_pause_reason").await;
    for r in PauseReason::ALL {
        assert!(def.contains(&quoted(r.as_sql())), "{r}: {def}");
    }
    let def = constraint("sms_batch_excluded_reason").await;
    let store = PgStore::connect(db.url.clone())
        .await
        .unwrap()
        .store(Actor::Service)
        .unwrap();
    let batch = store
        .batches
        .create(
            &smsbatch::store::NewBatch::new(smsbatch::Purpose::Marketing),
            "2024-01-01T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap()
        .batch
        .id;
    let all: Vec<smsbatch::store::NewExclusion> = ExclusionReason::ALL
        .iter()
        .enumerate()
        .map(|(i, r)| smsbatch::store::NewExclusion::new(i as i64, *r, ""))
        .collect();
    assert_eq!(
        store
            .exclusions
            .insert(batch, &all, "2024-01-01T00:00:00Z".parse().unwrap())
            .await
            .unwrap(),
        ExclusionReason::ALL.len() as u64,
        "{def}"
    );
    let counts = store.exclusions.count_by_reason(batch).await.unwrap();
    assert_eq!(counts.len(), ExclusionReason::ALL.len());
}

/// Every statement of the queue functions that moves a message it names finds it by primary
/// key, with generic plans (what PL/pgSQL caches) and statistics taken while nothing was
/// processing; only the rescue scans the lease index. The rescue index used to be partial on
/// `status = 'processing'`, which each claim fence also says: the generic plan of every send
/// start and outcome scanned it, with the dead entries each claim leaves, and PostgreSQL
/// throughput fell to a fifth. The plans are read from auto_explain's notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_statements_find_messages_by_primary_key() {
    let Some((_pg, db)) = migrated("plans", Locale::CUtf8, Schema::customers()).await else {
        return;
    };
    let (client, mut connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notice(n) = message {
                let _ = tx.send(n.message().to_owned());
            }
        }
    });
    client
        .batch_execute(
            "INSERT INTO sms_batches (id, state, purpose, created_at, updated_at)
             VALUES ('00000000-0000-0000-0000-00000000000b', 'sending', 'transactional',
                     now(), now());
             INSERT INTO sms_batch_messages (batch_id, customer_id, phone, body, encoding,
                     segments, run_at, created_at, updated_at)
             SELECT '00000000-0000-0000-0000-00000000000b', g, '+4474' || lpad(g::text, 8, '0'),
                    'hi', 'GSM-7', 1, now() - interval '1 minute', now(), now()
               FROM generate_series(1, 3000) AS g;
             ANALYZE sms_batch_messages;
             LOAD 'auto_explain';
             SET auto_explain.log_min_duration = 0;
             SET auto_explain.log_nested_statements = on;
             SET auto_explain.log_level = 'notice';
             SET plan_cache_mode = force_generic_plan;",
        )
        .await
        .expect("a batch to claim, and plans logged");
    let token = uuid::Uuid::from_u128(42);
    let ids: Vec<i64> = client
        .query(
            "SELECT id FROM sms_claim_messages('00000000-0000-0000-0000-00000000000b', 20, $1, \
             60000, now())",
            &[&token],
        )
        .await
        .expect("a claim")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids.len(), 20);
    let calls = [
        "SELECT count(*) FROM sms_mark_send_started_many(($1::bigint[])[1:10], $2::uuid, now())",
        "SELECT count(*) FROM sms_mark_send_started(($1::bigint[])[11], $2::uuid, now())",
        "SELECT count(*) FROM sms_extend_lease(($1::bigint[])[12], $2::uuid, 60000, now())",
        "SELECT count(*) FROM sms_release_message(($1::bigint[])[13], $2::uuid, now())",
        "SELECT count(*) FROM sms_transition_message(($1::bigint[])[11], $2::uuid, NULL, 'sent', \
         '{\"provider_id\": \"SM11\"}', now())",
        "SELECT count(*) FROM sms_transition_messages(($1::bigint[])[1:10], \
         array_fill($2::uuid, ARRAY[10]), array_fill(NULL::text, ARRAY[10]), \
         array_fill('failed'::text, ARRAY[10]), array_fill('{}'::jsonb, ARRAY[10]), now())",
    ];
    for sql in calls {
        client
            .query(sql, &[&ids, &token])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
    client
        .query(
            "SELECT count(*) FROM sms_rescue_expired(now() + interval '1 hour', 100)",
            &[],
        )
        .await
        .expect("a rescue");
    drop(client);
    reader.await.expect("the notice reader");
    let mut plans = Vec::new();
    while let Ok(plan) = rx.try_recv() {
        plans.push(plan);
    }
    // The statements inside the functions that name messages by id.
    let by_id: Vec<&String> = plans
        .iter()
        .filter(|p| p.contains("Update on sms_batch_messages") && !p.contains("sms_rescue"))
        .filter(|p| {
            p.contains("m.id = ANY") || p.contains("m.id = p_id") || p.contains("m.id = x.id")
        })
        .collect();
    assert!(by_id.len() >= 6, "{plans:#?}");
    for plan in &by_id {
        assert!(plan.contains("sms_batch_messages_pkey"), "{plan}");
        assert!(!plan.contains("sms_batch_messages_lease_idx"), "{plan}");
    }
    let rescue: Vec<&String> = plans
        .iter()
        .filter(|p| p.contains("lease_expires_at < p_now") && p.contains("LockRows"))
        .collect();
    assert!(!rescue.is_empty(), "{plans:#?}");
    assert!(
        rescue
            .iter()
            .all(|p| p.contains("sms_batch_messages_lease_idx")),
        "{rescue:#?}"
    );
}
