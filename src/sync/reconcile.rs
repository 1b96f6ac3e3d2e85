//! Bringing both sides of a linked customer together after either side changed.
//!
//! The CRM record and the Siagh contact are merged against the base snapshot stored at the
//! last sync; each side is written only when the merged customer differs from it there. The
//! checksums stored afterwards are those of what each side now holds, so the echo of the
//! engine's own write (the CRM's Update webhook, the next Siagh poll) compares equal and is
//! skipped.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::canonical::{Customer, CustomerKind};
use super::customer::{CrmRecord, CustomerSync, SyncError};
use super::merge::merge;
use super::siagh_contact::{siagh_checksum, siagh_view, to_contact_form};
use super::{ENTITY_CUSTOMER, crm_customer, crm_write};
use crate::crm::{CrmOrganizationWrite, CrmPersonWrite};
use crate::siagh::SiaghCode;
use crate::store::{FinanceSeenUpsert, FinishedSync, Job, Link, NewConflict};

/// The CRM side of a linked customer as just fetched.
pub struct CrmSide {
    pub record: CrmRecord,
    pub customer: Customer,
    pub modified_at: Option<DateTime<Utc>>,
}

/// The Siagh side of a linked customer as last read.
pub struct SiaghSide {
    pub customer: Customer,
    /// When the poll saw this state; Siagh records carry no modification time.
    pub seen_at: Option<DateTime<Utc>>,
}

impl CustomerSync {
    /// Merges both sides of a linked customer and writes the side or sides that differ from
    /// the merged customer.
    pub(super) async fn reconcile(
        &self,
        job: &Job,
        link: &Link,
        code: SiaghCode,
        crm: CrmSide,
        siagh: SiaghSide,
        started: Instant,
    ) -> Result<(), SyncError> {
        let base = link
            .base_snapshot
            .as_deref()
            .and_then(|snapshot| serde_json::from_str::<Customer>(snapshot).ok());
        // Without a base every difference counts as a change of the side that triggered.
        let base = base.unwrap_or_else(|| match job.direction.as_str() {
            super::finance_poller::DIRECTION => crm.customer.clone(),
            _ => siagh.customer.clone(),
        });
        // A CRM record cannot change between person and organization, so a Siagh contact whose
        // party type changed needs a person to decide, not a second CRM record.
        if siagh.customer.kind != crm.customer.kind && siagh.customer.kind != base.kind {
            return Err(SyncError::NeedsReview {
                reason: format!(
                    "Siagh contact {code} changed its party type to {} but CRM record {} is a \
                     {}; the CRM cannot convert a record, so create the {} in the CRM by hand, \
                     link it, or set the Siagh party type back",
                    siagh.customer.kind.as_str(),
                    link.crm_id.as_deref().unwrap_or_default(),
                    crm.customer.kind.as_str(),
                    siagh.customer.kind.as_str()
                ),
            });
        }
        let outcome = merge(
            &base,
            &crm.customer,
            &siagh.customer,
            self.settings.conflict_policy,
            crm.modified_at,
            siagh.seen_at,
        );
        let merged = outcome.merged;
        let write_siagh = siagh_checksum(&merged) != siagh_checksum(&siagh.customer);
        // The CRM has no active flag, so a difference there is no reason to write the CRM.
        let merged_for_crm = Customer {
            active: crm.customer.active,
            ..merged.clone()
        };
        let write_crm = siagh_checksum(&merged_for_crm) != siagh_checksum(&crm.customer);
        for conflict in &outcome.conflicts {
            tracing::warn!(
                field = conflict.field,
                resolution = conflict.resolution.as_str(),
                policy = self.settings.conflict_policy.as_str(),
                "customer field changed on both sides; resolved by policy"
            );
        }

        let mut sent = None;
        if write_siagh {
            let form = to_contact_form(&merged);
            sent = Some(form.ctrl_values(Some(code)).text);
            self.siagh.update_contact(code, &form).await?;
            tracing::info!(siagh.code = %code, "updated Siagh contact");
            self.store
                .apply_finance_diff(
                    vec![FinanceSeenUpsert {
                        code: code.to_string(),
                        checksum: siagh_checksum(&merged),
                        snapshot: siagh_view(&merged).snapshot(),
                    }],
                    Vec::new(),
                    Vec::new(),
                )
                .await?;
        }
        let crm_checksum = if write_crm {
            let written = self.write_crm(&crm.record, &merged).await?;
            tracing::info!(crm.id = %job.record_id, "updated CRM record");
            written.checksum()
        } else {
            crm.customer.checksum()
        };

        let action = match (write_siagh, write_crm) {
            (true, true) => "merge",
            (true, false) | (false, true) => "update",
            (false, false) => "skip_unchanged",
        };
        let conflicts = outcome
            .conflicts
            .iter()
            .map(|conflict| NewConflict {
                entity: ENTITY_CUSTOMER.to_owned(),
                crm_id: link.crm_id.clone(),
                siagh_code: Some(code.to_string()),
                field: conflict.field.to_owned(),
                base_value: Some(conflict.base.clone()),
                crm_value: Some(conflict.crm.clone()),
                siagh_value: Some(conflict.siagh.clone()),
                resolution: conflict.resolution.as_str().to_owned(),
                policy: self.settings.conflict_policy.as_str().to_owned(),
            })
            .collect();
        let snapshot = merged.snapshot();
        let duration_ms = started.elapsed().as_millis() as i64;
        let log = self.log_entry(job, action, |entry| {
            entry.source_snapshot = Some(match job.direction.as_str() {
                super::finance_poller::DIRECTION => siagh.customer.snapshot(),
                _ => crm.customer.snapshot(),
            });
            entry.target_before = link.base_snapshot.clone();
            entry.target_after = sent.or_else(|| write_crm.then(|| snapshot.clone()));
            entry.target_id = Some(code.to_string());
            entry.duration_ms = Some(duration_ms);
        });
        self.store
            .finish_sync(FinishedSync {
                job_id: Some(job.id),
                entity: ENTITY_CUSTOMER.to_owned(),
                crm_id: link.crm_id.clone().unwrap_or_default(),
                siagh_code: code.to_string(),
                crm_kind: merged.kind.as_str().to_owned(),
                crm_checksum,
                siagh_checksum: siagh_checksum(&merged),
                base_snapshot: snapshot,
                log,
                conflicts,
            })
            .await?;
        Ok(())
    }

    /// Writes `customer` onto the fetched CRM record and returns the record as the CRM now
    /// stores it, read back so the stored checksum is exactly what the next fetch returns.
    pub(super) async fn write_crm(
        &self,
        record: &CrmRecord,
        customer: &Customer,
    ) -> Result<Customer, SyncError> {
        match record {
            CrmRecord::Person(person) => {
                let mut write = CrmPersonWrite::from(person.as_ref());
                crm_write::update_person(&mut write, customer);
                self.crm.update_person(&write).await?;
                let fresh = self.crm.get_person(&person.object.crm_id).await?;
                Ok(fresh
                    .map(|person| crm_customer::from_person(&person))
                    .unwrap_or_else(|| customer.clone()))
            }
            CrmRecord::Organization(organization) => {
                let mut write = CrmOrganizationWrite::from(organization.as_ref());
                crm_write::update_organization(&mut write, customer);
                self.crm.update_organization(&write).await?;
                let fresh = self
                    .crm
                    .get_organization(&organization.object.crm_id)
                    .await?;
                Ok(fresh
                    .map(|organization| crm_customer::from_organization(&organization))
                    .unwrap_or_else(|| customer.clone()))
            }
        }
    }
}

/// Kind of a fetched CRM record.
pub fn record_kind(record: &CrmRecord) -> CustomerKind {
    match record {
        CrmRecord::Person(_) => CustomerKind::Person,
        CrmRecord::Organization(_) => CustomerKind::Organization,
    }
}
