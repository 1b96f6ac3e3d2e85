//! Simulated Siagh finance server for tests and the demo: an actix-web app with in-memory
//! state.
//!
//! It serves `POST /GeneralApi/LoginUser`, `GET` and `POST /api/Sgh/GEN/Gn_Web_Users/GetAll`
//! and `POST /BpmsApi/SaveFormData` for the contact form `2BFDA` and the sales pre-invoice
//! form `43D81`. Sessions expire, business
//! errors come back as HTTP 200 with Siagh's shapes, and knobs inject latency, 500s and
//! replies held back after a committed save. Counters record every create and update so
//! tests can assert that a record was written exactly once.

mod forms;
mod handlers;
mod preinvoice;
mod state;
mod wire;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web::Data;
use actix_web::{App, HttpServer};
use url::Url;

pub use forms::{DUPLICATE_MOBILE_MESSAGE, EMPTY_FULL_NAME_MESSAGE};
pub use preinvoice::{INVALID_PRICE_MESSAGE, RUNTIME_ERROR_MESSAGE};
pub use state::{SiaghCounters, SimContact, SimPreInvoice, SimPreInvoiceLine};

use handlers::{SharedState, lock};
use state::SimState;

/// Seconds a stopping simulator waits for requests in progress.
const SHUTDOWN_TIMEOUT_SECS: u64 = 1;

/// Behaviour of a simulated Siagh server.
#[derive(Clone, Debug)]
pub struct SiaghSimConfig {
    /// User name accepted by LoginUser, compared exactly.
    pub username: String,
    /// Plain password; LoginUser expects its MD5 digest in upper-case hex.
    pub password: String,
    /// Whether LoginUser also accepts the digest in lower-case hex.
    pub accept_lowercase_md5: bool,
    /// Time from login after which the session id is rejected with 401.
    pub session_lifetime: Duration,
    /// Delay added before every response.
    pub latency: Duration,
    /// Fraction (0.0 to 1.0) of GetAll and SaveFormData calls that fail with HTTP 500
    /// before anything else is done.
    pub error_rate: f64,
    /// Whether to load the three fixture contacts (codes 8401 to 8403) and the
    /// administrator record (code 2) at start.
    pub seed_fixtures: bool,
    /// `FiscalYear` of the login reply.
    pub fiscal_year: i32,
    /// Whether an update that has `CodeMain` but no `Param1` inserts a new contact instead,
    /// as some Siagh installations did.
    pub legacy_update_bug: bool,
    /// Product codes that pre-invoice lines may use; a line with another `codekala` is
    /// rejected.
    pub products: Vec<String>,
    /// Whether a pre-invoice save whose `_In_Suid` was already stored returns the earlier
    /// reply instead of storing a second pre-invoice. Off by default, because Siagh is not
    /// known to deduplicate.
    pub dedupe_on_suid: bool,
}

/// Product codes loaded by default: those of Siagh's sample requests, those of the CRM quote
/// fixture (`P-1001`, `P-2040`) and a few spare ones for tests.
pub const DEFAULT_PRODUCTS: &[&str] = &[
    "500100001",
    "500100002",
    "500102014",
    "P-1001",
    "P-2040",
    "P-3000",
];

impl Default for SiaghSimConfig {
    fn default() -> Self {
        SiaghSimConfig {
            username: "کاربر نمونه".to_owned(),
            password: "sample-password".to_owned(),
            accept_lowercase_md5: false,
            session_lifetime: Duration::from_secs(3600),
            latency: Duration::ZERO,
            error_rate: 0.0,
            seed_fixtures: true,
            fiscal_year: 1405,
            legacy_update_bug: false,
            products: DEFAULT_PRODUCTS
                .iter()
                .map(|code| (*code).to_owned())
                .collect(),
            dedupe_on_suid: false,
        }
    }
}

/// A running simulated Siagh server.
pub struct SiaghSim {
    base_url: Url,
    handle: ServerHandle,
    state: Arc<SharedState>,
}

/// Starts the simulator on `bind` (use `127.0.0.1:0` for a free port) in the caller's
/// runtime, with one worker thread.
pub async fn start(config: SiaghSimConfig, bind: SocketAddr) -> io::Result<SiaghSim> {
    let state = SimState::new(config).map_err(|error| {
        io::Error::other(format!("failed to load the Siagh seed contacts: {error}"))
    })?;
    let state = Arc::new(Mutex::new(state));
    let data = Data::from(Arc::clone(&state));

    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(handlers::routes)
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .bind(bind)?;
    let Some(addr) = server.addrs().first().copied() else {
        return Err(io::Error::other(format!(
            "the Siagh simulator did not bind to {bind}"
        )));
    };
    let base_url = Url::parse(&format!("http://{addr}/"))
        .map_err(|error| io::Error::other(format!("invalid simulator address {addr}: {error}")))?;
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);

    tracing::info!(sim.addr = %addr, "Siagh simulator started");
    Ok(SiaghSim {
        base_url,
        handle,
        state,
    })
}

impl SiaghSim {
    /// Root URL of the server, e.g. `http://127.0.0.1:41234/`.
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// Returns a snapshot of the request counters.
    pub fn counters(&self) -> SiaghCounters {
        lock(&self.state).counters.clone()
    }

    /// Returns every stored contact, seeded and administrator records included, by code.
    pub fn contacts(&self) -> Vec<SimContact> {
        lock(&self.state).contacts.values().cloned().collect()
    }

    /// Returns the contact with code `code`.
    pub fn contact(&self, code: i64) -> Option<SimContact> {
        lock(&self.state).contacts.get(&code).cloned()
    }

    /// Returns every stored pre-invoice, in creation order.
    pub fn preinvoices(&self) -> Vec<SimPreInvoice> {
        lock(&self.state).preinvoices.clone()
    }

    /// Adds product `code`, so that pre-invoice lines may use it.
    pub fn add_product(&self, code: &str) {
        lock(&self.state).products.insert(code.to_owned());
    }

    /// Makes every current session expired now; the next data call with one gets 401.
    pub fn expire_sessions(&self) {
        lock(&self.state).expire_sessions();
    }

    /// Sets the delay added before every response.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency = latency;
    }

    /// Sets the fraction (0.0 to 1.0) of data calls that fail with HTTP 500.
    pub fn set_error_rate(&self, rate: f64) {
        lock(&self.state).error_rate = rate;
    }

    /// The next `n` SaveFormData calls are applied (stored, counted) but their response is
    /// held back for `hold` before being sent — so a client with a shorter timeout gets a
    /// timeout although the record exists.
    pub fn delay_responses_after_commit(&self, n: u32, hold: Duration) {
        lock(&self.state).hold_replies(n, hold);
    }

    /// Edits a contact as a Siagh user would (no SaveFormData counters change).
    ///
    /// Returns false when there is no contact `code`. A change to `SimContact::code` is
    /// ignored, because the code is the record's key.
    pub fn edit_contact(&self, code: i64, edit: impl FnOnce(&mut SimContact)) -> bool {
        let mut state = lock(&self.state);
        let Some(contact) = state.contacts.get_mut(&code) else {
            return false;
        };
        edit(contact);
        contact.code = code;
        true
    }

    /// Adds a contact as a Siagh user would (no SaveFormData counters change) and returns its
    /// code. `fields` are `ctrlValues` keys such as `gn_web_users.fullname`.
    pub fn add_contact(&self, fields: BTreeMap<String, String>) -> i64 {
        let mut state = lock(&self.state);
        let code = state.allocate_code();
        let contact = SimContact {
            code,
            record_id: uuid::Uuid::new_v4().to_string(),
            is_admin: false,
            fields,
        };
        state.contacts.insert(code, contact);
        code
    }

    /// Stops the server, giving requests in progress up to one second to finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::{Value, json};

    const DIGEST: &str = "63FE8E9E6E805F2CB28675D5592F22E8";

    async fn sim(config: SiaghSimConfig) -> SiaghSim {
        start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
    }

    fn url(sim: &SiaghSim, path: &str) -> Url {
        sim.base_url().join(path).unwrap()
    }

    async fn login(http: &reqwest::Client, sim: &SiaghSim) -> String {
        let reply: Value = http
            .post(url(sim, "GeneralApi/LoginUser"))
            .json(&json!({"UserName": "کاربر نمونه", "Password": DIGEST}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["SessionId"].as_str().unwrap().to_owned()
    }

    #[actix_rt::test]
    async fn wrong_password_gets_401_message() {
        let sim = sim(SiaghSimConfig::default()).await;
        let http = reqwest::Client::new();

        let response = http
            .post(url(&sim, "GeneralApi/LoginUser"))
            .json(
                &json!({"UserName": "کاربر نمونه", "Password": "00000000000000000000000000000000"}),
            )
            .send()
            .await
            .unwrap();

        assert_eq!(response.status().as_u16(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"Message": "Invalid username or password"}));
        assert_eq!(sim.counters().failed_logins, 1);
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn data_call_without_session_gets_401() {
        let sim = sim(SiaghSimConfig::default()).await;
        let http = reqwest::Client::new();

        let missing = http
            .get(url(&sim, "api/Sgh/GEN/Gn_Web_Users/GetAll"))
            .send()
            .await
            .unwrap();
        let unknown = http
            .post(url(&sim, "BpmsApi/SaveFormData"))
            .header("Authorization", "0123456789abcdef0123456789abcdef")
            .json(&json!({}))
            .send()
            .await
            .unwrap();

        assert_eq!(missing.status().as_u16(), 401);
        assert_eq!(unknown.status().as_u16(), 401);
        let body: Value = missing.json().await.unwrap();
        assert_eq!(
            body["Message"],
            "Authorization has been denied for this request."
        );
        assert_eq!(sim.counters().unauthorized, 2);
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn get_all_post_filters_by_mobile() {
        let sim = sim(SiaghSimConfig::default()).await;
        let http = reqwest::Client::new();
        let session = login(&http, &sim).await;

        let filtered: Vec<Value> = http
            .post(url(&sim, "api/Sgh/GEN/Gn_Web_Users/GetAll"))
            .header("Authorization", &session)
            .json(&json!({"MobileNo": "09120000003"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let all: Vec<Value> = http
            .post(url(&sim, "api/Sgh/GEN/Gn_Web_Users/GetAll"))
            .header("Authorization", &session)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();

        assert_eq!(filtered.len(), 1);
        assert_eq!(filtered[0]["Code"], 8403);
        assert_eq!(filtered[0]["IsActive"], false);
        assert_eq!(all.len(), 4);
        assert_eq!(sim.counters().get_all_calls, 2);
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn unknown_form_gets_err_error_with_200() {
        let sim = sim(SiaghSimConfig::default()).await;
        let http = reqwest::Client::new();
        let session = login(&http, &sim).await;

        let response = http
            .post(url(&sim, "BpmsApi/SaveFormData"))
            .header("Authorization", &session)
            .json(
                &json!({"formId": "FFFFF", "ctrlValues": "", "parameters": "",
                "dataRows": "[]", "attachments": "[]", "postCode": "1110", "flowId": ""}),
            )
            .send()
            .await
            .unwrap();

        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["ReturnValue"], false);
        assert_eq!(body["Errors"][0]["ErrorType"], "ErrError");
        assert_eq!(sim.counters().rejected_saves, 1);
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn inspection_routes_list_stored_documents() {
        let sim = sim(SiaghSimConfig::default()).await;
        let http = reqwest::Client::new();
        let session = login(&http, &sim).await;
        let request: Value = serde_json::from_str(include_str!(
            "../fixtures/siagh/preinvoice-create-request.json"
        ))
        .unwrap();
        http.post(url(&sim, "BpmsApi/SaveFormData"))
            .header("Authorization", &session)
            .json(&request)
            .send()
            .await
            .unwrap();

        let get = |path: &'static str| {
            let http = http.clone();
            let target = url(&sim, path);
            async move {
                http.get(target)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        };
        let preinvoices = get("sim/preinvoices").await;
        let contacts = get("sim/contacts").await;
        let counters = get("sim/counters").await;

        assert_eq!(preinvoices.as_array().unwrap().len(), 1);
        assert_eq!(
            preinvoices[0]["number"],
            sim.preinvoices()[0].number,
            "{preinvoices}"
        );
        assert_eq!(
            preinvoices[0]["lines"][0]["quantity"], "2",
            "decimals as strings"
        );
        assert_eq!(contacts.as_array().unwrap().len(), sim.contacts().len());
        assert_eq!(counters["preinvoice_creates"], 1);
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn error_rate_one_answers_500_before_auth() {
        let sim = sim(SiaghSimConfig {
            error_rate: 1.0,
            ..Default::default()
        })
        .await;
        let http = reqwest::Client::new();

        let response = http
            .get(url(&sim, "api/Sgh/GEN/Gn_Web_Users/GetAll"))
            .send()
            .await
            .unwrap();

        assert_eq!(response.status().as_u16(), 500);
        assert_eq!(sim.counters().unauthorized, 0);
        assert_eq!(sim.counters().injected_errors, 1);
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn edit_contact_changes_get_all_without_counting_a_save() {
        let sim = sim(SiaghSimConfig::default()).await;

        let edited = sim.edit_contact(8401, |contact| {
            contact.set_field("gn_web_users.telno", "02199999999");
            contact.code = 1;
        });

        assert!(edited);
        assert!(!sim.edit_contact(1, |_| {}));
        assert_eq!(sim.contact(8401).unwrap().phone(), "02199999999");
        assert_eq!(sim.counters(), SiaghCounters::default());
        sim.stop().await;
    }
}
