//! Adapter from a CRM sales quote to the Siagh pre-invoice form.
//!
//! Amounts stay decimals from the CRM's JSON to Siagh's. The sale model and sales centre come
//! from the quote's type code: an entry of the configured table first, since installations
//! name their types freely (`Productinvoice` was seen), then the `PI_<n>` convention.

use std::collections::HashMap;

use crate::crm::CrmQuote;
use crate::siagh::{PreInvoiceForm, PreInvoiceLine, SiaghCode};

/// Header values of every pre-invoice that no quote field decides; operators set them per
/// installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreInvoiceDefaults {
    /// `sl_sanad.codenoeesanad`: 2 is a sales pre-invoice.
    pub document_type: String,
    /// `sl_sanad.codenoeepardakht`: 1 cash, 2 cheque, …
    pub payment_type: String,
    /// `sl_sanad.codenoeeforush`: 1 informal sale, …
    pub sale_type: String,
    /// `sl_sanad.codevaseteh`: the intermediary (broker) code.
    pub intermediary: String,
}

impl Default for PreInvoiceDefaults {
    fn default() -> Self {
        let form = PreInvoiceForm::default();
        Self {
            document_type: form.document_type,
            payment_type: form.payment_type,
            sale_type: form.sale_type,
            intermediary: form.intermediary,
        }
    }
}

/// Unit name sent when a quote line names none.
const DEFAULT_UNIT_NAME: &str = "عدد";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteMappingError {
    #[error(
        "quote type code {code:?} names no sale model: it does not follow PI_<number> and is \
         not in the sale model table; add it to the table (type code = sale model)"
    )]
    UnknownTypeCode { code: String },
    #[error(
        "quote type code {code:?} names sale model {digits}, which is invalid: Siagh's sale \
         models are numbered from 1; map the code in the sale model table (QUOTE_SALE_MODELS)"
    )]
    InvalidSaleModel { code: String, digits: String },
    #[error("the quote has no lines; a pre-invoice needs at least one")]
    NoLines,
    #[error("line {line} has no product code; give the product a code that Siagh knows")]
    MissingProductCode { line: u32 },
}

/// Returns the sale model of a quote type: the table's entry, else the number after `PI_`
/// without leading zeros.
pub fn sale_model(
    type_code: &str,
    table: &HashMap<String, String>,
) -> Result<String, QuoteMappingError> {
    if let Some(model) = table.get(type_code) {
        return Ok(model.clone());
    }
    let digits = type_code
        .strip_prefix("PI_")
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| QuoteMappingError::UnknownTypeCode {
            code: type_code.to_owned(),
        })?;
    match digits.parse::<u32>() {
        Ok(model) if model >= 1 => Ok(model.to_string()),
        _ => Err(QuoteMappingError::InvalidSaleModel {
            code: type_code.to_owned(),
            digits: digits.to_owned(),
        }),
    }
}

/// Builds the pre-invoice of `quote` for the Siagh contact `customer` in `fiscal_year`.
pub fn to_preinvoice(
    quote: &CrmQuote,
    customer: SiaghCode,
    fiscal_year: i32,
    sale_models: &HashMap<String, String>,
    defaults: &PreInvoiceDefaults,
) -> Result<PreInvoiceForm, QuoteMappingError> {
    let type_code = quote
        .object
        .crm_object_type_code
        .as_deref()
        .unwrap_or_default();
    let model = sale_model(type_code, sale_models)?;
    if quote.details.is_empty() {
        return Err(QuoteMappingError::NoLines);
    }
    let mut lines = Vec::with_capacity(quote.details.len());
    for (index, detail) in quote.details.iter().enumerate() {
        let line_number = index as u32 + 1;
        if detail.product_code.trim().is_empty() {
            return Err(QuoteMappingError::MissingProductCode { line: line_number });
        }
        let unit_name = match detail.product_unit_type_name.trim() {
            "" => DEFAULT_UNIT_NAME.to_owned(),
            name => name.to_owned(),
        };
        lines.push(PreInvoiceLine {
            product_code: detail.product_code.trim().to_owned(),
            unit_name,
            quantity: detail.count,
            unit_price: detail.base_unit_price,
            discount: detail.total_discount,
            line_number,
        });
    }
    let description = [&quote.object.description, &quote.object.subject]
        .into_iter()
        .flatten()
        .map(|text| text.trim())
        .find(|text| !text.is_empty())
        .unwrap_or_default()
        .to_owned();
    Ok(PreInvoiceForm {
        sale_model: model.clone(),
        sales_center: model,
        fiscal_year: Some(fiscal_year),
        customer_code: customer.to_string(),
        description,
        document_name: format!("{} {type_code}", crate::siagh::DEFAULT_DOCUMENT_NAME),
        lines,
        document_type: defaults.document_type.clone(),
        payment_type: defaults.payment_type.clone(),
        sale_type: defaults.sale_type.clone(),
        intermediary: defaults.intermediary.clone(),
        ..PreInvoiceForm::default()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use rust_decimal::Decimal;

    use super::*;

    fn fixture() -> CrmQuote {
        serde_json::from_str(include_str!(
            "../sim/fixtures/crm/quote_sales_get_response.json"
        ))
        .unwrap()
    }

    fn decimal(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn sale_model_follows_the_table_then_the_convention() {
        let table = HashMap::from([("Productinvoice".to_owned(), "3".to_owned())]);

        assert_eq!(sale_model("PI_5", &table).unwrap(), "5");
        assert_eq!(sale_model("PI_12", &table).unwrap(), "12");
        assert_eq!(sale_model("PI_05", &table).unwrap(), "5");
        assert_eq!(sale_model("Productinvoice", &table).unwrap(), "3");
        for code in ["Productinvoice2", "PI_", "PI_x", "pi_5", ""] {
            assert!(sale_model(code, &table).is_err(), "{code:?}");
        }
        for code in ["PI_0", "PI_000", "PI_99999999999"] {
            let error = sale_model(code, &table).unwrap_err();
            assert!(
                matches!(error, QuoteMappingError::InvalidSaleModel { .. }),
                "{code:?}: {error}"
            );
        }
    }

    #[test]
    fn fixture_quote_maps_to_a_two_line_preinvoice() {
        let form = to_preinvoice(
            &fixture(),
            SiaghCode(8402),
            1404,
            &HashMap::new(),
            &Default::default(),
        )
        .unwrap();

        assert_eq!(form.sale_model, "5");
        assert_eq!(form.sales_center, "5");
        assert_eq!(form.customer_code, "8402");
        assert_eq!(form.fiscal_year, Some(1404));
        assert_eq!(form.document_name, "پیش فاکتور فروش PI_5");
        assert_eq!(
            form.description,
            "شرکت نمونه‌سازان آزمون(مشتری) - 100-1006(پیش فاکتور فروش)"
        );
        assert_eq!(form.payment_type, "2");
        assert_eq!(form.intermediary, "31");
        assert_eq!(form.lines.len(), 2);
        let second = &form.lines[1];
        assert_eq!(second.product_code, "P-2040");
        assert_eq!(second.unit_name, "متر");
        assert_eq!(second.quantity, decimal("3.5"));
        assert_eq!(second.unit_price, decimal("200000"));
        assert_eq!(second.discount, decimal("70000"));
        assert_eq!(second.line_number, 2);
    }

    #[test]
    fn configured_header_values_are_used() {
        let defaults = PreInvoiceDefaults {
            document_type: "2".into(),
            payment_type: "1".into(),
            sale_type: "3".into(),
            intermediary: "12".into(),
        };

        let form = to_preinvoice(
            &fixture(),
            SiaghCode(8402),
            1404,
            &HashMap::new(),
            &defaults,
        )
        .unwrap();

        assert_eq!(form.payment_type, "1");
        assert_eq!(form.sale_type, "3");
        assert_eq!(form.intermediary, "12");
    }

    #[test]
    fn line_without_product_code_is_named() {
        let mut quote = fixture();
        quote.details[1].product_code = " ".into();

        let error = to_preinvoice(
            &quote,
            SiaghCode(1),
            1404,
            &HashMap::new(),
            &Default::default(),
        )
        .unwrap_err();

        assert_eq!(error, QuoteMappingError::MissingProductCode { line: 2 });
    }

    #[test]
    fn quote_without_lines_is_rejected() {
        let mut quote = fixture();
        quote.details.clear();

        let error = to_preinvoice(
            &quote,
            SiaghCode(1),
            1404,
            &HashMap::new(),
            &Default::default(),
        )
        .unwrap_err();

        assert_eq!(error, QuoteMappingError::NoLines);
    }
}
