//! Unit tests of `when`: what each parser reads, what it refuses, and how instants are shown,
//! with the helpers the test files share.

use chrono::NaiveTime;

use super::WhenError;

mod due;
mod logged;
mod values;
mod wall_clock;

use crate::domain::testing::{at, date};

fn time(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap_or_else(|e| panic!("bad time {s}: {e}"))
}

fn un(s: &str) -> WhenError {
    WhenError::Unrecognized(s.to_string())
}
fn invalid(s: &str) -> WhenError {
    WhenError::InvalidDate(s.to_string())
}
fn past(s: &str) -> WhenError {
    WhenError::InPast(s.to_string())
}
fn far(s: &str) -> WhenError {
    WhenError::TooFar(s.to_string())
}
fn future(s: &str) -> WhenError {
    WhenError::InFuture(s.to_string())
}
