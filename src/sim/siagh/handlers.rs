//! HTTP routes of the simulated Siagh server.
//!
//! Every handler first waits for the configured latency. Data calls then may fail with an
//! injected 500 before anything else happens, and then need a live session in the raw
//! `Authorization` header.

use std::sync::{Mutex, MutexGuard, PoisonError};

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use tracing::debug;

use super::forms;
use super::state::{GetAllFilter, SimContact, SimState};
use super::wire::{LoginBody, MessageBody, SaveFormBody};

/// The state shared by every handler.
pub(super) type SharedState = Mutex<SimState>;

/// Locks the state. A panic while the lock was held leaves the data usable, so a poisoned
/// lock is recovered rather than failing every later request.
pub(super) fn lock(state: &SharedState) -> MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/GeneralApi/LoginUser", web::post().to(login))
        .route("/api/Sgh/GEN/Gn_Web_Users/GetAll", web::get().to(get_all))
        .route(
            "/api/Sgh/GEN/Gn_Web_Users/GetAll",
            web::post().to(get_all_filtered),
        )
        .route("/BpmsApi/SaveFormData", web::post().to(save_form_data))
        .route("/sim/contacts", web::get().to(sim_contacts))
        .route("/sim/preinvoices", web::get().to(sim_preinvoices))
        .route("/sim/counters", web::get().to(sim_counters));
}

/// `GET /sim/contacts`: every stored contact, by code. Not part of Siagh's API.
async fn sim_contacts(state: Data<SharedState>) -> HttpResponse {
    let contacts: Vec<SimContact> = lock(&state).contacts.values().cloned().collect();
    HttpResponse::Ok().json(contacts)
}

/// `GET /sim/preinvoices`: every stored pre-invoice, in creation order, amounts as decimal
/// strings. Not part of Siagh's API.
async fn sim_preinvoices(state: Data<SharedState>) -> HttpResponse {
    let preinvoices = lock(&state).preinvoices.clone();
    HttpResponse::Ok().json(preinvoices)
}

/// `GET /sim/counters`: the request counters. Not part of Siagh's API.
async fn sim_counters(state: Data<SharedState>) -> HttpResponse {
    let counters = lock(&state).counters.clone();
    HttpResponse::Ok().json(counters)
}

async fn login(state: Data<SharedState>, body: Bytes) -> HttpResponse {
    wait_latency(&state).await;

    let Ok(login) = serde_json::from_slice::<LoginBody>(&body) else {
        debug!("simulator rejected a LoginUser body that is not JSON");
        return message(StatusCode::BAD_REQUEST, "The request is invalid.");
    };

    match lock(&state).login(&login) {
        Some(reply) => json(StatusCode::OK, &reply),
        None => {
            debug!("simulator rejected a login with a wrong user name or password digest");
            message(StatusCode::UNAUTHORIZED, "Invalid username or password")
        }
    }
}

async fn get_all(state: Data<SharedState>, request: HttpRequest) -> HttpResponse {
    if let Some(refusal) = admit_data_call(&state, &request).await {
        return refusal;
    }

    let records = lock(&state).get_all(&GetAllFilter::default());
    json(StatusCode::OK, &records)
}

async fn get_all_filtered(
    state: Data<SharedState>,
    request: HttpRequest,
    body: Bytes,
) -> HttpResponse {
    if let Some(refusal) = admit_data_call(&state, &request).await {
        return refusal;
    }

    let filter = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(GetAllFilter::default())
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Object(map)) => GetAllFilter::from_json(&map),
            _ => Err("the body must be a JSON object"),
        }
    };
    let Ok(filter) =
        filter.inspect_err(|problem| debug!(problem, "simulator rejected a GetAll filter"))
    else {
        return message(StatusCode::BAD_REQUEST, "The request is invalid.");
    };

    let records = lock(&state).get_all(&filter);
    json(StatusCode::OK, &records)
}

async fn save_form_data(
    state: Data<SharedState>,
    request: HttpRequest,
    body: Bytes,
) -> HttpResponse {
    if let Some(refusal) = admit_data_call(&state, &request).await {
        return refusal;
    }
    let Ok(body) = serde_json::from_slice::<SaveFormBody>(&body) else {
        debug!("simulator rejected a SaveFormData body that is not JSON");
        return message(StatusCode::BAD_REQUEST, "The request is invalid.");
    };

    let (reply, hold) = {
        let mut state = lock(&state);
        let reply = forms::save_form(&mut state, &body);
        (reply, state.take_hold())
    };

    // The save is already committed; holding the reply makes a client time out on a write
    // that did happen.
    if let Some(hold) = hold {
        actix_rt::time::sleep(hold).await;
    }
    json(StatusCode::OK, &reply)
}

/// Applies latency, error injection and the session check. Returns the reply to send
/// instead of serving the call, if any.
async fn admit_data_call(state: &SharedState, request: &HttpRequest) -> Option<HttpResponse> {
    wait_latency(state).await;

    let mut state = lock(state);
    if state.inject_error() {
        debug!(http.path = request.path(), "simulator injected HTTP 500");
        return Some(message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An error has occurred.",
        ));
    }
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if !state.authorize(authorization) {
        debug!(
            http.path = request.path(),
            "simulator rejected a call without a live session"
        );
        return Some(message(
            StatusCode::UNAUTHORIZED,
            "Authorization has been denied for this request.",
        ));
    }
    None
}

async fn wait_latency(state: &SharedState) {
    let latency = lock(state).latency;
    if !latency.is_zero() {
        actix_rt::time::sleep(latency).await;
    }
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

fn message(status: StatusCode, text: &'static str) -> HttpResponse {
    json(status, &MessageBody { message: text })
}
