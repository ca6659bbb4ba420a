//! The differential test on the real PostgreSQL server: random filter trees over random
//! customer rows full of NULLs, empty strings and hostile values must select the same ids through
//! the SQL back end, the in-memory evaluator (JSON rows and pre-parsed tables) and the PostgREST
//! parameters (run through the test-only PostgREST interpreter, which is checked against
//! PostgREST's own golden cases, and sent over HTTP to the PostgREST-compatible test server),
//! and random queries (search, sort, offset or keyset pages, counts) the same pages.
//!
//! Strings are drawn from hostile characters and words, leaving out only the code points whose
//! lowercase differs between Rust and this server (asked of the server at the start; the
//! library's unit tests hold that set to the one its evaluator documents).

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use smsbatch::filter::{
    Cursor, Direction, Filter, FilterOptions, Nulls, Op, Query, Schema, SortKey, Table,
};

use super::pg::TestDb;
use super::postgrest_interp::interpret;
use crate::postgrest_server::support::Api;

const NOW: &str = "2024-06-15T12:34:56.789012Z";
const ROWS: usize = 400;

/// Characters that break naive escaping, plus case-folding traps that PostgreSQL and Rust agree on.
const HOSTILE: &[char] = &[
    ',', '(', ')', '"', '\\', '*', '%', '_', '+', '.', ':', '\'', ' ', '\t', '\n', '{', '}', '[',
    ']', '$', '?', '^', '|', '&', '=', '#', '/', 'a', 'A', 'b', 'B', 'i', 'I', 'z', '0', '1', '5',
    'é', 'É', 'ß', 'ẞ', 'İ', 'ı', 'Σ', 'σ', 'ς', 'ǅ', 'ǆ', 'K', 'Ÿ', 'ÿ', '東', '🚀', '\u{301}',
];

const WORDS: &[&str] = &[
    "Anna",
    " anna ",
    "ANNA",
    "Smith, John",
    "Seven(007)",
    "say \"hi\"",
    "C:\\path\\x",
    "a*b",
    "axxb",
    "50% off",
    "a_b",
    "+15551234567",
    "+1 555 123",
    "İstanbul",
    "istanbul",
    "ıi",
    "ΟΔΥΣΣΕΥΣ",
    "οδυσσευς",
    "straße",
    "STRASSE",
    "ẞ",
    "東京 🚀",
    "null",
    "NULL",
    "",
    "  ",
    "x.y:z",
    "it's",
    "{x,y}",
    "john.doe@example.com",
    "Zoë",
    "ZOË",
    "ǅemal",
    "Ünïcödé",
    "tab\there",
    "line\nbreak",
    "\\",
    "\"",
    "*",
    "%",
    "_",
    "(",
    ")",
];

/// A small xorshift generator: the rows are the same on every run, the filters are not.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Rust's lowercase of one character as the evaluator takes it (Unicode's simple mapping, which
/// differs from the full one only for `İ`).
fn rust_lowercase(c: char) -> String {
    if c == '\u{130}' {
        "i".to_owned()
    } else {
        c.to_lowercase().collect()
    }
}

/// Whether this server's `lower()` under `C.UTF-8` disagrees with Rust on `c`. The server is
/// asked once for every character its `lower()` changes.
fn lowercase_differs(c: char) -> bool {
    static LOWER: std::sync::OnceLock<std::collections::HashMap<char, String>> =
        std::sync::OnceLock::new();
    let lower = LOWER.get_or_init(|| {
        // Without a server the database tests skip, so what the rows hold does not matter.
        let Some(mut db) = TestDb::create("lower") else {
            return std::collections::HashMap::new();
        };
        db.query_text(
            "SELECT c, lower(chr(c)) FROM generate_series(1, 1114111) AS c
             WHERE c NOT BETWEEN 55296 AND 57343 AND lower(chr(c)) <> chr(c)",
            &[],
        )
        .iter()
        .filter_map(|r| Some((char::from_u32(r.get::<_, i32>(0) as u32)?, r.get(1))))
        .collect()
    });
    let theirs = lower.get(&c).cloned().unwrap_or_else(|| c.to_string());
    theirs != rust_lowercase(c)
}

fn random_char(rng: &mut Rng) -> char {
    loop {
        let c = if rng.chance(80) {
            *rng.pick(HOSTILE)
        } else {
            match char::from_u32(rng.below(0x2FFFF) as u32 + 1) {
                Some(c) => c,
                None => continue,
            }
        };
        if !lowercase_differs(c) {
            return c;
        }
    }
}

fn random_string(rng: &mut Rng) -> String {
    if rng.chance(60) {
        let word = *rng.pick(WORDS);
        if rng.chance(70) {
            return word.to_owned();
        }
        // A word with hostile characters around it.
        let mut s = String::new();
        for _ in 0..rng.below(3) {
            s.push(random_char(rng));
        }
        s.push_str(word);
        for _ in 0..rng.below(3) {
            s.push(random_char(rng));
        }
        return s;
    }
    (0..rng.below(7)).map(|_| random_char(rng)).collect()
}

fn maybe(rng: &mut Rng, null_percent: u64, v: impl FnOnce(&mut Rng) -> Value) -> Value {
    if rng.chance(null_percent) {
        Value::Null
    } else {
        v(rng)
    }
}

const NUMBERS: &[f64] = &[
    -1.0,
    -0.25,
    0.0,
    0.5,
    3.0,
    7.0,
    10.0,
    10.5,
    99.99,
    100.0,
    1_000_000.0,
];

fn random_date(rng: &mut Rng) -> String {
    if rng.chance(30) {
        // Near "today" so withinLastDays has something to find.
        let day = 15 - rng.below(20) as i64;
        let d = smsbatch::Date::new(2024, 6, 1)
            .and_then(|d| d.checked_add_days(day - 1))
            .expect("date in range");
        return d.to_string();
    }
    format!(
        "{:04}-{:02}-{:02}",
        1950 + rng.below(80),
        1 + rng.below(12),
        1 + rng.below(28)
    )
}

fn random_timestamp(rng: &mut Rng) -> String {
    let date = random_date(rng);
    match rng.below(4) {
        0 => format!("{date}T00:00:00Z"),
        1 => format!("{date}T23:59:59.999999Z"),
        2 => format!(
            "{date}T{:02}:{:02}:{:02}.{:06}Z",
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1_000_000)
        ),
        _ => format!("{date}T{:02}:30:00+0{}:00", rng.below(24), 1 + rng.below(5)),
    }
}

fn rows() -> Vec<Value> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (1..=ROWS)
        .map(|id| {
            let mut row = serde_json::Map::new();
            row.insert("id".into(), json!(id));
            for f in [
                "first_name",
                "last_name",
                "phone",
                "email",
                "city",
                "country",
                "language",
                "gender",
            ] {
                let v = if rng.chance(20) {
                    Value::Null
                } else if rng.chance(12) {
                    json!("")
                } else {
                    json!(random_string(&mut rng))
                };
                row.insert(f.into(), v);
            }
            row.insert(
                "date_create".into(),
                maybe(&mut rng, 20, |r| json!(random_timestamp(r))),
            );
            row.insert(
                "last_order_at".into(),
                maybe(&mut rng, 30, |r| json!(random_timestamp(r))),
            );
            row.insert(
                "birthday".into(),
                maybe(&mut rng, 25, |r| json!(random_date(r))),
            );
            row.insert(
                "total_spent".into(),
                maybe(&mut rng, 20, |r| json!(*r.pick(NUMBERS))),
            );
            row.insert(
                "orders_count".into(),
                maybe(&mut rng, 20, |r| json!(r.below(6))),
            );
            row.insert(
                "opted_in".into(),
                maybe(&mut rng, 25, |r| json!(r.chance(50))),
            );
            row.insert(
                "opted_out".into(),
                maybe(&mut rng, 25, |r| json!(r.chance(10))),
            );
            Value::Object(row)
        })
        .collect()
}

/// Values for filters: the rows' own values (so filters match something), pieces of them, and
/// fresh hostile strings.
struct Pools {
    strings: Vec<String>,
    dates: Vec<String>,
    timestamps: Vec<String>,
}

fn pools(rows: &[Value]) -> Pools {
    let mut strings = BTreeSet::new();
    let mut dates = BTreeSet::new();
    let mut timestamps = BTreeSet::new();
    for row in rows {
        for (k, v) in row.as_object().expect("object") {
            if let Value::String(s) = v {
                match k.as_str() {
                    "birthday" => {
                        dates.insert(s.clone());
                    }
                    "date_create" | "last_order_at" => {
                        timestamps.insert(s.clone());
                        dates.insert(s[..10].to_owned());
                    }
                    _ => {
                        strings.insert(s.clone());
                        let chars: Vec<char> = s.chars().collect();
                        if chars.len() > 2 {
                            strings.insert(chars[1..chars.len() - 1].iter().collect());
                            strings.insert(chars[..2].iter().collect::<String>().to_uppercase());
                        }
                    }
                }
            }
        }
    }
    let mut rng = Rng(42);
    for _ in 0..200 {
        strings.insert(random_string(&mut rng));
    }
    for w in WORDS {
        strings.insert((*w).to_owned());
        strings.insert(w.to_uppercase());
        strings.insert(w.chars().map(rust_lowercase).collect());
    }
    dates.extend(
        [
            "2024-06-15",
            "2024-06-14",
            "2024-06-16",
            "2000-02-29",
            "1990-01-01",
        ]
        .map(String::from),
    );
    timestamps.extend(
        [
            "2024-06-15T12:34:56.789012Z",
            "2024-06-15T14:34:56.789012+02:00",
        ]
        .map(String::from),
    );
    Pools {
        strings: strings.into_iter().filter(|s| !s.contains('\0')).collect(),
        dates: dates.into_iter().collect(),
        timestamps: timestamps.into_iter().collect(),
    }
}

/// The integer columns of the test table. PostgREST casts a value to its column's type, so a
/// fractional value on an integer column is a 400 there (while SQL compares numerically): integer
/// columns get integer values.
const INTEGER_COLUMNS: &[&str] = &["id", "orders_count"];

fn value_for(field: &str, ty: smsbatch::filter::FieldType, pools: &Pools) -> BoxedStrategy<Value> {
    use smsbatch::filter::FieldType::*;
    match ty {
        String => prop::sample::select(pools.strings.clone())
            .prop_map(Value::String)
            .boxed(),
        Number if INTEGER_COLUMNS.contains(&field) => {
            prop_oneof![-1i64..8, Just(100), Just(1_000_000)]
                .prop_map(|n| json!(n))
                .boxed()
        }
        Number => prop::sample::select(NUMBERS.to_vec())
            .prop_map(|f| json!(f))
            .boxed(),
        Date => prop::sample::select(pools.dates.clone())
            .prop_map(Value::String)
            .boxed(),
        // Instants and date-only values (whole UTC days).
        Timestamp => prop_oneof![
            prop::sample::select(pools.timestamps.clone()).prop_map(Value::String),
            prop::sample::select(pools.dates.clone()).prop_map(Value::String),
        ]
        .boxed(),
        Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
        other => panic!("no values for {other:?} fields yet"),
    }
}

fn condition(schema: &Schema, pools: &Pools) -> BoxedStrategy<Value> {
    let mut options = Vec::new();
    for field in schema.fields() {
        for &op in Op::ALL.iter().filter(|op| op.applies_to(field.ty)) {
            let name = field.name.clone();
            let value = value_for(&field.name, field.ty, pools);
            let s: BoxedStrategy<Value> = match op.value_shape() {
                smsbatch::filter::ValueShape::None => {
                    Just(json!({"field": name, "op": op.as_str()})).boxed()
                }
                smsbatch::filter::ValueShape::Scalar => value
                    .prop_map(move |v| json!({"field": name, "op": op.as_str(), "value": v}))
                    .boxed(),
                smsbatch::filter::ValueShape::List => prop::collection::vec(value, 0..4)
                    .prop_map(move |v| json!({"field": name, "op": op.as_str(), "value": v}))
                    .boxed(),
                smsbatch::filter::ValueShape::Pair => (value.clone(), value)
                    .prop_map(
                        move |(a, b)| json!({"field": name, "op": op.as_str(), "value": [a, b]}),
                    )
                    .boxed(),
                smsbatch::filter::ValueShape::Days => prop_oneof![0u64..40, 0u64..30_000]
                    .prop_map(move |d| json!({"field": name, "op": op.as_str(), "value": d}))
                    .boxed(),
            };
            options.push(s);
        }
    }
    prop::strategy::Union::new(options).boxed()
}

fn tree(schema: &Schema, pools: &Pools) -> BoxedStrategy<Value> {
    condition(schema, pools)
        .prop_recursive(4, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({ "and": v })),
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({ "or": v })),
                inner.prop_map(|n| json!({ "not": n })),
            ]
        })
        .boxed()
}

/// The PostgREST-compatible test server over the test database, reading as `anon`.
fn server(db: &mut TestDb) -> smsbatch_postgrest_testserver::Server {
    db.client
        .batch_execute(smsbatch_postgrest_testserver::SUPABASE_ROLES_SQL)
        .expect("API roles");
    db.client
        .batch_execute("GRANT SELECT ON customers TO anon")
        .expect("grant");
    smsbatch_postgrest_testserver::Server::start(smsbatch_postgrest_testserver::Config::new(
        db.url(),
    ))
    .expect("the test server starts")
}

/// The `id`s of a JSON array of rows from the server.
fn http_ids(body: &str) -> Result<Vec<i32>, TestCaseError> {
    let rows: Vec<Value> = serde_json::from_str(body)
        .map_err(|e| TestCaseError::fail(format!("not a JSON array ({e}): {body}")))?;
    Ok(rows
        .iter()
        .map(|r| r["id"].as_i64().unwrap_or(-1) as i32)
        .collect())
}

/// The total after `/` in `Content-Range`.
fn content_range_total(header: Option<&str>) -> Option<usize> {
    header?.rsplit('/').next()?.parse().ok()
}

/// Shifts `$n` placeholders by `offset` (values are never in the SQL text, so every `$` is one).
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' {
            let mut n = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(*d);
                chars.next();
            }
            let n: usize = n.parse().expect("placeholder number");
            out.push_str(&(n + offset).to_string());
        }
    }
    out
}

fn ids(rows: &[Value], positions: &[usize]) -> Vec<i32> {
    positions
        .iter()
        .map(|&i| rows[i]["id"].as_i64().expect("id") as i32)
        .collect()
}

#[test]
fn sql_and_memory_agree_on_random_filters() {
    let schema = Schema::customers();
    let rows = rows();
    let table = Table::from_rows(&schema, &rows).expect("valid rows");
    let pools = pools(&rows);
    let options = FilterOptions::new().with_now_rfc3339(NOW).expect("now");
    let Some(mut db) = TestDb::create("diff") else {
        return;
    };
    db.load_customers(&rows);
    let server = server(&mut db);
    let api = Api::new(server.url());
    let db = std::cell::RefCell::new(db);

    const BATCH: usize = 50;
    let cases: u32 = std::env::var("SMSBATCH_DIFF_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let checked = std::cell::Cell::new(0usize);
    let nonempty = std::cell::Cell::new(0usize);
    let strategy = prop::collection::vec(tree(&schema, &pools), BATCH);
    let result = runner.run(&strategy, |filters| {
        let compiled: Vec<Filter> = filters
            .iter()
            .map(|f| {
                Filter::from_value(f, &schema, &options)
                    .map_err(|e| TestCaseError::fail(format!("{f}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        // One statement for the whole batch: SELECT ARRAY(..), ARRAY(..), ... with, for each
        // filter, its SQL and what PostgREST would run for its query string.
        let mut sql = String::from("SELECT ");
        let mut params = Vec::new();
        let mut queries = Vec::new();
        for (i, f) in compiled.iter().enumerate() {
            let w = f.sql_where();
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "ARRAY(SELECT id FROM customers WHERE {} ORDER BY id)",
                renumber(w.where_clause(), params.len())
            ));
            params.extend(w.text_params());
            let query = f.postgrest().query_string();
            let request = interpret(&query).map_err(|e| {
                TestCaseError::fail(format!("PostgREST would answer 400 ({e}) for {query}"))
            })?;
            sql.push_str(&format!(
                ", ARRAY(SELECT id FROM customers WHERE {} ORDER BY id)",
                request.where_sql()
            ));
            queries.push(query);
        }
        let row = db
            .borrow_mut()
            .query_text(&sql, &params)
            .pop()
            .expect("one row");
        for (i, f) in compiled.iter().enumerate() {
            let from_sql: Vec<i32> = row.get(2 * i);
            let from_postgrest: Vec<i32> = row.get(2 * i + 1);
            let ev = f.evaluator();
            let from_memory = ids(
                &rows,
                &ev.filter(&rows)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?,
            );
            prop_assert_eq!(
                &from_sql,
                &from_memory,
                "filter {}\nSQL {}\nparams {:?}",
                filters[i],
                f.sql_where().where_clause(),
                f.sql_where().text_params()
            );
            let from_table = ids(
                &rows,
                &ev.filter_table(&table)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?,
            );
            prop_assert_eq!(&from_table, &from_memory);
            prop_assert_eq!(
                &from_postgrest,
                &from_memory,
                "filter {}\nPostgREST {}",
                filters[i],
                queries[i]
            );
            // The same parameters over HTTP, through the PostgREST-compatible server.
            let resp = api.get(
                "/customers",
                &format!("select=id&order=id&{}", queries[i]),
                &[],
            );
            prop_assert_eq!(resp.status, 200, "{}: {}", queries[i], resp.body);
            let from_http = http_ids(&resp.body)?;
            prop_assert_eq!(
                &from_http,
                &from_sql,
                "filter {}\nover HTTP {}",
                filters[i],
                queries[i]
            );
            checked.set(checked.get() + 1);
            if !from_sql.is_empty() && from_sql.len() < ROWS {
                nonempty.set(nonempty.get() + 1);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (checked, nonempty) = (checked.get(), nonempty.get());
    eprintln!("differential: {checked} filters agreed ({nonempty} selected some but not all rows)");
    assert!(checked >= cases as usize * BATCH);
    // The generators must produce discriminating filters, not only all-or-nothing ones.
    assert!(
        nonempty * 3 > checked,
        "only {nonempty} of {checked} filters were selective"
    );
}

/// A random query: filter, search, sort keys, limit, offset, and the row a keyset cursor is taken from.
type QueryCase = (
    Value,
    Option<String>,
    Vec<SortKey>,
    Option<u64>,
    u64,
    Option<usize>,
);

fn query_strategy(schema: &Schema, pools: &Pools) -> BoxedStrategy<QueryCase> {
    let sortable: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| f.sortable)
        .map(|f| f.name.clone())
        .collect();
    let key = (prop::sample::select(sortable), any::<bool>(), any::<bool>()).prop_map(
        |(field, desc, first)| SortKey {
            field,
            direction: if desc {
                Direction::Desc
            } else {
                Direction::Asc
            },
            nulls: if first { Nulls::First } else { Nulls::Last },
        },
    );
    let search = prop::option::weighted(
        0.3,
        prop::sample::select(vec![
            "a", "ann", "  ", "%", "_ b", "İ", "σ", "\\", "*", ", (",
        ]),
    )
    .prop_map(|s| s.map(String::from));
    (
        tree(schema, pools),
        search,
        prop::collection::vec(key, 0..3),
        prop::option::of(0u64..40),
        prop_oneof![Just(0u64), 0u64..60],
        prop::option::weighted(0.4, 0usize..ROWS),
    )
        .prop_filter("unique sort keys", |(_, _, keys, _, _, _)| {
            let names: BTreeSet<&str> = keys.iter().map(|k| k.field.as_str()).collect();
            names.len() == keys.len()
        })
        .boxed()
}

#[test]
fn sql_and_memory_agree_on_random_queries() {
    let schema = Schema::customers();
    let rows = rows();
    let table = Table::from_rows(&schema, &rows).expect("valid rows");
    let pools = pools(&rows);
    let options = FilterOptions::new().with_now_rfc3339(NOW).expect("now");
    let Some(mut db) = TestDb::create("query") else {
        return;
    };
    db.load_customers(&rows);
    let server = server(&mut db);
    let api = Api::new(server.rest_url());
    let db = std::cell::RefCell::new(db);
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(
        &query_strategy(&schema, &pools),
        |(filter, search, sort, limit, offset, cursor_row)| {
            let mut query = Query {
                filter: Some(
                    serde_json::from_value(filter.clone())
                        .map_err(|e| TestCaseError::fail(e.to_string()))?,
                ),
                search,
                sort,
                limit,
                count: true,
                ..Query::default()
            };
            let compiled = query
                .compile(&schema, &options)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            match cursor_row {
                // Keyset: continue after some row (in the sort order, whether or not it matches).
                Some(i) => query.after = Some(compiled.cursor_after(&rows[i])),
                None => query.offset = Some(offset),
            }
            let compiled = query
                .compile(&schema, &options)
                .map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let memory = compiled
                .run(&rows)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            // The same page from the rows parsed once into a table.
            let from_table = compiled
                .run_table(&rows, &table)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&from_table, &memory);
            let sql = compiled
                .sql_query("customers", &["id"])
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let page: Vec<i32> = db
                .borrow_mut()
                .query_text(sql.select(), &sql.select_statement().text_params())
                .iter()
                .map(|r| r.get(0))
                .collect();
            prop_assert_eq!(
                &page,
                &ids(&rows, &memory.rows),
                "query {:?}\nSQL {}",
                query,
                sql.select()
            );
            // PostgREST: the page request (filter with cursor, order, limit, offset) and the count.
            let request = compiled.postgrest();
            let interpreted = interpret(&request.query_string())
                .map_err(|e| TestCaseError::fail(format!("400: {e}")))?;
            let via_postgrest: Vec<i32> = db
                .borrow_mut()
                .query_text(&interpreted.select_sql("id", "customers"), &[])
                .iter()
                .map(|r| r.get(0))
                .collect();
            prop_assert_eq!(
                &via_postgrest,
                &page,
                "PostgREST {}",
                request.query_string()
            );
            // ... and over HTTP: the page (and its total when it counts), then the count-only
            // HEAD request with its total in Content-Range.
            let prefer: Vec<(&str, &str)> = request
                .prefer()
                .map(|p| ("Prefer", p))
                .into_iter()
                .collect();
            let resp = api.send(
                if request.head() { "HEAD" } else { "GET" },
                "/customers",
                &format!("select=id&{}", request.query_string()),
                &prefer,
                None,
            );
            if resp.status == 416 {
                // PostgREST answers 416 (PGRST103) to a counted page whose offset is past the
                // total (the total still in Content-Range), and to `limit=0` with an offset
                // (its range arithmetic makes that an empty range): both are empty pages.
                prop_assert!(page.is_empty(), "416 for a non-empty page: {}", resp.body);
                let offset = query.offset.unwrap_or(0) as usize;
                if query.limit == Some(0) && offset > 0 {
                    prop_assert!(resp.body.contains("PGRST103"), "{}", resp.body);
                } else {
                    prop_assert_eq!(
                        content_range_total(resp.header("content-range")),
                        memory.total
                    );
                    prop_assert!(memory.total.is_some_and(|t| offset > t));
                }
            } else {
                prop_assert!(
                    matches!(resp.status, 200 | 206),
                    "{}: {} {}",
                    request.query_string(),
                    resp.status,
                    resp.body
                );
                prop_assert_eq!(
                    &http_ids(&resp.body)?,
                    &page,
                    "over HTTP {}",
                    request.query_string()
                );
                if request.prefer().is_some() {
                    prop_assert_eq!(
                        content_range_total(resp.header("content-range")),
                        memory.total
                    );
                }
            }
            let count_request = compiled.postgrest_count();
            let prefer: Vec<(&str, &str)> = count_request
                .prefer()
                .map(|p| ("Prefer", p))
                .into_iter()
                .collect();
            let resp = api.send(
                if count_request.head() { "HEAD" } else { "GET" },
                "/customers",
                &count_request.query_string(),
                &prefer,
                None,
            );
            prop_assert!(
                matches!(resp.status, 200 | 206),
                "{}: {}",
                count_request.query_string(),
                resp.status
            );
            prop_assert_eq!(
                content_range_total(resp.header("content-range")),
                memory.total
            );
            let count_request =
                interpret(&count_request.query_string()).map_err(TestCaseError::fail)?;
            let counted: i64 = db.borrow_mut().query_text(
                &format!(
                    "SELECT count(*) FROM customers WHERE {}",
                    count_request.where_sql()
                ),
                &[],
            )[0]
            .get(0);
            prop_assert_eq!(Some(counted as usize), memory.total);
            let count = sql.count_statement();
            let total: i64 = db
                .borrow_mut()
                .query_text(count.text(), &count.text_params())[0]
                .get(0);
            prop_assert_eq!(Some(total as usize), memory.total);
            if let Some(Cursor(values)) = &memory.next {
                prop_assert_eq!(values.len(), compiled.postgrest_order().split(',').count());
            }
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
