//! Wire types of the CRM's generic find API (`POST /api/v2/crmobject/<entity>/find`).
//!
//! The shapes follow the vendor's public C# and Go client libraries. No find call to a live
//! server has been published, so the page base, the value format of date conditions and
//! whether `total` is exact are unconfirmed.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{local_datetime, null_as_default};

/// Property name of the modification time in find conditions and orders.
pub const MODIFY_DATE_FIELD: &str = "ModifyDate";

/// Body of a find call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmFindRequest {
    /// Code of the record type to search, such as `person`.
    #[serde(default)]
    pub type_key: String,
    /// Conditions, combined by each one's `logicalOperator`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub queries: Vec<CrmFindQuery>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub orders: Vec<CrmFindOrder>,
    /// Page index. This client treats 1 as the first page, as the vendor's Go library
    /// sends; the CRM's page base is unconfirmed.
    #[serde(default)]
    pub page_number: u32,
    #[serde(default)]
    pub page_size: u32,
}

/// One condition of a find request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmFindQuery {
    /// Operator that joins this condition to the ones before it: [`CrmFindQuery::AND`] or
    /// [`CrmFindQuery::OR`].
    #[serde(default)]
    pub logical_operator: u8,
    /// PascalCase property name, such as `ModifyDate` or `FirstName`.
    #[serde(default)]
    pub field: String,
    /// Comparison, such as [`CrmFindQuery::GREATER_OR_EQUAL`].
    #[serde(default)]
    pub operator: u8,
    #[serde(default)]
    pub value: Value,
    /// Operator that joins the nested `leafs` conditions, `null` when there are none.
    #[serde(default)]
    pub leaf_logical_operator: Option<u8>,
    #[serde(default)]
    pub leaf_negate: bool,
    /// Nested conditions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub leafs: Vec<CrmFindQuery>,
}

impl CrmFindQuery {
    /// `logicalOperator` that joins with "and".
    pub const AND: u8 = 0;
    /// `logicalOperator` that joins with "or".
    pub const OR: u8 = 1;
    /// `operator` for equality.
    pub const EQUAL: u8 = 0;
    /// `operator` for "field > value".
    pub const GREATER_THAN: u8 = 1;
    /// `operator` for "field >= value".
    pub const GREATER_OR_EQUAL: u8 = 2;

    /// Builds the condition `ModifyDate >= since`, with `since` written as the CRM writes
    /// record timestamps: server-local time, no offset, e.g. `2026-01-10T10:15:42.517`.
    pub fn modified_since(since: NaiveDateTime) -> Self {
        Self {
            logical_operator: Self::AND,
            field: MODIFY_DATE_FIELD.to_owned(),
            operator: Self::GREATER_OR_EQUAL,
            value: Value::String(local_datetime::format(&since)),
            leaf_logical_operator: None,
            leaf_negate: false,
            leafs: Vec::new(),
        }
    }
}

/// One sort key of a find request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmFindOrder {
    /// PascalCase property name.
    pub field: String,
    /// [`CrmFindOrder::ASCENDING`] or [`CrmFindOrder::DESCENDING`].
    #[serde(default)]
    pub order: u8,
}

impl CrmFindOrder {
    pub const ASCENDING: u8 = 0;
    pub const DESCENDING: u8 = 1;
}

/// One page of a find result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct CrmFindPage<T> {
    /// Number of records that match the conditions, over all pages.
    pub total: u64,
    /// Records of this page, in the model that `get` returns.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<T>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::crm::CrmPerson;

    #[test]
    fn modified_since_query_has_expected_shape() {
        let since = local_datetime::parse("2026-01-10T10:15:42.517").unwrap();

        let json = serde_json::to_value(CrmFindQuery::modified_since(since)).unwrap();

        assert_eq!(
            json,
            json!({
                "logicalOperator": 0,
                "field": "ModifyDate",
                "operator": 2,
                "value": "2026-01-10T10:15:42.517",
                "leafLogicalOperator": null,
                "leafNegate": false,
                "leafs": []
            })
        );
    }

    #[test]
    fn page_parses_records_and_null_data() {
        let person: Value =
            serde_json::from_str(include_str!("../sim/fixtures/crm/person_get_response.json"))
                .unwrap();

        let page: CrmFindPage<CrmPerson> =
            serde_json::from_value(json!({"total": 3, "data": [person]})).unwrap();
        let empty: CrmFindPage<CrmPerson> =
            serde_json::from_value(json!({"total": 0, "data": null})).unwrap();

        assert_eq!(page.total, 3);
        assert_eq!(page.data[0].first_name.as_deref(), Some("سارا"));
        assert!(empty.data.is_empty());
    }

    #[test]
    fn query_defaults_fill_missing_keys() {
        let query: CrmFindQuery =
            serde_json::from_value(json!({"field": "ModifyDate", "operator": 1})).unwrap();

        assert_eq!(query.logical_operator, CrmFindQuery::AND);
        assert_eq!(query.value, Value::Null);
        assert!(query.leafs.is_empty());
    }
}
