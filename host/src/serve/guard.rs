//! What a request must pass before a handler sees it. A client is
//! untrusted, so:
//! - the admin routes check the bearer token from the headers alone, and
//!   with no token configured refuse every request, before a byte of the
//!   body is read ([`admin_auth`]);
//! - every body is read within a deadline and a size bound chosen by route
//!   (`--body-timeout-ms`, `--max-body-kb`, and the component bound for
//!   the admin swap), a declared `Content-Length` over the bound is refused
//!   unread, and only then is the connection counted busy ([`read_body`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::api::{authorize, ApiError};
use super::conn::Activity;
use super::AppState;

/// Deadlines and sizes for request bodies.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Time the whole body has to arrive.
    pub timeout: Duration,
    /// Largest body of the runs and chat routes.
    pub max_bytes: usize,
    /// Largest body of the admin swap route (a component).
    pub max_component_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_bytes: 2 << 20,
            max_component_bytes: super::MAX_COMPONENT_BYTES,
        }
    }
}

/// Refuses an admin request whose token is missing or wrong (or any, when
/// the admin API is off) before its body is read.
pub async fn admin_auth(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match authorize(&state, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let mut r = e.into_response();
            // The body was not read; the connection cannot be reused.
            r.headers_mut()
                .insert(header::CONNECTION, "close".parse().expect("static"));
            r
        }
    }
}

/// Reads the whole body within its deadline and bound, then hands the
/// request on with the body in memory, counting its connection busy.
pub async fn read_body(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let limits = state.body_limits;
    let bound = if req.uri().path().starts_with("/admin/") {
        limits.max_component_bytes
    } else {
        limits.max_bytes
    };
    let too_large = |size: String| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "body_too_large",
            format!("the request body is {size}, over this route's bound of {bound} bytes"),
        )
        .into_response()
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > bound as u64) {
        return closing(too_large(format!("{n} bytes")));
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, bound);
    let bytes: Bytes = match tokio::time::timeout(limits.timeout, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return closing(too_large("larger".into()))
        }
        Ok(Err(e)) => {
            return ApiError::bad_request(format!("the request body could not be read: {e}"))
                .into_response()
        }
        Err(_) => {
            return closing(
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "invalid_request_error",
                    "body_timeout",
                    format!(
                        "the request body did not arrive within {} ms (--body-timeout-ms)",
                        limits.timeout.as_millis()
                    ),
                )
                .into_response(),
            )
        }
    };
    let _busy = parts.extensions.get::<Arc<Activity>>().map(Activity::busy);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn closing(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CONNECTION, "close".parse().expect("static"));
    r
}
