//! Wire types of the Payamgostar CRM's v2 HTTP API.
//!
//! The structs mirror the CRM's JSON: keys are camelCase, unknown keys are ignored, and a
//! string that is `null` or `""` becomes `None`. Conversion to the sync's canonical form
//! happens elsewhere.
//!
//! No live person or organization `get` body has been published, so `CrmPerson` and
//! `CrmOrganization` follow the vendor's client-library models plus the base fields seen
//! live on quotes. Every field that such a model lists is optional here unless the record is
//! useless without it (`crmId`, `creatDate`, `modifyDate`).

use std::fmt;

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Id of a CRM record (`crmId`, the webhook's `id`, a search result's `identityId`).
///
/// Opaque: lower-case GUIDs in practice, but some installations may issue other strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CrmId(pub String);

impl CrmId {
    /// Returns the id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CrmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for CrmId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for CrmId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

/// Kind of identity: a person (natural person) or an organization (legal entity).
///
/// Each kind has its own `get`, `create`, `update` and `find` paths, and identity search
/// results do not say which kind an id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    Person,
    Organization,
}

impl IdentityKind {
    /// Returns the type code to send as `crmObjectTypeCode` or `typeKey` when no other is
    /// configured: `person` or `organization`.
    ///
    /// Type codes are set per installation. These two are the ones a live installation was
    /// seen to accept.
    pub fn default_type_code(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Organization => "organization",
        }
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Person => "person",
            Self::Organization => "organization",
        })
    }
}

/// Phone entry of an identity (`phoneContacts[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmPhone {
    /// Id of this entry, absent on create.
    #[serde(default, deserialize_with = "text")]
    pub id: Option<String>,
    /// Whether this is the identity's default phone.
    #[serde(default, deserialize_with = "null_as_default")]
    pub default: bool,
    /// Free text such as `Mobile` or `Office`. The allowed values are not documented.
    #[serde(default, deserialize_with = "text")]
    pub phone_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub phone_number: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub continued_number: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub extension: Option<String>,
}

/// Postal address entry of an identity (`addressContacts[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmAddress {
    /// Id of this entry, absent on create.
    #[serde(default, deserialize_with = "text")]
    pub id: Option<String>,
    /// Whether this is the identity's default address.
    #[serde(default, deserialize_with = "null_as_default")]
    pub default: bool,
    #[serde(default, deserialize_with = "text")]
    pub country: Option<String>,
    /// Province.
    #[serde(default, deserialize_with = "text")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub address_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub area_code: Option<String>,
    /// Street address.
    #[serde(default, deserialize_with = "text")]
    pub address: Option<String>,
    /// Postal code.
    #[serde(default, deserialize_with = "text")]
    pub zip_code: Option<String>,
    /// Post-office box.
    #[serde(default, deserialize_with = "text")]
    pub zip_box: Option<String>,
    #[serde(default)]
    pub longitude: Option<f64>,
    #[serde(default)]
    pub latitude: Option<f64>,
}

/// Category membership of an identity (`categories[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmCategory {
    /// Id of this membership entry.
    #[serde(default, deserialize_with = "text")]
    pub id: Option<String>,
    /// Display name of the category.
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// Key that the CRM administrator gave the category. Create requests name the category
    /// by its key.
    #[serde(default, deserialize_with = "text")]
    pub key: Option<String>,
    /// Undocumented in meaning and JSON type. Only `null` has been seen.
    #[serde(rename = "type", default)]
    pub category_type: Option<Value>,
}

/// Custom field value (`extendedProperties[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmExtendedProperty {
    /// Field key set in the CRM's customization settings.
    #[serde(default, deserialize_with = "text")]
    pub user_key: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub preview: Option<Value>,
}

/// Link between a person and an organization (a person's `organizations[]`, an
/// organization's `employees[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmEmployment {
    #[serde(default, deserialize_with = "text")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub organization_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub person_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub profession: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub job_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub office: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub department: Option<String>,
}

/// Fields that every CRM record returns, whatever its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmObjectFields {
    pub crm_id: CrmId,
    /// Kind of object: 24 for identities, 8 for sales quotes.
    #[serde(default)]
    pub crm_object_type_index: Option<i32>,
    /// Id of the record's admin-defined type.
    #[serde(default, deserialize_with = "text")]
    pub crm_object_type_id: Option<String>,
    /// Code of the record's admin-defined type (`person`, `organization`, `PI_5`, …).
    #[serde(default, deserialize_with = "text")]
    pub crm_object_type_code: Option<String>,
    /// Display name of the type, `null` unless previews were requested.
    #[serde(default, deserialize_with = "text")]
    pub crm_object_type_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub parent_crm_object_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub extended_properties: Vec<CrmExtendedProperty>,
    /// Creation time in the CRM server's local time (no offset on the wire).
    #[serde(with = "local_datetime")]
    pub creat_date: NaiveDateTime,
    /// Last modification time in the CRM server's local time (no offset on the wire).
    #[serde(with = "local_datetime")]
    pub modify_date: NaiveDateTime,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Free-text reference number. The sync stores the finance-side id here.
    #[serde(default, deserialize_with = "text", serialize_with = "none_as_empty")]
    pub ref_id: Option<String>,
    /// Stage name.
    #[serde(default, deserialize_with = "text")]
    pub stage: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub stage_id: Option<String>,
    #[serde(default)]
    pub process_life_path_index: Option<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub process_life_paths: Vec<Value>,
    /// For quotes, the customer's id. On identities it is assumed to equal `crm_id`.
    #[serde(default, deserialize_with = "text_id")]
    pub identity_id: Option<CrmId>,
    #[serde(default, deserialize_with = "text", serialize_with = "none_as_empty")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub subject: Option<String>,
    #[serde(default)]
    pub color: Option<Value>,
    /// Id of the CRM user who created the record.
    #[serde(default, deserialize_with = "text")]
    pub creator_id: Option<String>,
    /// Id of the CRM user who last changed the record. It equals the API user's id after a
    /// write by the sync.
    #[serde(default, deserialize_with = "text")]
    pub modifier_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub assigned_to_id: Option<String>,
    #[serde(default)]
    pub crm_object_type_index_preview: Option<Value>,
    #[serde(default)]
    pub identity_id_preview: Option<Value>,
    #[serde(default)]
    pub creator_id_preview: Option<Value>,
    #[serde(default)]
    pub modifier_id_preview: Option<Value>,
    #[serde(default)]
    pub assigned_to_id_preview: Option<Value>,
}

/// Fields shared by persons and organizations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmIdentityFields {
    /// Display name, and the only name an organization has.
    #[serde(default, deserialize_with = "text")]
    pub nick_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub phone_contacts: Vec<CrmPhone>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub address_contacts: Vec<CrmAddress>,
    #[serde(default, deserialize_with = "text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub alternative_email: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub website: Option<String>,
    /// Customer number such as `100-1005`. Identity search returns it as `customerNo`.
    #[serde(default, deserialize_with = "text")]
    pub customer_number: Option<String>,
    #[serde(default, with = "local_datetime::option")]
    pub customer_date: Option<NaiveDateTime>,
    /// Account balance as the JSON number the CRM sent. The sync does not use it.
    #[serde(default)]
    pub balance: Option<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub categories: Vec<CrmCategory>,
    /// Display name of the identity's type (`مخاطب حقیقی`, …).
    #[serde(default, deserialize_with = "text")]
    pub identity_type_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub source_type_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub color_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub classification: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub dont_sms: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub dont_social_sms: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub dont_phone_call: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub dont_email: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub dont_fax: bool,
    #[serde(default, deserialize_with = "text")]
    pub support_username: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub sale_username: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub other_username: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub preferred_contact_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub facebook_username: Option<String>,
    /// Person: national code (10 digits). Organization: national id (11 digits).
    #[serde(default, deserialize_with = "text")]
    pub national_code: Option<String>,
}

/// Person (natural person) as returned by `person/get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmPerson {
    #[serde(default, deserialize_with = "text")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub last_name: Option<String>,
    #[serde(default, with = "local_datetime::option")]
    pub birth_date: Option<NaiveDateTime>,
    #[serde(default, deserialize_with = "text")]
    pub gender: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub person_prefix: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub degree: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub credit_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub spouse: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub payment_status_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub areas_of_interest: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub hobbies: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub children: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub manner_type: Option<String>,
    /// Organizations the person works for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub organizations: Vec<CrmEmployment>,
    /// Economic code (tax registration number). The create model takes it for persons, but
    /// whether `person/get` returns it is undocumented.
    #[serde(default, deserialize_with = "text")]
    pub economic_code: Option<String>,
    #[serde(flatten)]
    pub identity: CrmIdentityFields,
    #[serde(flatten)]
    pub object: CrmObjectFields,
}

impl CrmPerson {
    /// Returns the record's `crmId`.
    pub fn id(&self) -> &CrmId {
        &self.object.crm_id
    }
}

/// Organization (legal entity) as returned by `organization/get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmOrganization {
    #[serde(default, deserialize_with = "text")]
    pub business_type: Option<String>,
    /// Company registration number.
    #[serde(default, deserialize_with = "text")]
    pub register_number: Option<String>,
    #[serde(default, with = "local_datetime::option")]
    pub register_date: Option<NaiveDateTime>,
    #[serde(default, deserialize_with = "text")]
    pub share_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub trademark: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub ownership_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub trade_type: Option<String>,
    /// Id of the person who manages the organization.
    #[serde(default, deserialize_with = "text")]
    pub manager_id: Option<String>,
    /// Economic code (tax registration number).
    #[serde(default, deserialize_with = "text")]
    pub economic_code: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub employees: Vec<CrmEmployment>,
    #[serde(flatten)]
    pub identity: CrmIdentityFields,
    #[serde(flatten)]
    pub object: CrmObjectFields,
}

impl CrmOrganization {
    /// Returns the record's `crmId`.
    pub fn id(&self) -> &CrmId {
        &self.object.crm_id
    }
}

/// One item of an `identity/search` result.
///
/// The result does not say whether the identity is a person or an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmIdentitySummary {
    pub identity_id: CrmId,
    #[serde(default, deserialize_with = "text")]
    pub nick_name: Option<String>,
    /// Customer number. The CRM sends `""` when the identity has none.
    #[serde(default, deserialize_with = "text", serialize_with = "none_as_empty")]
    pub customer_no: Option<String>,
}

/// Body of `identity/search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmIdentitySearchRequest {
    /// Zero-based page index.
    #[serde(default)]
    pub page_number: u32,
    pub page_size: u32,
    /// `""` matches every identity.
    #[serde(default)]
    pub search_term: String,
}

/// Body of the `…/get` calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmGetRequest {
    pub id: CrmId,
}

/// Body of a successful create or update: the id of the record written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmWriteResponse {
    #[serde(default, deserialize_with = "text_id")]
    pub crm_id: Option<CrmId>,
}

/// Serde format of the CRM's record timestamps: `YYYY-MM-DDTHH:MM:SS` with an optional
/// fraction and no offset, in the CRM server's local time.
///
/// Parsing accepts 0 to 9 fraction digits (the server trims trailing zeros of a
/// seven-digit .NET fraction). Formatting writes at most seven digits, trailing zeros
/// trimmed, and no dot when the fraction is zero.
pub mod local_datetime {
    use chrono::{NaiveDateTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer};

    const PARSE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f";

    /// Parses a timestamp such as `2026-01-10T10:15:42.517`.
    pub fn parse(text: &str) -> Result<NaiveDateTime, chrono::ParseError> {
        NaiveDateTime::parse_from_str(text, PARSE_FORMAT)
    }

    /// Formats a timestamp the way the CRM writes it, to 100 ns precision.
    pub fn format(value: &NaiveDateTime) -> String {
        let seconds = value.format("%Y-%m-%dT%H:%M:%S").to_string();
        // chrono stores a leap second as nanoseconds >= 1e9. Only the part below one second
        // is written.
        let ticks = value.nanosecond() % 1_000_000_000 / 100;
        if ticks == 0 {
            return seconds;
        }
        let fraction = format!("{ticks:07}");
        format!("{seconds}.{}", fraction.trim_end_matches('0'))
    }

    /// Serializes with [`format()`].
    pub fn serialize<S: Serializer>(
        value: &NaiveDateTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(value))
    }

    /// Deserializes with [`parse`].
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<NaiveDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(|error| {
            serde::de::Error::custom(format!("invalid CRM timestamp {text:?}: {error}"))
        })
    }

    /// The same format for optional timestamps; `null` and `""` are `None`.
    pub mod option {
        use chrono::NaiveDateTime;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes `Some` with [`super::format`] and `None` as `null`.
        pub fn serialize<S: Serializer>(
            value: &Option<NaiveDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => serializer.serialize_str(&super::format(value)),
                None => serializer.serialize_none(),
            }
        }

        /// Deserializes with [`super::parse`], reading `null` and `""` as `None`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<NaiveDateTime>, D::Error> {
            let Some(text) = Option::<String>::deserialize(deserializer)? else {
                return Ok(None);
            };
            if text.is_empty() {
                return Ok(None);
            }
            super::parse(&text).map(Some).map_err(|error| {
                serde::de::Error::custom(format!("invalid CRM timestamp {text:?}: {error}"))
            })
        }
    }
}

/// Deserializes a string that the CRM sends as `null` or `""` when unset.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.filter(|text| !text.is_empty()))
}

fn text_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<CrmId>, D::Error> {
    Ok(text(deserializer)?.map(CrmId))
}

/// Deserializes `null` as the type's default (an empty list, `false`).
pub(super) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Serializes `None` as `""`, which is how the CRM writes fields such as `refId`.
fn none_as_empty<S: Serializer>(value: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::{NaiveDate, Timelike};

    const PERSON_GET: &str = include_str!("../sim/fixtures/crm/person_get_response.json");
    const ORGANIZATION_GET: &str =
        include_str!("../sim/fixtures/crm/organization_get_response.json");
    const SEARCH_PAGE: &str =
        include_str!("../sim/fixtures/crm/identity_search_response_page0.json");
    const SEARCH_REQUEST: &str = include_str!("../sim/fixtures/crm/identity_search_request.json");
    const GET_REQUEST: &str = include_str!("../sim/fixtures/crm/person_get_request.json");
    const CREATE_RESPONSE: &str = include_str!("../sim/fixtures/crm/person_create_response.json");
    const QUOTE_GET: &str = include_str!("../sim/fixtures/crm/quote_sales_get_response.json");

    #[test]
    fn person_fixture_parses() {
        let person: CrmPerson = serde_json::from_str(PERSON_GET).unwrap();

        assert_eq!(person.id().as_str(), "9295bc51-ce7c-4c3c-be1d-addf602c8081");
        assert_eq!(person.first_name.as_deref(), Some("سارا"));
        assert_eq!(person.identity.customer_number.as_deref(), Some("100-1005"));
        assert_eq!(person.identity.phone_contacts.len(), 2);
        assert_eq!(
            person.identity.phone_contacts[1].extension.as_deref(),
            Some("12")
        );
        assert!(person.identity.phone_contacts[0].default);
        assert_eq!(
            person.identity.address_contacts[0].zip_code.as_deref(),
            Some("1111111111")
        );
        assert_eq!(
            person.identity.categories[0].key.as_deref(),
            Some("syaghcontact")
        );
        assert_eq!(person.object.crm_object_type_index, Some(24));
        assert_eq!(person.object.ref_id.as_deref(), Some("5"));
        assert_eq!(
            person.object.modifier_id.as_deref(),
            Some("f1bcad24-6261-4d5c-b149-463c145d4aa6")
        );
        assert_eq!(person.object.identity_id.as_ref(), Some(person.id()));
        assert_eq!(person.object.creat_date.nanosecond(), 517_000_000);
    }

    #[test]
    fn organization_fixture_parses_as_organization() {
        let organization: CrmOrganization = serde_json::from_str(ORGANIZATION_GET).unwrap();

        assert_eq!(
            organization.id().as_str(),
            "4bb1e60b-eb1b-46de-a8d3-e49ddb316e19"
        );
        assert_eq!(organization.economic_code.as_deref(), Some("411111111111"));
        assert_eq!(organization.register_number.as_deref(), Some("123456"));
        assert_eq!(
            organization.identity.national_code.as_deref(),
            Some("10100000001")
        );
        assert_eq!(
            organization.identity.website.as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            organization.object.crm_object_type_code.as_deref(),
            Some("organization")
        );
        // `"description": ""` in the fixture.
        assert_eq!(organization.object.description, None);
        assert_eq!(
            organization.object.modify_date,
            NaiveDate::from_ymd_opt(2026, 1, 10)
                .unwrap()
                .and_hms_milli_opt(9, 58, 31, 600)
                .unwrap()
        );
    }

    #[test]
    fn search_fixtures_parse() {
        let page: Vec<CrmIdentitySummary> = serde_json::from_str(SEARCH_PAGE).unwrap();
        let request: CrmIdentitySearchRequest = serde_json::from_str(SEARCH_REQUEST).unwrap();

        assert_eq!(page.len(), 5);
        assert_eq!(page[0].customer_no.as_deref(), Some("100-1005"));
        assert_eq!(page[3].customer_no, None);
        assert_eq!(page[3].nick_name.as_deref(), Some("علی آزمایشی"));
        assert_eq!(
            request,
            CrmIdentitySearchRequest {
                page_number: 0,
                page_size: 5,
                search_term: String::new()
            }
        );
    }

    #[test]
    fn request_and_create_fixtures_parse() {
        let get: CrmGetRequest = serde_json::from_str(GET_REQUEST).unwrap();
        let created: CrmWriteResponse = serde_json::from_str(CREATE_RESPONSE).unwrap();

        assert_eq!(get.id.as_str(), "9295bc51-ce7c-4c3c-be1d-addf602c8081");
        assert_eq!(created.crm_id, Some(get.id));
    }

    #[test]
    fn quote_fixture_parses_base_fields() {
        let object: CrmObjectFields = serde_json::from_str(QUOTE_GET).unwrap();

        assert_eq!(object.crm_object_type_index, Some(8));
        assert_eq!(object.crm_object_type_code.as_deref(), Some("PI_5"));
        assert_eq!(object.ref_id, None);
        assert_eq!(
            object.identity_id,
            Some(CrmId::from("4bb1e60b-eb1b-46de-a8d3-e49ddb316e19"))
        );
    }

    #[test]
    fn empty_and_null_strings_are_none() {
        let phone: CrmPhone =
            serde_json::from_str(r#"{"id": "", "phoneType": null, "phoneNumber": "0912"}"#)
                .unwrap();

        assert_eq!(phone.id, None);
        assert_eq!(phone.phone_type, None);
        assert_eq!(phone.phone_number.as_deref(), Some("0912"));
        assert!(!phone.default);
    }

    #[test]
    fn null_lists_and_flags_become_defaults() {
        let mut value: Value = serde_json::from_str(PERSON_GET).unwrap();
        value["phoneContacts"] = Value::Null;
        value["dontSms"] = Value::Null;

        let person: CrmPerson = serde_json::from_value(value).unwrap();

        assert!(person.identity.phone_contacts.is_empty());
        assert!(!person.identity.dont_sms);
    }

    #[test]
    fn person_round_trips_through_json() {
        let person: CrmPerson = serde_json::from_str(PERSON_GET).unwrap();

        let json = serde_json::to_value(&person).unwrap();
        let again: CrmPerson = serde_json::from_value(json.clone()).unwrap();

        assert_eq!(again, person);
        assert_eq!(json["creatDate"], "2026-01-10T10:15:42.517");
        assert_eq!(json["crmId"], "9295bc51-ce7c-4c3c-be1d-addf602c8081");
        assert_eq!(json["phoneContacts"][0]["phoneType"], "Mobile");
    }

    #[test]
    fn unset_ref_id_and_description_serialize_empty() {
        let mut person: CrmPerson = serde_json::from_str(PERSON_GET).unwrap();
        person.object.ref_id = None;
        person.object.description = None;

        let json = serde_json::to_value(&person).unwrap();

        assert_eq!(json["refId"], "");
        assert_eq!(json["description"], "");
    }

    #[test]
    fn timestamps_parse_with_zero_three_and_seven_digits() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();

        let cases = [
            ("2026-01-10T10:15:42", day.and_hms_opt(10, 15, 42).unwrap()),
            (
                "2026-01-10T10:15:42.517",
                day.and_hms_milli_opt(10, 15, 42, 517).unwrap(),
            ),
            (
                "2026-01-10T10:15:42.1234567",
                day.and_hms_nano_opt(10, 15, 42, 123_456_700).unwrap(),
            ),
            (
                "2026-01-10T10:15:42.6",
                day.and_hms_milli_opt(10, 15, 42, 600).unwrap(),
            ),
        ];

        for (text, expected) in cases {
            assert_eq!(
                local_datetime::parse(text).unwrap(),
                expected,
                "parsing {text}"
            );
        }
    }

    #[test]
    fn timestamps_with_offset_are_rejected() {
        assert!(local_datetime::parse("2026-01-10T10:15:42.517+03:30").is_err());
        assert!(local_datetime::parse("2026-01-10T10:15:42Z").is_err());
        assert!(local_datetime::parse("2026-01-10").is_err());
    }

    #[test]
    fn timestamps_format_with_trimmed_fraction() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();

        let cases = [
            (day.and_hms_opt(10, 15, 42).unwrap(), "2026-01-10T10:15:42"),
            (
                day.and_hms_milli_opt(10, 15, 42, 500).unwrap(),
                "2026-01-10T10:15:42.5",
            ),
            (
                day.and_hms_milli_opt(10, 15, 42, 517).unwrap(),
                "2026-01-10T10:15:42.517",
            ),
            (
                day.and_hms_nano_opt(10, 15, 42, 123_456_789).unwrap(),
                "2026-01-10T10:15:42.1234567",
            ),
        ];

        for (value, expected) in cases {
            assert_eq!(local_datetime::format(&value), expected);
        }
    }

    #[test]
    fn optional_timestamp_accepts_empty_string() {
        let mut value: Value = serde_json::from_str(PERSON_GET).unwrap();
        value["birthDate"] = Value::String(String::new());
        value["customerDate"] = Value::String("2025-12-18T08:38:59".into());

        let person: CrmPerson = serde_json::from_value(value).unwrap();

        assert_eq!(person.birth_date, None);
        assert!(person.identity.customer_date.is_some());
    }
}
