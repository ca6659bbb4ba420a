//! `smsbatch serve`: the web app (workspace, dashboard, JSON API) on 127.0.0.1.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use smsbatch::PreviewConfig;
use smsbatch::analytics::SlaObjectives;
use smsbatch::queue::{ErrorTable, Sender};
use smsbatch::send::{RunnerConfig, Shutdown, Worker, WorkerEvent};
use smsbatch::store::{Actor, Backend, MemoryStore, UserClaims, Uuid};
use smsbatch::testing::{FakeConfig, FakeFailure, sample_customers};
use smsbatch::web::{Identity, JwtVerifier, WebApp};

use crate::store::{StoreArgs, block_on};

/// The providers the server's worker can send through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Provider {
    /// The fake provider (deterministic from --seed, latency --fake-latency-ms).
    Fake,
}

/// The objectives when `--sla` is not given.
const DEFAULT_SLA: &str = r#"{"doneWithinSeconds": 3600, "maxErrorRate": {"rate": 0.05, "windowSeconds": 300}, "minDeliveryRate": 0.95}"#;

/// The user of the in-memory store when `--user` is not given.
const DEMO_USER: &str = "00000000-0000-4000-8000-000000000001";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The port on 127.0.0.1 (0 picks a free one; the line `listening on ...` tells which).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Act for this user (a UUID) on every request: the in-memory store's user (default
    /// 00000000-0000-4000-8000-000000000001), or one local user of a database store.
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    /// The team of the --user (the in-memory sample's customers and templates are in it).
    #[arg(long, value_name = "TEAM", default_value = "demo")]
    team: String,
    /// Verify each request's `Authorization: Bearer <JWT>` with this HS256 secret (the
    /// Supabase project's JWT secret) and act for its user; default: $SMSBATCH_JWT_SECRET.
    #[arg(long, value_name = "SECRET")]
    jwt_secret: Option<String>,
    /// The folder of the page files: the WebAssembly package's folder with app/ and the built
    /// pkg/ (bindings/wasm/build.sh).
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// A price table (JSON, as `smsbatch preview --price`); default: the sample's USD prices.
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
    /// SLA objectives every batch is checked against (JSON, as `smsbatch report --sla`);
    /// default: done within an hour, at most 5% errors over 5-minute windows, at least 95%
    /// delivered.
    #[arg(long, value_name = "FILE")]
    sla: Option<PathBuf>,
    /// Mount Twilio's webhooks (`POST /twilio/status`, `POST /twilio/inbound`), verifying
    /// `X-Twilio-Signature` with this account auth token; default: $TWILIO_AUTH_TOKEN.
    #[arg(long, value_name = "TOKEN")]
    twilio_auth_token: Option<String>,
    /// The base URL Twilio reaches this server at (it signs the full URL); default:
    /// http://127.0.0.1:PORT.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Serve this many generated customers (`smsbatch::testing::sample_customers`, from --seed)
    /// instead of the bundled 1,000 of the sample, on the in-memory store.
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
    /// Do not run a worker inside the server (another process, `smsbatch worker`, sends).
    #[arg(long)]
    no_worker: bool,
    /// The worker's provider: the fake provider of `smsbatch::testing` (nothing leaves the
    /// machine).
    #[arg(long, value_enum, default_value_t = Provider::Fake)]
    provider: Provider,
    /// The fake provider's latency per send, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5)]
    fake_latency_ms: u64,
    /// Make about one send in N fail (N at least 2; chosen by --seed) with --fake-fail-code:
    /// a batch with failures, to see the error chart, SLA alerts and "Retry failed" at work.
    #[arg(long, value_name = "N")]
    fake_fail_one_in: Option<u64>,
    /// The Twilio error code of those failures: 30007 (filtered: permanent, never retried) by
    /// default; a retryable one such as 30008 (unknown error) lets "Retry failed" requeue them.
    #[arg(long, value_name = "CODE", default_value = "30007")]
    fake_fail_code: String,
    /// The seed of the fake provider's choices and of the backoff's jitter.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// How often the worker looks for work, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    poll_ms: u64,
    #[command(flatten)]
    store: StoreArgs,
}

fn user(id: &str, team: &str) -> Result<Actor, smsbatch::Error> {
    let id = Uuid::parse_str(id.trim()).map_err(|_| {
        smsbatch::Error::invalid_input(format!("--user must be a UUID, not {id:?}"))
    })?;
    Ok(Actor::User(UserClaims::new(id).team(team)))
}

/// The failures `--fake-fail-one-in` and `--fake-fail-code` ask for, checked before anything
/// starts.
fn fake_failures(args: &Args) -> Result<Option<(u64, FakeFailure)>, smsbatch::Error> {
    let Some(n) = args.fake_fail_one_in else {
        return Ok(None);
    };
    if n < 2 {
        return Err(smsbatch::Error::invalid_input(format!(
            "--fake-fail-one-in must be at least 2 (about one send in N fails), not {n}"
        )));
    }
    let code = args.fake_fail_code.trim();
    let known = code
        .parse::<u32>()
        .ok()
        .and_then(|c| ErrorTable::twilio().rule(c).map(|_| ()))
        .is_some();
    if !known {
        return Err(smsbatch::Error::invalid_input(format!(
            "--fake-fail-code must be a Twilio error code smsbatch classifies (such as 30007 or \
             30008), not {code:?}"
        )));
    }
    Ok(Some((n, FakeFailure::Code(code.to_owned()))))
}

pub(crate) fn run(args: Args) -> ExitCode {
    block_on(async move {
        let failures = fake_failures(&args)?;
        let secret = args.jwt_secret.clone().or_else(|| {
            std::env::var("SMSBATCH_JWT_SECRET")
                .ok()
                .filter(|s| !s.trim().is_empty())
        });
        let verifier = secret.map(JwtVerifier::new).transpose()?;
        let (backend, identity, name): (Arc<dyn Backend>, Identity, &str) = if args.store.given() {
            let identity = match (verifier, &args.user) {
                (Some(v), None) => Identity::Jwt(v),
                (None, Some(_)) if args.store.is_supabase()? => {
                    return Err(smsbatch::Error::invalid_input(
                        "--user does not work with the Supabase store: its REST API acts for a \
                         user only with that user's JWT, so pass --jwt-secret SECRET (the \
                         project's JWT secret) and let each request carry its user's token",
                    ));
                }
                (None, Some(id)) => Identity::Fixed(user(id, &args.team)?),
                (Some(_), Some(_)) => {
                    return Err(smsbatch::Error::invalid_input(
                        "give either --jwt-secret (each request's user) or --user (one user), \
                         not both",
                    ));
                }
                (None, None) => {
                    return Err(smsbatch::Error::invalid_input(
                        "a database store needs to know who each request acts for: pass \
                         --jwt-secret SECRET (requests carry a JWT) or --user ID (one local user)",
                    ));
                }
            };
            let (backend, name) = args.store.backend().await?;
            (backend, identity, name)
        } else {
            let memory = MemoryStore::new();
            let service = memory.store(Actor::Service)?;
            let loaded = smsbatch::web::load_sample(&service, Some(&args.team)).await?;
            let mut customers = loaded.customers;
            if let Some(n) = args.sample {
                // A generated audience replaces the bundled one (same ids from 1).
                let ids: Vec<i64> = (1..=i64::try_from(customers).unwrap_or(i64::MAX)).collect();
                service.customers.delete(&ids).await?;
                let mut generated = sample_customers(n, args.seed, crate::io::clock_now());
                for c in &mut generated {
                    c.team_id = Some(args.team.clone());
                }
                customers = 0;
                for chunk in generated.chunks(10_000) {
                    customers += service.customers.upsert(chunk).await?;
                }
            }
            eprintln!(
                "in-memory store: {customers} sample customers and {} templates in team {:?}",
                loaded.templates, args.team
            );
            let identity = match verifier {
                Some(v) if args.user.is_none() => Identity::Jwt(v),
                _ => {
                    let id = args.user.as_deref().unwrap_or(DEMO_USER);
                    eprintln!("acting for user {id} (team {:?})", args.team);
                    Identity::Fixed(user(id, &args.team)?)
                }
            };
            (Arc::new(memory), identity, "memory")
        };
        let prices = match &args.prices {
            Some(path) => {
                smsbatch::PriceTable::from_json(&std::fs::read_to_string(path).map_err(|e| {
                    smsbatch::Error::invalid_input(format!("cannot read {}: {e}", path.display()))
                })?)?
            }
            None => smsbatch::web::sample_prices()?,
        };
        let sla = match &args.sla {
            Some(path) => crate::report::objectives(path)?,
            None => SlaObjectives::from_json(DEFAULT_SLA)?,
        };
        let assets = args.assets.clone().unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/bindings/wasm"))
        });
        // The worker acts as the service: it prepares and sends every user's batches.
        let shutdown = Shutdown::new();
        let worker = if args.no_worker {
            None
        } else {
            let sender: Arc<dyn Sender> = match args.provider {
                Provider::Fake => {
                    let latency = Duration::from_millis(args.fake_latency_ms);
                    let mut fake = FakeConfig::new().seed(args.seed).latency(latency, latency);
                    if let Some((n, failure)) = failures.clone() {
                        fake = fake.fail_one_in(n, failure);
                    }
                    Arc::new(fake.build()?)
                }
            };
            let config = RunnerConfig::new()
                .poll(Duration::from_millis(args.poll_ms.max(1)))
                .seed(args.seed);
            let worker = Worker::new(backend.store(Actor::Service)?, sender)
                .config(config)
                .shutdown(shutdown.clone())
                .events(Arc::new(log_event));
            eprintln!("worker: sending through the {:?} provider", args.provider);
            Some(tokio::spawn(async move { worker.run().await }))
        };
        let app = WebApp::new(backend, identity)
            .assets(assets)
            .preview(PreviewConfig::new().prices(prices))
            .store_name(name)
            .sla(sla);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .map_err(|e| {
                smsbatch::Error::invalid_input(format!(
                    "cannot listen on 127.0.0.1:{}: {e}",
                    args.port
                ))
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| smsbatch::Error::invalid_input(format!("no local address: {e}")))?
            .port();
        let token = args.twilio_auth_token.clone().or_else(|| {
            std::env::var("TWILIO_AUTH_TOKEN")
                .ok()
                .filter(|s| !s.trim().is_empty())
        });
        let app = match token {
            Some(token) => {
                let public = args
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
                eprintln!("twilio webhooks at {public}/twilio/status and {public}/twilio/inbound");
                app.twilio(smsbatch::twilio::Webhooks::new(token), public)
            }
            None => app,
        };
        // The listener accepts connections from here on (the kernel queues them until axum
        // takes them), so a client reading this line can connect at once.
        println!("listening on http://127.0.0.1:{port}");
        let _ = std::io::stdout().flush();
        smsbatch::web::serve(listener, app.router(), signal())
            .await
            .map_err(|e| smsbatch::Error::invalid_input(format!("the server stopped: {e}")))?;
        // Then the worker: it stops claiming, lets the sends under way finish, gives back the
        // rest.
        shutdown.trigger();
        if let Some(worker) = worker {
            match worker.await {
                Ok(Ok(report)) => eprintln!("worker stopped: {}", json!(report)),
                Ok(Err(e)) => eprintln!("worker stopped: {e}"),
                Err(e) => eprintln!("worker stopped: {e}"),
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The worker's events, one JSON line each on stderr (as `smsbatch worker` logs them).
fn log_event(event: &WorkerEvent) {
    let line = match event {
        WorkerEvent::Prepared { batch, messages } => {
            json!({"event": "prepared", "batch": batch, "messages": messages})
        }
        WorkerEvent::State {
            batch,
            state,
            reason,
            message,
        } => json!({"event": "state", "batch": batch, "state": state, "pauseReason": reason,
                    "message": message}),
        WorkerEvent::Error { batch, error } => {
            json!({"event": "error", "batch": batch, "error": error})
        }
        other => json!({"event": format!("{other:?}")}),
    };
    eprintln!("{line}");
}

/// Ctrl-C or SIGTERM: stop accepting, finish the requests in flight.
async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
