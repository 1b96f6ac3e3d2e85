//! JSON bodies the simulated Siagh server reads and writes.
//!
//! These types are separate from the client's in `crate::siagh`, so that a mistake in one
//! side's field names shows up as a failing test instead of being shared by both. Field order
//! and casing follow the fixtures in `src/sim/fixtures/siagh`.

use serde::{Deserialize, Serialize};

/// Body of `POST /GeneralApi/LoginUser`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginBody {
    #[serde(rename = "UserName", default)]
    pub user_name: String,
    #[serde(rename = "Password", default)]
    pub password: String,
}

/// Successful login reply: the 13 fields of Siagh's login object.
#[derive(Debug, Serialize)]
pub(super) struct LoginReply {
    #[serde(rename = "ContactCode")]
    pub contact_code: i64,
    #[serde(rename = "ContactName")]
    pub contact_name: String,
    #[serde(rename = "UserCode")]
    pub user_code: i64,
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "SessionId")]
    pub session_id: String,
    #[serde(rename = "Token")]
    pub token: String,
    #[serde(rename = "BranchCode")]
    pub branch_code: i64,
    #[serde(rename = "BranchName")]
    pub branch_name: String,
    #[serde(rename = "IsAdminUser")]
    pub is_admin_user: bool,
    #[serde(rename = "FiscalYear")]
    pub fiscal_year: i32,
    #[serde(rename = "MobileNo")]
    pub mobile_no: String,
    #[serde(rename = "SystemDate")]
    pub system_date: String,
    #[serde(rename = "SystemTime")]
    pub system_time: String,
}

/// `{"Message": …}`: the body of 400, 401 and 500 replies.
#[derive(Debug, Serialize)]
pub(super) struct MessageBody {
    #[serde(rename = "Message")]
    pub message: &'static str,
}

/// One GetAll record, in the field order of `getall-contacts-response.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct ContactRecord {
    #[serde(rename = "RecordId")]
    pub record_id: String,
    #[serde(rename = "Code")]
    pub code: i64,
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "NickName")]
    pub nick_name: Option<String>,
    #[serde(rename = "NationalCode")]
    pub national_code: Option<String>,
    #[serde(rename = "MobileNo")]
    pub mobile_no: Option<String>,
    #[serde(rename = "MobileNo2")]
    pub mobile_no2: Option<String>,
    #[serde(rename = "TelNo")]
    pub tel_no: Option<String>,
    #[serde(rename = "TelNo2")]
    pub tel_no2: Option<String>,
    #[serde(rename = "Email")]
    pub email: Option<String>,
    #[serde(rename = "Email2")]
    pub email2: Option<String>,
    #[serde(rename = "Address")]
    pub address: Option<String>,
    #[serde(rename = "PostalCode")]
    pub postal_code: Option<String>,
    #[serde(rename = "CityCode")]
    pub city_code: Option<String>,
    #[serde(rename = "CountryCode")]
    pub country_code: Option<String>,
    #[serde(rename = "Gender")]
    pub gender: Option<String>,
    #[serde(rename = "BirthDate")]
    pub birth_date: Option<String>,
    #[serde(rename = "FatherName")]
    pub father_name: Option<String>,
    #[serde(rename = "Description")]
    pub description: Option<String>,
    #[serde(rename = "WebSiteAddress")]
    pub website_address: Option<String>,
    #[serde(rename = "IsActive")]
    pub is_active: bool,
    #[serde(rename = "IsAdminUser")]
    pub is_admin_user: bool,
    #[serde(rename = "TowardType")]
    pub toward_type: bool,
    #[serde(rename = "RegDate")]
    pub reg_date: Option<String>,
    #[serde(rename = "ExpireDate")]
    pub expire_date: Option<String>,
    #[serde(rename = "ParentCode")]
    pub parent_code: Option<i64>,
    #[serde(rename = "AccountPartyCode")]
    pub account_party_code: Option<i64>,
    #[serde(rename = "GeographicCode")]
    pub geographic_code: Option<String>,
    #[serde(rename = "FraternityCode")]
    pub fraternity_code: Option<String>,
    #[serde(rename = "JobTypeCode")]
    pub job_type_code: Option<String>,
    #[serde(rename = "TrackingCode")]
    pub tracking_code: Option<String>,
    #[serde(rename = "CodeRoshd")]
    pub code_roshd: Option<String>,
    #[serde(rename = "Coin")]
    pub coin: Option<i64>,
    #[serde(rename = "Confirm")]
    pub confirm: bool,
    #[serde(rename = "GiveCoinToParentCode")]
    pub give_coin_to_parent_code: bool,
    #[serde(rename = "HasDisCount")]
    pub has_discount: bool,
    #[serde(rename = "img")]
    pub img: Option<String>,
    #[serde(rename = "Picture")]
    pub picture: Option<String>,
    #[serde(rename = "PreName")]
    pub pre_name: Option<String>,
    #[serde(rename = "RepresentativeId")]
    pub representative_id: Option<String>,
    #[serde(rename = "OrgField")]
    pub org_field: Option<String>,
    #[serde(rename = "Password")]
    pub password: Option<String>,
}

/// Body of `POST /BpmsApi/SaveFormData`. Missing fields read as empty strings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SaveFormBody {
    #[serde(rename = "formId")]
    pub form_id: String,
    #[serde(rename = "ctrlValues")]
    pub ctrl_values: String,
    #[serde(rename = "parameters")]
    pub parameters: String,
    #[serde(rename = "dataRows")]
    pub data_rows: String,
    #[serde(rename = "attachments")]
    pub attachments: String,
    #[serde(rename = "postCode")]
    pub post_code: String,
    #[serde(rename = "flowId")]
    pub flow_id: String,
}

/// SaveFormData result, sent with HTTP 200 whether the save succeeded or not.
#[derive(Debug, Serialize)]
pub(super) struct SaveFormReply {
    #[serde(rename = "Errors")]
    pub errors: Vec<MessageItem>,
    #[serde(rename = "FinalMessages")]
    pub final_messages: Vec<String>,
    #[serde(rename = "ReturnValue")]
    pub return_value: bool,
    #[serde(rename = "ReturnCode")]
    pub return_code: String,
    #[serde(rename = "ReturnParams")]
    pub return_params: String,
}

impl SaveFormReply {
    /// Success with `ReturnCode` = `ReturnParams` = `code`, as for a saved contact.
    pub fn saved(code: i64) -> Self {
        SaveFormReply {
            errors: Vec::new(),
            final_messages: Vec::new(),
            return_value: true,
            return_code: code.to_string(),
            return_params: code.to_string(),
        }
    }

    /// Success of a pre-invoice save: one `ErrSuccs` note with `note`, and `summary` as the
    /// only final message.
    pub fn noted(note: String, summary: String, return_code: i64, return_params: i64) -> Self {
        SaveFormReply {
            errors: vec![MessageItem::success(note)],
            final_messages: vec![summary],
            return_value: true,
            return_code: return_code.to_string(),
            return_params: return_params.to_string(),
        }
    }

    /// Failure carrying one `ErrError` item with `description` about column `col_name`,
    /// e.g. `Price`.
    pub fn rejected_in_column(description: String, col_name: &str) -> Self {
        let mut item = MessageItem::error(description);
        item.col_name = col_name.to_owned();
        SaveFormReply {
            errors: vec![item],
            final_messages: Vec::new(),
            return_value: false,
            return_code: String::new(),
            return_params: String::new(),
        }
    }
}

/// One item of the `Errors` array.
#[derive(Debug, Serialize)]
pub(super) struct MessageItem {
    #[serde(rename = "ColName")]
    pub col_name: String,
    #[serde(rename = "Group")]
    pub group: String,
    #[serde(rename = "ErrorType")]
    pub error_type: &'static str,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "ErrorCode")]
    pub error_code: i64,
    #[serde(rename = "MessageText")]
    pub message_text: String,
    #[serde(rename = "Solution")]
    pub solution: String,
    #[serde(rename = "HelpIndex")]
    pub help_index: String,
}

impl MessageItem {
    fn success(description: String) -> Self {
        MessageItem {
            error_type: "ErrSuccs",
            error_code: 0,
            ..Self::error(description)
        }
    }

    fn error(description: String) -> Self {
        MessageItem {
            col_name: String::new(),
            group: String::new(),
            error_type: "ErrError",
            description,
            error_code: -1,
            message_text: String::new(),
            solution: String::new(),
            help_index: String::new(),
        }
    }
}

/// One detail grid of a pre-invoice's `dataRows`.
#[derive(Debug, Deserialize)]
pub(super) struct GridBody {
    pub name: String,
    pub entity: String,
    #[serde(rename = "keyField", default)]
    pub key_field: String,
    #[serde(default)]
    pub data: Vec<RowBody>,
}

/// One `sl_rizsanad` row. Columns the simulator does not use (`takhfif`, `sumamelinc`,
/// `sumameldec`, `vazn`, `hajm`) are ignored.
#[derive(Debug, Deserialize)]
pub(super) struct RowBody {
    #[serde(rename = "_status")]
    pub status: TextCell,
    pub codekala: TextCell,
    pub nameunit: TextCell,
    pub qty: NumberCell,
    pub mabtakhfif: NumberCell,
    pub price: NumberCell,
    pub radif: TextCell,
    pub finalqty: NumberCell,
}

/// A change-tracking cell whose `newValue` is a string.
#[derive(Debug, Deserialize)]
pub(super) struct TextCell {
    #[serde(rename = "newValue")]
    pub new_value: String,
}

/// A change-tracking cell whose `newValue` is a number, read exactly.
#[derive(Debug, Deserialize)]
pub(super) struct NumberCell {
    #[serde(
        rename = "newValue",
        deserialize_with = "crate::siagh::decimal::deserialize"
    )]
    pub new_value: rust_decimal::Decimal,
}
