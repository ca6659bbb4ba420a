//! A throwaway PostgreSQL database per test run (127.0.0.1:5432, user `postgres`, trust auth),
//! created with `LC_CTYPE 'C.UTF-8'` and dropped by a guard, also when the test fails.

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};
use serde_json::Value;

const ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=10";

pub struct TestDb {
    pub client: Client,
    name: String,
}

impl TestDb {
    /// Creates a database with a unique name; panics with a clear message when the server is down
    /// (`scripts/test.sh` starts it).
    pub fn create(tag: &str) -> TestDb {
        let mut admin = Client::connect(ADMIN, NoTls).unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable on 127.0.0.1:5432 ({e}); run ./scripts/test.sh, which starts it")
        });
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("smsbatch_{tag}_{}_{nanos}", std::process::id());
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
            ))
            .expect("create the test database");
        let client = Client::connect(
            &format!("host=127.0.0.1 port=5432 user=postgres dbname={name}"),
            NoTls,
        )
        .expect("connect to the test database");
        TestDb { client, name }
    }

    /// The URL of this database, for a server over it.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
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

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(ADMIN, NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
