//! Exact conversion between [`Decimal`] and JSON numbers.
//!
//! serde_json parses a number into `f64` unless its `arbitrary_precision` feature is on, and
//! that feature stays off in this crate. These helpers therefore go through the number's JSON
//! text ([`RawValue`]), so an amount never passes through a float.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Returns `value` as a JSON number without trailing zeros: `1.0000` → `1`,
/// `100000.00` → `100000`, `3.50` → `3.5`.
pub fn to_json_number(value: Decimal) -> Box<RawValue> {
    let text = value.normalize().to_string();
    // Decimal's Display writes an optional `-`, digits and at most one `.`, which is always
    // a valid JSON number, so the `null` fallback is never used.
    RawValue::from_string(text).unwrap_or_default()
}

/// Parses the text of a JSON number, or of a JSON string holding a number, into a
/// [`Decimal`]. Exponent notation (`1.5e3`) is accepted.
pub fn parse_json_number(raw: &RawValue) -> Result<Decimal, String> {
    let text = raw.get().trim();
    let number = if text.starts_with('"') {
        let inner: String = serde_json::from_str(text)
            .map_err(|error| format!("invalid JSON string {text}: {error}"))?;
        inner.trim().to_owned()
    } else {
        text.to_owned()
    };
    let parsed = if number.contains(['e', 'E']) {
        Decimal::from_scientific(&number)
    } else {
        Decimal::from_str(&number)
    };
    parsed.map_err(|error| format!("{text} is not a decimal number: {error}"))
}

/// `deserialize_with` helper: reads a JSON number (or a string holding one) exactly.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    parse_json_number(&raw).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn number(text: &str) -> String {
        to_json_number(Decimal::from_str(text).unwrap())
            .get()
            .to_owned()
    }

    fn parse(json: &str) -> Decimal {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        parse_json_number(&raw).unwrap()
    }

    #[test]
    fn trailing_zeros_are_dropped() {
        assert_eq!(number("1.0000"), "1");
        assert_eq!(number("100000.00"), "100000");
        assert_eq!(number("3.50"), "3.5");
    }

    #[test]
    fn plain_values_are_unchanged() {
        assert_eq!(number("3.5"), "3.5");
        assert_eq!(number("0"), "0");
        assert_eq!(number("0.000"), "0");
        assert_eq!(number("-20000"), "-20000");
        assert_eq!(number("2500000"), "2500000");
    }

    #[test]
    fn digits_beyond_f64_precision_survive() {
        assert_eq!(number("12345678901234567.89"), "12345678901234567.89");
        assert_eq!(
            parse("12345678901234567.89"),
            Decimal::from_str("12345678901234567.89").unwrap()
        );
    }

    #[test]
    fn number_parses_exactly() {
        assert_eq!(parse("0.1"), Decimal::from_str("0.1").unwrap());
        assert_eq!(parse("2500000"), Decimal::from(2_500_000));
        assert_eq!(parse("-1"), Decimal::from(-1));
    }

    #[test]
    fn string_and_exponent_are_accepted() {
        assert_eq!(parse(r#"" 3.5 ""#), Decimal::from_str("3.5").unwrap());
        assert_eq!(parse("1.5e3"), Decimal::from(1500));
    }

    #[test]
    fn non_numbers_are_rejected() {
        for json in [r#""abc""#, "true", "null", "[1]"] {
            let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
            assert!(parse_json_number(&raw).is_err(), "{json} was accepted");
        }
    }

    #[test]
    fn deserialize_helper_reads_field() {
        #[derive(serde::Deserialize)]
        struct Cell {
            #[serde(deserialize_with = "deserialize")]
            value: Decimal,
        }

        let cell: Cell = serde_json::from_str(r#"{"value": 720000.50}"#).unwrap();

        assert_eq!(cell.value, Decimal::from_str("720000.50").unwrap());
    }
}
