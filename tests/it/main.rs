//! One integration-test binary (builds once): every test gets a fresh Postgres database
//! from `sqlx::test` and talks to salesbot through the console, the way a person would.

pub mod fake_discord;
mod support;

mod answers;
mod api;
mod bad_input;
mod commands;
mod discord;
mod export;
mod i18n;
mod import;
mod import_commands;
mod isolation;
mod layers;
mod markup;
mod overflow;
mod permissions;
mod pipeline;
mod processes;
mod property;
mod replica;
mod reports;
mod scheduler;
mod undo;
mod visibility;
mod webhooks;
