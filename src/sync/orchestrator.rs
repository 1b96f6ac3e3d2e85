//! The Orchestrator actor, one per entity (customers, quotes): claims the entity's jobs from
//! the store and runs them, jobs of different records concurrently up to a limit, jobs of one
//! record one at a time.
//!
//! The actor's state is only bookkeeping of work in flight. When it restarts after a panic it
//! releases the jobs it had leased, so every accepted job runs again from the store.

use actix::prelude::*;

use super::customer::JobOutcome;
use super::messages::{JobsAvailable, PauseChanged, ScheduleRetry};
use super::supervision::{ActorRegistry, catch_panic};
use crate::config::SyncSettings;
use crate::store::Job;
use crate::store::Store;

/// The sync step an orchestrator runs for each job of one entity.
pub trait JobRunner: Clone + Unpin + 'static {
    /// Entity whose jobs this runner takes, e.g. `customer`.
    const ENTITY: &'static str;
    /// Actor name in `/admin/status`.
    const ACTOR_NAME: &'static str;

    fn store(&self) -> &Store;
    fn settings(&self) -> &SyncSettings;
    /// Runs one job and settles it in the store, or hands it back for a retry.
    fn run(&self, job: &Job) -> impl std::future::Future<Output = JobOutcome>;
}

pub struct Orchestrator<R: JobRunner> {
    sync: R,
    retry: Option<Recipient<ScheduleRetry>>,
    registry: ActorRegistry,
    /// Lease owner name of this process's jobs of the entity.
    worker_id: String,
    max_in_flight: usize,
    in_flight: usize,
    claiming: bool,
    /// Set when a wake-up arrived during a claim, so another claim follows it.
    wake_again: bool,
    /// Incremented on every restart; completions of work from before a restart are ignored.
    generation: u64,
    /// Set while claims fail, so a store outage logs once rather than on every poll.
    claim_failing: bool,
}

/// The orchestrator of customer jobs.
pub type CustomerOrchestrator = Orchestrator<super::customer::CustomerSync>;

impl<R: JobRunner> Orchestrator<R> {
    pub fn new(sync: R, registry: ActorRegistry, worker_id: String) -> Self {
        registry.register(R::ACTOR_NAME);
        let max_in_flight = sync.settings().max_concurrent_jobs;
        Self {
            sync,
            retry: None,
            registry,
            worker_id,
            max_in_flight,
            in_flight: 0,
            claiming: false,
            wake_again: false,
            generation: 0,
            claim_failing: false,
        }
    }

    /// Claims as many due jobs as there are free slots and starts them.
    fn fill_slots(&mut self, ctx: &mut Context<Self>) {
        if self.claiming {
            self.wake_again = true;
            return;
        }
        let free = self.max_in_flight.saturating_sub(self.in_flight);
        if free == 0 {
            return;
        }
        self.claiming = true;
        self.wake_again = false;
        let generation = self.generation;
        let store = self.sync.store().clone();
        let worker = self.worker_id.clone();
        let lease = self.sync.settings().lease;
        let claim = async move {
            store
                .claim_jobs(R::ENTITY, &worker, free as i64, lease)
                .await
        };
        ctx.spawn(claim.into_actor(self).map(move |claimed, act, ctx| {
            if generation != act.generation {
                return;
            }
            act.claiming = false;
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(error) => {
                    if !act.claim_failing {
                        tracing::warn!(error = %error, entity = R::ENTITY,
                            "could not claim jobs; retrying on every poll");
                    }
                    act.claim_failing = true;
                    return;
                }
            };
            if act.claim_failing {
                tracing::info!(entity = R::ENTITY, "claiming jobs works again");
                act.claim_failing = false;
            }
            let claimed_all = jobs.len() == free;
            for job in jobs {
                act.start_job(job, ctx);
            }
            if claimed_all || act.wake_again {
                act.fill_slots(ctx);
            }
        }));
    }

    fn start_job(&mut self, job: Job, ctx: &mut Context<Self>) {
        self.in_flight += 1;
        self.registry.touch(R::ACTOR_NAME);
        let generation = self.generation;
        let sync = self.sync.clone();
        let work = catch_panic(async move {
            let outcome = sync.run(&job).await;
            (job, outcome)
        });
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            if generation != act.generation {
                return;
            }
            act.in_flight = act.in_flight.saturating_sub(1);
            act.registry.touch(R::ACTOR_NAME);
            match result {
                Ok((job, JobOutcome::Retry { error })) => act.schedule_retry(&job, error),
                Ok((_, JobOutcome::Finished)) => {}
                Err(panic) => {
                    tracing::error!(error = %panic, entity = R::ENTITY,
                        "orchestrator panicked; restarting it");
                    act.registry.record_panic(R::ACTOR_NAME, &panic);
                    ctx.stop();
                    return;
                }
            }
            act.fill_slots(ctx);
        }));
    }

    fn schedule_retry(&self, job: &Job, error: String) {
        let request = ScheduleRetry {
            job_id: job.id,
            entity: job.entity.clone(),
            record_id: job.record_id.clone(),
            attempts: job.attempts.max(0) as u32 + 1,
            error,
        };
        match &self.retry {
            Some(retry) => retry.do_send(request),
            None => tracing::error!(job.id = job.id, "no retry scheduler is connected"),
        }
    }
}

impl<R: JobRunner> Actor for Orchestrator<R> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let store = self.sync.store().clone();
        let worker = self.worker_id.clone();
        let generation = self.generation;
        let release = async move { store.release_jobs(&worker).await };
        ctx.wait(release.into_actor(self).map(move |released, act, ctx| {
            match released {
                Ok(0) => {}
                Ok(count) => {
                    tracing::info!(jobs = count, "released jobs left from before a restart")
                }
                Err(error) => tracing::warn!(error = %error, "could not release leased jobs"),
            }
            if generation == act.generation {
                act.fill_slots(ctx);
            }
        }));
        ctx.run_interval(self.sync.settings().idle_poll, |act, ctx| {
            act.fill_slots(ctx)
        });
        tracing::info!(worker = %self.worker_id, max_in_flight = self.max_in_flight,
            entity = R::ENTITY, "orchestrator started");
    }
}

impl<R: JobRunner> Supervised for Orchestrator<R> {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.registry.record_restart(R::ACTOR_NAME);
        self.generation += 1;
        self.in_flight = 0;
        self.claiming = false;
        self.wake_again = false;
        tracing::warn!(entity = R::ENTITY, "orchestrator restarting");
    }
}

impl<R: JobRunner> Handler<JobsAvailable> for Orchestrator<R> {
    type Result = ();

    fn handle(&mut self, _: JobsAvailable, ctx: &mut Self::Context) {
        self.fill_slots(ctx);
    }
}

impl<R: JobRunner> Handler<PauseChanged> for Orchestrator<R> {
    type Result = ();

    fn handle(&mut self, change: PauseChanged, ctx: &mut Self::Context) {
        tracing::info!(scope = %change.scope, paused = change.paused, "sync pause changed");
        if !change.paused {
            self.fill_slots(ctx);
        }
    }
}

/// Connects the retry scheduler, which is started after the orchestrator because it needs the
/// orchestrator's address to wake it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectRetry(pub Recipient<ScheduleRetry>);

impl<R: JobRunner> Handler<ConnectRetry> for Orchestrator<R> {
    type Result = ();

    fn handle(&mut self, ConnectRetry(retry): ConnectRetry, _ctx: &mut Self::Context) {
        self.retry = Some(retry);
    }
}
