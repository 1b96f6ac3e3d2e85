//! The tracing subscriber: `RUST_LOG` sets the filter (default `info`), `LOG_FORMAT=json`
//! switches to one JSON object per line for log collectors.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once, at the start of `main`. `default_filter` applies
/// when `RUST_LOG` is not set.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(true).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// Root span of each HTTP request. It names the matched route pattern, never the concrete
/// path or query: webhook paths carry the shared secret.
pub struct RedactedRootSpan;

impl tracing_actix_web::RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        tracing::info_span!(
            "http_request",
            http.method = %request.method(),
            http.route = %route,
            http.status_code = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("http.status_code", status.as_u16());
        let _entered = span.enter();
        // One line per refused or failed request, so a CRM registered with a wrong secret or a
        // script with a wrong token shows in the log. Successes are routine.
        if status.is_server_error() {
            tracing::warn!(http.status_code = status.as_u16(), "request failed");
        } else if status.is_client_error() {
            tracing::info!(http.status_code = status.as_u16(), "request rejected");
        } else {
            tracing::debug!(http.status_code = status.as_u16(), "request served");
        }
    }
}
