//! PostgREST's own expectations (`tests/data/postgrest/spec_cases.tsv`, from its test suite)
//! over HTTP: each case's rows, its 400 from the parser, or PostgreSQL's error message.

use serde_json::Value;

use super::support::{Api, Db};
use crate::support::data;

/// The text of a key column's value as the TSV writes it.
fn key_text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `coalesce(a,'NULL')` reads column `a` (a NULL is written `NULL` anyway).
fn key_column(key: &str) -> &str {
    key.strip_prefix("coalesce(")
        .and_then(|k| k.split(',').next())
        .unwrap_or(key)
}

#[test]
fn every_golden_case_over_http() {
    let Some(db) = Db::create("spec") else { return };
    db.execute(&data("postgrest/fixture.sql"));
    db.execute(
        "GRANT USAGE ON SCHEMA test TO anon; GRANT SELECT ON ALL TABLES IN SCHEMA test TO anon;",
    );
    let server = db.server("test");
    let cases = data("postgrest/spec_cases.tsv");
    let mut ran = 0;
    for line in cases
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, table, key, query) = (cols[0], cols[1], cols[2], cols[3]);
        let expected = cols.get(4).copied().unwrap_or("");
        // PostgREST's root and Supabase's, both.
        for base in [server.url().to_owned(), server.rest_url()] {
            let api = Api::new(base);
            let resp = api.get(&format!("/{table}"), query, &[]);
            if expected == "ERR" {
                assert_eq!(resp.status, 400, "{name}: {query}: {}", resp.body);
                assert_eq!(resp.code(), "PGRST100", "{name}: {query}: {}", resp.body);
                continue;
            }
            if let Some(message) = expected.strip_prefix("PGERR:") {
                assert_eq!(resp.status, 400, "{name}: {query}: {}", resp.body);
                assert_eq!(
                    resp.json()["message"].as_str(),
                    Some(message.trim_start_matches("ERROR:").trim()),
                    "{name}: {query}"
                );
                continue;
            }
            assert_eq!(resp.status, 200, "{name}: {query}: {}", resp.body);
            let column = key_column(key);
            let mut got: Vec<String> = resp
                .json()
                .as_array()
                .unwrap_or_else(|| panic!("{name}: not an array: {}", resp.body))
                .iter()
                .map(|row| key_text(&row[column]))
                .collect();
            got.sort();
            let mut want: Vec<String> = if expected.is_empty() {
                Vec::new()
            } else {
                expected.split('|').map(String::from).collect()
            };
            want.sort();
            assert_eq!(got, want, "{name}: {query}");
        }
        ran += 1;
    }
    assert_eq!(ran, 61);
}
