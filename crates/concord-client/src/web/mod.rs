//! `concord-annotator serve`: a local web page for labeling, backed by the same client and local store as the
//! CLI. The key never leaves this process; the page talks only to this server, which checks a random session
//! token on every API request, sends no CORS headers, and refuses requests from other origins.

use alloy::primitives::U256;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::store::Store;
use crate::{annotator, requester, Concord};

const PAGE: &str = include_str!("annotator.html");

/// Shared state of the server.
pub struct App {
    pub client: Concord,
    pub store: Store,
    pub token: String,
}

type Shared = Arc<App>;

struct ApiError(StatusCode, String);

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

/// A random session token (128 bits, hex).
pub fn new_token() -> String {
    alloy::hex::encode(rand::random::<[u8; 16]>())
}

fn authorize(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get("x-concord-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Constant-time enough for a 128-bit random token compared once per request on loopback.
    if given.len() != app.token.len()
        || given
            .bytes()
            .zip(app.token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
    {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong session token".into(),
        ));
    }
    // Browsers attach Origin to cross-site requests: only our own page may call the API.
    if let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        let origin = origin.to_str().unwrap_or("");
        let host = host.to_str().unwrap_or("");
        if origin != format!("http://{host}") {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "cross-origin request refused".into(),
            ));
        }
    }
    Ok(())
}

async fn page(State(app): State<Shared>, Query(q): Query<TokenQuery>) -> Response {
    if q.token.as_deref() != Some(app.token.as_str()) {
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

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn state(State(app): State<Shared>, headers: HeaderMap) -> ApiResult {
    authorize(&app, &headers)?;
    let c = &app.client;
    let me = c.account()?;
    let standing = annotator::standing(c, me).await?;
    let tasks = app.store.list(c.chain_id(), c.market_address(), me, None)?;
    let count = c
        .market
        .batchCount()
        .call()
        .await
        .map_err(c.read_err("read batches"))?
        .to::<u64>();
    let now = c.chain_time().await?;
    let mut batches = Vec::new();
    for b in 0..count {
        let (cfg, st) = requester::batch(c, b).await?;
        let open = c
            .market
            .openTaskCount(U256::from(b))
            .call()
            .await
            .map_err(c.read_err("read open tasks"))?;
        batches.push(json!({
            "batch": b, "phase": requester::phase(&cfg, &st, now), "openTasks": open.to::<u64>(),
            "numItems": cfg.numItems, "replicas": cfg.replicas, "commitDeadline": cfg.commitDeadline.to::<u64>(),
            "revealDeadline": cfg.revealDeadline.to::<u64>(), "reward": crate::opts::fmt_tokens(U256::from(cfg.rewardPerLabel)),
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

async fn claim(
    State(app): State<Shared>,
    headers: HeaderMap,
    Json(r): Json<BatchReq>,
) -> ApiResult {
    authorize(&app, &headers)?;
    let store = &app.store;
    let cl = annotator::claim(&app.client, store, r.batch).await?;
    Ok(Json(serde_json::to_value(cl)?))
}

#[derive(Deserialize)]
struct TaskReq {
    batch: u64,
    task: u64,
}

async fn task(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(r): Query<TaskReq>,
) -> ApiResult {
    authorize(&app, &headers)?;
    let c = &app.client;
    let (m, items) = annotator::task_items(c, r.batch, r.task).await?;
    let (cfg, _) = requester::batch(c, r.batch).await?;
    let me = c.account()?;
    let rec = app.store.get(&crate::store::TaskKey {
        chain_id: c.chain_id(),
        market: c.market_address(),
        batch: r.batch,
        task: r.task,
        annotator: me,
    })?;
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

async fn submit(
    State(app): State<Shared>,
    headers: HeaderMap,
    Json(r): Json<LabelReq>,
) -> ApiResult {
    authorize(&app, &headers)?;
    let store = &app.store;
    annotator::label(&app.client, store, r.batch, r.task, &r.labels).await?;
    let rep = annotator::commit(&app.client, store, Some(r.batch)).await?;
    if !rep.failed.is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, rep.failed.join("; ")));
    }
    Ok(Json(serde_json::to_value(rep)?))
}

async fn reveal(State(app): State<Shared>, headers: HeaderMap) -> ApiResult {
    authorize(&app, &headers)?;
    let store = &app.store;
    Ok(Json(serde_json::to_value(
        annotator::reveal(&app.client, store, None).await?,
    )?))
}

async fn collect(State(app): State<Shared>, headers: HeaderMap) -> ApiResult {
    authorize(&app, &headers)?;
    let store = &app.store;
    let got = annotator::collect(&app.client, store).await?;
    let out: Vec<Value> = got
        .iter()
        .map(|(t, a)| json!({ "token": t, "amount": crate::opts::fmt_tokens(*a) }))
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
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| eyre::eyre!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
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
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// State of the read-only requester view.
pub struct RequesterView {
    pub client: Concord,
    pub batch: u64,
    pub token: String,
}

async fn requester_page(
    State(v): State<Arc<RequesterView>>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if q.token.as_deref() != Some(v.token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            "open the URL printed by `concord-requester serve` (it carries the session token)",
        )
            .into_response();
    }
    let c = &v.client;
    let status = match requester::status(c, v.batch).await {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    let rows = [
        ("phase", status.phase.clone()),
        (
            "commit until",
            crate::time::fmt_unix(status.commit_deadline),
        ),
        (
            "reveal until",
            crate::time::fmt_unix(status.reveal_deadline),
        ),
        (
            "review until",
            crate::time::fmt_unix(status.review_deadline),
        ),
        (
            "claimed slots",
            format!(
                "{} / {}",
                status.slots_claimed,
                status.num_tasks * status.replicas
            ),
        ),
        (
            "labels committed",
            format!(
                "{} ({:.1}%)",
                status.labels_committed,
                pct(status.labels_committed, status.labels_needed)
            ),
        ),
        (
            "labels revealed",
            format!(
                "{} ({:.1}%)",
                status.labels_revealed,
                pct(status.labels_revealed, status.labels_needed)
            ),
        ),
        (
            "tasks settled",
            format!("{} / {}", status.tasks_settled, status.num_tasks),
        ),
        (
            "items decided (accepted + gold + reviewed)",
            status.items_decided.to_string(),
        ),
        (
            "items in review / no consensus",
            status.items_in_review.to_string(),
        ),
        (
            "gold revealed",
            format!("{} / {}", status.gold_revealed, status.gold_count),
        ),
        (
            "escrow / paid",
            format!(
                "{} / {} tokens{}",
                status.escrow,
                status.paid,
                if status.refunded { " (refunded)" } else { "" }
            ),
        ),
    ];
    let table: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v)))
        .collect();
    let report = if status.tasks_settled > 0 {
        match crate::report::build(c, v.batch, None).await {
            Ok(r) => crate::report::render_html(&r),
            Err(e) => format!("<p>quality report unavailable: {}</p>", esc(&e.to_string())),
        }
    } else {
        "<p>The quality report appears once tasks are settled.</p>".to_string()
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\"><title>Concord batch {b}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto}}th{{text-align:left;padding-right:2em}}</style></head>\
<body><h1>Batch {b} — requester view (read-only, refreshes every 5 s)</h1><table>{table}</table><hr>{report}</body></html>",
        b = v.batch
    );
    ([(header::X_FRAME_OPTIONS, "DENY")], Html(body)).into_response()
}

/// Serves the read-only requester view of one batch until Ctrl-C.
pub async fn serve_requester(
    view: RequesterView,
    addr: SocketAddr,
    on_ready: impl FnOnce(SocketAddr, &str),
) -> eyre::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| eyre::eyre!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let view = Arc::new(view);
    on_ready(local, &view.token);
    let router = Router::new()
        .route("/", get(requester_page))
        .with_state(view);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
