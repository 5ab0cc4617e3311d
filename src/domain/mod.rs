//! Pure types and rules: parsing what people type, money, time, stages, permissions and the
//! pipeline arithmetic. Nothing here does I/O; the current time is always passed in.

pub mod analytics;
pub mod figures;
pub mod import;
pub mod locale;
pub mod money;
pub mod period;
pub mod pipeline;
pub mod refs;
pub mod role;
pub mod stage;
#[cfg(test)]
pub(crate) mod testing;
pub mod text;
pub mod token;
pub mod webhook;
pub mod when;
