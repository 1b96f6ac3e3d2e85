//! The RetryScheduler actor: durable exponential backoff with jitter, and the dead-letter
//! decision once a job has used its attempts.

use std::time::Duration;

use actix::prelude::*;
use rand::Rng;

use super::messages::{JobsAvailable, ScheduleRetry};
use super::supervision::{ActorRegistry, catch_panic};
use crate::config::SyncSettings;
use crate::store::{NewLogEntry, RetryOutcome, Store, StoreError};

pub const ACTOR_NAME: &str = "retry_scheduler";

/// Returns the delay before attempt `attempts + 1`: `base · 2^(attempts − 1)` capped at `max`,
/// then drawn uniformly from its upper half so retries of many jobs spread out.
pub fn backoff_delay(attempts: u32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let ceiling = base.saturating_mul(1 << exponent).min(max);
    let half = ceiling / 2;
    half + half.mul_f64(rng.random::<f64>())
}

pub struct RetryScheduler {
    store: Store,
    settings: SyncSettings,
    wake: Recipient<JobsAvailable>,
    registry: ActorRegistry,
}

impl RetryScheduler {
    pub fn new(
        store: Store,
        settings: SyncSettings,
        wake: Recipient<JobsAvailable>,
        registry: ActorRegistry,
    ) -> Self {
        registry.register(ACTOR_NAME);
        Self {
            store,
            settings,
            wake,
            registry,
        }
    }
}

impl Actor for RetryScheduler {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!("retry scheduler started");
    }
}

impl Supervised for RetryScheduler {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.registry.record_restart(ACTOR_NAME);
        tracing::warn!("retry scheduler restarting after a failure");
    }
}

impl Handler<ScheduleRetry> for RetryScheduler {
    type Result = ();

    fn handle(&mut self, request: ScheduleRetry, ctx: &mut Self::Context) {
        self.registry.touch(ACTOR_NAME);
        let store = self.store.clone();
        let settings = self.settings.clone();
        let work = catch_panic(schedule(store, settings, request));
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| match result {
            Ok(Ok(Some(delay))) => {
                ctx.run_later(delay, |act, _ctx| act.wake.do_send(JobsAvailable));
            }
            Ok(Ok(None)) => {}
            Ok(Err(error)) => {
                // The job stays 'running' until its lease expires, then is claimed again.
                tracing::error!(error = %error, "could not store the retry of a job");
            }
            Err(panic) => {
                tracing::error!(error = %panic, "retry scheduler panicked; restarting it");
                act.registry.record_panic(ACTOR_NAME, &panic);
                ctx.stop();
            }
        }));
    }
}

/// Stores the next attempt of a failed job, or dead-letters it when its attempts are used up.
/// Returns the delay after which the orchestrator should look for due jobs again.
async fn schedule(
    store: Store,
    settings: SyncSettings,
    request: ScheduleRetry,
) -> Result<Option<Duration>, StoreError> {
    let ScheduleRetry {
        job_id,
        entity,
        record_id,
        attempts,
        error,
    } = request;
    let log = |action: &str, error: String| NewLogEntry {
        job_id: Some(job_id),
        entity: entity.clone(),
        record_id: record_id.clone(),
        direction: "crm_to_siagh".to_owned(),
        action: action.to_owned(),
        error: Some(error),
        ..NewLogEntry::default()
    };

    if attempts >= settings.max_attempts {
        let reason = format!("gave up after {attempts} attempts; last error: {error}");
        tracing::error!(job.id = job_id, crm.id = %record_id, attempts, error = %error,
            "job dead-lettered after its last retry");
        store.dead_letter_job(job_id, &reason).await?;
        store.record(log("dead_letter", reason)).await?;
        return Ok(None);
    }

    let delay = backoff_delay(
        attempts,
        settings.retry_base,
        settings.retry_max,
        &mut rand::rng(),
    );
    let run_at = chrono::Utc::now().naive_utc()
        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    let outcome = store.retry_job(job_id, run_at, &error).await?;
    let note = match outcome {
        RetryOutcome::Rescheduled => format!("retry in {} ms: {error}", delay.as_millis()),
        RetryOutcome::MergedInto(other) => format!("merged into waiting job {other}: {error}"),
    };
    tracing::warn!(job.id = job_id, crm.id = %record_id, attempts, delay_ms = delay.as_millis() as u64,
        error = %error, "job failed; retry scheduled");
    store.record(log("retry_scheduled", note)).await?;
    Ok(Some(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_bounds() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(600);
        let mut rng = rand::rng();
        for (attempts, ceiling_secs) in [(1, 2), (2, 4), (3, 8), (6, 64), (12, 600), (40, 600)] {
            let ceiling = Duration::from_secs(ceiling_secs);
            for _ in 0..50 {
                let delay = backoff_delay(attempts, base, max, &mut rng);
                assert!(delay >= ceiling / 2, "attempt {attempts}: {delay:?}");
                assert!(delay <= ceiling, "attempt {attempts}: {delay:?}");
            }
        }
    }
}
