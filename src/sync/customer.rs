//! One sync step for a customer changed on either side: read it fresh, compare it with what
//! was last synced, and create or update the other side. Changes from the CRM start here;
//! changes found by the Siagh poller continue in `siagh_to_crm`, and linked customers are
//! merged in `reconcile`.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::canonical::{Customer, CustomerKind};
use super::supervision::FaultInjection;
use super::{ENTITY_CUSTOMER, crm_customer, normalize, siagh_contact};
use crate::config::SyncSettings;
use chrono::{DateTime, FixedOffset, Utc};

use super::reconcile::{CrmSide, SiaghSide};
use super::siagh_contact::{siagh_checksum, siagh_view};
use crate::crm::{CrmClient, CrmId, CrmOrganization, CrmPerson};
use crate::siagh::{SiaghClient, SiaghCode};
use crate::store::{FinanceSeenUpsert, FinishedSync, Job, Link, NewLogEntry, Store, StoreError};

/// Result of one run of a job.
#[derive(Debug)]
pub enum JobOutcome {
    /// Done, skipped or dead-lettered: nothing more to do for this job.
    Finished,
    /// Failed with a retryable error; the retry scheduler decides when to run it again.
    Retry { error: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("CRM request failed: {0}")]
    Crm(#[from] crate::crm::Error),
    #[error("Siagh request failed: {0}")]
    Siagh(#[from] crate::siagh::Error),
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
    #[error("CRM record {crm_id} was found neither as a person nor as an organization")]
    NotFound { crm_id: String },
    #[error("needs review: {reason}")]
    NeedsReview { reason: String },
    /// Another step owns what this one needs, so a later attempt will find it settled.
    #[error("waiting: {reason}")]
    Busy { reason: String },
}

impl SyncError {
    pub(super) fn is_retryable(&self) -> bool {
        match self {
            // Rejected credentials or a locked account are an operator's to fix; retrying with
            // backoff gives them time before the job becomes a dead letter.
            SyncError::Siagh(crate::siagh::Error::LoginRejected { .. })
            | SyncError::Crm(
                crate::crm::Error::LoginRejected { .. }
                | crate::crm::Error::LockedOut { .. }
                | crate::crm::Error::LicenseMissing,
            ) => true,
            SyncError::Crm(error) => error.is_retryable() || error.outcome_uncertain(),
            SyncError::Siagh(error) => error.is_retryable() || error.outcome_uncertain(),
            SyncError::Store(_) | SyncError::Busy { .. } => true,
            SyncError::NotFound { .. } | SyncError::NeedsReview { .. } => false,
        }
    }

    /// Text stored on the dead letter: Siagh's own (Persian) description where there is one.
    fn dead_letter_reason(&self) -> String {
        match self {
            SyncError::Siagh(crate::siagh::Error::Rejected { messages }) => {
                format!("Siagh rejected the contact: {}", messages.join(" | "))
            }
            other => other.to_string(),
        }
    }
}

/// Everything one customer sync step needs; cheap to clone into each job's future.
#[derive(Clone)]
pub struct CustomerSync {
    pub(super) store: Store,
    pub(super) crm: CrmClient,
    pub(super) siagh: SiaghClient,
    pub(super) settings: Arc<SyncSettings>,
    faults: FaultInjection,
}

/// A CRM identity as fetched, person or organization.
#[derive(Debug, Clone)]
pub enum CrmRecord {
    Person(Box<CrmPerson>),
    Organization(Box<CrmOrganization>),
}

impl CrmRecord {
    pub fn customer(&self) -> Customer {
        match self {
            CrmRecord::Person(person) => crm_customer::from_person(person),
            CrmRecord::Organization(organization) => crm_customer::from_organization(organization),
        }
    }

    /// Returns the record's last modification as UTC. The CRM writes Iran local time without
    /// an offset.
    pub fn modified_at(&self) -> Option<DateTime<Utc>> {
        let local = match self {
            CrmRecord::Person(person) => person.object.modify_date,
            CrmRecord::Organization(organization) => organization.object.modify_date,
        };
        let iran = FixedOffset::east_opt(IRAN_UTC_OFFSET_SECS)?;
        local
            .and_local_timezone(iran)
            .single()
            .map(|time| time.with_timezone(&Utc))
    }
}

/// Most recent links checked for a create still in flight on the other side.
pub(super) const UNFINISHED_LINKS_CHECKED: i64 = 1_000;

/// Iran's offset from UTC (+03:30), which it has kept all year since 2022.
const IRAN_UTC_OFFSET_SECS: i32 = 3 * 3600 + 30 * 60;

impl CustomerSync {
    pub fn new(
        store: Store,
        crm: CrmClient,
        siagh: SiaghClient,
        settings: SyncSettings,
        faults: FaultInjection,
    ) -> Self {
        Self {
            store,
            crm,
            siagh,
            settings: Arc::new(settings),
            faults,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// Runs one job and settles it in the store: completed, dead-lettered, or handed back for
    /// a retry.
    pub async fn run(&self, job: &Job) -> JobOutcome {
        <Self as super::orchestrator::JobRunner>::run(self, job).await
    }
}

impl super::orchestrator::JobRunner for CustomerSync {
    const ENTITY: &'static str = ENTITY_CUSTOMER;
    const ACTOR_NAME: &'static str = "customer_orchestrator";

    fn store(&self) -> &Store {
        &self.store
    }

    fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    async fn run(&self, job: &Job) -> JobOutcome {
        let span = tracing::info_span!("sync_job", job.id = job.id, crm.id = %job.record_id,
            job.attempt = job.attempts + 1, entity = ENTITY_CUSTOMER);
        self.run_job(job).instrument(span).await
    }
}

impl CustomerSync {
    async fn run_job(&self, job: &Job) -> JobOutcome {
        let started = Instant::now();
        let result = self.sync(job, started).await;
        let duration_ms = started.elapsed().as_millis() as i64;
        let error = match result {
            Ok(()) => return JobOutcome::Finished,
            Err(error) => error,
        };
        if error.is_retryable() {
            return JobOutcome::Retry {
                error: error.to_string(),
            };
        }

        let reason = error.dead_letter_reason();
        tracing::error!(error = %reason, duration_ms, "customer sync failed permanently; dead-lettered");
        let stored = async {
            self.store.dead_letter_job(job.id, &reason).await?;
            self.store
                .record(self.log_entry(job, "dead_letter", |entry| {
                    entry.error = Some(reason.clone());
                    entry.duration_ms = Some(duration_ms);
                }))
                .await
        };
        match stored.await {
            Ok(_) => JobOutcome::Finished,
            Err(store_error) => JobOutcome::Retry {
                error: format!("{reason} (and the dead letter could not be stored: {store_error})"),
            },
        }
    }

    async fn sync(&self, job: &Job, started: Instant) -> Result<(), SyncError> {
        self.faults.maybe_panic(&job.record_id);
        if job.event == "Delete" {
            // Siagh offers no contact deletion through its API, so deletes are recorded only.
            self.store
                .record(self.log_entry(job, "ignored", |entry| {
                    entry.error = Some("CRM deletions are not synced to Siagh".to_owned());
                }))
                .await?;
            self.store.complete_job(job.id).await?;
            return Ok(());
        }

        if job.direction == super::finance_poller::DIRECTION {
            return self.sync_from_siagh(job, started).await;
        }

        let record = self.fetch_record(job).await?;
        let customer = record.customer();
        let checksum = customer.checksum();
        self.store.note_source_checksum(job.id, &checksum).await?;
        let link = self
            .store
            .link_by_crm_id(ENTITY_CUSTOMER, &job.record_id)
            .await?;

        match link {
            Some(link) if link.state == "linked" => {
                if link.crm_checksum.as_deref() == Some(checksum.as_str()) {
                    return self.skip_unchanged(job, &customer, &link, started).await;
                }
                let code = parse_code(&link)?;
                let siagh = self.siagh_side(&link, &code).await?;
                let crm = CrmSide {
                    modified_at: record.modified_at(),
                    record,
                    customer,
                };
                self.reconcile(job, &link, code, crm, siagh, started).await
            }
            Some(link) => {
                let result = self
                    .resolve_unfinished_create(job, &customer, &link, started)
                    .await;
                // A create left for review must not look in flight to the other direction.
                if let Err(SyncError::NeedsReview { reason }) = &result {
                    self.store.mark_uncertain(link.id, reason).await?;
                }
                result
            }
            None => {
                // The CRM's webhook for a record the engine just created from Siagh can arrive
                // before that create stored its link. Creating a Siagh contact for it would
                // duplicate the contact.
                if self.siagh_side_create_in_flight().await? {
                    return Err(SyncError::Busy {
                        reason: "a Siagh-side create is still settling; this CRM record may be \
                                 its result"
                            .to_owned(),
                    });
                }
                self.create(job, &customer, started).await
            }
        }
    }

    /// Returns whether a create from Siagh into the CRM has started and not stored its CRM id.
    async fn siagh_side_create_in_flight(&self) -> Result<bool, SyncError> {
        Ok(self
            .store
            .links(ENTITY_CUSTOMER, UNFINISHED_LINKS_CHECKED)
            .await?
            .into_iter()
            .any(|link| link.state == "creating" && link.crm_id.is_none()))
    }

    /// Reads the Siagh side of a linked customer fresh, so a Siagh edit the poller has not seen
    /// yet is merged instead of overwritten.
    async fn siagh_side(&self, link: &Link, code: &SiaghCode) -> Result<SiaghSide, SyncError> {
        let contact = self.siagh.get_contact(*code).await?;
        let Some(contact) = contact else {
            return Err(SyncError::NeedsReview {
                reason: format!(
                    "Siagh contact {code}, linked to this CRM record by link {}, no longer \
                     exists in Siagh; restore it or remove the link",
                    link.id
                ),
            });
        };
        let customer = siagh_contact::from_contact(&contact);
        // Siagh records carry no modification time. The poll that first saw this state dates
        // it; a state no poll has seen yet changed after the last poll, so now bounds it.
        let seen = self.store.finance_seen(&code.to_string()).await?;
        let seen_at = match seen {
            Some(seen) if seen.checksum == siagh_checksum(&customer) => seen.seen_at.and_utc(),
            _ => Utc::now(),
        };
        Ok(SiaghSide {
            customer,
            seen_at: Some(seen_at),
        })
    }

    /// Fetches the CRM record. The kind (person or organization) comes from the kind stored
    /// for the id, else the webhook subtype, else trying both; the kind found is stored.
    pub(super) async fn fetch_record(&self, job: &Job) -> Result<CrmRecord, SyncError> {
        let id = CrmId(job.record_id.clone());
        let remembered = self
            .store
            .crm_kind(&job.record_id)
            .await?
            .and_then(|kind| CustomerKind::parse(&kind));
        let hinted = job
            .kind_hint
            .as_deref()
            .and_then(|subtype| self.kind_from_subtype(subtype));
        let first = remembered.or(hinted).unwrap_or(CustomerKind::Person);
        let second = match first {
            CustomerKind::Person => CustomerKind::Organization,
            CustomerKind::Organization => CustomerKind::Person,
        };

        for kind in [first, second] {
            let record = match kind {
                CustomerKind::Person => self
                    .crm
                    .get_person(&id)
                    .await?
                    .map(|person| CrmRecord::Person(Box::new(person))),
                CustomerKind::Organization => self
                    .crm
                    .get_organization(&id)
                    .await?
                    .map(|organization| CrmRecord::Organization(Box::new(organization))),
            };
            if let Some(record) = record {
                if remembered != Some(kind) {
                    self.store
                        .remember_crm_kind(&job.record_id, kind.as_str())
                        .await?;
                }
                return Ok(record);
            }
            tracing::debug!(kind = kind.as_str(), "CRM record not found as this kind");
        }
        Err(SyncError::NotFound {
            crm_id: job.record_id.clone(),
        })
    }

    /// Maps a webhook subtype to a kind through the configured lists, in normalized form.
    fn kind_from_subtype(&self, subtype: &str) -> Option<CustomerKind> {
        let wanted = normalize::text(subtype);
        let listed = |list: &[String]| list.iter().any(|entry| normalize::text(entry) == wanted);
        if listed(&self.settings.person_subtypes) {
            Some(CustomerKind::Person)
        } else if listed(&self.settings.organization_subtypes) {
            Some(CustomerKind::Organization)
        } else {
            None
        }
    }

    pub(super) async fn skip_unchanged(
        &self,
        job: &Job,
        customer: &Customer,
        link: &Link,
        started: Instant,
    ) -> Result<(), SyncError> {
        let duration_ms = started.elapsed().as_millis() as i64;
        tracing::info!(
            siagh.code = link.siagh_code.as_deref().unwrap_or_default(),
            duration_ms,
            "customer unchanged since the last sync; skipped"
        );
        self.store
            .record(self.log_entry(job, "skip_unchanged", |entry| {
                entry.source_snapshot = Some(customer.snapshot());
                entry.target_id = link.siagh_code.clone();
                entry.duration_ms = Some(duration_ms);
            }))
            .await?;
        self.store.complete_job(job.id).await?;
        Ok(())
    }

    /// Creates the Siagh contact behind a guard: the intent is stored before the call, and an
    /// uncertain outcome is stored as such so the next attempt looks the contact up first.
    async fn create(
        &self,
        job: &Job,
        customer: &Customer,
        started: Instant,
    ) -> Result<(), SyncError> {
        let attempt_id = uuid::Uuid::new_v4().to_string();
        let link = self
            .store
            .begin_create(
                ENTITY_CUSTOMER,
                &job.record_id,
                customer.kind.as_str(),
                &attempt_id,
            )
            .await?;
        let form = siagh_contact::to_contact_form(customer);
        // The client logs which keys it had to sanitize; the audit row keeps the exact text.
        let sent = form.ctrl_values(None);

        match self.siagh.create_contact(&form).await {
            Ok(code) => {
                tracing::info!(siagh.code = %code, duration_ms = started.elapsed().as_millis() as u64,
                    "created Siagh contact");
                self.finish(job, customer, code, "create", None, sent.text, started)
                    .await
            }
            Err(error) if error.outcome_uncertain() => {
                let reason = format!("create outcome unknown: {error}");
                tracing::warn!(error = %error, "Siagh contact create has an unknown outcome; \
                    the next attempt looks the contact up before creating");
                self.store.mark_uncertain(link.id, &reason).await?;
                self.store
                    .record(self.log_entry(job, "uncertain", |entry| {
                        entry.source_snapshot = Some(customer.snapshot());
                        entry.target_after = Some(sent.text.clone());
                        entry.error = Some(reason.clone());
                    }))
                    .await?;
                Err(error.into())
            }
            Err(error) => {
                // Siagh rejected the request or it never left, so no contact exists. The intent
                // goes, or a later attempt would look for a contact that was never made.
                self.store.discard_create(link.id).await?;
                Err(error.into())
            }
        }
    }

    /// Settles a create whose outcome was never confirmed. It looks the contact up by its
    /// natural key (mobile or national code) and adopts the one match, creates the contact when
    /// there is no match, and sends the job to review when the lookup cannot decide.
    async fn resolve_unfinished_create(
        &self,
        job: &Job,
        customer: &Customer,
        link: &Link,
        started: Instant,
    ) -> Result<(), SyncError> {
        let contacts = self.siagh.get_all_contacts().await?;
        let candidates: Vec<_> = contacts
            .iter()
            .filter(|contact| siagh_contact::matches_natural_key(contact, customer))
            .collect();

        match candidates.as_slice() {
            [] if customer.mobile.is_empty() && customer.national_code.is_empty() => {
                Err(SyncError::NeedsReview {
                    reason: format!(
                        "an earlier create of this customer in Siagh has an unknown outcome \
                         (link state {}) and the customer has neither a mobile number nor a \
                         national code to look it up by; check Siagh for a contact named like \
                         the CRM record, then requeue the job",
                        link.state
                    ),
                })
            }
            [] => {
                tracing::info!("no Siagh contact matches the unfinished create; creating it");
                self.create(job, customer, started).await
            }
            [contact] => {
                let code = contact.code;
                if let Some(other) = self
                    .store
                    .link_by_siagh_code(ENTITY_CUSTOMER, &code.to_string())
                    .await?
                    .filter(|other| other.crm_id.as_deref() != Some(job.record_id.as_str()))
                {
                    return Err(SyncError::NeedsReview {
                        reason: format!(
                            "Siagh contact {code} matches this customer's mobile or national \
                             code but is already linked to CRM record {}",
                            other.crm_id.unwrap_or_default()
                        ),
                    });
                }
                tracing::info!(siagh.code = %code, "adopting the Siagh contact of an unfinished create");
                self.store
                    .record(self.log_entry(job, "adopted", |entry| {
                        entry.target_id = Some(code.to_string());
                    }))
                    .await?;
                self.update(job, customer, link, code, started).await
            }
            many => Err(SyncError::NeedsReview {
                reason: format!(
                    "an earlier create has an unknown outcome and {} Siagh contacts match this \
                     customer's mobile or national code ({}); link the right one by hand",
                    many.len(),
                    many.iter()
                        .map(|contact| contact.code.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    async fn update(
        &self,
        job: &Job,
        customer: &Customer,
        link: &Link,
        code: SiaghCode,
        started: Instant,
    ) -> Result<(), SyncError> {
        let form = siagh_contact::to_contact_form(customer);
        let sent = form.ctrl_values(Some(code));
        let returned = self.siagh.update_contact(code, &form).await?;
        tracing::info!(siagh.code = %returned, duration_ms = started.elapsed().as_millis() as u64,
            "updated Siagh contact");
        self.finish(
            job,
            customer,
            returned,
            "update",
            link.base_snapshot.clone(),
            sent.text,
            started,
        )
        .await
    }

    /// Stores the link, checksums, base snapshot and audit row, and completes the job, in one
    /// transaction.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        job: &Job,
        customer: &Customer,
        code: SiaghCode,
        action: &str,
        target_before: Option<String>,
        sent: String,
        started: Instant,
    ) -> Result<(), SyncError> {
        let snapshot = customer.snapshot();
        let duration_ms = started.elapsed().as_millis() as i64;
        let log = self.log_entry(job, action, |entry| {
            entry.source_snapshot = Some(snapshot.clone());
            entry.target_before = target_before;
            entry.target_after = Some(sent);
            entry.target_id = Some(code.to_string());
            entry.duration_ms = Some(duration_ms);
        });
        self.store
            .finish_sync(FinishedSync {
                job_id: Some(job.id),
                entity: ENTITY_CUSTOMER.to_owned(),
                crm_id: job.record_id.clone(),
                siagh_code: code.to_string(),
                crm_kind: customer.kind.as_str().to_owned(),
                crm_checksum: customer.checksum(),
                siagh_checksum: siagh_checksum(customer),
                base_snapshot: snapshot,
                log,
                conflicts: Vec::new(),
            })
            .await?;
        // What Siagh now holds, so the next CRM-side step does not take the engine's own
        // write for a Siagh edit before the poller has read it.
        self.store
            .apply_finance_diff(
                vec![FinanceSeenUpsert {
                    code: code.to_string(),
                    checksum: siagh_checksum(customer),
                    snapshot: siagh_view(customer).snapshot(),
                }],
                Vec::new(),
                Vec::new(),
            )
            .await?;
        Ok(())
    }

    pub(super) fn log_entry(
        &self,
        job: &Job,
        action: &str,
        fill: impl FnOnce(&mut NewLogEntry),
    ) -> NewLogEntry {
        let mut entry = NewLogEntry {
            job_id: Some(job.id),
            entity: ENTITY_CUSTOMER.to_owned(),
            record_id: job.record_id.clone(),
            direction: job.direction.clone(),
            action: action.to_owned(),
            ..NewLogEntry::default()
        };
        fill(&mut entry);
        entry
    }
}

fn parse_code(link: &Link) -> Result<SiaghCode, SyncError> {
    link.siagh_code
        .as_deref()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| SyncError::NeedsReview {
            reason: format!(
                "link {} is marked linked but holds no valid Siagh code ({:?})",
                link.id, link.siagh_code
            ),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn crm_modify_date_is_read_as_iran_time() {
        let person: CrmPerson =
            serde_json::from_str(include_str!("../sim/fixtures/crm/person_get_response.json"))
                .unwrap();

        let modified = CrmRecord::Person(Box::new(person)).modified_at().unwrap();

        // The fixture's 2026-01-10T10:15:42.517 is +03:30 local time.
        assert_eq!(modified.to_rfc3339(), "2026-01-10T06:45:42.517+00:00");
    }
}
