//! A fake Twilio Messages API for tests: the paths, authentication, form fields, response shapes
//! and error bodies of `https://api.twilio.com/2010-04-01`, served on 127.0.0.1, with every
//! message create recorded (in memory, and optionally appended to a file that outlives the
//! processes that sent them).
//!
//! ```no_run
//! use smsbatch_twilio_testserver::{Config, Server};
//!
//! // One create in 23 is recorded and then answered HTTP 500; one in 31 gets a 429.
//! let server = Server::start(
//!     Config::new().server_error_one_in(23).rate_limit_one_in(31).record_file("/tmp/creates.jsonl"),
//! )?;
//! println!("Twilio at {} (account {})", server.url(), server.account_sid());
//! // ... point the adapter's base URL at server.url() ...
//! let creates = server.creates(); // every message the fake accepted, in order
//! # let _ = creates;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What it implements
//!
//! - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with the form fields `To`, `From` or
//!   `MessagingServiceSid`, `Body`, `StatusCallback`, `ValidityPeriod`: answers 201 with the
//!   Message resource (status `queued`, or `accepted` through a Messaging Service).
//! - `GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`: the message (status
//!   `delivered` once sent, with `date_sent`, a price and the segments), or 404 (20404). A
//!   message is sent at once unless [`Config::queued_for`] keeps it `queued` (or `accepted`)
//!   for a while: then, as on the real Twilio, its `date_sent` is empty and it has no price.
//! - `GET /2010-04-01/Accounts/{AccountSid}/Messages.json` with the filters `To`, `From`,
//!   `DateSent`, `DateSent>`, `DateSent<` (dates `YYYY-MM-DD`, inclusive, compared with
//!   `date_sent`: a message still queued matches none of them), `PageSize` (1-1000, default 50)
//!   and `PageToken`: by date sent, newest first, messages not sent yet last, paged through
//!   `next_page_uri`.
//! - HTTP basic authentication with the account SID and auth token, or an API key SID and its
//!   secret: otherwise 401 with code 20003 and `WWW-Authenticate`. Another account's path
//!   is 404 (20404).
//! - Twilio's error body on every failure: `{"code", "message", "more_info", "status"}`.
//! - Twilio's magic test numbers: `To` +15005550001 (21211 invalid number), +15005550002 (21612
//!   cannot route), +15005550003 (21408 no permission for the region), +15005550004 (21610 opted
//!   out), +15005550009 (21614 not a mobile number); `From` +15005550001 (21212 invalid),
//!   +15005550007 (21606 not the account's number), +15005550008 (21611 queue full). Missing
//!   fields are 21604 (`To`), 21603 (`From`), 21602 (`Body`); a `To` that is not `+` and 8 to 15
//!   digits is 21211.
//! - Injected faults, counted over all creates the server received (1-based): every
//!   [`Config::rate_limit_one_in`]-th is answered 429 (code 20429, `Retry-After`) **without**
//!   being created; every [`Config::server_error_one_in`]-th is created and recorded **and then**
//!   answered 500 (code 20500), as Twilio's documented non-idempotent case. Scripted replies per
//!   recipient ([`Config::script`]) come first.
//!
//! The record file gets one JSON line per created message ([`Created`]), written with one
//! `write` on a file opened for appending and flushed before the answer goes out: a test reads
//! exactly the creates that happened, even when the HTTP answer never arrived.

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

/// The account SID the fake uses unless told otherwise.
pub const DEFAULT_ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
/// The auth token the fake uses unless told otherwise.
pub const DEFAULT_AUTH_TOKEN: &str = "fake-twilio-auth-token";
/// The number a Messaging Service of the fake sends from.
pub const POOL_NUMBER: &str = "+15005550006";

const API: &str = "/2010-04-01";

/// A reply the fake gives instead of its normal behaviour, scripted per recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Twilio's error body with this HTTP status and code (and `Retry-After` when given);
    /// nothing is created.
    Error {
        /// The HTTP status.
        status: u16,
        /// Twilio's error code.
        code: u32,
        /// Its message.
        message: String,
        /// A `Retry-After` header value, verbatim.
        retry_after: Option<String>,
    },
    /// Any body with this status and content type (an HTML page from a proxy, an empty 502);
    /// nothing is created.
    Raw {
        /// The HTTP status.
        status: u16,
        /// The `Content-Type`.
        content_type: String,
        /// The body.
        body: String,
    },
    /// Created and recorded, then answered 500 (code 20500).
    ServerErrorAfterCreate,
    /// Created and recorded, then the connection is held without an answer for this long (the
    /// client's read timeout fires first).
    HangAfterCreate(Duration),
    /// Created normally.
    Create,
}

impl Reply {
    /// Twilio's error body with this status and code.
    pub fn error(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self::Error {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// How the fake behaves; [`Server::start`] runs it.
#[derive(Clone, Debug)]
pub struct Config {
    account_sid: String,
    auth_token: String,
    api_keys: Vec<(String, String)>,
    port: u16,
    record: Option<PathBuf>,
    server_error_one_in: Option<u64>,
    rate_limit_one_in: Option<u64>,
    retry_after: Option<String>,
    scripts: HashMap<String, VecDeque<Reply>>,
    final_status: String,
    queued_for: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// Account [`DEFAULT_ACCOUNT_SID`] with token [`DEFAULT_AUTH_TOKEN`], an ephemeral port, no
    /// record file, no faults; created messages read back `delivered`.
    pub fn new() -> Self {
        Self {
            account_sid: DEFAULT_ACCOUNT_SID.into(),
            auth_token: DEFAULT_AUTH_TOKEN.into(),
            api_keys: Vec::new(),
            port: 0,
            record: None,
            server_error_one_in: None,
            rate_limit_one_in: None,
            retry_after: Some("1".into()),
            scripts: HashMap::new(),
            final_status: "delivered".into(),
            queued_for: Duration::ZERO,
        }
    }

    /// The account SID and auth token requests must authenticate with.
    pub fn account(mut self, sid: impl Into<String>, token: impl Into<String>) -> Self {
        self.account_sid = sid.into();
        self.auth_token = token.into();
        self
    }

    /// Also accepts this API key SID (`SK...`) with its secret.
    pub fn api_key(mut self, sid: impl Into<String>, secret: impl Into<String>) -> Self {
        self.api_keys.push((sid.into(), secret.into()));
        self
    }

    /// Listens on this port of 127.0.0.1 (0, the default, picks a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Appends every create to this file (created if missing); creates already in it are
    /// loaded at start, so a restarted fake still finds them.
    pub fn record_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.record = Some(path.into());
        self
    }

    /// Every `n`-th create is recorded and then answered HTTP 500 (code 20500).
    pub fn server_error_one_in(mut self, n: u64) -> Self {
        self.server_error_one_in = Some(n.max(1));
        self
    }

    /// Every `n`-th create is answered HTTP 429 (code 20429) and not created.
    pub fn rate_limit_one_in(mut self, n: u64) -> Self {
        self.rate_limit_one_in = Some(n.max(1));
        self
    }

    /// The `Retry-After` of the injected 429s (default `1`; `None` sends none).
    pub fn retry_after(mut self, value: Option<&str>) -> Self {
        self.retry_after = value.map(str::to_owned);
        self
    }

    /// Replies for successive creates to `to`, before any other rule; once used up, the
    /// other rules apply.
    pub fn script(
        mut self,
        to: impl Into<String>,
        replies: impl IntoIterator<Item = Reply>,
    ) -> Self {
        self.scripts.entry(to.into()).or_default().extend(replies);
        self
    }

    /// The status look-ups report for created messages (default `delivered`).
    pub fn final_status(mut self, status: impl Into<String>) -> Self {
        self.final_status = status.into();
        self
    }

    /// Keeps each created message `queued` (`accepted` through a Messaging Service) for this
    /// long after its creation, with an empty `date_sent` and no price, before it reads back
    /// in the final status (default zero: sent at once). Real Twilio leaves `date_sent` empty
    /// while a message waits in its queue, so a list filtered by `DateSent` does not show it.
    pub fn queued_for(mut self, wait: Duration) -> Self {
        self.queued_for = wait;
        self
    }

    /// Reads the example's arguments: `--port N`, `--record FILE`, `--account-sid SID`,
    /// `--auth-token TOKEN`, `--server-error-one-in N`, `--rate-limit-one-in N`,
    /// `--retry-after SECONDS`, `--final-status STATUS`, `--queued-for SECONDS`.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut config = Self::new();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            let number = |v: String, flag: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{flag} needs a whole number, not {v:?}"))
            };
            match flag.as_str() {
                "--port" => {
                    let v = value()?;
                    config.port = v
                        .parse()
                        .map_err(|_| format!("--port needs a port number, not {v:?}"))?;
                }
                "--record" => config.record = Some(PathBuf::from(value()?)),
                "--account-sid" => config.account_sid = value()?,
                "--auth-token" => config.auth_token = value()?,
                "--server-error-one-in" => {
                    let n = number(value()?, &flag)?;
                    config = config.server_error_one_in(n);
                }
                "--rate-limit-one-in" => {
                    let n = number(value()?, &flag)?;
                    config = config.rate_limit_one_in(n);
                }
                "--retry-after" => config.retry_after = Some(value()?),
                "--final-status" => config.final_status = value()?,
                "--queued-for" => {
                    let n = number(value()?, &flag)?;
                    config = config.queued_for(Duration::from_secs(n));
                }
                other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            }
        }
        Ok(config)
    }
}

/// The example's usage text.
pub const USAGE: &str = "\
twilio_server: a fake Twilio Messages API on 127.0.0.1

Options:
  --port N                  listen on this port (default 0: any free port)
  --record FILE             append every create to FILE as a JSON line
  --account-sid SID         the account (default AC00000000000000000000000000000001)
  --auth-token TOKEN        its auth token (default fake-twilio-auth-token)
  --server-error-one-in N   record every N-th create, then answer HTTP 500
  --rate-limit-one-in N     answer every N-th create HTTP 429 without creating it
  --retry-after SECONDS     the 429s' Retry-After (default 1)
  --final-status STATUS     what look-ups report for created messages (default delivered)
  --queued-for SECONDS      keep created messages queued (no date sent) this long (default 0)";

/// One created message: a line of the record file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Created {
    /// The SID the fake gave it.
    pub sid: String,
    /// `To`.
    pub to: String,
    /// `From`, when given.
    pub from: Option<String>,
    /// `MessagingServiceSid`, when given.
    pub messaging_service_sid: Option<String>,
    /// `Body`.
    pub body: String,
    /// `StatusCallback`, when given.
    pub status_callback: Option<String>,
    /// The `mid` query parameter of the status callback (the sender's message id), when there.
    pub message_id: Option<String>,
    /// When it was created, in Unix seconds.
    pub created_at: i64,
    /// The HTTP status it was answered with (201, or 500 for an injected error after the
    /// create).
    pub answered: u16,
}

/// One request the fake received (for tests of what a client sends).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header, verbatim.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The form fields of the body, in order.
    pub form: Vec<(String, String)>,
}

#[derive(Debug)]
struct Stored {
    created: Created,
}

#[derive(Debug, Default)]
struct Inner {
    creates_seen: u64,
    messages: Vec<Stored>,
    by_sid: HashMap<String, usize>,
    received: Vec<Received>,
    scripts: HashMap<String, VecDeque<Reply>>,
}

#[derive(Debug)]
struct AppState {
    config: Config,
    file: Option<Mutex<File>>,
    sid_prefix: u64,
    inner: Mutex<Inner>,
}

impl AppState {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Plain vectors and counters: still usable after a panic elsewhere.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The fake on 127.0.0.1, serving until dropped (or [`Server::shutdown`]).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    url: String,
    state: Arc<AppState>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

type Ready = io::Result<(SocketAddr, watch::Sender<bool>)>;

impl Server {
    /// Opens the record file (loading the creates already in it), binds 127.0.0.1 and serves
    /// on a thread of its own. Returns once the server accepts connections.
    pub fn start(config: Config) -> io::Result<Server> {
        let mut inner = Inner {
            scripts: config.scripts.clone(),
            ..Inner::default()
        };
        let file = match &config.record {
            Some(path) => {
                for created in read_record(path)? {
                    inner
                        .by_sid
                        .insert(created.sid.clone(), inner.messages.len());
                    inner.messages.push(Stored { created });
                }
                Some(Mutex::new(
                    OpenOptions::new().create(true).append(true).open(path)?,
                ))
            }
            None => None,
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let state = Arc::new(AppState {
            config,
            file,
            sid_prefix: mix(nanos ^ u64::from(std::process::id()) << 32),
            inner: Mutex::new(inner),
        });
        let (ready_tx, ready_rx) = mpsc::channel::<Ready>();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("twilio-testserver".into())
            .spawn(move || run(thread_state, ready_tx))?;
        let (addr, stop) = match ready_rx.recv() {
            Ok(Ok(ready)) => ready,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(io::Error::other(
                    "the fake Twilio server stopped while starting",
                ));
            }
        };
        Ok(Server {
            addr,
            url: format!("http://{addr}"),
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: what replaces `https://api.twilio.com`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The account SID.
    pub fn account_sid(&self) -> &str {
        &self.state.config.account_sid
    }

    /// The account's auth token.
    pub fn auth_token(&self) -> &str {
        &self.state.config.auth_token
    }

    /// Every message created so far (including those loaded from the record file), in order.
    pub fn creates(&self) -> Vec<Created> {
        self.state
            .inner()
            .messages
            .iter()
            .map(|m| m.created.clone())
            .collect()
    }

    /// How many create requests arrived (created or not).
    pub fn create_requests(&self) -> u64 {
        self.state.inner().creates_seen
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.inner().received.clone()
    }

    /// Stops accepting connections and waits for the server's thread to end. Dropping the
    /// server does the same.
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

/// Reads a record file (missing: empty). A last line without its newline (being written) is
/// left out; any other line that is not a [`Created`] is an error naming its number.
pub fn read_record(path: &Path) -> io::Result<Vec<Created>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        number += 1;
        if !line.ends_with('\n') {
            break;
        }
        let created: Created = serde_json::from_str(line.trim_end()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} line {number}: {e}", path.display()),
            )
        })?;
        out.push(created);
    }
    Ok(out)
}

/// A 64-bit mixer (splitmix64's finaliser) for SIDs that differ between runs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn run(state: Arc<AppState>, ready: mpsc::Sender<Ready>) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("twilio-testserver-worker")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    runtime.block_on(async move {
        let port = state.config.port;
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let (stop_tx, stop_rx) = watch::channel(false);
        if ready.send(Ok((addr, stop_tx))).is_err() {
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
                    eprintln!("twilio test server: {e}");
                }
            }
            // Connections held open by a `HangAfterCreate` must not keep a test waiting.
            _ = async move {
                let _ = deadline.wait_for(|stop| *stop).await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            } => {}
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}

fn json_response(status: u16, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// Twilio's error body.
fn error_response(status: u16, code: u32, message: &str) -> Response {
    json_response(
        status,
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn pairs(text: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let query = pairs(parts.uri.query().unwrap_or(""));
    let form = if parts.method == Method::POST {
        pairs(&String::from_utf8_lossy(&body))
    } else {
        Vec::new()
    };
    let path = parts.uri.path().to_owned();
    state.inner().received.push(Received {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        authorization: header_text(&parts.headers, header::AUTHORIZATION),
        content_type: header_text(&parts.headers, header::CONTENT_TYPE),
        user_agent: header_text(&parts.headers, header::USER_AGENT),
        form: form.clone(),
    });

    // /2010-04-01/Accounts/{AccountSid}/Messages.json | /Messages/{Sid}.json
    let Some(rest) = path.strip_prefix(&format!("{API}/Accounts/")) else {
        return not_found(&path);
    };
    let Some((account, resource)) = rest.split_once('/') else {
        return not_found(&path);
    };
    if let Some(denied) = authenticate(&state.config, &parts.headers) {
        return denied;
    }
    if account != state.config.account_sid {
        return not_found(&path);
    }
    match (&parts.method, resource) {
        (&Method::POST, "Messages.json") => create(&state, &form).await,
        (&Method::GET, "Messages.json") => list(&state, &query),
        (&Method::GET, r) => match r
            .strip_prefix("Messages/")
            .and_then(|s| s.strip_suffix(".json"))
        {
            Some(sid) if !sid.contains('/') => fetch(&state, sid),
            _ => not_found(&path),
        },
        (&Method::POST, _) | (&Method::DELETE, _) => not_found(&path),
        _ => error_response(405, 20004, "Method not allowed"),
    }
}

fn not_found(path: &str) -> Response {
    error_response(
        404,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

/// `None` when the request carries the account's (or an API key's) credentials; the 401 answer
/// otherwise.
fn authenticate(config: &Config, headers: &HeaderMap) -> Option<Response> {
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let ok = credentials
        .as_deref()
        .and_then(|c| c.split_once(':'))
        .is_some_and(|(user, pass)| {
            (user == config.account_sid && pass == config.auth_token)
                || config.api_keys.iter().any(|(k, s)| user == k && pass == s)
        });
    if ok {
        return None;
    }
    let mut response = json_response(
        401,
        &json!({
            "code": 20003,
            "detail": "Your AccountSid or AuthToken was incorrect.",
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    Some(response)
}

fn plausible_e164(to: &str) -> bool {
    to.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The fixed answer of Twilio's magic test numbers.
fn magic(to: &str, from: Option<&str>) -> Option<(u32, &'static str)> {
    let by_to = match to {
        "+15005550001" => Some((
            21211,
            "The 'To' number +15005550001 is not a valid phone number.",
        )),
        "+15005550002" => Some((
            21612,
            "The 'To' phone number is not currently reachable using the 'From' phone number via SMS.",
        )),
        "+15005550003" => Some((
            21408,
            "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +15005550003.",
        )),
        "+15005550004" => Some((21610, "Attempt to send to unsubscribed recipient")),
        "+15005550009" => Some((21614, "'To' number is not a valid mobile number")),
        _ => None,
    };
    by_to.or(match from {
        Some("+15005550001") => Some((21212, "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.")),
        Some("+15005550007") => Some((21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.")),
        Some("+15005550008") => Some((21611, "This 'From' number has exceeded the maximum number of queued messages.")),
        _ => None,
    })
}

async fn create(state: &AppState, form: &[(String, String)]) -> Response {
    let to = first(form, "To").unwrap_or("").to_owned();
    let from = first(form, "From").map(str::to_owned);
    let service = first(form, "MessagingServiceSid").map(str::to_owned);
    let body = first(form, "Body").map(str::to_owned);
    let callback = first(form, "StatusCallback").map(str::to_owned);

    // The request counts whatever becomes of it.
    let (n, scripted) = {
        let mut inner = state.inner();
        inner.creates_seen += 1;
        let scripted = inner.scripts.get_mut(&to).and_then(VecDeque::pop_front);
        (inner.creates_seen, scripted)
    };
    let plan = match scripted {
        Some(Reply::Error {
            status,
            code,
            message,
            retry_after,
        }) => {
            let mut response = error_response(status, code, &message);
            if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        Some(Reply::Raw {
            status,
            content_type,
            body,
        }) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            return response;
        }
        Some(other) => other,
        None => {
            if state
                .config
                .rate_limit_one_in
                .is_some_and(|k| n.is_multiple_of(k))
            {
                let mut response = error_response(429, 20429, "Too Many Requests");
                if let Some(value) = state
                    .config
                    .retry_after
                    .as_deref()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                return response;
            }
            if state
                .config
                .server_error_one_in
                .is_some_and(|k| n.is_multiple_of(k))
            {
                Reply::ServerErrorAfterCreate
            } else {
                Reply::Create
            }
        }
    };

    if to.is_empty() {
        return error_response(400, 21604, "A 'To' phone number is required.");
    }
    if from.is_none() && service.is_none() {
        return error_response(400, 21603, "A 'From' phone number is required.");
    }
    let Some(body) = body.filter(|b| !b.is_empty()) else {
        return error_response(400, 21602, "Message body is required.");
    };
    if let Some((code, message)) = magic(&to, from.as_deref()) {
        return error_response(400, code, message);
    }
    if !plausible_e164(&to) {
        return error_response(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if body.chars().count() > 1600 {
        return error_response(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if let Some(v) = first(form, "ValidityPeriod")
        && !v.parse::<u32>().is_ok_and(|s| (1..=36_000).contains(&s))
    {
        return error_response(400, 21624, "Invalid validity period value.");
    }

    let answered = if plan == Reply::ServerErrorAfterCreate {
        500
    } else {
        201
    };
    let created = {
        let mut inner = state.inner();
        let sequence = inner.messages.len() as u64;
        let created = Created {
            sid: format!("SM{:016x}{:016x}", state.sid_prefix, sequence),
            message_id: callback.as_deref().and_then(mid_of),
            to,
            from,
            messaging_service_sid: service,
            body,
            status_callback: callback,
            created_at: unix_now(),
            answered,
        };
        // Written (and flushed) before anyone hears of it, under the lock, so the file's order
        // is the order of the SIDs.
        if let Some(file) = &state.file {
            let mut line = match serde_json::to_string(&created) {
                Ok(l) => l,
                Err(e) => return error_response(500, 20500, &format!("record: {e}")),
            };
            line.push('\n');
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
                return error_response(500, 20500, &format!("record: {e}"));
            }
        }
        let index = inner.messages.len();
        inner.by_sid.insert(created.sid.clone(), index);
        inner.messages.push(Stored {
            created: created.clone(),
        });
        created
    };
    match plan {
        Reply::ServerErrorAfterCreate => error_response(500, 20500, "Internal Server Error"),
        Reply::HangAfterCreate(wait) => {
            tokio::time::sleep(wait).await;
            error_response(504, 20504, "Gateway timeout")
        }
        _ => json_response(201, &resource(&state.config, &created, false)),
    }
}

fn mid_of(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    pairs(query)
        .into_iter()
        .find(|(k, _)| k == "mid")
        .map(|(_, v)| v)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn segments(body: &str) -> usize {
    let gsm = body.chars().all(|c| c.is_ascii() && c != '`');
    let (single, multi) = if gsm { (160, 153) } else { (70, 67) };
    let n = if gsm {
        body.len()
    } else {
        body.encode_utf16().count()
    };
    if n <= single { 1 } else { n.div_ceil(multi) }
}

/// Whether `m` has left the queue by now (see [`Config::queued_for`]).
fn is_sent(config: &Config, m: &Created) -> bool {
    // Whole seconds, as creations are recorded.
    let waited = u64::try_from(unix_now().saturating_sub(m.created_at)).unwrap_or(0);
    Duration::from_secs(waited) >= config.queued_for
}

/// The Message resource as Twilio serialises it: right after the create, or later while it
/// is still queued (`queued`, no date sent, no price); or later once sent (the configured final
/// status, sent, priced).
fn resource(config: &Config, m: &Created, later: bool) -> Value {
    let later = later && is_sent(config, m);
    let uri = format!(
        "{API}/Accounts/{}/Messages/{}.json",
        config.account_sid, m.sid
    );
    let date = rfc2822(m.created_at);
    let status = if later {
        config.final_status.as_str()
    } else if m.messaging_service_sid.is_some() {
        "accepted"
    } else {
        "queued"
    };
    let segments = segments(&m.body);
    let failed = later && matches!(status, "failed" | "undelivered");
    json!({
        "account_sid": config.account_sid,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": date,
        "date_sent": if later { Value::from(date.clone()) } else { Value::Null },
        "date_updated": date,
        "direction": "outbound-api",
        "error_code": if failed { Value::from(30003) } else { Value::Null },
        "error_message": if failed { Value::from("Unreachable destination handset") } else { Value::Null },
        "from": match (&m.from, later) {
            (Some(f), _) => Value::from(f.as_str()),
            (None, true) => Value::from(POOL_NUMBER),
            (None, false) => Value::Null,
        },
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": "0",
        "num_segments": if later || m.messaging_service_sid.is_none() { segments.to_string() } else { "0".to_owned() },
        "price": if later { Value::from(format!("-{}", price(segments))) } else { Value::Null },
        "price_unit": "USD",
        "sid": m.sid,
        "status": status,
        "subresource_uris": {
            "media": format!("{API}/Accounts/{}/Messages/{}/Media.json", config.account_sid, m.sid),
        },
        "to": m.to,
        "uri": uri,
    })
}

/// $0.0079 a segment, as a decimal string.
fn price(segments: usize) -> String {
    let tenths_of_cents = 79 * segments;
    format!(
        "{}.{:04}",
        tenths_of_cents / 10_000,
        tenths_of_cents % 10_000
    )
}

fn fetch(state: &AppState, sid: &str) -> Response {
    let inner = state.inner();
    match inner.by_sid.get(sid).and_then(|&i| inner.messages.get(i)) {
        Some(m) => json_response(200, &resource(&state.config, &m.created, true)),
        None => not_found(&format!(
            "{API}/Accounts/{}/Messages/{sid}.json",
            state.config.account_sid
        )),
    }
}

/// Days since 1970-01-01 as (year, month, day) (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `Thu, 04 Dec 2026 23:50:01 +0000`, Twilio's date format (RFC 2822).
fn rfc2822(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn ymd(unix: i64) -> String {
    let (y, m, d) = civil(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

fn list(state: &AppState, query: &[(String, String)]) -> Response {
    let to = first(query, "To");
    let from = first(query, "From");
    let on = first(query, "DateSent");
    let after = first(query, "DateSent>");
    let before = first(query, "DateSent<");
    for date in [on, after, before].into_iter().flatten() {
        let ok = date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !ok {
            return error_response(
                400,
                20001,
                &format!("Invalid date {date:?}: use YYYY-MM-DD"),
            );
        }
    }
    let page_size = match first(query, "PageSize").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return error_response(400, 20001, "PageSize must be between 1 and 1000"),
    };
    let offset = match first(query, "PageToken") {
        None => 0,
        Some(token) => match token
            .strip_prefix("PA")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => return error_response(400, 20001, "Invalid PageToken"),
        },
    };
    let page: usize = first(query, "Page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let inner = state.inner();
    // Sorted by the date sent, most recent first, as Twilio documents its list. The fake
    // "sends" at creation (or once `queued_for` has passed, dated as created); a message still
    // queued has no date sent, so it matches no `DateSent` filter, and it comes after every sent
    // one: Twilio does not say where such messages go, and last is the place a client that stops
    // paging early would miss.
    let mut matching: Vec<&Created> = inner
        .messages
        .iter()
        .rev()
        .map(|m| &m.created)
        .filter(|m| to.is_none_or(|t| m.to == t))
        .filter(|m| {
            from.is_none_or(|f| {
                m.from.as_deref() == Some(f) || (m.from.is_none() && f == POOL_NUMBER)
            })
        })
        .filter(|m| {
            let dated = on.is_some() || after.is_some() || before.is_some();
            if dated && !is_sent(&state.config, m) {
                return false;
            }
            let sent = ymd(m.created_at);
            on.is_none_or(|d| sent == d)
                && after.is_none_or(|d| sent.as_str() >= d)
                && before.is_none_or(|d| sent.as_str() <= d)
        })
        .collect();
    // Stable: the newest-first order stays within the sent and within the queued.
    matching.sort_by_key(|m| !is_sent(&state.config, m));
    let messages: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|m| resource(&state.config, m, true))
        .collect();
    let base = format!("{API}/Accounts/{}/Messages.json", state.config.account_sid);
    let mut filters: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "PageToken" | "Page" | "PageSize"))
        .cloned()
        .collect();
    filters.push(("PageSize".into(), page_size.to_string()));
    let uri_with = |extra: &[(String, String)]| {
        let mut all = filters.clone();
        all.extend_from_slice(extra);
        format!(
            "{base}?{}",
            serde_urlencoded::to_string(&all).unwrap_or_default()
        )
    };
    let next = offset + page_size;
    let next_page_uri = if next < matching.len() {
        Value::from(uri_with(&[
            ("Page".into(), (page + 1).to_string()),
            ("PageToken".into(), format!("PA{next}")),
        ]))
    } else {
        Value::Null
    };
    json_response(
        200,
        &json!({
            "messages": messages,
            "end": offset + messages.len().saturating_sub(1),
            "first_page_uri": uri_with(&[("Page".into(), "0".into())]),
            "next_page_uri": next_page_uri,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": Value::Null,
            "start": offset,
            "uri": uri_with(&[]),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_like_twilio() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_280_000_000), "Sat, 24 Jul 2010 19:33:20 +0000");
        assert_eq!(ymd(1_280_000_000), "2010-07-24");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn prices_and_segments() {
        assert_eq!(price(1), "0.0079");
        assert_eq!(price(3), "0.0237");
        assert_eq!(segments("hi"), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments("héllo"), 1);
    }

    #[test]
    fn mid_comes_from_the_callback_query() {
        assert_eq!(
            mid_of("https://x.test/cb?a=1&mid=42#rc=3").as_deref(),
            Some("42")
        );
        assert_eq!(mid_of("https://x.test/cb"), None);
    }

    #[test]
    fn arguments() {
        let c = Config::from_args(
            [
                "--port",
                "0",
                "--server-error-one-in",
                "23",
                "--rate-limit-one-in",
                "31",
            ]
            .map(String::from),
        )
        .unwrap();
        assert_eq!(
            (c.server_error_one_in, c.rate_limit_one_in),
            (Some(23), Some(31))
        );
        assert!(Config::from_args(["--bogus".to_owned()]).is_err());
        assert!(Config::from_args(["--port".to_owned()]).is_err());
    }
}
