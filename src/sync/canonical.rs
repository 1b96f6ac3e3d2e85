//! The canonical customer: the one shape both sides' adapters translate to and from, and the
//! basis of checksums and snapshots.

use serde::{Deserialize, Serialize};

use super::normalize;

/// Whether a customer is a natural person or a legal entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    Person,
    Organization,
}

impl CustomerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerKind::Person => "person",
            CustomerKind::Organization => "organization",
        }
    }

    pub fn parse(value: &str) -> Option<CustomerKind> {
        match value {
            "person" => Some(CustomerKind::Person),
            "organization" => Some(CustomerKind::Organization),
            _ => None,
        }
    }
}

/// A customer as both systems can express it. Empty strings mean "not set".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub kind: CustomerKind,
    /// Display name: a person's full name or an organization's name.
    pub name: String,
    pub first_name: String,
    pub last_name: String,
    /// National code (کد ملی) of a person, national id (شناسه ملی) of an organization.
    pub national_code: String,
    pub economic_code: String,
    pub mobile: String,
    pub phone: String,
    pub email: String,
    pub website: String,
    pub address: String,
    pub city: String,
    pub province: String,
    pub country: String,
    pub postal_code: String,
    pub description: String,
    /// CRM customer number such as `100-1005`.
    pub customer_number: String,
    pub active: bool,
}

impl Customer {
    /// Returns a customer of `kind` with every field empty: the merge base of two records linked
    /// without a common history, so every difference between them is decided by policy.
    pub fn empty(kind: CustomerKind) -> Customer {
        Customer {
            kind,
            name: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            national_code: String::new(),
            economic_code: String::new(),
            mobile: String::new(),
            phone: String::new(),
            email: String::new(),
            website: String::new(),
            address: String::new(),
            city: String::new(),
            province: String::new(),
            country: String::new(),
            postal_code: String::new(),
            description: String::new(),
            customer_number: String::new(),
            active: true,
        }
    }

    /// Returns the customer with every field in its comparison form.
    pub fn normalized(&self) -> Customer {
        Customer {
            kind: self.kind,
            name: normalize::text(&self.name),
            first_name: normalize::text(&self.first_name),
            last_name: normalize::text(&self.last_name),
            national_code: normalize::code(&self.national_code),
            economic_code: normalize::code(&self.economic_code),
            mobile: normalize::phone(&self.mobile),
            phone: normalize::phone(&self.phone),
            email: normalize::email(&self.email),
            website: normalize::text(&self.website).to_lowercase(),
            address: normalize::text(&self.address),
            city: normalize::text(&self.city),
            province: normalize::text(&self.province),
            country: normalize::text(&self.country),
            postal_code: normalize::code(&self.postal_code),
            description: normalize::text(&self.description),
            customer_number: normalize::text(&self.customer_number),
            active: self.active,
        }
    }

    /// MD5 hex of the normalized form's JSON; equal checksums mean no change worth syncing.
    pub fn checksum(&self) -> String {
        checksum_of(&self.normalized())
    }

    /// JSON text of the customer as stored in snapshots and the audit log.
    pub fn snapshot(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// MD5 hex digest of a value's JSON form; field order is the struct's declaration order, so
/// equal values always give equal digests.
pub fn checksum_of<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    format!("{:x}", md5::compute(json))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Customer {
        Customer {
            kind: CustomerKind::Person,
            name: "سارا نمونه".into(),
            first_name: "سارا".into(),
            last_name: "نمونه".into(),
            national_code: "1234567891".into(),
            economic_code: String::new(),
            mobile: "09120000001".into(),
            phone: "02100000002".into(),
            email: "sara.sample@example.com".into(),
            website: String::new(),
            address: "خیابان نمونه، کوچه آزمون، پلاک ۱".into(),
            city: "تهران".into(),
            province: "تهران".into(),
            country: "ایران".into(),
            postal_code: "1111111111".into(),
            description: String::new(),
            customer_number: "100-1005".into(),
            active: true,
        }
    }

    #[test]
    fn checksum_ignores_letter_and_digit_forms() {
        let persian = sample();
        let mut arabic = sample();
        arabic.address = "خيابان نمونه، كوچه آزمون، پلاک 1".into();
        arabic.mobile = "+98 912 000 0001".into();
        arabic.email = "Sara.Sample@Example.com".into();

        assert_eq!(persian.checksum(), arabic.checksum());
    }

    #[test]
    fn checksum_changes_with_any_field() {
        let base = sample();
        let mut changed = sample();
        changed.postal_code = "1111111112".into();

        assert_ne!(base.checksum(), changed.checksum());
    }

    #[test]
    fn snapshot_round_trips() {
        let customer = sample();

        let parsed: Customer = serde_json::from_str(&customer.snapshot()).unwrap_or(sample());

        assert_eq!(parsed, customer);
    }
}
