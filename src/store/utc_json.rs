//! JSON form of the store's timestamps. Columns hold UTC without an offset, and the admin API
//! writes them in RFC 3339 with a `Z`, so that a reader never takes them for local time.

use chrono::{NaiveDateTime, SecondsFormat};
use serde::Serializer;

/// Formats a UTC timestamp as RFC 3339 with microseconds and a `Z`.
pub fn format(value: &NaiveDateTime) -> String {
    value.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Serializes a UTC timestamp with [`format`].
pub fn serialize<S: Serializer>(value: &NaiveDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(value))
}

/// The same format for optional timestamps, with `None` as `null`.
pub mod option {
    use chrono::NaiveDateTime;
    use serde::Serializer;

    /// Serializes `Some` with [`super::format`] and `None` as `null`.
    pub fn serialize<S: Serializer>(
        value: &Option<NaiveDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_str(&super::format(value)),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn timestamps_carry_utc_offset() {
        let value =
            NaiveDateTime::parse_from_str("2026-12-04T18:41:55.123456", "%Y-%m-%dT%H:%M:%S%.f")
                .unwrap();

        assert_eq!(format(&value), "2026-12-04T18:41:55.123456Z");
    }
}
