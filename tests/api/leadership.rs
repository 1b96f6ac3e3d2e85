//! Two server processes on one PostgreSQL database: one polls, the other waits.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use siagh_sync::store::Backend;

use crate::helpers::{TestApp, spawn_app, wait_until};

const ADMIN_TOKEN: &str = "admin-token-leadership-test";

/// Starts `siagh-sync serve` on a free port against the test's simulators and database.
fn start_server(app: &TestApp) -> (Child, String) {
    start_server_on(app, &app.settings().database_url)
}

fn start_server_on(app: &TestApp, database_url: &str) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port");
    let child = Command::new(env!("CARGO_BIN_EXE_siagh-sync"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database_url)
        .env("CRM_BASE_URL", app.crm.base_url().as_str())
        .env("CRM_USERNAME", &app.settings().crm.username)
        .env(
            "CRM_PASSWORD",
            siagh_sync::config::expose(&app.settings().crm.password),
        )
        .env("SIAGH_BASE_URL", app.siagh.base_url().as_str())
        .env("SIAGH_USERNAME", &app.settings().siagh.username)
        .env(
            "SIAGH_PASSWORD_MD5",
            siagh_sync::config::expose(&app.settings().siagh.password_md5),
        )
        .env("WEBHOOK_SECRET", "leadership-test-secret")
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SIAGH_POLL_INTERVAL_SECS", "1")
        .env("CRM_POLL_INTERVAL_SECS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start siagh-sync serve");
    (child, format!("http://127.0.0.1:{port}"))
}

/// Returns whether the server at `address` leads the finance and the CRM poller, or `None`
/// while it does not respond or a poller has not run yet. The two leaderships are taken
/// independently, so one instance may hold one and the other instance the other.
async fn leads(http: &reqwest::Client, address: &str) -> Option<(bool, bool)> {
    let status: serde_json::Value = http
        .get(format!("{address}/admin/status"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let finance = status["actors"]["finance_poller"]["poll"]["leader"].as_bool()?;
    let crm = status["actors"]["crm_poller"]["poll"]["leader"].as_bool()?;
    Some((finance, crm))
}

#[actix_rt::test]
async fn one_instance_polls_and_the_other_takes_over() {
    let app = spawn_app(Backend::Postgres).await;
    let (first, first_address) = start_server(&app);
    let (second, second_address) = start_server(&app);
    let mut servers = [(first, first_address), (second, second_address)];
    let http = reqwest::Client::new();

    wait_until(
        "both servers report their pollers",
        Duration::from_secs(30),
        || async {
            leads(&http, &servers[0].1).await.is_some()
                && leads(&http, &servers[1].1).await.is_some()
        },
    )
    .await;
    let (first_finance, first_crm) = leads(&http, &servers[0].1).await.unwrap();
    let (second_finance, second_crm) = leads(&http, &servers[1].1).await.unwrap();
    assert_ne!(
        first_finance, second_finance,
        "exactly one instance polls Siagh"
    );
    assert_ne!(first_crm, second_crm, "exactly one instance polls the CRM");

    // Killing the Siagh poller's leader makes the survivor take over at least that poller.
    let (leader, survivor) = if first_finance { (0, 1) } else { (1, 0) };
    servers[leader].0.kill().expect("kill the leader");
    let _ = servers[leader].0.wait();
    let survivor_address = servers[survivor].1.clone();
    wait_until(
        "the survivor polls both systems",
        Duration::from_secs(30),
        || async { leads(&http, &survivor_address).await == Some((true, true)) },
    )
    .await;

    let _ = servers[survivor].0.kill();
    let _ = servers[survivor].0.wait();
    app.shutdown().await;
}

#[actix_rt::test]
async fn stopped_instance_hands_over_at_once() {
    let app = spawn_app(Backend::Sqlite).await;
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("handover.db").display().to_string();
    let http = reqwest::Client::new();
    let (mut first, address) = start_server_on(&app, &database);
    wait_until(
        "the first instance polls",
        Duration::from_secs(30),
        || async { leads(&http, &address).await == Some((true, true)) },
    )
    .await;

    let stopped = Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let _ = first.wait();
    let (mut second, address) = start_server_on(&app, &database);

    // Well below the 30 s lease a killed instance would leave behind.
    wait_until(
        "the restarted instance polls",
        Duration::from_secs(5),
        || async { leads(&http, &address).await == Some((true, true)) },
    )
    .await;
    let _ = second.kill();
    let _ = second.wait();
    app.shutdown().await;
}
