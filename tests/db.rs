//! Throwaway PostgreSQL databases for the tests: one per test, named after the process, a counter
//! and the time, dropped by a guard (also when the test fails).
//!
//! The server is `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). When it
//! cannot be reached, a test prints that it skipped, unless `SMSBATCH_REQUIRE_DB=1` (which
//! `scripts/test.sh` sets): then a missing database fails the run.

use std::sync::atomic::{AtomicU32, Ordering};

use postgres::{Client, Config, NoTls};

/// The server the tests use.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Whether a missing database must fail the run.
pub fn required() -> bool {
    std::env::var("SMSBATCH_REQUIRE_DB").is_ok_and(|v| v == "1")
}

/// The collation a test database is created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)]
pub enum Locale {
    /// `LC_COLLATE` and `LC_CTYPE` `C.UTF-8` (libc).
    CUtf8,
    /// ICU `en-US` for collation, `C.UTF-8` for the rest.
    Icu,
}

/// A database created for one test and dropped with this guard.
#[derive(Debug)]
pub struct TempDb {
    name: String,
    admin: String,
    /// A `key=value` connection string for the new database.
    pub url: String,
}

fn conninfo(config: &Config, dbname: &str) -> String {
    let mut parts = Vec::new();
    if let Some(postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        parts.push(format!("host={host}"));
    }
    #[cfg(unix)]
    if let Some(postgres::config::Host::Unix(path)) = config.get_hosts().first() {
        parts.push(format!("host={}", path.display()));
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(password) = config.get_password() {
        parts.push(format!(
            "password='{}'",
            String::from_utf8_lossy(password)
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
        ));
    }
    parts.push(format!("dbname={dbname}"));
    parts.push("connect_timeout=10".into());
    parts.join(" ")
}

fn run_outside_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    // The sync client starts a runtime of its own, which tokio forbids inside a test's runtime.
    std::thread::spawn(f)
        .join()
        .expect("the database thread finishes")
}

impl TempDb {
    /// Creates a database, or returns `None` (after saying so) when the server cannot be reached
    /// and the run does not require one.
    pub fn create(tag: &str, locale: Locale) -> Option<TempDb> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = tag.to_owned();
        run_outside_runtime(move || {
            let url = database_url();
            let config: Config = match url.parse() {
                Ok(c) => c,
                Err(e) => panic!("DATABASE_URL is not a valid connection string: {e}"),
            };
            let admin = conninfo(&config, config.get_dbname().unwrap_or("postgres"));
            let mut client = match Client::connect(&admin, NoTls) {
                Ok(c) => c,
                Err(e) if required() => panic!(
                    "PostgreSQL is not reachable at {url} ({e}) and SMSBATCH_REQUIRE_DB=1; \
                     ./scripts/test.sh starts the local server"
                ),
                Err(e) => {
                    eprintln!("skipped: PostgreSQL is not reachable at {url} ({e})");
                    return None;
                }
            };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let name = format!("smsbatch_{tag}_{}_{n}_{nanos}", std::process::id());
            let locale = match locale {
                Locale::CUtf8 => "ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'",
                Locale::Icu => {
                    "ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
                }
            };
            client
                .batch_execute(&format!(
                    "CREATE DATABASE {name} TEMPLATE template0 {locale}"
                ))
                .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
            Some(TempDb {
                url: conninfo(&config, &name),
                name,
                admin,
            })
        })
    }

    /// The database's name.
    #[allow(dead_code)]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        run_outside_runtime(move || {
            if let Ok(mut client) = Client::connect(&admin, NoTls) {
                let _ =
                    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        });
    }
}
