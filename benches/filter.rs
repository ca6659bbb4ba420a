//! Filter benches: compile a 20-condition filter to each back end, and evaluate it in memory over
//! 1,000,000 rows (as JSON rows, and as a pre-parsed `Table`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use smsbatch::filter::{Filter, FilterOptions, Node, Schema, Table};

/// Twenty conditions over every type, with groups and negations, as the customer page builds them.
fn filter_json() -> Value {
    json!({"and": [
        {"field": "opted_in", "op": "isNotFalse"},
        {"field": "phone", "op": "isNotEmpty"},
        {"field": "phone", "op": "notStartsWith", "value": "+1900"},
        {"or": [
            {"field": "city", "op": "in", "value": ["Paris", "Lyon", "Marseille", "Lille"]},
            {"field": "country", "op": "equals", "value": "BE"},
            {"field": "city", "op": "contains", "value": "saint"}
        ]},
        {"not": {"field": "email", "op": "endsWith", "value": "@example.com"}},
        {"field": "first_name", "op": "notContains", "value": "test"},
        {"field": "last_name", "op": "notEquals", "value": "Doe"},
        {"field": "total_spent", "op": "between", "value": [10, 5000]},
        {"field": "orders_count", "op": "gte", "value": 1},
        {"field": "orders_count", "op": "notIn", "value": [13, 666]},
        {"field": "date_create", "op": "withinLastDays", "value": 3650},
        {"field": "date_create", "op": "notBetween", "value": ["2020-03-01", "2020-03-31"]},
        {"field": "last_order_at", "op": "gt", "value": "2015-01-01"},
        {"field": "birthday", "op": "lte", "value": "2008-01-01"},
        {"field": "birthday", "op": "notEquals", "value": "1970-01-01"},
        {"or": [
            {"field": "language", "op": "equals", "value": "fr"},
            {"field": "language", "op": "isEmpty"},
            {"not": {"field": "gender", "op": "in", "value": ["x"]}}
        ]}
    ]})
}

fn options() -> FilterOptions {
    FilterOptions::new()
        .with_now_rfc3339("2025-01-01T00:00:00Z")
        .expect("valid now")
}

fn rows(n: usize) -> Vec<Value> {
    let cities = [
        "Paris",
        "Lyon",
        "Saint-Étienne",
        "Nantes",
        "Lille",
        "",
        "Bordeaux",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let r = next();
            json!({
                "id": i,
                "first_name": if r % 11 == 0 { Value::Null } else { json!(format!("Name{}", r % 1000)) },
                "last_name": format!("Family{}", (r >> 8) % 5000),
                "phone": if r % 7 == 0 { json!("") } else { json!(format!("+33{:09}", r % 1_000_000_000)) },
                "email": format!("user{}@{}.com", r % 100_000, if r % 3 == 0 { "example" } else { "mail" }),
                "city": cities[(r >> 16) as usize % cities.len()],
                "country": if r % 5 == 0 { "BE" } else { "FR" },
                "language": if r % 4 == 0 { Value::Null } else { json!("fr") },
                "gender": if r % 2 == 0 { "f" } else { "m" },
                "date_create": format!("20{:02}-{:02}-{:02}T{:02}:00:00Z", 15 + (r >> 20) % 10, 1 + (r >> 24) % 12, 1 + (r >> 28) % 28, (r >> 32) % 24),
                "last_order_at": if r % 9 == 0 { Value::Null } else { json!(format!("2016-0{}-01T00:00:00Z", 1 + (r >> 36) % 9)) },
                "birthday": format!("19{:02}-{:02}-{:02}", 50 + (r >> 40) % 50, 1 + (r >> 44) % 12, 1 + (r >> 48) % 28),
                "total_spent": ((r >> 52) % 10_000) as f64 / 3.0,
                "orders_count": (r >> 56) % 40,
                "opted_in": if r % 13 == 0 { Value::Null } else { json!(r % 6 != 0) },
            })
        })
        .collect()
}

fn compile(c: &mut Criterion) {
    let schema = Schema::customers();
    let json = filter_json();
    let node = Node::from_value(&json).expect("valid filter");
    let filter = Filter::compile(&node, &schema, &options()).expect("compiles");
    c.bench_function("filter/parse+validate+lower (20 conditions)", |b| {
        b.iter(|| Filter::from_value(black_box(&json), &schema, &options()).expect("compiles"))
    });
    c.bench_function("filter/emit postgrest (20 conditions)", |b| {
        b.iter(|| black_box(&filter).postgrest().query_string())
    });
    c.bench_function("filter/emit sql (20 conditions)", |b| {
        b.iter(|| black_box(&filter).sql_where())
    });
    c.bench_function("filter/build evaluator (20 conditions)", |b| {
        b.iter(|| black_box(&filter).evaluator())
    });
}

fn evaluate(c: &mut Criterion) {
    let schema = Schema::customers();
    let filter = Filter::from_value(&filter_json(), &schema, &options()).expect("compiles");
    let rows = rows(1_000_000);
    let evaluator = filter.evaluator();
    let table = Table::from_rows(&schema, &rows).expect("valid rows");
    let matched = evaluator.filter(&rows).expect("valid rows").len();
    assert_eq!(
        evaluator.filter_table(&table).expect("same schema").len(),
        matched
    );
    eprintln!("filter bench: {matched} of {} rows match", rows.len());
    let mut group = c.benchmark_group("filter/evaluate 1M rows");
    group.sample_size(10);
    group.bench_function("json rows", |b| {
        b.iter(|| evaluator.filter(black_box(&rows)).expect("valid rows"))
    });
    group.bench_function("pre-parsed table", |b| {
        b.iter(|| {
            evaluator
                .filter_table(black_box(&table))
                .expect("same schema")
        })
    });
    group.finish();
}

criterion_group!(benches, compile, evaluate);
criterion_main!(benches);
