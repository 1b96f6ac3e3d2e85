//! Persian-aware normalization, used for every comparison, match and checksum on both sides.
//!
//! Values written to a target keep their original letters; only comparisons go through here.

/// Zero-width and directional characters, invisible in rendered text.
const INVISIBLE: &[char] = &[
    '\u{200B}', // zero width space
    '\u{200C}', // zero width non-joiner (ZWNJ), common inside Persian words
    '\u{200D}', // zero width joiner
    '\u{200E}', // left-to-right mark
    '\u{200F}', // right-to-left mark
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', // embeddings and overrides
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', // isolates
    '\u{FEFF}', // byte order mark
];

/// Maps Persian (U+06F0–U+06F9) and Arabic-Indic (U+0660–U+0669) digits to ASCII, the
/// Arabic letters ي ى ك to the Persian ی ک, and `¦` back to `|` (the Siagh client sends `|`
/// as `¦`, so both must compare equal).
fn fold_char(c: char) -> char {
    match c {
        '\u{00A6}' => '|',
        '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
        '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
        '\u{064A}' | '\u{0649}' => '\u{06CC}',
        '\u{0643}' => '\u{06A9}',
        other => other,
    }
}

/// Normalizes free text for comparison: folds digits and Arabic letters, drops invisible
/// characters and collapses every run of whitespace to one space, trimmed.
pub fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut pending_space = false;
    for c in value.chars() {
        if INVISIBLE.contains(&c) {
            continue;
        }
        // Control characters count as whitespace: the Siagh client sends them as spaces.
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(fold_char(c));
    }
    out
}

/// Keeps only the digits of `value`, folded to ASCII.
pub fn digits(value: &str) -> String {
    value
        .chars()
        .map(fold_char)
        .filter(char::is_ascii_digit)
        .collect()
}

/// Normalizes an Iranian phone number to its national form (`09121234567`, `02112345678`).
///
/// Accepts `+98…`, `0098…`, `98…`, `9…` (a mobile without its leading zero) and `0…`, with any
/// separators and digit family. A value that fits none of these keeps its digits only.
pub fn phone(value: &str) -> String {
    let digits = digits(value);
    let national = if let Some(rest) = digits.strip_prefix("0098") {
        rest
    } else if digits.len() == 12
        && let Some(rest) = digits.strip_prefix("98")
    {
        rest
    } else {
        digits.as_str()
    };
    if national.is_empty() || national.starts_with('0') {
        return national.to_owned();
    }
    // Ten digits without the trunk zero: a mobile (9…) or a landline with its area code.
    if national.len() == 10 {
        return format!("0{national}");
    }
    national.to_owned()
}

/// Normalizes an e-mail address: trimmed and lower-cased.
pub fn email(value: &str) -> String {
    text(value).to_lowercase()
}

/// Normalizes a national code or other numeric identifier: its digits only.
pub fn code(value: &str) -> String {
    digits(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_folds_arabic_letters_and_digits() {
        let cases = [
            ("علي", "علی"),
            ("على", "علی"),
            ("كريمي", "کریمی"),
            ("پلاک ۱۲", "پلاک 12"),
            ("پلاک ١٢", "پلاک 12"),
            ("پلاک 12", "پلاک 12"),
        ];
        for (input, expected) in cases {
            assert_eq!(text(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn text_drops_invisible_characters_and_collapses_spaces() {
        let cases = [
            ("می\u{200C}خواهم", "میخواهم"),
            ("  سید   محمد\tرضا \n", "سید محمد رضا"),
            ("\u{200F}تهران\u{200E}", "تهران"),
            ("a\u{200B}b", "ab"),
            ("رضا ¦ بازرگانی", "رضا | بازرگانی"),
            ("a\u{0}b", "a b"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(text(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn phone_forms_reach_one_form() {
        let mobiles = [
            "09121234567",
            "+989121234567",
            "00989121234567",
            "989121234567",
            "9121234567",
            "۰۹۱۲۱۲۳۴۵۶۷",
            "٠٩١٢١٢٣٤٥٦٧",
            "+98 912 123 4567",
            "0912-123-4567",
        ];
        for input in mobiles {
            assert_eq!(phone(input), "09121234567", "input {input:?}");
        }
    }

    #[test]
    fn phone_keeps_landlines_and_short_numbers() {
        assert_eq!(phone("021-12345678"), "02112345678");
        assert_eq!(phone("+98 21 1234 5678"), "02112345678");
        assert_eq!(phone("021"), "021");
        assert_eq!(phone(""), "");
    }

    #[test]
    fn email_is_lower_cased_and_trimmed() {
        assert_eq!(
            email("  Sara.Sample@Example.COM "),
            "sara.sample@example.com"
        );
    }

    #[test]
    fn code_keeps_folded_digits() {
        assert_eq!(code("۰۰۱-۲۳۴۵۶۷-۸"), "0012345678");
    }
}
