//! The `sync_jobs` table: the durable inbox every detected change goes through.
//!
//! A job is `pending` until a worker claims it (`running`, with a lease), then `done` or
//! `dead`. Each job has a direction, the side its change came from. A partial unique index
//! allows one `pending` job per record and direction, so repeated deliveries for a waiting
//! record merge into its job while a change from the other side gets a job of its own. Jobs of
//! one record run one at a time, oldest first, whatever their direction.
//!
//! NOTE: finished jobs are kept forever. Nothing deletes old `done` rows yet, so the table
//! and its indexes grow with every change synced.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, exists, min, not};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::enqueue;
use super::pool::{
    DbConnection, clamp_limit, per_backend, truncate_to_micros, utc_now, write_transaction,
};
use super::schema::{sync_control, sync_jobs};
use super::sync_log::CRM_TO_SIAGH;
use super::{Store, StoreError};

/// Status of a job waiting to be claimed.
pub const JOB_PENDING: &str = "pending";
/// Status of a job a worker has claimed and holds a lease on.
pub const JOB_RUNNING: &str = "running";
/// Status of a finished job, synced or merged into another job.
pub const JOB_DONE: &str = "done";
/// Status of a job that failed permanently or ran out of retries.
pub const JOB_DEAD: &str = "dead";

/// The `sync_control` scope that pauses every entity.
pub const SCOPE_ALL: &str = "all";

/// Prefix of `last_error` on a job that was closed because another pending job of the same
/// record took over its work.
pub const SUPERSEDED: &str = "superseded";

/// One row of `sync_jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = sync_jobs)]
pub struct Job {
    pub id: i64,
    /// Entity type, such as `customer` or `quote`.
    pub entity: String,
    /// The record's id on the side the change came from (the CRM id for webhooks).
    pub record_id: String,
    /// The webhook's subtype, when the delivery carried one.
    pub kind_hint: Option<String>,
    /// `Insert`, `Update`, `Delete` or `Poll`.
    pub event: String,
    /// `webhook`, `poll` or `manual`.
    pub source: String,
    /// The side the change came from: [`CRM_TO_SIAGH`] or
    /// [`SIAGH_TO_CRM`](crate::store::SIAGH_TO_CRM).
    pub direction: String,
    /// The source record as detected (JSON), for sources that cannot be read per record,
    /// such as Siagh contacts. `None` means the worker reads the record fresh.
    pub payload: Option<String>,
    /// One of [`JOB_PENDING`], [`JOB_RUNNING`], [`JOB_DONE`], [`JOB_DEAD`].
    pub status: String,
    /// Retryable failures so far; a job dead-lettered on its first, permanent failure shows 0.
    pub attempts: i32,
    /// Earliest time (UTC) the job may be claimed.
    #[serde(serialize_with = "super::utc_json::serialize")]
    pub run_at: NaiveDateTime,
    /// The worker holding the lease while the job runs.
    pub leased_by: Option<String>,
    /// End of the lease (UTC). After it, another worker may claim the job.
    #[serde(serialize_with = "super::utc_json::option::serialize")]
    pub lease_expires_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "super::utc_json::serialize")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_json::serialize")]
    pub updated_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_json::option::serialize")]
    pub finished_at: Option<NaiveDateTime>,
    /// Checksum of the source record's state the job last read, for CRM-side jobs. On a
    /// dead letter, the state that failed.
    pub source_checksum: Option<String>,
}

/// A change to enqueue. [`Job`] describes the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub entity: String,
    pub record_id: String,
    pub kind_hint: Option<String>,
    pub event: String,
    pub source: String,
    /// [`CRM_TO_SIAGH`] or [`SIAGH_TO_CRM`](crate::store::SIAGH_TO_CRM). The database
    /// rejects any other value.
    pub direction: String,
    /// Snapshot of the source record (JSON). When the change merges into a waiting job, a
    /// `Some` replaces that job's payload and a `None` keeps it.
    pub payload: Option<String>,
    /// Earliest run time (UTC), or now when `None`.
    pub run_at: Option<NaiveDateTime>,
}

/// Result of [`Store::enqueue_job`], one per change for the batch enqueues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new pending job with this id was inserted.
    Inserted(i64),
    /// The record already had a pending job with this id in the same direction, and the new
    /// change joined it.
    Coalesced(i64),
}

impl Enqueued {
    /// The id of the pending job that will carry the change.
    pub fn job_id(self) -> i64 {
        match self {
            Enqueued::Inserted(id) | Enqueued::Coalesced(id) => id,
        }
    }
}

/// Result of [`Store::retry_job`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The job is pending again at the requested time.
    Rescheduled,
    /// The record already had another pending job with this id. The retried job was closed
    /// as `done`, and that job will do the work.
    MergedInto(i64),
}

/// Job counts by status, for status pages and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    pub pending: i64,
    /// Pending jobs whose `run_at` has passed.
    pub due_now: i64,
    pub running: i64,
    pub dead: i64,
    pub done: i64,
}

/// Change to the attempt counter made by [`reschedule`].
#[derive(Debug, Clone, Copy)]
enum Attempts {
    Keep,
    Increment,
    Reset,
}

/// Expected state of a job, and the values [`reschedule`] writes when it goes back to
/// `pending`.
struct Reschedule<'a> {
    /// Statuses the job may have. A job in any other status is left alone.
    from_statuses: &'a [&'a str],
    /// When set, a job leased by another worker is left alone.
    leased_by: Option<&'a str>,
    run_at: NaiveDateTime,
    attempts: Attempts,
    /// New `last_error`, or `None` to keep the current one.
    last_error: Option<&'a str>,
    /// `last_error` written when the job is merged into another pending job.
    superseded_error: String,
}

/// Result of [`reschedule`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rescheduled {
    Pending,
    /// Closed as `done` in favour of the record's other pending job, with this id.
    MergedInto(i64),
    /// Left alone because its status or lease holder did not match. Carries the job's status.
    Skipped(String),
}

/// Returns the id of the record's pending job in `direction`, if it has one.
async fn pending_job_id(
    conn: &mut DbConnection,
    entity: &str,
    direction: &str,
    record_id: &str,
) -> QueryResult<Option<i64>> {
    sync_jobs::table
        .filter(sync_jobs::entity.eq(entity))
        .filter(sync_jobs::direction.eq(direction))
        .filter(sync_jobs::record_id.eq(record_id))
        .filter(sync_jobs::status.eq(JOB_PENDING))
        .select(sync_jobs::id)
        .first(conn)
        .await
        .optional()
}

async fn claim(
    conn: &mut DbConnection,
    entity: &str,
    worker: &str,
    limit: i64,
    lease: Duration,
) -> QueryResult<Vec<Job>> {
    let now = utc_now();
    let lease = chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX);
    let lease_expires_at = now.checked_add_signed(lease).unwrap_or(NaiveDateTime::MAX);
    let limit = clamp_limit(limit);

    diesel::alias!(sync_jobs as candidate: Candidate, sync_jobs as other_job: OtherJob);

    // A job is a candidate when it is due and either pending or running on an expired lease.
    // It is skipped while its entity is paused, while another job of its record runs on a
    // live lease, and while an older unfinished job of its record exists. So only the oldest
    // job of a record can be claimed, and at most one per record.
    macro_rules! candidate_ids {
        () => {
            candidate
                .filter(candidate.field(sync_jobs::entity).eq(entity))
                .filter(candidate.field(sync_jobs::run_at).le(now))
                .filter(
                    candidate
                        .field(sync_jobs::status)
                        .eq(JOB_PENDING)
                        .or(candidate
                            .field(sync_jobs::status)
                            .eq(JOB_RUNNING)
                            .and(candidate.field(sync_jobs::lease_expires_at).le(now))),
                )
                .filter(not(exists(
                    sync_control::table
                        .filter(sync_control::paused.eq(true))
                        .filter(sync_control::scope.eq_any([SCOPE_ALL, entity])),
                )))
                .filter(not(exists(
                    other_job
                        .filter(
                            other_job
                                .field(sync_jobs::entity)
                                .eq(candidate.field(sync_jobs::entity)),
                        )
                        .filter(
                            other_job
                                .field(sync_jobs::record_id)
                                .eq(candidate.field(sync_jobs::record_id)),
                        )
                        .filter(
                            other_job
                                .field(sync_jobs::id)
                                .ne(candidate.field(sync_jobs::id)),
                        )
                        .filter(
                            other_job
                                .field(sync_jobs::status)
                                .eq(JOB_RUNNING)
                                .and(other_job.field(sync_jobs::lease_expires_at).gt(now))
                                .or(other_job
                                    .field(sync_jobs::id)
                                    .lt(candidate.field(sync_jobs::id))
                                    .and(
                                        other_job
                                            .field(sync_jobs::status)
                                            .eq_any([JOB_PENDING, JOB_RUNNING]),
                                    )),
                        ),
                )))
                .select(candidate.field(sync_jobs::id))
                .order(candidate.field(sync_jobs::id))
                .limit(limit)
        };
    }

    macro_rules! claim_update {
        ($ids:expr) => {
            diesel::update(sync_jobs::table.filter(sync_jobs::id.eq_any($ids))).set((
                sync_jobs::status.eq(JOB_RUNNING),
                sync_jobs::leased_by.eq(worker),
                sync_jobs::lease_expires_at.eq(lease_expires_at),
                sync_jobs::updated_at.eq(now),
            ))
        };
    }

    let mut jobs: Vec<Job> = per_backend!(
        conn,
        // Two workers skip each other's locked rows instead of waiting for them.
        postgres: |c| {
            claim_update!(candidate_ids!().for_update().skip_locked())
                .returning(Job::as_returning())
                .get_results(c)
                .await
        },
        // SQLite has one writer at a time, so the single statement is already atomic.
        sqlite: |c| {
            claim_update!(candidate_ids!())
                .returning(Job::as_returning())
                .get_results(c)
                .await
        },
    )?;
    jobs.sort_by_key(|job| job.id);
    Ok(jobs)
}

/// Moves job `id` back to `pending`, or, when its record already has another pending job in
/// the same direction, closes it as `done` and returns that job's id.
///
/// On PostgreSQL a concurrent enqueue can insert the other pending job after the check. The
/// update then fails on the partial unique index, and the next attempt finds that job.
async fn reschedule(
    conn: &mut DbConnection,
    id: i64,
    plan: &Reschedule<'_>,
) -> Result<Rescheduled, StoreError> {
    const ATTEMPTS: u32 = 5;
    for attempt in 1..=ATTEMPTS {
        match reschedule_once(conn, id, plan).await {
            Err(error) if error.is_unique_violation() => {
                tracing::debug!(
                    job.id = id,
                    attempt,
                    "a pending job appeared concurrently; retrying"
                );
            }
            other => return other,
        }
    }
    Err(StoreError::Contention {
        operation: "reschedule job",
        attempts: ATTEMPTS,
    })
}

async fn reschedule_once(
    conn: &mut DbConnection,
    id: i64,
    plan: &Reschedule<'_>,
) -> Result<Rescheduled, StoreError> {
    write_transaction(conn, async |c| {
        let now = utc_now();
        let job = find_job(c, id).await?.ok_or(StoreError::NotFound {
            table: "sync_jobs",
            id,
        })?;
        let lease_matches = plan
            .leased_by
            .is_none_or(|worker| job.leased_by.as_deref() == Some(worker));
        if !plan.from_statuses.contains(&job.status.as_str()) || !lease_matches {
            return Ok(Rescheduled::Skipped(job.status));
        }

        let other_pending: Option<i64> = sync_jobs::table
            .filter(sync_jobs::entity.eq(&job.entity))
            .filter(sync_jobs::direction.eq(&job.direction))
            .filter(sync_jobs::record_id.eq(&job.record_id))
            .filter(sync_jobs::status.eq(JOB_PENDING))
            .filter(sync_jobs::id.ne(id))
            .select(sync_jobs::id)
            .first(c)
            .await
            .optional()?;
        let attempts = match plan.attempts {
            Attempts::Keep => job.attempts,
            Attempts::Increment => job.attempts.saturating_add(1),
            Attempts::Reset => 0,
        };

        if let Some(other_id) = other_pending {
            diesel::update(sync_jobs::table.find(id))
                .set((
                    sync_jobs::status.eq(JOB_DONE),
                    sync_jobs::attempts.eq(attempts),
                    sync_jobs::leased_by.eq(None::<String>),
                    sync_jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                    sync_jobs::last_error.eq(&plan.superseded_error),
                    sync_jobs::finished_at.eq(now),
                    sync_jobs::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
            return Ok(Rescheduled::MergedInto(other_id));
        }

        let last_error = plan.last_error.map(str::to_owned).or(job.last_error);
        diesel::update(sync_jobs::table.find(id))
            .set((
                sync_jobs::status.eq(JOB_PENDING),
                sync_jobs::attempts.eq(attempts),
                sync_jobs::run_at.eq(plan.run_at),
                sync_jobs::leased_by.eq(None::<String>),
                sync_jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                sync_jobs::last_error.eq(last_error),
                sync_jobs::finished_at.eq(None::<NaiveDateTime>),
                sync_jobs::updated_at.eq(now),
            ))
            .execute(c)
            .await?;
        Ok(Rescheduled::Pending)
    })
    .await
}

async fn find_job(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Job>> {
    sync_jobs::table
        .find(id)
        .select(Job::as_select())
        .first(conn)
        .await
        .optional()
}

/// Marks job `id` as `done`. Used on its own and inside [`Store::finish_sync`].
pub(crate) async fn complete(conn: &mut DbConnection, id: i64) -> Result<(), StoreError> {
    let now = utc_now();
    let updated = diesel::update(sync_jobs::table.find(id))
        .set((
            sync_jobs::status.eq(JOB_DONE),
            sync_jobs::leased_by.eq(None::<String>),
            sync_jobs::lease_expires_at.eq(None::<NaiveDateTime>),
            sync_jobs::finished_at.eq(now),
            sync_jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    if updated == 0 {
        return Err(StoreError::NotFound {
            table: "sync_jobs",
            id,
        });
    }
    Ok(())
}

/// Closes the record's dead letters older than `job_id`, which synced the record
/// successfully: the record's current state is in step on both sides, so the failures they
/// describe are settled. `record_id` is the record's id on the side the jobs came from.
/// Returns the number of dead letters closed.
pub(crate) async fn settle_dead_before(
    conn: &mut DbConnection,
    entity: &str,
    direction: &str,
    record_id: &str,
    job_id: i64,
) -> Result<usize, StoreError> {
    let now = utc_now();
    Ok(diesel::update(
        sync_jobs::table
            .filter(sync_jobs::entity.eq(entity))
            .filter(sync_jobs::direction.eq(direction))
            .filter(sync_jobs::record_id.eq(record_id))
            .filter(sync_jobs::status.eq(JOB_DEAD))
            .filter(sync_jobs::id.lt(job_id)),
    )
    .set((
        sync_jobs::status.eq(JOB_DONE),
        sync_jobs::last_error.eq(format!("{SUPERSEDED}: synced later by job {job_id}")),
        sync_jobs::updated_at.eq(now),
    ))
    .execute(conn)
    .await?)
}

impl Store {
    /// Records a detected change as a pending job, or joins the record's pending job in the
    /// same direction.
    ///
    /// A change that arrives while the record's job waits is merged into it. The job keeps
    /// its own event and run time, and takes the change's payload when it has one. A change
    /// that arrives after the job was claimed gets a new job, which runs after the claimed
    /// one. Safe to call concurrently for one record.
    pub async fn enqueue_job(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        let mut conn = self.connection().await?;
        let enqueued =
            write_transaction(&mut conn, async |c| enqueue::enqueue_one(c, &job).await).await?;
        tracing::debug!(
            entity = %job.entity,
            record.id = %job.record_id,
            job.direction = %job.direction,
            job.id = enqueued.job_id(),
            coalesced = matches!(enqueued, Enqueued::Coalesced(_)),
            "job enqueued"
        );
        Ok(enqueued)
    }

    /// Returns the record's newest CRM-side ([`CRM_TO_SIAGH`]) job, whatever its status.
    pub async fn latest_crm_job_for(
        &self,
        entity: &str,
        record_id: &str,
    ) -> Result<Option<Job>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(sync_jobs::table
            .filter(sync_jobs::entity.eq(entity))
            .filter(sync_jobs::direction.eq(CRM_TO_SIAGH))
            .filter(sync_jobs::record_id.eq(record_id))
            .order(sync_jobs::id.desc())
            .select(Job::as_select())
            .first(&mut *conn)
            .await
            .optional()?)
    }

    /// Returns the id of the record's pending CRM-side ([`CRM_TO_SIAGH`]) job, if it has one.
    pub async fn pending_job_for(
        &self,
        entity: &str,
        record_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.pending_job_for_direction(entity, CRM_TO_SIAGH, record_id)
            .await
    }

    /// Returns the id of the record's pending job in `direction`, if it has one.
    pub async fn pending_job_for_direction(
        &self,
        entity: &str,
        direction: &str,
        record_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(pending_job_id(&mut conn, entity, direction, record_id).await?)
    }

    /// Claims up to `limit` due jobs of `entity` for `worker`, oldest first, and leases them
    /// for `lease`.
    ///
    /// Returns nothing while `entity` or the `all` scope is paused. Takes at most one job per
    /// record, never a job whose record has another job running on a live lease, and never a
    /// job while an older unfinished job of its record exists. These rules look at the record
    /// id only, so a CRM-side and a Siagh-side job of one record never run at once. A running
    /// job whose lease has expired is claimable again. On PostgreSQL concurrent claimers skip
    /// each other's rows.
    pub async fn claim_jobs(
        &self,
        entity: &str,
        worker: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        let mut conn = self.connection().await?;
        let jobs = claim(&mut conn, entity, worker, limit, lease).await?;
        if !jobs.is_empty() {
            tracing::debug!(entity, worker, jobs.claimed = jobs.len(), "claimed jobs");
        }
        Ok(jobs)
    }

    /// Hands back every job `worker` is running, for a clean shutdown. Returns how many
    /// jobs it released.
    ///
    /// A released job is pending again and due now. When its record already has another
    /// pending job in the same direction, the released one is closed as `done` with
    /// `last_error` "superseded" instead, because only one pending job per record and
    /// direction may exist.
    pub async fn release_jobs(&self, worker: &str) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        let ids: Vec<i64> = sync_jobs::table
            .filter(sync_jobs::status.eq(JOB_RUNNING))
            .filter(sync_jobs::leased_by.eq(worker))
            .select(sync_jobs::id)
            .order(sync_jobs::id)
            .load(&mut *conn)
            .await?;

        let plan = Reschedule {
            from_statuses: &[JOB_RUNNING],
            leased_by: Some(worker),
            run_at: utc_now(),
            attempts: Attempts::Keep,
            last_error: None,
            superseded_error: SUPERSEDED.to_owned(),
        };
        let mut released = 0;
        for id in ids {
            match reschedule(&mut conn, id, &plan).await? {
                Rescheduled::Pending | Rescheduled::MergedInto(_) => released += 1,
                // The lease expired and another worker claimed the job meanwhile.
                Rescheduled::Skipped(_) => {}
            }
        }
        tracing::info!(worker, jobs.released = released, "released running jobs");
        Ok(released)
    }

    /// Marks the job as `done` and clears its lease.
    pub async fn complete_job(&self, id: i64) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        complete(&mut conn, id).await
    }

    /// Counts a failed attempt and makes the job pending again at `run_at` (UTC), with
    /// `error` as its `last_error` and its lease cleared.
    ///
    /// When the record already has another pending job in the same direction, the retry is
    /// merged into it: this job is closed as `done` with `last_error` "superseded: `error`",
    /// and the result names the other job. A job that is already `done` or `dead` is rejected with
    /// [`StoreError::JobFinished`].
    pub async fn retry_job(
        &self,
        id: i64,
        run_at: NaiveDateTime,
        error: &str,
    ) -> Result<RetryOutcome, StoreError> {
        self.reschedule_unfinished(id, run_at, error, Attempts::Increment)
            .await
    }

    /// Puts a claimed job back to wait until `run_at` without counting an attempt, because
    /// it waits for other work rather than failing. `reason` becomes its `last_error`.
    pub async fn postpone_job(
        &self,
        id: i64,
        run_at: NaiveDateTime,
        reason: &str,
    ) -> Result<RetryOutcome, StoreError> {
        self.reschedule_unfinished(id, run_at, reason, Attempts::Keep)
            .await
    }

    /// Makes a pending or running job pending again until `run_at`, with `error` as its
    /// `last_error`. [`Store::retry_job`] describes the case of a record with another pending
    /// job.
    async fn reschedule_unfinished(
        &self,
        id: i64,
        run_at: NaiveDateTime,
        error: &str,
        attempts: Attempts,
    ) -> Result<RetryOutcome, StoreError> {
        let mut conn = self.connection().await?;
        let plan = Reschedule {
            from_statuses: &[JOB_PENDING, JOB_RUNNING],
            leased_by: None,
            run_at: truncate_to_micros(run_at),
            attempts,
            last_error: Some(error),
            superseded_error: format!("{SUPERSEDED}: {error}"),
        };
        match reschedule(&mut conn, id, &plan).await? {
            Rescheduled::Pending => Ok(RetryOutcome::Rescheduled),
            Rescheduled::MergedInto(other_id) => Ok(RetryOutcome::MergedInto(other_id)),
            Rescheduled::Skipped(status) => Err(StoreError::JobFinished { id, status }),
        }
    }

    /// Records the checksum of the source record's state that the job is working on, so that
    /// a dead letter identifies the state that failed.
    pub async fn note_source_checksum(&self, id: i64, checksum: &str) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        diesel::update(sync_jobs::table.find(id))
            .set(sync_jobs::source_checksum.eq(checksum))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Moves the job to the dead letters with `error` as its `last_error`.
    pub async fn dead_letter_job(&self, id: i64, error: &str) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let now = utc_now();
        let updated = diesel::update(sync_jobs::table.find(id))
            .set((
                sync_jobs::status.eq(JOB_DEAD),
                sync_jobs::leased_by.eq(None::<String>),
                sync_jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                sync_jobs::last_error.eq(error),
                sync_jobs::finished_at.eq(now),
                sync_jobs::updated_at.eq(now),
            ))
            .execute(&mut *conn)
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound {
                table: "sync_jobs",
                id,
            });
        }
        Ok(())
    }

    /// Takes a job out of the dead letters: it becomes pending, due now, with its attempt
    /// count reset. Returns `false` when no dead job has this id.
    ///
    /// When the record already has a pending job in the same direction, that job covers the
    /// record, so the dead one is closed as `done` (superseded) instead. This still returns
    /// `true`.
    pub async fn requeue_dead_job(&self, id: i64) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        let plan = Reschedule {
            from_statuses: &[JOB_DEAD],
            leased_by: None,
            run_at: utc_now(),
            attempts: Attempts::Reset,
            last_error: None,
            superseded_error: format!("{SUPERSEDED}: requeued while another job was pending"),
        };
        match reschedule(&mut conn, id, &plan).await {
            Ok(Rescheduled::Pending | Rescheduled::MergedInto(_)) => Ok(true),
            Ok(Rescheduled::Skipped(_)) | Err(StoreError::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Returns the job with this id, if it exists.
    pub async fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(find_job(&mut conn, id).await?)
    }

    /// Counts jobs by status.
    pub async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        let mut conn = self.connection().await?;
        let counts: Vec<(String, i64)> = sync_jobs::table
            .group_by(sync_jobs::status)
            .select((sync_jobs::status, count_star()))
            .load(&mut *conn)
            .await?;
        let due_now: i64 = sync_jobs::table
            .filter(sync_jobs::status.eq(JOB_PENDING))
            .filter(sync_jobs::run_at.le(utc_now()))
            .count()
            .get_result(&mut *conn)
            .await?;

        let mut stats = QueueStats {
            due_now,
            ..QueueStats::default()
        };
        for (status, count) in counts {
            match status.as_str() {
                JOB_PENDING => stats.pending = count,
                JOB_RUNNING => stats.running = count,
                JOB_DONE => stats.done = count,
                JOB_DEAD => stats.dead = count,
                _ => {}
            }
        }
        Ok(stats)
    }

    /// Returns up to `limit` dead jobs, most recently failed first.
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<Job>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(sync_jobs::table
            .filter(sync_jobs::status.eq(JOB_DEAD))
            .order((sync_jobs::finished_at.desc(), sync_jobs::id.desc()))
            .limit(clamp_limit(limit))
            .select(Job::as_select())
            .load(&mut *conn)
            .await?)
    }

    /// Returns the earliest `run_at` (UTC) among the pending jobs of `entity`.
    ///
    /// The time may have passed already: a due job stays pending while its entity is paused
    /// or while another job of its record runs.
    pub async fn next_run_at(&self, entity: &str) -> Result<Option<NaiveDateTime>, StoreError> {
        let mut conn = self.connection().await?;
        Ok(sync_jobs::table
            .filter(sync_jobs::entity.eq(entity))
            .filter(sync_jobs::status.eq(JOB_PENDING))
            .select(min(sync_jobs::run_at))
            .first(&mut *conn)
            .await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use chrono::TimeDelta;

    use super::*;
    use crate::store::testing::test_on_both_backends;

    const LEASE: Duration = Duration::from_secs(300);

    fn customer_change(record_id: &str) -> NewJob {
        NewJob {
            entity: "customer".to_owned(),
            record_id: record_id.to_owned(),
            kind_hint: Some("Person".to_owned()),
            event: "Update".to_owned(),
            source: "webhook".to_owned(),
            direction: CRM_TO_SIAGH.to_owned(),
            payload: None,
            run_at: None,
        }
    }

    fn ids(jobs: &[Job]) -> Vec<i64> {
        jobs.iter().map(|job| job.id).collect()
    }

    async fn enqueue_coalesces_until_claimed(store: Store) {
        let first = store.enqueue_job(customer_change("A")).await.unwrap();
        let second = store.enqueue_job(customer_change("A")).await.unwrap();

        assert!(matches!(first, Enqueued::Inserted(_)));
        assert_eq!(second, Enqueued::Coalesced(first.job_id()));
        assert_eq!(
            store.pending_job_for("customer", "A").await.unwrap(),
            Some(first.job_id())
        );

        let claimed = store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        let third = store.enqueue_job(customer_change("A")).await.unwrap();

        assert_eq!(ids(&claimed), vec![first.job_id()]);
        assert!(matches!(third, Enqueued::Inserted(id) if id != first.job_id()));
    }

    async fn enqueue_keeps_entities_apart(store: Store) {
        let customer = store.enqueue_job(customer_change("A")).await.unwrap();
        let quote = store
            .enqueue_job(NewJob {
                entity: "quote".to_owned(),
                ..customer_change("A")
            })
            .await
            .unwrap();

        assert!(matches!(quote, Enqueued::Inserted(id) if id != customer.job_id()));
    }

    async fn claim_sets_lease_and_status(store: Store) {
        let enqueued = store.enqueue_job(customer_change("A")).await.unwrap();
        let before = utc_now();

        let claimed = store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();

        assert_eq!(ids(&claimed), vec![enqueued.job_id()]);
        let job = &claimed[0];
        assert_eq!(job.status, JOB_RUNNING);
        assert_eq!(job.leased_by.as_deref(), Some("w1"));
        let expires = job.lease_expires_at.unwrap();
        assert!(expires >= before + TimeDelta::seconds(300));
        assert_eq!(store.job(job.id).await.unwrap().as_ref(), Some(job));
    }

    async fn claim_skips_jobs_not_due(store: Store) {
        let later = utc_now() + TimeDelta::hours(1);
        store
            .enqueue_job(NewJob {
                run_at: Some(later),
                ..customer_change("A")
            })
            .await
            .unwrap();

        let claimed = store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();

        assert!(claimed.is_empty());
        assert_eq!(
            store.next_run_at("customer").await.unwrap(),
            Some(truncate_to_micros(later))
        );
    }

    async fn claim_respects_limit_and_order(store: Store) {
        let mut expected = Vec::new();
        for record in ["A", "B", "C"] {
            expected.push(
                store
                    .enqueue_job(customer_change(record))
                    .await
                    .unwrap()
                    .job_id(),
            );
        }

        let first = store.claim_jobs("customer", "w1", 2, LEASE).await.unwrap();
        let second = store.claim_jobs("customer", "w1", 2, LEASE).await.unwrap();

        assert_eq!(ids(&first), expected[..2].to_vec());
        assert_eq!(ids(&second), expected[2..].to_vec());
    }

    async fn claim_waits_for_running_job_of_record(store: Store) {
        let first = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        let second = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        let other = store
            .enqueue_job(customer_change("B"))
            .await
            .unwrap()
            .job_id();

        let claimed = store.claim_jobs("customer", "w2", 10, LEASE).await.unwrap();

        assert_eq!(ids(&claimed), vec![other]);

        store.complete_job(first).await.unwrap();
        let claimed = store.claim_jobs("customer", "w2", 10, LEASE).await.unwrap();

        assert_eq!(ids(&claimed), vec![second]);
    }

    async fn claim_takes_one_job_per_record(store: Store) {
        // An expired running job and a newer pending job of one record are both candidates.
        let first = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store
            .claim_jobs("customer", "w1", 10, Duration::ZERO)
            .await
            .unwrap();
        let second = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();

        let claimed = store.claim_jobs("customer", "w2", 10, LEASE).await.unwrap();

        assert_eq!(ids(&claimed), vec![first]);
        assert_eq!(claimed[0].leased_by.as_deref(), Some("w2"));
        let again = store.claim_jobs("customer", "w3", 10, LEASE).await.unwrap();
        assert!(
            again.is_empty(),
            "claimed {:?} while job {first} runs",
            ids(&again)
        );
        assert_eq!(
            store.job(second).await.unwrap().unwrap().status,
            JOB_PENDING
        );
    }

    async fn expired_lease_is_reclaimable(store: Store) {
        let id = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store
            .claim_jobs("customer", "w1", 10, Duration::ZERO)
            .await
            .unwrap();

        let reclaimed = store.claim_jobs("customer", "w2", 10, LEASE).await.unwrap();

        assert_eq!(ids(&reclaimed), vec![id]);
        assert_eq!(reclaimed[0].leased_by.as_deref(), Some("w2"));
        assert!(
            store
                .claim_jobs("customer", "w3", 10, LEASE)
                .await
                .unwrap()
                .is_empty()
        );
    }

    async fn paused_scope_blocks_claim(store: Store) {
        let id = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();

        store.set_paused("customer", true).await.unwrap();
        let while_entity_paused = store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        store.set_paused("customer", false).await.unwrap();
        store.set_paused(SCOPE_ALL, true).await.unwrap();
        let while_all_paused = store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        store.set_paused(SCOPE_ALL, false).await.unwrap();
        let after_resume = store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();

        assert!(while_entity_paused.is_empty());
        assert!(while_all_paused.is_empty());
        assert_eq!(ids(&after_resume), vec![id]);
    }

    async fn pause_of_other_entity_does_not_block(store: Store) {
        let id = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store.set_paused("quote", true).await.unwrap();

        let claimed = store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();

        assert_eq!(ids(&claimed), vec![id]);
    }

    async fn release_requeues_or_supersedes(store: Store) {
        let a = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        let b = store
            .enqueue_job(customer_change("B"))
            .await
            .unwrap()
            .job_id();
        store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        let c = store
            .enqueue_job(customer_change("C"))
            .await
            .unwrap()
            .job_id();
        store.claim_jobs("customer", "w2", 10, LEASE).await.unwrap();
        let a_again = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();

        let released = store.release_jobs("w1").await.unwrap();

        assert_eq!(released, 2);
        let a_job = store.job(a).await.unwrap().unwrap();
        assert_eq!(a_job.status, JOB_DONE);
        assert_eq!(a_job.last_error.as_deref(), Some(SUPERSEDED));
        let b_job = store.job(b).await.unwrap().unwrap();
        assert_eq!(b_job.status, JOB_PENDING);
        assert_eq!(b_job.leased_by, None);
        assert_eq!(b_job.lease_expires_at, None);
        assert_eq!(store.job(c).await.unwrap().unwrap().status, JOB_RUNNING);
        assert_eq!(
            store.job(a_again).await.unwrap().unwrap().status,
            JOB_PENDING
        );
    }

    async fn retry_reschedules(store: Store) {
        let id = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        let run_at = utc_now() + TimeDelta::minutes(5);

        let outcome = store.retry_job(id, run_at, "timed out").await.unwrap();

        assert_eq!(outcome, RetryOutcome::Rescheduled);
        let job = store.job(id).await.unwrap().unwrap();
        assert_eq!(job.status, JOB_PENDING);
        assert_eq!(job.attempts, 1);
        assert_eq!(job.run_at, run_at);
        assert_eq!(job.last_error.as_deref(), Some("timed out"));
        assert_eq!(job.leased_by, None);
        assert_eq!(job.lease_expires_at, None);
    }

    async fn retry_merges_into_pending_job(store: Store) {
        let first = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        let second = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();

        let outcome = store.retry_job(first, utc_now(), "HTTP 503").await.unwrap();

        assert_eq!(outcome, RetryOutcome::MergedInto(second));
        let job = store.job(first).await.unwrap().unwrap();
        assert_eq!(job.status, JOB_DONE);
        assert_eq!(job.last_error.as_deref(), Some("superseded: HTTP 503"));
        assert!(job.finished_at.is_some());
        assert_eq!(
            store.job(second).await.unwrap().unwrap().status,
            JOB_PENDING
        );
    }

    async fn retry_rejects_finished_job(store: Store) {
        let id = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store.complete_job(id).await.unwrap();

        let error = store.retry_job(id, utc_now(), "late").await.unwrap_err();

        assert!(
            matches!(&error, StoreError::JobFinished { id: got, status } if *got == id && status == JOB_DONE),
            "unexpected error: {error}"
        );
    }

    async fn dead_letter_and_requeue(store: Store) {
        let id = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        store.retry_job(id, utc_now(), "timed out").await.unwrap();
        store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();

        store
            .dead_letter_job(id, "validation failed")
            .await
            .unwrap();

        let dead = store.dead_letters(10).await.unwrap();
        assert_eq!(ids(&dead), vec![id]);
        assert_eq!(dead[0].status, JOB_DEAD);
        assert_eq!(dead[0].last_error.as_deref(), Some("validation failed"));
        assert!(dead[0].finished_at.is_some());
        assert_eq!(dead[0].leased_by, None);

        assert!(store.requeue_dead_job(id).await.unwrap());

        let job = store.job(id).await.unwrap().unwrap();
        assert_eq!(job.status, JOB_PENDING);
        assert_eq!(job.attempts, 0);
        assert_eq!(job.finished_at, None);
        assert!(store.dead_letters(10).await.unwrap().is_empty());
        assert!(!store.requeue_dead_job(id).await.unwrap());
        assert!(!store.requeue_dead_job(id + 1000).await.unwrap());
    }

    async fn requeue_merges_into_pending_job(store: Store) {
        let dead = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store
            .dead_letter_job(dead, "validation failed")
            .await
            .unwrap();
        let pending = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();

        assert!(store.requeue_dead_job(dead).await.unwrap());

        let job = store.job(dead).await.unwrap().unwrap();
        assert_eq!(job.status, JOB_DONE);
        assert!(job.last_error.unwrap().starts_with(SUPERSEDED));
        assert_eq!(
            store.pending_job_for("customer", "A").await.unwrap(),
            Some(pending)
        );
    }

    async fn updates_of_unknown_job_fail(store: Store) {
        let complete = store.complete_job(404).await.unwrap_err();
        let dead = store.dead_letter_job(404, "x").await.unwrap_err();
        let retry = store.retry_job(404, utc_now(), "x").await.unwrap_err();

        assert!(matches!(complete, StoreError::NotFound { id: 404, .. }));
        assert!(matches!(dead, StoreError::NotFound { id: 404, .. }));
        assert!(matches!(retry, StoreError::NotFound { id: 404, .. }));
        assert_eq!(store.job(404).await.unwrap(), None);
    }

    async fn queue_stats_count_by_status(store: Store) {
        let done = store
            .enqueue_job(customer_change("A"))
            .await
            .unwrap()
            .job_id();
        store.complete_job(done).await.unwrap();
        let dead = store
            .enqueue_job(customer_change("B"))
            .await
            .unwrap()
            .job_id();
        store.dead_letter_job(dead, "x").await.unwrap();
        store.enqueue_job(customer_change("C")).await.unwrap();
        store.claim_jobs("customer", "w1", 10, LEASE).await.unwrap();
        store.enqueue_job(customer_change("D")).await.unwrap();
        store
            .enqueue_job(NewJob {
                run_at: Some(utc_now() + TimeDelta::hours(1)),
                ..customer_change("E")
            })
            .await
            .unwrap();

        let stats = store.queue_stats().await.unwrap();

        assert_eq!(
            stats,
            QueueStats {
                pending: 2,
                due_now: 1,
                running: 1,
                dead: 1,
                done: 1,
            }
        );
    }

    async fn concurrent_enqueue_makes_one_job(store: Store) {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.enqueue_job(customer_change("A")).await })
            })
            .collect();

        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap().unwrap());
        }

        let inserted: Vec<_> = results
            .iter()
            .filter(|result| matches!(result, Enqueued::Inserted(_)))
            .collect();
        assert_eq!(inserted.len(), 1, "results: {results:?}");
        let id = inserted[0].job_id();
        assert!(
            results.iter().all(|result| result.job_id() == id),
            "results: {results:?}"
        );
        assert_eq!(store.queue_stats().await.unwrap().pending, 1);
    }

    async fn concurrent_claims_share_no_job(store: Store) {
        let mut enqueued = Vec::new();
        for record in 0..30 {
            let job = customer_change(&format!("R{record}"));
            enqueued.push(store.enqueue_job(job).await.unwrap().job_id());
        }

        let tasks: Vec<_> = (0..4)
            .map(|worker| {
                let store = store.clone();
                tokio::spawn(async move {
                    let worker = format!("w{worker}");
                    let mut claimed = Vec::new();
                    loop {
                        let batch = store
                            .claim_jobs("customer", &worker, 3, LEASE)
                            .await
                            .unwrap();
                        if batch.is_empty() {
                            return claimed;
                        }
                        claimed.extend(batch.into_iter().map(|job| job.id));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }

        all.sort_unstable();
        assert_eq!(all, enqueued);
    }

    test_on_both_backends!(
        enqueue_coalesces_until_claimed,
        enqueue_keeps_entities_apart,
        claim_sets_lease_and_status,
        claim_skips_jobs_not_due,
        claim_respects_limit_and_order,
        claim_waits_for_running_job_of_record,
        claim_takes_one_job_per_record,
        expired_lease_is_reclaimable,
        paused_scope_blocks_claim,
        pause_of_other_entity_does_not_block,
        release_requeues_or_supersedes,
        retry_reschedules,
        retry_merges_into_pending_job,
        retry_rejects_finished_job,
        dead_letter_and_requeue,
        requeue_merges_into_pending_job,
        updates_of_unknown_job_fail,
        queue_stats_count_by_status,
        concurrent_enqueue_makes_one_job,
        concurrent_claims_share_no_job,
    );
}
