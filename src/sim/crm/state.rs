//! In-memory state of the CRM simulator: identities, tokens, lock-out, knobs, counters and
//! the webhook log.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::time::Instant;
use url::Url;

use super::find::FindPlan;
use super::quotes::{self, NewQuote};
use super::records::{self, Record, Stamp};
use super::token;
use super::webhook::{self, WebhookBatch, WebhookDelivery};
use super::{API_USER_ID, CrmSimConfig, HUMAN_USER_ID};
use crate::crm::{
    CrmId, CrmIdentitySummary, CrmObjectFields, CrmOrganization, CrmPerson, CrmQuote, IdentityKind,
};

const PERSON_FIXTURE: &str = include_str!("../fixtures/crm/person_get_response.json");
const ORGANIZATION_FIXTURE: &str = include_str!("../fixtures/crm/organization_get_response.json");
const QUOTE_FIXTURE: &str = include_str!("../fixtures/crm/quote_sales_get_response.json");

/// Counts of what the simulator did since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CrmCounters {
    /// Logins that succeeded with HTTP 200.
    pub logins: u64,
    /// Logins rejected with HTTP 401, 402 or 403.
    pub failed_logins: u64,
    /// Creates through the REST API. The edit API's creates are not counted.
    pub person_creates: u64,
    pub organization_creates: u64,
    /// Updates through the REST API. The edit API's edits are not counted.
    pub person_updates: u64,
    pub organization_updates: u64,
    /// `person/get` and `organization/get` calls that passed authentication, found or not.
    pub gets: u64,
    /// `quote/sales/get` calls that passed authentication, found or not.
    pub quote_gets: u64,
    /// `quote/sales/find` calls that passed authentication and validation.
    pub quote_finds: u64,
    /// `identity/search` calls that passed authentication.
    pub searches: u64,
    /// `person/find` and `organization/find` calls that passed authentication and
    /// validation.
    pub finds: u64,
    /// Webhook requests sent, duplicates included.
    pub webhooks_sent: u64,
    /// Webhook requests that got no response or a non-2xx status.
    pub webhooks_failed: u64,
    /// Webhooks not sent because `drop_webhooks` was set.
    pub webhooks_dropped: u64,
}

/// Result of a login request.
pub(crate) enum LoginOutcome {
    Accepted {
        access_token: String,
        refresh_token: String,
        expires_at: String,
    },
    BadCredentials,
    LicenseMissing,
    LockedOut,
}

/// Who wrote a record, which decides the user stamp and whether webhooks fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// The REST API, used by the sync as the API user.
    Api,
    /// The simulator's edit API, standing for a person in the CRM's UI.
    EditApi,
}

impl Writer {
    fn user_id(self) -> &'static str {
        match self {
            Writer::Api => API_USER_ID,
            Writer::EditApi => HUMAN_USER_ID,
        }
    }
}

/// Reason an edit was not applied.
#[derive(Debug)]
pub(crate) enum EditError {
    /// No identity of the expected kind has this id.
    NotFound,
    /// The edit is invalid, for the reason in the message.
    Invalid(String),
}

pub(crate) struct SimState {
    data: Mutex<SimData>,
    webhook_client: reqwest::Client,
}

struct SimData {
    config: CrmSimConfig,
    records: HashMap<CrmId, Record>,
    /// Ids in creation order, the order of search results.
    order: Vec<CrmId>,
    /// Sales quotes in the `quote/sales/get` model.
    quotes: HashMap<CrmId, CrmQuote>,
    /// Kinds of deleted identities, so that a Delete webhook can be sent again.
    deleted: HashMap<CrmId, IdentityKind>,
    /// Valid access tokens and when each expires.
    tokens: HashMap<String, Instant>,
    /// Failed logins since the last successful one or the last lock-out.
    failed_logins: u32,
    locked_until: Option<Instant>,
    counters: CrmCounters,
    webhook_log: Vec<WebhookDelivery>,
    /// Latest `creatDate` or `modifyDate` stamped on any record, seeded ones included.
    last_stamp: NaiveDateTime,
    /// REST API creates whose response is still to be held back.
    held_create_responses: u32,
    /// How long each of those responses is held back.
    create_response_hold: Duration,
}

impl SimState {
    pub fn new(config: CrmSimConfig) -> io::Result<Self> {
        let webhook_client = webhook::client().map_err(io::Error::other)?;
        let seed = config.seed_fixtures;
        let mut data = SimData {
            config,
            records: HashMap::new(),
            order: Vec::new(),
            quotes: HashMap::new(),
            deleted: HashMap::new(),
            tokens: HashMap::new(),
            failed_logins: 0,
            locked_until: None,
            counters: CrmCounters::default(),
            webhook_log: Vec::new(),
            last_stamp: NaiveDateTime::MIN,
            held_create_responses: 0,
            create_response_hold: Duration::ZERO,
        };
        if seed {
            let person: CrmPerson = serde_json::from_str(PERSON_FIXTURE).map_err(|error| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("person fixture: {error}"),
                )
            })?;
            let organization: CrmOrganization = serde_json::from_str(ORGANIZATION_FIXTURE)
                .map_err(|error| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("organization fixture: {error}"),
                    )
                })?;
            let quote: CrmQuote = serde_json::from_str(QUOTE_FIXTURE).map_err(|error| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("quote fixture: {error}"),
                )
            })?;
            data.insert(Record::Person(person));
            data.insert(Record::Organization(organization));
            data.insert_quote(quote);
        }
        Ok(Self {
            data: Mutex::new(data),
            webhook_client,
        })
    }

    fn lock(&self) -> MutexGuard<'_, SimData> {
        // Edits are applied to a copy and swapped in, so data left by a panic under the lock
        // is still usable.
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes knobs under the lock.
    pub fn configure(&self, change: impl FnOnce(&mut CrmSimConfig)) {
        change(&mut self.lock().config);
    }

    pub fn config(&self) -> CrmSimConfig {
        self.lock().config.clone()
    }

    pub fn counters(&self) -> CrmCounters {
        self.lock().counters.clone()
    }

    pub fn webhook_log(&self) -> Vec<WebhookDelivery> {
        self.lock().webhook_log.clone()
    }

    pub fn latency(&self) -> Duration {
        self.lock().config.latency
    }

    pub fn find_supported(&self) -> bool {
        self.lock().config.find_supported
    }

    pub fn quote_find_supported(&self) -> bool {
        self.lock().config.quote_find_supported
    }

    /// Holds back the responses of the next `count` REST API creates for `hold` each.
    pub fn hold_create_responses(&self, count: u32, hold: Duration) {
        let mut data = self.lock();
        data.held_create_responses = count;
        data.create_response_hold = hold;
    }

    /// Returns how long to hold back the response of the current create, if at all, and
    /// counts it against the held responses.
    pub fn take_create_hold(&self) -> Option<Duration> {
        let mut data = self.lock();
        if data.held_create_responses == 0 {
            return None;
        }
        data.held_create_responses -= 1;
        Some(data.create_response_hold)
    }

    /// Decides at random, with probability `error_rate`, whether a data call fails with 500.
    pub fn inject_error(&self) -> bool {
        let rate = self.lock().config.error_rate;
        rate > 0.0 && rand::random::<f64>() < rate
    }

    pub fn login(&self, username: &str, password: &str) -> LoginOutcome {
        let mut data = self.lock();
        let now = Instant::now();
        if data.config.license_missing {
            data.counters.failed_logins += 1;
            return LoginOutcome::LicenseMissing;
        }
        match data.locked_until {
            Some(until) if now < until => {
                data.counters.failed_logins += 1;
                return LoginOutcome::LockedOut;
            }
            Some(_) => {
                data.locked_until = None;
                data.failed_logins = 0;
            }
            None => {}
        }
        if username != data.config.username || password != data.config.password {
            data.counters.failed_logins += 1;
            data.failed_logins += 1;
            let max = data.config.max_failed_logins;
            if max > 0 && data.failed_logins >= max {
                data.locked_until = Some(instant_after(now, data.config.lockout));
                tracing::info!(
                    sim.failed_logins = data.failed_logins,
                    "CRM simulator locked the API user out"
                );
            }
            return LoginOutcome::BadCredentials;
        }

        data.failed_logins = 0;
        data.counters.logins += 1;
        data.tokens.retain(|_, expires| now < *expires);
        let lifetime = data.config.token_lifetime;
        let lifetime_delta = TimeDelta::from_std(lifetime).unwrap_or(TimeDelta::MAX);
        let issued_at = Utc::now();
        let expires_at = issued_at
            .checked_add_signed(lifetime_delta)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let access_token = token::issue_token(username, API_USER_ID, issued_at, expires_at);
        data.tokens
            .insert(access_token.clone(), instant_after(now, lifetime));
        let expires_local = expires_at.with_timezone(&records::iran_offset());
        LoginOutcome::Accepted {
            access_token,
            refresh_token: token::issue_refresh_token(),
            expires_at: token::format_expires_at(expires_local),
        }
    }

    pub fn token_is_valid(&self, token: &str) -> bool {
        let data = self.lock();
        data.tokens
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    }

    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Returns the identity with this id if it is of `kind`, as the `get` call returns it.
    pub fn get(&self, kind: IdentityKind, id: &CrmId) -> Option<Record> {
        let mut data = self.lock();
        data.counters.gets += 1;
        data.records
            .get(id)
            .filter(|record| record.kind() == kind)
            .cloned()
    }

    pub fn person(&self, id: &CrmId) -> Option<CrmPerson> {
        match self.lock().records.get(id) {
            Some(Record::Person(person)) => Some(person.clone()),
            _ => None,
        }
    }

    pub fn organization(&self, id: &CrmId) -> Option<CrmOrganization> {
        match self.lock().records.get(id) {
            Some(Record::Organization(organization)) => Some(organization.clone()),
            _ => None,
        }
    }

    pub fn record_json(&self, id: &CrmId) -> Option<serde_json::Result<Value>> {
        self.lock().records.get(id).map(Record::to_json)
    }

    /// Returns the sales quote with this id, as `quote/sales/get` returns it, and counts the
    /// call.
    pub fn get_quote(&self, id: &CrmId) -> Option<CrmQuote> {
        let mut data = self.lock();
        data.counters.quote_gets += 1;
        data.quotes.get(id).cloned()
    }

    pub fn quote(&self, id: &CrmId) -> Option<CrmQuote> {
        self.lock().quotes.get(id).cloned()
    }

    /// Stores a new sales quote written by the human user, with its totals computed.
    pub fn create_quote(&self, new: &NewQuote) -> Result<CrmId, String> {
        let mut data = self.lock();
        if !data.records.contains_key(&new.identity_id) {
            return Err(format!(
                "identity_id {} names no person or organization",
                new.identity_id.0
            ));
        }
        let id = CrmId(uuid::Uuid::new_v4().to_string());
        let stamp = data.next_stamp();
        let vat_percent = data.config.quote_vat_percent;
        let quote = quotes::build_quote(new, id.clone(), stamp, HUMAN_USER_ID, vat_percent)?;
        data.quotes.insert(id.clone(), quote);
        Ok(id)
    }

    /// Applies `edit` to the sales quote with this id, then stamps it as changed by the
    /// human user. The quote's id cannot change.
    pub fn edit_quote(
        &self,
        id: &CrmId,
        edit: impl FnOnce(&mut CrmQuote) -> Result<(), String>,
    ) -> Result<(), EditError> {
        let mut data = self.lock();
        let mut edited = data.quotes.get(id).ok_or(EditError::NotFound)?.clone();
        edit(&mut edited).map_err(EditError::Invalid)?;

        let modified = data.next_stamp();
        edited.object.crm_id = id.clone();
        edited.object.modify_date = modified;
        edited.object.modifier_id = Some(HUMAN_USER_ID.to_owned());
        data.quotes.insert(id.clone(), edited);
        Ok(())
    }

    /// Returns one zero-based page of identities in creation order whose nick name or
    /// customer number contains `term`, ignoring case and Arabic/Persian letter variants.
    ///
    /// The CRM does not document what `searchTerm` matches. This rule is the simulator's own.
    pub fn search(&self, page_number: u32, page_size: u32, term: &str) -> Vec<CrmIdentitySummary> {
        let mut data = self.lock();
        data.counters.searches += 1;
        let term = normalize_for_search(term);
        let skip = (page_number as usize).saturating_mul(page_size as usize);
        data.order
            .iter()
            .filter_map(|id| data.records.get(id))
            .filter(|record| term.is_empty() || matches_term(record, &term))
            .skip(skip)
            .take(page_size as usize)
            .map(|record| CrmIdentitySummary {
                identity_id: record.object().crm_id.clone(),
                nick_name: record.identity().nick_name.clone(),
                customer_no: record.identity().customer_number.clone(),
            })
            .collect()
    }

    /// Returns the identities of `kind` that `plan` selects: their count and the requested
    /// page, as `get` returns them.
    pub fn find(&self, kind: IdentityKind, plan: &FindPlan) -> (u64, Vec<Record>) {
        let mut data = self.lock();
        data.counters.finds += 1;
        let matching: Vec<&Record> = data
            .order
            .iter()
            .filter_map(|id| data.records.get(id))
            .filter(|record| record.kind() == kind && plan.matches(record.object()))
            .collect();
        let (total, page) = plan.page(matching, Record::object);
        (total, page.into_iter().cloned().collect())
    }

    /// Returns the sales quotes that `plan` selects: their count and the requested page, as
    /// `quote/sales/get` returns them. Without an order, quotes come in creation order.
    pub fn find_quotes(&self, plan: &FindPlan) -> (u64, Vec<CrmQuote>) {
        let mut data = self.lock();
        data.counters.quote_finds += 1;
        let mut matching: Vec<&CrmQuote> = data
            .quotes
            .values()
            .filter(|quote| plan.matches(&quote.object))
            .collect();
        matching.sort_by(|a, b| {
            (a.object.creat_date, &a.object.crm_id.0)
                .cmp(&(b.object.creat_date, &b.object.crm_id.0))
        });
        let (total, page) = plan.page(matching, |quote| &quote.object);
        (total, page.into_iter().cloned().collect())
    }

    /// Stores a new identity built from a create body and returns its id.
    pub fn create(
        &self,
        kind: IdentityKind,
        body: Map<String, Value>,
        writer: Writer,
    ) -> Result<CrmId, String> {
        let mut data = self.lock();
        let now = data.next_stamp();
        let stamp = Stamp {
            crm_id: CrmId(uuid::Uuid::new_v4().to_string()),
            created: now,
            modified: now,
            creator_id: writer.user_id().to_owned(),
            modifier_id: writer.user_id().to_owned(),
            type_name: data.config.subtype(kind).to_owned(),
        };
        let record = records::build_record(kind, body, stamp)?;
        let id = record.object().crm_id.clone();
        if writer == Writer::Api {
            match kind {
                IdentityKind::Person => data.counters.person_creates += 1,
                IdentityKind::Organization => data.counters.organization_creates += 1,
            }
        }
        data.insert(record);
        Ok(id)
    }

    /// Replaces the identity named by the body's `crmId` (or `id`) with the body, keeping
    /// its id, creation time and creator.
    pub fn replace(
        &self,
        kind: IdentityKind,
        body: Map<String, Value>,
        writer: Writer,
    ) -> Result<CrmId, EditError> {
        let id = ["crmId", "id"]
            .iter()
            .find_map(|key| {
                body.get(*key)
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
            })
            .map(CrmId::from)
            .ok_or_else(|| {
                EditError::Invalid("the body names no record: crmId is missing".into())
            })?;

        let mut data = self.lock();
        let existing = data
            .records
            .get(&id)
            .filter(|record| record.kind() == kind)
            .ok_or(EditError::NotFound)?;
        let created = existing.object().creat_date;
        let creator_id = existing
            .object()
            .creator_id
            .clone()
            .unwrap_or_else(|| writer.user_id().to_owned());
        let stamp = Stamp {
            crm_id: id.clone(),
            created,
            modified: data.next_stamp(),
            creator_id,
            modifier_id: writer.user_id().to_owned(),
            type_name: data.config.subtype(kind).to_owned(),
        };
        let record = records::build_record(kind, body, stamp).map_err(EditError::Invalid)?;
        if writer == Writer::Api {
            match kind {
                IdentityKind::Person => data.counters.person_updates += 1,
                IdentityKind::Organization => data.counters.organization_updates += 1,
            }
        }
        data.records.insert(id.clone(), record);
        Ok(id)
    }

    /// Applies `edit` to the identity of `kind` with this id, then stamps it as changed by
    /// the human user. The record's id cannot change.
    pub fn edit(
        &self,
        kind: IdentityKind,
        id: &CrmId,
        edit: impl FnOnce(&mut Record) -> Result<(), String>,
    ) -> Result<(), EditError> {
        let mut data = self.lock();
        let mut edited = data
            .records
            .get(id)
            .filter(|record| record.kind() == kind)
            .ok_or(EditError::NotFound)?
            .clone();
        edit(&mut edited).map_err(EditError::Invalid)?;

        let modified = data.next_stamp();
        let object = object_fields_mut(&mut edited);
        object.crm_id = id.clone();
        object.modify_date = modified;
        object.modifier_id = Some(HUMAN_USER_ID.to_owned());
        data.records.insert(id.clone(), edited);
        Ok(())
    }

    /// Removes an identity and returns its kind.
    pub fn delete(&self, id: &CrmId) -> Option<IdentityKind> {
        let mut data = self.lock();
        let record = data.records.remove(id)?;
        data.order.retain(|ordered| ordered != id);
        data.deleted.insert(id.clone(), record.kind());
        Some(record.kind())
    }

    /// Returns the kind of an existing or deleted identity.
    pub fn kind_of(&self, id: &CrmId) -> Option<IdentityKind> {
        let data = self.lock();
        data.records
            .get(id)
            .map(Record::kind)
            .or_else(|| data.deleted.get(id).copied())
    }

    /// Sends the webhook for a change, if one is configured.
    ///
    /// Writes through the edit API wait for the deliveries unless a webhook delay is set.
    /// Writes through the REST API send webhooks only when `webhooks_on_api_writes` is set,
    /// and never wait.
    pub async fn notify(
        self: &Arc<Self>,
        id: &CrmId,
        kind: IdentityKind,
        event: &str,
        writer: Writer,
    ) {
        self.send_webhook(id, WebhookSource::Identity(kind), event, writer)
            .await;
    }

    /// Sends the webhook for a change to a sales quote, if a quote webhook URL is set, and
    /// waits for the deliveries unless a webhook delay is set.
    pub async fn notify_quote(self: &Arc<Self>, id: &CrmId, event: &str) {
        self.send_webhook(id, WebhookSource::Quote, event, Writer::EditApi)
            .await;
    }

    async fn send_webhook(
        self: &Arc<Self>,
        id: &CrmId,
        source: WebhookSource,
        event: &str,
        writer: Writer,
    ) {
        let Some(batch) = self.plan_webhook(id, source, event, writer) else {
            return;
        };
        if writer == Writer::Api || !batch.delay.is_zero() {
            let state = Arc::clone(self);
            tokio::spawn(async move { state.deliver(batch).await });
        } else {
            self.deliver(batch).await;
        }
    }

    fn plan_webhook(
        &self,
        id: &CrmId,
        source: WebhookSource,
        event: &str,
        writer: Writer,
    ) -> Option<WebhookBatch> {
        let mut data = self.lock();
        let config = &data.config;
        if writer == Writer::Api && !config.webhooks_on_api_writes {
            return None;
        }
        let (configured, record_type, subtype) = match source {
            WebhookSource::Identity(kind) => (
                config.identity_webhook_url.as_ref(),
                "Identity",
                config.subtype(kind),
            ),
            WebhookSource::Quote => (
                config.quote_webhook_url.as_ref(),
                "Quote",
                config.quote_subtype.as_str(),
            ),
        };
        let configured: Url = configured?.clone();
        let query = webhook::webhook_query(event, id, record_type, subtype);
        let batch = WebhookBatch {
            url: webhook::webhook_url(&configured, &query),
            event: event.to_owned(),
            crm_id: id.clone(),
            copies: config.duplicate_deliveries.saturating_add(1),
            delay: config.webhook_delay,
        };
        if config.drop_webhooks {
            data.counters.webhooks_dropped += 1;
            tracing::debug!(crm.id = %id, webhook.event = event, "CRM simulator dropped a webhook");
            return None;
        }
        Some(batch)
    }

    async fn deliver(&self, batch: WebhookBatch) {
        if !batch.delay.is_zero() {
            tokio::time::sleep(batch.delay).await;
        }
        for copy in 0..batch.copies {
            let delivery = webhook::send(&self.webhook_client, &batch).await;
            if delivery.succeeded() {
                tracing::debug!(
                    crm.id = %batch.crm_id,
                    webhook.event = %batch.event,
                    webhook.copy = copy,
                    "CRM simulator delivered a webhook"
                );
            } else {
                tracing::warn!(
                    crm.id = %batch.crm_id,
                    webhook.event = %batch.event,
                    http.status = delivery.status,
                    error = delivery.error.as_deref(),
                    "CRM simulator webhook delivery failed"
                );
            }
            let mut data = self.lock();
            data.counters.webhooks_sent += 1;
            if !delivery.succeeded() {
                data.counters.webhooks_failed += 1;
            }
            data.webhook_log.push(delivery);
        }
    }
}

/// Kind of record a webhook is about, which picks its URL, `type` and `subtype`.
#[derive(Debug, Clone, Copy)]
enum WebhookSource {
    Identity(IdentityKind),
    Quote,
}

impl SimData {
    fn insert_quote(&mut self, quote: CrmQuote) {
        self.last_stamp = self.last_stamp.max(quote.object.modify_date);
        self.quotes.insert(quote.id().clone(), quote);
    }

    fn insert(&mut self, record: Record) {
        let id = record.object().crm_id.clone();
        self.last_stamp = self.last_stamp.max(record.object().modify_date);
        if self.records.insert(id.clone(), record).is_none() {
            self.order.push(id);
        }
    }

    /// Returns the time to stamp on a write and remembers it.
    fn next_stamp(&mut self) -> NaiveDateTime {
        let stamp = next_modify_date(self.last_stamp, records::iran_now());
        self.last_stamp = stamp;
        stamp
    }
}

impl CrmSimConfig {
    fn subtype(&self, kind: IdentityKind) -> &str {
        match kind {
            IdentityKind::Person => &self.person_subtype,
            IdentityKind::Organization => &self.organization_subtype,
        }
    }
}

fn object_fields_mut(record: &mut Record) -> &mut CrmObjectFields {
    match record {
        Record::Person(person) => &mut person.object,
        Record::Organization(organization) => &mut organization.object,
    }
}

/// Returns `start + duration`, or a time decades ahead when that cannot be represented.
fn instant_after(start: Instant, duration: Duration) -> Instant {
    const FAR_AHEAD: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    start
        .checked_add(duration)
        .unwrap_or_else(|| start + FAR_AHEAD)
}

/// Returns `now`, or 1 ms after `previous` when `now` is not later.
///
/// Every write is stamped through this with the latest stamp of any record as `previous`,
/// so `modifyDate` strictly increases across all records, even for writes within one
/// millisecond. A `ModifyDate` cursor then never skips a record.
fn next_modify_date(previous: NaiveDateTime, now: NaiveDateTime) -> NaiveDateTime {
    let after_previous = previous
        .checked_add_signed(TimeDelta::milliseconds(1))
        .unwrap_or(previous);
    now.max(after_previous)
}

fn matches_term(record: &Record, term: &str) -> bool {
    let identity = record.identity();
    [&identity.nick_name, &identity.customer_number]
        .into_iter()
        .flatten()
        .any(|text| normalize_for_search(text).contains(term))
}

/// Lower-cases text and maps Arabic yeh and kaf to their Persian forms.
fn normalize_for_search(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ي' | 'ى' => 'ی',
            'ك' => 'ک',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn state(seed_fixtures: bool) -> SimState {
        SimState::new(CrmSimConfig {
            seed_fixtures,
            ..CrmSimConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn fixtures_are_seeded_in_order() {
        let state = state(true);

        let page = state.search(0, 10, "");

        assert_eq!(page.len(), 2);
        assert_eq!(
            page[0].identity_id.as_str(),
            "9295bc51-ce7c-4c3c-be1d-addf602c8081"
        );
        assert_eq!(
            page[1].identity_id.as_str(),
            "4bb1e60b-eb1b-46de-a8d3-e49ddb316e19"
        );
    }

    #[test]
    fn search_matches_arabic_letter_variants() {
        let state = state(true);

        let by_name = state.search(0, 10, "نمونه");
        let by_customer_number = state.search(0, 10, "100-1006");
        // The stored name "شرکت …" has Persian kaf, and the term has Arabic kaf.
        let with_arabic_kaf = state.search(0, 10, "شرك");

        assert_eq!(by_name.len(), 2);
        assert_eq!(by_customer_number.len(), 1);
        assert_eq!(with_arabic_kaf.len(), 1);
        assert_eq!(state.search(0, 10, "no such name").len(), 0);
    }

    #[test]
    fn lockout_after_max_failures() {
        let state = SimState::new(CrmSimConfig {
            max_failed_logins: 2,
            ..CrmSimConfig::default()
        })
        .unwrap();

        let first = state.login("api-user", "wrong");
        let second = state.login("api-user", "wrong");
        let third = state.login("api-user", "not-a-real-password");

        assert!(matches!(first, LoginOutcome::BadCredentials));
        assert!(matches!(second, LoginOutcome::BadCredentials));
        assert!(matches!(third, LoginOutcome::LockedOut));
        assert_eq!(state.counters().failed_logins, 3);
    }

    #[test]
    fn edit_bumps_modify_date_and_keeps_id() {
        let state = state(true);
        let id = CrmId::from("9295bc51-ce7c-4c3c-be1d-addf602c8081");
        let before = state.person(&id).unwrap();

        state
            .edit(IdentityKind::Person, &id, |record| {
                if let Record::Person(person) = record {
                    person.object.crm_id = CrmId::from("other");
                    person.first_name = Some("Changed".into());
                }
                Ok(())
            })
            .unwrap();

        let after = state.person(&id).unwrap();
        assert_eq!(after.first_name.as_deref(), Some("Changed"));
        assert!(after.object.modify_date > before.object.modify_date);
        assert_eq!(after.object.modifier_id.as_deref(), Some(HUMAN_USER_ID));
        assert!(state.person(&CrmId::from("other")).is_none());
    }

    #[test]
    fn modify_date_moves_past_previous_stamp() {
        let previous = records::iran_now();
        let millisecond = TimeDelta::milliseconds(1);

        let same_millisecond = next_modify_date(previous, previous);
        let clock_behind = next_modify_date(previous, previous - TimeDelta::seconds(2));
        let clock_ahead = next_modify_date(previous, previous + millisecond * 5);

        assert_eq!(same_millisecond, previous + millisecond);
        assert_eq!(clock_behind, previous + millisecond);
        assert_eq!(clock_ahead, previous + millisecond * 5);
    }

    #[test]
    fn creates_in_one_millisecond_get_distinct_stamps() {
        let state = state(true);
        let body = || match json!({"nickName": "x"}) {
            Value::Object(fields) => fields,
            _ => unreachable!(),
        };

        let first = state
            .create(IdentityKind::Person, body(), Writer::Api)
            .unwrap();
        let second = state
            .create(IdentityKind::Person, body(), Writer::EditApi)
            .unwrap();

        let first = state.person(&first).unwrap().object;
        let second = state.person(&second).unwrap().object;
        assert!(second.modify_date > first.modify_date);
        assert_eq!(first.creat_date, first.modify_date);
        // Seeded fixtures count as earlier stamps too.
        let seeded = state
            .person(&CrmId::from("9295bc51-ce7c-4c3c-be1d-addf602c8081"))
            .unwrap();
        assert!(first.modify_date > seeded.object.modify_date);
    }

    #[test]
    fn create_holds_are_counted_down() {
        let state = state(false);

        state.hold_create_responses(2, Duration::from_millis(5));

        assert_eq!(state.take_create_hold(), Some(Duration::from_millis(5)));
        assert_eq!(state.take_create_hold(), Some(Duration::from_millis(5)));
        assert_eq!(state.take_create_hold(), None);
    }

    #[test]
    fn edit_of_other_kind_is_not_found() {
        let state = state(true);
        let organization_id = CrmId::from("4bb1e60b-eb1b-46de-a8d3-e49ddb316e19");

        let result = state.edit(IdentityKind::Person, &organization_id, |_| Ok(()));

        assert!(matches!(result, Err(EditError::NotFound)));
    }
}
