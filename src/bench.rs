//! `siagh-sync bench-poll`: measures the Siagh poller's cycle on a large contact table.
//!
//! Starts both simulators, loads the Siagh simulator with `--contacts` contacts, runs the real
//! server with its FinancePoller, and reports three cycles: the first (baseline, every contact
//! written to `finance_seen`), a quiet one (no change: one GetAll and an in-memory diff, no
//! query per contact), and one after `--changes` contacts were edited. A plain GetAll is timed
//! after the quiet cycle for comparison: a quiet cycle should cost about as much.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::demo::settings_for_simulators;
use crate::sim::crm::CrmSimConfig;
use crate::sim::siagh::SiaghSimConfig;
use crate::startup::Application;
use crate::sync::finance_poller::{ACTOR_NAME, PollNow};

/// Options of `siagh-sync bench-poll`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Contacts loaded into the Siagh simulator.
    #[arg(long, default_value_t = 100_000)]
    pub contacts: u32,
    /// Contacts edited before the last measured cycle.
    #[arg(long, default_value_t = 100)]
    pub changes: u32,
    /// Store to use; default: a temporary SQLite file.
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Maximum wait for one poll cycle.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs the benchmark and prints one line per measured cycle.
#[expect(
    clippy::print_stdout,
    reason = "the measurements are the command's output"
)]
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let crm_config = CrmSimConfig::default();
    let siagh_config = SiaghSimConfig {
        seed_fixtures: false,
        ..SiaghSimConfig::default()
    };
    let crm = crate::sim::crm::start(crm_config.clone(), loopback).await?;
    let siagh = crate::sim::siagh::start(siagh_config.clone(), loopback).await?;
    let loading = Instant::now();
    let codes: Vec<i64> = (0..args.contacts)
        .map(|n| siagh.add_contact(contact_fields(n)))
        .collect();
    println!(
        "loaded {} contacts into the Siagh simulator in {} ms",
        args.contacts,
        loading.elapsed().as_millis()
    );

    let directory = tempfile::tempdir().context("creating a temporary directory")?;
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| directory.path().join("bench.db").display().to_string());
    let mut settings =
        settings_for_simulators(&crm, &siagh, &crm_config, &siagh_config, database_url);
    // Cycles are started by hand; the interval only has to stay out of the way.
    settings.sync.siagh_poll_interval = Some(Duration::from_secs(86_400));
    settings.sync.crm_poll_interval = None;
    settings.siagh.request_timeout = CYCLE_TIMEOUT;
    let (_, client) = crate::startup::build_clients(&settings)?;
    let application = Application::build(settings).await?;
    let poller = application
        .finance_poller()
        .cloned()
        .context("the finance poller did not start")?;
    let registry = application.registry().clone();
    let server = application.spawn();

    let report = |label: &str| -> anyhow::Result<()> {
        let health = registry.snapshot();
        let poll = health
            .get(ACTOR_NAME)
            .and_then(|actor| actor.poll.clone())
            .context("no poll health recorded")?;
        println!(
            "{label}: {} ms, {} changed contacts",
            poll.last_duration_ms.unwrap_or_default(),
            poll.last_changes.unwrap_or_default()
        );
        Ok(())
    };

    wait_for_cycle(&registry, None).await?;
    report("first cycle (records every contact, queues no job)")?;
    let before = last_success(&registry);
    poller.do_send(PollNow);
    wait_for_cycle(&registry, before).await?;
    report("quiet cycle")?;
    let reading = Instant::now();
    let read = client.get_all_contacts().await?.len();
    println!(
        "GetAll alone, for comparison: {} ms for {read} contacts",
        reading.elapsed().as_millis()
    );

    for code in codes.iter().take(args.changes as usize) {
        siagh.edit_contact(*code, |contact| {
            contact.set_field("gn_web_users.tozihat", "ویرایش شده");
        });
    }
    let before = last_success(&registry);
    poller.do_send(PollNow);
    wait_for_cycle(&registry, before).await?;
    report("cycle after edits")?;
    server.stop(false).await;
    crm.stop().await;
    siagh.stop().await;
    Ok(())
}

/// Waits until the poller finishes a successful cycle after the one that ended at `before`.
async fn wait_for_cycle(
    registry: &crate::sync::ActorRegistry,
    before: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let now = last_success(registry);
        if now.is_some() && now != before {
            return Ok(());
        }
        if started.elapsed() > CYCLE_TIMEOUT {
            anyhow::bail!("no poll cycle finished within {CYCLE_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn last_success(registry: &crate::sync::ActorRegistry) -> Option<chrono::DateTime<chrono::Utc>> {
    registry
        .snapshot()
        .get(ACTOR_NAME)
        .and_then(|actor| actor.poll.as_ref())
        .and_then(|poll| poll.last_success_at)
}

fn contact_fields(n: u32) -> BTreeMap<String, String> {
    [
        ("gn_web_users.fullname", format!("مخاطب آزمایشی {n}")),
        ("gn_web_users.mobileno", format!("0937{n:07}")),
        ("gn_web_users.telno", format!("021{n:08}")),
        ("gn_web_users.email", format!("contact{n}@example.com")),
        ("gn_web_users.address", format!("تهران، خیابان {n}")),
        ("gn_web_users.isactive", "1".to_owned()),
        ("gn_web_users.taraftype", (n % 2).to_string()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}
