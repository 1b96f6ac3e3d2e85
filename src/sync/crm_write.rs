//! Adapter from the canonical [`Customer`] to CRM create and update bodies.
//!
//! An update starts from the fetched record (the CRM's update probably replaces the whole
//! record), so fields Siagh does not carry keep their CRM values and contact entries keep
//! their ids.

use super::canonical::{Customer, CustomerKind};
use super::names::split_full_name;
use super::normalize;
use crate::crm::{CrmAddress, CrmIdentityWrite, CrmOrganizationWrite, CrmPersonWrite, CrmPhone};

/// `phoneType` the sync writes for a mobile number and for any other number.
const MOBILE_PHONE_TYPE: &str = "Mobile";
const OFFICE_PHONE_TYPE: &str = "Office";

fn optional(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn is_mobile(phone: &CrmPhone) -> bool {
    let kind = phone
        .phone_type
        .as_deref()
        .unwrap_or_default()
        .to_lowercase();
    if !kind.is_empty() {
        return kind.contains("mobile") || kind.contains("موبایل") || kind.contains("همراه");
    }
    normalize::phone(phone.phone_number.as_deref().unwrap_or_default()).starts_with("09")
}

/// Sets the first phone entry of one kind to `number`, adds one when there is none, and
/// removes it when `number` is empty.
fn set_phone(phones: &mut Vec<CrmPhone>, mobile: bool, number: &str) {
    let position = phones.iter().position(|phone| is_mobile(phone) == mobile);
    match (position, optional(number)) {
        (Some(index), Some(number)) => {
            if normalize::phone(phones[index].phone_number.as_deref().unwrap_or_default())
                != normalize::phone(&number)
            {
                phones[index].phone_number = Some(number);
            }
        }
        (Some(index), None) => {
            phones.remove(index);
        }
        (None, Some(number)) => phones.push(CrmPhone {
            default: phones.is_empty(),
            phone_type: Some(
                if mobile {
                    MOBILE_PHONE_TYPE
                } else {
                    OFFICE_PHONE_TYPE
                }
                .to_owned(),
            ),
            phone_number: Some(number),
            ..CrmPhone::default()
        }),
        (None, None) => {}
    }
}

/// Sets the street address and postal code of the default (else first) address entry.
fn set_address(addresses: &mut Vec<CrmAddress>, customer: &Customer) {
    let position = addresses
        .iter()
        .position(|address| address.default)
        .or(if addresses.is_empty() { None } else { Some(0) });
    let index = match position {
        Some(index) => index,
        None if customer.address.is_empty() && customer.postal_code.is_empty() => return,
        None => {
            addresses.push(CrmAddress {
                default: true,
                country: optional(&customer.country),
                state: optional(&customer.province),
                city: optional(&customer.city),
                ..CrmAddress::default()
            });
            addresses.len() - 1
        }
    };
    addresses[index].address = optional(&customer.address);
    addresses[index].zip_code = optional(&customer.postal_code);
}

/// Applies the fields both systems share to a create or update body.
fn apply_shared(identity: &mut CrmIdentityWrite, customer: &Customer) {
    identity.nick_name = optional(&customer.name);
    identity.national_code = optional(&customer.national_code);
    identity.email = optional(&customer.email);
    identity.website = optional(&customer.website);
    identity.description = optional(&customer.description);
    set_phone(&mut identity.phone_contacts, true, &customer.mobile);
    set_phone(&mut identity.phone_contacts, false, &customer.phone);
    set_address(&mut identity.address_contacts, customer);
}

/// Builds the body that creates `customer` as a CRM person.
pub fn new_person(customer: &Customer) -> CrmPersonWrite {
    let mut person = CrmPersonWrite {
        first_name: optional(&customer.first_name),
        last_name: optional(&customer.last_name),
        ..CrmPersonWrite::default()
    };
    person.identity.crm_object_type_code = Some(CustomerKind::Person.as_str().to_owned());
    person.identity.customer_number = optional(&customer.customer_number);
    apply_shared(&mut person.identity, customer);
    person
}

/// Builds the body that creates `customer` as a CRM organization.
pub fn new_organization(customer: &Customer) -> CrmOrganizationWrite {
    let mut organization = CrmOrganizationWrite::default();
    organization.identity.crm_object_type_code =
        Some(CustomerKind::Organization.as_str().to_owned());
    organization.identity.customer_number = optional(&customer.customer_number);
    apply_shared(&mut organization.identity, customer);
    organization
}

/// Applies `customer` to the update body built from a fetched person. When the display name
/// changed, the first and last name are split from the new one, since Siagh keeps only the
/// full name.
pub fn update_person(person: &mut CrmPersonWrite, customer: &Customer) {
    let old_name = normalize::text(person.identity.nick_name.as_deref().unwrap_or_default());
    if old_name != normalize::text(&customer.name) {
        let split = split_full_name(&customer.name);
        person.first_name = optional(&split.first_name);
        person.last_name = optional(&split.last_name);
    }
    apply_shared(&mut person.identity, customer);
}

/// Applies `customer` to the update body built from a fetched organization.
pub fn update_organization(organization: &mut CrmOrganizationWrite, customer: &Customer) {
    apply_shared(&mut organization.identity, customer);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::crm::CrmPerson;
    use crate::sync::canonical::tests::sample;
    use crate::sync::crm_customer::from_person;

    fn person_fixture() -> CrmPerson {
        serde_json::from_str(include_str!("../sim/fixtures/crm/person_get_response.json")).unwrap()
    }

    #[test]
    fn update_keeps_entry_ids_and_changes_values() {
        let fetched = person_fixture();
        let mut customer = from_person(&fetched);
        customer.mobile = "09350000000".into();
        customer.address = "نشانی تازه".into();

        let mut write = CrmPersonWrite::from(&fetched);
        update_person(&mut write, &customer);

        let mobile = &write.identity.phone_contacts[0];
        assert_eq!(
            mobile.id.as_deref(),
            Some("e135145d-5908-4d14-9564-2ad74007d78f")
        );
        assert_eq!(mobile.phone_number.as_deref(), Some("09350000000"));
        let address = &write.identity.address_contacts[0];
        assert_eq!(
            address.id.as_deref(),
            Some("8455d73e-6070-46e4-83d4-cb5248ef002a")
        );
        assert_eq!(address.address.as_deref(), Some("نشانی تازه"));
        assert_eq!(address.city.as_deref(), Some("تهران"));
        assert_eq!(write.first_name.as_deref(), Some("سارا"));
    }

    #[test]
    fn renamed_person_gets_split_first_and_last_name() {
        let fetched = person_fixture();
        let mut customer = from_person(&fetched);
        customer.name = "زهرا کریمی".into();

        let mut write = CrmPersonWrite::from(&fetched);
        update_person(&mut write, &customer);

        assert_eq!(write.identity.nick_name.as_deref(), Some("زهرا کریمی"));
        assert_eq!(write.first_name.as_deref(), Some("زهرا"));
        assert_eq!(write.last_name.as_deref(), Some("کریمی"));
    }

    #[test]
    fn unchanged_customer_reads_back_equal() {
        let fetched = person_fixture();
        let customer = from_person(&fetched);

        let mut write = CrmPersonWrite::from(&fetched);
        update_person(&mut write, &customer);

        assert_eq!(write, CrmPersonWrite::from(&fetched));
    }

    #[test]
    fn new_person_carries_every_shared_field() {
        let person = new_person(&sample());

        assert_eq!(person.first_name.as_deref(), Some("سارا"));
        assert_eq!(person.last_name.as_deref(), Some("نمونه"));
        assert_eq!(person.identity.nick_name.as_deref(), Some("سارا نمونه"));
        assert_eq!(person.identity.customer_number.as_deref(), Some("100-1005"));
        assert_eq!(
            person.identity.crm_object_type_code.as_deref(),
            Some("person")
        );
        let numbers: Vec<_> = person
            .identity
            .phone_contacts
            .iter()
            .map(|phone| {
                (
                    phone.phone_type.clone().unwrap(),
                    phone.phone_number.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            numbers,
            [
                ("Mobile".to_owned(), "09120000001".to_owned()),
                ("Office".to_owned(), "02100000002".to_owned())
            ]
        );
        assert_eq!(
            person.identity.address_contacts[0].zip_code.as_deref(),
            Some("1111111111")
        );
    }

    #[test]
    fn emptied_mobile_removes_the_entry() {
        let fetched = person_fixture();
        let mut customer = from_person(&fetched);
        customer.mobile = String::new();

        let mut write = CrmPersonWrite::from(&fetched);
        update_person(&mut write, &customer);

        assert_eq!(write.identity.phone_contacts.len(), 1);
        assert_eq!(
            write.identity.phone_contacts[0].phone_number.as_deref(),
            Some("02100000002")
        );
    }
}
