//! The `finance_seen` table: the last state of each Siagh contact the finance poller stored.
//!
//! Siagh serves contacts only in bulk (GetAll), so the poller finds changes by comparing each
//! contact's checksum with the one stored here. It loads every checksum once, keeps them in
//! memory, and writes back only the differences together with the jobs they cause.

use std::collections::HashMap;
use std::fmt::Write;

use chrono::NaiveDateTime;
use diesel::backend::Backend as DieselBackend;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel_async::RunQueryDsl;

use super::bulk::{MAX_BIND_PARAMS, placeholder, push_placeholders, rows_per_statement};
use super::enqueue::enqueue_all;
use super::pool::{DbConnection, utc_now, write_transaction};
use super::schema::finance_seen;
use super::{Backend, Enqueued, NewJob, Store, StoreError};

/// Parameters bound per row: code, checksum and snapshot.
const BINDS_PER_ROW: usize = 3;

/// Parameters bound once per statement: the current time, used as `seen_at`.
const SHARED_BINDS: usize = 1;

/// One row of `finance_seen`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = finance_seen)]
pub struct FinanceSeen {
    /// The contact's code in Siagh.
    pub code: String,
    /// Checksum of the contact's canonical form.
    pub checksum: String,
    /// The contact as stored (JSON).
    pub snapshot: String,
    /// When this checksum and snapshot were stored (UTC). Storing the same values again
    /// leaves it unchanged.
    pub seen_at: NaiveDateTime,
}

/// A contact's new state, written by [`Store::apply_finance_diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinanceSeenUpsert {
    pub code: String,
    pub checksum: String,
    /// The contact (JSON).
    pub snapshot: String,
}

impl Store {
    /// Returns the stored checksum of every contact, keyed by Siagh code, in one query.
    pub async fn load_finance_checksums(&self) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.connection().await?;
        let rows: Vec<(String, String)> = finance_seen::table
            .select((finance_seen::code, finance_seen::checksum))
            .load(&mut *conn)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Returns the stored state of the contact `code`, if there is one.
    pub async fn finance_seen(&self, code: &str) -> Result<Option<FinanceSeen>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(finance_seen::table
            .find(code)
            .select(FinanceSeen::as_select())
            .first(&mut *conn)
            .await
            .optional()?)
    }

    /// Stores one poll's differences in one transaction: upserts the checksum and snapshot of
    /// every `changed` contact, deletes the `removed` codes, and enqueues `jobs`. Returns one
    /// result per job, in order.
    ///
    /// Jobs are enqueued as [`Store::enqueue_job`] does it: a change joins the waiting job of
    /// its entity, direction and record, and replaces that job's payload.
    ///
    /// Rows are written with multi-row statements sized to the bind-parameter limit: 100,000
    /// contacts with one job each take 35 statements. When a code appears more than once in
    /// `changed`, the last entry wins. A code in both `changed` and `removed` ends up removed.
    /// Nothing is written when any part fails.
    pub async fn apply_finance_diff(
        &self,
        changed: Vec<FinanceSeenUpsert>,
        removed: Vec<String>,
        jobs: Vec<NewJob>,
    ) -> Result<Vec<Enqueued>, StoreError> {
        // A multi-row upsert may not touch one row twice, so duplicates go first.
        let mut latest: HashMap<&str, &FinanceSeenUpsert> = HashMap::with_capacity(changed.len());
        for contact in &changed {
            latest.insert(&contact.code, contact);
        }
        let mut contacts: Vec<&FinanceSeenUpsert> = latest.into_values().collect();
        // PostgreSQL writes the rows of a VALUES list in order. Sorting them keeps two
        // concurrent diffs from locking shared rows in opposite orders and deadlocking.
        contacts.sort_unstable_by(|a, b| a.code.cmp(&b.code));

        let mut conn = self.connection().await?;
        let enqueued = write_transaction(&mut conn, async |c| {
            let now = utc_now();
            for chunk in contacts.chunks(rows_per_statement(BINDS_PER_ROW, SHARED_BINDS)) {
                upsert_chunk(c, chunk, now).await?;
            }
            for chunk in removed.chunks(MAX_BIND_PARAMS) {
                diesel::delete(finance_seen::table.filter(finance_seen::code.eq_any(chunk)))
                    .execute(c)
                    .await?;
            }
            enqueue_all(c, &jobs).await
        })
        .await?;

        let coalesced = enqueued
            .iter()
            .filter(|outcome| matches!(outcome, Enqueued::Coalesced(_)))
            .count();
        tracing::debug!(
            finance.changed = contacts.len(),
            finance.removed = removed.len(),
            jobs.inserted = enqueued.len() - coalesced,
            jobs.coalesced = coalesced,
            "finance poll differences stored"
        );
        Ok(enqueued)
    }
}

async fn upsert_chunk(
    conn: &mut DbConnection,
    contacts: &[&FinanceSeenUpsert],
    now: NaiveDateTime,
) -> QueryResult<usize> {
    match conn {
        DbConnection::Postgres(c) => {
            let sql = upsert_sql(Backend::Postgres, contacts.len());
            bind_rows::<Pg>(sql, now, contacts).execute(c).await
        }
        DbConnection::Sqlite(c) => {
            let sql = upsert_sql(Backend::Sqlite, contacts.len());
            bind_rows::<Sqlite>(sql, now, contacts).execute(c).await
        }
    }
}

/// Builds the upsert of `rows` contacts. Parameter 1 is the current time, then each row binds
/// code, checksum and snapshot. A row whose values are already stored is left alone, so its
/// `seen_at` keeps the time those values were first stored.
fn upsert_sql(backend: Backend, rows: usize) -> String {
    let now = placeholder(backend, 1);
    let mut sql = String::with_capacity(300 + rows * 30);
    sql.push_str("INSERT INTO finance_seen (code, checksum, snapshot, seen_at) VALUES ");
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
        let _ = write!(sql, ", {now})");
    }
    sql.push_str(
        " ON CONFLICT (code) DO UPDATE SET checksum = excluded.checksum, \
         snapshot = excluded.snapshot, seen_at = excluded.seen_at \
         WHERE finance_seen.checksum <> excluded.checksum \
         OR finance_seen.snapshot <> excluded.snapshot",
    );
    sql
}

fn bind_rows<'f, DB>(
    sql: String,
    now: NaiveDateTime,
    contacts: &'f [&'f FinanceSeenUpsert],
) -> BoxedSqlQuery<'f, DB, SqlQuery>
where
    DB: DieselBackend + HasSqlType<Text> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    let mut query = diesel::sql_query(sql)
        .into_boxed::<DB>()
        .bind::<Timestamp, _>(now);
    for contact in contacts {
        query = query
            .bind::<Text, _>(contact.code.as_str())
            .bind::<Text, _>(contact.checksum.as_str())
            .bind::<Text, _>(contact.snapshot.as_str());
    }
    query
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::testing::test_on_both_backends;
    use crate::store::{JOB_PENDING, SIAGH_TO_CRM};

    fn contact(code: &str, checksum: &str) -> FinanceSeenUpsert {
        FinanceSeenUpsert {
            code: code.to_owned(),
            checksum: checksum.to_owned(),
            snapshot: format!(r#"{{"code":"{code}","sum":"{checksum}"}}"#),
        }
    }

    fn siagh_job(code: &str, payload: &str) -> NewJob {
        NewJob {
            entity: "customer".to_owned(),
            record_id: code.to_owned(),
            kind_hint: None,
            event: "Poll".to_owned(),
            source: "poll".to_owned(),
            direction: SIAGH_TO_CRM.to_owned(),
            payload: Some(payload.to_owned()),
            run_at: None,
        }
    }

    async fn diff_upserts_and_removes(store: Store) {
        store
            .apply_finance_diff(
                vec![contact("A", "a1"), contact("B", "b1"), contact("C", "c1")],
                Vec::new(),
                Vec::new(),
            )
            .await
            .unwrap();
        let a_before = store.finance_seen("A").await.unwrap().unwrap();

        let enqueued = store
            .apply_finance_diff(
                vec![contact("B", "b2"), contact("A", "a1")],
                vec!["C".to_owned(), "never-seen".to_owned()],
                vec![siagh_job("B", "{}")],
            )
            .await
            .unwrap();

        let checksums = store.load_finance_checksums().await.unwrap();
        assert_eq!(checksums.len(), 2);
        assert_eq!(checksums["A"], "a1");
        assert_eq!(checksums["B"], "b2");
        let b = store.finance_seen("B").await.unwrap().unwrap();
        assert_eq!(b.snapshot, r#"{"code":"B","sum":"b2"}"#);
        assert_eq!(store.finance_seen("A").await.unwrap().unwrap(), a_before);
        assert_eq!(store.finance_seen("C").await.unwrap(), None);
        assert_eq!(enqueued.len(), 1);
        let job = store.job(enqueued[0].job_id()).await.unwrap().unwrap();
        assert_eq!(job.direction, SIAGH_TO_CRM);
        assert_eq!(job.status, JOB_PENDING);
    }

    async fn repeated_code_keeps_last_entry(store: Store) {
        store
            .apply_finance_diff(
                vec![contact("A", "a1"), contact("A", "a2")],
                Vec::new(),
                Vec::new(),
            )
            .await
            .unwrap();

        let a = store.finance_seen("A").await.unwrap().unwrap();

        assert_eq!(a.checksum, "a2");
        assert_eq!(a.snapshot, r#"{"code":"A","sum":"a2"}"#);
    }

    async fn failed_diff_writes_nothing(store: Store) {
        let mut bad_job = siagh_job("A", "{}");
        bad_job.direction = "sideways".to_owned();

        let error = store
            .apply_finance_diff(vec![contact("A", "a1")], Vec::new(), vec![bad_job])
            .await
            .unwrap_err();

        assert!(matches!(error, StoreError::Query(_)), "{error}");
        assert!(store.load_finance_checksums().await.unwrap().is_empty());
        assert_eq!(store.queue_stats().await.unwrap().pending, 0);
    }

    /// Applies the first poll of a large Siagh database, where every contact is new and gets
    /// a job, then the same poll again.
    async fn large_diff_applies_once(store: Store) {
        const CONTACTS: usize = 100_000;
        let changed: Vec<_> = (0..CONTACTS)
            .map(|n| contact(&format!("C{n:06}"), &format!("sum-{n}")))
            .collect();
        let jobs: Vec<_> = changed
            .iter()
            .map(|contact| siagh_job(&contact.code, &contact.snapshot))
            .collect();

        let first = store
            .apply_finance_diff(changed.clone(), Vec::new(), jobs.clone())
            .await
            .unwrap();
        let sample_before = store.finance_seen("C054321").await.unwrap().unwrap();
        let second = store
            .apply_finance_diff(changed, Vec::new(), jobs)
            .await
            .unwrap();

        assert_eq!(first.len(), CONTACTS);
        assert!(
            first
                .iter()
                .all(|outcome| matches!(outcome, Enqueued::Inserted(_)))
        );
        let checksums = store.load_finance_checksums().await.unwrap();
        assert_eq!(checksums.len(), CONTACTS);
        assert_eq!(checksums["C000000"], "sum-0");
        assert_eq!(checksums["C099999"], "sum-99999");
        assert_eq!(sample_before.checksum, "sum-54321");
        assert_eq!(
            sample_before.snapshot,
            r#"{"code":"C054321","sum":"sum-54321"}"#
        );
        let job = store.job(first[54_321].job_id()).await.unwrap().unwrap();
        assert_eq!(job.record_id, "C054321");
        assert_eq!(
            job.payload.as_deref(),
            Some(sample_before.snapshot.as_str())
        );

        assert_eq!(second.len(), CONTACTS);
        let unchanged = first
            .iter()
            .zip(&second)
            .all(|(first, second)| *second == Enqueued::Coalesced(first.job_id()));
        assert!(unchanged, "the second call made new jobs");
        assert_eq!(store.queue_stats().await.unwrap().pending, CONTACTS as i64);
        assert_eq!(
            store.finance_seen("C054321").await.unwrap().unwrap(),
            sample_before
        );
    }

    test_on_both_backends!(
        diff_upserts_and_removes,
        repeated_code_keeps_last_entry,
        failed_diff_writes_nothing,
        large_diff_applies_once,
    );
}
