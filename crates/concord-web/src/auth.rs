//! One guard for every API request: the session token the server printed at start, and the server's own
//! origin. Handlers take [`Authorized`] as an argument instead of checking by hand.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use std::sync::Arc;

use crate::ApiError;

/// A random session token (128 bits, hex).
pub fn new_token() -> String {
    alloy::hex::encode(rand::random::<[u8; 16]>())
}

/// Server state that holds the session token.
pub trait SessionToken: Send + Sync + 'static {
    fn session_token(&self) -> &str;
}

/// Proof that the request carried the session token (`x-concord-token`) and, if the browser named an origin,
/// came from this server's own page.
#[derive(Debug, Clone, Copy)]
pub struct Authorized;

impl<S: SessionToken> FromRequestParts<Arc<S>> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<S>) -> Result<Self, ApiError> {
        authorize(state.session_token(), &parts.headers)
    }
}

/// Compares without an early exit (constant time enough for a 128-bit random token on loopback).
pub(crate) fn same_token(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn authorize(token: &str, headers: &HeaderMap) -> Result<Authorized, ApiError> {
    let given = headers
        .get("x-concord-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !same_token(given, token) {
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
    Ok(Authorized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    struct Token(String);

    impl SessionToken for Token {
        fn session_token(&self) -> &str {
            &self.0
        }
    }

    async fn status_of(req: Request<Body>) -> StatusCode {
        let app = Router::new()
            .route("/api", get(|_: Authorized| async { "ok" }))
            .with_state(Arc::new(Token("abc123".into())));
        app.oneshot(req).await.expect("response").status()
    }

    fn req(token: Option<&str>, origin: Option<&str>) -> Request<Body> {
        let mut r = Request::builder()
            .uri("/api")
            .header(header::HOST, "127.0.0.1:8080");
        if let Some(t) = token {
            r = r.header("x-concord-token", t);
        }
        if let Some(o) = origin {
            r = r.header(header::ORIGIN, o);
        }
        r.body(Body::empty()).expect("request")
    }

    #[tokio::test]
    async fn token_and_origin_are_checked_on_every_api_request() {
        assert_eq!(status_of(req(Some("abc123"), None)).await, StatusCode::OK);
        assert_eq!(
            status_of(req(Some("abc123"), Some("http://127.0.0.1:8080"))).await,
            StatusCode::OK
        );
        assert_eq!(status_of(req(None, None)).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            status_of(req(Some("abc124"), None)).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_of(req(Some("abc12"), None)).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_of(req(Some("abc123"), Some("http://evil.example"))).await,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn tokens_are_random_and_128_bits() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(same_token(&a, &a.clone()) && !same_token(&a, &b));
    }
}
