//! SaveFormData as the simulator implements it: the dispatch by form id and the contact
//! form `2BFDA`.
//!
//! `ctrlValues` is split on `|`, then each pair on its first `=`, which is the most likely
//! reading of Siagh's grammar. A key outside the contact form's known keys, or a pair
//! without `=`, rejects the whole save. The messages other than the duplicate-mobile one
//! are the simulator's own wording, because Siagh's texts for those cases are not known.

use super::preinvoice::{PREINVOICE_FORM_ID, save_preinvoice};
use super::state::{SimContact, SimState};
use super::wire::{SaveFormBody, SaveFormReply};

/// Siagh's message for a mobile number that another contact already has.
pub const DUPLICATE_MOBILE_MESSAGE: &str = "شماره موبایل نمی تواند تکراری باشد.";

/// Message for a missing or blank `gn_web_users.fullname` ("full name must not be empty").
pub const EMPTY_FULL_NAME_MESSAGE: &str = "نام کامل نمی تواند خالی باشد.";

/// Form id of the contact form.
const CONTACT_FORM_ID: &str = "2BFDA";

/// Keys form `2BFDA` accepts: those of Siagh's sample, of developer samples that the live
/// server accepted, and of the last known client. The misspelling `gn_web_users.tpmid` is
/// left out, so that a client sending it gets an error.
const CONTACT_KEYS: &[&str] = &[
    "NickName",
    "Param1",
    "tmpid",
    "gn_web_users.isactive",
    "gn_web_users.gender",
    "gn_web_users.websiteaddress",
    "gn_web_users.pocode",
    "gn_web_users.codeostan",
    "gn_web_users.address",
    "gn_web_users.codeshahr",
    "gn_web_users.countrycode",
    "gn_web_users.email",
    "gn_web_users.fullname",
    "gn_web_users.mobileno",
    "gn_web_users.telno",
    "gn_web_users.tozihat",
    "gn_web_users.tmpid",
    "gn_web_users.taraftype",
    "gn_web_users.password",
    "gn_web_users.nickname",
    "gn_web_users.passno",
];

/// Applies a SaveFormData request to `state` and returns the reply body.
pub(super) fn save_form(state: &mut SimState, body: &SaveFormBody) -> SaveFormReply {
    let result = match body.form_id.as_str() {
        CONTACT_FORM_ID => save_contact(state, body)
            .map(SaveFormReply::saved)
            .map_err(Rejection::from),
        PREINVOICE_FORM_ID => save_preinvoice(state, body),
        other => Err(Rejection::new(format!("فرم با شناسه «{other}» یافت نشد."))),
    };
    match result {
        Ok(reply) => reply,
        Err(Rejection {
            description,
            col_name,
        }) => {
            tracing::debug!(
                siagh.form_id = %body.form_id,
                description,
                "simulator rejected SaveFormData"
            );
            state.counters.rejected_saves += 1;
            SaveFormReply::rejected_in_column(description, col_name)
        }
    }
}

/// A rejected save: the `Description` and `ColName` of its `ErrError` item.
pub(super) struct Rejection {
    pub description: String,
    pub col_name: &'static str,
}

impl Rejection {
    /// A rejection that names no column.
    pub fn new(description: String) -> Self {
        Rejection {
            description,
            col_name: "",
        }
    }
}

impl From<String> for Rejection {
    fn from(description: String) -> Self {
        Rejection::new(description)
    }
}

/// Target of a contact save: a new record or an existing code.
enum ContactTarget {
    Create,
    Update(i64),
}

fn save_contact(state: &mut SimState, body: &SaveFormBody) -> Result<i64, String> {
    let mut pairs = parse_pairs(&body.ctrl_values, "ctrlValues")?;
    if let Some((key, _)) = pairs
        .iter()
        .find(|(key, _)| !CONTACT_KEYS.contains(&key.as_str()))
    {
        return Err(format!(
            "فیلد «{key}» در فرم {CONTACT_FORM_ID} تعریف نشده است."
        ));
    }
    let parameters = parse_pairs(&body.parameters, "parameters")?;

    let param1 = take_code(&mut pairs, "Param1")?;
    let code_main = find_code(&parameters, "CodeMain")?;
    let target = match (param1, code_main) {
        (Some(param1), Some(code_main)) if param1 != code_main => {
            return Err(format!(
                "Param1={param1} با CodeMain={code_main} یکسان نیست."
            ));
        }
        (Some(code), _) => ContactTarget::Update(code),
        // An update without Param1 inserted a new record on some Siagh installations.
        (None, Some(_)) if state.config.legacy_update_bug => ContactTarget::Create,
        (None, Some(code)) => ContactTarget::Update(code),
        (None, None) => ContactTarget::Create,
    };

    match target {
        ContactTarget::Create => create_contact(state, pairs),
        ContactTarget::Update(code) => update_contact(state, code, pairs),
    }
}

fn create_contact(state: &mut SimState, pairs: Vec<(String, String)>) -> Result<i64, String> {
    let full_name = value_of(&pairs, "gn_web_users.fullname").unwrap_or_default();
    if full_name.trim().is_empty() {
        return Err(EMPTY_FULL_NAME_MESSAGE.to_owned());
    }
    check_mobile_unique(state, &pairs, None)?;

    let code = state.allocate_code();
    let mut contact = SimContact {
        code,
        record_id: uuid::Uuid::new_v4().to_string(),
        is_admin: false,
        fields: Default::default(),
    };
    for (key, value) in pairs {
        contact.fields.insert(key, value);
    }
    state.contacts.insert(code, contact);
    state.counters.contact_creates += 1;
    Ok(code)
}

fn update_contact(
    state: &mut SimState,
    code: i64,
    pairs: Vec<(String, String)>,
) -> Result<i64, String> {
    if !state.contacts.contains_key(&code) {
        return Err(format!("مخاطب با کد {code} یافت نشد."));
    }
    if value_of(&pairs, "gn_web_users.fullname").is_some_and(|name| name.trim().is_empty()) {
        return Err(EMPTY_FULL_NAME_MESSAGE.to_owned());
    }
    check_mobile_unique(state, &pairs, Some(code))?;

    let Some(contact) = state.contacts.get_mut(&code) else {
        return Err(format!("مخاطب با کد {code} یافت نشد."));
    };
    for (key, value) in pairs {
        contact.fields.insert(key, value);
    }
    state.counters.contact_updates += 1;
    Ok(code)
}

/// Rejects a non-empty mobile number that a contact other than `own_code` already has,
/// compared exactly as stored. Inactive and administrator records count too.
fn check_mobile_unique(
    state: &SimState,
    pairs: &[(String, String)],
    own_code: Option<i64>,
) -> Result<(), String> {
    let Some(mobile) = value_of(pairs, "gn_web_users.mobileno").filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let taken = state
        .contacts
        .values()
        .any(|other| Some(other.code) != own_code && other.mobile() == mobile);
    if taken {
        Err(DUPLICATE_MOBILE_MESSAGE.to_owned())
    } else {
        Ok(())
    }
}

/// Splits `text` on `|` and each pair on its first `=`. `list` names the field in errors.
pub(super) fn parse_pairs(text: &str, list: &str) -> Result<Vec<(String, String)>, String> {
    text.split('|')
        .enumerate()
        .map(|(index, pair)| {
            pair.split_once('=')
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| format!("بخش شماره {} از {list} علامت = ندارد.", index + 1))
        })
        .collect()
}

pub(super) fn value_of<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    // A repeated key keeps its last value, as when the pairs are stored one after another.
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Reads the contact code under `key`; an empty value means none.
fn find_code(pairs: &[(String, String)], key: &str) -> Result<Option<i64>, String> {
    match value_of(pairs, key).map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => value
            .parse()
            .map(Some)
            .map_err(|_| format!("مقدار «{value}» برای {key} کد معتبری نیست.")),
    }
}

/// Like [`find_code`], and removes `key` from `pairs` so that it is not stored.
fn take_code(pairs: &mut Vec<(String, String)>, key: &str) -> Result<Option<i64>, String> {
    let code = find_code(pairs, key)?;
    pairs.retain(|(k, _)| k != key);
    Ok(code)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::sim::siagh::SiaghSimConfig;

    const CREATE_FIXTURE: &str = include_str!("../fixtures/siagh/contact-create-request.json");
    const UPDATE_FIXTURE: &str = include_str!("../fixtures/siagh/contact-update-request.json");

    fn state(config: SiaghSimConfig) -> SimState {
        SimState::new(config).unwrap()
    }

    fn body(json: &str) -> SaveFormBody {
        serde_json::from_str(json).unwrap()
    }

    fn contact_body(ctrl_values: &str, parameters: &str) -> SaveFormBody {
        SaveFormBody {
            form_id: CONTACT_FORM_ID.to_owned(),
            ctrl_values: ctrl_values.to_owned(),
            parameters: parameters.to_owned(),
            ..SaveFormBody::default()
        }
    }

    fn description(reply: &SaveFormReply) -> &str {
        reply
            .errors
            .first()
            .map(|item| item.description.as_str())
            .unwrap_or_default()
    }

    #[test]
    fn create_fixture_gets_8404() {
        let mut state = state(SiaghSimConfig::default());

        let reply = save_form(&mut state, &body(CREATE_FIXTURE));

        assert!(reply.return_value);
        assert_eq!(reply.return_code, "8404");
        assert_eq!(reply.return_params, "8404");
        let stored = &state.contacts[&8404];
        assert_eq!(stored.full_name(), "شخص نمونه جدید");
        assert_eq!(stored.tmp_id(), Some("404"));
        assert_eq!(stored.field("NickName"), Some("dbgrid1.#nickname#"));
        assert_eq!(state.counters.contact_creates, 1);
    }

    #[test]
    fn create_reply_matches_fixture() {
        let fixture = include_str!("../fixtures/siagh/contact-create-success-response.json");
        let mut state = state(SiaghSimConfig::default());

        let reply = save_form(&mut state, &body(CREATE_FIXTURE));

        assert_eq!(
            serde_json::to_string_pretty(&reply).unwrap(),
            fixture.trim_end()
        );
    }

    #[test]
    fn update_fixture_updates_in_place() {
        let mut state = state(SiaghSimConfig::default());
        save_form(&mut state, &body(CREATE_FIXTURE));

        let reply = save_form(&mut state, &body(UPDATE_FIXTURE));

        assert_eq!(reply.return_code, "8404");
        assert_eq!(state.contacts[&8404].full_name(), "شخص نمونه ویرایش شده");
        assert_eq!(state.contacts[&8404].phone(), "02100000044");
        assert!(state.contacts[&8404].field("Param1").is_none());
        assert_eq!(state.contacts.len(), 5);
        assert_eq!(state.counters.contact_updates, 1);
    }

    #[test]
    fn duplicate_mobile_reply_matches_fixture() {
        let fixture = include_str!("../fixtures/siagh/error-duplicate-mobile-response.json");
        let mut state = state(SiaghSimConfig::default());
        let ctrl = "gn_web_users.fullname=x|gn_web_users.mobileno=09120000001";

        let reply = save_form(&mut state, &contact_body(ctrl, "CodeMain="));

        assert_eq!(
            serde_json::to_string_pretty(&reply).unwrap(),
            fixture.trim_end()
        );
        assert_eq!(state.counters.rejected_saves, 1);
        assert_eq!(state.counters.contact_creates, 0);
    }

    #[test]
    fn update_keeping_own_mobile_passes() {
        let mut state = state(SiaghSimConfig::default());
        let ctrl = "Param1=8401|gn_web_users.fullname=y|gn_web_users.mobileno=09120000001";

        let reply = save_form(&mut state, &contact_body(ctrl, "CodeMain=8401"));

        assert!(reply.return_value, "{}", description(&reply));
        assert_eq!(state.contacts[&8401].full_name(), "y");
    }

    #[test]
    fn update_taking_another_mobile_is_rejected() {
        let mut state = state(SiaghSimConfig::default());
        let ctrl = "Param1=8401|gn_web_users.mobileno=09120000003";

        let reply = save_form(&mut state, &contact_body(ctrl, "CodeMain=8401"));

        assert_eq!(description(&reply), DUPLICATE_MOBILE_MESSAGE);
    }

    #[test]
    fn empty_full_name_is_rejected() {
        let mut state = state(SiaghSimConfig::default());

        let missing = save_form(
            &mut state,
            &contact_body("gn_web_users.mobileno=1", "CodeMain="),
        );
        let blank = save_form(
            &mut state,
            &contact_body("gn_web_users.fullname= ", "CodeMain="),
        );

        assert_eq!(description(&missing), EMPTY_FULL_NAME_MESSAGE);
        assert_eq!(description(&blank), EMPTY_FULL_NAME_MESSAGE);
        assert!(!blank.return_value);
        assert_eq!(state.counters.rejected_saves, 2);
    }

    #[test]
    fn unknown_key_is_named_in_the_error() {
        let mut state = state(SiaghSimConfig::default());
        let ctrl = "gn_web_users.fullname=x|gn_web_users.tpmid=5";

        let reply = save_form(&mut state, &contact_body(ctrl, "CodeMain="));

        assert!(!reply.return_value);
        assert!(description(&reply).contains("gn_web_users.tpmid"));
    }

    #[test]
    fn pair_without_equals_is_rejected() {
        let mut state = state(SiaghSimConfig::default());

        let reply = save_form(
            &mut state,
            &contact_body("gn_web_users.fullname=x|oops", "CodeMain="),
        );

        assert!(!reply.return_value);
        assert!(description(&reply).contains("بخش شماره 2 از ctrlValues"));
    }

    #[test]
    fn value_is_split_on_first_equals() {
        let mut state = state(SiaghSimConfig::default());

        let reply = save_form(
            &mut state,
            &contact_body("gn_web_users.fullname=a=b", "CodeMain="),
        );

        let code: i64 = reply.return_code.parse().unwrap();
        assert_eq!(state.contacts[&code].full_name(), "a=b");
    }

    #[test]
    fn bare_tmpid_and_password_are_stored() {
        let mut state = state(SiaghSimConfig::default());
        let ctrl =
            "gn_web_users.fullname=x|tmpid=111|gn_web_users.password=p|gn_web_users.nickname=";

        let reply = save_form(&mut state, &contact_body(ctrl, "CodeMain="));

        let contact = &state.contacts[&reply.return_code.parse::<i64>().unwrap()];
        assert_eq!(contact.tmp_id(), Some("111"));
        assert_eq!(contact.field("gn_web_users.password"), Some("p"));
    }

    #[test]
    fn codes_are_sequential() {
        let mut state = state(SiaghSimConfig::default());

        let first = save_form(
            &mut state,
            &contact_body("gn_web_users.fullname=a", "CodeMain="),
        );
        let second = save_form(
            &mut state,
            &contact_body("gn_web_users.fullname=b", "CodeMain="),
        );

        assert_eq!(first.return_code, "8404");
        assert_eq!(second.return_code, "8405");
    }

    #[test]
    fn update_of_unknown_code_is_rejected() {
        let mut state = state(SiaghSimConfig::default());

        let reply = save_form(&mut state, &contact_body("Param1=9999", "CodeMain=9999"));

        assert!(!reply.return_value);
        assert!(description(&reply).contains("9999"));
        assert_eq!(state.counters.contact_updates, 0);
    }

    #[test]
    fn code_main_alone_updates_in_place() {
        let mut state = state(SiaghSimConfig::default());

        let reply = save_form(
            &mut state,
            &contact_body("gn_web_users.telno=1", "CodeMain=8402"),
        );

        assert_eq!(reply.return_code, "8402");
        assert_eq!(state.contacts[&8402].phone(), "1");
    }

    #[test]
    fn legacy_bug_inserts_on_update_without_param1() {
        let mut state = state(SiaghSimConfig {
            legacy_update_bug: true,
            ..Default::default()
        });
        let ctrl = "gn_web_users.fullname=x|gn_web_users.telno=1";

        let without_param1 = save_form(&mut state, &contact_body(ctrl, "CodeMain=8402"));
        let with_param1 = save_form(
            &mut state,
            &contact_body(&format!("Param1=8402|{ctrl}"), "CodeMain=8402"),
        );

        assert_eq!(without_param1.return_code, "8404");
        assert_eq!(with_param1.return_code, "8402");
        assert_eq!(state.counters.contact_creates, 1);
        assert_eq!(state.counters.contact_updates, 1);
    }

    #[test]
    fn conflicting_param1_and_code_main_are_rejected() {
        let mut state = state(SiaghSimConfig::default());

        let reply = save_form(&mut state, &contact_body("Param1=8401", "CodeMain=8402"));

        assert!(!reply.return_value);
    }

    #[test]
    fn unknown_form_is_rejected() {
        let mut state = state(SiaghSimConfig::default());
        let request = SaveFormBody {
            form_id: "FFFFF".to_owned(),
            ..SaveFormBody::default()
        };

        let reply = save_form(&mut state, &request);

        assert!(!reply.return_value);
        assert!(description(&reply).contains("FFFFF"));
        assert_eq!(reply.errors[0].error_type, "ErrError");
    }
}
