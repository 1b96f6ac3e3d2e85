//! The sync engine: canonical types and normalization, the adapters between each system's
//! records and the canonical form, and the actors that move changes (webhook receiver,
//! orchestrator, retry scheduler).

pub mod canonical;
pub mod crm_customer;
pub mod crm_poller;
pub mod crm_write;
pub mod customer;
pub mod customer_number;
pub mod finance_diff;
pub mod finance_poller;
pub mod fiscal_year;
pub mod leadership;
pub mod merge;
pub mod messages;
pub mod names;
pub mod normalize;
pub mod orchestrator;
pub mod quote;
pub mod quote_mapping;
pub mod reconcile;
pub mod retry;
pub mod siagh_contact;
pub mod siagh_to_crm;
pub mod supervision;
pub mod webhook_receiver;

pub use supervision::{ActorRegistry, FaultInjection};

/// Entity scopes the engine syncs; also the scope names of pause and resume.
pub const ENTITY_CUSTOMER: &str = "customer";
pub const ENTITY_QUOTE: &str = "quote";
/// Scope name that pauses every entity.
pub const SCOPE_ALL: &str = "all";
/// Every scope an operator may pause.
pub const SCOPES: &[&str] = &[SCOPE_ALL, ENTITY_CUSTOMER, ENTITY_QUOTE];
/// Every entity the engine syncs.
pub const ENTITIES: &[&str] = &[ENTITY_CUSTOMER, ENTITY_QUOTE];
