//! Sales quotes in the simulator: the edit API's `NewQuote`, and the totals the CRM
//! computes for a quote's lines and header.
//!
//! Totals follow the arithmetic seen on a live one-line quote and in the vendor's invoice
//! models: `totalUnitPrice = baseUnitPrice × count`,
//! `totalVat = (totalUnitPrice − totalDiscount) × vatPercent / 100`,
//! `finalUnitPrice = (totalUnitPrice − totalDiscount + totalVat + totalToll) / count`, and
//! each header amount is the sum of the lines' amounts.

use chrono::NaiveDateTime;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

use crate::crm::{CrmId, CrmObjectFields, CrmQuote, CrmQuoteLine, decimal};

/// `crmObjectTypeIndex` of sales quotes.
const QUOTE_OBJECT_INDEX: i32 = 8;
/// Type id of every quote the simulator creates, whatever its type code.
const QUOTE_TYPE_ID: &str = "908c18c6-33a9-4676-bce3-0ab33fffb498";
/// Digits after the point that the CRM writes for money amounts.
const MONEY_SCALE: u32 = 2;
/// Digits after the point that the CRM writes for counts.
const COUNT_SCALE: u32 = 4;
/// Digits after the point that the CRM writes for line and total discount percents.
const PERCENT_SCALE: u32 = 1;

/// Sales quote as a CRM user enters it through the edit API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewQuote {
    /// Customer: the crmId of a person or organization.
    pub identity_id: CrmId,
    /// Code of the quote's type, such as `PI_5`.
    pub type_code: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub description: String,
    /// `quoteDate` in the CRM's local time. A new quote in the CRM has none.
    #[serde(default, with = "crate::crm::model::local_datetime::option")]
    pub quote_date: Option<NaiveDateTime>,
    pub lines: Vec<NewQuoteLine>,
}

/// One line of a [`NewQuote`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewQuoteLine {
    pub product_code: String,
    pub product_name: String,
    /// Unit name in Persian (`عدد`, `متر`, …).
    pub unit_name: String,
    /// Quantity, greater than zero. Stored with four decimals.
    #[serde(with = "decimal")]
    pub count: Decimal,
    /// Price of one unit before discount and tax.
    #[serde(with = "decimal")]
    pub unit_price: Decimal,
    /// Discount amount of the whole line (not a percent), from 0 to `count × unit_price`.
    #[serde(default, with = "decimal")]
    pub discount: Decimal,
}

/// Changes that `POST /sim/quotes/{id}` applies. `lines` replaces every line and
/// recomputes the totals.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct QuotePatch {
    pub subject: Option<String>,
    pub description: Option<String>,
    pub lines: Option<Vec<NewQuoteLine>>,
}

impl QuotePatch {
    /// Applies the patch. Fails, leaving `quote` unchanged, when a new line is invalid.
    pub fn apply(self, quote: &mut CrmQuote) -> Result<(), String> {
        if let Some(lines) = self.lines {
            let lines = lines.iter().map(build_line).collect::<Result<_, _>>()?;
            quote.details = lines;
            compute_totals(quote);
        }
        if let Some(subject) = self.subject {
            quote.object.subject = Some(subject).filter(|text| !text.is_empty());
        }
        if let Some(description) = self.description {
            quote.object.description = Some(description).filter(|text| !text.is_empty());
        }
        Ok(())
    }
}

/// Builds a stored quote from a [`NewQuote`], with its totals computed.
pub(crate) fn build_quote(
    new: &NewQuote,
    id: CrmId,
    stamp: NaiveDateTime,
    user_id: &str,
    vat_percent: Decimal,
) -> Result<CrmQuote, String> {
    if new.lines.is_empty() {
        return Err("a quote needs at least one line".to_owned());
    }
    let details = new.lines.iter().map(build_line).collect::<Result<_, _>>()?;
    let object = CrmObjectFields {
        crm_id: id,
        crm_object_type_index: Some(QUOTE_OBJECT_INDEX),
        crm_object_type_id: Some(QUOTE_TYPE_ID.to_owned()),
        crm_object_type_code: Some(new.type_code.clone()),
        crm_object_type_name: None,
        parent_crm_object_id: None,
        extended_properties: Vec::new(),
        creat_date: stamp,
        modify_date: stamp,
        tags: Vec::new(),
        ref_id: None,
        stage: None,
        stage_id: None,
        process_life_path_index: None,
        process_life_paths: Vec::new(),
        identity_id: Some(new.identity_id.clone()),
        description: Some(new.description.clone()).filter(|text| !text.is_empty()),
        subject: Some(new.subject.clone()).filter(|text| !text.is_empty()),
        color: None,
        creator_id: Some(user_id.to_owned()),
        modifier_id: Some(user_id.to_owned()),
        assigned_to_id: Some(user_id.to_owned()),
        crm_object_type_index_preview: None,
        identity_id_preview: None,
        creator_id_preview: None,
        modifier_id_preview: None,
        assigned_to_id_preview: None,
    };
    let mut quote = CrmQuote {
        price_list_name: String::new(),
        discount: Decimal::ZERO,
        vat: Decimal::ZERO,
        toll: Decimal::ZERO,
        additional_costs: None,
        total_value: Decimal::ZERO,
        quote_date: new.quote_date,
        expire_date: None,
        vat_percent: vat_percent.normalize(),
        toll_percent: Decimal::ZERO,
        quote_type: "Quote".to_owned(),
        details,
        discount_percent: money(Decimal::ZERO),
        total_discount_percent: Decimal::ZERO,
        final_value: Decimal::ZERO,
        number: String::new(),
        billable_object_state: None,
        billable_object_state_index: Some(1),
        object,
    };
    compute_totals(&mut quote);
    Ok(quote)
}

/// Builds a line with its base amount and discount. VAT and the final unit price depend on
/// the quote's VAT rate and are set by [`compute_totals`].
fn build_line(line: &NewQuoteLine) -> Result<CrmQuoteLine, String> {
    if line.count <= Decimal::ZERO {
        return Err(format!(
            "count {} of product {} must be greater than zero",
            line.count, line.product_code
        ));
    }
    if line.unit_price < Decimal::ZERO {
        return Err(format!(
            "unit_price {} of product {} is negative",
            line.unit_price, line.product_code
        ));
    }
    let count = scaled(line.count, COUNT_SCALE);
    let base_unit_price = money(line.unit_price);
    let total_unit_price = money(base_unit_price * count);
    let total_discount = money(line.discount);
    if total_discount < Decimal::ZERO || total_discount > total_unit_price {
        return Err(format!(
            "discount {} of product {} is outside 0..={total_unit_price}",
            line.discount, line.product_code
        ));
    }
    Ok(CrmQuoteLine {
        product_code: line.product_code.clone(),
        // NOTE: the simulator keeps no product catalogue, so the same product code gets a
        // new product id on every line.
        product_id: uuid::Uuid::new_v4().to_string(),
        product_name: line.product_name.clone(),
        is_service: false,
        base_unit_price,
        final_unit_price: Decimal::ZERO,
        count,
        returned_count: scaled(Decimal::ZERO, 1),
        total_unit_price,
        total_discount,
        total_vat: Decimal::ZERO,
        total_toll: money(Decimal::ZERO),
        discount_percent: percent_of(total_discount, total_unit_price),
        detail_description: String::new(),
        product_unit_type_name: line.unit_name.clone(),
        serial: None,
    })
}

/// Sets each line's VAT and final unit price from the quote's VAT rate, then the header
/// sums. Lines need a count greater than zero.
pub(crate) fn compute_totals(quote: &mut CrmQuote) {
    let hundred = Decimal::ONE_HUNDRED;
    for line in &mut quote.details {
        let net = line.total_unit_price - line.total_discount;
        line.total_vat = money(net * quote.vat_percent / hundred);
        let line_final = net + line.total_vat + line.total_toll;
        line.final_unit_price = money(line_final.checked_div(line.count).unwrap_or(Decimal::ZERO));
    }

    let sum = |amount: fn(&CrmQuoteLine) -> Decimal| -> Decimal {
        money(quote.details.iter().map(amount).sum())
    };
    let total_value = sum(|line| line.total_unit_price);
    let discount = sum(|line| line.total_discount);
    let vat = sum(|line| line.total_vat);
    let toll = sum(|line| line.total_toll);
    quote.total_value = total_value;
    quote.discount = discount;
    quote.vat = vat;
    quote.toll = toll;
    quote.final_value = money(total_value - discount + vat + toll);
    // NOTE: the meaning of `totalDiscountPercent` is undocumented. The simulator writes the
    // header discount as a percent of `totalValue`, which is what the one sample shows.
    quote.total_discount_percent = percent_of(discount, total_value);
}

/// Rounds a money amount to the CRM's two decimals, half away from zero.
// NOTE: how the CRM rounds a VAT or unit price with more than two decimals is unknown.
fn money(value: Decimal) -> Decimal {
    scaled(value, MONEY_SCALE)
}

fn scaled(value: Decimal, scale: u32) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(scale);
    rounded
}

/// Returns `part / whole × 100` with one decimal, or 0.0 when `whole` is zero.
fn percent_of(part: Decimal, whole: Decimal) -> Decimal {
    let percent = (part * Decimal::ONE_HUNDRED)
        .checked_div(whole)
        .unwrap_or(Decimal::ZERO);
    scaled(percent, PERCENT_SCALE)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use super::*;

    const QUOTE_FIXTURE: &str = include_str!("../fixtures/crm/quote_sales_get_response.json");

    fn number(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn fixture_lines() -> NewQuote {
        NewQuote {
            identity_id: CrmId::from("4bb1e60b-eb1b-46de-a8d3-e49ddb316e19"),
            type_code: "PI_5".to_owned(),
            subject: "پیش فاکتور آزمایشی".to_owned(),
            description: String::new(),
            quote_date: None,
            lines: vec![
                NewQuoteLine {
                    product_code: "P-1001".to_owned(),
                    product_name: "کالای نمونه یک".to_owned(),
                    unit_name: "عدد".to_owned(),
                    count: number("2"),
                    unit_price: number("1400000"),
                    discount: Decimal::ZERO,
                },
                NewQuoteLine {
                    product_code: "P-2040".to_owned(),
                    product_name: "کالای نمونه دو".to_owned(),
                    unit_name: "متر".to_owned(),
                    count: number("3.5"),
                    unit_price: number("200000"),
                    discount: number("70000"),
                },
            ],
        }
    }

    fn build(new: &NewQuote) -> CrmQuote {
        let stamp =
            NaiveDateTime::parse_from_str("2026-01-10T11:02:13", "%Y-%m-%dT%H:%M:%S").unwrap();
        build_quote(new, CrmId::from("q-1"), stamp, "user", Decimal::from(9)).unwrap()
    }

    #[test]
    fn fixture_lines_give_fixture_totals() {
        let expected: CrmQuote = serde_json::from_str(QUOTE_FIXTURE).unwrap();

        let quote = build(&fixture_lines());

        for (built, fixture) in quote.details.iter().zip(&expected.details) {
            assert_eq!(built.count.to_string(), fixture.count.to_string());
            assert_eq!(
                built.total_unit_price.to_string(),
                fixture.total_unit_price.to_string()
            );
            assert_eq!(built.total_vat.to_string(), fixture.total_vat.to_string());
            assert_eq!(
                built.final_unit_price.to_string(),
                fixture.final_unit_price.to_string()
            );
            assert_eq!(
                built.discount_percent.to_string(),
                fixture.discount_percent.to_string()
            );
        }
        assert_eq!(quote.total_value.to_string(), "3500000.00");
        assert_eq!(quote.discount.to_string(), "70000.00");
        assert_eq!(quote.vat.to_string(), "308700.00");
        assert_eq!(quote.final_value.to_string(), "3738700.00");
        assert_eq!(quote.total_discount_percent.to_string(), "2.0");
        assert_eq!(quote.vat_percent.to_string(), "9");
    }

    #[test]
    fn vat_is_rounded_to_two_decimals() {
        let mut new = fixture_lines();
        new.lines.truncate(1);
        new.lines[0].unit_price = number("0.05");
        new.lines[0].count = number("1");

        let quote = build(&new);

        // 0.05 × 9 % = 0.0045, rounded half away from zero.
        assert_eq!(quote.details[0].total_vat.to_string(), "0.00");
        assert_eq!(quote.final_value.to_string(), "0.05");
    }

    #[test]
    fn invalid_lines_are_rejected() {
        let stamp = NaiveDateTime::MIN;
        type Change = fn(&mut NewQuoteLine);
        let cases: [(&str, Change); 3] = [
            ("zero count", |line| line.count = Decimal::ZERO),
            ("negative price", |line| line.unit_price = number("-1")),
            ("discount above total", |line| {
                line.discount = number("2800000.01")
            }),
        ];

        for (case, change) in cases {
            let mut new = fixture_lines();
            change(&mut new.lines[0]);
            let result = build_quote(&new, CrmId::from("q"), stamp, "user", Decimal::from(9));
            assert!(result.is_err(), "{case}");
        }
    }

    #[test]
    fn quote_without_lines_is_rejected() {
        let mut new = fixture_lines();
        new.lines.clear();

        let result = build_quote(
            &new,
            CrmId::from("q"),
            NaiveDateTime::MIN,
            "u",
            Decimal::TEN,
        );

        assert!(result.is_err());
    }

    #[test]
    fn patch_replaces_lines_and_totals() {
        let mut quote = build(&fixture_lines());
        let mut lines = fixture_lines().lines;
        lines.remove(0);
        let patch = QuotePatch {
            lines: Some(lines),
            subject: Some(String::new()),
            ..QuotePatch::default()
        };

        patch.apply(&mut quote).unwrap();

        assert_eq!(quote.details.len(), 1);
        assert_eq!(quote.total_value.to_string(), "700000.00");
        assert_eq!(quote.final_value.to_string(), "686700.00");
        assert_eq!(quote.object.subject, None);
    }
}
