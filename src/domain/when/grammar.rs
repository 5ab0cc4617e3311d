//! The grammar that tries both languages: normalized input, ISO dates, counted shifts, and
//! the order in which the English and Chinese forms are tried.
//!
//! Inputs are normalized first (lowercase, single spaces, full-width digits made ASCII), so
//! every pattern here and in `en` / `zh` can assume that shape.
//!
//! Apart from a plain `14:30`, which both languages read and English reads first, the English
//! and Chinese forms never match the same input: English ones start with a Latin letter or put a
//! Latin unit after a number, Chinese ones start with a Chinese character or put a Chinese unit
//! (`年`, `月`, `天`, `点`) after a number. So which language is tried first decides nothing;
//! only the order within a language matters, and `en` and `zh` keep it.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use regex::Regex;

use super::common::{number, tail, ymd, Counted, Dir, Miss, Parsed};
use super::resolve::{resolve_local, shift_days, shift_months, today_in, DayPart, DefaultTime};
use super::{en, zh};

pub(super) fn normalize(input: &str) -> String {
    let ascii: String = input
        .chars()
        .map(|c| match c {
            // IMEs often type full-width digits and colons in Chinese text.
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '：' => ':',
            c => c,
        })
        .collect();
    ascii
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the day at the start of `s` and returns it with the rest (a time, or "").
pub(super) fn day_part(s: &str, today: NaiveDate, dir: Dir) -> Parsed<Option<(DayPart, &str)>> {
    static ISO: LazyLock<Regex> =
        lazy_regex!(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:(?:t|\s+)(.*))?$");

    if let Some(c) = ISO.captures(s) {
        let date = ymd(&c[1], &c[2], &c[3])?;
        return Ok(Some((DayPart::on(date, dir), tail(s, &c, 4))));
    }
    if let Some(found) = en::day_part(s, today, dir)? {
        return Ok(Some(found));
    }
    zh::day_part(s, today, dir)
}

/// A count of units away from now, with its sign already applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shift<'a> {
    /// Minutes and hours: elapsed time, so DST changes do not matter.
    Minutes(i64),
    /// Days, weeks and months: calendar steps that keep the wall-clock time, plus any typed time.
    Calendar {
        days: i64,
        months: i64,
        rest: &'a str,
    },
}

/// Reads `in 3 days`, `2 hours ago`, `45m`, `3天后`, `2小时前`. Short forms without a direction
/// word (`3d`) lean the way the caller does.
fn shift(s: &str, dir: Dir) -> Parsed<Option<Shift<'_>>> {
    let Some(Counted {
        count,
        half,
        unit,
        sign,
        rest,
    }) = en::counted(s, dir).or_else(|| zh::counted(s))
    else {
        return Ok(None);
    };

    if half {
        return match (unit, rest) {
            ('h', "") => Ok(Some(Shift::Minutes(sign * 30))),
            _ => Err(Miss::Unrecognized),
        };
    }
    let n = number(count).ok_or(Miss::Unrecognized)?;
    let n = i64::try_from(n).map_err(|_| Miss::TooFar)?;
    let calendar = |days: i64, months: i64| Shift::Calendar {
        days: sign * days,
        months: sign * months,
        rest,
    };
    Ok(Some(match unit {
        'm' | 'h' if !rest.is_empty() => return Err(Miss::Unrecognized),
        'm' => Shift::Minutes(sign * n),
        'h' => Shift::Minutes(sign * n.checked_mul(60).ok_or(Miss::TooFar)?),
        'd' => calendar(n, 0),
        'w' => calendar(n.checked_mul(7).ok_or(Miss::TooFar)?, 0),
        _ => calendar(0, n),
    }))
}

/// Reads a time of day: `14:00`, `9am`, `9:30 pm`, `noon`, `9点`, `下午3点半`, `上午9:30`.
pub(super) fn clock(s: &str) -> Parsed<NaiveTime> {
    let s = s
        .strip_prefix("at ")
        .or_else(|| s.strip_prefix('@'))
        .unwrap_or(s)
        .trim();
    // English first: `9:30` reads the same either way, and a bare `9` is refused there.
    if let Some(time) = en::clock(s)? {
        return Ok(time);
    }
    if let Some(time) = zh::clock(s)? {
        return Ok(time);
    }
    Err(Miss::Unrecognized)
}

/// A typed time after a day ("tomorrow 9am", "tomorrow at 9am", "明天上午9点"), if any.
fn optional_clock(rest: &str) -> Parsed<Option<NaiveTime>> {
    let rest = rest.trim();
    if rest.is_empty() {
        Ok(None)
    } else {
        clock(rest).map(Some)
    }
}

/// Reads a day with no time of day, leaning ahead.
pub(super) fn read_date(s: &str, today: NaiveDate) -> Parsed<NaiveDate> {
    match shift(s, Dir::Ahead)? {
        Some(Shift::Calendar {
            days,
            months,
            rest: "",
        }) => {
            return shift_days(shift_months(today, months)?, days);
        }
        Some(_) => return Err(Miss::Unrecognized),
        None => {}
    }
    match day_part(s, today, Dir::Ahead)? {
        Some((part, "")) => part.date(today, Dir::Ahead),
        _ => Err(Miss::Unrecognized),
    }
}

/// Reads any instant form, leaning `dir` where the input does not say.
pub(super) fn interpret(s: &str, now: DateTime<Utc>, tz: Tz, dir: Dir) -> Parsed<DateTime<Utc>> {
    if en::NOW.contains(&s) || zh::NOW.contains(&s) {
        return Ok(now);
    }
    let today = today_in(now, tz);
    match shift(s, dir)? {
        Some(Shift::Minutes(minutes)) => {
            let span = Duration::try_minutes(minutes).ok_or(Miss::TooFar)?;
            return now.checked_add_signed(span).ok_or(Miss::TooFar);
        }
        Some(Shift::Calendar { days, months, rest }) => {
            let date = shift_days(shift_months(today, months)?, days)?;
            let part = DayPart::On {
                date,
                default: DefaultTime::KeepClock,
            };
            return part.at(optional_clock(rest)?, now, tz, dir);
        }
        None => {}
    }
    if let Some((part, rest)) = day_part(s, today, dir)? {
        return part.at(optional_clock(rest)?, now, tz, dir);
    }
    match clock(s) {
        // A bare time means the nearest time the clock shows it, in the input's direction.
        Ok(time) => {
            let today_at = resolve_local(today.and_time(time), tz);
            return match dir {
                Dir::Ahead if today_at > now => Ok(today_at),
                Dir::Back if today_at <= now => Ok(today_at),
                Dir::Ahead => Ok(resolve_local(shift_days(today, 1)?.and_time(time), tz)),
                Dir::Back => Ok(resolve_local(shift_days(today, -1)?.and_time(time), tz)),
            };
        }
        Err(Miss::Unrecognized) => {}
        Err(miss) => return Err(miss),
    }
    // Time first: "9am tomorrow", "14:00 on fri", "3pm yesterday".
    for (i, _) in s.match_indices(' ') {
        let (time, day) = (&s[..i], &s[i + 1..]);
        if let Some((part, "")) = day_part(day, today, dir)? {
            return part.at(Some(clock(time)?), now, tz, dir);
        }
    }
    Err(Miss::Unrecognized)
}
