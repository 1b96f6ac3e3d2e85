//! The `sync_log` table: the audit trail of every sync step, one row per decision.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::pool::{DbConnection, clamp_limit, utc_now};
use super::schema::sync_log;
use super::{Store, StoreError};

/// Direction of a sync step from the CRM to Siagh.
pub const CRM_TO_SIAGH: &str = "crm_to_siagh";
/// Direction of a sync step from Siagh to the CRM.
pub const SIAGH_TO_CRM: &str = "siagh_to_crm";

/// One row of `sync_log`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = sync_log)]
pub struct LogEntry {
    pub id: i64,
    /// The job that ran the step, when it ran from the queue.
    pub job_id: Option<i64>,
    pub entity: String,
    /// The record's id on the source side.
    pub record_id: String,
    /// [`CRM_TO_SIAGH`] or [`SIAGH_TO_CRM`].
    pub direction: String,
    /// Outcome of the step: `create`, `update`, `skip_unchanged`, `duplicate`,
    /// `retry_scheduled`, `dead_letter`, `adopted`, `uncertain`, `ignored`, …
    pub action: String,
    /// The source record as read (JSON).
    pub source_snapshot: Option<String>,
    /// The target record before the write (JSON).
    pub target_before: Option<String>,
    /// The target record as written (JSON).
    pub target_after: Option<String>,
    /// The record's id on the target side.
    pub target_id: Option<String>,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    #[serde(serialize_with = "super::utc_json::serialize")]
    pub created_at: NaiveDateTime,
}

/// An audit row to insert. [`LogEntry`] describes the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewLogEntry {
    pub job_id: Option<i64>,
    pub entity: String,
    pub record_id: String,
    pub direction: String,
    pub action: String,
    pub source_snapshot: Option<String>,
    pub target_before: Option<String>,
    pub target_after: Option<String>,
    pub target_id: Option<String>,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
}

/// Filter for [`Store::log_entries`]. Unset fields match every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFilter {
    pub entity: Option<String>,
    pub record_id: Option<String>,
    pub action: Option<String>,
    /// Only rows with a smaller id, to page backwards from the last row of a previous page.
    pub before_id: Option<i64>,
    /// Maximum number of rows.
    pub limit: i64,
}

impl Default for LogFilter {
    fn default() -> Self {
        Self {
            entity: None,
            record_id: None,
            action: None,
            before_id: None,
            limit: 100,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = sync_log)]
struct NewLogRow<'a> {
    job_id: Option<i64>,
    entity: &'a str,
    record_id: &'a str,
    direction: &'a str,
    action: &'a str,
    source_snapshot: Option<&'a str>,
    target_before: Option<&'a str>,
    target_after: Option<&'a str>,
    target_id: Option<&'a str>,
    error: Option<&'a str>,
    duration_ms: Option<i64>,
    created_at: NaiveDateTime,
}

/// Inserts an audit row and returns its id. Used on its own and inside
/// [`Store::finish_sync`].
pub(crate) async fn insert(conn: &mut DbConnection, entry: &NewLogEntry) -> QueryResult<i64> {
    let row = NewLogRow {
        job_id: entry.job_id,
        entity: &entry.entity,
        record_id: &entry.record_id,
        direction: &entry.direction,
        action: &entry.action,
        source_snapshot: entry.source_snapshot.as_deref(),
        target_before: entry.target_before.as_deref(),
        target_after: entry.target_after.as_deref(),
        target_id: entry.target_id.as_deref(),
        error: entry.error.as_deref(),
        duration_ms: entry.duration_ms,
        created_at: utc_now(),
    };
    diesel::insert_into(sync_log::table)
        .values(&row)
        .returning(sync_log::id)
        .get_result(conn)
        .await
}

impl Store {
    /// Appends an audit row and returns its id.
    pub async fn record(&self, entry: NewLogEntry) -> Result<i64, StoreError> {
        let mut conn = self.connection().await?;
        Ok(insert(&mut conn, &entry).await?)
    }

    /// Returns the audit rows that match `filter`, newest first.
    pub async fn log_entries(&self, filter: LogFilter) -> Result<Vec<LogEntry>, StoreError> {
        let mut conn = self.connection().await?;
        let mut query = sync_log::table
            .select(LogEntry::as_select())
            .order(sync_log::id.desc())
            .limit(clamp_limit(filter.limit))
            .into_boxed();
        if let Some(entity) = filter.entity {
            query = query.filter(sync_log::entity.eq(entity));
        }
        if let Some(record_id) = filter.record_id {
            query = query.filter(sync_log::record_id.eq(record_id));
        }
        if let Some(action) = filter.action {
            query = query.filter(sync_log::action.eq(action));
        }
        if let Some(before_id) = filter.before_id {
            query = query.filter(sync_log::id.lt(before_id));
        }
        Ok(query.load(&mut *conn).await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::testing::test_on_both_backends;

    fn entry(record_id: &str, action: &str) -> NewLogEntry {
        NewLogEntry {
            entity: "customer".to_owned(),
            record_id: record_id.to_owned(),
            direction: CRM_TO_SIAGH.to_owned(),
            action: action.to_owned(),
            ..NewLogEntry::default()
        }
    }

    async fn log_entries_filter_and_page(store: Store) {
        let first = store.record(entry("A", "create")).await.unwrap();
        let second = store.record(entry("B", "skip_unchanged")).await.unwrap();
        let third = store.record(entry("A", "update")).await.unwrap();

        let all = store.log_entries(LogFilter::default()).await.unwrap();
        let for_a = store
            .log_entries(LogFilter {
                record_id: Some("A".to_owned()),
                ..LogFilter::default()
            })
            .await
            .unwrap();
        let skips = store
            .log_entries(LogFilter {
                action: Some("skip_unchanged".to_owned()),
                ..LogFilter::default()
            })
            .await
            .unwrap();
        let older_page = store
            .log_entries(LogFilter {
                before_id: Some(third),
                limit: 1,
                ..LogFilter::default()
            })
            .await
            .unwrap();
        let other_entity = store
            .log_entries(LogFilter {
                entity: Some("quote".to_owned()),
                ..LogFilter::default()
            })
            .await
            .unwrap();

        let ids = |entries: &[LogEntry]| entries.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&all), vec![third, second, first]);
        assert_eq!(ids(&for_a), vec![third, first]);
        assert_eq!(ids(&skips), vec![second]);
        assert_eq!(ids(&older_page), vec![second]);
        assert!(other_entity.is_empty());
    }

    async fn record_keeps_every_field(store: Store) {
        let job_id = store
            .enqueue_job(crate::store::NewJob {
                entity: "customer".to_owned(),
                record_id: "A".to_owned(),
                kind_hint: None,
                event: "Update".to_owned(),
                source: "poll".to_owned(),
                direction: "crm_to_siagh".to_owned(),
                payload: None,
                run_at: None,
            })
            .await
            .unwrap()
            .job_id();
        let written = NewLogEntry {
            job_id: Some(job_id),
            entity: "customer".to_owned(),
            record_id: "A".to_owned(),
            direction: SIAGH_TO_CRM.to_owned(),
            action: "retry_scheduled".to_owned(),
            source_snapshot: Some("{}".to_owned()),
            target_before: Some(r#"{"a":1}"#.to_owned()),
            target_after: Some(r#"{"a":2}"#.to_owned()),
            target_id: Some("T-1".to_owned()),
            error: Some("HTTP 503".to_owned()),
            duration_ms: Some(1500),
        };

        let id = store.record(written.clone()).await.unwrap();

        let read = store.log_entries(LogFilter::default()).await.unwrap();
        assert_eq!(read.len(), 1);
        let row = &read[0];
        assert_eq!(row.id, id);
        let as_written = NewLogEntry {
            job_id: row.job_id,
            entity: row.entity.clone(),
            record_id: row.record_id.clone(),
            direction: row.direction.clone(),
            action: row.action.clone(),
            source_snapshot: row.source_snapshot.clone(),
            target_before: row.target_before.clone(),
            target_after: row.target_after.clone(),
            target_id: row.target_id.clone(),
            error: row.error.clone(),
            duration_ms: row.duration_ms,
        };
        assert_eq!(as_written, written);
    }

    test_on_both_backends!(log_entries_filter_and_page, record_keeps_every_field);
}
