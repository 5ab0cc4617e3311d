//! salesbot: a team's sales process inside Discord.
//!
//! The map (ARCHITECTURE.md has the longer one):
//! - [`domain`]: pure types and rules (money, time, stages, permissions, pipeline arithmetic);
//!   no I/O, the current time is passed in.
//! - [`store`]: every SQL statement, row types and [`store::StoreError`].
//! - [`engine`]: the one command engine; validates requests against `commands/*.json`, parses
//!   them into typed commands, checks permissions, runs one transaction, returns a
//!   transport-neutral [`engine::Reply`].
//! - [`console`]: the stdin/stdout front-end; [`demo`] seeds its demo workspace.
//! - [`i18n`]: the message catalog (English and Simplified Chinese).
//! - [`config`]: settings from the environment.

rust_i18n::i18n!("src/i18n", fallback = "en");

pub mod charts;
pub mod config;
pub mod console;
#[cfg(feature = "demo")]
pub mod demo;
pub mod discord;
pub mod domain;
pub mod engine;
pub mod i18n;
pub mod outbox;
pub mod scheduler;
pub mod store;
