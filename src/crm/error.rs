//! Errors of the CRM client.

use reqwest::StatusCode;

use super::client::LOGIN_PATH;
use super::model::CrmId;

/// Maximum number of characters of a response body that an error keeps.
const BODY_EXCERPT_CHARS: usize = 300;

/// Failure of a call to the Payamgostar CRM.
///
/// [`Error::is_retryable`] returns whether trying again later can help, and
/// [`Error::outcome_uncertain`] whether a create or update may have been applied although
/// no confirmation arrived. Creates are not idempotent: retry an uncertain create only
/// after searching the CRM for the record.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client configuration cannot be used.
    #[error("invalid CRM client configuration: {reason}")]
    InvalidConfig { reason: String },

    /// Login rejected with HTTP 401: wrong user name or password.
    #[error(
        "CRM login rejected for user {username:?} (HTTP 401): wrong user name or password; \
         fix the CRM credentials in the configuration"
    )]
    LoginRejected { username: String },

    /// Login rejected with HTTP 402: the CRM's licence lacks the module that serves the v2 API.
    #[error(
        "CRM login refused with HTTP 402: the CRM licence lacks the module that serves the v2 \
         API; ask the CRM vendor to enable it"
    )]
    LicenseMissing,

    /// Login rejected with HTTP 403: the user is locked out after too many failed logins.
    #[error(
        "CRM user {username:?} is locked out after too many failed logins (HTTP 403); check \
         the password, then wait for the lock-out to end before logging in again"
    )]
    LockedOut { username: String },

    /// A data call got HTTP 401 again right after a fresh login.
    #[error(
        "CRM rejected a fresh access token on {path} (HTTP 401 twice); check that the API \
         user may use this endpoint"
    )]
    Unauthorized { path: String },

    /// The TCP or TLS connection to the CRM could not be opened.
    #[error("cannot connect to the CRM for {path}: {source}; check the CRM base URL and network")]
    Connect {
        path: String,
        #[source]
        source: reqwest::Error,
    },

    /// The connect or request timeout elapsed.
    #[error(
        "CRM request {path} timed out {}: {source}",
        if *request_sent {
            "after the request was sent; if it was a create or update, check the CRM for the \
             record before retrying"
        } else {
            "while connecting, before anything was sent"
        }
    )]
    Timeout {
        path: String,
        /// Whether the request may have reached the CRM.
        request_sent: bool,
        #[source]
        source: reqwest::Error,
    },

    /// The connection failed after it was opened (reset, truncated body, …).
    #[error("CRM request {path} failed: {source}")]
    Transport {
        path: String,
        /// Whether the request may have reached the CRM.
        request_sent: bool,
        #[source]
        source: reqwest::Error,
    },

    /// The caller passed a request that the client does not send.
    #[error("invalid CRM request {path}: {reason}")]
    InvalidRequest { path: String, reason: String },

    /// The CRM responded with a status that the call does not expect.
    #[error("CRM returned HTTP {status} for {path}: {body_excerpt}")]
    Status {
        path: String,
        status: StatusCode,
        /// Start of the response body, whose shape is undocumented.
        body_excerpt: String,
    },

    /// A 2xx response that cannot be read as the expected JSON.
    #[error(
        "invalid response from the CRM for {path}: {reason}; the CRM version may differ from \
         the one this client was written for"
    )]
    InvalidResponse { path: String, reason: String },

    /// A create returned 2xx but not HTTP 200 with a non-empty `crmId`, so nothing proves
    /// that a record exists.
    #[error(
        "CRM create {path} returned HTTP {status} instead of 200 with a crmId; search for the \
         record before retrying, because the create may or may not have happened"
    )]
    CreateWithoutId { path: String, status: StatusCode },

    /// An update returned 2xx without the `crmId` of the record sent.
    #[error(
        "CRM update {path} of record {crm_id} returned HTTP {status} without that crmId; \
         fetch the record to check whether the update was applied"
    )]
    UpdateWithoutId {
        path: String,
        status: StatusCode,
        crm_id: CrmId,
    },

    /// The find call is missing on this CRM or rejects the query (HTTP 400, 404, 405 or 501).
    #[error(
        "CRM find {path} is not supported by this server or rejects the query (HTTP \
         {status}); fall back to a full identity scan"
    )]
    FindUnsupported { path: String, status: StatusCode },
}

impl Error {
    /// Returns whether trying the same call again later may succeed: connection failures,
    /// timeouts, HTTP 5xx and 429, and a token that was rejected right after login.
    ///
    /// A login rejection, missing licence or lock-out needs an operator and is not
    /// retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::Timeout { .. }
            | Error::Transport { .. }
            | Error::Unauthorized { .. } => true,
            Error::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Error::InvalidConfig { .. }
            | Error::LoginRejected { .. }
            | Error::LicenseMissing
            | Error::LockedOut { .. }
            | Error::InvalidRequest { .. }
            | Error::InvalidResponse { .. }
            | Error::CreateWithoutId { .. }
            | Error::UpdateWithoutId { .. }
            | Error::FindUnsupported { .. } => false,
        }
    }

    /// Returns whether a create or update may have been applied although the response did
    /// not confirm it: a timeout or broken connection after the request was sent, an HTTP
    /// 5xx, or a 2xx without the expected `crmId`.
    ///
    /// A failure of the login that precedes a call is certain, because the call itself was
    /// not sent. So is a connect failure. An HTTP 401 is certain too, because the CRM checks
    /// the token before it applies anything. For reads the result has no consequence.
    pub fn outcome_uncertain(&self) -> bool {
        match self {
            Error::Timeout {
                path, request_sent, ..
            }
            | Error::Transport {
                path, request_sent, ..
            } => *request_sent && path != LOGIN_PATH,
            Error::Status { path, status, .. } => status.is_server_error() && path != LOGIN_PATH,
            Error::CreateWithoutId { .. } | Error::UpdateWithoutId { .. } => true,
            Error::InvalidConfig { .. }
            | Error::LoginRejected { .. }
            | Error::LicenseMissing
            | Error::LockedOut { .. }
            | Error::Unauthorized { .. }
            | Error::Connect { .. }
            | Error::InvalidRequest { .. }
            | Error::InvalidResponse { .. }
            | Error::FindUnsupported { .. } => false,
        }
    }

    /// Classifies a reqwest error on `path` by whether the request may have been sent.
    pub(crate) fn from_reqwest(path: &str, source: reqwest::Error) -> Self {
        let path = path.to_owned();
        if source.is_timeout() {
            Error::Timeout {
                path,
                request_sent: !source.is_connect(),
                source,
            }
        } else if source.is_connect() {
            Error::Connect { path, source }
        } else {
            // A builder error (an invalid URL or header) fails before anything is sent.
            let request_sent = !source.is_builder();
            Error::Transport {
                path,
                request_sent,
                source,
            }
        }
    }

    /// Builds a [`Error::Status`] keeping the start of `body`.
    pub(crate) fn status(path: &str, status: StatusCode, body: &[u8]) -> Self {
        Error::Status {
            path: path.to_owned(),
            status,
            body_excerpt: excerpt(body),
        }
    }
}

/// Returns the first [`BODY_EXCERPT_CHARS`] characters of a body, marking a cut.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut cut: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_retryability() {
        let cases = [
            (StatusCode::INTERNAL_SERVER_ERROR, true),
            (StatusCode::SERVICE_UNAVAILABLE, true),
            (StatusCode::TOO_MANY_REQUESTS, true),
            (StatusCode::BAD_REQUEST, false),
            (StatusCode::NOT_FOUND, false),
        ];

        for (status, retryable) in cases {
            assert_eq!(
                Error::status("/p", status, b"").is_retryable(),
                retryable,
                "{status}"
            );
        }
    }

    #[test]
    fn login_failures_are_not_retryable() {
        assert!(
            !Error::LoginRejected {
                username: "u".into()
            }
            .is_retryable()
        );
        assert!(!Error::LicenseMissing.is_retryable());
        assert!(
            !Error::LockedOut {
                username: "u".into()
            }
            .is_retryable()
        );
    }

    #[test]
    fn write_outcome_is_uncertain_only_after_sending() {
        let data_path = "/api/v2/crmobject/person/create";
        let cases = [
            (
                Error::status(data_path, StatusCode::INTERNAL_SERVER_ERROR, b""),
                true,
            ),
            (Error::status(data_path, StatusCode::BAD_GATEWAY, b""), true),
            (
                Error::status(LOGIN_PATH, StatusCode::INTERNAL_SERVER_ERROR, b""),
                false,
            ),
            (
                Error::status(data_path, StatusCode::BAD_REQUEST, b""),
                false,
            ),
            (
                Error::status(data_path, StatusCode::TOO_MANY_REQUESTS, b""),
                false,
            ),
            (
                Error::CreateWithoutId {
                    path: data_path.into(),
                    status: StatusCode::CREATED,
                },
                true,
            ),
            (
                Error::Unauthorized {
                    path: data_path.into(),
                },
                false,
            ),
            (
                Error::FindUnsupported {
                    path: "/api/v2/crmobject/person/find".into(),
                    status: StatusCode::NOT_FOUND,
                },
                false,
            ),
        ];

        for (error, uncertain) in cases {
            assert_eq!(error.outcome_uncertain(), uncertain, "{error:?}");
        }
    }

    #[test]
    fn excerpt_cuts_long_bodies() {
        let body = "خ".repeat(BODY_EXCERPT_CHARS + 10);

        let cut = excerpt(body.as_bytes());

        assert_eq!(cut.chars().count(), BODY_EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(b"  "), "(empty body)");
        assert_eq!(excerpt(b"{\"code\":500}"), "{\"code\":500}");
    }
}
