//! Helpers the domain's unit tests share: instants and dates written out in full, so that
//! expectations do not lean on the code under test.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// An instant written as a wall-clock time with its offset, e.g. "2026-03-08 03:30 -0400".
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::<FixedOffset>::parse_from_str(s, "%Y-%m-%d %H:%M %z")
        .unwrap_or_else(|e| panic!("bad test instant {s}: {e}"))
        .with_timezone(&Utc)
}

/// A date written `YYYY-MM-DD`.
pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("bad date {s}: {e}"))
}
