//! The contract on the Supabase store, through the PostgREST-compatible test server over a real
//! PostgreSQL database (one of each per test); and what only this store has: user JWTs as the
//! bearer, the URL length limit, answers that are errors.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use smsbatch::filter::{FilterOptions, Query, Schema};
use smsbatch::store::supabase::{DEFAULT_MAX_URL_LENGTH, SupabaseConfig, SupabaseStore};
use smsbatch::store::{Actor, Backend, Customer, Store, UserClaims};
use smsbatch_postgrest_testserver::{Config, Server};

use super::contract::{Fixture, Harness};
use crate::db::{Locale, TempDb};

/// A migrated database, the test server over it, and the store on the server.
pub struct Supabase {
    pub store: SupabaseStore,
    pub server: Arc<Server>,
    // Dropped after the server (fields drop in order).
    _db: TempDb,
}

impl Supabase {
    pub async fn start(tag: &str, schema: Schema) -> Option<Supabase> {
        Self::start_with(tag, schema, DEFAULT_MAX_URL_LENGTH).await
    }

    pub async fn start_with(tag: &str, schema: Schema, max_url: usize) -> Option<Supabase> {
        // The PostgreSQL store applies the migrations (what `smsbatch migrate` does); the server
        // reads the catalogs when it starts, so it starts after them.
        let (pg, db) = super::postgres::migrated(tag, Locale::CUtf8, schema.clone()).await?;
        drop(pg);
        let server = Server::start(Config::new(db.url.clone()).pool_size(8))
            .expect("the PostgREST test server starts");
        let store = SupabaseConfig::new(server.url(), server.service_role_key())
            .anon_key(server.anon_key())
            .max_url_length(max_url)
            .schema(schema)
            .build()
            .expect("a valid configuration");
        Some(Supabase {
            store,
            server: Arc::new(server),
            _db: db,
        })
    }
}

fn signed(server: &Server, claims: &UserClaims) -> Actor {
    let token = server.sign(&Value::Object(claims.claims().clone()));
    Actor::from_jwt(&token).expect("the token reads back")
}

/// The backend the contract sees: users get signed tokens, like real sessions.
struct Signing {
    store: SupabaseStore,
    server: Arc<Server>,
}

impl Backend for Signing {
    fn store(&self, actor: Actor) -> smsbatch::Result<Store> {
        match actor {
            Actor::User(claims) => self.store.store(signed(&self.server, &claims)),
            other => self.store.store(other),
        }
    }
}

pub struct SupabaseHarness;

#[async_trait]
impl Harness for SupabaseHarness {
    async fn fresh(&self, schema: Schema) -> Option<Fixture> {
        let sb = Supabase::start("supabase", schema).await?;
        let backend = Signing {
            store: sb.store.clone(),
            server: Arc::clone(&sb.server),
        };
        Some(Fixture::new(Arc::new(backend), Some(Box::new(sb))))
    }
}

// Every case of the contract but `hostile_values_round_trip_and_match_literally`, which filters on
// values of 10,000 characters and more: in a PostgREST URL (escaped, form-encoded, repeated for
// each searchable field) they need up to several hundred kilobytes, past any gateway's limit and
// past what the HTTP stack can send at all (64 KiB). `hostile_values_within_url_limits` below runs
// the same checks on the same values, expecting the long ones to be refused.
crate::contract_tests!(@each SupabaseHarness;
    customers_round_trip,
    customers_null_and_empty_rules,
    customers_search_sort_and_count,
    customers_keyset_pages_are_stable_under_inserts,
    customers_attributes_and_custom_schema,
    customers_team_scope_and_scan,
    templates_crud_and_search,
    saved_filters_crud_import_export,
    batches_lifecycle,
    messages_claim_and_fenced_transitions,
    messages_rescue_release_and_leases,
    messages_batched_transitions,
    messages_list_count_scan_and_cancel,
    messages_budget_reserved_at_claim,
    messages_claim_after_a_cursor,
    messages_claim_can_start_sends,
    messages_checks_defer_requeue_and_totals,
    exclusions_and_logs,
    flags_import_load_and_auto_create,
    suppressions,
    rls_saved_filters,
    rls_batches_and_their_rows,
    rls_customers_templates_and_anon,
    concurrent_claims_take_each_message_once,
);

/// `--jwt` tokens: the store sends the user's own token, and row-level security sees its team
/// from `app_metadata` or a top-level `team_id` claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_tokens_reach_row_level_security() {
    let Some(sb) = Supabase::start("sb_jwt", Schema::customers()).await else {
        return;
    };
    let service = sb.store.store(Actor::Service).unwrap();
    let mut rows = vec![Customer::new(1), Customer::new(2), Customer::new(3)];
    rows[0].team_id = Some("t1".into());
    rows[1].team_id = Some("42".into());
    service.customers.upsert(&rows).await.unwrap();
    let sub = "6f1c1f40-8a3e-4f6b-9c5d-3a2b1c0d9e8f";
    for (extra, expected) in [
        (json!({"app_metadata": {"team_id": "t1"}}), vec![1]),
        (json!({"team_id": 42}), vec![2]),
        (json!({"user_metadata": {"team_id": "t1"}}), vec![]),
    ] {
        let token = sb.server.user_token(sub, &extra);
        let store = sb.store.store(Actor::from_jwt(&token).unwrap()).unwrap();
        let page = store
            .customers
            .query(&Query::default(), &FilterOptions::new(), None)
            .await
            .unwrap();
        let ids: Vec<i64> = page.rows.iter().map(|c| c.id).collect();
        assert_eq!(ids, expected, "{extra}");
    }
    // A token the server did not sign is refused, as a permission error.
    let forged = format!(
        "{}.forged",
        sb.server
            .user_token(sub, &json!({}))
            .rsplit_once('.')
            .unwrap()
            .0
    );
    let store = sb.store.store(Actor::from_jwt(&forged).unwrap()).unwrap();
    let err = store.customers.get(1).await.unwrap_err();
    assert!(err.is_permission_denied(), "{err:?}");
    // Claims without a token cannot act as a user: the store has no secret to sign them.
    let err = sb
        .store
        .store(Actor::user(smsbatch::store::Uuid::from_u128(5)))
        .unwrap_err();
    assert_eq!(err.kind().code(), "invalidInput");
}

/// A filter whose request URL would pass the limit is refused before it is sent, with an error
/// that says so; lists of keys are split into requests that fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_urls_are_refused_before_sending() {
    let Some(sb) = Supabase::start("sb_url", Schema::customers()).await else {
        return;
    };
    let service = sb.store.store(Actor::Service).unwrap();
    let rows: Vec<Customer> = (1..=3_000).map(Customer::new).collect();
    service.customers.upsert(&rows).await.unwrap();
    let values: Vec<String> = (0..900).map(|i| format!("city number {i:04}")).collect();
    let q: Query =
        serde_json::from_value(json!({"where": {"field": "city", "op": "in", "value": values}}))
            .unwrap();
    let err = service
        .customers
        .query(&q, &FilterOptions::new(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind().code(), "filterTooLarge", "{err}");
    assert!(err.to_string().contains("URL"), "{err}");
    assert!(err.to_string().contains("16384"), "{err}");
    // A smaller limit refuses smaller filters.
    let strict = SupabaseConfig::new(sb.server.url(), sb.server.service_role_key())
        .max_url_length(200)
        .build()
        .unwrap()
        .store(Actor::Service)
        .unwrap();
    let q: Query = serde_json::from_value(
        json!({"where": {"field": "city", "op": "in", "value": values[..20]}}),
    )
    .unwrap();
    assert!(
        strict
            .customers
            .query(&q, &FilterOptions::new(), None)
            .await
            .unwrap_err()
            .is_filter_error()
    );
    // Deleting 3,000 ids takes several requests, each under the limit.
    let ids: Vec<i64> = (1..=3_000).collect();
    assert_eq!(strict.customers.delete(&ids[..10]).await.unwrap(), 10);
    assert_eq!(service.customers.delete(&ids).await.unwrap(), 2_990);
}

/// Errors from the server keep their kind: a duplicate key, an anonymous caller, a server that
/// is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_are_errors_keep_their_kind() {
    let Some(sb) = Supabase::start("sb_errors", Schema::customers()).await else {
        return;
    };
    let service = sb.store.store(Actor::Service).unwrap();
    let t =
        smsbatch::TemplateRecord::new("t", "T", "Hello", "2024-06-01T12:00:00Z".parse().unwrap());
    service.templates.create(&t, None).await.unwrap();
    let err = service.templates.create(&t, None).await.unwrap_err();
    assert!(
        matches!(err.kind(), smsbatch::ErrorKind::UniqueViolation { constraint, .. } if constraint == "sms_templates_pkey"),
        "{err:?}"
    );
    let anon = sb.store.store(Actor::Anonymous).unwrap();
    assert!(
        anon.templates
            .list()
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    // Nothing listens any more: a lost connection, after the retries.
    let url = sb.server.url().to_owned();
    drop(sb);
    let gone = SupabaseConfig::new(url, "key")
        .retries(1)
        .build()
        .unwrap()
        .store(Actor::Service)
        .unwrap();
    let err = gone.customers.get(1).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

/// The contract's hostile values (every PostgREST metacharacter, quotes, backslashes, commas,
/// parentheses, `%`, `*`, unicode): each round-trips, and each filter on it selects exactly what
/// the in-memory evaluator selects, unless its URL would pass the limit (only the values of
/// thousands of characters), which is then refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_values_within_url_limits() {
    use smsbatch::filter::{Condition, Filter, Limits, Node, Op, SortKey};
    let Some(sb) = Supabase::start("sb_hostile", Schema::customers()).await else {
        return;
    };
    let s = sb.store.store(Actor::Service).unwrap();
    let strings = super::contract::hostile_strings();
    let rows: Vec<Customer> = strings
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut c = Customer::new(i as i64 + 1);
            c.first_name = Some(v.clone());
            c.city = Some(format!("{v}{v}"));
            c.last_name = Some(format!("pre{v}"));
            c.attributes.insert(v.clone(), json!(v));
            c.attributes.insert("note".into(), json!([v, {"k": v}]));
            c
        })
        .collect();
    s.customers.upsert(&rows).await.unwrap();
    for c in &rows {
        assert_eq!(s.customers.get(c.id).await.unwrap().as_ref(), Some(c));
    }
    let flat: Vec<Value> = rows.iter().map(Customer::to_flat).collect();
    let long = FilterOptions::new()
        .with_now(super::contract::at(0))
        .with_limits(Limits::new().with_max_value_len(20_000));
    let check = |v: &str, got: smsbatch::Result<Vec<i64>>, expected: Vec<i64>, what: &str| match got
    {
        Ok(got) => {
            assert_eq!(got, expected, "{what} {v:?}");
            true
        }
        Err(e) => {
            assert_eq!(e.kind().code(), "filterTooLarge", "{what} {v:?}: {e}");
            assert!(v.chars().count() > 1_000, "{what} {v:?} was refused");
            false
        }
    };
    let (mut matched, mut refused) = (0, 0);
    for (n, v) in strings.iter().enumerate() {
        for (op, field) in [
            ("equals", "first_name"),
            ("contains", "first_name"),
            ("startsWith", "last_name"),
            ("endsWith", "city"),
            ("notContains", "city"),
        ] {
            let op_value: Op = serde_json::from_value(json!(op)).unwrap();
            let q = Query {
                filter: Some(Node::Condition(Condition::new(field, op_value, v.as_str()))),
                sort: vec![SortKey::asc("id")],
                ..Query::default()
            };
            let filter = json!({"field": field, "op": op, "value": v});
            let expected: Vec<i64> = Filter::from_value(&filter, &Schema::customers(), &long)
                .unwrap()
                .evaluator()
                .filter(&flat)
                .unwrap()
                .into_iter()
                .map(|i| rows[i].id)
                .collect();
            let got = s
                .customers
                .query(&q, &long, None)
                .await
                .map(|p| p.rows.iter().map(|c| c.id).collect::<Vec<_>>());
            if op == "equals" && got.is_ok() {
                assert!(
                    expected.contains(&(n as i64 + 1)),
                    "{v:?} finds its own row"
                );
            }
            if check(v, got, expected, op) {
                matched += 1;
            } else {
                refused += 1;
            }
        }
        let q = Query {
            search: Some(v.clone()),
            sort: vec![SortKey::asc("id")],
            ..Query::default()
        };
        let expected = q
            .compile(&Schema::customers(), &long)
            .and_then(|c| c.run(&flat))
            .map(|p| p.rows.into_iter().map(|i| rows[i].id).collect::<Vec<_>>());
        let got = s
            .customers
            .query(&q, &long, None)
            .await
            .map(|p| p.rows.iter().map(|c| c.id).collect::<Vec<_>>());
        match expected {
            Ok(expected) => {
                check(v, got, expected, "search");
            }
            Err(e) => assert_eq!(got.unwrap_err().kind(), e.kind(), "search {v:?}"),
        }
    }
    assert!(
        matched > 300 && refused > 0,
        "{matched} matched, {refused} refused"
    );
    // Bodies have no such limit: templates, logs and suppressions keep every value.
    let mut t = smsbatch::TemplateRecord::new(
        "hostile",
        &strings[45],
        "Hi {{first_name}}",
        super::contract::at(0),
    );
    t.description = strings.join("|");
    t.tags = strings[..20].to_vec();
    s.templates.create(&t, Some(&strings[1])).await.unwrap();
    assert_eq!(s.templates.get("hostile").await.unwrap(), Some(t));
    let phones: Vec<(String, Option<String>)> = strings
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| (p.clone(), Some(p.clone())))
        .collect();
    s.suppressions
        .add(&phones, super::contract::at(2))
        .await
        .unwrap();
    let probe: Vec<String> = phones
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| p.chars().count() <= 1_000)
        .collect();
    assert_eq!(s.suppressions.check(&probe).await.unwrap(), probe);
}

/// A batch prepared through the Supabase store (the send module's `Preparer`): the messages go
/// in chunked inserts into a `preparing` batch, which no worker can claim from, and one RPC (the
/// transition) makes it visible; preparing again with the same key changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_are_prepared_in_chunks_then_made_visible() {
    use smsbatch::Purpose;
    use smsbatch::queue::BatchState;
    use smsbatch::send::{BatchRequest, Preparer, TemplateChoice};
    use smsbatch::store::{Claim, Uuid};
    let Some(sb) = Supabase::start("sb_prepare", Schema::customers()).await else {
        return;
    };
    let s = sb.store.store(Actor::Service).unwrap();
    let rows: Vec<Customer> = (1..=2_500)
        .map(|i| {
            let mut c = Customer::new(i);
            c.first_name = Some(format!("C{i}"));
            c.city = Some(if i % 2 == 0 { "Lyon" } else { "Nice" }.into());
            c.phone = (i % 100 != 0).then(|| format!("+44740{i:07}"));
            c.opted_in = Some(true);
            c
        })
        .collect();
    s.customers.upsert(&rows).await.unwrap();
    let now: smsbatch::Timestamp = "2024-06-01T12:00:00Z".parse().unwrap();
    let request = BatchRequest::new(
        TemplateChoice::Text("Hello {{first_name}}".into()),
        json!({"version": 1, "where": {"field": "city", "op": "equals", "value": "Lyon"}}),
        Purpose::Transactional,
    )
    .sender("ACME")
    .idempotency_key("lyon-1");
    let summary = Preparer::new()
        .chunk(400)
        .create(&s, &request, now)
        .await
        .unwrap();
    assert_eq!(summary.state, BatchState::Sending);
    // 1,250 customers in Lyon, 25 of them without a phone.
    assert_eq!(summary.messages, 1_225);
    assert_eq!(
        serde_json::to_value(&summary.excluded).unwrap(),
        json!({"noPhone": 25})
    );
    let counts = s.messages.count_by_status(summary.id).await.unwrap();
    assert_eq!(counts.pending, 1_225);
    let again = Preparer::new().create(&s, &request, now).await.unwrap();
    assert_eq!((again.id, again.messages), (summary.id, 1_225));
    // Every message can be claimed now that the batch is sending, each once.
    let mut claimed = std::collections::HashSet::new();
    loop {
        let got = s
            .messages
            .claim(
                &Claim::new(
                    500,
                    Uuid::from_u128(9),
                    std::time::Duration::from_secs(60),
                    now,
                )
                .batch(summary.id),
            )
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            assert!(m.body.starts_with("Hello C"));
            assert!(claimed.insert(m.id));
        }
    }
    assert_eq!(claimed.len(), 1_225);
}
