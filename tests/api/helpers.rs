//! Test harness: the real server built through `Application::build`, both simulators over
//! HTTP on 127.0.0.1, and a fresh database per test (a SQLite temp file, or a new PostgreSQL
//! database with Redis under a per-test key prefix).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use serde_json::Value;
use siagh_sync::config::Settings;
use siagh_sync::crm::CrmId;
use siagh_sync::demo::settings_for_simulators;
use siagh_sync::sim::crm::{CrmSim, CrmSimConfig, NewPerson};
use siagh_sync::sim::siagh::{SiaghSim, SiaghSimConfig};
use siagh_sync::startup::Application;
use siagh_sync::store::testing::{TestDatabase, fresh_database};
use siagh_sync::store::{Backend, Link, LogEntry, LogFilter, Store};
use siagh_sync::sync::FaultInjection;

/// Generates one `#[actix_rt::test]` per backend for each listed async test function.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_rt::test]
                async fn sqlite() {
                    super::$name(siagh_sync::store::Backend::Sqlite).await
                }

                #[actix_rt::test]
                async fn postgres() {
                    super::$name(siagh_sync::store::Backend::Postgres).await
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// Knobs a test may turn before the app starts.
pub struct TestConfig {
    pub crm: CrmSimConfig,
    pub siagh: SiaghSimConfig,
    /// Applied to the engine's settings after they point at the simulators.
    pub engine: Box<dyn FnOnce(&mut Settings)>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            crm: CrmSimConfig::default(),
            siagh: SiaghSimConfig::default(),
            engine: Box::new(|_| {}),
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub store: Store,
    pub crm: CrmSim,
    pub siagh: SiaghSim,
    pub admin_token: String,
    pub webhook_secret: String,
    pub faults: FaultInjection,
    pub http: reqwest::Client,
    settings: Settings,
    server: Option<ServerHandle>,
    database: Option<TestDatabase>,
}

fn install_test_tracing() {
    // Output goes to the test harness's captured stdout; RUST_LOG=debug shows more.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, TestConfig::default()).await
}

pub async fn spawn_app_with(backend: Backend, config: TestConfig) -> TestApp {
    install_test_tracing();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let crm = siagh_sync::sim::crm::start(config.crm.clone(), loopback)
        .await
        .expect("start the CRM simulator");
    let siagh = siagh_sync::sim::siagh::start(config.siagh.clone(), loopback)
        .await
        .expect("start the Siagh simulator");
    let database = fresh_database(backend).await;

    let mut settings = settings_for_simulators(
        &crm,
        &siagh,
        &config.crm,
        &config.siagh,
        database.url().to_owned(),
    );
    settings.sync.retry_base = Duration::from_millis(100);
    settings.sync.retry_max = Duration::from_secs(1);
    settings.sync.idle_poll = Duration::from_millis(100);
    settings.sync.lease = Duration::from_secs(30);
    // Tests of the Siagh poller turn it on; elsewhere its no-op jobs would clutter the audit.
    settings.sync.siagh_poll_interval = None;
    settings.sync.crm_poll_interval = None;
    if backend == Backend::Postgres {
        let redis = std::env::var("TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
        settings.redis_url = Some(redis.into());
        settings.redis_key_prefix = format!("siagh-sync-test-{}", uuid::Uuid::new_v4().simple());
    }
    (config.engine)(&mut settings);

    let mut app = TestApp {
        address: String::new(),
        store: database_store_placeholder(&database).await,
        crm,
        siagh,
        admin_token: siagh_sync::config::expose(&settings.admin_token).to_owned(),
        webhook_secret: siagh_sync::config::expose(&settings.webhook.secret).to_owned(),
        faults: settings.faults.clone(),
        http: reqwest::Client::new(),
        settings,
        server: None,
        database: Some(database),
    };
    app.start_server().await;
    app
}

/// Opens a store handle on the fresh database; the application's own replaces it on start.
async fn database_store_placeholder(database: &TestDatabase) -> Store {
    Store::migrate(database.url())
        .await
        .expect("migrate the test database");
    Store::connect(database.url(), 2)
        .await
        .expect("connect to the test database")
}

impl TestApp {
    async fn start_server(&mut self) {
        let application = Application::build(self.settings.clone())
            .await
            .expect("build the application");
        self.address = format!("http://{}", application.address());
        self.store = application.store().clone();
        self.server = Some(application.spawn());
        let url = url::Url::parse(&self.webhook_url("identity")).expect("webhook URL");
        self.crm.set_identity_webhook_url(Some(url));
        let url = url::Url::parse(&self.webhook_url("quote")).expect("webhook URL");
        self.crm.set_quote_webhook_url(Some(url));
    }

    /// Stops the server and builds a new one on the same database, as a process restart would.
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop(true).await;
        }
        self.start_server().await;
    }

    pub fn webhook_url(&self, kind: &str) -> String {
        format!(
            "{}/webhook/crm/{}/{kind}",
            self.address, self.webhook_secret
        )
    }

    /// Sends a webhook with a raw query string, as the CRM would.
    pub async fn send_webhook(&self, kind: &str, raw_query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}?{raw_query}", self.webhook_url(kind)))
            .send()
            .await
            .expect("send webhook")
    }

    /// Sends the identity webhook the CRM sends for an update of `id`.
    pub async fn send_update_webhook(&self, id: &CrmId) -> reqwest::Response {
        let query = format!(
            "event=Update&id={}&type=Identity&subtype=%D9%85%D8%AE%D8%A7%D8%B7%D8%A8+%D8%AD%D9%82%DB%8C%D9%82%DB%8C",
            id.0
        );
        self.send_webhook("identity", &query).await
    }

    pub async fn admin_post(&self, path: &str, body: Option<Value>) -> reqwest::Response {
        let request = self
            .http
            .post(format!("{}{path}", self.address))
            .bearer_auth(&self.admin_token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.expect("admin POST")
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.address))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("admin GET");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("admin JSON")
    }

    /// Waits until no job is pending or running.
    pub async fn wait_until_idle(&self) {
        let store = self.store.clone();
        wait_until("the job queue drains", Duration::from_secs(30), || {
            let store = store.clone();
            async move {
                let stats = store.queue_stats().await.expect("queue stats");
                stats.pending == 0 && stats.running == 0
            }
        })
        .await;
    }

    pub async fn link(&self, id: &CrmId) -> Option<Link> {
        self.store
            .link_by_crm_id("customer", &id.0)
            .await
            .expect("read link")
    }

    pub async fn log_for(&self, id: &CrmId) -> Vec<LogEntry> {
        let mut entries = self
            .store
            .log_entries(LogFilter {
                entity: Some("customer".into()),
                record_id: Some(id.0.clone()),
                limit: 1_000,
                ..LogFilter::default()
            })
            .await
            .expect("read sync log");
        entries.reverse();
        entries
    }

    pub async fn actions_for(&self, id: &CrmId) -> Vec<String> {
        self.log_for(id)
            .await
            .into_iter()
            .map(|entry| entry.action)
            .collect()
    }

    /// Codes of Siagh contacts whose stored mobile number is `mobile`.
    pub fn siagh_codes_with_mobile(&self, mobile: &str) -> Vec<i64> {
        self.siagh
            .contacts()
            .into_iter()
            .filter(|contact| {
                contact
                    .fields
                    .get("gn_web_users.mobileno")
                    .map(String::as_str)
                    == Some(mobile)
            })
            .map(|contact| contact.code)
            .collect()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.stop(false).await;
        }
        if let Some(database) = self.database.take() {
            database.drop_database().await;
        }
    }
}

/// Polls `condition` every 50 ms until it holds, failing the test after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Builds a CRM person whose mobile number, e-mail and codes derive from `n`.
pub fn person(n: u32, name: &str) -> NewPerson {
    NewPerson {
        first_name: name.to_owned(),
        last_name: "آزمون".to_owned(),
        nick_name: Some(format!("{name} آزمون")),
        mobile: Some(format!("0935{n:07}")),
        phone: Some("02144556677".to_owned()),
        email: Some(format!("person{n}@example.com")),
        national_code: Some(format!("{n:010}")),
        customer_number: Some(format!("100-{}", 2000 + n)),
        address: Some("تهران، خیابان آزادی".to_owned()),
        city: Some("تهران".to_owned()),
        state: Some("تهران".to_owned()),
        country: Some("ایران".to_owned()),
        zip_code: Some("1234567890".to_owned()),
        ..NewPerson::default()
    }
}
