//! `concord-annotator serve`: a local web page for labeling, backed by the same client and local store as the
//! CLI. The key never leaves this process; the page talks only to this server, which checks a random session
//! token on every API request ([`Authorized`]), sends no CORS headers, and refuses requests from other origins.

use alloy::primitives::U256;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use concord_client::protocol::units::fmt_tokens;
use concord_client::store::Store;
use concord_client::{annotator, generation, market, Concord};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::auth::{Authorized, SessionToken};
use crate::{bind, page_token_ok, run_until_ctrl_c, ApiError, ApiResult, TokenQuery};

const PAGE: &str = include_str!("annotator.html");

/// Shared state of the server.
pub struct App {
    pub client: Concord,
    pub store: Store,
    pub token: String,
    /// Where generation submissions are recorded (text and salt before each commit).
    pub generation_home: std::path::PathBuf,
}

type Shared = Arc<App>;

impl SessionToken for App {
    fn session_token(&self) -> &str {
        &self.token
    }
}

async fn page(State(app): State<Shared>, Query(q): Query<TokenQuery>) -> Response {
    if !page_token_ok(&app.token, &q) {
        return (
            StatusCode::UNAUTHORIZED,
            "open the URL printed by `concord-annotator serve` (it carries the session token)",
        )
            .into_response();
    }
    (
        [(header::CONTENT_SECURITY_POLICY, "default-src 'self'; img-src 'self' data: blob:; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"), (header::X_FRAME_OPTIONS, "DENY")],
        Html(PAGE),
    )
        .into_response()
}

async fn state(_: Authorized, State(app): State<Shared>) -> ApiResult {
    let c = &app.client;
    let me = c.account()?;
    let waiting = annotator::refresh(c, &app.store, None).await?;
    let bundles = app.store.list(c.chain_id(), c.market_address(), me, None)?;
    let count = market::batch_count(c).await?;
    let now = c.chain_time().await?;
    let domain = match bundles.last() {
        Some(b) => annotator::domain_of(c, b.batch).await?,
        None => alloy::primitives::Address::ZERO,
    };
    let standing = annotator::standing(c, me, domain).await?;
    let mut batches = Vec::new();
    for id in 0..count {
        let b = market::batch(c, id).await?;
        let (cfg, st) = (&b.config, &b.state);
        let round = market::round(c, id, u64::from(st.round)).await?;
        let (terms_tasks, terms_stake) = annotator::join_terms(&b, None)?;
        batches.push(json!({
            "batch": id, "phase": market::phase(cfg, st, now), "round": st.round, "freePositions": round.free,
            "joinEnd": round.joinEnd.to::<u64>(), "numItems": cfg.numItems, "replicas": cfg.replicas,
            "taskSize": cfg.taskSize, "maxBundle": terms_tasks, "joinStake": fmt_tokens(terms_stake),
            "commitDeadline": cfg.commitDeadline.to::<u64>(), "revealDeadline": cfg.revealDeadline.to::<u64>(),
            "reward": fmt_tokens(U256::from(cfg.rewardPerLabel)),
        }));
    }
    let waiting: Vec<Value> = waiting
        .iter()
        .map(|(b, id, p)| json!({ "batch": b, "bundle": id, "pending": p }))
        .collect();
    Ok(Json(json!({
        "standing": standing, "bundles": bundles, "waiting": waiting, "batches": batches, "now": now,
        "chainId": c.chain_id(),
    })))
}

#[derive(Deserialize)]
struct JoinReq {
    batch: u64,
    tasks: Option<u64>,
}

async fn join(_: Authorized, State(app): State<Shared>, Json(r): Json<JoinReq>) -> ApiResult {
    let store = &app.store;
    let joined = annotator::join(&app.client, store, r.batch, r.tasks).await?;
    Ok(Json(serde_json::to_value(joined)?))
}

#[derive(Deserialize)]
struct TaskReq {
    batch: u64,
    task: u64,
}

async fn task(_: Authorized, State(app): State<Shared>, Query(r): Query<TaskReq>) -> ApiResult {
    let c = &app.client;
    let annotator::TaskItems {
        batch: b,
        manifest: m,
        items,
        media,
    } = annotator::task_items(c, r.batch, r.task).await?;
    // The page loads a media file only from `/api/media`, by the name of its verified copy.
    let media: Vec<Option<String>> = media
        .iter()
        .map(|p| {
            p.as_ref()
                .and_then(|p| p.file_name())
                .map(|f| f.to_string_lossy().to_string())
        })
        .collect();
    let me = c.account()?;
    let bundle = app
        .store
        .list(c.chain_id(), c.market_address(), me, Some(r.batch))?
        .into_iter()
        .find(|x| x.tasks.as_ref().is_some_and(|t| t.contains(&r.task)));
    let labels = bundle.as_ref().and_then(|x| {
        let i = x.tasks.as_ref()?.iter().position(|&t| t == r.task)?;
        x.labels.get(i).cloned().flatten()
    });
    Ok(Json(json!({
        "classes": m.classes, "items": items, "media": media, "bundle": bundle, "labels": labels,
        "commitDeadline": b.config.commitDeadline.to::<u64>(), "revealDeadline": b.config.revealDeadline.to::<u64>(),
    })))
}

#[derive(Deserialize)]
struct MediaReq {
    file: String,
}

/// A verified media file from the cache (`<sha256 hex>[.ext]`), checked again against its name's hash before it is
/// sent; anything else is 404.
async fn media(_: Authorized, Query(r): Query<MediaReq>) -> Response {
    let not_found =
        || ApiError(StatusCode::NOT_FOUND, "no such verified media file".into()).into_response();
    let (hex, ext) = r.file.split_once('.').unwrap_or((&r.file, ""));
    let well_formed = hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && ext.len() <= 8
        && ext
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !well_formed {
        return not_found();
    }
    let Ok(bytes) = std::fs::read(annotator::media_cache().join(&r.file)) else {
        return not_found();
    };
    let digest = concord_client::dataset::Media::of(&bytes).sha256;
    if alloy::hex::encode(digest) != hex {
        return not_found();
    }
    let kind = match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LabelReq {
    batch: u64,
    task: u64,
    labels: Vec<u8>,
}

/// Stores a task's labels and commits every bundle that is now fully labeled.
async fn submit(_: Authorized, State(app): State<Shared>, Json(r): Json<LabelReq>) -> ApiResult {
    let store = &app.store;
    annotator::label(&app.client, store, r.batch, r.task, &r.labels).await?;
    let rep = annotator::commit(&app.client, store, Some(r.batch), None, None).await?;
    if !rep.failed.is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, rep.failed.join("; ")));
    }
    Ok(Json(serde_json::to_value(rep)?))
}

async fn reveal(_: Authorized, State(app): State<Shared>) -> ApiResult {
    let store = &app.store;
    Ok(Json(serde_json::to_value(
        annotator::reveal(&app.client, store, None, None).await?,
    )?))
}

async fn collect(_: Authorized, State(app): State<Shared>) -> ApiResult {
    let store = &app.store;
    let got = annotator::collect(&app.client, store).await?;
    let out: Vec<Value> = got
        .iter()
        .map(|(t, a)| json!({ "token": t, "amount": fmt_tokens(*a) }))
        .collect();
    Ok(Json(json!(out)))
}

/// The "write" view: generation batches, their terms and this account's datapoints.
async fn generations(_: Authorized, State(app): State<Shared>) -> ApiResult {
    if app.client.deployment.generation.is_none() {
        return Ok(Json(json!([])));
    }
    let open = generation::open_batches(&app.client, &app.generation_home).await?;
    Ok(Json(serde_json::to_value(open)?))
}

#[derive(Deserialize)]
struct WriteReq {
    generation: u64,
    instruction: u32,
    text: String,
}

/// Commits one datapoint (its text and salt recorded locally first).
async fn write(_: Authorized, State(app): State<Shared>, Json(r): Json<WriteReq>) -> ApiResult {
    let draft = generation::Draft {
        instruction: r.instruction,
        text: r.text,
        uri: None,
    };
    let sids =
        generation::submit(&app.client, &app.generation_home, r.generation, &[draft]).await?;
    Ok(Json(
        json!({ "generation": r.generation, "submissions": sids }),
    ))
}

#[derive(Deserialize)]
struct PublishReq {
    generation: u64,
}

/// Publishes this account's committed datapoints of a generation batch.
async fn publish(_: Authorized, State(app): State<Shared>, Json(r): Json<PublishReq>) -> ApiResult {
    let n = generation::publish(&app.client, &app.generation_home, r.generation).await?;
    Ok(Json(json!({ "generation": r.generation, "published": n })))
}

/// The router (exposed for tests).
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/state", get(state))
        .route("/api/task", get(task))
        .route("/api/media", get(media))
        .route("/api/join", post(join))
        .route("/api/submit", post(submit))
        .route("/api/reveal", post(reveal))
        .route("/api/collect", post(collect))
        .route("/api/generations", get(generations))
        .route("/api/generation/submit", post(write))
        .route("/api/generation/publish", post(publish))
        .with_state(app)
}

/// Serves until Ctrl-C. With `auto_reveal`, reveals every open task every few seconds in the background.
pub async fn serve(
    app: App,
    addr: SocketAddr,
    auto_reveal: bool,
    on_ready: impl FnOnce(SocketAddr, &str),
) -> eyre::Result<()> {
    let (listener, local) = bind(addr).await?;
    let app = Arc::new(app);
    on_ready(local, &app.token);
    if auto_reveal {
        let bg = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                if let Err(e) = annotator::reveal(&bg.client, &bg.store, None, None).await {
                    tracing::warn!("auto-reveal: {e}");
                }
            }
        });
    }
    run_until_ctrl_c(listener, router(app)).await
}
