//! Building and editing the simulator's stored identities.
//!
//! Records are stored in the `get` model. Create and update bodies, and the edit API's
//! `NewPerson`/`NewOrganization`, all pass through [`build_record`], which adds the fields
//! the server owns (ids, timestamps, user stamps) and validates the result by deserializing
//! it into the model.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::crm::model::{CrmAddress, CrmIdentityFields, CrmPhone, local_datetime};
use crate::crm::{CrmId, CrmObjectFields, CrmOrganization, CrmPerson, IdentityKind};

/// `crmObjectTypeIndex` of identities.
const IDENTITY_OBJECT_INDEX: i32 = 24;
/// Type ids of the simulator's one person type and one organization type.
const PERSON_TYPE_ID: &str = "352709c5-9552-472a-b95a-413d3aae202d";
const ORGANIZATION_TYPE_ID: &str = "cb3a7442-a8ef-4b44-bfe7-fa43578f0040";
/// Category that the sync assigns to contacts it creates, with its display name.
const KNOWN_CATEGORIES: &[(&str, &str)] = &[("syaghcontact", "مخاطبین سیاق")];
/// Iran Standard Time (UTC+03:30) in seconds. Iran has used it all year since it dropped
/// daylight saving time in 2022.
const IRAN_OFFSET_SECONDS: i32 = 12_600;
/// Date fields that requests may send with an offset (`…Z`). The simulator stores them as
/// Iran local time.
const DATE_FIELDS: &[&str] = &["customerDate", "birthDate", "registerDate"];

/// Returns the id of the simulator's one identity type of `kind`.
fn type_id(kind: IdentityKind) -> &'static str {
    match kind {
        IdentityKind::Person => PERSON_TYPE_ID,
        IdentityKind::Organization => ORGANIZATION_TYPE_ID,
    }
}

/// Stored identity.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Person(CrmPerson),
    Organization(CrmOrganization),
}

impl Record {
    pub fn kind(&self) -> IdentityKind {
        match self {
            Record::Person(_) => IdentityKind::Person,
            Record::Organization(_) => IdentityKind::Organization,
        }
    }

    pub fn identity(&self) -> &CrmIdentityFields {
        match self {
            Record::Person(person) => &person.identity,
            Record::Organization(organization) => &organization.identity,
        }
    }

    pub fn object(&self) -> &CrmObjectFields {
        match self {
            Record::Person(person) => &person.object,
            Record::Organization(organization) => &organization.object,
        }
    }

    /// Serializes the record as `person/get` or `organization/get` returns it.
    pub fn to_json(&self) -> serde_json::Result<Value> {
        match self {
            Record::Person(person) => serde_json::to_value(person),
            Record::Organization(organization) => serde_json::to_value(organization),
        }
    }
}

/// Server-owned values written into a record on create or update.
pub(crate) struct Stamp {
    pub crm_id: CrmId,
    pub created: NaiveDateTime,
    pub modified: NaiveDateTime,
    pub creator_id: String,
    pub modifier_id: String,
    /// Display name of the identity type (`identityTypeName`).
    pub type_name: String,
}

/// Person created through the edit API, as a CRM user would type it in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewPerson {
    pub first_name: String,
    pub last_name: String,
    /// Display name, `first_name last_name` when `None`.
    pub nick_name: Option<String>,
    pub mobile: Option<String>,
    /// Landline, stored as an `Office` phone.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub national_code: Option<String>,
    pub customer_number: Option<String>,
    /// Street address.
    pub address: Option<String>,
    pub city: Option<String>,
    /// Province.
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip_code: Option<String>,
    pub description: Option<String>,
}

/// Organization created through the edit API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewOrganization {
    pub nick_name: String,
    /// National id (11 digits).
    pub national_code: Option<String>,
    pub economic_code: Option<String>,
    pub mobile: Option<String>,
    /// Landline, stored as an `Office` phone.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub customer_number: Option<String>,
    /// Street address.
    pub address: Option<String>,
    pub city: Option<String>,
    /// Province.
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip_code: Option<String>,
    pub description: Option<String>,
}

/// Fields that `POST /sim/persons/{id}` and `POST /sim/organizations/{id}` change.
///
/// Absent fields stay as they are and `""` clears a field. `first_name` and `last_name`
/// apply to persons only, `economic_code` to organizations only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct IdentityPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub economic_code: Option<String>,
    pub nick_name: Option<String>,
    pub mobile: Option<String>,
    /// Landline, stored as an `Office` phone.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub national_code: Option<String>,
    pub customer_number: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip_code: Option<String>,
    pub description: Option<String>,
}

impl NewPerson {
    /// Builds the `person/create` body a CRM user's input amounts to.
    pub(crate) fn to_create_body(&self) -> Value {
        let nick_name = self.nick_name.clone().unwrap_or_else(|| {
            format!("{} {}", self.first_name.trim(), self.last_name.trim())
                .trim()
                .to_owned()
        });
        let mut body = contact_body(ContactInput {
            nick_name: &nick_name,
            mobile: self.mobile.as_deref(),
            phone: self.phone.as_deref(),
            address: self.address.as_deref(),
            city: self.city.as_deref(),
            state: self.state.as_deref(),
            country: self.country.as_deref(),
            zip_code: self.zip_code.as_deref(),
        });
        body.insert("crmObjectTypeCode".into(), json!("person"));
        body.insert("firstName".into(), json!(self.first_name));
        body.insert("lastName".into(), json!(self.last_name));
        body.insert("email".into(), json!(self.email));
        body.insert("nationalCode".into(), json!(self.national_code));
        body.insert("customerNumber".into(), json!(self.customer_number));
        body.insert("description".into(), json!(self.description));
        Value::Object(body)
    }
}

impl NewOrganization {
    /// Builds the `organization/create` body a CRM user's input amounts to.
    pub(crate) fn to_create_body(&self) -> Value {
        let mut body = contact_body(ContactInput {
            nick_name: &self.nick_name,
            mobile: self.mobile.as_deref(),
            phone: self.phone.as_deref(),
            address: self.address.as_deref(),
            city: self.city.as_deref(),
            state: self.state.as_deref(),
            country: self.country.as_deref(),
            zip_code: self.zip_code.as_deref(),
        });
        body.insert("crmObjectTypeCode".into(), json!("organization"));
        body.insert("email".into(), json!(self.email));
        body.insert("website".into(), json!(self.website));
        body.insert("nationalCode".into(), json!(self.national_code));
        body.insert("economicCode".into(), json!(self.economic_code));
        body.insert("customerNumber".into(), json!(self.customer_number));
        body.insert("description".into(), json!(self.description));
        Value::Object(body)
    }
}

struct ContactInput<'a> {
    nick_name: &'a str,
    mobile: Option<&'a str>,
    phone: Option<&'a str>,
    address: Option<&'a str>,
    city: Option<&'a str>,
    state: Option<&'a str>,
    country: Option<&'a str>,
    zip_code: Option<&'a str>,
}

/// Builds the name, phone and address part of a create body.
fn contact_body(input: ContactInput<'_>) -> Map<String, Value> {
    let mut phones = Vec::new();
    if let Some(mobile) = input.mobile {
        phones.push(json!({"default": true, "phoneType": "Mobile", "phoneNumber": mobile}));
    }
    if let Some(phone) = input.phone {
        phones.push(json!({
            "default": input.mobile.is_none(),
            "phoneType": "Office",
            "phoneNumber": phone,
        }));
    }
    let address_parts = [
        input.address,
        input.city,
        input.state,
        input.country,
        input.zip_code,
    ];
    let addresses = if address_parts.iter().any(Option::is_some) {
        vec![json!({
            "default": true,
            "country": input.country,
            "state": input.state,
            "city": input.city,
            "address": input.address,
            "zipCode": input.zip_code,
        })]
    } else {
        Vec::new()
    };

    let mut body = Map::new();
    body.insert("nickName".into(), json!(input.nick_name));
    body.insert("phoneContacts".into(), Value::Array(phones));
    body.insert("addressContacts".into(), Value::Array(addresses));
    body
}

/// Turns a create or update body into a stored record of `kind`.
///
/// Server-owned fields in the body are overwritten by `stamp`. Entries of `phoneContacts`,
/// `addressContacts` and `categories` without an `id` get a new one. Returns a message
/// naming the problem when the body does not fit the model.
pub(crate) fn build_record(
    kind: IdentityKind,
    body: Map<String, Value>,
    stamp: Stamp,
) -> Result<Record, String> {
    let mut body = body;
    for field in DATE_FIELDS {
        if let Some(value) = body.get_mut(*field) {
            to_local_date(value).map_err(|reason| format!("{field}: {reason}"))?;
        }
    }
    for list in ["phoneContacts", "addressContacts", "categories"] {
        if let Some(Value::Array(entries)) = body.get_mut(list) {
            entries.iter_mut().for_each(assign_entry_id);
        }
    }
    if let Some(Value::Array(categories)) = body.get_mut("categories") {
        categories.iter_mut().for_each(name_category);
    }

    let type_code_missing = body
        .get("crmObjectTypeCode")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if type_code_missing {
        body.insert("crmObjectTypeCode".into(), json!(kind.default_type_code()));
    }
    if body
        .get("assignedToId")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        body.insert("assignedToId".into(), json!(stamp.creator_id));
    }
    if body.get("balance").is_none_or(Value::is_null) {
        body.insert("balance".into(), json!(0.0));
    }
    let server_fields = [
        ("crmId", json!(stamp.crm_id)),
        ("identityId", json!(stamp.crm_id)),
        ("crmObjectTypeIndex", json!(IDENTITY_OBJECT_INDEX)),
        ("crmObjectTypeId", json!(type_id(kind))),
        ("identityTypeName", json!(stamp.type_name)),
        ("creatDate", json!(local_datetime::format(&stamp.created))),
        ("modifyDate", json!(local_datetime::format(&stamp.modified))),
        ("creatorId", json!(stamp.creator_id)),
        ("modifierId", json!(stamp.modifier_id)),
    ];
    for (key, value) in server_fields {
        body.insert(key.to_owned(), value);
    }

    let body = Value::Object(body);
    let record = match kind {
        IdentityKind::Person => serde_json::from_value(body).map(Record::Person),
        IdentityKind::Organization => serde_json::from_value(body).map(Record::Organization),
    };
    record.map_err(|error| error.to_string())
}

/// Rewrites a date sent with an offset (`2025-12-18T08:38:59.282Z`) as Iran local time
/// without offset. Other values are left to the model's parser.
fn to_local_date(value: &mut Value) -> Result<(), String> {
    let Value::String(text) = value else {
        return Ok(());
    };
    if text.is_empty() || local_datetime::parse(text).is_ok() {
        return Ok(());
    }
    let with_offset = DateTime::parse_from_rfc3339(text)
        .map_err(|error| format!("{text:?} is not a date-time: {error}"))?;
    let local = with_offset.with_timezone(&iran_offset()).naive_local();
    *value = json!(local_datetime::format(&local));
    Ok(())
}

fn assign_entry_id(entry: &mut Value) {
    let Value::Object(fields) = entry else {
        return;
    };
    if fields
        .get("id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        fields.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    }
}

fn name_category(entry: &mut Value) {
    let Value::Object(fields) = entry else {
        return;
    };
    let key = fields
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let known_name = KNOWN_CATEGORIES
        .iter()
        .find(|(known_key, _)| *known_key == key)
        .map(|(_, name)| *name);
    if let Some(name) = known_name {
        fields.entry("name").or_insert_with(|| json!(name));
    }
}

/// Lower-cases the first letter of every object key, recursively, so that PascalCase
/// request keys bind like camelCase ones.
///
/// The CRM, an ASP.NET server, probably binds keys case-insensitively. Keys in other
/// casings, such as `CRMID`, may bind there but do not bind here.
pub(crate) fn normalize_keys(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (lower_first(&key), normalize_keys(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_keys).collect()),
        other => other,
    }
}

fn lower_first(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Applies an edit-API patch to a person. Fails when the patch sets an organization field.
pub(crate) fn apply_person_patch(
    person: &mut CrmPerson,
    patch: &IdentityPatch,
) -> Result<(), String> {
    if patch.economic_code.is_some() {
        return Err("economic_code applies to organizations only".to_owned());
    }
    set_text(&mut person.first_name, &patch.first_name);
    set_text(&mut person.last_name, &patch.last_name);
    apply_identity_patch(&mut person.identity, patch);
    set_text(&mut person.object.description, &patch.description);
    Ok(())
}

/// Applies an edit-API patch to an organization. Fails when the patch sets a person field.
pub(crate) fn apply_organization_patch(
    organization: &mut CrmOrganization,
    patch: &IdentityPatch,
) -> Result<(), String> {
    if patch.first_name.is_some() || patch.last_name.is_some() {
        return Err("first_name and last_name apply to persons only".to_owned());
    }
    set_text(&mut organization.economic_code, &patch.economic_code);
    apply_identity_patch(&mut organization.identity, patch);
    set_text(&mut organization.object.description, &patch.description);
    Ok(())
}

fn apply_identity_patch(identity: &mut CrmIdentityFields, patch: &IdentityPatch) {
    set_text(&mut identity.nick_name, &patch.nick_name);
    set_text(&mut identity.email, &patch.email);
    set_text(&mut identity.website, &patch.website);
    set_text(&mut identity.national_code, &patch.national_code);
    set_text(&mut identity.customer_number, &patch.customer_number);
    if let Some(mobile) = &patch.mobile {
        set_phone(&mut identity.phone_contacts, "Mobile", mobile);
    }
    if let Some(phone) = &patch.phone {
        set_phone(&mut identity.phone_contacts, "Office", phone);
    }

    let address_fields = [
        &patch.address,
        &patch.city,
        &patch.state,
        &patch.country,
        &patch.zip_code,
    ];
    if address_fields.iter().all(|field| field.is_none()) {
        return;
    }
    if identity.address_contacts.is_empty() {
        identity.address_contacts.push(CrmAddress {
            id: Some(uuid::Uuid::new_v4().to_string()),
            default: true,
            ..CrmAddress::default()
        });
    }
    let index = identity
        .address_contacts
        .iter()
        .position(|address| address.default)
        .unwrap_or(0);
    let address = &mut identity.address_contacts[index];
    set_text(&mut address.address, &patch.address);
    set_text(&mut address.city, &patch.city);
    set_text(&mut address.state, &patch.state);
    set_text(&mut address.country, &patch.country);
    set_text(&mut address.zip_code, &patch.zip_code);
}

/// Sets the number of the first phone whose type contains `phone_type` (ignoring case),
/// adds such a phone when there is none, and removes it when `number` is empty.
fn set_phone(phones: &mut Vec<CrmPhone>, phone_type: &str, number: &str) {
    let type_lowercase = phone_type.to_lowercase();
    let position = phones.iter().position(|phone| {
        phone
            .phone_type
            .as_deref()
            .is_some_and(|kind| kind.to_lowercase().contains(&type_lowercase))
    });
    match (position, number.is_empty()) {
        (Some(index), true) => {
            phones.remove(index);
        }
        (Some(index), false) => phones[index].phone_number = Some(number.to_owned()),
        (None, true) => {}
        (None, false) => phones.push(CrmPhone {
            id: Some(uuid::Uuid::new_v4().to_string()),
            default: phones.is_empty(),
            phone_type: Some(phone_type.to_owned()),
            phone_number: Some(number.to_owned()),
            ..CrmPhone::default()
        }),
    }
}

fn set_text(field: &mut Option<String>, patch: &Option<String>) {
    if let Some(value) = patch {
        *field = Some(value.clone()).filter(|value| !value.is_empty());
    }
}

/// Returns the current Iran local time truncated to milliseconds, as the CRM stamps records.
pub(crate) fn iran_now() -> NaiveDateTime {
    Utc::now()
        .with_timezone(&iran_offset())
        .naive_local()
        .trunc_subsecs(3)
}

/// Returns Iran's UTC offset, in which the CRM writes login expiries.
pub(crate) fn iran_offset() -> FixedOffset {
    // `east_opt` fails only outside ±24 h, so the UTC fallback is never taken.
    FixedOffset::east_opt(IRAN_OFFSET_SECONDS).unwrap_or_else(|| Utc.fix())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn stamp() -> Stamp {
        let created = local_datetime::parse("2026-01-10T10:15:42.517").unwrap();
        Stamp {
            crm_id: CrmId::from("11111111-2222-3333-4444-555555555555"),
            created,
            modified: created,
            creator_id: "creator".into(),
            modifier_id: "modifier".into(),
            type_name: "مخاطب حقیقی".into(),
        }
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(fields) => fields,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn create_fixture_builds_person() {
        let body = object(
            serde_json::from_str(include_str!("../fixtures/crm/person_create_request.json"))
                .unwrap(),
        );

        let Record::Person(person) = build_record(IdentityKind::Person, body, stamp()).unwrap()
        else {
            panic!("not a person");
        };

        assert_eq!(person.id().as_str(), "11111111-2222-3333-4444-555555555555");
        assert_eq!(person.object.identity_id.as_ref(), Some(person.id()));
        assert_eq!(person.object.creator_id.as_deref(), Some("creator"));
        assert_eq!(person.object.ref_id.as_deref(), Some("5"));
        assert_eq!(person.identity.customer_number.as_deref(), Some("100-1005"));
        assert!(
            person
                .identity
                .phone_contacts
                .iter()
                .all(|phone| phone.id.is_some())
        );
        assert_eq!(
            person.identity.categories[0].name.as_deref(),
            Some("مخاطبین سیاق")
        );
        assert_eq!(
            person.identity.identity_type_name.as_deref(),
            Some("مخاطب حقیقی")
        );
    }

    #[test]
    fn dates_with_offset_become_iran_local() {
        let body = object(json!({"nickName": "x", "birthDate": "2025-12-18T08:38:59.282Z"}));

        let Record::Person(person) = build_record(IdentityKind::Person, body, stamp()).unwrap()
        else {
            panic!("not a person");
        };

        assert_eq!(
            person.birth_date,
            Some(local_datetime::parse("2025-12-18T12:08:59.282").unwrap())
        );
    }

    #[test]
    fn invalid_body_names_field() {
        let body = object(json!({"nickName": "x", "phoneContacts": "not a list"}));

        let error = build_record(IdentityKind::Person, body, stamp()).unwrap_err();

        assert!(error.contains("invalid type"), "{error}");
    }

    #[test]
    fn pascal_case_keys_become_camel_case() {
        let body = json!({"CrmObjectTypeCode": "person", "PhoneContacts": [{"PhoneNumber": "1"}]});

        let normalized = normalize_keys(body);

        assert_eq!(
            normalized,
            json!({"crmObjectTypeCode": "person", "phoneContacts": [{"phoneNumber": "1"}]})
        );
    }

    #[test]
    fn new_person_body_has_phones_and_address() {
        let person = NewPerson {
            first_name: "Sara".into(),
            last_name: "Sample".into(),
            mobile: Some("09120000001".into()),
            phone: Some("02100000002".into()),
            city: Some("Tehran".into()),
            ..NewPerson::default()
        };

        let body = person.to_create_body();

        assert_eq!(body["nickName"], "Sara Sample");
        assert_eq!(body["phoneContacts"][0]["phoneType"], "Mobile");
        assert_eq!(body["phoneContacts"][0]["default"], true);
        assert_eq!(body["phoneContacts"][1]["default"], false);
        assert_eq!(body["addressContacts"][0]["city"], "Tehran");
    }

    #[test]
    fn patch_changes_mobile_and_clears_email() {
        let mut person: CrmPerson =
            serde_json::from_str(include_str!("../fixtures/crm/person_get_response.json")).unwrap();
        let patch: IdentityPatch =
            serde_json::from_value(json!({"mobile": "09121111111", "email": ""})).unwrap();

        apply_person_patch(&mut person, &patch).unwrap();

        assert_eq!(
            person.identity.phone_contacts[0].phone_number.as_deref(),
            Some("09121111111")
        );
        assert_eq!(person.identity.email, None);
        assert_eq!(person.first_name.as_deref(), Some("سارا"));
    }

    #[test]
    fn patch_rejects_unknown_field() {
        let result = serde_json::from_value::<IdentityPatch>(json!({"fax": "1"}));

        assert!(result.is_err());
    }

    #[test]
    fn patch_rejects_field_of_other_kind() {
        let mut person: CrmPerson =
            serde_json::from_str(include_str!("../fixtures/crm/person_get_response.json")).unwrap();
        let patch = IdentityPatch {
            economic_code: Some("1".into()),
            ..IdentityPatch::default()
        };

        assert!(apply_person_patch(&mut person, &patch).is_err());
    }
}
