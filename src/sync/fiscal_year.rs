//! The fiscal year a pre-invoice is booked into.
//!
//! Siagh books documents into the fiscal year its login reports (`FiscalYear`), the year open
//! in the finance system. A quote's own Jalali year, on Tehran's calendar, is the cross-check:
//! - the same year: that year;
//! - one year apart, which happens around Nowruz (1 Farvardin) while the finance team has not
//!   opened the new year yet, or a late quote from the old year: Siagh's year, because Siagh
//!   accepts documents only there; the caller records the mismatch;
//! - further apart: an error, because a quote dated years away from the open fiscal year is a
//!   data problem a person must look at.

use chrono::{DateTime, FixedOffset, Utc};
use parsidate::ParsiDate;

/// Tehran's offset from UTC (+03:30); Iran has kept it all year since 2022.
const TEHRAN_UTC_OFFSET_SECS: i32 = 3 * 3600 + 30 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiscalYearError {
    #[error("the date {0} cannot be expressed in the Jalali calendar")]
    OutOfRange(DateTime<Utc>),
    #[error(
        "the quote is dated in Jalali year {quote_year} but Siagh's open fiscal year is \
         {fiscal_year}; check the quote date or open the right fiscal year in Siagh"
    )]
    TooFarApart { quote_year: i32, fiscal_year: i32 },
}

/// The fiscal year chosen for a document, and whether the quote's own year differed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiscalYearChoice {
    pub fiscal_year: i32,
    /// The quote's Jalali year when it differs from the fiscal year chosen.
    pub quote_year_mismatch: Option<i32>,
}

/// Returns the Jalali year of `instant` on Tehran's calendar.
pub fn jalali_year_in_tehran(instant: DateTime<Utc>) -> Result<i32, FiscalYearError> {
    let offset = FixedOffset::east_opt(TEHRAN_UTC_OFFSET_SECS)
        .ok_or(FiscalYearError::OutOfRange(instant))?;
    let local_date = instant.with_timezone(&offset).date_naive();
    ParsiDate::from_gregorian(local_date)
        .map(|date| date.year())
        .map_err(|_| FiscalYearError::OutOfRange(instant))
}

/// Chooses the fiscal year for a quote dated `quote_time`, by the rule in the module docs.
pub fn choose_fiscal_year(
    siagh_fiscal_year: i32,
    quote_time: DateTime<Utc>,
) -> Result<FiscalYearChoice, FiscalYearError> {
    let quote_year = jalali_year_in_tehran(quote_time)?;
    match (quote_year - siagh_fiscal_year).abs() {
        0 => Ok(FiscalYearChoice {
            fiscal_year: siagh_fiscal_year,
            quote_year_mismatch: None,
        }),
        1 => Ok(FiscalYearChoice {
            fiscal_year: siagh_fiscal_year,
            quote_year_mismatch: Some(quote_year),
        }),
        _ => Err(FiscalYearError::TooFarApart {
            quote_year,
            fiscal_year: siagh_fiscal_year,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn jalali_year_turns_at_nowruz_in_tehran_time() {
        let cases = [
            ("2025-03-20T12:00:00Z", 1403),
            ("2025-03-20T20:29:59Z", 1403),
            // 22:00 UTC is 01:30 on 21 March in Tehran: already 1 Farvardin 1404.
            ("2025-03-20T22:00:00Z", 1404),
            ("2025-03-21T12:00:00Z", 1404),
            ("2026-01-10T08:00:00Z", 1404),
            ("2024-03-20T08:00:00Z", 1403),
            ("2026-12-04T08:00:00Z", 1405),
        ];
        for (instant, year) in cases {
            assert_eq!(
                jalali_year_in_tehran(at(instant)).unwrap(),
                year,
                "{instant}"
            );
        }
    }

    #[test]
    fn matching_year_is_used() {
        let choice = choose_fiscal_year(1404, at("2025-03-21T12:00:00Z")).unwrap();

        assert_eq!(choice.fiscal_year, 1404);
        assert_eq!(choice.quote_year_mismatch, None);
    }

    #[test]
    fn one_year_apart_around_nowruz_uses_siaghs_year() {
        let new_year_quote = choose_fiscal_year(1403, at("2025-03-20T22:00:00Z")).unwrap();
        let old_year_quote = choose_fiscal_year(1404, at("2025-03-20T12:00:00Z")).unwrap();

        assert_eq!(new_year_quote.fiscal_year, 1403);
        assert_eq!(new_year_quote.quote_year_mismatch, Some(1404));
        assert_eq!(old_year_quote.fiscal_year, 1404);
        assert_eq!(old_year_quote.quote_year_mismatch, Some(1403));
    }

    #[test]
    fn years_far_apart_are_an_error() {
        let error = choose_fiscal_year(1404, at("2023-06-01T12:00:00Z")).unwrap_err();

        assert_eq!(
            error,
            FiscalYearError::TooFarApart {
                quote_year: 1402,
                fiscal_year: 1404
            }
        );
    }
}
