//! The store: the durable job queue and the record of sync state.

mod control;
mod error;
mod jobs;
mod kinds;
mod links;
mod pool;
mod schema;
mod sync_log;

pub use error::StoreError;
pub use jobs::{
    Enqueued, JOB_DEAD, JOB_DONE, JOB_PENDING, JOB_RUNNING, Job, NewJob, QueueStats, RetryOutcome,
    SCOPE_ALL, SUPERSEDED,
};
pub use links::{FinishedSync, LINK_CREATING, LINK_LINKED, LINK_UNCERTAIN, Link};
pub use pool::{Backend, Store};
pub use sync_log::{CRM_TO_SIAGH, LogEntry, LogFilter, NewLogEntry, SIAGH_TO_CRM};
pub mod testing;
