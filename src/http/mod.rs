//! The HTTP surface: CRM webhooks, health and readiness probes, and the admin API.

mod admin;
mod error;
mod health;
mod webhooks;

use std::net::IpAddr;

use actix::{Addr, Recipient};
use actix_web::web;
use secrecy::SecretString;

use crate::dedup::Dedup;
use crate::store::Store;
use crate::sync::ActorRegistry;
use crate::sync::messages::{JobsAvailable, PauseChanged};
use crate::sync::webhook_receiver::WebhookReceiver;

pub use error::ApiError;
pub use webhooks::{WebhookQuery, parse_webhook_query};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub dedup: Dedup,
    pub registry: ActorRegistry,
    pub webhook_receiver: Addr<WebhookReceiver>,
    /// Told about pause and resume, so paused work drains at once on resume.
    pub pause_listeners: Vec<Recipient<PauseChanged>>,
    /// Woken when an operator requeues jobs.
    pub wake_listeners: Vec<Recipient<JobsAvailable>>,
    pub webhook_secret: SecretString,
    pub webhook_allowed_ips: Vec<IpAddr>,
    pub admin_token: SecretString,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// Registers every route.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/health", web::get().to(health::health))
        .route("/ready", web::get().to(health::ready))
        .route(
            "/webhook/crm/{secret}/identity",
            web::get().to(webhooks::identity),
        )
        .route(
            "/webhook/crm/{secret}/quote",
            web::get().to(webhooks::quote),
        )
        .service(
            web::scope("/admin")
                .route("/pause", web::post().to(admin::pause))
                .route("/resume", web::post().to(admin::resume))
                .route("/status", web::get().to(admin::status))
                .route("/dead-letters", web::get().to(admin::dead_letters))
                .route(
                    "/dead-letters/requeue",
                    web::post().to(admin::requeue_all_dead_letters),
                )
                .route(
                    "/dead-letters/{id}/requeue",
                    web::post().to(admin::requeue_dead_letter),
                )
                .route("/sync-log", web::get().to(admin::sync_log))
                .route("/conflicts", web::get().to(admin::conflicts)),
        );
}
