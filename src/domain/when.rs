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

use std::sync::LazyLock;

use chrono::{
    DateTime, Datelike, Days, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use regex::Regex;

use crate::domain::locale::Locale;

/// A regex compiled on first use. Patterns are constants covered by the tests, so a bad one
/// fails every test at once rather than a user's command.
macro_rules! lazy_regex {
    ($pattern:expr) => {
        LazyLock::new(|| Regex::new($pattern).expect("valid regex"))
    };
}

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
    static CN: LazyLock<Regex> =
        lazy_regex!(r"^(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?$");

    let given = input.trim();
    if given.is_empty() {
        return Err(WhenError::Empty);
    }
    let s = normalize(given);
    let (year, month, day) = if let Some(c) = WITH_YEAR.captures(&s) {
        (Some(group(&c, 1)), group(&c, 2), group(&c, 3))
    } else if let Some(c) = WITHOUT_YEAR.captures(&s) {
        (None, group(&c, 1), group(&c, 2))
    } else if let Some(c) = CN.captures(&s) {
        (c.get(1).map(|m| m.as_str()), group(&c, 2), group(&c, 3))
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

/// Parses an IANA zone name regardless of case (`europe/berlin`, `america/new york`), plus
/// `UTC`. An unknown name comes back with the closest real name, so the reply can offer a fix.
pub fn parse_tz(input: &str) -> Result<Tz, WhenError> {
    let given = input.trim();
    if given.is_empty() {
        return Err(WhenError::Empty);
    }
    // People type the spaces that IANA spells as underscores ("new york").
    let wanted = given
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .to_lowercase();
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(&wanted))
    {
        return Ok(*tz);
    }
    Err(WhenError::UnknownTimeZone {
        given: given.to_string(),
        suggestion: suggest_zone(&wanted),
    })
}

/// Abbreviations people type for a zone; they are not IANA names (or name a fixed offset with
/// no DST), so they only ever become a suggestion, never a silent answer.
const ZONE_ALIASES: &[(&str, &str)] = &[
    ("pst", "America/Los_Angeles"),
    ("pdt", "America/Los_Angeles"),
    ("pt", "America/Los_Angeles"),
    ("mdt", "America/Denver"),
    ("mt", "America/Denver"),
    ("cst", "America/Chicago"),
    ("cdt", "America/Chicago"),
    ("ct", "America/Chicago"),
    ("edt", "America/New_York"),
    ("et", "America/New_York"),
    ("bst", "Europe/London"),
    ("cest", "Europe/Berlin"),
    ("ist", "Asia/Kolkata"),
    ("jst", "Asia/Tokyo"),
    ("beijing", "Asia/Shanghai"),
    ("china", "Asia/Shanghai"),
];

/// How similar (normalized Damerau–Levenshtein) a typo must be to be worth suggesting.
const ZONE_SIMILARITY: f64 = 0.7;

fn suggest_zone(wanted: &str) -> Option<String> {
    if let Some((_, name)) = ZONE_ALIASES.iter().find(|(alias, _)| *alias == wanted) {
        return Some((*name).to_string());
    }
    // Compare with both the full name and its city, so "berlin" finds Europe/Berlin.
    let score = |name: &str| {
        let lower = name.to_lowercase();
        let city = lower.rsplit('/').next().unwrap_or(&lower).to_string();
        strsim::normalized_damerau_levenshtein(wanted, &lower)
            .max(strsim::normalized_damerau_levenshtein(wanted, &city))
    };
    let mut best: Option<(f64, &str)> = None;
    for tz in &chrono_tz::TZ_VARIANTS {
        let s = score(tz.name());
        if s >= ZONE_SIMILARITY && best.is_none_or(|(b, _)| s > b) {
            best = Some((s, tz.name()));
        }
    }
    best.map(|(_, name)| name.to_string())
}

/// The calendar date it is in `tz` at `now`: the "today" every relative word is counted from.
pub fn today_in(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// Turns a wall-clock time in `tz` into an instant, total over DST changes: a time that happens
/// twice takes the earlier instant (a reminder early rather than an hour late), and a time that
/// never happens moves forward by the gap (02:30 in a 02:00→03:00 gap becomes 03:30).
pub fn resolve_local(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // In a gap: read the wall clock with the offset in force just before the gap. Gaps are
    // normally an hour, but a few zones have skipped a whole day, so look back up to two days.
    for quarter_hours in 1..=(2 * 24 * 4) {
        let probe = local - Duration::minutes(15 * quarter_hours);
        if let Some(before) = tz.from_local_datetime(&probe).latest() {
            let offset = before.offset().fix().local_minus_utc();
            return (local - Duration::seconds(i64::from(offset))).and_utc();
        }
    }
    // No zone has a gap this long; reading the clock as UTC is the least surprising fallback.
    local.and_utc()
}

/// Shows an instant as a wall-clock time in `tz`, e.g. `Tue, Dec 1, 2026 09:00` or
/// `2026年12月1日 周二 09:00`, so everyone reads due times in their own zone.
pub fn format_datetime(t: DateTime<Utc>, tz: Tz, locale: Locale) -> String {
    let local = t.with_timezone(&tz);
    match locale {
        Locale::En => local.format("%a, %b %-d, %Y %H:%M").to_string(),
        Locale::ZhCn => format!(
            "{} {} {:02}:{:02}",
            format_date(local.date_naive(), Locale::ZhCn),
            zh_weekday(local.weekday()),
            local.hour(),
            local.minute()
        ),
    }
}

/// Shows a calendar date, e.g. `Dec 1, 2026` or `2026年12月1日`; month names avoid the
/// day/month ambiguity that numeric dates have.
pub fn format_date(d: NaiveDate, locale: Locale) -> String {
    match locale {
        Locale::En => d.format("%b %-d, %Y").to_string(),
        Locale::ZhCn => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
    }
}

/// Says how far `date` is from `today` in words ("tomorrow", "in 3 days", "2 days ago", "后天"),
/// which reads faster than a date in lists of due follow-ups.
pub fn format_relative_days(date: NaiveDate, today: NaiveDate, locale: Locale) -> String {
    let days = (date - today).num_days();
    match locale {
        Locale::En => match days {
            0 => "today".into(),
            1 => "tomorrow".into(),
            -1 => "yesterday".into(),
            n if n > 0 => format!("in {n} days"),
            n => format!("{} days ago", -n),
        },
        Locale::ZhCn => match days {
            0 => "今天".into(),
            1 => "明天".into(),
            2 => "后天".into(),
            -1 => "昨天".into(),
            -2 => "前天".into(),
            n if n > 0 => format!("{n}天后"),
            n => format!("{}天前", -n),
        },
    }
}

fn zh_weekday(wd: Weekday) -> &'static str {
    match wd {
        Weekday::Mon => "周一",
        Weekday::Tue => "周二",
        Weekday::Wed => "周三",
        Weekday::Thu => "周四",
        Weekday::Fri => "周五",
        Weekday::Sat => "周六",
        Weekday::Sun => "周日",
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing internals. Inputs are normalized first (lowercase, single spaces, full-width digits
// made ASCII), so every pattern below can assume that shape.

/// Why an inner parser failed, before we know which input to quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    Unrecognized,
    Invalid,
    TooFar,
}

impl Miss {
    fn into_error(self, given: &str) -> WhenError {
        let given = given.to_string();
        match self {
            Miss::Unrecognized => WhenError::Unrecognized(given),
            Miss::Invalid => WhenError::InvalidDate(given),
            Miss::TooFar => WhenError::TooFar(given),
        }
    }
}

type Parsed<T> = Result<T, Miss>;

/// Which way an input without a direction word leans: due times look ahead ("fri" is the
/// coming Friday), logged events look back ("fri" is the Friday just gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Ahead,
    Back,
}

impl Dir {
    /// The time a named day means when none is typed: 09:00 for a due time (the start of the
    /// working day), noon for a logged event (mid-day keeps it on the right day in any report).
    fn default_time(self) -> NaiveTime {
        match self {
            Dir::Ahead => DEFAULT_TIME,
            Dir::Back => NOON,
        }
    }
}

/// A capture group's text, or "" when the group did not take part in the match.
fn group<'h>(c: &regex::Captures<'h>, i: usize) -> &'h str {
    c.get(i).map_or("", |m| m.as_str())
}

/// A number as digits or as small Chinese numerals (`三`, `十五`, `两`).
const NUM: &str = r"\d+|[零〇一二两三四五六七八九十]+";

fn normalize(input: &str) -> String {
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

/// Reads a count. Digits too long for a u64 saturate, so the caller reports "too far" rather
/// than "unrecognized" for `in 99999999999999999999 days`.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Some(s.parse().unwrap_or(u64::MAX));
    }
    if matches!(s, "a" | "an" | "one") {
        return Some(1);
    }
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

fn small(s: &str) -> Parsed<u32> {
    number(s)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(Miss::Invalid)
}

fn ymd(year: &str, month: &str, day: &str) -> Parsed<NaiveDate> {
    let year = i32::try_from(small(year)?).map_err(|_| Miss::Invalid)?;
    NaiveDate::from_ymd_opt(year, small(month)?, small(day)?).ok_or(Miss::Invalid)
}

/// Moves a date by whole days either way; running off chrono's calendar ahead is "too far",
/// behind it is no real date.
fn shift_days(date: NaiveDate, days: i64) -> Parsed<NaiveDate> {
    let n = Days::new(days.unsigned_abs());
    if days >= 0 {
        date.checked_add_days(n).ok_or(Miss::TooFar)
    } else {
        date.checked_sub_days(n).ok_or(Miss::Invalid)
    }
}

fn add_days(date: NaiveDate, days: u64) -> Parsed<NaiveDate> {
    date.checked_add_days(Days::new(days)).ok_or(Miss::TooFar)
}

fn shift_months(date: NaiveDate, months: i64) -> Parsed<NaiveDate> {
    let n = u32::try_from(months.unsigned_abs()).map_err(|_| Miss::TooFar)?;
    if months >= 0 {
        date.checked_add_months(Months::new(n)).ok_or(Miss::TooFar)
    } else {
        date.checked_sub_months(Months::new(n)).ok_or(Miss::Invalid)
    }
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn last_of_month(date: NaiveDate) -> Parsed<NaiveDate> {
    shift_months(first_of_month(date), 1)?
        .pred_opt()
        .ok_or(Miss::TooFar)
}

fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

/// The nearest `wd` strictly after (`Ahead`) or strictly before (`Back`) `today`: one to seven
/// days away.
fn nearest_weekday(today: NaiveDate, wd: Weekday, dir: Dir) -> Parsed<NaiveDate> {
    let (from, to) = match dir {
        Dir::Ahead => (today.weekday(), wd),
        Dir::Back => (wd, today.weekday()),
    };
    let gap = (to.num_days_from_monday() + 7 - from.num_days_from_monday()) % 7;
    let gap = i64::from(if gap == 0 { 7 } else { gap });
    shift_days(today, if dir == Dir::Ahead { gap } else { -gap })
}

/// The calendar day part of an input, before any time is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayPart {
    /// A settled day, with the time to use if none is typed.
    On {
        date: NaiveDate,
        default: DefaultTime,
    },
    /// A bare weekday, which may still mean today depending on the typed time.
    Weekday(Weekday),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DefaultTime {
    At(NaiveTime),
    /// Keep the wall-clock time of `now` (`in 3 days`).
    KeepClock,
}

impl DayPart {
    /// A named day with the default time for its direction.
    fn on(date: NaiveDate, dir: Dir) -> DayPart {
        DayPart::On {
            date,
            default: DefaultTime::At(dir.default_time()),
        }
    }

    /// The day when no time is given (as for `parse_date`).
    fn date(self, today: NaiveDate, dir: Dir) -> Parsed<NaiveDate> {
        match self {
            DayPart::On { date, .. } => Ok(date),
            DayPart::Weekday(wd) => nearest_weekday(today, wd, dir),
        }
    }

    /// Combines the day with the typed time, if any, into an instant.
    fn at(
        self,
        time: Option<NaiveTime>,
        now: DateTime<Utc>,
        tz: Tz,
        dir: Dir,
    ) -> Parsed<DateTime<Utc>> {
        let today = today_in(now, tz);
        match self {
            DayPart::On { date, default } => {
                let Some(time) = time else {
                    let time = match default {
                        DefaultTime::At(t) => t,
                        DefaultTime::KeepClock => now.with_timezone(&tz).time(),
                    };
                    let at = resolve_local(date.and_time(time), tz);
                    // "today" logged at 10:00 cannot have happened at noon.
                    let capped = dir == Dir::Back && date == today && at > now;
                    return Ok(if capped { now } else { at });
                };
                Ok(resolve_local(date.and_time(time), tz))
            }
            DayPart::Weekday(wd) => {
                if let Some(t) = time {
                    let today_at = resolve_local(today.and_time(t), tz);
                    let fits = match dir {
                        Dir::Ahead => today_at > now,
                        Dir::Back => today_at <= now,
                    };
                    if today.weekday() == wd && fits {
                        return Ok(today_at);
                    }
                }
                let date = nearest_weekday(today, wd, dir)?;
                Ok(resolve_local(
                    date.and_time(time.unwrap_or(dir.default_time())),
                    tz,
                ))
            }
        }
    }
}

/// Named days that have a word of their own, in English and Chinese.
#[derive(Debug, Clone, Copy)]
enum Anchor {
    Today,
    Tomorrow,
    InTwoDays,
    InThreeDays,
    Yesterday,
    TwoDaysAgo,
    ThreeDaysAgo,
    NextWeek,
    EndOfMonth,
    EndOfNextMonth,
    NextMonth,
    EndOfQuarter,
    EndOfYear,
}

impl Anchor {
    fn part(self, today: NaiveDate, dir: Dir) -> Parsed<DayPart> {
        let on = |date| DayPart::on(date, dir);
        Ok(match self {
            Anchor::Today if dir == Dir::Ahead => DayPart::On {
                date: today,
                default: DefaultTime::At(END_OF_DAY),
            },
            Anchor::Today => on(today),
            Anchor::Tomorrow => on(shift_days(today, 1)?),
            Anchor::InTwoDays => on(shift_days(today, 2)?),
            Anchor::InThreeDays => on(shift_days(today, 3)?),
            Anchor::Yesterday => on(shift_days(today, -1)?),
            Anchor::TwoDaysAgo => on(shift_days(today, -2)?),
            Anchor::ThreeDaysAgo => on(shift_days(today, -3)?),
            Anchor::NextWeek => on(add_days(monday_of(today), 7)?),
            Anchor::EndOfMonth => on(last_of_month(today)?),
            Anchor::EndOfNextMonth => on(last_of_month(shift_months(first_of_month(today), 1)?)?),
            Anchor::NextMonth => on(shift_months(first_of_month(today), 1)?),
            Anchor::EndOfQuarter => {
                let quarter_end_month = (today.month0() / 3) * 3 + 3;
                let in_that_month = today
                    .with_day(1)
                    .and_then(|d| d.with_month(quarter_end_month));
                on(last_of_month(in_that_month.ok_or(Miss::Invalid)?)?)
            }
            Anchor::EndOfYear => {
                on(NaiveDate::from_ymd_opt(today.year(), 12, 31).ok_or(Miss::Invalid)?)
            }
        })
    }
}

/// Each anchor's words; English words must be followed by a space or the end, Chinese ones need
/// no space before the time (`明天9点`).
static ANCHORS: LazyLock<Vec<(Regex, Anchor)>> = LazyLock::new(|| {
    let en = |words: &str| Regex::new(&format!(r"^(?:{words})(?:\s+(.*))?$"));
    let cn = |words: &str| Regex::new(&format!(r"^(?:{words})\s*(.*)$"));
    let table = [
        (en("today|tod"), Anchor::Today),
        (cn("今天|今日"), Anchor::Today),
        (en("tomorrow|tmrw|tmr|tomorow"), Anchor::Tomorrow),
        (cn("明天|明日"), Anchor::Tomorrow),
        (
            en("(?:the )?day after tomorrow|overmorrow"),
            Anchor::InTwoDays,
        ),
        (cn("后天|後天"), Anchor::InTwoDays),
        (cn("大后天|大後天"), Anchor::InThreeDays),
        (en("yesterday|yday|yest"), Anchor::Yesterday),
        (cn("昨天|昨日"), Anchor::Yesterday),
        (en("(?:the )?day before yesterday"), Anchor::TwoDaysAgo),
        (cn("前天"), Anchor::TwoDaysAgo),
        (cn("大前天"), Anchor::ThreeDaysAgo),
        (en("next week"), Anchor::NextWeek),
        (cn("下个?(?:周|星期|礼拜)"), Anchor::NextWeek),
        (en("end of (?:the )?next month"), Anchor::EndOfNextMonth),
        (cn("下个?月[底末]"), Anchor::EndOfNextMonth),
        (en("end of (?:the )?month|eom"), Anchor::EndOfMonth),
        (cn("(?:本月|这个月)[底末]|月[底末]"), Anchor::EndOfMonth),
        (en("next month"), Anchor::NextMonth),
        (cn("下个?月初?"), Anchor::NextMonth),
        (en("end of (?:the )?quarter|eoq"), Anchor::EndOfQuarter),
        (cn("(?:本)?季度?[底末]"), Anchor::EndOfQuarter),
        (en("end of (?:the )?year|eoy"), Anchor::EndOfYear),
        (cn("(?:今年)?年[底末]"), Anchor::EndOfYear),
    ];
    table
        .into_iter()
        .map(|(re, anchor)| (re.expect("valid anchor regex"), anchor))
        .collect()
});

const EN_WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Mon),
    ("mon", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("tues", Weekday::Tue),
    ("tue", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("weds", Weekday::Wed),
    ("wed", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("thurs", Weekday::Thu),
    ("thur", Weekday::Thu),
    ("thu", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("fri", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sat", Weekday::Sat),
    ("sunday", Weekday::Sun),
    ("sun", Weekday::Sun),
];

fn cn_weekday(c: &str) -> Option<Weekday> {
    Some(match c {
        "一" | "1" => Weekday::Mon,
        "二" | "2" => Weekday::Tue,
        "三" | "3" => Weekday::Wed,
        "四" | "4" => Weekday::Thu,
        "五" | "5" => Weekday::Fri,
        "六" | "6" => Weekday::Sat,
        "日" | "天" | "7" => Weekday::Sun,
        _ => return None,
    })
}

/// Reads the day at the start of `s` and returns it with the rest (a time, or "").
fn day_part(s: &str, today: NaiveDate, dir: Dir) -> Parsed<Option<(DayPart, &str)>> {
    static ISO: LazyLock<Regex> =
        lazy_regex!(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:(?:t|\s+)(.*))?$");
    static CN_FULL: LazyLock<Regex> =
        lazy_regex!(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]\s*(.*)$");
    static CN_MONTH_DAY: LazyLock<Regex> =
        lazy_regex!(&format!(r"^({NUM})\s*月\s*({NUM})\s*[日号]\s*(.*)$"));
    static EN_WEEKDAY: LazyLock<Regex> = LazyLock::new(|| {
        let names: Vec<&str> = EN_WEEKDAYS.iter().map(|(name, _)| *name).collect();
        let names = names.join("|");
        Regex::new(&format!(
            r"^(?:(next|this|on|coming|last|past)\s+)?({names})(?:\s+(.*))?$"
        ))
        .expect("valid regex")
    });
    static CN_WEEKDAY: LazyLock<Regex> = lazy_regex!(
        r"^(下下个?|下个?|上上个?|上个?|本|这个?)?(?:周|星期|礼拜)([一二三四五六日天1-7])\s*(.*)$"
    );

    let rest = |c: &regex::Captures<'_>, i: usize| &s[c.get(i).map_or(s.len(), |m| m.start())..];

    if let Some(c) = ISO.captures(s).or_else(|| CN_FULL.captures(s)) {
        let date = ymd(&c[1], &c[2], &c[3])?;
        return Ok(Some((DayPart::on(date, dir), rest(&c, 4))));
    }
    if let Some(c) = CN_MONTH_DAY.captures(s) {
        // No year: the nearest such day in the direction of the input, today included.
        let (month, day) = (small(&c[1])?, small(&c[2])?);
        let in_year = |year: i32| NaiveDate::from_ymd_opt(year, month, day);
        let date = match dir {
            Dir::Ahead => in_year(today.year())
                .filter(|d| *d >= today)
                .or_else(|| in_year(today.year() + 1)),
            Dir::Back => in_year(today.year())
                .filter(|d| *d <= today)
                .or_else(|| in_year(today.year() - 1)),
        };
        return Ok(Some((
            DayPart::on(date.ok_or(Miss::Invalid)?, dir),
            rest(&c, 3),
        )));
    }
    if let Some(c) = EN_WEEKDAY.captures(s) {
        let wd = EN_WEEKDAYS
            .iter()
            .find(|(name, _)| *name == &c[2])
            .map(|(_, wd)| *wd)
            .ok_or(Miss::Unrecognized)?;
        let part = match group(&c, 1) {
            "next" => DayPart::on(nearest_weekday(today, wd, Dir::Ahead)?, dir),
            "last" | "past" => DayPart::on(nearest_weekday(today, wd, Dir::Back)?, dir),
            _ => DayPart::Weekday(wd),
        };
        return Ok(Some((part, rest(&c, 3))));
    }
    if let Some(c) = CN_WEEKDAY.captures(s) {
        // A prefix names a calendar week (Monday start): 下周五 is next week's Friday even on a
        // Monday, which is what it means in Chinese.
        let wd = cn_weekday(&c[2]).ok_or(Miss::Unrecognized)?;
        let weeks: Option<i64> = match c.get(1).map(|m| m.as_str()) {
            None => None,
            Some(p) if p.starts_with("下下") => Some(2),
            Some(p) if p.starts_with('下') => Some(1),
            Some(p) if p.starts_with("上上") => Some(-2),
            Some(p) if p.starts_with('上') => Some(-1),
            Some(_) => Some(0),
        };
        let part = match weeks {
            None => DayPart::Weekday(wd),
            Some(w) => {
                let offset = w * 7 + i64::from(wd.num_days_from_monday());
                DayPart::on(shift_days(monday_of(today), offset)?, dir)
            }
        };
        return Ok(Some((part, rest(&c, 3))));
    }
    // After the weekdays, so "下周一" is Monday rather than "next week" followed by "一".
    for (re, anchor) in ANCHORS.iter() {
        if let Some(c) = re.captures(s) {
            return Ok(Some((anchor.part(today, dir)?, rest(&c, 1))));
        }
    }
    Ok(None)
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
    static EN: LazyLock<Regex> = lazy_regex!(
        r"^(in\s+)?(\d+|an?|one|half an?)\s*(minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|months?|mos?)(\s+ago)?(?:\s+(.*))?$"
    );
    static CN: LazyLock<Regex> = lazy_regex!(&format!(
        r"^({NUM}|半)\s*个?\s*(分钟|分|小时|钟头|天|日|周|星期|礼拜|月)\s*(后|以后|之后|前|以前|之前)\s*(.*)$"
    ));

    let (count, unit, sign, rest) = if let Some(c) = EN.captures(s) {
        let (ahead, ago) = (c.get(1).is_some(), c.get(4).is_some());
        let count = group(&c, 2);
        // Counted words read as numbers only next to "in" or "ago": "am" is not "a minute".
        if (ahead && ago) || (!ahead && !ago && !count.bytes().all(|b| b.is_ascii_digit())) {
            return Ok(None);
        }
        let unit = match group(&c, 3) {
            u if u.starts_with("mo") => 'o',
            u => u.chars().next().unwrap_or('m'),
        };
        let sign = match (ahead, ago) {
            (true, _) => 1,
            (_, true) => -1,
            _ if dir == Dir::Ahead => 1,
            _ => -1,
        };
        (count, unit, sign, c.get(5).map_or("", |m| m.as_str()))
    } else if let Some(c) = CN.captures(s) {
        let unit = match group(&c, 2) {
            "分钟" | "分" => 'm',
            "小时" | "钟头" => 'h',
            "天" | "日" => 'd',
            "月" => 'o',
            _ => 'w',
        };
        let sign = if group(&c, 3).ends_with('后') { 1 } else { -1 };
        (group(&c, 1), unit, sign, group(&c, 4))
    } else {
        return Ok(None);
    };

    if count.starts_with("half") || count == "半" {
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
fn clock(s: &str) -> Parsed<NaiveTime> {
    static EN: LazyLock<Regex> =
        lazy_regex!(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$");
    static NAMED: LazyLock<Regex> = lazy_regex!(r"^(?:noon|midday|中午)$");
    static CN: LazyLock<Regex> = lazy_regex!(&format!(
        r"^(上午|早上|早晨|清晨|早|中午|午后|下午|傍晚|晚上|晚|夜里|凌晨)?\s*(?:(\d{{1,2}}):(\d{{2}})|({NUM})\s*[点點时時]\s*(?:(半|一刻|三刻)|({NUM})\s*分?)?)$"
    ));

    let s = s
        .strip_prefix("at ")
        .or_else(|| s.strip_prefix('@'))
        .unwrap_or(s)
        .trim();
    if NAMED.is_match(s) {
        return Ok(NOON);
    }
    if let Some(c) = EN.captures(s) {
        let (minute, second, meridiem) = (c.get(2), c.get(3), c.get(4));
        if minute.is_none() && meridiem.is_none() {
            // A bare "9" could be morning or evening; ask rather than guess.
            return Err(Miss::Unrecognized);
        }
        let mut hour = small(&c[1])?;
        if let Some(m) = meridiem {
            if !(1..=12).contains(&hour) {
                return Err(Miss::Invalid);
            }
            let pm = m.as_str().starts_with('p');
            hour = match (pm, hour) {
                (false, 12) => 0,
                (true, 12) => 12,
                (true, h) => h + 12,
                (false, h) => h,
            };
        }
        let minute = minute.map_or(Ok(0), |m| small(m.as_str()))?;
        let second = second.map_or(Ok(0), |m| small(m.as_str()))?;
        return NaiveTime::from_hms_opt(hour, minute, second).ok_or(Miss::Invalid);
    }
    if let Some(c) = CN.captures(s) {
        let period = c.get(1).map(|m| m.as_str());
        let (hour, minute) = match (c.get(2), c.get(3), c.get(4)) {
            (Some(h), Some(m), _) => (small(h.as_str())?, small(m.as_str())?),
            (_, _, Some(h)) => {
                let minute = match (c.get(5).map(|m| m.as_str()), c.get(6)) {
                    (Some("半"), _) => 30,
                    (Some("一刻"), _) => 15,
                    (Some("三刻"), _) => 45,
                    (_, Some(m)) => small(m.as_str())?,
                    _ => 0,
                };
                (small(h.as_str())?, minute)
            }
            _ => return Err(Miss::Unrecognized),
        };
        let hour = cn_period_hour(period, hour).ok_or(Miss::Invalid)?;
        return NaiveTime::from_hms_opt(hour, minute, 0).ok_or(Miss::Invalid);
    }
    Err(Miss::Unrecognized)
}

/// Applies a Chinese part-of-day word to a 12-hour reading; `None` when they contradict.
fn cn_period_hour(period: Option<&str>, hour: u32) -> Option<u32> {
    match period {
        None => (hour <= 23).then_some(hour),
        Some("上午" | "早上" | "早晨" | "清晨" | "早") => (hour <= 12).then_some(hour),
        Some("中午") => match hour {
            11 | 12 => Some(hour),
            1..=3 => Some(hour + 12),
            _ => None,
        },
        Some("凌晨") => match hour {
            12 => Some(0),
            0..=6 => Some(hour),
            _ => None,
        },
        Some("午后" | "下午") => match hour {
            1..=11 => Some(hour + 12),
            12..=23 => Some(hour),
            _ => None,
        },
        // 傍晚, 晚上, 晚, 夜里: "晚上12点" would be the next day's midnight, so refuse it.
        Some(_) => match hour {
            1..=11 => Some(hour + 12),
            13..=23 => Some(hour),
            _ => None,
        },
    }
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
fn read_date(s: &str, today: NaiveDate) -> Parsed<NaiveDate> {
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
fn interpret(s: &str, now: DateTime<Utc>, tz: Tz, dir: Dir) -> Parsed<DateTime<Utc>> {
    if matches!(
        s,
        "now" | "right now" | "just now" | "现在" | "马上" | "刚才" | "刚刚"
    ) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;
    use chrono_tz::{America::New_York, Asia::Shanghai, Europe::Berlin};

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

    #[test]
    fn when_reads_common_phrases() {
        // Wednesday 2026-06-10, 14:30 in New York.
        let now = "2026-06-10 14:30 -0400";
        let cases = [
            ("now", "2026-06-10 14:30 -0400"),
            ("  NOW ", "2026-06-10 14:30 -0400"),
            ("today 17:00", "2026-06-10 17:00 -0400"),
            ("today", "2026-06-10 17:00 -0400"),
            ("today 2:29pm", "2026-06-10 14:29 -0400"),
            ("tomorrow 9am", "2026-06-11 09:00 -0400"),
            ("Tomorrow   9:30 PM", "2026-06-11 21:30 -0400"),
            ("tomorrow 9:30pm", "2026-06-11 21:30 -0400"),
            ("tomorrow at 9am", "2026-06-11 09:00 -0400"),
            ("tomorrow @ 8:15", "2026-06-11 08:15 -0400"),
            ("tomorrow noon", "2026-06-11 12:00 -0400"),
            ("tomorrow 12am", "2026-06-11 00:00 -0400"),
            ("tomorrow 12pm", "2026-06-11 12:00 -0400"),
            ("tomorrow", "2026-06-11 09:00 -0400"),
            ("tmrw 10am", "2026-06-11 10:00 -0400"),
            ("day after tomorrow", "2026-06-12 09:00 -0400"),
            ("9am tomorrow", "2026-06-11 09:00 -0400"),
            ("14:00 on fri", "2026-06-12 14:00 -0400"),
            ("in 3 days", "2026-06-13 14:30 -0400"),
            ("in 3 days 10am", "2026-06-13 10:00 -0400"),
            ("in 2 hours", "2026-06-10 16:30 -0400"),
            ("in an hour", "2026-06-10 15:30 -0400"),
            ("in half an hour", "2026-06-10 15:00 -0400"),
            ("in 30 minutes", "2026-06-10 15:00 -0400"),
            ("in 30 min", "2026-06-10 15:00 -0400"),
            ("in 1 week", "2026-06-17 14:30 -0400"),
            ("in 2 weeks", "2026-06-24 14:30 -0400"),
            ("2 weeks", "2026-06-24 14:30 -0400"),
            ("in a week", "2026-06-17 14:30 -0400"),
            ("in 2 months", "2026-08-10 14:30 -0400"),
            ("3d", "2026-06-13 14:30 -0400"),
            ("2h", "2026-06-10 16:30 -0400"),
            ("45m", "2026-06-10 15:15 -0400"),
            ("1w", "2026-06-17 14:30 -0400"),
            ("0m", "2026-06-10 14:30 -0400"),
            ("fri 14:00", "2026-06-12 14:00 -0400"),
            ("friday", "2026-06-12 09:00 -0400"),
            ("Friday 5pm", "2026-06-12 17:00 -0400"),
            ("next monday 10am", "2026-06-15 10:00 -0400"),
            ("next fri", "2026-06-12 09:00 -0400"),
            ("wed", "2026-06-17 09:00 -0400"),
            ("wed 18:00", "2026-06-10 18:00 -0400"),
            ("wed 14:00", "2026-06-17 14:00 -0400"),
            ("next wed 18:00", "2026-06-17 18:00 -0400"),
            ("thurs", "2026-06-11 09:00 -0400"),
            ("next week", "2026-06-15 09:00 -0400"),
            ("2026-12-01", "2026-12-01 09:00 -0500"),
            ("2026-12-01 15:30", "2026-12-01 15:30 -0500"),
            ("2026-12-01T15:30", "2026-12-01 15:30 -0500"),
            ("2026/12/01 15:30", "2026-12-01 15:30 -0500"),
            ("2026-6-10 23:59", "2026-06-10 23:59 -0400"),
            ("eom", "2026-06-30 09:00 -0400"),
            ("end of quarter", "2026-06-30 09:00 -0400"),
            ("next month", "2026-07-01 09:00 -0400"),
            // Bare times: today if still ahead, else tomorrow.
            ("9am", "2026-06-11 09:00 -0400"),
            ("14:00", "2026-06-11 14:00 -0400"),
            ("14:31", "2026-06-10 14:31 -0400"),
            ("at 5pm", "2026-06-10 17:00 -0400"),
            ("14:30", "2026-06-11 14:30 -0400"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_when(input, at(now), New_York),
                Ok(at(want)),
                "{input}"
            );
        }
    }

    #[test]
    fn when_reads_chinese() {
        // Wednesday 2026-06-10, 14:30 in Shanghai (no DST).
        let now = "2026-06-10 14:30 +0800";
        let cases = [
            ("现在", "2026-06-10 14:30 +0800"),
            ("今天 17:00", "2026-06-10 17:00 +0800"),
            ("今天17:00", "2026-06-10 17:00 +0800"),
            ("明天 9点", "2026-06-11 09:00 +0800"),
            ("明天9点半", "2026-06-11 09:30 +0800"),
            ("明天上午9点", "2026-06-11 09:00 +0800"),
            ("明天 上午 9:30", "2026-06-11 09:30 +0800"),
            ("明天下午3点", "2026-06-11 15:00 +0800"),
            ("明天下午三点一刻", "2026-06-11 15:15 +0800"),
            ("明天晚上8点20分", "2026-06-11 20:20 +0800"),
            ("明天中午", "2026-06-11 12:00 +0800"),
            ("明天中午1点", "2026-06-11 13:00 +0800"),
            ("明天", "2026-06-11 09:00 +0800"),
            ("明天 １５：００", "2026-06-11 15:00 +0800"),
            ("后天", "2026-06-12 09:00 +0800"),
            ("大后天", "2026-06-13 09:00 +0800"),
            ("3天后", "2026-06-13 14:30 +0800"),
            ("三天后", "2026-06-13 14:30 +0800"),
            ("3天后上午10点", "2026-06-13 10:00 +0800"),
            ("2小时后", "2026-06-10 16:30 +0800"),
            ("两个小时后", "2026-06-10 16:30 +0800"),
            ("半小时后", "2026-06-10 15:00 +0800"),
            ("30分钟后", "2026-06-10 15:00 +0800"),
            ("1周后", "2026-06-17 14:30 +0800"),
            ("两个星期后", "2026-06-24 14:30 +0800"),
            ("周五 14:00", "2026-06-12 14:00 +0800"),
            ("星期五", "2026-06-12 09:00 +0800"),
            ("礼拜五下午2点", "2026-06-12 14:00 +0800"),
            ("周三 18:00", "2026-06-10 18:00 +0800"),
            ("周三", "2026-06-17 09:00 +0800"),
            ("周日", "2026-06-14 09:00 +0800"),
            ("星期天", "2026-06-14 09:00 +0800"),
            ("下周五", "2026-06-19 09:00 +0800"),
            ("下周一 10:00", "2026-06-15 10:00 +0800"),
            ("下下周一", "2026-06-22 09:00 +0800"),
            ("本周五", "2026-06-12 09:00 +0800"),
            ("这周日", "2026-06-14 09:00 +0800"),
            ("下周", "2026-06-15 09:00 +0800"),
            ("月底", "2026-06-30 09:00 +0800"),
            ("12月1日", "2026-12-01 09:00 +0800"),
            ("12月1号 下午3点", "2026-12-01 15:00 +0800"),
            ("2027年1月5日", "2027-01-05 09:00 +0800"),
            ("下午3点", "2026-06-10 15:00 +0800"),
            ("9点", "2026-06-11 09:00 +0800"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_when(input, at(now), Shanghai),
                Ok(at(want)),
                "{input}"
            );
        }
    }

    #[test]
    fn when_same_weekday_needs_a_time_still_ahead() {
        // Friday 2026-06-12 10:00 in Berlin: "fri" alone means next week's Friday.
        let now = "2026-06-12 10:00 +0200";
        let cases = [
            ("fri", "2026-06-19 09:00 +0200"),
            ("fri 17:00", "2026-06-12 17:00 +0200"),
            ("fri 9:00", "2026-06-19 09:00 +0200"),
            ("next fri 17:00", "2026-06-19 17:00 +0200"),
            ("周五", "2026-06-19 09:00 +0200"),
            ("周五 17:00", "2026-06-12 17:00 +0200"),
            ("本周五 17:00", "2026-06-12 17:00 +0200"),
        ];
        for (input, want) in cases {
            assert_eq!(parse_when(input, at(now), Berlin), Ok(at(want)), "{input}");
        }
    }

    #[test]
    fn when_respects_dst_changes() {
        // (zone, now, input, want): wall-clock expectations written with their real offsets.
        // One row per line reads as a table; rustfmt would split each row over many lines.
        #[rustfmt::skip]
        let cases = [
            // New York springs forward 2026-03-08 02:00 -> 03:00.
            (New_York, "2026-03-07 10:00 -0500", "tomorrow 2:30am", "2026-03-08 03:30 -0400"),
            (New_York, "2026-03-07 10:00 -0500", "tomorrow 02:00", "2026-03-08 03:00 -0400"),
            (New_York, "2026-03-07 10:00 -0500", "tomorrow 3:00am", "2026-03-08 03:00 -0400"),
            (New_York, "2026-03-07 10:00 -0500", "tomorrow 1:59am", "2026-03-08 01:59 -0500"),
            (New_York, "2026-03-07 10:00 -0500", "2026-03-08 02:30", "2026-03-08 03:30 -0400"),
            (New_York, "2026-03-07 10:00 -0500", "in 3 days", "2026-03-10 10:00 -0400"),
            (New_York, "2026-03-07 10:00 -0500", "in 1 day", "2026-03-08 10:00 -0400"),
            (New_York, "2026-03-07 10:00 -0500", "in 72 hours", "2026-03-10 11:00 -0400"),
            (New_York, "2026-03-07 10:00 -0500", "in 24 hours", "2026-03-08 11:00 -0400"),
            (New_York, "2026-03-07 10:00 -0500", "sun 9am", "2026-03-08 09:00 -0400"),
            // New York falls back 2026-11-01 02:00 -> 01:00; 01:30 happens twice.
            (New_York, "2026-10-31 10:00 -0400", "tomorrow 1:30am", "2026-11-01 01:30 -0400"),
            (New_York, "2026-10-31 10:00 -0400", "tomorrow 2:30am", "2026-11-01 02:30 -0500"),
            (New_York, "2026-10-31 10:00 -0400", "tomorrow", "2026-11-01 09:00 -0500"),
            (New_York, "2026-10-30 09:00 -0400", "in 3 days", "2026-11-02 09:00 -0500"),
            (New_York, "2026-10-31 23:30 -0400", "in 1 day", "2026-11-01 23:30 -0500"),
            (New_York, "2026-10-31 10:00 -0400", "in 24 hours", "2026-11-01 09:00 -0500"),
            // Berlin springs forward 2026-03-29 02:00 -> 03:00.
            (Berlin, "2026-03-28 12:00 +0100", "tomorrow 02:30", "2026-03-29 03:30 +0200"),
            (Berlin, "2026-03-28 12:00 +0100", "tomorrow 01:30", "2026-03-29 01:30 +0100"),
            (Berlin, "2026-03-28 12:00 +0100", "in 1 day", "2026-03-29 12:00 +0200"),
            (Berlin, "2026-03-28 12:00 +0100", "in 24 hours", "2026-03-29 13:00 +0200"),
            (Berlin, "2026-03-28 12:00 +0100", "sun 02:15", "2026-03-29 03:15 +0200"),
            (Berlin, "2026-03-28 12:00 +0100", "明天凌晨2点半", "2026-03-29 03:30 +0200"),
            // Berlin falls back 2026-10-25 03:00 -> 02:00; 02:30 happens twice.
            (Berlin, "2026-10-24 12:00 +0200", "tomorrow 02:30", "2026-10-25 02:30 +0200"),
            (Berlin, "2026-10-24 12:00 +0200", "tomorrow 03:00", "2026-10-25 03:00 +0100"),
            (Berlin, "2026-10-24 12:00 +0200", "in 1 day", "2026-10-25 12:00 +0100"),
            (Berlin, "2026-10-24 12:00 +0200", "in 24 hours", "2026-10-25 11:00 +0100"),
            (Berlin, "2026-10-24 12:00 +0200", "in 1 week", "2026-10-31 12:00 +0100"),
            // A bare time across the gap: 02:30 tonight does not exist, so it is 03:30.
            (Berlin, "2026-03-29 00:30 +0100", "02:30", "2026-03-29 03:30 +0200"),
            // Shanghai has no DST: a day is always 24 hours.
            (Shanghai, "2026-03-07 10:00 +0800", "in 1 day", "2026-03-08 10:00 +0800"),
            (Shanghai, "2026-10-31 10:00 +0800", "明天 1:30", "2026-11-01 01:30 +0800"),
        ];
        for (tz, now, input, want) in cases {
            assert_eq!(
                parse_when(input, at(now), tz),
                Ok(at(want)),
                "{tz} {now} {input}"
            );
        }
    }

    #[test]
    fn when_refuses_bad_input() {
        let now = at("2026-06-10 14:30 -0400");
        let cases = [
            ("", Err(WhenError::Empty)),
            ("   ", Err(WhenError::Empty)),
            ("12/01", Err(un("12/01"))),
            ("01.12.", Err(un("01.12."))),
            ("12/01/2026", Err(un("12/01/2026"))),
            ("12-01", Err(un("12-01"))),
            ("soon", Err(un("soon"))),
            ("tomorrow 9", Err(un("tomorrow 9"))),
            ("tomorrow at", Err(un("tomorrow at"))),
            ("am", Err(un("am"))),
            ("a day", Err(un("a day"))),
            ("fri the 13th", Err(un("fri the 13th"))),
            ("in 2 hours 10am", Err(un("in 2 hours 10am"))),
            ("半天后", Err(un("半天后"))),
            ("2026-02-30", Err(invalid("2026-02-30"))),
            ("tomorrow 25:00", Err(invalid("tomorrow 25:00"))),
            ("tomorrow 13pm", Err(invalid("tomorrow 13pm"))),
            ("tomorrow 9:60", Err(invalid("tomorrow 9:60"))),
            ("明天上午15点", Err(invalid("明天上午15点"))),
            ("13pm tomorrow", Err(invalid("13pm tomorrow"))),
            ("today 9am", Err(past("today 9am"))),
            ("2026-06-01", Err(past("2026-06-01"))),
            ("today 14:28", Err(past("today 14:28"))),
            ("本周一", Err(past("本周一"))),
            ("2031-06-11", Err(far("2031-06-11"))),
            ("in 100 weeks 9am", Ok(at("2028-05-10 09:00 -0400"))),
            ("in 6 years", Err(un("in 6 years"))),
            ("in 2000 days", Err(far("in 2000 days"))),
            (
                "in 99999999999999999999 days",
                Err(far("in 99999999999999999999 days")),
            ),
            ("99999999999999h", Err(far("99999999999999h"))),
            ("in 9999999999 months", Err(far("in 9999999999 months"))),
            ("2 hours ago", Err(past("2 hours ago"))),
            ("last fri", Err(past("last fri"))),
            ("yesterday", Err(past("yesterday"))),
            ("上周五", Err(past("上周五"))),
        ];
        for (input, want) in cases {
            assert_eq!(parse_when(input, now, New_York), want, "{input}");
        }
        // A minute of slack: "today 14:29" typed at 14:30 is still taken.
        assert_eq!(
            parse_when("today 14:29", now, New_York),
            Ok(at("2026-06-10 14:29 -0400"))
        );
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

    #[test]
    fn errors_quote_the_input_as_typed() {
        let now = at("2026-06-10 14:30 -0400");
        assert_eq!(
            parse_when("  Next Blursday ", now, New_York),
            Err(un("Next Blursday"))
        );
        assert_eq!(
            parse_when("12/01", now, New_York).map_err(|e| e.to_string()),
            Err(
                "unrecognized date or time '12/01'; try 'tomorrow 9am', 'in 3 days', \
                 'fri 14:00' or '2026-12-01 15:30'"
                    .to_string()
            )
        );
    }

    #[test]
    fn past_times_for_logged_interactions() {
        // Wednesday 2026-06-10, 14:30 in New York.
        let now = "2026-06-10 14:30 -0400";
        let cases = [
            ("now", Ok("2026-06-10 14:30 -0400")),
            ("just now", Ok("2026-06-10 14:30 -0400")),
            ("today", Ok("2026-06-10 12:00 -0400")),
            ("today 9am", Ok("2026-06-10 09:00 -0400")),
            ("yesterday 3pm", Ok("2026-06-09 15:00 -0400")),
            ("yesterday", Ok("2026-06-09 12:00 -0400")),
            ("3pm yesterday", Ok("2026-06-09 15:00 -0400")),
            ("day before yesterday", Ok("2026-06-08 12:00 -0400")),
            ("2 hours ago", Ok("2026-06-10 12:30 -0400")),
            ("an hour ago", Ok("2026-06-10 13:30 -0400")),
            ("half an hour ago", Ok("2026-06-10 14:00 -0400")),
            ("30 min ago", Ok("2026-06-10 14:00 -0400")),
            ("3 days ago", Ok("2026-06-07 14:30 -0400")),
            ("3 days ago 10am", Ok("2026-06-07 10:00 -0400")),
            ("a week ago", Ok("2026-06-03 14:30 -0400")),
            ("a month ago", Ok("2026-05-10 14:30 -0400")),
            // Short forms and bare words lean back.
            ("2h", Ok("2026-06-10 12:30 -0400")),
            ("3d", Ok("2026-06-07 14:30 -0400")),
            ("fri", Ok("2026-06-05 12:00 -0400")),
            ("fri 3pm", Ok("2026-06-05 15:00 -0400")),
            ("wed 9am", Ok("2026-06-10 09:00 -0400")),
            ("wed 4pm", Ok("2026-06-03 16:00 -0400")),
            ("wed", Ok("2026-06-03 12:00 -0400")),
            ("last monday", Ok("2026-06-08 12:00 -0400")),
            ("last wed", Ok("2026-06-03 12:00 -0400")),
            ("3pm", Ok("2026-06-09 15:00 -0400")),
            ("9am", Ok("2026-06-10 09:00 -0400")),
            ("2026-05-20 14:00", Ok("2026-05-20 14:00 -0400")),
            ("2025-11-20 14:00", Ok("2025-11-20 14:00 -0500")),
            ("2026-06-10", Ok("2026-06-10 12:00 -0400")),
            ("5月20日", Ok("2026-05-20 12:00 -0400")),
            ("12月1日", Ok("2025-12-01 12:00 -0500")),
            ("昨天下午3点", Ok("2026-06-09 15:00 -0400")),
            ("前天", Ok("2026-06-08 12:00 -0400")),
            ("大前天", Ok("2026-06-07 12:00 -0400")),
            ("2小时前", Ok("2026-06-10 12:30 -0400")),
            ("半小时前", Ok("2026-06-10 14:00 -0400")),
            ("3天前", Ok("2026-06-07 14:30 -0400")),
            ("上周五", Ok("2026-06-05 12:00 -0400")),
            ("周五", Ok("2026-06-05 12:00 -0400")),
            ("刚才", Ok("2026-06-10 14:30 -0400")),
            // A minute of slack for clocks that run a little ahead.
            ("today 14:31", Ok("2026-06-10 14:31 -0400")),
            ("today 14:32", Err(future("today 14:32"))),
            ("tomorrow", Err(future("tomorrow"))),
            ("in 2 hours", Err(future("in 2 hours"))),
            ("3天后", Err(future("3天后"))),
            ("next fri", Err(future("next fri"))),
            ("in 2 hours ago", Err(un("in 2 hours ago"))),
            ("12/01", Err(un("12/01"))),
            ("2026-02-30", Err(invalid("2026-02-30"))),
            ("", Err(WhenError::Empty)),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_past(input, at(now), New_York),
                want.map(at),
                "{input}"
            );
        }
    }

    #[test]
    fn past_times_across_dst_and_mornings() {
        // One row per line reads as a table; rustfmt would split each row over many lines.
        #[rustfmt::skip]
        let cases = [
            // "today" with no time is noon, but never later than now.
            (New_York, "2026-06-10 10:00 -0400", "today", "2026-06-10 10:00 -0400"),
            (New_York, "2026-06-10 10:00 -0400", "2026-06-10", "2026-06-10 10:00 -0400"),
            // Calendar steps back keep the wall clock across the change; hours do not.
            (Berlin, "2026-03-30 12:00 +0200", "2 days ago", "2026-03-28 12:00 +0100"),
            (Berlin, "2026-03-30 12:00 +0200", "48 hours ago", "2026-03-28 11:00 +0100"),
            (Berlin, "2026-03-30 12:00 +0200", "yesterday 02:30", "2026-03-29 03:30 +0200"),
            (New_York, "2026-11-02 09:00 -0500", "yesterday 1:30am", "2026-11-01 01:30 -0400"),
            (Shanghai, "2026-06-10 08:00 +0800", "昨天晚上8点", "2026-06-09 20:00 +0800"),
        ];
        for (tz, now, input, want) in cases {
            assert_eq!(
                parse_past(input, at(now), tz),
                Ok(at(want)),
                "{tz} {now} {input}"
            );
        }
    }

    #[test]
    fn dates_for_expected_close() {
        // Wednesday 2026-06-10 14:30 in New York, which is already the 11th in Shanghai.
        let now = at("2026-06-10 14:30 -0400");
        let cases = [
            (New_York, "2026-12-01", Ok("2026-12-01")),
            (New_York, "2020-01-15", Ok("2020-01-15")),
            (New_York, "today", Ok("2026-06-10")),
            (Shanghai, "today", Ok("2026-06-11")),
            (New_York, "tomorrow", Ok("2026-06-11")),
            (New_York, "in 2 weeks", Ok("2026-06-24")),
            (New_York, "3d", Ok("2026-06-13")),
            (New_York, "fri", Ok("2026-06-12")),
            (New_York, "wed", Ok("2026-06-17")),
            (New_York, "next monday", Ok("2026-06-15")),
            (New_York, "end of month", Ok("2026-06-30")),
            (New_York, "EOM", Ok("2026-06-30")),
            (New_York, "end of quarter", Ok("2026-06-30")),
            (New_York, "eoq", Ok("2026-06-30")),
            (New_York, "eoy", Ok("2026-12-31")),
            (New_York, "next month", Ok("2026-07-01")),
            (New_York, "end of next month", Ok("2026-07-31")),
            (New_York, "明天", Ok("2026-06-11")),
            (Shanghai, "明天", Ok("2026-06-12")),
            (New_York, "月底", Ok("2026-06-30")),
            (New_York, "下个月", Ok("2026-07-01")),
            (New_York, "下周五", Ok("2026-06-19")),
            (New_York, "季度末", Ok("2026-06-30")),
            (New_York, "年底", Ok("2026-12-31")),
        ];
        for (tz, input, want) in cases {
            assert_eq!(parse_date(input, now, tz), want.map(date), "{tz} {input}");
        }
        let errors = [
            ("", WhenError::Empty),
            ("tomorrow 9am", un("tomorrow 9am")),
            ("in 2 hours", un("in 2 hours")),
            ("12/01", un("12/01")),
            ("2026-13-01", invalid("2026-13-01")),
            ("2036-01-01", far("2036-01-01")),
        ];
        for (input, want) in errors {
            assert_eq!(parse_date(input, now, New_York), Err(want), "{input}");
        }
    }

    #[test]
    fn quarter_and_month_ends() {
        let cases = [
            ("2026-01-31 12:00 +0000", "eoq", "2026-03-31"),
            ("2026-04-01 12:00 +0000", "eoq", "2026-06-30"),
            ("2026-09-30 12:00 +0000", "eoq", "2026-09-30"),
            ("2026-11-15 12:00 +0000", "eoq", "2026-12-31"),
            ("2026-02-10 12:00 +0000", "eom", "2026-02-28"),
            ("2028-02-10 12:00 +0000", "eom", "2028-02-29"),
            ("2026-12-10 12:00 +0000", "next month", "2027-01-01"),
            ("2026-12-10 12:00 +0000", "end of next month", "2027-01-31"),
            ("2026-01-31 12:00 +0000", "in 1 month", "2026-02-28"),
        ];
        for (now, input, want) in cases {
            assert_eq!(
                parse_date(input, at(now), Tz::UTC),
                Ok(date(want)),
                "{now} {input}"
            );
        }
    }

    #[test]
    fn birthdays() {
        let cases = [
            ("1985-04-12", Ok((Some(1985), 4, 12))),
            ("04-12", Ok((None, 4, 12))),
            ("4-12", Ok((None, 4, 12))),
            ("--04-12", Ok((None, 4, 12))),
            ("02-29", Ok((None, 2, 29))),
            ("2000-02-29", Ok((Some(2000), 2, 29))),
            ("1985年4月12日", Ok((Some(1985), 4, 12))),
            ("4月12日", Ok((None, 4, 12))),
            (" 1985/04/12 ", Ok((Some(1985), 4, 12))),
            ("1985-02-29", Err(invalid("1985-02-29"))),
            ("02-30", Err(invalid("02-30"))),
            ("13-01", Err(invalid("13-01"))),
            ("1885-04-12", Err(invalid("1885-04-12"))),
            ("04/12", Err(un("04/12"))),
            ("april 12", Err(un("april 12"))),
            ("", Err(WhenError::Empty)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_birthday(input), want, "{input}");
        }
    }

    #[test]
    fn clocks() {
        let cases = [
            ("09:00", Ok("09:00")),
            ("9:00", Ok("09:00")),
            ("9am", Ok("09:00")),
            ("9 AM", Ok("09:00")),
            ("9 a.m.", Ok("09:00")),
            ("17:30", Ok("17:30")),
            ("5:30pm", Ok("17:30")),
            ("12am", Ok("00:00")),
            ("12:15pm", Ok("12:15")),
            ("noon", Ok("12:00")),
            ("0:00", Ok("00:00")),
            ("下午3点", Ok("15:00")),
            ("上午9:30", Ok("09:30")),
            ("凌晨12点", Ok("00:00")),
            ("9", Err(un("9"))),
            ("teatime", Err(un("teatime"))),
            ("24:00", Err(invalid("24:00"))),
            ("0am", Err(invalid("0am"))),
            ("晚上12点", Err(invalid("晚上12点"))),
            ("", Err(WhenError::Empty)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_clock(input), want.map(time), "{input}");
        }
    }

    #[test]
    fn zones() {
        let cases: [(&str, Result<Tz, WhenError>); 12] = [
            ("Europe/Berlin", Ok(Berlin)),
            ("europe/berlin", Ok(Berlin)),
            (" AMERICA/NEW_YORK ", Ok(New_York)),
            ("america/new york", Ok(New_York)),
            ("asia/shanghai", Ok(Shanghai)),
            ("UTC", Ok(Tz::UTC)),
            ("utc", Ok(Tz::UTC)),
            (
                "Europ/Berlin",
                Err(zone("Europ/Berlin", Some("Europe/Berlin"))),
            ),
            ("berlin", Err(zone("berlin", Some("Europe/Berlin")))),
            ("PST", Err(zone("PST", Some("America/Los_Angeles")))),
            ("xyz", Err(zone("xyz", None))),
            ("", Err(WhenError::Empty)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_tz(input), want, "{input}");
        }
        assert_eq!(
            parse_tz("Europ/Berlin").map_err(|e| e.to_string()),
            Err("unknown time zone 'Europ/Berlin'; did you mean 'Europe/Berlin'?".to_string())
        );
    }

    fn zone(given: &str, suggestion: Option<&str>) -> WhenError {
        WhenError::UnknownTimeZone {
            given: given.to_string(),
            suggestion: suggestion.map(str::to_string),
        }
    }

    #[test]
    fn formatting() {
        let t = at("2026-12-01 09:00 -0500");
        let cases = [
            (New_York, Locale::En, "Tue, Dec 1, 2026 09:00"),
            (New_York, Locale::ZhCn, "2026年12月1日 周二 09:00"),
            (Shanghai, Locale::En, "Tue, Dec 1, 2026 22:00"),
            (Berlin, Locale::ZhCn, "2026年12月1日 周二 15:00"),
        ];
        for (tz, locale, want) in cases {
            assert_eq!(format_datetime(t, tz, locale), want, "{tz} {locale:?}");
        }
        assert_eq!(format_date(date("2026-12-01"), Locale::En), "Dec 1, 2026");
        assert_eq!(
            format_date(date("2026-12-01"), Locale::ZhCn),
            "2026年12月1日"
        );

        let today = date("2026-06-10");
        let relative = [
            ("2026-06-10", "today", "今天"),
            ("2026-06-11", "tomorrow", "明天"),
            ("2026-06-12", "in 2 days", "后天"),
            ("2026-06-09", "yesterday", "昨天"),
            ("2026-06-08", "2 days ago", "前天"),
            ("2026-06-20", "in 10 days", "10天后"),
            ("2026-05-31", "10 days ago", "10天前"),
        ];
        for (d, en, zh) in relative {
            assert_eq!(format_relative_days(date(d), today, Locale::En), en, "{d}");
            assert_eq!(
                format_relative_days(date(d), today, Locale::ZhCn),
                zh,
                "{d}"
            );
        }
    }

    #[test]
    fn resolving_local_times() {
        let dt = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("test time");
        let cases = [
            (New_York, "2026-03-08 02:30", "2026-03-08 03:30 -0400"),
            (New_York, "2026-11-01 01:30", "2026-11-01 01:30 -0400"),
            (Berlin, "2026-03-29 02:00", "2026-03-29 03:00 +0200"),
            (Berlin, "2026-10-25 02:59", "2026-10-25 02:59 +0200"),
            (Shanghai, "2026-03-08 02:30", "2026-03-08 02:30 +0800"),
            // Samoa skipped 2011-12-30 entirely when it crossed the date line.
            (
                chrono_tz::Pacific::Apia,
                "2011-12-30 10:00",
                "2011-12-31 10:00 +1400",
            ),
        ];
        for (tz, local, want) in cases {
            assert_eq!(resolve_local(dt(local), tz), at(want), "{tz} {local}");
        }
    }
}
