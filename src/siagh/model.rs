//! Siagh wire types: the JSON bodies of LoginUser, GetAll and SaveFormData, field for field.
//!
//! Every field carries an explicit `rename`, because Siagh's casing is irregular (`img`,
//! `HasDisCount`, `WebSiteAddress`). The GetAll record types come from a hand-written client,
//! not a schema, so reads are lenient: every field except `Code` is optional, unknown fields
//! are ignored, and codes, numbers and flags are accepted as either JSON numbers or strings.

use std::fmt;
use std::str::FromStr;

use secrecy::SecretString;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// `ErrorType` of a SaveFormData message that marks the request as failed.
pub const ERROR_TYPE_ERROR: &str = "ErrError";

/// Code of a Siagh contact (`gn_web_users`): the `Code` of a GetAll record, the `ReturnCode`
/// of a contact save, and the `CodeMain`/`Param1` of an update.
///
/// Serializes as a JSON number. Deserializes from a number or from a string of digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiaghCode(pub i64);

impl fmt::Display for SiaghCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Error returned when text is not a valid [`SiaghCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Siagh contact code {value:?}: expected an integer such as 8404")]
pub struct ParseSiaghCodeError {
    /// The rejected text.
    pub value: String,
}

impl FromStr for SiaghCode {
    type Err = ParseSiaghCodeError;

    /// Parses decimal digits, ignoring surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<i64>()
            .map(SiaghCode)
            .map_err(|_| ParseSiaghCodeError {
                value: s.to_owned(),
            })
    }
}

impl Serialize for SiaghCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for SiaghCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SiaghCodeVisitor)
    }
}

struct SiaghCodeVisitor;

impl Visitor<'_> for SiaghCodeVisitor {
    type Value = SiaghCode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a contact code as an integer or a string of digits")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SiaghCode, E> {
        Ok(SiaghCode(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<SiaghCode, E> {
        i64::try_from(v)
            .map(SiaghCode)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<SiaghCode, E> {
        let in_range = v.fract() == 0.0 && v >= i64::MIN as f64 && v <= i64::MAX as f64;
        if !in_range {
            return Err(E::invalid_value(de::Unexpected::Float(v), &self));
        }
        // The range check above makes the cast exact.
        #[allow(clippy::cast_possible_truncation)]
        Ok(SiaghCode(v as i64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SiaghCode, E> {
        v.parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// Body of `POST /GeneralApi/LoginUser`.
#[derive(Serialize)]
pub struct LoginRequest<'a> {
    /// Siagh user name, matched exactly (it may contain spaces and Persian letters).
    #[serde(rename = "UserName")]
    pub user_name: &'a str,
    /// MD5 digest of the password as 32 upper-case hex characters.
    #[serde(rename = "Password")]
    pub password_md5: &'a str,
}

impl fmt::Debug for LoginRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("user_name", &self.user_name)
            .field("password_md5", &"[REDACTED]")
            .finish()
    }
}

/// Successful body of `POST /GeneralApi/LoginUser`.
///
/// Only `FiscalYear` is required: the client needs it for pre-invoices, and a missing
/// `SessionId` is reported as a rejected login rather than a decoding error.
#[derive(Clone, Deserialize)]
pub struct LoginResponse {
    /// Code of the contact record linked to the user.
    #[serde(rename = "ContactCode", default, deserialize_with = "lenient::opt_i64")]
    pub contact_code: Option<i64>,
    /// Name of the contact record linked to the user.
    #[serde(
        rename = "ContactName",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub contact_name: Option<String>,
    /// Numeric user id.
    #[serde(rename = "UserCode", default, deserialize_with = "lenient::opt_i64")]
    pub user_code: Option<i64>,
    /// The user name that logged in.
    #[serde(rename = "UserName", default, deserialize_with = "lenient::opt_string")]
    pub user_name: Option<String>,
    /// Session key: the raw value of the `Authorization` header on later calls.
    #[serde(rename = "SessionId", default)]
    pub session_id: Option<SecretString>,
    /// `SessionId + ":0"`; Siagh's documentation says to send `SessionId`, not this.
    #[serde(rename = "Token", default)]
    pub token: Option<SecretString>,
    /// Branch id.
    #[serde(rename = "BranchCode", default, deserialize_with = "lenient::opt_i64")]
    pub branch_code: Option<i64>,
    /// Branch name, e.g. "دفتر مرکزی" (head office).
    #[serde(
        rename = "BranchName",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub branch_name: Option<String>,
    /// Whether the user is an administrator.
    #[serde(
        rename = "IsAdminUser",
        default,
        deserialize_with = "lenient::opt_bool"
    )]
    pub is_admin_user: Option<bool>,
    /// Current Jalali fiscal year, e.g. 1404; pre-invoices send it as `sl_sanad.salmali`.
    #[serde(rename = "FiscalYear", deserialize_with = "lenient::i32_required")]
    pub fiscal_year: i32,
    /// The user's mobile number (10 digits without the leading 0 in Siagh's example).
    #[serde(rename = "MobileNo", default, deserialize_with = "lenient::opt_string")]
    pub mobile_no: Option<String>,
    /// Server date, Jalali `yyyy/MM/dd` with ASCII digits.
    #[serde(
        rename = "SystemDate",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub system_date: Option<String>,
    /// Server time, `HH:mm` (24-hour clock).
    #[serde(
        rename = "SystemTime",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub system_time: Option<String>,
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The session key and token grant access; SecretString's Debug already redacts them.
        f.debug_struct("LoginResponse")
            .field("contact_code", &self.contact_code)
            .field("user_code", &self.user_code)
            .field("session_id", &self.session_id)
            .field("token", &self.token)
            .field("branch_code", &self.branch_code)
            .field("is_admin_user", &self.is_admin_user)
            .field("fiscal_year", &self.fiscal_year)
            .field("system_date", &self.system_date)
            .field("system_time", &self.system_time)
            .finish_non_exhaustive()
    }
}

/// One record of the bare JSON array returned by `/api/Sgh/GEN/Gn_Web_Users/GetAll`.
///
/// The list also contains system users (`IsAdminUser: true`) and inactive contacts. It carries no
/// timestamps and never returns the `tmpid` a contact was written with.
#[derive(Clone, Debug, Deserialize)]
pub struct SiaghContact {
    /// Row GUID.
    #[serde(rename = "RecordId", default, deserialize_with = "lenient::opt_string")]
    pub record_id: Option<String>,
    /// Contact code: the business key of the record.
    #[serde(rename = "Code")]
    pub code: SiaghCode,
    /// Full display name, written through `gn_web_users.fullname`.
    #[serde(rename = "Name", default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(rename = "NickName", default, deserialize_with = "lenient::opt_string")]
    pub nick_name: Option<String>,
    /// National id; written through `gn_web_users.passno`.
    #[serde(
        rename = "NationalCode",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub national_code: Option<String>,
    #[serde(rename = "MobileNo", default, deserialize_with = "lenient::opt_string")]
    pub mobile_no: Option<String>,
    #[serde(
        rename = "MobileNo2",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub mobile_no2: Option<String>,
    #[serde(rename = "TelNo", default, deserialize_with = "lenient::opt_string")]
    pub tel_no: Option<String>,
    #[serde(rename = "TelNo2", default, deserialize_with = "lenient::opt_string")]
    pub tel_no2: Option<String>,
    #[serde(rename = "Email", default, deserialize_with = "lenient::opt_string")]
    pub email: Option<String>,
    #[serde(rename = "Email2", default, deserialize_with = "lenient::opt_string")]
    pub email2: Option<String>,
    #[serde(rename = "Address", default, deserialize_with = "lenient::opt_string")]
    pub address: Option<String>,
    /// Written through `gn_web_users.pocode`.
    #[serde(
        rename = "PostalCode",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub postal_code: Option<String>,
    /// Written through `gn_web_users.codeshahr`.
    #[serde(rename = "CityCode", default, deserialize_with = "lenient::opt_string")]
    pub city_code: Option<String>,
    #[serde(
        rename = "CountryCode",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub country_code: Option<String>,
    /// Gender code; its encoding is not documented.
    #[serde(rename = "Gender", default, deserialize_with = "lenient::opt_string")]
    pub gender: Option<String>,
    /// Birth date in an undocumented format.
    #[serde(
        rename = "BirthDate",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub birth_date: Option<String>,
    #[serde(
        rename = "FatherName",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub father_name: Option<String>,
    /// Remarks, written through `gn_web_users.tozihat`.
    #[serde(
        rename = "Description",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub description: Option<String>,
    /// Website, written through `gn_web_users.websiteaddress`.
    #[serde(
        rename = "WebSiteAddress",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub website_address: Option<String>,
    #[serde(rename = "IsActive", default, deserialize_with = "lenient::opt_bool")]
    pub is_active: Option<bool>,
    /// Whether this is a system or administrator account rather than a customer.
    #[serde(
        rename = "IsAdminUser",
        default,
        deserialize_with = "lenient::opt_bool"
    )]
    pub is_admin_user: Option<bool>,
    /// Party type: `false` for a person, `true` for an organization (`taraftype` 0 or 1).
    #[serde(rename = "TowardType", default, deserialize_with = "lenient::opt_bool")]
    pub toward_type: Option<bool>,
    /// Registration date in an undocumented format.
    #[serde(rename = "RegDate", default, deserialize_with = "lenient::opt_string")]
    pub reg_date: Option<String>,
    #[serde(
        rename = "ExpireDate",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub expire_date: Option<String>,
    #[serde(rename = "ParentCode", default, deserialize_with = "lenient::opt_i64")]
    pub parent_code: Option<i64>,
    /// Probably the linked accounting party (طرف حساب).
    #[serde(
        rename = "AccountPartyCode",
        default,
        deserialize_with = "lenient::opt_i64"
    )]
    pub account_party_code: Option<i64>,
    #[serde(
        rename = "GeographicCode",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub geographic_code: Option<String>,
    #[serde(
        rename = "FraternityCode",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub fraternity_code: Option<String>,
    #[serde(
        rename = "JobTypeCode",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub job_type_code: Option<String>,
    #[serde(
        rename = "TrackingCode",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub tracking_code: Option<String>,
    #[serde(
        rename = "CodeRoshd",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub code_roshd: Option<String>,
    #[serde(rename = "Coin", default, deserialize_with = "lenient::opt_f64")]
    pub coin: Option<f64>,
    #[serde(rename = "Confirm", default, deserialize_with = "lenient::opt_bool")]
    pub confirm: Option<bool>,
    #[serde(
        rename = "GiveCoinToParentCode",
        default,
        deserialize_with = "lenient::opt_bool"
    )]
    pub give_coin_to_parent_code: Option<bool>,
    #[serde(
        rename = "HasDisCount",
        default,
        deserialize_with = "lenient::opt_bool"
    )]
    pub has_discount: Option<bool>,
    #[serde(rename = "img", default, deserialize_with = "lenient::opt_string")]
    pub img: Option<String>,
    #[serde(rename = "Picture", default, deserialize_with = "lenient::opt_string")]
    pub picture: Option<String>,
    /// Name prefix or title.
    #[serde(rename = "PreName", default, deserialize_with = "lenient::opt_string")]
    pub pre_name: Option<String>,
    #[serde(
        rename = "RepresentativeId",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub representative_id: Option<String>,
    #[serde(rename = "OrgField", default, deserialize_with = "lenient::opt_string")]
    pub org_field: Option<String>,
    /// The contact's web-login password column; `Debug` redacts it.
    #[serde(rename = "Password", default)]
    pub password: Option<SecretString>,
}

/// Body of `POST /BpmsApi/SaveFormData`. Every field is a string, including the two that
/// hold JSON text (`dataRows`, `attachments`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveFormRequest {
    /// Form to save through: `2BFDA` for contacts, `43D81` for sales pre-invoices.
    #[serde(rename = "formId")]
    pub form_id: String,
    /// Header values as `key=value` pairs joined by `|`.
    #[serde(rename = "ctrlValues")]
    pub ctrl_values: String,
    /// Form parameters in the same `key=value|…` syntax, e.g. `CodeMain=8404`.
    #[serde(rename = "parameters")]
    pub parameters: String,
    /// JSON text of the detail-grid array; `"[]"` for contacts.
    #[serde(rename = "dataRows")]
    pub data_rows: String,
    /// JSON text of the attachment array; always `"[]"`.
    #[serde(rename = "attachments")]
    pub attachments: String,
    /// Constant `"1110"` in every known request; its meaning is not documented.
    #[serde(rename = "postCode")]
    pub post_code: String,
    /// Workflow id; always empty.
    #[serde(rename = "flowId")]
    pub flow_id: String,
}

/// Result body of `POST /BpmsApi/SaveFormData`. Business errors arrive with HTTP 200 in
/// this shape.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SaveFormResponse {
    /// Messages: `ErrError` items on failure, an `ErrSuccs` note on some successes.
    #[serde(rename = "Errors", default)]
    pub errors: Vec<SiaghMessage>,
    /// Short result texts, e.g. the saved pre-invoice number.
    #[serde(rename = "FinalMessages", default)]
    pub final_messages: Vec<String>,
    /// `true` when the form was saved.
    #[serde(rename = "ReturnValue", default)]
    pub return_value: bool,
    /// The saved contact's code as a string; an internal document id for pre-invoices;
    /// empty on failure.
    #[serde(
        rename = "ReturnCode",
        default,
        deserialize_with = "lenient::string_or_empty"
    )]
    pub return_code: String,
    /// Same as `ReturnCode` for contacts; an undocumented number for pre-invoices.
    #[serde(
        rename = "ReturnParams",
        default,
        deserialize_with = "lenient::string_or_empty"
    )]
    pub return_params: String,
}

impl SaveFormResponse {
    /// Applies Siagh's success rule: `ReturnValue` is true and no message is an `ErrError`.
    /// The caller checks the HTTP status (200) separately.
    pub fn is_success(&self) -> bool {
        self.return_value && !self.errors.iter().any(SiaghMessage::is_error)
    }

    /// Returns the `Description` of every `ErrError` message, trimmed, in response order.
    pub fn error_messages(&self) -> Vec<String> {
        self.errors
            .iter()
            .filter(|message| message.is_error())
            .map(|message| message.description.trim().to_owned())
            .collect()
    }
}

/// One item of a SaveFormData `Errors` array.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SiaghMessage {
    /// Column concerned, e.g. `"Price"`; usually empty.
    #[serde(
        rename = "ColName",
        default,
        deserialize_with = "lenient::string_or_empty"
    )]
    pub col_name: String,
    #[serde(
        rename = "Group",
        default,
        deserialize_with = "lenient::string_or_empty"
    )]
    pub group: String,
    /// `"ErrError"` (failure), `"ErrSuccs"` (success note) or `"ErrWarning"`.
    #[serde(
        rename = "ErrorType",
        default,
        deserialize_with = "lenient::string_or_empty"
    )]
    pub error_type: String,
    /// Persian message text; it may start with a space and contain line breaks.
    #[serde(
        rename = "Description",
        default,
        deserialize_with = "lenient::string_or_empty"
    )]
    pub description: String,
    /// `-1` on errors, `0` on the success note.
    #[serde(rename = "ErrorCode", default, deserialize_with = "lenient::opt_i64")]
    pub error_code: Option<i64>,
    #[serde(
        rename = "MessageText",
        default,
        deserialize_with = "lenient::string_or_empty"
    )]
    pub message_text: String,
    #[serde(
        rename = "Solution",
        default,
        deserialize_with = "lenient::string_or_empty"
    )]
    pub solution: String,
    #[serde(
        rename = "HelpIndex",
        default,
        deserialize_with = "lenient::string_or_empty"
    )]
    pub help_index: String,
}

impl SiaghMessage {
    /// Returns whether this message marks the request as failed (`ErrorType == "ErrError"`).
    pub fn is_error(&self) -> bool {
        self.error_type == ERROR_TYPE_ERROR
    }
}

/// Body of a non-2xx Siagh reply, e.g. `{"Message": "Invalid username or password"}`.
#[derive(Clone, Debug, Deserialize)]
pub struct SiaghErrorBody {
    #[serde(rename = "Message", default)]
    pub message: Option<String>,
}

/// Deserializers that accept a value in whichever JSON type Siagh happens to send.
mod lenient {
    use serde::de::{self, Deserialize, Deserializer};
    use serde_json::Value;

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(de::Error::custom(format!(
                "expected a string, found {other}"
            ))),
        }
    }

    pub fn string_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(opt_string(d)?.unwrap_or_default())
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| de::Error::custom(format!("expected an integer, found {n}"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| de::Error::custom(format!("expected an integer, found {s:?}"))),
            Some(other) => Err(de::Error::custom(format!(
                "expected an integer, found {other}"
            ))),
        }
    }

    pub fn i32_required<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        let value =
            opt_i64(d)?.ok_or_else(|| de::Error::custom("expected an integer, found null"))?;
        i32::try_from(value)
            .map_err(|_| de::Error::custom(format!("integer {value} is out of range")))
    }

    pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| de::Error::custom(format!("expected a number, found {s:?}"))),
            Some(other) => Err(de::Error::custom(format!(
                "expected a number, found {other}"
            ))),
        }
    }

    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "" => Ok(None),
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(de::Error::custom(format!(
                    "expected a boolean, found {s:?}"
                ))),
            },
            Some(other) => Err(de::Error::custom(format!(
                "expected a boolean, found {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use secrecy::ExposeSecret;

    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../sim/fixtures/siagh/", $name))
        };
    }

    #[test]
    fn login_request_serializes_like_fixture() {
        let expected: serde_json::Value =
            serde_json::from_str(fixture!("login-request.json")).unwrap();
        let request = LoginRequest {
            user_name: "کاربر نمونه",
            password_md5: "63FE8E9E6E805F2CB28675D5592F22E8",
        };

        assert_eq!(serde_json::to_value(&request).unwrap(), expected);
        assert!(!format!("{request:?}").contains("63FE"));
    }

    #[test]
    fn login_response_fixture_parses() {
        let login: LoginResponse = serde_json::from_str(fixture!("login-response.json")).unwrap();

        assert_eq!(login.fiscal_year, 1404);
        assert_eq!(login.system_date.as_deref(), Some("1404/09/04"));
        assert_eq!(login.user_code, Some(1));
        assert_eq!(login.branch_code, Some(1));
        let session_id = login.session_id.as_ref().unwrap();
        assert_eq!(
            session_id.expose_secret(),
            "5a3e0c2f9b8d4e6a8c1f2b3d4e5f6a7b"
        );
        assert!(!format!("{login:?}").contains("5a3e0c2f"));
    }

    #[test]
    fn login_response_without_fiscal_year_fails() {
        let result = serde_json::from_str::<LoginResponse>(r#"{"SessionId":"ab"}"#);

        assert!(result.is_err());
    }

    #[test]
    fn getall_fixture_parses() {
        let contacts: Vec<SiaghContact> =
            serde_json::from_str(fixture!("getall-contacts-response.json")).unwrap();

        let codes: Vec<SiaghCode> = contacts.iter().map(|c| c.code).collect();
        assert_eq!(
            codes,
            vec![SiaghCode(8401), SiaghCode(8402), SiaghCode(8403)]
        );
        assert_eq!(contacts[0].toward_type, Some(false));
        assert_eq!(contacts[1].toward_type, Some(true));
        assert_eq!(
            contacts[1].website_address.as_deref(),
            Some("https://example.com")
        );
        assert_eq!(contacts[2].is_active, Some(false));
        assert_eq!(contacts[2].tel_no, None);
        assert!(contacts.iter().all(|c| c.password.is_none()));
    }

    #[test]
    fn getall_record_is_lenient() {
        let json = r#"[{"Code":"8401","IsActive":1,"TowardType":"true","Coin":"5",
            "ParentCode":"12","CityCode":21,"Unexpected":{"a":1}}]"#;

        let contacts: Vec<SiaghContact> = serde_json::from_str(json).unwrap();

        let contact = &contacts[0];
        assert_eq!(contact.code, SiaghCode(8401));
        assert_eq!(contact.is_active, Some(true));
        assert_eq!(contact.toward_type, Some(true));
        assert_eq!(contact.coin, Some(5.0));
        assert_eq!(contact.parent_code, Some(12));
        assert_eq!(contact.city_code.as_deref(), Some("21"));
        assert_eq!(contact.name, None);
    }

    #[test]
    fn getall_record_without_code_fails() {
        let result = serde_json::from_str::<Vec<SiaghContact>>(r#"[{"Name":"x"}]"#);

        assert!(result.is_err());
    }

    #[test]
    fn contact_password_is_redacted_in_debug() {
        let json = r#"[{"Code":1,"Password":"web-secret"}]"#;

        let contacts: Vec<SiaghContact> = serde_json::from_str(json).unwrap();

        assert!(!format!("{contacts:?}").contains("web-secret"));
    }

    #[test]
    fn request_fixtures_parse() {
        for text in [
            fixture!("contact-create-request.json"),
            fixture!("contact-update-request.json"),
            fixture!("preinvoice-create-request.json"),
        ] {
            let request: SaveFormRequest = serde_json::from_str(text).unwrap();

            assert_eq!(request.post_code, "1110");
            let round_trip: serde_json::Value = serde_json::to_value(&request).unwrap();
            assert_eq!(
                round_trip,
                serde_json::from_str::<serde_json::Value>(text).unwrap()
            );
        }
    }

    #[test]
    fn success_fixtures_are_successes() {
        for text in [
            fixture!("contact-create-success-response.json"),
            fixture!("preinvoice-create-success-response.json"),
        ] {
            let response: SaveFormResponse = serde_json::from_str(text).unwrap();

            assert!(response.is_success());
            assert!(response.error_messages().is_empty());
        }
    }

    #[test]
    fn error_fixtures_are_failures_with_messages() {
        let cases = [
            (
                fixture!("error-duplicate-mobile-response.json"),
                "شماره موبایل نمی تواند تکراری باشد.",
            ),
            (
                fixture!("error-duplicate-phone-response.json"),
                "شماره تلفن نمی تواند تکراری باشد.",
            ),
            (
                fixture!("error-invalid-price-response.json"),
                "قیمت ردیف 1 درست وارد نشده است",
            ),
        ];
        for (text, expected) in cases {
            let response: SaveFormResponse = serde_json::from_str(text).unwrap();

            assert!(!response.is_success());
            assert_eq!(response.error_messages(), vec![expected.to_owned()]);
        }
    }

    #[test]
    fn runtime_error_fixture_keeps_line_breaks() {
        let response: SaveFormResponse =
            serde_json::from_str(fixture!("error-runtime-response.json")).unwrap();

        let messages = response.error_messages();

        assert!(!response.is_success());
        assert!(messages[0].starts_with("پیامهای سرویس"));
        assert_eq!(messages[0].lines().count(), 5);
    }

    #[test]
    fn invalid_price_fixture_names_column() {
        let response: SaveFormResponse =
            serde_json::from_str(fixture!("error-invalid-price-response.json")).unwrap();

        assert_eq!(response.errors[0].col_name, "Price");
        assert_eq!(response.errors[0].error_code, Some(-1));
    }

    #[test]
    fn unauthorized_fixture_parses() {
        let body: SiaghErrorBody =
            serde_json::from_str(fixture!("error-unauthorized-response.json")).unwrap();

        assert_eq!(
            body.message.as_deref(),
            Some("Invalid username or password")
        );
    }

    #[test]
    fn siagh_code_round_trips() {
        let code: SiaghCode = " 8404 ".parse().unwrap();

        assert_eq!(code, SiaghCode(8404));
        assert_eq!(code.to_string(), "8404");
        assert_eq!(serde_json::to_string(&code).unwrap(), "8404");
        assert_eq!(serde_json::from_str::<SiaghCode>("\"8404\"").unwrap(), code);
        assert_eq!(serde_json::from_str::<SiaghCode>("8404.0").unwrap(), code);
        assert!("84a".parse::<SiaghCode>().is_err());
        assert!(serde_json::from_str::<SiaghCode>("8404.5").is_err());
    }
}
