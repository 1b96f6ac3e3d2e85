//! Integration tests: the real server against the CRM and Siagh simulators, on SQLite with
//! in-process dedup and on PostgreSQL with Redis.

#![allow(clippy::unwrap_used)]

mod helpers;

mod admin;
mod cli;
mod customer_sync;
mod import;
mod leadership;
mod quotes;
mod resilience;
mod two_way;
mod webhooks;
