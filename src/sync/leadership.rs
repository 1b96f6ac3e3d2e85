//! The one-poller-per-deployment rule, shared by the pollers: take the store's leadership for
//! a poller's name, confirm it every cycle, and give it up when the process stops.

use std::time::Duration;

use crate::store::{Leadership, Store, StoreError};

/// Whether this instance may poll this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Held since an earlier cycle.
    Kept,
    /// Taken this cycle; any state built under an earlier leadership is stale.
    Taken,
    /// Another instance has it.
    Elsewhere,
}

impl Held {
    pub fn may_poll(self) -> bool {
        self != Held::Elsewhere
    }
}

/// Confirms the leadership in `slot`, or tries to take it for `name` when there is none or it
/// was lost. The lease outlives a few missed cycles of `interval`, so a slow poll does not
/// hand it over.
pub async fn hold(
    store: &Store,
    slot: &mut Option<Leadership>,
    name: &str,
    holder: &str,
    interval: Duration,
) -> Result<Held, StoreError> {
    if let Some(leadership) = slot.as_mut() {
        if leadership.renew().await? {
            return Ok(Held::Kept);
        }
        tracing::warn!(leadership = name, "poller lost its leadership");
        *slot = None;
    }
    let ttl = interval.saturating_mul(3).max(Duration::from_secs(30));
    *slot = store.try_lead(name, holder, ttl).await?;
    if slot.is_some() {
        tracing::info!(leadership = name, "poller took the leadership");
        Ok(Held::Taken)
    } else {
        Ok(Held::Elsewhere)
    }
}

/// Gives up the leadership in `slot`, so another instance, or this one restarted, polls at
/// once instead of waiting for the lease to expire.
pub async fn release(slot: Option<Leadership>, name: &str) {
    let Some(leadership) = slot else {
        return;
    };
    match leadership.release().await {
        Ok(()) => tracing::info!(leadership = name, "poller released its leadership"),
        Err(error) => {
            tracing::warn!(leadership = name, error = %error, "poller could not release its leadership")
        }
    }
}
