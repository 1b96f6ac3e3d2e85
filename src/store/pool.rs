//! Connections, the pool, migrations and transactions for both backends.
//!
//! One connection type, [`DbConnection`], covers PostgreSQL and SQLite, so most queries are
//! written once. SQL that only one backend's query builder accepts (upserts, locking clauses)
//! goes through [`per_backend!`], which expands the same body once per variant.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection};
use diesel::{Connection, ConnectionError, ConnectionResult, IntoSql, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, PoolError};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection, TransactionManager,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::StoreError;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Settings applied to every SQLite connection. WAL lets readers run beside the single writer,
/// and the busy timeout (milliseconds) makes a writer wait for the lock instead of failing.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON; \
     PRAGMA synchronous = NORMAL;";

/// Maximum wait for a pooled connection before [`StoreError::Pool`]. A webhook returns 503
/// after this wait, so it stays well below an HTTP client's timeout.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// The database engine behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL, for production and several service instances.
    Postgres,
    /// A SQLite file, the embedded default for a single instance.
    Sqlite,
}

/// A database URL resolved to its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DatabaseTarget {
    pub(crate) backend: Backend,
    /// The PostgreSQL URL, or the SQLite file path.
    pub(crate) location: String,
}

impl DatabaseTarget {
    /// Resolves `postgres://` and `postgresql://` URLs to PostgreSQL, and `sqlite://PATH` or a
    /// plain file path to SQLite. Any other scheme is rejected rather than taken as a file name.
    pub(crate) fn parse(database_url: &str) -> Result<Self, StoreError> {
        let trimmed = database_url.trim();
        let invalid = |reason: &str| StoreError::InvalidUrl {
            url: redact_url(trimmed),
            reason: reason.to_owned(),
        };
        if trimmed.is_empty() {
            return Err(invalid("the URL is empty"));
        }

        let Some((scheme, rest)) = trimmed.split_once("://") else {
            return Self::sqlite_file(trimmed).ok_or_else(|| invalid(MEMORY_DATABASE_REASON));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Ok(Self {
                backend: Backend::Postgres,
                location: trimmed.to_owned(),
            }),
            "sqlite" if rest.is_empty() => Err(invalid("the SQLite file path is missing")),
            "sqlite" => Self::sqlite_file(rest).ok_or_else(|| invalid(MEMORY_DATABASE_REASON)),
            other => Err(invalid(&format!("unsupported scheme '{other}'"))),
        }
    }

    fn sqlite_file(path: &str) -> Option<Self> {
        // Each pooled connection to `:memory:` would open its own empty database.
        if path == ":memory:" || path.starts_with("file::memory:") {
            return None;
        }
        Some(Self {
            backend: Backend::Sqlite,
            location: path.to_owned(),
        })
    }

    /// Returns the location with any password replaced, for messages and logs.
    pub(crate) fn redacted(&self) -> String {
        redact_url(&self.location)
    }
}

const MEMORY_DATABASE_REASON: &str =
    "an in-memory SQLite database cannot be shared by a connection pool; use a file path";

/// Replaces the password in a URL with `***`. Returns anything that is not a URL unchanged.
pub(crate) fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only URLs that cannot carry a password reject this, and they have none.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// One database connection of either backend.
///
/// Queries built with diesel's common DSL run on it directly. Backend-specific SQL matches on
/// the variant, usually through [`per_backend!`].
#[derive(diesel::MultiConnection)]
#[diesel_async]
#[allow(
    clippy::large_enum_variant,
    reason = "the derive needs each variant to be a connection type, so no Box"
)]
pub enum DbConnection {
    Postgres(AsyncPgConnection),
    Sqlite(AsyncSqliteConnection),
}

/// A synchronous SQLite connection run on tokio's blocking threads. The derive above needs the
/// type as a single path.
pub type AsyncSqliteConnection = SyncConnectionWrapper<SqliteConnection, BlockingThreads>;

/// Runs SQLite calls on tokio's blocking thread pool for [`AsyncSqliteConnection`].
///
/// When a caller drops a query future early (a timeout, a closed HTTP request), the drop waits
/// until the blocking call has finished, so the connection goes back to the pool unused and
/// with a readable transaction state. That wait blocks the dropping thread, for up to the
/// 5 s busy timeout when the call waits for SQLite's write lock. diesel-async's default waits with `block_in_place`,
/// which panics on a current-thread runtime such as actix's. This one blocks on a channel.
pub struct BlockingThreads {
    runtime: Option<tokio::runtime::Handle>,
}

impl SpawnBlocking for BlockingThreads {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            let error =
                "a SQLite connection was opened outside a tokio runtime; open it inside one";
            return futures::future::ready(Err(error.into())).boxed();
        };
        let (finished_sender, finished) = std::sync::mpsc::channel::<()>();
        let join = runtime.spawn_blocking(move || {
            // Dropped when `task` returns or when a shutting-down runtime discards the task,
            // which wakes a waiting `WaitOnDrop::drop` either way.
            let _finished_sender = finished_sender;
            task()
        });
        WaitOnDrop { join, finished }
            .map(|joined| joined.map_err(Box::from))
            .boxed()
    }

    fn get_runtime() -> Self {
        Self {
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

/// A blocking task's join handle whose drop waits for the task to end.
struct WaitOnDrop<R> {
    join: tokio::task::JoinHandle<R>,
    finished: std::sync::mpsc::Receiver<()>,
}

impl<R> Future for WaitOnDrop<R> {
    type Output = Result<R, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.join).poll(cx)
    }
}

impl<R> Drop for WaitOnDrop<R> {
    fn drop(&mut self) {
        if !self.join.is_finished() {
            // Returns once the task's sender is dropped; no message is ever sent.
            let _ = self.finished.recv();
        }
    }
}

/// Expands `$body` once per backend with `$conn` bound to that backend's own connection
/// (`&mut AsyncPgConnection` or `&mut AsyncSqliteConnection`).
///
/// Use it for SQL outside the backends' common DSL: `ON CONFLICT` upserts and locking clauses.
/// The second form takes a separate body per backend.
macro_rules! per_backend {
    ($connection:expr, |$conn:ident| $body:expr) => {
        match &mut *$connection {
            $crate::store::pool::DbConnection::Postgres($conn) => $body,
            $crate::store::pool::DbConnection::Sqlite($conn) => $body,
        }
    };
    (
        $connection:expr,
        postgres: |$pg:ident| $pg_body:expr,
        sqlite: |$lite:ident| $lite_body:expr $(,)?
    ) => {
        match &mut *$connection {
            $crate::store::pool::DbConnection::Postgres($pg) => $pg_body,
            $crate::store::pool::DbConnection::Sqlite($lite) => $lite_body,
        }
    };
}
pub(crate) use per_backend;

/// Runs `body` in one transaction and commits it when `body` returns `Ok`.
///
/// On SQLite the transaction starts with `BEGIN IMMEDIATE`, which takes the write lock up
/// front: a deferred transaction that reads and then writes fails with "database is locked"
/// when another connection wrote in between, and the busy timeout does not help there.
pub(crate) async fn write_transaction<R, F>(
    conn: &mut DbConnection,
    body: F,
) -> Result<R, StoreError>
where
    F: for<'c> AsyncFnOnce(&'c mut DbConnection) -> Result<R, StoreError>,
{
    match conn {
        DbConnection::Postgres(_) => {
            <DbConnection as AsyncConnection>::TransactionManager::begin_transaction(conn).await?;
        }
        DbConnection::Sqlite(sqlite) => {
            sqlite
                .spawn_blocking(|inner| {
                    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
                })
                .await?;
        }
    }

    match body(&mut *conn).await {
        Ok(value) => {
            <DbConnection as AsyncConnection>::TransactionManager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback_error) =
                <DbConnection as AsyncConnection>::TransactionManager::rollback_transaction(conn)
                    .await
            {
                // The pool discards a connection whose transaction state is broken.
                tracing::warn!(error = %rollback_error, "rolling back a store transaction failed");
            }
            Err(error)
        }
    }
}

async fn establish(backend: Backend, location: &str) -> ConnectionResult<DbConnection> {
    match backend {
        // NOTE: diesel-async 0.10 connects without TLS, so a server that requires TLS
        // (`sslmode=require`) rejects the connection. Only plain TCP has been run.
        Backend::Postgres => AsyncPgConnection::establish(location)
            .await
            .map(DbConnection::Postgres),
        Backend::Sqlite => {
            let mut conn = AsyncSqliteConnection::establish(location).await?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// The durable job queue and the record of sync state, on PostgreSQL or SQLite.
///
/// Cloning is cheap: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool<DbConnection>,
    backend: Backend,
    /// The URL or file the pool connects to, for connections kept outside the pool. It may
    /// contain a password, so it stays out of `Debug`.
    target: Arc<DatabaseTarget>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("pool", &self.pool.state())
            .finish()
    }
}

impl Store {
    /// Applies pending migrations for the URL's backend.
    ///
    /// The migration harness is synchronous, so it runs on a blocking thread. This works on a
    /// current-thread runtime, where diesel-async's own async harness panics.
    pub async fn migrate(database_url: &str) -> Result<(), StoreError> {
        let target = DatabaseTarget::parse(database_url)?;
        let redacted = target.redacted();
        let migration_error = |reason: String| StoreError::Migration {
            target: redacted.clone(),
            reason,
        };

        let task = tokio::task::spawn_blocking(move || run_migrations(&target));
        let applied = task
            .await
            .map_err(|join_error| migration_error(join_error.to_string()))?
            .map_err(migration_error)?;

        if applied.is_empty() {
            tracing::debug!(db.target = %redacted, "database schema is up to date");
        } else {
            tracing::info!(
                db.target = %redacted,
                migrations.applied = ?applied,
                "applied database migrations"
            );
        }
        Ok(())
    }

    /// Opens a pool of at most `max_connections` connections and checks that one connects.
    ///
    /// Run [`Store::migrate`] first: the pool does not create tables.
    pub async fn connect(database_url: &str, max_connections: u32) -> Result<Store, StoreError> {
        if max_connections == 0 {
            return Err(StoreError::InvalidPoolSize { max_connections });
        }
        let target = DatabaseTarget::parse(database_url)?;
        let backend = target.backend;

        let mut config = ManagerConfig::<DbConnection>::default();
        config.custom_setup = Box::new(move |location| establish(backend, location).boxed());
        let manager =
            AsyncDieselConnectionManager::new_with_config(target.location.clone(), config);
        // `min_idle(1)` makes `build` open a connection, so a wrong URL fails here.
        let pool = Pool::builder()
            .max_size(max_connections)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(manager)
            .await
            .map_err(|source| StoreError::Connect {
                target: target.redacted(),
                source,
            })?;

        tracing::info!(
            db.backend = ?backend,
            db.target = %target.redacted(),
            db.max_connections = max_connections,
            "database pool ready"
        );
        Ok(Store {
            pool,
            backend,
            target: Arc::new(target),
        })
    }

    /// Returns the backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `SELECT 1` on a pooled connection, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        diesel::select(1_i32.into_sql::<diesel::sql_types::Integer>())
            .get_result::<i32>(&mut *conn)
            .await?;
        Ok(())
    }

    /// Opens a PostgreSQL connection outside the pool, for state tied to one session such as
    /// an advisory lock. Fails with [`StoreError::Connect`] on a SQLite store.
    pub(crate) async fn dedicated_postgres_connection(
        &self,
    ) -> Result<AsyncPgConnection, StoreError> {
        AsyncPgConnection::establish(&self.target.location)
            .await
            .map_err(|error| StoreError::Connect {
                target: self.target.redacted(),
                source: PoolError::ConnectionError(error),
            })
    }

    /// Takes a connection from the pool.
    pub(crate) async fn connection(
        &self,
    ) -> Result<PooledConnection<'_, DbConnection>, StoreError> {
        Ok(self.pool.get().await?)
    }
}

/// Applies pending migrations with a blocking connection and returns the applied versions.
fn run_migrations(target: &DatabaseTarget) -> Result<Vec<String>, String> {
    let applied = match target.backend {
        Backend::Postgres => {
            // The wrapper drives the async connection with the runtime handle of the
            // blocking thread it runs on.
            let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(
                &target.location,
            )
            .map_err(|error| error.to_string())?;
            conn.run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(|error| error.to_string())?
                .iter()
                .map(ToString::to_string)
                .collect()
        }
        Backend::Sqlite => {
            let mut conn =
                SqliteConnection::establish(&target.location).map_err(|error| error.to_string())?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .map_err(|error| error.to_string())?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|error| error.to_string())?
                .iter()
                .map(ToString::to_string)
                .collect()
        }
    };
    Ok(applied)
}

/// Returns the current UTC time truncated to microseconds, the precision both backends keep.
pub(crate) fn utc_now() -> chrono::NaiveDateTime {
    truncate_to_micros(chrono::Utc::now().naive_utc())
}

/// Drops sub-microsecond digits, so a value reads back equal to what was written.
pub(crate) fn truncate_to_micros(time: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    time.trunc_subsecs(6)
}

/// Treats a negative limit as zero: PostgreSQL rejects `LIMIT -1` and SQLite reads it as "no
/// limit".
pub(crate) fn clamp_limit(limit: i64) -> i64 {
    limit.max(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::testing::{fresh_database, test_on_both_backends};
    use crate::store::{FinishedSync, JOB_DONE, LogFilter, NewJob, NewLogEntry, RetryOutcome};

    fn parse(url: &str) -> Result<DatabaseTarget, StoreError> {
        DatabaseTarget::parse(url)
    }

    #[test]
    fn parse_selects_postgres_by_scheme() {
        for url in [
            "postgres://u@h/db",
            "postgresql://u@h/db",
            "POSTGRES://u@h/db",
        ] {
            let target = parse(url).unwrap();

            assert_eq!(target.backend, Backend::Postgres, "{url}");
            assert_eq!(target.location, url);
        }
    }

    #[test]
    fn parse_selects_sqlite_for_scheme_or_path() {
        let cases = [
            (
                "sqlite:///var/lib/siagh/store.db",
                "/var/lib/siagh/store.db",
            ),
            ("sqlite://data/store.db", "data/store.db"),
            ("data/store.db", "data/store.db"),
            (r"C:\siagh\store.db", r"C:\siagh\store.db"),
        ];
        for (url, path) in cases {
            let target = parse(url).unwrap();

            assert_eq!(target.backend, Backend::Sqlite, "{url}");
            assert_eq!(target.location, path, "{url}");
        }
    }

    #[test]
    fn parse_rejects_unknown_scheme() {
        let error = parse("mysql://root:hunter2@db/siagh").unwrap_err();

        let message = error.to_string();
        assert!(matches!(error, StoreError::InvalidUrl { .. }));
        assert!(message.contains("unsupported scheme 'mysql'"), "{message}");
        assert!(message.contains("mysql://root:***@db/siagh"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn parse_rejects_empty_and_memory_urls() {
        for url in ["", "  ", "sqlite://", ":memory:", "sqlite://:memory:"] {
            let error = parse(url).unwrap_err();

            assert!(
                matches!(error, StoreError::InvalidUrl { .. }),
                "{url}: {error}"
            );
        }
    }

    #[test]
    fn redact_url_hides_password_only() {
        assert_eq!(
            redact_url("postgres://sync:secret@db:5432/siagh"),
            "postgres://sync:***@db:5432/siagh"
        );
        assert_eq!(
            redact_url("postgres://sync@db/siagh"),
            "postgres://sync@db/siagh"
        );
        assert_eq!(redact_url("data/store.db"), "data/store.db");
    }

    #[test]
    fn truncate_to_micros_drops_nanoseconds() {
        let time = chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .unwrap()
            .and_hms_nano_opt(10, 0, 0, 123_456_789)
            .unwrap();

        let truncated = truncate_to_micros(time);

        assert_eq!(truncated.and_utc().timestamp_subsec_nanos(), 123_456_000);
    }

    #[tokio::test]
    async fn connect_rejects_zero_pool_size() {
        let error = Store::connect("sqlite://unused.db", 0).await.unwrap_err();

        assert!(matches!(
            error,
            StoreError::InvalidPoolSize { max_connections: 0 }
        ));
    }

    #[tokio::test]
    async fn connect_fails_for_missing_sqlite_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("missing/store.db").display());

        let error = Store::connect(&url, 1).await.unwrap_err();

        assert!(matches!(error, StoreError::Connect { .. }), "{error}");
    }

    #[tokio::test]
    async fn connect_fails_for_unreachable_postgres() {
        // Port 1 on the loopback interface has no listener.
        let error = Store::connect("postgres://sync:secret@127.0.0.1:1/siagh", 1)
            .await
            .unwrap_err();

        let message = error.to_string();
        assert!(matches!(error, StoreError::Connect { .. }), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    /// Compiles only while the store's futures can move between threads, as `tokio::spawn`
    /// requires.
    #[allow(dead_code)]
    fn store_futures_are_send(
        store: &Store,
        done: FinishedSync,
        leadership: &mut crate::store::Leadership,
    ) {
        fn assert_send<T: Send>(_: T) {}
        assert_send(store.apply_finance_diff(Vec::new(), Vec::new(), Vec::new()));
        assert_send(store.load_finance_checksums());
        assert_send(store.enqueue_jobs_with_cursor(Vec::new(), "c", "1"));
        assert_send(store.begin_create_from_siagh("customer", "S", "person", "a"));
        assert_send(store.conflicts(10));
        assert_send(store.try_lead("l", "h", Duration::from_secs(1)));
        assert_send(leadership.renew());
        assert_send(store.finish_sync(done));
        assert_send(store.retry_job(1, utc_now(), "x"));
        assert_send(store.release_jobs("w"));
        assert_send(store.requeue_dead_job(1));
        assert_send(store.begin_create("customer", "c", "person", "a"));
        assert_send(store.log_entries(LogFilter::default()));
        assert_send(store.set_paused("all", true));
        assert_send(store.remember_crm_kind("c", "person"));
        assert_send(Store::migrate("x"));
    }

    async fn ping_succeeds(store: Store) {
        store.ping().await.unwrap();
    }

    test_on_both_backends!(ping_succeeds);

    async fn migrate_twice_is_a_no_op(backend: Backend) {
        let database = fresh_database(backend).await;
        let store = database.store(2).await;
        store.set_paused("customer", true).await.unwrap();

        Store::migrate(database.url()).await.unwrap();

        assert_eq!(store.backend(), backend);
        assert_eq!(store.paused_scopes().await.unwrap(), vec!["customer"]);
        database.drop_database().await;
    }

    /// Reverts the newest applied migration with a blocking connection.
    fn revert_last_migration(target: &DatabaseTarget) -> Result<String, String> {
        let reverted = match target.backend {
            Backend::Postgres => {
                let mut conn =
                    <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(
                        &target.location,
                    )
                    .map_err(|error| error.to_string())?;
                conn.revert_last_migration(POSTGRES_MIGRATIONS)
                    .map_err(|error| error.to_string())?
                    .to_string()
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&target.location)
                    .map_err(|error| error.to_string())?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(|error| error.to_string())?;
                conn.revert_last_migration(SQLITE_MIGRATIONS)
                    .map_err(|error| error.to_string())?
                    .to_string()
            }
        };
        Ok(reverted)
    }

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        let mut conn = store.connection().await.unwrap();
        diesel::sql_query(sql)
            .get_result::<Count>(&mut *conn)
            .await
            .unwrap()
            .n
    }

    fn change(record_id: &str, direction: &str, payload: Option<&str>) -> NewJob {
        NewJob {
            entity: "customer".to_owned(),
            record_id: record_id.to_owned(),
            kind_hint: None,
            event: "Update".to_owned(),
            source: "webhook".to_owned(),
            direction: direction.to_owned(),
            payload: payload.map(str::to_owned),
            run_at: None,
        }
    }

    /// Reverts the migrations down to and including the two-way sync one, with data in their
    /// tables, checks the schema they leave, and applies them again on top of the first
    /// migration's rows.
    async fn migrations_revert_and_reapply(backend: Backend) {
        let database = fresh_database(backend).await;
        let target = DatabaseTarget::parse(database.url()).unwrap();
        let store = database.store(2).await;
        let crm_job = store
            .enqueue_job(change("A", "crm_to_siagh", None))
            .await
            .unwrap()
            .job_id();
        store
            .enqueue_job(change("A", "siagh_to_crm", Some("{}")))
            .await
            .unwrap();
        store
            .enqueue_jobs_with_cursor(Vec::new(), "crm_poller", "1")
            .await
            .unwrap();
        drop(store);

        let reverted = tokio::task::spawn_blocking(move || {
            let newest = revert_last_migration(&target)?;
            let two_way = revert_last_migration(&target)?;
            Ok::<_, String>([newest, two_way])
        })
        .await
        .unwrap()
        .unwrap();

        assert_eq!(reverted, ["20261206000000", "20261205000000"]);
        let reverted_store = database.store(2).await;
        assert_eq!(
            count(&reverted_store, "SELECT COUNT(*) AS n FROM sync_jobs").await,
            1
        );
        for table in ["finance_seen", "poll_cursors", "conflicts", "leases"] {
            let query = format!("SELECT 1 FROM {table}");
            let missing = crate::store::testing::execute_sql(&reverted_store, &query).await;
            assert!(missing.is_err(), "{table} survived the revert");
        }
        let second_pending = crate::store::testing::execute_sql(
            &reverted_store,
            "INSERT INTO sync_jobs (entity, record_id, event, source, run_at) \
             VALUES ('customer', 'A', 'Update', 'webhook', CURRENT_TIMESTAMP)",
        )
        .await
        .unwrap_err();
        assert!(
            second_pending.is_unique_violation(),
            "the one-pending-job index is missing: {second_pending}"
        );
        drop(reverted_store);

        Store::migrate(database.url()).await.unwrap();

        let store = database.store(2).await;
        let kept = store.job(crm_job).await.unwrap().unwrap();
        assert_eq!(kept.direction, "crm_to_siagh");
        assert_eq!(kept.payload, None);
        let siagh_job = store
            .enqueue_job(change("A", "siagh_to_crm", Some("{}")))
            .await
            .unwrap();
        assert!(matches!(siagh_job, crate::store::Enqueued::Inserted(_)));
        assert_eq!(store.poll_cursor("crm_poller").await.unwrap(), None);
        database.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn migrations_revert_and_reapply_sqlite() {
        migrations_revert_and_reapply(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn migrations_revert_and_reapply_postgres() {
        migrations_revert_and_reapply(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn migrate_twice_is_a_no_op_sqlite() {
        migrate_twice_is_a_no_op(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn migrate_twice_is_a_no_op_postgres() {
        migrate_twice_is_a_no_op(Backend::Postgres).await;
    }

    /// Migrates, enqueues, claims and finishes a job on the runtime the actors use.
    async fn sync_step_on_current_thread(backend: Backend) {
        let database = fresh_database(backend).await;
        let store = database.store(2).await;
        let job_id = store
            .enqueue_job(NewJob {
                entity: "customer".to_owned(),
                record_id: "crm-1".to_owned(),
                kind_hint: None,
                event: "Insert".to_owned(),
                source: "webhook".to_owned(),
                direction: "crm_to_siagh".to_owned(),
                payload: None,
                run_at: None,
            })
            .await
            .unwrap()
            .job_id();

        let claimed = store
            .claim_jobs("customer", "w1", 10, Duration::from_secs(60))
            .await
            .unwrap();
        store
            .finish_sync(FinishedSync {
                job_id: Some(job_id),
                entity: "customer".to_owned(),
                crm_id: "crm-1".to_owned(),
                siagh_code: "S-1".to_owned(),
                crm_kind: "person".to_owned(),
                crm_checksum: "a".to_owned(),
                siagh_checksum: "b".to_owned(),
                base_snapshot: "{}".to_owned(),
                log: NewLogEntry {
                    job_id: Some(job_id),
                    entity: "customer".to_owned(),
                    record_id: "crm-1".to_owned(),
                    direction: "crm_to_siagh".to_owned(),
                    action: "create".to_owned(),
                    ..NewLogEntry::default()
                },
                conflicts: Vec::new(),
            })
            .await
            .unwrap();

        assert_eq!(claimed.len(), 1);
        assert_eq!(store.job(job_id).await.unwrap().unwrap().status, JOB_DONE);
        assert_eq!(
            store.log_entries(LogFilter::default()).await.unwrap().len(),
            1
        );
        database.drop_database().await;
    }

    /// Drops store calls part-way, some inside a transaction, on the runtime the actors use.
    async fn cancelled_calls_leave_store_usable(backend: Backend) {
        let database = fresh_database(backend).await;
        let store = database.store(2).await;
        let change = NewJob {
            entity: "customer".to_owned(),
            record_id: "crm-1".to_owned(),
            kind_hint: None,
            event: "Update".to_owned(),
            source: "webhook".to_owned(),
            direction: "crm_to_siagh".to_owned(),
            payload: None,
            run_at: None,
        };
        let job_id = store.enqueue_job(change.clone()).await.unwrap().job_id();

        for round in 0..200_u64 {
            let deadline = Duration::from_micros(20 + round * 10);
            let retry = store.retry_job(job_id, utc_now(), "timed out");
            let _ = tokio::time::timeout(deadline, retry).await;
            let _ = tokio::time::timeout(deadline, store.enqueue_job(change.clone())).await;
        }

        store.ping().await.unwrap();
        assert_eq!(
            store.retry_job(job_id, utc_now(), "x").await.unwrap(),
            RetryOutcome::Rescheduled
        );
        let claimed = store
            .claim_jobs("customer", "w1", 10, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].id, job_id);
        database.drop_database().await;
    }

    #[actix_rt::test]
    async fn cancelled_calls_leave_store_usable_sqlite() {
        cancelled_calls_leave_store_usable(Backend::Sqlite).await;
    }

    #[actix_rt::test]
    async fn cancelled_calls_leave_store_usable_postgres() {
        cancelled_calls_leave_store_usable(Backend::Postgres).await;
    }

    #[actix_rt::test]
    async fn sync_step_on_current_thread_sqlite() {
        sync_step_on_current_thread(Backend::Sqlite).await;
    }

    #[actix_rt::test]
    async fn sync_step_on_current_thread_postgres() {
        sync_step_on_current_thread(Backend::Postgres).await;
    }
}
