//! `siagh-sync import`: the one-time bulk import of Siagh contacts into the CRM.
//!
//! 1. Read every Siagh contact and every CRM identity.
//! 2. Link contacts that already exist on both sides: by customer number first (the CRM number
//!    of Siagh code `c` is `100-(c + 1000)`), then by normalized national code, then by mobile
//!    number, each only when exactly one CRM record matches. Ambiguous matches go to a review
//!    list and are never guessed.
//! 3. Queue a create job for every other contact and run those jobs here, with bounded
//!    concurrency and a rate limit. They are the server's own Siagh → CRM jobs, so every create
//!    is guarded (intent stored first, a lost response settled by looking the record up), and an
//!    interrupted import rerun continues without creating anything twice.
//!
//! Admin users and contacts already linked are skipped.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use crate::crm::{CrmClient, CrmIdentitySummary};
use crate::siagh::{SiaghClient, SiaghContact};
use crate::store::{FinishedSync, Job, NewJob, NewLogEntry, Store, StoreError};
use crate::sync::canonical::Customer;
use crate::sync::customer::{CrmRecord, CustomerSync, JobOutcome};
use crate::sync::customer_number::customer_number_from_code;
use crate::sync::finance_diff::SiaghChange;
use crate::sync::siagh_contact::{from_contact, siagh_checksum};
use crate::sync::{ENTITY_CUSTOMER, normalize};

/// Lease owner of the jobs the import runs itself; fixed so a rerun takes back the jobs an
/// interrupted run held.
const IMPORT_WORKER: &str = "siagh-sync-import";
/// Maximum wait, after the import's own jobs ran, for jobs a running server took to finish.
const SETTLE_WAIT: Duration = Duration::from_secs(30);
/// How long the import's claimed jobs stay leased.
const IMPORT_LEASE: Duration = Duration::from_secs(300);

/// Options of one import run.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Print the plan without writing anything.
    pub dry_run: bool,
    /// CRM creates in flight at once.
    pub concurrency: usize,
    /// Most CRM creates started per second.
    pub rate_per_second: u32,
}

/// Outcome of an import, or the plan of a dry run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Contacts linked to an existing CRM record, with the CRM id.
    pub linked: Vec<(String, String)>,
    /// Contacts created in the CRM (in a dry run: to be created).
    pub created: Vec<String>,
    /// Contacts left alone, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Contacts whose match is ambiguous, with the candidates; an operator decides.
    pub review: Vec<(String, String)>,
    /// Contacts whose create failed, with the error.
    pub failed: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading Siagh contacts failed: {0}")]
    Siagh(#[from] crate::siagh::Error),
    #[error("reading CRM identities failed: {0}")]
    Crm(#[from] crate::crm::Error),
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
}

/// A contact's place in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Skip(String),
    Link { crm_id: String, by: &'static str },
    Review(String),
    Create,
}

/// CRM identities indexed by the keys contacts are matched on.
#[derive(Default)]
struct CrmIndex {
    by_customer_number: HashMap<String, Vec<String>>,
    by_national_code: HashMap<String, Vec<String>>,
    by_mobile: HashMap<String, Vec<String>>,
    records: HashMap<String, CrmRecord>,
}

impl CrmIndex {
    fn add(&mut self, record: CrmRecord) {
        let customer = record.customer().normalized();
        let id = match &record {
            CrmRecord::Person(person) => person.object.crm_id.0.clone(),
            CrmRecord::Organization(organization) => organization.object.crm_id.0.clone(),
        };
        for (map, key) in [
            (&mut self.by_customer_number, customer.customer_number),
            (&mut self.by_national_code, customer.national_code),
            (&mut self.by_mobile, customer.mobile),
        ] {
            if !key.is_empty() {
                map.entry(key).or_default().push(id.clone());
            }
        }
        self.records.insert(id, record);
    }

    /// Decides a contact's match: customer number, then national code, then mobile.
    fn plan(&self, code: i64, customer: &Customer) -> Plan {
        let normalized = customer.normalized();
        let customer_number = normalize::text(&customer_number_from_code(code));
        let keys = [
            ("customer number", &self.by_customer_number, customer_number),
            (
                "national code",
                &self.by_national_code,
                normalized.national_code.clone(),
            ),
            ("mobile", &self.by_mobile, normalized.mobile.clone()),
        ];
        for (by, map, key) in keys {
            if key.is_empty() {
                continue;
            }
            match map.get(&key).map(Vec::as_slice) {
                None | Some([]) => continue,
                Some([crm_id]) => {
                    // A shared key is no match when the national codes contradict it.
                    let candidate = self
                        .records
                        .get(crm_id)
                        .map(|record| record.customer().normalized().national_code)
                        .unwrap_or_default();
                    let contact = &normalized.national_code;
                    if !candidate.is_empty() && !contact.is_empty() && candidate != *contact {
                        return Plan::Review(format!(
                            "CRM record {crm_id} shares its {by} but has another national code"
                        ));
                    }
                    return Plan::Link {
                        crm_id: crm_id.clone(),
                        by,
                    };
                }
                Some(many) => {
                    return Plan::Review(format!(
                        "{} CRM records share its {by} ({})",
                        many.len(),
                        many.join(", ")
                    ));
                }
            }
        }
        Plan::Create
    }
}

/// Reports progress: a bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{spinner} creating CRM records [{bar:40}] {pos}/{len} ({eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Progress {
            bar,
            total,
            done: 0,
        }
    }

    fn advance(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None if self.done.is_multiple_of(100) || self.done == self.total => {
                tracing::info!(done = self.done, total = self.total, "import progress");
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Builds the store and clients from `settings`, runs the import and prints its summary.
pub async fn run(
    settings: crate::config::Settings,
    options: ImportOptions,
) -> anyhow::Result<ImportSummary> {
    use anyhow::Context as _;

    Store::migrate(&settings.database_url)
        .await
        .context("applying database migrations")?;
    let store = Store::connect(
        &settings.database_url,
        (options.concurrency as u32 + 2).max(4),
    )
    .await
    .context("connecting to the database")?;
    let (crm, siagh) = crate::startup::build_clients(&settings)?;
    let sync = CustomerSync::new(
        store.clone(),
        crm.clone(),
        siagh.clone(),
        settings.sync.clone(),
        crate::sync::FaultInjection::default(),
    );
    let summary = run_import(&store, &siagh, &crm, &sync, &options).await?;
    print_summary(&summary, options.dry_run);
    Ok(summary)
}

#[expect(clippy::print_stdout, reason = "the summary is the command's output")]
fn print_summary(summary: &ImportSummary, dry_run: bool) {
    let (linked, created) = if dry_run {
        ("would link", "would create")
    } else {
        ("linked", "created")
    };
    println!("{linked}: {}", summary.linked.len());
    for (code, crm_id) in &summary.linked {
        println!("  Siagh contact {code} -> CRM record {crm_id}");
    }
    println!("{created}: {}", summary.created.len());
    if dry_run {
        for code in &summary.created {
            println!("  Siagh contact {code}");
        }
    }
    println!("skipped: {}", summary.skipped.len());
    let mut reasons: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (_, reason) in &summary.skipped {
        *reasons.entry(reason.as_str()).or_default() += 1;
    }
    for (reason, count) in reasons {
        println!("  {count} {reason}");
    }
    println!("to review: {}", summary.review.len());
    for (code, reason) in &summary.review {
        println!("  Siagh contact {code}: {reason}");
    }
    println!("failed: {}", summary.failed.len());
    for (code, error) in &summary.failed {
        println!("  Siagh contact {code}: {error}");
    }
}

/// Runs the import. `sync` runs the create jobs exactly as the server would.
pub async fn run_import(
    store: &Store,
    siagh: &SiaghClient,
    crm: &CrmClient,
    sync: &CustomerSync,
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let contacts = siagh.get_all_contacts().await?;
    let identities = crm.search_all_identities(500).await?;
    tracing::info!(
        contacts = contacts.len(),
        identities = identities.len(),
        "read both systems for the import"
    );
    let index = index_crm(store, crm, &identities, options.concurrency).await?;

    let mut summary = ImportSummary::default();
    let mut creates = Vec::new();
    for contact in &contacts {
        let code = contact.code.to_string();
        let plan = plan_contact(store, &index, contact).await?;
        match plan {
            Plan::Skip(reason) => summary.skipped.push((code, reason)),
            Plan::Review(reason) => summary.review.push((code, reason)),
            Plan::Link { crm_id, by } => {
                if !options.dry_run {
                    link(store, &index, contact, &crm_id, by).await?;
                }
                summary.linked.push((code, crm_id));
            }
            Plan::Create => creates.push(contact),
        }
    }

    if options.dry_run {
        summary.created = creates
            .iter()
            .map(|contact| contact.code.to_string())
            .collect();
        return Ok(summary);
    }
    let (created, failed) = create_all(store, sync, &creates, options).await?;
    summary.created = created;
    summary.failed = failed;
    Ok(summary)
}

/// Fetches the details of every CRM identity not linked yet, with bounded concurrency, and
/// indexes them. Search results carry neither the kind nor the national code or mobile.
async fn index_crm(
    store: &Store,
    crm: &CrmClient,
    identities: &[CrmIdentitySummary],
    concurrency: usize,
) -> Result<CrmIndex, ImportError> {
    let mut unlinked = Vec::new();
    for identity in identities {
        if store
            .link_by_crm_id(ENTITY_CUSTOMER, &identity.identity_id.0)
            .await?
            .is_none()
        {
            unlinked.push(identity.identity_id.clone());
        }
    }
    let fetched: Vec<Result<Option<CrmRecord>, crate::crm::Error>> =
        futures::stream::iter(unlinked)
            .map(|id| async move {
                if let Some(person) = crm.get_person(&id).await? {
                    return Ok(Some(CrmRecord::Person(Box::new(person))));
                }
                Ok(crm
                    .get_organization(&id)
                    .await?
                    .map(|organization| CrmRecord::Organization(Box::new(organization))))
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    let mut index = CrmIndex::default();
    for record in fetched {
        if let Some(record) = record? {
            index.add(record);
        }
    }
    Ok(index)
}

async fn plan_contact(
    store: &Store,
    index: &CrmIndex,
    contact: &SiaghContact,
) -> Result<Plan, StoreError> {
    if contact.is_admin_user.unwrap_or(false) {
        return Ok(Plan::Skip("admin user".to_owned()));
    }
    let code = contact.code.to_string();
    if let Some(link) = store.link_by_siagh_code(ENTITY_CUSTOMER, &code).await? {
        if link.state == "linked" {
            return Ok(Plan::Skip("already linked".to_owned()));
        }
        // An interrupted run left an unfinished create; its job settles it.
        return Ok(Plan::Create);
    }
    Ok(index.plan(contact.code.0, &from_contact(contact)))
}

/// Stores the link of a contact matched to an existing CRM record and queues the job that
/// brings the two together. The two records have no common history, so the link's base is
/// empty: a field set on one side only flows to the other, and a field that differs is decided
/// by the conflict policy and recorded as a conflict.
async fn link(
    store: &Store,
    index: &CrmIndex,
    contact: &SiaghContact,
    crm_id: &str,
    by: &str,
) -> Result<(), StoreError> {
    let siagh_customer = from_contact(contact);
    let Some(record) = index.records.get(crm_id) else {
        return Ok(());
    };
    let crm_customer = record.customer();
    store
        .remember_crm_kind(crm_id, crm_customer.kind.as_str())
        .await?;
    store
        .finish_sync(FinishedSync {
            job_id: None,
            entity: ENTITY_CUSTOMER.to_owned(),
            crm_id: crm_id.to_owned(),
            siagh_code: contact.code.to_string(),
            crm_kind: crm_customer.kind.as_str().to_owned(),
            // No CRM checksum yet, so the queued job reconciles instead of skipping.
            crm_checksum: String::new(),
            siagh_checksum: siagh_checksum(&siagh_customer),
            base_snapshot: Customer::empty(crm_customer.kind).snapshot(),
            log: NewLogEntry {
                entity: ENTITY_CUSTOMER.to_owned(),
                record_id: crm_id.to_owned(),
                direction: "siagh_to_crm".to_owned(),
                action: "linked".to_owned(),
                source_snapshot: Some(siagh_customer.snapshot()),
                target_before: Some(crm_customer.snapshot()),
                target_id: Some(crm_id.to_owned()),
                error: Some(format!("matched by {by}")),
                ..NewLogEntry::default()
            },
            conflicts: Vec::new(),
        })
        .await?;
    store
        .enqueue_job(NewJob {
            entity: ENTITY_CUSTOMER.to_owned(),
            record_id: crm_id.to_owned(),
            kind_hint: None,
            event: "Import".to_owned(),
            source: "import".to_owned(),
            run_at: None,
            direction: "crm_to_siagh".to_owned(),
            payload: None,
        })
        .await?;
    Ok(())
}

/// Queues a create job per contact and runs the jobs with bounded concurrency and a rate
/// limit. Returns the created codes and the failures.
async fn create_all(
    store: &Store,
    sync: &CustomerSync,
    contacts: &[&SiaghContact],
    options: &ImportOptions,
) -> Result<(Vec<String>, Vec<(String, String)>), ImportError> {
    let jobs: Vec<NewJob> = contacts
        .iter()
        .map(|contact| {
            let change = SiaghChange {
                code: contact.code.to_string(),
                customer: from_contact(contact),
            };
            NewJob {
                entity: ENTITY_CUSTOMER.to_owned(),
                record_id: format!("siagh:{}", contact.code),
                kind_hint: None,
                event: "Import".to_owned(),
                source: "import".to_owned(),
                run_at: None,
                direction: crate::sync::finance_poller::DIRECTION.to_owned(),
                payload: serde_json::to_string(&change).ok(),
            }
        })
        .collect();
    store
        .enqueue_jobs_with_cursor(jobs, "import_started", &chrono::Utc::now().to_rfc3339())
        .await?;
    store.release_jobs(IMPORT_WORKER).await?;

    let progress = Arc::new(std::sync::Mutex::new(Progress::new(contacts.len() as u64)));
    let period = Duration::from_secs_f64(1.0 / f64::from(options.rate_per_second.max(1)));
    let mut ticker = tokio::time::interval(period);
    let mut failed = Vec::new();
    loop {
        let batch = store
            .claim_jobs(
                ENTITY_CUSTOMER,
                IMPORT_WORKER,
                (options.concurrency.max(1) * 4) as i64,
                IMPORT_LEASE,
            )
            .await?;
        let batch: Vec<Job> = batch;
        if batch.is_empty() {
            break;
        }
        let mut runs = Vec::with_capacity(batch.len());
        for job in batch {
            ticker.tick().await;
            runs.push(job);
        }
        let results: Vec<(Job, JobOutcome)> = futures::stream::iter(runs)
            .map(|job| async move {
                let outcome = sync.run(&job).await;
                (job, outcome)
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        for (job, outcome) in results {
            let code = job.record_id.trim_start_matches("siagh:").to_owned();
            match outcome {
                JobOutcome::Finished => {
                    if let Some(finished) = store.job(job.id).await?
                        && finished.status == "dead"
                    {
                        failed.push((code, finished.last_error.unwrap_or_default()));
                    }
                }
                JobOutcome::Retry { error } => {
                    // The job waits in the queue with the usual backoff; the server or the next
                    // import run takes it.
                    let settings = sync.settings();
                    let delay = crate::sync::retry::backoff_delay(
                        job.attempts.max(0) as u32 + 1,
                        settings.retry_base,
                        settings.retry_max,
                        &mut rand::rng(),
                    );
                    let later = chrono::Utc::now().naive_utc()
                        + chrono::Duration::from_std(delay).unwrap_or_default();
                    store.retry_job(job.id, later, &error).await?;
                    failed.push((code, error));
                }
            }
            if let Ok(mut progress) = progress.lock() {
                progress.advance();
            }
        }
    }
    if let Ok(progress) = progress.lock() {
        progress.finish();
    }
    settle_outcomes(store, contacts, failed).await
}

/// Decides each contact's outcome from its link, because a running server may have run some
/// of the import's jobs: linked means created, anything else failed with the reason known.
async fn settle_outcomes(
    store: &Store,
    contacts: &[&SiaghContact],
    failed_here: Vec<(String, String)>,
) -> Result<(Vec<String>, Vec<(String, String)>), ImportError> {
    let reasons: HashMap<String, String> = failed_here.into_iter().collect();
    let mut created = Vec::new();
    let mut open: Vec<String> = Vec::new();
    for contact in contacts {
        let code = contact.code.to_string();
        let link = store.link_by_siagh_code(ENTITY_CUSTOMER, &code).await?;
        if link.is_some_and(|link| link.state == "linked") {
            created.push(code);
        } else {
            open.push(code);
        }
    }

    // Jobs a running server took may still be finishing; give them a moment.
    let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
    while !open.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut still_open = Vec::new();
        for code in open {
            let link = store.link_by_siagh_code(ENTITY_CUSTOMER, &code).await?;
            if link.is_some_and(|link| link.state == "linked") {
                created.push(code);
            } else {
                still_open.push(code);
            }
        }
        open = still_open;
        // Contacts whose job failed here will not settle by waiting.
        if open.iter().all(|code| reasons.contains_key(code)) {
            break;
        }
    }

    let mut failed = Vec::new();
    for code in open {
        let reason = reasons
            .get(&code)
            .cloned()
            .unwrap_or_else(|| "not created yet; its job is still queued or running".to_owned());
        failed.push((code, reason));
    }
    Ok((created, failed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::crm::CrmPerson;

    fn person_record(
        id: &str,
        customer_number: &str,
        national_code: &str,
        mobile: &str,
    ) -> CrmRecord {
        let mut person: CrmPerson =
            serde_json::from_str(include_str!("sim/fixtures/crm/person_get_response.json"))
                .unwrap();
        person.object.crm_id = crate::crm::CrmId(id.to_owned());
        person.identity.customer_number = Some(customer_number.to_owned());
        person.identity.national_code = Some(national_code.to_owned());
        person.identity.phone_contacts[0].phone_number = Some(mobile.to_owned());
        CrmRecord::Person(Box::new(person))
    }

    fn customer(national_code: &str, mobile: &str) -> Customer {
        let mut customer = crate::sync::canonical::tests::sample();
        customer.national_code = national_code.to_owned();
        customer.mobile = mobile.to_owned();
        customer
    }

    #[test]
    fn customer_number_match_comes_first() {
        let mut index = CrmIndex::default();
        index.add(person_record("a", "100-9401", "1111111111", "09110000000"));
        index.add(person_record("b", "", "2222222222", "09120000000"));

        let plan = index.plan(8401, &customer("", "09120000000"));

        assert_eq!(
            plan,
            Plan::Link {
                crm_id: "a".into(),
                by: "customer number"
            }
        );
    }

    #[test]
    fn national_code_then_mobile_match_in_any_digit_form() {
        let mut index = CrmIndex::default();
        index.add(person_record("a", "", "1111111111", "09110000000"));
        index.add(person_record("b", "", "", "09120000000"));

        let by_code = index.plan(1, &customer("۱۱۱۱۱۱۱۱۱۱", ""));
        let by_mobile = index.plan(2, &customer("", "+98 912 000 0000"));

        assert_eq!(
            by_code,
            Plan::Link {
                crm_id: "a".into(),
                by: "national code"
            }
        );
        assert_eq!(
            by_mobile,
            Plan::Link {
                crm_id: "b".into(),
                by: "mobile"
            }
        );
    }

    #[test]
    fn contradicting_national_code_goes_to_review() {
        let mut index = CrmIndex::default();
        index.add(person_record("a", "", "1234567891", "09120000001"));

        let plan = index.plan(8401, &customer("0000000000", "09120000001"));

        assert!(matches!(plan, Plan::Review(reason) if reason.contains("national code")));
    }

    #[test]
    fn ambiguous_match_goes_to_review() {
        let mut index = CrmIndex::default();
        index.add(person_record("a", "", "", "09120000000"));
        index.add(person_record("b", "", "", "09120000000"));

        let plan = index.plan(1, &customer("", "09120000000"));

        assert!(
            matches!(plan, Plan::Review(reason) if reason.contains("a, b") || reason.contains("b, a"))
        );
    }

    #[test]
    fn no_match_means_create() {
        let index = CrmIndex::default();

        assert_eq!(index.plan(1, &customer("1", "09120000000")), Plan::Create);
    }
}
