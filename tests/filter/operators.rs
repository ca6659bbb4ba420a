//! The operator spec (`tests/data/filter/operators.json`): every operator × type × NULL/empty
//! rule, with the rows each must keep, run in memory (here) and on PostgreSQL (`pg_operators`).

use serde_json::Value;
use smsbatch::filter::{Filter, FilterOptions, Schema, Table};

use super::pg::TestDb;
use crate::support::data;

pub struct Spec {
    pub options: FilterOptions,
    pub rows: Vec<Value>,
    pub cases: Vec<(Value, Vec<i64>, String)>,
}

pub fn spec() -> Spec {
    let doc: Value = serde_json::from_str(&data("filter/operators.json")).expect("operators.json");
    let options = FilterOptions::new()
        .with_now_rfc3339(doc["now"].as_str().expect("now"))
        .expect("valid now");
    let rows = doc["rows"].as_array().expect("rows").clone();
    let cases = doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let keep = c["keep"]
                .as_array()
                .expect("keep")
                .iter()
                .map(|v| v.as_i64().expect("id"))
                .collect();
            (
                c["filter"].clone(),
                keep,
                c["note"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    Spec {
        options,
        rows,
        cases,
    }
}

fn ids(rows: &[Value], positions: &[usize]) -> Vec<i64> {
    positions
        .iter()
        .map(|&i| rows[i]["id"].as_i64().expect("id"))
        .collect()
}

#[test]
fn every_operator_keeps_the_right_rows_in_memory() {
    let spec = spec();
    let schema = Schema::customers();
    let table = Table::from_rows(&schema, &spec.rows).expect("valid rows");
    assert!(spec.cases.len() > 100);
    let mut ops_seen = std::collections::HashSet::new();
    for (filter, keep, note) in &spec.cases {
        if let Some(op) = filter.get("op").and_then(Value::as_str) {
            ops_seen.insert((
                op.to_owned(),
                filter["field"].as_str().unwrap_or("").to_owned(),
            ));
        }
        let f = Filter::from_value(filter, &schema, &spec.options)
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        let ev = f.evaluator();
        let got = ids(&spec.rows, &ev.filter(&spec.rows).expect("rows"));
        assert_eq!(&got, keep, "{filter} ({note})");
        let got_table = ids(&spec.rows, &ev.filter_table(&table).expect("table"));
        assert_eq!(&got_table, keep, "table: {filter}");
        // The negation of every case is its complement, NULLs included.
        let not = Filter::from_value(
            &serde_json::json!({ "not": filter }),
            &schema,
            &spec.options,
        )
        .expect("negation compiles");
        let got_not = ids(
            &spec.rows,
            &not.evaluator().filter(&spec.rows).expect("rows"),
        );
        let complement: Vec<i64> = (1..=6).filter(|id| !keep.contains(id)).collect();
        assert_eq!(got_not, complement, "not {filter}");
    }
    // Every operator appears for every type it applies to.
    use smsbatch::filter::{FieldType, Op};
    for (field, ty) in [
        ("first_name", FieldType::String),
        ("total_spent", FieldType::Number),
        ("birthday", FieldType::Date),
        ("date_create", FieldType::Timestamp),
        ("opted_in", FieldType::Boolean),
    ] {
        for op in Op::ALL.iter().filter(|op| op.applies_to(ty)) {
            assert!(
                ops_seen.contains(&(op.as_str().to_owned(), field.to_owned())),
                "no case for {op} on {field}"
            );
        }
    }
}

#[test]
fn pg_operators() {
    let spec = spec();
    let schema = Schema::customers();
    let Some(mut db) = TestDb::create("ops") else {
        return;
    };
    db.load_customers(&spec.rows);
    for (filter, keep, note) in &spec.cases {
        for negate in [false, true] {
            let json = if negate {
                serde_json::json!({ "not": filter })
            } else {
                filter.clone()
            };
            let f = Filter::from_value(&json, &schema, &spec.options).expect("compiles");
            let sql = f.sql_where();
            let rows = db.query_text(
                &format!(
                    "SELECT id FROM customers WHERE {} ORDER BY id",
                    sql.where_clause()
                ),
                &sql.text_params(),
            );
            let got: Vec<i64> = rows.iter().map(|r| i64::from(r.get::<_, i32>(0))).collect();
            let want: Vec<i64> = if negate {
                (1..=6).filter(|id| !keep.contains(id)).collect()
            } else {
                keep.clone()
            };
            assert_eq!(got, want, "SQL for {json} ({note}): {}", sql.where_clause());
        }
    }
}
