//! Simulator of the Payamgostar CRM: an actix-web server with in-memory identities and
//! sales quotes that serves the CRM's v2 endpoints the sync uses, and sends the CRM's
//! webhooks when a record changes through the simulator's own edit API.
//!
//! REST endpoints, all POST with JSON: `/api/v2/auth/login`, and under
//! `/api/v2/crmobject/`: `person/get`, `organization/get`, `person/create`,
//! `organization/create`, `person/update`, `organization/update`, `identity/search`,
//! `person/find`, `organization/find`, `quote/sales/get`, `quote/sales/find`. Data calls need
//! a bearer token from login. The edit API is described in `control.rs`. Over HTTP its JSON
//! bodies need `Content-Type: application/json`.
//!
//! Every write, through the REST API or the edit API, stamps a `modifyDate` later than any
//! stamped before, in Iran local time with milliseconds.
//!
//! Behaviour the CRM does not document is the simulator's choice, marked where it is made:
//! error body shape, 404 for unknown ids, full replace on update, search matching, the
//! find query subset and its 1-based pages.

mod api;
mod control;
mod find;
mod quotes;
mod records;
mod state;
mod token;
mod webhook;

#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use rust_decimal::Decimal;
use url::Url;

pub use quotes::{NewQuote, NewQuoteLine};
pub use records::{NewOrganization, NewPerson};
pub use state::CrmCounters;
pub use webhook::{WebhookDelivery, webhook_query};

use crate::crm::{CrmId, CrmOrganization, CrmPerson, CrmQuote, IdentityKind};
use records::Record;
use state::SimState;

/// Id of the API user: the `nameidentifier` claim of the simulator's tokens and the
/// `creatorId`/`modifierId` of records written through the REST API.
pub const API_USER_ID: &str = "f1bcad24-6261-4d5c-b149-463c145d4aa6";

/// Id of the human CRM user who writes records through the edit API.
pub const HUMAN_USER_ID: &str = "0f3c1e0a-5b7d-4c2e-9a61-7d2b8e4f6a10";

/// Settings and knobs of the simulator.
#[derive(Debug, Clone)]
pub struct CrmSimConfig {
    /// Credentials that login accepts.
    pub username: String,
    pub password: String,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// Delay added before the response to each login and data call.
    pub latency: Duration,
    /// Fraction of authenticated data calls that fail with HTTP 500, from 0 to 1.
    pub error_rate: f64,
    /// Failed logins in a row after which login responds with 403. 0 disables the lock-out.
    pub max_failed_logins: u32,
    /// How long the lock-out lasts.
    pub lockout: Duration,
    /// Reject every login with 402, as a server whose licence lacks the API module does.
    pub license_missing: bool,
    /// URL that receives identity webhooks. With `None`, no identity webhook is sent.
    pub identity_webhook_url: Option<Url>,
    /// URL that receives sales quote webhooks. With `None`, no quote webhook is sent.
    pub quote_webhook_url: Option<Url>,
    /// `subtype` parameter of quote webhooks, the quote type's display name.
    pub quote_subtype: String,
    /// VAT rate in percent of quotes created through the edit API.
    pub quote_vat_percent: Decimal,
    /// `subtype` parameter of person webhooks, the person type's display name.
    pub person_subtype: String,
    /// `subtype` parameter of organization webhooks.
    pub organization_subtype: String,
    /// Extra identical webhook requests sent right after the first.
    pub duplicate_deliveries: u32,
    /// Send no webhooks (they are counted as dropped).
    pub drop_webhooks: bool,
    /// Delay before a webhook is sent. When non-zero, the edit API returns without waiting
    /// for the delivery.
    pub webhook_delay: Duration,
    /// Also send webhooks for writes through the REST API. Whether the CRM does so is
    /// unknown. These webhooks are sent in the background.
    pub webhooks_on_api_writes: bool,
    /// Store the person, organization and sales quote `get` fixtures at start.
    pub seed_fixtures: bool,
    /// Serve `person/find` and `organization/find`. When `false` they respond with 404, as
    /// a server without the find API would.
    pub find_supported: bool,
    /// Serve `quote/sales/find`. When `false` it responds with 404. Whether the CRM offers
    /// a quote find is unconfirmed, so the engine must cope with both.
    pub quote_find_supported: bool,
}

impl Default for CrmSimConfig {
    fn default() -> Self {
        Self {
            username: "api-user".to_owned(),
            password: "not-a-real-password".to_owned(),
            token_lifetime: Duration::from_secs(7200),
            latency: Duration::ZERO,
            error_rate: 0.0,
            max_failed_logins: 5,
            lockout: Duration::from_secs(15 * 60),
            license_missing: false,
            identity_webhook_url: None,
            quote_webhook_url: None,
            person_subtype: "مخاطب حقیقی".to_owned(),
            organization_subtype: "مخاطب حقوقی".to_owned(),
            quote_subtype: "پیش فاکتور فروش".to_owned(),
            quote_vat_percent: Decimal::from(9),
            duplicate_deliveries: 0,
            drop_webhooks: false,
            webhook_delay: Duration::ZERO,
            webhooks_on_api_writes: false,
            seed_fixtures: true,
            find_supported: true,
            quote_find_supported: true,
        }
    }
}

/// Running simulator. Dropping it leaves the server running; call [`CrmSim::stop`].
pub struct CrmSim {
    state: Arc<SimState>,
    server: ServerHandle,
    base_url: Url,
}

/// Starts the simulator on `bind` (port 0 picks a free port) inside the caller's actix
/// system or tokio runtime, with one worker.
pub async fn start(config: CrmSimConfig, bind: SocketAddr) -> io::Result<CrmSim> {
    let state = Arc::new(SimState::new(config)?);
    let data = web::Data::from(Arc::clone(&state));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(api::routes)
            .configure(control::routes)
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(2)
    .bind(bind)?;
    let address = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| io::Error::other("the CRM simulator bound no address"))?;
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);

    let base_url = Url::parse(&format!("http://{address}/")).map_err(io::Error::other)?;
    tracing::info!(sim.address = %address, "CRM simulator started");
    Ok(CrmSim {
        state,
        server: handle,
        base_url,
    })
}

impl CrmSim {
    /// Returns the root URL, e.g. `http://127.0.0.1:41234/`.
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// Returns a snapshot of the counters.
    pub fn counters(&self) -> CrmCounters {
        self.state.counters()
    }

    /// Creates a person as a CRM user would, then sends the Insert webhook and waits for
    /// the deliveries (unless a webhook delay is set).
    pub async fn create_person(&self, person: NewPerson) -> CrmId {
        self.create(IdentityKind::Person, person.to_create_body())
            .await
    }

    /// Creates an organization as a CRM user would, then sends the Insert webhook and
    /// waits for the deliveries (unless a webhook delay is set).
    pub async fn create_organization(&self, organization: NewOrganization) -> CrmId {
        self.create(IdentityKind::Organization, organization.to_create_body())
            .await
    }

    async fn create(&self, kind: IdentityKind, body: serde_json::Value) -> CrmId {
        match control::create_identity(&self.state, kind, body).await {
            Ok(id) => id,
            // Bodies built from `NewPerson`/`NewOrganization` hold only strings in the places
            // the model expects them, so this is a bug in the simulator.
            Err(reason) => panic!("CRM simulator rejected its own create body: {reason}"),
        }
    }

    /// Changes a person as a CRM user would: applies `edit`, moves `modifyDate` forward,
    /// stamps the human user as modifier and sends the Update webhook. Returns `false` when
    /// no person has this id.
    pub async fn edit_person(&self, id: &CrmId, edit: impl FnOnce(&mut CrmPerson)) -> bool {
        let result = control::edit_identity(&self.state, IdentityKind::Person, id, |record| {
            if let Record::Person(person) = record {
                edit(person);
            }
            Ok(())
        })
        .await;
        result.is_ok()
    }

    /// Changes an organization as a CRM user would; see [`CrmSim::edit_person`].
    pub async fn edit_organization(
        &self,
        id: &CrmId,
        edit: impl FnOnce(&mut CrmOrganization),
    ) -> bool {
        let result =
            control::edit_identity(&self.state, IdentityKind::Organization, id, |record| {
                if let Record::Organization(organization) = record {
                    edit(organization);
                }
                Ok(())
            })
            .await;
        result.is_ok()
    }

    /// Creates a sales quote as a CRM user would, with line and header totals computed from
    /// the lines, then sends the quote Insert webhook and waits for the deliveries (unless a
    /// webhook delay is set).
    ///
    /// # Panics
    ///
    /// Panics when the quote is invalid: no lines, a count not above zero, a negative unit
    /// price, or a discount outside `0..=count × unit_price`.
    pub async fn create_quote(&self, quote: NewQuote) -> CrmId {
        match control::create_quote(&self.state, &quote).await {
            Ok(id) => id,
            Err(reason) => panic!("CRM simulator rejected the new quote: {reason}"),
        }
    }

    /// Changes a sales quote as a CRM user would: applies `edit`, moves `modifyDate`
    /// forward, stamps the human user as modifier and sends the quote Update webhook.
    /// Totals are stored as `edit` leaves them. Returns `false` when no quote has this id.
    pub async fn edit_quote(&self, id: &CrmId, edit: impl FnOnce(&mut CrmQuote)) -> bool {
        let result = control::edit_quote(&self.state, id, |quote| {
            edit(quote);
            Ok(())
        })
        .await;
        result.is_ok()
    }

    /// Returns the stored sales quote with this id, as `quote/sales/get` would.
    pub fn quote(&self, id: &CrmId) -> Option<CrmQuote> {
        self.state.quote(id)
    }

    /// Deletes an identity as a CRM user would and sends the Delete webhook. Returns
    /// `false` when no identity has this id.
    pub async fn delete_identity(&self, id: &CrmId) -> bool {
        control::delete_identity(&self.state, id).await
    }

    /// Returns the stored person with this id, as `person/get` would.
    pub fn person(&self, id: &CrmId) -> Option<CrmPerson> {
        self.state.person(id)
    }

    /// Returns the stored organization with this id, as `organization/get` would.
    pub fn organization(&self, id: &CrmId) -> Option<CrmOrganization> {
        self.state.organization(id)
    }

    /// Sets the URL that receives identity webhooks. `None` stops them.
    pub fn set_identity_webhook_url(&self, url: Option<Url>) {
        self.state
            .configure(|config| config.identity_webhook_url = url);
    }

    /// Sets the URL that receives sales quote webhooks. `None` stops them.
    pub fn set_quote_webhook_url(&self, url: Option<Url>) {
        self.state
            .configure(|config| config.quote_webhook_url = url);
    }

    /// Sets the `subtype` of quote webhooks, the quote type's display name.
    pub fn set_quote_subtype(&self, subtype: impl Into<String>) {
        let subtype = subtype.into();
        self.state
            .configure(|config| config.quote_subtype = subtype);
    }

    /// Sets how many extra identical copies follow each webhook request.
    pub fn set_duplicate_deliveries(&self, copies: u32) {
        self.state
            .configure(|config| config.duplicate_deliveries = copies);
    }

    /// Sets whether webhooks are dropped instead of sent.
    pub fn set_drop_webhooks(&self, drop: bool) {
        self.state.configure(|config| config.drop_webhooks = drop);
    }

    /// Sets the delay before each webhook is sent.
    pub fn set_webhook_delay(&self, delay: Duration) {
        self.state.configure(|config| config.webhook_delay = delay);
    }

    /// Sets whether writes through the REST API also send webhooks, as the CRM may do for
    /// the sync's own writes.
    pub fn set_webhooks_on_api_writes(&self, on_api_writes: bool) {
        self.state
            .configure(|config| config.webhooks_on_api_writes = on_api_writes);
    }

    /// Sets whether `person/find` and `organization/find` are served; see
    /// [`CrmSimConfig::find_supported`].
    pub fn set_find_supported(&self, supported: bool) {
        self.state
            .configure(|config| config.find_supported = supported);
    }

    /// Sets whether `quote/sales/find` is served, as
    /// [`CrmSimConfig::quote_find_supported`] describes.
    pub fn set_quote_find_supported(&self, supported: bool) {
        self.state
            .configure(|config| config.quote_find_supported = supported);
    }

    /// Makes the next `n` creates through the REST API store the record and count it, but
    /// hold back the response for `hold`. A client whose timeout is shorter then gets a
    /// timeout although the record exists.
    pub fn delay_responses_after_commit(&self, n: u32, hold: Duration) {
        self.state.hold_create_responses(n, hold);
    }

    /// Sets the delay added before the response to each login and data call.
    pub fn set_latency(&self, latency: Duration) {
        self.state.configure(|config| config.latency = latency);
    }

    /// Sets the fraction of data calls that fail with HTTP 500, clamped to 0..=1.
    pub fn set_error_rate(&self, rate: f64) {
        self.state
            .configure(|config| config.error_rate = rate.clamp(0.0, 1.0));
    }

    /// Sets whether every login is rejected with 402.
    pub fn set_license_missing(&self, missing: bool) {
        self.state
            .configure(|config| config.license_missing = missing);
    }

    /// Invalidates every issued access token, so the next data call with one gets 401.
    pub fn expire_tokens(&self) {
        self.state.expire_tokens();
    }

    /// Sends the webhook for a record (identity or sales quote) again without changing it
    /// (a re-delivery). Does nothing for an id that was never stored.
    pub async fn redeliver_webhook(&self, id: &CrmId, event: &str) {
        if !control::redeliver(&self.state, id, event).await {
            tracing::warn!(crm.id = %id, "CRM simulator has no record with this id to redeliver");
        }
    }

    /// Returns every webhook request sent so far, oldest first.
    pub fn webhook_log(&self) -> Vec<WebhookDelivery> {
        self.state.webhook_log()
    }

    /// Stops the server, letting requests in flight finish for up to 2 s.
    pub async fn stop(self) {
        self.server.stop(true).await;
        tracing::info!("CRM simulator stopped");
    }
}
