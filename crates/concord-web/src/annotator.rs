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
use concord_client::{annotator, market, Concord};
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
        [(header::CONTENT_SECURITY_POLICY, "default-src 'self'; img-src * data:; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"), (header::X_FRAME_OPTIONS, "DENY")],
        Html(PAGE),
    )
        .into_response()
}

async fn state(_: Authorized, State(app): State<Shared>) -> ApiResult {
    let c = &app.client;
    let me = c.account()?;
    let standing = annotator::standing(c, me).await?;
    let tasks = app.store.list(c.chain_id(), c.market_address(), me, None)?;
    let count = market::batch_count(c).await?;
    let now = c.chain_time().await?;
    let mut batches = Vec::new();
    for b in 0..count {
        let (cfg, st) = market::batch(c, b).await?;
        let open = market::open_task_count(c, b).await?;
        batches.push(json!({
            "batch": b, "phase": market::phase(&cfg, &st, now), "openTasks": open,
            "numItems": cfg.numItems, "replicas": cfg.replicas, "commitDeadline": cfg.commitDeadline.to::<u64>(),
            "revealDeadline": cfg.revealDeadline.to::<u64>(), "reward": fmt_tokens(U256::from(cfg.rewardPerLabel)),
        }));
    }
    Ok(Json(
        json!({ "standing": standing, "tasks": tasks, "batches": batches, "now": now, "chainId": c.chain_id() }),
    ))
}

#[derive(Deserialize)]
struct BatchReq {
    batch: u64,
}

async fn claim(_: Authorized, State(app): State<Shared>, Json(r): Json<BatchReq>) -> ApiResult {
    let store = &app.store;
    let cl = annotator::claim(&app.client, store, r.batch).await?;
    Ok(Json(serde_json::to_value(cl)?))
}

#[derive(Deserialize)]
struct TaskReq {
    batch: u64,
    task: u64,
}

async fn task(_: Authorized, State(app): State<Shared>, Query(r): Query<TaskReq>) -> ApiResult {
    let c = &app.client;
    let annotator::TaskItems {
        config: cfg,
        manifest: m,
        items,
    } = annotator::task_items(c, r.batch, r.task).await?;
    let rec = app
        .store
        .get(&annotator::task_key(c, c.account()?, r.batch, r.task))?;
    Ok(Json(json!({
        "classes": m.classes, "items": items, "record": rec,
        "commitDeadline": cfg.commitDeadline.to::<u64>(), "revealDeadline": cfg.revealDeadline.to::<u64>(),
    })))
}

#[derive(Deserialize)]
struct LabelReq {
    batch: u64,
    task: u64,
    labels: Vec<u8>,
}

async fn submit(_: Authorized, State(app): State<Shared>, Json(r): Json<LabelReq>) -> ApiResult {
    let store = &app.store;
    annotator::label(&app.client, store, r.batch, r.task, &r.labels).await?;
    let rep = annotator::commit(&app.client, store, Some(r.batch)).await?;
    if !rep.failed.is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, rep.failed.join("; ")));
    }
    Ok(Json(serde_json::to_value(rep)?))
}

async fn reveal(_: Authorized, State(app): State<Shared>) -> ApiResult {
    let store = &app.store;
    Ok(Json(serde_json::to_value(
        annotator::reveal(&app.client, store, None).await?,
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

/// The router (exposed for tests).
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/state", get(state))
        .route("/api/task", get(task))
        .route("/api/claim", post(claim))
        .route("/api/submit", post(submit))
        .route("/api/reveal", post(reveal))
        .route("/api/collect", post(collect))
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
                if let Err(e) = annotator::reveal(&bg.client, &bg.store, None).await {
                    tracing::warn!("auto-reveal: {e}");
                }
            }
        });
    }
    run_until_ctrl_c(listener, router(app)).await
}
