//! Sales quote (پیش‌فاکتور فروش) as returned by `quote/sales/get`.
//!
//! Every amount, count and percent is a [`Decimal`] read from the JSON number's text, so
//! `100000.00` and `1.0000` keep their value and scale. Strings that the CRM sends as `""`
//! when unset stay `""` here, so a quote serializes back to the JSON it was read from.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::decimal;
use super::model::{CrmId, CrmObjectFields, local_datetime, null_as_default};

/// Sales quote: header amounts, lines and the base fields of every CRM record.
///
/// Header totals as the CRM computes them, inferred from one live sample without discount
/// and from the vendor's invoice models:
/// `totalValue = Σ totalUnitPrice`, `discount = Σ totalDiscount`, `vat = Σ totalVat`,
/// `toll = Σ totalToll`, `finalValue = totalValue − discount + vat + toll`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmQuote {
    #[serde(default, deserialize_with = "null_as_default")]
    pub price_list_name: String,
    /// Sum of the lines' discount amounts.
    #[serde(with = "decimal")]
    pub discount: Decimal,
    /// Sum of the lines' VAT amounts.
    #[serde(with = "decimal")]
    pub vat: Decimal,
    /// Sum of the lines' toll amounts.
    #[serde(with = "decimal")]
    pub toll: Decimal,
    /// `null` on every quote seen. Whether it adds to `finalValue` is unknown.
    #[serde(default, with = "decimal::option")]
    pub additional_costs: Option<Decimal>,
    /// Sum of the lines' `totalUnitPrice`, before discount and tax.
    #[serde(with = "decimal")]
    pub total_value: Decimal,
    /// Quote date in the CRM server's local time, `null` on a fresh quote.
    #[serde(default, with = "local_datetime::option")]
    pub quote_date: Option<NaiveDateTime>,
    /// Expiry in the CRM server's local time, `null` on a fresh quote.
    #[serde(default, with = "local_datetime::option")]
    pub expire_date: Option<NaiveDateTime>,
    /// VAT rate in percent (`9`).
    #[serde(with = "decimal")]
    pub vat_percent: Decimal,
    /// Toll rate in percent.
    #[serde(with = "decimal")]
    pub toll_percent: Decimal,
    /// `Quote` on every sales quote seen.
    #[serde(default, deserialize_with = "null_as_default")]
    pub quote_type: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub details: Vec<CrmQuoteLine>,
    /// Header discount percent. Its meaning is undocumented.
    #[serde(with = "decimal")]
    pub discount_percent: Decimal,
    /// Undocumented. The fixture's value equals `discount / totalValue × 100`.
    #[serde(with = "decimal")]
    pub total_discount_percent: Decimal,
    /// Amount payable: `totalValue − discount + vat + toll`.
    #[serde(with = "decimal")]
    pub final_value: Decimal,
    /// Quote number, `""` until the quote is numbered.
    #[serde(default, deserialize_with = "null_as_default")]
    pub number: String,
    /// State name, `null` on a fresh quote.
    #[serde(default)]
    pub billable_object_state: Option<String>,
    /// State index, `1` on a fresh quote. The mapping to states is undocumented.
    #[serde(default)]
    pub billable_object_state_index: Option<i32>,
    #[serde(flatten)]
    pub object: CrmObjectFields,
}

impl CrmQuote {
    /// Returns the quote's `crmId`.
    pub fn id(&self) -> &CrmId {
        &self.object.crm_id
    }

    /// Returns the customer's id (`identityId`), if set.
    pub fn customer_id(&self) -> Option<&CrmId> {
        self.object.identity_id.as_ref()
    }
}

/// One quote line (`details[]`), in display order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmQuoteLine {
    /// Admin-defined product code, the finance system's item code.
    #[serde(default, deserialize_with = "null_as_default")]
    pub product_code: String,
    /// Product GUID.
    #[serde(default, deserialize_with = "null_as_default")]
    pub product_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub product_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_service: bool,
    /// Unit price before discount and tax.
    #[serde(with = "decimal")]
    pub base_unit_price: Decimal,
    /// Unit price after discount and tax:
    /// `(totalUnitPrice − totalDiscount + totalVat + totalToll) / count`.
    #[serde(with = "decimal")]
    pub final_unit_price: Decimal,
    /// Quantity, four decimals on the wire, may be fractional.
    #[serde(with = "decimal")]
    pub count: Decimal,
    /// Quantity returned.
    #[serde(with = "decimal")]
    pub returned_count: Decimal,
    /// `baseUnitPrice × count`.
    #[serde(with = "decimal")]
    pub total_unit_price: Decimal,
    /// Line discount amount.
    #[serde(with = "decimal")]
    pub total_discount: Decimal,
    /// Line VAT amount: `(totalUnitPrice − totalDiscount) × vatPercent / 100`.
    #[serde(with = "decimal")]
    pub total_vat: Decimal,
    /// Line toll amount.
    #[serde(with = "decimal")]
    pub total_toll: Decimal,
    /// Line discount in percent of `totalUnitPrice`.
    #[serde(with = "decimal")]
    pub discount_percent: Decimal,
    #[serde(default, deserialize_with = "null_as_default")]
    pub detail_description: String,
    /// Unit name in Persian (`قطعه`, `عدد`, `متر`, …).
    #[serde(default, deserialize_with = "null_as_default")]
    pub product_unit_type_name: String,
    #[serde(default)]
    pub serial: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use super::*;

    const QUOTE_GET: &str = include_str!("../sim/fixtures/crm/quote_sales_get_response.json");

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn fixture_parses_header_and_base_fields() {
        let quote: CrmQuote = serde_json::from_str(QUOTE_GET).unwrap();

        assert_eq!(quote.id().as_str(), "e1ede8e5-4a54-4ad8-8c72-be9a955348a7");
        assert_eq!(
            quote.customer_id().map(CrmId::as_str),
            Some("4bb1e60b-eb1b-46de-a8d3-e49ddb316e19")
        );
        assert_eq!(quote.object.crm_object_type_code.as_deref(), Some("PI_5"));
        assert_eq!(quote.object.crm_object_type_index, Some(8));
        assert_eq!(quote.quote_type, "Quote");
        assert_eq!(quote.number, "");
        assert_eq!(quote.additional_costs, None);
        assert_eq!(quote.quote_date, None);
        assert_eq!(quote.billable_object_state, None);
        assert_eq!(quote.billable_object_state_index, Some(1));
        assert_eq!(quote.total_value.to_string(), "3500000.00");
        assert_eq!(quote.discount.to_string(), "70000.00");
        assert_eq!(quote.vat.to_string(), "308700.00");
        assert_eq!(quote.final_value.to_string(), "3738700.00");
        assert_eq!(quote.vat_percent, Decimal::from(9));
        assert_eq!(quote.total_discount_percent.to_string(), "2.0");
    }

    #[test]
    fn fixture_lines_keep_exact_decimals() {
        let quote: CrmQuote = serde_json::from_str(QUOTE_GET).unwrap();

        assert_eq!(quote.details.len(), 2);
        let second = &quote.details[1];
        assert_eq!(second.product_code, "P-2040");
        assert_eq!(second.product_unit_type_name, "متر");
        assert_eq!(second.count.to_string(), "3.5000");
        assert_eq!(second.count, dec("3.5"));
        assert_eq!(second.base_unit_price.to_string(), "200000.00");
        assert_eq!(second.total_discount.to_string(), "70000.00");
        assert_eq!(second.discount_percent.to_string(), "10.0");
        assert_eq!(second.final_unit_price.to_string(), "196200.00");
        assert_eq!(second.serial, None);
        assert!(!second.is_service);
    }

    #[test]
    fn count_and_amount_parse_exactly() {
        let text = QUOTE_GET
            .replace(r#""count": 2.0000"#, r#""count": 1.0000"#)
            .replace(r#""totalValue": 3500000.00"#, r#""totalValue": 100000.00"#);

        let quote: CrmQuote = serde_json::from_str(&text).unwrap();

        assert_eq!(quote.details[0].count.to_string(), "1.0000");
        assert_eq!(quote.details[0].count, Decimal::ONE);
        assert_eq!(quote.total_value.to_string(), "100000.00");
        assert_eq!(quote.total_value, Decimal::from(100_000));
    }

    #[test]
    fn fixture_totals_follow_line_formulas() {
        let quote: CrmQuote = serde_json::from_str(QUOTE_GET).unwrap();
        let hundred = Decimal::from(100);

        for line in &quote.details {
            assert_eq!(line.total_unit_price, line.base_unit_price * line.count);
            assert_eq!(
                line.total_vat,
                (line.total_unit_price - line.total_discount) * quote.vat_percent / hundred
            );
            assert_eq!(
                line.final_unit_price,
                (line.total_unit_price - line.total_discount + line.total_vat + line.total_toll)
                    / line.count
            );
        }
        let sum = |field: fn(&CrmQuoteLine) -> Decimal| -> Decimal {
            quote.details.iter().map(field).sum()
        };
        assert_eq!(quote.total_value, sum(|line| line.total_unit_price));
        assert_eq!(quote.discount, sum(|line| line.total_discount));
        assert_eq!(quote.vat, sum(|line| line.total_vat));
        assert_eq!(
            quote.final_value,
            quote.total_value - quote.discount + quote.vat + quote.toll
        );
    }

    #[test]
    fn quote_serializes_numbers_with_scale() {
        let quote: CrmQuote = serde_json::from_str(QUOTE_GET).unwrap();

        let text = serde_json::to_string(&quote).unwrap();

        assert!(text.contains(r#""totalValue":3500000.00"#), "{text}");
        assert!(text.contains(r#""count":3.5000"#), "{text}");
        assert!(text.contains(r#""vatPercent":9,"#), "{text}");
        assert!(text.contains(r#""returnedCount":0.0,"#), "{text}");
        assert!(text.contains(r#""additionalCosts":null"#), "{text}");
        let again: CrmQuote = serde_json::from_str(&text).unwrap();
        assert_eq!(again, quote);
    }
}
