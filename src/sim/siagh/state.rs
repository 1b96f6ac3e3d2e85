//! In-memory state of the simulated Siagh server: sessions, contacts, products,
//! pre-invoices, counters and the fault-injection knobs, plus the login and GetAll logic that reads and changes them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{FixedOffset, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use super::SiaghSimConfig;
use super::wire::{ContactRecord, LoginBody, LoginReply};

/// The GetAll records loaded when `seed_fixtures` is set.
const SEED_CONTACTS: &str = include_str!("../fixtures/siagh/getall-contacts-response.json");

/// First code given to a contact created through SaveFormData; the seed records use
/// 8401 to 8403.
const FIRST_NEW_CODE: i64 = 8404;

/// Document number of the first pre-invoice; Siagh's sample success reply shows 2488.
const FIRST_PREINVOICE_NUMBER: i64 = 2501;

/// First `ReturnCode` of a pre-invoice save, probably an internal document id.
const FIRST_PREINVOICE_RETURN_CODE: i64 = 15460;

/// First `ReturnParams` of a pre-invoice save, an undocumented number.
const FIRST_PREINVOICE_RETURN_PARAMS: i64 = 458650;

/// Code of the contact linked to the simulated user; the login reply's `ContactCode`.
const ADMIN_CONTACT_CODE: i64 = 2;

/// Iran Standard Time (UTC+03:30), used for the login reply's `SystemTime`.
const TEHRAN_OFFSET_SECONDS: i32 = 3 * 3600 + 30 * 60;

/// Request counts of the simulator, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SiaghCounters {
    /// Successful logins.
    pub logins: u64,
    /// Logins rejected with 401.
    pub failed_logins: u64,
    /// Contacts inserted through SaveFormData, legacy-bug inserts included.
    pub contact_creates: u64,
    /// Contacts updated in place through SaveFormData.
    pub contact_updates: u64,
    /// Pre-invoices stored through SaveFormData (form `43D81`).
    pub preinvoice_creates: u64,
    /// GetAll requests served with the contact list.
    pub get_all_calls: u64,
    /// SaveFormData requests rejected with an `ErrError`.
    pub rejected_saves: u64,
    /// Data calls rejected with 401 because of a missing, unknown or expired session.
    pub unauthorized: u64,
    /// Data calls failed with 500 by the `error_rate` knob.
    pub injected_errors: u64,
}

/// A contact as the simulator stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimContact {
    /// Contact code (GetAll `Code`).
    pub code: i64,
    /// Row GUID (GetAll `RecordId`).
    pub record_id: String,
    /// Whether GetAll marks this record `IsAdminUser`.
    pub is_admin: bool,
    /// Every `ctrlValues` pair written to the contact except `Param1`, by key
    /// (e.g. `gn_web_users.fullname`).
    pub fields: BTreeMap<String, String>,
}

impl SimContact {
    /// Returns the stored value of `ctrlValues` key `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// Stores `value` under `ctrlValues` key `key`.
    pub fn set_field(&mut self, key: &str, value: &str) {
        self.fields.insert(key.to_owned(), value.to_owned());
    }

    /// `gn_web_users.fullname`, or "" when unset.
    pub fn full_name(&self) -> &str {
        self.field("gn_web_users.fullname").unwrap_or_default()
    }

    /// `gn_web_users.mobileno`, or "" when unset.
    pub fn mobile(&self) -> &str {
        self.field("gn_web_users.mobileno").unwrap_or_default()
    }

    /// `gn_web_users.telno`, or "" when unset.
    pub fn phone(&self) -> &str {
        self.field("gn_web_users.telno").unwrap_or_default()
    }

    /// `gn_web_users.tmpid`, falling back to the bare `tmpid` key.
    pub fn tmp_id(&self) -> Option<&str> {
        self.field("gn_web_users.tmpid")
            .or_else(|| self.field("tmpid"))
    }

    /// Returns whether the contact is active: `gn_web_users.isactive` is anything but `0`.
    pub fn is_active(&self) -> bool {
        self.field("gn_web_users.isactive") != Some("0")
    }

    /// Returns whether the contact is an organization (`gn_web_users.taraftype=1`).
    pub fn is_organization(&self) -> bool {
        self.field("gn_web_users.taraftype") == Some("1")
    }

    /// Maps the contact to its GetAll record. Empty values read back as `null`, and
    /// `tmpid` is never returned.
    pub(super) fn to_record(&self) -> ContactRecord {
        let text = |key: &str| {
            self.field(key)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        ContactRecord {
            record_id: self.record_id.clone(),
            code: self.code,
            name: text("gn_web_users.fullname"),
            nick_name: None,
            national_code: text("gn_web_users.passno"),
            mobile_no: text("gn_web_users.mobileno"),
            mobile_no2: None,
            tel_no: text("gn_web_users.telno"),
            tel_no2: None,
            email: text("gn_web_users.email"),
            email2: None,
            address: text("gn_web_users.address"),
            postal_code: text("gn_web_users.pocode"),
            city_code: text("gn_web_users.codeshahr"),
            country_code: text("gn_web_users.countrycode"),
            gender: None,
            birth_date: None,
            father_name: None,
            description: text("gn_web_users.tozihat"),
            website_address: text("gn_web_users.websiteaddress"),
            is_active: self.is_active(),
            is_admin_user: self.is_admin,
            toward_type: self.is_organization(),
            reg_date: None,
            expire_date: None,
            parent_code: None,
            account_party_code: None,
            geographic_code: None,
            fraternity_code: None,
            job_type_code: None,
            tracking_code: None,
            code_roshd: None,
            coin: None,
            confirm: false,
            give_coin_to_parent_code: false,
            has_discount: false,
            img: None,
            picture: None,
            pre_name: None,
            representative_id: None,
            org_field: None,
            password: None,
        }
    }

    /// Builds a stored contact from a GetAll record, the inverse of [`Self::to_record`].
    fn from_record(record: ContactRecord) -> Self {
        let mut contact = SimContact {
            code: record.code,
            record_id: record.record_id,
            is_admin: record.is_admin_user,
            fields: BTreeMap::new(),
        };
        let pairs = [
            ("gn_web_users.fullname", record.name),
            ("gn_web_users.passno", record.national_code),
            ("gn_web_users.mobileno", record.mobile_no),
            ("gn_web_users.telno", record.tel_no),
            ("gn_web_users.email", record.email),
            ("gn_web_users.address", record.address),
            ("gn_web_users.pocode", record.postal_code),
            ("gn_web_users.codeshahr", record.city_code),
            ("gn_web_users.countrycode", record.country_code),
            ("gn_web_users.tozihat", record.description),
            ("gn_web_users.websiteaddress", record.website_address),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                contact.set_field(key, &value);
            }
        }
        contact.set_field(
            "gn_web_users.isactive",
            if record.is_active { "1" } else { "0" },
        );
        contact.set_field(
            "gn_web_users.taraftype",
            if record.toward_type { "1" } else { "0" },
        );
        contact
    }
}

/// A pre-invoice as the simulator stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimPreInvoice {
    /// Document number reported in the success message.
    pub number: i64,
    /// `ReturnCode` of the save.
    pub return_code: i64,
    /// `ReturnParams` of the save.
    pub return_params: i64,
    /// `sl_sanad.codemoshtari`: the customer's contact code.
    pub customer_code: i64,
    /// `_In_Suid` of the request that created it.
    pub suid: String,
    /// Every `ctrlValues` pair, in request order.
    pub header: Vec<(String, String)>,
    /// Line items, in request order.
    pub lines: Vec<SimPreInvoiceLine>,
    /// Σ(qty·price − mabtakhfif) over the lines.
    pub net: Decimal,
}

impl SimPreInvoice {
    /// Returns the last value of `ctrlValues` key `key`, e.g. `sl_sanad.salmali`.
    pub fn header_value(&self, key: &str) -> Option<&str> {
        self.header
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One stored pre-invoice line, with the amounts exactly as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimPreInvoiceLine {
    /// `codekala`.
    pub product_code: String,
    /// `nameunit`.
    pub unit_name: String,
    /// `qty`.
    pub quantity: Decimal,
    /// `price`.
    pub unit_price: Decimal,
    /// `mabtakhfif`.
    pub discount: Decimal,
    /// `finalqty`.
    pub final_quantity: Decimal,
    /// `radif`, as text.
    pub line_number: String,
}

/// The whole simulator state, behind one mutex.
pub(super) struct SimState {
    pub config: SiaghSimConfig,
    /// MD5 of the configured password, upper-case hex.
    password_md5: String,
    pub latency: Duration,
    pub error_rate: f64,
    /// Session id → expiry time.
    sessions: HashMap<String, Instant>,
    pub contacts: BTreeMap<i64, SimContact>,
    pub next_code: i64,
    pub counters: SiaghCounters,
    /// Product codes that pre-invoice lines may use.
    pub products: BTreeSet<String>,
    pub preinvoices: Vec<SimPreInvoice>,
    pub next_preinvoice_number: i64,
    pub next_preinvoice_return_code: i64,
    pub next_preinvoice_return_params: i64,
    /// SaveFormData replies still to be held back, and for how long.
    held_replies: u32,
    hold: Duration,
}

impl SimState {
    /// Builds the initial state, loading the seed contacts when configured.
    pub fn new(config: SiaghSimConfig) -> Result<Self, serde_json::Error> {
        let mut contacts = BTreeMap::new();
        if config.seed_fixtures {
            for contact in seed_contacts()? {
                contacts.insert(contact.code, contact);
            }
        }
        let next_code = contacts
            .keys()
            .max()
            .map_or(FIRST_NEW_CODE, |max| (max + 1).max(FIRST_NEW_CODE));
        Ok(SimState {
            password_md5: format!("{:X}", md5::compute(config.password.as_bytes())),
            latency: config.latency,
            error_rate: config.error_rate,
            products: config.products.iter().cloned().collect(),
            config,
            sessions: HashMap::new(),
            contacts,
            next_code,
            counters: SiaghCounters::default(),
            preinvoices: Vec::new(),
            next_preinvoice_number: FIRST_PREINVOICE_NUMBER,
            next_preinvoice_return_code: FIRST_PREINVOICE_RETURN_CODE,
            next_preinvoice_return_params: FIRST_PREINVOICE_RETURN_PARAMS,
            held_replies: 0,
            hold: Duration::ZERO,
        })
    }

    /// Checks the credentials and opens a session, or returns `None` for a 401.
    pub fn login(&mut self, body: &LoginBody) -> Option<LoginReply> {
        let digest_matches = body.password == self.password_md5
            || (self.config.accept_lowercase_md5
                && body.password == self.password_md5.to_ascii_lowercase());
        if body.user_name != self.config.username || !digest_matches {
            self.counters.failed_logins += 1;
            return None;
        }

        let session_id = uuid::Uuid::new_v4().simple().to_string();
        let now = Instant::now();
        self.sessions.retain(|_, expires_at| *expires_at > now);
        self.sessions
            .insert(session_id.clone(), now + self.config.session_lifetime);
        self.counters.logins += 1;
        Some(login_reply(
            &body.user_name,
            session_id,
            self.config.fiscal_year,
            &tehran_time(),
        ))
    }

    /// Checks that `authorization` names a live session, counting a 401 when it does not.
    pub fn authorize(&mut self, authorization: Option<&str>) -> bool {
        let live = authorization
            .and_then(|id| self.sessions.get(id.trim()))
            .is_some_and(|expires_at| Instant::now() < *expires_at);
        if !live {
            self.counters.unauthorized += 1;
        }
        live
    }

    /// Marks every session as expired.
    pub fn expire_sessions(&mut self) {
        let now = Instant::now();
        for expires_at in self.sessions.values_mut() {
            *expires_at = now;
        }
    }

    /// Decides whether this data call fails with an injected 500, counting it if so.
    pub fn inject_error(&mut self) -> bool {
        let rate = self.error_rate.clamp(0.0, 1.0);
        let fail = rate > 0.0 && rand::random::<f64>() < rate;
        if fail {
            self.counters.injected_errors += 1;
        }
        fail
    }

    /// Holds back the next `count` SaveFormData replies for `hold` each.
    pub fn hold_replies(&mut self, count: u32, hold: Duration) {
        self.held_replies = count;
        self.hold = hold;
    }

    /// Returns how long to hold back the reply of the current SaveFormData call.
    pub fn take_hold(&mut self) -> Option<Duration> {
        if self.held_replies == 0 {
            return None;
        }
        self.held_replies -= 1;
        Some(self.hold)
    }

    /// Serves GetAll: every record, or those matching every key of `filter`.
    pub fn get_all(&mut self, filter: &GetAllFilter) -> Vec<ContactRecord> {
        self.counters.get_all_calls += 1;
        self.contacts
            .values()
            .filter(|contact| filter.matches(contact))
            .map(SimContact::to_record)
            .collect()
    }

    /// Allocates the code of a new contact.
    pub fn allocate_code(&mut self) -> i64 {
        let code = self.next_code;
        self.next_code += 1;
        code
    }
}

/// Equality filters of `POST …/GetAll`: `TelNo`, `MobileNo` and `Code`; other keys are ignored.
#[derive(Debug, Default)]
pub(super) struct GetAllFilter {
    tel_no: Option<String>,
    mobile_no: Option<String>,
    code: Option<i64>,
}

impl GetAllFilter {
    /// Reads the filter from a JSON object; `null` values are ignored.
    pub fn from_json(body: &serde_json::Map<String, Value>) -> Result<Self, &'static str> {
        let text = |key: &str| match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err("a filter value must be a string or a number"),
        };
        let code = match body.get("Code") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_i64().ok_or("Code must be an integer")?),
            Some(Value::String(s)) => {
                Some(s.trim().parse().map_err(|_| "Code must be an integer")?)
            }
            Some(_) => return Err("Code must be an integer"),
        };
        Ok(GetAllFilter {
            tel_no: text("TelNo")?,
            mobile_no: text("MobileNo")?,
            code,
        })
    }

    fn matches(&self, contact: &SimContact) -> bool {
        let tel_ok = self
            .tel_no
            .as_deref()
            .is_none_or(|tel| contact.phone() == tel);
        let mobile_ok = self
            .mobile_no
            .as_deref()
            .is_none_or(|mobile| contact.mobile() == mobile);
        let code_ok = self.code.is_none_or(|code| contact.code == code);
        tel_ok && mobile_ok && code_ok
    }
}

/// Builds the login reply. `system_time` is `HH:mm`; `SystemDate` is a fixed day (the 4th of
/// Azar) of the configured fiscal year.
pub(super) fn login_reply(
    user_name: &str,
    session_id: String,
    fiscal_year: i32,
    system_time: &str,
) -> LoginReply {
    LoginReply {
        contact_code: ADMIN_CONTACT_CODE,
        contact_name: "Sample Person".to_owned(),
        user_code: 1,
        user_name: user_name.to_owned(),
        token: format!("{session_id}:0"),
        session_id,
        branch_code: 1,
        branch_name: "دفتر مرکزی".to_owned(),
        is_admin_user: true,
        fiscal_year,
        mobile_no: "9120000000".to_owned(),
        system_date: format!("{fiscal_year:04}/09/04"),
        system_time: system_time.to_owned(),
    }
}

/// Returns the current time in Tehran as `HH:mm`.
fn tehran_time() -> String {
    let now = Utc::now();
    match FixedOffset::east_opt(TEHRAN_OFFSET_SECONDS) {
        Some(offset) => now.with_timezone(&offset).format("%H:%M").to_string(),
        None => now.format("%H:%M").to_string(),
    }
}

/// Loads the fixture contacts plus the administrator record linked to the simulated user.
fn seed_contacts() -> Result<Vec<SimContact>, serde_json::Error> {
    let records: Vec<ContactRecord> = serde_json::from_str(SEED_CONTACTS)?;
    let mut contacts: Vec<SimContact> = records.into_iter().map(SimContact::from_record).collect();

    let mut admin = SimContact {
        code: ADMIN_CONTACT_CODE,
        record_id: "00000000-0000-4000-8000-000000000002".to_owned(),
        is_admin: true,
        fields: BTreeMap::new(),
    };
    admin.set_field("gn_web_users.fullname", "Sample Person");
    admin.set_field("gn_web_users.mobileno", "09120000000");
    admin.set_field("gn_web_users.isactive", "1");
    admin.set_field("gn_web_users.taraftype", "0");
    contacts.push(admin);
    Ok(contacts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn state(config: SiaghSimConfig) -> SimState {
        SimState::new(config).unwrap()
    }

    fn login_body(password: &str) -> LoginBody {
        LoginBody {
            user_name: "کاربر نمونه".to_owned(),
            password: password.to_owned(),
        }
    }

    #[test]
    fn login_reply_matches_fixture_byte_for_byte() {
        let fixture = include_str!("../fixtures/siagh/login-response.json");

        let reply = login_reply(
            "کاربر نمونه",
            "5a3e0c2f9b8d4e6a8c1f2b3d4e5f6a7b".to_owned(),
            1404,
            "17:33",
        );

        assert_eq!(
            serde_json::to_string_pretty(&reply).unwrap(),
            fixture.trim_end()
        );
    }

    #[test]
    fn seeded_records_match_fixture_byte_for_byte() {
        let mut state = state(SiaghSimConfig::default());

        let records: Vec<ContactRecord> = state
            .get_all(&GetAllFilter::default())
            .into_iter()
            .filter(|r| r.code > 8000)
            .collect();

        assert_eq!(
            serde_json::to_string_pretty(&records).unwrap(),
            SEED_CONTACTS.trim_end()
        );
    }

    #[test]
    fn seed_includes_one_admin_record() {
        let mut state = state(SiaghSimConfig::default());

        let records = state.get_all(&GetAllFilter::default());

        assert_eq!(records.len(), 4);
        assert_eq!(records.iter().filter(|r| r.is_admin_user).count(), 1);
        assert_eq!(state.next_code, FIRST_NEW_CODE);
    }

    #[test]
    fn unseeded_state_is_empty() {
        let state = state(SiaghSimConfig {
            seed_fixtures: false,
            ..SiaghSimConfig::default()
        });

        assert!(state.contacts.is_empty());
        assert_eq!(state.next_code, FIRST_NEW_CODE);
    }

    #[test]
    fn login_accepts_upper_case_digest_only_by_default() {
        let mut state = state(SiaghSimConfig::default());

        let upper = state.login(&login_body("63FE8E9E6E805F2CB28675D5592F22E8"));
        let lower = state.login(&login_body("63fe8e9e6e805f2cb28675d5592f22e8"));

        let upper = upper.unwrap();
        assert_eq!(upper.session_id.len(), 32);
        assert!(
            upper
                .session_id
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_eq!(upper.token, format!("{}:0", upper.session_id));
        assert!(lower.is_none());
        assert_eq!(state.counters.logins, 1);
        assert_eq!(state.counters.failed_logins, 1);
    }

    #[test]
    fn lower_case_digest_accepted_when_switched_on() {
        let mut state = state(SiaghSimConfig {
            accept_lowercase_md5: true,
            ..Default::default()
        });

        assert!(
            state
                .login(&login_body("63fe8e9e6e805f2cb28675d5592f22e8"))
                .is_some()
        );
    }

    #[test]
    fn wrong_user_name_is_rejected() {
        let mut state = state(SiaghSimConfig::default());
        let body = LoginBody {
            user_name: "کاربرنمونه".to_owned(),
            password: "63FE8E9E6E805F2CB28675D5592F22E8".to_owned(),
        };

        assert!(state.login(&body).is_none());
    }

    #[test]
    fn sessions_expire() {
        let mut state = state(SiaghSimConfig::default());
        let session = state
            .login(&login_body("63FE8E9E6E805F2CB28675D5592F22E8"))
            .unwrap();

        let before = state.authorize(Some(&session.session_id));
        state.expire_sessions();
        let after = state.authorize(Some(&session.session_id));

        assert!(before);
        assert!(!after);
        assert!(!state.authorize(None));
        assert!(!state.authorize(Some("unknown")));
        assert_eq!(state.counters.unauthorized, 3);
    }

    #[test]
    fn session_lifetime_applies() {
        let config = SiaghSimConfig {
            session_lifetime: Duration::ZERO,
            ..Default::default()
        };
        let mut state = state(config);
        let session = state
            .login(&login_body("63FE8E9E6E805F2CB28675D5592F22E8"))
            .unwrap();

        assert!(!state.authorize(Some(&session.session_id)));
    }

    #[test]
    fn filter_matches_every_given_key() {
        let mut state = state(SiaghSimConfig::default());
        let by_mobile = serde_json::json!({"MobileNo": "09120000002"});
        let by_code_text = serde_json::json!({"Code": "8401", "TelNo": "02100000001"});
        let mismatch = serde_json::json!({"Code": 8401, "TelNo": "02100000002"});

        let filter = |value: Value| GetAllFilter::from_json(value.as_object().unwrap()).unwrap();

        assert_eq!(
            state.get_all(&filter(by_mobile)).first().map(|r| r.code),
            Some(8402)
        );
        assert_eq!(state.get_all(&filter(by_code_text)).len(), 1);
        assert!(state.get_all(&filter(mismatch)).is_empty());
    }

    #[test]
    fn records_never_contain_tmpid() {
        let mut contact = SimContact {
            code: 9,
            record_id: "r".to_owned(),
            is_admin: false,
            fields: BTreeMap::new(),
        };
        contact.set_field("gn_web_users.tmpid", "404");
        contact.set_field("gn_web_users.taraftype", "1");

        let json = serde_json::to_string(&contact.to_record()).unwrap();

        assert!(!json.contains("404"));
        assert!(!json.to_lowercase().contains("tmpid"));
        assert!(json.contains(r#""TowardType":true"#));
    }

    #[test]
    fn error_rate_one_always_fails() {
        let mut state = state(SiaghSimConfig {
            error_rate: 1.0,
            ..Default::default()
        });

        assert!(state.inject_error());
        assert_eq!(state.counters.injected_errors, 1);
    }

    #[test]
    fn held_replies_run_out() {
        let mut state = state(SiaghSimConfig::default());
        state.hold_replies(1, Duration::from_millis(5));

        assert_eq!(state.take_hold(), Some(Duration::from_millis(5)));
        assert_eq!(state.take_hold(), None);
    }
}
