//! SaveFormData for the sales pre-invoice form `43D81`: header pairs in `ctrlValues`, lines
//! in the `sl_rizsanad` grid of `dataRows`.
//!
//! A save is checked in this order: header keys, customer, then each row (product, price,
//! quantity). The first failure rejects the whole save with one `ErrError`. A stored
//! pre-invoice gets the next document number, `ReturnCode` and `ReturnParams`. Saves are never
//! deduplicated unless `dedupe_on_suid` is set.

use rust_decimal::Decimal;

use super::forms::{Rejection, parse_pairs, value_of};
use super::state::{SimPreInvoice, SimPreInvoiceLine, SimState};
use super::wire::{GridBody, SaveFormBody, SaveFormReply};

/// Form id of the sales pre-invoice form.
pub(super) const PREINVOICE_FORM_ID: &str = "43D81";

/// Siagh's reply text when `codemoshtari` is not a known contact: its form script fails to
/// read the `Code` field. It starts with a space and contains line breaks, as Siagh sends it.
pub const RUNTIME_ERROR_MESSAGE: &str = " پیامهای سرویس : RUNTIME ERROR\nField 'Code' not found when evaluating instruction CallProc ($FFFFFFFF,$1,$1E888D0,$0,'FieldByName').\nStack content is: [Null,Null,0,97227280...].\nSource position: 218,84\nPosition: 218, 84";

/// Siagh's text for a price that is not positive on row `{row}` ("the price of row {row} is
/// not entered correctly"), sent with `ColName: "Price"`.
pub const INVALID_PRICE_MESSAGE: &str = "قیمت ردیف {row} درست وارد نشده است";

/// Text for an unknown product code on row `{row}` ("the product of row {row} was not
/// found"). NOTE: assumed wording, because Siagh's text for this case is not known.
const UNKNOWN_PRODUCT_MESSAGE: &str = "کالای ردیف {row} یافت نشد";

/// Text for a quantity that is not positive on row `{row}` ("the quantity of row {row} is not
/// entered correctly"). NOTE: assumed wording, modelled on the invalid-price text.
const INVALID_QUANTITY_MESSAGE: &str = "مقدار ردیف {row} درست وارد نشده است";

/// Header keys form `43D81` accepts: those of Siagh's sample request.
const HEADER_KEYS: &[&str] = &[
    "sl_sanad.hssanadstate",
    "sl_sanad.codenoeesanad",
    "sl_sanad.codesalemodel",
    "sl_sanad.salmali",
    "sl_sanad.codenoeepardakht",
    "sl_sanad.codemarkazforush",
    "sl_sanad.codecontact",
    "sl_sanad.codemoshtari",
    "sl_sanad.codenoeeforush",
    "sl_sanad.codevaseteh",
    "sl_sanad.tozihat",
    "sl_sanad.namenoesanad",
];

/// Checks and stores a pre-invoice, returning the success reply or the rejection.
pub(super) fn save_preinvoice(
    state: &mut SimState,
    body: &SaveFormBody,
) -> Result<SaveFormReply, Rejection> {
    let header = parse_pairs(&body.ctrl_values, "ctrlValues")?;
    if let Some((key, _)) = header
        .iter()
        .find(|(key, _)| !HEADER_KEYS.contains(&key.as_str()))
    {
        return Err(Rejection::new(format!(
            "فیلد «{key}» در فرم {PREINVOICE_FORM_ID} تعریف نشده است."
        )));
    }
    let parameters = parse_pairs(&body.parameters, "parameters")?;
    let suid = value_of(&parameters, "_In_Suid")
        .unwrap_or_default()
        .to_owned();

    if state.config.dedupe_on_suid
        && !suid.is_empty()
        && let Some(earlier) = state.preinvoices.iter().find(|p| p.suid == suid)
    {
        tracing::debug!(
            siagh.document_number = earlier.number,
            "simulator returned the earlier pre-invoice for a repeated _In_Suid"
        );
        return Ok(success_reply(earlier));
    }

    let customer_code = value_of(&header, "sl_sanad.codemoshtari")
        .and_then(|code| code.trim().parse::<i64>().ok())
        .filter(|code| state.contacts.contains_key(code))
        .ok_or_else(|| Rejection::new(RUNTIME_ERROR_MESSAGE.to_owned()))?;

    let lines = parse_lines(state, &body.data_rows)?;
    let net = lines
        .iter()
        .map(|line| line.quantity * line.unit_price - line.discount)
        .sum();

    let preinvoice = SimPreInvoice {
        number: state.next_preinvoice_number,
        return_code: state.next_preinvoice_return_code,
        return_params: state.next_preinvoice_return_params,
        customer_code,
        suid,
        header,
        lines,
        net,
    };
    state.next_preinvoice_number += 1;
    state.next_preinvoice_return_code += 1;
    state.next_preinvoice_return_params += 1;
    state.counters.preinvoice_creates += 1;

    let reply = success_reply(&preinvoice);
    state.preinvoices.push(preinvoice);
    Ok(reply)
}

/// Reads and checks the rows of the `sl_rizsanad` grid.
fn parse_lines(state: &SimState, data_rows: &str) -> Result<Vec<SimPreInvoiceLine>, Rejection> {
    let grids: Vec<GridBody> = serde_json::from_str(data_rows)
        .map_err(|error| Rejection::new(format!("dataRows نامعتبر است: {error}")))?;
    let Some(grid) = grids.into_iter().find(|grid| grid.entity == "sl_rizsanad") else {
        return Err(Rejection::new(
            "جدول sl_rizsanad در dataRows یافت نشد.".to_owned(),
        ));
    };
    tracing::trace!(grid.name = %grid.name, grid.key_field = %grid.key_field, "pre-invoice grid");

    let mut lines = Vec::with_capacity(grid.data.len());
    for (index, row) in grid.data.into_iter().enumerate() {
        if row.status.new_value != "inserted" {
            return Err(Rejection::new(format!(
                "وضعیت «{}» برای ردیف {} پشتیبانی نمی شود.",
                row.status.new_value,
                index + 1
            )));
        }
        // Errors name the row by its `radif`, falling back to its position.
        let row_label = match row.radif.new_value.trim().parse::<u32>() {
            Ok(radif) => radif.to_string(),
            Err(_) => (index + 1).to_string(),
        };
        let row_text = |template: &str| template.replace("{row}", &row_label);

        if !state.products.contains(row.codekala.new_value.trim()) {
            return Err(Rejection::new(row_text(UNKNOWN_PRODUCT_MESSAGE)));
        }
        if row.price.new_value <= Decimal::ZERO {
            return Err(Rejection {
                description: row_text(INVALID_PRICE_MESSAGE),
                col_name: "Price",
            });
        }
        if row.qty.new_value <= Decimal::ZERO {
            return Err(Rejection::new(row_text(INVALID_QUANTITY_MESSAGE)));
        }

        lines.push(SimPreInvoiceLine {
            product_code: row.codekala.new_value,
            unit_name: row.nameunit.new_value,
            quantity: row.qty.new_value,
            unit_price: row.price.new_value,
            discount: row.mabtakhfif.new_value,
            final_quantity: row.finalqty.new_value,
            line_number: row.radif.new_value,
        });
    }
    Ok(lines)
}

/// Builds the success reply of a stored pre-invoice.
fn success_reply(preinvoice: &SimPreInvoice) -> SaveFormReply {
    let summary = format!(
        "پیش فاکتور فروش با موفقیت به شماره {} ثبت گردید",
        preinvoice.number
    );
    let note = format!("{summary} خالص سند: {}", group_thousands(preinvoice.net));
    SaveFormReply::noted(
        note,
        summary,
        preinvoice.return_code,
        preinvoice.return_params,
    )
}

/// Formats `amount` with `,` between groups of three digits and without a fraction when it
/// is whole: `5700000` → `5,700,000`, `1234.50` → `1,234.5`.
fn group_thousands(amount: Decimal) -> String {
    let text = amount.normalize().to_string();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };

    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use super::*;
    use crate::sim::siagh::SiaghSimConfig;
    use crate::sim::siagh::forms::save_form;

    const REQUEST_FIXTURE: &str = include_str!("../fixtures/siagh/preinvoice-create-request.json");
    const SUCCESS_FIXTURE: &str =
        include_str!("../fixtures/siagh/preinvoice-create-success-response.json");
    const INVALID_PRICE_FIXTURE: &str =
        include_str!("../fixtures/siagh/error-invalid-price-response.json");
    const RUNTIME_FIXTURE: &str = include_str!("../fixtures/siagh/error-runtime-response.json");

    fn state(config: SiaghSimConfig) -> SimState {
        SimState::new(config).unwrap()
    }

    fn fixture_body() -> SaveFormBody {
        serde_json::from_str(REQUEST_FIXTURE).unwrap()
    }

    fn pretty(reply: &SaveFormReply) -> String {
        serde_json::to_string_pretty(reply).unwrap()
    }

    fn description(reply: &SaveFormReply) -> &str {
        reply
            .errors
            .first()
            .map(|item| item.description.as_str())
            .unwrap_or_default()
    }

    #[test]
    fn fixture_request_gets_fixture_reply() {
        let mut state = state(SiaghSimConfig::default());

        let reply = save_form(&mut state, &fixture_body());

        assert_eq!(pretty(&reply), SUCCESS_FIXTURE.trim_end());
        assert_eq!(state.counters.preinvoice_creates, 1);
    }

    #[test]
    fn fixture_lines_are_stored_exactly() {
        let mut state = state(SiaghSimConfig::default());

        save_form(&mut state, &fixture_body());

        let stored = &state.preinvoices[0];
        assert_eq!(stored.number, 2501);
        assert_eq!(stored.customer_code, 8401);
        assert_eq!(stored.suid, "0F1E2D3C4B5A49688778695A4B3C2D1E");
        assert_eq!(stored.header_value("sl_sanad.salmali"), Some("1404"));
        assert_eq!(stored.lines.len(), 2);
        assert_eq!(stored.lines[1].product_code, "500100002");
        assert_eq!(stored.lines[1].unit_name, "قطعه");
        assert_eq!(stored.lines[1].discount, Decimal::from(20_000));
        assert_eq!(stored.lines[1].line_number, "2");
        assert_eq!(stored.net, Decimal::from(5_700_000));
    }

    #[test]
    fn numbers_are_sequential_without_dedupe() {
        let mut state = state(SiaghSimConfig::default());

        let first = save_form(&mut state, &fixture_body());
        let second = save_form(&mut state, &fixture_body());

        assert_eq!(first.return_code, "15460");
        assert_eq!(second.return_code, "15461");
        assert_eq!(second.return_params, "458651");
        assert!(second.final_messages[0].contains("2502"));
        assert_eq!(state.preinvoices.len(), 2);
    }

    #[test]
    fn dedupe_on_suid_returns_earlier_reply() {
        let mut state = state(SiaghSimConfig {
            dedupe_on_suid: true,
            ..Default::default()
        });

        let first = save_form(&mut state, &fixture_body());
        let second = save_form(&mut state, &fixture_body());

        assert_eq!(pretty(&first), pretty(&second));
        assert_eq!(state.preinvoices.len(), 1);
        assert_eq!(state.counters.preinvoice_creates, 1);
    }

    #[test]
    fn unknown_customer_gets_runtime_error_fixture() {
        let mut state = state(SiaghSimConfig::default());
        let mut body = fixture_body();
        body.ctrl_values = body
            .ctrl_values
            .replace("codemoshtari=8401", "codemoshtari=9999");

        let reply = save_form(&mut state, &body);

        assert_eq!(pretty(&reply), RUNTIME_FIXTURE.trim_end());
        assert_eq!(state.counters.rejected_saves, 1);
        assert!(state.preinvoices.is_empty());
    }

    #[test]
    fn empty_customer_gets_runtime_error() {
        let mut state = state(SiaghSimConfig::default());
        let mut body = fixture_body();
        body.ctrl_values = body
            .ctrl_values
            .replace("codemoshtari=8401", "codemoshtari=");

        let reply = save_form(&mut state, &body);

        assert_eq!(description(&reply), RUNTIME_ERROR_MESSAGE);
    }

    #[test]
    fn zero_price_on_row_1_matches_fixture() {
        let mut state = state(SiaghSimConfig::default());
        let mut body = fixture_body();
        body.data_rows = body.data_rows.replace(
            r#""price":{"oldValue":null,"newValue":2500000}"#,
            r#""price":{"oldValue":null,"newValue":0}"#,
        );

        let reply = save_form(&mut state, &body);

        assert_eq!(pretty(&reply), INVALID_PRICE_FIXTURE.trim_end());
    }

    #[test]
    fn negative_price_names_its_row() {
        let mut state = state(SiaghSimConfig::default());
        let mut body = fixture_body();
        body.data_rows = body
            .data_rows
            .replace(r#""newValue":720000"#, r#""newValue":-1"#);

        let reply = save_form(&mut state, &body);

        assert_eq!(description(&reply), "قیمت ردیف 2 درست وارد نشده است");
        assert_eq!(reply.errors[0].col_name, "Price");
    }

    #[test]
    fn unknown_product_names_its_row() {
        let mut state = state(SiaghSimConfig::default());
        let mut body = fixture_body();
        body.data_rows = body.data_rows.replace("500100002", "999999999");

        let reply = save_form(&mut state, &body);

        assert_eq!(description(&reply), "کالای ردیف 2 یافت نشد");
        assert!(!reply.return_value);
    }

    #[test]
    fn zero_quantity_names_its_row() {
        let mut state = state(SiaghSimConfig::default());
        let mut body = fixture_body();
        body.data_rows = body.data_rows.replace(
            r#""qty":{"oldValue":null,"newValue":1}"#,
            r#""qty":{"oldValue":null,"newValue":0}"#,
        );

        let reply = save_form(&mut state, &body);

        assert_eq!(description(&reply), "مقدار ردیف 2 درست وارد نشده است");
        assert_eq!(state.counters.preinvoice_creates, 0);
    }

    #[test]
    fn unknown_header_key_is_rejected() {
        let mut state = state(SiaghSimConfig::default());
        let mut body = fixture_body();
        body.ctrl_values.push_str("|sl_sanad.unknown=1");

        let reply = save_form(&mut state, &body);

        assert!(description(&reply).contains("sl_sanad.unknown"));
    }

    #[test]
    fn invalid_data_rows_are_rejected() {
        let mut state = state(SiaghSimConfig::default());
        let mut body = fixture_body();
        body.data_rows = "[{]".to_owned();

        let reply = save_form(&mut state, &body);

        assert!(!reply.return_value);
        assert!(description(&reply).starts_with("dataRows"));
    }

    #[test]
    fn thousands_are_grouped() {
        let cases = [
            ("0", "0"),
            ("999", "999"),
            ("1000", "1,000"),
            ("5700000", "5,700,000"),
            ("5700000.00", "5,700,000"),
            ("1234.50", "1,234.5"),
            ("-1234567", "-1,234,567"),
        ];
        for (amount, expected) in cases {
            assert_eq!(
                group_thousands(Decimal::from_str(amount).unwrap()),
                expected,
                "{amount}"
            );
        }
    }
}
