//! The Siagh change detector's pure part: Siagh has no change feed and GetAll returns every
//! contact at once, so each poll compares the contacts' checksums with the ones stored by the
//! previous poll.

use std::collections::{HashMap, HashSet};

use super::canonical::Customer;
use super::siagh_contact::{from_contact, siagh_checksum};
use crate::siagh::SiaghContact;

/// A contact that is new or changed since the previous poll.
#[derive(Debug, Clone)]
pub struct ChangedContact {
    pub code: String,
    pub checksum: String,
    pub customer: Customer,
}

/// Payload of a Siagh-sourced job: the contact as the poll read it, so the sync step needs no
/// second GetAll.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SiaghChange {
    pub code: String,
    pub customer: Customer,
}

impl ChangedContact {
    /// Returns the job payload for this change.
    pub fn payload(&self) -> String {
        let change = SiaghChange {
            code: self.code.clone(),
            customer: self.customer.clone(),
        };
        serde_json::to_string(&change).unwrap_or_default()
    }
}

/// Differences between one GetAll result and the checksums of the previous poll.
#[derive(Debug, Clone, Default)]
pub struct FinanceDiff {
    pub changed: Vec<ChangedContact>,
    /// Codes seen before and missing now.
    pub removed: Vec<String>,
}

/// Compares `contacts` with `previous` (code → checksum). Admin users are not customers and
/// are left out. The work is one hash lookup per contact.
pub fn diff_contacts(previous: &HashMap<String, String>, contacts: &[SiaghContact]) -> FinanceDiff {
    let mut diff = FinanceDiff::default();
    let mut present = HashSet::with_capacity(contacts.len());
    for contact in contacts {
        if contact.is_admin_user.unwrap_or(false) {
            continue;
        }
        let code = contact.code.to_string();
        let customer = from_contact(contact);
        let checksum = siagh_checksum(&customer);
        present.insert(code.clone());
        if previous.get(&code) == Some(&checksum) {
            continue;
        }
        diff.changed.push(ChangedContact {
            code,
            checksum,
            customer,
        });
    }
    diff.removed = previous
        .keys()
        .filter(|code| !present.contains(*code))
        .cloned()
        .collect();
    diff.removed.sort();
    diff
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fixture() -> Vec<SiaghContact> {
        serde_json::from_str(include_str!(
            "../sim/fixtures/siagh/getall-contacts-response.json"
        ))
        .unwrap()
    }

    fn checksums(diff: &FinanceDiff) -> HashMap<String, String> {
        diff.changed
            .iter()
            .map(|change| (change.code.clone(), change.checksum.clone()))
            .collect()
    }

    #[test]
    fn first_poll_reports_every_contact() {
        let diff = diff_contacts(&HashMap::new(), &fixture());

        let codes: Vec<&str> = diff.changed.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["8401", "8402", "8403"]);
        assert!(diff.removed.is_empty());
    }

    #[test]
    fn unchanged_poll_reports_nothing() {
        let first = diff_contacts(&HashMap::new(), &fixture());

        let second = diff_contacts(&checksums(&first), &fixture());

        assert!(second.changed.is_empty());
        assert!(second.removed.is_empty());
    }

    #[test]
    fn edited_and_removed_contacts_are_reported() {
        let previous = checksums(&diff_contacts(&HashMap::new(), &fixture()));
        let mut contacts = fixture();
        contacts[1].address = Some("نشانی تازه".into());
        contacts.remove(2);

        let diff = diff_contacts(&previous, &contacts);

        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.changed[0].code, "8402");
        assert_eq!(diff.changed[0].customer.address, "نشانی تازه");
        assert_eq!(diff.removed, ["8403"]);
    }

    #[test]
    fn letter_and_digit_forms_are_not_changes() {
        let previous = checksums(&diff_contacts(&HashMap::new(), &fixture()));
        let mut contacts = fixture();
        contacts[0].mobile_no = Some("۰۹۱۲۰۰۰۰۰۰۱".into());
        contacts[0].name = Some("شخص نمونه".replace('ی', "ي"));

        let diff = diff_contacts(&previous, &contacts);

        assert!(diff.changed.is_empty(), "{:?}", diff.changed);
    }

    #[test]
    fn admin_users_are_skipped() {
        let mut contacts = fixture();
        contacts[0].is_admin_user = Some(true);

        let diff = diff_contacts(&HashMap::new(), &contacts);

        assert!(diff.changed.iter().all(|change| change.code != "8401"));
    }
}
