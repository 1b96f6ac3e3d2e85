//! The `sync_control` table: pause switches per scope, kept across restarts.
//!
//! A scope is `all` or an entity name. While a scope is paused, [`Store::claim_jobs`] claims
//! nothing for it, and changes keep queueing as pending jobs.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::pool::{per_backend, utc_now};
use super::schema::sync_control;
use super::{Store, StoreError};

#[derive(Insertable)]
#[diesel(table_name = sync_control)]
struct ControlRow<'a> {
    scope: &'a str,
    paused: bool,
    updated_at: chrono::NaiveDateTime,
}

impl Store {
    /// Pauses or resumes `scope`. Setting the state it already has changes nothing but
    /// `updated_at`.
    pub async fn set_paused(&self, scope: &str, paused: bool) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let row = ControlRow {
            scope,
            paused,
            updated_at: utc_now(),
        };
        per_backend!(conn, |c| {
            diesel::insert_into(sync_control::table)
                .values(&row)
                .on_conflict(sync_control::scope)
                .do_update()
                .set((
                    sync_control::paused.eq(excluded(sync_control::paused)),
                    sync_control::updated_at.eq(excluded(sync_control::updated_at)),
                ))
                .execute(c)
                .await
        })?;
        tracing::info!(scope, paused, "sync pause state set");
        Ok(())
    }

    /// Returns the paused scopes in alphabetical order.
    pub async fn paused_scopes(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(sync_control::table
            .filter(sync_control::paused.eq(true))
            .select(sync_control::scope)
            .order(sync_control::scope)
            .load(&mut *conn)
            .await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::testing::test_on_both_backends;

    async fn set_paused_is_idempotent(store: Store) {
        store.set_paused("customer", true).await.unwrap();
        store.set_paused("customer", true).await.unwrap();
        store.set_paused("all", true).await.unwrap();

        assert_eq!(
            store.paused_scopes().await.unwrap(),
            vec!["all", "customer"]
        );

        store.set_paused("customer", false).await.unwrap();
        store.set_paused("customer", false).await.unwrap();
        store.set_paused("quote", false).await.unwrap();

        assert_eq!(store.paused_scopes().await.unwrap(), vec!["all"]);
    }

    test_on_both_backends!(set_paused_is_idempotent);
}
