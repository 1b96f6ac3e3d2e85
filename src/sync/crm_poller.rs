//! The CrmPoller actor: catches CRM changes whose webhook was lost.
//!
//! Each cycle queries the CRM's find API for persons and organizations whose `ModifyDate` is at or
//! after the stored cursor (minus a small overlap), oldest first. The cursor is the highest
//! modification time actually received, in the CRM's own local time, and is saved in the same
//! transaction as the jobs it produced, never as the wall-clock time at the end of a cycle.
//! Records whose checksum equals the one stored on their link are skipped, so the overlap and
//! the engine's own writes cost nothing.
//!
//! The find API is not confirmed on a live server. When the CRM rejects it, the poller falls
//! back to its safety net alone: a full identity scan at a much lower frequency that compares
//! every linked record's checksum.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::NaiveDateTime;
use tokio::sync::Mutex;

use super::customer::CrmRecord;
use super::leadership;
use super::messages::{JobsAvailable, ReleaseLeadership};
use super::supervision::{ActorRegistry, catch_panic};
use super::{ENTITY_CUSTOMER, SCOPE_ALL};
use crate::crm::{CrmClient, CrmId, IdentityKind};
use crate::store::{Leadership, NewJob, Store, StoreError};

pub const ACTOR_NAME: &str = "crm_poller";
const LEADERSHIP: &str = "crm_poller";
/// Records read per find request.
const FIND_PAGE_SIZE: u32 = 100;
/// Pages read per kind in one cycle; the rest waits for the next cycle, whose cursor starts
/// where this one stopped.
const MAX_PAGES_PER_CYCLE: u32 = 50;
/// How far before the cursor each find starts again. Records saved in the same instant as
/// the cursor record, or committed late, are read twice rather than missed; the checksum
/// comparison drops the repeats.
const CURSOR_OVERLAP: chrono::Duration = chrono::Duration::seconds(5);
/// Identities read per page of the full scan.
const SCAN_PAGE_SIZE: u32 = 200;
/// Format of the cursor value: the CRM's own naive local time with milliseconds.
const CURSOR_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f";

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("CRM request failed: {0}")]
    Crm(#[from] crate::crm::Error),
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
}

#[derive(Default)]
struct PollState {
    leadership: Option<Leadership>,
    /// Set once the CRM rejected the find API; only the full scan runs after that.
    find_unsupported: bool,
    last_scan: Option<Instant>,
}

pub struct CrmPoller {
    store: Store,
    crm: CrmClient,
    interval: Duration,
    scan_interval: Duration,
    holder: String,
    wake: Recipient<JobsAvailable>,
    registry: ActorRegistry,
    state: Arc<Mutex<PollState>>,
    polling: bool,
}

impl CrmPoller {
    pub fn new(
        store: Store,
        crm: CrmClient,
        interval: Duration,
        scan_interval: Duration,
        holder: String,
        wake: Recipient<JobsAvailable>,
        registry: ActorRegistry,
    ) -> Self {
        registry.register(ACTOR_NAME);
        Self {
            store,
            crm,
            interval,
            scan_interval,
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
        let cycle = catch_panic(poll_once(Cycle {
            store: self.store.clone(),
            crm: self.crm.clone(),
            state: self.state.clone(),
            holder: self.holder.clone(),
            interval: self.interval,
            scan_interval: self.scan_interval,
        }));
        ctx.spawn(cycle.into_actor(self).map(move |result, act, ctx| {
            act.polling = false;
            let duration_ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(Ok(outcome)) => act.record(outcome, duration_ms),
                Ok(Err(error)) => {
                    tracing::warn!(error = %error, duration_ms, "CRM poll failed; retrying next cycle");
                    act.registry
                        .update_poll(ACTOR_NAME, |poll| poll.last_error = Some(error.to_string()));
                }
                Err(panic) => {
                    tracing::error!(error = %panic, "CRM poller panicked; restarting it");
                    act.registry.record_panic(ACTOR_NAME, &panic);
                    ctx.stop();
                }
            }
        }));
    }

    fn record(&self, outcome: Outcome, duration_ms: u64) {
        self.registry.update_poll(ACTOR_NAME, |poll| {
            poll.leader = outcome != Outcome::StandingBy
        });
        let Outcome::Polled { queued } = outcome else {
            return;
        };
        self.registry.update_poll(ACTOR_NAME, |poll| {
            poll.last_success_at = Some(chrono::Utc::now());
            poll.last_duration_ms = Some(duration_ms);
            poll.last_changes = Some(queued as u64);
            poll.last_error = None;
        });
        if queued > 0 {
            tracing::info!(queued, duration_ms, "CRM poll queued changed records");
            self.wake.do_send(JobsAvailable);
        }
    }
}

impl Handler<ReleaseLeadership> for CrmPoller {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: ReleaseLeadership, _ctx: &mut Self::Context) -> Self::Result {
        let state = self.state.clone();
        Box::pin(async move {
            let slot = state.lock().await.leadership.take();
            leadership::release(slot, LEADERSHIP).await;
        })
    }
}

impl Actor for CrmPoller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(
            interval_secs = self.interval.as_secs_f64(),
            scan_interval_secs = self.scan_interval.as_secs_f64(),
            "CRM poller started"
        );
        self.start_cycle(ctx);
        ctx.run_interval(self.interval, |act, ctx| act.start_cycle(ctx));
    }
}

impl Supervised for CrmPoller {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.registry.record_restart(ACTOR_NAME);
        self.polling = false;
        self.state = Arc::default();
        tracing::warn!("CRM poller restarting");
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Paused,
    StandingBy,
    Polled { queued: usize },
}

/// Inputs of one poll cycle.
struct Cycle {
    store: Store,
    crm: CrmClient,
    state: Arc<Mutex<PollState>>,
    holder: String,
    interval: Duration,
    scan_interval: Duration,
}

async fn poll_once(cycle: Cycle) -> Result<Outcome, PollError> {
    let paused = cycle.store.paused_scopes().await?;
    if paused
        .iter()
        .any(|scope| scope == SCOPE_ALL || scope == ENTITY_CUSTOMER)
    {
        return Ok(Outcome::Paused);
    }
    let mut state = cycle.state.lock().await;
    let held = leadership::hold(
        &cycle.store,
        &mut state.leadership,
        LEADERSHIP,
        &cycle.holder,
        cycle.interval,
    )
    .await?;
    if !held.may_poll() {
        return Ok(Outcome::StandingBy);
    }

    let mut queued = 0;
    if !state.find_unsupported {
        for kind in [IdentityKind::Person, IdentityKind::Organization] {
            match poll_kind(&cycle.store, &cycle.crm, kind).await {
                Ok(count) => queued += count,
                Err(PollError::Crm(crate::crm::Error::FindUnsupported { status, .. })) => {
                    tracing::warn!(
                        http.status = status.as_u16(),
                        "the CRM rejects the find API; falling back to full identity scans"
                    );
                    state.find_unsupported = true;
                    break;
                }
                Err(error) => return Err(error),
            }
        }
    }
    let scan_due = state
        .last_scan
        .is_none_or(|last| last.elapsed() >= cycle.scan_interval);
    if scan_due {
        queued += full_scan(&cycle.store, &cycle.crm).await?;
        state.last_scan = Some(Instant::now());
    }
    Ok(Outcome::Polled { queued })
}

fn cursor_name(kind: IdentityKind) -> String {
    format!("crm_modify_date:{}", kind.default_type_code())
}

/// Name of the cursor's first value: records never synced and last modified at or before it
/// predate the poller and are left to the import.
fn start_name(kind: IdentityKind) -> String {
    format!("crm_poll_start:{}", kind.default_type_code())
}

/// Reads one kind's records changed since its cursor and queues the ones that differ from
/// their link. Returns the number of jobs queued.
async fn poll_kind(store: &Store, crm: &CrmClient, kind: IdentityKind) -> Result<usize, PollError> {
    let name = cursor_name(kind);
    let Some(cursor) = store.poll_cursor(&name).await? else {
        return start_cursor(store, crm, kind, &name).await;
    };
    let Ok(cursor) = NaiveDateTime::parse_from_str(&cursor, CURSOR_FORMAT) else {
        tracing::warn!(cursor = %cursor, "unreadable CRM poll cursor; starting it again");
        return start_cursor(store, crm, kind, &name).await;
    };
    let start = store
        .poll_cursor(&start_name(kind))
        .await?
        .and_then(|value| NaiveDateTime::parse_from_str(&value, CURSOR_FORMAT).ok())
        .unwrap_or(cursor);
    let since = cursor - CURSOR_OVERLAP;
    let mut queued = 0;
    let mut newest = cursor;
    for page in 1..=MAX_PAGES_PER_CYCLE {
        let records = find_page(crm, kind, since, page).await?;
        let full_page = records.len() == FIND_PAGE_SIZE as usize;
        let mut jobs = Vec::new();
        for record in records {
            newest = newest.max(modify_date(&record));
            if let Some(job) = job_if_changed(store, &record, Some(start)).await? {
                jobs.push(job);
            }
        }
        queued += jobs.len();
        store
            .enqueue_jobs_with_cursor(jobs, &name, &newest.format(CURSOR_FORMAT).to_string())
            .await?;
        if !full_page {
            break;
        }
    }
    Ok(queued)
}

/// Sets a kind's first cursor to the newest modification time the CRM holds, queuing nothing:
/// records changed before the poller first ran are the import's work, not the poller's.
async fn start_cursor(
    store: &Store,
    crm: &CrmClient,
    kind: IdentityKind,
    name: &str,
) -> Result<usize, PollError> {
    let epoch = NaiveDateTime::default();
    let mut newest = None;
    let mut page = 1;
    // Ascending order is the only one the poller relies on, so the newest record is found by
    // paging to the end once.
    loop {
        let records = find_page(crm, kind, epoch, page).await?;
        let full_page = records.len() == FIND_PAGE_SIZE as usize;
        newest = records.iter().map(modify_date).max().max(newest);
        if !full_page {
            break;
        }
        page += 1;
    }
    if let Some(newest) = newest {
        let value = newest.format(CURSOR_FORMAT).to_string();
        store
            .enqueue_jobs_with_cursor(Vec::new(), &start_name(kind), &value)
            .await?;
        store
            .enqueue_jobs_with_cursor(Vec::new(), name, &value)
            .await?;
        tracing::info!(kind = kind.default_type_code(), cursor = %newest, "CRM poll cursor started");
    }
    Ok(0)
}

async fn find_page(
    crm: &CrmClient,
    kind: IdentityKind,
    since: NaiveDateTime,
    page: u32,
) -> Result<Vec<CrmRecord>, PollError> {
    let type_code = kind.default_type_code();
    Ok(match kind {
        IdentityKind::Person => crm
            .find_people_modified_since(type_code, since, page, FIND_PAGE_SIZE)
            .await?
            .data
            .into_iter()
            .map(|person| CrmRecord::Person(Box::new(person)))
            .collect(),
        IdentityKind::Organization => crm
            .find_organizations_modified_since(type_code, since, page, FIND_PAGE_SIZE)
            .await?
            .data
            .into_iter()
            .map(|organization| CrmRecord::Organization(Box::new(organization)))
            .collect(),
    })
}

fn modify_date(record: &CrmRecord) -> NaiveDateTime {
    match record {
        CrmRecord::Person(person) => person.object.modify_date,
        CrmRecord::Organization(organization) => organization.object.modify_date,
    }
}

fn record_id(record: &CrmRecord) -> &CrmId {
    match record {
        CrmRecord::Person(person) => &person.object.crm_id,
        CrmRecord::Organization(organization) => &organization.object.crm_id,
    }
}

/// Builds a job for a record that differs from its link, or that has no link yet and was
/// modified after `start` (the poller's first cursor).
async fn job_if_changed(
    store: &Store,
    record: &CrmRecord,
    start: Option<NaiveDateTime>,
) -> Result<Option<NewJob>, StoreError> {
    let id = record_id(record);
    let customer = record.customer();
    let link = store.link_by_crm_id(ENTITY_CUSTOMER, &id.0).await?;
    match link.and_then(|link| link.crm_checksum) {
        Some(checksum) if checksum == customer.checksum() => return Ok(None),
        None if start.is_some_and(|start| modify_date(record) <= start) => return Ok(None),
        _ => {}
    }
    store
        .remember_crm_kind(&id.0, customer.kind.as_str())
        .await?;
    Ok(Some(NewJob {
        entity: ENTITY_CUSTOMER.to_owned(),
        record_id: id.0.clone(),
        kind_hint: None,
        event: "Poll".to_owned(),
        source: "poll".to_owned(),
        run_at: None,
        direction: "crm_to_siagh".to_owned(),
        payload: None,
    }))
}

/// Runs the safety net: reads every identity the CRM lists and queues the linked ones whose
/// checksum differs from their link. Costs one get per linked identity.
async fn full_scan(store: &Store, crm: &CrmClient) -> Result<usize, PollError> {
    let started = Instant::now();
    let identities = crm.search_all_identities(SCAN_PAGE_SIZE).await?;
    let mut jobs = Vec::new();
    for identity in &identities {
        let Some(link) = store
            .link_by_crm_id(ENTITY_CUSTOMER, &identity.identity_id.0)
            .await?
        else {
            continue;
        };
        let record = match link.crm_kind.as_deref() {
            Some("organization") => crm
                .get_organization(&identity.identity_id)
                .await?
                .map(|organization| CrmRecord::Organization(Box::new(organization))),
            _ => crm
                .get_person(&identity.identity_id)
                .await?
                .map(|person| CrmRecord::Person(Box::new(person))),
        };
        if let Some(record) = record
            && let Some(job) = job_if_changed(store, &record, None).await?
        {
            jobs.push(job);
        }
    }
    let queued = jobs.len();
    store
        .enqueue_jobs_with_cursor(jobs, "crm_full_scan", &chrono::Utc::now().to_rfc3339())
        .await?;
    tracing::info!(
        identities = identities.len(),
        queued,
        duration_ms = started.elapsed().as_millis() as u64,
        "CRM full identity scan finished"
    );
    Ok(queued)
}
