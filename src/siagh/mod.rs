//! Client for the Siagh (سیاق) finance API: its wire types, the contact and sales
//! pre-invoice form builders and the error type.
//!
//! Siagh exposes three endpoints: `LoginUser` (MD5 password digest → session id),
//! `Gn_Web_Users/GetAll` (every contact as one JSON array) and `SaveFormData` (create or
//! update a record through a form). Business errors come back as HTTP 200 with `ErrError`
//! messages.

mod client;
pub mod decimal;
mod error;
mod form;
mod model;
mod preinvoice;

#[cfg(test)]
mod tests;

pub use client::{SessionInfo, SiaghClient, SiaghClientConfig, password_md5};
pub use error::Error;
pub use form::{CONTACT_FORM_ID, ContactForm, CtrlValues, POST_CODE, PartyType};
pub use model::{
    ERROR_TYPE_ERROR, LoginRequest, LoginResponse, ParseSiaghCodeError, SaveFormRequest,
    SaveFormResponse, SiaghCode, SiaghContact, SiaghErrorBody, SiaghMessage,
};
pub use preinvoice::{
    DEFAULT_DOCUMENT_NAME, PREINVOICE_FORM_ID, PreInvoiceCreated, PreInvoiceForm, PreInvoiceLine,
    SubmissionIds, document_number,
};
