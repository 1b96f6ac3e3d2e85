//! Fake access tokens shaped like the CRM's JWTs, and the login `expiresAt` format.

use chrono::{DateTime, FixedOffset, Timelike, Utc};
use serde_json::json;

/// JWT header of the CRM's tokens: `alg` is the XML-DSig URI, not `RS256`.
const HEADER: &str = r#"{"alg":"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256","kid":"0000FAKEKID0000","typ":"JWT"}"#;

const BASE64URL_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Builds a token with the claims of a real CRM token, a random `jti` claim and a random
/// signature that no one can verify.
pub(crate) fn issue_token(
    username: &str,
    user_id: &str,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> String {
    let claims = json!({
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": user_id,
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": username,
        "http://schemas.microsoft.com/accesscontrolservice/2010/07/claims/identityprovider":
            "PG ASP.NET Identity",
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/role": ["SystemOperator"],
        "email": format!("{username}@example.com"),
        "identityType": "Person",
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": issued_at.timestamp(),
        "exp": expires_at.timestamp(),
        "iss": "PayamGostar.com",
        "aud": "app.api.employeeprofile",
    });
    let signature = format!("FAKE-SIGNATURE-{}", uuid::Uuid::new_v4().simple());

    format!(
        "{}.{}.{}",
        base64url(HEADER.as_bytes()),
        base64url(claims.to_string().as_bytes()),
        base64url(signature.as_bytes())
    )
}

/// Builds an opaque refresh token. The simulator has no refresh endpoint, so the token is
/// never used.
pub(crate) fn issue_refresh_token() -> String {
    base64url(format!("FakeRefreshToken{}", uuid::Uuid::new_v4().simple()).as_bytes())
}

/// Formats a login expiry the way the CRM does: seven fraction digits and an explicit
/// offset, e.g. `2026-01-10T12:15:42.1234567+03:30`.
pub(crate) fn format_expires_at(expires_at: DateTime<FixedOffset>) -> String {
    let ticks = expires_at.nanosecond() % 1_000_000_000 / 100;
    format!(
        "{}.{ticks:07}{}",
        expires_at.format("%Y-%m-%dT%H:%M:%S"),
        expires_at.format("%:z")
    )
}

/// Encodes bytes as unpadded base64url, the encoding of JWT segments.
fn base64url(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk[0] as u32;
        let b1 = chunk.get(1).copied().unwrap_or(0) as u32;
        let b2 = chunk.get(2).copied().unwrap_or(0) as u32;
        let group = (b0 << 16) | (b1 << 8) | b2;
        // A chunk of n bytes yields n + 1 characters.
        for index in 0..=chunk.len() {
            let sextet = (group >> (18 - 6 * index)) & 0x3f;
            encoded.push(BASE64URL_ALPHABET[sextet as usize] as char);
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];

        for (input, expected) in cases {
            assert_eq!(base64url(input.as_bytes()), expected);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn header_matches_fixture_token() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../fixtures/crm/auth_login_response.json")).unwrap();
        let fixture_token = fixture["accessToken"].as_str().unwrap();

        let token = issue_token(
            "api-user",
            "f1bcad24-6261-4d5c-b149-463c145d4aa6",
            Utc::now(),
            Utc::now(),
        );

        assert_eq!(token.split('.').next(), fixture_token.split('.').next());
        assert_eq!(token.split('.').count(), 3);
    }

    #[test]
    fn tokens_differ() {
        let now = Utc::now();

        assert_ne!(
            issue_token("u", "id", now, now),
            issue_token("u", "id", now, now)
        );
    }

    #[test]
    fn expires_at_has_seven_digits_and_offset() {
        let expires_at = DateTime::parse_from_rfc3339("2026-01-10T12:15:42.1234567+03:30").unwrap();
        let whole_second = DateTime::parse_from_rfc3339("2026-01-10T12:15:42+03:30").unwrap();

        assert_eq!(
            format_expires_at(expires_at),
            "2026-01-10T12:15:42.1234567+03:30"
        );
        assert_eq!(
            format_expires_at(whole_second),
            "2026-01-10T12:15:42.0000000+03:30"
        );
    }
}
