//! Enqueueing: writes detected changes as pending `sync_jobs` rows, merging each change into
//! the waiting job of its record and direction when there is one.
//!
//! Every enqueue, single or batch, is one multi-row upsert per chunk of rows against the
//! partial unique index on (entity, direction, record_id) of pending jobs. A change whose
//! record already waits in that direction updates the waiting job's payload (when it carries
//! one). Any other change inserts a new job, even when a job of the record is running.

use std::collections::btree_map::{self, BTreeMap};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use chrono::NaiveDateTime;
use diesel::backend::Backend as DieselBackend;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel_async::RunQueryDsl;

use super::bulk::{placeholder, push_placeholders, rows_per_statement};
use super::jobs::{Enqueued, NewJob};
use super::pool::{DbConnection, truncate_to_micros, utc_now};
use super::schema::sync_jobs;
use super::{Backend, StoreError};

/// A job's key in the partial unique index: (entity, direction, record_id).
type JobKey<'a> = (&'a str, &'a str, &'a str);

/// Parameters bound per row: entity, direction, record_id, kind_hint, event, source, payload
/// and run_at.
const BINDS_PER_ROW: usize = 8;

/// Parameters bound once per statement: the current time, used as created_at and updated_at.
const SHARED_BINDS: usize = 1;

fn key(job: &NewJob) -> JobKey<'_> {
    (&job.entity, &job.direction, &job.record_id)
}

/// The values of one pending job row.
struct PendingRow<'a> {
    entity: &'a str,
    direction: &'a str,
    record_id: &'a str,
    kind_hint: Option<&'a str>,
    event: &'a str,
    source: &'a str,
    payload: Option<&'a str>,
    run_at: NaiveDateTime,
}

impl<'a> PendingRow<'a> {
    fn new(job: &'a NewJob, now: NaiveDateTime) -> Self {
        Self {
            entity: &job.entity,
            direction: &job.direction,
            record_id: &job.record_id,
            kind_hint: job.kind_hint.as_deref(),
            event: &job.event,
            source: &job.source,
            payload: job.payload.as_deref(),
            run_at: job.run_at.map_or(now, truncate_to_micros),
        }
    }
}

/// A row returned by the upsert.
#[derive(QueryableByName)]
struct UpsertedJob {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    entity: String,
    #[diesel(sql_type = Text)]
    direction: String,
    #[diesel(sql_type = Text)]
    record_id: String,
    /// `false` when the row was an existing pending job that the change merged into.
    #[diesel(sql_type = Bool)]
    inserted: bool,
}

/// Enqueues one change. See [`enqueue_all`].
pub(crate) async fn enqueue_one(
    conn: &mut DbConnection,
    job: &NewJob,
) -> Result<Enqueued, StoreError> {
    let enqueued = enqueue_all(conn, std::slice::from_ref(job)).await?;
    enqueued
        .into_iter()
        .next()
        .ok_or(StoreError::Query(diesel::result::Error::NotFound))
}

/// Enqueues `jobs` and returns one result per job, in the same order.
///
/// Changes with the same (entity, direction, record_id) within `jobs` are merged first: the
/// first keeps its event, kind hint and run time, the last `Some` payload wins, and the later
/// ones report [`Enqueued::Coalesced`] with the first one's job id.
///
/// On SQLite the caller must hold a write transaction ([`write_transaction`]), because telling
/// inserted rows from merged ones relies on no other writer adding jobs meanwhile.
///
/// [`write_transaction`]: super::pool::write_transaction
pub(crate) async fn enqueue_all(
    conn: &mut DbConnection,
    jobs: &[NewJob],
) -> Result<Vec<Enqueued>, StoreError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let now = utc_now();

    // One statement may not upsert the same row twice (PostgreSQL rejects it), so repeated
    // keys merge here. The map also sorts the rows by key. PostgreSQL writes the rows of a
    // VALUES list in order, so two batches never lock shared pending jobs in opposite orders.
    let mut merged: BTreeMap<JobKey<'_>, PendingRow<'_>> = BTreeMap::new();
    for job in jobs {
        match merged.entry(key(job)) {
            btree_map::Entry::Vacant(entry) => {
                entry.insert(PendingRow::new(job, now));
            }
            btree_map::Entry::Occupied(mut entry) => {
                if let Some(payload) = job.payload.as_deref() {
                    entry.get_mut().payload = Some(payload);
                }
            }
        }
    }
    let rows: Vec<PendingRow<'_>> = merged.into_values().collect();

    let inserted_expression = match conn {
        // The row version written by `ON CONFLICT DO UPDATE` carries the updating
        // transaction's id in `xmax`, and a freshly inserted row has none. This is how
        // PostgreSQL's row versioning behaves, not a documented API. The tests check it.
        DbConnection::Postgres(_) => "(xmax = 0)".to_owned(),
        // Ids of an AUTOINCREMENT key only grow, and the caller's write transaction keeps
        // other writers out, so every id above the current maximum is a new row.
        DbConnection::Sqlite(_) => {
            let highest: Option<i64> = sync_jobs::table
                .select(diesel::dsl::max(sync_jobs::id))
                .first(conn)
                .await?;
            format!("(id > {})", highest.unwrap_or(0))
        }
    };

    let mut upserted = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(rows_per_statement(BINDS_PER_ROW, SHARED_BINDS)) {
        upserted.extend(upsert_chunk(conn, chunk, now, &inserted_expression).await?);
    }

    let outcome_of_key: HashMap<JobKey<'_>, Enqueued> = upserted
        .iter()
        .map(|row| {
            let outcome = if row.inserted {
                Enqueued::Inserted(row.id)
            } else {
                Enqueued::Coalesced(row.id)
            };
            let key = (
                row.entity.as_str(),
                row.direction.as_str(),
                row.record_id.as_str(),
            );
            (key, outcome)
        })
        .collect();
    let mut reported: HashSet<JobKey<'_>> = HashSet::with_capacity(jobs.len());
    jobs.iter()
        .map(|job| {
            // An upsert returns every row it inserted or updated, so the key is always there.
            let outcome = outcome_of_key
                .get(&key(job))
                .copied()
                .ok_or(StoreError::Query(diesel::result::Error::NotFound))?;
            if reported.insert(key(job)) {
                Ok(outcome)
            } else {
                Ok(Enqueued::Coalesced(outcome.job_id()))
            }
        })
        .collect()
}

async fn upsert_chunk(
    conn: &mut DbConnection,
    rows: &[PendingRow<'_>],
    now: NaiveDateTime,
    inserted_expression: &str,
) -> QueryResult<Vec<UpsertedJob>> {
    match conn {
        DbConnection::Postgres(c) => {
            let sql = upsert_sql(Backend::Postgres, rows.len(), inserted_expression);
            bind_rows::<Pg>(sql, now, rows).load(c).await
        }
        DbConnection::Sqlite(c) => {
            let sql = upsert_sql(Backend::Sqlite, rows.len(), inserted_expression);
            bind_rows::<Sqlite>(sql, now, rows).load(c).await
        }
    }
}

/// Builds the upsert of `rows` pending jobs. Parameter 1 is the current time, then each row
/// binds [`BINDS_PER_ROW`] values in the order of [`PendingRow`]'s fields.
fn upsert_sql(backend: Backend, rows: usize, inserted_expression: &str) -> String {
    let now = placeholder(backend, 1);
    let mut sql = String::with_capacity(300 + rows * (BINDS_PER_ROW * 8 + 30));
    sql.push_str(
        "INSERT INTO sync_jobs (entity, direction, record_id, kind_hint, event, source, \
         payload, run_at, status, attempts, created_at, updated_at) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        push_placeholders(
            &mut sql,
            backend,
            SHARED_BINDS + row * BINDS_PER_ROW + 1,
            BINDS_PER_ROW,
        );
        // Writing to a String cannot fail.
        let _ = write!(sql, ", 'pending', 0, {now}, {now})");
    }
    // The conflict target repeats the partial index's predicate, which both backends require
    // to match a partial index.
    sql.push_str(
        " ON CONFLICT (entity, direction, record_id) WHERE status = 'pending' \
         DO UPDATE SET payload = COALESCE(excluded.payload, sync_jobs.payload), \
         updated_at = excluded.updated_at \
         RETURNING id, entity, direction, record_id, ",
    );
    sql.push_str(inserted_expression);
    sql.push_str(" AS inserted");
    sql
}

fn bind_rows<'f, DB>(
    sql: String,
    now: NaiveDateTime,
    rows: &'f [PendingRow<'f>],
) -> BoxedSqlQuery<'f, DB, SqlQuery>
where
    DB: DieselBackend + HasSqlType<Text> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    let mut query = diesel::sql_query(sql)
        .into_boxed::<DB>()
        .bind::<Timestamp, _>(now);
    for row in rows {
        query = query
            .bind::<Text, _>(row.entity)
            .bind::<Text, _>(row.direction)
            .bind::<Text, _>(row.record_id)
            .bind::<Nullable<Text>, _>(row.kind_hint)
            .bind::<Text, _>(row.event)
            .bind::<Text, _>(row.source)
            .bind::<Nullable<Text>, _>(row.payload)
            .bind::<Timestamp, _>(row.run_at);
    }
    query
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use crate::store::testing::test_on_both_backends;
    use crate::store::{
        CRM_TO_SIAGH, Enqueued, JOB_PENDING, NewJob, RetryOutcome, SIAGH_TO_CRM, Store, StoreError,
    };

    const LEASE: Duration = Duration::from_secs(300);

    fn crm_change(record_id: &str) -> NewJob {
        NewJob {
            entity: "customer".to_owned(),
            record_id: record_id.to_owned(),
            kind_hint: None,
            event: "Update".to_owned(),
            source: "webhook".to_owned(),
            direction: CRM_TO_SIAGH.to_owned(),
            payload: None,
            run_at: None,
        }
    }

    fn siagh_change(record_id: &str, payload: Option<&str>) -> NewJob {
        NewJob {
            source: "poll".to_owned(),
            event: "Poll".to_owned(),
            direction: SIAGH_TO_CRM.to_owned(),
            payload: payload.map(str::to_owned),
            ..crm_change(record_id)
        }
    }

    async fn directions_wait_side_by_side(store: Store) {
        let crm = store.enqueue_job(crm_change("A")).await.unwrap();
        let siagh = store
            .enqueue_job(siagh_change("A", Some(r#"{"v":1}"#)))
            .await
            .unwrap();

        assert!(matches!(crm, Enqueued::Inserted(_)));
        assert!(matches!(siagh, Enqueued::Inserted(id) if id != crm.job_id()));
        assert_eq!(
            store.pending_job_for("customer", "A").await.unwrap(),
            Some(crm.job_id())
        );
        assert_eq!(
            store
                .pending_job_for_direction("customer", SIAGH_TO_CRM, "A")
                .await
                .unwrap(),
            Some(siagh.job_id())
        );
        assert_eq!(store.queue_stats().await.unwrap().pending, 2);
    }

    async fn claim_runs_one_direction_at_a_time(store: Store) {
        let crm = store.enqueue_job(crm_change("A")).await.unwrap().job_id();
        let siagh = store
            .enqueue_job(siagh_change("A", Some(r#"{"v":1}"#)))
            .await
            .unwrap()
            .job_id();

        let first = store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        let while_running = store.claim_jobs("customer", "w2", 10, LEASE).await.unwrap();
        store.complete_job(crm).await.unwrap();
        let after = store.claim_jobs("customer", "w2", 10, LEASE).await.unwrap();

        assert_eq!(first.len(), 1);
        assert_eq!(first[0].id, crm);
        assert_eq!(first[0].direction, CRM_TO_SIAGH);
        assert!(while_running.is_empty(), "claimed {while_running:?}");
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].id, siagh);
        assert_eq!(after[0].direction, SIAGH_TO_CRM);
        assert_eq!(after[0].payload.as_deref(), Some(r#"{"v":1}"#));
    }

    async fn coalesce_takes_newer_payload(store: Store) {
        let first = store
            .enqueue_job(siagh_change("A", Some(r#"{"v":1}"#)))
            .await
            .unwrap();
        let second = store
            .enqueue_job(siagh_change("A", Some(r#"{"v":2}"#)))
            .await
            .unwrap();
        let after_second = store.job(first.job_id()).await.unwrap().unwrap();
        let third = store.enqueue_job(siagh_change("A", None)).await.unwrap();
        let after_third = store.job(first.job_id()).await.unwrap().unwrap();

        assert!(matches!(first, Enqueued::Inserted(_)));
        assert_eq!(second, Enqueued::Coalesced(first.job_id()));
        assert_eq!(third, Enqueued::Coalesced(first.job_id()));
        assert_eq!(after_second.payload.as_deref(), Some(r#"{"v":2}"#));
        assert_eq!(after_third.payload.as_deref(), Some(r#"{"v":2}"#));
        assert_eq!(after_third.status, JOB_PENDING);
        assert_eq!(after_third.event, "Poll");
    }

    async fn claimed_job_keeps_its_payload(store: Store) {
        let first = store
            .enqueue_job(siagh_change("A", Some(r#"{"v":1}"#)))
            .await
            .unwrap()
            .job_id();
        store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();

        let second = store
            .enqueue_job(siagh_change("A", Some(r#"{"v":2}"#)))
            .await
            .unwrap();

        assert!(matches!(second, Enqueued::Inserted(id) if id != first));
        let running = store.job(first).await.unwrap().unwrap();
        assert_eq!(running.payload.as_deref(), Some(r#"{"v":1}"#));
        let waiting = store.job(second.job_id()).await.unwrap().unwrap();
        assert_eq!(waiting.payload.as_deref(), Some(r#"{"v":2}"#));
    }

    async fn retry_ignores_other_direction(store: Store) {
        let crm = store.enqueue_job(crm_change("A")).await.unwrap().job_id();
        store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        let siagh = store
            .enqueue_job(siagh_change("A", Some("{}")))
            .await
            .unwrap()
            .job_id();

        let outcome = store
            .retry_job(crm, crate::store::pool::utc_now(), "HTTP 503")
            .await
            .unwrap();

        assert_eq!(outcome, RetryOutcome::Rescheduled);
        assert_eq!(store.job(crm).await.unwrap().unwrap().status, JOB_PENDING);
        assert_eq!(store.job(siagh).await.unwrap().unwrap().status, JOB_PENDING);
    }

    async fn batch_merges_repeated_records(store: Store) {
        let jobs = vec![
            siagh_change("A", Some(r#"{"v":1}"#)),
            siagh_change("B", Some(r#"{"b":1}"#)),
            siagh_change("A", Some(r#"{"v":2}"#)),
            crm_change("A"),
        ];

        let results = store
            .enqueue_jobs_with_cursor(jobs, "finance", "1")
            .await
            .unwrap();

        assert_eq!(results.len(), 4);
        let a = results[0].job_id();
        assert!(matches!(results[0], Enqueued::Inserted(_)));
        assert!(matches!(results[1], Enqueued::Inserted(id) if id != a));
        assert_eq!(results[2], Enqueued::Coalesced(a));
        assert!(matches!(results[3], Enqueued::Inserted(id) if id != a));
        let job = store.job(a).await.unwrap().unwrap();
        assert_eq!(job.payload.as_deref(), Some(r#"{"v":2}"#));
        assert_eq!(job.direction, SIAGH_TO_CRM);
        assert_eq!(store.queue_stats().await.unwrap().pending, 3);
    }

    async fn unknown_direction_is_rejected(store: Store) {
        let error = store
            .enqueue_job(NewJob {
                direction: "sideways".to_owned(),
                ..crm_change("A")
            })
            .await
            .unwrap_err();

        assert!(
            matches!(
                error,
                StoreError::Query(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::CheckViolation,
                    _
                ))
            ),
            "unexpected error: {error}"
        );
        assert_eq!(store.queue_stats().await.unwrap().pending, 0);
    }

    test_on_both_backends!(
        directions_wait_side_by_side,
        claim_runs_one_direction_at_a_time,
        coalesce_takes_newer_payload,
        claimed_job_keeps_its_payload,
        retry_ignores_other_direction,
        batch_merges_repeated_records,
        unknown_direction_is_rejected,
    );
}
