//! Typed messages the actors exchange. Messages are wake-ups and requests; the job rows in the
//! store carry the work itself, so a lost message loses nothing.

use actix::Message;

/// New or due jobs may be waiting in the store.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct JobsAvailable;

/// An operator paused or resumed a scope.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct PauseChanged {
    pub scope: String,
    pub paused: bool,
}

/// A job failed with a retryable error and needs a later attempt.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ScheduleRetry {
    pub job_id: i64,
    pub entity: String,
    pub record_id: String,
    /// Attempts made so far, including the one that just failed.
    pub attempts: u32,
    pub error: String,
}

/// The process is stopping: a poller gives up its leadership so another instance, or this
/// one restarted, can poll at once instead of waiting for the lease to expire.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct ReleaseLeadership;
