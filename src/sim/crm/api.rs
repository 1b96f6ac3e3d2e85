//! The CRM's REST endpoints as the simulator serves them: POST with a JSON body, camelCase
//! keys out, camelCase or PascalCase keys in.
//!
//! Error bodies use the shape `{"code": <status>, "message": "<Persian text>",
//! "errorDetails": [{"statusCode", "field", "message"}]}`. That shape is assumed from a
//! public client library; no live CRM error body has been published.

use std::fmt;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::find::FindPlan;
use super::records::{Record, normalize_keys};
use super::state::{EditError, LoginOutcome, SimState, Writer};
use crate::crm::model::CrmIdentitySearchRequest;
use crate::crm::{CrmFindRequest, CrmId, IdentityKind};

const MESSAGE_BAD_REQUEST: &str = "درخواست نامعتبر است";
const MESSAGE_BAD_CREDENTIALS: &str = "نام کاربری یا رمز عبور اشتباه است";
const MESSAGE_LICENSE_MISSING: &str = "ماژول اپلیکیشن موبایل در مجوز این سرور فعال نیست";
const MESSAGE_LOCKED_OUT: &str = "حساب کاربری به دلیل تلاش‌های ناموفق زیاد به‌طور موقت قفل شده است";
const MESSAGE_UNAUTHORIZED: &str = "توکن دسترسی نامعتبر است یا منقضی شده است";
const MESSAGE_NOT_FOUND: &str = "رکورد مورد نظر یافت نشد";
const MESSAGE_SERVER_ERROR: &str = "خطای داخلی سرور";

pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/api/v2/auth/login", web::post().to(login))
        .route("/api/v2/crmobject/person/get", web::post().to(get_person))
        .route(
            "/api/v2/crmobject/organization/get",
            web::post().to(get_organization),
        )
        .route(
            "/api/v2/crmobject/person/create",
            web::post().to(create_person),
        )
        .route(
            "/api/v2/crmobject/organization/create",
            web::post().to(create_organization),
        )
        .route(
            "/api/v2/crmobject/person/update",
            web::post().to(update_person),
        )
        .route(
            "/api/v2/crmobject/organization/update",
            web::post().to(update_organization),
        )
        .route(
            "/api/v2/crmobject/identity/search",
            web::post().to(search_identities),
        )
        .route(
            "/api/v2/crmobject/quote/sales/get",
            web::post().to(get_quote),
        )
        .route("/api/v2/crmobject/person/find", web::post().to(find_people))
        .route(
            "/api/v2/crmobject/quote/sales/find",
            web::post().to(find_quotes),
        )
        .route(
            "/api/v2/crmobject/organization/find",
            web::post().to(find_organizations),
        );
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

type ApiResult = Result<HttpResponse, ApiError>;

async fn login(state: web::Data<SimState>, body: web::Bytes) -> ApiResult {
    sleep(&state).await;
    let body = parse_object(&body)?;
    let login: LoginBody = serde_json::from_value(Value::Object(body))
        .map_err(|error| ApiError::bad_request(error.to_string()))?;

    match state.login(&login.username, &login.password) {
        LoginOutcome::Accepted {
            access_token,
            refresh_token,
            expires_at,
        } => {
            tracing::debug!("CRM simulator accepted a login");
            Ok(HttpResponse::Ok().json(json!({
                "expiresAt": expires_at,
                "accessToken": access_token,
                "refreshToken": refresh_token,
            })))
        }
        LoginOutcome::BadCredentials => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            MESSAGE_BAD_CREDENTIALS,
        )),
        LoginOutcome::LicenseMissing => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            MESSAGE_LICENSE_MISSING,
        )),
        LoginOutcome::LockedOut => Err(ApiError::new(StatusCode::FORBIDDEN, MESSAGE_LOCKED_OUT)),
    }
}

async fn get_person(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    get_identity(&state, &request, &body, IdentityKind::Person).await
}

async fn get_organization(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    get_identity(&state, &request, &body, IdentityKind::Organization).await
}

async fn get_identity(
    state: &SimState,
    request: &HttpRequest,
    body: &[u8],
    kind: IdentityKind,
) -> ApiResult {
    let body = admit(state, request, body).await?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("id is missing"))?;

    // The CRM's response to an unknown id, or to the id of the other identity kind, is
    // undocumented. The simulator responds with 404.
    let record = state
        .get(kind, &CrmId::from(id))
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(record_json(&record)?))
}

async fn get_quote(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    let body = admit(&state, &request, &body).await?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("id is missing"))?;

    // The CRM's response to an unknown quote id is undocumented. The simulator responds
    // with 404.
    let id = CrmId::from(id);
    let quote = state.get_quote(&id).ok_or_else(ApiError::not_found)?;
    // Serialized to text here: a `serde_json::Value` would drop the amounts' scale.
    let json = serde_json::to_string(&quote).map_err(|error| {
        tracing::error!(crm.id = %id, error = %error, "CRM simulator cannot serialize a quote");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, MESSAGE_SERVER_ERROR)
    })?;
    Ok(HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(json))
}

fn record_json(record: &Record) -> Result<Value, ApiError> {
    record.to_json().map_err(|error| {
        tracing::error!(
            crm.id = %record.object().crm_id,
            error = %error,
            "CRM simulator cannot serialize a record"
        );
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, MESSAGE_SERVER_ERROR)
    })
}

async fn create_person(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    create_identity(state, &request, &body, IdentityKind::Person).await
}

async fn create_organization(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    create_identity(state, &request, &body, IdentityKind::Organization).await
}

async fn create_identity(
    state: web::Data<SimState>,
    request: &HttpRequest,
    body: &[u8],
    kind: IdentityKind,
) -> ApiResult {
    let body = admit(&state, request, body).await?;
    let id = state
        .create(kind, body, Writer::Api)
        .map_err(ApiError::bad_request)?;

    tracing::debug!(crm.id = %id, "CRM simulator created an identity through the API");
    let hold = state.take_create_hold();
    state
        .into_inner()
        .notify(&id, kind, "Insert", Writer::Api)
        .await;
    // The record is stored; holding the response back makes the client time out on a
    // create that happened.
    if let Some(hold) = hold {
        tracing::debug!(crm.id = %id, "CRM simulator delays a create response");
        tokio::time::sleep(hold).await;
    }
    Ok(HttpResponse::Ok().json(json!({ "crmId": id })))
}

async fn update_person(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    update_identity(state, &request, &body, IdentityKind::Person).await
}

async fn update_organization(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    update_identity(state, &request, &body, IdentityKind::Organization).await
}

/// Replaces the whole record named by the body's `crmId` (or `id`), so omitted fields are
/// cleared. Whether the CRM's update replaces the record or patches the fields sent is
/// undocumented.
async fn update_identity(
    state: web::Data<SimState>,
    request: &HttpRequest,
    body: &[u8],
    kind: IdentityKind,
) -> ApiResult {
    let body = admit(&state, request, body).await?;
    let id = state
        .replace(kind, body, Writer::Api)
        .map_err(|error| match error {
            EditError::NotFound => ApiError::not_found(),
            EditError::Invalid(reason) => ApiError::bad_request(reason),
        })?;

    tracing::debug!(crm.id = %id, "CRM simulator updated an identity through the API");
    state
        .into_inner()
        .notify(&id, kind, "Update", Writer::Api)
        .await;
    Ok(HttpResponse::Ok().json(json!({ "crmId": id })))
}

async fn search_identities(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    let body = admit(&state, &request, &body).await?;
    let search: CrmIdentitySearchRequest = serde_json::from_value(Value::Object(body))
        .map_err(|error| ApiError::bad_request(error.to_string()))?;

    let page = state.search(search.page_number, search.page_size, &search.search_term);
    Ok(HttpResponse::Ok().json(page))
}

async fn find_people(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    find_identities(&state, &request, &body, IdentityKind::Person).await
}

async fn find_organizations(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    find_identities(&state, &request, &body, IdentityKind::Organization).await
}

/// Serves the find subset described in `find.rs`: `{"total": n, "data": [records]}`.
///
/// With `find_supported` off it responds with 404 before checking the token, as a server
/// without the route would.
async fn find_identities(
    state: &SimState,
    request: &HttpRequest,
    body: &[u8],
    kind: IdentityKind,
) -> ApiResult {
    if !state.find_supported() {
        sleep(state).await;
        return Err(ApiError::not_found());
    }
    let body = admit(state, request, body).await?;
    let find: CrmFindRequest = serde_json::from_value(Value::Object(body))
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let plan = FindPlan::parse(&find).map_err(ApiError::bad_request)?;

    let (total, records) = state.find(kind, &plan);
    let data = records
        .iter()
        .map(record_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(json!({ "total": total, "data": data })))
}

/// Serves `quote/sales/find` with the same subset as the identity finds. Quotes are written
/// as text, like `quote/sales/get`, to keep the amounts' scale.
///
/// With `quote_find_supported` off it responds with 404 before checking the token.
async fn find_quotes(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    if !state.quote_find_supported() {
        sleep(&state).await;
        return Err(ApiError::not_found());
    }
    let body = admit(&state, &request, &body).await?;
    let find: CrmFindRequest = serde_json::from_value(Value::Object(body))
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let plan = FindPlan::parse(&find).map_err(ApiError::bad_request)?;

    let (total, quotes) = state.find_quotes(&plan);
    let page = crate::crm::CrmFindPage {
        total,
        data: quotes,
    };
    let json = serde_json::to_string(&page).map_err(|error| {
        tracing::error!(error = %error, "CRM simulator cannot serialize a quote page");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, MESSAGE_SERVER_ERROR)
    })?;
    Ok(HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(json))
}

/// Applies latency, the token check and error injection to a data call, then parses its
/// body.
async fn admit(
    state: &SimState,
    request: &HttpRequest,
    body: &[u8],
) -> Result<Map<String, Value>, ApiError> {
    sleep(state).await;
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    if !token.is_some_and(|token| state.token_is_valid(token)) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            MESSAGE_UNAUTHORIZED,
        ));
    }
    if state.inject_error() {
        tracing::debug!(
            http.path = request.path(),
            "CRM simulator injected an error"
        );
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            MESSAGE_SERVER_ERROR,
        ));
    }
    parse_object(body)
}

async fn sleep(state: &SimState) {
    let latency = state.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Parses a JSON object body and normalizes its keys to camelCase.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("the body is not valid JSON: {error}")))?;
    match normalize_keys(value) {
        Value::Object(fields) => Ok(fields),
        _ => Err(ApiError::bad_request("the body is not a JSON object")),
    }
}

/// Error response of the REST API, in the assumed CRM error shape.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: &'static str,
    /// Explanation placed in `errorDetails`.
    detail: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: &'static str) -> Self {
        Self {
            status,
            message,
            detail: None,
        }
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: MESSAGE_BAD_REQUEST,
            detail: Some(detail.into()),
        }
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, MESSAGE_NOT_FOUND)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status.as_u16(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.status.as_u16();
        let details: Vec<Value> = self
            .detail
            .iter()
            .map(|detail| json!({ "statusCode": code, "field": null, "message": detail }))
            .collect();
        HttpResponse::build(self.status).json(json!({
            "code": code,
            "message": self.message,
            "errorDetails": details,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_ignores_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
