//! HTTP client of the Payamgostar CRM's v2 API, with token handling.
//!
//! Reads and token handling are here; creates and updates are in `writes.rs`, and the
//! find calls in `find.rs`.

mod find;
mod writes;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::error::Error;
use super::model::{
    CrmGetRequest, CrmId, CrmIdentitySearchRequest, CrmIdentitySummary, CrmOrganization, CrmPerson,
};
use super::quote::CrmQuote;

pub(super) const LOGIN_PATH: &str = "/api/v2/auth/login";
const PERSON_GET_PATH: &str = "/api/v2/crmobject/person/get";
const ORGANIZATION_GET_PATH: &str = "/api/v2/crmobject/organization/get";
const IDENTITY_SEARCH_PATH: &str = "/api/v2/crmobject/identity/search";
const PERSON_CREATE_PATH: &str = "/api/v2/crmobject/person/create";
const ORGANIZATION_CREATE_PATH: &str = "/api/v2/crmobject/organization/create";
const PERSON_UPDATE_PATH: &str = "/api/v2/crmobject/person/update";
const ORGANIZATION_UPDATE_PATH: &str = "/api/v2/crmobject/organization/update";
const PERSON_FIND_PATH: &str = "/api/v2/crmobject/person/find";
const ORGANIZATION_FIND_PATH: &str = "/api/v2/crmobject/organization/find";
const QUOTE_GET_PATH: &str = "/api/v2/crmobject/quote/sales/get";
const QUOTE_FIND_PATH: &str = "/api/v2/crmobject/quote/sales/find";

/// `platformType` sent on login. 1 is the only value known to work.
const PLATFORM_TYPE: u8 = 1;

/// Settings of a [`CrmClient`].
#[derive(Debug, Clone)]
pub struct CrmClientConfig {
    /// Root of the CRM server, e.g. `http://crm.example.local/`. API paths are appended to it.
    pub base_url: Url,
    /// CRM user that the sync logs in as.
    pub username: String,
    pub password: SecretString,
    /// Free-text device name sent on login, e.g. `siagh-sync`.
    pub device_id: String,
    /// Maximum time to open a TCP connection.
    pub connect_timeout: Duration,
    /// Maximum time for a whole request, connection included.
    pub request_timeout: Duration,
    /// How long before the token's `expiresAt` the client logs in again.
    pub refresh_margin: Duration,
}

impl CrmClientConfig {
    /// Builds a configuration with device id `siagh-sync`, a 5 s connect timeout, a 30 s
    /// request timeout and a 60 s refresh margin.
    pub fn new(base_url: Url, username: impl Into<String>, password: SecretString) -> Self {
        Self {
            base_url,
            username: username.into(),
            password,
            device_id: "siagh-sync".to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            refresh_margin: Duration::from_secs(60),
        }
    }
}

/// Client of the CRM's v2 API. Cloning is cheap and clones share one token.
///
/// The client logs in on first use and again `refresh_margin` before the token expires.
/// Concurrent callers share one login. A data call that gets HTTP 401 triggers one new login
/// and one retry, never more. That retry is the only one the client makes, creates
/// included, because the CRM checks the token before it applies anything.
#[derive(Clone)]
pub struct CrmClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoints: Endpoints,
    username: String,
    password: SecretString,
    device_id: String,
    refresh_margin: Duration,
    auth: Mutex<AuthState>,
    /// Login attempts that have finished, failed ones included. The count right after an
    /// attempt is the generation of the session it produced.
    finished_login_attempts: AtomicU64,
    successful_logins: AtomicU64,
}

/// Absolute URLs of the endpoints, resolved once from the base URL.
struct Endpoints {
    login: Url,
    person_get: Url,
    organization_get: Url,
    identity_search: Url,
    person_create: Url,
    organization_create: Url,
    person_update: Url,
    organization_update: Url,
    person_find: Url,
    organization_find: Url,
    quote_get: Url,
    quote_find: Url,
}

#[derive(Default)]
struct AuthState {
    session: Option<Arc<Session>>,
    /// Rejection returned by the latest login attempt, shared with the callers that waited
    /// for that attempt so that a burst of calls sends one bad login, not one each.
    rejection: Option<LoginRejection>,
}

struct Session {
    token: SecretString,
    /// Number of the login attempt that produced this token, counting from 1.
    generation: u64,
    /// Time to log in again. `None` means only after a 401.
    refresh_at: Option<Instant>,
}

impl Session {
    fn is_fresh(&self, now: Instant) -> bool {
        self.refresh_at.is_none_or(|refresh_at| now < refresh_at)
    }
}

#[derive(Clone, Copy)]
enum LoginRejection {
    BadCredentials,
    LicenseMissing,
    LockedOut,
}

impl LoginRejection {
    fn of(error: &Error) -> Option<Self> {
        match error {
            Error::LoginRejected { .. } => Some(Self::BadCredentials),
            Error::LicenseMissing => Some(Self::LicenseMissing),
            Error::LockedOut { .. } => Some(Self::LockedOut),
            _ => None,
        }
    }

    fn to_error(self, username: &str) -> Error {
        match self {
            Self::BadCredentials => Error::LoginRejected {
                username: username.to_owned(),
            },
            Self::LicenseMissing => Error::LicenseMissing,
            Self::LockedOut => Error::LockedOut {
                username: username.to_owned(),
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginRequest<'a> {
    username: &'a str,
    password: &'a str,
    device_id: &'a str,
    platform_type: u8,
    // The server treats `os` and `osVersion` as free text.
    os: &'a str,
    os_version: &'a str,
    /// Push-notification token slot. The server accepts `""`.
    token: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginResponse {
    expires_at: String,
    access_token: String,
}

impl CrmClient {
    /// Builds a client. No request is sent before the first call.
    ///
    /// Fails when the base URL is not an absolute `http` or `https` URL or the HTTP client
    /// cannot be built.
    pub fn new(config: CrmClientConfig) -> Result<Self, Error> {
        let endpoints = Endpoints::resolve(&config.base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("siagh-sync/", env!("CARGO_PKG_VERSION")))
            // Every call is a POST. A redirect means a misconfigured base URL, and following
            // it would turn the POST into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| Error::InvalidConfig {
                reason: format!("cannot build the HTTP client: {error}"),
            })?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoints,
                username: config.username,
                password: config.password,
                device_id: config.device_id,
                refresh_margin: config.refresh_margin,
                auth: Mutex::new(AuthState::default()),
                finished_login_attempts: AtomicU64::new(0),
                successful_logins: AtomicU64::new(0),
            }),
        })
    }

    /// Fetches a person. Returns `None` when the CRM responds with 404 (unknown id, or the id
    /// of an organization) or with an empty body.
    #[tracing::instrument(name = "crm.get_person", skip_all, fields(crm.id = %id))]
    pub async fn get_person(&self, id: &CrmId) -> Result<Option<CrmPerson>, Error> {
        let url = self.inner.endpoints.person_get.clone();
        self.get_record(PERSON_GET_PATH, url, id).await
    }

    /// Fetches an organization. Returns `None` when the CRM responds with 404 (unknown id, or
    /// the id of a person) or with an empty body.
    #[tracing::instrument(name = "crm.get_organization", skip_all, fields(crm.id = %id))]
    pub async fn get_organization(&self, id: &CrmId) -> Result<Option<CrmOrganization>, Error> {
        let url = self.inner.endpoints.organization_get.clone();
        self.get_record(ORGANIZATION_GET_PATH, url, id).await
    }

    /// Fetches a sales quote. Returns `None` when the CRM responds with 404 (unknown id) or
    /// with an empty body.
    #[tracing::instrument(name = "crm.get_quote", skip_all, fields(crm.id = %id))]
    pub async fn get_quote(&self, id: &CrmId) -> Result<Option<CrmQuote>, Error> {
        let url = self.inner.endpoints.quote_get.clone();
        self.get_record(QUOTE_GET_PATH, url, id).await
    }

    /// Fetches one page of identities (persons and organizations). `page_number` starts at 0.
    ///
    /// What `search_term` matches on the CRM side is undocumented, but `""` matches everything.
    #[tracing::instrument(
        name = "crm.search_identities",
        skip_all,
        fields(page_number = page_number, page_size = page_size)
    )]
    pub async fn search_identities(
        &self,
        page_number: u32,
        page_size: u32,
        search_term: &str,
    ) -> Result<Vec<CrmIdentitySummary>, Error> {
        let request = CrmIdentitySearchRequest {
            page_number,
            page_size,
            search_term: search_term.to_owned(),
        };
        let url = self.inner.endpoints.identity_search.clone();
        let (status, body) = self.call(IDENTITY_SEARCH_PATH, url, &request).await?;
        if !status.is_success() {
            return Err(Error::status(IDENTITY_SEARCH_PATH, status, &body));
        }
        parse_json(IDENTITY_SEARCH_PATH, &body)
    }

    /// Pages from 0 until a short or empty page, de-duplicating by identity id.
    ///
    /// The CRM's sort order is unspecified, so identities inserted during the scan may shift
    /// pages: the result is a snapshot that can miss or repeat records, not a change feed.
    /// The scan also stops at a full page that holds only identities already seen, which
    /// guards against a server that ignores `pageNumber`.
    #[tracing::instrument(
        name = "crm.search_all_identities",
        skip_all,
        fields(page_size = page_size)
    )]
    pub async fn search_all_identities(
        &self,
        page_size: u32,
    ) -> Result<Vec<CrmIdentitySummary>, Error> {
        let page_size = page_size.max(1);
        let mut seen = HashSet::new();
        let mut identities = Vec::new();

        for page_number in 0..=u32::MAX {
            let page = self.search_identities(page_number, page_size, "").await?;
            let page_len = page.len();
            let mut new_on_page = 0;
            for identity in page {
                if seen.insert(identity.identity_id.clone()) {
                    identities.push(identity);
                    new_on_page += 1;
                }
            }

            if page_len < page_size as usize {
                break;
            }
            if new_on_page == 0 {
                tracing::warn!(
                    page_number,
                    "CRM identity search returned a full page of identities already seen; \
                     stopping the scan"
                );
                break;
            }
        }

        tracing::debug!(crm.identities = identities.len(), "scanned CRM identities");
        Ok(identities)
    }

    /// Returns how many logins succeeded since the client was built.
    pub fn login_count(&self) -> u64 {
        self.inner.successful_logins.load(Ordering::Relaxed)
    }

    async fn get_record<T: DeserializeOwned>(
        &self,
        path: &'static str,
        url: Url,
        id: &CrmId,
    ) -> Result<Option<T>, Error> {
        let request = CrmGetRequest { id: id.clone() };
        let (status, body) = self.call(path, url, &request).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Error::status(path, status, &body));
        }
        // NOTE: what the CRM returns for an unknown id, or for an id of the other identity
        // kind, is undocumented. 404 and an empty or `null` body are read as "not found".
        let trimmed = body.trim_ascii();
        if trimmed.is_empty() || trimmed == b"null" {
            return Ok(None);
        }
        parse_json(path, &body).map(Some)
    }

    /// Sends an authenticated data call. On a 401 it logs in again once and retries once.
    ///
    /// Returns the status and body of any response other than a second 401.
    async fn call<B: Serialize>(
        &self,
        path: &'static str,
        url: Url,
        body: &B,
    ) -> Result<(StatusCode, Vec<u8>), Error> {
        let session = self.session(None).await?;
        let (status, response) = self.send(path, url.clone(), body, &session).await?;
        if status != StatusCode::UNAUTHORIZED {
            return Ok((status, response));
        }

        tracing::debug!(crm.path = path, "CRM rejected the access token");
        let session = self.session(Some(session.generation)).await?;
        let (status, response) = self.send(path, url, body, &session).await?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(Error::Unauthorized {
                path: path.to_owned(),
            });
        }
        Ok((status, response))
    }

    async fn send<B: Serialize>(
        &self,
        path: &'static str,
        url: Url,
        body: &B,
        session: &Session,
    ) -> Result<(StatusCode, Vec<u8>), Error> {
        let started = Instant::now();
        let response = self
            .inner
            .http
            .post(url)
            .bearer_auth(session.token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(|error| Error::from_reqwest(path, error))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| Error::from_reqwest(path, error))?;
        let body = body.to_vec();

        tracing::debug!(
            crm.path = path,
            http.status = status.as_u16(),
            duration_ms = started.elapsed().as_millis() as u64,
            "CRM call finished"
        );
        Ok((status, body))
    }

    /// Returns a usable session, logging in when there is none, when it is due for refresh,
    /// or when its generation equals `rejected_generation` (the CRM rejected its token with 401).
    ///
    /// The lock is held during the login, so concurrent callers wait for one login and share
    /// its token, or its rejection.
    async fn session(&self, rejected_generation: Option<u64>) -> Result<Arc<Session>, Error> {
        let finished_before_wait = self.inner.finished_login_attempts.load(Ordering::Acquire);
        let mut state = self.inner.auth.lock().await;

        let reason = match &state.session {
            None => "no token yet",
            Some(session) if rejected_generation == Some(session.generation) => {
                "token rejected with HTTP 401"
            }
            Some(session) if !session.is_fresh(Instant::now()) => "token about to expire",
            Some(session) => return Ok(Arc::clone(session)),
        };
        let finished_while_waiting =
            self.inner.finished_login_attempts.load(Ordering::Acquire) != finished_before_wait;
        if finished_while_waiting && let Some(rejection) = state.rejection {
            return Err(rejection.to_error(&self.inner.username));
        }

        state.session = None;
        let result = self.login(reason).await;
        let generation = self
            .inner
            .finished_login_attempts
            .fetch_add(1, Ordering::AcqRel)
            + 1;
        match result {
            Ok(mut session) => {
                session.generation = generation;
                let session = Arc::new(session);
                state.session = Some(Arc::clone(&session));
                state.rejection = None;
                Ok(session)
            }
            Err(error) => {
                state.rejection = LoginRejection::of(&error);
                // A rejection needs an operator; other failures are retried by the caller.
                if state.rejection.is_some() {
                    tracing::error!(error = %error, "CRM login rejected");
                } else {
                    tracing::warn!(error = %error, "CRM login failed");
                }
                Err(error)
            }
        }
    }

    async fn login(&self, reason: &'static str) -> Result<Session, Error> {
        let started = Instant::now();
        let request = LoginRequest {
            username: &self.inner.username,
            password: self.inner.password.expose_secret(),
            device_id: &self.inner.device_id,
            platform_type: PLATFORM_TYPE,
            os: std::env::consts::OS,
            os_version: env!("CARGO_PKG_VERSION"),
            token: "",
        };
        let response = self
            .inner
            .http
            .post(self.inner.endpoints.login.clone())
            .json(&request)
            .send()
            .await
            .map_err(|error| Error::from_reqwest(LOGIN_PATH, error))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| Error::from_reqwest(LOGIN_PATH, error))?;

        let username = || self.inner.username.clone();
        match status {
            StatusCode::UNAUTHORIZED => {
                return Err(Error::LoginRejected {
                    username: username(),
                });
            }
            StatusCode::PAYMENT_REQUIRED => return Err(Error::LicenseMissing),
            StatusCode::FORBIDDEN => {
                return Err(Error::LockedOut {
                    username: username(),
                });
            }
            status if !status.is_success() => return Err(Error::status(LOGIN_PATH, status, &body)),
            _ => {}
        }

        let login: LoginResponse = parse_json(LOGIN_PATH, &body)?;
        if login.access_token.is_empty() {
            return Err(Error::InvalidResponse {
                path: LOGIN_PATH.to_owned(),
                reason: "accessToken is empty".to_owned(),
            });
        }
        let expires_at = DateTime::parse_from_rfc3339(&login.expires_at).map_err(|error| {
            Error::InvalidResponse {
                path: LOGIN_PATH.to_owned(),
                reason: format!(
                    "expiresAt {:?} is not an ISO-8601 timestamp with offset: {error}",
                    login.expires_at
                ),
            }
        })?;

        let refresh_in = refresh_delay(expires_at, Utc::now(), self.inner.refresh_margin);
        if refresh_in.is_none() {
            tracing::warn!(
                crm.token_expires_at = %expires_at,
                "CRM token expiry is already past by the local clock; the clocks may \
                 differ, so the token is used until the CRM rejects it"
            );
        }
        self.inner.successful_logins.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            crm.login_reason = reason,
            crm.token_expires_at = %expires_at,
            duration_ms = started.elapsed().as_millis() as u64,
            "logged in to the CRM"
        );

        Ok(Session {
            token: SecretString::from(login.access_token),
            // Set by the caller once the attempt is counted.
            generation: 0,
            refresh_at: refresh_in.map(|delay| Instant::now() + delay),
        })
    }
}

impl fmt::Debug for CrmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrmClient")
            .field("login_url", &self.inner.endpoints.login.as_str())
            .field("username", &self.inner.username)
            .field("login_count", &self.login_count())
            .finish_non_exhaustive()
    }
}

impl Endpoints {
    fn resolve(base_url: &Url) -> Result<Self, Error> {
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(Error::InvalidConfig {
                reason: format!("CRM base URL {base_url} is not an absolute http(s) URL"),
            });
        }
        // Joining onto a path without a trailing slash would drop its last segment.
        let mut base = base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let join = |path: &str| {
            base.join(path.trim_start_matches('/'))
                .map_err(|error| Error::InvalidConfig {
                    reason: format!("cannot append {path} to CRM base URL {base_url}: {error}"),
                })
        };

        Ok(Self {
            login: join(LOGIN_PATH)?,
            person_get: join(PERSON_GET_PATH)?,
            organization_get: join(ORGANIZATION_GET_PATH)?,
            identity_search: join(IDENTITY_SEARCH_PATH)?,
            person_create: join(PERSON_CREATE_PATH)?,
            organization_create: join(ORGANIZATION_CREATE_PATH)?,
            person_update: join(PERSON_UPDATE_PATH)?,
            organization_update: join(ORGANIZATION_UPDATE_PATH)?,
            person_find: join(PERSON_FIND_PATH)?,
            organization_find: join(ORGANIZATION_FIND_PATH)?,
            quote_get: join(QUOTE_GET_PATH)?,
            quote_find: join(QUOTE_FIND_PATH)?,
        })
    }
}

/// Returns how long to use a token that expires at `expires_at`.
///
/// Normally that is until `margin` before expiry. A token that lives shorter than the margin
/// is refreshed halfway through its life. `None` means that the expiry is already past by the
/// local clock. Then only a 401 triggers a new login, so a skewed clock cannot cause a login
/// before every call.
fn refresh_delay(
    expires_at: DateTime<FixedOffset>,
    now: DateTime<Utc>,
    margin: Duration,
) -> Option<Duration> {
    let remaining = expires_at
        .with_timezone(&Utc)
        .signed_duration_since(now)
        .to_std()
        .ok()?;
    if remaining.is_zero() {
        return None;
    }
    Some(remaining.checked_sub(margin).unwrap_or(remaining / 2))
}

fn parse_json<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|error| Error::InvalidResponse {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn expiry(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    #[test]
    fn login_expiry_parses_seven_digits_and_offset() {
        let expires_at = expiry("2026-01-10T12:15:42.1234567+03:30");

        assert_eq!(
            expires_at.with_timezone(&Utc).to_rfc3339(),
            "2026-01-10T08:45:42.123456700+00:00"
        );
    }

    #[test]
    fn refresh_delay_keeps_margin() {
        let now = expiry("2026-01-10T08:45:42Z").with_timezone(&Utc);
        let margin = Duration::from_secs(60);

        let cases = [
            (
                "2026-01-10T14:15:42+03:30",
                Some(Duration::from_secs(7200 - 60)),
            ),
            ("2026-01-10T08:46:22Z", Some(Duration::from_secs(20))),
            ("2026-01-10T08:45:42Z", None),
            ("2026-01-10T08:00:00Z", None),
        ];

        for (expires_at, expected) in cases {
            assert_eq!(
                refresh_delay(expiry(expires_at), now, margin),
                expected,
                "{expires_at}"
            );
        }
    }

    #[test]
    fn endpoints_keep_base_path() {
        let base = Url::parse("http://127.0.0.1:8080/crm").unwrap();

        let endpoints = Endpoints::resolve(&base).unwrap();

        assert_eq!(
            endpoints.login.as_str(),
            "http://127.0.0.1:8080/crm/api/v2/auth/login"
        );
        assert_eq!(
            endpoints.identity_search.as_str(),
            "http://127.0.0.1:8080/crm/api/v2/crmobject/identity/search"
        );
    }

    #[test]
    fn non_http_base_url_is_rejected() {
        let base = Url::parse("mailto:crm@example.com").unwrap();

        let error = Endpoints::resolve(&base).err().unwrap();

        assert!(matches!(error, Error::InvalidConfig { .. }));
    }

    #[test]
    fn debug_hides_password() {
        let config = CrmClientConfig::new(
            Url::parse("http://127.0.0.1:1/").unwrap(),
            "api-user",
            SecretString::from("hunter2-secret"),
        );

        let client = CrmClient::new(config.clone()).unwrap();

        assert!(!format!("{config:?}").contains("hunter2-secret"));
        assert!(!format!("{client:?}").contains("hunter2-secret"));
    }
}
