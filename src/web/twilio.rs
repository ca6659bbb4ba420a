//! Twilio's webhooks mounted in the web app (features `web` and `twilio`): `POST /twilio/status`
//! (status callbacks) and `POST /twilio/inbound` (replies: STOP/START keywords), verified with
//! `X-Twilio-Signature` against the public URL Twilio called.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::app::WebApp;
use super::error::ApiError;
use crate::error::Error;
use crate::store::{Actor, Store};
use crate::twilio::{WebhookRequest, Webhooks, http_status};

/// The webhooks and the public base URL Twilio calls them at (its signature covers the full URL).
#[derive(Clone, Debug)]
pub(crate) struct TwilioHooks {
    pub(crate) hooks: Webhooks,
    pub(crate) public_url: String,
}

/// Twilio's answer for a refused webhook: the status [`http_status`] gives, our JSON error.
fn refused(error: &Error) -> Response {
    let status =
        StatusCode::from_u16(http_status(error)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        eprintln!("smsbatch serve: twilio webhook: {error}");
    }
    (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
}

/// The hooks, the verified request and the service's store (Twilio acts for no user).
fn prepare(
    app: &WebApp,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Arc<TwilioHooks>, WebhookRequest, Store), Box<Response>> {
    let Some(twilio) = app.twilio.clone() else {
        return Err(ApiError::not_found(
            "Twilio webhook (start the server with --twilio-auth-token)",
            uri.path(),
        )
        .into_response()
        .into());
    };
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let url = format!("{}{path}", twilio.public_url.trim_end_matches('/'));
    let signature = headers
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok());
    let request =
        WebhookRequest::from_form(url, signature, body).map_err(|e| Box::new(refused(&e)))?;
    let store = app
        .backend
        .store(Actor::Service)
        .map_err(|e| Box::new(refused(&e)))?;
    Ok((twilio, request, store))
}

pub(crate) async fn status(
    State(app): State<Arc<WebApp>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (twilio, request, store) = match prepare(&app, &uri, &headers, &body) {
        Ok(parts) => parts,
        Err(response) => return *response,
    };
    match twilio
        .hooks
        .status_callback(store.messages.as_ref(), &request, app.now())
        .await
    {
        Ok(update) => axum::Json(update).into_response(),
        Err(e) => refused(&e),
    }
}

pub(crate) async fn inbound(
    State(app): State<Arc<WebApp>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (twilio, request, store) = match prepare(&app, &uri, &headers, &body) {
        Ok(parts) => parts,
        Err(response) => return *response,
    };
    match twilio
        .hooks
        .inbound(store.suppressions.as_ref(), &request, app.now())
        .await
    {
        // An empty TwiML response: no automatic reply (Twilio's own STOP handling answers).
        Ok(_) => (
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
        )
            .into_response(),
        Err(e) => refused(&e),
    }
}
