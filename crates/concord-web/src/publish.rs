//! `concord-requester serve --publish <dir>`: a batch's publication folder (manifest and media, written by
//! `create`) served read-only over HTTP for annotators on other machines, with range requests and caching
//! headers. Private files (`*.secret.*`: gold answers and their salts) are never served. With
//! `--accept-reveals` it also takes annotators' reveals (`POST /reveals`, `concord_client::handoff`): each is
//! checked against its commitment on-chain and kept for `settle` to carry; with `--accept-commits`, their signed
//! commits (`POST /commits`, `concord_client::relay`), and with `--accept-joins` their signed joins (`POST /joins`),
//! each checked by a dry run on-chain and kept for `relay` to send. Nothing received is ever served.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use concord_client::handoff::{self, Handoff};
use concord_client::relay::{self, SignedCommit, SignedJoin};
use concord_client::Concord;
use std::net::SocketAddr;
use std::path::PathBuf;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Refuses private files and anything outside plain GET/HEAD (but reveals, commits or joins handed over).
async fn public_only(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_ascii_lowercase();
    if path.contains(".secret.") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let method = req.method();
    let handed = method == axum::http::Method::POST
        && (path == "/reveals" || path == "/commits" || path == "/joins");
    if !handed && method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    next.run(req).await
}

/// What taking reveals, commits and joins needs: the chain to check them against, the folder (`CONCORD_HOME`) to
/// keep them in, and which of them to take.
#[derive(Clone)]
pub struct Intake {
    pub client: Concord,
    pub home: PathBuf,
    pub reveals: bool,
    pub commits: bool,
    pub joins: bool,
}

/// Most bytes of one reveal handed over (16 label words, a salt and the scope, as JSON).
const REVEAL_BODY_LIMIT: usize = 16 * 1024;

/// `POST /reveals`: one line back — accepted, or why not (HTTP 422; 400 for a body that is not a reveal).
async fn take_reveal(
    State(intake): State<Intake>,
    body: Result<Json<Handoff>, JsonRejection>,
) -> Response {
    let h = match body {
        Ok(Json(h)) => h,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not a reveal: {}\n", e.body_text()),
            )
                .into_response()
        }
    };
    match handoff::accept(&intake.client, &intake.home, &h).await {
        Ok(line) => (StatusCode::OK, line + "\n").into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string() + "\n").into_response(),
    }
}

/// Most bytes of one hand-over of commits (`relay::MAX_PER_POST` commits with their backups, as JSON).
const COMMITS_BODY_LIMIT: usize = 256 * 1024;

/// `POST /commits`: one line back — accepted, or why not (HTTP 422; 400 for a body that is not a list of commits).
async fn take_commits(
    State(intake): State<Intake>,
    body: Result<Json<Vec<SignedCommit>>, JsonRejection>,
) -> Response {
    let commits = match body {
        Ok(Json(c)) => c,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not a list of signed commits: {}\n", e.body_text()),
            )
                .into_response()
        }
    };
    match relay::accept(&intake.client, &intake.home, &commits).await {
        Ok(line) => (StatusCode::OK, line + "\n").into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string() + "\n").into_response(),
    }
}

/// Most bytes of one hand-over of joins (`relay::MAX_PER_POST` joins with their permits, as JSON).
const JOINS_BODY_LIMIT: usize = 128 * 1024;

/// `POST /joins`: one line back — accepted, or why not (HTTP 422; 400 for a body that is not a list of joins).
async fn take_joins(
    State(intake): State<Intake>,
    body: Result<Json<Vec<SignedJoin>>, JsonRejection>,
) -> Response {
    let joins = match body {
        Ok(Json(j)) => j,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not a list of signed joins: {}\n", e.body_text()),
            )
                .into_response()
        }
    };
    match relay::accept_joins(&intake.client, &intake.home, &joins).await {
        Ok(line) => (StatusCode::OK, line + "\n").into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string() + "\n").into_response(),
    }
}

/// The router serving `dir` (and taking what `intake` says). Files are named by their content (the manifest by
/// its hash), so they may be cached for a long time; annotators verify every byte against the on-chain root
/// anyway.
pub fn router(dir: PathBuf, intake: Option<Intake>) -> Router {
    let routes = match intake {
        Some(i) => {
            let mut r = Router::new();
            if i.reveals {
                r = r.route(
                    "/reveals",
                    post(take_reveal).layer(DefaultBodyLimit::max(REVEAL_BODY_LIMIT)),
                );
            }
            if i.commits {
                r = r.route(
                    "/commits",
                    post(take_commits).layer(DefaultBodyLimit::max(COMMITS_BODY_LIMIT)),
                );
            }
            if i.joins {
                r = r.route(
                    "/joins",
                    post(take_joins).layer(DefaultBodyLimit::max(JOINS_BODY_LIMIT)),
                );
            }
            r.with_state(i)
        }
        None => Router::new(),
    };
    routes
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
    intake: Option<Intake>,
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
    crate::run_until_ctrl_c(listener, router(dir, intake)).await
}
