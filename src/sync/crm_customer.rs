//! Adapter from CRM persons and organizations to the canonical [`Customer`].

use super::canonical::{Customer, CustomerKind};
use super::normalize;
use crate::crm::{CrmAddress, CrmOrganization, CrmPerson, CrmPhone};

fn text(value: &Option<String>) -> String {
    value.as_deref().unwrap_or_default().trim().to_owned()
}

/// Returns whether a CRM phone entry is a mobile number: its type names one, or, when the
/// type is empty, the number itself looks like an Iranian mobile.
fn is_mobile(phone: &CrmPhone) -> bool {
    let kind = text(&phone.phone_type).to_lowercase();
    if !kind.is_empty() {
        return kind.contains("mobile") || kind.contains("موبایل") || kind.contains("همراه");
    }
    normalize::phone(&text(&phone.phone_number)).starts_with("09")
}

/// Picks the mobile and the first other phone number, default entries first.
fn phones(entries: &[CrmPhone]) -> (String, String) {
    let mut ordered: Vec<&CrmPhone> = entries.iter().collect();
    ordered.sort_by_key(|phone| !phone.default);
    let number = |phone: &&CrmPhone| text(&phone.phone_number);
    let mobile = ordered
        .iter()
        .find(|phone| is_mobile(phone))
        .map(number)
        .unwrap_or_default();
    let landline = ordered
        .iter()
        .find(|phone| !is_mobile(phone))
        .map(number)
        .unwrap_or_default();
    (mobile, landline)
}

/// Picks the default address, else the first one.
fn main_address(entries: &[CrmAddress]) -> Option<&CrmAddress> {
    entries
        .iter()
        .find(|address| address.default)
        .or_else(|| entries.first())
}

fn with_address(mut customer: Customer, address: Option<&CrmAddress>) -> Customer {
    if let Some(address) = address {
        customer.address = text(&address.address);
        customer.city = text(&address.city);
        customer.province = text(&address.state);
        customer.country = text(&address.country);
        customer.postal_code = text(&address.zip_code);
    }
    customer
}

/// Translates a CRM person into a canonical customer.
pub fn from_person(person: &CrmPerson) -> Customer {
    let identity = &person.identity;
    let first_name = text(&person.first_name);
    let last_name = text(&person.last_name);
    let mut name = text(&identity.nick_name);
    if name.is_empty() {
        name = format!("{first_name} {last_name}").trim().to_owned();
    }
    let (mobile, phone) = phones(&identity.phone_contacts);
    let customer = Customer {
        kind: CustomerKind::Person,
        name,
        first_name,
        last_name,
        national_code: text(&identity.national_code),
        economic_code: text(&person.economic_code),
        mobile,
        phone,
        email: text(&identity.email),
        website: text(&identity.website),
        address: String::new(),
        city: String::new(),
        province: String::new(),
        country: String::new(),
        postal_code: String::new(),
        description: text(&person.object.description),
        customer_number: text(&identity.customer_number),
        active: true,
    };
    with_address(customer, main_address(&identity.address_contacts))
}

/// Translates a CRM organization into a canonical customer.
pub fn from_organization(organization: &CrmOrganization) -> Customer {
    let identity = &organization.identity;
    let (mobile, phone) = phones(&identity.phone_contacts);
    let customer = Customer {
        kind: CustomerKind::Organization,
        name: text(&identity.nick_name),
        first_name: String::new(),
        last_name: String::new(),
        national_code: text(&identity.national_code),
        economic_code: text(&organization.economic_code),
        mobile,
        phone,
        email: text(&identity.email),
        website: text(&identity.website),
        address: String::new(),
        city: String::new(),
        province: String::new(),
        country: String::new(),
        postal_code: String::new(),
        description: text(&organization.object.description),
        customer_number: text(&identity.customer_number),
        active: true,
    };
    with_address(customer, main_address(&identity.address_contacts))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn person_fixture() -> CrmPerson {
        serde_json::from_str(include_str!("../sim/fixtures/crm/person_get_response.json")).unwrap()
    }

    fn organization_fixture() -> CrmOrganization {
        serde_json::from_str(include_str!(
            "../sim/fixtures/crm/organization_get_response.json"
        ))
        .unwrap()
    }

    #[test]
    fn person_fixture_maps_every_field() {
        let customer = from_person(&person_fixture());

        assert_eq!(customer.kind, CustomerKind::Person);
        assert_eq!(customer.name, "سارا نمونه");
        assert_eq!(customer.first_name, "سارا");
        assert_eq!(customer.last_name, "نمونه");
        assert_eq!(customer.mobile, "09120000001");
        assert_eq!(customer.phone, "02100000002");
        assert_eq!(customer.email, "sara.sample@example.com");
        assert_eq!(customer.national_code, "1234567891");
        assert_eq!(customer.address, "خیابان نمونه، کوچه آزمون، پلاک ۱");
        assert_eq!(customer.postal_code, "1111111111");
        assert_eq!(customer.city, "تهران");
        assert_eq!(customer.customer_number, "100-1005");
    }

    #[test]
    fn organization_fixture_maps_every_field() {
        let customer = from_organization(&organization_fixture());

        assert_eq!(customer.kind, CustomerKind::Organization);
        assert_eq!(customer.name, "شرکت نمونه‌سازان آزمون");
        assert_eq!(customer.national_code, "10100000001");
        assert_eq!(customer.economic_code, "411111111111");
        assert_eq!(customer.phone, "02100000003");
        assert_eq!(customer.mobile, "");
        assert_eq!(customer.website, "https://example.com");
        assert_eq!(customer.postal_code, "2222222222");
    }

    #[test]
    fn person_without_nick_name_uses_first_and_last_name() {
        let mut person = person_fixture();
        person.identity.nick_name = None;

        assert_eq!(from_person(&person).name, "سارا نمونه");
    }

    #[test]
    fn untyped_phone_is_classified_by_its_number() {
        let mut person = person_fixture();
        for phone in &mut person.identity.phone_contacts {
            phone.phone_type = None;
        }

        let customer = from_person(&person);

        assert_eq!(customer.mobile, "09120000001");
        assert_eq!(customer.phone, "02100000002");
    }
}
