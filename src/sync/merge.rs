//! Field-by-field three-way merge of a customer changed on both sides since the last sync.
//!
//! The base is the canonical snapshot stored on the link at the last sync. A field changed on
//! one side only flows to the other; a field changed on both sides to different values is a
//! conflict that the entity's policy decides and that is recorded for an operator. Fields are
//! compared in normalized form, and the merged value is the winning side's original text.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::canonical::Customer;

/// Rule that picks the winner of a field changed on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// The CRM's value wins (the default: the CRM is where people edit customers).
    #[default]
    CrmWins,
    /// Siagh's value wins.
    FinanceWins,
    /// The side modified last wins; a tie or an unknown time goes to the CRM.
    NewestWins,
}

impl ConflictPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictPolicy::CrmWins => "crm-wins",
            ConflictPolicy::FinanceWins => "finance-wins",
            ConflictPolicy::NewestWins => "newest-wins",
        }
    }
}

impl FromStr for ConflictPolicy {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "crm-wins" => Ok(ConflictPolicy::CrmWins),
            "finance-wins" => Ok(ConflictPolicy::FinanceWins),
            "newest-wins" => Ok(ConflictPolicy::NewestWins),
            other => Err(format!(
                "unknown conflict policy {other:?}; expected crm-wins, finance-wins or newest-wins"
            )),
        }
    }
}

/// The side a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Crm,
    Siagh,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Crm => "crm",
            Side::Siagh => "siagh",
        }
    }
}

/// A field changed on both sides to different values, and how it was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    pub field: &'static str,
    pub base: String,
    pub crm: String,
    pub siagh: String,
    pub resolution: Side,
}

/// The merged customer and the conflicts met on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    pub merged: Customer,
    pub conflicts: Vec<FieldConflict>,
}

/// One field both systems carry.
struct Field {
    name: &'static str,
    get: fn(&Customer) -> &String,
    get_mut: fn(&mut Customer) -> &mut String,
}

macro_rules! field {
    ($name:ident) => {
        Field {
            name: stringify!($name),
            get: |customer| &customer.$name,
            get_mut: |customer| &mut customer.$name,
        }
    };
}

/// The fields both systems carry. CRM-only fields (first and last name, city, province,
/// country, economic code, customer number) never conflict: the merge keeps the CRM's value.
const SHARED_FIELDS: &[Field] = &[
    field!(name),
    field!(national_code),
    field!(mobile),
    field!(phone),
    field!(email),
    field!(website),
    field!(address),
    field!(postal_code),
    field!(description),
];

/// Merges `crm` and `siagh` against `base`. Modification times decide `NewestWins`.
pub fn merge(
    base: &Customer,
    crm: &Customer,
    siagh: &Customer,
    policy: ConflictPolicy,
    crm_modified: Option<DateTime<Utc>>,
    siagh_modified: Option<DateTime<Utc>>,
) -> Merge {
    let winner = match policy {
        ConflictPolicy::CrmWins => Side::Crm,
        ConflictPolicy::FinanceWins => Side::Siagh,
        ConflictPolicy::NewestWins => match (crm_modified, siagh_modified) {
            (Some(crm_time), Some(siagh_time)) if siagh_time > crm_time => Side::Siagh,
            _ => Side::Crm,
        },
    };
    let (normal_base, normal_crm, normal_siagh) =
        (base.normalized(), crm.normalized(), siagh.normalized());
    let mut merged = crm.clone();
    let mut conflicts = Vec::new();

    for field in SHARED_FIELDS {
        let base_value = (field.get)(&normal_base);
        let crm_value = (field.get)(&normal_crm);
        let siagh_value = (field.get)(&normal_siagh);
        let crm_changed = crm_value != base_value;
        let siagh_changed = siagh_value != base_value;
        let take_siagh = match (crm_changed, siagh_changed) {
            (false, true) => true,
            (true, true) if crm_value != siagh_value => {
                conflicts.push(FieldConflict {
                    field: field.name,
                    base: (field.get)(base).clone(),
                    crm: (field.get)(crm).clone(),
                    siagh: (field.get)(siagh).clone(),
                    resolution: winner,
                });
                winner == Side::Siagh
            }
            _ => false,
        };
        if take_siagh {
            *(field.get_mut)(&mut merged) = (field.get)(siagh).clone();
        }
    }
    if siagh.kind != base.kind && crm.kind == base.kind {
        merged.kind = siagh.kind;
    }
    // The CRM has no active flag, so Siagh's decides; otherwise every merge would reactivate
    // an inactive contact.
    merged.active = siagh.active;
    Merge { merged, conflicts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::canonical::tests::sample;

    #[test]
    fn one_sided_changes_flow_across() {
        let base = sample();
        let mut crm = sample();
        crm.email = "new@example.com".into();
        let mut siagh = sample();
        siagh.address = "نشانی تازه".into();

        let merge = merge(&base, &crm, &siagh, ConflictPolicy::CrmWins, None, None);

        assert_eq!(merge.merged.email, "new@example.com");
        assert_eq!(merge.merged.address, "نشانی تازه");
        assert!(merge.conflicts.is_empty());
    }

    #[test]
    fn both_sided_change_follows_the_policy() {
        let base = sample();
        let mut crm = sample();
        crm.mobile = "09111111111".into();
        let mut siagh = sample();
        siagh.mobile = "09222222222".into();
        let cases = [
            (ConflictPolicy::CrmWins, "09111111111", Side::Crm),
            (ConflictPolicy::FinanceWins, "09222222222", Side::Siagh),
        ];

        for (policy, expected, resolution) in cases {
            let merge = merge(&base, &crm, &siagh, policy, None, None);

            assert_eq!(merge.merged.mobile, expected, "{policy:?}");
            assert_eq!(merge.conflicts.len(), 1, "{policy:?}");
            let conflict = &merge.conflicts[0];
            assert_eq!(conflict.field, "mobile");
            assert_eq!(conflict.base, "09120000001");
            assert_eq!(conflict.crm, "09111111111");
            assert_eq!(conflict.siagh, "09222222222");
            assert_eq!(conflict.resolution, resolution);
        }
    }

    #[test]
    fn newest_wins_uses_times_and_gives_ties_to_the_crm() {
        let base = sample();
        let mut crm = sample();
        crm.phone = "02111111111".into();
        let mut siagh = sample();
        siagh.phone = "02122222222".into();
        let earlier = "2026-01-10T08:00:00Z".parse::<DateTime<Utc>>().ok();
        let later = "2026-01-10T08:00:01Z".parse::<DateTime<Utc>>().ok();

        let siagh_newer = merge(
            &base,
            &crm,
            &siagh,
            ConflictPolicy::NewestWins,
            earlier,
            later,
        );
        let tie = merge(
            &base,
            &crm,
            &siagh,
            ConflictPolicy::NewestWins,
            later,
            later,
        );
        let unknown = merge(&base, &crm, &siagh, ConflictPolicy::NewestWins, None, later);

        assert_eq!(siagh_newer.merged.phone, "02122222222");
        assert_eq!(tie.merged.phone, "02111111111");
        assert_eq!(unknown.merged.phone, "02111111111");
    }

    #[test]
    fn same_change_on_both_sides_is_no_conflict() {
        let base = sample();
        let mut crm = sample();
        crm.email = "Same@Example.com".into();
        let mut siagh = sample();
        siagh.email = "same@example.com".into();

        let merge = merge(&base, &crm, &siagh, ConflictPolicy::FinanceWins, None, None);

        assert!(merge.conflicts.is_empty());
        assert_eq!(merge.merged.email, "Same@Example.com");
    }

    #[test]
    fn letter_forms_are_not_changes() {
        let base = sample();
        let crm = sample();
        let mut siagh = sample();
        siagh.address = "خيابان نمونه، كوچه آزمون، پلاک 1".into();

        let merge = merge(&base, &crm, &siagh, ConflictPolicy::FinanceWins, None, None);

        assert_eq!(merge.merged.address, sample().address);
    }

    #[test]
    fn siagh_active_flag_is_kept() {
        let base = sample();
        let mut crm = sample();
        crm.email = "new@example.com".into();
        let mut siagh = sample();
        siagh.active = false;

        let merge = merge(&base, &crm, &siagh, ConflictPolicy::CrmWins, None, None);

        assert!(!merge.merged.active);
        assert_eq!(merge.merged.email, "new@example.com");
    }

    #[test]
    fn policy_names_parse() {
        assert_eq!("crm-wins".parse(), Ok(ConflictPolicy::CrmWins));
        assert_eq!("finance-wins".parse(), Ok(ConflictPolicy::FinanceWins));
        assert_eq!("newest-wins".parse(), Ok(ConflictPolicy::NewestWins));
        assert!("siagh-wins".parse::<ConflictPolicy>().is_err());
    }
}
