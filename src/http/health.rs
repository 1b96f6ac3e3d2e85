//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;

/// Returns 200 while the process serves HTTP.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Returns 200 when the store (and Redis, when configured) respond, 503 otherwise.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store = match state.store.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check: store unavailable");
            "unavailable".to_owned()
        }
    };
    let redis = if state.dedup.is_redis() {
        match state.dedup.ping().await {
            Ok(()) => "ok",
            Err(error) => {
                tracing::warn!(error = %error, "readiness check: Redis unavailable");
                "unavailable"
            }
        }
    } else {
        "not configured"
    };
    let ready = store == "ok" && redis != "unavailable";
    let body = json!({ "ready": ready, "store": store, "redis": redis });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
