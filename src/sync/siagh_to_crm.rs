//! One sync step for a contact the Siagh poller found new or changed: skip the engine's own
//! write coming back, merge a linked customer, or create the CRM person or organization.

use std::time::Instant;

use super::canonical::{Customer, CustomerKind};
use super::customer::{CrmRecord, CustomerSync, SyncError, UNFINISHED_LINKS_CHECKED};
use super::customer_number::customer_number_from_code;
use super::finance_diff::SiaghChange;
use super::reconcile::{CrmSide, SiaghSide};
use super::siagh_contact::siagh_checksum;
use super::{ENTITY_CUSTOMER, crm_write, normalize};
use crate::crm::CrmId;
use crate::siagh::SiaghCode;
use crate::store::{FinishedSync, Job, Link};

impl CustomerSync {
    pub(super) async fn sync_from_siagh(
        &self,
        job: &Job,
        started: Instant,
    ) -> Result<(), SyncError> {
        let change: SiaghChange = job
            .payload
            .as_deref()
            .and_then(|payload| serde_json::from_str(payload).ok())
            .ok_or_else(|| SyncError::NeedsReview {
                reason: format!(
                    "job {} from the Siagh poller has no readable payload",
                    job.id
                ),
            })?;
        let code: SiaghCode = change.code.parse().map_err(|_| SyncError::NeedsReview {
            reason: format!(
                "job {} names an invalid Siagh code {:?}",
                job.id, change.code
            ),
        })?;
        let link = self
            .store
            .link_by_siagh_code(ENTITY_CUSTOMER, &change.code)
            .await?;

        match link {
            Some(link) if link.state == "linked" => {
                if link.siagh_checksum.as_deref() == Some(siagh_checksum(&change.customer).as_str())
                {
                    return self
                        .skip_unchanged(job, &change.customer, &link, started)
                        .await;
                }
                let record = self.fetch_linked_record(&link).await?;
                let crm = CrmSide {
                    customer: record.customer(),
                    modified_at: record.modified_at(),
                    record,
                };
                let siagh = SiaghSide {
                    customer: change.customer,
                    seen_at: Some(chrono::Utc::now()),
                };
                self.reconcile(job, &link, code, crm, siagh, started).await
            }
            Some(link) => {
                let result = self
                    .resolve_unfinished_crm_create(job, code, change.customer, &link, started)
                    .await;
                // A create left for review must not look in flight to the other direction.
                if let Err(SyncError::NeedsReview { reason }) = &result {
                    self.store.mark_uncertain(link.id, reason).await?;
                }
                result
            }
            None => {
                // A CRM-side create that has reached Siagh but not yet stored its link looks
                // like a new Siagh contact. Creating it in the CRM would duplicate the record.
                let in_flight = self
                    .store
                    .links(ENTITY_CUSTOMER, UNFINISHED_LINKS_CHECKED)
                    .await?
                    .into_iter()
                    .any(|link| link.state == "creating" && link.siagh_code.is_none());
                if in_flight {
                    return Err(SyncError::Busy {
                        reason: format!(
                            "a CRM-side create is still settling; Siagh contact {code} may be \
                             its result"
                        ),
                    });
                }
                self.create_in_crm(job, code, change.customer, started)
                    .await
            }
        }
    }

    async fn fetch_linked_record(&self, link: &Link) -> Result<CrmRecord, SyncError> {
        let crm_id = CrmId(link.crm_id.clone().unwrap_or_default());
        let kind = link.crm_kind.as_deref().and_then(CustomerKind::parse);
        let record = match kind {
            Some(CustomerKind::Organization) => self
                .crm
                .get_organization(&crm_id)
                .await?
                .map(|organization| CrmRecord::Organization(Box::new(organization))),
            _ => self
                .crm
                .get_person(&crm_id)
                .await?
                .map(|person| CrmRecord::Person(Box::new(person))),
        };
        record.ok_or_else(|| SyncError::NotFound {
            crm_id: crm_id.0.clone(),
        })
    }

    /// Creates the CRM record of a Siagh contact behind a guard, as for Siagh creates: the
    /// intent is stored first, and a lost response is settled by a lookup before any retry.
    async fn create_in_crm(
        &self,
        job: &Job,
        code: SiaghCode,
        mut customer: Customer,
        started: Instant,
    ) -> Result<(), SyncError> {
        customer.customer_number = customer_number_from_code(code.0);
        let attempt_id = uuid::Uuid::new_v4().to_string();
        let link = self
            .store
            .begin_create_from_siagh(
                ENTITY_CUSTOMER,
                &code.to_string(),
                customer.kind.as_str(),
                &attempt_id,
            )
            .await?;
        let created = match customer.kind {
            CustomerKind::Person => {
                self.crm
                    .create_person(&crm_write::new_person(&customer))
                    .await
            }
            CustomerKind::Organization => {
                self.crm
                    .create_organization(&crm_write::new_organization(&customer))
                    .await
            }
        };
        match created {
            Ok(crm_id) => {
                tracing::info!(crm.id = %crm_id, siagh.code = %code, "created CRM record");
                self.finish_crm_create(job, code, &customer, crm_id, "create", started)
                    .await
            }
            Err(error) if error.outcome_uncertain() => {
                let reason = format!("CRM create outcome unknown: {error}");
                tracing::warn!(error = %error, siagh.code = %code,
                    "CRM create has an unknown outcome; the next attempt looks it up first");
                self.store.mark_uncertain(link.id, &reason).await?;
                Err(error.into())
            }
            Err(error) => {
                self.store.discard_create(link.id).await?;
                Err(error.into())
            }
        }
    }

    /// Settles a CRM create whose outcome was never confirmed by looking the record up by the
    /// customer number it was created with.
    async fn resolve_unfinished_crm_create(
        &self,
        job: &Job,
        code: SiaghCode,
        mut customer: Customer,
        link: &Link,
        started: Instant,
    ) -> Result<(), SyncError> {
        customer.customer_number = customer_number_from_code(code.0);
        let wanted = normalize::text(&customer.customer_number);
        let found = self
            .crm
            .search_identities(0, 50, &customer.customer_number)
            .await?;
        let matches: Vec<_> = found
            .into_iter()
            .filter(|identity| {
                normalize::text(identity.customer_no.as_deref().unwrap_or_default()) == wanted
            })
            .collect();
        match matches.as_slice() {
            [] => {
                tracing::info!(siagh.code = %code, "no CRM record matches the unfinished create");
                self.create_in_crm(job, code, customer, started).await
            }
            [identity] => {
                tracing::info!(crm.id = %identity.identity_id, siagh.code = %code,
                    "adopting the CRM record of an unfinished create");
                self.finish_crm_create(
                    job,
                    code,
                    &customer,
                    identity.identity_id.clone(),
                    "adopted",
                    started,
                )
                .await
            }
            many => Err(SyncError::NeedsReview {
                reason: format!(
                    "an earlier CRM create for Siagh contact {code} has an unknown outcome (link \
                     state {}) and {} CRM records carry customer number {}; link the right one \
                     by hand",
                    link.state,
                    many.len(),
                    customer.customer_number
                ),
            }),
        }
    }

    /// Reads the created record back and stores the link, so the checksum is exactly what the
    /// CRM's echo webhook will fetch.
    async fn finish_crm_create(
        &self,
        job: &Job,
        code: SiaghCode,
        customer: &Customer,
        crm_id: CrmId,
        action: &str,
        started: Instant,
    ) -> Result<(), SyncError> {
        let stored = match customer.kind {
            CustomerKind::Person => self
                .crm
                .get_person(&crm_id)
                .await?
                .map(|person| CrmRecord::Person(Box::new(person))),
            CustomerKind::Organization => self
                .crm
                .get_organization(&crm_id)
                .await?
                .map(|organization| CrmRecord::Organization(Box::new(organization))),
        };
        let crm_customer = stored
            .map(|record| record.customer())
            .unwrap_or_else(|| customer.clone());
        self.store
            .remember_crm_kind(&crm_id.0, customer.kind.as_str())
            .await?;
        let duration_ms = started.elapsed().as_millis() as i64;
        let snapshot = customer.snapshot();
        let log = self.log_entry(job, action, |entry| {
            entry.source_snapshot = Some(snapshot.clone());
            entry.target_after = Some(crm_customer.snapshot());
            entry.target_id = Some(crm_id.0.clone());
            entry.duration_ms = Some(duration_ms);
        });
        self.store
            .finish_sync(FinishedSync {
                job_id: Some(job.id),
                entity: ENTITY_CUSTOMER.to_owned(),
                crm_id: crm_id.0.clone(),
                siagh_code: code.to_string(),
                crm_kind: customer.kind.as_str().to_owned(),
                crm_checksum: crm_customer.checksum(),
                siagh_checksum: siagh_checksum(customer),
                base_snapshot: snapshot,
                log,
                conflicts: Vec::new(),
            })
            .await?;
        Ok(())
    }
}
