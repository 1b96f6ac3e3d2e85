//! The `conflicts` table: fields that changed on both sides since the last sync, and which
//! side's value the merge kept.
//!
//! Rows are written with the sync step that resolved them ([`Store::finish_sync`]) and read
//! by the admin API.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::pool::{DbConnection, clamp_limit, utc_now};
use super::schema::conflicts;
use super::{Store, StoreError};

/// Resolution of a conflict that kept the CRM's value.
pub const RESOLUTION_CRM: &str = "crm";
/// Resolution of a conflict that kept Siagh's value.
pub const RESOLUTION_SIAGH: &str = "siagh";

/// One row of `conflicts`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = conflicts)]
pub struct Conflict {
    pub id: i64,
    pub entity: String,
    pub crm_id: Option<String>,
    pub siagh_code: Option<String>,
    /// Name of the field in the canonical form.
    pub field: String,
    /// The field's value at the last sync.
    pub base_value: Option<String>,
    pub crm_value: Option<String>,
    pub siagh_value: Option<String>,
    /// [`RESOLUTION_CRM`] or [`RESOLUTION_SIAGH`]: the side whose value was kept.
    pub resolution: String,
    /// Name of the merge policy that decided, as the sync engine reports it.
    pub policy: String,
    /// The job whose sync step found the conflict.
    pub job_id: Option<i64>,
    #[serde(serialize_with = "super::utc_json::serialize")]
    pub created_at: NaiveDateTime,
}

/// A conflict to store with [`super::FinishedSync`]. [`Conflict`] describes the fields. The
/// job id comes from the finished sync step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewConflict {
    pub entity: String,
    pub crm_id: Option<String>,
    pub siagh_code: Option<String>,
    pub field: String,
    pub base_value: Option<String>,
    pub crm_value: Option<String>,
    pub siagh_value: Option<String>,
    /// [`RESOLUTION_CRM`] or [`RESOLUTION_SIAGH`]. The database rejects any other value.
    pub resolution: String,
    pub policy: String,
}

#[derive(Insertable)]
#[diesel(table_name = conflicts)]
struct ConflictRow<'a> {
    entity: &'a str,
    crm_id: Option<&'a str>,
    siagh_code: Option<&'a str>,
    field: &'a str,
    base_value: Option<&'a str>,
    crm_value: Option<&'a str>,
    siagh_value: Option<&'a str>,
    resolution: &'a str,
    policy: &'a str,
    job_id: Option<i64>,
    created_at: NaiveDateTime,
}

/// Inserts `found` with `job_id`. Used inside [`Store::finish_sync`].
pub(crate) async fn insert_all(
    conn: &mut DbConnection,
    found: &[NewConflict],
    job_id: Option<i64>,
) -> QueryResult<()> {
    let now = utc_now();
    // A sync step finds at most one conflict per field, so one insert per row is cheap.
    for conflict in found {
        let row = ConflictRow {
            entity: &conflict.entity,
            crm_id: conflict.crm_id.as_deref(),
            siagh_code: conflict.siagh_code.as_deref(),
            field: &conflict.field,
            base_value: conflict.base_value.as_deref(),
            crm_value: conflict.crm_value.as_deref(),
            siagh_value: conflict.siagh_value.as_deref(),
            resolution: &conflict.resolution,
            policy: &conflict.policy,
            job_id,
            created_at: now,
        };
        diesel::insert_into(conflicts::table)
            .values(&row)
            .execute(conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Returns up to `limit` conflicts, newest first.
    pub async fn conflicts(&self, limit: i64) -> Result<Vec<Conflict>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(conflicts::table
            .order((conflicts::created_at.desc(), conflicts::id.desc()))
            .limit(clamp_limit(limit))
            .select(Conflict::as_select())
            .load(&mut *conn)
            .await?)
    }
}
