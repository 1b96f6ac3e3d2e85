//! Client tests against the CRM simulator, and against a stub server for responses the
//! simulator never sends, all on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use futures::future::join_all;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{CrmClient, CrmClientConfig, CrmId, Error};
use crate::sim::crm::{self as sim, CrmSim, CrmSimConfig, NewPerson};

const PERSON_ID: &str = "9295bc51-ce7c-4c3c-be1d-addf602c8081";
const ORGANIZATION_ID: &str = "4bb1e60b-eb1b-46de-a8d3-e49ddb316e19";

fn local_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_sim(config: CrmSimConfig) -> CrmSim {
    sim::start(config, local_any_port()).await.unwrap()
}

fn client_config(sim: &CrmSim, password: &str) -> CrmClientConfig {
    let mut config = CrmClientConfig::new(sim.base_url(), "api-user", SecretString::from(password));
    config.connect_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(5);
    config
}

fn client(sim: &CrmSim) -> CrmClient {
    CrmClient::new(client_config(sim, "not-a-real-password")).unwrap()
}

fn client_with_password(sim: &CrmSim, password: &str) -> CrmClient {
    CrmClient::new(client_config(sim, password)).unwrap()
}

#[actix_rt::test]
async fn login_and_get_person() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);

    let person = client
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(person.id().as_str(), PERSON_ID);
    assert_eq!(person.identity.customer_number.as_deref(), Some("100-1005"));
    assert_eq!(person.identity.phone_contacts.len(), 2);
    assert_eq!(client.login_count(), 1);
    assert_eq!(sim.counters().logins, 1);
    assert_eq!(sim.counters().gets, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn token_is_reused_across_calls() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);

    for _ in 0..3 {
        client.get_person(&CrmId::from(PERSON_ID)).await.unwrap();
    }

    assert_eq!(client.login_count(), 1);
    assert_eq!(sim.counters().gets, 3);
    sim.stop().await;
}

#[actix_rt::test]
async fn expired_tokens_cause_one_relogin_for_concurrent_gets() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);
    client.get_person(&CrmId::from(PERSON_ID)).await.unwrap();
    sim.expire_tokens();

    let id = CrmId::from(PERSON_ID);
    let results = join_all((0..20).map(|_| client.get_person(&id))).await;

    for result in results {
        assert_eq!(result.unwrap().unwrap().id().as_str(), PERSON_ID);
    }
    assert_eq!(client.login_count(), 2);
    assert_eq!(sim.counters().logins, 2);
    sim.stop().await;
}

#[actix_rt::test]
async fn token_is_refreshed_before_expiry() {
    let sim = start_sim(CrmSimConfig {
        token_lifetime: Duration::from_secs(3),
        ..CrmSimConfig::default()
    })
    .await;
    let mut config = client_config(&sim, "not-a-real-password");
    config.refresh_margin = Duration::from_secs(2);
    let client = CrmClient::new(config).unwrap();
    client.get_person(&CrmId::from(PERSON_ID)).await.unwrap();

    tokio::time::sleep(Duration::from_millis(1300)).await;
    client.get_person(&CrmId::from(PERSON_ID)).await.unwrap();

    assert_eq!(client.login_count(), 2);
    // The token was replaced before it expired, so no get was rejected and sent again.
    assert_eq!(sim.counters().gets, 2);
    sim.stop().await;
}

#[actix_rt::test]
async fn wrong_password_is_login_rejected() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client_with_password(&sim, "wrong-password");

    let error = client
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::LoginRejected { .. }), "{error:?}");
    assert!(!error.is_retryable());
    assert_eq!(sim.counters().gets, 0);
    sim.stop().await;
}

#[actix_rt::test]
async fn concurrent_calls_share_one_rejected_login() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client_with_password(&sim, "wrong-password");

    let id = CrmId::from(PERSON_ID);
    let results = join_all((0..10).map(|_| client.get_person(&id))).await;

    for result in results {
        assert!(matches!(result, Err(Error::LoginRejected { .. })));
    }
    assert_eq!(sim.counters().failed_logins, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn lockout_is_locked_out() {
    let sim = start_sim(CrmSimConfig {
        max_failed_logins: 2,
        ..CrmSimConfig::default()
    })
    .await;
    let wrong = client_with_password(&sim, "wrong-password");
    let right = client(&sim);
    let id = CrmId::from(PERSON_ID);

    let first = wrong.get_person(&id).await.unwrap_err();
    let second = wrong.get_person(&id).await.unwrap_err();
    let third = wrong.get_person(&id).await.unwrap_err();
    let with_right_password = right.get_person(&id).await.unwrap_err();

    assert!(matches!(first, Error::LoginRejected { .. }), "{first:?}");
    assert!(matches!(second, Error::LoginRejected { .. }), "{second:?}");
    assert!(matches!(third, Error::LockedOut { .. }), "{third:?}");
    assert!(
        matches!(with_right_password, Error::LockedOut { .. }),
        "{with_right_password:?}"
    );
    assert!(!third.is_retryable());
    sim.stop().await;
}

#[actix_rt::test]
async fn missing_licence_is_license_missing() {
    let sim = start_sim(CrmSimConfig {
        license_missing: true,
        ..CrmSimConfig::default()
    })
    .await;
    let client = client(&sim);

    let error = client
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::LicenseMissing), "{error:?}");
    sim.stop().await;
}

#[actix_rt::test]
async fn search_pages_until_short_page() {
    let sim = start_sim(CrmSimConfig {
        seed_fixtures: false,
        ..CrmSimConfig::default()
    })
    .await;
    let mut created = Vec::new();
    for index in 0..12 {
        let person = NewPerson {
            first_name: format!("First{index}"),
            last_name: "Sample".into(),
            customer_number: Some(format!("100-{}", 2000 + index)),
            ..NewPerson::default()
        };
        created.push(sim.create_person(person).await);
    }
    let client = client(&sim);

    let identities = client.search_all_identities(5).await.unwrap();

    let ids: Vec<CrmId> = identities
        .iter()
        .map(|identity| identity.identity_id.clone())
        .collect();
    assert_eq!(ids, created);
    assert_eq!(identities[0].nick_name.as_deref(), Some("First0 Sample"));
    assert_eq!(identities[0].customer_no.as_deref(), Some("100-2000"));
    // Pages of 5, 5 and 2 identities.
    assert_eq!(sim.counters().searches, 3);
    sim.stop().await;
}

#[actix_rt::test]
async fn search_stops_on_empty_page() {
    let sim = start_sim(CrmSimConfig {
        seed_fixtures: false,
        ..CrmSimConfig::default()
    })
    .await;
    for index in 0..10 {
        let person = NewPerson {
            first_name: format!("P{index}"),
            ..NewPerson::default()
        };
        sim.create_person(person).await;
    }
    let client = client(&sim);

    let identities = client.search_all_identities(5).await.unwrap();

    assert_eq!(identities.len(), 10);
    assert_eq!(sim.counters().searches, 3);
    sim.stop().await;
}

#[actix_rt::test]
async fn search_term_matches_case_insensitively() {
    let sim = start_sim(CrmSimConfig::default()).await;
    sim.create_person(NewPerson {
        first_name: "Test".into(),
        last_name: "Person Alpha".into(),
        ..NewPerson::default()
    })
    .await;
    let client = client(&sim);

    let found = client
        .search_identities(0, 10, "person alpha")
        .await
        .unwrap();
    let by_customer_number = client.search_identities(0, 10, "100-1006").await.unwrap();

    assert_eq!(found.len(), 1);
    assert_eq!(found[0].nick_name.as_deref(), Some("Test Person Alpha"));
    assert_eq!(by_customer_number.len(), 1);
    assert_eq!(by_customer_number[0].identity_id.as_str(), ORGANIZATION_ID);
    sim.stop().await;
}

#[actix_rt::test]
async fn get_person_with_organization_id_is_none() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);

    let as_person = client
        .get_person(&CrmId::from(ORGANIZATION_ID))
        .await
        .unwrap();
    let as_organization = client
        .get_organization(&CrmId::from(ORGANIZATION_ID))
        .await
        .unwrap();
    let unknown = client.get_person(&CrmId::from("no-such-id")).await.unwrap();

    assert!(as_person.is_none());
    assert_eq!(
        as_organization.unwrap().economic_code.as_deref(),
        Some("411111111111")
    );
    assert!(unknown.is_none());
    sim.stop().await;
}

#[actix_rt::test]
async fn server_error_is_retryable_status() {
    let sim = start_sim(CrmSimConfig::default()).await;
    sim.set_error_rate(1.0);
    let client = client(&sim);

    let error = client
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap_err();

    let Error::Status {
        status,
        body_excerpt,
        ..
    } = &error
    else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(status.as_u16(), 500);
    assert!(body_excerpt.contains("\"code\":500"), "{body_excerpt}");
    assert!(error.is_retryable());
    sim.stop().await;
}

#[actix_rt::test]
async fn slow_server_is_timeout() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let mut config = client_config(&sim, "not-a-real-password");
    config.request_timeout = Duration::from_millis(200);
    let client = CrmClient::new(config).unwrap();
    sim.set_latency(Duration::from_secs(1));

    let error = client
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(error.is_retryable());
    sim.stop().await;
}

#[actix_rt::test]
async fn closed_port_is_connect_error() {
    let listener = std::net::TcpListener::bind(local_any_port()).unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let base_url = url::Url::parse(&format!("http://{address}/")).unwrap();
    let config = CrmClientConfig::new(base_url, "api-user", SecretString::from("x"));
    let client = CrmClient::new(config).unwrap();

    let error = client
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(error.is_retryable());
}

#[actix_rt::test]
async fn clones_share_one_token() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);
    let clone = client.clone();

    client.get_person(&CrmId::from(PERSON_ID)).await.unwrap();
    clone
        .get_organization(&CrmId::from(ORGANIZATION_ID))
        .await
        .unwrap();

    assert_eq!(sim.counters().logins, 1);
    assert_eq!(clone.login_count(), 1);
    sim.stop().await;
}

/// CRM stand-in whose login returns `login_body` and whose data calls all return
/// `data_status`, counting both.
struct StubCrm {
    base_url: url::Url,
    logins: Arc<AtomicUsize>,
    data_calls: Arc<AtomicUsize>,
    server: actix_web::dev::ServerHandle,
}

#[derive(Clone)]
struct StubData {
    login_body: String,
    data_status: u16,
    data_body: String,
    logins: Arc<AtomicUsize>,
    data_calls: Arc<AtomicUsize>,
}

async fn stub_login(data: web::Data<StubData>) -> HttpResponse {
    data.logins.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(data.login_body.clone())
}

async fn stub_data(data: web::Data<StubData>) -> HttpResponse {
    data.data_calls.fetch_add(1, Ordering::SeqCst);
    let status = actix_web::http::StatusCode::from_u16(data.data_status).unwrap();
    HttpResponse::build(status)
        .content_type("application/json")
        .body(data.data_body.clone())
}

impl StubCrm {
    async fn start(login_body: Value, data_status: u16, data_body: &str) -> Self {
        let data = StubData {
            login_body: login_body.to_string(),
            data_status,
            data_body: data_body.to_owned(),
            logins: Arc::new(AtomicUsize::new(0)),
            data_calls: Arc::new(AtomicUsize::new(0)),
        };
        let app_data = web::Data::new(data.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_data.clone())
                .route("/api/v2/auth/login", web::post().to(stub_login))
                .default_service(web::to(stub_data))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(local_any_port())
        .unwrap();
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);

        Self {
            base_url: url::Url::parse(&format!("http://{address}/")).unwrap(),
            logins: data.logins,
            data_calls: data.data_calls,
            server: handle,
        }
    }

    fn client(&self) -> CrmClient {
        let config =
            CrmClientConfig::new(self.base_url.clone(), "api-user", SecretString::from("x"));
        CrmClient::new(config).unwrap()
    }

    async fn stop(self) {
        self.server.stop(true).await;
    }
}

fn valid_login() -> Value {
    json!({
        "expiresAt": "2999-01-01T00:00:00.0000000+03:30",
        "accessToken": "header.claims.signature",
        "refreshToken": "opaque",
    })
}

#[actix_rt::test]
async fn persistent_401_retries_once() {
    let stub = StubCrm::start(valid_login(), 401, "").await;
    let client = stub.client();

    let error = client
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
    assert_eq!(stub.logins.load(Ordering::SeqCst), 2);
    assert_eq!(stub.data_calls.load(Ordering::SeqCst), 2);
    stub.stop().await;
}

#[actix_rt::test]
async fn login_without_token_is_invalid_response() {
    let mut login = valid_login();
    login["accessToken"] = json!("");
    let stub = StubCrm::start(login, 200, "{}").await;

    let error = stub
        .client()
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::InvalidResponse { .. }), "{error:?}");
    assert_eq!(stub.data_calls.load(Ordering::SeqCst), 0);
    stub.stop().await;
}

#[actix_rt::test]
async fn login_with_bad_expiry_is_invalid_response() {
    let mut login = valid_login();
    login["expiresAt"] = json!("2026-01-10 12:15");
    let stub = StubCrm::start(login, 200, "{}").await;

    let error = stub
        .client()
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap_err();

    let Error::InvalidResponse { reason, .. } = &error else {
        panic!("expected an invalid response, got {error:?}");
    };
    assert!(reason.contains("expiresAt"), "{reason}");
    stub.stop().await;
}

#[actix_rt::test]
async fn past_expiry_reuses_token_until_401() {
    let mut login = valid_login();
    login["expiresAt"] = json!("2000-01-01T00:00:00.0000000+03:30");
    let stub = StubCrm::start(login, 200, "null").await;
    let client = stub.client();

    let first = client.get_person(&CrmId::from(PERSON_ID)).await.unwrap();
    let second = client.get_person(&CrmId::from(PERSON_ID)).await.unwrap();

    assert!(first.is_none());
    assert!(second.is_none());
    assert_eq!(stub.logins.load(Ordering::SeqCst), 1);
    stub.stop().await;
}

#[actix_rt::test]
async fn malformed_record_is_invalid_response() {
    let stub = StubCrm::start(valid_login(), 200, r#"{"crmId": 5}"#).await;

    let error = stub
        .client()
        .get_person(&CrmId::from(PERSON_ID))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::InvalidResponse { .. }), "{error:?}");
    assert!(!error.is_retryable());
    stub.stop().await;
}

#[actix_rt::test]
async fn bad_request_is_status_error() {
    let stub = StubCrm::start(valid_login(), 400, r#"{"code": 400}"#).await;

    let error = stub.client().search_identities(0, 5, "").await.unwrap_err();

    let Error::Status { status, .. } = &error else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(status.as_u16(), 400);
    assert!(!error.is_retryable());
    stub.stop().await;
}
