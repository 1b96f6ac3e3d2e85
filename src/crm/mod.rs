//! Client of the Payamgostar CRM's v2 HTTP API: login and token refresh, person and
//! organization reads, and the paged identity search.
//!
//! Every call is a POST with a JSON body under `/api/v2/…` and a bearer token from
//! `/api/v2/auth/login`. The wire types in [`model`] mirror the CRM's JSON.

pub mod client;
pub mod error;
pub mod model;

#[cfg(test)]
mod tests;

pub use client::{CrmClient, CrmClientConfig};
pub use error::Error;
pub use model::{
    CrmAddress, CrmCategory, CrmId, CrmIdentityFields, CrmIdentitySummary, CrmObjectFields,
    CrmOrganization, CrmPerson, CrmPhone,
};
