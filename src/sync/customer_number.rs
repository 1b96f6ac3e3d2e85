//! The customer-number convention shared with the Siagh deployment: CRM customer numbers are
//! `100-<n>` and the contact's `tmpid` in Siagh is `n − 1000`, at least 1.

/// Derives the Siagh `tmpid` from a CRM customer number: the integer after the first `-` (or
/// the whole value when there is none) minus 1000, at least 1. Returns `None` when that part is
/// not a number.
pub fn tmp_id_from_customer_number(customer_number: &str) -> Option<i64> {
    let digits = super::normalize::text(customer_number);
    let tail = match digits.split_once('-') {
        Some((_, tail)) => tail,
        None => digits.as_str(),
    };
    let number: i64 = tail.trim().parse().ok()?;
    Some((number - 1000).max(1))
}

/// Builds the CRM customer number of a Siagh contact code: `100-` followed by `code + 1000`.
pub fn customer_number_from_code(code: i64) -> String {
    format!("100-{}", code + 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_id_follows_the_offset_rule() {
        let cases = [
            ("100-1001", Some(1)),
            ("100-1234", Some(234)),
            ("100-5678", Some(4678)),
            ("100-1000", Some(1)),
            ("100-0003", Some(1)),
            ("1404", Some(404)),
            ("۱۰۰-۱۴۰۴", Some(404)),
            ("100-", None),
            ("100-12ab", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                tmp_id_from_customer_number(input),
                expected,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn customer_number_adds_the_offset() {
        assert_eq!(customer_number_from_code(1), "100-1001");
        assert_eq!(customer_number_from_code(8389), "100-9389");
    }
}
