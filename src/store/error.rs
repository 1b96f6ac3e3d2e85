//! The store's error type.

use diesel_async::pooled_connection::PoolError;
use diesel_async::pooled_connection::bb8::RunError;

/// Everything that can go wrong between the service and its database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no supported backend or no usable file.
    #[error(
        "invalid database URL '{url}': {reason}; use postgres://USER@HOST/DB, \
         sqlite://PATH or a plain file path"
    )]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        reason: String,
    },

    /// The pool was asked for zero connections.
    #[error("invalid database pool size {max_connections}: it must be at least 1")]
    InvalidPoolSize { max_connections: u32 },

    /// The first connection could not be opened.
    #[error(
        "could not connect to database '{target}': {source}; check that the server \
         is running, the URL is right and, for SQLite, that the directory exists"
    )]
    Connect {
        /// The URL or file path, password replaced by `***`.
        target: String,
        #[source]
        source: PoolError,
    },

    /// No pooled connection became available, or a new one could not be opened.
    #[error("no database connection available: {0}; the database may be down or overloaded")]
    Pool(#[from] RunError),

    /// A statement failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),

    /// Applying the embedded migrations failed.
    #[error("migrating database '{target}' failed: {reason}")]
    Migration {
        /// The URL or file path, password replaced by `***`.
        target: String,
        reason: String,
    },

    /// An update or lookup by primary key found no row.
    #[error("no row with id {id} in {table}; the id is wrong or the row was deleted")]
    NotFound { table: &'static str, id: i64 },

    /// A retry was requested for a job that has already finished.
    #[error("job {id} is already '{status}'; only a pending or running job can be retried")]
    JobFinished { id: i64, status: String },

    /// Concurrent writers kept changing the same rows. Retrying the operation may succeed.
    #[error("{operation} gave up after {attempts} attempts because of concurrent changes")]
    Contention {
        operation: &'static str,
        attempts: u32,
    },
}

impl StoreError {
    /// Tells whether the error is a unique-constraint violation, which concurrent writers
    /// cause and which a retry of the whole operation resolves.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}
