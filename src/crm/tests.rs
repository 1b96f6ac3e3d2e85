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

use super::model::local_datetime;
use super::{
    CrmAddress, CrmCategoryRef, CrmClient, CrmClientConfig, CrmId, CrmIdentityWrite,
    CrmOrganizationWrite, CrmPersonWrite, CrmPhone, Error, IdentityKind,
};
use crate::sim::crm::{self as sim, API_USER_ID, CrmSim, CrmSimConfig, NewPerson};

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

fn phone(default: bool, phone_type: &str, number: &str) -> CrmPhone {
    CrmPhone {
        default,
        phone_type: Some(phone_type.into()),
        phone_number: Some(number.into()),
        ..CrmPhone::default()
    }
}

fn new_person(customer_number: &str) -> CrmPersonWrite {
    CrmPersonWrite {
        identity: CrmIdentityWrite {
            crm_object_type_code: Some(IdentityKind::Person.default_type_code().into()),
            ref_id: Some("7".into()),
            nick_name: Some("Sample Person".into()),
            national_code: Some("1234567891".into()),
            economic_code: Some("411111111112".into()),
            email: Some("person@example.com".into()),
            customer_number: Some(customer_number.into()),
            customer_date: Some(local_datetime::parse("2026-01-10T10:15:42.517").unwrap()),
            description: Some("Imported from the finance system".into()),
            phone_contacts: vec![
                phone(true, "Mobile", "09120000001"),
                phone(false, "Office", "02100000002"),
            ],
            address_contacts: vec![CrmAddress {
                default: true,
                city: Some("Tehran".into()),
                address: Some("Sample street 1".into()),
                zip_code: Some("1111111111".into()),
                ..CrmAddress::default()
            }],
            categories: vec![CrmCategoryRef::key("syaghcontact")],
            tags: vec!["synced".into()],
            ..CrmIdentityWrite::default()
        },
        first_name: Some("Sample".into()),
        last_name: Some("Person".into()),
        birth_date: Some(local_datetime::parse("1990-05-01T00:00:00").unwrap()),
        ..CrmPersonWrite::default()
    }
}

fn new_organization(customer_number: &str) -> CrmOrganizationWrite {
    CrmOrganizationWrite {
        identity: CrmIdentityWrite {
            crm_object_type_code: Some(IdentityKind::Organization.default_type_code().into()),
            nick_name: Some("Sample Company".into()),
            national_code: Some("10100000002".into()),
            economic_code: Some("411111111113".into()),
            website: Some("https://example.com".into()),
            customer_number: Some(customer_number.into()),
            phone_contacts: vec![phone(true, "Office", "02100000003")],
            categories: vec![CrmCategoryRef::key("syaghcontact")],
            ..CrmIdentityWrite::default()
        },
        register_number: Some("123456".into()),
        ..CrmOrganizationWrite::default()
    }
}

/// Clears the ids that the CRM assigns, so that a body read back compares with the one sent.
fn without_assigned_ids(mut identity: CrmIdentityWrite) -> CrmIdentityWrite {
    identity.crm_id = None;
    for phone in &mut identity.phone_contacts {
        phone.id = None;
    }
    for address in &mut identity.address_contacts {
        address.id = None;
    }
    for category in &mut identity.categories {
        category.id = None;
    }
    identity
}

async fn start_empty_sim() -> CrmSim {
    start_sim(CrmSimConfig {
        seed_fixtures: false,
        ..CrmSimConfig::default()
    })
    .await
}

#[actix_rt::test]
async fn created_person_reads_back_equal() {
    let sim = start_empty_sim().await;
    let client = client(&sim);
    let sent = new_person("100-5001");

    let id = client.create_person(&sent).await.unwrap();

    let person = client.get_person(&id).await.unwrap().unwrap();
    let mut read_back = CrmPersonWrite::from(&person);
    assert_eq!(read_back.identity.crm_id.as_ref(), Some(&id));
    read_back.identity = without_assigned_ids(read_back.identity);
    assert_eq!(read_back, sent);
    assert!(
        person
            .identity
            .phone_contacts
            .iter()
            .all(|p| p.id.is_some())
    );
    assert_eq!(person.object.creator_id.as_deref(), Some(API_USER_ID));
    assert_eq!(sim.counters().person_creates, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn created_organization_reads_back_equal() {
    let sim = start_empty_sim().await;
    let client = client(&sim);
    let sent = new_organization("100-5002");

    let id = client.create_organization(&sent).await.unwrap();

    let organization = client.get_organization(&id).await.unwrap().unwrap();
    let mut read_back = CrmOrganizationWrite::from(&organization);
    read_back.identity = without_assigned_ids(read_back.identity);
    assert_eq!(read_back, sent);
    assert!(client.get_person(&id).await.unwrap().is_none());
    assert_eq!(sim.counters().organization_creates, 1);
    assert_eq!(sim.counters().person_creates, 0);
    sim.stop().await;
}

#[actix_rt::test]
async fn update_keeps_phone_ids() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);
    let id = CrmId::from(PERSON_ID);
    let before = client.get_person(&id).await.unwrap().unwrap();
    let mut update = CrmPersonWrite::from(&before);
    update.identity.phone_contacts[0].phone_number = Some("09129999999".into());
    update.identity.email = Some("changed@example.com".into());

    let updated = client.update_person(&update).await.unwrap();

    let after = client.get_person(&id).await.unwrap().unwrap();
    assert_eq!(updated, id);
    let ids = |person: &crate::crm::CrmPerson| -> Vec<Option<String>> {
        let phones = &person.identity.phone_contacts;
        phones.iter().map(|phone| phone.id.clone()).collect()
    };
    assert_eq!(ids(&after), ids(&before));
    assert_eq!(
        after.identity.phone_contacts[0].phone_number.as_deref(),
        Some("09129999999")
    );
    assert_eq!(
        after.identity.address_contacts[0].id,
        before.identity.address_contacts[0].id
    );
    assert_eq!(after.identity.email.as_deref(), Some("changed@example.com"));
    assert_eq!(
        after.identity.customer_number,
        before.identity.customer_number
    );
    assert_eq!(after.object.creat_date, before.object.creat_date);
    assert!(after.object.modify_date > before.object.modify_date);
    assert_eq!(sim.counters().person_updates, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn organization_update_of_deleted_record_is_not_found() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);
    let id = CrmId::from(ORGANIZATION_ID);
    let organization = client.get_organization(&id).await.unwrap().unwrap();
    assert!(sim.delete_identity(&id).await);

    let error = client
        .update_organization(&CrmOrganizationWrite::from(&organization))
        .await
        .unwrap_err();

    let Error::Status { status, .. } = &error else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(status.as_u16(), 404);
    assert!(!error.is_retryable());
    assert!(!error.outcome_uncertain());
    sim.stop().await;
}

#[actix_rt::test]
async fn create_with_crm_id_is_invalid_request() {
    let stub = StubCrm::start(valid_login(), 200, r#"{"crmId": "x"}"#).await;
    let client = stub.client();
    let mut person = new_person("100-5003");
    person.identity.crm_id = Some(CrmId::from(PERSON_ID));

    let create = client.create_person(&person).await.unwrap_err();
    let update = client
        .update_organization(&new_organization("100-5004"))
        .await
        .unwrap_err();

    assert!(matches!(create, Error::InvalidRequest { .. }), "{create:?}");
    assert!(matches!(update, Error::InvalidRequest { .. }), "{update:?}");
    assert!(!create.is_retryable());
    assert!(!create.outcome_uncertain());
    assert_eq!(stub.data_calls.load(Ordering::SeqCst), 0);
    stub.stop().await;
}

#[actix_rt::test]
async fn create_response_without_crm_id_is_create_without_id() {
    let cases = [
        (200, "{}"),
        (200, r#"{"crmId": ""}"#),
        (200, r#"{"crmId": null}"#),
        (200, ""),
        (200, r#"{"id": "9295bc51-ce7c-4c3c-be1d-addf602c8081"}"#),
        (201, ""),
        (201, r#"{"crmId": "9295bc51-ce7c-4c3c-be1d-addf602c8081"}"#),
    ];

    for (status, body) in cases {
        let stub = StubCrm::start(valid_login(), status, body).await;

        let error = stub
            .client()
            .create_person(&new_person("100-5005"))
            .await
            .unwrap_err();

        assert!(
            matches!(error, Error::CreateWithoutId { .. }),
            "{status} {body}: {error:?}"
        );
        assert!(error.outcome_uncertain(), "{status} {body}");
        assert!(!error.is_retryable(), "{status} {body}");
        // Sent once, never retried.
        assert_eq!(stub.data_calls.load(Ordering::SeqCst), 1, "{status} {body}");
        stub.stop().await;
    }
}

#[actix_rt::test]
async fn update_response_with_other_id_is_update_without_id() {
    let stub = StubCrm::start(valid_login(), 200, r#"{"crmId": "another-record"}"#).await;
    let mut person = new_person("100-5006");
    person.identity.crm_id = Some(CrmId::from(PERSON_ID));

    let error = stub.client().update_person(&person).await.unwrap_err();

    let Error::UpdateWithoutId { crm_id, .. } = &error else {
        panic!("expected an update without id, got {error:?}");
    };
    assert_eq!(crm_id.as_str(), PERSON_ID);
    assert!(error.outcome_uncertain());
    stub.stop().await;
}

#[actix_rt::test]
async fn timeout_after_commit_is_uncertain() {
    let sim = start_empty_sim().await;
    let mut config = client_config(&sim, "not-a-real-password");
    config.request_timeout = Duration::from_millis(300);
    let client = CrmClient::new(config).unwrap();
    client.search_identities(0, 1, "").await.unwrap();
    sim.delay_responses_after_commit(1, Duration::from_millis(800));

    let error = client
        .create_person(&new_person("100-5007"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            Error::Timeout {
                request_sent: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.outcome_uncertain());
    assert!(error.is_retryable());
    let stored = client.search_identities(0, 10, "100-5007").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(sim.counters().person_creates, 1);
    // The hold applied to one create only.
    let second = client.create_person(&new_person("100-5008")).await;
    assert!(second.is_ok(), "{second:?}");
    sim.stop().await;
}

#[actix_rt::test]
async fn login_timeout_before_create_is_certain() {
    let sim = start_empty_sim().await;
    let mut config = client_config(&sim, "not-a-real-password");
    config.request_timeout = Duration::from_millis(200);
    let client = CrmClient::new(config).unwrap();
    sim.set_latency(Duration::from_millis(600));

    let error = client
        .create_person(&new_person("100-5009"))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(!error.outcome_uncertain());
    assert_eq!(sim.counters().person_creates, 0);
    sim.stop().await;
}

#[actix_rt::test]
async fn create_after_rejected_token_is_stored_once() {
    let sim = start_empty_sim().await;
    let client = client(&sim);
    client.search_identities(0, 1, "").await.unwrap();
    sim.expire_tokens();

    let id = client
        .create_organization(&new_organization("100-5010"))
        .await
        .unwrap();

    assert!(sim.organization(&id).is_some());
    assert_eq!(sim.counters().organization_creates, 1);
    assert_eq!(sim.counters().logins, 2);
    sim.stop().await;
}

#[actix_rt::test]
async fn persistent_401_on_create_is_certain() {
    let stub = StubCrm::start(valid_login(), 401, "").await;

    let error = stub
        .client()
        .create_person(&new_person("100-5011"))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
    assert!(!error.outcome_uncertain());
    assert_eq!(stub.data_calls.load(Ordering::SeqCst), 2);
    stub.stop().await;
}

#[actix_rt::test]
async fn server_error_on_create_is_uncertain() {
    let sim = start_empty_sim().await;
    let client = client(&sim);
    client.search_identities(0, 1, "").await.unwrap();
    sim.set_error_rate(1.0);

    let error = client
        .create_person(&new_person("100-5012"))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Status { .. }), "{error:?}");
    assert!(error.outcome_uncertain());
    assert!(error.is_retryable());
    sim.stop().await;
}

#[actix_rt::test]
async fn connect_error_on_create_is_certain() {
    let listener = std::net::TcpListener::bind(local_any_port()).unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let base_url = url::Url::parse(&format!("http://{address}/")).unwrap();
    let config = CrmClientConfig::new(base_url, "api-user", SecretString::from("x"));
    let client = CrmClient::new(config).unwrap();

    let error = client
        .create_person(&new_person("100-5013"))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(!error.outcome_uncertain());
}

#[actix_rt::test]
async fn find_pages_records_modified_since_in_order() {
    let sim = start_empty_sim().await;
    let client = client(&sim);
    let mut ids = Vec::new();
    for index in 0..6 {
        let id = client
            .create_person(&new_person(&format!("100-60{index:02}")))
            .await
            .unwrap();
        ids.push(id);
    }
    client
        .create_organization(&new_organization("100-6100"))
        .await
        .unwrap();
    // Moves the first person to the end of the ModifyDate order.
    let first = client.get_person(&ids[0]).await.unwrap().unwrap();
    client
        .update_person(&CrmPersonWrite::from(&first))
        .await
        .unwrap();
    ids.rotate_left(1);
    let since = sim.person(&ids[2]).unwrap().object.modify_date;

    let mut found = Vec::new();
    let mut totals = Vec::new();
    for page_number in 1..=3 {
        let page = client
            .find_people_modified_since("person", since, page_number, 2)
            .await
            .unwrap();
        totals.push(page.total);
        found.extend(page.data);
    }

    let found_ids: Vec<CrmId> = found.iter().map(|person| person.id().clone()).collect();
    assert_eq!(found_ids, ids[2..]);
    assert_eq!(totals, [4, 4, 4]);
    assert!(
        found
            .windows(2)
            .all(|pair| pair[0].object.modify_date < pair[1].object.modify_date)
    );
    assert_eq!(found[0].object.modify_date, since);
    assert_eq!(sim.counters().finds, 3);
    sim.stop().await;
}

#[actix_rt::test]
async fn find_organizations_filters_by_type() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);
    let since = local_datetime::parse("2000-01-01T00:00:00").unwrap();

    let organizations = client
        .find_organizations_modified_since("organization", since, 1, 10)
        .await
        .unwrap();
    let other_type = client
        .find_organizations_modified_since("supplier", since, 1, 10)
        .await
        .unwrap();

    assert_eq!(organizations.total, 1);
    assert_eq!(organizations.data[0].id().as_str(), ORGANIZATION_ID);
    assert_eq!(other_type.total, 0);
    assert!(other_type.data.is_empty());
    sim.stop().await;
}

#[actix_rt::test]
async fn find_when_unsupported_is_find_unsupported() {
    let sim = start_sim(CrmSimConfig::default()).await;
    sim.set_find_supported(false);
    let client = client(&sim);
    let since = local_datetime::parse("2026-01-10T00:00:00").unwrap();

    let error = client
        .find_people_modified_since("person", since, 1, 10)
        .await
        .unwrap_err();

    let Error::FindUnsupported { status, path } = &error else {
        panic!("expected find unsupported, got {error:?}");
    };
    assert_eq!(status.as_u16(), 404);
    assert_eq!(path, "/api/v2/crmobject/person/find");
    assert!(!error.is_retryable());
    assert!(!error.outcome_uncertain());
    sim.stop().await;
}

#[actix_rt::test]
async fn find_statuses_map_to_find_unsupported() {
    let since = local_datetime::parse("2026-01-10T00:00:00").unwrap();
    let cases = [
        (400, true),
        (404, true),
        (405, true),
        (501, true),
        (500, false),
    ];

    for (status, unsupported) in cases {
        let stub = StubCrm::start(valid_login(), status, r#"{"code": 0}"#).await;

        let error = stub
            .client()
            .find_organizations_modified_since("organization", since, 1, 10)
            .await
            .unwrap_err();

        assert_eq!(
            matches!(error, Error::FindUnsupported { .. }),
            unsupported,
            "{status}: {error:?}"
        );
        assert_eq!(error.is_retryable(), !unsupported, "{status}");
        stub.stop().await;
    }
}

#[actix_rt::test]
async fn find_page_zero_is_invalid_request() {
    let stub = StubCrm::start(valid_login(), 200, r#"{"total": 0, "data": []}"#).await;
    let since = local_datetime::parse("2026-01-10T00:00:00").unwrap();

    let page_zero = stub
        .client()
        .find_people_modified_since("person", since, 0, 10)
        .await
        .unwrap_err();
    let size_zero = stub
        .client()
        .find_people_modified_since("person", since, 1, 0)
        .await
        .unwrap_err();

    assert!(
        matches!(page_zero, Error::InvalidRequest { .. }),
        "{page_zero:?}"
    );
    assert!(
        matches!(size_zero, Error::InvalidRequest { .. }),
        "{size_zero:?}"
    );
    assert_eq!(stub.data_calls.load(Ordering::SeqCst), 0);
    stub.stop().await;
}

#[actix_rt::test]
async fn find_with_malformed_page_is_invalid_response() {
    let stub = StubCrm::start(valid_login(), 200, r#"[{"crmId": "x"}]"#).await;
    let since = local_datetime::parse("2026-01-10T00:00:00").unwrap();

    let error = stub
        .client()
        .find_people_modified_since("person", since, 1, 10)
        .await
        .unwrap_err();

    assert!(matches!(error, Error::InvalidResponse { .. }), "{error:?}");
    stub.stop().await;
}

const QUOTE_ID: &str = "e1ede8e5-4a54-4ad8-8c72-be9a955348a7";
const QUOTE_FIXTURE: &str = include_str!("../sim/fixtures/crm/quote_sales_get_response.json");

#[actix_rt::test]
async fn get_quote_keeps_exact_decimals() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);

    let quote = client
        .get_quote(&CrmId::from(QUOTE_ID))
        .await
        .unwrap()
        .unwrap();

    let expected: super::CrmQuote = serde_json::from_str(QUOTE_FIXTURE).unwrap();
    assert_eq!(quote, expected);
    assert_eq!(quote.details[1].count.to_string(), "3.5000");
    assert_eq!(quote.details[0].count.to_string(), "2.0000");
    assert_eq!(quote.total_value.to_string(), "3500000.00");
    assert_eq!(quote.final_value.to_string(), "3738700.00");
    assert_eq!(
        quote.customer_id().map(CrmId::as_str),
        Some(ORGANIZATION_ID)
    );
    assert_eq!(sim.counters().quote_gets, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn get_quote_of_unknown_id_is_none() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);

    let quote = client
        .get_quote(&CrmId::from("00000000-0000-0000-0000-000000000000"))
        .await
        .unwrap();

    assert_eq!(quote, None);
    assert_eq!(sim.counters().quote_gets, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn get_quote_after_token_expiry_relogs_once() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let client = client(&sim);
    client.get_quote(&CrmId::from(QUOTE_ID)).await.unwrap();
    sim.expire_tokens();

    let quote = client.get_quote(&CrmId::from(QUOTE_ID)).await.unwrap();

    assert!(quote.is_some());
    assert_eq!(client.login_count(), 2);
    assert_eq!(sim.counters().logins, 2);
    assert_eq!(sim.counters().quote_gets, 2);
    sim.stop().await;
}
