//! Evaluation of `person/find`, `organization/find` and `quote/sales/find` requests.
//!
//! The simulator supports what the sync sends: `ModifyDate` conditions with operator 1
//! (greater than) or 2 (greater or equal) joined by "and", at most one order on
//! `ModifyDate`, and pages that start at 1. Anything else is rejected with a message
//! naming the unsupported part, which the API returns as HTTP 400. The CRM's own rules for
//! the page base and the value format are unconfirmed.

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::crm::find::MODIFY_DATE_FIELD;
use crate::crm::model::local_datetime;
use crate::crm::{CrmFindOrder, CrmFindQuery, CrmFindRequest, CrmObjectFields};

/// A validated find request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FindPlan {
    type_key: String,
    conditions: Vec<ModifyDateCondition>,
    /// `None` keeps creation order.
    order: Option<SortDirection>,
    /// First page is 1.
    page_number: u32,
    page_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ModifyDateCondition {
    inclusive: bool,
    bound: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortDirection {
    Ascending,
    Descending,
}

impl FindPlan {
    /// Validates a find request. Returns a message naming the first unsupported part.
    pub fn parse(request: &CrmFindRequest) -> Result<Self, String> {
        if request.type_key.trim().is_empty() {
            return Err("typeKey is missing".to_owned());
        }
        if request.page_number == 0 {
            return Err("pageNumber 0 is invalid: the first page is 1".to_owned());
        }
        if request.page_size == 0 {
            return Err("pageSize must be at least 1".to_owned());
        }
        let conditions = request
            .queries
            .iter()
            .map(parse_condition)
            .collect::<Result<Vec<_>, _>>()?;
        let order = match request.orders.as_slice() {
            [] => None,
            [order] => Some(parse_order(order)?),
            _ => return Err("more than one order is not supported".to_owned()),
        };

        Ok(Self {
            type_key: request.type_key.trim().to_owned(),
            conditions,
            order,
            page_number: request.page_number,
            page_size: request.page_size,
        })
    }

    /// Returns whether a record is of the requested type and meets every condition.
    ///
    /// Type codes compare ignoring ASCII case. An unknown type code matches no record.
    pub fn matches(&self, object: &CrmObjectFields) -> bool {
        let type_matches = object
            .crm_object_type_code
            .as_deref()
            .is_some_and(|code| code.eq_ignore_ascii_case(&self.type_key));
        type_matches
            && self
                .conditions
                .iter()
                .all(|condition| condition.holds(object.modify_date))
    }

    /// Sorts the matching records and returns their count and the requested page. `object`
    /// reads a record's common fields.
    pub fn page<'a, T>(
        &self,
        mut records: Vec<&'a T>,
        object: impl Fn(&T) -> &CrmObjectFields,
    ) -> (u64, Vec<&'a T>) {
        let by_modify_date = |a: &&T, b: &&T| object(a).modify_date.cmp(&object(b).modify_date);
        match self.order {
            None => {}
            Some(SortDirection::Ascending) => records.sort_by(by_modify_date),
            Some(SortDirection::Descending) => records.sort_by(|a, b| by_modify_date(b, a)),
        }
        let total = records.len() as u64;
        let skip = ((self.page_number - 1) as usize).saturating_mul(self.page_size as usize);
        let page = records
            .into_iter()
            .skip(skip)
            .take(self.page_size as usize)
            .collect();
        (total, page)
    }
}

impl ModifyDateCondition {
    fn holds(&self, modify_date: NaiveDateTime) -> bool {
        if self.inclusive {
            modify_date >= self.bound
        } else {
            modify_date > self.bound
        }
    }
}

fn parse_condition(query: &CrmFindQuery) -> Result<ModifyDateCondition, String> {
    if query.logical_operator != CrmFindQuery::AND {
        return Err(format!(
            "logicalOperator {} is not supported; only 0 (and) is",
            query.logical_operator
        ));
    }
    if !query.leafs.is_empty() || query.leaf_negate {
        return Err("nested conditions (leafs, leafNegate) are not supported".to_owned());
    }
    if !query.field.eq_ignore_ascii_case(MODIFY_DATE_FIELD) {
        return Err(format!(
            "field {:?} is not supported; only {MODIFY_DATE_FIELD} is",
            query.field
        ));
    }
    let inclusive = match query.operator {
        CrmFindQuery::GREATER_THAN => false,
        CrmFindQuery::GREATER_OR_EQUAL => true,
        other => {
            return Err(format!(
                "operator {other} is not supported on {MODIFY_DATE_FIELD}; only 1 (greater \
                 than) and 2 (greater or equal) are"
            ));
        }
    };
    let Value::String(text) = &query.value else {
        return Err(format!(
            "value {} of {MODIFY_DATE_FIELD} is not a string",
            query.value
        ));
    };
    let bound = local_datetime::parse(text).map_err(|error| {
        format!("value {text:?} of {MODIFY_DATE_FIELD} is not a local date-time: {error}")
    })?;
    Ok(ModifyDateCondition { inclusive, bound })
}

fn parse_order(order: &CrmFindOrder) -> Result<SortDirection, String> {
    if !order.field.eq_ignore_ascii_case(MODIFY_DATE_FIELD) {
        return Err(format!(
            "order on {:?} is not supported; only {MODIFY_DATE_FIELD} is",
            order.field
        ));
    }
    match order.order {
        CrmFindOrder::ASCENDING => Ok(SortDirection::Ascending),
        CrmFindOrder::DESCENDING => Ok(SortDirection::Descending),
        other => Err(format!(
            "order {other} is not supported; only 0 (ascending) and 1 (descending) are"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn request(value: Value) -> CrmFindRequest {
        serde_json::from_value(value).unwrap()
    }

    fn modify_date_query(operator: u8, value: &str) -> Value {
        json!({"logicalOperator": 0, "field": "ModifyDate", "operator": operator,
               "value": value, "leafLogicalOperator": null, "leafNegate": false, "leafs": []})
    }

    #[test]
    fn client_request_is_accepted() {
        let plan = FindPlan::parse(&request(json!({
            "typeKey": "person",
            "queries": [modify_date_query(2, "2026-01-10T10:15:42.517")],
            "orders": [{"field": "ModifyDate", "order": 0}],
            "pageNumber": 1,
            "pageSize": 10,
        })))
        .unwrap();

        assert_eq!(plan.order, Some(SortDirection::Ascending));
        assert_eq!(plan.conditions.len(), 1);
        assert!(plan.conditions[0].inclusive);
    }

    #[test]
    fn unsupported_parts_are_rejected() {
        let base = json!({"typeKey": "person", "pageNumber": 1, "pageSize": 10});
        let cases = [
            (
                "queries",
                json!([modify_date_query(0, "2026-01-10T10:15:42")]),
                "operator 0",
            ),
            (
                "queries",
                json!([{"field": "FirstName", "operator": 2, "value": "x"}]),
                "FirstName",
            ),
            (
                "queries",
                json!([modify_date_query(2, "yesterday")]),
                "yesterday",
            ),
            (
                "queries",
                json!([{"logicalOperator": 1, "field": "ModifyDate", "operator": 2,
                        "value": "2026-01-10T10:15:42"}]),
                "logicalOperator 1",
            ),
            (
                "orders",
                json!([{"field": "CreatDate", "order": 0}]),
                "CreatDate",
            ),
            (
                "orders",
                json!([{"field": "ModifyDate", "order": 2}]),
                "order 2",
            ),
            ("pageNumber", json!(0), "first page is 1"),
            ("pageSize", json!(0), "pageSize"),
            ("typeKey", json!(""), "typeKey"),
        ];

        for (key, value, expected) in cases {
            let mut body = base.clone();
            body[key] = value;

            let error = FindPlan::parse(&request(body)).unwrap_err();

            assert!(error.contains(expected), "{key}: {error}");
        }
    }

    #[test]
    fn conditions_compare_inclusively_or_strictly() {
        let bound = local_datetime::parse("2026-01-10T10:15:42.517").unwrap();
        let at_or_after = ModifyDateCondition {
            inclusive: true,
            bound,
        };
        let after = ModifyDateCondition {
            inclusive: false,
            bound,
        };

        assert!(at_or_after.holds(bound));
        assert!(!after.holds(bound));
        assert!(after.holds(bound + chrono::TimeDelta::milliseconds(1)));
        assert!(!at_or_after.holds(bound - chrono::TimeDelta::milliseconds(1)));
    }
}
