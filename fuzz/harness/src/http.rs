//! The `http` property: any request to the service's routes (`/v1/runs`,
//! `/v1/chat/completions`, the admin routes, health, metrics, the status
//! page), through the axum router in-process, is answered in full within
//! a deadline, never with a `500`; a refusal says why in JSON; and no
//! request gets past authentication without its credential — a `2xx` from
//! `/admin/*` needs the admin token, one from `/v1/*` a live client key.
//!
//! Input: a request as text, the way it goes over HTTP/1.1: a request
//! line (`METHOD TARGET`), header lines (`Name: value`), a blank line, the
//! body. In header values `$ADMIN`, `$KEY` and `$REVOKED` stand for the
//! fixture's admin token, live client key and revoked key. What hyper
//! would refuse before routing (a malformed method, target or header) is
//! skipped.

use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::fixture;

/// The longest a response may take, body included.
const DEADLINE: Duration = Duration::from_secs(10);
/// The largest response body expected.
const MAX_BODY: usize = 8 << 20;

/// A request parsed from the input.
struct Parsed {
    request: axum::http::Request<Body>,
    admin: bool,
    key: bool,
}

fn parse(data: &[u8]) -> Option<Parsed> {
    let f = fixture::get();
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or((data, &b""[..]), |i| (&data[..i], &data[i + 2..]));
    let (head, body) = split;
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let (method, target) = lines.next()?.trim().split_once(' ')?;
    let mut builder = axum::http::Request::builder()
        .method(axum::http::Method::from_bytes(method.as_bytes()).ok()?)
        .uri(target.trim().parse::<axum::http::Uri>().ok()?);
    let (mut admin, mut key) = (false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        admin |= value.contains("$ADMIN");
        key |= value.contains("$KEY");
        let value = value
            .replace("$ADMIN", &f.admin)
            .replace("$KEY", &f.key)
            .replace("$REVOKED", &f.revoked);
        let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.trim().as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) else {
            continue;
        };
        builder = builder.header(name, value);
    }
    let request = builder.body(Body::from(body.to_vec())).ok()?;
    Some(Parsed {
        request,
        admin,
        key,
    })
}

/// The property (see the module's documentation).
pub fn http(data: &[u8]) {
    let _ = respond(data);
}

/// The answer to the request `data` spells, its properties checked: its
/// status and body, or `None` for an input that is no request.
pub fn respond(data: &[u8]) -> Option<(axum::http::StatusCode, bytes::Bytes)> {
    let Parsed {
        request,
        admin,
        key,
    } = parse(data)?;
    let f = fixture::get();
    let path = request.uri().path().to_string();
    let head = request.method() == axum::http::Method::HEAD;
    let router = f.router.clone();
    let answered = f.rt.block_on(async {
        tokio::time::timeout(DEADLINE, async {
            let response = router
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map(|b| b.to_bytes());
            (parts, bytes)
        })
        .await
    });
    let Ok((parts, body)) = answered else {
        panic!("{path}: no whole answer within {DEADLINE:?}");
    };
    let body = body.unwrap_or_else(|e| panic!("{path}: the body failed: {e}"));
    let status = parts.status;
    assert_ne!(
        status,
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "{path}: 500 {}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        body.len() <= MAX_BODY,
        "{path}: a body of {} bytes",
        body.len()
    );
    if status.is_success() {
        if path.starts_with("/admin") {
            assert!(admin, "{path}: {status} without the admin token");
        }
        if path.starts_with("/v1/") {
            assert!(key, "{path}: {status} without a live client key");
        }
    }
    let json = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if head {
        // A HEAD answer has the headers of a GET and never a body.
        assert!(body.is_empty(), "{path}: HEAD answered with a body");
        return Some((status, body));
    }
    if (status.is_client_error() || status.is_server_error()) && json {
        let v: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: {status} with a body that is not JSON: {e}"));
        let message = v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .and_then(Value::as_str);
        assert!(
            message.is_some_and(|m| !m.trim().is_empty()),
            "{path}: {status} without a reason: {v}"
        );
    }
    Some((status, body))
}
