//! siagh-sync keeps the Payamgostar CRM and the Siagh finance system in step.

pub mod bench;
pub mod config;
pub mod crm;
pub mod dedup;
pub mod demo;
pub mod http;
pub mod import;
pub mod siagh;
pub mod sim;
pub mod startup;
pub mod store;
pub mod sync;
pub mod telemetry;
