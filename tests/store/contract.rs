//! The store contract: one suite, written against the repository traits only, that every store
//! must pass. A store plugs in with a [`Harness`] (a fresh, empty store per test) and the
//! [`contract_tests!`] macro, which makes one `#[tokio::test]` per case:
//!
//! ```ignore
//! contract_tests!(crate::store::memory::MemoryHarness);
//! ```

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use smsbatch::filter::{
    AudiencePreset, Condition, Document, Filter, FilterOptions, Limits, Node, Op, Query,
    SavedFilter, Schema, SortKey, Visibility, import_saved,
};
use smsbatch::flags::State;
use smsbatch::queue::{BatchState, ErrorCategory, MessageStatus, PauseReason};
use smsbatch::store::{
    Actor, Backend, BatchQuery, CheckClaim, CheckKind, CheckResult, Claim, Customer, CustomerScan,
    Fence, LogLevel, MessageQuery, MessageScan, NewBatch, NewBatchLog, NewExclusion, NewMessage,
    Store, Transition, UserClaims,
};
use smsbatch::{Amount, Encoding, ErrorKind, ExclusionReason, Purpose, TemplateRecord, Timestamp};
use uuid::Uuid;

/// A fresh store for one test, and whatever keeps it alive (a database, a server).
pub struct Fixture {
    pub backend: Arc<dyn Backend>,
    _guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Fixture {
    pub fn new(
        backend: Arc<dyn Backend>,
        guard: Option<Box<dyn std::any::Any + Send + Sync>>,
    ) -> Self {
        Self {
            backend,
            _guard: guard,
        }
    }

    pub fn service(&self) -> Store {
        self.backend
            .store(Actor::Service)
            .expect("the service store")
    }

    pub fn user(&self, claims: &UserClaims) -> Store {
        self.backend
            .store(Actor::User(claims.clone()))
            .expect("a user's store")
    }

    pub fn anon(&self) -> Store {
        self.backend
            .store(Actor::Anonymous)
            .expect("the anonymous store")
    }
}

/// Makes fresh, empty stores (their schema applied) with a customer schema.
#[async_trait]
pub trait Harness: Send + Sync {
    /// `None` when the store cannot run here (no database and none required); the harness has
    /// said why.
    async fn fresh(&self, schema: Schema) -> Option<Fixture>;
}

/// One `#[tokio::test]` per contract case, on the store `$harness` makes.
#[macro_export]
macro_rules! contract_tests {
    ($harness:expr) => {
        $crate::contract_tests!(@each $harness;
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
            hostile_values_round_trip_and_match_literally,
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::store::contract::$name(&$harness).await;
            }
        )*
    };
}

pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(1_717_243_200 + seconds).expect("a time in range") // 2024-06-01T12:00:00Z
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

fn user(n: u128, team: Option<&str>) -> UserClaims {
    let claims = UserClaims::new(Uuid::from_u128(n));
    match team {
        Some(t) => claims.team(t),
        None => claims,
    }
}

fn query(json: Value) -> Query {
    serde_json::from_value(json).expect("a query")
}

fn options() -> FilterOptions {
    FilterOptions::new().with_now(at(0))
}

fn ids(rows: &[Customer]) -> Vec<i64> {
    rows.iter().map(|c| c.id).collect()
}

async fn fresh(h: &dyn Harness) -> Option<Fixture> {
    h.fresh(Schema::customers()).await
}

fn customer(id: i64, first_name: Option<&str>, city: Option<&str>) -> Customer {
    let mut c = Customer::new(id);
    c.first_name = first_name.map(str::to_owned);
    c.city = city.map(str::to_owned);
    c
}

/// Customers full of NULLs and empty strings.
fn people() -> Vec<Customer> {
    let mut rows = vec![
        customer(1, Some("Anna"), Some("Lyon")),
        customer(2, Some(""), None),
        customer(3, None, Some("lyon")),
        customer(4, Some("JOANNE"), Some("Paris")),
        customer(5, Some("Zoë"), Some("")),
        customer(6, Some("bob"), Some("Lyon 3e")),
    ];
    rows[0].opted_in = Some(true);
    rows[0].total_spent = Some(10.5);
    rows[0].date_create = Some(ts("2024-05-30T10:00:00Z"));
    rows[0].birthday = "1990-02-03".parse().ok();
    rows[0].orders_count = Some(3);
    rows[0].email = Some("anna@example.com".into());
    rows[1].opted_in = Some(false);
    rows[1].total_spent = Some(0.0);
    rows[1].date_create = Some(ts("2023-01-01T00:00:00Z"));
    rows[3].total_spent = Some(25.0);
    rows[3].date_create = Some(ts("2024-05-31T23:59:59.999999Z"));
    rows[3].last_name = Some("Jeannot".into());
    rows[4].opted_in = Some(true);
    rows[4].total_spent = Some(7.25);
    rows[4].phone = Some("+447400123456".into());
    rows[5].opted_out = Some(true);
    rows[5].date_create = Some(ts("2024-06-01T11:00:00+02:00"));
    rows
}

// ---------------------------------------------------------------------------------------------
// Customers
// ---------------------------------------------------------------------------------------------

pub async fn customers_round_trip(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let mut rows = people();
    rows[0].attributes.insert("tier".into(), json!("gold"));
    rows[0]
        .attributes
        .insert("tags".into(), json!(["a", {"b": [1, 2.5, null]}]));
    rows[0].team_id = Some("t1".into());
    assert_eq!(s.customers.upsert(&rows).await.unwrap(), 6);
    assert_eq!(s.customers.get(1).await.unwrap().as_ref(), Some(&rows[0]));
    assert_eq!(s.customers.get(6).await.unwrap(), Some(rows[5].clone()));
    assert_eq!(s.customers.get(99).await.unwrap(), None);
    // The JSON of a stored customer is the same from every store.
    let back = s.customers.get(1).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap()["date_create"],
        "2024-05-30T10:00:00Z"
    );
    assert_eq!(serde_json::to_value(&back).unwrap()["total_spent"], 10.5);

    // An upsert replaces the whole row; the last row of an id wins.
    let mut replaced = customer(1, Some("Annie"), None);
    replaced.attributes.insert("tier".into(), json!("silver"));
    let later = customer(1, Some("Anne"), Some("Nice"));
    assert_eq!(
        s.customers
            .upsert(&[replaced.clone(), later.clone()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(s.customers.get(1).await.unwrap(), Some(later));

    // Bad rows are refused before anything is written.
    let mut bad = customer(7, Some("a\0b"), None);
    let err = s
        .customers
        .upsert(&[customer(8, None, None), bad.clone()])
        .await
        .unwrap_err();
    assert_eq!(err.kind().code(), "invalidRow");
    assert_eq!(s.customers.get(8).await.unwrap(), None);
    bad.first_name = None;
    bad.total_spent = Some(f64::NAN);
    assert!(s.customers.upsert(&[bad]).await.is_err());

    assert_eq!(s.customers.delete(&[1, 2, 99]).await.unwrap(), 2);
    assert_eq!(s.customers.get(1).await.unwrap(), None);
    let page = s
        .customers
        .query(&query(json!({"count": true})), &options(), None)
        .await
        .unwrap();
    assert_eq!(page.total, Some(4));
}

pub async fn customers_null_and_empty_rules(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let rows = people();
    s.customers.upsert(&rows).await.unwrap();
    let flat: Vec<Value> = rows.iter().map(Customer::to_flat).collect();
    let cases = [
        (
            json!({"field": "first_name", "op": "notContains", "value": "ann"}),
            vec![2, 3, 5, 6],
        ),
        (
            json!({"field": "first_name", "op": "equals", "value": ""}),
            vec![2],
        ),
        (json!({"field": "first_name", "op": "isEmpty"}), vec![2, 3]),
        (
            json!({"field": "first_name", "op": "isNotEmpty"}),
            vec![1, 4, 5, 6],
        ),
        (
            json!({"field": "city", "op": "equals", "value": "Lyon"}),
            vec![1],
        ),
        (
            json!({"field": "city", "op": "startsWith", "value": "LYON"}),
            vec![1, 3, 6],
        ),
        (
            json!({"field": "city", "op": "notEquals", "value": "Lyon"}),
            vec![2, 3, 4, 5, 6],
        ),
        (
            json!({"field": "city", "op": "in", "value": ["Paris", ""]}),
            vec![4, 5],
        ),
        (
            json!({"field": "city", "op": "notIn", "value": ["Paris"]}),
            vec![1, 2, 3, 5, 6],
        ),
        (json!({"field": "city", "op": "in", "value": []}), vec![]),
        (
            json!({"field": "city", "op": "notIn", "value": []}),
            vec![1, 2, 3, 4, 5, 6],
        ),
        (
            json!({"field": "total_spent", "op": "notBetween", "value": [5, 20]}),
            vec![2, 3, 4, 6],
        ),
        (
            json!({"field": "total_spent", "op": "gte", "value": 7.25}),
            vec![1, 4, 5],
        ),
        (
            json!({"field": "total_spent", "op": "notEquals", "value": 0}),
            vec![1, 3, 4, 5, 6],
        ),
        (
            json!({"field": "opted_in", "op": "isNotTrue"}),
            vec![2, 3, 4, 6],
        ),
        (
            json!({"field": "opted_in", "op": "isNotFalse"}),
            vec![1, 3, 4, 5, 6],
        ),
        (
            json!({"not": {"field": "city", "op": "equals", "value": "Lyon"}}),
            vec![2, 3, 4, 5, 6],
        ),
        (
            json!({"not": {"or": [{"field": "city", "op": "isEmpty"}, {"field": "total_spent", "op": "lt", "value": 8}]}}),
            vec![1, 3, 4, 6],
        ),
        (
            json!({"field": "date_create", "op": "withinLastDays", "value": 2}),
            vec![4, 6],
        ),
        (
            json!({"field": "date_create", "op": "withinLastDays", "value": 3}),
            vec![1, 4, 6],
        ),
        (
            json!({"field": "date_create", "op": "equals", "value": "2024-05-31"}),
            vec![4],
        ),
        (
            json!({"field": "date_create", "op": "notWithinLastDays", "value": 2}),
            vec![1, 2, 3, 5],
        ),
        (
            json!({"field": "birthday", "op": "between", "value": ["1990-02-01", "1990-02-28"]}),
            vec![1],
        ),
        (
            json!({"field": "orders_count", "op": "isEmpty"}),
            vec![2, 3, 4, 5, 6],
        ),
    ];
    let mut cases = cases.to_vec();
    // The consent column, once the default schema names it.
    if Schema::customers().field("opted_out").is_some() {
        cases.push((json!({"field": "opted_out", "op": "isTrue"}), vec![6]));
    }
    for (filter, expected) in cases {
        let q = Query {
            filter: Some(serde_json::from_value(filter.clone()).unwrap()),
            sort: vec![SortKey::asc("id")],
            count: true,
            ..Query::default()
        };
        let page = s.customers.query(&q, &options(), None).await.unwrap();
        assert_eq!(ids(&page.rows), expected, "{filter}");
        assert_eq!(page.total, Some(expected.len() as u64), "{filter}");
        // The evaluator on the customers' flat form agrees (templates and filters see the same).
        let compiled = Filter::from_value(&filter, &Schema::customers(), &options()).unwrap();
        let by_memory: Vec<i64> = compiled
            .evaluator()
            .filter(&flat)
            .unwrap()
            .into_iter()
            .map(|i| rows[i].id)
            .collect();
        assert_eq!(by_memory, expected, "{filter}");
    }
    // An invalid query is an error naming the bad node.
    let err = s
        .customers
        .query(
            &query(json!({"where": {"field": "fax", "op": "isEmpty"}})),
            &options(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind().code(), "unknownField");
    assert_eq!(err.kind().path(), Some("/where"));
}

pub async fn customers_search_sort_and_count(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    s.customers.upsert(&people()).await.unwrap();
    let run = |q: Value| {
        let s = s.clone();
        async move {
            s.customers
                .query(&query(q), &options(), None)
                .await
                .unwrap()
        }
    };
    // Search: every term in some searchable field, case-insensitively and literally.
    let page = run(json!({"search": "ann", "sort": [{"field": "id"}]})).await;
    assert_eq!(ids(&page.rows), vec![1, 4]);
    let page = run(json!({"search": "lyon 3E", "sort": [{"field": "id"}]})).await;
    assert_eq!(ids(&page.rows), vec![6]);
    let page = run(json!({"search": "%", "count": true})).await;
    assert_eq!(page.total, Some(0));
    // The default sort: date_create descending, NULLs last, id as the tie-breaker.
    let page = run(json!({})).await;
    assert_eq!(ids(&page.rows), vec![6, 4, 1, 2, 3, 5]);
    // Strings sort byte by byte whatever the collation: "" < "Anna" < "JOANNE" < "Zoë" < "bob".
    let page = run(json!({"sort": [{"field": "first_name"}]})).await;
    assert_eq!(ids(&page.rows), vec![2, 1, 4, 5, 6, 3]);
    let page =
        run(json!({"sort": [{"field": "first_name", "direction": "desc", "nulls": "first"}]}))
            .await;
    assert_eq!(ids(&page.rows), vec![3, 6, 5, 4, 1, 2]);
    let page = run(json!({"sort": [{"field": "city", "nulls": "first"}, {"field": "id", "direction": "desc"}]})).await;
    assert_eq!(ids(&page.rows), vec![2, 5, 1, 6, 4, 3]);
    // Offset pages and exact counts.
    let page = run(json!({"sort": [{"field": "total_spent", "direction": "desc"}], "limit": 2, "offset": 1, "count": true})).await;
    assert_eq!(ids(&page.rows), vec![1, 5]);
    assert_eq!(page.total, Some(6));
    assert!(page.next.is_some(), "a full page has a cursor");
    let page = run(json!({"where": {"field": "city", "op": "contains", "value": "lyon"}, "limit": 0, "count": true})).await;
    assert!(page.rows.is_empty());
    assert_eq!(page.total, Some(3));
    assert_eq!(page.next, None);
}

pub async fn customers_keyset_pages_are_stable_under_inserts(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let names = [
        "delta", "Alpha", "charlie", "Bravo", "echo", "", "Écho", "alpha",
    ];
    let rows: Vec<Customer> = (1..=40)
        .map(|i| {
            let name =
                (i % 9 != 0).then(|| format!("{}{}", names[i as usize % names.len()], i % 3));
            customer(i, name.as_deref(), None)
        })
        .collect();
    s.customers.upsert(&rows).await.unwrap();
    let sort = json!([{"field": "first_name", "direction": "desc"}]);
    let mut q = query(json!({"sort": sort, "limit": 7, "count": true}));
    let first = s.customers.query(&q, &options(), None).await.unwrap();
    assert_eq!(first.rows.len(), 7);
    assert_eq!(first.total, Some(40));
    // Rows inserted before and after the cursor while paging.
    s.customers
        .upsert(&[
            customer(100, Some("zzz"), None),
            customer(101, Some("0"), None),
            customer(102, None, None),
        ])
        .await
        .unwrap();
    let all = s
        .customers
        .query(&query(json!({"sort": sort})), &options(), None)
        .await
        .unwrap();
    let last = first.rows.last().unwrap().id;
    let position = all.rows.iter().position(|c| c.id == last).unwrap();
    q.after = first.next.clone();
    let mut seen: Vec<i64> = ids(&first.rows);
    let mut expected_rest: Vec<i64> = ids(&all.rows[position + 1..]);
    loop {
        let page = s.customers.query(&q, &options(), None).await.unwrap();
        assert_eq!(page.total, Some(43), "the count ignores the cursor");
        let got = ids(&page.rows);
        assert_eq!(got, expected_rest[..got.len()].to_vec());
        expected_rest.drain(..got.len());
        seen.extend(&got);
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert!(expected_rest.is_empty());
    assert!(
        !seen.contains(&100),
        "a row inserted before the cursor is not in later pages"
    );
    assert!(seen.contains(&101) && seen.contains(&102));
    assert_eq!(
        seen.len(),
        seen.iter().collect::<HashSet<_>>().len(),
        "no row twice"
    );
}

pub async fn customers_attributes_and_custom_schema(h: &dyn Harness) {
    let schema = Schema::from_json(
        r#"{"fields": [
            {"name": "id", "type": "number", "sortable": true},
            {"name": "first_name", "type": "string", "searchable": true, "sortable": true},
            {"name": "tier", "type": "string", "searchable": true, "sortable": true},
            {"name": "points", "type": "number", "sortable": true},
            {"name": "seen_at", "type": "timestamp", "sortable": true},
            {"name": "vip", "type": "boolean"}
        ]}"#,
    )
    .unwrap();
    let Some(f) = h.fresh(schema.clone()).await else {
        return;
    };
    let s = f.service();
    assert_eq!(s.customers.schema(), &schema);
    let mut rows = Vec::new();
    for (i, (tier, points, vip)) in [
        (Some("gold"), Some(50.5), Some(true)),
        (Some("Silver"), Some(10.0), None),
        (None, Some(100.0), Some(false)),
        (Some("bronze"), None, None),
        (Some("gold"), Some(-3.0), None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = customer(i as i64 + 1, Some("x"), None);
        if let Some(t) = tier {
            c.attributes.insert("tier".into(), json!(t));
        }
        if let Some(p) = points {
            c.attributes.insert("points".into(), json!(p));
        }
        if let Some(v) = vip {
            c.attributes.insert("vip".into(), json!(v));
        }
        c.attributes.insert(
            "seen_at".into(),
            json!(format!("2024-0{}-01T10:00:00+01:00", i + 1)),
        );
        c.attributes
            .insert("note".into(), json!("free text, not in the schema"));
        rows.push(c);
    }
    s.customers.upsert(&rows).await.unwrap();
    let stored = s.customers.get(1).await.unwrap().unwrap();
    assert_eq!(
        stored.attributes["seen_at"], "2024-01-01T09:00:00Z",
        "normalised"
    );
    let run = |q: Value| {
        let s = s.clone();
        async move {
            ids(&s
                .customers
                .query(&query(q), &options(), None)
                .await
                .unwrap()
                .rows)
        }
    };
    assert_eq!(run(json!({"where": {"field": "points", "op": "gt", "value": 10}, "sort": [{"field": "id"}]})).await, vec![1, 3]);
    assert_eq!(run(json!({"where": {"field": "points", "op": "notBetween", "value": [0, 60]}, "sort": [{"field": "id"}]})).await, vec![3, 4, 5]);
    assert_eq!(
        run(json!({"where": {"field": "vip", "op": "isNotTrue"}, "sort": [{"field": "id"}]})).await,
        vec![2, 3, 4, 5]
    );
    assert_eq!(
        run(json!({"sort": [{"field": "tier"}, {"field": "points", "direction": "desc"}]})).await,
        vec![2, 4, 1, 5, 3]
    );
    assert_eq!(
        run(json!({"search": "GOL", "sort": [{"field": "id"}]})).await,
        vec![1, 5]
    );
    assert_eq!(run(json!({"where": {"field": "seen_at", "op": "gte", "value": "2024-03-01"}, "sort": [{"field": "seen_at", "direction": "desc"}]})).await, vec![5, 4, 3]);
    // Keyset pages over an attribute sort.
    let mut q = query(json!({"sort": [{"field": "points"}], "limit": 2}));
    let mut all = Vec::new();
    loop {
        let page = s.customers.query(&q, &options(), None).await.unwrap();
        all.extend(ids(&page.rows));
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    assert_eq!(all, vec![5, 2, 1, 3, 4]);
    // An attribute of the wrong type for its field is refused.
    let mut bad = customer(9, None, None);
    bad.attributes.insert("points".into(), json!("many"));
    let err = s.customers.upsert(&[bad]).await.unwrap_err();
    assert_eq!(err.kind().path(), Some("/attributes/points"));
}

pub async fn customers_team_scope_and_scan(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let rows: Vec<Customer> = (1..=2_500)
        .map(|i| {
            let mut c = customer(i, Some(&format!("n{:05}", (i * 7919) % 2_500)), None);
            c.team_id = Some(if i % 5 == 0 { "t2" } else { "t1" }.into());
            c
        })
        .collect();
    s.customers.upsert(&rows).await.unwrap();
    let page = s
        .customers
        .query(
            &query(json!({"count": true, "limit": 1})),
            &options(),
            Some("t2"),
        )
        .await
        .unwrap();
    assert_eq!(page.total, Some(500));
    assert!(page.rows.iter().all(|c| c.team_id.as_deref() == Some("t2")));
    // A scan in chunks sees every selected customer once, in the query's order.
    let q = query(
        json!({"where": {"field": "first_name", "op": "startsWith", "value": "N0"}, "sort": [{"field": "first_name"}]}),
    );
    let mut scan = CustomerScan::new(
        Arc::clone(&s.customers),
        q.clone(),
        options(),
        Some("t1".into()),
        300,
    )
    .unwrap();
    let mut scanned = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = scan.next_chunk().await.unwrap() {
        assert!(chunk.len() <= 300);
        chunks += 1;
        scanned.extend(ids(&chunk));
    }
    let expected: Vec<i64> = {
        let mut v: Vec<&Customer> = rows
            .iter()
            .filter(|c| c.team_id.as_deref() == Some("t1"))
            .filter(|c| c.first_name.as_deref().unwrap().starts_with("n0"))
            .collect();
        v.sort_by(|a, b| a.first_name.cmp(&b.first_name).then(a.id.cmp(&b.id)));
        v.into_iter().map(|c| c.id).collect()
    };
    assert_eq!(scanned, expected);
    assert_eq!(chunks, expected.len().div_ceil(300));
    assert!(CustomerScan::new(Arc::clone(&s.customers), q, options(), None, 0).is_err());
}

// ---------------------------------------------------------------------------------------------
// Templates and saved filters
// ---------------------------------------------------------------------------------------------

fn template(id: &str, name: &str, body: &str) -> TemplateRecord {
    TemplateRecord::new(id, name, body, at(0))
}

pub async fn templates_crud_and_search(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let mut welcome = template("welcome", "Welcome", "Hi {{first_name}}, bienvenue à bord");
    welcome.tags = vec!["onboarding".into()];
    let due = template("due", "Payment due", "Your invoice is due");
    s.templates.create(&welcome, Some("t1")).await.unwrap();
    s.templates.create(&due, Some("t1")).await.unwrap();
    let err = s.templates.create(&due, Some("t1")).await.unwrap_err();
    assert_eq!(err.kind().code(), "uniqueViolation");
    let err = s
        .templates
        .create(&template("bad", "Bad", "Hi {{#if}}"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind().code(), "templateSyntax");
    assert_eq!(
        s.templates.get("welcome").await.unwrap(),
        Some(welcome.clone())
    );
    assert_eq!(s.templates.get("nope").await.unwrap(), None);
    let names: Vec<String> = s
        .templates
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["Payment due", "Welcome"]);
    let mut changed = welcome.clone();
    changed.body = "Hello {{first_name}}".into();
    changed.updated_at = at(60);
    s.templates.update(&changed).await.unwrap();
    assert_eq!(
        s.templates.get("welcome").await.unwrap(),
        Some(changed.clone())
    );
    let err = s
        .templates
        .update(&template("ghost", "G", "x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind().code(), "notFound");
    // Search: the same rules as search_templates.
    let found: Vec<String> = s
        .templates
        .search("A BORD")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(found.is_empty(), "the body changed");
    let found: Vec<String> = s
        .templates
        .search("onboarding")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(found, ["welcome"]);
    let found: Vec<String> = s
        .templates
        .search("DUE")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(found, ["due"]);
    // Upsert reports what changed.
    let mut due2 = due.clone();
    due2.description = "reminder".into();
    let changes = s
        .templates
        .upsert(
            &[changed.clone(), due2, template("new", "New", "x")],
            Some("t1"),
        )
        .await
        .unwrap();
    assert_eq!(changes.unchanged, ["welcome"]);
    assert_eq!(changes.updated, ["due"]);
    assert_eq!(changes.created, ["new"]);
    assert!(
        s.templates
            .upsert(&[due.clone(), due.clone()], None)
            .await
            .is_err()
    );
    assert!(s.templates.delete("new").await.unwrap());
    assert!(!s.templates.delete("new").await.unwrap());
    assert_eq!(s.templates.list().await.unwrap().len(), 2);
}

fn uid(n: u128) -> String {
    Uuid::from_u128(n).to_string()
}

fn saved(id: &str, name: &str, owner: u128, visibility: Visibility) -> SavedFilter {
    let mut f = SavedFilter::new(
        id,
        name,
        uid(owner),
        AudiencePreset::NoPhone.document().unwrap(),
        at(0),
    );
    f.visibility = visibility;
    f
}

pub async fn saved_filters_crud_import_export(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let a = saved("a", "Alpha", 1, Visibility::Private);
    let b = saved(
        "b",
        "beta",
        2,
        Visibility::Shared {
            users: vec![uid(1)],
        },
    );
    s.saved_filters.create(&a, Some("t1")).await.unwrap();
    s.saved_filters.create(&b, Some("t1")).await.unwrap();
    assert_eq!(s.saved_filters.get("a").await.unwrap(), Some(a.clone()));
    assert_eq!(
        s.saved_filters
            .create(&a, None)
            .await
            .unwrap_err()
            .kind()
            .code(),
        "uniqueViolation"
    );
    // The filter is validated against the store's schema, owners are user ids.
    let mut bad = saved("c", "C", 1, Visibility::Private);
    bad.filter =
        Document::from_value(&json!({"version": 1, "where": {"field": "fax", "op": "isEmpty"}}))
            .unwrap();
    let err = s.saved_filters.create(&bad, None).await.unwrap_err();
    assert_eq!(err.kind().code(), "unknownField");
    let mut bad = saved("c", "C", 1, Visibility::Private);
    bad.owner = "alice".into();
    assert_eq!(
        s.saved_filters
            .create(&bad, None)
            .await
            .unwrap_err()
            .kind()
            .path(),
        Some("/owner")
    );
    let mut renamed = a.clone();
    renamed.rename("Aardvark", at(30));
    renamed.set_visibility(Visibility::Team, at(30));
    s.saved_filters.update(&renamed).await.unwrap();
    assert_eq!(
        s.saved_filters.get("a").await.unwrap(),
        Some(renamed.clone())
    );
    let names: Vec<String> = s
        .saved_filters
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["Aardvark", "beta"]);
    assert_eq!(
        s.saved_filters
            .update(&saved("zz", "Z", 1, Visibility::Private))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    // Export, then import into the same store: nothing changes; edited ones update.
    let file = s.saved_filters.export(at(60)).await.unwrap();
    let mut filters = import_saved(&file.to_string(), &Schema::customers()).unwrap();
    assert_eq!(filters.len(), 2);
    let changes = s.saved_filters.import(&filters, None).await.unwrap();
    assert_eq!(changes.unchanged, ["a", "b"]);
    filters[1].description = "edited".into();
    filters.push(saved("c", "Gamma", 3, Visibility::Private));
    let changes = s.saved_filters.import(&filters, Some("t1")).await.unwrap();
    assert_eq!(
        (changes.created, changes.updated),
        (vec!["c".to_owned()], vec!["b".to_owned()])
    );
    assert!(s.saved_filters.delete("c").await.unwrap());
    assert!(!s.saved_filters.delete("c").await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Batches, messages, exclusions, logs
// ---------------------------------------------------------------------------------------------

async fn sending_batch(s: &Store, messages: usize) -> Uuid {
    let rows: Vec<NewMessage> = (0..messages)
        .map(|i| {
            let mut m = NewMessage::new(
                i as i64 + 1,
                format!("+4474000{i:05}"),
                format!("Hello {i}"),
                Encoding::Gsm7,
            );
            m.estimated_cost = "0.0079".parse().unwrap();
            m
        })
        .collect();
    batch_sending_with(s, &NewBatch::new(Purpose::Marketing), &rows).await
}

/// A batch created at 0 with these messages (inserted 2,000 at a time), sending from 1.
async fn batch_sending_with(s: &Store, new: &NewBatch, rows: &[NewMessage]) -> Uuid {
    let batch = s.batches.create(new, at(0)).await.unwrap().batch;
    for chunk in rows.chunks(2_000) {
        s.messages.insert(batch.id, chunk, at(0)).await.unwrap();
    }
    s.batches
        .transition(batch.id, BatchState::Sending, None, at(1))
        .await
        .unwrap();
    batch.id
}

pub async fn batches_lifecycle(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    s.templates
        .create(&template("tpl", "T", "Hi {{first_name}}"), None)
        .await
        .unwrap();
    let mut new = NewBatch::new(Purpose::Transactional);
    new.template_id = Some("tpl".into());
    new.template_body = Some("Hi {{first_name}}".into());
    new.sender = Some("ACME".into());
    new.filter = Some(json!({"version": 1, "where": {"field": "opted_in", "op": "isTrue"}}));
    new.options = json!({"maxSegments": 3, "rate": {"segmentsPerSecond": 10}});
    new.idempotency_key = Some("order-42".into());
    new.send_at = Some(at(3600));
    new.budget = Some("12.50".parse().unwrap());
    new.currency = Some("GBP".into());
    let created = s.batches.create(&new, at(0)).await.unwrap();
    assert!(created.created);
    let batch = created.batch;
    assert_eq!(batch.state, BatchState::Preparing);
    assert_eq!(batch.purpose, Purpose::Transactional);
    assert_eq!(batch.budget, Some("12.5".parse().unwrap()));
    assert_eq!(batch.budget_spent, Amount::ZERO);
    assert_eq!(batch.options, new.options);
    assert_eq!(batch.created_at, at(0));
    assert_eq!(s.batches.get(batch.id).await.unwrap(), Some(batch.clone()));
    // The same key returns the same batch.
    let again = s.batches.create(&new, at(10)).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.batch, batch);
    // Another batch without a key; an unknown template is not found.
    let other = s
        .batches
        .create(&NewBatch::new(Purpose::Marketing), at(5))
        .await
        .unwrap()
        .batch;
    let mut missing = NewBatch::new(Purpose::Marketing);
    missing.template_id = Some("ghost".into());
    assert_eq!(
        s.batches
            .create(&missing, at(6))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    let mut wrong = NewBatch::new(Purpose::Marketing);
    wrong.state = BatchState::Sending;
    assert!(s.batches.create(&wrong, at(6)).await.is_err());
    // Listing, by state and with a cursor.
    let all = s.batches.list(&BatchQuery::new()).await.unwrap();
    assert_eq!(
        all.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![batch.id, other.id]
    );
    let after = s
        .batches
        .list(&BatchQuery::new().after(&batch))
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![other.id]
    );
    assert_eq!(
        s.batches
            .list(&BatchQuery::new().limit(1))
            .await
            .unwrap()
            .len(),
        1
    );
    // Newest first: a limit keeps the latest, and the cursor pages on to older ones.
    let newest = s
        .batches
        .list(&BatchQuery::new().newest_first().limit(1))
        .await
        .unwrap();
    assert_eq!(
        newest.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![other.id]
    );
    let older = s
        .batches
        .list(&BatchQuery::new().newest_first().after(&newest[0]))
        .await
        .unwrap();
    assert_eq!(
        older.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![batch.id]
    );
    // Transitions follow the state machine, as compare-and-sets.
    let sending = s
        .batches
        .transition(batch.id, BatchState::Sending, None, at(100))
        .await
        .unwrap();
    assert_eq!(
        (sending.state, sending.started_at),
        (BatchState::Sending, Some(at(100)))
    );
    let err = s
        .batches
        .transition(batch.id, BatchState::Completed, None, at(101))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidTransition { from, to } if from == "sending" && to == "completed")
    );
    assert_eq!(
        s.batches
            .transition(batch.id, BatchState::Paused, None, at(102))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "invalidInput"
    );
    let paused = s
        .batches
        .transition(
            batch.id,
            BatchState::Paused,
            Some(PauseReason::KillSwitch),
            at(103),
        )
        .await
        .unwrap();
    assert_eq!(paused.pause_reason, Some(PauseReason::KillSwitch));
    let resumed = s
        .batches
        .transition(batch.id, BatchState::Sending, None, at(104))
        .await
        .unwrap();
    assert_eq!(
        (resumed.pause_reason, resumed.started_at),
        (None, Some(at(100)))
    );
    s.batches
        .transition(batch.id, BatchState::Verifying, None, at(105))
        .await
        .unwrap();
    let done = s
        .batches
        .transition(batch.id, BatchState::Completed, None, at(106))
        .await
        .unwrap();
    assert_eq!(done.completed_at, Some(at(106)));
    assert_eq!(
        s.batches
            .transition(Uuid::from_u128(9), BatchState::Sending, None, at(107))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    let listed = s
        .batches
        .list(&BatchQuery::new().states([BatchState::Completed]))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    // Progress.
    let progress = json!({"counts": {"sent": 3}, "rate": 1.5});
    s.batches
        .set_progress(batch.id, &progress, at(200))
        .await
        .unwrap();
    let stored = s.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!((stored.progress, stored.updated_at), (progress, at(200)));
    // Deleting a template keeps the batch (and its body snapshot).
    assert!(s.templates.delete("tpl").await.unwrap());
    let stored = s.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.template_id, stored.template_body.as_deref()),
        (None, Some("Hi {{first_name}}"))
    );
    assert!(s.batches.delete(other.id).await.unwrap());
    assert!(!s.batches.delete(other.id).await.unwrap());
}

pub async fn messages_claim_and_fenced_transitions(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let batch = s
        .batches
        .create(&NewBatch::new(Purpose::Marketing), at(0))
        .await
        .unwrap()
        .batch;
    let mut later = NewMessage::new(3, "+447400000003", "Later", Encoding::Gsm7);
    later.run_at = Some(at(500));
    let mut uni = NewMessage::new(2, "+447400000002", "Zoë 🎉", Encoding::Ucs2);
    uni.segments = 2;
    uni.estimated_cost = "0.0158".parse().unwrap();
    uni.variant = Some("B".into());
    uni.time_zone = Some("Europe/London".into());
    uni.country_code = Some("44".into());
    uni.max_attempts = Some(3);
    let first = NewMessage::new(1, "+447400000001", "Hi", Encoding::Gsm7);
    let inserted = s
        .messages
        .insert(
            batch.id,
            &[first.clone(), uni.clone(), later, first.clone()],
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(inserted, 3, "a customer already in the batch is skipped");
    let mut same_phone = NewMessage::new(9, "+447400000001", "dup", Encoding::Gsm7);
    same_phone.sender = Some("X".into());
    assert_eq!(
        s.messages
            .insert(batch.id, &[same_phone], at(0))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.messages
            .insert(Uuid::from_u128(77), std::slice::from_ref(&first), at(0))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    // Nothing is claimed before the batch sends.
    let token = Uuid::from_u128(0xA);
    let claim = Claim::new(10, token, Duration::from_secs(60), at(10));
    assert!(s.messages.claim(&claim).await.unwrap().is_empty());
    s.batches
        .transition(batch.id, BatchState::Sending, None, at(5))
        .await
        .unwrap();
    let claimed = s
        .messages
        .claim(&claim.clone().batch(batch.id))
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|m| m.customer_id).collect::<Vec<_>>(),
        vec![1, 2],
        "run_at not yet come for 3"
    );
    let m = &claimed[1];
    assert_eq!(m.status, MessageStatus::Processing);
    assert_eq!(
        (m.claim_token, m.lease_expires_at, m.attempts),
        (Some(token), Some(at(70)), 1)
    );
    assert_eq!(
        (m.segments, m.encoding, m.variant.as_deref(), m.max_attempts),
        (2, Encoding::Ucs2, Some("B"), Some(3))
    );
    assert_eq!(m.estimated_cost, "0.0158".parse().unwrap());
    assert_eq!((m.claimed_at, m.run_at), (Some(at(10)), at(0)));
    assert!(
        s.messages.claim(&claim).await.unwrap().is_empty(),
        "nothing left that is due"
    );
    let (a, b) = (claimed[0].id, claimed[1].id);
    // The send start is recorded, fenced by the token.
    let started = s
        .messages
        .mark_send_started(a, token, at(11))
        .await
        .unwrap();
    assert_eq!(started.send_started_at, Some(at(11)));
    let stale = Uuid::from_u128(0xB);
    let err = s
        .messages
        .mark_send_started(a, stale, at(11))
        .await
        .unwrap_err();
    assert!(err.is_lease_lost());
    // Accepted: sent, with the provider's id; a stale token changes nothing.
    let sent = s
        .messages
        .transition(
            a,
            Fence::Claim(token),
            &Transition::sent("SM1")
                .provider_status("queued")
                .price("0.0079".parse().unwrap(), "GBP"),
            at(12),
        )
        .await
        .unwrap();
    assert_eq!(
        (sent.status, sent.claim_token, sent.lease_expires_at),
        (MessageStatus::Sent, None, None)
    );
    assert_eq!(
        (
            sent.accepted_at,
            sent.provider_id.as_deref(),
            sent.price_currency.as_deref()
        ),
        (Some(at(12)), Some("SM1"), Some("GBP"))
    );
    let err = s
        .messages
        .transition(
            a,
            Fence::Claim(token),
            &Transition::to(MessageStatus::Failed),
            at(13),
        )
        .await
        .unwrap_err();
    assert!(err.is_lease_lost(), "the claim ended with the send");
    assert_eq!(
        s.messages.get(a).await.unwrap().unwrap(),
        sent,
        "a late update changed nothing"
    );
    // After the claim: fenced by status, forward only.
    let delivered = s
        .messages
        .transition(
            a,
            Fence::Status(MessageStatus::Sent),
            &Transition::to(MessageStatus::Delivered),
            at(20),
        )
        .await
        .unwrap();
    assert_eq!(delivered.delivered_at, Some(at(20)));
    assert!(
        s.messages
            .transition(
                a,
                Fence::Status(MessageStatus::Sent),
                &Transition::to(MessageStatus::Undelivered),
                at(21)
            )
            .await
            .unwrap_err()
            .is_lease_lost()
    );
    assert!(
        s.messages
            .transition(
                a,
                Fence::Status(MessageStatus::Delivered),
                &Transition::to(MessageStatus::Sent),
                at(21)
            )
            .await
            .unwrap_err()
            .is_lease_lost(),
        "never backwards"
    );
    assert_eq!(
        s.messages
            .find_by_provider_id("SM1")
            .await
            .unwrap()
            .map(|m| m.id),
        Some(a)
    );
    assert_eq!(s.messages.find_by_provider_id("SM0").await.unwrap(), None);
    // A retry goes back to pending at a later run_at, recording the error; claims then count the
    // second attempt.
    let retry = s
        .messages
        .transition(
            b,
            Fence::Claim(token),
            &Transition::retry(at(100))
                .category(ErrorCategory::RateLimited)
                .error_code("20429"),
            at(14),
        )
        .await
        .unwrap();
    assert_eq!(
        (retry.status, retry.run_at, retry.error_category),
        (
            MessageStatus::Pending,
            at(100),
            Some(ErrorCategory::RateLimited)
        )
    );
    assert!(
        s.messages
            .claim(&Claim::new(10, token, Duration::from_secs(60), at(99)))
            .await
            .unwrap()
            .is_empty()
    );
    let token2 = Uuid::from_u128(0xC);
    let again = s
        .messages
        .claim(&Claim::new(1, token2, Duration::from_secs(60), at(100)))
        .await
        .unwrap();
    assert_eq!(
        (again[0].id, again[0].attempts, again[0].send_started_at),
        (b, 2, None)
    );
    assert!(
        s.messages
            .transition(b, Fence::Claim(token), &Transition::sent("SM2"), at(101))
            .await
            .unwrap_err()
            .is_lease_lost(),
        "the old claim's token is stale"
    );
    // The provider id is unique.
    let err = s
        .messages
        .transition(b, Fence::Claim(token2), &Transition::sent("SM1"), at(101))
        .await
        .unwrap_err();
    assert_eq!(err.kind().code(), "uniqueViolation");
    let failed = s
        .messages
        .transition(
            b,
            Fence::Claim(token2),
            &Transition::failed(ErrorCategory::InvalidRecipient)
                .error_code("21211")
                .error_message("not a mobile"),
            at(102),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            failed.status,
            failed.error_code.as_deref(),
            failed.error_message.as_deref()
        ),
        (MessageStatus::Failed, Some("21211"), Some("not a mobile"))
    );
    assert_eq!(
        s.messages
            .transition(
                999_999,
                Fence::Claim(token),
                &Transition::sent("x"),
                at(103)
            )
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    assert!(
        s.messages
            .transition(
                b,
                Fence::Status(MessageStatus::Failed),
                &Transition::to(MessageStatus::Processing),
                at(103)
            )
            .await
            .is_err()
    );
}

pub async fn messages_rescue_release_and_leases(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let batch = sending_batch(&s, 5).await;
    let token = Uuid::from_u128(1);
    let claimed = s
        .messages
        .claim(&Claim::new(5, token, Duration::from_secs(30), at(10)))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5);
    let id = |i: usize| claimed[i].id;
    // 0: never started; 1: started; 2: lease extended; 3: released; 4: completed in time.
    s.messages
        .mark_send_started(id(1), token, at(11))
        .await
        .unwrap();
    let extended = s
        .messages
        .extend_lease(id(2), token, Duration::from_secs(120), at(12))
        .await
        .unwrap();
    assert_eq!(extended.lease_expires_at, Some(at(132)));
    let released = s.messages.release(id(3), token, at(13)).await.unwrap();
    assert_eq!(
        (released.status, released.attempts, released.claim_token),
        (MessageStatus::Pending, 0, None)
    );
    s.messages
        .mark_send_started(id(4), token, at(13))
        .await
        .unwrap();
    assert!(
        s.messages
            .release(id(4), token, at(14))
            .await
            .unwrap_err()
            .is_lease_lost(),
        "a started send is never released"
    );
    s.messages
        .transition(id(4), Fence::Claim(token), &Transition::sent("P4"), at(14))
        .await
        .unwrap();
    // Nothing has expired yet.
    assert_eq!(
        s.messages.rescue(at(40), 100).await.unwrap(),
        Default::default()
    );
    let rescued = s.messages.rescue(at(41), 100).await.unwrap();
    assert_eq!((rescued.pending, rescued.in_doubt), (1, 1));
    let status = |i: usize| {
        let s = s.clone();
        async move { s.messages.get(id(i)).await.unwrap().unwrap() }
    };
    let m0 = status(0).await;
    assert_eq!(
        (m0.status, m0.claim_token, m0.lease_expires_at),
        (MessageStatus::Pending, None, None)
    );
    assert_eq!(
        status(1).await.status,
        MessageStatus::InDoubt,
        "started, then lost: never blindly resent"
    );
    assert_eq!(status(2).await.status, MessageStatus::Processing);
    assert_eq!(status(4).await.status, MessageStatus::Sent);
    // The late worker of message 1 finds its claim gone.
    assert!(
        s.messages
            .transition(id(1), Fence::Claim(token), &Transition::sent("P1"), at(42))
            .await
            .unwrap_err()
            .is_lease_lost()
    );
    // Reconciliation moves the in-doubt message on, fenced by its status.
    let reconciled = s
        .messages
        .transition(
            id(1),
            Fence::Status(MessageStatus::InDoubt),
            &Transition::sent("P1"),
            at(43),
        )
        .await
        .unwrap();
    assert_eq!(reconciled.status, MessageStatus::Sent);
    // A rescue limit bounds the work.
    let more = s.messages.rescue(at(1000), 0).await.unwrap();
    assert_eq!(more, Default::default());
    let more = s.messages.rescue(at(1000), 10).await.unwrap();
    assert_eq!((more.pending, more.in_doubt), (1, 0));
    let counts = s.messages.count_by_status(batch).await.unwrap();
    assert_eq!((counts.pending, counts.sent, counts.total()), (3, 2, 5));
}

pub async fn messages_batched_transitions(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let batch = sending_batch(&s, 6).await;
    let token = Uuid::from_u128(7);
    let claimed = s
        .messages
        .claim(&Claim::new(4, token, Duration::from_secs(30), at(10)))
        .await
        .unwrap();
    let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
    let unclaimed = s
        .messages
        .list(&MessageQuery::new(batch, 10).statuses([MessageStatus::Pending]))
        .await
        .unwrap()[0]
        .id;
    // Send starts: the claimed ones, not the unclaimed one, not an unknown id.
    let started = s
        .messages
        .mark_send_started_many(&[ids[0], unclaimed, ids[1], 999_999], token, at(11))
        .await
        .unwrap();
    assert_eq!(started[0].as_ref().unwrap().send_started_at, Some(at(11)));
    assert!(started[1].as_ref().unwrap_err().is_lease_lost());
    assert!(started[2].is_ok());
    assert!(started[3].as_ref().unwrap_err().is_not_found());
    // Moves, each on its own fence.
    let stale = Uuid::from_u128(8);
    let results = s
        .messages
        .transition_many(
            &[
                (ids[0], Fence::Claim(token), Transition::sent("B0")),
                (ids[1], Fence::Claim(stale), Transition::sent("B1")),
                (
                    ids[2],
                    Fence::Claim(token),
                    Transition::retry(at(60)).category(ErrorCategory::Transient),
                ),
                (
                    unclaimed,
                    Fence::Status(MessageStatus::Pending),
                    Transition::to(MessageStatus::Cancelled),
                ),
                (
                    ids[3],
                    Fence::Status(MessageStatus::Pending),
                    Transition::sent("B3"),
                ),
            ],
            at(12),
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().provider_id.as_deref(),
        Some("B0")
    );
    assert!(
        results[1].as_ref().unwrap_err().is_lease_lost(),
        "a stale token moves nothing"
    );
    assert_eq!(results[2].as_ref().unwrap().run_at, at(60));
    assert_eq!(
        results[3].as_ref().unwrap().status,
        MessageStatus::Cancelled
    );
    assert!(results[4].as_ref().unwrap_err().is_lease_lost());
    assert_eq!(
        s.messages.get(ids[1]).await.unwrap().unwrap().status,
        MessageStatus::Processing
    );
    // All or nothing: a duplicate provider id, or an id twice, applies none.
    let err = s
        .messages
        .transition_many(
            &[
                (ids[1], Fence::Claim(token), Transition::sent("B1")),
                (ids[3], Fence::Claim(token), Transition::sent("B0")),
            ],
            at(13),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind().code(), "uniqueViolation");
    assert_eq!(
        s.messages.get(ids[1]).await.unwrap().unwrap().status,
        MessageStatus::Processing
    );
    let twice = s
        .messages
        .transition_many(
            &[
                (ids[1], Fence::Claim(token), Transition::sent("B1")),
                (ids[1], Fence::Claim(token), Transition::sent("B9")),
            ],
            at(13),
        )
        .await;
    assert!(twice.is_err());
    assert!(
        s.messages
            .transition_many(&[], at(14))
            .await
            .unwrap()
            .is_empty()
    );
    let counts = s.messages.count_by_status(batch).await.unwrap();
    assert_eq!(
        (
            counts.sent,
            counts.processing,
            counts.pending,
            counts.cancelled
        ),
        (1, 2, 2, 1)
    );
}

pub async fn messages_list_count_scan_and_cancel(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let batch = sending_batch(&s, 2_345).await;
    let token = Uuid::from_u128(5);
    let claimed = s
        .messages
        .claim(&Claim::new(100, token, Duration::from_secs(30), at(10)))
        .await
        .unwrap();
    for m in &claimed[..40] {
        s.messages
            .transition(
                m.id,
                Fence::Claim(token),
                &Transition::sent(format!("P{}", m.id)),
                at(11),
            )
            .await
            .unwrap();
    }
    let counts = s.messages.count_by_status(batch).await.unwrap();
    assert_eq!(
        (
            counts.pending,
            counts.processing,
            counts.sent,
            counts.total()
        ),
        (2_245, 60, 40, 2_345)
    );
    let counts_json = serde_json::to_value(counts).unwrap();
    assert_eq!(counts_json["inDoubt"], 0);
    // What is still to be settled, alone.
    let open = s.messages.count_unfinished(batch).await.unwrap();
    assert_eq!(
        (
            open.pending,
            open.processing,
            open.in_doubt,
            open.sent,
            open.total()
        ),
        (2_245, 60, 0, 0, 2_305)
    );
    // Keyset pages in id order, by status.
    let page = s
        .messages
        .list(&MessageQuery::new(batch, 10).statuses([MessageStatus::Sent]))
        .await
        .unwrap();
    assert_eq!(page.len(), 10);
    assert!(page.windows(2).all(|w| w[0].id < w[1].id));
    let next = s
        .messages
        .list(
            &MessageQuery::new(batch, 100)
                .statuses([MessageStatus::Sent])
                .after(page[9].id),
        )
        .await
        .unwrap();
    assert_eq!(next.len(), 30);
    // A scan in chunks sees every message once.
    let mut scan = MessageScan::new(Arc::clone(&s.messages), MessageQuery::new(batch, 1_000));
    let mut seen = BTreeSet::new();
    let mut chunks = 0;
    while let Some(chunk) = scan.next_chunk().await.unwrap() {
        chunks += 1;
        for m in chunk {
            assert!(seen.insert(m.id));
        }
    }
    assert_eq!((seen.len(), chunks), (2_345, 3));
    // Cancel: pending ones only.
    assert_eq!(
        s.messages.cancel_pending(batch, at(20)).await.unwrap(),
        2_245
    );
    let counts = s.messages.count_by_status(batch).await.unwrap();
    assert_eq!(
        (counts.cancelled, counts.processing, counts.pending),
        (2_245, 60, 0)
    );
    let open = s.messages.count_unfinished(batch).await.unwrap();
    assert_eq!((open.processing, open.cancelled, open.total()), (60, 0, 60));
    assert!(
        s.messages
            .claim(&Claim::new(
                10,
                Uuid::from_u128(6),
                Duration::from_secs(30),
                at(30)
            ))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.messages
            .count_by_status(Uuid::from_u128(404))
            .await
            .unwrap()
            .total(),
        0
    );
}

/// A claim can start where the claimer's last one ended (`Claim::after`): it takes only
/// messages after that one in the queue's order (run_at, then id), so a message given back
/// behind it waits for a claim from the head.
pub async fn messages_claim_after_a_cursor(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    // Five due at 1, two due later (at 3), in id order within each time.
    let rows: Vec<NewMessage> = (0..7)
        .map(|i| {
            let mut m = NewMessage::new(i + 1, format!("+44740000020{i}"), "Hi", Encoding::Gsm7);
            m.run_at = Some(if i < 5 { at(1) } else { at(3) });
            m
        })
        .collect();
    let batch = batch_sending_with(&s, &NewBatch::new(Purpose::Marketing), &rows).await;
    let lease = Duration::from_secs(60);
    let claim =
        |n: u32, token: u128, now| Claim::new(n, Uuid::from_u128(token), lease, now).batch(batch);
    let customers =
        |ms: &[smsbatch::store::Message]| ms.iter().map(|m| m.customer_id).collect::<Vec<_>>();
    let first = s.messages.claim(&claim(2, 1, at(4))).await.unwrap();
    assert_eq!(customers(&first), vec![1, 2]);
    let last = &first[1];
    let next = s
        .messages
        .claim(&claim(2, 2, at(4)).after(last.run_at, last.id))
        .await
        .unwrap();
    assert_eq!(customers(&next), vec![3, 4]);
    // Give the first back: it is behind the cursor now.
    let m = &first[0];
    s.messages
        .release(m.id, m.claim_token.unwrap(), at(4))
        .await
        .unwrap();
    let last = &next[1];
    let rest = s
        .messages
        .claim(&claim(10, 3, at(4)).after(last.run_at, last.id))
        .await
        .unwrap();
    assert_eq!(
        customers(&rest),
        vec![5, 6, 7],
        "the cursor orders by run_at, then id"
    );
    // The cursor compares run_at first: after the first one due at 3, only the second.
    assert!(
        s.messages
            .claim(&claim(10, 4, at(4)).after(at(3), rest[1].id))
            .await
            .unwrap()
            .is_empty(),
        "everything after the cursor is claimed"
    );
    // From the head: the message given back.
    let head = s.messages.claim(&claim(10, 5, at(4))).await.unwrap();
    assert_eq!(customers(&head), vec![1]);
}

/// A claim can record its messages' sends as started (`Claim::start_sends`): they carry the
/// claim's time as `send_started_at`, cannot be given back, and an expired claim makes them in
/// doubt, never pending.
pub async fn messages_claim_can_start_sends(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let rows: Vec<NewMessage> = (0..3)
        .map(|i| NewMessage::new(i + 1, format!("+44740000030{i}"), "Hi", Encoding::Gsm7))
        .collect();
    let batch = batch_sending_with(&s, &NewBatch::new(Purpose::Marketing), &rows).await;
    let token = Uuid::from_u128(9);
    let claimed = s
        .messages
        .claim(
            &Claim::new(2, token, Duration::from_secs(30), at(2))
                .batch(batch)
                .start_sends(),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    for m in &claimed {
        assert_eq!(m.status, MessageStatus::Processing);
        assert_eq!(m.send_started_at, Some(at(2)));
    }
    let err = s
        .messages
        .release(claimed[0].id, token, at(3))
        .await
        .unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    // A plain claim leaves the start to be written.
    let plain = s
        .messages
        .claim(&Claim::new(5, Uuid::from_u128(10), Duration::from_secs(30), at(2)).batch(batch))
        .await
        .unwrap();
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].send_started_at, None);
    // Both leases expire: the started ones may have reached the provider.
    let rescued = s.messages.rescue(at(60), 100).await.unwrap();
    assert_eq!((rescued.in_doubt, rescued.pending), (2, 1));
}

/// The budget guard (issue 14): each claim reserves the estimated cost on the batch; the first
/// message that would pass the budget pauses the batch (reason budget) and is not claimed;
/// moves back to pending or to failed give the reservation back.
pub async fn messages_budget_reserved_at_claim(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let mut new = NewBatch::new(Purpose::Marketing);
    new.budget = Some("0.03".parse().unwrap());
    let batch = s.batches.create(&new, at(0)).await.unwrap().batch;
    let rows: Vec<NewMessage> = (0..5)
        .map(|i| {
            let mut m = NewMessage::new(i + 1, format!("+44740000010{i}"), "Hi", Encoding::Gsm7);
            m.estimated_cost = "0.0079".parse().unwrap();
            m
        })
        .collect();
    s.messages.insert(batch.id, &rows, at(0)).await.unwrap();
    s.batches
        .transition(batch.id, BatchState::Sending, None, at(1))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let first = s
        .messages
        .claim(&Claim::new(2, Uuid::from_u128(1), lease, at(2)).batch(batch.id))
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    let b = s.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(b.budget_reserved.to_string(), "0.0158");
    assert_eq!(b.state, BatchState::Sending);
    // Three more asked for: only two fit (0.0316 > 0.03 would pass with the third)...
    let second = s
        .messages
        .claim(&Claim::new(3, Uuid::from_u128(2), lease, at(3)).batch(batch.id))
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "0.0237 fits, 0.0316 does not");
    let b = s.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(b.budget_reserved.to_string(), "0.0237");
    assert_eq!(
        (b.state, b.pause_reason),
        (BatchState::Paused, Some(PauseReason::Budget)),
        "the batch pauses before its spend would pass the budget"
    );
    // Nothing more is claimed while paused.
    assert!(
        s.messages
            .claim(&Claim::new(5, Uuid::from_u128(3), lease, at(4)))
            .await
            .unwrap()
            .is_empty()
    );
    // A failure before the provider took it, a retry and a release give reservations back;
    // an acceptance keeps its own.
    let m0 = &first[0];
    s.messages
        .transition(
            m0.id,
            Fence::Claim(m0.claim_token.unwrap()),
            &Transition::failed(ErrorCategory::InvalidRecipient),
            at(5),
        )
        .await
        .unwrap();
    let m1 = &first[1];
    s.messages
        .transition(
            m1.id,
            Fence::Claim(m1.claim_token.unwrap()),
            &Transition::sent("SMb1"),
            at(5),
        )
        .await
        .unwrap();
    let m2 = &second[0];
    s.messages
        .release(m2.id, m2.claim_token.unwrap(), at(5))
        .await
        .unwrap();
    let b = s.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(b.budget_reserved.to_string(), "0.0079", "only the sent one");
    // Resumed, it claims again within what is left (0.0221: two more).
    s.batches
        .transition(batch.id, BatchState::Sending, None, at(6))
        .await
        .unwrap();
    let third = s
        .messages
        .claim(&Claim::new(5, Uuid::from_u128(4), lease, at(7)).batch(batch.id))
        .await
        .unwrap();
    assert_eq!(third.len(), 2);
    let b = s.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(b.budget_reserved.to_string(), "0.0237");
    assert_eq!(b.state, BatchState::Paused);
    // An expired lease whose send never started gives its reservation back when rescued.
    let rescued = s.messages.rescue(at(1000), 100).await.unwrap();
    assert_eq!(rescued.pending, 2);
    let b = s.batches.get(batch.id).await.unwrap().unwrap();
    assert_eq!(b.budget_reserved.to_string(), "0.0079");
    // A batch without a budget reserves nothing.
    let free = sending_batch(&s, 3).await;
    let got = s
        .messages
        .claim(&Claim::new(3, Uuid::from_u128(5), lease, at(8)).batch(free))
        .await
        .unwrap();
    assert_eq!(got.len(), 3);
    let b = s.batches.get(free).await.unwrap().unwrap();
    assert_eq!(b.budget_reserved, Amount::ZERO);
}

/// Checks with the provider (verification and reconciliation claims), deferring a claim,
/// requeueing the failed, and the totals by status and variant.
pub async fn messages_checks_defer_requeue_and_totals(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let batch = sending_batch(&s, 6).await;
    let lease = Duration::from_secs(60);
    let token = Uuid::from_u128(0xC);
    let claimed = s
        .messages
        .claim(&Claim::new(6, token, lease, at(10)).batch(batch))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 6);
    let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
    assert_eq!(
        s.messages.next_pending_at(batch).await.unwrap(),
        None,
        "nothing pending"
    );
    // Deferred: pending again at the new time, the attempt not counted.
    let deferred = s
        .messages
        .defer(ids[5], token, at(500), at(11))
        .await
        .unwrap();
    assert_eq!(
        (deferred.status, deferred.attempts, deferred.run_at),
        (MessageStatus::Pending, 0, at(500))
    );
    assert_eq!(
        s.messages.next_pending_at(batch).await.unwrap(),
        Some(at(500)),
        "the earliest pending message's run_at"
    );
    assert_eq!(
        s.messages
            .defer(ids[5], token, at(500), at(11))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "leaseLost"
    );
    s.messages
        .mark_send_started(ids[4], token, at(11))
        .await
        .unwrap();
    assert_eq!(
        s.messages
            .defer(ids[4], token, at(500), at(12))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "leaseLost",
        "a started send is never deferred"
    );
    // Sent at 12 (two), 20 (one); one failed retryably, one failed for good; one in doubt.
    for (i, t) in [(0, 12), (1, 12), (2, 20)] {
        s.messages
            .transition(
                ids[i],
                Fence::Claim(token),
                &Transition::sent(format!("SMc{i}")),
                at(t),
            )
            .await
            .unwrap();
    }
    s.messages
        .transition(
            ids[3],
            Fence::Claim(token),
            &Transition::failed(ErrorCategory::ProviderError),
            at(12),
        )
        .await
        .unwrap();
    s.messages
        .transition(ids[4], Fence::Claim(token), &Transition::in_doubt(), at(12))
        .await
        .unwrap();
    // Counted per error category by the store (the progress's error counts); in doubt is a
    // category too.
    assert_eq!(
        s.messages.count_by_error_category(batch).await.unwrap(),
        [
            (ErrorCategory::ProviderError, 1),
            (ErrorCategory::InDoubt, 1)
        ]
    );
    assert_eq!(
        s.messages
            .count_by_error_category(Uuid::from_u128(404))
            .await
            .unwrap(),
        []
    );
    // Verification pass 1 of messages accepted by 15: two due, three outstanding.
    let checks = s
        .messages
        .claim_checks(&CheckClaim::new(
            batch,
            CheckKind::Verify { pass: 1 },
            at(15),
            10,
            lease,
            at(30),
        ))
        .await
        .unwrap();
    assert_eq!(
        checks.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[0], ids[1]]
    );
    assert_eq!(checks.outstanding, 3);
    assert!(
        checks
            .messages
            .iter()
            .all(|m| m.check_after == Some(at(90)))
    );
    // Leased: a second checker gets nothing of them.
    let again = s
        .messages
        .claim_checks(&CheckClaim::new(
            batch,
            CheckKind::Verify { pass: 1 },
            at(100),
            10,
            lease,
            at(31),
        ))
        .await
        .unwrap();
    assert_eq!(
        again.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[2]]
    );
    // One stays sent (verified, priced); one is delivered.
    let price = smsbatch::queue::Price::new("0.0079".parse().unwrap(), "USD");
    let checked = s
        .messages
        .record_check(
            ids[0],
            MessageStatus::Sent,
            &CheckResult::new()
                .verified(1)
                .provider_status("sent")
                .price(price)
                .check_after(None),
            at(32),
        )
        .await
        .unwrap();
    assert_eq!((checked.verified, checked.verified_at), (1, Some(at(32))));
    assert_eq!(checked.check_after, None);
    assert_eq!(checked.price_currency.as_deref(), Some("USD"));
    assert_eq!(
        s.messages
            .record_check(ids[0], MessageStatus::InDoubt, &CheckResult::new(), at(32))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "leaseLost"
    );
    s.messages
        .transition(
            ids[1],
            Fence::Status(MessageStatus::Sent),
            &Transition::to(MessageStatus::Delivered),
            at(33),
        )
        .await
        .unwrap();
    let left = s
        .messages
        .claim_checks(&CheckClaim::new(
            batch,
            CheckKind::Verify { pass: 1 },
            at(100),
            10,
            lease,
            at(200),
        ))
        .await
        .unwrap();
    assert_eq!(
        left.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[2]]
    );
    assert_eq!(
        left.outstanding, 1,
        "the verified and the delivered are done"
    );
    let second = s
        .messages
        .claim_checks(&CheckClaim::new(
            batch,
            CheckKind::Verify { pass: 2 },
            at(100),
            10,
            lease,
            at(200),
        ))
        .await
        .unwrap();
    assert_eq!(
        second.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[0]]
    );
    // Reconciliation claims the in-doubt one, once its send started by `due`.
    let none = s
        .messages
        .claim_checks(&CheckClaim::new(
            batch,
            CheckKind::Reconcile,
            at(5),
            10,
            lease,
            at(40),
        ))
        .await
        .unwrap();
    assert!(none.messages.is_empty());
    assert_eq!(none.outstanding, 1);
    let doubt = s
        .messages
        .claim_checks(&CheckClaim::new(
            batch,
            CheckKind::Reconcile,
            at(11),
            10,
            lease,
            at(40),
        ))
        .await
        .unwrap();
    assert_eq!(
        doubt.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[4]]
    );
    let rechecked = s
        .messages
        .record_check(
            ids[4],
            MessageStatus::InDoubt,
            &CheckResult::new().check_after(Some(at(400))),
            at(41),
        )
        .await
        .unwrap();
    assert_eq!(rechecked.check_after, Some(at(400)));
    // Totals by status (no variants here).
    let totals = s.messages.totals(batch).await.unwrap();
    let by: BTreeMap<MessageStatus, (u64, String, u64)> = totals
        .iter()
        .map(|t| {
            (
                t.status,
                (t.messages, t.estimated_cost.to_string(), t.priced),
            )
        })
        .collect();
    assert_eq!(by[&MessageStatus::Sent], (2, "0.0158".into(), 1));
    assert_eq!(by[&MessageStatus::Delivered].0, 1);
    assert_eq!(by[&MessageStatus::Pending].0, 1);
    assert_eq!(totals.iter().map(|t| t.messages).sum::<u64>(), 6);
    assert_eq!(totals.iter().map(|t| t.segments).sum::<u64>(), 6);
    // Retry the failed: only the retryable one, back to pending, attempts from zero; a
    // completed batch sends again.
    for state in [BatchState::Verifying, BatchState::Completed] {
        s.batches
            .transition(batch, state, None, at(50))
            .await
            .unwrap();
    }
    let requeued = s.messages.requeue_failed(batch, at(60)).await.unwrap();
    assert_eq!(
        (requeued.requeued, requeued.state),
        (1, BatchState::Sending)
    );
    let m = s.messages.get(ids[3]).await.unwrap().unwrap();
    assert_eq!(
        (m.status, m.attempts, m.run_at),
        (MessageStatus::Pending, 0, at(60))
    );
    let b = s.batches.get(batch).await.unwrap().unwrap();
    assert_eq!((b.state, b.completed_at), (BatchState::Sending, None));
    let again = s.messages.requeue_failed(batch, at(61)).await.unwrap();
    assert_eq!(again.requeued, 0);
    s.batches
        .transition(batch, BatchState::Cancelled, None, at(62))
        .await
        .unwrap();
    assert_eq!(
        s.messages
            .requeue_failed(batch, at(63))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "invalidTransition"
    );
    assert_eq!(
        s.messages
            .requeue_failed(Uuid::from_u128(0xDEAD), at(63))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
}

pub async fn exclusions_and_logs(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let batch = s
        .batches
        .create(&NewBatch::new(Purpose::Marketing), at(0))
        .await
        .unwrap()
        .batch
        .id;
    let mut with_phone = NewExclusion::new(2, ExclusionReason::InvalidPhone, "not a number: 12");
    with_phone.phone = Some("12".into());
    let rows = vec![
        NewExclusion::new(1, ExclusionReason::NoPhone, "phone is null"),
        with_phone,
        NewExclusion::new(3, ExclusionReason::MissingVariable, "first_name"),
        NewExclusion::new(4, ExclusionReason::MissingVariable, "first_name"),
        NewExclusion::new(1, ExclusionReason::OptedOut, "again"),
    ];
    assert_eq!(s.exclusions.insert(batch, &rows, at(1)).await.unwrap(), 4);
    let listed = s.exclusions.list(batch, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.customer_id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        (listed[1].phone.as_deref(), listed[1].created_at),
        (Some("12"), at(1))
    );
    let after = s
        .exclusions
        .list(batch, Some(listed[1].id), 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    let counts = s.exclusions.count_by_reason(batch).await.unwrap();
    assert_eq!(
        counts,
        BTreeMap::from([
            (ExclusionReason::NoPhone, 1),
            (ExclusionReason::InvalidPhone, 1),
            (ExclusionReason::MissingVariable, 2)
        ])
    );
    // Logs: append-only, in order.
    let events = vec![
        NewBatchLog::new(LogLevel::Info, "prepared", "4 excluded").data(json!({"excluded": 4})),
        NewBatchLog::new(LogLevel::Warn, "paused", "kill switch"),
    ];
    assert_eq!(s.logs.append(batch, &events, at(2)).await.unwrap(), 2);
    s.logs
        .append(
            batch,
            &[NewBatchLog::new(LogLevel::Error, "failed", "")],
            at(3),
        )
        .await
        .unwrap();
    let logs = s.logs.list(batch, None, 10).await.unwrap();
    assert_eq!(
        logs.iter().map(|l| l.event.as_str()).collect::<Vec<_>>(),
        ["prepared", "paused", "failed"]
    );
    assert_eq!(
        (logs[0].data["excluded"].clone(), logs[0].at, logs[2].level),
        (json!(4), at(2), LogLevel::Error)
    );
    assert_eq!(
        s.logs.list(batch, Some(logs[0].id), 1).await.unwrap()[0].event,
        "paused"
    );
    assert!(
        s.logs
            .append(batch, &[NewBatchLog::new(LogLevel::Info, " ", "")], at(4))
            .await
            .is_err()
    );
    assert_eq!(
        s.logs
            .append(Uuid::from_u128(3), &events, at(4))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    // Deleting the batch deletes what hangs off it.
    assert!(s.batches.delete(batch).await.unwrap());
    assert!(s.logs.list(batch, None, 10).await.unwrap().is_empty());
    assert!(s.exclusions.list(batch, None, 10).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Flags and suppressions
// ---------------------------------------------------------------------------------------------

const FLAG_STATE: &str = r#"{"version": 2,
  "features": [
    {"name": "sms-kill", "type": "kill-switch", "description": "stop sending", "enabled": false,
     "strategies": [{"name": "default"}]},
    {"name": "ab-welcome", "enabled": true,
     "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": "userId"}, "segments": [7]}],
     "variants": [{"name": "A", "weight": 500, "stickiness": "userId"}, {"name": "B", "weight": 500, "stickiness": "userId"}]}
  ],
  "segments": [{"id": 7, "name": "uk", "constraints": [{"contextName": "country", "operator": "IN", "values": ["GB"]}]}]}"#;

pub async fn flags_import_load_and_auto_create(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let state = State::from_json(FLAG_STATE).unwrap();
    let changes = s.flags.import(&state, at(0)).await.unwrap();
    assert_eq!(changes.flags.created, ["sms-kill", "ab-welcome"]);
    assert_eq!(changes.segments.created, ["7"]);
    let loaded = s.flags.load().await.unwrap();
    let mut expected = state.clone();
    expected.features.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(loaded, expected);
    let again = s.flags.import(&state, at(1)).await.unwrap();
    assert_eq!(
        (again.flags.unchanged.len(), again.segments.unchanged.len()),
        (2, 1)
    );
    // The kill switch.
    s.flags.set_enabled("sms-kill", true, at(2)).await.unwrap();
    assert!(s.flags.get("sms-kill").await.unwrap().unwrap().enabled);
    assert_eq!(
        s.flags
            .set_enabled("nope", true, at(2))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    // Flags evaluated before they existed are created off.
    let created = s
        .flags
        .ensure(
            &[
                "new-flag".into(),
                "sms-kill".into(),
                "new-flag".into(),
                "other".into(),
            ],
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(created, ["new-flag", "other"]);
    let row = s.flags.get("new-flag").await.unwrap().unwrap();
    assert_eq!(row, smsbatch::store::FlagRow::off("new-flag"));
    assert!(
        s.flags
            .ensure(&["new-flag".into()], at(4))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.flags.get("sms-kill").await.unwrap().unwrap().enabled,
        "an existing flag is left alone"
    );
    let mut row = row;
    row.enabled = true;
    row.description = Some("now on".into());
    let changes = s.flags.upsert(&[row.clone()], at(5)).await.unwrap();
    assert_eq!(changes.updated, ["new-flag"]);
    assert_eq!(s.flags.get("new-flag").await.unwrap(), Some(row));
    assert!(s.flags.delete("other").await.unwrap());
    assert!(!s.flags.delete("other").await.unwrap());
    let mut bad = smsbatch::store::FlagRow::off("bad");
    bad.variants = json!({"not": "a list"});
    assert_eq!(
        s.flags
            .upsert(&[bad], at(6))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "invalidFlagRow"
    );
    assert_eq!(s.flags.load().await.unwrap().features.len(), 3);
}

pub async fn suppressions(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let add = |p: &str, r: Option<&str>| (p.to_owned(), r.map(str::to_owned));
    let changes = s
        .suppressions
        .add(
            &[
                add("+447400000001", Some("STOP")),
                add("+447400000002", None),
                add("+447400000001", None),
            ],
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(changes.created, ["+447400000001", "+447400000002"]);
    assert_eq!(changes.unchanged, ["+447400000001"]);
    let changes = s
        .suppressions
        .add(
            &[add("+447400000002", None), add("+15550000000", None)],
            at(1),
        )
        .await
        .unwrap();
    assert_eq!(
        (changes.created, changes.unchanged),
        (
            vec!["+15550000000".to_owned()],
            vec!["+447400000002".to_owned()]
        )
    );
    assert!(s.suppressions.contains("+447400000001").await.unwrap());
    assert!(!s.suppressions.contains("+447400000009").await.unwrap());
    let checked = s
        .suppressions
        .check(&[
            "+447400000009".into(),
            "+447400000002".into(),
            "+15550000000".into(),
        ])
        .await
        .unwrap();
    assert_eq!(checked, ["+447400000002", "+15550000000"]);
    let listed = s.suppressions.list(None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|x| x.phone.as_str()).collect::<Vec<_>>(),
        ["+15550000000", "+447400000001", "+447400000002"]
    );
    assert_eq!(
        (listed[1].reason.as_deref(), listed[1].created_at),
        (Some("STOP"), at(0))
    );
    let page = s.suppressions.list(Some("+15550000000"), 1).await.unwrap();
    assert_eq!(page[0].phone, "+447400000001");
    let removed = s
        .suppressions
        .remove(&["+447400000001".into(), "+440000".into()])
        .await
        .unwrap();
    assert_eq!(removed, ["+447400000001"]);
    assert!(s.suppressions.add(&[add(" ", None)], at(2)).await.is_err());
}

// ---------------------------------------------------------------------------------------------
// Row-level security
// ---------------------------------------------------------------------------------------------

pub async fn rls_saved_filters(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let alice_claims = user(1, Some("t1"));
    let bob_claims = user(2, Some("t1"));
    let carol_claims = user(3, Some("t2"));
    let (alice, bob, carol) = (
        f.user(&alice_claims),
        f.user(&bob_claims),
        f.user(&carol_claims),
    );
    let private = saved("private", "A private", 1, Visibility::Private);
    let shared = saved(
        "shared",
        "A shared",
        1,
        Visibility::Shared {
            users: vec![uid(2)],
        },
    );
    let team = saved("team", "A team", 1, Visibility::Team);
    for filter in [&private, &shared, &team] {
        alice.saved_filters.create(filter, None).await.unwrap();
    }
    // Alice sees all three; Bob (shared with, same team) two; Carol (other team) none.
    let names = |s: &Store| {
        let s = s.clone();
        async move {
            s.saved_filters
                .list()
                .await
                .unwrap()
                .into_iter()
                .map(|f| f.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names(&alice).await, ["private", "shared", "team"]);
    assert_eq!(names(&bob).await, ["shared", "team"]);
    assert!(names(&carol).await.is_empty());
    assert_eq!(bob.saved_filters.get("private").await.unwrap(), None);
    // Bob cannot change or delete Alice's filters: invisible ones are not found, visible ones
    // are refused.
    let mut edit = private.clone();
    edit.rename("mine now", at(5));
    assert_eq!(
        bob.saved_filters
            .update(&edit)
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    assert!(!bob.saved_filters.delete("private").await.unwrap());
    let mut edit = shared.clone();
    edit.rename("mine now", at(5));
    assert!(
        bob.saved_filters
            .update(&edit)
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert!(
        bob.saved_filters
            .delete("shared")
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    let mut taken = shared.clone();
    taken.owner = uid(2);
    assert!(
        bob.saved_filters
            .import(&[taken], None)
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert_eq!(
        alice.saved_filters.get("shared").await.unwrap(),
        Some(shared.clone()),
        "unchanged"
    );
    // Nobody saves a filter in someone else's name.
    let forged = saved("forged", "F", 1, Visibility::Private);
    assert!(
        bob.saved_filters
            .create(&forged, None)
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    // Bob's own, and Alice's edits, work.
    bob.saved_filters
        .create(&saved("bobs", "B", 2, Visibility::Team), None)
        .await
        .unwrap();
    assert_eq!(names(&alice).await, ["private", "shared", "team", "bobs"]);
    alice.saved_filters.update(&edit).await.unwrap();
    assert!(alice.saved_filters.delete("private").await.unwrap());
    assert_eq!(
        f.service().saved_filters.list().await.unwrap().len(),
        3,
        "the service sees all"
    );
}

pub async fn rls_batches_and_their_rows(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let alice = f.user(&user(1, Some("t1")));
    let bob = f.user(&user(2, Some("t1")));
    let mut new = NewBatch::new(Purpose::Marketing);
    new.idempotency_key = Some("k".into());
    let batch = alice.batches.create(&new, at(0)).await.unwrap().batch;
    assert_eq!(
        (batch.owner, batch.team_id.as_deref()),
        (Some(Uuid::from_u128(1)), Some("t1"))
    );
    alice
        .messages
        .insert(
            batch.id,
            &[NewMessage::new(1, "+447400000001", "Hi", Encoding::Gsm7)],
            at(0),
        )
        .await
        .unwrap();
    alice
        .exclusions
        .insert(
            batch.id,
            &[NewExclusion::new(2, ExclusionReason::NoPhone, "")],
            at(0),
        )
        .await
        .unwrap();
    alice
        .logs
        .append(
            batch.id,
            &[NewBatchLog::new(LogLevel::Info, "created", "")],
            at(0),
        )
        .await
        .unwrap();
    alice
        .batches
        .transition(batch.id, BatchState::Sending, None, at(1))
        .await
        .unwrap();
    // Bob's same idempotency key makes his own batch.
    let bobs = bob.batches.create(&new, at(2)).await.unwrap();
    assert!(bobs.created);
    // Bob sees none of Alice's batch or its rows, and cannot change them.
    assert_eq!(bob.batches.get(batch.id).await.unwrap(), None);
    assert_eq!(bob.batches.list(&BatchQuery::new()).await.unwrap().len(), 1);
    assert_eq!(
        bob.batches
            .transition(batch.id, BatchState::Cancelled, None, at(3))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    assert_eq!(
        bob.batches
            .set_progress(batch.id, &json!({"x": 1}), at(3))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    assert!(!bob.batches.delete(batch.id).await.unwrap());
    assert!(
        bob.messages
            .list(&MessageQuery::new(batch.id, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        bob.messages
            .count_by_status(batch.id)
            .await
            .unwrap()
            .total(),
        0
    );
    assert!(
        bob.exclusions
            .list(batch.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(bob.logs.list(batch.id, None, 10).await.unwrap().is_empty());
    assert!(
        bob.messages
            .claim(&Claim::new(
                10,
                Uuid::from_u128(9),
                Duration::from_secs(30),
                at(4)
            ))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        bob.messages
            .insert(
                batch.id,
                &[NewMessage::new(5, "+447400000005", "x", Encoding::Gsm7)],
                at(4)
            )
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert!(
        bob.logs
            .append(
                batch.id,
                &[NewBatchLog::new(LogLevel::Info, "x", "")],
                at(4)
            )
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert_eq!(
        bob.messages.cancel_pending(batch.id, at(4)).await.unwrap(),
        0
    );
    // Nobody creates a batch in someone else's name.
    let mut forged = NewBatch::new(Purpose::Marketing);
    forged.owner = Some(Uuid::from_u128(1));
    assert!(
        bob.batches
            .create(&forged, at(5))
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    // Alice claims and sends her own.
    let claimed = alice
        .messages
        .claim(&Claim::new(
            10,
            Uuid::from_u128(8),
            Duration::from_secs(30),
            at(5),
        ))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        bob.messages
            .transition(
                claimed[0].id,
                Fence::Claim(Uuid::from_u128(8)),
                &Transition::sent("X"),
                at(6)
            )
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    alice
        .messages
        .transition(
            claimed[0].id,
            Fence::Claim(Uuid::from_u128(8)),
            &Transition::sent("X"),
            at(6),
        )
        .await
        .unwrap();
    assert_eq!(
        alice.messages.count_by_status(batch.id).await.unwrap().sent,
        1
    );
    assert_eq!(
        f.service()
            .batches
            .list(&BatchQuery::new())
            .await
            .unwrap()
            .len(),
        2
    );
}

pub async fn rls_customers_templates_and_anon(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let mut rows = people();
    for (i, c) in rows.iter_mut().enumerate() {
        c.team_id = Some(if i < 4 { "t1" } else { "t2" }.into());
    }
    s.customers.upsert(&rows).await.unwrap();
    s.templates
        .create(&template("t1-welcome", "Welcome", "Hi"), Some("t1"))
        .await
        .unwrap();
    s.templates
        .create(&template("t2-welcome", "Welcome 2", "Hi"), Some("t2"))
        .await
        .unwrap();
    let alice = f.user(&user(1, Some("t1")));
    let bob = f.user(&user(2, Some("t1")));
    let loner = f.user(&user(3, None));
    let all = query(json!({"count": true, "sort": [{"field": "id"}]}));
    let page = alice.customers.query(&all, &options(), None).await.unwrap();
    assert_eq!((ids(&page.rows), page.total), (vec![1, 2, 3, 4], Some(4)));
    assert_eq!(
        alice
            .customers
            .query(&all, &options(), Some("t2"))
            .await
            .unwrap()
            .total,
        Some(0)
    );
    assert_eq!(
        alice.customers.get(5).await.unwrap(),
        None,
        "another team's customer is invisible"
    );
    assert_eq!(
        loner
            .customers
            .query(&all, &options(), None)
            .await
            .unwrap()
            .total,
        Some(0)
    );
    assert!(
        alice
            .customers
            .upsert(&[customer(50, None, None)])
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert!(
        alice
            .customers
            .delete(&[1])
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    // Templates: the team's are readable; a user writes only its own.
    let names: Vec<String> = alice
        .templates
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(names, ["t1-welcome"]);
    alice
        .templates
        .create(&template("alices", "Alice's", "Hello"), None)
        .await
        .unwrap();
    assert!(
        alice
            .templates
            .create(&template("elsewhere", "E", "Hello"), Some("t2"))
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert_eq!(bob.templates.list().await.unwrap().len(), 2);
    let mut edit = template("alices", "Bob's now", "Hello");
    edit.updated_at = at(9);
    assert!(
        bob.templates
            .update(&edit)
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert!(
        bob.templates
            .delete("alices")
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert!(
        bob.templates
            .upsert(&[edit.clone()], None)
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert!(
        bob.templates
            .upsert(&[template("t2-welcome", "W", "x")], None)
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert_eq!(
        bob.templates
            .update(&template("t2-welcome", "W", "x"))
            .await
            .unwrap_err()
            .kind()
            .code(),
        "notFound"
    );
    alice.templates.update(&edit).await.unwrap();
    // Flags and suppressions: users read, and may add suppressions and missing flags only.
    s.flags
        .import(&State::from_json(FLAG_STATE).unwrap(), at(0))
        .await
        .unwrap();
    assert_eq!(alice.flags.load().await.unwrap().features.len(), 2);
    assert!(
        alice
            .flags
            .set_enabled("sms-kill", true, at(1))
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert_eq!(
        alice
            .flags
            .ensure(&["from-a-user".into()], at(1))
            .await
            .unwrap(),
        ["from-a-user"]
    );
    assert!(!s.flags.get("from-a-user").await.unwrap().unwrap().enabled);
    alice
        .suppressions
        .add(&[("+447400000099".into(), Some("STOP".into()))], at(1))
        .await
        .unwrap();
    assert!(bob.suppressions.contains("+447400000099").await.unwrap());
    assert!(
        bob.suppressions
            .remove(&["+447400000099".into()])
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    // The anonymous role reads nothing at all.
    let anon = f.anon();
    let denied = |r: smsbatch::Result<()>| assert!(r.unwrap_err().is_permission_denied());
    denied(
        anon.customers
            .query(&all, &options(), None)
            .await
            .map(|_| ()),
    );
    denied(anon.customers.get(1).await.map(|_| ()));
    denied(anon.templates.list().await.map(|_| ()));
    denied(anon.saved_filters.list().await.map(|_| ()));
    denied(anon.batches.list(&BatchQuery::new()).await.map(|_| ()));
    denied(anon.flags.load().await.map(|_| ()));
    denied(anon.flags.ensure(&["x".into()], at(2)).await.map(|_| ()));
    denied(anon.suppressions.list(None, 10).await.map(|_| ()));
    denied(
        anon.messages
            .claim(&Claim::new(
                10,
                Uuid::from_u128(1),
                Duration::from_secs(30),
                at(2),
            ))
            .await
            .map(|_| ()),
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

pub async fn concurrent_claims_take_each_message_once(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let batch = sending_batch(&s, 10_000).await;
    let mut tasks = Vec::new();
    for worker in 0..8u128 {
        let messages = Arc::clone(&s.messages);
        tasks.push(tokio::spawn(async move {
            let token = Uuid::from_u128(1_000 + worker);
            let mut mine = Vec::new();
            loop {
                let claimed = messages
                    .claim(&Claim::new(50, token, Duration::from_secs(300), at(10)).batch(batch))
                    .await
                    .expect("a claim");
                if claimed.is_empty() {
                    break;
                }
                for m in claimed {
                    assert_eq!(m.claim_token, Some(token));
                    mine.push(m.id);
                }
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut all = Vec::new();
    let mut busy = 0;
    for t in tasks {
        let mine = t.await.expect("the task finishes");
        busy += usize::from(!mine.is_empty());
        all.extend(mine);
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 10_000, "every message claimed");
    assert_eq!(unique.len(), 10_000, "no message claimed twice");
    assert!(busy >= 2, "the claims were spread over tasks ({busy})");
    let counts = s.messages.count_by_status(batch).await.unwrap();
    assert_eq!((counts.processing, counts.pending), (10_000, 0));
}

// ---------------------------------------------------------------------------------------------
// Hostile values
// ---------------------------------------------------------------------------------------------

/// Every SQL and PostgREST metacharacter, quotes, backslashes, commas, parentheses, `%`, `*`,
/// unicode, and 10 KB strings.
pub fn hostile_strings() -> Vec<String> {
    let mut v: Vec<String> = [
        "'",
        "''",
        "\"",
        "\\",
        "\\\\'",
        ",",
        "(",
        ")",
        "()",
        "%",
        "_",
        "*",
        "%_*",
        ".",
        ":",
        ";",
        "--",
        "/*",
        "*/",
        "$1",
        "$$",
        "?",
        "&",
        "=",
        "+",
        "#",
        "[",
        "]",
        "{",
        "}",
        "|",
        "^",
        "~",
        "!",
        "@",
        "<",
        ">",
        "a,b",
        "a.b",
        "eq.x",
        "not.is.null",
        "or=(a.eq.1)",
        "in.(1,2)",
        "(a,\"b\")",
        "x'); DROP TABLE customers; --",
        "1 OR 1=1",
        "null",
        "NULL",
        "true",
        " ",
        "\t",
        "\n",
        "\r\n",
        "tab\there",
        "é",
        "É",
        "ß",
        "İ",
        "ς",
        "東京",
        "🚀",
        "👩‍👩‍👧",
        "\u{202e}rtl",
        "e\u{301}",
        "\u{feff}",
        "Ünïcödé, (quoted) \"100%\" *",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.push("x".repeat(10_240));
    v.push("'\"\\,()%*".repeat(1_300));
    v.push("🚀é,".repeat(1_000));
    v
}

pub async fn hostile_values_round_trip_and_match_literally(h: &dyn Harness) {
    let Some(f) = fresh(h).await else { return };
    let s = f.service();
    let strings = hostile_strings();
    let rows: Vec<Customer> = strings
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut c = customer(i as i64 + 1, Some(v), Some(&format!("{v}{v}")));
            c.last_name = Some(format!("pre{v}"));
            c.attributes.insert(v.clone(), json!(v));
            c.attributes.insert("note".into(), json!([v, {"k": v}]));
            c
        })
        .collect();
    s.customers.upsert(&rows).await.unwrap();
    for c in &rows {
        assert_eq!(
            s.customers.get(c.id).await.unwrap().as_ref(),
            Some(c),
            "round trip of {:?}",
            c.first_name
        );
    }
    let flat: Vec<Value> = rows.iter().map(Customer::to_flat).collect();
    let long = FilterOptions::new()
        .with_now(at(0))
        .with_limits(Limits::new().with_max_value_len(20_000));
    // Each value matches literally: equals finds exactly its rows, the others what the in-memory
    // evaluator finds over the same rows (no wildcard, no injection).
    for (n, v) in strings.iter().enumerate() {
        for (op, field) in [
            ("equals", "first_name"),
            ("contains", "first_name"),
            ("startsWith", "last_name"),
            ("endsWith", "city"),
            ("notContains", "city"),
        ] {
            let filter = json!({"field": field, "op": op, "value": v});
            let condition = Condition::new(
                field,
                serde_json::from_value::<Op>(json!(op)).unwrap(),
                v.as_str(),
            );
            let q = Query {
                filter: Some(Node::Condition(condition)),
                sort: vec![SortKey::asc("id")],
                ..Query::default()
            };
            let got = ids(&s.customers.query(&q, &long, None).await.unwrap().rows);
            let compiled = Filter::from_value(&filter, &Schema::customers(), &long).unwrap();
            let expected: Vec<i64> = compiled
                .evaluator()
                .filter(&flat)
                .unwrap()
                .into_iter()
                .map(|i| rows[i].id)
                .collect();
            assert_eq!(got, expected, "{op} {v:?}");
            if op == "equals" {
                assert!(got.contains(&(n as i64 + 1)), "{v:?} finds its own row");
            }
        }
        // Free-text search: the same rows as the evaluator, or the same error.
        let q = Query {
            search: Some(v.clone()),
            sort: vec![SortKey::asc("id")],
            ..Query::default()
        };
        let got = s
            .customers
            .query(&q, &long, None)
            .await
            .map(|p| ids(&p.rows));
        let expected = q
            .compile(&Schema::customers(), &long)
            .and_then(|c| c.run(&flat))
            .map(|p| p.rows.into_iter().map(|i| rows[i].id).collect::<Vec<_>>());
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected, "search {v:?}"),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "search {v:?}"),
            (got, expected) => panic!("search {v:?}: {got:?} but {expected:?}"),
        }
    }
    assert_eq!(
        s.customers
            .query(&query(json!({"count": true})), &options(), None)
            .await
            .unwrap()
            .total,
        Some(rows.len() as u64),
        "the table is still there"
    );
    // Other tables keep them as they were given.
    let mut t = template("hostile", &strings[45], "Hi {{first_name}}");
    t.description = strings.join("|");
    t.tags = strings[..20].to_vec();
    s.templates.create(&t, Some(&strings[1])).await.unwrap();
    assert_eq!(s.templates.get("hostile").await.unwrap(), Some(t));
    let mut sf = saved(&strings[44], &strings[43], 1, Visibility::Private);
    sf.description = strings[60].clone();
    let short = strings.iter().filter(|v| v.chars().count() <= 1_000);
    sf.filter = Document::from_value(&json!({"version": 1, "where": {"or": short.map(|v| json!({"field": "city", "op": "contains", "value": v})).collect::<Vec<_>>()}})).unwrap();
    s.saved_filters.create(&sf, None).await.unwrap();
    assert_eq!(s.saved_filters.get(&strings[44]).await.unwrap(), Some(sf));
    let mut nb = NewBatch::new(Purpose::Marketing);
    nb.sender = Some(strings[45].clone());
    nb.idempotency_key = Some(strings[46].clone());
    nb.options = json!({"x": strings});
    let batch = s.batches.create(&nb, at(0)).await.unwrap().batch;
    assert_eq!(
        (batch.sender.as_deref(), &batch.options),
        (nb.sender.as_deref(), &nb.options)
    );
    let logs: Vec<NewBatchLog> = strings
        .iter()
        .map(|v| NewBatchLog::new(LogLevel::Info, v.clone(), v.clone()).data(json!({v.clone(): v})))
        .filter(|l| !l.event.trim().is_empty())
        .collect();
    s.logs.append(batch.id, &logs, at(1)).await.unwrap();
    let back = s.logs.list(batch.id, None, 1_000).await.unwrap();
    assert_eq!(
        back.iter()
            .map(|l| (&l.event, &l.message, &l.data))
            .collect::<Vec<_>>(),
        logs.iter()
            .map(|l| (&l.event, &l.message, &l.data))
            .collect::<Vec<_>>()
    );
    let phones: Vec<(String, Option<String>)> = strings
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| (p.clone(), Some(p.clone())))
        .collect();
    s.suppressions.add(&phones, at(2)).await.unwrap();
    let probe: Vec<String> = phones.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(s.suppressions.check(&probe).await.unwrap(), probe);
}
