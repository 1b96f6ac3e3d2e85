//! Bodies of the person and organization `create` and `update` calls.
//!
//! The fields follow the create model that the CRM's API help page shows; the update
//! model is the same plus `crmId`. Keys are camelCase. A `None` field is left out of the
//! body, but lists and flags are always sent, so that an update can empty a list or clear
//! a flag.
//!
//! Whether an update replaces the whole record or only the fields sent is undocumented.
//! Build an update from a fetched record with `From<&CrmPerson>` (or `From<&CrmOrganization>`),
//! change it, and send the whole object. Contact entries keep their `id`: the update model
//! suggests that the CRM edits an entry with an id and adds one without.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::model::{
    CrmAddress, CrmCategory, CrmEmployment, CrmExtendedProperty, CrmId, CrmIdentityFields,
    CrmObjectFields, CrmOrganization, CrmPerson, CrmPhone, local_datetime,
};

/// Category named in a create or update body.
///
/// A create names a category by its `key`. An entry copied from a fetched record also
/// carries the membership's `id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmCategoryRef {
    /// Id of the membership entry, absent on create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Key that the CRM administrator gave the category. It must name an existing category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl CrmCategoryRef {
    /// Builds a reference to the category with this key, for a create.
    pub fn key(key: impl Into<String>) -> Self {
        Self {
            id: None,
            key: Some(key.into()),
        }
    }
}

impl From<&CrmCategory> for CrmCategoryRef {
    fn from(category: &CrmCategory) -> Self {
        Self {
            id: category.id.clone(),
            key: category.key.clone(),
        }
    }
}

/// Fields of a create or update body that persons and organizations share.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmIdentityWrite {
    /// Record to update. Must be `None` on create and set on update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm_id: Option<CrmId>,
    /// Code of the identity type, such as `person`. Codes are set per installation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm_object_type_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_crm_object_id: Option<String>,
    /// Free-text reference number. The sync stores the finance-side id here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Display name, and the only name an organization has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    /// Person: national code (10 digits). Organization: national id (11 digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub national_code: Option<String>,
    /// Economic code (tax registration number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub economic_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Customer number such as `100-1005`. The CRM stores the value sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_number: Option<String>,
    /// Sent as CRM server-local time without offset, as `get` returns it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "local_datetime::option::serialize"
    )]
    pub customer_date: Option<NaiveDateTime>,
    /// Phones. Keep the `id` of each entry that came from a fetched record.
    pub phone_contacts: Vec<CrmPhone>,
    /// Postal addresses. Keep the `id` of each entry that came from a fetched record.
    pub address_contacts: Vec<CrmAddress>,
    pub categories: Vec<CrmCategoryRef>,
    /// Custom field values, keyed by `userKey`.
    pub extended_properties: Vec<CrmExtendedProperty>,
    pub tags: Vec<String>,
    pub dont_sms: bool,
    pub dont_social_sms: bool,
    pub dont_phone_call: bool,
    pub dont_email: bool,
    pub dont_fax: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sale_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facebook_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_contact_type: Option<String>,
}

impl CrmIdentityWrite {
    /// Copies the writable fields of a fetched record.
    ///
    /// Leaves out what the server owns (timestamps, user stamps, type id and index) and what
    /// `get` returns in a form that the create model does not take: `balance`,
    /// `identityTypeName`, `sourceTypeName`, `colorName`, `classification`, `stage`.
    // NOTE: the create model takes `sourceTypeIndex` and `colorId`, which `get` does not
    // return. If an update replaces the whole record, those two are reset by a round trip.
    fn from_fetched(
        identity: &CrmIdentityFields,
        object: &CrmObjectFields,
        economic_code: Option<String>,
    ) -> Self {
        Self {
            crm_id: Some(object.crm_id.clone()),
            crm_object_type_code: object.crm_object_type_code.clone(),
            parent_crm_object_id: object.parent_crm_object_id.clone(),
            ref_id: object.ref_id.clone(),
            stage_id: object.stage_id.clone(),
            subject: object.subject.clone(),
            description: object.description.clone(),
            nick_name: identity.nick_name.clone(),
            national_code: identity.national_code.clone(),
            economic_code,
            email: identity.email.clone(),
            alternative_email: identity.alternative_email.clone(),
            website: identity.website.clone(),
            customer_number: identity.customer_number.clone(),
            customer_date: identity.customer_date,
            phone_contacts: identity.phone_contacts.clone(),
            address_contacts: identity.address_contacts.clone(),
            categories: identity
                .categories
                .iter()
                .map(CrmCategoryRef::from)
                .collect(),
            extended_properties: object.extended_properties.clone(),
            tags: object.tags.clone(),
            dont_sms: identity.dont_sms,
            dont_social_sms: identity.dont_social_sms,
            dont_phone_call: identity.dont_phone_call,
            dont_email: identity.dont_email,
            dont_fax: identity.dont_fax,
            support_username: identity.support_username.clone(),
            sale_username: identity.sale_username.clone(),
            other_username: identity.other_username.clone(),
            facebook_username: identity.facebook_username.clone(),
            preferred_contact_type: identity.preferred_contact_type.clone(),
        }
    }
}

/// Body of `person/create` and `person/update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmPersonWrite {
    #[serde(flatten)]
    pub identity: CrmIdentityWrite,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Sent as CRM server-local time without offset, as `get` returns it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "local_datetime::option::serialize"
    )]
    pub birth_date: Option<NaiveDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degree: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_status_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub areas_of_interest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manner_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spouse: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hobbies: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<String>,
    /// Organizations the person works for.
    pub organizations: Vec<CrmEmployment>,
}

/// Copies every field of a fetched person that the update model takes, `crmId` included.
///
/// `creditType` is left out because the create model has no such field.
impl From<&CrmPerson> for CrmPersonWrite {
    fn from(person: &CrmPerson) -> Self {
        Self {
            identity: CrmIdentityWrite::from_fetched(
                &person.identity,
                &person.object,
                person.economic_code.clone(),
            ),
            first_name: person.first_name.clone(),
            last_name: person.last_name.clone(),
            birth_date: person.birth_date,
            gender: person.gender.clone(),
            person_prefix: person.person_prefix.clone(),
            degree: person.degree.clone(),
            payment_status_type: person.payment_status_type.clone(),
            areas_of_interest: person.areas_of_interest.clone(),
            manner_type: person.manner_type.clone(),
            spouse: person.spouse.clone(),
            hobbies: person.hobbies.clone(),
            children: person.children.clone(),
            organizations: person.organizations.clone(),
        }
    }
}

/// Body of `organization/create` and `organization/update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmOrganizationWrite {
    #[serde(flatten)]
    pub identity: CrmIdentityWrite,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_number: Option<String>,
    /// Sent as CRM server-local time without offset, as `get` returns it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "local_datetime::option::serialize"
    )]
    pub register_date: Option<NaiveDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trademark: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ownership_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    /// Id of the person who manages the organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_id: Option<String>,
    pub employees: Vec<CrmEmployment>,
}

/// Copies every field of a fetched organization that the update model takes, `crmId`
/// included.
impl From<&CrmOrganization> for CrmOrganizationWrite {
    fn from(organization: &CrmOrganization) -> Self {
        Self {
            identity: CrmIdentityWrite::from_fetched(
                &organization.identity,
                &organization.object,
                organization.economic_code.clone(),
            ),
            business_type: organization.business_type.clone(),
            register_number: organization.register_number.clone(),
            register_date: organization.register_date,
            share_type: organization.share_type.clone(),
            trademark: organization.trademark.clone(),
            ownership_type: organization.ownership_type.clone(),
            trade_type: organization.trade_type.clone(),
            manager_id: organization.manager_id.clone(),
            employees: organization.employees.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Value, json};

    use super::*;

    const PERSON_GET: &str = include_str!("../sim/fixtures/crm/person_get_response.json");
    const ORGANIZATION_GET: &str =
        include_str!("../sim/fixtures/crm/organization_get_response.json");
    const PERSON_CREATE: &str = include_str!("../sim/fixtures/crm/person_create_request.json");

    fn phone(default: bool, phone_type: &str, number: &str) -> CrmPhone {
        CrmPhone {
            default,
            phone_type: Some(phone_type.into()),
            phone_number: Some(number.into()),
            ..CrmPhone::default()
        }
    }

    /// The person of the create fixture, built field by field.
    fn fixture_person() -> CrmPersonWrite {
        let mut office = phone(false, "Office", "02100000002");
        office.extension = Some("12".into());
        CrmPersonWrite {
            identity: CrmIdentityWrite {
                crm_object_type_code: Some("person".into()),
                ref_id: Some("5".into()),
                nick_name: Some("سارا نمونه".into()),
                customer_number: Some("100-1005".into()),
                national_code: Some("1234567891".into()),
                email: Some("sara.sample@example.com".into()),
                description: Some("Imported from finance system (code 5)".into()),
                phone_contacts: vec![phone(true, "Mobile", "09120000001"), office],
                address_contacts: vec![CrmAddress {
                    default: true,
                    country: Some("ایران".into()),
                    state: Some("تهران".into()),
                    city: Some("تهران".into()),
                    address: Some("خیابان نمونه، کوچه آزمون، پلاک ۱".into()),
                    zip_code: Some("1111111111".into()),
                    ..CrmAddress::default()
                }],
                categories: vec![CrmCategoryRef::key("syaghcontact")],
                ..CrmIdentityWrite::default()
            },
            first_name: Some("سارا".into()),
            last_name: Some("نمونه".into()),
            ..CrmPersonWrite::default()
        }
    }

    /// Returns `value` with the `null` members of every object removed.
    fn without_nulls(value: Value) -> Value {
        match value {
            Value::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .filter(|(_, value)| !value.is_null())
                    .map(|(key, value)| (key, without_nulls(value)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
            other => other,
        }
    }

    #[test]
    fn person_write_matches_create_fixture() {
        let fixture: Value = serde_json::from_str(PERSON_CREATE).unwrap();

        let json = without_nulls(serde_json::to_value(fixture_person()).unwrap());

        for (key, expected) in fixture.as_object().unwrap() {
            assert_eq!(&json[key], expected, "{key}");
        }
        assert_eq!(json["tags"], json!([]));
        assert_eq!(json["dontSms"], false);
    }

    #[test]
    fn create_body_leaves_out_unset_fields() {
        let json = serde_json::to_value(fixture_person()).unwrap();

        assert!(json.get("crmId").is_none());
        assert!(json.get("birthDate").is_none());
        assert!(json.get("website").is_none());
        assert_eq!(json["categories"], json!([{"key": "syaghcontact"}]));
    }

    #[test]
    fn person_from_fetched_keeps_ids_and_fields() {
        let person: CrmPerson = serde_json::from_str(PERSON_GET).unwrap();

        let write = CrmPersonWrite::from(&person);
        let json = serde_json::to_value(&write).unwrap();

        assert_eq!(write.identity.crm_id.as_ref(), Some(person.id()));
        assert_eq!(json["crmId"], "9295bc51-ce7c-4c3c-be1d-addf602c8081");
        assert_eq!(
            json["phoneContacts"][0]["id"],
            "e135145d-5908-4d14-9564-2ad74007d78f"
        );
        assert_eq!(json["phoneContacts"][1]["extension"], "12");
        assert_eq!(
            json["addressContacts"][0]["id"],
            "8455d73e-6070-46e4-83d4-cb5248ef002a"
        );
        assert_eq!(
            json["categories"],
            json!([{"id": "05cfd9ad-2a37-49e1-94a6-2ddcfdbbe738", "key": "syaghcontact"}])
        );
        assert_eq!(json["firstName"], "سارا");
        assert_eq!(json["refId"], "5");
        assert_eq!(json["crmObjectTypeCode"], "person");
        // Server-owned fields are not sent back.
        assert!(json.get("modifyDate").is_none());
        assert!(json.get("creatorId").is_none());
        assert!(json.get("identityTypeName").is_none());
    }

    #[test]
    fn organization_from_fetched_keeps_fields() {
        let organization: CrmOrganization = serde_json::from_str(ORGANIZATION_GET).unwrap();

        let write = CrmOrganizationWrite::from(&organization);
        let json = serde_json::to_value(&write).unwrap();

        assert_eq!(json["crmId"], "4bb1e60b-eb1b-46de-a8d3-e49ddb316e19");
        assert_eq!(json["economicCode"], "411111111111");
        assert_eq!(json["registerNumber"], "123456");
        assert_eq!(json["nationalCode"], "10100000001");
        assert_eq!(json["website"], "https://example.com");
        assert_eq!(json["crmObjectTypeCode"], "organization");
        assert_eq!(json["employees"], json!([]));
        assert!(json.get("firstName").is_none());
    }

    #[test]
    fn dates_are_sent_as_local_time() {
        let write = CrmPersonWrite {
            birth_date: Some(local_datetime::parse("1990-05-01T00:00:00").unwrap()),
            identity: CrmIdentityWrite {
                customer_date: Some(local_datetime::parse("2026-01-10T10:15:42.517").unwrap()),
                ..CrmIdentityWrite::default()
            },
            ..CrmPersonWrite::default()
        };

        let json = serde_json::to_value(&write).unwrap();

        assert_eq!(json["birthDate"], "1990-05-01T00:00:00");
        assert_eq!(json["customerDate"], "2026-01-10T10:15:42.517");
    }
}
