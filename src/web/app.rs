//! [`WebApp`]: the routes, who each request acts for, and [`serve`].

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};

use super::error::ApiError;
use super::jwt::JwtVerifier;
use super::{api, assets};
use crate::analytics::{BatchAnalyzer, SlaObjectives};
use crate::batch::PreviewConfig;
use crate::store::{Actor, Backend, Batch, Store};
use crate::time::Timestamp;

/// Who the requests act for.
#[derive(Clone, Debug)]
pub enum Identity {
    /// Every request acts for this actor (`smsbatch serve --user ID` on the in-memory store, or
    /// one user's local run).
    Fixed(Actor),
    /// Each request acts for the user of its `Authorization: Bearer <JWT>` header, verified
    /// with this secret (database stores: row-level security then decides what it sees). A
    /// request without a valid token is refused with 401.
    Jwt(JwtVerifier),
}

/// The clock requests read (the library itself never reads one).
pub(crate) type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The web app: the JSON API under `/api/` (documented in the README), the workspace page at
/// `/` and the dashboard at `/dashboard`, over one store.
///
/// ```no_run
/// use std::sync::Arc;
/// use smsbatch::store::{Actor, Backend, MemoryStore, Uuid};
/// use smsbatch::web::{Identity, WebApp};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let backend = Arc::new(MemoryStore::new());
/// smsbatch::web::load_sample(&backend.store(Actor::Service)?, Some("demo")).await?;
/// let user = smsbatch::store::UserClaims::new(Uuid::from_u128(1)).team("demo");
/// let app = WebApp::new(backend, Identity::Fixed(Actor::User(user)))
///     .assets("bindings/wasm");
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// smsbatch::web::serve(listener, app.router(), std::future::pending()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WebApp {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) identity: Identity,
    pub(crate) assets: Option<PathBuf>,
    pub(crate) preview: PreviewConfig,
    pub(crate) clock: Clock,
    pub(crate) store_name: String,
    pub(crate) sla: SlaObjectives,
    #[cfg(feature = "twilio")]
    pub(crate) twilio: Option<Arc<super::twilio::TwilioHooks>>,
}

impl std::fmt::Debug for WebApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebApp")
            .field("identity", &self.identity)
            .field("assets", &self.assets)
            .field("store_name", &self.store_name)
            .field("sla", &self.sla)
            .finish_non_exhaustive()
    }
}

/// The system clock, read at the edge (the server), never inside the core.
fn system_now() -> Timestamp {
    use std::time::{SystemTime, UNIX_EPOCH};
    let micros = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |m| -m),
    };
    Timestamp::saturating_from_unix_micros(micros)
}

impl WebApp {
    /// The app over `backend`, its requests acting as `identity` says; the default preview
    /// configuration (prices in credits), the system clock, no page files.
    pub fn new(backend: Arc<dyn Backend>, identity: Identity) -> Self {
        Self {
            backend,
            identity,
            assets: None,
            preview: PreviewConfig::new(),
            clock: Arc::new(system_now),
            store_name: "memory".to_owned(),
            sla: SlaObjectives::default(),
            #[cfg(feature = "twilio")]
            twilio: None,
        }
    }

    /// Serves the pages from `dir`: the WebAssembly package's folder (`bindings/wasm`), with the
    /// app in `app/` and the built package in `pkg/web/`. Without it only the API is served.
    pub fn assets(mut self, dir: impl Into<PathBuf>) -> Self {
        self.assets = Some(dir.into());
        self
    }

    /// The preview configuration (prices, segment options, purpose default...). The page
    /// receives it from `GET /api/preview-config` and previews with exactly this; phones are
    /// checked as E.164 (`e164Only`), as stores hold them normalised.
    pub fn preview(mut self, config: PreviewConfig) -> Self {
        self.preview = config;
        self
    }

    /// The clock requests read (tests pass a fixed one).
    pub fn clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The SLA objectives every batch's report is checked against (the dashboard shows their
    /// status and violations); none by default.
    pub fn sla(mut self, objectives: SlaObjectives) -> Self {
        self.sla = objectives;
        self
    }

    /// Mounts Twilio's webhooks at `POST /twilio/status` and `POST /twilio/inbound`. Twilio
    /// signs the full URL it calls, so `public_url` is the base it reaches this server at
    /// (`https://hooks.example.com`, or `http://127.0.0.1:PORT` for a local test). Status
    /// callbacks update the messages; inbound STOP/START keywords change the suppression list
    /// (both as the service). Without this, the two paths answer 404.
    #[cfg(feature = "twilio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "twilio")))]
    pub fn twilio(mut self, hooks: crate::twilio::Webhooks, public_url: impl Into<String>) -> Self {
        self.twilio = Some(Arc::new(super::twilio::TwilioHooks {
            hooks,
            public_url: public_url.into(),
        }));
        self
    }

    /// An analyzer of `batch` with the app's objectives.
    pub(crate) fn analyzer(&self, batch: &Batch) -> BatchAnalyzer {
        BatchAnalyzer::for_batch(batch).objectives(self.sla.clone())
    }

    /// The store's name as `GET /api/session` reports it (`memory`, `postgres`...).
    pub fn store_name(mut self, name: impl Into<String>) -> Self {
        self.store_name = name.into();
        self
    }

    /// The store a request acts on, for the actor its identity gives.
    pub(crate) fn store_for(&self, headers: &HeaderMap) -> Result<(Actor, Store), ApiError> {
        let actor = match &self.identity {
            Identity::Fixed(actor) => actor.clone(),
            Identity::Jwt(verifier) => {
                let token = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| {
                        v.strip_prefix("Bearer ")
                            .or_else(|| v.strip_prefix("bearer "))
                    })
                    .ok_or_else(|| {
                        ApiError::unauthorized(
                            "sign in first: this server needs an `Authorization: Bearer <JWT>` \
                             header",
                        )
                    })?;
                verifier
                    .verify(token, (self.clock)())
                    .map_err(|e| ApiError::unauthorized(e.kind().to_string()))?
            }
        };
        let store = self.backend.store(actor.clone())?;
        Ok((actor, store))
    }

    /// The current time.
    pub(crate) fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// The axum router: `/api/...`, the pages and their files.
    pub fn router(self) -> Router {
        let state = Arc::new(self);
        let router = Router::new();
        #[cfg(feature = "twilio")]
        let router = router
            .route("/twilio/status", post(super::twilio::status))
            .route("/twilio/inbound", post(super::twilio::inbound));
        router
            .route("/api/session", get(api::session))
            .route("/api/schema", get(api::schema))
            .route("/api/preview-config", get(api::preview_config))
            .route("/api/templates", get(api::templates))
            .route("/api/templates/{id}", get(api::template))
            .route("/api/customers/query", post(api::customers_query))
            .route("/api/customers/count", post(api::customers_count))
            .route("/api/filter-presets", get(api::filter_presets))
            .route(
                "/api/saved-filters",
                get(api::saved_list).post(api::saved_create),
            )
            .route("/api/saved-filters/export", get(api::saved_export))
            .route("/api/saved-filters/import", post(api::saved_import))
            .route(
                "/api/saved-filters/{id}",
                get(api::saved_get)
                    .put(api::saved_update)
                    .delete(api::saved_delete),
            )
            .route("/api/preview", post(api::preview))
            .route("/api/batches", get(api::batches).post(api::batch_create))
            .route("/api/batches/{id}", get(api::batch))
            .route("/api/batches/{id}/{action}", post(api::batch_action))
            .route("/api/batches/{id}/messages", get(api::batch_messages))
            .route("/api/batches/{id}/logs", get(api::batch_logs))
            .route("/api/batches/{id}/export", get(api::batch_export))
            .route("/api/batches/{id}/report", get(api::batch_report))
            .route("/api/{*rest}", axum::routing::any(api::no_route))
            .route("/", get(assets::workspace))
            .route("/dashboard", get(assets::dashboard))
            .route("/app/{file}", get(assets::app_file))
            .route("/pkg/web/{file}", get(assets::pkg_file))
            .with_state(state)
    }
}

/// Serves `router` on `listener` until `shutdown` completes (then finishes the requests in
/// flight).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
