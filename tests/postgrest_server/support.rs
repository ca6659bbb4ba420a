//! What the PostgREST-compatible server's tests share: a throwaway database per test, the
//! server over it, and a small HTTP client that sends query strings exactly as written.

use std::time::Duration;

use postgres::{Client, NoTls};
use serde_json::Value;
use smsbatch_postgrest_testserver::{Config, SUPABASE_ROLES_SQL, Server};

/// `DATABASE_URL`, or the local server.
fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database replaced by `name` (URL or `key=value` form).
fn with_database(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let host_part = match base[scheme_end..].find('/') {
            Some(i) => &base[..scheme_end + i],
            None => base,
        };
        match query {
            Some(q) => format!("{host_part}/{name}?{q}"),
            None => format!("{host_part}/{name}"),
        }
    } else {
        format!("{url} dbname={name}")
    }
}

/// A database of its own, dropped (with its connections) when this is dropped, also when the
/// test fails.
pub struct Db {
    pub url: String,
    name: String,
}

impl Db {
    /// Creates the database, or `None` (saying so) when PostgreSQL is not reachable and
    /// `SMSBATCH_REQUIRE_DB=1` is not set; with it, an unreachable server fails the test.
    pub fn create(tag: &str) -> Option<Db> {
        let admin = admin_url();
        let mut client = match Client::connect(&admin, NoTls) {
            Ok(c) => c,
            Err(e) => {
                if std::env::var("SMSBATCH_REQUIRE_DB").as_deref() == Ok("1") {
                    panic!(
                        "PostgreSQL is not reachable at {admin} ({e}) and SMSBATCH_REQUIRE_DB=1"
                    );
                }
                eprintln!("skipped: PostgreSQL is not reachable at {admin} ({e})");
                return None;
            }
        };
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("smsbatch_pgrst_{tag}_{}_{n}_{nanos}", std::process::id());
        client
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
            ))
            .expect("create the test database");
        // Roles are per cluster; create them where missing (other runs may race: that is fine).
        client
            .batch_execute(SUPABASE_ROLES_SQL)
            .expect("create the API roles");
        Some(Db {
            url: with_database(&admin, &name),
            name,
        })
    }

    /// A new connection to this database.
    pub fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to the test database")
    }

    /// Runs SQL (setup).
    pub fn execute(&self, sql: &str) {
        self.client()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("setup SQL failed: {e}\n{sql}"));
    }

    /// A server over this database serving `schema`.
    pub fn server(&self, schema: &str) -> Server {
        Server::start(Config::new(&self.url).schema(schema)).expect("the server starts")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(&admin_url(), NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Percent-encodes what a URI cannot carry (blanks, quotes, backslashes, braces, non-ASCII...)
/// and leaves everything else, `%`, `+`, `&` and `=` included, as written: the server decodes
/// the result to exactly the raw text.
pub fn encode_raw_query(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} (status {})", self.body, self.status))
    }

    /// The PostgREST error code of an error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// An HTTP client for one server.
pub struct Api {
    agent: ureq::Agent,
    base: String,
}

impl Api {
    /// Talks to `base` (`http://127.0.0.1:PORT` or `.../rest/v1`).
    pub fn new(base: impl Into<String>) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Api {
            agent,
            base: base.into(),
        }
    }

    /// Sends `method` to `path` with a raw query (encoded as [`encode_raw_query`] does).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        raw_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        let mut uri = format!("{}{path}", self.base);
        if !raw_query.is_empty() {
            uri.push('?');
            uri.push_str(&encode_raw_query(raw_query));
        }
        let mut builder = ureq::http::Request::builder().method(method).uri(&uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let result = match body {
            Some(b) => self.agent.run(
                builder
                    .header("content-type", "application/json")
                    .body(b.to_owned())
                    .expect("a valid request"),
            ),
            None => self.agent.run(builder.body(()).expect("a valid request")),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = if method == "HEAD" {
            String::new()
        } else {
            response
                .body_mut()
                .read_to_string()
                .unwrap_or_else(|e| panic!("{method} {uri}: reading the body: {e}"))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str, raw_query: &str, headers: &[(&str, &str)]) -> Resp {
        self.send("GET", path, raw_query, headers, None)
    }

    pub fn post(&self, path: &str, raw_query: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        self.send("POST", path, raw_query, headers, Some(body))
    }
}

#[test]
fn database_urls() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgresql://u@h/postgres?sslmode=disable", "x"),
        "postgresql://u@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    assert_eq!(
        with_database("host=h user=u", "x"),
        "host=h user=u dbname=x"
    );
    assert_eq!(
        encode_raw_query("a=eq.x y&b=\"\\{}"),
        "a=eq.x%20y&b=%22%5C%7B%7D"
    );
}
