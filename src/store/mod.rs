//! The store: the durable job queue and the record of sync state.
//!
//! Every detected change becomes a row in `sync_jobs` before anything else happens, and
//! workers claim due jobs with a lease, so a crash or restart loses no work. The other tables
//! hold the links between CRM and Siagh records (`entity_links`), the audit trail
//! (`sync_log`), fields changed on both sides (`conflicts`), pause switches (`sync_control`)
//! and remembered CRM record kinds (`crm_kinds`). Pollers keep their cursors in
//! `poll_cursors`, the finance poller its last view of Siagh in `finance_seen`, and SQLite
//! instances their leadership leases in `leases`.
//!
//! [`Store`] is the only way in. It runs on PostgreSQL (a `postgres://` or `postgresql://`
//! URL) or on a SQLite file (`sqlite://PATH` or a plain path), with equivalent migrations for
//! each under `migrations/`. All timestamps are UTC `NaiveDateTime`s truncated to
//! microseconds. JSON is stored as text.
//!
//! [`testing`] creates a migrated throwaway database per test on either backend.

mod bulk;
mod conflicts;
mod control;
mod cursors;
mod enqueue;
mod error;
mod finance_seen;
mod jobs;
mod kinds;
mod leader;
mod links;
mod pool;
mod schema;
mod sync_log;
pub mod testing;
mod utc_json;

pub use conflicts::{Conflict, NewConflict, RESOLUTION_CRM, RESOLUTION_SIAGH};
pub use error::StoreError;
pub use finance_seen::{FinanceSeen, FinanceSeenUpsert};
pub use jobs::{
    Enqueued, JOB_DEAD, JOB_DONE, JOB_PENDING, JOB_RUNNING, Job, NewJob, QueueStats, RetryOutcome,
    SCOPE_ALL, SUPERSEDED,
};
pub use leader::Leadership;
pub use links::{FinishedSync, LINK_CREATING, LINK_LINKED, LINK_UNCERTAIN, Link};
pub use pool::{Backend, Store};
pub use sync_log::{CRM_TO_SIAGH, LogEntry, LogFilter, NewLogEntry, SIAGH_TO_CRM};
