//! Adapter between the canonical [`Customer`] and Siagh contacts: the form written through
//! SaveFormData and the record read back by GetAll.

use super::canonical::{Customer, CustomerKind};
use super::customer_number::tmp_id_from_customer_number;
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
