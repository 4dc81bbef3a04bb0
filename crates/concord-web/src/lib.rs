//! Concord's local web pages over the client: the annotator's labeling page and its JSON API
//! ([`annotator`], `concord-annotator serve`) and the requester's read-only batch view ([`requester`],
//! `concord-requester serve`). Both bind to loopback by default and are guarded by a session token ([`auth`]).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod annotator;
pub mod auth;
pub mod publish;
pub mod requester;

pub use auth::{new_token, Authorized};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// An API error: a status and one line, as `{"error": ...}`.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl<E: std::fmt::Display> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(StatusCode::BAD_REQUEST, e.to_string())
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// The `?token=` of a page URL.
#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Whether a page request carries the session token in its URL.
fn page_token_ok(token: &str, q: &TokenQuery) -> bool {
    q.token
        .as_deref()
        .is_some_and(|given| auth::same_token(given, token))
}

/// Prints the page's URL (with its session token) for the user to open: the usual `on_ready` of the servers.
pub fn announce(addr: SocketAddr, token: &str) {
    use std::io::Write;
    println!("open http://{addr}/?token={token}");
    println!("(Ctrl-C to stop)");
    let _ = std::io::stdout().flush();
}

async fn bind(addr: SocketAddr) -> eyre::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| eyre::eyre!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

async fn run_until_ctrl_c(listener: tokio::net::TcpListener, router: Router) -> eyre::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
