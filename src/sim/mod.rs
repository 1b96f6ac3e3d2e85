//! Simulators of the Payamgostar CRM and the Siagh finance API, used by `siagh-sync sim`,
//! `siagh-sync demo` and the integration tests.

pub mod crm;
pub mod siagh;
