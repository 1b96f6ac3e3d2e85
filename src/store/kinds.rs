//! The `crm_kinds` table: whether a CRM id belongs to a person or an organization.
//!
//! The CRM serves the two kinds from different endpoints and a webhook does not always say
//! which one changed, so the kind learned from one lookup is kept for the next.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::pool::{per_backend, utc_now};
use super::schema::crm_kinds;
use super::{Store, StoreError};

#[derive(Insertable)]
#[diesel(table_name = crm_kinds)]
struct KindRow<'a> {
    crm_id: &'a str,
    kind: &'a str,
    updated_at: chrono::NaiveDateTime,
}

impl Store {
    /// Returns the remembered kind (`person` or `organization`) of a CRM id.
    pub async fn crm_kind(&self, crm_id: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(crm_kinds::table
            .find(crm_id)
            .select(crm_kinds::kind)
            .first(&mut *conn)
            .await
            .optional()?)
    }

    /// Remembers the kind of a CRM id, replacing any earlier value.
    pub async fn remember_crm_kind(&self, crm_id: &str, kind: &str) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let row = KindRow {
            crm_id,
            kind,
            updated_at: utc_now(),
        };
        per_backend!(conn, |c| {
            diesel::insert_into(crm_kinds::table)
                .values(&row)
                .on_conflict(crm_kinds::crm_id)
                .do_update()
                .set((
                    crm_kinds::kind.eq(excluded(crm_kinds::kind)),
                    crm_kinds::updated_at.eq(excluded(crm_kinds::updated_at)),
                ))
                .execute(c)
                .await
        })?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::testing::test_on_both_backends;

    async fn remembered_kind_is_replaced(store: Store) {
        assert_eq!(store.crm_kind("crm-1").await.unwrap(), None);

        store.remember_crm_kind("crm-1", "person").await.unwrap();
        assert_eq!(
            store.crm_kind("crm-1").await.unwrap().as_deref(),
            Some("person")
        );

        store
            .remember_crm_kind("crm-1", "organization")
            .await
            .unwrap();
        assert_eq!(
            store.crm_kind("crm-1").await.unwrap().as_deref(),
            Some("organization")
        );
    }

    test_on_both_backends!(remembered_kind_is_replaced);
}
