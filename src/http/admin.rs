//! The admin API under `/admin`, behind `Authorization: Bearer <ADMIN_TOKEN>`.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::store::{LogFilter, StoreError};
use crate::sync::messages::{JobsAvailable, PauseChanged};
use crate::sync::{ENTITIES, SCOPE_ALL, SCOPES};

/// Rows a list endpoint returns when the request names no limit.
const DEFAULT_LIST_LIMIT: i64 = 100;
/// Most rows a list endpoint returns.
const MAX_LIST_LIMIT: i64 = 1_000;

fn require_token(request: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let presented = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        // The scheme name is case-insensitive (RFC 7235).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::Unauthorized)?;
    let expected = state.admin_token.expose_secret().as_bytes();
    if bool::from(presented.as_bytes().ct_eq(expected)) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

fn unavailable(error: StoreError) -> ApiError {
    tracing::error!(error = %error, "admin request failed on the store");
    ApiError::Unavailable
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeRequest {
    entity: Option<String>,
}

/// Reads the optional `{"entity": "…"}` body; an empty body means every entity.
fn parse_scope(body: &[u8]) -> Result<String, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(SCOPE_ALL.to_owned());
    }
    let request: ScopeRequest = serde_json::from_slice(body).map_err(|error| {
        ApiError::BadRequest(format!(
            "invalid JSON body ({error}); send {{\"entity\": \"customer\"}} or no body for all"
        ))
    })?;
    let scope = request.entity.unwrap_or_else(|| SCOPE_ALL.to_owned());
    if !SCOPES.contains(&scope.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "unknown entity {scope:?}; expected one of {}",
            SCOPES.join(", ")
        )));
    }
    Ok(scope)
}

async fn set_pause(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    paused: bool,
) -> Result<HttpResponse, ApiError> {
    require_token(&request, &state)?;
    let scope = parse_scope(&body)?;

    // Resuming everything clears every scope, including ones paused by name.
    let scopes: Vec<&str> = if !paused && scope == SCOPE_ALL {
        SCOPES.to_vec()
    } else {
        vec![scope.as_str()]
    };
    for scope in scopes {
        state
            .store
            .set_paused(scope, paused)
            .await
            .map_err(unavailable)?;
    }
    tracing::info!(scope = %scope, paused, "sync pause state set by an operator");
    for listener in &state.pause_listeners {
        listener.do_send(PauseChanged {
            scope: scope.clone(),
            paused,
        });
    }
    let paused_scopes = state.store.paused_scopes().await.map_err(unavailable)?;
    // A scope stays paused while `all` is, whatever was asked for it.
    let still_paused = paused_scopes
        .iter()
        .any(|paused| paused == &scope || paused == SCOPE_ALL);
    let mut reply =
        json!({ "scope": scope, "paused": still_paused, "paused_scopes": paused_scopes });
    if !paused && still_paused {
        reply["note"] = json!(format!(
            "{scope} stays paused because every entity is paused; resume with no body to \
             resume everything"
        ));
    }
    Ok(HttpResponse::Ok().json(reply))
}

/// `POST /admin/pause`: stops processing for one entity or all; webhooks are still stored.
pub async fn pause(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    set_pause(request, state, body, true).await
}

/// `POST /admin/resume`: resumes processing; waiting jobs drain at once.
pub async fn resume(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    set_pause(request, state, body, false).await
}

/// `GET /admin/status`: paused scopes, queue depth, dead letters and actor health.
pub async fn status(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_token(&request, &state)?;

    let paused_scopes = state.store.paused_scopes().await.map_err(unavailable)?;
    let queue = state.store.queue_stats().await.map_err(unavailable)?;
    let actors = state.registry.snapshot();

    Ok(HttpResponse::Ok().json(json!({
        "started_at": state.started_at,
        "paused_scopes": paused_scopes,
        "queue": queue,
        "dead_letters": queue.dead,
        "actors": actors,
    })))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
    entity: Option<String>,
    record_id: Option<String>,
    action: Option<String>,
}

fn limit(query: &ListQuery) -> Result<i64, ApiError> {
    match query.limit {
        None => Ok(DEFAULT_LIST_LIMIT),
        Some(limit) if (1..=MAX_LIST_LIMIT).contains(&limit) => Ok(limit),
        Some(limit) => Err(ApiError::BadRequest(format!(
            "limit {limit} is out of range; use 1 to {MAX_LIST_LIMIT}"
        ))),
    }
}

/// `GET /admin/dead-letters`: jobs that will not be retried, newest first, with the reason.
pub async fn dead_letters(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    require_token(&request, &state)?;
    let limit = limit(&query)?;

    let jobs = state.store.dead_letters(limit).await.map_err(unavailable)?;

    Ok(HttpResponse::Ok().json(json!({ "dead_letters": jobs })))
}

/// `POST /admin/dead-letters/{id}/requeue`: gives a dead-lettered job a fresh set of attempts.
pub async fn requeue_dead_letter(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_token(&request, &state)?;
    let id: i64 = id.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "dead letter id {:?} is not a number; take the id from GET /admin/dead-letters",
            id.as_str()
        ))
    })?;

    let requeued = state
        .store
        .requeue_dead_job(id)
        .await
        .map_err(unavailable)?;
    if !requeued {
        return Err(ApiError::NotFound);
    }
    tracing::info!(job.id = id, "dead letter requeued by an operator");
    wake_orchestrators(&state);
    Ok(HttpResponse::Ok().json(json!({ "requeued": id })))
}

/// `POST /admin/dead-letters/requeue`: requeues every dead letter, for example after fixing
/// upstream credentials that made many jobs fail.
pub async fn requeue_all_dead_letters(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_token(&request, &state)?;

    let mut requeued = Vec::new();
    loop {
        let jobs = state
            .store
            .dead_letters(MAX_LIST_LIMIT)
            .await
            .map_err(unavailable)?;
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            if state
                .store
                .requeue_dead_job(job.id)
                .await
                .map_err(unavailable)?
            {
                requeued.push(job.id);
            }
        }
    }
    tracing::info!(
        jobs = requeued.len(),
        "every dead letter requeued by an operator"
    );
    wake_orchestrators(&state);
    Ok(HttpResponse::Ok().json(json!({ "requeued": requeued })))
}

fn wake_orchestrators(state: &AppState) {
    for listener in &state.wake_listeners {
        listener.do_send(JobsAvailable);
    }
}

/// `GET /admin/sync-log`: audit rows, newest first, filtered by entity, record or action.
pub async fn sync_log(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    require_token(&request, &state)?;
    if let Some(entity) = &query.entity
        && !ENTITIES.contains(&entity.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "unknown entity {entity:?}; expected one of {}",
            ENTITIES.join(", ")
        )));
    }
    let filter = LogFilter {
        entity: query.entity.clone(),
        record_id: query.record_id.clone(),
        action: query.action.clone(),
        limit: limit(&query)?,
        ..LogFilter::default()
    };

    let entries = state.store.log_entries(filter).await.map_err(unavailable)?;

    Ok(HttpResponse::Ok().json(json!({ "entries": entries })))
}

/// `GET /admin/conflicts`: customer fields changed on both sides, with the base, both values
/// and the side the policy chose, newest first.
pub async fn conflicts(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    require_token(&request, &state)?;
    let limit = limit(&query)?;

    let conflicts = state.store.conflicts(limit).await.map_err(unavailable)?;

    Ok(HttpResponse::Ok().json(json!({ "conflicts": conflicts })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn empty_body_means_every_entity() {
        assert_eq!(parse_scope(b"").unwrap(), "all");
        assert_eq!(parse_scope(b"  \n").unwrap(), "all");
        assert_eq!(parse_scope(b"{}").unwrap(), "all");
    }

    #[test]
    fn entity_body_names_the_scope() {
        assert_eq!(
            parse_scope(br#"{"entity": "customer"}"#).unwrap(),
            "customer"
        );
    }

    #[test]
    fn unknown_entity_is_named() {
        let text = parse_scope(br#"{"entity": "invoice"}"#)
            .unwrap_err()
            .to_string();

        assert!(text.contains("invoice"), "{text}");
    }

    #[test]
    fn malformed_body_is_rejected() {
        assert!(parse_scope(b"{entity: customer}").is_err());
    }
}
