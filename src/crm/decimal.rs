//! Exact serde format of the CRM's decimal numbers (amounts, counts, percents).
//!
//! The CRM writes amounts as JSON numbers with a fixed scale (`100000.00`, `1.0000`).
//! Parsing through `f64` would lose both the scale and, for large amounts, the value, so
//! these helpers read the number's JSON text and parse it with [`Decimal::from_str`].
//! Writing emits [`Decimal`]'s own text, which keeps the scale.
//!
//! Both directions need the `serde_json` deserializer or serializer: other serde formats do
//! not support [`RawValue`].

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Parses the text of one JSON number or JSON string as a [`Decimal`].
///
/// Accepts plain (`-12.50`) and exponent (`1.5e3`) notation.
pub fn parse(text: &str) -> Result<Decimal, rust_decimal::Error> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str(text)
    }
}

/// Parses a raw JSON value: a number, or a string that contains one. `None` for `null`.
fn parse_raw(raw: &RawValue) -> Result<Option<Decimal>, String> {
    let json = raw.get().trim();
    if json == "null" {
        return Ok(None);
    }
    let text = if json.starts_with('"') {
        serde_json::from_str::<String>(json).map_err(|error| error.to_string())?
    } else {
        json.to_owned()
    };
    parse(text.trim())
        .map(Some)
        .map_err(|error| format!("invalid decimal number {json}: {error}"))
}

fn to_raw(value: &Decimal) -> Result<Box<RawValue>, serde_json::Error> {
    RawValue::from_string(value.to_string())
}

/// Deserializes a required decimal. `null` is rejected.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let raw = <Box<RawValue>>::deserialize(deserializer)?;
    parse_raw(&raw)
        .map_err(serde::de::Error::custom)?
        .ok_or_else(|| serde::de::Error::custom("invalid decimal number: null"))
}

/// Serializes a decimal as a JSON number with its scale (`2.5000` stays `2.5000`).
pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    to_raw(value)
        .map_err(serde::ser::Error::custom)?
        .serialize(serializer)
}

/// The same format for nullable decimals: `null` is `None`.
pub mod option {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::value::RawValue;

    /// Deserializes a decimal, reading `null` as `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        let Some(raw) = <Option<Box<RawValue>>>::deserialize(deserializer)? else {
            return Ok(None);
        };
        super::parse_raw(&raw).map_err(serde::de::Error::custom)
    }

    /// Serializes `Some` as a JSON number with its scale and `None` as `null`.
    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::to_raw(value)
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Amount {
        #[serde(with = "super")]
        value: Decimal,
        #[serde(default, with = "super::option")]
        extra: Option<Decimal>,
    }

    fn read(json: &str) -> Amount {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn numbers_parse_exactly_with_scale() {
        for text in ["1.0000", "3.5000", "100000.00", "0.0", "9", "-12.50"] {
            let amount = read(&format!(r#"{{"value": {text}}}"#));

            assert_eq!(amount.value, Decimal::from_str(text).unwrap(), "{text}");
            assert_eq!(amount.value.to_string(), text, "scale of {text}");
        }
    }

    #[test]
    fn large_amount_keeps_every_digit() {
        let amount = read(r#"{"value": 12345678901234567.89}"#);

        assert_eq!(amount.value.to_string(), "12345678901234567.89");
    }

    #[test]
    fn string_and_exponent_forms_parse() {
        assert_eq!(read(r#"{"value": "3.5000"}"#).value.to_string(), "3.5000");
        assert_eq!(read(r#"{"value": 1.5e3}"#).value, Decimal::from(1500));
    }

    #[test]
    fn null_is_none_only_when_optional() {
        let amount = read(r#"{"value": 1, "extra": null}"#);

        assert_eq!(amount.extra, None);
        assert!(serde_json::from_str::<Amount>(r#"{"value": null}"#).is_err());
    }

    #[test]
    fn non_numbers_are_rejected() {
        assert!(serde_json::from_str::<Amount>(r#"{"value": "abc"}"#).is_err());
        assert!(serde_json::from_str::<Amount>(r#"{"value": true}"#).is_err());
        assert!(serde_json::from_str::<Amount>(r#"{"value": [1]}"#).is_err());
    }

    #[test]
    fn serialization_keeps_scale() {
        let amount = Amount {
            value: Decimal::from_str("100000.00").unwrap(),
            extra: Some(Decimal::from_str("1.0000").unwrap()),
        };

        let json = serde_json::to_string(&amount).unwrap();

        assert_eq!(json, r#"{"value":100000.00,"extra":1.0000}"#);
    }

    #[test]
    fn unset_optional_serializes_null() {
        let amount = Amount {
            value: Decimal::ONE,
            extra: None,
        };

        assert_eq!(
            serde_json::to_string(&amount).unwrap(),
            r#"{"value":1,"extra":null}"#
        );
    }
}
