//! One sync step for a CRM quote: export it once as a Siagh pre-invoice.
//!
//! Siagh's pre-invoice create is not idempotent and offers no way to look a document up, so
//! the intent is stored before the call, and a response that never arrived sends the quote to
//! review instead of sending it again. A quote edited after its export is recorded as a
//! conflict for an operator: updating a pre-invoice through the API is not confirmed, and a
//! second pre-invoice would double the sale. A quote whose customer is not linked yet queues
//! that customer's sync and waits for it.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, FixedOffset, Utc};
use tracing::Instrument;

use super::crm_poller::follow_quote_type;
use super::customer::{JobOutcome, SyncError};
use super::fiscal_year::choose_fiscal_year;
use super::orchestrator::JobRunner;
use super::quote_mapping::{sale_model, to_preinvoice};
use super::{ENTITY_CUSTOMER, ENTITY_QUOTE};
use crate::config::SyncSettings;
use crate::crm::{CrmClient, CrmId, CrmQuote};
use crate::siagh::SiaghClient;
use crate::store::{
    FinishedSync, JOB_DEAD, JOB_DONE, Job, NewConflict, NewJob, NewLogEntry, Store,
};

/// Iran's offset from UTC (+03:30); the CRM writes its local time without an offset.
const IRAN_UTC_OFFSET_SECS: i32 = 3 * 3600 + 30 * 60;

/// Everything one quote sync step needs; cheap to clone into each job's future.
#[derive(Clone)]
pub struct QuoteSync {
    store: Store,
    crm: CrmClient,
    siagh: SiaghClient,
    settings: Arc<SyncSettings>,
}

/// The part of a quote whose change after export matters: customer, type and lines.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct QuoteSnapshot {
    customer: String,
    type_code: String,
    total: String,
    lines: Vec<(String, String, String, String)>,
}

fn snapshot(quote: &CrmQuote) -> QuoteSnapshot {
    QuoteSnapshot {
        customer: quote
            .customer_id()
            .map(|id| id.0.clone())
            .unwrap_or_default(),
        type_code: quote
            .object
            .crm_object_type_code
            .clone()
            .unwrap_or_default(),
        total: quote.final_value.normalize().to_string(),
        lines: quote
            .details
            .iter()
            .map(|line| {
                (
                    line.product_code.clone(),
                    line.count.normalize().to_string(),
                    line.base_unit_price.normalize().to_string(),
                    line.total_discount.normalize().to_string(),
                )
            })
            .collect(),
    }
}

/// Returns the checksum of the parts of a quote that its export depends on, as stored on the
/// quote's link.
pub(crate) fn quote_checksum(quote: &CrmQuote) -> String {
    super::canonical::checksum_of(&snapshot(quote))
}

/// Returns the quote's date as UTC: `quoteDate`, else its creation time (CRM local time).
fn quote_time(quote: &CrmQuote) -> DateTime<Utc> {
    let local = quote.quote_date.unwrap_or(quote.object.creat_date);
    FixedOffset::east_opt(IRAN_UTC_OFFSET_SECS)
        .and_then(|offset| local.and_local_timezone(offset).single())
        .map(|time| time.with_timezone(&Utc))
        .unwrap_or_else(|| local.and_utc())
}

impl QuoteSync {
    pub fn new(store: Store, crm: CrmClient, siagh: SiaghClient, settings: SyncSettings) -> Self {
        Self {
            store,
            crm,
            siagh,
            settings: Arc::new(settings),
        }
    }

    async fn run_job(&self, job: &Job) -> JobOutcome {
        let started = Instant::now();
        let error = match self.sync(job, started).await {
            Ok(()) => return JobOutcome::Finished,
            Err(error) => error,
        };
        if error.is_retryable() {
            return JobOutcome::Retry {
                error: error.to_string(),
            };
        }
        let reason = match &error {
            SyncError::Siagh(crate::siagh::Error::Rejected { messages }) => {
                format!("Siagh rejected the pre-invoice: {}", messages.join(" | "))
            }
            other => other.to_string(),
        };
        tracing::error!(error = %reason, "quote export failed permanently; dead-lettered");
        let stored = async {
            self.store.dead_letter_job(job.id, &reason).await?;
            self.store
                .record(log_entry(job, "dead_letter", |entry| {
                    entry.error = Some(reason.clone())
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
        if job.event == "Delete" {
            self.store
                .record(log_entry(job, "ignored", |entry| {
                    entry.error = Some("CRM quote deletions are not synced to Siagh".to_owned());
                }))
                .await?;
            self.store.complete_job(job.id).await?;
            return Ok(());
        }
        let id = CrmId(job.record_id.clone());
        let quote = self
            .crm
            .get_quote(&id)
            .await?
            .ok_or_else(|| SyncError::NeedsReview {
                reason: format!(
                    "CRM quote {} was not found; it may have been deleted, or the webhook named \
                     another kind of record",
                    id.0
                ),
            })?;
        // Only a type that names a sale model can be exported, so only such a type is polled.
        if let Some(type_code) = quote.object.crm_object_type_code.as_deref()
            && sale_model(type_code, &self.settings.quote_sale_models).is_ok()
        {
            follow_quote_type(&self.store, type_code, quote.object.modify_date).await?;
        }
        let current = snapshot(&quote);
        let checksum = super::canonical::checksum_of(&current);
        self.store.note_source_checksum(job.id, &checksum).await?;
        let link = self.store.link_by_crm_id(ENTITY_QUOTE, &id.0).await?;

        match link {
            Some(link) if link.state == "linked" => {
                if link.crm_checksum.as_deref() == Some(checksum.as_str()) {
                    self.store
                        .record(log_entry(job, "skip_unchanged", |entry| {
                            entry.target_id = link.siagh_code.clone();
                        }))
                        .await?;
                    self.store.complete_job(job.id).await?;
                    return Ok(());
                }
                self.record_change_after_export(job, &link, &current, &checksum)
                    .await
            }
            Some(link) => Err(SyncError::NeedsReview {
                reason: format!(
                    "an earlier export of this quote has an unknown outcome (link state {}) and \
                     Siagh offers no way to look a pre-invoice up; check Siagh for a \
                     pre-invoice of this customer and quote, then link or requeue it",
                    link.state
                ),
            }),
            None => self.export(job, &quote, &current, &checksum, started).await,
        }
    }

    /// Creates the pre-invoice once: customer linked first, intent stored before the call.
    async fn export(
        &self,
        job: &Job,
        quote: &CrmQuote,
        current: &QuoteSnapshot,
        checksum: &str,
        started: Instant,
    ) -> Result<(), SyncError> {
        let customer_id = quote.customer_id().ok_or_else(|| SyncError::NeedsReview {
            reason: "the quote names no customer (identityId)".to_owned(),
        })?;
        let customer_link = self
            .store
            .link_by_crm_id(ENTITY_CUSTOMER, &customer_id.0)
            .await?
            .filter(|link| link.state == "linked");
        let Some(customer_code) = customer_link
            .and_then(|link| link.siagh_code)
            .and_then(|code| code.parse().ok())
        else {
            return self.wait_for_customer(job, customer_id).await;
        };

        let session = self.siagh.session_info().await?;
        let choice =
            choose_fiscal_year(session.fiscal_year, quote_time(quote)).map_err(|error| {
                SyncError::NeedsReview {
                    reason: error.to_string(),
                }
            })?;
        if let Some(quote_year) = choice.quote_year_mismatch {
            tracing::warn!(
                quote_year,
                fiscal_year = choice.fiscal_year,
                "quote dated in another Jalali year than Siagh's open fiscal year; using Siagh's"
            );
            let note = format!(
                "the quote is dated in Jalali year {quote_year} (Tehran time) but Siagh's open \
                 fiscal year is {}; the pre-invoice is booked into {}",
                choice.fiscal_year, choice.fiscal_year
            );
            self.store
                .record(log_entry(job, "fiscal_year_mismatch", |entry| {
                    entry.error = Some(note)
                }))
                .await?;
        }
        let form = to_preinvoice(
            quote,
            customer_code,
            choice.fiscal_year,
            &self.settings.quote_sale_models,
            &self.settings.preinvoice_defaults,
        )
        .map_err(|error| SyncError::NeedsReview {
            reason: error.to_string(),
        })?;

        let attempt_id = uuid::Uuid::new_v4().to_string();
        let intent = self
            .store
            .begin_create(ENTITY_QUOTE, &job.record_id, "quote", &attempt_id)
            .await?;
        match self.siagh.create_preinvoice(&form).await {
            Ok(created) => {
                tracing::info!(
                    siagh.document = created.document_number,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "created Siagh pre-invoice"
                );
                let snapshot_text = serde_json::to_string(current).unwrap_or_default();
                let duration_ms = started.elapsed().as_millis() as i64;
                self.store
                    .finish_sync(FinishedSync {
                        job_id: Some(job.id),
                        entity: ENTITY_QUOTE.to_owned(),
                        crm_id: job.record_id.clone(),
                        siagh_code: created.document_number.to_string(),
                        crm_kind: "quote".to_owned(),
                        crm_checksum: checksum.to_owned(),
                        siagh_checksum: checksum.to_owned(),
                        base_snapshot: snapshot_text.clone(),
                        log: log_entry(job, "create", |entry| {
                            entry.source_snapshot = Some(snapshot_text);
                            entry.target_after = Some(created.message.clone());
                            entry.target_id = Some(created.document_number.to_string());
                            entry.duration_ms = Some(duration_ms);
                        }),
                        conflicts: Vec::new(),
                    })
                    .await?;
                Ok(())
            }
            Err(error) if error.outcome_uncertain() => {
                let reason = format!(
                    "pre-invoice create outcome unknown ({error}); Siagh may have stored it. \
                     Siagh offers no lookup, so it is not sent again: check Siagh for it"
                );
                self.store.mark_uncertain(intent.id, &reason).await?;
                Err(SyncError::NeedsReview { reason })
            }
            Err(error) => {
                self.store.discard_create(intent.id).await?;
                Err(error.into())
            }
        }
    }

    /// Makes the quote wait for its customer's sync, queuing that sync unless it is queued
    /// already.
    ///
    /// While the customer's job is queued or running, the quote job is postponed without
    /// counting an attempt: that job ends, at the latest when its lease expires. A customer
    /// whose sync was dead-lettered sends the quote to review with the customer's reason,
    /// because waiting longer would not help. A customer whose last sync finished without a
    /// link is synced again, and that wait counts attempts, so it cannot last forever.
    async fn wait_for_customer(&self, job: &Job, customer_id: &CrmId) -> Result<(), SyncError> {
        let reason = format!("customer {} is synced to Siagh first", customer_id.0);
        let latest = self
            .store
            .latest_crm_job_for(ENTITY_CUSTOMER, &customer_id.0)
            .await?;
        match latest {
            Some(customer_job) if customer_job.status == JOB_DEAD => {
                return Err(SyncError::NeedsReview {
                    reason: format!(
                        "the quote's customer {} could not be synced to Siagh (dead letter {}: \
                         {}); fix the customer, requeue its dead letter, then requeue this quote",
                        customer_id.0,
                        customer_job.id,
                        customer_job.last_error.unwrap_or_default()
                    ),
                });
            }
            Some(customer_job) if customer_job.status == JOB_DONE => {
                self.queue_customer(customer_id).await?;
                return Err(SyncError::Busy { reason });
            }
            Some(_) => {}
            None => self.queue_customer(customer_id).await?,
        }
        let wait = chrono::Duration::from_std(self.settings.retry_base)
            .unwrap_or(chrono::Duration::seconds(2));
        let run_at = chrono::Utc::now().naive_utc() + wait;
        self.store
            .postpone_job(job.id, run_at, &format!("waiting: {reason}"))
            .await?;
        tracing::debug!(crm.customer = %customer_id.0, "quote waits for its customer's sync");
        Ok(())
    }

    /// Queues a sync of the quote's customer, which the customer orchestrator runs.
    async fn queue_customer(&self, customer_id: &CrmId) -> Result<(), SyncError> {
        self.store
            .enqueue_job(NewJob {
                entity: ENTITY_CUSTOMER.to_owned(),
                record_id: customer_id.0.clone(),
                kind_hint: None,
                event: "Dependency".to_owned(),
                source: "quote".to_owned(),
                run_at: None,
                direction: "crm_to_siagh".to_owned(),
                payload: None,
            })
            .await?;
        Ok(())
    }

    /// Records a quote changed after its pre-invoice exists, as a conflict for an operator.
    async fn record_change_after_export(
        &self,
        job: &Job,
        link: &crate::store::Link,
        current: &QuoteSnapshot,
        checksum: &str,
    ) -> Result<(), SyncError> {
        let exported = link.base_snapshot.clone().unwrap_or_default();
        let now = serde_json::to_string(current).unwrap_or_default();
        if link.siagh_checksum.as_deref() == Some(checksum) {
            // Edited back to what the pre-invoice holds, so there is nothing for an operator.
            self.store
                .finish_sync(FinishedSync {
                    job_id: Some(job.id),
                    entity: ENTITY_QUOTE.to_owned(),
                    crm_id: job.record_id.clone(),
                    siagh_code: link.siagh_code.clone().unwrap_or_default(),
                    crm_kind: "quote".to_owned(),
                    crm_checksum: checksum.to_owned(),
                    siagh_checksum: checksum.to_owned(),
                    base_snapshot: exported,
                    log: log_entry(job, "back_to_exported", |entry| {
                        entry.source_snapshot = Some(now);
                        entry.target_id = link.siagh_code.clone();
                    }),
                    conflicts: Vec::new(),
                })
                .await?;
            return Ok(());
        }
        tracing::warn!(
            siagh.document = link.siagh_code.as_deref().unwrap_or_default(),
            "quote changed after export; recorded as a conflict, no second pre-invoice"
        );
        self.store
            .finish_sync(FinishedSync {
                job_id: Some(job.id),
                entity: ENTITY_QUOTE.to_owned(),
                crm_id: job.record_id.clone(),
                siagh_code: link.siagh_code.clone().unwrap_or_default(),
                crm_kind: "quote".to_owned(),
                crm_checksum: checksum.to_owned(),
                siagh_checksum: link.siagh_checksum.clone().unwrap_or_default(),
                base_snapshot: exported.clone(),
                log: log_entry(job, "changed_after_export", |entry| {
                    entry.target_before = Some(exported.clone());
                    entry.source_snapshot = Some(now.clone());
                    entry.target_id = link.siagh_code.clone();
                }),
                conflicts: vec![NewConflict {
                    entity: ENTITY_QUOTE.to_owned(),
                    crm_id: Some(job.record_id.clone()),
                    siagh_code: link.siagh_code.clone(),
                    field: "quote changed after export".to_owned(),
                    base_value: Some(exported),
                    crm_value: Some(now),
                    siagh_value: link.base_snapshot.clone(),
                    resolution: "siagh".to_owned(),
                    policy: "no-second-preinvoice".to_owned(),
                }],
            })
            .await?;
        Ok(())
    }
}

fn log_entry(job: &Job, action: &str, fill: impl FnOnce(&mut NewLogEntry)) -> NewLogEntry {
    let mut entry = NewLogEntry {
        job_id: Some(job.id),
        entity: ENTITY_QUOTE.to_owned(),
        record_id: job.record_id.clone(),
        direction: "crm_to_siagh".to_owned(),
        action: action.to_owned(),
        ..NewLogEntry::default()
    };
    fill(&mut entry);
    entry
}

impl JobRunner for QuoteSync {
    const ENTITY: &'static str = ENTITY_QUOTE;
    const ACTOR_NAME: &'static str = "quote_orchestrator";

    fn store(&self) -> &Store {
        &self.store
    }

    fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    async fn run(&self, job: &Job) -> JobOutcome {
        let span = tracing::info_span!("sync_job", job.id = job.id, crm.id = %job.record_id,
            job.attempt = job.attempts + 1, entity = ENTITY_QUOTE);
        self.run_job(job).instrument(span).await
    }
}
