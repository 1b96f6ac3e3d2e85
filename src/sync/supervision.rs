//! Panic containment and health bookkeeping shared by every actor.
//!
//! actix 0.13's `Supervisor` restarts an actor that stops, not one that panics: a panic in a
//! handler or in a future running in the actor's context closes the mailbox for good. So every
//! piece of actor work runs through [`catch_panic`], and the actor turns a caught panic into
//! `ctx.stop()`, after which the supervisor restarts it. The restart count and last
//! activity of each actor live here, outside the actors, so they survive restarts and
//! `/admin/status` can read them.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::Serialize;

/// A panic caught in actor work, with its message when the payload was a string.
#[derive(Debug, Clone, thiserror::Error)]
#[error("panicked: {message}")]
pub struct Panicked {
    pub message: String,
}

/// Runs `work`, turning a panic inside it into `Err(Panicked)`.
pub async fn catch_panic<F: Future>(work: F) -> Result<F::Output, Panicked> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            Panicked { message }
        })
}

/// Health of one actor as `/admin/status` reports it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActorHealth {
    pub restarts: u64,
    pub last_activity: Option<DateTime<Utc>>,
    pub last_panic: Option<String>,
    /// Filled by pollers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollHealth>,
}

/// State of a poller: whether this instance is the one polling, and its last cycle.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollHealth {
    /// Only one instance per deployment polls; the others stand by.
    pub leader: bool,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_duration_ms: Option<u64>,
    /// Records found new or changed by the last successful cycle.
    pub last_changes: Option<u64>,
    pub last_error: Option<String>,
    /// Limits the upstream system puts on this poller, in words for an operator.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limitations: Vec<String>,
}

/// Restart counts and last activity of every actor, by name.
#[derive(Debug, Clone, Default)]
pub struct ActorRegistry {
    actors: Arc<Mutex<BTreeMap<&'static str, ActorHealth>>>,
}

impl ActorRegistry {
    fn update(&self, name: &'static str, change: impl FnOnce(&mut ActorHealth)) {
        let mut actors = self
            .actors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(actors.entry(name).or_default());
    }

    /// Registers an actor so it shows in the status before its first activity.
    pub fn register(&self, name: &'static str) {
        self.update(name, |_| {});
    }

    pub fn touch(&self, name: &'static str) {
        self.update(name, |health| health.last_activity = Some(Utc::now()));
    }

    pub fn record_panic(&self, name: &'static str, panic: &Panicked) {
        self.update(name, |health| {
            health.last_panic = Some(panic.message.clone())
        });
    }

    pub fn update_poll(&self, name: &'static str, change: impl FnOnce(&mut PollHealth)) {
        self.update(name, |health| {
            change(health.poll.get_or_insert_with(PollHealth::default))
        });
    }

    pub fn record_restart(&self, name: &'static str) {
        self.update(name, |health| health.restarts += 1);
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, ActorHealth> {
        self.actors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// Failures a test can inject into a running server. Empty in production.
#[derive(Debug, Clone, Default)]
pub struct FaultInjection {
    /// CRM record id whose next sync panics inside the orchestrator, once.
    pub panic_once_on_record: Arc<Mutex<Option<String>>>,
}

impl FaultInjection {
    /// Arms a one-time panic for the next sync of `record_id`.
    pub fn panic_once_on(&self, record_id: &str) {
        *self
            .panic_once_on_record
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(record_id.to_owned());
    }

    /// Panics if a one-time panic is armed for `record_id`, disarming it first.
    pub fn maybe_panic(&self, record_id: &str) {
        let armed = {
            let mut slot = self
                .panic_once_on_record
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if slot.as_deref() == Some(record_id) {
                slot.take().is_some()
            } else {
                false
            }
        };
        if armed {
            panic!("injected fault while syncing record {record_id}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn catch_panic_returns_the_message() {
        let result = catch_panic(async { panic!("boom {}", 7) }).await;

        assert_eq!(result.err().map(|p| p.message), Some("boom 7".to_owned()));
    }

    #[tokio::test]
    async fn catch_panic_passes_values_through() {
        assert_eq!(catch_panic(async { 3 }).await.ok(), Some(3));
    }

    #[test]
    fn injected_panic_fires_once() {
        let faults = FaultInjection::default();
        faults.panic_once_on("a");

        let first = std::panic::catch_unwind(|| faults.maybe_panic("a"));
        let second = std::panic::catch_unwind(|| faults.maybe_panic("a"));

        assert!(first.is_err());
        assert!(second.is_ok());
    }
}
