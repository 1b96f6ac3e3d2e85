//! Tests of the simulator's REST API, edit API and webhooks, over HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use url::Url;

use super::*;

/// One request that reached the test webhook receiver.
#[derive(Debug, Clone)]
struct ReceivedHook {
    method: String,
    path: String,
    raw_query: String,
    /// Query decoded as `application/x-www-form-urlencoded`.
    params: HashMap<String, String>,
    header_names: Vec<String>,
    body_len: usize,
}

/// Webhook receiver on 127.0.0.1 that records every request and responds with `status`.
struct HookReceiver {
    url: Url,
    received: Arc<Mutex<Vec<ReceivedHook>>>,
    status: Arc<AtomicU16>,
    server: ServerHandle,
}

#[derive(Clone)]
struct ReceiverData {
    received: Arc<Mutex<Vec<ReceivedHook>>>,
    status: Arc<AtomicU16>,
}

async fn record_hook(
    request: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    body: web::Bytes,
    data: web::Data<ReceiverData>,
) -> HttpResponse {
    let hook = ReceivedHook {
        method: request.method().to_string(),
        path: request.path().to_owned(),
        raw_query: request.query_string().to_owned(),
        params: query.into_inner(),
        header_names: request
            .headers()
            .keys()
            .map(|name| name.as_str().to_owned())
            .collect(),
        body_len: body.len(),
    };
    data.received.lock().unwrap().push(hook);
    let status = data.status.load(Ordering::SeqCst);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

impl HookReceiver {
    async fn start() -> Self {
        let data = ReceiverData {
            received: Arc::new(Mutex::new(Vec::new())),
            status: Arc::new(AtomicU16::new(200)),
        };
        let app_data = web::Data::new(data.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_data.clone())
                .route("/webhook/crm/identity", web::get().to(record_hook))
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
            url: Url::parse(&format!("http://{address}/webhook/crm/identity")).unwrap(),
            received: data.received,
            status: data.status,
            server: handle,
        }
    }

    fn received(&self) -> Vec<ReceivedHook> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to 5 s until `count` requests have arrived.
    async fn wait_for(&self, count: usize) -> Vec<ReceivedHook> {
        for _ in 0..100 {
            if self.received().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.received()
    }

    async fn stop(self) {
        self.server.stop(true).await;
    }
}

fn local_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_sim(config: CrmSimConfig) -> CrmSim {
    start(config, local_any_port()).await.unwrap()
}

async fn start_sim_with_receiver(config: CrmSimConfig) -> (CrmSim, HookReceiver) {
    let receiver = HookReceiver::start().await;
    let sim = start_sim(CrmSimConfig {
        identity_webhook_url: Some(receiver.url.clone()),
        ..config
    })
    .await;
    (sim, receiver)
}

fn sample_person() -> NewPerson {
    NewPerson {
        first_name: "Sara".into(),
        last_name: "Sample".into(),
        mobile: Some("09120000001".into()),
        customer_number: Some("100-3000".into()),
        ..NewPerson::default()
    }
}

/// Plain HTTP access to the simulator, for requests the CRM client does not make.
struct RawApi {
    http: reqwest::Client,
    base_url: Url,
    token: String,
}

impl RawApi {
    async fn login(sim: &CrmSim) -> Self {
        let http = reqwest::Client::new();
        let base_url = sim.base_url();
        let response: Value = http
            .post(base_url.join("api/v2/auth/login").unwrap())
            .json(&json!({"username": "api-user", "password": "not-a-real-password"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = response["accessToken"].as_str().unwrap().to_owned();
        Self {
            http,
            base_url,
            token,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.base_url.join(path).unwrap())
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[actix_rt::test]
async fn create_person_webhook_reaches_receiver() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;

    let id = sim.create_person(sample_person()).await;

    // The edit API waits for the delivery, so the request has already arrived.
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let hook = &received[0];
    assert_eq!(hook.method, "GET");
    assert_eq!(hook.path, "/webhook/crm/identity");
    assert_eq!(hook.params.len(), 4);
    assert_eq!(hook.params["event"], "Insert");
    assert_eq!(hook.params["id"], id.as_str());
    assert_eq!(hook.params["type"], "Identity");
    assert_eq!(hook.params["subtype"], "مخاطب حقیقی");
    assert_eq!(
        hook.raw_query,
        webhook_query("Insert", &id, "Identity", "مخاطب حقیقی")
    );
    assert!(
        !hook.header_names.iter().any(|name| name == "user-agent"),
        "{:?}",
        hook.header_names
    );
    assert!(!hook.header_names.iter().any(|name| name == "content-type"));
    assert_eq!(hook.body_len, 0);
    let log = sim.webhook_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, Some(200));
    assert_eq!(sim.counters().webhooks_sent, 1);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn duplicate_deliveries_send_copies() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;
    sim.set_duplicate_deliveries(2);

    let id = sim.create_person(sample_person()).await;

    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|hook| hook.raw_query == received[0].raw_query)
    );
    assert!(received.iter().all(|hook| hook.params["id"] == id.as_str()));
    assert_eq!(sim.webhook_log().len(), 3);
    assert_eq!(sim.counters().webhooks_sent, 3);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn dropped_webhooks_are_not_sent() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;
    sim.set_drop_webhooks(true);

    sim.create_person(sample_person()).await;

    assert!(receiver.received().is_empty());
    assert_eq!(sim.counters().webhooks_dropped, 1);
    assert_eq!(sim.counters().webhooks_sent, 0);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn failed_delivery_is_logged() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;
    receiver.status.store(503, Ordering::SeqCst);

    sim.create_person(sample_person()).await;

    let log = sim.webhook_log();
    assert_eq!(log[0].status, Some(503));
    assert!(!log[0].succeeded());
    assert_eq!(sim.counters().webhooks_failed, 1);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn unreachable_receiver_is_logged_with_error() {
    let listener = std::net::TcpListener::bind(local_any_port()).unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let sim = start_sim(CrmSimConfig {
        identity_webhook_url: Some(Url::parse(&format!("http://{address}/hook")).unwrap()),
        ..CrmSimConfig::default()
    })
    .await;

    sim.create_person(sample_person()).await;

    let log = sim.webhook_log();
    assert_eq!(log[0].status, None);
    assert!(log[0].error.is_some());
    assert_eq!(sim.counters().webhooks_failed, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn edit_delete_and_redelivery_fire_webhooks() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;
    let organization = sim
        .create_organization(NewOrganization {
            nick_name: "Example Trading Ltd".into(),
            ..NewOrganization::default()
        })
        .await;

    let edited = sim
        .edit_organization(&organization, |record| {
            record.economic_code = Some("411111111112".into());
        })
        .await;
    sim.redeliver_webhook(&organization, "Update").await;
    let deleted = sim.delete_identity(&organization).await;

    assert!(edited);
    assert!(deleted);
    let events: Vec<String> = receiver
        .received()
        .iter()
        .map(|hook| hook.params["event"].clone())
        .collect();
    assert_eq!(events, ["Insert", "Update", "Update", "Delete"]);
    assert!(
        receiver
            .received()
            .iter()
            .all(|hook| hook.params["subtype"] == "مخاطب حقوقی")
    );
    assert!(sim.organization(&organization).is_none());
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn edit_of_unknown_person_is_false() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;
    let organization_id = CrmId::from("4bb1e60b-eb1b-46de-a8d3-e49ddb316e19");

    let edited = sim.edit_person(&organization_id, |_| {}).await;

    assert!(!edited);
    assert!(receiver.received().is_empty());
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn edit_stamps_human_user_and_moves_modify_date() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let id = sim.create_person(sample_person()).await;
    let before = sim.person(&id).unwrap();

    sim.edit_person(&id, |person| person.last_name = Some("Changed".into()))
        .await;

    let after = sim.person(&id).unwrap();
    assert_eq!(after.last_name.as_deref(), Some("Changed"));
    assert!(after.object.modify_date > before.object.modify_date);
    assert_eq!(after.object.creat_date, before.object.creat_date);
    assert_eq!(after.object.modifier_id.as_deref(), Some(HUMAN_USER_ID));
    sim.stop().await;
}

#[actix_rt::test]
async fn api_writes_fire_no_webhooks_by_default() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;

    let (status, _) = api
        .post(
            "api/v2/crmobject/person/create",
            json!({"nickName": "From the API"}),
        )
        .await;

    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.received().is_empty());
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn api_writes_fire_webhooks_when_enabled() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig {
        webhooks_on_api_writes: true,
        ..CrmSimConfig::default()
    })
    .await;
    let api = RawApi::login(&sim).await;

    let (_, created) = api
        .post(
            "api/v2/crmobject/person/create",
            json!({"nickName": "From the API"}),
        )
        .await;

    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].params["id"], created["crmId"].as_str().unwrap());
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn api_create_accepts_pascal_case_and_stamps_api_user() {
    let sim = start_sim(CrmSimConfig {
        seed_fixtures: false,
        ..CrmSimConfig::default()
    })
    .await;
    let api = RawApi::login(&sim).await;
    let body = json!({
        "CrmObjectTypeCode": "person",
        "NickName": "Pascal Case",
        "FirstName": "Pascal",
        "CustomerNumber": "100-4000",
        "PhoneContacts": [{"Default": true, "PhoneType": "Mobile", "PhoneNumber": "09120000009"}],
        "CustomerDate": "2025-12-18T08:38:59.282Z",
    });

    let (status, created) = api.post("api/v2/crmobject/person/create", body).await;

    assert_eq!(status, 200);
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["crmId"]);
    let id = CrmId::from(created["crmId"].as_str().unwrap());
    let person = sim.person(&id).unwrap();
    assert_eq!(person.first_name.as_deref(), Some("Pascal"));
    assert_eq!(
        person.identity.phone_contacts[0].phone_number.as_deref(),
        Some("09120000009")
    );
    assert!(person.identity.phone_contacts[0].id.is_some());
    assert_eq!(person.object.creator_id.as_deref(), Some(API_USER_ID));
    assert_eq!(person.object.modifier_id.as_deref(), Some(API_USER_ID));
    assert_eq!(sim.counters().person_creates, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn api_get_returns_get_model() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;

    let (status, person) = api
        .post(
            "api/v2/crmobject/person/get",
            json!({"Id": "9295bc51-ce7c-4c3c-be1d-addf602c8081"}),
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(person["creatDate"], "2026-01-10T10:15:42.517");
    assert_eq!(person["customerNumber"], "100-1005");
    assert_eq!(person["identityTypeName"], "مخاطب حقیقی");
    sim.stop().await;
}

#[actix_rt::test]
async fn api_update_replaces_record() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;
    let id = "4bb1e60b-eb1b-46de-a8d3-e49ddb316e19";
    let before = sim.organization(&CrmId::from(id)).unwrap();

    let (status, answer) = api
        .post(
            "api/v2/crmobject/organization/update",
            json!({"id": id, "nickName": "Renamed", "economicCode": "411111111119"}),
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(answer["crmId"], id);
    let after = sim.organization(&CrmId::from(id)).unwrap();
    assert_eq!(after.identity.nick_name.as_deref(), Some("Renamed"));
    assert_eq!(after.economic_code.as_deref(), Some("411111111119"));
    // Full replace: the phone that the body omitted is gone.
    assert!(after.identity.phone_contacts.is_empty());
    assert_eq!(after.object.creat_date, before.object.creat_date);
    assert_eq!(after.object.creator_id, before.object.creator_id);
    assert_eq!(after.object.modifier_id.as_deref(), Some(API_USER_ID));
    assert_eq!(sim.counters().organization_updates, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn api_update_of_unknown_id_is_not_found() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;

    let (status, body) = api
        .post(
            "api/v2/crmobject/person/update",
            json!({"crmId": "no-such-id", "nickName": "x"}),
        )
        .await;

    assert_eq!(status, 404);
    assert_eq!(body["code"], 404);
    assert!(body["message"].as_str().unwrap().contains("یافت نشد"));
    assert_eq!(body["errorDetails"], json!([]));
    sim.stop().await;
}

#[actix_rt::test]
async fn api_rejects_invalid_bodies() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;

    let (not_object, _) = api.post("api/v2/crmobject/person/get", json!([1, 2])).await;
    let (no_id, _) = api.post("api/v2/crmobject/person/get", json!({})).await;
    let (bad_list, body) = api
        .post(
            "api/v2/crmobject/person/create",
            json!({"nickName": "x", "phoneContacts": 5}),
        )
        .await;

    assert_eq!(not_object, 400);
    assert_eq!(no_id, 400);
    assert_eq!(bad_list, 400);
    assert_eq!(body["code"], 400);
    assert!(
        body["errorDetails"][0]["message"]
            .as_str()
            .unwrap()
            .contains("invalid type")
    );
    sim.stop().await;
}

#[actix_rt::test]
async fn data_call_without_token_is_unauthorized() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let http = reqwest::Client::new();

    let response = http
        .post(
            sim.base_url()
                .join("api/v2/crmobject/identity/search")
                .unwrap(),
        )
        .json(&json!({"pageNumber": 0, "pageSize": 5, "searchTerm": ""}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 401);
    sim.stop().await;
}

#[actix_rt::test]
async fn expired_token_is_unauthorized() {
    let sim = start_sim(CrmSimConfig {
        token_lifetime: Duration::from_millis(100),
        ..CrmSimConfig::default()
    })
    .await;
    let api = RawApi::login(&sim).await;

    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = api
        .post(
            "api/v2/crmobject/identity/search",
            json!({"pageNumber": 0, "pageSize": 5}),
        )
        .await;

    assert_eq!(status, 401);
    sim.stop().await;
}

#[actix_rt::test]
async fn login_response_has_fixture_shape() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let http = reqwest::Client::new();

    let body: Value = http
        .post(sim.base_url().join("api/v2/auth/login").unwrap())
        .json(
            &serde_json::from_str::<Value>(include_str!("../fixtures/crm/auth_login_request.json"))
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let expires_at = body["expiresAt"].as_str().unwrap();
    assert!(expires_at.ends_with("+03:30"), "{expires_at}");
    let fraction = expires_at.split('.').nth(1).unwrap();
    assert_eq!(fraction.len(), "1234567+03:30".len(), "{expires_at}");
    assert_eq!(body["accessToken"].as_str().unwrap().split('.').count(), 3);
    assert!(body["refreshToken"].is_string());
    sim.stop().await;
}

#[actix_rt::test]
async fn search_page_is_bare_array() {
    let sim = start_sim(CrmSimConfig::default()).await;
    sim.create_person(NewPerson {
        first_name: "NoNumber".into(),
        ..NewPerson::default()
    })
    .await;
    let api = RawApi::login(&sim).await;

    let (status, page) = api
        .post(
            "api/v2/crmobject/identity/search",
            json!({"PageNumber": 0, "PageSize": 5, "SearchTerm": ""}),
        )
        .await;

    assert_eq!(status, 200);
    let items = page.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["customerNo"], "100-1005");
    assert_eq!(items[2]["customerNo"], "");
    sim.stop().await;
}

#[actix_rt::test]
async fn http_edit_api_creates_and_patches() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;
    let http = reqwest::Client::new();
    let base_url = sim.base_url();

    let created = http
        .post(base_url.join("sim/persons").unwrap())
        .json(&json!({"first_name": "Curl", "last_name": "User", "mobile": "09120000005"}))
        .send()
        .await
        .unwrap();
    let created_status = created.status().as_u16();
    let id = created.json::<Value>().await.unwrap()["crmId"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = http
        .post(base_url.join(&format!("sim/persons/{id}")).unwrap())
        .json(&json!({"mobile": "09120000006"}))
        .send()
        .await
        .unwrap();
    let wrong_kind = http
        .post(base_url.join(&format!("sim/persons/{id}")).unwrap())
        .json(&json!({"economic_code": "1"}))
        .send()
        .await
        .unwrap();
    let counters: Value = http
        .get(base_url.join("sim/counters").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(created_status, 201);
    assert_eq!(patched.status().as_u16(), 200);
    assert_eq!(wrong_kind.status().as_u16(), 400);
    let person = sim.person(&CrmId(id)).unwrap();
    assert_eq!(
        person.identity.phone_contacts[0].phone_number.as_deref(),
        Some("09120000006")
    );
    let events: Vec<String> = receiver
        .received()
        .iter()
        .map(|hook| hook.params["event"].clone())
        .collect();
    assert_eq!(events, ["Insert", "Update"]);
    assert_eq!(counters["webhooks_sent"], 2);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn http_knobs_change_settings() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let http = reqwest::Client::new();

    let response = http
        .post(sim.base_url().join("sim/knobs").unwrap())
        .json(&json!({"duplicate_deliveries": 3, "error_rate": 0.5}))
        .send()
        .await
        .unwrap();
    let rejected = http
        .post(sim.base_url().join("sim/knobs").unwrap())
        .json(&json!({"error_rate": 2.0}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let knobs: Value = response.json().await.unwrap();
    assert_eq!(knobs["duplicate_deliveries"], 3);
    assert_eq!(knobs["error_rate"], 0.5);
    assert_eq!(rejected.status().as_u16(), 400);
    sim.stop().await;
}

#[actix_rt::test]
async fn delayed_webhook_arrives_later() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig {
        webhook_delay: Duration::from_millis(300),
        ..CrmSimConfig::default()
    })
    .await;

    sim.create_person(sample_person()).await;

    assert!(receiver.received().is_empty());
    assert_eq!(receiver.wait_for(1).await.len(), 1);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn api_writes_fire_webhooks_after_setter() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;
    sim.set_webhooks_on_api_writes(true);

    let (_, created) = api
        .post(
            "api/v2/crmobject/organization/create",
            json!({"nickName": "From the API"}),
        )
        .await;

    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].params["event"], "Insert");
    assert_eq!(received[0].params["id"], created["crmId"].as_str().unwrap());
    assert_eq!(received[0].params["subtype"], "مخاطب حقوقی");
    sim.stop().await;
    receiver.stop().await;
}

/// Body of a find on `ModifyDate` as the CRM client sends it.
fn find_body(type_key: &str, operator: u8, since: &str, order: u8, page_number: u32) -> Value {
    json!({
        "typeKey": type_key,
        "queries": [{"logicalOperator": 0, "field": "ModifyDate", "operator": operator,
                     "value": since, "leafLogicalOperator": null, "leafNegate": false,
                     "leafs": []}],
        "orders": [{"field": "ModifyDate", "order": order}],
        "pageNumber": page_number,
        "pageSize": 2,
    })
}

fn data_ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["crmId"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates five persons and one organization through the edit API, then edits the first
/// person, so that it is the person modified last. Returns the person ids in
/// `modifyDate` order.
async fn seed_for_find(sim: &CrmSim) -> Vec<CrmId> {
    let mut ids = Vec::new();
    for index in 0..5 {
        let person = NewPerson {
            first_name: format!("P{index}"),
            ..NewPerson::default()
        };
        ids.push(sim.create_person(person).await);
    }
    sim.create_organization(NewOrganization {
        nick_name: "Org".into(),
        ..NewOrganization::default()
    })
    .await;
    assert!(
        sim.edit_person(&ids[0], |person| person.gender = Some("F".into()))
            .await
    );
    ids.rotate_left(1);
    ids
}

#[actix_rt::test]
async fn find_filters_orders_and_pages() {
    let sim = start_sim(CrmSimConfig {
        seed_fixtures: false,
        ..CrmSimConfig::default()
    })
    .await;
    let ids = seed_for_find(&sim).await;
    let since = sim.person(&ids[1]).unwrap().object.modify_date;
    let since = crate::crm::model::local_datetime::format(&since);
    let api = RawApi::login(&sim).await;
    let path = "api/v2/crmobject/person/find";

    let (status, first) = api.post(path, find_body("person", 2, &since, 0, 1)).await;
    let (_, second) = api.post(path, find_body("person", 2, &since, 0, 2)).await;
    let (_, third) = api.post(path, find_body("person", 2, &since, 0, 3)).await;
    let (_, strictly_after) = api.post(path, find_body("person", 1, &since, 0, 1)).await;
    let (_, descending) = api.post(path, find_body("person", 2, &since, 1, 1)).await;
    let (_, other_type) = api.post(path, find_body("customer", 2, &since, 0, 1)).await;

    let expected: Vec<String> = ids[1..].iter().map(|id| id.to_string()).collect();
    assert_eq!(status, 200);
    assert_eq!(first["total"], 4);
    assert_eq!(data_ids(&first), expected[0..2]);
    assert_eq!(data_ids(&second), expected[2..4]);
    assert!(data_ids(&third).is_empty());
    assert_eq!(strictly_after["total"], 3);
    assert_eq!(data_ids(&strictly_after), expected[1..3]);
    assert_eq!(
        data_ids(&descending),
        [expected[3].clone(), expected[2].clone()]
    );
    assert_eq!(other_type["total"], 0);
    assert_eq!(first["data"][0]["firstName"], "P2");
    assert_eq!(sim.counters().finds, 6);
    sim.stop().await;
}

#[actix_rt::test]
async fn organization_find_returns_organizations_only() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;

    let (status, page) = api
        .post(
            "api/v2/crmobject/organization/find",
            find_body("organization", 2, "2000-01-01T00:00:00", 0, 1),
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(page["total"], 1);
    assert_eq!(
        page["data"][0]["crmId"],
        "4bb1e60b-eb1b-46de-a8d3-e49ddb316e19"
    );
    assert_eq!(page["data"][0]["economicCode"], "411111111111");
    sim.stop().await;
}

#[actix_rt::test]
async fn find_rejects_unsupported_query() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;
    let mut by_name = find_body("person", 2, "2026-01-10T00:00:00", 0, 1);
    by_name["queries"][0]["field"] = json!("FirstName");

    let (status, body) = api.post("api/v2/crmobject/person/find", by_name).await;
    let (page_zero, _) = api
        .post(
            "api/v2/crmobject/person/find",
            find_body("person", 2, "2026-01-10T00:00:00", 0, 0),
        )
        .await;

    assert_eq!(status, 400);
    assert_eq!(body["code"], 400);
    assert!(
        body["errorDetails"][0]["message"]
            .as_str()
            .unwrap()
            .contains("FirstName")
    );
    assert_eq!(page_zero, 400);
    assert_eq!(sim.counters().finds, 0);
    sim.stop().await;
}

#[actix_rt::test]
async fn find_is_not_found_when_unsupported() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;
    let http = reqwest::Client::new();
    let knobs = http
        .post(sim.base_url().join("sim/knobs").unwrap())
        .json(&json!({"find_supported": false}))
        .send()
        .await
        .unwrap();

    let (status, body) = api
        .post(
            "api/v2/crmobject/person/find",
            find_body("person", 2, "2026-01-10T00:00:00", 0, 1),
        )
        .await;
    sim.set_find_supported(true);
    let (again, _) = api
        .post(
            "api/v2/crmobject/person/find",
            find_body("person", 2, "2026-01-10T00:00:00", 0, 1),
        )
        .await;

    let knobs: Value = knobs.json().await.unwrap();
    assert_eq!(knobs["find_supported"], false);
    assert_eq!(status, 404);
    assert_eq!(body["code"], 404);
    assert_eq!(again, 200);
    sim.stop().await;
}

#[actix_rt::test]
async fn writes_stamp_strictly_increasing_modify_dates() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;
    let seeded = CrmId::from("9295bc51-ce7c-4c3c-be1d-addf602c8081");
    let modify_date = |id: &CrmId| sim.person(id).unwrap().object.modify_date;
    let mut stamps = Vec::new();

    let mut first = None;
    for index in 0..10 {
        let (_, created) = api
            .post(
                "api/v2/crmobject/person/create",
                json!({"nickName": format!("Quick {index}")}),
            )
            .await;
        let id = CrmId::from(created["crmId"].as_str().unwrap());
        stamps.push(modify_date(&id));
        first.get_or_insert(id);
        let id = sim.create_person(sample_person()).await;
        stamps.push(modify_date(&id));
    }
    let mut update = sim.person(&seeded).unwrap();
    update.identity.email = None;
    let (updated, _) = api
        .post(
            "api/v2/crmobject/person/update",
            serde_json::to_value(&update).unwrap(),
        )
        .await;
    stamps.push(modify_date(&seeded));
    let first = first.unwrap();
    assert!(sim.edit_person(&first, |_| {}).await);
    stamps.push(modify_date(&first));

    assert_eq!(updated, 200);
    for (index, pair) in stamps.windows(2).enumerate() {
        assert!(
            pair[0] < pair[1],
            "write {index}: {} then {}",
            pair[0],
            pair[1]
        );
    }
    for stamp in &stamps {
        assert_eq!(
            stamp.and_utc().timestamp_subsec_nanos() % 1_000_000,
            0,
            "{stamp}"
        );
    }
    sim.stop().await;
}

const QUOTE_ID: &str = "e1ede8e5-4a54-4ad8-8c72-be9a955348a7";
const QUOTE_FIXTURE: &str = include_str!("../fixtures/crm/quote_sales_get_response.json");

/// Compares two JSON texts value for value. Object keys may come in any order, and
/// numbers must match as text, so `100000.00` differs from `100000.0`. Keys that only
/// `actual` has must be `null`.
fn assert_same_json(actual: &str, expected: &str, path: &str) {
    use serde_json::value::RawValue;

    let actual_value: Value = serde_json::from_str(actual).unwrap();
    let expected_value: Value = serde_json::from_str(expected).unwrap();
    match (&actual_value, &expected_value) {
        (Value::Object(_), Value::Object(_)) => {
            let actual: HashMap<String, Box<RawValue>> = serde_json::from_str(actual).unwrap();
            let expected: HashMap<String, Box<RawValue>> = serde_json::from_str(expected).unwrap();
            for (key, expected_field) in &expected {
                let actual_field = actual
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key} is missing"));
                assert_same_json(
                    actual_field.get(),
                    expected_field.get(),
                    &format!("{path}.{key}"),
                );
            }
            for (key, actual_field) in &actual {
                if !expected.contains_key(key) {
                    assert_eq!(
                        actual_field.get(),
                        "null",
                        "{path}.{key} is not in the fixture"
                    );
                }
            }
        }
        (Value::Array(_), Value::Array(_)) => {
            let actual: Vec<Box<RawValue>> = serde_json::from_str(actual).unwrap();
            let expected: Vec<Box<RawValue>> = serde_json::from_str(expected).unwrap();
            assert_eq!(actual.len(), expected.len(), "length of {path}");
            for (index, (actual, expected)) in actual.iter().zip(&expected).enumerate() {
                assert_same_json(actual.get(), expected.get(), &format!("{path}[{index}]"));
            }
        }
        (Value::Number(_), Value::Number(_)) => {
            assert_eq!(actual.trim(), expected.trim(), "number at {path}");
        }
        _ => assert_eq!(actual_value, expected_value, "value at {path}"),
    }
}

fn sample_quote(identity_id: &CrmId) -> NewQuote {
    use rust_decimal::Decimal;

    NewQuote {
        identity_id: identity_id.clone(),
        type_code: "PI_5".to_owned(),
        subject: "پیش فاکتور آزمایشی".to_owned(),
        description: String::new(),
        quote_date: None,
        lines: vec![
            NewQuoteLine {
                product_code: "P-1001".to_owned(),
                product_name: "کالای نمونه یک".to_owned(),
                unit_name: "عدد".to_owned(),
                count: Decimal::from(2),
                unit_price: Decimal::from(1_400_000),
                discount: Decimal::ZERO,
            },
            NewQuoteLine {
                product_code: "P-2040".to_owned(),
                product_name: "کالای نمونه دو".to_owned(),
                unit_name: "متر".to_owned(),
                count: Decimal::new(35, 1),
                unit_price: Decimal::from(200_000),
                discount: Decimal::from(70_000),
            },
        ],
    }
}

async fn start_sim_with_quote_receiver() -> (CrmSim, HookReceiver) {
    let receiver = HookReceiver::start().await;
    let sim = start_sim(CrmSimConfig::default()).await;
    sim.set_quote_webhook_url(Some(receiver.url.clone()));
    (sim, receiver)
}

#[actix_rt::test]
async fn api_quote_get_matches_fixture() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;

    let response = api
        .http
        .post(
            api.base_url
                .join("api/v2/crmobject/quote/sales/get")
                .unwrap(),
        )
        .bearer_auth(&api.token)
        .json(&json!({ "id": QUOTE_ID }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains(r#""totalValue":3500000.00"#), "{body}");
    assert!(body.contains(r#""count":2.0000"#), "{body}");
    assert_same_json(&body, QUOTE_FIXTURE, "quote");
    assert_eq!(sim.counters().quote_gets, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn api_quote_get_needs_token_and_known_id() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;

    let (unknown_status, unknown_body) = api
        .post(
            "api/v2/crmobject/quote/sales/get",
            json!({"id": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    sim.expire_tokens();
    let (expired_status, _) = api
        .post(
            "api/v2/crmobject/quote/sales/get",
            json!({ "id": QUOTE_ID }),
        )
        .await;

    assert_eq!(unknown_status, 404);
    assert_eq!(unknown_body["code"], 404);
    assert_eq!(expired_status, 401);
    assert_eq!(sim.counters().quote_gets, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn create_quote_computes_totals() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let customer = CrmId::from("4bb1e60b-eb1b-46de-a8d3-e49ddb316e19");

    let id = sim.create_quote(sample_quote(&customer)).await;

    let quote = sim.quote(&id).unwrap();
    let discounted = &quote.details[1];
    assert_eq!(discounted.count.to_string(), "3.5000");
    assert_eq!(discounted.total_unit_price.to_string(), "700000.00");
    assert_eq!(discounted.total_discount.to_string(), "70000.00");
    assert_eq!(discounted.discount_percent.to_string(), "10.0");
    assert_eq!(discounted.total_vat.to_string(), "56700.00");
    assert_eq!(discounted.final_unit_price.to_string(), "196200.00");
    assert_eq!(quote.details[0].total_vat.to_string(), "252000.00");
    assert_eq!(quote.details[0].final_unit_price.to_string(), "1526000.00");
    assert_eq!(quote.total_value.to_string(), "3500000.00");
    assert_eq!(quote.discount.to_string(), "70000.00");
    assert_eq!(quote.vat.to_string(), "308700.00");
    assert_eq!(quote.toll.to_string(), "0.00");
    assert_eq!(quote.final_value.to_string(), "3738700.00");
    assert_eq!(quote.vat_percent.to_string(), "9");
    assert_eq!(quote.customer_id(), Some(&customer));
    assert_eq!(quote.object.crm_object_type_code.as_deref(), Some("PI_5"));
    assert_eq!(quote.object.creator_id.as_deref(), Some(HUMAN_USER_ID));
    assert_eq!(quote.object.creat_date, quote.object.modify_date);
    sim.stop().await;
}

#[actix_rt::test]
async fn quote_webhook_has_type_and_subtype() {
    let (sim, receiver) = start_sim_with_quote_receiver().await;
    let customer = CrmId::from("4bb1e60b-eb1b-46de-a8d3-e49ddb316e19");

    let id = sim.create_quote(sample_quote(&customer)).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let hook = &received[0];
    assert_eq!(hook.method, "GET");
    assert_eq!(hook.params["event"], "Insert");
    assert_eq!(hook.params["id"], id.as_str());
    assert_eq!(hook.params["type"], "Quote");
    assert_eq!(hook.params["subtype"], "پیش فاکتور فروش");
    assert_eq!(
        hook.raw_query,
        webhook_query("Insert", &id, "Quote", "پیش فاکتور فروش")
    );
    assert_eq!(sim.webhook_log().len(), 1);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn edit_quote_fires_update_and_moves_modify_date() {
    let (sim, receiver) = start_sim_with_quote_receiver().await;
    let id = CrmId::from(QUOTE_ID);
    let before = sim.quote(&id).unwrap();

    let edited = sim
        .edit_quote(&id, |quote| quote.number = "7".to_owned())
        .await;

    assert!(edited);
    let after = sim.quote(&id).unwrap();
    assert_eq!(after.number, "7");
    assert!(after.object.modify_date > before.object.modify_date);
    assert_eq!(after.object.modifier_id.as_deref(), Some(HUMAN_USER_ID));
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].params["event"], "Update");
    assert_eq!(received[0].params["type"], "Quote");
    assert_eq!(received[0].params["id"], QUOTE_ID);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn edit_of_unknown_quote_is_false() {
    let sim = start_sim(CrmSimConfig::default()).await;

    let edited = sim.edit_quote(&CrmId::from("missing"), |_| {}).await;

    assert!(!edited);
    sim.stop().await;
}

#[actix_rt::test]
async fn quote_webhook_uses_delivery_knobs() {
    let (sim, receiver) = start_sim_with_quote_receiver().await;
    sim.set_duplicate_deliveries(2);
    sim.set_quote_subtype("پیش فاکتور کالا");
    let id = CrmId::from(QUOTE_ID);

    sim.redeliver_webhook(&id, "Update").await;
    sim.set_drop_webhooks(true);
    sim.redeliver_webhook(&id, "Update").await;

    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|hook| hook.params["subtype"] == "پیش فاکتور کالا")
    );
    assert!(received.iter().all(|hook| hook.params["type"] == "Quote"));
    assert_eq!(sim.counters().webhooks_sent, 3);
    assert_eq!(sim.counters().webhooks_dropped, 1);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn identity_webhook_url_does_not_get_quotes() {
    let (sim, receiver) = start_sim_with_receiver(CrmSimConfig::default()).await;

    sim.redeliver_webhook(&CrmId::from(QUOTE_ID), "Update")
        .await;

    assert!(receiver.received().is_empty());
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn http_edit_api_creates_and_patches_quote() {
    let (sim, receiver) = start_sim_with_quote_receiver().await;
    let http = reqwest::Client::new();
    let base_url = sim.base_url();
    let line = json!({
        "product_code": "P-1", "product_name": "کالا", "unit_name": "عدد",
        "count": 1.0000, "unit_price": 100000.00, "discount": 0
    });

    let created = http
        .post(base_url.join("sim/quotes").unwrap())
        .json(&json!({
            "identity_id": "4bb1e60b-eb1b-46de-a8d3-e49ddb316e19",
            "type_code": "PI_5",
            "subject": "آزمایش",
            "lines": [line],
        }))
        .send()
        .await
        .unwrap();
    let created_status = created.status().as_u16();
    let id = created.json::<Value>().await.unwrap()["crmId"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = http
        .post(base_url.join(&format!("sim/quotes/{id}")).unwrap())
        .json(&json!({ "lines": [line, line] }))
        .send()
        .await
        .unwrap();
    let invalid = http
        .post(base_url.join(&format!("sim/quotes/{id}")).unwrap())
        .json(
            &json!({ "lines": [{ "product_code": "P-1", "product_name": "x",
            "unit_name": "عدد", "count": 0, "unit_price": 1 }] }),
        )
        .send()
        .await
        .unwrap();
    let unknown = http
        .post(base_url.join("sim/quotes/missing").unwrap())
        .json(&json!({ "subject": "x" }))
        .send()
        .await
        .unwrap();
    let fetched = http
        .get(base_url.join(&format!("sim/quotes/{id}")).unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert_eq!(created_status, 201);
    assert_eq!(patched.status().as_u16(), 200);
    assert_eq!(invalid.status().as_u16(), 400);
    assert_eq!(unknown.status().as_u16(), 404);
    assert!(fetched.contains(r#""totalValue":200000.00"#), "{fetched}");
    assert!(fetched.contains(r#""finalValue":218000.00"#), "{fetched}");
    let events: Vec<String> = receiver
        .received()
        .iter()
        .map(|hook| hook.params["event"].clone())
        .collect();
    assert_eq!(events, ["Insert", "Update"]);
    sim.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn http_knobs_set_quote_webhook() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let http = reqwest::Client::new();

    let knobs: Value = http
        .post(sim.base_url().join("sim/knobs").unwrap())
        .json(&json!({
            "quote_webhook_url": "http://127.0.0.1:9/webhook/crm/quote",
            "quote_subtype": "پیش فاکتور کالا",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(
        knobs["quote_webhook_url"],
        "http://127.0.0.1:9/webhook/crm/quote"
    );
    assert_eq!(knobs["quote_subtype"], "پیش فاکتور کالا");
    sim.stop().await;
}

#[actix_rt::test]
async fn quote_find_selects_by_type_and_modify_date() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;
    let customer = sim.create_person(NewPerson::default()).await;
    let mut other_type = sample_quote(&customer);
    other_type.type_code = "Productinvoice".to_owned();
    let older = sim.create_quote(sample_quote(&customer)).await;
    sim.create_quote(other_type).await;
    let newer = sim.create_quote(sample_quote(&customer)).await;
    let since =
        crate::crm::model::local_datetime::format(&sim.quote(&newer).unwrap().object.modify_date);

    let (status, all) = api
        .post(
            "api/v2/crmobject/quote/sales/find",
            find_body("PI_5", 2, "2000-01-01T00:00:00", 0, 1),
        )
        .await;
    let (_, recent) = api
        .post(
            "api/v2/crmobject/quote/sales/find",
            find_body("PI_5", 2, &since, 0, 1),
        )
        .await;

    let (_, second_page) = api
        .post(
            "api/v2/crmobject/quote/sales/find",
            find_body("PI_5", 2, "2000-01-01T00:00:00", 0, 2),
        )
        .await;

    assert_eq!(status, 200);
    // The fixture quote is a PI_5 quote too, modified long before the new ones.
    assert_eq!(all["total"], 3);
    assert_eq!(data_ids(&all)[1], older.0);
    assert_eq!(data_ids(&second_page), vec![newer.0.clone()]);
    assert_eq!(recent["total"], 1);
    assert_eq!(recent["data"][0]["crmId"], newer.0.as_str());
    assert_eq!(recent["data"][0]["totalValue"], json!(3_500_000.0));
    assert_eq!(sim.counters().quote_finds, 3);
    sim.stop().await;
}

#[actix_rt::test]
async fn quote_find_is_not_found_when_unsupported() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let api = RawApi::login(&sim).await;
    sim.set_quote_find_supported(false);

    let (status, _) = api
        .post(
            "api/v2/crmobject/quote/sales/find",
            find_body("PI_5", 2, "2000-01-01T00:00:00", 0, 1),
        )
        .await;
    let (identities, _) = api
        .post(
            "api/v2/crmobject/person/find",
            find_body("person", 2, "2000-01-01T00:00:00", 0, 1),
        )
        .await;

    assert_eq!(status, 404);
    assert_eq!(identities, 200, "identity find is a separate switch");
    sim.stop().await;
}

#[actix_rt::test]
async fn quote_for_unknown_customer_is_rejected() {
    let sim = start_sim(CrmSimConfig::default()).await;
    let http = reqwest::Client::new();
    let mut quote = json!({"identity_id": "no-such-identity", "type_code": "PI_5", "lines": [
        {"product_code": "P-1001", "product_name": "x", "unit_name": "عدد",
         "count": "1", "unit_price": "100"}]});

    let response = http
        .post(sim.base_url().join("sim/quotes").unwrap())
        .json(&quote)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let customer = sim.create_person(NewPerson::default()).await;
    quote["identity_id"] = json!(customer.0);
    let known = http
        .post(sim.base_url().join("sim/quotes").unwrap())
        .json(&quote)
        .send()
        .await
        .unwrap();

    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("no-such-identity"),
        "{body}"
    );
    assert_eq!(known.status().as_u16(), 201);
    sim.stop().await;
}
