//! The CrmPoller actor: catches CRM changes whose webhook was lost.
//!
//! Each cycle queries the CRM's find API for persons, organizations and sales quotes whose
//! `ModifyDate` is at or after the stored cursor (minus a small overlap), oldest first. Each
//! feed (persons, organizations, and each quote type code) has its own cursor: the highest
//! modification time actually received, in the CRM's own local time, saved in the same
//! transaction as the jobs it produced, never as the wall-clock time at the end of a cycle.
//! Records whose checksum equals the one stored on their link are skipped, so the overlap and
//! the engine's own writes cost nothing.
//!
//! Find takes a type code. Identities use the stock `person` and `organization` codes. Each
//! installation names its own quote types, so the poller follows the codes configured in
//! `CRM_QUOTE_TYPE_CODES` and `QUOTE_SALE_MODELS`. It also follows every code that names a
//! sale model and was seen on a quote the engine fetched, because the quote step creates that
//! code's cursor.
//!
//! The find API is not confirmed on a live server, and a quote find is not even known to
//! exist. When the CRM rejects the identity find, the poller falls back to its safety net
//! alone: a full identity scan at a much lower frequency that compares every linked record's
//! checksum. When it rejects the quote find for a type code (a missing route, or perhaps an
//! unknown code), quotes of that type arrive by webhook only. Both limits show in
//! `/admin/status`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::NaiveDateTime;
use tokio::sync::Mutex;

use super::customer::CrmRecord;
use super::leadership;
use super::messages::{JobsAvailable, ReleaseLeadership};
use super::quote::quote_checksum;
use super::supervision::{ActorRegistry, catch_panic};
use super::{ENTITY_CUSTOMER, ENTITY_QUOTE, SCOPE_ALL};
use crate::crm::{CrmClient, CrmId, CrmQuote, IdentityKind};
use crate::store::{JOB_DEAD, Leadership, NewJob, Store, StoreError};

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
/// Prefix of a quote feed's cursor name, followed by the quote type code.
const QUOTE_CURSOR_PREFIX: &str = "crm_quote_modify_date:";
/// Prefix of the name of a quote feed's first cursor value, followed by the type code.
const QUOTE_START_PREFIX: &str = "crm_quote_poll_start:";
const LIMIT_IDENTITY_FIND: &str =
    "the CRM rejects person/find and organization/find; only the full identity scan runs";

/// Makes the poller follow the quotes of type `type_code` from `since` on, unless it already
/// does. Quotes of that type never exported and last modified at or before `since` are left
/// alone.
pub(crate) async fn follow_quote_type(
    store: &Store,
    type_code: &str,
    since: NaiveDateTime,
) -> Result<(), StoreError> {
    let feed = Feed::Quotes {
        type_code: type_code.to_owned(),
    };
    let value = cursor_value(since);
    // The start first: a cursor without its start would let the start follow the cursor.
    store.create_poll_cursor(&feed.start_name(), &value).await?;
    if store
        .create_poll_cursor(&feed.cursor_name(), &value)
        .await?
    {
        tracing::info!(
            crm.quote_type = type_code,
            "CRM poller follows a new quote type"
        );
    }
    Ok(())
}

/// Writes a CRM modification time as a cursor value.
fn cursor_value(time: NaiveDateTime) -> String {
    time.format(CURSOR_FORMAT).to_string()
}

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
    /// Set once the CRM rejected the identity find, after which only the full scan runs.
    find_unsupported: bool,
    /// Quote type codes whose find the CRM rejected, with the HTTP status. They are not
    /// polled again until a restart: the route may be missing, or the code unknown.
    rejected_quote_types: BTreeMap<String, u16>,
    last_scan: Option<Instant>,
}

/// How often the CRM poller runs and what it follows.
#[derive(Debug, Clone)]
pub struct CrmPollSettings {
    pub interval: Duration,
    /// Time between two full identity scans.
    pub scan_interval: Duration,
    /// Quote type codes to poll besides the ones seen on fetched quotes.
    pub quote_type_codes: Vec<String>,
}

/// The orchestrators the poller wakes when it queued jobs for them.
pub struct PollerWake {
    pub customers: Recipient<JobsAvailable>,
    pub quotes: Recipient<JobsAvailable>,
}

pub struct CrmPoller {
    store: Store,
    crm: CrmClient,
    settings: Arc<CrmPollSettings>,
    holder: String,
    wake: PollerWake,
    registry: ActorRegistry,
    state: Arc<Mutex<PollState>>,
    polling: bool,
}

impl CrmPoller {
    pub fn new(
        store: Store,
        crm: CrmClient,
        settings: CrmPollSettings,
        holder: String,
        wake: PollerWake,
        registry: ActorRegistry,
    ) -> Self {
        registry.register(ACTOR_NAME);
        Self {
            store,
            crm,
            settings: Arc::new(settings),
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
            settings: self.settings.clone(),
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
        let Outcome::Polled {
            customers,
            quotes,
            limitations,
        } = outcome
        else {
            return;
        };
        self.registry.update_poll(ACTOR_NAME, |poll| {
            poll.last_success_at = Some(chrono::Utc::now());
            poll.last_duration_ms = Some(duration_ms);
            poll.last_changes = Some((customers + quotes) as u64);
            poll.last_error = None;
            poll.limitations = limitations;
        });
        if customers + quotes > 0 {
            tracing::info!(
                customers,
                quotes,
                duration_ms,
                "CRM poll queued changed records"
            );
        }
        if customers > 0 {
            self.wake.customers.do_send(JobsAvailable);
        }
        if quotes > 0 {
            self.wake.quotes.do_send(JobsAvailable);
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
            interval_secs = self.settings.interval.as_secs_f64(),
            scan_interval_secs = self.settings.scan_interval.as_secs_f64(),
            quote_type_codes = ?self.settings.quote_type_codes,
            "CRM poller started"
        );
        self.start_cycle(ctx);
        ctx.run_interval(self.settings.interval, |act, ctx| act.start_cycle(ctx));
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
    /// Jobs queued per entity, and what this CRM does not let the poller do.
    Polled {
        customers: usize,
        quotes: usize,
        limitations: Vec<String>,
    },
}

/// Inputs of one poll cycle.
struct Cycle {
    store: Store,
    crm: CrmClient,
    state: Arc<Mutex<PollState>>,
    holder: String,
    settings: Arc<CrmPollSettings>,
}

async fn poll_once(cycle: Cycle) -> Result<Outcome, PollError> {
    let paused = cycle.store.paused_scopes().await?;
    let is_paused = |entity: &str| {
        paused
            .iter()
            .any(|scope| scope == SCOPE_ALL || scope == entity)
    };
    let (customers_paused, quotes_paused) = (is_paused(ENTITY_CUSTOMER), is_paused(ENTITY_QUOTE));
    if customers_paused && quotes_paused {
        return Ok(Outcome::Paused);
    }
    let mut state = cycle.state.lock().await;
    let held = leadership::hold(
        &cycle.store,
        &mut state.leadership,
        LEADERSHIP,
        &cycle.holder,
        cycle.settings.interval,
    )
    .await?;
    if !held.may_poll() {
        return Ok(Outcome::StandingBy);
    }

    let mut customers = 0;
    if !customers_paused {
        customers = poll_identities(&cycle, &mut state).await?;
    }
    let mut quotes = 0;
    if !quotes_paused {
        quotes = poll_quotes(&cycle, &mut state).await?;
    }
    let mut limitations = Vec::new();
    if state.find_unsupported {
        limitations.push(LIMIT_IDENTITY_FIND.to_owned());
    }
    if !state.rejected_quote_types.is_empty() {
        let rejected: Vec<String> = state
            .rejected_quote_types
            .iter()
            .map(|(code, status)| format!("{code} (HTTP {status})"))
            .collect();
        limitations.push(format!(
            "the CRM rejects quote/sales/find for quote types {}; quotes of these types \
             arrive by webhook only. Check that these quote types exist in the CRM (and their \
             codes in CRM_QUOTE_TYPE_CODES and QUOTE_SALE_MODELS), then restart",
            rejected.join(", ")
        ));
    }
    Ok(Outcome::Polled {
        customers,
        quotes,
        limitations,
    })
}

/// Polls every quote feed that the CRM has not rejected. Returns the number of jobs queued.
async fn poll_quotes(cycle: &Cycle, state: &mut PollState) -> Result<usize, PollError> {
    let mut queued = 0;
    for type_code in quote_type_codes(&cycle.store, &cycle.settings.quote_type_codes).await? {
        if state.rejected_quote_types.contains_key(&type_code) {
            continue;
        }
        let feed = Feed::Quotes {
            type_code: type_code.clone(),
        };
        match poll_feed(&cycle.store, &cycle.crm, &feed).await {
            Ok(count) => queued += count,
            Err(PollError::Crm(crate::crm::Error::FindUnsupported { status, .. })) => {
                tracing::warn!(
                    http.status = status.as_u16(),
                    crm.quote_type = %type_code,
                    "the CRM rejects quote/sales/find for this quote type; its quotes arrive \
                     by webhook only"
                );
                state
                    .rejected_quote_types
                    .insert(type_code, status.as_u16());
            }
            Err(error) => return Err(error),
        }
    }
    Ok(queued)
}

/// Polls persons and organizations by find, and runs the full scan when it is due. Returns
/// the number of jobs queued.
async fn poll_identities(cycle: &Cycle, state: &mut PollState) -> Result<usize, PollError> {
    let mut queued = 0;
    if !state.find_unsupported {
        for kind in [IdentityKind::Person, IdentityKind::Organization] {
            match poll_feed(&cycle.store, &cycle.crm, &Feed::Identities(kind)).await {
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
        .is_none_or(|last| last.elapsed() >= cycle.settings.scan_interval);
    if scan_due {
        queued += full_scan(&cycle.store, &cycle.crm).await?;
        state.last_scan = Some(Instant::now());
    }
    Ok(queued)
}

/// Returns the quote type codes to poll: the configured ones and the ones whose cursor the
/// quote step created, each once.
async fn quote_type_codes(store: &Store, configured: &[String]) -> Result<Vec<String>, StoreError> {
    let mut codes: Vec<String> = configured.to_vec();
    for (name, _) in store.poll_cursors_with_prefix(QUOTE_CURSOR_PREFIX).await? {
        if let Some(code) = name.strip_prefix(QUOTE_CURSOR_PREFIX) {
            codes.push(code.to_owned());
        }
    }
    codes.sort();
    codes.dedup();
    Ok(codes)
}

/// One stream of CRM records that the poller follows by `ModifyDate`, with its own cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Feed {
    Identities(IdentityKind),
    /// Sales quotes of one type code.
    Quotes {
        type_code: String,
    },
}

impl Feed {
    fn cursor_name(&self) -> String {
        match self {
            Feed::Identities(kind) => format!("crm_modify_date:{}", kind.default_type_code()),
            Feed::Quotes { type_code } => format!("{QUOTE_CURSOR_PREFIX}{type_code}"),
        }
    }

    /// Name of the cursor's first value. Records never synced and last modified at or before
    /// it predate the poller, so they are left to the import (identities) or not exported
    /// (quotes).
    fn start_name(&self) -> String {
        match self {
            Feed::Identities(kind) => format!("crm_poll_start:{}", kind.default_type_code()),
            Feed::Quotes { type_code } => format!("{QUOTE_START_PREFIX}{type_code}"),
        }
    }

    async fn find_page(
        &self,
        crm: &CrmClient,
        since: NaiveDateTime,
        page: u32,
    ) -> Result<Vec<Polled>, PollError> {
        Ok(match self {
            Feed::Identities(IdentityKind::Person) => crm
                .find_people_modified_since(
                    IdentityKind::Person.default_type_code(),
                    since,
                    page,
                    FIND_PAGE_SIZE,
                )
                .await?
                .data
                .into_iter()
                .map(|person| Polled::Identity(CrmRecord::Person(Box::new(person))))
                .collect(),
            Feed::Identities(IdentityKind::Organization) => crm
                .find_organizations_modified_since(
                    IdentityKind::Organization.default_type_code(),
                    since,
                    page,
                    FIND_PAGE_SIZE,
                )
                .await?
                .data
                .into_iter()
                .map(|organization| {
                    Polled::Identity(CrmRecord::Organization(Box::new(organization)))
                })
                .collect(),
            Feed::Quotes { type_code } => crm
                .find_quotes_modified_since(type_code, since, page, FIND_PAGE_SIZE)
                .await?
                .data
                .into_iter()
                .map(|quote| Polled::Quote(Box::new(quote)))
                .collect(),
        })
    }
}

/// A record a find returned.
enum Polled {
    Identity(CrmRecord),
    Quote(Box<CrmQuote>),
}

impl Polled {
    fn modify_date(&self) -> NaiveDateTime {
        match self {
            Polled::Identity(record) => modify_date(record),
            Polled::Quote(quote) => quote.object.modify_date,
        }
    }

    async fn job_if_changed(
        &self,
        store: &Store,
        start: NaiveDateTime,
    ) -> Result<Option<NewJob>, StoreError> {
        match self {
            Polled::Identity(record) => job_if_changed(store, record, Some(start)).await,
            Polled::Quote(quote) => quote_job_if_changed(store, quote, start).await,
        }
    }
}

/// Reads one feed's records changed since its cursor and queues the ones that differ from
/// their link. Returns the number of jobs queued.
async fn poll_feed(store: &Store, crm: &CrmClient, feed: &Feed) -> Result<usize, PollError> {
    let name = feed.cursor_name();
    let Some(cursor) = store.poll_cursor(&name).await? else {
        return start_cursor(store, crm, feed).await;
    };
    let Ok(cursor) = NaiveDateTime::parse_from_str(&cursor, CURSOR_FORMAT) else {
        tracing::warn!(cursor = %cursor, "unreadable CRM poll cursor; starting it again");
        return start_cursor(store, crm, feed).await;
    };
    let start = store
        .poll_cursor(&feed.start_name())
        .await?
        .and_then(|value| NaiveDateTime::parse_from_str(&value, CURSOR_FORMAT).ok())
        .unwrap_or(cursor);
    let since = cursor - CURSOR_OVERLAP;
    let mut queued = 0;
    let mut newest = cursor;
    for page in 1..=MAX_PAGES_PER_CYCLE {
        let records = feed.find_page(crm, since, page).await?;
        let full_page = records.len() == FIND_PAGE_SIZE as usize;
        let mut jobs = Vec::new();
        for record in records {
            newest = newest.max(record.modify_date());
            if let Some(job) = record.job_if_changed(store, start).await? {
                jobs.push(job);
            }
        }
        queued += jobs.len();
        store
            .enqueue_jobs_with_cursor(jobs, &name, &cursor_value(newest))
            .await?;
        if !full_page {
            break;
        }
    }
    Ok(queued)
}

/// Sets a feed's first cursor to the newest modification time the CRM holds, queuing
/// nothing: records changed before the poller first ran are not the poller's work. A feed
/// with no records at all starts at the earliest time, so that every record it gets later
/// counts as new.
async fn start_cursor(store: &Store, crm: &CrmClient, feed: &Feed) -> Result<usize, PollError> {
    let epoch = NaiveDateTime::default();
    let mut newest = None;
    let mut page = 1;
    // Ascending order is the only one the poller relies on, so the newest record is found by
    // paging to the end once.
    loop {
        let records = feed.find_page(crm, epoch, page).await?;
        let full_page = records.len() == FIND_PAGE_SIZE as usize;
        newest = records.iter().map(Polled::modify_date).max().max(newest);
        if !full_page {
            break;
        }
        page += 1;
    }
    let newest = newest.unwrap_or(epoch);
    let value = cursor_value(newest);
    store
        .enqueue_jobs_with_cursor(Vec::new(), &feed.start_name(), &value)
        .await?;
    store
        .enqueue_jobs_with_cursor(Vec::new(), &feed.cursor_name(), &value)
        .await?;
    tracing::info!(feed = ?feed, cursor = %newest, "CRM poll cursor started");
    Ok(0)
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

/// Builds a job for a quote that differs from what was exported, or that was never exported
/// and was modified after `start`. A quote whose export is in flight or awaits review gets
/// no job, because a running job or an operator already owns it.
async fn quote_job_if_changed(
    store: &Store,
    quote: &CrmQuote,
    start: NaiveDateTime,
) -> Result<Option<NewJob>, StoreError> {
    let id = &quote.object.crm_id;
    let checksum = quote_checksum(quote);
    match store.link_by_crm_id(ENTITY_QUOTE, &id.0).await? {
        Some(link) if link.state != "linked" => return Ok(None),
        Some(link) if link.crm_checksum.as_deref() == Some(checksum.as_str()) => {
            return Ok(None);
        }
        None if quote.object.modify_date <= start => return Ok(None),
        _ => {}
    }
    if failed_before(store, ENTITY_QUOTE, &id.0, &checksum).await? {
        return Ok(None);
    }
    Ok(Some(NewJob {
        entity: ENTITY_QUOTE.to_owned(),
        record_id: id.0.clone(),
        kind_hint: None,
        event: "Poll".to_owned(),
        source: "poll".to_owned(),
        run_at: None,
        direction: "crm_to_siagh".to_owned(),
        payload: None,
    }))
}

/// Returns whether the record's newest job was dead-lettered on the state with `checksum`.
/// Queuing that state again would fail the same way on every cycle that reads it, so it waits
/// for an edit or for an operator's requeue.
async fn failed_before(
    store: &Store,
    entity: &str,
    record_id: &str,
    checksum: &str,
) -> Result<bool, StoreError> {
    Ok(store
        .latest_crm_job_for(entity, record_id)
        .await?
        .is_some_and(|job| {
            job.status == JOB_DEAD && job.source_checksum.as_deref() == Some(checksum)
        }))
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
    let checksum = customer.checksum();
    let link = store.link_by_crm_id(ENTITY_CUSTOMER, &id.0).await?;
    match link.and_then(|link| link.crm_checksum) {
        Some(linked) if linked == checksum => return Ok(None),
        None if start.is_some_and(|start| modify_date(record) <= start) => return Ok(None),
        _ => {}
    }
    if failed_before(store, ENTITY_CUSTOMER, &id.0, &checksum).await? {
        return Ok(None);
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
