//! The simulator's edit API: changes as a person in the CRM's UI would make them, which
//! fire webhooks, plus knobs and counters. Served over HTTP under `/sim/…` and called
//! directly by [`super::CrmSim`].
//!
//! HTTP routes (JSON bodies with snake_case keys):
//! - `POST /sim/persons` with a `NewPerson`, `POST /sim/organizations` with a
//!   `NewOrganization`: create, answer 201 `{"crmId": …}`.
//! - `POST /sim/persons/{id}`, `POST /sim/organizations/{id}` with some of the same fields:
//!   change those fields (`""` clears one), answer 200 `{"crmId": …}`.
//! - `GET /sim/identities/{id}`: the record as `person/get` or `organization/get` returns it.
//! - `DELETE /sim/identities/{id}`: delete, answer 204.
//! - `POST /sim/quotes` with a `NewQuote`: create a sales quote, answer 201 `{"crmId": …}`.
//! - `POST /sim/quotes/{id}` with any of `subject`, `description`, `lines` (replaces every
//!   line and recomputes the totals): answer 200 `{"crmId": …}`.
//! - `GET /sim/quotes/{id}`: the quote as `quote/sales/get` returns it.
//! - `POST /sim/identities/{id}/webhook?event=Update`: send the webhook of an identity or
//!   a sales quote again.
//! - `GET /sim/counters`, `GET /sim/webhooks`: counters and the webhook delivery log.
//! - `POST /sim/tokens/expire`: invalidate every access token.
//! - `POST /sim/knobs` with any of `latency_ms`, `error_rate`, `duplicate_deliveries`,
//!   `drop_webhooks`, `webhooks_on_api_writes`, `webhook_delay_ms`, `license_missing`,
//!   `find_supported`, `quote_find_supported`, `identity_webhook_url`, `quote_webhook_url` (`""` removes a URL),
//!   `quote_subtype`: change knobs, answer the current values.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::quotes::{NewQuote, QuotePatch};
use super::records::{self, IdentityPatch, NewOrganization, NewPerson, Record};
use super::state::{EditError, SimState, Writer};
use crate::crm::{CrmId, CrmQuote, IdentityKind};

pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/sim/persons", web::post().to(post_person))
        .route("/sim/persons/{id}", web::post().to(patch_person))
        .route("/sim/organizations", web::post().to(post_organization))
        .route(
            "/sim/organizations/{id}",
            web::post().to(patch_organization),
        )
        .route("/sim/quotes", web::post().to(post_quote))
        .route("/sim/quotes/{id}", web::post().to(patch_quote))
        .route("/sim/quotes/{id}", web::get().to(get_quote))
        .route("/sim/identities/{id}", web::get().to(get_identity))
        .route(
            "/sim/identities/{id}",
            web::delete().to(delete_identity_route),
        )
        .route(
            "/sim/identities/{id}/webhook",
            web::post().to(redeliver_route),
        )
        .route("/sim/counters", web::get().to(get_counters))
        .route("/sim/webhooks", web::get().to(get_webhooks))
        .route("/sim/tokens/expire", web::post().to(expire_tokens))
        .route("/sim/knobs", web::post().to(post_knobs));
}

/// Stores an identity as a CRM user, then sends its Insert webhook.
pub(crate) async fn create_identity(
    state: &Arc<SimState>,
    kind: IdentityKind,
    body: Value,
) -> Result<CrmId, String> {
    let Value::Object(body) = body else {
        return Err("the create body is not a JSON object".to_owned());
    };
    let id = state.create(kind, body, Writer::EditApi)?;
    tracing::debug!(crm.id = %id, "CRM simulator created an identity through the edit API");
    state.notify(&id, kind, "Insert", Writer::EditApi).await;
    Ok(id)
}

/// Changes an identity as a CRM user, then sends its Update webhook.
pub(crate) async fn edit_identity(
    state: &Arc<SimState>,
    kind: IdentityKind,
    id: &CrmId,
    edit: impl FnOnce(&mut Record) -> Result<(), String>,
) -> Result<(), EditError> {
    state.edit(kind, id, edit)?;
    tracing::debug!(crm.id = %id, "CRM simulator edited an identity through the edit API");
    state.notify(id, kind, "Update", Writer::EditApi).await;
    Ok(())
}

/// Deletes an identity as a CRM user, then sends its Delete webhook. Returns `false` when
/// no identity has this id.
pub(crate) async fn delete_identity(state: &Arc<SimState>, id: &CrmId) -> bool {
    let Some(kind) = state.delete(id) else {
        return false;
    };
    tracing::debug!(crm.id = %id, "CRM simulator deleted an identity through the edit API");
    state.notify(id, kind, "Delete", Writer::EditApi).await;
    true
}

/// Stores a sales quote as a CRM user, then sends its Insert webhook.
pub(crate) async fn create_quote(state: &Arc<SimState>, quote: &NewQuote) -> Result<CrmId, String> {
    let id = state.create_quote(quote)?;
    tracing::debug!(crm.id = %id, "CRM simulator created a sales quote through the edit API");
    state.notify_quote(&id, "Insert").await;
    Ok(id)
}

/// Changes a sales quote as a CRM user, then sends its Update webhook.
pub(crate) async fn edit_quote(
    state: &Arc<SimState>,
    id: &CrmId,
    edit: impl FnOnce(&mut CrmQuote) -> Result<(), String>,
) -> Result<(), EditError> {
    state.edit_quote(id, edit)?;
    tracing::debug!(crm.id = %id, "CRM simulator edited a sales quote through the edit API");
    state.notify_quote(id, "Update").await;
    Ok(())
}

/// Sends the webhook for an identity or a sales quote again. Returns `false` when the id
/// was never stored.
pub(crate) async fn redeliver(state: &Arc<SimState>, id: &CrmId, event: &str) -> bool {
    if let Some(kind) = state.kind_of(id) {
        state.notify(id, kind, event, Writer::EditApi).await;
        return true;
    }
    if state.quote(id).is_some() {
        state.notify_quote(id, event).await;
        return true;
    }
    false
}

async fn post_quote(state: web::Data<SimState>, body: web::Json<NewQuote>) -> HttpResponse {
    created(create_quote(&state.into_inner(), &body.into_inner()).await)
}

async fn patch_quote(
    state: web::Data<SimState>,
    id: web::Path<String>,
    patch: web::Json<QuotePatch>,
) -> HttpResponse {
    let id = CrmId(id.into_inner());
    let patch = patch.into_inner();
    let result = edit_quote(&state.into_inner(), &id, |quote| patch.apply(quote)).await;
    match result {
        Ok(()) => HttpResponse::Ok().json(json!({ "crmId": id })),
        Err(EditError::NotFound) => {
            HttpResponse::NotFound().json(json!({ "error": format!("no sales quote has id {id}") }))
        }
        Err(EditError::Invalid(reason)) => {
            HttpResponse::BadRequest().json(json!({ "error": reason }))
        }
    }
}

async fn get_quote(state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    let id = CrmId(id.into_inner());
    let Some(quote) = state.quote(&id) else {
        return HttpResponse::NotFound()
            .json(json!({ "error": format!("no sales quote has id {id}") }));
    };
    // Serialized to text here: a `serde_json::Value` would drop the amounts' scale.
    match serde_json::to_string(&quote) {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json")
            .body(body),
        Err(error) => {
            tracing::error!(crm.id = %id, error = %error, "CRM simulator cannot serialize a quote");
            HttpResponse::InternalServerError().json(json!({ "error": error.to_string() }))
        }
    }
}

async fn post_person(state: web::Data<SimState>, body: web::Json<NewPerson>) -> HttpResponse {
    let body = body.into_inner().to_create_body();
    created(create_identity(&state.into_inner(), IdentityKind::Person, body).await)
}

async fn post_organization(
    state: web::Data<SimState>,
    body: web::Json<NewOrganization>,
) -> HttpResponse {
    let body = body.into_inner().to_create_body();
    created(create_identity(&state.into_inner(), IdentityKind::Organization, body).await)
}

fn created(result: Result<CrmId, String>) -> HttpResponse {
    match result {
        Ok(id) => HttpResponse::Created().json(json!({ "crmId": id })),
        Err(reason) => HttpResponse::BadRequest().json(json!({ "error": reason })),
    }
}

async fn patch_person(
    state: web::Data<SimState>,
    id: web::Path<String>,
    patch: web::Json<IdentityPatch>,
) -> HttpResponse {
    let id = CrmId(id.into_inner());
    let result = edit_identity(
        &state.into_inner(),
        IdentityKind::Person,
        &id,
        |record| match record {
            Record::Person(person) => records::apply_person_patch(person, &patch),
            Record::Organization(_) => Err("not a person".to_owned()),
        },
    )
    .await;
    edited(&id, result)
}

async fn patch_organization(
    state: web::Data<SimState>,
    id: web::Path<String>,
    patch: web::Json<IdentityPatch>,
) -> HttpResponse {
    let id = CrmId(id.into_inner());
    let result = edit_identity(
        &state.into_inner(),
        IdentityKind::Organization,
        &id,
        |record| match record {
            Record::Organization(organization) => {
                records::apply_organization_patch(organization, &patch)
            }
            Record::Person(_) => Err("not an organization".to_owned()),
        },
    )
    .await;
    edited(&id, result)
}

fn edited(id: &CrmId, result: Result<(), EditError>) -> HttpResponse {
    match result {
        Ok(()) => HttpResponse::Ok().json(json!({ "crmId": id })),
        Err(EditError::NotFound) => not_found(id),
        Err(EditError::Invalid(reason)) => {
            HttpResponse::BadRequest().json(json!({ "error": reason }))
        }
    }
}

async fn get_identity(state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    let id = CrmId(id.into_inner());
    match state.record_json(&id) {
        Some(Ok(json)) => HttpResponse::Ok().json(json),
        Some(Err(error)) => {
            HttpResponse::InternalServerError().json(json!({ "error": error.to_string() }))
        }
        None => not_found(&id),
    }
}

async fn delete_identity_route(state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    let id = CrmId(id.into_inner());
    if delete_identity(&state.into_inner(), &id).await {
        HttpResponse::NoContent().finish()
    } else {
        not_found(&id)
    }
}

#[derive(Deserialize)]
struct RedeliverQuery {
    event: String,
}

async fn redeliver_route(
    state: web::Data<SimState>,
    id: web::Path<String>,
    query: web::Query<RedeliverQuery>,
) -> HttpResponse {
    let id = CrmId(id.into_inner());
    if redeliver(&state.into_inner(), &id, &query.event).await {
        HttpResponse::Accepted().finish()
    } else {
        not_found(&id)
    }
}

async fn get_counters(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.counters())
}

async fn get_webhooks(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.webhook_log())
}

async fn expire_tokens(state: web::Data<SimState>) -> HttpResponse {
    state.expire_tokens();
    HttpResponse::NoContent().finish()
}

/// Knob changes accepted by `POST /sim/knobs`, and the knob values it returns.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
struct Knobs {
    latency_ms: Option<u64>,
    /// Fraction of data calls that fail with HTTP 500, from 0 to 1.
    error_rate: Option<f64>,
    duplicate_deliveries: Option<u32>,
    drop_webhooks: Option<bool>,
    webhooks_on_api_writes: Option<bool>,
    webhook_delay_ms: Option<u64>,
    license_missing: Option<bool>,
    find_supported: Option<bool>,
    quote_find_supported: Option<bool>,
    /// `""` removes the URL.
    identity_webhook_url: Option<String>,
    /// `""` removes the URL.
    quote_webhook_url: Option<String>,
    quote_subtype: Option<String>,
}

async fn post_knobs(state: web::Data<SimState>, knobs: web::Json<Knobs>) -> HttpResponse {
    let knobs = knobs.into_inner();
    if let Some(rate) = knobs.error_rate
        && !(0.0..=1.0).contains(&rate)
    {
        return HttpResponse::BadRequest()
            .json(json!({ "error": format!("error_rate {rate} is outside 0..=1") }));
    }
    let webhook_url = match knobs.identity_webhook_url.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(text) => match Url::parse(text) {
            Ok(url) => Some(Some(url)),
            Err(error) => {
                return HttpResponse::BadRequest()
                    .json(json!({ "error": format!("identity_webhook_url {text:?}: {error}") }));
            }
        },
    };
    let quote_webhook_url = match knobs.quote_webhook_url.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(text) => match Url::parse(text) {
            Ok(url) => Some(Some(url)),
            Err(error) => {
                return HttpResponse::BadRequest()
                    .json(json!({ "error": format!("quote_webhook_url {text:?}: {error}") }));
            }
        },
    };

    state.configure(|config| {
        if let Some(latency_ms) = knobs.latency_ms {
            config.latency = Duration::from_millis(latency_ms);
        }
        if let Some(rate) = knobs.error_rate {
            config.error_rate = rate;
        }
        if let Some(copies) = knobs.duplicate_deliveries {
            config.duplicate_deliveries = copies;
        }
        if let Some(drop) = knobs.drop_webhooks {
            config.drop_webhooks = drop;
        }
        if let Some(on_api_writes) = knobs.webhooks_on_api_writes {
            config.webhooks_on_api_writes = on_api_writes;
        }
        if let Some(delay_ms) = knobs.webhook_delay_ms {
            config.webhook_delay = Duration::from_millis(delay_ms);
        }
        if let Some(license_missing) = knobs.license_missing {
            config.license_missing = license_missing;
        }
        if let Some(find_supported) = knobs.find_supported {
            config.find_supported = find_supported;
        }
        if let Some(quote_find_supported) = knobs.quote_find_supported {
            config.quote_find_supported = quote_find_supported;
        }
        if let Some(url) = webhook_url {
            config.identity_webhook_url = url;
        }
        if let Some(url) = quote_webhook_url {
            config.quote_webhook_url = url;
        }
        if let Some(subtype) = knobs.quote_subtype {
            config.quote_subtype = subtype;
        }
    });

    let config = state.config();
    HttpResponse::Ok().json(Knobs {
        latency_ms: Some(config.latency.as_millis() as u64),
        error_rate: Some(config.error_rate),
        duplicate_deliveries: Some(config.duplicate_deliveries),
        drop_webhooks: Some(config.drop_webhooks),
        webhooks_on_api_writes: Some(config.webhooks_on_api_writes),
        webhook_delay_ms: Some(config.webhook_delay.as_millis() as u64),
        license_missing: Some(config.license_missing),
        find_supported: Some(config.find_supported),
        quote_find_supported: Some(config.quote_find_supported),
        identity_webhook_url: Some(
            config
                .identity_webhook_url
                .map(String::from)
                .unwrap_or_default(),
        ),
        quote_webhook_url: Some(
            config
                .quote_webhook_url
                .map(String::from)
                .unwrap_or_default(),
        ),
        quote_subtype: Some(config.quote_subtype),
    })
}

fn not_found(id: &CrmId) -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "error": format!("no identity has id {id}") }))
}
