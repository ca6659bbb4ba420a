//! The web app's JSON API (`smsbatch::web`), served on 127.0.0.1 by a test-owned server over
//! the in-memory store with the sample: what the page relies on, checked against the library
//! itself (counts against the store's query, the preview against the `Previewer`), ownership and
//! sharing of saved filters between two users, JWT identity, batches, errors and page files.
//! The browser flows (workspace, dashboard, axe-core) are in bindings/wasm/browser/app.test.mjs.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use smsbatch::filter::{FilterOptions, Query};
use smsbatch::store::{Actor, Backend, CustomerScan, MemoryStore, UserClaims, Uuid};
use smsbatch::web::{Identity, JwtVerifier, WebApp};
use smsbatch::{PreviewConfig, Timestamp};

const NOW: &str = "2026-12-01T12:00:00Z";
const SECRET: &str = "web-api-test-secret-of-at-least-32-characters";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn user(n: u128) -> Actor {
    Actor::User(UserClaims::new(Uuid::from_u128(n)).team("demo"))
}

/// A server on 127.0.0.1 for one test, stopped (and its thread joined) when dropped.
struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(app: WebApp) -> Server {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, address) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send(listener.local_addr().unwrap()).unwrap();
                smsbatch::web::serve(listener, app.router(), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = address.recv_timeout(Duration::from_secs(30)).unwrap();
        Server {
            base: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, String, Vec<(String, String)>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let result = match body {
            Some(b) => agent.run(
                builder
                    .header("content-type", "application/json")
                    .body(b.to_owned())
                    .unwrap(),
            ),
            None => agent.run(builder.body(()).unwrap()),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
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
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
            headers,
        )
    }

    fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.json_as(method, path, &[], body)
    }

    fn json_as(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let text = body.map(|b| b.to_string());
        let (status, text, _) = self.call(method, path, headers, text.as_deref());
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
        };
        (status, value)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The sample in a memory store, and an app acting for `actor` over it.
fn sample_backend() -> Arc<MemoryStore> {
    let backend = Arc::new(MemoryStore::new());
    let store = backend.store(Actor::Service).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(smsbatch::web::load_sample(&store, Some("demo")))
        .unwrap();
    backend
}

fn app(backend: Arc<MemoryStore>, identity: Identity) -> WebApp {
    WebApp::new(backend, identity)
        .sla(smsbatch::analytics::SlaObjectives::from_json(r#"{"minDeliveryRate": 0.9}"#).unwrap())
        .preview(PreviewConfig::new().prices(smsbatch::web::sample_prices().unwrap()))
        .clock(now)
        .assets(concat!(env!("CARGO_MANIFEST_DIR"), "/bindings/wasm"))
}

#[test]
fn counts_and_pages_are_the_stores() {
    let backend = sample_backend();
    let server = Server::start(app(backend.clone(), Identity::Fixed(user(1))));
    let filter = json!({"or": [{"field": "city", "op": "contains", "value": "lyon"}, {"field": "total_spent", "op": "gte", "value": 1500}]});
    let (status, count) = server.json(
        "POST",
        "/api/customers/count",
        Some(json!({"where": filter})),
    );
    assert_eq!(status, 200, "{count}");
    let store = backend.store(user(1)).unwrap();
    let direct = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let query = Query {
                filter: Some(smsbatch::filter::Node::from_value(&filter).unwrap()),
                count: true,
                limit: Some(1),
                ..Query::default()
            };
            store
                .customers
                .query(&query, &FilterOptions::new().with_now(now()), None)
                .await
                .unwrap()
        });
    assert_eq!(count["count"].as_u64(), direct.total);
    assert!(direct.total.unwrap() > 0);
    // A document works as well as a node; pages, search and sort.
    let (_, page) = server.json(
        "POST",
        "/api/customers/query",
        Some(json!({
            "where": {"version": 1, "where": filter}, "limit": 10, "offset": 10, "count": true,
            "sort": [{"field": "id", "direction": "asc"}],
        })),
    );
    assert_eq!(page["total"], count["count"]);
    let ids: Vec<i64> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 10);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let (_, searched) = server.json(
        "POST",
        "/api/customers/query",
        Some(json!({"search": "lyon", "count": true, "limit": 5})),
    );
    assert!(searched["total"].as_u64().unwrap() > 0);
    assert!(
        searched["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.to_string().to_lowercase().contains("lyon"))
    );
    // Too large a page is refused with the field named.
    let (status, err) = server.json(
        "POST",
        "/api/customers/query",
        Some(json!({"limit": 10_001})),
    );
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (400, Some("invalidQuery"))
    );
    assert_eq!(err["error"]["path"], "/limit");
}

#[test]
fn bad_requests_name_the_problem() {
    let server = Server::start(app(sample_backend(), Identity::Fixed(user(1))));
    let (status, err) = server.json(
        "POST",
        "/api/customers/count",
        Some(json!({"where": {"field": "fax", "op": "equals", "value": 1}})),
    );
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (400, Some("unknownField")),
        "{err}"
    );
    let (status, err) = server.json(
        "POST",
        "/api/customers/count",
        Some(json!({"where": {"field": "date_create", "op": "withinLastDays", "value": "soon"}})),
    );
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (400, Some("invalidFilter")),
        "{err}"
    );
    let (status, _, _) = server.call("POST", "/api/customers/count", &[], Some("{not json"));
    assert_eq!(status, 400);
    let (status, err) = server.json(
        "POST",
        "/api/preview",
        Some(json!({"template": "Hi {{first_name"})),
    );
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (400, Some("templateSyntax")),
        "{err}"
    );
    let (status, err) = server.json("GET", "/api/nothing/here", None);
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (404, Some("notFound"))
    );
    let (status, err) = server.json("GET", "/api/templates/nope", None);
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (404, Some("notFound"))
    );
}

#[test]
fn the_preview_is_the_previewers() {
    let backend = sample_backend();
    let server = Server::start(app(backend.clone(), Identity::Fixed(user(1))));
    let template = "Hi {{default first_name \"there\"}}, your order is ready 🎉";
    let filter = json!({"field": "country", "op": "in", "value": ["GB", "FR"]});
    let (status, preview) = server.json(
        "POST",
        "/api/preview",
        Some(json!({"template": template, "where": filter, "purpose": "transactional", "show": 3})),
    );
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["recipients"].as_array().unwrap().len(), 3);
    // The page previews with /api/preview-config over the rows of /api/customers/query: the same.
    let (_, config) = server.json("GET", "/api/preview-config", None);
    assert_eq!(config["e164Only"], true);
    let (_, rows) = server.json(
        "POST",
        "/api/customers/query",
        Some(json!({"where": filter, "limit": 10_000})),
    );
    let config: PreviewConfig = serde_json::from_value(config).unwrap();
    let previewer = config
        .purpose(smsbatch::Purpose::Transactional)
        .build(&smsbatch::Template::compile(template).unwrap())
        .unwrap();
    let local = previewer.preview(rows["rows"].as_array().unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&local.summary).unwrap(),
        preview["summary"]
    );
    assert_eq!(preview["summary"]["currency"], "USD");
    // And the store's own scan gives the same rows in the same order.
    let store = backend.store(user(1)).unwrap();
    let scanned = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let query = Query {
                filter: Some(smsbatch::filter::Node::from_value(&filter).unwrap()),
                ..Query::default()
            };
            let mut scan = CustomerScan::new(
                store.customers.clone(),
                query,
                FilterOptions::new().with_now(now()),
                None,
                100,
            )
            .unwrap();
            let mut ids = Vec::new();
            while let Some(chunk) = scan.next_chunk().await.unwrap() {
                ids.extend(chunk.into_iter().map(|c| c.id));
            }
            ids
        });
    let paged: Vec<i64> = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(scanned, paged);
}

#[test]
fn templates_are_searched_with_metadata() {
    let server = Server::start(app(sample_backend(), Identity::Fixed(user(1))));
    let (_, all) = server.json("GET", "/api/templates", None);
    assert_eq!(all.as_array().unwrap().len(), 6);
    let (_, found) = server.json("GET", "/api/templates?q=EXPEDITION", None);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], "expedition");
    assert_eq!(found[0]["metadata"]["variables"], json!(["first_name"]));
    assert_eq!(found[0]["metadata"]["encoding"], "GSM-7");
    let (status, one) = server.json("GET", "/api/templates/welcome", None);
    assert_eq!(
        (status, one["metadata"]["minSegments"].as_u64()),
        (200, Some(1))
    );
}

#[test]
fn saved_filters_belong_to_their_owner_and_are_shared() {
    let backend = sample_backend();
    let alice = Server::start(app(backend.clone(), Identity::Fixed(user(1))));
    let bob = Server::start(app(
        backend.clone(),
        Identity::Fixed(Actor::User(
            UserClaims::new(Uuid::from_u128(2)).team("other"),
        )),
    ));
    let (status, saved) = alice.json("POST", "/api/saved-filters", Some(json!({
        "name": "Lyon", "filter": {"version": 1, "where": {"field": "city", "op": "contains", "value": "lyon"}},
    })));
    assert_eq!(status, 201, "{saved}");
    let id = saved["id"].as_str().unwrap().to_owned();
    assert_eq!(saved["owner"], Uuid::from_u128(1).to_string());
    assert_eq!(saved["visibility"]["type"], "private");
    // Bob (another team) sees nothing until it is shared with him.
    let (_, list) = bob.json("GET", "/api/saved-filters", None);
    assert_eq!(list, json!([]));
    let (status, _) = bob.json("GET", &format!("/api/saved-filters/{id}"), None);
    assert_eq!(status, 404);
    let (status, shared) = alice.json(
        "PUT",
        &format!("/api/saved-filters/{id}"),
        Some(json!({
            "visibility": {"type": "shared", "users": [Uuid::from_u128(2).to_string()]},
        })),
    );
    assert_eq!(status, 200, "{shared}");
    let (_, list) = bob.json("GET", "/api/saved-filters", None);
    assert_eq!(list.as_array().unwrap().len(), 1);
    // He can load it but not change or delete it.
    let (status, err) = bob.json(
        "PUT",
        &format!("/api/saved-filters/{id}"),
        Some(json!({"name": "Mine now"})),
    );
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (403, Some("permissionDenied")),
        "{err}"
    );
    let (status, _) = bob.json("DELETE", &format!("/api/saved-filters/{id}"), None);
    assert_eq!(status, 403);
    // Export, then import as copies: Bob gets his own private copy.
    let (status, text, headers) = alice.call("GET", "/api/saved-filters/export", &[], None);
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-disposition" && v.contains("saved-filters.json"))
    );
    let (status, changes) = bob.json(
        "POST",
        "/api/saved-filters/import?mode=copy",
        Some(serde_json::from_str(&text).unwrap()),
    );
    assert_eq!(status, 200, "{changes}");
    assert_eq!(changes["created"].as_array().unwrap().len(), 1);
    let (_, list) = bob.json("GET", "/api/saved-filters", None);
    let owners: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["owner"].as_str().unwrap())
        .collect();
    assert!(owners.contains(&Uuid::from_u128(2).to_string().as_str()));
    // Restoring Alice's file as Bob is refused: the filters are hers.
    let (status, err) = bob.json(
        "POST",
        "/api/saved-filters/import",
        Some(serde_json::from_str(&text).unwrap()),
    );
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (403, Some("permissionDenied")),
        "{err}"
    );
    // A broken import names the bad member.
    let (status, err) = alice.json(
        "POST",
        "/api/saved-filters/import",
        Some(json!({"format": "smsbatch.savedFilters", "version": 9, "filters": []})),
    );
    assert_eq!(
        (status, err["error"]["path"].as_str()),
        (400, Some("/version")),
        "{err}"
    );
    let (status, _) = alice.json("DELETE", &format!("/api/saved-filters/{id}"), None);
    assert_eq!(status, 204);
}

#[test]
fn jwt_identity_is_verified() {
    let verifier = JwtVerifier::new(SECRET).unwrap();
    let server = Server::start(app(sample_backend(), Identity::Jwt(verifier.clone())));
    let (status, err) = server.json("GET", "/api/session", None);
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (401, Some("permissionDenied"))
    );
    let id = Uuid::from_u128(7).to_string();
    let token = verifier
        .sign(&json!({"sub": id, "role": "authenticated", "app_metadata": {"team_id": "demo"}}))
        .unwrap();
    let bearer = format!("Bearer {token}");
    let (status, session) =
        server.json_as("GET", "/api/session", &[("authorization", &bearer)], None);
    assert_eq!(status, 200);
    assert_eq!(
        (session["user"].as_str(), session["team"].as_str()),
        (Some(id.as_str()), Some("demo"))
    );
    let (_, count) = server.json_as(
        "POST",
        "/api/customers/count",
        &[("authorization", &bearer)],
        Some(json!({})),
    );
    assert_eq!(count["count"], 1000);
    // Another team's user sees none of the demo team's customers (row-level security).
    let other = verifier
        .sign(&json!({"sub": id, "team_id": "elsewhere"}))
        .unwrap();
    let (_, count) = server.json_as(
        "POST",
        "/api/customers/count",
        &[("authorization", &format!("Bearer {other}"))],
        Some(json!({})),
    );
    assert_eq!(count["count"], 0);
    let forged = JwtVerifier::new(format!("{SECRET}?"))
        .unwrap()
        .sign(&json!({"sub": id}))
        .unwrap();
    let (status, err) = server.json_as(
        "GET",
        "/api/session",
        &[("authorization", &format!("Bearer {forged}"))],
        None,
    );
    assert_eq!(status, 401);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{err}"
    );
}

#[test]
fn batches_are_requested_listed_and_controlled() {
    let server = Server::start(app(sample_backend(), Identity::Fixed(user(1))));
    let (status, batch) = server.json(
        "POST",
        "/api/batches",
        Some(json!({
            "templateId": "order-ready", "purpose": "transactional",
            "where": {"field": "country", "op": "equals", "value": "GB"},
            "options": {"rate": {"segmentsPerSecond": 50}},
            "idempotencyKey": "k1",
        })),
    );
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["state"], "requested");
    assert_eq!(batch["currency"], "USD");
    assert_eq!(batch["options"]["price"]["currency"], "USD");
    assert!(batch["templateBody"].as_str().unwrap().contains("ready"));
    let id = batch["id"].as_str().unwrap().to_owned();
    // The same idempotency key gives the same batch back.
    let (status, again) = server.json(
        "POST",
        "/api/batches",
        Some(json!({"templateId": "order-ready", "idempotencyKey": "k1"})),
    );
    assert_eq!((status, &again["id"]), (200, &batch["id"]));
    let (_, list) = server.json("GET", "/api/batches?state=requested", None);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, err) = server.json("GET", "/api/batches?state=nope", None);
    assert_eq!(status, 400, "{err}");
    let (_, detail) = server.json("GET", &format!("/api/batches/{id}"), None);
    assert_eq!(detail["counts"]["pending"], 0);
    // A requested batch cannot be paused; it can be cancelled.
    let (status, err) = server.json("POST", &format!("/api/batches/{id}/pause"), None);
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (409, Some("invalidTransition")),
        "{err}"
    );
    let (status, done) = server.json("POST", &format!("/api/batches/{id}/cancel"), None);
    assert_eq!(
        (status, done["batch"]["state"].as_str()),
        (200, Some("cancelled")),
        "{done}"
    );
    let (status, text, headers) =
        server.call("GET", &format!("/api/batches/{id}/export"), &[], None);
    assert_eq!(status, 200);
    assert!(text.starts_with("id,batchId,customerId,phone,"), "{text}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/csv"))
    );
    let (_, messages) = server.json(
        "GET",
        &format!("/api/batches/{id}/messages?search=abc&status=failed"),
        None,
    );
    assert_eq!(messages["rows"], json!([]));
    // Bad requests: no template, a template that does not compile, bad options, unknown batch.
    for (body, kind) in [
        (json!({"purpose": "marketing"}), "invalidInput"),
        (json!({"template": "{{#if}}"}), "templateSyntax"),
        (
            json!({"template": "Hi", "options": {"rate": {"segmentsPerSecond": -1}}}),
            "invalidOptions",
        ),
        (
            json!({"template": "Hi", "where": {"field": "fax", "op": "isEmpty"}}),
            "unknownField",
        ),
    ] {
        let (status, err) = server.json("POST", "/api/batches", Some(body.clone()));
        assert_eq!(
            (status, err["error"]["kind"].as_str()),
            (400, Some(kind)),
            "{body}: {err}"
        );
    }
    let (status, _) = server.json(
        "GET",
        &format!("/api/batches/{}", Uuid::from_u128(99)),
        None,
    );
    assert_eq!(status, 404);
}

#[test]
fn page_files_are_served_and_nothing_else() {
    let server = Server::start(app(sample_backend(), Identity::Fixed(user(1))));
    let (status, html, headers) = server.call("GET", "/", &[], None);
    assert_eq!(status, 200);
    assert!(html.contains("Batch workspace"));
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/html"))
    );
    let (status, html, _) = server.call("GET", "/dashboard", &[], None);
    assert_eq!(status, 200);
    assert!(html.contains("Monitoring dashboard"));
    let (status, _, headers) = server.call("GET", "/app/workspace.js", &[], None);
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/javascript"))
    );
    for path in [
        "/app/..%2F..%2FCargo.toml",
        "/app/.hidden.js",
        "/app/nothing.js",
        "/pkg/web/..%2Fpackage.json",
        "/app/Cargo.toml",
    ] {
        let (status, body, _) = server.call("GET", path, &[], None);
        assert_eq!(status, 404, "{path}: {body}");
    }
}

#[test]
fn a_worker_sends_what_the_preview_showed() {
    let backend = sample_backend();
    let server = Server::start(app(backend.clone(), Identity::Fixed(user(1))));
    let filter = json!({"field": "country", "op": "equals", "value": "FR"});
    let (_, template) = server.json("GET", "/api/templates/order-ready", None);
    let (_, preview) = server.json(
        "POST",
        "/api/preview",
        Some(json!({
            "template": template["body"], "where": filter, "purpose": "transactional",
        })),
    );
    let (status, batch) = server.json(
        "POST",
        "/api/batches",
        Some(json!({
            "templateId": "order-ready", "where": filter, "purpose": "transactional",
            "options": {"verifyAfterSeconds": 0},
        })),
    );
    assert_eq!(status, 201, "{batch}");
    let id = batch["id"].as_str().unwrap().to_owned();
    // What `smsbatch serve` runs beside the server: a worker acting as the service.
    let worker = smsbatch::send::Worker::new(
        backend.store(Actor::Service).unwrap(),
        Arc::new(smsbatch::testing::FakeSender::new()),
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(worker.run_until_idle())
        .unwrap();
    let (_, detail) = server.json("GET", &format!("/api/batches/{id}"), None);
    assert_eq!(detail["batch"]["state"], "completed", "{detail}");
    let summary = &preview["summary"];
    assert_eq!(detail["counts"]["delivered"], summary["recipients"]);
    assert_eq!(
        detail["spent"]["estimated"], summary["cost"],
        "the preview's cost, exactly"
    );
    let excluded: u64 = detail["excluded"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        excluded,
        summary["total"].as_u64().unwrap() - summary["recipients"].as_u64().unwrap()
    );
    assert_eq!(detail["status"]["progress"]["counts"], detail["counts"]);
    // The history searches, pages and filters by status.
    let (_, page) = server.json("GET", &format!("/api/batches/{id}/messages?limit=5"), None);
    assert_eq!(page["rows"].as_array().unwrap().len(), 5);
    let after = page["next"].as_i64().unwrap();
    let (_, next) = server.json(
        "GET",
        &format!("/api/batches/{id}/messages?limit=5&after={after}"),
        None,
    );
    assert!(next["rows"][0]["id"].as_i64().unwrap() > after);
    let phone = page["rows"][0]["phone"].as_str().unwrap().to_owned();
    let (_, found) = server.json(
        "GET",
        &format!(
            "/api/batches/{id}/messages?search={}",
            phone.replace('+', "%2B")
        ),
        None,
    );
    assert_eq!(found["rows"].as_array().unwrap().len(), 1, "{found}");
    let (_, failed) = server.json(
        "GET",
        &format!("/api/batches/{id}/messages?status=failed"),
        None,
    );
    assert_eq!(failed["rows"], json!([]));
    let (status, _) = server.json(
        "GET",
        &format!("/api/batches/{id}/messages?status=lost"),
        None,
    );
    assert_eq!(status, 400);
    // Retrying the failed of a batch with none changes nothing; pausing a completed batch is
    // refused.
    let (status, retried) = server.json("POST", &format!("/api/batches/{id}/retry-failed"), None);
    assert_eq!(
        (status, retried["batch"]["state"].as_str()),
        (200, Some("completed")),
        "{retried}"
    );
    let (status, _) = server.json("POST", &format!("/api/batches/{id}/pause"), None);
    assert_eq!(status, 409);
    let (_, logs) = server.json("GET", &format!("/api/batches/{id}/logs"), None);
    assert!(!logs.as_array().unwrap().is_empty());
    // The CSV export has one row per message.
    let (_, text, _) = server.call("GET", &format!("/api/batches/{id}/export"), &[], None);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let status_at = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "status")
        .unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len() as u64, summary["recipients"].as_u64().unwrap());
    assert!(rows.iter().all(|r| &r[status_at] == "delivered"));
    let (_, lines, _) = server.call(
        "GET",
        &format!("/api/batches/{id}/export?what=logs&format=jsonl"),
        &[],
        None,
    );
    assert!(
        lines
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
            && !lines.is_empty()
    );
    let (status, err) = server.json("GET", &format!("/api/batches/{id}/export?what=nope"), None);
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (400, Some("invalidInput"))
    );
    // The report, checked against the objectives the app was given.
    let (status, analysis) = server.json("GET", &format!("/api/batches/{id}/report"), None);
    assert_eq!(status, 200, "{analysis}");
    assert_eq!(analysis["report"]["cost"]["estimated"], summary["cost"]);
    assert_eq!(analysis["report"]["sla"]["met"], true, "{analysis}");
    assert_eq!(
        analysis["report"]["sla"]["objectives"][0]["objective"],
        "minDeliveryRate"
    );
}

/// Runs the worker of `smsbatch serve` (acting as the service, the fake provider) until `done`
/// says the batch got where the test wants it, then stops it: for batches whose messages wait
/// for a verification far away, which `run_until_idle` would wait for.
fn run_worker_until(
    backend: &Arc<MemoryStore>,
    batch: Uuid,
    done: impl Fn(&smsbatch::queue::StatusCounts) -> bool,
) {
    let shutdown = smsbatch::send::Shutdown::new();
    let worker = smsbatch::send::Worker::new(
        backend.store(Actor::Service).unwrap(),
        Arc::new(smsbatch::testing::FakeSender::new()),
    )
    .config(smsbatch::send::RunnerConfig::new().poll(Duration::from_millis(20)))
    .shutdown(shutdown.clone());
    let store = backend.store(Actor::Service).unwrap();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let running = tokio::spawn(async move { worker.run().await });
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                let mut counts = smsbatch::queue::StatusCounts::default();
                for group in store.messages.totals(batch).await.unwrap() {
                    counts.add(group.status, group.messages);
                }
                if counts.total() > 0 && done(&counts) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the worker did not get there in 60 s: {counts:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            shutdown.trigger();
            running.await.unwrap().unwrap();
        });
}

/// Twilio's webhooks as the app mounts them (features `web` and `twilio`): signed with the
/// crate's own signature function over the public URL the app was given.
#[cfg(feature = "twilio")]
mod twilio_hooks {
    use super::*;
    use smsbatch::twilio::{Webhooks, signature};

    const TOKEN: &str = "twilio-auth-token-for-the-web-tests";
    /// Twilio calls the app at this public address (a proxy in front of it, say); the app
    /// checks signatures against it, not against the address it listens on.
    const PUBLIC: &str = "https://hooks.example.com";

    /// A form POST to `path`, signed for `PUBLIC` with `token` (none: no signature header).
    fn post_form(
        server: &Server,
        path: &str,
        params: &[(&str, &str)],
        token: Option<&str>,
    ) -> (u16, String, Vec<(String, String)>) {
        post(server, path, params, token.map(|t| (t, path)))
    }

    /// A form POST to `path` carrying a valid signature for another path.
    fn post_signed_for(
        server: &Server,
        path: &str,
        signed_path: &str,
        params: &[(&str, &str)],
        token: &str,
    ) -> (u16, String, Vec<(String, String)>) {
        post(server, path, params, Some((token, signed_path)))
    }

    fn post(
        server: &Server,
        path: &str,
        params: &[(&str, &str)],
        signed: Option<(&str, &str)>,
    ) -> (u16, String, Vec<(String, String)>) {
        let body = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    k,
                    v.replace('%', "%25").replace('+', "%2B").replace(' ', "+")
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut request = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", server.base))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some((token, signed_path)) = signed {
            request = request.header(
                "X-Twilio-Signature",
                signature(token, &format!("{PUBLIC}{signed_path}"), params),
            );
        }
        let mut response = agent.run(request.body(body).unwrap()).unwrap();
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
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap_or_default(),
            headers,
        )
    }

    fn suppressed(backend: &Arc<MemoryStore>, phone: &str) -> bool {
        let store = backend.store(Actor::Service).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(store.suppressions.contains(phone))
            .unwrap()
    }

    #[test]
    fn status_callbacks_move_messages_and_bad_signatures_change_nothing() {
        let backend = sample_backend();
        let server = Server::start(
            app(backend.clone(), Identity::Fixed(user(1))).twilio(Webhooks::new(TOKEN), PUBLIC),
        );
        // Sent, with the verification a day away: only a callback can confirm delivery.
        let (status, batch) = server.json(
            "POST",
            "/api/batches",
            Some(json!({
                "templateId": "order-ready", "purpose": "transactional",
                "where": {"field": "country", "op": "equals", "value": "GB"},
                "options": {"verifyAfterSeconds": 86_400},
            })),
        );
        assert_eq!(status, 201, "{batch}");
        let id = Uuid::parse_str(batch["id"].as_str().unwrap()).unwrap();
        run_worker_until(&backend, id, |c| {
            c.pending + c.processing == 0 && c.sent == c.total()
        });
        let (_, page) = server.json("GET", &format!("/api/batches/{id}/messages?limit=2"), None);
        let rows = page["rows"].as_array().unwrap();
        assert!(rows.iter().all(|m| m["status"] == "sent"), "{page}");
        let (mid, sid) = (
            rows[0]["id"].as_i64().unwrap(),
            rows[0]["providerId"].as_str().unwrap().to_owned(),
        );
        let path = format!("/twilio/status?mid={mid}");
        let params = [
            ("MessageSid", sid.as_str()),
            ("MessageStatus", "delivered"),
            ("Price", "-0.0079"),
            ("PriceUnit", "USD"),
        ];
        // Signed with another token, or not signed: 403, and the message stays `sent`.
        let (status, body, _) = post_form(&server, &path, &params, Some("not-the-token"));
        assert_eq!(status, 403, "{body}");
        let (status, _, _) = post_form(&server, &path, &params, None);
        assert_eq!(status, 403);
        let status_of = |mid: i64| {
            let (_, page) = server.json(
                "GET",
                &format!("/api/batches/{id}/messages?limit=1&after={}", mid - 1),
                None,
            );
            assert_eq!(page["rows"][0]["id"], mid);
            page["rows"][0]["status"].as_str().unwrap().to_owned()
        };
        assert_eq!(status_of(mid), "sent");
        // Signed for another URL (the mid changed on the way): refused as well.
        let other = rows[1]["id"].as_i64().unwrap();
        let (status, _, _) = post_signed_for(
            &server,
            &format!("/twilio/status?mid={other}"),
            &path,
            &params,
            TOKEN,
        );
        assert_eq!(status, 403);
        assert_eq!(status_of(other), "sent");
        // Properly signed: 200, and the message is delivered with Twilio's price.
        let (status, body, _) = post_form(&server, &path, &params, Some(TOKEN));
        assert_eq!(status, 200, "{body}");
        let update: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (
                update["outcome"].as_str(),
                update["from"].as_str(),
                update["to"].as_str()
            ),
            (Some("applied"), Some("sent"), Some("delivered")),
            "{update}"
        );
        assert_eq!(status_of(mid), "delivered");
        let (_, detail) = server.json("GET", &format!("/api/batches/{id}"), None);
        assert_eq!(detail["counts"]["delivered"], 1, "{detail}");
        assert_eq!(detail["spent"]["priced"], 1, "{detail}");
    }

    #[test]
    fn inbound_stop_and_start_change_the_suppression_list() {
        let backend = sample_backend();
        let server = Server::start(
            app(backend.clone(), Identity::Fixed(user(1))).twilio(Webhooks::new(TOKEN), PUBLIC),
        );
        let phone = "+447700900123";
        let stop = [("From", phone), ("To", "+15005550006"), ("Body", "STOP")];
        let (status, body, headers) = post_form(&server, "/twilio/inbound", &stop, Some(TOKEN));
        assert_eq!(status, 200, "{body}");
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "content-type" && v.starts_with("text/xml")),
            "{headers:?}"
        );
        assert!(body.ends_with("<Response/>"), "{body}");
        assert!(suppressed(&backend, phone));
        // The page's preview configuration now excludes the number.
        let (_, config) = server.json("GET", "/api/preview-config", None);
        assert!(config.to_string().contains(phone), "{config}");
        // A forged STOP for another number changes nothing.
        let other = "+447700900124";
        let forged = [("From", other), ("To", "+15005550006"), ("Body", "STOP")];
        let (status, _, _) = post_form(&server, "/twilio/inbound", &forged, Some("forged"));
        assert_eq!(status, 403);
        assert!(!suppressed(&backend, other));
        // START takes the number off the list again.
        let start = [("From", phone), ("To", "+15005550006"), ("Body", "start")];
        let (status, body, _) = post_form(&server, "/twilio/inbound", &start, Some(TOKEN));
        assert_eq!(status, 200, "{body}");
        assert!(!suppressed(&backend, phone));
    }

    #[test]
    fn without_twilio_the_paths_are_not_found() {
        let server = Server::start(app(sample_backend(), Identity::Fixed(user(1))));
        for path in ["/twilio/status?mid=1", "/twilio/inbound"] {
            let params = [("From", "+447700900123"), ("Body", "STOP")];
            let (status, body, _) = post_form(&server, path, &params, Some(TOKEN));
            assert_eq!(status, 404, "{path}: {body}");
            let error: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(error["error"]["kind"], "notFound", "{body}");
        }
    }

    #[test]
    fn with_jwt_identity_the_hooks_need_no_bearer_token() {
        let backend = sample_backend();
        let verifier = JwtVerifier::new(SECRET).unwrap();
        let server = Server::start(
            app(backend.clone(), Identity::Jwt(verifier)).twilio(Webhooks::new(TOKEN), PUBLIC),
        );
        // The API wants a token; Twilio sends none, and its signature is enough.
        let (status, _) = server.json("GET", "/api/session", None);
        assert_eq!(status, 401);
        let phone = "+447700900125";
        let stop = [("From", phone), ("To", "+15005550006"), ("Body", "Stop.")];
        let (status, body, _) = post_form(&server, "/twilio/inbound", &stop, Some(TOKEN));
        assert_eq!(status, 200, "{body}");
        assert!(suppressed(&backend, phone));
        // A status callback for a message nobody has is answered (Twilio stops retrying).
        let params = [("MessageSid", "SM0000"), ("MessageStatus", "delivered")];
        let (status, body, _) = post_form(&server, "/twilio/status", &params, Some(TOKEN));
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("unknown"), "{body}");
    }
}

#[test]
fn a_future_send_at_schedules_the_batch() {
    let backend = sample_backend();
    let server = Server::start(app(backend.clone(), Identity::Fixed(user(1))));
    // The worker reads the real clock: a date years ahead is in its future.
    let send_at = "2099-01-01T09:00:00Z";
    let (status, batch) = server.json(
        "POST",
        "/api/batches",
        Some(json!({
            "templateId": "order-ready", "purpose": "transactional", "sendAt": send_at,
            "where": {"field": "country", "op": "equals", "value": "FR"},
        })),
    );
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["sendAt"], send_at);
    let id = batch["id"].as_str().unwrap().to_owned();
    // The worker prepares it, then leaves it for later.
    let worker = smsbatch::send::Worker::new(
        backend.store(Actor::Service).unwrap(),
        Arc::new(smsbatch::testing::FakeSender::new()),
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(worker.run_until_idle())
        .unwrap();
    let (_, detail) = server.json("GET", &format!("/api/batches/{id}"), None);
    assert_eq!(detail["batch"]["state"], "scheduled", "{detail}");
    assert_eq!(detail["batch"]["sendAt"], send_at);
    assert!(
        detail["counts"]["pending"].as_u64().unwrap() > 0,
        "{detail}"
    );
    assert_eq!(detail["counts"]["sent"], 0);
    let (_, scheduled) = server.json("GET", "/api/batches?state=scheduled", None);
    assert_eq!(scheduled[0]["id"], id.as_str());
    // A scheduled batch can be paused (it then waits for a resume) or cancelled.
    let (status, cancelled) = server.json("POST", &format!("/api/batches/{id}/cancel"), None);
    assert_eq!(
        (status, cancelled["batch"]["state"].as_str()),
        (200, Some("cancelled"))
    );
}

#[test]
fn the_batch_list_is_newest_first_and_the_log_its_latest_entries() {
    let backend = sample_backend();
    let service = backend.store(Actor::Service).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // 205 batches of user 1, created a second apart: more than the list's default page.
    let owner = Uuid::from_u128(1);
    let mut ids = Vec::new();
    for i in 0..205u64 {
        let mut new = smsbatch::store::NewBatch::new(smsbatch::Purpose::Transactional);
        new.owner = Some(owner);
        new.team_id = Some("demo".into());
        new.template_body = Some(format!("Batch {i}"));
        let at = now().saturating_add(Duration::from_secs(i));
        let created = runtime.block_on(service.batches.create(&new, at)).unwrap();
        ids.push(created.batch.id.to_string());
    }
    let server = Server::start(app(backend.clone(), Identity::Fixed(user(1))));
    let (_, list) = server.json("GET", "/api/batches", None);
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 200);
    assert_eq!(listed[0], ids[204], "the newest first");
    assert_eq!(listed[199], ids[5]);
    // The next page, after the last one shown, has the 5 oldest, newest first.
    let (status, rest) = server.json("GET", &format!("/api/batches?after={}", listed[199]), None);
    assert_eq!(status, 200, "{rest}");
    let older: Vec<&str> = rest
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(older, [&ids[4], &ids[3], &ids[2], &ids[1], &ids[0]]);
    // The log: 1,203 entries; the page gets the latest 500 in append order.
    let batch = Uuid::parse_str(&ids[204]).unwrap();
    let events: Vec<smsbatch::store::NewBatchLog> = (0..1203)
        .map(|i| {
            smsbatch::store::NewBatchLog::new(
                smsbatch::store::LogLevel::Info,
                "test",
                format!("entry {i}"),
            )
        })
        .collect();
    runtime
        .block_on(service.logs.append(batch, &events, now()))
        .unwrap();
    let (_, log) = server.json("GET", &format!("/api/batches/{batch}/logs"), None);
    let messages: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 500);
    assert_eq!(messages[0], "entry 703");
    assert_eq!(messages[499], "entry 1202");
    // `after` pages forward from an entry; `limit` shortens the page.
    let first_id = log[0]["id"].as_i64().unwrap();
    let (_, next) = server.json(
        "GET",
        &format!("/api/batches/{batch}/logs?after={first_id}&limit=2"),
        None,
    );
    assert_eq!(next[0]["message"], "entry 704");
    assert_eq!(next.as_array().unwrap().len(), 2);
    let (_, last) = server.json("GET", &format!("/api/batches/{batch}/logs?limit=1"), None);
    assert_eq!(last[0]["message"], "entry 1202");
}

#[test]
fn exports_are_streamed_in_chunks() {
    let backend = sample_backend();
    let server = Server::start(app(backend.clone(), Identity::Fixed(user(1))));
    let (_, batch) = server.json(
        "POST",
        "/api/batches",
        Some(json!({"templateId": "welcome", "purpose": "transactional",
                    "options": {"verifyAfterSeconds": 0}})),
    );
    let id = batch["id"].as_str().unwrap().to_owned();
    let worker = smsbatch::send::Worker::new(
        backend.store(Actor::Service).unwrap(),
        Arc::new(smsbatch::testing::FakeSender::new()),
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(worker.run_until_idle())
        .unwrap();
    let (_, detail) = server.json("GET", &format!("/api/batches/{id}"), None);
    let messages = detail["counts"]["delivered"].as_u64().unwrap();
    assert!(messages > 500, "{detail}");
    let (status, text, headers) =
        server.call("GET", &format!("/api/batches/{id}/export"), &[], None);
    assert_eq!(status, 200);
    // Streamed: no length known up front, the body comes in chunks.
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-length"), None, "{headers:?}");
    assert_eq!(header("transfer-encoding"), Some("chunked"), "{headers:?}");
    assert!(
        text.len() > 64 * 1024,
        "more than one chunk: {}",
        text.len()
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len() as u64, messages);
    // The same bytes as the library's export.
    let store = backend.store(user(1)).unwrap();
    let (_, direct) = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(smsbatch::analytics::export(
            &store,
            Uuid::parse_str(&id).unwrap(),
            smsbatch::analytics::ExportKind::Messages,
            smsbatch::analytics::ExportFormat::Csv,
            Vec::new(),
            None,
            now(),
        ))
        .unwrap();
    assert_eq!(text.as_bytes(), direct.as_slice());
    // Small exports stream too, and the JSON lines parse.
    let (status, lines, _) = server.call(
        "GET",
        &format!("/api/batches/{id}/export?what=logs&format=jsonl"),
        &[],
        None,
    );
    assert_eq!(status, 200);
    assert!(
        lines
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
    // The report windows: throughput and cumulative cost per window, and a bad window named.
    let (status, analysis) =
        server.json("GET", &format!("/api/batches/{id}/report?window=1"), None);
    assert_eq!(status, 200, "{analysis}");
    let series = &analysis["series"];
    assert_eq!(series["windowSeconds"], 1);
    let windows = series["windows"].as_array().unwrap();
    let accepted: u64 = windows
        .iter()
        .map(|w| w["accepted"].as_u64().unwrap())
        .sum();
    assert_eq!(accepted, messages);
    assert_eq!(
        windows.last().unwrap()["estimatedCost"],
        analysis["report"]["cost"]["estimated"]
    );
    assert_eq!(analysis["errorTrend"]["windowSeconds"], 1);
    let (status, err) = server.json("GET", &format!("/api/batches/{id}/report?window=0"), None);
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (400, Some("invalidInput")),
        "{err}"
    );
}

#[test]
fn the_server_previews_audiences_past_a_page_exactly() {
    // 12,000 customers: the page holds at most 10,000, the server's preview counts them all.
    let backend = Arc::new(MemoryStore::new());
    let service = backend.store(Actor::Service).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(smsbatch::web::load_sample(&service, Some("demo")))
        .unwrap();
    let mut customers = smsbatch::testing::sample_customers(12_000, 7, now());
    for c in &mut customers {
        c.id += 1000;
        c.team_id = Some("demo".into());
    }
    for chunk in customers.chunks(5000) {
        runtime.block_on(service.customers.upsert(chunk)).unwrap();
    }
    let server = Server::start(app(backend.clone(), Identity::Fixed(user(1))));
    let template = "Hi {{default first_name \"there\"}}, 10% off today";
    let (_, page) = server.json(
        "POST",
        "/api/customers/query",
        Some(json!({"limit": 10_000, "count": true})),
    );
    assert_eq!(page["total"], 13_000);
    assert_eq!(page["rows"].as_array().unwrap().len(), 10_000);
    let (status, preview) = server.json(
        "POST",
        "/api/preview",
        Some(json!({"template": template, "purpose": "transactional", "show": 0})),
    );
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["summary"]["total"], 13_000);
    assert_eq!(preview["recipients"], json!([]));
    // Exactly the Previewer over every customer, in the store's order.
    let (_, config) = server.json("GET", "/api/preview-config", None);
    let config: PreviewConfig = serde_json::from_value(config).unwrap();
    let previewer = config
        .purpose(smsbatch::Purpose::Transactional)
        .build(&smsbatch::Template::compile(template).unwrap())
        .unwrap();
    let mut all = Vec::new();
    let mut offset = 0;
    while offset < 13_000 {
        let (_, page) = server.json(
            "POST",
            "/api/customers/query",
            Some(json!({"limit": 5000, "offset": offset})),
        );
        all.extend(page["rows"].as_array().unwrap().iter().cloned());
        offset += 5000;
    }
    let local = previewer.preview(&all).unwrap();
    assert_eq!(
        serde_json::to_value(&local.summary).unwrap(),
        preview["summary"]
    );
}

#[cfg(feature = "cli")]
#[test]
fn serve_refuses_flags_that_cannot_work() {
    use crate::support::cli;
    // The Supabase store acts for a user only with the user's JWT: a fixed --user cannot work.
    let run = cli(
        &[
            "serve",
            "--port",
            "0",
            "--supabase-url",
            "http://127.0.0.1:9",
            "--supabase-key",
            "key",
            "--user",
            "00000000-0000-4000-8000-000000000001",
        ],
        "",
    );
    // The command line's errors are one JSON line on stdout, exit status 2.
    let error = |run: &crate::support::CliRun| -> String {
        assert_eq!(run.code, 2, "{} {}", run.stdout, run.stderr);
        let line: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(line["error"]["kind"], "invalidInput", "{line}");
        line["error"]["message"].as_str().unwrap().to_owned()
    };
    let message = error(&run);
    assert!(
        message.contains("--user does not work with the Supabase store")
            && message.contains("--jwt-secret"),
        "{message}"
    );
    assert!(!run.stdout.contains("listening"), "it never listened");
    // One failure in one send is no fake at all; an unknown code is named.
    let run = cli(&["serve", "--port", "0", "--fake-fail-one-in", "1"], "");
    let message = error(&run);
    assert!(
        message.contains("--fake-fail-one-in must be at least 2"),
        "{message}"
    );
    let run = cli(
        &[
            "serve",
            "--port",
            "0",
            "--fake-fail-one-in",
            "5",
            "--fake-fail-code",
            "99999",
        ],
        "",
    );
    let message = error(&run);
    assert!(
        message.contains("--fake-fail-code") && message.contains("99999"),
        "{message}"
    );
}
