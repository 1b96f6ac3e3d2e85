//! CRM webhook routes: `GET /webhook/crm/{secret}/identity` and `…/quote`.
//!
//! Payamgostar calls them with a query string only (`event`, `id`, `type`, `subtype`) and no
//! header, body or signature, so the secret path segment and the optional source-address
//! allow-list are the only authentication.

use actix_web::{HttpRequest, HttpResponse, web};
use percent_encoding::percent_decode;
use secrecy::ExposeSecret;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::sync::webhook_receiver::{WebhookAccepted, WebhookEvent, WebhookReceived};
use crate::sync::{ENTITY_CUSTOMER, ENTITY_QUOTE};

/// The four parameters of a CRM webhook call, decoded and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookQuery {
    pub event: WebhookEvent,
    pub id: String,
    pub record_type: String,
    pub subtype: String,
}

/// Maximum record id length accepted; CRM ids are GUIDs (36 characters).
const MAX_ID_LEN: usize = 128;

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte,
/// and the bytes must be UTF-8.
fn decode_component(raw: &str, name: &str) -> Result<String, ApiError> {
    let spaced = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
    String::from_utf8(bytes).map_err(|_| {
        ApiError::BadRequest(format!(
            "query parameter {name:?} is not valid percent-encoded UTF-8"
        ))
    })
}

/// Parses a webhook query string strictly: every parameter decoded once, `id` and `event`
/// required, `event` one of Insert, Update, Delete (or 2, 1, 0).
pub fn parse_webhook_query(raw: &str) -> Result<WebhookQuery, ApiError> {
    let mut event = None;
    let mut id = None;
    let mut record_type = None;
    let mut subtype = None;
    for pair in raw.split('&').filter(|pair| !pair.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_component(raw_name, raw_name)?;
        let value = decode_component(raw_value, &name)?;
        let slot = match name.as_str() {
            "event" => &mut event,
            "id" => &mut id,
            "type" => &mut record_type,
            "subtype" => &mut subtype,
            // Unknown parameters are ignored: the CRM may add some in a later version.
            _ => continue,
        };
        if slot.is_some() {
            return Err(ApiError::BadRequest(format!(
                "query parameter {name:?} is given more than once"
            )));
        }
        *slot = Some(value);
    }

    let raw_event = event
        .filter(|value| !value.is_empty())
        .ok_or_else(|| ApiError::BadRequest("query parameter \"event\" is missing".into()))?;
    let event = WebhookEvent::parse(&raw_event).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "query parameter \"event\" has unknown value {raw_event:?}; expected Insert, \
             Update or Delete"
        ))
    })?;
    let id = id
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| ApiError::BadRequest("query parameter \"id\" is missing".into()))?;
    let valid_id = id.len() <= MAX_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_id {
        return Err(ApiError::BadRequest(format!(
            "query parameter \"id\" has invalid value {id:?}; expected a CRM record id such as \
             9295bc51-ce7c-4c3c-be1d-addf602c8081"
        )));
    }
    Ok(WebhookQuery {
        event,
        id,
        record_type: record_type.unwrap_or_default(),
        subtype: subtype.unwrap_or_default(),
    })
}

/// Checks the secret path segment (in constant time) and the source address.
fn authorize(request: &HttpRequest, state: &AppState, secret: &str) -> Result<(), ApiError> {
    let expected = state.webhook_secret.expose_secret().as_bytes();
    if !bool::from(secret.as_bytes().ct_eq(expected)) {
        // The same response as an unknown route, so the secret cannot be probed.
        return Err(ApiError::NotFound);
    }
    if state.webhook_allowed_ips.is_empty() {
        return Ok(());
    }
    let peer = request.peer_addr().map(|addr| addr.ip());
    match peer {
        Some(ip) if state.webhook_allowed_ips.contains(&ip) => Ok(()),
        _ => {
            tracing::warn!(peer = ?peer, "webhook from an address outside the allow-list rejected");
            Err(ApiError::Forbidden)
        }
    }
}

async fn receive(
    request: HttpRequest,
    state: web::Data<AppState>,
    secret: web::Path<String>,
    entity: &'static str,
    expected_type: &str,
) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state, &secret)?;
    let query = parse_webhook_query(request.query_string())?;
    if !query.record_type.is_empty() && !query.record_type.eq_ignore_ascii_case(expected_type) {
        let advice = match query.record_type.to_ascii_lowercase().as_str() {
            route @ ("identity" | "quote") => {
                format!("register /webhook/crm/<secret>/{route} for that type")
            }
            _ => "only Identity and Quote webhooks are synced (routes /webhook/crm/<secret>/\
                  identity and /webhook/crm/<secret>/quote)"
                .to_owned(),
        };
        return Err(ApiError::BadRequest(format!(
            "query parameter \"type\" is {:?} but this URL receives {expected_type} webhooks; \
             {advice}",
            query.record_type
        )));
    }

    let delivery = WebhookReceived {
        entity,
        event: query.event,
        record_id: query.id.clone(),
        subtype: query.subtype,
    };
    let accepted = match state.webhook_receiver.send(delivery).await {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(error)) => {
            tracing::error!(crm.id = %query.id, error = %error, "webhook not stored; responded 503");
            return Err(ApiError::Unavailable);
        }
        Err(error) => {
            tracing::error!(crm.id = %query.id, error = %error,
                "webhook receiver unreachable; answered 503");
            return Err(ApiError::Unavailable);
        }
    };
    let body = match accepted {
        WebhookAccepted::Queued { job_id } => json!({ "status": "queued", "job_id": job_id }),
        WebhookAccepted::Duplicate { job_id } => {
            json!({ "status": "duplicate", "job_id": job_id })
        }
    };
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(name = "webhook", skip_all, fields(entity = ENTITY_CUSTOMER))]
pub async fn identity(
    request: HttpRequest,
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    receive(request, state, secret, ENTITY_CUSTOMER, "Identity").await
}

#[tracing::instrument(name = "webhook", skip_all, fields(entity = ENTITY_QUOTE))]
pub async fn quote(
    request: HttpRequest,
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    receive(request, state, secret, ENTITY_QUOTE, "Quote").await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn message(result: Result<WebhookQuery, ApiError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn captured_query_decodes_persian_subtype_once() {
        let raw = "event=Insert&id=9295bc51-ce7c-4c3c-be1d-addf602c8081&type=Identity&subtype=%D9%85%D8%AE%D8%A7%D8%B7%D8%A8+%D8%AD%D9%82%DB%8C%D9%82%DB%8C+siagh";

        let query = parse_webhook_query(raw).unwrap();

        assert_eq!(query.event, WebhookEvent::Insert);
        assert_eq!(query.id, "9295bc51-ce7c-4c3c-be1d-addf602c8081");
        assert_eq!(query.record_type, "Identity");
        assert_eq!(query.subtype, "مخاطب حقیقی siagh");
    }

    #[test]
    fn percent_encoded_percent_is_decoded_once() {
        let query = parse_webhook_query("event=Update&id=a1&subtype=100%2525").unwrap();

        assert_eq!(query.subtype, "100%25");
    }

    #[test]
    fn missing_id_is_named() {
        assert!(message(parse_webhook_query("event=Insert&type=Identity")).contains("\"id\""));
        assert!(message(parse_webhook_query("event=Insert&id=")).contains("\"id\""));
    }

    #[test]
    fn unknown_event_is_named_with_its_value() {
        let text = message(parse_webhook_query("event=Created&id=a1"));

        assert!(text.contains("\"event\""), "{text}");
        assert!(text.contains("Created"), "{text}");
    }

    #[test]
    fn missing_event_is_named() {
        assert!(message(parse_webhook_query("id=a1")).contains("\"event\""));
    }

    #[test]
    fn invalid_utf8_is_named() {
        let text = message(parse_webhook_query("event=Insert&id=a1&subtype=%D9%FF"));

        assert!(text.contains("\"subtype\""), "{text}");
        assert!(text.contains("UTF-8"), "{text}");
    }

    #[test]
    fn repeated_parameter_is_rejected() {
        assert!(message(parse_webhook_query("event=Insert&id=a1&id=a2")).contains("\"id\""));
    }

    #[test]
    fn id_with_unexpected_characters_is_rejected() {
        let text = message(parse_webhook_query("event=Insert&id=a1%27%3B--"));

        assert!(text.contains("\"id\""), "{text}");
    }
}
