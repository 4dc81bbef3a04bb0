//! `concord-requester serve --publish <dir>`: a batch's publication folder (manifest and media, written by
//! `create`) served read-only over HTTP for annotators on other machines, with range requests and caching
//! headers. Private files (`*.secret.*`: gold answers and their salts) are never served.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Refuses private files and anything outside plain GET/HEAD.
async fn public_only(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_ascii_lowercase();
    if path.contains(".secret.") {
        return StatusCode::NOT_FOUND.into_response();
    }
    if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    next.run(req).await
}

/// The router serving `dir`. Files are named by their content (the manifest by its hash), so they may be cached
/// for a long time; annotators verify every byte against the on-chain root anyway.
pub fn router(dir: PathBuf) -> Router {
    Router::new()
        .fallback_service(ServeDir::new(dir))
        .layer(middleware::from_fn(public_only))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ))
}

/// Serves `dir` on `addr` until Ctrl-C; `on_ready` gets the bound address.
pub async fn serve_publication(
    dir: PathBuf,
    addr: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> eyre::Result<()> {
    if !dir.is_dir() {
        eyre::bail!(
            "{} is not a folder: pass the output folder of `concord-requester create` (its --out-dir)",
            dir.display()
        );
    }
    let (listener, local) = crate::bind(addr).await?;
    on_ready(local);
    crate::run_until_ctrl_c(listener, router(dir)).await
}
