//! The error type of the Siagh client, classified by what the caller should do next.

use super::model::SiaghCode;

/// A failed call to Siagh.
///
/// [`Error::is_retryable`] returns whether trying again later can help, and
/// [`Error::outcome_uncertain`] whether a SaveFormData call may have been applied although
/// no clear answer arrived. Retry an uncertain write only after checking Siagh for the
/// record, because SaveFormData is not idempotent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client setting is unusable.
    #[error("invalid Siagh client setting `{setting}`: {problem}")]
    InvalidConfig {
        /// Name of the `SiaghClientConfig` field.
        setting: &'static str,
        /// Description of the problem and its fix.
        problem: String,
    },

    /// The HTTP client could not be built.
    #[error("failed to build the HTTP client for Siagh: {0}")]
    ClientBuild(#[source] reqwest::Error),

    /// No connection could be opened, so nothing was sent.
    #[error(
        "failed to connect to Siagh for {endpoint} ({detail}); check the Siagh base URL and \
         that the server is reachable"
    )]
    Connect {
        /// The Siagh endpoint, e.g. `SaveFormData`.
        endpoint: &'static str,
        /// Innermost cause, e.g. "Connection refused (os error 111)".
        detail: String,
        #[source]
        source: reqwest::Error,
    },

    /// The connect timeout or the total request timeout expired.
    #[error(
        "Siagh {endpoint} request timed out {}",
        if *request_sent {
            "after it was sent; a write may have been applied, check Siagh before retrying"
        } else {
            "while connecting; nothing was sent, retry later"
        }
    )]
    Timeout {
        endpoint: &'static str,
        /// Whether the request may have reached Siagh.
        request_sent: bool,
        #[source]
        source: reqwest::Error,
    },

    /// The connection failed in another way, e.g. it was reset while waiting for the reply.
    #[error("Siagh {endpoint} request failed ({detail}); retry later")]
    Transport {
        endpoint: &'static str,
        /// Whether the request may have reached Siagh.
        request_sent: bool,
        /// Innermost cause, e.g. "connection reset by peer".
        detail: String,
        #[source]
        source: reqwest::Error,
    },

    /// Siagh replied with a 5xx status.
    #[error("Siagh {endpoint} failed with HTTP {status}: {body_excerpt:?}; retry later")]
    Server {
        endpoint: &'static str,
        status: u16,
        /// Start of the response body.
        body_excerpt: String,
    },

    /// Siagh replied with a 4xx status other than 401 (429 included).
    #[error(
        "Siagh {endpoint} returned HTTP {status}: {body_excerpt:?}; {}",
        if *status == 429 { "Siagh is rate limiting, retry later" }
        else { "the request is invalid, retrying will not help" }
    )]
    Http {
        endpoint: &'static str,
        status: u16,
        /// Start of the response body.
        body_excerpt: String,
    },

    /// Siagh rejected the user name or password digest, or replied without a session id.
    #[error("Siagh rejected the login ({reason}); check the Siagh user name and password digest")]
    LoginRejected {
        /// Siagh's message or the missing part of the reply.
        reason: String,
    },

    /// A data call returned 401 even with a session obtained after the first 401.
    #[error(
        "Siagh returned 401 Unauthorized to {endpoint} even after a fresh login; retry later, \
         and check the Siagh user's permissions if this persists"
    )]
    SessionExpired { endpoint: &'static str },

    /// SaveFormData replied HTTP 200 but did not save the form.
    #[error(
        "Siagh rejected the form: {}; fix the data, retrying will not help",
        messages.join(" / ")
    )]
    Rejected {
        /// Every `ErrError` description, trimmed; Siagh's Persian text is kept as is.
        messages: Vec<String>,
    },

    /// An update returned a different contact code than the one requested, which means
    /// Siagh saved a new contact instead of updating the existing one.
    #[error(
        "Siagh saved contact {requested} as a new contact {returned} instead of updating it; \
         repoint the link to {returned} and review the duplicate in Siagh"
    )]
    CodeMismatch {
        requested: SiaghCode,
        returned: SiaghCode,
    },

    /// A login or GetAll reply could not be decoded.
    #[error("failed to decode the Siagh {what}: {source}")]
    Decode {
        /// Name of the reply, e.g. "GetAll response".
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// SaveFormData replied HTTP 200 with a body that does not tell which record was saved.
    #[error(
        "unusable Siagh SaveFormData reply ({reason}); the form may have been saved, check \
         Siagh before retrying"
    )]
    SaveResponseInvalid { reason: String },

    /// A pre-invoice save succeeded but no message carries the document number after
    /// "شماره". The pre-invoice was most likely saved.
    #[error(
        "Siagh reported the pre-invoice saved (ReturnCode {return_code:?}) but no message \
         contains its document number; look the pre-invoice up in Siagh before retrying"
    )]
    PreInvoiceNumberMissing {
        /// `ReturnCode` of the reply, probably Siagh's internal document id.
        return_code: String,
    },
}

impl Error {
    /// Returns whether the same call may succeed later: connection failures, timeouts, 5xx,
    /// 429 and a session that stayed unauthorized after a fresh login.
    ///
    /// When [`Error::outcome_uncertain`] is also true, check Siagh for the record before
    /// retrying a write.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::Timeout { .. }
            | Error::Transport { .. }
            | Error::Server { .. }
            | Error::SessionExpired { .. } => true,
            Error::Http { status, .. } => *status == 429,
            Error::InvalidConfig { .. }
            | Error::ClientBuild(_)
            | Error::LoginRejected { .. }
            | Error::Rejected { .. }
            | Error::CodeMismatch { .. }
            | Error::Decode { .. }
            | Error::SaveResponseInvalid { .. }
            | Error::PreInvoiceNumberMissing { .. } => false,
        }
    }

    /// Returns whether a SaveFormData request may have been applied although the reply did not
    /// confirm it: a timeout or broken connection after sending, a 5xx, or an unusable 200
    /// (a pre-invoice reply without its document number included).
    ///
    /// A connect failure is not uncertain, because nothing was sent.
    pub fn outcome_uncertain(&self) -> bool {
        match self {
            Error::Timeout { request_sent, .. } | Error::Transport { request_sent, .. } => {
                *request_sent
            }
            Error::Server { .. }
            | Error::SaveResponseInvalid { .. }
            | Error::PreInvoiceNumberMissing { .. } => true,
            Error::InvalidConfig { .. }
            | Error::ClientBuild(_)
            | Error::Connect { .. }
            | Error::Http { .. }
            | Error::LoginRejected { .. }
            | Error::SessionExpired { .. }
            | Error::Rejected { .. }
            | Error::CodeMismatch { .. }
            | Error::Decode { .. } => false,
        }
    }

    /// Classifies a reqwest failure on `endpoint` by whether the request may have been sent.
    pub(crate) fn from_reqwest(endpoint: &'static str, source: reqwest::Error) -> Self {
        if source.is_connect() {
            if source.is_timeout() {
                return Error::Timeout {
                    endpoint,
                    request_sent: false,
                    source,
                };
            }
            let detail = innermost_cause(&source);
            return Error::Connect {
                endpoint,
                detail,
                source,
            };
        }
        if source.is_timeout() {
            return Error::Timeout {
                endpoint,
                request_sent: true,
                source,
            };
        }
        // A builder error (an invalid URL or header) fails before anything is sent.
        let request_sent = !source.is_builder();
        let detail = innermost_cause(&source);
        Error::Transport {
            endpoint,
            request_sent,
            detail,
            source,
        }
    }
}

/// Returns the text of the last error in the `source()` chain, which names the actual
/// failure ("Connection refused") where reqwest's own message does not.
fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_is_final_and_certain() {
        let error = Error::Rejected {
            messages: vec!["شماره موبایل نمی تواند تکراری باشد.".into()],
        };

        assert!(!error.is_retryable());
        assert!(!error.outcome_uncertain());
        assert!(
            error
                .to_string()
                .contains("شماره موبایل نمی تواند تکراری باشد.")
        );
    }

    #[test]
    fn server_error_is_retryable_and_uncertain() {
        let error = Error::Server {
            endpoint: "SaveFormData",
            status: 500,
            body_excerpt: String::new(),
        };

        assert!(error.is_retryable());
        assert!(error.outcome_uncertain());
    }

    #[test]
    fn rate_limit_is_retryable_other_4xx_is_not() {
        let limited = Error::Http {
            endpoint: "GetAll",
            status: 429,
            body_excerpt: String::new(),
        };
        let invalid = Error::Http {
            endpoint: "GetAll",
            status: 400,
            body_excerpt: String::new(),
        };

        assert!(limited.is_retryable());
        assert!(!invalid.is_retryable());
        assert!(!invalid.outcome_uncertain());
    }

    #[test]
    fn code_mismatch_names_both_codes() {
        let error = Error::CodeMismatch {
            requested: SiaghCode(8404),
            returned: SiaghCode(8405),
        };

        let text = error.to_string();

        assert!(text.contains("8404"));
        assert!(text.contains("8405"));
        assert!(!error.is_retryable());
    }
}
