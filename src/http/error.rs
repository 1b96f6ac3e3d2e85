//! `ApiError`: the error a handler returns when it cannot respond normally.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The caller sent something invalid. The message names it and how to fix it.
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("source address is not allowed to call webhooks")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// The store or another dependency is down; the cause is logged where it happened.
    #[error("service unavailable")]
    Unavailable,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unauthorized = self {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(json!({ "error": self.to_string() }))
    }
}
