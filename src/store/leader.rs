//! Leadership: at most one service instance at a time runs work such as a poller.
//!
//! On PostgreSQL the leader holds a session advisory lock, taken with `pg_try_advisory_lock`
//! on a connection opened for it outside the pool and kept in the [`Leadership`] guard. The
//! server keeps the lock while that session lives, so a holder that crashes, drops its guard
//! or loses its connection releases it. The `leases` table stays empty there.
//!
//! On SQLite the leader holds a row in `leases` with an expiry time. The lease is taken when
//! it is absent, expired or already held by the same holder. The leader must renew it before
//! it expires. A holder that stops without releasing blocks others until the expiry.

use std::fmt;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer};
use diesel::upsert::excluded;
use diesel::{IntoSql, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::pool::{per_backend, truncate_to_micros, utc_now, write_transaction};
use super::schema::leases;
use super::{Backend, Store, StoreError};

/// Maximum wait for the lock connection to respond to a renewal check. A connection that
/// does not respond in time is closed and the leadership counts as lost.
const RENEW_TIMEOUT: Duration = Duration::from_secs(5);

/// Prefix hashed with a leadership name, so the advisory lock keys of this service are
/// unlikely to collide with those of other applications sharing the database.
const LOCK_KEY_PREFIX: &str = "siagh-sync:";

/// The right to run the work named by [`Leadership::name`], held until released, dropped or
/// lost. Created by [`Store::try_lead`].
pub struct Leadership {
    name: String,
    holder: String,
    hold: Hold,
}

enum Hold {
    Postgres {
        /// The session that holds the lock, or `None` once it failed or was released.
        connection: Option<Box<AsyncPgConnection>>,
        key: i64,
    },
    Sqlite {
        store: Store,
        ttl: Duration,
        /// End of the lease as last written (UTC).
        expires_at: NaiveDateTime,
    },
}

impl fmt::Debug for Leadership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Leadership");
        debug
            .field("name", &self.name)
            .field("holder", &self.holder);
        match &self.hold {
            Hold::Postgres { connection, key } => debug
                .field("backend", &Backend::Postgres)
                .field("lock_key", key)
                .field("connected", &connection.is_some()),
            Hold::Sqlite {
                ttl, expires_at, ..
            } => debug
                .field("backend", &Backend::Sqlite)
                .field("ttl", ttl)
                .field("expires_at", expires_at),
        };
        debug.finish()
    }
}

#[derive(QueryableByName)]
struct LockOutcome {
    #[diesel(sql_type = Bool)]
    done: bool,
}

/// Returns the advisory lock key of `name`: the 64-bit FNV-1a hash of the prefixed name. The
/// hash is fixed by its definition, so every build and instance computes the same key,
/// which the standard library's hasher does not promise.
fn advisory_lock_key(name: &str) -> i64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET_BASIS;
    for byte in LOCK_KEY_PREFIX.bytes().chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    i64::from_be_bytes(hash.to_be_bytes())
}

fn lease_end(now: NaiveDateTime, ttl: Duration) -> NaiveDateTime {
    let ttl = TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX);
    truncate_to_micros(now.checked_add_signed(ttl).unwrap_or(NaiveDateTime::MAX))
}

#[derive(Insertable)]
#[diesel(table_name = leases)]
struct LeaseRow<'a> {
    name: &'a str,
    holder: &'a str,
    expires_at: NaiveDateTime,
}

impl Store {
    /// Tries to become the single holder of `name` (such as `finance_poller`) and returns
    /// the guard, or `None` while another holder has it.
    ///
    /// `holder` identifies this instance in the SQLite lease and in logs, and must differ
    /// between instances. `ttl` is the SQLite lease time; PostgreSQL ignores it, because its
    /// lock lasts as long as the guard's connection. On PostgreSQL each call opens a
    /// connection outside the pool, which the guard keeps.
    pub async fn try_lead(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Leadership>, StoreError> {
        let hold = match self.backend() {
            Backend::Postgres => self.try_advisory_lock(name).await?,
            Backend::Sqlite => self.try_lease(name, holder, ttl).await?,
        };
        let Some(hold) = hold else {
            tracing::debug!(
                leader.name = name,
                leader.holder = holder,
                "leadership is held elsewhere"
            );
            return Ok(None);
        };
        tracing::info!(
            leader.name = name,
            leader.holder = holder,
            "leadership acquired"
        );
        Ok(Some(Leadership {
            name: name.to_owned(),
            holder: holder.to_owned(),
            hold,
        }))
    }

    async fn try_advisory_lock(&self, name: &str) -> Result<Option<Hold>, StoreError> {
        let mut connection = self.dedicated_postgres_connection().await?;
        let key = advisory_lock_key(name);
        let locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS done")
            .bind::<BigInt, _>(key)
            .get_result::<LockOutcome>(&mut connection)
            .await?
            .done;
        // When another session holds the lock, dropping the connection here closes it.
        Ok(locked.then_some(Hold::Postgres {
            connection: Some(Box::new(connection)),
            key,
        }))
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Hold>, StoreError> {
        let mut conn = self.connection().await?;
        let expires_at = write_transaction(&mut conn, async |c| {
            let now = utc_now();
            let current: Option<(String, NaiveDateTime)> = leases::table
                .find(name)
                .select((leases::holder, leases::expires_at))
                .first(c)
                .await
                .optional()?;
            if let Some((current_holder, current_end)) = current
                && current_holder != holder
                && current_end > now
            {
                return Ok(None);
            }

            let row = LeaseRow {
                name,
                holder,
                expires_at: lease_end(now, ttl),
            };
            per_backend!(c, |c| {
                diesel::insert_into(leases::table)
                    .values(&row)
                    .on_conflict(leases::name)
                    .do_update()
                    .set((
                        leases::holder.eq(excluded(leases::holder)),
                        leases::expires_at.eq(excluded(leases::expires_at)),
                    ))
                    .execute(c)
                    .await
            })?;
            Ok(Some(row.expires_at))
        })
        .await?;
        Ok(expires_at.map(|expires_at| Hold::Sqlite {
            store: self.clone(),
            ttl,
            expires_at,
        }))
    }
}

impl Leadership {
    /// Returns the name of the work this guard leads.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Confirms that the leadership is still held, and returns `false` when it was lost.
    ///
    /// PostgreSQL: checks that the lock's connection still responds to a query, within 5
    /// seconds. A connection that fails or times out is closed, and this and every later call
    /// return `false`.
    ///
    /// SQLite: extends the lease to `ttl` from now, unless another holder took or removed it.
    /// An error means the lease state is unknown, so a holder that cannot renew must stop
    /// leading once its lease time has passed.
    pub async fn renew(&mut self) -> Result<bool, StoreError> {
        let lost_because = match &mut self.hold {
            Hold::Postgres { connection, .. } => check_lock_connection(connection).await.err(),
            Hold::Sqlite {
                store,
                ttl,
                expires_at,
            } => {
                let renewed =
                    renew_lease(store, &self.name, &self.holder, *ttl, expires_at).await?;
                (!renewed).then(|| "another holder took or removed the lease".to_owned())
            }
        };
        let Some(reason) = lost_because else {
            return Ok(true);
        };
        tracing::warn!(
            leader.name = %self.name,
            leader.holder = %self.holder,
            error = %reason,
            "leadership lost"
        );
        Ok(false)
    }

    /// Gives up the leadership: unlocks and closes the lock's connection on PostgreSQL, or
    /// deletes this holder's lease on SQLite.
    ///
    /// On PostgreSQL the connection closes even when the unlock fails, and closing it
    /// releases the lock as well.
    pub async fn release(mut self) -> Result<(), StoreError> {
        match &mut self.hold {
            Hold::Postgres { connection, key } => {
                if let Some(mut connection) = connection.take() {
                    diesel::sql_query("SELECT pg_advisory_unlock($1) AS done")
                        .bind::<BigInt, _>(*key)
                        .get_result::<LockOutcome>(&mut *connection)
                        .await?;
                }
            }
            Hold::Sqlite { store, .. } => {
                let mut conn = store.connection().await?;
                diesel::delete(
                    leases::table
                        .find(&self.name)
                        .filter(leases::holder.eq(&self.holder)),
                )
                .execute(&mut *conn)
                .await?;
            }
        }
        tracing::info!(
            leader.name = %self.name,
            leader.holder = %self.holder,
            "leadership released"
        );
        Ok(())
    }
}

/// Checks that the lock's session still responds, and closes a connection that fails or
/// does not respond in time. Returns the reason as `Err` when the lock is lost.
async fn check_lock_connection(
    connection: &mut Option<Box<AsyncPgConnection>>,
) -> Result<(), String> {
    let Some(session) = connection.as_mut() else {
        return Err("the lock's connection was closed earlier".to_owned());
    };
    let check = diesel::select(1_i32.into_sql::<Integer>()).get_result::<i32>(session);
    let failure = match tokio::time::timeout(RENEW_TIMEOUT, check).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(error)) => format!("the lock's connection failed: {error}"),
        Err(_) => format!(
            "the lock's connection did not respond within {} s",
            RENEW_TIMEOUT.as_secs()
        ),
    };
    // Dropping the connection ends the session, so the server releases the lock if it still
    // held it.
    *connection = None;
    Err(failure)
}

async fn renew_lease(
    store: &Store,
    name: &str,
    holder: &str,
    ttl: Duration,
    expires_at: &mut NaiveDateTime,
) -> Result<bool, StoreError> {
    let mut conn = store.connection().await?;
    let new_end = lease_end(utc_now(), ttl);
    let updated = diesel::update(leases::table.find(name).filter(leases::holder.eq(holder)))
        .set(leases::expires_at.eq(new_end))
        .execute(&mut *conn)
        .await?;
    if updated == 0 {
        return Ok(false);
    }
    *expires_at = new_end;
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::testing::{fresh_database, test_on_both_backends};

    const NAME: &str = "finance_poller";
    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn advisory_lock_key_is_fixed() {
        assert_eq!(advisory_lock_key(NAME), 5_504_486_067_346_059_132);
        assert_ne!(advisory_lock_key(NAME), advisory_lock_key("crm_poller"));
    }

    async fn second_holder_waits_for_release(store: Store) {
        let mut first = store.try_lead(NAME, "a", TTL).await.unwrap().unwrap();
        let while_held = store.try_lead(NAME, "b", TTL).await.unwrap();
        let other_name = store.try_lead("crm_poller", "b", TTL).await.unwrap();

        assert!(while_held.is_none());
        assert!(other_name.is_some());
        assert!(first.renew().await.unwrap());
        assert_eq!(first.name(), NAME);

        first.release().await.unwrap();
        let mut second = store.try_lead(NAME, "b", TTL).await.unwrap().unwrap();

        assert!(second.renew().await.unwrap());
        second.release().await.unwrap();
    }

    async fn debug_omits_database_location(store: Store) {
        let leadership = store.try_lead(NAME, "a", TTL).await.unwrap().unwrap();

        let debug = format!("{leadership:?}");

        assert!(debug.contains(NAME), "{debug}");
        assert!(!debug.contains("postgres://"), "{debug}");
        assert!(!debug.contains("store.db"), "{debug}");
        leadership.release().await.unwrap();
    }

    test_on_both_backends!(
        second_holder_waits_for_release,
        debug_omits_database_location
    );

    #[tokio::test(flavor = "multi_thread")]
    async fn dropped_guard_hands_over_postgres() {
        let database = fresh_database(Backend::Postgres).await;
        let store = database.store(2).await;
        let first = store.try_lead(NAME, "a", TTL).await.unwrap().unwrap();
        assert!(store.try_lead(NAME, "b", TTL).await.unwrap().is_none());

        drop(first);

        // The server releases the lock once it has ended the closed session.
        let mut second = None;
        for _ in 0..50 {
            second = store.try_lead(NAME, "b", TTL).await.unwrap();
            if second.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            second.is_some(),
            "the lock stayed held after the guard was dropped"
        );
        drop(second);
        database.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn lost_connection_ends_leadership_postgres() {
        let database = fresh_database(Backend::Postgres).await;
        let store = database.store(2).await;
        let mut first = store.try_lead(NAME, "a", TTL).await.unwrap().unwrap();

        crate::store::testing::execute_sql(
            &store,
            "SELECT pg_terminate_backend(locks.pid) FROM pg_locks AS locks \
             JOIN pg_database AS db ON db.oid = locks.database \
             WHERE locks.locktype = 'advisory' AND db.datname = current_database()",
        )
        .await
        .unwrap();

        assert!(!first.renew().await.unwrap());
        assert!(!first.renew().await.unwrap());
        let mut second = None;
        for _ in 0..50 {
            second = store.try_lead(NAME, "b", TTL).await.unwrap();
            if second.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(second.is_some(), "the lock outlived its session");
        drop(second);
        database.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn expired_lease_hands_over_sqlite() {
        let database = fresh_database(Backend::Sqlite).await;
        let store = database.store(2).await;
        let short = Duration::from_secs(1);
        let mut first = store.try_lead(NAME, "a", short).await.unwrap().unwrap();
        let before_expiry = store.try_lead(NAME, "b", TTL).await.unwrap();

        tokio::time::sleep(short + Duration::from_millis(50)).await;
        let after_expiry = store.try_lead(NAME, "b", TTL).await.unwrap();

        assert!(before_expiry.is_none());
        assert!(after_expiry.is_some());
        assert!(!first.renew().await.unwrap());
        assert!(store.try_lead(NAME, "a", TTL).await.unwrap().is_none());
        // Releasing a lost lease must not delete the new holder's row.
        first.release().await.unwrap();
        assert!(store.try_lead(NAME, "c", TTL).await.unwrap().is_none());
        database.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn renew_extends_lease_sqlite() {
        let database = fresh_database(Backend::Sqlite).await;
        let store = database.store(2).await;
        let short = Duration::from_secs(1);
        let mut first = store.try_lead(NAME, "a", short).await.unwrap().unwrap();

        // Three renewals span more than one lease time.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert!(first.renew().await.unwrap());
        }
        let while_renewed = store.try_lead(NAME, "b", TTL).await.unwrap();
        let same_holder = store.try_lead(NAME, "a", short).await.unwrap();

        assert!(while_renewed.is_none());
        assert!(same_holder.is_some());
        database.drop_database().await;
    }
}
