//! Builds SaveFormData requests for the Siagh contact form (`2BFDA`, table `gn_web_users`).
//!
//! `ctrlValues` is a `key=value` list joined by `|` with no escape mechanism, so values are
//! cleaned before they are joined: a `|` becomes `¦` (U+00A6) and line breaks and other
//! control characters become a space. A `=` stays, because Siagh splits each pair on its
//! first `=`. The keys and their order are those of the last client known to work.

use super::model::{SaveFormRequest, SiaghCode};

/// Form id of the contact form.
pub const CONTACT_FORM_ID: &str = "2BFDA";

/// `postCode` of every known SaveFormData request; its meaning is not documented.
pub const POST_CODE: &str = "1110";

/// Value sent for `NickName`: a literal copied from Siagh's own sample request.
const NICKNAME_PLACEHOLDER: &str = "dbgrid1.#nickname#";

/// Replacement for `|`, which would otherwise end the value.
const PIPE_REPLACEMENT: char = '\u{a6}';

/// Party type of a contact: `gn_web_users.taraftype` when writing, `TowardType` when reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PartyType {
    /// A natural person: `taraftype=0`, `TowardType: false`.
    #[default]
    Person,
    /// A company or other organization: `taraftype=1`, `TowardType: true`.
    Organization,
}

impl PartyType {
    /// Returns the `taraftype` value written in `ctrlValues`.
    pub fn taraftype(self) -> &'static str {
        match self {
            PartyType::Person => "0",
            PartyType::Organization => "1",
        }
    }

    /// Maps the `TowardType` flag of a GetAll record.
    pub fn from_toward_type(toward_type: bool) -> Self {
        if toward_type {
            PartyType::Organization
        } else {
            PartyType::Person
        }
    }
}

/// The fields written to a Siagh contact. An empty string writes an empty value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactForm {
    /// `gn_web_users.fullname`, read back as `Name`; Siagh requires it.
    pub full_name: String,
    /// `gn_web_users.isactive` (`1` or `0`).
    pub is_active: bool,
    /// `gn_web_users.websiteaddress`.
    pub website: String,
    /// `gn_web_users.pocode`.
    pub postal_code: String,
    /// `gn_web_users.codeostan`.
    pub province_code: String,
    /// `gn_web_users.address`.
    pub address: String,
    /// `gn_web_users.codeshahr`.
    pub city_code: String,
    /// `gn_web_users.countrycode`.
    pub country_code: String,
    /// `gn_web_users.email`.
    pub email: String,
    /// `gn_web_users.mobileno`; Siagh rejects a number that another contact already has.
    pub mobile: String,
    /// `gn_web_users.telno`.
    pub phone: String,
    /// `gn_web_users.passno`, read back as `NationalCode`.
    pub national_code: String,
    /// `gn_web_users.tmpid`: a caller-chosen id that GetAll never returns.
    pub tmp_id: String,
    /// `gn_web_users.tozihat`, read back as `Description`.
    pub description: String,
    /// `gn_web_users.taraftype`.
    pub party_type: PartyType,
}

/// A finished `ctrlValues` string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtrlValues {
    /// The pipe-separated list.
    pub text: String,
    /// Keys whose value had characters replaced, in list order; log these, never the values.
    pub sanitized_keys: Vec<&'static str>,
}

impl ContactForm {
    /// Builds the `ctrlValues` list; `update_of` adds the `Param1=<code>` pair that
    /// identifies the contact being updated.
    pub fn ctrl_values(&self, update_of: Option<SiaghCode>) -> CtrlValues {
        let active = if self.is_active { "1" } else { "0" };
        let pairs: [(&'static str, &str); 17] = [
            ("NickName", NICKNAME_PLACEHOLDER),
            ("gn_web_users.isactive", active),
            ("gn_web_users.gender", ""),
            ("gn_web_users.websiteaddress", &self.website),
            ("gn_web_users.pocode", &self.postal_code),
            ("gn_web_users.codeostan", &self.province_code),
            ("gn_web_users.address", &self.address),
            ("gn_web_users.codeshahr", &self.city_code),
            ("gn_web_users.countrycode", &self.country_code),
            ("gn_web_users.email", &self.email),
            ("gn_web_users.fullname", &self.full_name),
            ("gn_web_users.mobileno", &self.mobile),
            ("gn_web_users.telno", &self.phone),
            ("gn_web_users.passno", &self.national_code),
            ("gn_web_users.tmpid", &self.tmp_id),
            ("gn_web_users.tozihat", &self.description),
            ("gn_web_users.taraftype", self.party_type.taraftype()),
        ];

        let mut text = String::new();
        let mut sanitized_keys = Vec::new();
        if let Some(code) = update_of {
            text.push_str(&format!("Param1={code}|"));
        }
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

    /// Builds the SaveFormData envelope that creates the contact (`update_of` is `None`) or
    /// updates contact `update_of` (as `CodeMain=<code>` and `Param1=<code>`).
    pub fn save_request(&self, update_of: Option<SiaghCode>) -> (SaveFormRequest, CtrlValues) {
        let ctrl_values = self.ctrl_values(update_of);
        let parameters = match update_of {
            Some(code) => format!("CodeMain={code}"),
            None => "CodeMain=".to_owned(),
        };
        let request = SaveFormRequest {
            form_id: CONTACT_FORM_ID.to_owned(),
            ctrl_values: ctrl_values.text.clone(),
            parameters,
            data_rows: "[]".to_owned(),
            attachments: "[]".to_owned(),
            post_code: POST_CODE.to_owned(),
            flow_id: String::new(),
        };
        (request, ctrl_values)
    }
}

/// Appends `value` to `out` with `|` replaced by `¦` and each line break (CR LF, CR, LF,
/// U+2028, U+2029) or other control character replaced by one space. Returns whether
/// anything was replaced.
pub(super) fn append_sanitized(out: &mut String, value: &str) -> bool {
    let mut changed = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => {
                out.push(PIPE_REPLACEMENT);
                changed = true;
            }
            '\r' => {
                // CR LF is one line break, so it becomes one space.
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(' ');
                changed = true;
            }
            '\u{2028}' | '\u{2029}' => {
                out.push(' ');
                changed = true;
            }
            c if c.is_control() => {
                out.push(' ');
                changed = true;
            }
            c => out.push(c),
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const CREATE_FIXTURE: &str = include_str!("../sim/fixtures/siagh/contact-create-request.json");
    const UPDATE_FIXTURE: &str = include_str!("../sim/fixtures/siagh/contact-update-request.json");

    /// Returns the contact of `contact-create-request.json`.
    fn fixture_form() -> ContactForm {
        ContactForm {
            full_name: "شخص نمونه جدید".into(),
            is_active: true,
            website: String::new(),
            postal_code: "1000000004".into(),
            province_code: String::new(),
            address: "تهران، خیابان نمونه، پلاک ۴".into(),
            city_code: String::new(),
            country_code: String::new(),
            email: "new.person@example.com".into(),
            mobile: "09120000004".into(),
            phone: "02100000004".into(),
            national_code: "0000000004".into(),
            tmp_id: "404".into(),
            description: "Created from CRM customer 100-1404".into(),
            party_type: PartyType::Person,
        }
    }

    fn value_of<'a>(ctrl_values: &'a str, key: &str) -> Option<&'a str> {
        ctrl_values.split('|').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then_some(v)
        })
    }

    #[test]
    fn create_matches_fixture_byte_for_byte() {
        let expected: SaveFormRequest = serde_json::from_str(CREATE_FIXTURE).unwrap();

        let (request, ctrl_values) = fixture_form().save_request(None);

        assert_eq!(request.ctrl_values, expected.ctrl_values);
        assert_eq!(request, expected);
        assert!(ctrl_values.sanitized_keys.is_empty());
    }

    #[test]
    fn update_starts_with_param1_and_sets_code_main() {
        let expected: SaveFormRequest = serde_json::from_str(UPDATE_FIXTURE).unwrap();
        let form = ContactForm {
            full_name: "شخص نمونه ویرایش شده".into(),
            phone: "02100000044".into(),
            ..fixture_form()
        };

        let (request, _) = form.save_request(Some(SiaghCode(8404)));

        assert!(request.ctrl_values.starts_with("Param1=8404|NickName="));
        assert_eq!(request.parameters, "CodeMain=8404");
        assert_eq!(request, expected);
    }

    #[test]
    fn envelope_serializes_like_fixture() {
        let expected: serde_json::Value = serde_json::from_str(CREATE_FIXTURE).unwrap();

        let (request, _) = fixture_form().save_request(None);

        assert_eq!(serde_json::to_value(&request).unwrap(), expected);
    }

    #[test]
    fn pipe_becomes_broken_bar() {
        let form = ContactForm {
            address: "Unit 4|Block 2".into(),
            ..fixture_form()
        };

        let ctrl_values = form.ctrl_values(None);

        assert_eq!(
            value_of(&ctrl_values.text, "gn_web_users.address"),
            Some("Unit 4¦Block 2")
        );
        assert_eq!(ctrl_values.text.split('|').count(), 17);
        assert_eq!(ctrl_values.sanitized_keys, vec!["gn_web_users.address"]);
    }

    #[test]
    fn equals_sign_is_kept() {
        let form = ContactForm {
            description: "a=b|c".into(),
            ..fixture_form()
        };

        let ctrl_values = form.ctrl_values(None);

        assert_eq!(
            value_of(&ctrl_values.text, "gn_web_users.tozihat"),
            Some("a=b¦c")
        );
        assert_eq!(ctrl_values.sanitized_keys, vec!["gn_web_users.tozihat"]);
    }

    #[test]
    fn equals_sign_alone_is_not_sanitized() {
        let form = ContactForm {
            description: "x=1".into(),
            ..fixture_form()
        };

        let ctrl_values = form.ctrl_values(None);

        assert_eq!(
            value_of(&ctrl_values.text, "gn_web_users.tozihat"),
            Some("x=1")
        );
        assert!(ctrl_values.sanitized_keys.is_empty());
    }

    #[test]
    fn line_breaks_become_one_space_each() {
        let form = ContactForm {
            address: "line1\r\nline2\rline3\nline4".into(),
            description: "tab\there\u{2028}end\u{0}".into(),
            ..fixture_form()
        };

        let ctrl_values = form.ctrl_values(None);

        assert_eq!(
            value_of(&ctrl_values.text, "gn_web_users.address"),
            Some("line1 line2 line3 line4")
        );
        assert_eq!(
            value_of(&ctrl_values.text, "gn_web_users.tozihat"),
            Some("tab here end ")
        );
        assert_eq!(
            ctrl_values.sanitized_keys,
            vec!["gn_web_users.address", "gn_web_users.tozihat"]
        );
    }

    #[test]
    fn persian_text_is_unchanged() {
        let form = ContactForm {
            full_name: "شرکت نمونه\u{200c}ای".into(),
            address: "اصفهان، خیابان ۱۲".into(),
            ..fixture_form()
        };

        let ctrl_values = form.ctrl_values(None);

        assert_eq!(
            value_of(&ctrl_values.text, "gn_web_users.fullname"),
            Some("شرکت نمونه\u{200c}ای")
        );
        assert_eq!(
            value_of(&ctrl_values.text, "gn_web_users.address"),
            Some("اصفهان، خیابان ۱۲")
        );
        assert!(ctrl_values.sanitized_keys.is_empty());
    }

    #[test]
    fn empty_values_are_written_as_key_equals() {
        let form = ContactForm {
            full_name: "x".into(),
            ..ContactForm::default()
        };

        let ctrl_values = form.ctrl_values(None);

        assert_eq!(
            ctrl_values.text,
            "NickName=dbgrid1.#nickname#|gn_web_users.isactive=0|gn_web_users.gender=|\
             gn_web_users.websiteaddress=|gn_web_users.pocode=|gn_web_users.codeostan=|\
             gn_web_users.address=|gn_web_users.codeshahr=|gn_web_users.countrycode=|\
             gn_web_users.email=|gn_web_users.fullname=x|gn_web_users.mobileno=|\
             gn_web_users.telno=|gn_web_users.passno=|gn_web_users.tmpid=|\
             gn_web_users.tozihat=|gn_web_users.taraftype=0"
        );
    }

    #[test]
    fn organization_writes_taraftype_1() {
        let form = ContactForm {
            party_type: PartyType::Organization,
            ..fixture_form()
        };

        let ctrl_values = form.ctrl_values(None);

        assert_eq!(
            value_of(&ctrl_values.text, "gn_web_users.taraftype"),
            Some("1")
        );
    }

    #[test]
    fn output_is_deterministic() {
        let form = ContactForm {
            address: "a|b\nc".into(),
            ..fixture_form()
        };

        assert_eq!(
            form.ctrl_values(Some(SiaghCode(1))),
            form.ctrl_values(Some(SiaghCode(1)))
        );
    }
}
