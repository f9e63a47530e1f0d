//! Client keys on `/v1/*`: `Authorization: Bearer <key>` looked up by its
//! SHA-256 in the key store (cached two seconds, so a revocation counts
//! within two seconds on every replica), refused when missing, unknown,
//! revoked or not allowed this pipeline, and charged one request against
//! the key's rate limit before anything runs. The run then carries the key
//! (`RunClient`), so its model calls are charged to the key's spend limit
//! and token rate. A key store that cannot answer refuses the request
//! (`503`): keys fail closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::{bearer_token, ApiError};
use super::AppState;
use crate::keys::{hash, ClientKey, KeyStore};
use crate::models::{ModelHub, RateLimiter};
use crate::pipeline::RunClient;

/// How long a lookup (found or not) is reused.
const CACHE_FOR: Duration = Duration::from_secs(2);
/// Lookups kept at most (then the cache starts afresh).
const CACHE_MAX: usize = 10_000;

/// Who may call `/v1/*`.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// Anyone who reaches the port (the manifest said `clients = "none"`).
    Open,
    /// Holders of a live client key.
    Keys(Arc<KeyRing>),
}

/// The keys of a service, with its lookups and each key's rate limiter.
#[derive(Debug)]
pub struct KeyRing {
    store: Arc<dyn KeyStore>,
    lookups: Mutex<HashMap<String, (Instant, Option<ClientKey>)>>,
    limiters: Mutex<HashMap<String, Arc<RateLimiter>>>,
}

impl KeyRing {
    /// Keys from `store`.
    pub fn new(store: Arc<dyn KeyStore>) -> Self {
        Self {
            store,
            lookups: Mutex::default(),
            limiters: Mutex::default(),
        }
    }

    /// The key presented as `secret`, from the cache or the store.
    async fn find(&self, secret: &str) -> Result<Option<ClientKey>, String> {
        let sha = hash(secret);
        let now = Instant::now();
        if let Some((at, key)) = self
            .lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sha)
        {
            if now.duration_since(*at) < CACHE_FOR {
                return Ok(key.clone());
            }
        }
        let key = self.store.find(&sha).await.map_err(|e| e.to_string())?;
        let mut lookups = self.lookups.lock().unwrap_or_else(|p| p.into_inner());
        if lookups.len() >= CACHE_MAX {
            lookups.clear();
        }
        lookups.insert(sha, (now, key.clone()));
        Ok(key)
    }

    /// Key `key`'s rate limiter, counted where the models' are.
    fn limiter(&self, hub: &ModelHub, key: &ClientKey) -> Option<Arc<RateLimiter>> {
        let spec = key.rate()?;
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            limiters
                .entry(key.id.clone())
                .or_insert_with(|| Arc::new(hub.client_limiter(&key.id, spec)))
                .clone(),
        )
    }
}

fn unauthorized(code: &str, message: &str) -> Response {
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        code,
        message,
    )
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        "Bearer realm=\"switchyard\"".parse().expect("static"),
    );
    r
}

/// Lets a `/v1/*` request through when its client key allows it, with the
/// key's [`RunClient`] in the request's extensions.
pub async fn client_auth(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let ring = match &state.clients {
        ClientAuth::Open => return next.run(req).await,
        ClientAuth::Keys(ring) => ring.clone(),
    };
    let Some(secret) = bearer_token(req.headers()).filter(|t| !t.is_empty()) else {
        return unauthorized(
            "missing_api_key",
            "this server needs a client key: send `Authorization: Bearer <key>` (keys come from `switchyard keys create`)",
        );
    };
    let key = match ring.find(secret).await {
        Ok(Some(k)) if k.revoked.is_none() => k,
        Ok(Some(_)) => return unauthorized("invalid_api_key", "this client key was revoked"),
        Ok(None) => return unauthorized("invalid_api_key", "no such client key"),
        Err(why) => {
            tracing::warn!(error = %why, "cannot look up a client key; refused");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "keys_unavailable",
                "client keys cannot be checked right now; try again shortly",
            )
            .into_response();
        }
    };
    let pipeline = state.live.current();
    if !key.allows(&pipeline.manifest.name) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            "pipeline_not_allowed",
            format!(
                "client key `{}` may not call pipeline `{}`",
                key.name, pipeline.manifest.name
            ),
        )
        .into_response();
    }
    let rate = ring.limiter(pipeline.hub(), &key);
    if let Some(limiter) = &rate {
        if let Some(wait) = limiter.try_acquire_units(1, None).await {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                format!(
                    "client key `{}` is over its requests-per-minute; retry in {} ms",
                    key.name,
                    wait.as_millis()
                ),
            )
            .into_response();
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            r.headers_mut()
                .insert(header::RETRY_AFTER, secs.max(1).into());
            return r;
        }
    }
    drop(pipeline);
    req.extensions_mut().insert(RunClient {
        id: key.id.clone(),
        spend_limit: key.spend(),
        rate,
    });
    next.run(req).await
}
