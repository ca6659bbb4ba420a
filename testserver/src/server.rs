//! A running server: its own thread and tokio runtime, so sync tests, async tests and the
//! example binary start it the same way; it stops when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_postgres::NoTls;

use crate::auth::sign_jwt;
use crate::config::Config;
use crate::error::Error;
use crate::http::{AppState, handle};
use crate::schema::SchemaCache;

/// How long in-flight requests may take to finish once the server is told to stop.
const GRACE: Duration = Duration::from_secs(5);

/// A PostgREST-compatible server on 127.0.0.1, serving until dropped (or [`Server::shutdown`]).
///
/// ```no_run
/// use smsbatch_postgrest_testserver::{Config, Server};
///
/// let server = Server::start(Config::new("postgres://postgres@127.0.0.1:5432/app"))?;
/// // PostgREST's API at both roots, as on Supabase:
/// let rest = server.rest_url(); // http://127.0.0.1:PORT/rest/v1
/// let key = server.service_role_key(); // a token with role `service_role`
/// # let _ = (rest, key);
/// # Ok::<(), smsbatch_postgrest_testserver::Error>(())
/// ```
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    url: String,
    jwt_secret: String,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
    runtime: tokio::runtime::Handle,
    state: Arc<AppState>,
}

type Ready = Result<
    (
        SocketAddr,
        watch::Sender<bool>,
        tokio::runtime::Handle,
        Arc<AppState>,
    ),
    Error,
>;

impl Server {
    /// Connects to the database, reads the schema cache, binds 127.0.0.1 on the configured
    /// port and serves on a thread of its own. Returns once the server accepts connections.
    pub fn start(config: Config) -> Result<Server, Error> {
        config.validate()?;
        let jwt_secret = config.jwt_secret.clone();
        let (ready_tx, ready_rx) = mpsc::channel::<Ready>();
        let thread = std::thread::Builder::new()
            .name("postgrest-testserver".into())
            .spawn(move || run(config, ready_tx))?;
        let (addr, stop, runtime, state) = match ready_rx.recv() {
            Ok(Ok(ready)) => ready,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(Error::Stopped);
            }
        };
        Ok(Server {
            addr,
            url: format!("http://{addr}"),
            jwt_secret,
            stop: Some(stop),
            thread: Some(thread),
            runtime,
            state,
        })
    }

    /// `http://127.0.0.1:PORT`: PostgREST's own root (`/TABLE`, `/rpc/FN`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `http://127.0.0.1:PORT/rest/v1`: the root as a Supabase project serves it (what a
    /// Supabase client appends table names to).
    pub fn rest_url(&self) -> String {
        format!("{}/rest/v1", self.url)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An HS256 token for `claims` (a JSON object), signed with this server's secret.
    pub fn sign(&self, claims: &Value) -> String {
        sign_jwt(&self.jwt_secret, claims)
    }

    /// A token with role `anon`, like a Supabase project's anon key.
    pub fn anon_key(&self) -> String {
        self.sign(&json!({"role": "anon", "iss": "supabase"}))
    }

    /// A token with role `service_role`, like a Supabase project's service key.
    pub fn service_role_key(&self) -> String {
        self.sign(&json!({"role": "service_role", "iss": "supabase"}))
    }

    /// A signed-in user's token: role `authenticated`, `sub` = `user_id`, plus `extra` claims
    /// (an object, e.g. `{"app_metadata": {"team_id": "..."}}`), valid for an hour.
    pub fn user_token(&self, user_id: &str, extra: &Value) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut claims = json!({
            "role": "authenticated",
            "aud": "authenticated",
            "sub": user_id,
            "iat": now,
            "exp": now + 3600,
        });
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        self.sign(&claims)
    }

    /// Reads the catalogs again (after DDL, as PostgREST does on `NOTIFY pgrst, 'reload
    /// schema'`). Blocks until done; callable from sync and async code.
    pub fn reload_schema(&self) -> Result<(), Error> {
        let (tx, rx) = mpsc::channel();
        let state = Arc::clone(&self.state);
        self.runtime.spawn(async move {
            let _ = tx.send(
                load_cache(&state.pool, &state.config.schemas)
                    .await
                    .map(|cache| match state.cache.write() {
                        Ok(mut c) => *c = Arc::new(cache),
                        Err(poisoned) => *poisoned.into_inner() = Arc::new(cache),
                    }),
            );
        });
        rx.recv().map_err(|_| Error::Stopped)?
    }

    /// Stops accepting connections, lets requests in flight finish (for up to 5 seconds) and
    /// waits for the server's thread to end. Dropping the server does the same.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

async fn load_cache(pool: &Pool, schemas: &[String]) -> Result<SchemaCache, Error> {
    let client = pool.get().await.map_err(|e| Error::Pool(e.to_string()))?;
    let client: &tokio_postgres::Client = &client;
    let existing: Vec<String> = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname = ANY($1)",
            &[&schemas],
        )
        .await
        .map_err(Error::Database)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if let Some(missing) = schemas.iter().find(|s| !existing.contains(s)) {
        return Err(Error::Config(format!("schema {missing:?} does not exist")));
    }
    SchemaCache::load(client, schemas)
        .await
        .map_err(Error::Database)
}

/// The server thread: a runtime, the pool, the schema cache, the listener, then serving until
/// told to stop.
fn run(config: Config, ready: mpsc::Sender<Ready>) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("postgrest-testserver-worker")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(Error::Io(e)));
            return;
        }
    };
    runtime.block_on(async move {
        let pg_config: tokio_postgres::Config = match config.database_url.parse() {
            Ok(c) => c,
            Err(e) => {
                let _ = ready.send(Err(Error::Database(e)));
                return;
            }
        };
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = match Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
        {
            Ok(p) => p,
            Err(e) => {
                let _ = ready.send(Err(Error::Pool(e.to_string())));
                return;
            }
        };
        let cache = match load_cache(&pool, &config.schemas).await {
            Ok(c) => c,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(Error::Io(e)));
                return;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                let _ = ready.send(Err(Error::Io(e)));
                return;
            }
        };
        let state = Arc::new(AppState {
            config,
            pool,
            cache: RwLock::new(Arc::new(cache)),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let (stop_tx, stop_rx) = watch::channel(false);
        if ready
            .send(Ok((
                addr,
                stop_tx,
                tokio::runtime::Handle::current(),
                state,
            )))
            .is_err()
        {
            return;
        }
        let mut graceful = stop_rx.clone();
        let mut deadline = stop_rx;
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|stop| *stop).await;
        });
        tokio::select! {
            result = serve => {
                if let Err(e) = result {
                    eprintln!("postgrest test server: {e}");
                }
            }
            _ = async move {
                let _ = deadline.wait_for(|stop| *stop).await;
                tokio::time::sleep(GRACE).await;
            } => {}
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}
