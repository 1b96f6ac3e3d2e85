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

    /// Returns the cursors whose name starts with `prefix`, as `(name, value)` pairs sorted
    /// by name.
    pub async fn poll_cursors_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.connection().await?;
        let pattern = format!("{}%", escape_like(prefix));
        let rows: Vec<(String, String)> = per_backend!(conn, |c| {
            poll_cursors::table
                .filter(poll_cursors::name.like(&pattern).escape('\\'))
                .select((poll_cursors::name, poll_cursors::value))
                .order(poll_cursors::name)
                .load(c)
                .await
        })?;
        // SQLite's LIKE ignores ASCII case.
        Ok(rows
            .into_iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .collect())
    }

    /// Creates the cursor `name` with `value` unless it exists, in which case it keeps its
    /// value. Returns whether the cursor was created.
    pub async fn create_poll_cursor(&self, name: &str, value: &str) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        let row = CursorRow {
            name,
            value,
            updated_at: utc_now(),
        };
        let inserted = per_backend!(conn, |c| {
            diesel::insert_into(poll_cursors::table)
                .values(&row)
                .on_conflict(poll_cursors::name)
                .do_nothing()
                .execute(c)
                .await
        })?;
        Ok(inserted == 1)
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

/// Escapes the `LIKE` wildcards `%` and `_` (and the escape character) in `text`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
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

    async fn created_cursor_keeps_existing_value(store: Store) {
        assert!(store.create_poll_cursor("quote:PI_5", "100").await.unwrap());
        assert!(!store.create_poll_cursor("quote:PI_5", "300").await.unwrap());
        store
            .enqueue_jobs_with_cursor(Vec::new(), "quote:PI_5", "200")
            .await
            .unwrap();

        assert_eq!(
            store.poll_cursor("quote:PI_5").await.unwrap().as_deref(),
            Some("200")
        );
    }

    async fn prefix_lists_matching_cursors_only(store: Store) {
        for name in [
            "quote:PI_5",
            "quote:Productinvoice",
            "quoteXPI",
            "QUOTE:PI_6",
            "crm:person",
        ] {
            store.create_poll_cursor(name, "1").await.unwrap();
        }

        let names: Vec<String> = store
            .poll_cursors_with_prefix("quote:")
            .await
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let underscore: Vec<String> = store
            .poll_cursors_with_prefix("quote_")
            .await
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();

        assert_eq!(names, ["quote:PI_5", "quote:Productinvoice"]);
        assert!(
            underscore.is_empty(),
            "`_` is not a wildcard: {underscore:?}"
        );
    }

    test_on_both_backends!(
        cursor_moves_with_jobs,
        failed_job_keeps_cursor,
        created_cursor_keeps_existing_value,
        prefix_lists_matching_cursors_only
    );
}
