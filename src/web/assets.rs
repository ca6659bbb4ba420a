//! The page files: the workspace and the dashboard (`app/`) and the WebAssembly package
//! (`pkg/web/`), read from the assets folder on each request (no bundler, no cache to go stale).

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::app::WebApp;
use super::error::ApiError;

/// The content type of a page file, by extension; `None` for a file the server does not serve.
fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ts" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// Whether a requested name is a plain file name: no separators, no `..`, no hidden files.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn file(app: &WebApp, folder: &str, name: &str) -> Response {
    let missing = || ApiError::not_found("page file", format!("{folder}/{name}")).into_response();
    let Some(kind) = content_type(name).filter(|_| plain_name(name)) else {
        return missing();
    };
    let Some(root) = &app.assets else {
        return ApiError::not_found(
            "page file (this server was started without --assets DIR, the WebAssembly \
             package's folder)",
            format!("{folder}/{name}"),
        )
        .into_response();
    };
    let path = Path::new(root).join(folder).join(name);
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let hint = if folder.starts_with("pkg") {
                " (build the WebAssembly package: bindings/wasm/build.sh)"
            } else {
                ""
            };
            ApiError::not_found(&format!("page file{hint}"), path.display()).into_response()
        }
        Err(e) => ApiError::new(crate::Error::new(crate::ErrorKind::Io {
            message: format!("cannot read {}: {e}", path.display()),
        }))
        .into_response(),
    }
}

pub(crate) async fn workspace(State(app): State<Arc<WebApp>>) -> Response {
    file(&app, "app", "index.html").await
}

pub(crate) async fn dashboard(State(app): State<Arc<WebApp>>) -> Response {
    file(&app, "app", "dashboard.html").await
}

pub(crate) async fn app_file(
    State(app): State<Arc<WebApp>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    file(&app, "app", &name).await
}

pub(crate) async fn pkg_file(
    State(app): State<Arc<WebApp>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    file(&app, "pkg/web", &name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_of_known_types() {
        assert!(plain_name("app.js") && content_type("app.js").is_some());
        assert_eq!(content_type("smsbatch_bg.wasm"), Some("application/wasm"));
        for bad in ["..", ".env", "a/b.js", "a\\b.js", "%2e%2e", ""] {
            assert!(!plain_name(bad), "{bad}");
        }
        assert!(content_type("Cargo.toml").is_none());
    }
}
