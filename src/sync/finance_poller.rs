//! The FinancePoller actor: detects contacts created or changed in Siagh by diffing each GetAll
//! against the checksums stored by the previous poll, and queues one job per change.
//!
//! One instance per deployment polls: the poller takes the store's `finance_poller` leadership
//! (a PostgreSQL advisory lock, or a lease row on SQLite) and waits while another instance
//! has it. The checksums live in memory between polls (loaded once from `finance_seen`), so a
//! quiet poll costs one GetAll and no database query per contact.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::Mutex;

use super::finance_diff::{FinanceDiff, diff_contacts};
use super::leadership;
use super::messages::{JobsAvailable, ReleaseLeadership};
use super::supervision::{ActorRegistry, catch_panic};
use super::{ENTITY_CUSTOMER, SCOPE_ALL};
use crate::siagh::SiaghClient;
use crate::store::{FinanceSeenUpsert, Leadership, NewJob, Store, StoreError};

pub const ACTOR_NAME: &str = "finance_poller";
/// Name of the leadership only one instance holds.
const LEADERSHIP: &str = "finance_poller";
/// Direction of the jobs this poller queues.
pub const DIRECTION: &str = "siagh_to_crm";

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("Siagh GetAll failed: {0}")]
    Siagh(#[from] crate::siagh::Error),
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
}

/// Outcome of one poll cycle.
#[derive(Debug)]
enum Cycle {
    Paused,
    StandingBy,
    /// The first poll on an empty table records every contact without queuing jobs.
    Baseline {
        contacts: usize,
    },
    Polled {
        changes: usize,
    },
}

/// State kept across cycles; behind a lock because a cycle runs as a future.
#[derive(Default)]
struct PollState {
    leadership: Option<Leadership>,
    /// Code → checksum as of the last poll; `None` until loaded from the store.
    seen: Option<HashMap<String, String>>,
}

pub struct FinancePoller {
    store: Store,
    siagh: SiaghClient,
    interval: Duration,
    holder: String,
    wake: Recipient<JobsAvailable>,
    registry: ActorRegistry,
    state: Arc<Mutex<PollState>>,
    polling: bool,
}

impl FinancePoller {
    pub fn new(
        store: Store,
        siagh: SiaghClient,
        interval: Duration,
        holder: String,
        wake: Recipient<JobsAvailable>,
        registry: ActorRegistry,
    ) -> Self {
        registry.register(ACTOR_NAME);
        Self {
            store,
            siagh,
            interval,
            holder,
            wake,
            registry,
            state: Arc::default(),
            polling: false,
        }
    }

    fn start_cycle(&mut self, ctx: &mut Context<Self>) {
        if self.polling {
            return;
        }
        self.polling = true;
        self.registry.touch(ACTOR_NAME);
        let started = Instant::now();
        let cycle = catch_panic(poll_once(
            self.store.clone(),
            self.siagh.clone(),
            self.state.clone(),
            self.holder.clone(),
            self.interval,
        ));
        ctx.spawn(cycle.into_actor(self).map(move |result, act, ctx| {
            act.polling = false;
            let duration_ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(Ok(cycle)) => act.record_cycle(&cycle, duration_ms),
                Ok(Err(error)) => {
                    tracing::warn!(error = %error, duration_ms, "Siagh poll failed; retrying next cycle");
                    act.registry
                        .update_poll(ACTOR_NAME, |poll| poll.last_error = Some(error.to_string()));
                }
                Err(panic) => {
                    tracing::error!(error = %panic, "finance poller panicked; restarting it");
                    act.registry.record_panic(ACTOR_NAME, &panic);
                    ctx.stop();
                }
            }
        }));
    }

    fn record_cycle(&self, cycle: &Cycle, duration_ms: u64) {
        let leader = !matches!(cycle, Cycle::StandingBy);
        let changes = match cycle {
            Cycle::Polled { changes } => Some(*changes as u64),
            Cycle::Baseline { .. } => Some(0),
            Cycle::Paused | Cycle::StandingBy => None,
        };
        if let Some(changes) = changes {
            self.registry.update_poll(ACTOR_NAME, |poll| {
                poll.last_success_at = Some(chrono::Utc::now());
                poll.last_duration_ms = Some(duration_ms);
                poll.last_changes = Some(changes);
                poll.last_error = None;
            });
        }
        self.registry
            .update_poll(ACTOR_NAME, |poll| poll.leader = leader);
        match cycle {
            Cycle::Polled { changes } if *changes > 0 => {
                tracing::info!(changes, duration_ms, "Siagh poll queued changed contacts");
                self.wake.do_send(JobsAvailable);
            }
            Cycle::Polled { .. } => tracing::debug!(duration_ms, "Siagh poll found no change"),
            Cycle::Baseline { contacts } => tracing::info!(
                contacts,
                duration_ms,
                "first Siagh poll recorded every contact as the baseline; later changes sync"
            ),
            Cycle::Paused => tracing::debug!("Siagh poll skipped while sync is paused"),
            Cycle::StandingBy => {
                tracing::debug!("another instance polls Siagh; standing by")
            }
        }
    }
}

/// Starts a poll cycle now, unless one is running.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct PollNow;

impl Handler<PollNow> for FinancePoller {
    type Result = ();

    fn handle(&mut self, _: PollNow, ctx: &mut Self::Context) {
        self.start_cycle(ctx);
    }
}

impl Handler<ReleaseLeadership> for FinancePoller {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: ReleaseLeadership, _ctx: &mut Self::Context) -> Self::Result {
        let state = self.state.clone();
        Box::pin(async move {
            let slot = state.lock().await.leadership.take();
            leadership::release(slot, LEADERSHIP).await;
        })
    }
}

impl Actor for FinancePoller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(
            interval_secs = self.interval.as_secs_f64(),
            "finance poller started"
        );
        self.start_cycle(ctx);
        ctx.run_interval(self.interval, |act, ctx| act.start_cycle(ctx));
    }
}

impl Supervised for FinancePoller {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.registry.record_restart(ACTOR_NAME);
        self.polling = false;
        // The state is rebuilt from the store: checksums reload and leadership is taken anew.
        self.state = Arc::default();
        tracing::warn!("finance poller restarting");
    }
}

/// Runs one cycle: checks pause and leadership, reads every contact, stores the differences
/// and queues their jobs in one transaction.
async fn poll_once(
    store: Store,
    siagh: SiaghClient,
    state: Arc<Mutex<PollState>>,
    holder: String,
    interval: Duration,
) -> Result<Cycle, PollError> {
    let paused = store.paused_scopes().await?;
    if paused
        .iter()
        .any(|scope| scope == SCOPE_ALL || scope == ENTITY_CUSTOMER)
    {
        return Ok(Cycle::Paused);
    }
    let mut state = state.lock().await;
    let held =
        leadership::hold(&store, &mut state.leadership, LEADERSHIP, &holder, interval).await?;
    if !held.may_poll() {
        return Ok(Cycle::StandingBy);
    }
    if held == leadership::Held::Taken {
        // Another instance may have polled meanwhile: reload the checksums it stored.
        state.seen = None;
    }

    let contacts = siagh.get_all_contacts().await?;
    let baseline = match &state.seen {
        Some(_) => false,
        None => {
            let seen = store.load_finance_checksums().await?;
            let empty = seen.is_empty();
            state.seen = Some(seen);
            empty
        }
    };
    let seen = state.seen.get_or_insert_with(HashMap::new);
    let diff = diff_contacts(seen, &contacts);
    let changes = diff.changed.len();
    let jobs = if baseline {
        Vec::new()
    } else {
        jobs_for(&store, &diff).await?
    };
    let upserts: Vec<FinanceSeenUpsert> = diff
        .changed
        .iter()
        .map(|change| FinanceSeenUpsert {
            code: change.code.clone(),
            checksum: change.checksum.clone(),
            snapshot: change.customer.snapshot(),
        })
        .collect();
    store
        .apply_finance_diff(upserts, diff.removed.clone(), jobs)
        .await?;

    for change in &diff.changed {
        seen.insert(change.code.clone(), change.checksum.clone());
    }
    for code in &diff.removed {
        seen.remove(code);
    }
    if baseline {
        Ok(Cycle::Baseline { contacts: changes })
    } else {
        Ok(Cycle::Polled { changes })
    }
}

/// Builds one job per changed contact. A linked contact's job uses the CRM id as its record
/// key, so it runs one at a time with the CRM-side jobs of the same customer.
async fn jobs_for(store: &Store, diff: &FinanceDiff) -> Result<Vec<NewJob>, StoreError> {
    let mut jobs = Vec::with_capacity(diff.changed.len());
    for change in &diff.changed {
        let link = store
            .link_by_siagh_code(ENTITY_CUSTOMER, &change.code)
            .await?;
        let record_id = link
            .and_then(|link| link.crm_id)
            .unwrap_or_else(|| format!("siagh:{}", change.code));
        jobs.push(NewJob {
            entity: ENTITY_CUSTOMER.to_owned(),
            record_id,
            kind_hint: None,
            event: "Poll".to_owned(),
            source: "poll".to_owned(),
            run_at: None,
            direction: DIRECTION.to_owned(),
            payload: Some(change.payload()),
        });
    }
    Ok(jobs)
}
