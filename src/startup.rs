//! Builds the running service from `Settings`: store, dedup, upstream clients, supervised
//! actors and the HTTP server. Tests build exactly this through [`Application::build`].

use std::net::{SocketAddr, TcpListener};

use actix::{Addr, Supervisor};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;

use crate::telemetry::RedactedRootSpan;

use crate::config::Settings;
use crate::crm::{CrmClient, CrmClientConfig};
use crate::dedup::Dedup;
use crate::http::{self, AppState};
use crate::siagh::{SiaghClient, SiaghClientConfig};
use crate::store::Store;
use crate::sync::crm_poller::{CrmPollSettings, CrmPoller, PollerWake};
use crate::sync::customer::CustomerSync;
use crate::sync::finance_poller::FinancePoller;
use crate::sync::messages::ReleaseLeadership;
use crate::sync::orchestrator::{ConnectRetry, CustomerOrchestrator, Orchestrator};
use crate::sync::quote::QuoteSync;
use crate::sync::retry::RetryScheduler;
use crate::sync::webhook_receiver::WebhookReceiver;
use crate::sync::{ActorRegistry, ENTITY_CUSTOMER, ENTITY_QUOTE};

/// Connections in the store's pool.
const STORE_POOL_SIZE: u32 = 10;

/// A built service whose HTTP server is bound and whose actors are running.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    registry: ActorRegistry,
    orchestrator: Addr<CustomerOrchestrator>,
    finance_poller: Option<Addr<FinancePoller>>,
    crm_poller: Option<Addr<CrmPoller>>,
    /// Lease owner of this process's customer jobs.
    worker_id: String,
}

impl Application {
    /// Builds and starts everything; must run inside an actix `System`.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        // Bound first, so a busy port stops the start before any actor runs.
        let listener = TcpListener::bind(settings.listen_addr)
            .with_context(|| format!("binding LISTEN_ADDR {}", settings.listen_addr))?;
        let port = listener.local_addr()?.port();
        Store::migrate(&settings.database_url)
            .await
            .context("applying database migrations")?;
        let store = Store::connect(&settings.database_url, STORE_POOL_SIZE)
            .await
            .context("connecting to the database")?;
        let dedup = Dedup::connect(
            settings.redis_url.as_ref().map(|url| url.expose_secret()),
            &settings.redis_key_prefix,
        )
        .await
        .context("connecting to Redis")?;
        let (crm_client, siagh_client) = build_clients(&settings)?;

        let registry = ActorRegistry::default();
        // Unique per process, so two servers on one host never take each other's jobs. A
        // crashed process's jobs return when their lease expires; a stopped one releases them.
        let worker_id = format!(
            "{}:{}:{ENTITY_CUSTOMER}",
            instance_name(),
            uuid::Uuid::new_v4()
        );
        let customer_sync = CustomerSync::new(
            store.clone(),
            crm_client.clone(),
            siagh_client.clone(),
            settings.sync.clone(),
            settings.faults.clone(),
        );
        let orchestrator = {
            let registry = registry.clone();
            let worker_id_for_actor = worker_id.clone();
            Supervisor::start(move |_| {
                CustomerOrchestrator::new(customer_sync, registry, worker_id_for_actor)
            })
        };
        let retry = {
            let store = store.clone();
            let sync_settings = settings.sync.clone();
            let wake = orchestrator.clone().recipient();
            let registry = registry.clone();
            Supervisor::start(move |_| RetryScheduler::new(store, sync_settings, wake, registry))
        };
        orchestrator.do_send(ConnectRetry(retry.clone().recipient()));
        let quote_orchestrator = {
            let registry = registry.clone();
            let quote_sync = QuoteSync::new(
                store.clone(),
                crm_client.clone(),
                siagh_client.clone(),
                settings.sync.clone(),
            );
            let worker_id = format!("{}:{}:quote", instance_name(), uuid::Uuid::new_v4());
            Supervisor::start(move |_| Orchestrator::new(quote_sync, registry, worker_id))
        };
        quote_orchestrator.do_send(ConnectRetry(retry.recipient()));
        let mut crm_poller = None;
        if let Some(interval) = settings.sync.crm_poll_interval {
            let store = store.clone();
            let crm = crm_client.clone();
            let mut quote_type_codes = settings.sync.crm_quote_type_codes.clone();
            quote_type_codes.extend(settings.sync.quote_sale_models.keys().cloned());
            let poll_settings = CrmPollSettings {
                interval,
                scan_interval: settings.sync.crm_full_scan_interval,
                quote_type_codes,
            };
            let holder = format!("{}:{}", instance_name(), uuid::Uuid::new_v4());
            let wake = PollerWake {
                customers: orchestrator.clone().recipient(),
                quotes: quote_orchestrator.clone().recipient(),
            };
            let registry = registry.clone();
            crm_poller = Some(Supervisor::start(move |_| {
                CrmPoller::new(store, crm, poll_settings, holder, wake, registry)
            }));
        }
        let mut finance_poller = None;
        if let Some(interval) = settings.sync.siagh_poll_interval {
            let store = store.clone();
            // Unique per process start, so two servers on one host never share a lease.
            let holder = format!("{}:{}", instance_name(), uuid::Uuid::new_v4());
            let wake = orchestrator.clone().recipient();
            let registry = registry.clone();
            finance_poller = Some(Supervisor::start(move |_| {
                FinancePoller::new(store, siagh_client, interval, holder, wake, registry)
            }));
        }
        let webhook_receiver = {
            let store = store.clone();
            let dedup = dedup.clone();
            let ttl = settings.webhook.dedup_ttl;
            let wake = vec![
                (ENTITY_CUSTOMER, orchestrator.clone().recipient()),
                (ENTITY_QUOTE, quote_orchestrator.clone().recipient()),
            ];
            let registry = registry.clone();
            Supervisor::start(move |_| WebhookReceiver::new(store, dedup, ttl, wake, registry))
        };

        let state = AppState {
            store: store.clone(),
            dedup,
            registry: registry.clone(),
            webhook_receiver,
            pause_listeners: vec![
                orchestrator.clone().recipient(),
                quote_orchestrator.clone().recipient(),
            ],
            wake_listeners: vec![
                orchestrator.clone().recipient(),
                quote_orchestrator.clone().recipient(),
            ],
            webhook_secret: settings.webhook.secret.clone(),
            webhook_allowed_ips: settings.webhook.allowed_ips.clone(),
            admin_token: settings.admin_token.clone(),
            started_at: chrono::Utc::now(),
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::<RedactedRootSpan>::new())
                .app_data(web::Data::new(state.clone()))
                .configure(http::configure)
        })
        .workers(2)
        .listen(listener)?
        .run();
        tracing::info!(port, backend = ?store.backend(), "siagh-sync listening");

        Ok(Application {
            port,
            server,
            store,
            registry,
            orchestrator: orchestrator.clone(),
            finance_poller,
            crm_poller,
            worker_id,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn registry(&self) -> &ActorRegistry {
        &self.registry
    }

    pub fn orchestrator(&self) -> &Addr<CustomerOrchestrator> {
        &self.orchestrator
    }

    /// Returns the Siagh poller, when `SIAGH_POLL_INTERVAL_SECS` enables it.
    pub fn finance_poller(&self) -> Option<&Addr<FinancePoller>> {
        self.finance_poller.as_ref()
    }

    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (Ctrl-C or SIGTERM stop it gracefully).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        if let Some(poller) = &self.finance_poller {
            let _ = poller.send(ReleaseLeadership).await;
        }
        if let Some(poller) = &self.crm_poller {
            let _ = poller.send(ReleaseLeadership).await;
        }
        // Jobs cut short by the stop go back to the queue at once instead of waiting for
        // their lease to expire.
        match self.store.release_jobs(&self.worker_id).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(jobs = count, "released unfinished jobs at shutdown"),
            Err(error) => {
                tracing::warn!(error = %error, "could not release unfinished jobs at shutdown")
            }
        }
        Ok(())
    }

    /// Starts serving in the background and returns the handle that stops it.
    pub fn spawn(self) -> ServerHandle {
        let handle = self.server.handle();
        actix_rt::spawn(self.server);
        handle
    }
}

/// Builds the CRM and Siagh clients from the settings.
pub fn build_clients(settings: &Settings) -> anyhow::Result<(CrmClient, SiaghClient)> {
    let crm_client = CrmClient::new(CrmClientConfig {
        base_url: settings.crm.base_url.clone(),
        username: settings.crm.username.clone(),
        password: settings.crm.password.clone(),
        device_id: "siagh-sync".to_owned(),
        connect_timeout: settings.crm.connect_timeout,
        request_timeout: settings.crm.request_timeout,
        refresh_margin: std::time::Duration::from_secs(60),
    })
    .context("building the CRM client")?;
    let siagh_client = SiaghClient::new(SiaghClientConfig {
        base_url: settings.siagh.base_url.clone(),
        username: settings.siagh.username.clone(),
        password_md5: settings.siagh.password_md5.clone(),
        connect_timeout: settings.siagh.connect_timeout,
        request_timeout: settings.siagh.request_timeout,
    })
    .context("building the Siagh client")?;
    Ok((crm_client, siagh_client))
}

/// Name of this process for job leases: the host name, so a restarted process releases the
/// leases its previous run held.
fn instance_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "siagh-sync".to_owned())
}
