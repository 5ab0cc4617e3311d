//! What the English and Chinese grammars share and the grammar that tries them builds on:
//! the parse outcome, the direction of a phrase, captured groups, counted shifts before their
//! count is read, and numbers in either language. A leaf, so `en`, `zh`, `grammar` and
//! `resolve` all use it without importing each other in a circle.

use chrono::{NaiveDate, NaiveTime};

use super::{WhenError, DEFAULT_TIME, NOON};

/// Why an inner parser failed, before we know which input to quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Miss {
    Unrecognized,
    Invalid,
    TooFar,
}

impl Miss {
    pub(super) fn into_error(self, given: &str) -> WhenError {
        let given = given.to_string();
        match self {
            Miss::Unrecognized => WhenError::Unrecognized(given),
            Miss::Invalid => WhenError::InvalidDate(given),
            Miss::TooFar => WhenError::TooFar(given),
        }
    }
}

pub(super) type Parsed<T> = Result<T, Miss>;

/// Which way an input without a direction word leans: due times look ahead ("fri" is the
/// coming Friday), logged events look back ("fri" is the Friday just gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dir {
    Ahead,
    Back,
}

impl Dir {
    /// The time a named day means when none is typed: 09:00 for a due time (the start of the
    /// working day), noon for a logged event (mid-day keeps it on the right day in any report).
    pub(super) fn default_time(self) -> NaiveTime {
        match self {
            Dir::Ahead => DEFAULT_TIME,
            Dir::Back => NOON,
        }
    }
}

/// A capture group's text, or "" when the group did not take part in the match.
pub(super) fn group<'h>(c: &regex::Captures<'h>, i: usize) -> &'h str {
    c.get(i).map_or("", |m| m.as_str())
}

/// What follows the day in `s`: the input from where group `i` starts, or "" when the group
/// did not take part in the match.
pub(super) fn tail<'h>(s: &'h str, c: &regex::Captures<'h>, i: usize) -> &'h str {
    &s[c.get(i).map_or(s.len(), |m| m.start())..]
}

/// A counted shift as one language writes it (`in 3 days`, `3天后`), before the count is read.
pub(super) struct Counted<'a> {
    /// The count as typed: digits, a number word or Chinese numerals.
    pub(super) count: &'a str,
    /// "Half" was typed instead of a count (`half an hour`, `半小时`).
    pub(super) half: bool,
    /// `m` minutes, `h` hours, `d` days, `w` weeks, `o` months.
    pub(super) unit: char,
    /// 1 ahead, -1 back.
    pub(super) sign: i64,
    /// What follows: a time of day, or "".
    pub(super) rest: &'a str,
}

/// Number words a count may be spelled with (`an hour`, `in one week`).
fn english_number(s: &str) -> Option<u64> {
    matches!(s, "a" | "an" | "one").then_some(1)
}

/// Reads small Chinese numerals, up to 99.
fn chinese_number(s: &str) -> Option<u64> {
    let digit = |c: char| match c {
        '零' | '〇' => Some(0),
        '一' => Some(1),
        '二' | '两' => Some(2),
        '三' => Some(3),
        '四' => Some(4),
        '五' => Some(5),
        '六' => Some(6),
        '七' => Some(7),
        '八' => Some(8),
        '九' => Some(9),
        _ => None,
    };
    let chars: Vec<char> = s.chars().collect();
    match chars.as_slice() {
        ['十'] => Some(10),
        ['十', ones] => Some(10 + digit(*ones)?),
        [tens, '十'] => Some(digit(*tens)? * 10),
        [tens, '十', ones] => Some(digit(*tens)? * 10 + digit(*ones)?),
        [one] => digit(*one),
        _ => None,
    }
}

/// Reads a count. Digits too long for a u64 saturate, so the caller reports "too far" rather
/// than "unrecognized" for `in 99999999999999999999 days`.
pub(super) fn number(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Some(s.parse().unwrap_or(u64::MAX));
    }
    english_number(s).or_else(|| chinese_number(s))
}

pub(super) fn small(s: &str) -> Parsed<u32> {
    number(s)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(Miss::Invalid)
}

pub(super) fn ymd(year: &str, month: &str, day: &str) -> Parsed<NaiveDate> {
    let year = i32::try_from(small(year)?).map_err(|_| Miss::Invalid)?;
    NaiveDate::from_ymd_opt(year, small(month)?, small(day)?).ok_or(Miss::Invalid)
}
