//! Client of the Payamgostar CRM's v2 HTTP API: login and token refresh, person and
//! organization reads, creates and updates, the paged identity search, the find call
//! filtered on `ModifyDate`, and sales quote reads.
//!
//! Every call is a POST with a JSON body under `/api/v2/…` and a bearer token from
//! `/api/v2/auth/login`. The wire types in [`model`], [`quote`], [`write`] and [`find`] mirror the
//! CRM's JSON.

pub mod client;
pub mod decimal;
pub mod error;
pub mod find;
pub mod model;
pub mod quote;
pub mod write;

#[cfg(test)]
mod tests;

pub use client::{CrmClient, CrmClientConfig};
pub use error::Error;
pub use find::{CrmFindOrder, CrmFindPage, CrmFindQuery, CrmFindRequest};
pub use model::{
    CrmAddress, CrmCategory, CrmId, CrmIdentityFields, CrmIdentitySummary, CrmObjectFields,
    CrmOrganization, CrmPerson, CrmPhone, IdentityKind,
};
pub use quote::{CrmQuote, CrmQuoteLine};
pub use write::{CrmCategoryRef, CrmIdentityWrite, CrmOrganizationWrite, CrmPersonWrite};
