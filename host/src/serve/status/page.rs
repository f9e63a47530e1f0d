//! The status page's three routes: `GET /` (the page itself, the same
//! bytes for everyone: it holds no data), `GET /status` (the JSON it
//! polls, as the caller's access allows) and `GET /status/graph.svg` (the
//! pipeline's graph with room for each node's figures; full access only).
//! Every answer is `Cache-Control: no-store`, and the page may load
//! nothing but itself (`Content-Security-Policy`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::view::status_json;
use super::{access, Access};
use crate::graph::Graph;
use crate::serve::api::ApiError;
use crate::serve::AppState;

/// The page: HTML, CSS and script in one file, no external resource.
const PAGE: &str = include_str!("page.html");

/// What the page may load: only this origin's `/status` routes, its own
/// inline style and script, and inline images (the graph is inline SVG).
const CSP: &str = "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Placeholder figure lines under each node, as wide as the figures the
/// page writes there, so the layout leaves them room.
const FIGURE_ROOM: [&str; 3] = [
    "p50 00000 ms · p95 00000 ms",
    "000.0/s · err 000% · rejected 000%",
    "$0000.0000/min · ok",
];

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /`: the status page.
pub async fn page() -> Response {
    let mut r =
        no_store(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response());
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /status`: the health view for anyone; every figure with the
/// admin token (or when none is configured).
pub async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let access = access(&state, &headers)?;
    let body = status_json(&state.live, state.live.status(), access);
    Ok(no_store(Json(body).into_response()))
}

/// `GET /status/graph.svg`: the live generation's graph, components shown
/// as `name@version`, with blank figure lines under each node for the page
/// to fill in. Needs full access.
pub async fn graph_svg(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if access(&state, &headers)? == Access::Public {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing_token",
            "the pipeline's graph needs the admin bearer token (`Authorization: Bearer <token>`)",
        ));
    }
    let pipeline = state.live.current();
    let labels = crate::pipeline::component_labels(pipeline.nodes());
    let mut graph = Graph::with_components(&pipeline.manifest, &labels);
    for name in pipeline.nodes().keys() {
        graph.set_figures(name, FIGURE_ROOM.iter().map(|s| s.to_string()).collect());
    }
    let svg = crate::graph::render_svg_element(&graph);
    Ok(no_store(
        (
            [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
            svg,
        )
            .into_response(),
    ))
}
