//! The WebhookReceiver actor: turns a validated CRM webhook into a durable job row, coalescing
//! repeated deliveries while the record's job is still waiting, then wakes the orchestrator.

use std::time::Duration;

use actix::prelude::*;

use super::messages::JobsAvailable;
use super::supervision::{ActorRegistry, catch_panic};
use crate::dedup::{Dedup, delivery_key};
use crate::store::{Enqueued, NewJob, NewLogEntry, Store, StoreError};

pub const ACTOR_NAME: &str = "webhook_receiver";

/// A CRM webhook event after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    Insert,
    Update,
    Delete,
}

impl WebhookEvent {
    /// Parses the `event` parameter: the names the CRM sends, or the numbers its product
    /// webhooks use (0 delete, 1 update, 2 insert).
    pub fn parse(value: &str) -> Option<WebhookEvent> {
        match value {
            "Insert" | "2" => Some(WebhookEvent::Insert),
            "Update" | "1" => Some(WebhookEvent::Update),
            "Delete" | "0" => Some(WebhookEvent::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Insert => "Insert",
            WebhookEvent::Update => "Update",
            WebhookEvent::Delete => "Delete",
        }
    }
}

/// A webhook delivery to store as a job.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<WebhookAccepted, WebhookFailed>")]
pub struct WebhookReceived {
    pub entity: &'static str,
    pub event: WebhookEvent,
    pub record_id: String,
    pub subtype: String,
}

/// Result of storing a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookAccepted {
    /// A new job was queued.
    Queued { job_id: i64 },
    /// A job for the record was still waiting; the delivery was folded into it.
    Duplicate { job_id: i64 },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WebhookFailed {
    #[error("the job could not be stored: {0}")]
    Store(String),
    #[error("the webhook receiver failed: {0}")]
    Internal(String),
}

impl From<StoreError> for WebhookFailed {
    fn from(error: StoreError) -> Self {
        WebhookFailed::Store(error.to_string())
    }
}

pub struct WebhookReceiver {
    store: Store,
    dedup: Dedup,
    dedup_ttl: Duration,
    /// Wakes the orchestrator of each entity; indexed by entity name.
    wake: Vec<(&'static str, Recipient<JobsAvailable>)>,
    registry: ActorRegistry,
}

impl WebhookReceiver {
    pub fn new(
        store: Store,
        dedup: Dedup,
        dedup_ttl: Duration,
        wake: Vec<(&'static str, Recipient<JobsAvailable>)>,
        registry: ActorRegistry,
    ) -> Self {
        registry.register(ACTOR_NAME);
        Self {
            store,
            dedup,
            dedup_ttl,
            wake,
            registry,
        }
    }
}

impl Actor for WebhookReceiver {
    type Context = Context<Self>;
}

impl Supervised for WebhookReceiver {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.registry.record_restart(ACTOR_NAME);
        tracing::warn!("webhook receiver restarting");
    }
}

impl Handler<WebhookReceived> for WebhookReceiver {
    type Result = ResponseActFuture<Self, Result<WebhookAccepted, WebhookFailed>>;

    fn handle(&mut self, delivery: WebhookReceived, _ctx: &mut Self::Context) -> Self::Result {
        self.registry.touch(ACTOR_NAME);
        let entity = delivery.entity;
        let work = catch_panic(store_delivery(
            self.store.clone(),
            self.dedup.clone(),
            self.dedup_ttl,
            delivery,
        ));
        Box::pin(
            work.into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(Ok(accepted)) => {
                        if let WebhookAccepted::Queued { .. } = accepted {
                            for (name, wake) in &act.wake {
                                if *name == entity {
                                    wake.do_send(JobsAvailable);
                                }
                            }
                        }
                        Ok(accepted)
                    }
                    Ok(Err(error)) => Err(error),
                    Err(panic) => {
                        tracing::error!(error = %panic, "webhook receiver panicked; restarting it");
                        act.registry.record_panic(ACTOR_NAME, &panic);
                        ctx.stop();
                        Err(WebhookFailed::Internal(panic.to_string()))
                    }
                }),
        )
    }
}

/// Stores one delivery. A repeat seen by the dedup store is folded into the record's waiting
/// job when there is one. Otherwise the store's atomic enqueue decides, so a delivery that
/// arrives after the job was claimed always makes a new job.
async fn store_delivery(
    store: Store,
    dedup: Dedup,
    ttl: Duration,
    delivery: WebhookReceived,
) -> Result<WebhookAccepted, WebhookFailed> {
    let key = delivery_key(delivery.entity, &delivery.record_id);
    let first = match dedup.first_delivery(&key, ttl).await {
        Ok(first) => first,
        Err(error) => {
            // The store decides on its own, so a dedup outage costs only an extra query.
            tracing::warn!(error = %error, "webhook dedup unavailable; relying on the job store");
            true
        }
    };
    let log = |action: &str, job_id: i64| NewLogEntry {
        job_id: Some(job_id),
        entity: delivery.entity.to_owned(),
        record_id: delivery.record_id.clone(),
        direction: "crm_to_siagh".to_owned(),
        action: action.to_owned(),
        error: None,
        ..NewLogEntry::default()
    };

    if !first
        && let Some(job_id) = store
            .pending_job_for(delivery.entity, &delivery.record_id)
            .await?
    {
        tracing::info!(
            job.id = job_id,
            "repeated webhook folded into the waiting job"
        );
        store.record(log("duplicate", job_id)).await?;
        return Ok(WebhookAccepted::Duplicate { job_id });
    }

    let job = NewJob {
        entity: delivery.entity.to_owned(),
        record_id: delivery.record_id.clone(),
        kind_hint: Some(delivery.subtype.clone()).filter(|subtype| !subtype.is_empty()),
        event: delivery.event.as_str().to_owned(),
        source: "webhook".to_owned(),
        direction: "crm_to_siagh".into(),
        payload: None,
        run_at: None,
    };
    match store.enqueue_job(job).await? {
        Enqueued::Inserted(job_id) => {
            tracing::info!(
                job.id = job_id,
                event = delivery.event.as_str(),
                "webhook queued a job"
            );
            store.record(log("received", job_id)).await?;
            Ok(WebhookAccepted::Queued { job_id })
        }
        Enqueued::Coalesced(job_id) => {
            tracing::info!(job.id = job_id, crm.id = %delivery.record_id,
                "webhook folded into the waiting job");
            store.record(log("duplicate", job_id)).await?;
            Ok(WebhookAccepted::Duplicate { job_id })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_by_name_and_number() {
        assert_eq!(WebhookEvent::parse("Insert"), Some(WebhookEvent::Insert));
        assert_eq!(WebhookEvent::parse("2"), Some(WebhookEvent::Insert));
        assert_eq!(WebhookEvent::parse("Update"), Some(WebhookEvent::Update));
        assert_eq!(WebhookEvent::parse("1"), Some(WebhookEvent::Update));
        assert_eq!(WebhookEvent::parse("Delete"), Some(WebhookEvent::Delete));
        assert_eq!(WebhookEvent::parse("0"), Some(WebhookEvent::Delete));
        assert_eq!(WebhookEvent::parse("insert"), None);
        assert_eq!(WebhookEvent::parse("Created"), None);
    }
}
