//! A throwaway PostgreSQL database per test (see `tests/db.rs`), created with
//! `LC_CTYPE 'C.UTF-8'`, with a synchronous client for the filter tests.

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};
use serde_json::Value;

use crate::db::{Locale, TempDb};

pub struct TestDb {
    pub client: Client,
    // Dropped after the client (fields drop in order), which closes its connection first.
    db: TempDb,
}

impl TestDb {
    /// Creates a database with a unique name, or `None` when there is no server and the run
    /// does not require one (the test then returns, having said it skipped).
    pub fn create(tag: &str) -> Option<TestDb> {
        let db = TempDb::create(tag, Locale::CUtf8)?;
        let client = Client::connect(&db.url, NoTls).expect("connect to the test database");
        Some(TestDb { client, db })
    }

    /// The connection string of this database, for a server over it.
    pub fn url(&self) -> String {
        self.db.url.clone()
    }

    /// Runs `sql` with every parameter bound as text (the SQL casts each one).
    pub fn query_text(&mut self, sql: &str, params: &[String]) -> Vec<postgres::Row> {
        let types = vec![Type::TEXT; params.len()];
        let stmt = self
            .client
            .prepare_typed(sql, &types)
            .unwrap_or_else(|e| panic!("prepare failed: {e}\n{sql}"));
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.client
            .query(&stmt, &refs)
            .unwrap_or_else(|e| panic!("query failed: {e}\n{sql}\n{params:?}"))
    }

    /// Creates `customers` with the default schema's columns and loads `rows` through
    /// `json_populate_recordset`, so PostgreSQL itself converts the JSON values.
    pub fn load_customers(&mut self, rows: &[Value]) {
        self.client
            .batch_execute(
                "CREATE TABLE customers (
                    id integer PRIMARY KEY,
                    first_name text, last_name text, phone text, email text, city text,
                    country text, language text, gender text,
                    date_create timestamptz, last_order_at timestamptz, birthday date,
                    total_spent numeric, orders_count integer, opted_in boolean, opted_out boolean)",
            )
            .expect("create customers");
        let json = serde_json::to_string(rows).expect("rows to JSON");
        self.query_text(
            "INSERT INTO customers SELECT * FROM json_populate_recordset(NULL::customers, $1::text::json)",
            &[json],
        );
    }
}
