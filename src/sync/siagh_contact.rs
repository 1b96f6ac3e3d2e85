//! Adapter between the canonical [`Customer`] and Siagh contacts: the form written through
//! SaveFormData and the record read back by GetAll.

use super::canonical::{Customer, CustomerKind};
use super::customer_number::tmp_id_from_customer_number;
use super::names::split_full_name;
use super::normalize;
use crate::siagh::{ContactForm, PartyType, SiaghContact};

/// Builds the Siagh contact form for a customer.
///
/// City, province and country stay empty: Siagh expects its own codes there, and the CRM
/// contains free text that is not a valid code.
pub fn to_contact_form(customer: &Customer) -> ContactForm {
    ContactForm {
        full_name: customer.name.clone(),
        is_active: customer.active,
        website: customer.website.clone(),
        postal_code: customer.postal_code.clone(),
        province_code: String::new(),
        address: customer.address.clone(),
        city_code: String::new(),
        country_code: String::new(),
        email: customer.email.clone(),
        mobile: customer.mobile.clone(),
        phone: customer.phone.clone(),
        national_code: customer.national_code.clone(),
        tmp_id: tmp_id_from_customer_number(&customer.customer_number)
            .map(|id| id.to_string())
            .unwrap_or_default(),
        description: customer.description.clone(),
        party_type: match customer.kind {
            CustomerKind::Person => PartyType::Person,
            CustomerKind::Organization => PartyType::Organization,
        },
    }
}

/// Translates a GetAll record into a canonical customer. A person's name is split into first
/// and last name by [`split_full_name`]; fields Siagh does not keep stay empty.
pub fn from_contact(contact: &SiaghContact) -> Customer {
    let text = |value: &Option<String>| value.as_deref().unwrap_or_default().trim().to_owned();
    let kind = if contact.toward_type.unwrap_or(false) {
        CustomerKind::Organization
    } else {
        CustomerKind::Person
    };
    let name = text(&contact.name);
    let split = match kind {
        CustomerKind::Person => split_full_name(&name),
        CustomerKind::Organization => super::names::SplitName {
            first_name: String::new(),
            last_name: String::new(),
        },
    };
    Customer {
        kind,
        name,
        first_name: split.first_name,
        last_name: split.last_name,
        national_code: text(&contact.national_code),
        economic_code: String::new(),
        mobile: text(&contact.mobile_no),
        phone: text(&contact.tel_no),
        email: text(&contact.email),
        website: text(&contact.website_address),
        address: text(&contact.address),
        city: String::new(),
        province: String::new(),
        country: String::new(),
        postal_code: text(&contact.postal_code),
        description: text(&contact.description),
        customer_number: String::new(),
        active: contact.is_active.unwrap_or(true),
    }
}

/// Returns the part of a customer that Siagh stores and GetAll returns, so the checksum of
/// what was written equals the checksum of what the next poll reads back.
pub fn siagh_view(customer: &Customer) -> Customer {
    Customer {
        first_name: String::new(),
        last_name: String::new(),
        economic_code: String::new(),
        city: String::new(),
        province: String::new(),
        country: String::new(),
        customer_number: String::new(),
        ..customer.clone()
    }
}

/// Checksum of the Siagh side of a customer.
pub fn siagh_checksum(customer: &Customer) -> String {
    siagh_view(customer).checksum()
}

/// Returns whether a GetAll record could be the contact created for `customer`: the same
/// mobile number or national code, compared in normalized form. Empty keys never match.
pub fn matches_natural_key(contact: &SiaghContact, customer: &Customer) -> bool {
    let wanted = customer.normalized();
    let mobile = normalize::phone(contact.mobile_no.as_deref().unwrap_or_default());
    let national_code = normalize::code(contact.national_code.as_deref().unwrap_or_default());
    (!wanted.mobile.is_empty() && mobile == wanted.mobile)
        || (!wanted.national_code.is_empty() && national_code == wanted.national_code)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::sync::canonical::tests::sample;

    #[test]
    fn form_carries_mapped_fields() {
        let form = to_contact_form(&sample());

        assert_eq!(form.full_name, "سارا نمونه");
        assert_eq!(form.mobile, "09120000001");
        assert_eq!(form.phone, "02100000002");
        assert_eq!(form.email, "sara.sample@example.com");
        assert_eq!(form.national_code, "1234567891");
        assert_eq!(form.postal_code, "1111111111");
        assert_eq!(form.tmp_id, "5");
        assert_eq!(form.party_type, PartyType::Person);
        assert!(form.is_active);
    }

    #[test]
    fn organization_becomes_party_type_organization() {
        let mut customer = sample();
        customer.kind = CustomerKind::Organization;

        assert_eq!(
            to_contact_form(&customer).party_type,
            PartyType::Organization
        );
    }

    #[test]
    fn natural_key_matches_mobile_in_any_digit_form() {
        let contacts: Vec<SiaghContact> = serde_json::from_str(include_str!(
            "../sim/fixtures/siagh/getall-contacts-response.json"
        ))
        .unwrap();
        let mut customer = sample();
        customer.mobile = "۰۹۱۲۰۰۰۰۰۰۱".into();
        customer.national_code = String::new();

        let matched: Vec<_> = contacts
            .iter()
            .filter(|contact| matches_natural_key(contact, &customer))
            .collect();

        assert_eq!(matched.len(), 1);
        assert_eq!(matched[0].code.0, 8401);
    }

    #[test]
    fn getall_fixture_maps_to_customers() {
        let contacts: Vec<SiaghContact> = serde_json::from_str(include_str!(
            "../sim/fixtures/siagh/getall-contacts-response.json"
        ))
        .unwrap();

        let person = from_contact(&contacts[0]);
        let organization = from_contact(&contacts[1]);
        let inactive = from_contact(&contacts[2]);

        assert_eq!(person.kind, CustomerKind::Person);
        assert_eq!(person.name, "شخص نمونه");
        assert_eq!(person.first_name, "شخص");
        assert_eq!(person.last_name, "نمونه");
        assert_eq!(person.mobile, "09120000001");
        assert_eq!(person.phone, "02100000001");
        assert_eq!(person.postal_code, "1000000001");
        assert_eq!(person.national_code, "0000000000");
        assert_eq!(organization.kind, CustomerKind::Organization);
        assert_eq!(organization.first_name, "");
        assert_eq!(organization.website, "https://example.com");
        assert!(!inactive.active);
    }

    #[test]
    fn written_form_reads_back_with_the_same_checksum() {
        let mut customer = sample();
        customer.name = "رضا | بازرگانی".into();
        customer.address = "خیابان اول\nکوچه دوم".into();
        let form = to_contact_form(&customer);
        let sent = form.ctrl_values(None);
        let stored = |key: &str| {
            sent.text
                .split('|')
                .find_map(|pair| pair.strip_prefix(&format!("gn_web_users.{key}=")))
                .map(str::to_owned)
        };
        let read_back = SiaghContact {
            name: stored("fullname"),
            address: stored("address"),
            mobile_no: stored("mobileno"),
            tel_no: stored("telno"),
            email: stored("email"),
            national_code: stored("passno"),
            postal_code: stored("pocode"),
            website_address: stored("websiteaddress").filter(|value| !value.is_empty()),
            description: stored("tozihat").filter(|value| !value.is_empty()),
            toward_type: Some(false),
            is_active: Some(true),
            ..serde_json::from_str(r#"{"Code": 9000}"#).unwrap()
        };

        assert_eq!(
            siagh_checksum(&from_contact(&read_back)),
            siagh_checksum(&customer)
        );
    }

    #[test]
    fn empty_keys_never_match() {
        let contacts: Vec<SiaghContact> = serde_json::from_str(include_str!(
            "../sim/fixtures/siagh/getall-contacts-response.json"
        ))
        .unwrap();
        let mut customer = sample();
        customer.mobile = String::new();
        customer.national_code = String::new();

        assert!(
            !contacts
                .iter()
                .any(|contact| matches_natural_key(contact, &customer))
        );
    }
}
