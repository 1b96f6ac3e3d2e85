//! Builds SaveFormData requests for the Siagh sales pre-invoice form (`43D81`: header table
//! `sl_sanad`, line table `sl_rizsanad`) and reads the document number from its reply.
//!
//! Header values go into `ctrlValues` and are cleaned like contact values (`|` → `¦`,
//! control characters → space). Lines go into `dataRows` as the compact JSON text of one
//! grid. Inside a row `qty`, `price`, `mabtakhfif` and `finalqty` are JSON numbers written
//! from [`Decimal`] without a float round trip, while `vazn`, `hajm` and `radif` are strings,
//! the types of Siagh's own sample request.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;

use super::decimal::to_json_number;
use super::error::Error;
use super::form::{CtrlValues, POST_CODE, append_sanitized};
use super::model::{SaveFormRequest, SaveFormResponse};

/// Form id of the sales pre-invoice form.
pub const PREINVOICE_FORM_ID: &str = "43D81";

/// `namenoesanad` of Siagh's sample request without its sale-model suffix: "sales pre-invoice".
pub const DEFAULT_DOCUMENT_NAME: &str = "پیش فاکتور فروش";

/// The word "number" that precedes the document number in the success message.
const NUMBER_WORD: &str = "شماره";

/// Header and lines of a sales pre-invoice.
///
/// Codes are kept as text because Siagh reads every `ctrlValues` value as text and several
/// of these codes are installation-specific. An empty string writes an empty value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreInvoiceForm {
    /// `sl_sanad.codenoeesanad`: document type, `2` for a sales pre-invoice.
    pub document_type: String,
    /// `sl_sanad.hssanadstate`: document state; every known request sends `8`.
    pub state: String,
    /// `sl_sanad.codesalemodel`: sale model (1 to 6 on known installations).
    pub sale_model: String,
    /// `sl_sanad.salmali`: Jalali fiscal year. `None` uses the `FiscalYear` of the current
    /// login.
    pub fiscal_year: Option<i32>,
    /// `sl_sanad.codenoeepardakht`: payment type, 1 cash, 2 cheque.
    pub payment_type: String,
    /// `sl_sanad.codemarkazforush`: sales centre.
    pub sales_center: String,
    /// `sl_sanad.codecontact`: contact person code, usually empty.
    pub contact_code: String,
    /// `sl_sanad.codemoshtari`: the customer's Siagh contact `Code`.
    pub customer_code: String,
    /// `sl_sanad.codenoeeforush`: sale type, 1 = informal.
    pub sale_type: String,
    /// `sl_sanad.codevaseteh`: intermediary (broker) code.
    pub intermediary: String,
    /// `sl_sanad.tozihat`: remarks.
    pub description: String,
    /// `sl_sanad.namenoesanad`: display name of the document type.
    pub document_name: String,
    /// Line items, sent in this order.
    pub lines: Vec<PreInvoiceLine>,
}

impl Default for PreInvoiceForm {
    /// The constants of the last client known to work: document type 2, state 8, payment
    /// type 2, sale type 1 and intermediary 31. Sale model, sales centre and customer are
    /// empty and must be set.
    fn default() -> Self {
        PreInvoiceForm {
            document_type: "2".to_owned(),
            state: "8".to_owned(),
            sale_model: String::new(),
            fiscal_year: None,
            payment_type: "2".to_owned(),
            sales_center: String::new(),
            contact_code: String::new(),
            customer_code: String::new(),
            sale_type: "1".to_owned(),
            intermediary: "31".to_owned(),
            description: String::new(),
            document_name: DEFAULT_DOCUMENT_NAME.to_owned(),
            lines: Vec::new(),
        }
    }
}

/// One line item (`sl_rizsanad` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreInvoiceLine {
    /// `codekala`: Siagh product code.
    pub product_code: String,
    /// `nameunit`: unit-of-measure name, e.g. "عدد" (piece).
    pub unit_name: String,
    /// `qty`, also sent as `finalqty`.
    pub quantity: Decimal,
    /// `price`: unit price before tax.
    pub unit_price: Decimal,
    /// `mabtakhfif`: discount amount of the line.
    pub discount: Decimal,
    /// `radif`: 1-based row number, which Siagh's row errors refer to.
    pub line_number: u32,
}

/// The random ids of one submission: `_In_Suid` and one `__uid` per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionIds {
    /// `_In_Suid`: 32 upper-case hex characters.
    pub suid: String,
    /// `__uid` of each line in order: 8 lower-case hex characters.
    pub row_uids: Vec<String>,
}

impl SubmissionIds {
    /// Draws fresh ids for a pre-invoice with `line_count` lines.
    pub fn fresh(line_count: usize) -> Self {
        let suid = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .to_ascii_uppercase();
        let row_uids = (0..line_count)
            .map(|_| format!("{:08x}", rand::random::<u32>()))
            .collect();
        SubmissionIds { suid, row_uids }
    }
}

/// A saved pre-invoice as Siagh reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreInvoiceCreated {
    /// Document number shown to users, read from the success message.
    pub document_number: i64,
    /// `ReturnCode`: probably Siagh's internal document id.
    pub return_code: String,
    /// `ReturnParams`: an undocumented number.
    pub return_params: String,
    /// The success message the number was read from, trimmed.
    pub message: String,
}

impl PreInvoiceForm {
    /// Builds the `ctrlValues` list; `session_fiscal_year` fills `salmali` when
    /// [`PreInvoiceForm::fiscal_year`] is `None`.
    pub fn ctrl_values(&self, session_fiscal_year: i32) -> CtrlValues {
        let fiscal_year = self.fiscal_year.unwrap_or(session_fiscal_year).to_string();
        let pairs: [(&'static str, &str); 12] = [
            ("sl_sanad.hssanadstate", &self.state),
            ("sl_sanad.codenoeesanad", &self.document_type),
            ("sl_sanad.codesalemodel", &self.sale_model),
            ("sl_sanad.salmali", &fiscal_year),
            ("sl_sanad.codenoeepardakht", &self.payment_type),
            ("sl_sanad.codemarkazforush", &self.sales_center),
            ("sl_sanad.codecontact", &self.contact_code),
            ("sl_sanad.codemoshtari", &self.customer_code),
            ("sl_sanad.codenoeeforush", &self.sale_type),
            ("sl_sanad.codevaseteh", &self.intermediary),
            ("sl_sanad.tozihat", &self.description),
            ("sl_sanad.namenoesanad", &self.document_name),
        ];

        let mut text = String::new();
        let mut sanitized_keys = Vec::new();
        for (index, (key, value)) in pairs.iter().enumerate() {
            if index > 0 {
                text.push('|');
            }
            text.push_str(key);
            text.push('=');
            if append_sanitized(&mut text, value) {
                sanitized_keys.push(*key);
            }
        }
        CtrlValues {
            text,
            sanitized_keys,
        }
    }

    /// Builds the SaveFormData envelope that inserts this pre-invoice, with the ids in `ids`.
    ///
    /// The returned [`CtrlValues`] lists the header keys and line columns (`codekala`,
    /// `nameunit`) whose values had characters replaced. A line without an id in
    /// `ids.row_uids` gets an empty `__uid`.
    pub fn save_request(
        &self,
        session_fiscal_year: i32,
        ids: &SubmissionIds,
    ) -> (SaveFormRequest, CtrlValues) {
        let mut ctrl_values = self.ctrl_values(session_fiscal_year);

        let mut rows = Vec::with_capacity(self.lines.len());
        for (index, line) in self.lines.iter().enumerate() {
            let uid = ids.row_uids.get(index).map_or("", String::as_str);
            let (row, sanitized) = Row::new(uid, line);
            for key in sanitized {
                if !ctrl_values.sanitized_keys.contains(&key) {
                    ctrl_values.sanitized_keys.push(key);
                }
            }
            rows.push(row);
        }
        let grids = [Grid {
            name: "dbgrid1",
            entity: "sl_rizsanad",
            key_field: "coderiz",
            data: rows,
        }];
        // Serializing these structs cannot fail: every map key is a string and every
        // RawValue holds valid JSON.
        let data_rows = serde_json::to_string(&grids).unwrap_or_else(|_| "[]".to_owned());

        let request = SaveFormRequest {
            form_id: PREINVOICE_FORM_ID.to_owned(),
            ctrl_values: ctrl_values.text.clone(),
            parameters: format!("_In_EditKeys=|_In_Suid={}|nocheck=", ids.suid),
            data_rows,
            attachments: "[]".to_owned(),
            post_code: POST_CODE.to_owned(),
            flow_id: String::new(),
        };
        (request, ctrl_values)
    }
}

/// One detail grid of `dataRows`.
#[derive(Serialize)]
struct Grid {
    name: &'static str,
    entity: &'static str,
    #[serde(rename = "keyField")]
    key_field: &'static str,
    data: Vec<Row>,
}

/// A change-tracking cell: `oldValue` is `null` on inserted rows except for `__uid` and
/// `_status`, which repeat the new value.
#[derive(Serialize)]
struct Cell<T> {
    #[serde(rename = "oldValue")]
    old_value: Option<T>,
    #[serde(rename = "newValue")]
    new_value: T,
}

impl<T: Clone> Cell<T> {
    fn inserted(value: T) -> Self {
        Cell {
            old_value: None,
            new_value: value,
        }
    }

    fn same(value: T) -> Self {
        Cell {
            old_value: Some(value.clone()),
            new_value: value,
        }
    }
}

/// One `sl_rizsanad` row, in the column order of Siagh's sample request.
#[derive(Serialize)]
struct Row {
    #[serde(rename = "__uid")]
    uid: Cell<String>,
    #[serde(rename = "_status")]
    status: Cell<&'static str>,
    codekala: Cell<String>,
    nameunit: Cell<String>,
    qty: Cell<Box<RawValue>>,
    mabtakhfif: Cell<Box<RawValue>>,
    vazn: Cell<&'static str>,
    hajm: Cell<&'static str>,
    price: Cell<Box<RawValue>>,
    radif: Cell<String>,
    finalqty: Cell<Box<RawValue>>,
    takhfif: Cell<Option<()>>,
    sumamelinc: Cell<Option<()>>,
    sumameldec: Cell<Option<()>>,
}

impl Row {
    /// Builds the row of `line` and returns the columns whose text was sanitized.
    fn new(uid: &str, line: &PreInvoiceLine) -> (Self, Vec<&'static str>) {
        let mut sanitized = Vec::new();
        let mut clean = |column: &'static str, value: &str| {
            let mut out = String::with_capacity(value.len());
            if append_sanitized(&mut out, value) {
                sanitized.push(column);
            }
            out
        };
        let product_code = clean("codekala", &line.product_code);
        let unit_name = clean("nameunit", &line.unit_name);

        let row = Row {
            uid: Cell::same(uid.to_owned()),
            status: Cell::same("inserted"),
            codekala: Cell::inserted(product_code),
            nameunit: Cell::inserted(unit_name),
            qty: Cell::inserted(to_json_number(line.quantity)),
            mabtakhfif: Cell::inserted(to_json_number(line.discount)),
            vazn: Cell::inserted("0"),
            hajm: Cell::inserted("0"),
            price: Cell::inserted(to_json_number(line.unit_price)),
            radif: Cell::inserted(line.line_number.to_string()),
            finalqty: Cell::inserted(to_json_number(line.quantity)),
            takhfif: Cell::inserted(None),
            sumamelinc: Cell::inserted(None),
            sumameldec: Cell::inserted(None),
        };
        (row, sanitized)
    }
}

/// Reads the saved pre-invoice from a reply that passed the success rule.
///
/// The document number is taken from `FinalMessages[0]`, else from the `Description` of
/// any message. Without a number the pre-invoice was most likely saved anyway, so the error
/// is [`Error::PreInvoiceNumberMissing`], which is outcome-uncertain.
pub(super) fn created_preinvoice(response: &SaveFormResponse) -> Result<PreInvoiceCreated, Error> {
    let candidates = response
        .final_messages
        .iter()
        .take(1)
        .chain(response.errors.iter().map(|message| &message.description));
    for text in candidates {
        if let Some(document_number) = document_number(text) {
            return Ok(PreInvoiceCreated {
                document_number,
                return_code: response.return_code.trim().to_owned(),
                return_params: response.return_params.trim().to_owned(),
                message: text.trim().to_owned(),
            });
        }
    }
    Err(Error::PreInvoiceNumberMissing {
        return_code: response.return_code.trim().to_owned(),
    })
}

/// Returns the number written after the word "شماره" in `text`. ASCII, Persian (۰–۹) and
/// Arabic-Indic (٠–٩) digits are accepted, as are spaces, a colon and zero-width
/// non-joiners between the word and the number.
pub fn document_number(text: &str) -> Option<i64> {
    for (start, _) in text.match_indices(NUMBER_WORD) {
        let rest = &text[start + NUMBER_WORD.len()..];
        let mut digits = String::new();
        for c in rest.chars() {
            if let Some(digit) = digit_value(c) {
                digits.push(digit);
            } else if digits.is_empty() && (c.is_whitespace() || c == ':' || c == '\u{200c}') {
                continue;
            } else {
                break;
            }
        }
        if let Ok(number) = digits.parse::<i64>() {
            return Some(number);
        }
    }
    None
}

/// Maps an ASCII, Persian or Arabic-Indic digit to its ASCII form.
fn digit_value(c: char) -> Option<char> {
    let value = match c {
        '0'..='9' => u32::from(c) - u32::from('0'),
        '\u{06f0}'..='\u{06f9}' => u32::from(c) - 0x06f0,
        '\u{0660}'..='\u{0669}' => u32::from(c) - 0x0660,
        _ => return None,
    };
    char::from_digit(value, 10)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use super::*;

    const REQUEST_FIXTURE: &str =
        include_str!("../sim/fixtures/siagh/preinvoice-create-request.json");
    const SUCCESS_FIXTURE: &str =
        include_str!("../sim/fixtures/siagh/preinvoice-create-success-response.json");
    const INVALID_PRICE_FIXTURE: &str =
        include_str!("../sim/fixtures/siagh/error-invalid-price-response.json");

    fn decimal(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    /// Returns the pre-invoice of `preinvoice-create-request.json`, with amounts written
    /// with extra trailing zeros to check that they are normalized.
    fn fixture_form() -> PreInvoiceForm {
        PreInvoiceForm {
            sale_model: "5".into(),
            fiscal_year: Some(1404),
            sales_center: "5".into(),
            customer_code: "8401".into(),
            description: "Sample quote from CRM".into(),
            document_name: "پیش فاکتور فروش PI_5".into(),
            lines: vec![
                PreInvoiceLine {
                    product_code: "500100001".into(),
                    unit_name: "عدد".into(),
                    quantity: decimal("2.000"),
                    unit_price: decimal("2500000.00"),
                    discount: decimal("0"),
                    line_number: 1,
                },
                PreInvoiceLine {
                    product_code: "500100002".into(),
                    unit_name: "قطعه".into(),
                    quantity: decimal("1"),
                    unit_price: decimal("720000"),
                    discount: decimal("20000.0"),
                    line_number: 2,
                },
            ],
            ..PreInvoiceForm::default()
        }
    }

    fn fixture_ids() -> SubmissionIds {
        SubmissionIds {
            suid: "0F1E2D3C4B5A49688778695A4B3C2D1E".into(),
            row_uids: vec!["a1b2c3d4".into(), "e5f6a7b8".into()],
        }
    }

    fn response(json: &str) -> SaveFormResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn request_matches_fixture_byte_for_byte() {
        let expected: SaveFormRequest = serde_json::from_str(REQUEST_FIXTURE).unwrap();

        let (request, ctrl_values) = fixture_form().save_request(1405, &fixture_ids());

        assert_eq!(request.ctrl_values, expected.ctrl_values);
        assert_eq!(request.parameters, expected.parameters);
        assert_eq!(request.data_rows, expected.data_rows);
        assert_eq!(request, expected);
        assert_eq!(
            format!("{}\n", serde_json::to_string_pretty(&request).unwrap()),
            REQUEST_FIXTURE
        );
        assert!(ctrl_values.sanitized_keys.is_empty());
    }

    #[test]
    fn missing_fiscal_year_uses_session() {
        let form = PreInvoiceForm {
            fiscal_year: None,
            ..fixture_form()
        };

        let ctrl_values = form.ctrl_values(1405);

        assert!(ctrl_values.text.contains("|sl_sanad.salmali=1405|"));
    }

    #[test]
    fn default_header_uses_known_constants() {
        let ctrl_values = PreInvoiceForm::default().ctrl_values(1404);

        assert_eq!(
            ctrl_values.text,
            "sl_sanad.hssanadstate=8|sl_sanad.codenoeesanad=2|sl_sanad.codesalemodel=|\
             sl_sanad.salmali=1404|sl_sanad.codenoeepardakht=2|sl_sanad.codemarkazforush=|\
             sl_sanad.codecontact=|sl_sanad.codemoshtari=|sl_sanad.codenoeeforush=1|\
             sl_sanad.codevaseteh=31|sl_sanad.tozihat=|sl_sanad.namenoesanad=پیش فاکتور فروش"
        );
    }

    #[test]
    fn header_and_row_text_are_sanitized() {
        let mut form = fixture_form();
        form.description = "line1\nline2|x".into();
        form.lines[1].unit_name = "a|b".into();

        let (request, ctrl_values) = form.save_request(1404, &fixture_ids());

        assert!(
            request
                .ctrl_values
                .contains("|sl_sanad.tozihat=line1 line2¦x|")
        );
        assert!(request.data_rows.contains(r#""newValue":"a¦b""#));
        assert_eq!(
            ctrl_values.sanitized_keys,
            vec!["sl_sanad.tozihat", "nameunit"]
        );
    }

    #[test]
    fn row_numbers_keep_decimal_places() {
        let mut form = fixture_form();
        form.lines.truncate(1);
        form.lines[0].quantity = decimal("3.5");
        form.lines[0].unit_price = decimal("100000.00");
        form.lines[0].discount = decimal("1.0000");

        let (request, _) = form.save_request(1404, &fixture_ids());

        let rows = &request.data_rows;
        assert!(rows.contains(r#""qty":{"oldValue":null,"newValue":3.5}"#));
        assert!(rows.contains(r#""price":{"oldValue":null,"newValue":100000}"#));
        assert!(rows.contains(r#""mabtakhfif":{"oldValue":null,"newValue":1}"#));
        assert!(rows.contains(r#""finalqty":{"oldValue":null,"newValue":3.5}"#));
    }

    #[test]
    fn fresh_ids_have_siagh_format() {
        let ids = SubmissionIds::fresh(3);
        let other = SubmissionIds::fresh(3);

        assert_eq!(ids.suid.len(), 32);
        assert!(
            ids.suid
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert!(ids.suid.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(ids.row_uids.len(), 3);
        for uid in &ids.row_uids {
            assert_eq!(uid.len(), 8);
            assert!(
                uid.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            );
        }
        assert_ne!(ids.suid, other.suid);
    }

    #[test]
    fn number_is_read_in_three_digit_families() {
        assert_eq!(
            document_number("پیش فاکتور فروش با موفقیت به شماره 2488 ثبت گردید"),
            Some(2488)
        );
        assert_eq!(
            document_number("پیش فاکتور فروش با موفقیت به شماره ۲۴۸۸ ثبت گردید"),
            Some(2488)
        );
        assert_eq!(
            document_number("پیش فاکتور فروش با موفقیت به شماره ٢٤٨٨ ثبت گردید"),
            Some(2488)
        );
        assert_eq!(document_number("شماره: ۱0٢"), Some(102));
    }

    #[test]
    fn number_missing_is_none() {
        assert_eq!(document_number("ثبت گردید"), None);
        assert_eq!(document_number("شماره ثبت نشد"), None);
        assert_eq!(document_number("2488"), None);
        assert_eq!(document_number("شماره"), None);
    }

    #[test]
    fn later_number_word_is_tried() {
        assert_eq!(document_number("شماره تلفن و شماره 17"), Some(17));
    }

    #[test]
    fn success_fixture_gives_number_and_codes() {
        let created = created_preinvoice(&response(SUCCESS_FIXTURE)).unwrap();

        assert_eq!(created.document_number, 2501);
        assert_eq!(created.return_code, "15460");
        assert_eq!(created.return_params, "458650");
        assert_eq!(
            created.message,
            "پیش فاکتور فروش با موفقیت به شماره 2501 ثبت گردید"
        );
    }

    #[test]
    fn description_is_used_without_final_messages() {
        let mut reply = response(SUCCESS_FIXTURE);
        reply.final_messages.clear();

        let created = created_preinvoice(&reply).unwrap();

        assert_eq!(created.document_number, 2501);
        assert!(created.message.ends_with("خالص سند: 5,700,000"));
    }

    #[test]
    fn reply_without_number_is_uncertain() {
        let mut reply = response(SUCCESS_FIXTURE);
        reply.final_messages = vec!["ثبت گردید".into()];
        reply.errors.clear();

        let error = created_preinvoice(&reply).unwrap_err();

        assert!(matches!(error, Error::PreInvoiceNumberMissing { .. }));
        assert!(error.outcome_uncertain());
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("15460"));
    }

    #[test]
    fn invalid_price_fixture_is_not_a_success() {
        let reply = response(INVALID_PRICE_FIXTURE);

        assert!(!reply.is_success());
        assert_eq!(
            reply.error_messages(),
            vec!["قیمت ردیف 1 درست وارد نشده است".to_owned()]
        );
    }
}
