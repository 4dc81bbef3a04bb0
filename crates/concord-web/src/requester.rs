//! `concord-requester serve`: a read-only view of one batch — progress per phase and the quality report —
//! behind the session token printed at start.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use concord_client::protocol::time::fmt_unix;
use concord_client::{report, requester, Concord};
use concord_quality::html::{escape, render_html};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::{bind, page_token_ok, run_until_ctrl_c, TokenQuery};

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
    if !page_token_ok(&v.token, &q) {
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
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    let rows = [
        ("phase", status.phase.to_string()),
        ("commit until", fmt_unix(status.commit_deadline)),
        ("reveal until", fmt_unix(status.reveal_deadline)),
        ("review until", fmt_unix(status.review_deadline)),
        (
            "round",
            format!(
                "{} ({} positions free, joins until {})",
                status.round,
                status.round_free,
                fmt_unix(status.round_join_end)
            ),
        ),
        (
            "positions committed",
            format!(
                "{} / {} in {} bundles",
                status.positions_committed,
                status.num_tasks * status.replicas,
                status.bundles
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
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v)))
        .collect();
    let report = if status.tasks_settled > 0 {
        match report::build(c, v.batch, None).await {
            Ok(r) => render_html(&r),
            Err(e) => format!(
                "<p>quality report unavailable: {}</p>",
                escape(&e.to_string())
            ),
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
    let (listener, local) = bind(addr).await?;
    let view = Arc::new(view);
    on_ready(local, &view.token);
    let router = Router::new()
        .route("/", get(requester_page))
        .with_state(view);
    run_until_ctrl_c(listener, router).await
}
