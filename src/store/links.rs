//! The `entity_links` table: which CRM record is which Siagh record, and what was last synced.
//!
//! A link also guards creates, which are not idempotent on either side. Before the create
//! call, the link is written in state `creating` with an attempt id. A CRM record copied to
//! Siagh has its link keyed by the CRM id. A Siagh contact copied to the CRM has its link
//! keyed by the Siagh code, because the CRM id is unknown until the create returns. An
//! outcome that cannot be known (a timeout after sending) leaves the link `uncertain` for
//! review.

use chrono::NaiveDateTime;
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::conflicts::{self, NewConflict};
use super::jobs;
use super::pool::{DbConnection, clamp_limit, per_backend, utc_now, write_transaction};
use super::schema::entity_links;
use super::sync_log::{self, CRM_TO_SIAGH, NewLogEntry, SIAGH_TO_CRM};
use super::{Store, StoreError};

/// Link state while a create call is in flight.
pub const LINK_CREATING: &str = "creating";
/// Link state when a create call's outcome is unknown and needs review.
pub const LINK_UNCERTAIN: &str = "uncertain";
/// Link state once both records exist and were synced.
pub const LINK_LINKED: &str = "linked";

/// One row of `entity_links`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = entity_links)]
pub struct Link {
    pub id: i64,
    pub entity: String,
    /// The record's id in the CRM.
    pub crm_id: Option<String>,
    /// The record's code in Siagh.
    pub siagh_code: Option<String>,
    /// `person` or `organization` for customers.
    pub crm_kind: Option<String>,
    /// [`LINK_CREATING`], [`LINK_UNCERTAIN`] or [`LINK_LINKED`].
    pub state: String,
    /// Id of the create attempt in flight, sent along so the outcome can be matched later.
    pub attempt_id: Option<String>,
    /// Checksum of the CRM record's canonical form at the last sync.
    pub crm_checksum: Option<String>,
    /// Checksum of the Siagh record's canonical form at the last sync.
    pub siagh_checksum: Option<String>,
    /// The canonical record as last synced (JSON), the base of three-way merges.
    pub base_snapshot: Option<String>,
    /// Error that made the link uncertain, cleared when the link is synced.
    pub last_error: Option<String>,
    #[serde(serialize_with = "super::utc_json::serialize")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_json::serialize")]
    pub updated_at: NaiveDateTime,
}

/// A completed sync step, written by [`Store::finish_sync`] in one transaction.
///
/// The link is found by `crm_id`, or, when no link has that CRM id, by `siagh_code` among
/// links without a CRM id (a create from Siagh). Without either, a new link is inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedSync {
    /// The job to mark as `done`, when the step ran from the queue.
    pub job_id: Option<i64>,
    pub entity: String,
    pub crm_id: String,
    pub siagh_code: String,
    pub crm_kind: String,
    pub crm_checksum: String,
    pub siagh_checksum: String,
    /// The canonical record as synced (JSON).
    pub base_snapshot: String,
    /// The audit row, inserted as given.
    pub log: NewLogEntry,
    /// Fields changed on both sides, stored with `job_id`.
    pub conflicts: Vec<NewConflict>,
}

#[derive(Insertable)]
#[diesel(table_name = entity_links)]
struct NewLinkRow<'a> {
    entity: &'a str,
    crm_id: Option<&'a str>,
    siagh_code: Option<&'a str>,
    crm_kind: Option<&'a str>,
    state: &'a str,
    attempt_id: Option<&'a str>,
    crm_checksum: Option<&'a str>,
    siagh_checksum: Option<&'a str>,
    base_snapshot: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Inserts or updates the link of a finished sync step: the link of (`entity`, `crm_id`), or
/// else the CRM-less link of (`entity`, `siagh_code`), or else a new one.
async fn upsert_linked(conn: &mut DbConnection, done: &FinishedSync) -> QueryResult<()> {
    let now = utc_now();
    let has_crm_link: bool = diesel::select(exists(
        entity_links::table
            .filter(entity_links::entity.eq(&done.entity))
            .filter(entity_links::crm_id.eq(&done.crm_id)),
    ))
    .get_result(conn)
    .await?;
    if !has_crm_link {
        // A create from Siagh wrote its intent before the CRM id existed.
        let adopted = diesel::update(
            entity_links::table
                .filter(entity_links::entity.eq(&done.entity))
                .filter(entity_links::siagh_code.eq(&done.siagh_code))
                .filter(entity_links::crm_id.is_null()),
        )
        .set((
            entity_links::crm_id.eq(&done.crm_id),
            entity_links::crm_kind.eq(&done.crm_kind),
            entity_links::state.eq(LINK_LINKED),
            entity_links::attempt_id.eq(None::<String>),
            entity_links::crm_checksum.eq(&done.crm_checksum),
            entity_links::siagh_checksum.eq(&done.siagh_checksum),
            entity_links::base_snapshot.eq(&done.base_snapshot),
            entity_links::last_error.eq(None::<String>),
            entity_links::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
        if adopted > 0 {
            return Ok(());
        }
    }

    // NOTE: when both sides left a create intent for one pair (a CRM-side link without a
    // Siagh code and a Siagh-side link without a CRM id), this upsert fails with a unique
    // violation on the Siagh code. Both creates ran, so a person must decide which records
    // stay.
    let row = NewLinkRow {
        entity: &done.entity,
        crm_id: Some(&done.crm_id),
        siagh_code: Some(&done.siagh_code),
        crm_kind: Some(&done.crm_kind),
        state: LINK_LINKED,
        attempt_id: None,
        crm_checksum: Some(&done.crm_checksum),
        siagh_checksum: Some(&done.siagh_checksum),
        base_snapshot: Some(&done.base_snapshot),
        created_at: now,
        updated_at: now,
    };
    per_backend!(conn, |c| {
        diesel::insert_into(entity_links::table)
            .values(&row)
            .on_conflict((entity_links::entity, entity_links::crm_id))
            .do_update()
            .set((
                entity_links::siagh_code.eq(excluded(entity_links::siagh_code)),
                entity_links::crm_kind.eq(excluded(entity_links::crm_kind)),
                entity_links::state.eq(LINK_LINKED),
                entity_links::attempt_id.eq(None::<String>),
                entity_links::crm_checksum.eq(excluded(entity_links::crm_checksum)),
                entity_links::siagh_checksum.eq(excluded(entity_links::siagh_checksum)),
                entity_links::base_snapshot.eq(excluded(entity_links::base_snapshot)),
                entity_links::last_error.eq(None::<String>),
                entity_links::updated_at.eq(now),
            ))
            .execute(c)
            .await
    })?;
    Ok(())
}

impl Store {
    /// Returns the link of the CRM record `crm_id`, if there is one.
    pub async fn link_by_crm_id(
        &self,
        entity: &str,
        crm_id: &str,
    ) -> Result<Option<Link>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(entity_links::table
            .filter(entity_links::entity.eq(entity))
            .filter(entity_links::crm_id.eq(crm_id))
            .select(Link::as_select())
            .first(&mut *conn)
            .await
            .optional()?)
    }

    /// Returns the link of the Siagh record `code`, if there is one.
    pub async fn link_by_siagh_code(
        &self,
        entity: &str,
        code: &str,
    ) -> Result<Option<Link>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(entity_links::table
            .filter(entity_links::entity.eq(entity))
            .filter(entity_links::siagh_code.eq(code))
            .select(Link::as_select())
            .first(&mut *conn)
            .await
            .optional()?)
    }

    /// Records the intent to create the target record, before the non-idempotent call.
    ///
    /// Inserts the link in state `creating` with `attempt_id`, or, when the CRM record already
    /// has a link, sets that link to `creating` with the new attempt id and kind. Other fields
    /// of an existing link, including its Siagh code, are kept.
    pub async fn begin_create(
        &self,
        entity: &str,
        crm_id: &str,
        crm_kind: &str,
        attempt_id: &str,
    ) -> Result<Link, StoreError> {
        let mut conn = self.connection().await?;
        let now = utc_now();
        let row = NewLinkRow {
            entity,
            crm_id: Some(crm_id),
            siagh_code: None,
            crm_kind: Some(crm_kind),
            state: LINK_CREATING,
            attempt_id: Some(attempt_id),
            crm_checksum: None,
            siagh_checksum: None,
            base_snapshot: None,
            created_at: now,
            updated_at: now,
        };
        let link = per_backend!(conn, |c| {
            diesel::insert_into(entity_links::table)
                .values(&row)
                .on_conflict((entity_links::entity, entity_links::crm_id))
                .do_update()
                .set((
                    entity_links::state.eq(LINK_CREATING),
                    entity_links::attempt_id.eq(attempt_id),
                    entity_links::crm_kind.eq(crm_kind),
                    entity_links::last_error.eq(None::<String>),
                    entity_links::updated_at.eq(now),
                ))
                .returning(Link::as_returning())
                .get_result(c)
                .await
        })?;
        tracing::debug!(
            entity,
            crm.id = crm_id,
            link.id = link.id,
            "create intent recorded"
        );
        Ok(link)
    }

    /// Records the intent to create the CRM record of the Siagh contact `siagh_code`, before
    /// the non-idempotent call.
    ///
    /// Inserts a link without a CRM id in state `creating` with `attempt_id`, or, when the
    /// Siagh contact already has a link, sets that link to `creating` with the new attempt id
    /// and kind. Other fields of an existing link, including its CRM id, are kept.
    /// [`Store::finish_sync`] fills in the CRM id once the create returns it.
    pub async fn begin_create_from_siagh(
        &self,
        entity: &str,
        siagh_code: &str,
        crm_kind: &str,
        attempt_id: &str,
    ) -> Result<Link, StoreError> {
        let mut conn = self.connection().await?;
        let now = utc_now();
        let row = NewLinkRow {
            entity,
            crm_id: None,
            siagh_code: Some(siagh_code),
            crm_kind: Some(crm_kind),
            state: LINK_CREATING,
            attempt_id: Some(attempt_id),
            crm_checksum: None,
            siagh_checksum: None,
            base_snapshot: None,
            created_at: now,
            updated_at: now,
        };
        let link = per_backend!(conn, |c| {
            diesel::insert_into(entity_links::table)
                .values(&row)
                .on_conflict((entity_links::entity, entity_links::siagh_code))
                .do_update()
                .set((
                    entity_links::state.eq(LINK_CREATING),
                    entity_links::attempt_id.eq(attempt_id),
                    entity_links::crm_kind.eq(crm_kind),
                    entity_links::last_error.eq(None::<String>),
                    entity_links::updated_at.eq(now),
                ))
                .returning(Link::as_returning())
                .get_result(c)
                .await
        })?;
        tracing::debug!(
            entity,
            siagh.code = siagh_code,
            link.id = link.id,
            "create intent from Siagh recorded"
        );
        Ok(link)
    }

    /// Marks a create whose outcome is unknown, with the error that made it so.
    pub async fn mark_uncertain(&self, link_id: i64, error: &str) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let updated = diesel::update(entity_links::table.find(link_id))
            .set((
                entity_links::state.eq(LINK_UNCERTAIN),
                entity_links::last_error.eq(error),
                entity_links::updated_at.eq(utc_now()),
            ))
            .execute(&mut *conn)
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound {
                table: "entity_links",
                id: link_id,
            });
        }
        Ok(())
    }

    /// Drops the intent of a create that certainly made nothing (Siagh rejected it, or the
    /// request never left). A link that already holds a Siagh code is kept.
    pub async fn discard_create(&self, link_id: i64) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        diesel::delete(
            entity_links::table
                .find(link_id)
                .filter(entity_links::siagh_code.is_null())
                .filter(entity_links::state.ne(LINK_LINKED)),
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Returns up to `limit` links of `entity`, most recently changed first.
    pub async fn links(&self, entity: &str, limit: i64) -> Result<Vec<Link>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(entity_links::table
            .filter(entity_links::entity.eq(entity))
            .order((entity_links::updated_at.desc(), entity_links::id.desc()))
            .limit(clamp_limit(limit))
            .select(Link::as_select())
            .load(&mut *conn)
            .await?)
    }

    /// Stores the outcome of a sync step in one transaction: the link (both ids, kind, state
    /// `linked`, both checksums and the base snapshot, attempt id cleared), the audit row, the
    /// conflicts, and, when `job_id` is set, the job as `done`.
    ///
    /// A create intent from either side is completed here. [`FinishedSync`] describes how the
    /// link is found. Nothing is written when any part fails, for example
    /// [`StoreError::NotFound`] for an unknown job id, or a unique violation when the Siagh
    /// code is already linked to another CRM record.
    pub async fn finish_sync(&self, done: FinishedSync) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        write_transaction(&mut conn, async |c| {
            upsert_linked(c, &done).await?;
            sync_log::insert(c, &done.log).await?;
            conflicts::insert_all(c, &done.conflicts, done.job_id).await?;
            if let Some(job_id) = done.job_id {
                jobs::complete(c, job_id).await?;
                let sides = [
                    (CRM_TO_SIAGH, done.crm_id.as_str()),
                    (SIAGH_TO_CRM, done.siagh_code.as_str()),
                ];
                for (direction, record_id) in sides {
                    jobs::settle_dead_before(c, &done.entity, direction, record_id, job_id).await?;
                }
            }
            Ok(())
        })
        .await?;
        tracing::debug!(
            entity = %done.entity,
            crm.id = %done.crm_id,
            siagh.code = %done.siagh_code,
            job.id = done.job_id,
            action = %done.log.action,
            conflicts.count = done.conflicts.len(),
            "sync step stored"
        );
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::sync_log::CRM_TO_SIAGH;
    use crate::store::testing::test_on_both_backends;
    use crate::store::{Enqueued, JOB_DONE, JOB_PENDING, LogFilter, NewJob};

    fn finished(job_id: Option<i64>, crm_id: &str, siagh_code: &str) -> FinishedSync {
        FinishedSync {
            job_id,
            entity: "customer".to_owned(),
            crm_id: crm_id.to_owned(),
            siagh_code: siagh_code.to_owned(),
            crm_kind: "person".to_owned(),
            crm_checksum: "crm-sum".to_owned(),
            siagh_checksum: "siagh-sum".to_owned(),
            base_snapshot: r#"{"name":"x"}"#.to_owned(),
            log: NewLogEntry {
                job_id,
                entity: "customer".to_owned(),
                record_id: crm_id.to_owned(),
                direction: CRM_TO_SIAGH.to_owned(),
                action: "create".to_owned(),
                target_id: Some(siagh_code.to_owned()),
                duration_ms: Some(12),
                ..NewLogEntry::default()
            },
            conflicts: Vec::new(),
        }
    }

    async fn enqueue(store: &Store, record_id: &str) -> i64 {
        let enqueued = store
            .enqueue_job(NewJob {
                entity: "customer".to_owned(),
                record_id: record_id.to_owned(),
                kind_hint: None,
                event: "Insert".to_owned(),
                source: "webhook".to_owned(),
                direction: "crm_to_siagh".to_owned(),
                payload: None,
                run_at: None,
            })
            .await
            .unwrap();
        assert!(matches!(enqueued, Enqueued::Inserted(_)));
        enqueued.job_id()
    }

    async fn begin_create_twice_reuses_link(store: Store) {
        let first = store
            .begin_create("customer", "crm-1", "person", "attempt-1")
            .await
            .unwrap();
        let second = store
            .begin_create("customer", "crm-1", "organization", "attempt-2")
            .await
            .unwrap();

        assert_eq!(first.state, LINK_CREATING);
        assert_eq!(first.attempt_id.as_deref(), Some("attempt-1"));
        assert_eq!(second.id, first.id);
        assert_eq!(second.state, LINK_CREATING);
        assert_eq!(second.attempt_id.as_deref(), Some("attempt-2"));
        assert_eq!(second.crm_kind.as_deref(), Some("organization"));
        assert_eq!(store.links("customer", 10).await.unwrap().len(), 1);
    }

    async fn begin_create_keeps_siagh_code(store: Store) {
        store
            .finish_sync(finished(None, "crm-1", "S-100"))
            .await
            .unwrap();

        let link = store
            .begin_create("customer", "crm-1", "person", "attempt-1")
            .await
            .unwrap();

        assert_eq!(link.state, LINK_CREATING);
        assert_eq!(link.siagh_code.as_deref(), Some("S-100"));
        assert_eq!(link.crm_checksum.as_deref(), Some("crm-sum"));
    }

    async fn mark_uncertain_stores_error(store: Store) {
        let link = store
            .begin_create("customer", "crm-1", "person", "attempt-1")
            .await
            .unwrap();

        store
            .mark_uncertain(link.id, "timed out after sending")
            .await
            .unwrap();
        let missing = store.mark_uncertain(link.id + 1000, "x").await.unwrap_err();

        let stored = store
            .link_by_crm_id("customer", "crm-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.state, LINK_UNCERTAIN);
        assert_eq!(
            stored.last_error.as_deref(),
            Some("timed out after sending")
        );
        assert_eq!(stored.attempt_id.as_deref(), Some("attempt-1"));
        assert!(matches!(
            missing,
            StoreError::NotFound {
                table: "entity_links",
                ..
            }
        ));
    }

    async fn finish_sync_links_logs_and_completes(store: Store) {
        let job_id = enqueue(&store, "crm-1").await;
        let intent = store
            .begin_create("customer", "crm-1", "person", "attempt-1")
            .await
            .unwrap();

        store
            .finish_sync(finished(Some(job_id), "crm-1", "S-100"))
            .await
            .unwrap();

        let link = store
            .link_by_siagh_code("customer", "S-100")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(link.id, intent.id);
        assert_eq!(link.state, LINK_LINKED);
        assert_eq!(link.crm_id.as_deref(), Some("crm-1"));
        assert_eq!(link.attempt_id, None);
        assert_eq!(link.crm_checksum.as_deref(), Some("crm-sum"));
        assert_eq!(link.siagh_checksum.as_deref(), Some("siagh-sum"));
        assert_eq!(link.base_snapshot.as_deref(), Some(r#"{"name":"x"}"#));
        let job = store.job(job_id).await.unwrap().unwrap();
        assert_eq!(job.status, JOB_DONE);
        let log = store.log_entries(LogFilter::default()).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].job_id, Some(job_id));
        assert_eq!(log[0].action, "create");
        assert_eq!(log[0].target_id.as_deref(), Some("S-100"));
    }

    async fn finish_sync_writes_nothing_on_unknown_job(store: Store) {
        let mut done = finished(Some(404), "crm-1", "S-100");
        // Without a job id on the audit row, completing the job is the step that fails.
        done.log.job_id = None;

        let error = store.finish_sync(done).await.unwrap_err();

        assert!(matches!(
            error,
            StoreError::NotFound {
                table: "sync_jobs",
                id: 404
            }
        ));
        assert_eq!(
            store.link_by_crm_id("customer", "crm-1").await.unwrap(),
            None
        );
        assert!(
            store
                .log_entries(LogFilter::default())
                .await
                .unwrap()
                .is_empty()
        );
    }

    async fn finish_sync_writes_nothing_on_duplicate_code(store: Store) {
        store
            .finish_sync(finished(None, "crm-1", "S-100"))
            .await
            .unwrap();
        let job_id = enqueue(&store, "crm-2").await;

        let error = store
            .finish_sync(finished(Some(job_id), "crm-2", "S-100"))
            .await
            .unwrap_err();

        assert!(error.is_unique_violation(), "unexpected error: {error}");
        assert_eq!(
            store.link_by_crm_id("customer", "crm-2").await.unwrap(),
            None
        );
        assert_eq!(
            store.job(job_id).await.unwrap().unwrap().status,
            JOB_PENDING
        );
        assert_eq!(
            store.log_entries(LogFilter::default()).await.unwrap().len(),
            1
        );
    }

    async fn links_lists_newest_first(store: Store) {
        store
            .finish_sync(finished(None, "crm-1", "S-1"))
            .await
            .unwrap();
        store
            .finish_sync(finished(None, "crm-2", "S-2"))
            .await
            .unwrap();
        store
            .finish_sync(finished(None, "crm-1", "S-1"))
            .await
            .unwrap();

        let links = store.links("customer", 10).await.unwrap();
        let limited = store.links("customer", 1).await.unwrap();

        let crm_ids: Vec<_> = links.iter().map(|link| link.crm_id.as_deref()).collect();
        assert_eq!(crm_ids, vec![Some("crm-1"), Some("crm-2")]);
        assert_eq!(limited.len(), 1);
        assert!(store.links("quote", 10).await.unwrap().is_empty());
    }

    fn conflict(field: &str, resolution: &str) -> NewConflict {
        NewConflict {
            entity: "customer".to_owned(),
            crm_id: Some("crm-1".to_owned()),
            siagh_code: Some("S-100".to_owned()),
            field: field.to_owned(),
            base_value: Some("old".to_owned()),
            crm_value: Some("crm".to_owned()),
            siagh_value: None,
            resolution: resolution.to_owned(),
            policy: "crm_wins".to_owned(),
        }
    }

    async fn create_from_siagh_gets_crm_id(store: Store) {
        let intent = store
            .begin_create_from_siagh("customer", "S-100", "person", "attempt-1")
            .await
            .unwrap();
        let job_id = enqueue(&store, "S-100").await;

        store
            .finish_sync(finished(Some(job_id), "crm-9", "S-100"))
            .await
            .unwrap();

        assert_eq!(intent.state, LINK_CREATING);
        assert_eq!(intent.crm_id, None);
        assert_eq!(intent.attempt_id.as_deref(), Some("attempt-1"));
        let link = store
            .link_by_crm_id("customer", "crm-9")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(link.id, intent.id);
        assert_eq!(link.siagh_code.as_deref(), Some("S-100"));
        assert_eq!(link.state, LINK_LINKED);
        assert_eq!(link.attempt_id, None);
        assert_eq!(link.crm_checksum.as_deref(), Some("crm-sum"));
        assert_eq!(store.links("customer", 10).await.unwrap().len(), 1);
        assert_eq!(store.job(job_id).await.unwrap().unwrap().status, JOB_DONE);
    }

    async fn begin_create_from_siagh_twice_reuses_link(store: Store) {
        let first = store
            .begin_create_from_siagh("customer", "S-100", "person", "attempt-1")
            .await
            .unwrap();
        let second = store
            .begin_create_from_siagh("customer", "S-100", "organization", "attempt-2")
            .await
            .unwrap();
        let other = store
            .begin_create_from_siagh("customer", "S-200", "person", "attempt-3")
            .await
            .unwrap();

        assert_eq!(second.id, first.id);
        assert_eq!(second.attempt_id.as_deref(), Some("attempt-2"));
        assert_eq!(second.crm_kind.as_deref(), Some("organization"));
        assert_ne!(other.id, first.id);
        assert_eq!(store.links("customer", 10).await.unwrap().len(), 2);
    }

    async fn intents_on_both_sides_fail(store: Store) {
        store
            .begin_create("customer", "crm-1", "person", "attempt-1")
            .await
            .unwrap();
        store
            .begin_create_from_siagh("customer", "S-100", "person", "attempt-2")
            .await
            .unwrap();

        let error = store
            .finish_sync(finished(None, "crm-1", "S-100"))
            .await
            .unwrap_err();

        assert!(error.is_unique_violation(), "unexpected error: {error}");
        let crm_side = store
            .link_by_crm_id("customer", "crm-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(crm_side.state, LINK_CREATING);
        assert_eq!(crm_side.siagh_code, None);
    }

    async fn finish_sync_stores_conflicts(store: Store) {
        let job_id = enqueue(&store, "crm-1").await;
        let mut done = finished(Some(job_id), "crm-1", "S-100");
        done.conflicts = vec![conflict("mobile", "crm"), conflict("email", "siagh")];

        store.finish_sync(done).await.unwrap();

        let stored = store.conflicts(10).await.unwrap();
        assert_eq!(stored.len(), 2);
        let mut fields: Vec<_> = stored.iter().map(|c| c.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, vec!["email", "mobile"]);
        let email = stored.iter().find(|c| c.field == "email").unwrap();
        assert_eq!(email.job_id, Some(job_id));
        assert_eq!(email.entity, "customer");
        assert_eq!(email.crm_id.as_deref(), Some("crm-1"));
        assert_eq!(email.siagh_code.as_deref(), Some("S-100"));
        assert_eq!(email.base_value.as_deref(), Some("old"));
        assert_eq!(email.crm_value.as_deref(), Some("crm"));
        assert_eq!(email.siagh_value, None);
        assert_eq!(email.resolution, "siagh");
        assert_eq!(email.policy, "crm_wins");
        assert_eq!(store.conflicts(1).await.unwrap().len(), 1);
    }

    async fn conflicts_list_newest_first(store: Store) {
        let mut first = finished(None, "crm-1", "S-100");
        first.conflicts = vec![conflict("mobile", "crm")];
        let mut second = finished(None, "crm-1", "S-100");
        second.conflicts = vec![conflict("email", "crm")];

        store.finish_sync(first).await.unwrap();
        store.finish_sync(second).await.unwrap();

        let stored = store.conflicts(10).await.unwrap();
        let fields: Vec<_> = stored.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["email", "mobile"]);
        assert_eq!(stored[0].job_id, None);
    }

    async fn invalid_conflict_writes_nothing(store: Store) {
        let job_id = enqueue(&store, "crm-1").await;
        let mut done = finished(Some(job_id), "crm-1", "S-100");
        done.conflicts = vec![conflict("mobile", "both")];

        let error = store.finish_sync(done).await.unwrap_err();

        assert!(matches!(error, StoreError::Query(_)), "{error}");
        assert_eq!(
            store.link_by_crm_id("customer", "crm-1").await.unwrap(),
            None
        );
        assert!(store.conflicts(10).await.unwrap().is_empty());
        assert_eq!(
            store.job(job_id).await.unwrap().unwrap().status,
            JOB_PENDING
        );
    }

    test_on_both_backends!(
        create_from_siagh_gets_crm_id,
        begin_create_from_siagh_twice_reuses_link,
        intents_on_both_sides_fail,
        finish_sync_stores_conflicts,
        conflicts_list_newest_first,
        invalid_conflict_writes_nothing,
        begin_create_twice_reuses_link,
        begin_create_keeps_siagh_code,
        mark_uncertain_stores_error,
        finish_sync_links_logs_and_completes,
        finish_sync_writes_nothing_on_unknown_job,
        finish_sync_writes_nothing_on_duplicate_code,
        links_lists_newest_first,
    );
}
