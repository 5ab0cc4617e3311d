//! Dates and times as people type them, read in the caller's IANA time zone.
//!
//! Everything here is pure: `now` and the zone are passed in, so an input always gives the same
//! answer and tests can pin any moment, DST changes included.
//!
//! Choices worth knowing before reading the parsers:
//! - Due times (`parse_when`) lean ahead and logged events (`parse_past`) lean back: the same
//!   words are read either way, and only forms without a direction word (`fri`, `3pm`, `2h`)
//!   differ between the two.
//! - A bare weekday (`fri`, `周五`) means today only when a time still ahead today is given
//!   (`fri 17:00` on a Friday morning). Otherwise it is the next such day after today: "remind me
//!   friday" said on a Friday almost always means next week, and a silent same-day reminder at a
//!   default hour that has already passed would be worse. `parse_past` mirrors this: today only
//!   for a time already passed, else the last such day before today.
//! - `next fri` is always strictly after today. `下周五` is Friday of next calendar week (weeks
//!   start on Monday), because that is what it means in Chinese; `本周五` is this week's Friday.
//!   `last fri` and `上周五` are the backward counterparts.
//! - With no time given, `today` means 17:00 (the end of the working day, so it is usually still
//!   ahead), other named days mean 09:00, and `in 3 days` keeps the current wall-clock time.
//!   In `parse_past` a named day means noon, or now if noon has not come yet.
//! - `2m` is two minutes, not two months; months are spelled `2mo` or `2 months`.
//! - Day/month numbers without a year first (`12/01`, `01.12`) are refused: half of a global team
//!   reads them the other way round. Year-first dates (`2026-12-01`) and `12月1日` are accepted.
//! - A bare hour in Chinese (`3点`) is taken literally as 03:00; we do not guess the afternoon.
//! - A local time that happens twice (autumn fall-back) takes the earlier instant; one that never
//!   happens (spring gap) moves forward by the gap, as a wall clock set forward would read.
//!
//! Where things live: this file holds the error type and the entry points; `grammar` the forms
//! both languages share and the order in which forms are tried; `en` and `zh` the English and
//! Chinese words and patterns; `resolve` the calendar arithmetic and the step from a wall-clock
//! reading to an instant, DST included; `format` how dates and times are shown back; `zone` time
//! zone names.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Months, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use regex::Regex;

/// A regex compiled on first use. Patterns are constants covered by the tests, so a bad one
/// fails every test at once rather than a user's command.
macro_rules! lazy_regex {
    ($pattern:expr) => {
        LazyLock::new(|| Regex::new($pattern).expect("valid regex"))
    };
}

mod common;
mod en;
mod format;
mod grammar;
mod resolve;
#[cfg(test)]
mod tests;
mod zh;
mod zone;

pub use format::{format_date, format_datetime, format_relative_days};
pub use resolve::{resolve_local, today_in};
pub use zone::parse_tz;

use common::{group, Dir};
use grammar::{clock, interpret, normalize, read_date};

/// Why a typed date, time or zone was refused. Every variant carries the input as the person
/// typed it (trimmed), so the reply can quote it back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhenError {
    /// Nothing but whitespace was given; the caller can prompt instead of quoting "".
    #[error("no date or time given")]
    Empty,
    /// The input matches none of the forms we read.
    #[error(
        "unrecognized date or time '{0}'; try 'tomorrow 9am', 'in 3 days', 'fri 14:00' or '2026-12-01 15:30'"
    )]
    Unrecognized(String),
    /// A due time more than a minute before `now`: a reminder in the past is always a mistake.
    #[error("'{0}' is in the past")]
    InPast(String),
    /// More than 5 years ahead: almost certainly a typo in the year.
    #[error("'{0}' is too far in the future")]
    TooFar(String),
    /// For `parse_past`: after `now`, and an interaction cannot be logged before it happens.
    #[error("'{0}' is in the future")]
    InFuture(String),
    /// The shape was right but the calendar or clock has no such value (`2026-02-30`, `25:00`).
    #[error("'{0}' is not a real date or time of day")]
    InvalidDate(String),
    /// Not an IANA zone name; `suggestion` is the closest real one, when one is close enough.
    #[error("unknown time zone '{given}'{}", zone_hint(.suggestion.as_deref()))]
    UnknownTimeZone {
        /// The zone as typed.
        given: String,
        /// The closest IANA name, if any is a plausible typo of `given`.
        suggestion: Option<String>,
    },
}

fn zone_hint(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(name) => format!("; did you mean '{name}'?"),
        None => "; use an IANA name such as 'Europe/Berlin', 'America/New_York' or 'UTC'".into(),
    }
}

/// What a named day means when no time is typed ("tomorrow" → 09:00).
const DEFAULT_TIME: NaiveTime = NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 exists");
/// What a bare `today` means: the end of the working day, so it is usually still ahead.
const END_OF_DAY: NaiveTime = NaiveTime::from_hms_opt(17, 0, 0).expect("17:00 exists");
/// Noon: what `noon` and `中午` mean, and the time a logged day without a time gets.
const NOON: NaiveTime = NaiveTime::from_hms_opt(12, 0, 0).expect("12:00 exists");
/// How far ahead a time or date may be before we call it a typo.
const MAX_AHEAD: Months = Months::new(5 * 12);

/// Parses a due time ("tomorrow 9am", "in 3 days", "fri 14:00", "明天下午3点") typed by someone
/// living in `tz`. Refuses times more than a minute before `now`, since a reminder in the past
/// is a mistake, and times more than 5 years ahead, since those are typos.
pub fn parse_when(input: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, WhenError> {
    let given = input.trim();
    if given.is_empty() {
        return Err(WhenError::Empty);
    }
    let at = interpret(&normalize(given), now, tz, Dir::Ahead).map_err(|m| m.into_error(given))?;
    if at < now - Duration::minutes(1) {
        return Err(WhenError::InPast(given.to_string()));
    }
    if now
        .checked_add_months(MAX_AHEAD)
        .is_none_or(|limit| at > limit)
    {
        return Err(WhenError::TooFar(given.to_string()));
    }
    Ok(at)
}

/// Parses when something already happened ("yesterday 3pm", "2 hours ago", "fri", "昨天下午3点",
/// "2026-11-20 14:00"), such as a logged call. Forms without a direction lean back: `fri` is
/// the Friday just gone, `3pm` is the last 3pm, `2h` is two hours ago, and a day without a time
/// means noon (or now, if that is earlier). A time more than a minute after `now` is refused
/// with `InFuture`, since an interaction cannot be logged before it happens.
pub fn parse_past(input: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, WhenError> {
    let given = input.trim();
    if given.is_empty() {
        return Err(WhenError::Empty);
    }
    let at = interpret(&normalize(given), now, tz, Dir::Back).map_err(|m| m.into_error(given))?;
    if at > now + Duration::minutes(1) {
        return Err(WhenError::InFuture(given.to_string()));
    }
    Ok(at)
}

/// Parses a calendar date ("2026-12-01", "fri", "eom", "月底"), such as a deal's expected close.
/// `now` and `tz` decide what "today" is for the person typing. Past dates are allowed (a close
/// date can be overdue); dates more than 5 years ahead are refused as typos.
pub fn parse_date(input: &str, now: DateTime<Utc>, tz: Tz) -> Result<NaiveDate, WhenError> {
    let given = input.trim();
    if given.is_empty() {
        return Err(WhenError::Empty);
    }
    let today = today_in(now, tz);
    let date = read_date(&normalize(given), today).map_err(|m| m.into_error(given))?;
    if today
        .checked_add_months(MAX_AHEAD)
        .is_none_or(|limit| date > limit)
    {
        return Err(WhenError::TooFar(given.to_string()));
    }
    Ok(date)
}

/// Parses a birthday as `1985-04-12` or, when the year is not known, `04-12` (also `--04-12`,
/// `4月12日`). Returns `(year, month, day)`. Feb 29 is accepted without a year because someone
/// born on it still has a birthday; years outside 1900..=2100 are refused as typos.
pub fn parse_birthday(input: &str) -> Result<(Option<i32>, u32, u32), WhenError> {
    static WITH_YEAR: LazyLock<Regex> = lazy_regex!(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$");
    static WITHOUT_YEAR: LazyLock<Regex> = lazy_regex!(r"^(?:--)?(\d{1,2})-(\d{1,2})$");

    let given = input.trim();
    if given.is_empty() {
        return Err(WhenError::Empty);
    }
    let s = normalize(given);
    let (year, month, day) = if let Some(c) = WITH_YEAR.captures(&s) {
        (Some(group(&c, 1)), group(&c, 2), group(&c, 3))
    } else if let Some(c) = WITHOUT_YEAR.captures(&s) {
        (None, group(&c, 1), group(&c, 2))
    } else if let Some(found) = zh::birthday(&s) {
        found
    } else {
        return Err(WhenError::Unrecognized(given.to_string()));
    };
    let invalid = || WhenError::InvalidDate(given.to_string());
    let year: Option<i32> = match year {
        Some(y) => Some(y.parse().map_err(|_| invalid())?),
        None => None,
    };
    let month: u32 = month.parse().map_err(|_| invalid())?;
    let day: u32 = day.parse().map_err(|_| invalid())?;
    if year.is_some_and(|y| !(1900..=2100).contains(&y)) {
        return Err(invalid());
    }
    // 2000 is a leap year, so a year-less Feb 29 checks out.
    NaiveDate::from_ymd_opt(year.unwrap_or(2000), month, day).ok_or_else(invalid)?;
    Ok((year, month, day))
}

/// Parses a time of day on its own ("09:00", "9am", "5:30pm", "下午3点"), such as the hour a
/// daily digest is sent.
pub fn parse_clock(input: &str) -> Result<NaiveTime, WhenError> {
    let given = input.trim();
    if given.is_empty() {
        return Err(WhenError::Empty);
    }
    clock(&normalize(given)).map_err(|miss| miss.into_error(given))
}
