//! The `poll_cursors` table: how far each poller has read, kept across restarts.
//!
//! A cursor moves only in the transaction that stores the jobs found up to it, so a crash
//! either keeps both or loses both, and the next poll reads the same changes again.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::enqueue::enqueue_all;
use super::pool::{per_backend, utc_now, write_transaction};
use super::schema::poll_cursors;
use super::{Enqueued, NewJob, Store, StoreError};

#[derive(Insertable)]
#[diesel(table_name = poll_cursors)]
struct CursorRow<'a> {
    name: &'a str,
    value: &'a str,
    updated_at: chrono::NaiveDateTime,
}

impl Store {
    /// Returns the saved value of the cursor `name`, or `None` before its first save.
    pub async fn poll_cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(poll_cursors::table
            .find(name)
            .select(poll_cursors::value)
            .first(&mut *conn)
            .await
            .optional()?)
    }

    /// Enqueues `jobs` as [`Store::enqueue_job`] would and sets the cursor `cursor_name` to
    /// `cursor_value`, in one transaction. Returns one result per job, in order.
    ///
    /// When any job fails to store, the cursor keeps its previous value and no job is stored.
    pub async fn enqueue_jobs_with_cursor(
        &self,
        jobs: Vec<NewJob>,
        cursor_name: &str,
        cursor_value: &str,
    ) -> Result<Vec<Enqueued>, StoreError> {
        let mut conn = self.connection().await?;
        let enqueued = write_transaction(&mut conn, async |c| {
            let row = CursorRow {
                name: cursor_name,
                value: cursor_value,
                updated_at: utc_now(),
            };
            per_backend!(c, |c| {
                diesel::insert_into(poll_cursors::table)
                    .values(&row)
                    .on_conflict(poll_cursors::name)
                    .do_update()
                    .set((
                        poll_cursors::value.eq(excluded(poll_cursors::value)),
                        poll_cursors::updated_at.eq(excluded(poll_cursors::updated_at)),
                    ))
                    .execute(c)
                    .await
            })?;
            enqueue_all(c, &jobs).await
        })
        .await?;

        let coalesced = enqueued
            .iter()
            .filter(|outcome| matches!(outcome, Enqueued::Coalesced(_)))
            .count();
        tracing::debug!(
            cursor.name = cursor_name,
            cursor.value = cursor_value,
            jobs.inserted = enqueued.len() - coalesced,
            jobs.coalesced = coalesced,
            "poll jobs and cursor stored"
        );
        Ok(enqueued)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::testing::test_on_both_backends;
    use crate::store::{CRM_TO_SIAGH, JOB_PENDING};

    fn change(record_id: &str, direction: &str) -> NewJob {
        NewJob {
            entity: "customer".to_owned(),
            record_id: record_id.to_owned(),
            kind_hint: Some("Person".to_owned()),
            event: "Poll".to_owned(),
            source: "poll".to_owned(),
            direction: direction.to_owned(),
            payload: None,
            run_at: None,
        }
    }

    async fn cursor_moves_with_jobs(store: Store) {
        assert_eq!(store.poll_cursor("crm_poller").await.unwrap(), None);

        let first = store
            .enqueue_jobs_with_cursor(vec![change("A", CRM_TO_SIAGH)], "crm_poller", "100")
            .await
            .unwrap();
        let second = store
            .enqueue_jobs_with_cursor(Vec::new(), "crm_poller", "200")
            .await
            .unwrap();

        assert_eq!(first.len(), 1);
        let job = store.job(first[0].job_id()).await.unwrap().unwrap();
        assert_eq!(job.status, JOB_PENDING);
        assert_eq!(job.kind_hint.as_deref(), Some("Person"));
        assert!(second.is_empty());
        assert_eq!(
            store.poll_cursor("crm_poller").await.unwrap().as_deref(),
            Some("200")
        );
        assert_eq!(store.poll_cursor("other").await.unwrap(), None);
    }

    async fn failed_job_keeps_cursor(store: Store) {
        store
            .enqueue_jobs_with_cursor(Vec::new(), "crm_poller", "100")
            .await
            .unwrap();
        // The CHECK constraint on `direction` rejects the second job's row.
        let jobs = vec![change("A", CRM_TO_SIAGH), change("B", "sideways")];

        let error = store
            .enqueue_jobs_with_cursor(jobs, "crm_poller", "200")
            .await
            .unwrap_err();

        assert!(matches!(error, StoreError::Query(_)), "{error}");
        assert_eq!(
            store.poll_cursor("crm_poller").await.unwrap().as_deref(),
            Some("100")
        );
        assert_eq!(store.pending_job_for("customer", "A").await.unwrap(), None);
        assert_eq!(store.queue_stats().await.unwrap().pending, 0);
    }

    test_on_both_backends!(cursor_moves_with_jobs, failed_job_keeps_cursor);
}
