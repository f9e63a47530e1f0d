//! The admin routes of experiments (bearer token, like every admin route):
//! `PUT /admin/nodes/{node}?mode=shadow|canary[&percent=N][&budget-usd=X]`
//! starts one with the body as the candidate, `GET /admin/nodes/{node}`
//! shows the node and its experiment's statistics, `POST
//! /admin/nodes/{node}/promote` and `/abort` end it. Every refusal is a
//! JSON error naming the node or parameter and saying what to do.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{AdminError, Mode, Settings};
use crate::pipeline::SwapError;
use crate::serve::api::ApiError;
use crate::serve::AppState;
use crate::spec::Cost;
use crate::text::shown;

/// The largest `budget-usd` accepted.
const MAX_BUDGET_USD: f64 = 1e6;

/// The JSON error for a refused swap or experiment operation; `after`
/// says what still holds (e.g. "the old component keeps serving").
pub(crate) fn admin_error(e: &AdminError, after: &str) -> ApiError {
    let (status, code) = match e {
        AdminError::Swap(SwapError::UnknownNode { .. }) => {
            (StatusCode::NOT_FOUND, "node_not_found")
        }
        AdminError::Swap(SwapError::Load(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "incompatible_component")
        }
        AdminError::Swap(SwapError::Trust(_)) => (StatusCode::FORBIDDEN, "untrusted_component"),
        AdminError::Swap(SwapError::Fetch { .. }) => {
            (StatusCode::BAD_GATEWAY, "component_unavailable")
        }
        AdminError::Swap(SwapError::InvalidSchema { .. } | SwapError::EdgeBroken { .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "incompatible_schema")
        }
        AdminError::Swap(SwapError::StreamUnsafe { .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "stream_unsafe")
        }
        AdminError::UnderExperiment { .. } => (StatusCode::CONFLICT, "experiment_running"),
        AdminError::NoExperiment { .. } => (StatusCode::NOT_FOUND, "no_experiment"),
        AdminError::CanaryShare { .. } => (StatusCode::CONFLICT, "canary_share"),
        AdminError::Unchanged { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "unchanged_candidate"),
    };
    let message = match e {
        AdminError::Swap(s) => match s.hint() {
            Some(hint) => format!("{e} (hint: {hint}); {after}"),
            None => format!("{e}; {after}"),
        },
        _ => format!("{e}; {after}"),
    };
    ApiError::new(status, "invalid_request_error", code, message)
}

fn invalid(message: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_parameter",
        message,
    )
}

/// The experiment settings in the query `pairs` of a `PUT` on `node`.
pub(crate) fn parse_settings(node: &str, pairs: &[(String, String)]) -> Result<Settings, ApiError> {
    let mut mode = None;
    let mut percent = None;
    let mut budget = None;
    for (key, value) in pairs {
        let slot = match key.as_str() {
            "mode" => &mut mode,
            "percent" => &mut percent,
            "budget-usd" => &mut budget,
            other => {
                return Err(invalid(format!(
                    "unknown parameter `{}` for an experiment on node `{node}`: the parameters are `mode` (shadow or canary), `percent` (0 to 100) and `budget-usd`",
                    shown(other)
                )))
            }
        };
        if slot.replace(value.as_str()).is_some() {
            return Err(invalid(format!(
                "parameter `{key}` is given twice for node `{node}`; give it once"
            )));
        }
    }
    let mode = match mode {
        Some("shadow") => Mode::Shadow,
        Some("canary") => Mode::Canary,
        Some(other) => {
            return Err(invalid(format!(
                "unknown mode `{}` for node `{node}`: use `mode=shadow` (run the candidate beside the live node on a sample of runs, never served) or `mode=canary&percent=N` (serve N% of runs from the candidate); send no query for a plain hot-swap",
                shown(other)
            )))
        }
        None => {
            return Err(invalid(format!(
                "a `PUT /admin/nodes/{node}` with parameters starts an experiment and needs `mode=shadow` or `mode=canary`; send no query for a plain hot-swap"
            )))
        }
    };
    let percent = match percent {
        None if mode == Mode::Canary => {
            return Err(invalid(format!(
                "`mode=canary` on node `{node}` needs `percent=N`: the share of runs (0 to 100) the candidate serves"
            )))
        }
        None => 100.0,
        Some(text) => match text.trim().parse::<f64>() {
            Ok(p) if p.is_finite() && (0.0..=100.0).contains(&p) => p,
            _ => {
                return Err(invalid(format!(
                    "`percent` for node `{node}` must be a number from 0 to 100 (the share of runs, in %), got `{}`",
                    shown(text)
                )))
            }
        },
    };
    let budget = match budget {
        None => None,
        Some(text) => match text.trim().parse::<f64>() {
            Ok(usd) if usd.is_finite() && usd > 0.0 && usd <= MAX_BUDGET_USD => {
                Some(Cost(((usd * 1e12).round() as u64).max(1)))
            }
            _ => {
                return Err(invalid(format!(
                    "`budget-usd` for node `{node}` must be a positive number of US dollars (at most {MAX_BUDGET_USD}), got `{}`",
                    shown(text)
                )))
            }
        },
    };
    Ok(Settings {
        mode,
        percent,
        budget,
    })
}

/// `PUT /admin/nodes/{node}?mode=…`: starts an experiment with the body
/// (non-empty, checked by the caller) as the candidate.
pub(crate) async fn start(
    state: &AppState,
    node: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    what: &str,
) -> Result<Response, ApiError> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).map_err(|e| {
        invalid(format!(
            "the query of `PUT /admin/nodes/{node}` cannot be read ({e}); send `?mode=shadow` or `?mode=canary&percent=N`"
        ))
    })?;
    let settings = parse_settings(node, &pairs)?;
    let by = crate::serve::status::caller(headers);
    let origin = PathBuf::from(format!(
        "<PUT /admin/nodes/{node}?mode={}{what} by {by}>",
        settings.mode
    ));
    match state
        .live
        .start_experiment(node, settings, body, &origin)
        .await
    {
        Ok(status) => Ok(Json(status).into_response()),
        Err(e) => Err(admin_error(
            &e,
            "the live component keeps serving and no experiment was started",
        )),
    }
}

/// `GET /admin/nodes/{node}`: the node's live component and its
/// experiment (`null` without one), statistics included.
pub async fn status(
    State(state): State<Arc<AppState>>,
    Path(node): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = state.live.current();
    let Some(n) = p.node(&node) else {
        return Err(admin_error(
            &AdminError::Swap(p.unknown_node(&node)),
            "`GET /admin/nodes` lists the nodes",
        ));
    };
    // With shared state: the digest every replica runs for this node.
    let replicas = match &state.fleet {
        Some(f) => Some(f.node_view(&node).await),
        None => None,
    };
    Ok(Json(json!({
        "replicas": replicas,
        "replica": state.fleet.as_ref().map(|f| f.id().to_string()),
        "pipeline": p.manifest.name,
        "generation": p.generation,
        "node": node,
        "role": n.spec.role,
        "revision": n.revision,
        "version": n.component.description.version,
        "sha256": n.component.load.sha256,
        "bytes": n.component.load.bytes,
        "component": n.spec.component,
        "trust": n.spec.trust.as_str(),
        "signed_by": n.provenance.signed_by,
        "experiment": state.live.experiment(&node),
    })))
}

/// `POST /admin/nodes/{node}/promote`: the hot-swap of the candidate, its
/// report and the experiment's final statistics.
pub async fn promote(
    State(state): State<Arc<AppState>>,
    Path(node): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let by = crate::serve::status::caller(&headers);
    match state.live.promote(&node, &by).await {
        Ok(promotion) => Ok(Json(promotion).into_response()),
        Err(e @ AdminError::Swap(SwapError::Load(_) | SwapError::EdgeBroken { .. }))
        | Err(e @ AdminError::Swap(SwapError::InvalidSchema { .. })) => Err(admin_error(
            &e,
            "the live component keeps serving and the experiment goes on (abort it to discard the candidate)",
        )),
        Err(e) => Err(admin_error(&e, "the live component keeps serving")),
    }
}

/// `POST /admin/nodes/{node}/abort`: ends the experiment, discarding the
/// candidate; answers its final statistics.
pub async fn abort(
    State(state): State<Arc<AppState>>,
    Path(node): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let by = crate::serve::status::caller(&headers);
    match state.live.abort(&node, &by).await {
        Ok(status) => Ok(Json(json!({
            "node": node,
            "aborted": true,
            "experiment": status,
        }))
        .into_response()),
        Err(e) => Err(admin_error(&e, "the live component keeps serving")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Settings, String> {
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        parse_settings("w", &pairs).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn experiment_parameters_parse_with_defaults_and_clear_refusals() {
        let s = parse("mode=shadow").unwrap();
        assert_eq!((s.mode, s.percent, s.budget), (Mode::Shadow, 100.0, None));
        let s = parse("mode=canary&percent=30&budget-usd=0.5").unwrap();
        assert_eq!(
            (s.mode, s.percent, s.budget),
            (Mode::Canary, 30.0, Some(Cost(500_000_000_000)))
        );
        for (query, needle) in [
            ("mode=blue", "unknown mode `blue` for node `w`"),
            ("percent=5", "needs `mode=shadow` or `mode=canary`"),
            ("mode=canary", "needs `percent=N`"),
            ("mode=shadow&percent=101", "from 0 to 100"),
            ("mode=shadow&percent=-1", "from 0 to 100"),
            ("mode=shadow&percent=NaN", "from 0 to 100"),
            ("mode=shadow&budget-usd=0", "positive number of US dollars"),
            ("mode=shadow&mode=canary", "`mode` is given twice"),
            ("mode=shadow&pct=5", "unknown parameter `pct`"),
        ] {
            let e = parse(query).expect_err(query);
            assert!(e.contains(needle), "{query}: {e}");
        }
    }
}
