//! The PostgreSQL store: tokio-postgres with a deadpool pool, the migrations that are the Supabase schema, and every repository on them.
//!
//! ```no_run
//! use smsbatch::store::postgres::PgConfig;
//! use smsbatch::store::{Actor, Backend, UserClaims, Uuid};
//!
//! # async fn demo() -> smsbatch::Result<()> {
//! let pg = PgConfig::new("postgres://postgres@127.0.0.1:5432/app").connect().await?;
//! pg.migrate().await?;
//! let service = pg.store(Actor::Service)?; // bypasses row-level security
//! let alice = pg.store(Actor::User(UserClaims::new(Uuid::from_u128(1)).team("t1")))?;
//! assert!(alice.batches.list(&Default::default()).await?.is_empty());
//! # let _ = service;
//! # Ok(()) }
//! ```
//!
//! # Acting as a user
//!
//! For [`Actor::User`] and [`Actor::Anonymous`] every operation runs in a transaction that first
//! does what PostgREST does for a request: `set_config('role', 'authenticated', true)` (or `anon`)
//! and `set_config('request.jwt.claims', <claims>, true)`. Row-level security then applies to the
//! store exactly as it does to Supabase's REST API. [`Actor::Service`] runs as the connecting
//! user (the database owner), which bypasses it.
//!
//! # Connections
//!
//! The pool checks a connection unused for 10 seconds or more with an empty query (within the
//! connect timeout) before handing it out, so one the server or a firewall dropped while idle
//! (a restart, an idle timeout) is replaced rather than failing a query. A busier connection is only checked for being closed:
//! a round trip before every operation would cost the queue a third of its throughput. Each operation has a
//! time limit ([`PgConfig::timeout`]); past it the statement is cancelled on the server and the
//! operation fails with [`ErrorKind::Timeout`]. Reads and other
//! operations that cannot apply twice are retried on a lost connection, a timeout, a
//! serialization failure or a deadlock, with capped exponential backoff ([`PgConfig::retries`]);
//! claims, fenced transitions, inserts and appends are never retried. Connections are plain TCP
//! (no TLS) and use prepared statements: on Supabase, connect directly or through the session
//! pooler (port 5432), not the transaction pooler (6543), which also refuses the advisory lock
//! the migrations take.

mod customers;
mod error;
mod messages;
mod migrate;
mod records;
mod types;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

pub use self::migrate::{MIGRATIONS, Migration, MigrationReport};

use self::error::{db_error, is_transient, pool_error};
use super::actor::Actor;
use super::bundle::{Backend, Store};
use super::customer::{CUSTOMER_COLUMNS, check_customer_schema};
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{Schema, SqlTarget};

/// A pooled connection idle this long is checked with an empty query before it is handed out.
const VERIFY_IDLE: Duration = Duration::from_secs(10);

/// How to connect: the database, the pool, time limits and retries, and the customer schema.
/// `PgConfig::new(url)`, the setters you need, then [`PgConfig::connect`].
#[derive(Clone, Debug)]
pub struct PgConfig {
    url: String,
    pool_size: usize,
    timeout: Duration,
    connect_timeout: Duration,
    retries: u32,
    schema: Schema,
}

impl PgConfig {
    /// A configuration for `url`, a `postgres://` URL or a `key=value` connection string.
    /// Defaults: a pool of 16 connections, a 30 s limit per operation, 10 s to connect, 3
    /// retries, the default customer schema.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            schema: Schema::customers(),
        }
    }

    /// The most connections the pool opens.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long one operation (its statements) may take before it is cancelled.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// How long to wait for a connection (to open one, or for one to become free).
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// How many times an operation that cannot apply twice is tried again after a transient
    /// error (0 to never retry).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The schema customer queries are compiled against (its fields that are not columns of
    /// the customers table live in `attributes`).
    pub fn schema(mut self, schema: Schema) -> Self {
        self.schema = schema;
        self
    }

    /// Builds the pool and opens one connection to check the database is there.
    pub async fn connect(self) -> Result<PgStore> {
        check_customer_schema(&self.schema)?;
        let mut pg: tokio_postgres::Config = self.url.parse().map_err(|e| {
            Error::new(ErrorKind::InvalidInput {
                message: format!("the database URL is not valid: {e}"),
            })
        })?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(self.connect_timeout);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("smsbatch");
        }
        let manager = Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // A connection a firewall dropped silently would hang the check until TCP gives up:
        // it has the time to connect, after which the connection is replaced.
        let check_limit = self.connect_timeout;
        let pool = Pool::builder(manager)
            .pre_recycle(Hook::async_fn(move |client, metrics| {
                Box::pin(async move {
                    if metrics.last_used() >= VERIFY_IDLE {
                        match tokio::time::timeout(check_limit, client.simple_query("")).await {
                            Ok(checked) => {
                                checked.map_err(HookError::Backend)?;
                            }
                            Err(_) => {
                                return Err(HookError::message(
                                    "the connection did not answer its check in time",
                                ));
                            }
                        }
                    }
                    Ok(())
                })
            }))
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(self.connect_timeout),
                create: Some(self.connect_timeout),
                recycle: Some(self.connect_timeout),
            })
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::InvalidInput {
                    message: format!("cannot build the connection pool: {e}"),
                })
            })?;
        let customers = SqlTarget::new("customers")?
            .json_column("attributes", CUSTOMER_COLUMNS.iter().map(|(c, _)| *c))?;
        let store = PgStore {
            inner: Arc::new(Shared {
                pool,
                config: self,
                customers,
                jitter: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            }),
        };
        drop(store.inner.pool.get().await.map_err(pool_error)?);
        Ok(store)
    }
}

/// The PostgreSQL store: a connection pool. Clones share it. [`Backend::store`] gives the
/// repositories acting for an [`Actor`].
#[derive(Clone, Debug)]
pub struct PgStore {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    pool: Pool,
    config: PgConfig,
    customers: SqlTarget,
    /// State of the retry jitter (splitmix64 over a shared counter).
    jitter: AtomicU64,
}

impl PgStore {
    /// Connects with the defaults of [`PgConfig::new`].
    pub async fn connect(url: impl Into<String>) -> Result<PgStore> {
        PgConfig::new(url).connect().await
    }

    /// Applies the migrations the database does not have yet ([`MIGRATIONS`]), under an
    /// advisory lock so parallel runs cannot race; a second run applies nothing.
    pub async fn migrate(&self) -> Result<MigrationReport> {
        let mut client = self.inner.pool.get().await.map_err(pool_error)?;
        migrate::run(&mut client, MIGRATIONS).await
    }

    /// The latest migration the database has, if any.
    pub async fn current_migration(&self) -> Result<Option<String>> {
        let client = self.inner.pool.get().await.map_err(pool_error)?;
        migrate::current(&client).await
    }

    /// The customer schema.
    pub fn schema(&self) -> &Schema {
        &self.inner.config.schema
    }
}

impl Backend for PgStore {
    fn store(&self, actor: Actor) -> Result<Store> {
        let session = match &actor {
            Actor::Service => None,
            Actor::Anonymous => Some(("anon", r#"{"role":"anon"}"#.to_owned())),
            Actor::User(user) => Some((
                "authenticated",
                serde_json::Value::Object(user.claims().clone()).to_string(),
            )),
        };
        Ok(Store::from_all(Arc::new(PgView {
            inner: Arc::clone(&self.inner),
            session,
        })))
    }
}

/// The store acting for one actor.
#[derive(Debug)]
struct PgView {
    inner: Arc<Shared>,
    /// The role and the claims each transaction sets (`None`: the service, as connected).
    session: Option<(&'static str, String)>,
}

/// A parameter of a statement.
type Param = Box<dyn ToSql + Send + Sync>;

/// One statement with owned parameters, so an operation can be tried again as it is.
struct Stmt {
    sql: Cow<'static, str>,
    params: Vec<Param>,
    /// Prepare once per connection (fixed SQL) rather than for each run (generated SQL).
    cached: bool,
}

impl Stmt {
    /// Fixed SQL, prepared once per connection.
    fn new(sql: &'static str) -> Self {
        Self {
            sql: Cow::Borrowed(sql),
            params: Vec::new(),
            cached: true,
        }
    }

    /// Generated SQL (a filter's), prepared for this run only.
    fn dynamic(sql: String) -> Self {
        Self {
            sql: Cow::Owned(sql),
            params: Vec::new(),
            cached: false,
        }
    }

    fn arg(mut self, value: impl ToSql + Send + Sync + 'static) -> Self {
        self.params.push(Box::new(value));
        self
    }

    fn args(mut self, values: impl IntoIterator<Item = Param>) -> Self {
        self.params.extend(values);
        self
    }
}

/// Whether an operation may be tried again after a transient error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    /// It reads, or writes something that a second run leaves the same.
    Safe,
    /// A second run could apply it twice (or report a lost lease for a change that happened).
    Never,
}

impl PgView {
    /// Runs the statements in order (in one transaction when there are several, or when acting
    /// as a user) and returns each one's rows.
    async fn run(&self, stmts: &[Stmt], retry: Retry) -> Result<Vec<Vec<Row>>> {
        let retries = match retry {
            Retry::Safe => self.inner.config.retries,
            Retry::Never => 0,
        };
        let mut attempt = 0;
        loop {
            match self.attempt(stmts).await {
                Err(e) if attempt < retries && is_transient(&e) => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Runs one statement and returns its rows.
    async fn rows(&self, stmt: Stmt, retry: Retry) -> Result<Vec<Row>> {
        Ok(self
            .run(std::slice::from_ref(&stmt), retry)
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// The delay before retry `attempt` (from 0), with a fresh random draw.
    fn backoff(&self, attempt: u32) -> Duration {
        let state = self
            .inner
            .jitter
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        retry_delay(attempt, crate::random::mix(state))
    }

    async fn attempt(&self, stmts: &[Stmt]) -> Result<Vec<Vec<Row>>> {
        let mut client = self.inner.pool.get().await.map_err(pool_error)?;
        let cancel = client.cancel_token();
        let work = async {
            let mut out = Vec::with_capacity(stmts.len());
            if self.session.is_none() && stmts.len() == 1 {
                let s = &stmts[0];
                let params: Vec<&(dyn ToSql + Sync)> = s
                    .params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                let rows = if s.cached {
                    let prepared = client.prepare_cached(&s.sql).await?;
                    client.query(&prepared, &params).await?
                } else {
                    client.query(s.sql.as_ref(), &params).await?
                };
                out.push(rows);
                return Ok(out);
            }
            let tx = client.transaction().await?;
            if let Some((role, claims)) = &self.session {
                tx.execute(
                    "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
                    &[role, claims],
                )
                .await?;
            }
            for s in stmts {
                let params: Vec<&(dyn ToSql + Sync)> = s
                    .params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                let rows = if s.cached {
                    let prepared = tx.prepare_cached(&s.sql).await?;
                    tx.query(&prepared, &params).await?
                } else {
                    tx.query(s.sql.as_ref(), &params).await?
                };
                out.push(rows);
            }
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(out)
        };
        match tokio::time::timeout(self.inner.config.timeout, work).await {
            Ok(result) => result.map_err(db_error),
            Err(_) => {
                // The dropped transaction rolls back once the server stops the statement.
                tokio::spawn(async move {
                    let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
                });
                Err(Error::new(ErrorKind::Timeout {
                    message: format!(
                        "the operation took longer than {:?}",
                        self.inner.config.timeout
                    ),
                }))
            }
        }
    }
}

/// Full-jitter capped exponential backoff for retry `attempt` (from 0): a delay drawn by `random`
/// from `[0, min(2 s, 50 ms × 2^attempt)]`. Full jitter keeps workers that failed together from
/// retrying together.
fn retry_delay(attempt: u32, random: u64) -> Duration {
    let cap = Duration::from_millis(50)
        .saturating_mul(1 << attempt.min(10))
        .min(Duration::from_secs(2));
    let micros = cap.as_micros() as u64;
    Duration::from_micros(random % (micros + 1))
}

/// Reads a column, reporting a bad value as a malformed row of `table`.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    table: &str,
    column: &str,
) -> Result<T> {
    row.try_get(column).map_err(|e| {
        Error::new(ErrorKind::MalformedRow {
            table: table.into(),
            message: format!("column {column}: {e}"),
        })
    })
}

/// A malformed-row error for a value that does not decode.
fn malformed(table: &str, e: &Error) -> Error {
    Error::new(ErrorKind::MalformedRow {
        table: table.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_are_capped_full_jitter() {
        let mut rng = crate::random::SplitMix64::new(7);
        for attempt in 0..20 {
            let cap =
                Duration::from_millis(50 * (1u64 << attempt.min(10))).min(Duration::from_secs(2));
            let mut longest = Duration::ZERO;
            for _ in 0..2_000 {
                let d = retry_delay(attempt, rng.next_u64());
                assert!(d <= cap, "attempt {attempt}: {d:?} > {cap:?}");
                longest = longest.max(d);
            }
            // The draws reach the top of the range, so the cap is what bounds them.
            assert!(
                longest * 10 >= cap * 9,
                "attempt {attempt}: {longest:?} of {cap:?}"
            );
        }
        assert_eq!(retry_delay(0, 0), Duration::ZERO);
        assert!(retry_delay(40, u64::MAX) <= Duration::from_secs(2));
    }

    #[test]
    fn only_errors_that_may_pass_are_transient() {
        let kind = |k: ErrorKind| Error::new(k);
        assert!(error::is_transient(&kind(ErrorKind::ConnectionLost {
            message: String::new()
        })));
        assert!(error::is_transient(&kind(ErrorKind::Timeout {
            message: String::new()
        })));
        for code in ["40001", "40P01", "53300", "57P03"] {
            assert!(error::is_transient(&kind(ErrorKind::Database {
                code: code.into(),
                message: String::new()
            })));
        }
        for k in [
            ErrorKind::Database {
                code: "23503".into(),
                message: String::new(),
            },
            ErrorKind::UniqueViolation {
                constraint: String::new(),
                message: String::new(),
            },
            ErrorKind::PermissionDenied {
                message: String::new(),
            },
            ErrorKind::LeaseLost { id: 1 },
        ] {
            assert!(!error::is_transient(&kind(k)));
        }
    }
}
