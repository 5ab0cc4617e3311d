//! Unit tests of `when`: what each parser reads, what it refuses, and how instants are shown,
//! with the helpers the test files share.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};

use super::WhenError;

mod due;
mod logged;
mod values;
mod wall_clock;

/// An instant written as a wall-clock time with its offset, e.g. "2026-03-08 03:30 -0400".
/// Expectations are spelled out with offsets so the tests do not lean on the code under test.
fn at(s: &str) -> DateTime<Utc> {
    DateTime::<FixedOffset>::parse_from_str(s, "%Y-%m-%d %H:%M %z")
        .unwrap_or_else(|e| panic!("bad test instant {s}: {e}"))
        .with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("bad date {s}: {e}"))
}

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
