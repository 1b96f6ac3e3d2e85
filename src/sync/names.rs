//! Splitting a Siagh full name into the CRM's first and last name.
//!
//! Siagh keeps one `Name`; the CRM keeps `firstName` and `lastName`. The rule, applied to the
//! whitespace-separated words of the name (a ZWNJ stays inside its word):
//! 1. An honorific (سید, سیده, میر, حاج, حاجی, دکتر, مهندس) joins the word after it.
//! 2. A common compound given name (محمد رضا, علی اکبر, امیر حسین, …) is one unit.
//! 3. A surname particle joins its neighbour: آل, بنی, ابن before the next word, and
//!    زاده, نژاد, پور, فر, راد, نیا, منش, وند, زادگان after the previous word.
//! 4. With two or more units the last unit is the last name and the rest the first name; a
//!    single unit is the first name, with an empty last name.
//!
//! So "سید محمد رضا" is one first name, "علی رضایی" is علی + رضایی and
//! "محمد رضا حسینی نژاد" is محمد رضا + حسینی نژاد. Organization names are never split.

use super::normalize;

const HONORIFICS: &[&str] = &["سید", "سیده", "میر", "حاج", "حاجی", "دکتر", "مهندس"];
const SURNAME_PREFIXES: &[&str] = &["آل", "بنی", "ابن"];
const SURNAME_SUFFIXES: &[&str] = &[
    "زاده",
    "نژاد",
    "پور",
    "فر",
    "راد",
    "نیا",
    "منش",
    "وند",
    "زادگان",
];
/// First words of compound given names, and the second words they combine with.
const COMPOUND_FIRST: &[&str] = &["محمد", "علی", "امیر", "ابو", "عبد", "غلام", "فاطمه", "زهرا"];
const COMPOUND_SECOND: &[&str] = &[
    "رضا",
    "علی",
    "حسین",
    "حسن",
    "مهدی",
    "جواد",
    "صادق",
    "باقر",
    "کاظم",
    "تقی",
    "امین",
    "اکبر",
    "اصغر",
    "محمد",
    "الفضل",
    "القاسم",
    "الله",
    "سادات",
    "زهرا",
];

/// A person's name split for the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitName {
    pub first_name: String,
    pub last_name: String,
}

fn is_one_of(word: &str, list: &[&str]) -> bool {
    let folded = normalize::text(word);
    list.iter().any(|entry| *entry == folded)
}

/// Splits a full name by the rule in the module documentation.
pub fn split_full_name(full_name: &str) -> SplitName {
    let words: Vec<&str> = full_name.split_whitespace().collect();
    let mut units: Vec<String> = Vec::new();
    let mut index = 0;
    while index < words.len() {
        let mut unit = words[index].to_owned();
        index += 1;
        // Honorifics and surname prefixes bind to the next word.
        while (is_one_of(words[index - 1], HONORIFICS)
            || is_one_of(words[index - 1], SURNAME_PREFIXES))
            && index < words.len()
        {
            unit.push(' ');
            unit.push_str(words[index]);
            index += 1;
        }
        let last_word = unit.rsplit(' ').next().unwrap_or_default().to_owned();
        if index < words.len()
            && is_one_of(&last_word, COMPOUND_FIRST)
            && is_one_of(words[index], COMPOUND_SECOND)
        {
            unit.push(' ');
            unit.push_str(words[index]);
            index += 1;
        }
        while index < words.len() && is_one_of(words[index], SURNAME_SUFFIXES) {
            unit.push(' ');
            unit.push_str(words[index]);
            index += 1;
        }
        units.push(unit);
    }

    match units.split_last() {
        None => SplitName {
            first_name: String::new(),
            last_name: String::new(),
        },
        Some((only, [])) => SplitName {
            first_name: only.clone(),
            last_name: String::new(),
        },
        Some((last, rest)) => SplitName {
            first_name: rest.join(" "),
            last_name: last.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_by_the_documented_rule() {
        let cases = [
            ("علی رضایی", "علی", "رضایی"),
            ("سید محمد رضا", "سید محمد رضا", ""),
            ("سید محمد رضا موسوی", "سید محمد رضا", "موسوی"),
            ("محمد رضا حسینی نژاد", "محمد رضا", "حسینی نژاد"),
            ("فاطمه آل احمد", "فاطمه", "آل احمد"),
            ("امیر حسین قلی زاده", "امیر حسین", "قلی زاده"),
            ("دکتر مریم احمدی", "دکتر مریم", "احمدی"),
            ("زهرا  کریمی‌پور", "زهرا", "کریمی‌پور"),
            ("علي رضايي", "علي", "رضايي"),
            ("Sample Person", "Sample", "Person"),
            ("مریم", "مریم", ""),
            ("  ", "", ""),
        ];
        for (input, first, last) in cases {
            let split = split_full_name(input);
            assert_eq!(split.first_name, first, "first name of {input:?}");
            assert_eq!(split.last_name, last, "last name of {input:?}");
        }
    }
}
