//! HTTP client for the Siagh finance API: login, GetAll contacts and SaveFormData.
//!
//! One session is shared by every clone of a [`SiaghClient`]. The client logs in on first
//! use and sends the session id raw in `Authorization`. When a data call gets HTTP 401 it
//! logs in again and retries that call once. The re-login is single-flight: callers that
//! fail with the same stale session wait for one login and then reuse its session.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tracing::{debug, info, instrument, warn};
use url::Url;

use super::error::Error;
use super::form::{CONTACT_FORM_ID, ContactForm, CtrlValues};
use super::model::{
    LoginRequest, LoginResponse, SaveFormRequest, SaveFormResponse, SiaghCode, SiaghContact,
    SiaghErrorBody,
};
use super::preinvoice::{
    PREINVOICE_FORM_ID, PreInvoiceCreated, PreInvoiceForm, SubmissionIds, created_preinvoice,
};

const LOGIN_PATH: &str = "GeneralApi/LoginUser";
const GET_ALL_PATH: &str = "api/Sgh/GEN/Gn_Web_Users/GetAll";
const SAVE_FORM_PATH: &str = "BpmsApi/SaveFormData";

const LOGIN: &str = "LoginUser";
const GET_ALL: &str = "GetAll";
const SAVE_FORM: &str = "SaveFormData";

/// Characters of an error body kept in an error; enough for Siagh's `{"Message": …}` bodies.
const BODY_EXCERPT_CHARS: usize = 200;

/// Connection settings of a [`SiaghClient`].
#[derive(Clone, Debug)]
pub struct SiaghClientConfig {
    /// Root of the Siagh server, e.g. `http://127.0.0.1:8045/`. The API paths are resolved
    /// under it, so it must not end in `/api`.
    pub base_url: Url,
    /// Siagh user name, matched exactly by the server.
    pub username: String,
    /// MD5 digest of the password as 32 hex characters (see [`password_md5`]). Lower-case
    /// digits are accepted and sent in upper case.
    pub password_md5: SecretString,
    /// Maximum time to open a TCP connection.
    pub connect_timeout: Duration,
    /// Maximum time for a whole request, from connecting to reading the last body byte.
    pub request_timeout: Duration,
}

/// Details of the current Siagh login. The session id itself stays inside the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Current Jalali fiscal year, sent as `sl_sanad.salmali` on pre-invoices.
    pub fiscal_year: i32,
    /// Server date at login, Jalali `yyyy/MM/dd`.
    pub system_date: Option<String>,
    /// Numeric id of the logged-in user.
    pub user_code: Option<i64>,
    /// Branch of the logged-in user.
    pub branch_code: Option<i64>,
}

/// Client for one Siagh server. Clones share the HTTP connection pool and the session.
#[derive(Clone)]
pub struct SiaghClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    login_url: Url,
    get_all_url: Url,
    save_form_url: Url,
    username: String,
    password_md5: SecretString,
    session: Mutex<SessionSlot>,
    /// Login attempts finished so far, successful or not; read before waiting for the lock.
    login_attempts: AtomicU64,
    logins: AtomicU64,
}

#[derive(Default)]
struct SessionSlot {
    current: Option<Session>,
    /// Incremented by every successful login.
    generation: u64,
    /// Attempt number and reason of the last login that Siagh rejected. Callers that were
    /// waiting for that attempt get the same error, so a wrong password costs one login.
    /// NOTE: other login failures (timeouts, 5xx) are not shared, so each waiting caller
    /// makes its own attempt, one after another.
    last_rejection: Option<(u64, String)>,
}

#[derive(Clone)]
struct Session {
    generation: u64,
    /// The session id, marked sensitive so that it never appears in `Debug` output.
    authorization: HeaderValue,
    info: SessionInfo,
}

/// A data call that runs under the shared session.
#[derive(Clone, Copy)]
enum Call<'a> {
    GetAll,
    /// `POST …/GetAll` with an equality filter on `Code`.
    GetOne(SiaghCode),
    SaveForm(&'a SaveFormRequest),
}

impl Call<'_> {
    fn endpoint(self) -> &'static str {
        match self {
            Call::GetAll | Call::GetOne(_) => GET_ALL,
            Call::SaveForm(_) => SAVE_FORM,
        }
    }
}

impl fmt::Debug for SiaghClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiaghClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("login_count", &self.login_count())
            .finish_non_exhaustive()
    }
}

/// Hashes a plain password the way Siagh expects: MD5 of the UTF-8 bytes, upper-case hex.
pub fn password_md5(plain: &str) -> String {
    format!("{:X}", md5::compute(plain.as_bytes()))
}

impl SiaghClient {
    /// Validates `config` and builds the client. No request is sent until the first call.
    pub fn new(config: SiaghClientConfig) -> Result<Self, Error> {
        let base_url = normalize_base_url(config.base_url)?;
        let password_md5 = normalize_digest(config.password_md5.expose_secret())?;
        if config.username.is_empty() {
            return Err(Error::InvalidConfig {
                setting: "username",
                problem: "must not be empty; set the Siagh user name".to_owned(),
            });
        }
        for (setting, value) in [
            ("connect_timeout", config.connect_timeout),
            ("request_timeout", config.request_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::InvalidConfig {
                    setting,
                    problem: "must be greater than zero".to_owned(),
                });
            }
        }

        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("siagh-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::ClientBuild)?;
        let inner = Inner {
            http,
            login_url: join(&base_url, LOGIN_PATH)?,
            get_all_url: join(&base_url, GET_ALL_PATH)?,
            save_form_url: join(&base_url, SAVE_FORM_PATH)?,
            base_url,
            username: config.username,
            password_md5,
            session: Mutex::new(SessionSlot::default()),
            login_attempts: AtomicU64::new(0),
            logins: AtomicU64::new(0),
        };
        Ok(SiaghClient {
            inner: Arc::new(inner),
        })
    }

    /// Logs in if there is no session yet; returns the cached login (fiscal year, etc.).
    pub async fn session_info(&self) -> Result<SessionInfo, Error> {
        Ok(self.session(None).await?.info)
    }

    /// Number of successful logins this client made (for status/diagnostics).
    pub fn login_count(&self) -> u64 {
        self.inner.logins.load(Ordering::Relaxed)
    }

    /// Fetches every contact with `GET …/Gn_Web_Users/GetAll`, administrators and inactive
    /// contacts included. One record that cannot be decoded fails the whole call, so that a
    /// caller never mistakes a partial list for the full table.
    #[instrument(skip_all)]
    pub async fn get_all_contacts(&self) -> Result<Vec<SiaghContact>, Error> {
        let body = self.send_authorized(Call::GetAll).await?;
        let contacts: Vec<SiaghContact> =
            serde_json::from_slice(&body).map_err(|source| Error::Decode {
                what: "GetAll response",
                source,
            })?;
        debug!(
            siagh.contact_count = contacts.len(),
            "fetched Siagh contacts"
        );
        Ok(contacts)
    }

    /// Fetches one contact with `POST …/GetAll` and the filter `{"Code": code}`. Siagh's
    /// filter keys are undocumented, so the result is searched for `code` and a server that
    /// ignores the filter (returning every contact) still gives the right answer.
    #[instrument(skip_all, fields(siagh.code = %code))]
    pub async fn get_contact(&self, code: SiaghCode) -> Result<Option<SiaghContact>, Error> {
        let body = self.send_authorized(Call::GetOne(code)).await?;
        let contacts: Vec<SiaghContact> =
            serde_json::from_slice(&body).map_err(|source| Error::Decode {
                what: "GetAll response",
                source,
            })?;
        Ok(contacts.into_iter().find(|contact| contact.code == code))
    }

    /// Creates a contact through form `2BFDA` and returns the code Siagh assigned.
    ///
    /// Check [`Error::outcome_uncertain`] before retrying: Siagh does not deduplicate.
    #[instrument(skip_all, fields(siagh.form_id = CONTACT_FORM_ID))]
    pub async fn create_contact(&self, form: &ContactForm) -> Result<SiaghCode, Error> {
        let (request, ctrl_values) = form.save_request(None);
        log_sanitized(&ctrl_values);

        let response = self.save_form(&request).await?;

        let code = saved_contact_code(&response, None)?;
        debug!(siagh.code = %code, "created Siagh contact");
        Ok(code)
    }

    /// Overwrites contact `code` with `form` and returns the code Siagh reports.
    ///
    /// Returns [`Error::CodeMismatch`] when Siagh reports a different code, which means it
    /// inserted a new contact instead of updating `code`.
    #[instrument(skip_all, fields(siagh.form_id = CONTACT_FORM_ID, siagh.code = %code))]
    pub async fn update_contact(
        &self,
        code: SiaghCode,
        form: &ContactForm,
    ) -> Result<SiaghCode, Error> {
        let (request, ctrl_values) = form.save_request(Some(code));
        log_sanitized(&ctrl_values);

        let response = self.save_form(&request).await?;

        let saved = saved_contact_code(&response, Some(code))?;
        debug!("updated Siagh contact");
        Ok(saved)
    }

    /// Inserts a sales pre-invoice through form `43D81` and returns the document number
    /// Siagh assigned. `salmali` comes from the current login when the form has no fiscal
    /// year.
    ///
    /// The request is sent once, with a fresh `_In_Suid`. Siagh is not known to deduplicate
    /// pre-invoices, so after an error with [`Error::outcome_uncertain`] (a timeout after
    /// sending, a 5xx, a success reply without a document number) the pre-invoice may exist:
    /// look it up in Siagh before sending it again.
    #[instrument(skip_all, fields(siagh.form_id = PREINVOICE_FORM_ID, siagh.line_count = form.lines.len()))]
    pub async fn create_preinvoice(
        &self,
        form: &PreInvoiceForm,
    ) -> Result<PreInvoiceCreated, Error> {
        let fiscal_year = match form.fiscal_year {
            Some(year) => year,
            None => self.session_info().await?.fiscal_year,
        };
        let ids = SubmissionIds::fresh(form.lines.len());
        let (request, ctrl_values) = form.save_request(fiscal_year, &ids);
        log_sanitized(&ctrl_values);

        let response = self.save_form(&request).await?;

        let created = created_preinvoice(&response).inspect_err(|error| {
            warn!(
                siagh.return_code = %response.return_code,
                error = %error,
                "Siagh saved a pre-invoice without reporting its number"
            );
        })?;
        info!(
            siagh.document_number = created.document_number,
            siagh.return_code = %created.return_code,
            "created Siagh pre-invoice"
        );
        Ok(created)
    }

    /// Submits any SaveFormData envelope and applies Siagh's success rule: HTTP 200,
    /// `ReturnValue == true` and no `ErrError` message.
    ///
    /// Business errors become [`Error::Rejected`] with every `ErrError` description.
    #[instrument(skip_all, fields(siagh.form_id = %request.form_id))]
    pub async fn save_form(&self, request: &SaveFormRequest) -> Result<SaveFormResponse, Error> {
        let body = self.send_authorized(Call::SaveForm(request)).await?;

        let response: SaveFormResponse =
            serde_json::from_slice(&body).map_err(|source| Error::SaveResponseInvalid {
                reason: format!("the body is not a SaveFormData result: {source}"),
            })?;
        check_save_response(response)
    }

    /// Sends `call` under the shared session, logging in again and retrying once on 401,
    /// and returns the body of a 2xx reply.
    async fn send_authorized(&self, call: Call<'_>) -> Result<Vec<u8>, Error> {
        let endpoint = call.endpoint();
        let session = self.session(None).await?;
        let mut response = self.send(call, &session).await?;

        // NOTE: only HTTP 401 counts as an expired session. Whether Siagh ever reports an
        // expired session inside a 200 body is not known, and such a reply would fail to decode.
        if response.status() == StatusCode::UNAUTHORIZED {
            warn!(
                siagh.endpoint = endpoint,
                "Siagh rejected the session with 401, logging in again"
            );
            let fresh = self.session(Some(session.generation)).await?;
            response = self.send(call, &fresh).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                return Err(Error::SessionExpired { endpoint });
            }
        }

        success_body(endpoint, response).await
    }

    async fn send(&self, call: Call<'_>, session: &Session) -> Result<reqwest::Response, Error> {
        let endpoint = call.endpoint();
        let http = &self.inner.http;
        let builder = match call {
            Call::GetAll => http
                .get(self.inner.get_all_url.clone())
                .header(CONTENT_TYPE, "application/json"),
            Call::GetOne(code) => http
                .post(self.inner.get_all_url.clone())
                .json(&serde_json::json!({ "Code": code.0 })),
            Call::SaveForm(body) => http.post(self.inner.save_form_url.clone()).json(body),
        };

        let started = Instant::now();
        let result = builder
            .header(AUTHORIZATION, session.authorization.clone())
            .send()
            .await;

        let duration_ms = started.elapsed().as_millis();
        let response = result.map_err(|source| Error::from_reqwest(endpoint, source))?;
        debug!(
            siagh.endpoint = endpoint,
            http.status = response.status().as_u16(),
            duration_ms,
            "Siagh replied"
        );
        Ok(response)
    }

    /// Returns the current session, logging in when there is none or when the current one
    /// has generation `stale_generation` (it just got a 401).
    ///
    /// The lock is held during the login, so concurrent callers wait for one login instead
    /// of each making their own.
    async fn session(&self, stale_generation: Option<u64>) -> Result<Session, Error> {
        let attempts_seen = self.inner.login_attempts.load(Ordering::Acquire);
        let mut slot = self.inner.session.lock().await;

        if let Some(current) = &slot.current
            && Some(current.generation) != stale_generation
        {
            return Ok(current.clone());
        }
        if let Some((attempt, reason)) = &slot.last_rejection
            && *attempt > attempts_seen
        {
            return Err(Error::LoginRejected {
                reason: reason.clone(),
            });
        }

        let result = self.login().await;

        let attempt = self.inner.login_attempts.fetch_add(1, Ordering::AcqRel) + 1;
        match result {
            Ok((authorization, info)) => {
                slot.generation += 1;
                let session = Session {
                    generation: slot.generation,
                    authorization,
                    info,
                };
                slot.current = Some(session.clone());
                slot.last_rejection = None;
                let login_count = self.inner.logins.fetch_add(1, Ordering::Relaxed) + 1;
                info!(
                    siagh.fiscal_year = session.info.fiscal_year,
                    siagh.login_count = login_count,
                    "logged in to Siagh"
                );
                Ok(session)
            }
            Err(error) => {
                slot.current = None;
                if let Error::LoginRejected { reason } = &error {
                    slot.last_rejection = Some((attempt, reason.clone()));
                }
                Err(error)
            }
        }
    }

    async fn login(&self) -> Result<(HeaderValue, SessionInfo), Error> {
        let digest = self.inner.password_md5.expose_secret();
        let body = LoginRequest {
            user_name: &self.inner.username,
            password_md5: digest,
        };
        let response = self
            .inner
            .http
            .post(self.inner.login_url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|source| Error::from_reqwest(LOGIN, source))?;

        if response.status() == StatusCode::UNAUTHORIZED {
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<SiaghErrorBody>(&text)
                .ok()
                .and_then(|body| body.message);
            let reason = match message {
                Some(message) => format!("HTTP 401: {message}"),
                None => "HTTP 401".to_owned(),
            };
            return Err(Error::LoginRejected { reason });
        }
        let body = success_body(LOGIN, response).await?;
        let login: LoginResponse =
            serde_json::from_slice(&body).map_err(|source| Error::Decode {
                what: "login response",
                source,
            })?;

        let Some(session_id) = login.session_id.filter(|id| !id.expose_secret().is_empty()) else {
            return Err(Error::LoginRejected {
                reason: "the reply has no SessionId".to_owned(),
            });
        };
        let Ok(mut authorization) = HeaderValue::from_str(session_id.expose_secret()) else {
            return Err(Error::LoginRejected {
                reason: "the SessionId contains characters not allowed in a header".to_owned(),
            });
        };
        authorization.set_sensitive(true);
        let info = SessionInfo {
            fiscal_year: login.fiscal_year,
            system_date: login.system_date,
            user_code: login.user_code,
            branch_code: login.branch_code,
        };
        Ok((authorization, info))
    }
}

/// Returns the body of a 2xx reply, or the error for any other status.
async fn success_body(
    endpoint: &'static str,
    response: reqwest::Response,
) -> Result<Vec<u8>, Error> {
    let status = response.status();
    if status.is_success() {
        let body = response.bytes().await;
        return body
            .map(|bytes| bytes.to_vec())
            .map_err(|source| Error::from_reqwest(endpoint, source));
    }

    let body_excerpt = body_excerpt(response).await;
    let status = status.as_u16();
    if status >= 500 {
        Err(Error::Server {
            endpoint,
            status,
            body_excerpt,
        })
    } else {
        Err(Error::Http {
            endpoint,
            status,
            body_excerpt,
        })
    }
}

/// Returns the first characters of the body, with control characters replaced, or an
/// empty string when the body cannot be read.
async fn body_excerpt(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    text.chars()
        .take(BODY_EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Applies the success rule to a decoded SaveFormData reply.
fn check_save_response(response: SaveFormResponse) -> Result<SaveFormResponse, Error> {
    if response.is_success() {
        return Ok(response);
    }

    let mut messages = response.error_messages();
    if messages.is_empty() {
        // ReturnValue is false without an ErrError item: report whatever text there is.
        messages = response
            .errors
            .iter()
            .map(|message| message.description.trim().to_owned())
            .chain(
                response
                    .final_messages
                    .iter()
                    .map(|text| text.trim().to_owned()),
            )
            .filter(|text| !text.is_empty())
            .collect();
    }
    if messages.is_empty() {
        messages.push("ReturnValue is false and the reply has no message".to_owned());
    }
    Err(Error::Rejected { messages })
}

/// Reads the contact code from a successful contact save. `requested` is the code of an
/// update; an update whose `ReturnCode` is empty saved `requested`.
pub(super) fn saved_contact_code(
    response: &SaveFormResponse,
    requested: Option<SiaghCode>,
) -> Result<SiaghCode, Error> {
    let returned = response.return_code.trim();
    if returned.is_empty() {
        return requested.ok_or_else(|| Error::SaveResponseInvalid {
            reason: "the contact was reported saved but ReturnCode is empty".to_owned(),
        });
    }

    let code: SiaghCode = returned.parse().map_err(|_| Error::SaveResponseInvalid {
        reason: format!("ReturnCode {returned:?} is not a contact code"),
    })?;
    match requested {
        Some(requested) if requested != code => Err(Error::CodeMismatch {
            requested,
            returned: code,
        }),
        _ => Ok(code),
    }
}

fn log_sanitized(ctrl_values: &CtrlValues) {
    if !ctrl_values.sanitized_keys.is_empty() {
        warn!(
            siagh.sanitized_keys = ?ctrl_values.sanitized_keys,
            "replaced `|` or control characters in form values before sending them to Siagh"
        );
    }
}

/// Checks the scheme and makes sure the path ends in `/`, so that the API paths resolve
/// under it rather than replacing its last segment.
fn normalize_base_url(mut url: Url) -> Result<Url, Error> {
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(Error::InvalidConfig {
            setting: "base_url",
            problem: format!("{url} is not an http(s) URL; use e.g. http://127.0.0.1:8045/"),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn join(base: &Url, path: &str) -> Result<Url, Error> {
    base.join(path).map_err(|error| Error::InvalidConfig {
        setting: "base_url",
        problem: format!("cannot append {path} to {base}: {error}"),
    })
}

/// Validates a password digest and returns it in upper case.
fn normalize_digest(digest: &str) -> Result<SecretString, Error> {
    let digest = digest.trim();
    if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidConfig {
            setting: "password_md5",
            problem: "must be 32 hexadecimal characters, the MD5 digest of the password; \
                      compute it with `siagh::password_md5`"
                .to_owned(),
        });
    }
    Ok(SecretString::from(digest.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn response(json: &str) -> SaveFormResponse {
        serde_json::from_str(json).unwrap()
    }

    const CREATED: &str =
        include_str!("../sim/fixtures/siagh/contact-create-success-response.json");
    const DUPLICATE_MOBILE: &str =
        include_str!("../sim/fixtures/siagh/error-duplicate-mobile-response.json");
    const RUNTIME_ERROR: &str = include_str!("../sim/fixtures/siagh/error-runtime-response.json");
    const PREINVOICE_CREATED: &str =
        include_str!("../sim/fixtures/siagh/preinvoice-create-success-response.json");

    #[test]
    fn password_md5_matches_login_fixture() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../sim/fixtures/siagh/login-request.json")).unwrap();

        assert_eq!(
            password_md5("sample-password"),
            fixture["Password"].as_str().unwrap()
        );
    }

    #[test]
    fn password_md5_hashes_utf8_bytes() {
        // MD5 of the UTF-8 bytes of "رمز" (d8 b1 d9 85 d8 b2), checked with md5sum.
        assert_eq!(password_md5("رمز"), "A7DAE77BED9996C2B1816264AE4868B7");
        assert_eq!(password_md5(""), "D41D8CD98F00B204E9800998ECF8427E");
    }

    #[test]
    fn create_success_returns_code() {
        let checked = check_save_response(response(CREATED)).unwrap();

        assert_eq!(saved_contact_code(&checked, None).unwrap(), SiaghCode(8404));
    }

    #[test]
    fn preinvoice_success_note_is_not_an_error() {
        let checked = check_save_response(response(PREINVOICE_CREATED)).unwrap();

        assert_eq!(checked.return_code, "15460");
    }

    #[test]
    fn duplicate_mobile_is_rejected_with_persian_text() {
        let error = check_save_response(response(DUPLICATE_MOBILE)).unwrap_err();

        let Error::Rejected { messages } = error else {
            panic!("expected Rejected, got {error:?}")
        };
        assert_eq!(
            messages,
            vec!["شماره موبایل نمی تواند تکراری باشد.".to_owned()]
        );
    }

    #[test]
    fn runtime_error_description_is_trimmed() {
        let error = check_save_response(response(RUNTIME_ERROR)).unwrap_err();

        let Error::Rejected { messages } = error else {
            panic!("expected Rejected, got {error:?}")
        };
        assert_eq!(messages.len(), 1);
        assert!(messages[0].starts_with("پیامهای سرویس : RUNTIME ERROR\nField 'Code'"));
        assert!(messages[0].ends_with("Position: 218, 84"));
    }

    #[test]
    fn return_value_true_with_err_error_is_rejected() {
        let json = r#"{"Errors":[{"ErrorType":"ErrError","Description":" bad "}],
            "FinalMessages":[],"ReturnValue":true,"ReturnCode":"8404","ReturnParams":"8404"}"#;

        let error = check_save_response(response(json)).unwrap_err();

        let Error::Rejected { messages } = error else {
            panic!("expected Rejected, got {error:?}")
        };
        assert_eq!(messages, vec!["bad".to_owned()]);
    }

    #[test]
    fn return_value_false_without_messages_is_rejected() {
        let json = r#"{"Errors":[],"FinalMessages":[],"ReturnValue":false,"ReturnCode":""}"#;

        let error = check_save_response(response(json)).unwrap_err();

        let Error::Rejected { messages } = error else {
            panic!("expected Rejected, got {error:?}")
        };
        assert_eq!(messages.len(), 1);
    }

    #[test]
    fn update_with_other_code_is_code_mismatch() {
        let error = saved_contact_code(&response(CREATED), Some(SiaghCode(8401))).unwrap_err();

        let Error::CodeMismatch {
            requested,
            returned,
        } = error
        else {
            panic!("expected CodeMismatch, got {error:?}")
        };
        assert_eq!(requested, SiaghCode(8401));
        assert_eq!(returned, SiaghCode(8404));
    }

    #[test]
    fn update_with_same_code_succeeds() {
        assert_eq!(
            saved_contact_code(&response(CREATED), Some(SiaghCode(8404))).unwrap(),
            SiaghCode(8404)
        );
    }

    #[test]
    fn update_with_empty_return_code_keeps_requested() {
        let json = r#"{"Errors":[],"FinalMessages":[],"ReturnValue":true,"ReturnCode":""}"#;

        assert_eq!(
            saved_contact_code(&response(json), Some(SiaghCode(77))).unwrap(),
            SiaghCode(77)
        );
    }

    #[test]
    fn create_with_empty_return_code_is_uncertain() {
        let json = r#"{"Errors":[],"FinalMessages":[],"ReturnValue":true,"ReturnCode":""}"#;

        let error = saved_contact_code(&response(json), None).unwrap_err();

        assert!(matches!(error, Error::SaveResponseInvalid { .. }));
        assert!(error.outcome_uncertain());
    }

    #[test]
    fn numeric_return_code_is_accepted() {
        let json = r#"{"Errors":[],"FinalMessages":[],"ReturnValue":true,"ReturnCode":8410}"#;

        assert_eq!(
            saved_contact_code(&response(json), None).unwrap(),
            SiaghCode(8410)
        );
    }

    #[test]
    fn base_url_gets_trailing_slash() {
        let url = normalize_base_url(Url::parse("http://127.0.0.1:8045/siagh").unwrap()).unwrap();

        assert_eq!(
            join(&url, LOGIN_PATH).unwrap().as_str(),
            "http://127.0.0.1:8045/siagh/GeneralApi/LoginUser"
        );
    }

    #[test]
    fn digest_must_be_32_hex_characters() {
        assert!(normalize_digest("63FE8E9E6E805F2CB28675D5592F22E8").is_ok());
        assert!(normalize_digest("sample-password").is_err());
        assert!(normalize_digest("63FE8E9E6E805F2CB28675D5592F22EZ").is_err());
    }

    #[test]
    fn lower_case_digest_is_sent_upper_case() {
        let digest = normalize_digest("63fe8e9e6e805f2cb28675d5592f22e8").unwrap();

        assert_eq!(digest.expose_secret(), "63FE8E9E6E805F2CB28675D5592F22E8");
    }
}
