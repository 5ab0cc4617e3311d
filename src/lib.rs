//! salesbot: a team's sales process inside Discord.
//!
//! The crate map, lowest layer first (imports only point down; `tests/it/layers.rs` checks it,
//! ARCHITECTURE.md has the longer map and the path of a command and of a digest):
//! - [`domain`]: pure types and rules (money, time, stages, permissions, pipeline and KPI
//!   arithmetic, the shared formulas in [`domain::figures`]); no I/O, the current time is
//!   passed in. [`config`]: settings from the environment, secrets hidden.
//! - [`i18n`]: the message catalog (English and Simplified Chinese). [`charts`]: PNG charts
//!   (funnel, trend, bars) from plain figures.
//! - [`store`]: every SQL statement, row types, the enums held in text columns and
//!   [`store::StoreError`]; the pool never leaves it.
//! - [`engine`]: the one command engine; validates requests against `commands/*.json`, parses
//!   them into typed commands, checks permissions, runs one transaction, returns a
//!   transport-neutral [`engine::Reply`]. It also composes what the bot says on its own
//!   ([`engine::notices`]) with the same [`engine::format::Format`] as every reply.
//! - [`outbox`]: delivery of what the bot says on its own, through a [`outbox::Deliver`] trait
//!   that each front-end implements. [`webhooks`]: delivery of webhook events, signed as the
//!   Standard Webhooks specification has them, to public addresses only unless allowed.
//! - [`scheduler`]: what is due when (reminders, agendas, digests), written to the outbox.
//!   `demo` (feature `demo`, on by default): the console's demo workspace.
//! - Front-ends: [`discord`] (serenity; the only module that imports it) and [`console`] (the
//!   stdin console and `salesbot report`). `main.rs` reads configuration and starts one.

rust_i18n::i18n!("src/i18n", fallback = "en");

pub mod charts;
pub mod config;
pub mod console;
#[cfg(feature = "demo")]
pub mod demo;
pub mod discord;
pub mod domain;
pub mod engine;
pub mod http;
pub mod i18n;
pub mod outbox;
pub mod scheduler;
pub mod store;
pub mod webhooks;
