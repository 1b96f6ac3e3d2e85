//! Throwaway migrated databases for tests, one per test.
//!
//! SQLite databases live in a temporary directory removed on drop. PostgreSQL databases are
//! created as `siagh_sync_test_<uuid>` on the server named by `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped by
//! [`TestDatabase::drop_database`], or on drop when a test panics before that. An unreachable
//! server fails the test instead of skipping it.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{Backend, Store};

/// The environment variable naming the PostgreSQL server tests create their databases on.
pub const TEST_DATABASE_URL_VAR: &str = "TEST_DATABASE_URL";

/// The server used when [`TEST_DATABASE_URL_VAR`] is unset.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A migrated database that exists until the test ends.
#[derive(Debug)]
pub struct TestDatabase {
    backend: Backend,
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    /// Removing the directory removes the database file.
    Sqlite { _dir: tempfile::TempDir },
    Postgres {
        admin_url: String,
        name: String,
        dropped: bool,
    },
}

/// Creates and migrates an empty database on `backend`.
///
/// # Panics
///
/// When the database cannot be created or migrated, for example because PostgreSQL is not
/// reachable at [`TEST_DATABASE_URL_VAR`]. Tests must fail then, not pass without running.
pub async fn fresh_database(backend: Backend) -> TestDatabase {
    let database = match backend {
        Backend::Sqlite => fresh_sqlite(),
        Backend::Postgres => fresh_postgres().await,
    };
    if let Err(error) = Store::migrate(&database.url).await {
        panic!("migrating the test database failed: {error}");
    }
    database
}

fn fresh_sqlite() -> TestDatabase {
    let dir = tempfile::Builder::new()
        .prefix("siagh-sync-test-")
        .tempdir()
        .unwrap_or_else(|error| panic!("creating a temporary directory failed: {error}"));
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    TestDatabase {
        backend: Backend::Sqlite,
        url,
        cleanup: Cleanup::Sqlite { _dir: dir },
    }
}

async fn fresh_postgres() -> TestDatabase {
    let admin_url = std::env::var(TEST_DATABASE_URL_VAR)
        .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
    let name = format!("siagh_sync_test_{}", uuid::Uuid::new_v4().simple());

    let mut admin = AsyncPgConnection::establish(&admin_url)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "connecting to PostgreSQL at {} failed: {error}; start PostgreSQL or set {}",
                super::pool::redact_url(&admin_url),
                TEST_DATABASE_URL_VAR
            )
        });
    // `name` is built from a UUID, so it is a safe identifier.
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|error| panic!("creating test database {name} failed: {error}"));

    let mut url = url::Url::parse(&admin_url)
        .unwrap_or_else(|error| panic!("{TEST_DATABASE_URL_VAR} is not a valid URL: {error}"));
    url.set_path(&name);
    TestDatabase {
        backend: Backend::Postgres,
        url: url.to_string(),
        cleanup: Cleanup::Postgres {
            admin_url,
            name,
            dropped: false,
        },
    }
}

impl TestDatabase {
    /// Returns the URL to pass to [`Store::connect`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Returns the backend the database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens a [`Store`] with a pool of `max_connections` on this database.
    ///
    /// # Panics
    ///
    /// When the database does not accept connections.
    pub async fn store(&self, max_connections: u32) -> Store {
        Store::connect(&self.url, max_connections)
            .await
            .unwrap_or_else(|error| panic!("connecting to the test database failed: {error}"))
    }

    /// Drops the database, closing any connections still open to it.
    ///
    /// # Panics
    ///
    /// When PostgreSQL rejects the `DROP DATABASE`.
    pub async fn drop_database(mut self) {
        if let Cleanup::Postgres {
            admin_url,
            name,
            dropped,
        } = &mut self.cleanup
        {
            if let Err(error) = drop_postgres_database(admin_url, name).await {
                panic!("dropping test database {name} failed: {error}");
            }
            *dropped = true;
        }
    }
}

impl Drop for TestDatabase {
    /// Drops a PostgreSQL database that [`TestDatabase::drop_database`] did not, which
    /// happens when a test panics. Runs on its own thread and runtime because `drop` cannot
    /// await.
    fn drop(&mut self) {
        let Cleanup::Postgres {
            admin_url,
            name,
            dropped: false,
        } = &self.cleanup
        else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime
                .block_on(drop_postgres_database(&admin_url, &name))
                .map_err(|error| format!("dropping test database {name} failed: {error}"))
        })
        .join();
        if let Ok(Err(message)) = outcome {
            tracing::warn!("{message}");
        }
    }
}

async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<(), String> {
    let mut admin = AsyncPgConnection::establish(admin_url)
        .await
        .map_err(|error| error.to_string())?;
    // FORCE ends the connections a test's pool still holds.
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .map_err(|error| error.to_string())?;
    Ok(())
}

/// Runs `check` against a store on a fresh database of `backend`, then drops the database.
///
/// # Panics
///
/// When the database cannot be set up, or when `check` panics.
pub async fn with_store(backend: Backend, check: impl AsyncFnOnce(Store)) {
    let database = fresh_database(backend).await;
    let store = database.store(8).await;

    check(store).await;

    database.drop_database().await;
}

/// Generates, for each named `async fn(Store)` in scope, a module of the same name with one
/// test per backend.
#[cfg(test)]
macro_rules! test_on_both_backends {
    ($($check:ident),* $(,)?) => {
        $(
            mod $check {
                #[tokio::test(flavor = "multi_thread")]
                async fn sqlite() {
                    $crate::store::testing::with_store(
                        $crate::store::Backend::Sqlite,
                        super::$check,
                    )
                    .await;
                }

                #[tokio::test(flavor = "multi_thread")]
                async fn postgres() {
                    $crate::store::testing::with_store(
                        $crate::store::Backend::Postgres,
                        super::$check,
                    )
                    .await;
                }
            }
        )*
    };
}
#[cfg(test)]
pub(crate) use test_on_both_backends;

/// Runs raw SQL on `store`, for tests that break and repair the schema on purpose.
pub async fn execute_sql(store: &Store, sql: &str) -> Result<usize, super::StoreError> {
    let mut conn = store.connection().await?;
    Ok(diesel::sql_query(sql).execute(&mut *conn).await?)
}
